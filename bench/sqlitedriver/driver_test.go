// Package sqlitedriver benchmarks the two candidate SQLite drivers for Lode's
// store through database/sql on workloads shaped like an MLflow tracking
// server: batched metric writes, a search over runs joined with
// latest_metrics, and primary-key lookups.
//
// Run from this directory (see docs/storage.md):
//
//	go test -run '^$' -bench . -benchtime 2s -count 5 | tee /tmp/sqlitedriver.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /driver /tmp/sqlitedriver.txt
package sqlitedriver

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers "sqlite3" (cgo)
	_ "modernc.org/sqlite"          // registers "sqlite" (pure Go)
)

type driver struct {
	name    string // label in benchmark names
	sqlName string // database/sql driver name
	dsn     func(path, sync string) string
}

var drivers = []driver{
	{
		name:    "mattn",
		sqlName: "sqlite3",
		dsn: func(path, sync string) string {
			return "file:" + path + "?_journal_mode=WAL&_synchronous=" + sync +
				"&_busy_timeout=10000&_foreign_keys=1&_txlock=immediate"
		},
	},
	{
		name:    "modernc",
		sqlName: "sqlite",
		dsn: func(path, sync string) string {
			return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(" + sync +
				")&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
		},
	},
}

// Schema follows MLflow's tables closely enough for the same access paths.
const schema = `
CREATE TABLE IF NOT EXISTS experiments (
  experiment_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS runs (
  run_uuid TEXT PRIMARY KEY,
  name TEXT,
  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
  status TEXT NOT NULL,
  lifecycle_stage TEXT NOT NULL,
  start_time INTEGER,
  end_time INTEGER,
  artifact_uri TEXT
);
CREATE INDEX IF NOT EXISTS runs_exp ON runs(experiment_id, start_time);
CREATE TABLE IF NOT EXISTS metrics (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL,
  value REAL NOT NULL,
  timestamp INTEGER NOT NULL,
  step INTEGER NOT NULL,
  is_nan INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latest_metrics (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL,
  value REAL NOT NULL,
  timestamp INTEGER NOT NULL,
  step INTEGER NOT NULL,
  is_nan INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS latest_metrics_key_value ON latest_metrics(key, value);
CREATE TABLE IF NOT EXISTS params (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
`

const (
	insertMetric = `INSERT OR IGNORE INTO metrics (run_uuid, key, value, timestamp, step, is_nan) VALUES (?, ?, ?, ?, ?, 0)`
	upsertLatest = `INSERT INTO latest_metrics (run_uuid, key, value, timestamp, step, is_nan) VALUES (?, ?, ?, ?, ?, 0)
ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan
WHERE excluded.step > latest_metrics.step
   OR (excluded.step = latest_metrics.step AND excluded.timestamp > latest_metrics.timestamp)
   OR (excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp AND excluded.value > latest_metrics.value)`
	insertRun = `INSERT INTO runs (run_uuid, name, experiment_id, status, lifecycle_stage, start_time, artifact_uri) VALUES (?, ?, 1, 'RUNNING', 'active', ?, ?)`
)

func open(b testing.TB, d driver, sync string, maxConns int) *sql.DB {
	b.Helper()
	return openPath(b, filepath.Join(b.TempDir(), "bench.db"), d, sync, maxConns, true)
}

func openPath(b testing.TB, path string, d driver, sync string, maxConns int, autoClose bool) *sql.DB {
	b.Helper()
	db, err := sql.Open(d.sqlName, d.dsn(path, sync))
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(0)
	if _, err := db.Exec(schema); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`INSERT OR IGNORE INTO experiments VALUES (1, 'bench')`); err != nil {
		b.Fatal(err)
	}
	// Check that the DSN really set the pragmas on a pooled connection.
	var jm string
	var syncMode int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&jm); err != nil || jm != "wal" {
		b.Fatalf("journal_mode=%q err=%v", jm, err)
	}
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&syncMode); err != nil {
		b.Fatal(err)
	}
	want := map[string]int{"NORMAL": 1, "FULL": 2}[sync]
	if syncMode != want {
		b.Fatalf("synchronous=%d, want %d (%s)", syncMode, want, sync)
	}
	if autoClose {
		b.Cleanup(func() { db.Close() })
	}
	return db
}

