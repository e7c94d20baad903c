package mlflowimport

import (
	"context"
	"database/sql"
	"math"

	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

// The readers below turn MLflow's rows into Lode's domain types. NULLs,
// which MLflow allows in many text columns, become "".

type srcExperiment struct {
	tracking.Experiment
	ID string // MLflow's id
}

// wsFilter restricts a query on table to the chosen workspace when the
// schema has workspaces (MLflow 3.5+); databases without them hold one.
func (im *Importer) wsFilter(ctx context.Context, table, alias string) (string, []any) {
	if !im.Source.hasColumn(ctx, table, "workspace") {
		return "", nil
	}
	return " AND " + alias + "workspace = ?", []any{im.workspace()}
}

func (im *Importer) readExperiments(ctx context.Context) ([]srcExperiment, error) {
	s := im.Source
	where, args := im.wsFilter(ctx, "experiments", "")
	var out []srcExperiment
	err := s.each(ctx, `SELECT experiment_id, name, COALESCE(artifact_location, ''), COALESCE(lifecycle_stage, 'active'),
		COALESCE(creation_time, 0), COALESCE(last_update_time, 0) FROM experiments WHERE 1 = 1`+where+` ORDER BY experiment_id`, args,
		func(rows *sql.Rows) error {
			var e srcExperiment
			var id int64
			if err := rows.Scan(&id, &e.Name, &e.ArtifactLocation, &e.LifecycleStage, &e.CreationTime, &e.LastUpdateTime); err != nil {
				return err
			}
			e.ID = itoa(id)
			out = append(out, e)
			return nil
		})
	if err != nil {
		return nil, err
	}
	for i := range out {
		tags, err := im.readTags(ctx, `SELECT key, COALESCE(value, '') FROM experiment_tags WHERE experiment_id = ? ORDER BY key`, atoi(out[i].ID))
		if err != nil {
			return nil, err
		}
		out[i].Tags = tags
	}
	return out, nil
}

func (im *Importer) readTags(ctx context.Context, q string, args ...any) ([]tracking.Tag, error) {
	var tags []tracking.Tag
	err := im.Source.each(ctx, q, args, func(rows *sql.Rows) error {
		var t tracking.Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return err
		}
		tags = append(tags, t)
		return nil
	})
	return tags, err
}

type srcRun struct {
	tracking.RunInfo
	deletedStage bool
}

func (im *Importer) readRuns(ctx context.Context, experimentID string) ([]srcRun, error) {
	var out []srcRun
	err := im.Source.each(ctx, `SELECT run_uuid, COALESCE(name, ''), COALESCE(user_id, ''), COALESCE(status, 'FINISHED'), COALESCE(start_time, 0), end_time,
		COALESCE(lifecycle_stage, 'active'), COALESCE(artifact_uri, '') FROM runs WHERE experiment_id = ? ORDER BY start_time, run_uuid`, []any{atoi(experimentID)},
		func(rows *sql.Rows) error {
			var r srcRun
			var end sql.NullInt64
			if err := rows.Scan(&r.RunID, &r.RunName, &r.UserID, &r.Status, &r.StartTime, &end, &r.LifecycleStage, &r.ArtifactURI); err != nil {
				return err
			}
			if end.Valid {
				v := end.Int64
				r.EndTime = &v
			}
			out = append(out, r)
			return nil
		})
	return out, err
}

// runData is what MLflow holds for one run besides its row.
type runData struct {
	params       []tracking.Param
	tags         []tracking.Tag
	metrics      []tracking.Metric // the full history
	inputs       []tracking.DatasetInput
	modelInputs  []tracking.ModelInput
	modelOutputs []tracking.ModelOutput
}

// metricKey identifies one logged point; MLflow's metrics table has it as
// its primary key (with the NaN flag folded into the value).
type metricKey struct {
	key       string
	timestamp int64
	step      int64
	bits      uint64
}

func pointKey(m tracking.Metric) metricKey {
	bits := math.Float64bits(m.Value)
	if math.IsNaN(m.Value) {
		bits = math.Float64bits(math.NaN())
	}
	return metricKey{m.Key, m.Timestamp, m.Step, bits}
}

