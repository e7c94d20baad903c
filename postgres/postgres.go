// Package postgres stores Lode's metadata in PostgreSQL, through a pgx
// connection pool. It implements the same interfaces as the SQLite store
// (tracking.Store, registry.Store, jobs.Store, serving.DeploymentStore,
// tune.Store) with
// the same tables and the same queries, those of package sqlstore, run on
// the pool with pgx natively (pgx.go); this package holds what is
// PostgreSQL's own: the DSN, the pool, the migrations and the dialect
// (numbered placeholders, arrays for lists and bulk rows, error classes and
// which transactions to retry).
//
// Several servers may share one database: schema migrations run under an
// advisory lock, every multi-statement write is one transaction, and
// read-modify-writes are single statements (upserts, UPDATE ... RETURNING)
// or follow a row lock taken by the transaction's first UPDATE. Transactions
// run at READ COMMITTED; the few that deadlock or fail to serialize under
// contention are retried.
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

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
	// MaxConns bounds the connection pool; 0 keeps pgxpool's default
	// (the DSN's pool_max_conns, else max(4, number of CPUs)).
	MaxConns int32
}

// DB is a Lode metadata store in one PostgreSQL database. Its store
// methods are sqlstore's, with PostgreSQL's dialect.
type DB struct {
	*sqlstore.Store
	opts Options
	pool *pgxpool.Pool
}

var _ tracking.Store = (*DB)(nil)

// DSNFromURI turns a backend store URI as MLflow spells it
// (postgresql://user:pass@host:port/db, postgres://..., or with a driver
// suffix such as postgresql+psycopg2://) into a DSN for Open.
func DSNFromURI(uri string) (string, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "", lode.Errorf(lode.EInvalid, "not a postgresql URI (want postgresql://user:password@host:port/database)")
	}
	base, _, _ := strings.Cut(scheme, "+") // SQLAlchemy's driver suffix means nothing to pgx
	if base != "postgresql" && base != "postgres" {
		return "", lode.Errorf(lode.EInvalid, "not a postgresql URI: the scheme is %q (want postgresql://user:password@host:port/database)", scheme)
	}
	// The URI is not quoted in these messages: it may hold a password.
	if rest == "" || strings.HasPrefix(rest, "?") {
		return "", lode.Errorf(lode.EInvalid, "invalid postgresql URI: no host or database")
	}
	dsn := "postgresql://" + rest
	if _, err := pgxpool.ParseConfig(dsn); err != nil {
		return "", lode.Errorf(lode.EInvalid, "invalid postgresql URI: %v", redact(err))
	}
	return dsn, nil
}

// IsURI reports whether uri names a PostgreSQL database (for choosing a
// store by --backend-store-uri).
func IsURI(uri string) bool {
	scheme, _, ok := strings.Cut(uri, "://")
	base, _, _ := strings.Cut(scheme, "+")
	return ok && (base == "postgresql" || base == "postgres")
}

// redact keeps a DSN's password out of an error message: pgx's parse
// errors quote the connection string.
func redact(err error) string {
	msg := err.Error()
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		msg = "cannot parse connection string"
		if pe.Unwrap() != nil {
			msg += ": " + pe.Unwrap().Error()
		}
	}
	return msg
}

