package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

// CreateExperiment implements tracking.Store.
func (db *Store) CreateExperiment(ctx context.Context, e tracking.Experiment) (string, error) {
	var id string
	err := db.tx(ctx, func(tx *conn) error {
		var n int64
		err := tx.QueryRow(ctx, `INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?) RETURNING experiment_id`,
			e.Name, e.ArtifactLocation, tracking.StageActive, e.CreationTime, e.LastUpdateTime).Scan(&n)
		if db.isUnique(err) {
			return lode.Errorf(lode.EExists, "Experiment(name=%s) already exists.", e.Name)
		} else if err != nil {
			return err
		}
		id = strconv.FormatInt(n, 10)
		if e.ArtifactLocation == "" {
			if _, err := tx.Exec(ctx, `UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?`, db.defaultLocation(id), n); err != nil {
				return err
			}
		}
		for _, t := range e.Tags {
			if _, err := tx.Exec(ctx, `INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value`, n, t.Key, t.Value); err != nil {
				return err
			}
		}
		return nil
	})
	return id, err
}

func parseExperimentID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, lode.Errorf(lode.EInvalid, "Invalid experiment ID '%s'. Experiment ID must be a valid integer.", id)
	}
	return n, nil
}

// parseExperimentIDs parses the experiment ids a search names.
func parseExperimentIDs(ids []string) ([]int64, error) {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		n, err := parseExperimentID(id)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

const experimentColumns = `experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time`

func scanExperiment(row interface{ Scan(...any) error }) (*tracking.Experiment, error) {
	var e tracking.Experiment
	var id int64
	if err := row.Scan(&id, &e.Name, &e.ArtifactLocation, &e.LifecycleStage, &e.CreationTime, &e.LastUpdateTime); err != nil {
		return nil, err
	}
	e.ID = strconv.FormatInt(id, 10)
	return &e, nil
}

func (db *Store) experimentTags(ctx context.Context, exps []*tracking.Experiment) error {
	if len(exps) == 0 {
		return nil
	}
	byID := make(map[string]*tracking.Experiment, len(exps))
	ids := make([]int64, len(exps))
	for i, e := range exps {
		byID[e.ID] = e
		ids[i], _ = strconv.ParseInt(e.ID, 10, 64)
	}
	in, args := db.d.in("experiment_id", col("int8", ids))
	rows, err := db.r.Query(ctx, `SELECT experiment_id, key, value FROM experiment_tags WHERE `+in+` ORDER BY experiment_id, key`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var t tracking.Tag
		if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
			return err
		}
		e := byID[strconv.FormatInt(id, 10)]
		e.Tags = append(e.Tags, t)
	}
	return rows.Err()
}

