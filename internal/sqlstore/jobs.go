package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
)

var _ jobs.Store = (*Store)(nil)

// Bounds of ListJobs' max_results.
const (
	defaultJobsPage = 100
	maxJobsPage     = 1000
)

// activeStates are the states ActiveJobs returns: every state that is not
// final.
var activeStates = []any{string(jobs.Queued), string(jobs.Scheduled), string(jobs.Running)}

// CreateJob implements jobs.Store.
func (db *Store) CreateJob(ctx context.Context, j *jobs.Job) error {
	if j == nil || j.ID == "" {
		return lode.Errorf(lode.EInvalid, "a job needs an id")
	}
	doc, err := json.Marshal(j)
	if err != nil {
		return db.dbErr(err)
	}
	_, err = db.w.Exec(ctx, `INSERT INTO jobs (id, state, queue, `+db.d.JobUser+`, priority, submitted, updated, doc, experiment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, string(j.State), j.Spec.Queue, j.Spec.User, j.Spec.Priority, j.Submitted, nowMillis(), string(doc), j.Spec.Experiment())
	if db.isUnique(err) {
		return lode.Errorf(lode.EExists, "job '%s' already exists", j.ID)
	}
	return db.dbErr(err)
}

// UpdateJob implements jobs.Store. It writes the job's mutable fields in
// one statement; the id, spec and submission time stay as created (the
// statement keeps them from the stored document), so the queue, user and
// priority columns need no update.
func (db *Store) UpdateJob(ctx context.Context, j *jobs.Job) error {
	if j == nil {
		return lode.Errorf(lode.EInvalid, "no job to update")
	}
	doc, err := json.Marshal(j)
	if err != nil {
		return db.dbErr(err)
	}
	res, err := db.w.Exec(ctx, `UPDATE jobs SET state = ?, updated = ?, doc = `+db.d.JobDocUpdate+` WHERE id = ?`, string(j.State), nowMillis(), string(doc), j.ID)
	if err != nil {
		return db.dbErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.dbErr(err)
	}
	if n == 0 {
		return jobNotFound(j.ID)
	}
	return nil
}

// GetJob implements jobs.Store.
func (db *Store) GetJob(ctx context.Context, id string) (*jobs.Job, error) {
	var doc string
	err := db.r.QueryRow(ctx, `SELECT `+db.d.JobDoc+` FROM jobs WHERE id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, jobNotFound(id)
	}
	if err != nil {
		return nil, db.dbErr(err)
	}
	j, err := decodeJob(doc)
	return j, db.dbErr(err)
}

// ListJobs implements jobs.Store: newest first (by submission time, then
// id, both descending).
func (db *Store) ListJobs(ctx context.Context, q jobs.Query) ([]*jobs.Job, string, error) {
	limit := q.MaxResults
	switch {
	case limit == 0:
		limit = defaultJobsPage
	case limit < 0 || limit > maxJobsPage:
		return nil, "", lode.Errorf(lode.EInvalid, "Invalid value %d for parameter 'max_results' supplied. It must be at most %d", q.MaxResults, maxJobsPage)
	}
	offset, err := parsePageToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	var b sqlBuilder
	if len(q.States) > 0 {
		args := make([]any, len(q.States))
		for i, s := range q.States {
			args[i] = string(s)
		}
		b.where("state IN ("+placeholders(len(args))+")", args...)
	}
	if q.Queue != "" {
		b.where("queue = ?", q.Queue)
	}
	if q.User != "" {
		b.where(db.d.JobUser+" = ?", q.User)
	}
	db.whereScope(&b, "experiment_id", q.Experiments)
	query := `SELECT ` + db.d.JobDoc + ` FROM jobs WHERE ` + b.cond() + ` ORDER BY submitted DESC, id DESC LIMIT ? OFFSET ?`
	return queryPage(ctx, db.r, query, b.args, limit, offset, scanJob)
}

// ActiveJobs implements jobs.Store: the jobs not in a final state, oldest
// first (by submission time, then id).
func (db *Store) ActiveJobs(ctx context.Context) ([]*jobs.Job, error) {
	out, err := queryAll(ctx, db.r, `SELECT `+db.d.JobDoc+` FROM jobs WHERE state IN (`+placeholders(len(activeStates))+`) ORDER BY submitted, id`,
		activeStates, scanJob)
	return out, db.dbErr(err)
}

func scanJob(rows Rows) (*jobs.Job, error) {
	var doc string
	if err := rows.Scan(&doc); err != nil {
		return nil, err
	}
	return decodeJob(doc)
}

func decodeJob(doc string) (*jobs.Job, error) {
	j := new(jobs.Job)
	if err := json.Unmarshal([]byte(doc), j); err != nil {
		return nil, err
	}
	return j, nil
}

func jobNotFound(id string) error {
	return lode.Errorf(lode.ENotFound, "job '%s' does not exist", id)
}
