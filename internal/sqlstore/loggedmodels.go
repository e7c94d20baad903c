package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

const modelColumns = `lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_time, lm.last_update_time, lm.status, lm.status_message, lm.lifecycle_stage, lm.model_type, lm.source_run_id`

func scanModel(row interface{ Scan(...any) error }) (*tracking.LoggedModel, error) {
	var m tracking.LoggedModel
	var exp int64
	if err := row.Scan(&m.ModelID, &exp, &m.Name, &m.ArtifactURI, &m.CreationTime, &m.LastUpdateTime, &m.Status, &m.StatusMessage, &m.LifecycleStage, &m.ModelType, &m.SourceRunID); err != nil {
		return nil, err
	}
	m.ExperimentID = strconv.FormatInt(exp, 10)
	return &m, nil
}

func modelNotFound(id string) error {
	return lode.Errorf(lode.ENotFound, "Logged model with ID '%s' not found.", id)
}

// CreateLoggedModel implements tracking.Store. ModelID and ArtifactURI must
// be set by the caller.
func (db *Store) CreateLoggedModel(ctx context.Context, m tracking.LoggedModel) (*tracking.LoggedModel, error) {
	exp, err := parseExperimentID(m.ExperimentID)
	if err != nil {
		return nil, err
	}
	err = db.tx(ctx, func(tx *conn) error {
		if _, err := tx.Exec(ctx, `INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_time, last_update_time, status, status_message, lifecycle_stage, model_type, source_run_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, '', 'active', ?, ?)`,
			m.ModelID, exp, m.Name, m.ArtifactURI, m.CreationTime, m.LastUpdateTime, m.Status, m.ModelType, m.SourceRunID); err != nil {
			return err
		}
		if err := setModelTags(ctx, tx, m.ModelID, m.Tags); err != nil {
			return err
		}
		return setModelParams(ctx, tx, m.ModelID, m.Params)
	})
	if err != nil {
		return nil, err
	}
	return db.GetLoggedModel(ctx, m.ModelID)
}

func setModelTags(ctx context.Context, tx *conn, id string, tags []tracking.Tag) error {
	for _, t := range tags {
		if _, err := tx.Exec(ctx, `INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value`, id, t.Key, t.Value); err != nil {
			return err
		}
	}
	return nil
}

func setModelParams(ctx context.Context, tx *conn, id string, params []tracking.Param) error {
	for _, p := range params {
		if _, err := tx.Exec(ctx, `INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value`, id, p.Key, p.Value); err != nil {
			return err
		}
	}
	return nil
}

// GetLoggedModel implements tracking.Store; deleted models are not found.
func (db *Store) GetLoggedModel(ctx context.Context, id string) (*tracking.LoggedModel, error) {
	m, err := db.GetLoggedModelInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	return m, db.dbErr(db.loadModelData(ctx, []*tracking.LoggedModel{m}))
}

