// Command pgserver is bench/pg.sh's PostgreSQL helper: it starts a throwaway
// PostgreSQL cluster the way the tests do (postgres/pgtest: initdb into a
// temporary directory, the server on a free 127.0.0.1 port, as the postgres
// OS user when run as root), and seeds MLflow's schema directly.
//
//	pgserver serve -dbs lode,mlflow -env FILE
//	    starts the cluster, creates the databases, writes
//	    `export PG_DSN_<DB>=postgresql://...` lines to FILE (then renames it
//	    into place, so a reader never sees half of it), and waits for
//	    SIGTERM/SIGINT, then stops the cluster and removes its directory.
//	pgserver seed-mlflow -dsn DSN -base URL -experiment ID -runs N
//	    creates run 0 of trackingbench's search experiment through MLflow's
//	    REST API (runs/create + runs/log-batch, exactly as trackingbench
//	    does), then copies it in SQL into runs 1..N-1, with the names, start
//	    times, metrics and params trackingbench would have logged (same
//	    random streams), row for row in MLflow's own tables.
//	pgserver analyze -dsn DSN
//	    ANALYZE, so that both servers are searched with fresh statistics.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lode-ml/lode/postgres/pgtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pgserver serve|seed-mlflow|analyze [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "seed-mlflow":
		err = seedMLflow(ctx, os.Args[2:])
	case "analyze":
		err = analyze(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgserver:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dbs := fs.String("dbs", "lode,mlflow", "databases to create, comma-separated")
	envFile := fs.String("env", "", "write the shell exports here (default: stdout)")
	fs.Parse(args)

	c, err := pgtest.Start()
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgserver: stop:", err)
		}
	}()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	var b strings.Builder
	var ver string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&ver); err != nil {
		conn.Close(ctx)
		return err
	}
	fmt.Fprintf(&b, "export PG_VERSION=%q\n", ver)
	for _, db := range strings.Split(*dbs, ",") {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			conn.Close(ctx)
			return err
		}
		dsn := strings.Replace(c.DSN(db), "postgres://", "postgresql://", 1)
		fmt.Fprintf(&b, "export PG_DSN_%s=%q\n", strings.ToUpper(db), dsn)
	}
	conn.Close(ctx)
	if *envFile == "" {
		fmt.Print(b.String())
	} else {
		if err := os.WriteFile(*envFile+".tmp", []byte(b.String()), 0o644); err != nil {
			return err
		}
		if err := os.Rename(*envFile+".tmp", *envFile); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "pgserver: PostgreSQL %s on 127.0.0.1:%d, databases %s\n", ver, c.Port(), *dbs)
	<-ctx.Done()
	return nil
}

func analyze(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("analyze", flag.ExitOnError)
	dsn := fs.String("dsn", "", "database URL")
	fs.Parse(args)
	conn, err := pgx.Connect(ctx, *dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "ANALYZE")
	return err
}

// runValues are what trackingbench's populate logs for run i; keep in step
// with bench/trackingbench (func populate).
type runValues struct {
	m, loss, acc      float64
	lr, bs, optimizer string
}

func valuesFor(i int) runValues {
	rnd := mrand.New(mrand.NewPCG(uint64(i), 2))
	var v runValues
	v.m, v.loss, v.acc = rnd.Float64(), rnd.Float64(), rnd.Float64()
	v.lr = strconv.FormatFloat(rnd.Float64()/100, 'g', 3, 64)
	v.bs = strconv.Itoa(1 << rnd.IntN(8))
	v.optimizer = []string{"adam", "sgd", "adamw"}[rnd.IntN(3)]
	return v
}

func post(ctx context.Context, url string, body any, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: HTTP %d: %.300s", url, resp.StatusCode, rb)
	}
	if out != nil {
		return json.Unmarshal(rb, out)
	}
	return nil
}

