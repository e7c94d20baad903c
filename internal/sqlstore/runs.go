package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

const runColumns = `r.rid, r.run_uuid, r.name, r.experiment_id, r.user_id, r.status, r.start_time, r.end_time, r.lifecycle_stage, r.artifact_uri`

func scanRunInfo(row interface{ Scan(...any) error }) (int64, *tracking.RunInfo, error) {
	var rid, exp int64
	var ri tracking.RunInfo
	if err := row.Scan(&rid, &ri.RunID, &ri.RunName, &exp, &ri.UserID, &ri.Status, &ri.StartTime, &ri.EndTime, &ri.LifecycleStage, &ri.ArtifactURI); err != nil {
		return 0, nil, err
	}
	ri.ExperimentID = strconv.FormatInt(exp, 10)
	return rid, &ri, nil
}

func runNotFound(id string) error {
	return lode.Errorf(lode.ENotFound, "Run with id=%s not found", id)
}

// CreateRun implements tracking.Store.
func (db *Store) CreateRun(ctx context.Context, info tracking.RunInfo, tags []tracking.Tag) (*tracking.Run, error) {
	exp, err := parseExperimentID(info.ExperimentID)
	if err != nil {
		return nil, err
	}
	err = db.tx(ctx, func(tx *conn) error {
		var rid int64
		err := tx.QueryRow(ctx, `INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING rid`,
			info.RunID, info.RunName, exp, info.UserID, info.Status, info.StartTime, info.EndTime, info.LifecycleStage, info.ArtifactURI).Scan(&rid)
		if db.isUnique(err) {
			return lode.Errorf(lode.EExists, "Run with id=%s already exists", info.RunID)
		} else if err != nil {
			return err
		}
		return upsertTags(ctx, tx, rid, tags)
	})
	if err != nil {
		return nil, err
	}
	return db.GetRun(ctx, info.RunID)
}

