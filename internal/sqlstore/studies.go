package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tune"
)

var _ tune.Store = (*Store)(nil)

// CreateStudy implements tune.Store.
func (db *Store) CreateStudy(ctx context.Context, s *tune.Study) (int64, error) {
	dirs := make([]string, len(s.Directions))
	for i, d := range s.Directions {
		dirs[i] = string(d)
	}
	var id int64
	err := db.tx(ctx, func(c *conn) error {
		err := c.QueryRow(ctx, `INSERT INTO studies (name, directions, created_ms) VALUES (?, ?, ?) RETURNING study_id`,
			s.Name, strings.Join(dirs, ","), nowMillis()).Scan(&id)
		if db.isUnique(err) {
			return lode.Errorf(lode.EExists, "Another study with name '%s' already exists.", s.Name)
		}
		if err != nil {
			return err
		}
		for _, set := range []struct {
			kind  tune.AttrKind
			attrs map[string]string
		}{{tune.UserAttr, s.UserAttrs}, {tune.SystemAttr, s.SystemAttrs}} {
			for k, v := range set.attrs {
				if err := upsertStudyAttr(ctx, c, id, set.kind, k, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return id, err
}

// DeleteStudy implements tune.Store; the study's trials go along with it
// (ON DELETE CASCADE).
func (db *Store) DeleteStudy(ctx context.Context, id int64) error {
	res, err := db.w.Exec(ctx, `DELETE FROM studies WHERE study_id = ?`, id)
	if err != nil {
		return db.dbErr(err)
	}
	if affected(res) == 0 {
		return studyNotFound(id)
	}
	return nil
}

// GetStudy implements tune.Store.
func (db *Store) GetStudy(ctx context.Context, id int64) (*tune.Study, error) {
	return db.getStudy(ctx, `study_id = ?`, id, func() error { return studyNotFound(id) })
}

// GetStudyByName implements tune.Store.
func (db *Store) GetStudyByName(ctx context.Context, name string) (*tune.Study, error) {
	return db.getStudy(ctx, `name = ?`, name, func() error {
		return lode.Errorf(lode.ENotFound, "Record does not exist: no study named '%s'.", name)
	})
}

func (db *Store) getStudy(ctx context.Context, cond string, arg any, notFound func() error) (*tune.Study, error) {
	ss, err := db.listStudies(ctx, cond, arg)
	if err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, notFound()
	}
	return ss[0], nil
}

// ListStudies implements tune.Store.
func (db *Store) ListStudies(ctx context.Context) ([]*tune.Study, error) {
	return db.listStudies(ctx, "TRUE")
}

// listStudies reads the studies matching cond, with their attributes, in
// two queries.
func (db *Store) listStudies(ctx context.Context, cond string, args ...any) ([]*tune.Study, error) {
	byID := map[int64]*tune.Study{}
	out, err := queryAll(ctx, db.r, `SELECT study_id, name, directions FROM studies WHERE `+cond+` ORDER BY study_id`, args,
		func(rows Rows) (*tune.Study, error) {
			s := &tune.Study{UserAttrs: map[string]string{}, SystemAttrs: map[string]string{}}
			var dirs string
			if err := rows.Scan(&s.ID, &s.Name, &dirs); err != nil {
				return nil, err
			}
			for _, d := range strings.Split(dirs, ",") {
				s.Directions = append(s.Directions, tune.Direction(d))
			}
			byID[s.ID] = s
			return s, nil
		})
	if err != nil || len(out) == 0 {
		return out, db.dbErr(err)
	}
	_, err = queryAll(ctx, db.r, `SELECT study_id, kind, key, value FROM study_attrs WHERE study_id IN (SELECT study_id FROM studies WHERE `+cond+`)`, args,
		func(rows Rows) (struct{}, error) {
			var id int64
			var kind, k, v string
			if err := rows.Scan(&id, &kind, &k, &v); err != nil {
				return struct{}{}, err
			}
			if s := byID[id]; s != nil {
				attrsOf(kind, s.UserAttrs, s.SystemAttrs)[k] = v
			}
			return struct{}{}, nil
		})
	return out, db.dbErr(err)
}

// SetStudyAttr implements tune.Store.
func (db *Store) SetStudyAttr(ctx context.Context, id int64, kind tune.AttrKind, key, value string) error {
	return db.tx(ctx, func(c *conn) error {
		var one int
		err := c.QueryRow(ctx, `SELECT 1 FROM studies WHERE study_id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return studyNotFound(id)
		}
		if err != nil {
			return err
		}
		return upsertStudyAttr(ctx, c, id, kind, key, value)
	})
}

func upsertStudyAttr(ctx context.Context, c *conn, id int64, kind tune.AttrKind, key, value string) error {
	_, err := c.Exec(ctx, `INSERT INTO study_attrs (study_id, kind, key, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (study_id, kind, key) DO UPDATE SET value = excluded.value`, id, string(kind), key, value)
	return err
}

// CreateTrial implements tune.Store. Bumping the study's trial counter is
// the transaction's first statement: on PostgreSQL its row lock makes
// concurrent creators of one study's trials take turns, so numbers are
// dense and ids grow in commit order.
func (db *Store) CreateTrial(ctx context.Context, studyID int64, t *tune.TrialRecord) (*tune.TrialRecord, error) {
	out := copyTrial(t)
	out.StudyID = studyID
	err := db.tx(ctx, func(c *conn) error {
		var next int64
		err := c.QueryRow(ctx, `UPDATE studies SET next_number = next_number + 1 WHERE study_id = ? RETURNING next_number`, studyID).Scan(&next)
		if errors.Is(err, sql.ErrNoRows) {
			return studyNotFound(studyID)
		}
		if err != nil {
			return err
		}
		out.Number = next - 1
		err = c.QueryRow(ctx, `INSERT INTO trials (study_id, number, state, start_us, complete_us) VALUES (?, ?, ?, ?, ?) RETURNING trial_id`,
			studyID, out.Number, string(t.State), micros(t.Start), micros(t.Complete)).Scan(&out.ID)
		if err != nil {
			return err
		}
		if err := setValues(ctx, c, out.ID, t.Values); err != nil {
			return err
		}
		for name, p := range t.Params {
			if err := upsertParam(ctx, c, out.ID, name, p); err != nil {
				return err
			}
		}
		for step, v := range t.Intermediate {
			if err := upsertStep(ctx, c, out.ID, step, v); err != nil {
				return err
			}
		}
		for _, set := range []struct {
			kind  tune.AttrKind
			attrs map[string]string
		}{{tune.UserAttr, t.UserAttrs}, {tune.SystemAttr, t.SystemAttrs}} {
			for k, v := range set.attrs {
				if err := upsertTrialAttr(ctx, c, out.ID, set.kind, k, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetTrial implements tune.Store.
func (db *Store) GetTrial(ctx context.Context, id int64) (*tune.TrialRecord, error) {
	ts, err := db.loadTrials(ctx, `trial_id = ?`, []any{id})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, trialNotFound(id)
	}
	return ts[0], nil
}

// TrialID implements tune.Store.
func (db *Store) TrialID(ctx context.Context, studyID, number int64) (int64, error) {
	var id int64
	err := db.r.QueryRow(ctx, `SELECT trial_id FROM trials WHERE study_id = ? AND number = ?`, studyID, number).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, lode.Errorf(lode.ENotFound, "No trial with trial number %d exists in study with study_id %d.", number, studyID)
	}
	return id, db.dbErr(err)
}

// ListTrials implements tune.Store.
func (db *Store) ListTrials(ctx context.Context, studyID int64, q tune.TrialQuery) ([]*tune.TrialRecord, error) {
	var one int
	err := db.r.QueryRow(ctx, `SELECT 1 FROM studies WHERE study_id = ?`, studyID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, studyNotFound(studyID)
	}
	if err != nil {
		return nil, db.dbErr(err)
	}
	cond, args := `study_id = ?`, []any{studyID}
	if !q.All {
		sel := `trial_id > ?`
		args = append(args, q.IDAbove)
		if len(q.IDs) > 0 {
			in, inArgs := db.d.in("trial_id", col("bigint", q.IDs))
			sel += ` OR ` + in
			args = append(args, inArgs...)
		}
		cond += ` AND (` + sel + `)`
	}
	return db.loadTrials(ctx, cond, args)
}

// loadTrials reads the trials matching cond (a condition on the trials
// table), ordered by number, with their values, parameters, intermediate
// values and attributes: five queries, whatever the number of trials.
// They may see the database at different moments; a trial's parts are
// only ever added or replaced, and a finished trial changes no more, so
// a part newer than its trial's row is one that trial has now.
func (db *Store) loadTrials(ctx context.Context, cond string, args []any) ([]*tune.TrialRecord, error) {
	byID := map[int64]*tune.TrialRecord{}
	out, err := queryAll(ctx, db.r, `SELECT trial_id, study_id, number, state, start_us, complete_us FROM trials WHERE `+cond+` ORDER BY study_id, number`, args,
		func(rows Rows) (*tune.TrialRecord, error) {
			t := &tune.TrialRecord{Params: map[string]tune.TrialParam{}, Intermediate: map[int64]float64{},
				UserAttrs: map[string]string{}, SystemAttrs: map[string]string{}}
			var state string
			var start, complete sql.NullInt64
			if err := rows.Scan(&t.ID, &t.StudyID, &t.Number, &state, &start, &complete); err != nil {
				return nil, err
			}
			t.State, t.Start, t.Complete = tune.TrialState(state), fromMicros(start), fromMicros(complete)
			byID[t.ID] = t
			return t, nil
		})
	if err != nil || len(out) == 0 {
		return out, db.dbErr(err)
	}
	sub := `trial_id IN (SELECT trial_id FROM trials WHERE ` + cond + `)`
	each := func(query string, scan func(rows Rows, t func(int64) *tune.TrialRecord) error) error {
		_, err := queryAll(ctx, db.r, query, args, func(rows Rows) (struct{}, error) {
			return struct{}{}, scan(rows, func(id int64) *tune.TrialRecord {
				if t := byID[id]; t != nil {
					return t
				}
				return &tune.TrialRecord{Params: map[string]tune.TrialParam{}, Intermediate: map[int64]float64{},
					UserAttrs: map[string]string{}, SystemAttrs: map[string]string{}} // created since: dropped
			})
		})
		return err
	}
	err = each(`SELECT trial_id, objective, value FROM trial_values WHERE `+sub+` ORDER BY trial_id, objective`, func(rows Rows, t func(int64) *tune.TrialRecord) error {
		var id int64
		var obj int
		var v sql.NullFloat64
		if err := rows.Scan(&id, &obj, &v); err != nil {
			return err
		}
		tr := t(id)
		for len(tr.Values) <= obj {
			tr.Values = append(tr.Values, math.NaN())
		}
		tr.Values[obj] = fromNull(v)
		return nil
	})
	if err == nil {
		err = each(`SELECT trial_id, name, value, distribution FROM trial_params WHERE `+sub, func(rows Rows, t func(int64) *tune.TrialRecord) error {
			var id int64
			var name string
			var p tune.TrialParam
			if err := rows.Scan(&id, &name, &p.Value, &p.Distribution); err != nil {
				return err
			}
			t(id).Params[name] = p
			return nil
		})
	}
	if err == nil {
		err = each(`SELECT trial_id, step, value FROM trial_steps WHERE `+sub, func(rows Rows, t func(int64) *tune.TrialRecord) error {
			var id, step int64
			var v sql.NullFloat64
			if err := rows.Scan(&id, &step, &v); err != nil {
				return err
			}
			t(id).Intermediate[step] = fromNull(v)
			return nil
		})
	}
	if err == nil {
		err = each(`SELECT trial_id, kind, key, value FROM trial_attrs WHERE `+sub, func(rows Rows, t func(int64) *tune.TrialRecord) error {
			var id int64
			var kind, k, v string
			if err := rows.Scan(&id, &kind, &k, &v); err != nil {
				return err
			}
			tr := t(id)
			attrsOf(kind, tr.UserAttrs, tr.SystemAttrs)[k] = v
			return nil
		})
	}
	if err != nil {
		return nil, db.dbErr(err)
	}
	return out, nil
}

// SetTrialParam implements tune.Store.
func (db *Store) SetTrialParam(ctx context.Context, trialID int64, name string, p tune.TrialParam, check func(previous string) error) error {
	return db.tx(ctx, func(c *conn) error {
		lt, err := lockUnfinishedTrial(ctx, c, trialID)
		if err != nil {
			return err
		}
		if check != nil {
			var prev string
			err := c.QueryRow(ctx, `SELECT p.distribution FROM trial_params p JOIN trials t ON t.trial_id = p.trial_id
				WHERE p.name = ? AND t.study_id = ? ORDER BY p.trial_id LIMIT 1`, name, lt.studyID).Scan(&prev)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if err := check(prev); err != nil {
				return err
			}
		}
		return upsertParam(ctx, c, trialID, name, p)
	})
}

// SetTrialState implements tune.Store.
func (db *Store) SetTrialState(ctx context.Context, trialID int64, state tune.TrialState, values []float64, at time.Time) (bool, error) {
	var moved bool
	err := db.tx(ctx, func(c *conn) error {
		moved = false
		lt, err := lockUnfinishedTrial(ctx, c, trialID)
		if err != nil {
			return err
		}
		if state == tune.Running && lt.state != tune.Waiting {
			return nil
		}
		if err := setValues(ctx, c, trialID, values); err != nil {
			return err
		}
		switch {
		case state == tune.Running:
			_, err = c.Exec(ctx, `UPDATE trials SET state = ?, start_us = ? WHERE trial_id = ?`, string(state), micros(at), trialID)
		case state.Finished():
			_, err = c.Exec(ctx, `UPDATE trials SET state = ?, complete_us = ? WHERE trial_id = ?`, string(state), micros(at), trialID)
		default:
			_, err = c.Exec(ctx, `UPDATE trials SET state = ? WHERE trial_id = ?`, string(state), trialID)
		}
		moved = err == nil
		return err
	})
	return moved, err
}

// SetTrialIntermediate implements tune.Store.
func (db *Store) SetTrialIntermediate(ctx context.Context, trialID, step int64, value float64) error {
	return db.tx(ctx, func(c *conn) error {
		if _, err := lockUnfinishedTrial(ctx, c, trialID); err != nil {
			return err
		}
		return upsertStep(ctx, c, trialID, step, value)
	})
}

// SetTrialAttr implements tune.Store.
func (db *Store) SetTrialAttr(ctx context.Context, trialID int64, kind tune.AttrKind, key, value string) error {
	return db.tx(ctx, func(c *conn) error {
		if _, err := lockUnfinishedTrial(ctx, c, trialID); err != nil {
			return err
		}
		return upsertTrialAttr(ctx, c, trialID, kind, key, value)
	})
}

type lockedTrial struct {
	studyID, number int64
	state           tune.TrialState
}

// lockUnfinishedTrial locks a trial's row for the transaction (a no-op
// UPDATE, whose row lock orders concurrent writers of one trial on
// PostgreSQL) and refuses a finished trial.
func lockUnfinishedTrial(ctx context.Context, c *conn, id int64) (lockedTrial, error) {
	var lt lockedTrial
	var state string
	err := c.QueryRow(ctx, `UPDATE trials SET state = state WHERE trial_id = ? RETURNING study_id, number, state`, id).Scan(&lt.studyID, &lt.number, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return lt, trialNotFound(id)
	}
	if err != nil {
		return lt, err
	}
	lt.state = tune.TrialState(state)
	if lt.state.Finished() {
		return lt, lode.Errorf(lode.EInvalidState, "Trial#%d has already finished and can not be updated.", lt.number)
	}
	return lt, nil
}

func setValues(ctx context.Context, c *conn, id int64, values []float64) error {
	for i, v := range values {
		_, err := c.Exec(ctx, `INSERT INTO trial_values (trial_id, objective, value) VALUES (?, ?, ?)
			ON CONFLICT (trial_id, objective) DO UPDATE SET value = excluded.value`, id, i, nullNaN(v))
		if err != nil {
			return err
		}
	}
	return nil
}

func upsertParam(ctx context.Context, c *conn, id int64, name string, p tune.TrialParam) error {
	if math.IsNaN(p.Value) {
		return lode.Errorf(lode.EInvalid, "Parameter '%s' cannot be NaN.", name)
	}
	_, err := c.Exec(ctx, `INSERT INTO trial_params (trial_id, name, value, distribution) VALUES (?, ?, ?, ?)
		ON CONFLICT (trial_id, name) DO UPDATE SET value = excluded.value, distribution = excluded.distribution`, id, name, p.Value, p.Distribution)
	return err
}

func upsertStep(ctx context.Context, c *conn, id, step int64, v float64) error {
	_, err := c.Exec(ctx, `INSERT INTO trial_steps (trial_id, step, value) VALUES (?, ?, ?)
		ON CONFLICT (trial_id, step) DO UPDATE SET value = excluded.value`, id, step, nullNaN(v))
	return err
}

func upsertTrialAttr(ctx context.Context, c *conn, id int64, kind tune.AttrKind, key, value string) error {
	_, err := c.Exec(ctx, `INSERT INTO trial_attrs (trial_id, kind, key, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (trial_id, kind, key) DO UPDATE SET value = excluded.value`, id, string(kind), key, value)
	return err
}

// attrsOf picks the user or system attributes by the kind column.
func attrsOf(kind string, user, system map[string]string) map[string]string {
	if kind == string(tune.SystemAttr) {
		return system
	}
	return user
}

// copyTrial copies t deeply enough that the caller's maps and slices are
// not the stored trial's.
func copyTrial(t *tune.TrialRecord) *tune.TrialRecord {
	out := *t
	out.Values = append([]float64(nil), t.Values...)
	out.Params = make(map[string]tune.TrialParam, len(t.Params))
	for k, v := range t.Params {
		out.Params[k] = v
	}
	out.Intermediate = make(map[int64]float64, len(t.Intermediate))
	for k, v := range t.Intermediate {
		out.Intermediate[k] = v
	}
	out.UserAttrs = make(map[string]string, len(t.UserAttrs))
	for k, v := range t.UserAttrs {
		out.UserAttrs[k] = v
	}
	out.SystemAttrs = make(map[string]string, len(t.SystemAttrs))
	for k, v := range t.SystemAttrs {
		out.SystemAttrs[k] = v
	}
	return &out
}

// nullNaN stores NaN as NULL: SQLite keeps no NaN.
func nullNaN(v float64) any {
	if math.IsNaN(v) {
		return nil
	}
	return v
}

func fromNull(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64)
}

func studyNotFound(id int64) error {
	return lode.Errorf(lode.ENotFound, "Record does not exist: no study with id %d.", id)
}

func trialNotFound(id int64) error {
	return lode.Errorf(lode.ENotFound, "Record does not exist: no trial with id %d.", id)
}