func seedMLflow(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed-mlflow", flag.ExitOnError)
	dsn := fs.String("dsn", "", "MLflow's database URL")
	base := fs.String("base", "", "MLflow server URL, http://127.0.0.1:PORT")
	exp := fs.String("experiment", "", "experiment id")
	runs := fs.Int("runs", 0, "runs the experiment should hold")
	fs.Parse(args)
	if *dsn == "" || *base == "" || *exp == "" || *runs < 1 {
		return errors.New("seed-mlflow: -dsn, -base, -experiment and -runs are required")
	}
	start := time.Now()
	// trackingbench's start times: base + i*1000 with base = now - runs*1000.
	t0 := time.Now().UnixMilli() - int64(*runs)*1000

	// Run 0 through the REST API: the template, written by MLflow itself.
	var cr struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := post(ctx, *base+"/api/2.0/mlflow/runs/create",
		map[string]any{"experiment_id": *exp, "run_name": "run-00000", "start_time": t0}, &cr); err != nil {
		return err
	}
	tmpl := cr.Run.Info.RunID
	v := valuesFor(0)
	if err := post(ctx, *base+"/api/2.0/mlflow/runs/log-batch", map[string]any{
		"run_id": tmpl,
		"metrics": []map[string]any{
			{"key": "m", "value": v.m, "timestamp": t0, "step": 0},
			{"key": "loss", "value": v.loss, "timestamp": t0, "step": 0},
			{"key": "acc", "value": v.acc, "timestamp": t0, "step": 0},
		},
		"params": []map[string]string{
			{"key": "lr", "value": v.lr}, {"key": "batch_size", "value": v.bs}, {"key": "optimizer", "value": v.optimizer},
		},
	}, nil); err != nil {
		return err
	}

	conn, err := pgx.Connect(ctx, *dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE seed (run_uuid text, name text, start_time bigint,
		m float8, loss float8, acc float8, lr text, bs text, opt text) ON COMMIT DROP`); err != nil {
		return err
	}
	rows := make([][]any, 0, *runs-1)
	id := make([]byte, 16)
	for i := 1; i < *runs; i++ {
		rand.Read(id)
		id[6] = id[6]&0x0f | 0x40 // a version-4 UUID, as MLflow's uuid4().hex
		id[8] = id[8]&0x3f | 0x80
		v := valuesFor(i)
		rows = append(rows, []any{hex.EncodeToString(id), fmt.Sprintf("run-%05d", i), t0 + int64(i)*1000,
			v.m, v.loss, v.acc, v.lr, v.bs, v.optimizer})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"seed"},
		[]string{"run_uuid", "name", "start_time", "m", "loss", "acc", "lr", "bs", "opt"}, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	// Every table holding a row of the template run, copied once per seed
	// row with these columns replaced; any other column keeps the
	// template's value.
	metricValue := "CASE t.key WHEN 'm' THEN s.m WHEN 'loss' THEN s.loss WHEN 'acc' THEN s.acc END"
	overrides := map[string]map[string]string{
		"runs": {
			"run_uuid":     "s.run_uuid",
			"name":         "s.name",
			"start_time":   "s.start_time",
			"artifact_uri": "replace(t.artifact_uri, t.run_uuid, s.run_uuid)",
		},
		"tags":           {"run_uuid": "s.run_uuid", "value": "CASE WHEN t.key = 'mlflow.runName' THEN s.name ELSE t.value END"},
		"params":         {"run_uuid": "s.run_uuid", "value": "CASE t.key WHEN 'lr' THEN s.lr WHEN 'batch_size' THEN s.bs WHEN 'optimizer' THEN s.opt END"},
		"metrics":        {"run_uuid": "s.run_uuid", "value": metricValue},
		"latest_metrics": {"run_uuid": "s.run_uuid", "value": metricValue},
	}
	for _, table := range []string{"runs", "tags", "params", "metrics", "latest_metrics"} {
		crows, err := tx.Query(ctx, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
		if err != nil {
			return err
		}
		cols, err := pgx.CollectRows(crows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(cols) == 0 {
			return fmt.Errorf("no table %s in MLflow's database", table)
		}
		var names, exprs []string
		for _, c := range cols {
			names = append(names, pgx.Identifier{c}.Sanitize())
			if e, ok := overrides[table][c]; ok {
				exprs = append(exprs, e)
			} else {
				exprs = append(exprs, "t."+pgx.Identifier{c}.Sanitize())
			}
		}
		q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s t CROSS JOIN seed s WHERE t.run_uuid = $1",
			table, strings.Join(names, ", "), strings.Join(exprs, ", "), table)
		if _, err := tx.Exec(ctx, q, tmpl); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	// Refuse to leave a run half-copied: no other table may hold a row of
	// the template.
	trows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name = 'run_uuid'
		AND table_name NOT IN ('runs', 'tags', 'params', 'metrics', 'latest_metrics')`)
	if err != nil {
		return err
	}
	others, err := pgx.CollectRows(trows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, t := range others {
		var n int
		if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE run_uuid = $1", pgx.Identifier{t}.Sanitize()), tmpl).Scan(&n); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		if n > 0 {
			return fmt.Errorf("table %s holds %d rows of the template run: seed-mlflow does not copy it", t, n)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pgserver: seeded %d MLflow runs (run 0 through REST, the rest in SQL) in %v\n",
		*runs, time.Since(start).Round(time.Millisecond))
	return nil
}