// GetLoggedModelInfo implements tracking.Store; deleted models are not
// found.
func (db *Store) GetLoggedModelInfo(ctx context.Context, id string) (*tracking.LoggedModel, error) {
	m, err := scanModel(db.r.QueryRow(ctx, `SELECT `+modelColumns+` FROM logged_models lm WHERE lm.model_id = ? AND lm.lifecycle_stage = 'active'`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, modelNotFound(id)
	} else if err != nil {
		return nil, db.dbErr(err)
	}
	return m, nil
}

func (db *Store) loadModelData(ctx context.Context, models []*tracking.LoggedModel) error {
	if len(models) == 0 {
		return nil
	}
	byID := make(map[string]*tracking.LoggedModel, len(models))
	ids := make([]string, len(models))
	for i, m := range models {
		byID[m.ModelID] = m
		ids[i] = m.ModelID
	}
	in, args := db.d.in("model_id", col("text", ids))
	kv := func(table string, add func(m *tracking.LoggedModel, k, v string)) error {
		rows, err := db.r.Query(ctx, `SELECT model_id, key, value FROM `+table+` WHERE `+in+` ORDER BY model_id, key`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, k, v string
			if err := rows.Scan(&id, &k, &v); err != nil {
				return err
			}
			add(byID[id], k, v)
		}
		return rows.Err()
	}
	if err := kv("logged_model_tags", func(m *tracking.LoggedModel, k, v string) { m.Tags = append(m.Tags, tracking.Tag{Key: k, Value: v}) }); err != nil {
		return err
	}
	if err := kv("logged_model_params", func(m *tracking.LoggedModel, k, v string) {
		m.Params = append(m.Params, tracking.Param{Key: k, Value: v})
	}); err != nil {
		return err
	}
	rows, err := db.r.Query(ctx, `SELECT model_id, key, value, is_nan, timestamp, step, run_uuid, dataset_name, dataset_digest FROM logged_model_metrics WHERE `+in+` ORDER BY model_id, key, step, timestamp`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var mt tracking.Metric
		var isNaN bool
		if err := rows.Scan(&id, &mt.Key, &mt.Value, &isNaN, &mt.Timestamp, &mt.Step, &mt.RunID, &mt.DatasetName, &mt.DatasetDigest); err != nil {
			return err
		}
		if isNaN {
			mt.Value = math.NaN()
		}
		mt.ModelID = id
		byID[id].Metrics = append(byID[id].Metrics, mt)
	}
	return rows.Err()
}

func (db *Store) modelTx(ctx context.Context, id string, fn func(tx *conn) error) error {
	return db.tx(ctx, func(tx *conn) error {
		res, err := tx.Exec(ctx, `UPDATE logged_models SET last_update_time = ? WHERE model_id = ? AND lifecycle_stage = 'active'`, nowMillis(), id)
		if err != nil {
			return err
		}
		if affected(res) == 0 {
			return modelNotFound(id)
		}
		return fn(tx)
	})
}

// FinalizeLoggedModel implements tracking.Store.
func (db *Store) FinalizeLoggedModel(ctx context.Context, id, status string) (*tracking.LoggedModel, error) {
	err := db.modelTx(ctx, id, func(tx *conn) error {
		_, err := tx.Exec(ctx, `UPDATE logged_models SET status = ? WHERE model_id = ?`, status, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.GetLoggedModel(ctx, id)
}

// DeleteLoggedModel implements tracking.Store (a soft delete).
func (db *Store) DeleteLoggedModel(ctx context.Context, id string) error {
	return db.modelTx(ctx, id, func(tx *conn) error {
		_, err := tx.Exec(ctx, `UPDATE logged_models SET lifecycle_stage = 'deleted' WHERE model_id = ?`, id)
		return err
	})
}

// SetLoggedModelTags implements tracking.Store.
func (db *Store) SetLoggedModelTags(ctx context.Context, id string, tags []tracking.Tag) error {
	return db.modelTx(ctx, id, func(tx *conn) error { return setModelTags(ctx, tx, id, tags) })
}

// DeleteLoggedModelTag implements tracking.Store.
func (db *Store) DeleteLoggedModelTag(ctx context.Context, id, key string) error {
	return db.modelTx(ctx, id, func(tx *conn) error {
		res, err := tx.Exec(ctx, `DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?`, id, key)
		if err != nil {
			return err
		}
		return expectRow(res, "No tag with key '%s' found for model with ID '%s'.", key, id)
	})
}

// LogLoggedModelParams implements tracking.Store.
func (db *Store) LogLoggedModelParams(ctx context.Context, id string, params []tracking.Param) error {
	return db.modelTx(ctx, id, func(tx *conn) error { return setModelParams(ctx, tx, id, params) })
}

var modelAttrColumns = map[string]string{
	"model_id":               "lm.model_id",
	"name":                   "lm.name",
	"model_type":             "lm.model_type",
	"status":                 "lm.status",
	"source_run_id":          "lm.source_run_id",
	"creation_timestamp":     "lm.creation_time",
	"creation_time":          "lm.creation_time",
	"last_updated_timestamp": "lm.last_update_time",
	"last_update_time":       "lm.last_update_time",
	"experiment_id":          "lm.experiment_id",
	"artifact_location":      "lm.artifact_location",
}

// SearchLoggedModels implements tracking.Store.
func (db *Store) SearchLoggedModels(ctx context.Context, q tracking.LoggedModelQuery) ([]*tracking.LoggedModel, string, error) {
	offset, err := parsePageToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	exps, err := parseExperimentIDs(q.ExperimentIDs)
	if err != nil {
		return nil, "", err
	}
	var b sqlBuilder
	b.where("lm.lifecycle_stage = 'active'")
	b.whereIn(&db.d, "lm.experiment_id", col("int8", exps))
	// A metric is on one of the datasets asked for when its name and
	// digest are one of theirs (the digest "" when none was logged).
	var onDatasets string
	var datasetArgs []any
	if len(q.Datasets) > 0 {
		ors := make([]string, len(q.Datasets))
		for i, d := range q.Datasets {
			ors[i] = "(x.dataset_name = ? AND x.dataset_digest = ?)"
			datasetArgs = append(datasetArgs, d.Name, d.Digest)
		}
		onDatasets = "(" + strings.Join(ors, " OR ") + ")"
	}
	metricFilters := false
	for _, c := range q.Filter {
		var sub sqlBuilder
		switch c.KeyType {
		case tracking.KeyAttribute:
			col, ok := modelAttrColumns[c.Key]
			if !ok {
				return nil, "", lode.Errorf(lode.EInvalid, "Invalid attribute key '%s' specified.", c.Key)
			}
			if err := b.compare(&db.d, col, c.Op, c.Value); err != nil {
				return nil, "", err
			}
		case tracking.KeyMetric:
			metricFilters = true
			sub.where("x.model_id = lm.model_id AND x.key = ? AND NOT x.is_nan", c.Key)
			if err := sub.compare(&db.d, "x.value", c.Op, c.Value); err != nil {
				return nil, "", err
			}
			if onDatasets != "" {
				sub.where(onDatasets, datasetArgs...)
			}
			b.where("EXISTS (SELECT 1 FROM logged_model_metrics x WHERE "+sub.cond()+")", sub.args...)
		case tracking.KeyParam, tracking.KeyTag:
			table := map[string]string{tracking.KeyParam: "logged_model_params", tracking.KeyTag: "logged_model_tags"}[c.KeyType]
			sub.where("x.model_id = lm.model_id AND x.key = ?", c.Key)
			if err := sub.compare(&db.d, "x.value", c.Op, c.Value); err != nil {
				return nil, "", err
			}
			b.where("EXISTS (SELECT 1 FROM "+table+" x WHERE "+sub.cond()+")", sub.args...)
		default:
			return nil, "", lode.Errorf(lode.EInvalid, "Invalid entity type '%s'", c.KeyType)
		}
	}
	if onDatasets != "" && !metricFilters {
		// Without a metric comparison to narrow, the datasets keep the
		// models with any metric on them, as in MLflow's store.
		b.where("EXISTS (SELECT 1 FROM logged_model_metrics x WHERE x.model_id = lm.model_id AND "+onDatasets+")", datasetArgs...)
	}
	var joins []string
	var joinArgs []any
	var order []string
	for i, o := range q.OrderBy {
		alias := fmt.Sprintf("o%d", i)
		switch o.KeyType {
		case tracking.KeyAttribute:
			col, ok := modelAttrColumns[o.Key]
			if !ok {
				return nil, "", lode.Errorf(lode.EInvalid, "Invalid order by key '%s'.", o.Key)
			}
			order = append(order, col+direction(o.Asc))
		case tracking.KeyMetric:
			// Models sort by their latest value of the metric, optionally
			// on one dataset, as MLflow's store does.
			cond, cargs := "key = ?", []any{o.Key}
			if o.DatasetName != "" {
				cond, cargs = cond+" AND dataset_name = ?", append(cargs, o.DatasetName)
			}
			if o.DatasetDigest != "" {
				cond, cargs = cond+" AND dataset_digest = ?", append(cargs, o.DatasetDigest)
			}
			joins = append(joins, "LEFT JOIN (SELECT model_id, CASE WHEN is_nan THEN NULL ELSE value END AS value FROM (SELECT model_id, value, is_nan, row_number() OVER (PARTITION BY model_id ORDER BY timestamp DESC, step DESC, run_uuid) AS rn FROM logged_model_metrics WHERE "+cond+") ranked WHERE rn = 1) "+alias+" ON "+alias+".model_id = lm.model_id")
			joinArgs = append(joinArgs, cargs...)
			order = append(order, "("+alias+".value IS NULL)", alias+".value"+direction(o.Asc))
		default:
			return nil, "", lode.Errorf(lode.EInvalid, "Invalid order by key '%s.%s'.", o.KeyType, o.Key)
		}
	}
	order = append(order, "lm.creation_time DESC", "lm.model_id")
	query := `SELECT ` + modelColumns + ` FROM logged_models lm ` + strings.Join(joins, " ") + ` WHERE ` + b.cond() +
		` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ? OFFSET ?`
	models, next, err := queryPage(ctx, db.r, query, append(joinArgs, b.args...), q.MaxResults, offset, func(rows Rows) (*tracking.LoggedModel, error) {
		return scanModel(rows)
	})
	if err != nil {
		return nil, "", err
	}
	return models, next, db.dbErr(db.loadModelData(ctx, models))
}
