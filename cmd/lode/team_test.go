package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lode-ml/lode/postgres/pgtest"
	"github.com/lode-ml/lode/s3store/s3test"
)

// Two `lode server` processes on one PostgreSQL database and one S3
// bucket (both real, on loopback): what one writes, the other reads, and
// concurrent writers on both lose and duplicate nothing.
func TestTwoServersOnePostgres(t *testing.T) {
	cluster, err := pgtest.Start()
	if err != nil {
		if pgtest.Required() {
			t.Fatalf("PostgreSQL required (LODE_REQUIRE_POSTGRES=1): %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	t.Cleanup(func() { cluster.Stop() })
	dsn := cluster.NewDatabase(t)
	s3 := s3test.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	t.Setenv("AWS_REGION", s3.Region)
	t.Setenv("MLFLOW_S3_ENDPOINT_URL", s3.Endpoint)
	flags := []string{"--backend-store-uri", dsn, "--artifacts-destination", "s3://" + s3.Bucket + "/team"}
	a := startServer(t, t.TempDir(), flags...)
	// One server runs the jobs; the other would otherwise take the first's
	// running jobs, whose processes it cannot see, for lost.
	b := startServer(t, t.TempDir(), append(flags, "--jobs=false")...)
	if code, _, _ := b.call("GET", "/api/2.0/lode/jobs/list", nil); code != 404 {
		t.Errorf("jobs API on the server without jobs: %d, want 404", code)
	}
	if code, _, _ := b.getBytes("/jobs"); code != 200 {
		t.Errorf("jobs page on the server without jobs: %d", code)
	}

	// Written through A, read through B: tracking, registry, artifacts.
	exp := a.must("POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": "shared"})
	expID := get(exp, "experiment_id").(string)
	run := a.must("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": expID, "run_name": "first"})
	runID := get(run, "run", "info", "run_id").(string)
	a.must("POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": runID,
		"params":  []map[string]string{{"key": "alpha", "value": "0.42"}},
		"metrics": []map[string]any{{"key": "rmse", "value": 0.7, "timestamp": 1, "step": 0}, {"key": "rmse", "value": 0.6, "timestamp": 2, "step": 1}}})
	a.must("POST", "/api/2.0/mlflow/registered-models/create", map[string]string{"name": "wine"})
	a.must("POST", "/api/2.0/mlflow/model-versions/create", map[string]string{"name": "wine", "source": "runs:/" + runID + "/model", "run_id": runID})
	a.must("POST", "/api/2.0/mlflow/registered-models/alias", map[string]string{"name": "wine", "alias": "champion", "version": "1"})
	artifact := "/api/2.0/mlflow-artifacts/artifacts/" + expID + "/" + runID + "/artifacts/notes.txt"
	req, _ := http.NewRequest(http.MethodPut, a.url+artifact, bytes.NewReader([]byte("written through A")))
	if res, err := a.client.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("upload through A: %v %v", res, err)
	} else {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}

	got := b.must("GET", "/api/2.0/mlflow/runs/get?run_id="+runID, nil)
	if fmt.Sprint(get(got, "run", "data", "params")) != "[map[key:alpha value:0.42]]" {
		t.Errorf("params through B: %v", get(got, "run", "data", "params"))
	}
	hist := b.must("GET", "/api/2.0/mlflow/metrics/get-history?run_id="+runID+"&metric_key=rmse", nil)
	if ms, _ := get(hist, "metrics").([]any); len(ms) != 2 {
		t.Errorf("metric history through B: %v", hist)
	}
	alias := b.must("GET", "/api/2.0/mlflow/registered-models/alias?name=wine&alias=champion", nil)
	if get(alias, "model_version", "run_id") != runID {
		t.Errorf("alias through B: %v", alias)
	}
	if code, body, err := b.getBytes(artifact); err != nil || code != 200 || string(body) != "written through A" {
		t.Errorf("artifact through B: %d %q %v", code, body, err)
	}

	// Concurrent writers on both servers: each logs its own metric steps
	// to one shared run and creates its own runs.
	const writers, batches = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*batches*2)
	for _, s := range []*lodeServer{a, b} {
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("loss_%s_%d", s.url[len(s.url)-5:], w)
				for i := 0; i < batches; i++ {
					code, m, err := s.call("POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": runID,
						"metrics": []map[string]any{{"key": key, "value": float64(i), "timestamp": int64(1000 + i), "step": i}}})
					if err != nil || code != 200 {
						errs <- fmt.Errorf("log-batch: %d %v %v", code, m, err)
					}
					code, m, err = s.call("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": expID, "run_name": key})
					if err != nil || code != 200 {
						errs <- fmt.Errorf("create run: %d %v %v", code, m, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, s := range []*lodeServer{a, b} {
		for w := 0; w < writers; w++ {
			key := fmt.Sprintf("loss_%s_%d", s.url[len(s.url)-5:], w)
			for _, reader := range []*lodeServer{a, b} {
				h := reader.must("GET", "/api/2.0/mlflow/metrics/get-history?run_id="+runID+"&metric_key="+key, nil)
				if ms, _ := get(h, "metrics").([]any); len(ms) != batches {
					t.Errorf("%s through %s: %d points, want %d", key, reader.url, len(ms), batches)
				}
			}
		}
	}
	search := b.must("POST", "/api/2.0/mlflow/runs/search", map[string]any{"experiment_ids": []string{expID}, "max_results": 1000})
	if rs, _ := get(search, "runs").([]any); len(rs) != 1+2*writers*batches {
		t.Errorf("runs through B: %d, want %d", len(rs), 1+2*writers*batches)
	}
}

// The mlflow client suite (tests/python, the real mlflow package) against
// `lode server` on PostgreSQL and S3, as a team runs it. It needs the
// suite's Python (LODE_TEST_PYTHON, which make test sets to the mlflow 3
// venv's).
func TestMLflowSuiteOnPostgresAndS3(t *testing.T) {
	python := os.Getenv("LODE_TEST_PYTHON")
	if python == "" {
		t.Skip("LODE_TEST_PYTHON is not set (make test sets it to the mlflow venv's python)")
	}
	if testing.Short() {
		t.Skip("-short: the mlflow suite takes minutes")
	}
	cluster, err := pgtest.Start()
	if err != nil {
		if pgtest.Required() {
			t.Fatalf("PostgreSQL required (LODE_REQUIRE_POSTGRES=1): %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	t.Cleanup(func() { cluster.Stop() })
	s3 := s3test.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	t.Setenv("AWS_REGION", s3.Region)
	t.Setenv("MLFLOW_S3_ENDPOINT_URL", s3.Endpoint)
	s := startServer(t, t.TempDir(), "--backend-store-uri", cluster.NewDatabase(t),
		"--artifacts-destination", "s3://"+s3.Bucket+"/mlflow-suite")

	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/python")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "LODE_TEST_URL="+s.url)
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("mlflow suite on PostgreSQL and S3: %s", lines[len(lines)-1])
	if err != nil {
		t.Fatalf("the mlflow suite failed on PostgreSQL and S3: %v\n%s\n--- server log (tail) ---\n%s", err, out, tail(s.log.String(), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Two servers on one PostgreSQL database and one artifact folder: a
// deployment created through one is served by the other within a poll,
// and one deleted through the other stops on both.
func TestDeploymentsOnTwoServers(t *testing.T) {
	needONNXRuntime(t)
	cluster, err := pgtest.Start()
	if err != nil {
		if pgtest.Required() {
			t.Fatalf("PostgreSQL required (LODE_REQUIRE_POSTGRES=1): %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	t.Cleanup(func() { cluster.Stop() })
	flags := []string{"--backend-store-uri", cluster.NewDatabase(t), "--artifacts-destination", t.TempDir(),
		"--access-log=false", "--deployment-poll", "100ms"}
	a := startServer(t, t.TempDir(), flags...)
	b := startServer(t, t.TempDir(), append(flags, "--jobs=false")...)
	registerHalfPlusTwo(t, a)
	a.must("POST", "/api/2.0/lode/deployments/create", map[string]any{"name": "hpt", "model_uri": "models:/hpt@champion"})

	predictOn := func(s *lodeServer) (int, string) {
		return postJSON(t, s.url+"/v1/models/hpt:predict", `{"instances": [1.0, 2.0, 5.0]}`)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n--- a ---\n%s\n--- b ---\n%s", what, a.log, b.log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, s := range []*lodeServer{a, b} {
		waitUntil("hpt served on "+s.url, func() bool {
			code, body := predictOn(s)
			return code == 200 && body == `{"predictions":[2.5,3.0,4.5]}`
		})
	}
	st := b.must("GET", "/api/2.0/lode/deployments/get?name=hpt", nil)
	if get(st, "deployment", "model_uri") != "models:/hpt@champion" || get(st, "deployment", "version") != "1" {
		t.Errorf("deployment on b: %v", st)
	}

	b.must("DELETE", "/api/2.0/lode/deployments/delete", map[string]any{"name": "hpt"})
	waitUntil("hpt gone from a", func() bool {
		code, _ := predictOn(a)
		return code == 404
	})
	if list := a.must("GET", "/api/2.0/lode/deployments/list", nil); len(list["deployments"].([]any)) != 0 {
		t.Errorf("a still lists deployments: %v", list)
	}
}

// Two servers on one PostgreSQL database share users, grants, tokens and
// sessions: the admin made by the first signs in on the second, a token
// made on one works on the other, and a revocation or a grant on one
// applies on the other within --auth-cache-ttl.
func TestAuthOnTwoServers(t *testing.T) {
	cluster, err := pgtest.Start()
	if err != nil {
		if pgtest.Required() {
			t.Fatalf("PostgreSQL required (LODE_REQUIRE_POSTGRES=1): %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	t.Cleanup(func() { cluster.Stop() })
	dsn := cluster.NewDatabase(t)
	t.Setenv("LODE_ADMIN_PASSWORD", "the team's admin password")
	flags := []string{"--backend-store-uri", dsn, "--admin-user", "admin", "--auth-cache-ttl", "1s"}
	a := startServer(t, t.TempDir(), flags...)
	b := startServer(t, t.TempDir(), append(flags, "--jobs=false")...)
	admin := "admin:the team's admin password"
	if code, _ := b.authCall(admin, "GET", "/api/2.0/mlflow/users/current", nil); code != 200 {
		t.Fatalf("the admin made by A on B: %d", code)
	}
	a.authCall(admin, "POST", "/api/2.0/mlflow/users/create", map[string]string{"username": "alice", "password": "alice's password"})
	a.authCall(admin, "POST", "/api/2.0/mlflow/users/create", map[string]string{"username": "bob", "password": "bob's password!"})
	_, tok := a.authCall("alice:alice's password", "POST", "/api/2.0/lode/tokens/create", map[string]string{"name": "shared"})
	bearer := "Bearer " + tok["secret"].(string)
	_, exp := b.authCall(bearer, "POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": "alice's"})
	expID, _ := exp["experiment_id"].(string)
	if expID == "" {
		t.Fatalf("alice's token from A on B: %v", exp)
	}
	// Alice (who manages it, having made it through B) lets bob edit it
	// through A; B lets him within the cache's second.
	run := map[string]string{"experiment_id": expID}
	if code, _ := b.authCall("bob:bob's password!", "POST", "/api/2.0/mlflow/runs/create", run); code != 403 {
		t.Fatalf("bob before the grant: %d", code)
	}
	if code, out := a.authCall("alice:alice's password", "POST", "/api/3.0/mlflow/users/permissions/grant",
		map[string]string{"username": "bob", "resource_type": "experiment", "resource_id": expID, "permission": "EDIT"}); code != 200 {
		t.Fatalf("grant: %d %v", code, out)
	}
	waitFor(t, func() bool {
		code, _ := b.authCall("bob:bob's password!", "POST", "/api/2.0/mlflow/runs/create", run)
		return code == 200
	}, "the grant made on A to apply on B")
	a.authCall("alice:alice's password", "POST", "/api/2.0/lode/tokens/revoke", map[string]string{"id": tok["token"].(map[string]any)["id"].(string)})
	waitFor(t, func() bool {
		code, _ := b.authCall(bearer, "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+expID, nil)
		return code == 401
	}, "the token revoked on A to stop working on B")
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