func (db *Store) runInfo(ctx context.Context, q *conn, id string) (int64, *tracking.RunInfo, error) {
	rid, ri, err := scanRunInfo(q.QueryRow(ctx, `SELECT `+runColumns+` FROM runs r WHERE r.run_uuid = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, runNotFound(id)
	}
	return rid, ri, db.dbErr(err)
}

// GetRunInfo implements tracking.Store.
func (db *Store) GetRunInfo(ctx context.Context, id string) (*tracking.RunInfo, error) {
	_, ri, err := db.runInfo(ctx, db.r, id)
	return ri, err
}

// GetRun implements tracking.Store.
func (db *Store) GetRun(ctx context.Context, id string) (*tracking.Run, error) {
	rid, ri, err := db.runInfo(ctx, db.r, id)
	if err != nil {
		return nil, err
	}
	runs := []*tracking.Run{{Info: *ri}}
	if err := db.loadRunData(ctx, []int64{rid}, runs); err != nil {
		return nil, db.dbErr(err)
	}
	return runs[0], nil
}

// loadRunData fills tags, params, latest metrics and inputs of runs, whose
// internal ids are rids (same order), with one query per table.
func (db *Store) loadRunData(ctx context.Context, rids []int64, runs []*tracking.Run) error {
	if len(rids) == 0 {
		return nil
	}
	byRID := make(map[int64]*tracking.Run, len(rids))
	for i, rid := range rids {
		byRID[rid] = runs[i]
	}
	in, args := db.d.in("rid", col("int8", rids))
	inputsIn, _ := db.d.in("i.rid", col("int8", rids))
	each := func(query string, scan func(Rows) error) error {
		rows, err := db.r.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	var rid int64
	err := each(`SELECT rid, key, value FROM tags WHERE `+in+` ORDER BY rid, key`, func(rows Rows) error {
		var t tracking.Tag
		if err := rows.Scan(&rid, &t.Key, &t.Value); err != nil {
			return err
		}
		byRID[rid].Tags = append(byRID[rid].Tags, t)
		return nil
	})
	if err != nil {
		return err
	}
	err = each(`SELECT rid, key, value FROM params WHERE `+in+` ORDER BY rid, key`, func(rows Rows) error {
		var p tracking.Param
		if err := rows.Scan(&rid, &p.Key, &p.Value); err != nil {
			return err
		}
		byRID[rid].Params = append(byRID[rid].Params, p)
		return nil
	})
	if err != nil {
		return err
	}
	err = each(`SELECT rid, key, value, is_nan, timestamp, step FROM latest_metrics WHERE `+in+` ORDER BY rid, key`, func(rows Rows) error {
		var m tracking.Metric
		var isNaN bool
		if err := rows.Scan(&rid, &m.Key, &m.Value, &isNaN, &m.Timestamp, &m.Step); err != nil {
			return err
		}
		if isNaN {
			m.Value = math.NaN()
		}
		byRID[rid].Metrics = append(byRID[rid].Metrics, m)
		return nil
	})
	if err != nil {
		return err
	}
	type inputKey struct {
		rid  int64
		uuid string
	}
	inputs := map[inputKey]int{}
	err = each(`SELECT i.rid, d.dataset_uuid, d.name, d.digest, d.source_type, d.source, d.schema, d.profile
		FROM run_inputs i JOIN datasets d ON d.dataset_uuid = i.dataset_uuid WHERE `+inputsIn+` ORDER BY i.rid, d.name, d.digest`, func(rows Rows) error {
		var d tracking.Dataset
		var uuid string
		if err := rows.Scan(&rid, &uuid, &d.Name, &d.Digest, &d.SourceType, &d.Source, &d.Schema, &d.Profile); err != nil {
			return err
		}
		r := byRID[rid]
		inputs[inputKey{rid, uuid}] = len(r.Inputs)
		r.Inputs = append(r.Inputs, tracking.DatasetInput{Dataset: d})
		return nil
	})
	if err != nil {
		return err
	}
	if len(inputs) > 0 {
		err = each(`SELECT rid, dataset_uuid, key, value FROM run_input_tags WHERE `+in+` ORDER BY rid, dataset_uuid, key`, func(rows Rows) error {
			var uuid string
			var t tracking.Tag
			if err := rows.Scan(&rid, &uuid, &t.Key, &t.Value); err != nil {
				return err
			}
			if i, ok := inputs[inputKey{rid, uuid}]; ok {
				r := byRID[rid]
				r.Inputs[i].Tags = append(r.Inputs[i].Tags, t)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	err = each(`SELECT rid, model_id FROM run_model_inputs WHERE `+in+` ORDER BY rid, model_id`, func(rows Rows) error {
		var mi tracking.ModelInput
		if err := rows.Scan(&rid, &mi.ModelID); err != nil {
			return err
		}
		byRID[rid].ModelInputs = append(byRID[rid].ModelInputs, mi)
		return nil
	})
	if err != nil {
		return err
	}
	return each(`SELECT rid, model_id, step FROM run_model_outputs WHERE `+in+` ORDER BY rid, step, model_id`, func(rows Rows) error {
		var mo tracking.ModelOutput
		if err := rows.Scan(&rid, &mo.ModelID, &mo.Step); err != nil {
			return err
		}
		byRID[rid].ModelOutputs = append(byRID[rid].ModelOutputs, mo)
		return nil
	})
}

// UpdateRun implements tracking.Store.
func (db *Store) UpdateRun(ctx context.Context, id, status string, endTime *int64, name string) (*tracking.RunInfo, error) {
	err := db.tx(ctx, func(tx *conn) error {
		rid, _, err := db.runInfo(ctx, tx, id)
		if err != nil {
			return err
		}
		if status != "" {
			if _, err := tx.Exec(ctx, `UPDATE runs SET status = ? WHERE rid = ?`, status, rid); err != nil {
				return err
			}
		}
		if endTime != nil {
			if _, err := tx.Exec(ctx, `UPDATE runs SET end_time = ? WHERE rid = ?`, *endTime, rid); err != nil {
				return err
			}
		}
		if name != "" {
			return setRunName(ctx, tx, rid, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.GetRunInfo(ctx, id)
}

func setRunName(ctx context.Context, tx *conn, rid int64, name string) error {
	if _, err := tx.Exec(ctx, `UPDATE runs SET name = ? WHERE rid = ?`, name, rid); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO tags (rid, key, value) VALUES (?, ?, ?) ON CONFLICT (rid, key) DO UPDATE SET value = excluded.value`, rid, tracking.TagRunName, name)
	return err
}

// SetRunStage implements tracking.Store.
func (db *Store) SetRunStage(ctx context.Context, id, stage string) error {
	return db.tx(ctx, func(tx *conn) error {
		var deleted *int64
		if stage == tracking.StageDeleted {
			now := nowMillis()
			deleted = &now
		}
		res, err := tx.Exec(ctx, `UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?`, stage, deleted, id)
		if err != nil {
			return err
		}
		return expectRow(res, "Run with id=%s not found", id)
	})
}

func runRID(ctx context.Context, tx *conn, id string) (int64, error) {
	var rid int64
	err := tx.QueryRow(ctx, `SELECT rid FROM runs WHERE run_uuid = ?`, id).Scan(&rid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, runNotFound(id)
	}
	return rid, err
}

// metricValue splits v into the stored value and the NaN flag.
func metricValue(v float64) (float64, bool) {
	if math.IsNaN(v) {
		return 0, true
	}
	return v, false
}

// LogBatch implements tracking.Store: params, tags and metrics land in one
// transaction, or none of them do.
func (db *Store) LogBatch(ctx context.Context, runID string, metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) error {
	return db.tx(ctx, func(tx *conn) error {
		rid, err := runRID(ctx, tx, runID)
		if err != nil {
			return err
		}
		if err := logParams(ctx, tx, rid, runID, params); err != nil {
			return err
		}
		other := make([]tracking.Tag, 0, len(tags))
		for _, t := range tags {
			if t.Key == tracking.TagRunName {
				if err := setRunName(ctx, tx, rid, t.Value); err != nil {
					return err
				}
				continue
			}
			other = append(other, t)
		}
		if err := upsertTags(ctx, tx, rid, other); err != nil {
			return err
		}
		return logMetrics(ctx, tx, rid, runID, metrics)
	})
}

// upsertTags sets tags of run rid in one statement; of tags with one key,
// the last wins. Rows are written in key order, so that two batches
// writing the same tags lock them in the same order and cannot deadlock.
func upsertTags(ctx context.Context, tx *conn, rid int64, tags []tracking.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	keys, values := lastByKey(tags, func(t tracking.Tag) (string, string) { return t.Key, t.Value })
	return tx.bulk(ctx, `INSERT INTO tags (rid, key, value)`, `ON CONFLICT (rid, key) DO UPDATE SET value = excluded.value`, true,
		[]any{rid}, col("text", keys), col("text", values))
}

// lastByKey returns the keys of items, sorted and unique, with the value of
// the last item of each key.
func lastByKey[T any](items []T, kv func(T) (string, string)) (keys, values []string) {
	m := make(map[string]string, len(items))
	for _, it := range items {
		k, v := kv(it)
		if _, ok := m[k]; !ok {
			keys = append(keys, k)
		}
		m[k] = v
	}
	sort.Strings(keys)
	values = make([]string, len(keys))
	for i, k := range keys {
		values[i] = m[k]
	}
	return keys, values
}

// logParams adds params to run rid: a param already logged must keep its
// value. It inserts the new ones in one statement (in key order, see
// upsertTags), then compares every param with what is stored.
func logParams(ctx context.Context, tx *conn, rid int64, runID string, params []tracking.Param) error {
	if len(params) == 0 {
		return nil
	}
	// The first value of a key is the one inserted; a later one in the
	// same batch conflicts with it, as with separate inserts.
	seen := make(map[string]bool, len(params))
	var keys, values []string
	for _, p := range params {
		if !seen[p.Key] {
			seen[p.Key] = true
			keys = append(keys, p.Key)
			values = append(values, p.Value)
		}
	}
	if err := tx.bulk(ctx, `INSERT INTO params (rid, key, value)`, `ON CONFLICT (rid, key) DO NOTHING`, true,
		[]any{rid}, col("text", keys), col("text", values)); err != nil {
		return err
	}
	stored := make(map[string]string, len(keys))
	in, args := tx.d.in("key", col("text", keys))
	rows, err := tx.Query(ctx, `SELECT key, value FROM params WHERE rid = ? AND `+in, append([]any{rid}, args...)...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return err
		}
		stored[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var conflicts []string
	for _, p := range params {
		if old := stored[p.Key]; old != p.Value {
			conflicts = append(conflicts, fmt.Sprintf("{'key': '%s', 'old_value': '%s', 'new_value': '%s'}", p.Key, old, p.Value))
		}
	}
	if len(conflicts) > 0 {
		return lode.Errorf(lode.EInvalid, "Changing param values is not allowed. Params were already logged='[%s]' for run ID='%s'.", strings.Join(conflicts, ", "), runID)
	}
	return nil
}

type metricPoint struct {
	step, ts int64
	value    float64
	isNaN    bool
}

func (a metricPoint) after(b metricPoint) bool {
	if a.step != b.step {
		return a.step > b.step
	}
	if a.ts != b.ts {
		return a.ts > b.ts
	}
	return a.value > b.value
}

func logMetrics(ctx context.Context, tx *conn, rid int64, runID string, metrics []tracking.Metric) error {
	if len(metrics) == 0 {
		return nil
	}
	if err := appendChunks(ctx, tx, rid, metrics); err != nil {
		return err
	}
	latest := make(map[string]metricPoint)
	var keys []string
	for _, m := range metrics {
		v, isNaN := metricValue(m.Value)
		p := metricPoint{m.Step, m.Timestamp, v, isNaN}
		if cur, ok := latest[m.Key]; !ok {
			latest[m.Key] = p
			keys = append(keys, m.Key)
		} else if p.after(cur) {
			latest[m.Key] = p
		}
	}
	sort.Strings(keys) // lock order, see upsertTags
	steps, tss, vals, nans := make([]int64, len(keys)), make([]int64, len(keys)), make([]float64, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		p := latest[k]
		steps[i], tss[i], vals[i], nans[i] = p.step, p.ts, p.value, p.isNaN
	}
	// The upsert keeps the greater of the stored and the new point: the
	// row lock it takes makes that atomic against concurrent batches.
	if err := tx.bulk(ctx, `INSERT INTO latest_metrics (rid, key, step, timestamp, value, is_nan)`,
		`ON CONFLICT (rid, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp, value = excluded.value, is_nan = excluded.is_nan
		WHERE (excluded.step, excluded.timestamp, excluded.value) > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)`, true,
		[]any{rid}, col("text", keys), col("int8", steps), col("int8", tss), col("float8", vals), col("bool", nans)); err != nil {
		return err
	}
	for _, m := range metrics {
		if m.ModelID == "" {
			continue
		}
		v, isNaN := metricValue(m.Value)
		if _, err := tx.Exec(ctx, `INSERT INTO logged_model_metrics (model_id, key, value, is_nan, timestamp, step, run_uuid, dataset_name, dataset_digest)
			SELECT CAST(? AS text), CAST(? AS text), CAST(? AS float8), CAST(? AS bool), CAST(? AS int8), CAST(? AS int8), CAST(? AS text), CAST(? AS text), CAST(? AS text) WHERE EXISTS (SELECT 1 FROM logged_models WHERE model_id = ?)
			ON CONFLICT (model_id, key, run_uuid, step, timestamp, dataset_name, dataset_digest) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan`,
			m.ModelID, m.Key, v, isNaN, m.Timestamp, m.Step, runID, m.DatasetName, m.DatasetDigest, m.ModelID); err != nil {
			return err
		}
	}
	return nil
}

// DeleteTag implements tracking.Store.
func (db *Store) DeleteTag(ctx context.Context, runID, key string) error {
	return db.tx(ctx, func(tx *conn) error {
		rid, err := runRID(ctx, tx, runID)
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM tags WHERE rid = ? AND key = ?`, rid, key)
		if err != nil {
			return err
		}
		return expectRow(res, "No tag with name: %s in run with id %s", key, runID)
	})
}

// LogInputs implements tracking.Store: datasets are shared within an
// experiment by (name, digest).
func (db *Store) LogInputs(ctx context.Context, runID string, inputs []tracking.DatasetInput, models []tracking.ModelInput) error {
	return db.tx(ctx, func(tx *conn) error {
		var rid, exp int64
		err := tx.QueryRow(ctx, `SELECT rid, experiment_id FROM runs WHERE run_uuid = ?`, runID).Scan(&rid, &exp)
		if errors.Is(err, sql.ErrNoRows) {
			return runNotFound(runID)
		} else if err != nil {
			return err
		}
		for _, in := range inputs {
			d := in.Dataset
			uuid := tracking.NewID()
			if _, err := tx.Exec(ctx, `INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, source, schema, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (experiment_id, name, digest) DO NOTHING`, uuid, exp, d.Name, d.Digest, d.SourceType, d.Source, d.Schema, d.Profile); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?`, exp, d.Name, d.Digest).Scan(&uuid); err != nil {
				return err
			}
			res, err := tx.Exec(ctx, `INSERT INTO run_inputs (rid, dataset_uuid) VALUES (?, ?) ON CONFLICT DO NOTHING`, rid, uuid)
			if err != nil {
				return err
			}
			if affected(res) == 0 {
				continue // already an input of this run: keep its tags, as MLflow does
			}
			for _, t := range in.Tags {
				if _, err := tx.Exec(ctx, `INSERT INTO run_input_tags (rid, dataset_uuid, key, value) VALUES (?, ?, ?, ?) ON CONFLICT (rid, dataset_uuid, key) DO UPDATE SET value = excluded.value`, rid, uuid, t.Key, t.Value); err != nil {
					return err
				}
			}
		}
		for _, m := range models {
			if _, err := tx.Exec(ctx, `INSERT INTO run_model_inputs (rid, model_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, rid, m.ModelID); err != nil {
				return err
			}
		}
		return nil
	})
}

// LogOutputs implements tracking.Store.
func (db *Store) LogOutputs(ctx context.Context, runID string, models []tracking.ModelOutput) error {
	return db.tx(ctx, func(tx *conn) error {
		rid, err := runRID(ctx, tx, runID)
		if err != nil {
			return err
		}
		for _, m := range models {
			if _, err := tx.Exec(ctx, `INSERT INTO run_model_outputs (rid, model_id, step) VALUES (?, ?, ?) ON CONFLICT (rid, model_id) DO UPDATE SET step = excluded.step`, rid, m.ModelID, m.Step); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetMetricHistory implements tracking.Store. A page's token names the
// last point it holds (not an offset): the next page starts after it, so
// that no page needs the points before it in memory, and points logged
// between two pages neither shift nor repeat what follows.
func (db *Store) GetMetricHistory(ctx context.Context, q tracking.MetricHistoryQuery) ([]tracking.Metric, string, error) {
	after, err := parseHistoryToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	rid, _, err := db.runInfo(ctx, db.r, q.RunID)
	if lode.ErrorCode(err) == lode.ENotFound {
		return nil, "", nil // MLflow answers an unknown run's history with nothing
	} else if err != nil {
		return nil, "", err
	}
	limit := 0
	if q.MaxResults > 0 {
		limit = q.MaxResults + 1 // one more tells whether a next page exists
	}
	h, err := readHistory(ctx, db.r, rid, q.Key, math.MinInt64, math.MaxInt64, true, after, limit)
	if err != nil {
		return nil, "", db.dbErr(err)
	}
	pts, next := h.points, ""
	if q.MaxResults > 0 && len(pts) > q.MaxResults {
		pts = pts[:q.MaxResults]
		next = historyToken(pts[len(pts)-1])
	}
	out := make([]tracking.Metric, len(pts))
	for i, p := range pts {
		out[i] = h.metric(q.Key, p)
		out[i].RunID = q.RunID
	}
	return out, next, nil
}

// GetMetricHistoryBulkInterval implements tracking.Store: of each run's
// values in the step range, ordered by step, timestamp and value, it keeps at
// most maxResults evenly spread ones, always including the first and the
// last (only the last when maxResults is 1), as MLflow does.
func (db *Store) GetMetricHistoryBulkInterval(ctx context.Context, runIDs []string, key string, startStep, endStep *int64, maxResults int) ([]tracking.Metric, error) {
	var out []tracking.Metric
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if startStep != nil {
		lo, hi = *startStep, *endStep
	}
	for _, id := range runIDs {
		var rid int64
		err := db.r.QueryRow(ctx, `SELECT rid FROM runs WHERE run_uuid = ?`, id).Scan(&rid)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, runNotFound(id)
		} else if err != nil {
			return nil, db.dbErr(err)
		}
		h, err := readHistory(ctx, db.r, rid, key, lo, hi, false, nil, 0)
		if err != nil {
			return nil, db.dbErr(err)
		}
		for _, i := range sampleIndexes(len(h.points), maxResults) {
			p := h.points[i]
			out = append(out, tracking.Metric{Key: key, Value: p.value, Timestamp: p.ts, Step: p.step, RunID: id})
		}
	}
	return out, nil
}

// sampleIndexes picks at most k of the indexes 0..n-1, evenly spaced,
// keeping the first and the last; k == 1 keeps the last.
func sampleIndexes(n, k int) []int {
	if k >= n {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	if k <= 1 {
		return []int{n - 1}
	}
	out := make([]int, 0, k)
	for i := 0; i < k; i++ {
		j := int(math.Round(float64(i) * float64(n-1) / float64(k-1)))
		if len(out) == 0 || out[len(out)-1] != j {
			out = append(out, j)
		}
	}
	return out
}

// SetRunStartTime implements tracking.Store.
func (db *Store) SetRunStartTime(ctx context.Context, id string, ms int64) error {
	return db.tx(ctx, func(tx *conn) error {
		res, err := tx.Exec(ctx, `UPDATE runs SET start_time = ? WHERE run_uuid = ?`, ms, id)
		if err != nil {
			return err
		}
		return expectRow(res, "Run with id=%s not found", id)
	})
}

// CountRuns implements tracking.Store: one grouped query over the
// runs_experiment index, however many experiments are named.
func (db *Store) CountRuns(ctx context.Context, experimentIDs []string) (map[string]tracking.RunCount, error) {
	out := map[string]tracking.RunCount{}
	if len(experimentIDs) == 0 {
		return out, nil
	}
	ids, err := parseExperimentIDs(experimentIDs)
	if err != nil {
		return nil, err
	}
	in, args := db.d.in("experiment_id", col("int8", ids))
	rows, err := db.r.Query(ctx, `SELECT experiment_id, lifecycle_stage, COUNT(*) FROM runs WHERE `+in+` GROUP BY experiment_id, lifecycle_stage`, args...)
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		var stage string
		if err := rows.Scan(&id, &stage, &n); err != nil {
			return nil, db.dbErr(err)
		}
		key := strconv.FormatInt(id, 10)
		c := out[key]
		if stage == tracking.StageDeleted {
			c.Deleted += n
		} else {
			c.Active += n
		}
		out[key] = c
	}
	return out, db.dbErr(rows.Err())
}

// SearchDatasets implements tracking.Store. A dataset used by several
// runs in one context is one summary; one used in several contexts (or
// in none) is one summary each.
func (db *Store) SearchDatasets(ctx context.Context, experimentIDs []string, limit int) ([]tracking.DatasetSummary, error) {
	exps, err := parseExperimentIDs(experimentIDs)
	if err != nil {
		return nil, err
	}
	cond, args := db.d.in("d.experiment_id", col("int8", exps))
	rows, err := db.r.Query(ctx, `SELECT DISTINCT d.experiment_id, d.name, d.digest, COALESCE(t.value, '')
		FROM datasets d
		JOIN run_inputs i ON i.dataset_uuid = d.dataset_uuid
		LEFT JOIN run_input_tags t ON t.rid = i.rid AND t.dataset_uuid = i.dataset_uuid AND t.key = 'mlflow.data.context'
		WHERE `+cond+`
		ORDER BY 1, 2, 3, 4
		LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	var out []tracking.DatasetSummary
	for rows.Next() {
		var s tracking.DatasetSummary
		var exp int64
		if err := rows.Scan(&exp, &s.Name, &s.Digest, &s.Context); err != nil {
			return nil, db.dbErr(err)
		}
		s.ExperimentID = strconv.FormatInt(exp, 10)
		out = append(out, s)
	}
	return out, db.dbErr(rows.Err())
}