var (
	searchMu  sync.Mutex
	searchDBs = map[string]*sql.DB{}
	scratch   string // removed by TestMain
)

// searchDB returns the driver's populated 10,000-run database, built once per
// process (the benchmark function runs several times while b.N ramps up).
func searchDB(b *testing.B, d driver, index bool) *sql.DB {
	searchMu.Lock()
	defer searchMu.Unlock()
	key := fmt.Sprintf("%s/%v", d.name, index)
	if db, ok := searchDBs[key]; ok {
		return db
	}
	b.StopTimer()
	defer b.StartTimer()
	db := openPath(b, filepath.Join(scratch, key[:len(d.name)]+fmt.Sprint(index)+".db"), d, "NORMAL", 4, false)
	populateSearch(b, db)
	if !index {
		if _, err := db.Exec(`DROP INDEX latest_metrics_key_value`); err != nil {
			b.Fatal(err)
		}
	}
	searchDBs[key] = db
	return db
}

func TestMain(m *testing.M) {
	var err error
	if scratch, err = os.MkdirTemp("", "sqlitedriver-"); err != nil {
		panic(err)
	}
	code := m.Run()
	for _, db := range searchDBs {
		db.Close()
	}
	os.RemoveAll(scratch)
	os.Exit(code)
}

// cpuTimer reports the process's CPU time (user+sys, all threads) per op as
// "cpu-ns/op". On a shared 2-core machine wall time swings with whatever else
// runs; CPU time per op is the steadier figure for CPU-bound work.
type cpuTimer struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuTimer { return cpuTimer{cpuNow()} }

func (c cpuTimer) report(b *testing.B) {
	b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
}

func runID(i int) string { return fmt.Sprintf("%032x", uint64(i)*0x9E3779B97F4A7C15) }

const (
	batchMetrics = 1000 // metrics per log-batch call
	batchKeys    = 100  // distinct keys per batch (10 steps each)
	writers      = 8    // concurrent clients
)

