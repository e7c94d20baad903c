// Package sqlstore is the SQL behind Lode's metadata stores: the queries
// and logic of tracking.Store, registry.Store, jobs.Store,
// serving.DeploymentStore and tune.Store, written once over the tables both the SQLite
// and the PostgreSQL store create. They run on a DB: database/sql's shape
// (SQLDB adapts a *sql.DB; the PostgreSQL store adapts its pgx pool, so
// that rows scan natively). What differs between the two databases —
// placeholders, lists and bulk rows as arguments, LIKE and number
// comparisons, error classes, retries, the jobs table's JSON — is the
// Dialect's.
//
// Every multi-statement write is one transaction. Read-modify-writes are
// single statements (upserts, UPDATE ... RETURNING) or follow a row lock
// taken by the transaction's first UPDATE, and bulk upserts write their
// rows in key order, so that several servers sharing one PostgreSQL
// database neither lose updates nor deadlock one another; a transaction
// the database aborts for a deadlock or a serialization failure is
// retried (Dialect.Retryable).
package sqlstore

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/lode-ml/lode/tracking"
)

// Dialect is what a database needs of the store that SQL does not say
// the same way everywhere.
type Dialect struct {
	// Rebind rewrites a query written with ? placeholders for the
	// driver; nil leaves it as it is.
	Rebind func(query string) string
	// Arrays: the database takes a list as one array argument (`= ANY(?)`)
	// and bulk rows as arrays (unnest); else lists are spelled out
	// (`IN (?, ?)`) and bulk rows are VALUES (?, ?), (?, ?).
	Arrays bool
	// MaxParams bounds the arguments of one statement (0: no bound); a
	// long list or many bulk rows are split over several statements.
	MaxParams int
	// FloatArg is the placeholder of a number compared with a column.
	FloatArg string
	// Like returns the condition `col LIKE/ILIKE pattern` and its
	// argument for a filter's value.
	Like func(col, op string, value any) (string, any)
	// Err turns a driver error into a *lode.Error (a *lode.Error passes).
	Err func(error) error
	// IsUnique reports a unique-constraint violation.
	IsUnique func(error) bool
	// Retryable reports an error after which the whole transaction may be
	// run again (a deadlock, a serialization failure); nil: none is.
	Retryable func(error) bool
	// IntVersions: a model version that is no integer is not looked up
	// (the database would fail to parse it) but names no version.
	IntVersions bool

	// The jobs table: the submitter's column, the document read as text,
	// and the new document of an update given the submitted one as ?
	// (keeping the stored id, spec and submission time).
	JobUser, JobDoc, JobDocUpdate string
}

// Store implements the metadata stores over a database. Writes outside a
// transaction and transactions go to W, reads to R (the same pool where
// the database has one pool for both).
type Store struct {
	d    Dialect
	root string // default artifact root
	w, r *conn
	wdb  DB
}

// New returns a Store writing through w and reading through r (which may
// be w). defaultArtifactRoot is where experiments created without an
// artifact_location keep their artifacts: <root>/<experiment id>.
func New(d Dialect, w, r DB, defaultArtifactRoot string) *Store {
	return &Store{d: d, root: defaultArtifactRoot, w: &conn{w, &d}, r: &conn{r, &d}, wdb: w}
}

// SchemaVersion returns the highest applied migration.
func (db *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.r.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, db.dbErr(err)
}

// EnsureDefaultExperiment creates experiment 0, Default, unless it exists
// (another server may be creating it at the same moment).
func (db *Store) EnsureDefaultExperiment(ctx context.Context) error {
	now := nowMillis()
	_, err := db.w.Exec(ctx, `INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
		VALUES (0, ?, ?, 'active', ?, ?) ON CONFLICT DO NOTHING`,
		tracking.DefaultExperimentName, db.defaultLocation("0"), now, now)
	return db.dbErr(err)
}

func (db *Store) defaultLocation(id string) string {
	root := strings.TrimSuffix(db.root, "/")
	if root == "" {
		return id
	}
	return root + "/" + id
}

// maxTxAttempts bounds the retries of a transaction that deadlocked or
// failed to serialize.
const maxTxAttempts = 8

// tx runs fn in a transaction on the writer, retrying it from the start
// when the database aborts it for a deadlock or a serialization failure
// (fn must therefore only set its captured results, never accumulate into
// them).
func (db *Store) tx(ctx context.Context, fn func(*conn) error) error {
	for attempt := 1; ; attempt++ {
		err := db.tx1(ctx, fn)
		if err == nil || attempt == maxTxAttempts || db.d.Retryable == nil || !db.d.Retryable(err) || ctx.Err() != nil {
			return db.dbErr(err)
		}
		// A short random pause lets the transaction that won go first.
		d := time.Duration(attempt) * time.Millisecond * time.Duration(1+rand.IntN(5))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return db.dbErr(err)
		}
	}
}

func (db *Store) tx1(ctx context.Context, fn func(*conn) error) error {
	tx, err := db.wdb.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(&conn{tx, &db.d}); err != nil {
		tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// dbErr turns driver errors into *lode.Error, leaving *lode.Error alone.
func (db *Store) dbErr(err error) error {
	if err == nil {
		return nil
	}
	return db.d.Err(err)
}

func (db *Store) isUnique(err error) bool { return db.d.IsUnique(err) }

// conn runs queries written with ? placeholders on a pool or a
// transaction, rebinding them for the driver.
type conn struct {
	q Querier
	d *Dialect
}

func (c *conn) rebind(query string) string {
	if c.d.Rebind == nil {
		return query
	}
	return c.d.Rebind(query)
}

func (c *conn) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.Exec(ctx, c.rebind(query), args...)
}

func (c *conn) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	return c.q.Query(ctx, c.rebind(query), args...)
}

func (c *conn) QueryRow(ctx context.Context, query string, args ...any) Row {
	return c.q.QueryRow(ctx, c.rebind(query), args...)
}

// affected is the number of rows a statement changed.
func affected(res sql.Result) int64 {
	n, _ := res.RowsAffected()
	return n
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

func nowMillis() int64 { return time.Now().UnixMilli() }
