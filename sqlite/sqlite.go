// Package sqlite stores Lode's metadata in an embedded SQLite database (WAL
// mode, one writer connection, a pool of readers). It implements
// tracking.Store, registry.Store, jobs.Store, serving.DeploymentStore and
// tune.Store
// with the queries of package sqlstore, which the PostgreSQL store shares;
// this package holds what is SQLite's own: opening the file, its
// connections, its migrations and its dialect. Schema changes are
// versioned migrations embedded in the binary and applied on Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/internal/sqlstore"
	"github.com/lode-ml/lode/tracking"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure a DB.
type Options struct {
	// DefaultArtifactRoot is where experiments created without an
	// artifact_location keep their artifacts: <root>/<experiment id>.
	DefaultArtifactRoot string
	// Synchronous is SQLite's synchronous pragma: "FULL" (default: an
	// acknowledged write survives power loss) or "NORMAL" (survives a
	// crash of the process, not of the machine).
	Synchronous string
}

// DB is a Lode metadata store in one SQLite file. Its store methods are
// sqlstore's, with SQLite's dialect.
type DB struct {
	*sqlstore.Store
	path string
	opts Options
	w    *sql.DB // the one writer connection
	r    *sql.DB // readers
}

var _ tracking.Store = (*DB)(nil)

// PathFromURI turns a backend store URI (sqlite:///relative/path.db or
// sqlite:////absolute/path.db, as MLflow spells them) into a file path.
func PathFromURI(uri string) (string, error) {
	const prefix = "sqlite://"
	if !strings.HasPrefix(uri, prefix) {
		return "", lode.Errorf(lode.EInvalid, "not a sqlite URI: %q (want sqlite:///path/to/file.db)", uri)
	}
	rest := strings.TrimPrefix(uri, prefix)
	if !strings.HasPrefix(rest, "/") || len(rest) < 2 {
		return "", lode.Errorf(lode.EInvalid, "invalid sqlite URI %q: want sqlite:///relative.db or sqlite:////absolute.db", uri)
	}
	p := rest[1:] // sqlite:///x -> x ; sqlite:////x -> /x
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" {
		return "", lode.Errorf(lode.EInvalid, "invalid sqlite URI %q: no file path", uri)
	}
	return p, nil
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Synchronous == "" {
		opts.Synchronous = "FULL"
	}
	if s := strings.ToUpper(opts.Synchronous); s != "FULL" && s != "NORMAL" && s != "EXTRA" {
		return nil, lode.Errorf(lode.EInvalid, "invalid synchronous mode %q", opts.Synchronous)
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", strings.ToUpper(opts.Synchronous))
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "1")
	q.Set("_cslike", "1") // LIKE is case-sensitive in MLflow
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	q.Set("_query_only", "1")
	q.Set("_txlock", "deferred")
	r, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(max(4, runtime.NumCPU()*2))
	r.SetMaxIdleConns(max(4, runtime.NumCPU()*2))
	db := &DB{Store: sqlstore.New(dialect, sqlstore.SQLDB(w), sqlstore.SQLDB(r), opts.DefaultArtifactRoot), path: path, opts: opts, w: w, r: r}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.EnsureDefaultExperiment(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes both connection pools.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", base)
		}
		err = db.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", base, err)
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, v, base, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tx runs fn in a write transaction on the writer connection.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return dbErr(err)
	}
	return dbErr(tx.Commit())
}

// dialect is how the store speaks to SQLite: lists and bulk rows are
// spelled out in VALUES (within SQLite's bound of 32766 arguments a
// statement), LIKE is case-sensitive (the _cslike pragma) and ILIKE
// compares lower-cased text, and jobs' documents are JSON text.
var dialect = sqlstore.Dialect{
	MaxParams: 32766,
	FloatArg:  "?",
	Like: func(col, op string, value any) (string, any) {
		if op == "ILIKE" {
			return "lower(" + col + ") LIKE lower(?)", value
		}
		return col + " LIKE ?", value
	},
	Err:      dbErr,
	IsUnique: isUnique,
	JobUser:  "user",
	JobDoc:   "doc",
	// json_set overwrites the new document's id, spec and submission
	// time with the stored ones.
	JobDocUpdate: "json_set(?, '$.id', id, '$.spec', json_extract(doc, '$.spec'), '$.submitted_ms', submitted)",
}

// dbErr turns driver errors into *lode.Error, leaving *lode.Error alone.
func dbErr(err error) error {
	if err == nil {
		return nil
	}
	var le *lode.Error
	if errors.As(err, &le) {
		return err
	}
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked) {
		return &lode.Error{Code: "TEMPORARILY_UNAVAILABLE", Message: "The database is busy; retry the request.", Err: err}
	}
	return lode.Internal(err, "Database error.")
}

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint &&
		(se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}