func (im *Importer) readRunData(ctx context.Context, runID string) (*runData, error) {
	s := im.Source
	d := &runData{}
	err := s.each(ctx, `SELECT key, COALESCE(value, '') FROM params WHERE run_uuid = ? ORDER BY key`, []any{runID}, func(rows *sql.Rows) error {
		var p tracking.Param
		if err := rows.Scan(&p.Key, &p.Value); err != nil {
			return err
		}
		d.params = append(d.params, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if d.tags, err = im.readTags(ctx, `SELECT key, COALESCE(value, '') FROM tags WHERE run_uuid = ? ORDER BY key`, runID); err != nil {
		return nil, err
	}
	// MLflow keeps the links of metric points to logged models and datasets
	// in logged_model_metrics only; Lode keeps them on the point.
	type link struct{ model, dsName, dsDigest string }
	links := map[metricKey]link{}
	if s.hasTable(ctx, "logged_model_metrics") {
		err = s.each(ctx, `SELECT m.model_id, m.metric_name, m.metric_timestamp_ms, m.metric_step, m.metric_value, COALESCE(d.name, ''), COALESCE(d.digest, '')
			FROM logged_model_metrics m LEFT JOIN datasets d ON d.dataset_uuid = m.dataset_uuid WHERE m.run_id = ?`, []any{runID}, func(rows *sql.Rows) error {
			var l link
			var m tracking.Metric
			var v sql.NullFloat64
			if err := rows.Scan(&l.model, &m.Key, &m.Timestamp, &m.Step, &v, &l.dsName, &l.dsDigest); err != nil {
				return err
			}
			m.Value = math.NaN()
			if v.Valid {
				m.Value = v.Float64
			}
			links[pointKey(m)] = l
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = s.each(ctx, `SELECT key, value, COALESCE(timestamp, 0), COALESCE(step, 0), is_nan FROM metrics WHERE run_uuid = ? ORDER BY key, timestamp, step`, []any{runID}, func(rows *sql.Rows) error {
		var m tracking.Metric
		var isNaN bool
		if err := rows.Scan(&m.Key, &m.Value, &m.Timestamp, &m.Step, &isNaN); err != nil {
			return err
		}
		if isNaN {
			m.Value = math.NaN()
		}
		if l, ok := links[pointKey(m)]; ok {
			m.ModelID, m.DatasetName, m.DatasetDigest = l.model, l.dsName, l.dsDigest
		}
		d.metrics = append(d.metrics, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.hasTable(ctx, "inputs") && s.hasTable(ctx, "datasets") {
		var uuids []string
		err = s.each(ctx, `SELECT i.input_uuid, d.name, d.digest, COALESCE(d.dataset_source_type, ''), COALESCE(d.dataset_source, ''),
			COALESCE(d.dataset_schema, ''), COALESCE(d.dataset_profile, '')
			FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id
			WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id = ? ORDER BY d.name, d.digest`, []any{runID},
			func(rows *sql.Rows) error {
				var in tracking.DatasetInput
				var u string
				ds := &in.Dataset
				if err := rows.Scan(&u, &ds.Name, &ds.Digest, &ds.SourceType, &ds.Source, &ds.Schema, &ds.Profile); err != nil {
					return err
				}
				uuids = append(uuids, u)
				d.inputs = append(d.inputs, in)
				return nil
			})
		if err != nil {
			return nil, err
		}
		for i, u := range uuids {
			if s.hasTable(ctx, "input_tags") {
				if d.inputs[i].Tags, err = im.readTags(ctx, `SELECT name, value FROM input_tags WHERE input_uuid = ? ORDER BY name`, u); err != nil {
					return nil, err
				}
			}
		}
		err = s.each(ctx, `SELECT destination_id FROM inputs WHERE source_type = 'RUN_INPUT' AND source_id = ? AND destination_type = 'MODEL_INPUT' ORDER BY destination_id`,
			[]any{runID}, func(rows *sql.Rows) error {
				var m tracking.ModelInput
				if err := rows.Scan(&m.ModelID); err != nil {
					return err
				}
				d.modelInputs = append(d.modelInputs, m)
				return nil
			})
		if err != nil {
			return nil, err
		}
		step := "0"
		if s.hasColumn(ctx, "inputs", "step") {
			step = "COALESCE(step, 0)"
		}
		err = s.each(ctx, `SELECT destination_id, `+step+` FROM inputs WHERE source_type = 'RUN_OUTPUT' AND source_id = ? AND destination_type = 'MODEL_OUTPUT' ORDER BY destination_id`,
			[]any{runID}, func(rows *sql.Rows) error {
				var m tracking.ModelOutput
				if err := rows.Scan(&m.ModelID, &m.Step); err != nil {
					return err
				}
				d.modelOutputs = append(d.modelOutputs, m)
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// MLflow stores a logged model's status as a number (LoggedModelStatus).
var loggedModelStatus = map[int64]string{
	0: tracking.ModelPending, // UNSPECIFIED: Lode has no such state
	1: tracking.ModelPending,
	2: tracking.ModelReady,
	3: tracking.ModelUploadFailed,
}

type srcLoggedModel struct {
	tracking.LoggedModel
	experimentID string // MLflow's
}

func (im *Importer) readLoggedModels(ctx context.Context) ([]srcLoggedModel, error) {
	s := im.Source
	if !s.hasTable(ctx, "logged_models") {
		return nil, nil
	}
	var out []srcLoggedModel
	err := s.each(ctx, `SELECT model_id, experiment_id, name, COALESCE(artifact_location, ''), creation_timestamp_ms, last_updated_timestamp_ms, status,
		COALESCE(lifecycle_stage, 'active'), COALESCE(model_type, ''), COALESCE(source_run_id, ''), COALESCE(status_message, '')
		FROM logged_models ORDER BY creation_timestamp_ms, model_id`, nil, func(rows *sql.Rows) error {
		var m srcLoggedModel
		var exp, status int64
		if err := rows.Scan(&m.ModelID, &exp, &m.Name, &m.ArtifactURI, &m.CreationTime, &m.LastUpdateTime, &status,
			&m.LifecycleStage, &m.ModelType, &m.SourceRunID, &m.StatusMessage); err != nil {
			return err
		}
		m.experimentID = itoa(exp)
		m.Status = loggedModelStatus[status]
		if m.Status == "" {
			m.Status = tracking.ModelPending
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		id := out[i].ModelID
		if s.hasTable(ctx, "logged_model_tags") {
			if out[i].Tags, err = im.readTags(ctx, `SELECT tag_key, tag_value FROM logged_model_tags WHERE model_id = ? ORDER BY tag_key`, id); err != nil {
				return nil, err
			}
		}
		if s.hasTable(ctx, "logged_model_params") {
			tags, err := im.readTags(ctx, `SELECT param_key, param_value FROM logged_model_params WHERE model_id = ? ORDER BY param_key`, id)
			if err != nil {
				return nil, err
			}
			for _, t := range tags {
				out[i].Params = append(out[i].Params, tracking.Param(t))
			}
		}
	}
	return out, nil
}

func (im *Importer) readModels(ctx context.Context) ([]registry.Model, error) {
	s := im.Source
	if !s.hasTable(ctx, "registered_models") {
		return nil, nil
	}
	where, args := im.wsFilter(ctx, "registered_models", "")
	var out []registry.Model
	err := s.each(ctx, `SELECT name, COALESCE(creation_time, 0), COALESCE(last_updated_time, 0), COALESCE(description, '')
		FROM registered_models WHERE 1 = 1`+where+` ORDER BY name`, args, func(rows *sql.Rows) error {
		var m registry.Model
		if err := rows.Scan(&m.Name, &m.CreationTime, &m.LastUpdateTime, &m.Description); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		where, wargs := im.wsFilter(ctx, "registered_model_tags", "")
		if out[i].Tags, err = im.readTags(ctx, `SELECT key, COALESCE(value, '') FROM registered_model_tags WHERE name = ?`+where+` ORDER BY key`,
			append([]any{out[i].Name}, wargs...)...); err != nil {
			return nil, err
		}
		if s.hasTable(ctx, "registered_model_aliases") {
			where, wargs := im.wsFilter(ctx, "registered_model_aliases", "")
			err = s.each(ctx, `SELECT alias, version FROM registered_model_aliases WHERE name = ?`+where+` ORDER BY alias`,
				append([]any{out[i].Name}, wargs...), func(rows *sql.Rows) error {
					var a registry.Alias
					var v int64
					if err := rows.Scan(&a.Alias, &v); err != nil {
						return err
					}
					a.Version = itoa(v)
					out[i].Aliases = append(out[i].Aliases, a)
					return nil
				})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (im *Importer) readVersions(ctx context.Context, name string) ([]registry.Version, error) {
	s := im.Source
	where, wargs := im.wsFilter(ctx, "model_versions", "")
	var out []registry.Version
	err := s.each(ctx, `SELECT version, COALESCE(creation_time, 0), COALESCE(last_updated_time, 0), COALESCE(description, ''), COALESCE(user_id, ''),
		COALESCE(current_stage, 'None'), COALESCE(source, ''), COALESCE(storage_location, ''), COALESCE(run_id, ''), COALESCE(run_link, ''),
		COALESCE(status, 'READY'), COALESCE(status_message, '')
		FROM model_versions WHERE name = ?`+where+` ORDER BY version`, append([]any{name}, wargs...), func(rows *sql.Rows) error {
		v := registry.Version{Name: name}
		var n int64
		if err := rows.Scan(&n, &v.CreationTime, &v.LastUpdateTime, &v.Description, &v.UserID, &v.CurrentStage, &v.Source, &v.StorageLocation,
			&v.RunID, &v.RunLink, &v.Status, &v.StatusMessage); err != nil {
			return err
		}
		v.Version = itoa(n)
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		where, wargs := im.wsFilter(ctx, "model_version_tags", "")
		if out[i].Tags, err = im.readTags(ctx, `SELECT key, COALESCE(value, '') FROM model_version_tags WHERE name = ? AND version = ?`+where+` ORDER BY key`,
			append([]any{name, atoi(out[i].Version)}, wargs...)...); err != nil {
			return nil, err
		}
	}
	return out, nil
}