// Open connects to the database at dsn, applies the migrations it lacks
// and makes sure the Default experiment exists.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "invalid postgresql DSN: %s", redact(err))
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "lode"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgresql: %w", err)
	}
	if _, err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	p := pgxDB{querier{pool}, pool}
	db := &DB{Store: sqlstore.New(dialect, p, p, opts.DefaultArtifactRoot), opts: opts, pool: pool}
	if err := db.EnsureDefaultExperiment(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the connection pool, waiting for connections in use.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Pool returns the underlying pool (for health checks and metrics).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Migrate applies the migrations the database at dsn lacks and returns its
// schema version; it is what Open runs, for a `lode db upgrade`.
func Migrate(ctx context.Context, dsn string) (int, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return 0, lode.Errorf(lode.EInvalid, "invalid postgresql DSN: %s", redact(err))
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("postgresql: %w", err)
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// migrationLock is the pg_advisory_xact_lock key that serializes
// migrations of one database: two servers starting at once take turns, and
// the second finds the work done.
const migrationLock int64 = 0x6c6f64655f6d6967 // "lode_mig"

type migration struct {
	version int
	name    string
}

func embeddedMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	out := make([]migration, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", base)
		}
		out = append(out, migration{v, base})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, all in one transaction (PostgreSQL's DDL is
// transactional, so a failed upgrade leaves the schema as it was).
func migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	all, err := embeddedMigrations()
	if err != nil {
		return 0, err
	}
	var version int
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("lock for migrations: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			applied[v] = true
			version = max(version, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n := len(all); n > 0 && version > all[n-1].version {
			// A newer lode migrated this database; this one would not
			// understand its schema.
			return lode.Errorf(lode.EInvalidState, "the database's schema version %d is newer than this lode's (%d); upgrade lode", version, all[n-1].version)
		}
		for _, m := range all {
			if applied[m.version] {
				continue
			}
			body, err := migrations.ReadFile("migrations/" + m.name)
			if err != nil {
				return err
			}
			// No arguments: pgx sends the file with the simple protocol,
			// which runs its several statements.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, m.version, m.name, nowMillis()); err != nil {
				return err
			}
			version = max(version, m.version)
		}
		return nil
	})
	if err != nil {
		return 0, dbErr(err)
	}
	return version, nil
}

// dialect is how the store speaks to PostgreSQL. Lists and bulk rows are
// arrays (= ANY, unnest), so a batch is one statement; a number from a
// filter is bound as double precision, so that it compares with integer
// columns as SQLite compares them (1.5 > 1, not an encoding error); LIKE
// works on the column's text, without an escape character, as in SQLite;
// transactions that deadlock or fail to serialize are retried.
var dialect = sqlstore.Dialect{
	Rebind:   rebind,
	Arrays:   true,
	FloatArg: "?::float8",
	Like: func(col, op string, value any) (string, any) {
		return col + "::text " + op + " ?::text ESCAPE ''", likeValue(value)
	},
	Err:         dbErr,
	IsUnique:    isUnique,
	Retryable:   retryable,
	IntVersions: true,
	JobUser:     "user_name",
	JobDoc:      "doc::text",
	// jsonb || keeps the right operand's keys: the new document's id,
	// spec and submission time are overwritten with the stored ones.
	JobDocUpdate: "?::jsonb || jsonb_build_object('id', id, 'spec', doc->'spec', 'submitted_ms', submitted)",
}

// likeValue is a pattern as text (the parser gives strings; a number would
// be matched as SQLite matches it, by its text).
func likeValue(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case float64, int64, int:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return v
}

// PostgreSQL error codes the store acts on.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlock             = "40P01"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func retryable(err error) bool {
	c := pgCode(err)
	return c == codeSerializationFailure || c == codeDeadlock
}

func isUnique(err error) bool { return pgCode(err) == codeUniqueViolation }

// dbErr turns driver errors into *lode.Error, leaving *lode.Error alone.
func dbErr(err error) error {
	if err == nil {
		return nil
	}
	var le *lode.Error
	if errors.As(err, &le) {
		return err
	}
	code := pgCode(err)
	switch {
	case code == codeUniqueViolation:
		return &lode.Error{Code: lode.EExists, Message: "The resource already exists.", Err: err}
	case code == codeSerializationFailure || code == codeDeadlock || code == "55P03": // lock_not_available
		return &lode.Error{Code: lode.EUnavailable, Message: "The database is busy; retry the request.", Err: err}
	case code == "22P02", code == "22003", code == "22021", code == "54000":
		// Bad text for a number, a number out of range, text PostgreSQL
		// cannot store (a NUL byte, invalid UTF-8), a value too large to
		// index: the request's fault.
		return &lode.Error{Code: lode.EInvalid, Message: "Invalid value: " + pgMessage(err), Err: err}
	case strings.HasPrefix(code, "08"), code == "53300", code == "57P01", code == "57P02", code == "57P03":
		// Connection failures, too many connections, a server shutting
		// down or starting up: worth a retry by the client.
		return &lode.Error{Code: lode.EUnavailable, Message: "The database is unavailable; retry the request.", Err: err}
	case code == "" && isNetErr(err):
		return &lode.Error{Code: lode.EUnavailable, Message: "The database is unavailable; retry the request.", Err: err}
	}
	return lode.Internal(err, "Database error.")
}

func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

func isNetErr(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce)
}

// rebind numbers the ? placeholders of query $1, $2, ..., leaving string
// literals and quoted identifiers alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

func nowMillis() int64 { return time.Now().UnixMilli() }