// logBatch writes one log-batch: 1,000 metric rows plus the latest_metrics
// upsert for each of the batch's keys, in one transaction.
func logBatch(ctx context.Context, db *sql.DB, run string, step0 int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.Prepare(insertMetric)
	if err != nil {
		return err
	}
	defer ins.Close()
	ts := time.Now().UnixMilli()
	type latest struct {
		v    float64
		step int
	}
	var last [batchKeys]latest
	for i := 0; i < batchMetrics; i++ {
		k := i % batchKeys
		step := step0 + i/batchKeys
		v := rand.Float64()
		if _, err := ins.Exec(run, metricKey(k), v, ts, step); err != nil {
			return err
		}
		last[k] = latest{v, step}
	}
	up, err := tx.Prepare(upsertLatest)
	if err != nil {
		return err
	}
	defer up.Close()
	for k, l := range last {
		if _, err := up.Exec(run, metricKey(k), l.v, ts, l.step); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// logBatchMulti is logBatch with multi-row INSERTs: 200 rows (1,000 bound
// parameters) per statement, and one statement for the 100 upserts.
func logBatchMulti(ctx context.Context, db *sql.DB, run string, step0 int) error {
	const rowsPerStmt = 200
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.Prepare(multiValues(insertMetric, rowsPerStmt))
	if err != nil {
		return err
	}
	defer ins.Close()
	ts := time.Now().UnixMilli()
	args := make([]any, 0, 5*rowsPerStmt)
	var lastV [batchKeys]float64
	var lastStep [batchKeys]int
	for i := 0; i < batchMetrics; i++ {
		k := i % batchKeys
		step := step0 + i/batchKeys
		v := rand.Float64()
		args = append(args, run, metricKey(k), v, ts, step)
		lastV[k], lastStep[k] = v, step
		if len(args) == cap(args) {
			if _, err := ins.Exec(args...); err != nil {
				return err
			}
			args = args[:0]
		}
	}
	args = make([]any, 0, 5*batchKeys)
	for k := range batchKeys {
		args = append(args, run, metricKey(k), lastV[k], ts, lastStep[k])
	}
	if _, err := tx.Exec(multiValues(upsertLatest, batchKeys), args...); err != nil {
		return err
	}
	return tx.Commit()
}

// multiValues turns "... VALUES (?, ?, ?, ?, ?, 0) rest" into n row tuples.
func multiValues(stmt string, n int) string {
	i := strings.Index(stmt, "VALUES (") + len("VALUES ")
	j := i + strings.IndexByte(stmt[i:], ')') + 1
	tuple := stmt[i:j]
	return stmt[:i] + strings.TrimSuffix(strings.Repeat(tuple+", ", n), ", ") + stmt[j:]
}

var keyNames = func() []string {
	s := make([]string, batchKeys)
	for i := range s {
		s[i] = fmt.Sprintf("metric_%03d", i)
	}
	return s
}()

func metricKey(k int) string { return keyNames[k] }

// BenchmarkLogBatch: 8 goroutines, each its own run, each iteration one
// transaction of 1,000 metric inserts + 100 latest_metrics upserts.
// pool   = up to 8 connections, BEGIN IMMEDIATE + busy_timeout serialise writers in SQLite.
// single = one shared connection (MaxOpenConns=1): writers queue in database/sql.
func BenchmarkLogBatch(b *testing.B) {
	for _, d := range drivers {
		for _, sync := range []string{"FULL", "NORMAL"} {
			for _, mode := range []struct {
				name  string
				conns int
			}{{"pool8", writers}, {"single", 1}} {
				for _, stmt := range []string{"row", "multi"} {
					write := logBatch
					if stmt == "multi" {
						write = logBatchMulti
					}
					b.Run(fmt.Sprintf("sync=%s/conn=%s/stmt=%s/driver=%s", sync, mode.name, stmt, d.name), func(b *testing.B) {
						db := open(b, d, sync, mode.conns)
						for i := 0; i < writers; i++ {
							if _, err := db.Exec(insertRun, runID(i), "w", 0, "x"); err != nil {
								b.Fatal(err)
							}
						}
						var next, step atomic.Int64
						ctx := context.Background()
						b.SetParallelism((writers + 1) / 2) // × GOMAXPROCS(2) = 8 goroutines
						b.ResetTimer()
						cpu := startCPU()
						start := time.Now()
						b.RunParallel(func(pb *testing.PB) {
							run := runID(int(next.Add(1)-1) % writers)
							for pb.Next() {
								s := int(step.Add(batchMetrics / batchKeys)) // unique steps
								if err := write(ctx, db, run, s); err != nil {
									b.Error(err)
									return
								}
							}
						})
						el := time.Since(start).Seconds()
						b.ReportMetric(float64(b.N)*batchMetrics/el, "metrics/s")
						cpu.report(b)
					})
				}
			}
		}
	}
}

const searchRuns = 10000

func populateSearch(b testing.TB, db *sql.DB) {
	b.Helper()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	insR, _ := tx.Prepare(insertRun)
	insL, _ := tx.Prepare(upsertLatest)
	insM, _ := tx.Prepare(insertMetric)
	insP, _ := tx.Prepare(`INSERT INTO params (run_uuid, key, value) VALUES (?, ?, ?)`)
	for i := 0; i < searchRuns; i++ {
		id := runID(i)
		if _, err := insR.Exec(id, fmt.Sprintf("run-%d", i), int64(i), "file:///x/"+id); err != nil {
			b.Fatal(err)
		}
		for _, k := range []string{"m", "loss", "acc", "f1"} {
			v := r.Float64()
			if _, err := insL.Exec(id, k, v, 1, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := insM.Exec(id, k, v, 1, 0); err != nil {
				b.Fatal(err)
			}
		}
		for _, k := range []string{"lr", "batch_size", "optimizer"} {
			if _, err := insP.Exec(id, k, fmt.Sprint(r.IntN(100))); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	// No ANALYZE: modernc is built with SQLITE_ENABLE_STAT4 and mattn is not,
	// so with statistics the two engines pick different plans for searchSQL
	// (see docs/storage.md). Without them both plan identically, which is
	// what a driver comparison needs.
}

// searchSQL: what search_runs with filter "metrics.m > 0.5" and order_by
// "metrics.m DESC", max_results 100 turns into.
const searchSQL = `
SELECT r.run_uuid, r.name, r.status, r.start_time, r.artifact_uri, lm.value
FROM runs r
JOIN latest_metrics lm ON lm.run_uuid = r.run_uuid AND lm.key = 'm'
WHERE r.experiment_id = 1 AND r.lifecycle_stage = 'active' AND lm.value > ?
ORDER BY lm.value DESC, r.start_time DESC, r.run_uuid
LIMIT 100`

// BenchmarkSearch: one op = one search query (100 rows read). The index
// (key, value) variant is what Lode would add; noindex forces MLflow's
// access path (PK scan + sort).
func BenchmarkSearch(b *testing.B) {
	for _, idx := range []string{"index", "noindex"} {
		for _, d := range drivers {
			b.Run(fmt.Sprintf("plan=%s/driver=%s", idx, d.name), func(b *testing.B) {
				db := searchDB(b, d, idx == "index")
				stmt, err := db.Prepare(searchSQL)
				if err != nil {
					b.Fatal(err)
				}
				defer stmt.Close()
				b.ResetTimer()
				cpu := startCPU()
				defer cpu.report(b)
				for i := 0; i < b.N; i++ {
					rows, err := stmt.Query(0.5)
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for rows.Next() {
						var id, name, status, uri string
						var st int64
						var v float64
						if err := rows.Scan(&id, &name, &status, &st, &uri, &v); err != nil {
							b.Fatal(err)
						}
						n++
					}
					if err := rows.Err(); err != nil {
						b.Fatal(err)
					}
					rows.Close()
					if n != 100 {
						b.Fatalf("got %d rows", n)
					}
				}
			})
		}
	}
}

// BenchmarkGetRun: primary-key lookups of a run row, sequential and from
// 8 goroutines over a 4-connection read pool.
func BenchmarkGetRun(b *testing.B) {
	for _, par := range []string{"serial", "parallel8"} {
		for _, d := range drivers {
			b.Run(fmt.Sprintf("mode=%s/driver=%s", par, d.name), func(b *testing.B) {
				db := searchDB(b, d, true)
				stmt, err := db.Prepare(`SELECT run_uuid, name, experiment_id, status, lifecycle_stage, start_time, artifact_uri FROM runs WHERE run_uuid = ?`)
				if err != nil {
					b.Fatal(err)
				}
				defer stmt.Close()
				get := func(r *rand.Rand) {
					var id, name, status, stage, uri string
					var exp, st int64
					if err := stmt.QueryRow(runID(r.IntN(searchRuns))).Scan(&id, &name, &exp, &status, &stage, &st, &uri); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				cpu := startCPU()
				defer cpu.report(b)
				if par == "serial" {
					r := rand.New(rand.NewPCG(3, 4))
					for i := 0; i < b.N; i++ {
						get(r)
					}
					return
				}
				b.SetParallelism(4)
				var seed atomic.Uint64
				b.RunParallel(func(pb *testing.PB) {
					r := rand.New(rand.NewPCG(seed.Add(1), 5))
					for pb.Next() {
						get(r)
					}
				})
			})
		}
	}
}

func openT(t *testing.T, d driver) *sql.DB {
	db, err := sql.Open(d.sqlName, d.dsn(t.TempDir()+"/p.db", "NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO experiments VALUES (1, 'x')`); err != nil {
		t.Fatal(err)
	}
	return db
}
