// Package mlflowimport copies an MLflow tracking server's data into Lode:
// it reads the database `mlflow server` keeps (MLflow's SQLAlchemy schema,
// on SQLite or PostgreSQL) with database/sql, writes experiments, runs,
// logged models and the model registry through Lode's Store interfaces,
// and copies the files of MLflow's local artifact root into Lode's
// artifact store, rewriting the URIs that pointed into it.
//
// An import can be repeated: experiments are matched by name, runs and
// logged models by id, registered models by name and versions by (name,
// version). What Lode already has is never overwritten; what is missing
// (a new run, a metric point logged since, a new file) is added.
package mlflowimport

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	// database/sql drivers for the two databases MLflow's server uses.
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"

	"github.com/lode-ml/lode/postgres"
	"github.com/lode-ml/lode/sqlite"
)

// Source is an MLflow tracking database, opened read-only where the
// database allows it.
type Source struct {
	db *sql.DB
	pg bool
	// cols holds the columns of each table, read on first use: MLflow's
	// schema grew over the releases (datasets in 2.4, logged models and
	// input steps in 3.0, workspaces later), so optional parts are looked
	// up rather than assumed. colsMu guards it: runs are read concurrently.
	colsMu sync.Mutex
	cols   map[string]map[string]bool
}

// OpenSource opens the MLflow database uri names, spelled as for
// `mlflow server --backend-store-uri`: sqlite:///relative.db,
// sqlite:////absolute.db or postgresql://user:password@host:port/db (also
// with a driver suffix such as postgresql+psycopg2://).
func OpenSource(ctx context.Context, uri string) (*Source, error) {
	s := &Source{cols: map[string]map[string]bool{}}
	var err error
	if postgres.IsURI(uri) {
		dsn, derr := postgres.DSNFromURI(uri)
		if derr != nil {
			return nil, derr
		}
		s.pg = true
		s.db, err = sql.Open("pgx", dsn)
	} else {
		path, perr := sqlite.PathFromURI(uri)
		if perr != nil {
			return nil, fmt.Errorf("%w (MLflow's database: sqlite:///path or postgresql://...)", perr)
		}
		if _, serr := os.Stat(path); serr != nil {
			return nil, serr
		}
		if strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("MLflow database path %q: '?' and '#' are not supported in the path", path)
		}
		// mode=ro: the import only reads, and must not create a missing file.
		s.db, err = sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=10000")
	}
	if err != nil {
		return nil, err
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open MLflow database: %w", err)
	}
	if !s.hasTable(ctx, "experiments") || !s.hasTable(ctx, "runs") {
		s.db.Close()
		return nil, fmt.Errorf("not an MLflow tracking database: it has no experiments and runs tables")
	}
	return s, nil
}

// Close closes the database.
func (s *Source) Close() error { return s.db.Close() }

// columns returns the columns of table (nil when there is no such table).
func (s *Source) columns(ctx context.Context, table string) map[string]bool {
	s.colsMu.Lock()
	defer s.colsMu.Unlock()
	if c, ok := s.cols[table]; ok {
		return c
	}
	var c map[string]bool
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM `+table+` WHERE 1 = 0`)
	if err == nil {
		names, cerr := rows.Columns()
		rows.Close()
		if cerr == nil {
			c = map[string]bool{}
			for _, n := range names {
				c[strings.ToLower(n)] = true
			}
		}
	}
	s.cols[table] = c
	return c
}

func (s *Source) hasTable(ctx context.Context, table string) bool {
	return s.columns(ctx, table) != nil
}

func (s *Source) hasColumn(ctx context.Context, table, col string) bool {
	return s.columns(ctx, table)[col]
}

// rebind turns the ? placeholders the queries are written with into
// PostgreSQL's $n. No query here has a '?' inside a literal.
func (s *Source) rebind(q string) string {
	if !s.pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// each runs a query and calls fn for every row.
func (s *Source) each(ctx context.Context, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return fmt.Errorf("read MLflow database: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read MLflow database: %w", err)
	}
	return nil
}

func (s *Source) count(ctx context.Context, q string, args ...any) int {
	var n int
	if err := s.db.QueryRowContext(ctx, s.rebind(q), args...).Scan(&n); err != nil {
		return 0
	}
	return n
}