// GetExperiment implements tracking.Store.
func (db *Store) GetExperiment(ctx context.Context, id string) (*tracking.Experiment, error) {
	n, err := parseExperimentID(id)
	if err != nil {
		return nil, err
	}
	e, err := scanExperiment(db.r.QueryRow(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE experiment_id = ?`, n))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, lode.Errorf(lode.ENotFound, "No Experiment with id=%s exists", id)
	} else if err != nil {
		return nil, db.dbErr(err)
	}
	return e, db.dbErr(db.experimentTags(ctx, []*tracking.Experiment{e}))
}

// GetExperimentByName implements tracking.Store.
func (db *Store) GetExperimentByName(ctx context.Context, name string) (*tracking.Experiment, error) {
	e, err := scanExperiment(db.r.QueryRow(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, lode.Errorf(lode.ENotFound, "Could not find experiment with name '%s'", name)
	} else if err != nil {
		return nil, db.dbErr(err)
	}
	return e, db.dbErr(db.experimentTags(ctx, []*tracking.Experiment{e}))
}

func stagesFor(v tracking.ViewType) []any {
	switch v {
	case tracking.DeletedOnly:
		return []any{tracking.StageDeleted}
	case tracking.AllViews:
		return []any{tracking.StageActive, tracking.StageDeleted}
	}
	return []any{tracking.StageActive}
}

var experimentAttrColumns = map[string]string{
	"name":              "e.name",
	"experiment_id":     "e.experiment_id",
	"creation_time":     "e.creation_time",
	"last_update_time":  "e.last_update_time",
	"lifecycle_stage":   "e.lifecycle_stage",
	"artifact_location": "e.artifact_location",
}

// SearchExperiments implements tracking.Store.
func (db *Store) SearchExperiments(ctx context.Context, q tracking.ExperimentQuery) ([]*tracking.Experiment, string, error) {
	offset, err := parsePageToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	var b sqlBuilder
	stages := stagesFor(q.ViewType)
	b.where("e.lifecycle_stage IN ("+placeholders(len(stages))+")", stages...)
	db.whereIDScope(&b, "e.experiment_id", q.Scope)
	for _, c := range q.Filter {
		switch c.KeyType {
		case tracking.KeyAttribute:
			col, ok := experimentAttrColumns[c.Key]
			if !ok {
				return nil, "", lode.Errorf(lode.EInvalid, "Invalid attribute key '%s' specified.", c.Key)
			}
			v := c.Value
			if c.Key == "experiment_id" {
				if v, err = experimentIDValue(v); err != nil {
					return nil, "", err
				}
			}
			if err := b.compare(&db.d, col, c.Op, v); err != nil {
				return nil, "", err
			}
		case tracking.KeyTag:
			var sub sqlBuilder
			sub.where("t.experiment_id = e.experiment_id AND t.key = ?", c.Key)
			if isNullOp(&b, c.Op, "SELECT 1 FROM experiment_tags t WHERE "+sub.cond(), sub.args) {
				continue
			}
			if err := sub.compare(&db.d, "t.value", c.Op, c.Value); err != nil {
				return nil, "", err
			}
			b.where("EXISTS (SELECT 1 FROM experiment_tags t WHERE "+sub.cond()+")", sub.args...)
		default:
			return nil, "", lode.Errorf(lode.EInvalid, "Invalid token type: %s", c.KeyType)
		}
	}
	orders := q.OrderBy
	if len(orders) == 0 {
		orders = []tracking.OrderBy{{KeyType: tracking.KeyAttribute, Key: "creation_time"}, {KeyType: tracking.KeyAttribute, Key: "experiment_id", Asc: true}}
	}
	var order []string
	seenID := false
	for _, o := range orders {
		col, ok := experimentAttrColumns[o.Key]
		if o.KeyType != tracking.KeyAttribute || !ok {
			return nil, "", lode.Errorf(lode.EInvalid, "Invalid order_by entity: %s", o.Key)
		}
		if o.Key == "experiment_id" {
			seenID = true
		}
		order = append(order, col+direction(o.Asc))
	}
	if !seenID {
		order = append(order, "e.experiment_id DESC")
	}
	query := `SELECT ` + prefixed("e.", experimentColumns) + ` FROM experiments e WHERE ` + b.cond() +
		` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ? OFFSET ?`
	exps, next, err := queryPage(ctx, db.r, query, b.args, q.MaxResults, offset, func(rows Rows) (*tracking.Experiment, error) {
		return scanExperiment(rows)
	})
	if err != nil {
		return nil, "", err
	}
	return exps, next, db.dbErr(db.experimentTags(ctx, exps))
}

func experimentIDValue(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return parseExperimentID(x)
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			n, err := parseExperimentID(s)
			if err != nil {
				return nil, err
			}
			out[i] = strconv.FormatInt(n, 10)
		}
		return out, nil
	}
	return v, nil
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// RenameExperiment implements tracking.Store.
func (db *Store) RenameExperiment(ctx context.Context, id, name string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *conn) error {
		res, err := tx.Exec(ctx, `UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?`, name, nowMillis(), n)
		if db.isUnique(err) {
			// MLflow reports this one as BAD_REQUEST, not RESOURCE_ALREADY_EXISTS.
			return lode.Errorf(lode.EBadRequest, "Experiment(name=%s) already exists.", name)
		} else if err != nil {
			return err
		}
		return expectRow(res, "No Experiment with id=%s exists", id)
	})
}

// SetExperimentStage implements tracking.Store: deleting an experiment
// deletes its runs; restoring it restores them.
func (db *Store) SetExperimentStage(ctx context.Context, id, stage string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *conn) error {
		now := nowMillis()
		res, err := tx.Exec(ctx, `UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?`, stage, now, n)
		if err != nil {
			return err
		}
		if err := expectRow(res, "No Experiment with id=%s exists", id); err != nil {
			return err
		}
		if stage == tracking.StageDeleted {
			_, err = tx.Exec(ctx, `UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE experiment_id = ? AND lifecycle_stage = 'active'`, now, n)
		} else {
			_, err = tx.Exec(ctx, `UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE experiment_id = ? AND lifecycle_stage = 'deleted'`, n)
		}
		return err
	})
}

// SetExperimentTag implements tracking.Store.
func (db *Store) SetExperimentTag(ctx context.Context, id string, t tracking.Tag) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *conn) error {
		_, err := tx.Exec(ctx, `INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value`, n, t.Key, t.Value)
		return err
	})
}

// DeleteExperimentTag implements tracking.Store.
func (db *Store) DeleteExperimentTag(ctx context.Context, id, key string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *conn) error {
		res, err := tx.Exec(ctx, `DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?`, n, key)
		if err != nil {
			return err
		}
		return expectRow(res, "No tag with name: %s in experiment with id %s", key, id)
	})
}

func expectRow(res sql.Result, format string, args ...any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return lode.Errorf(lode.ENotFound, format, args...)
	}
	return nil
}
