package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lode-ml/lode/postgres/pgtest"
)

// mlflowScript fills a real MLflow server through the real mlflow client
// ("populate", "more"), or dumps what a server (MLflow's or Lode's) holds
// in a form that does not depend on ids the import may change ("dump"):
// experiments by name, runs by id with full metric histories, datasets,
// artifact listings and contents, the registry, and a prediction of the
// registered model loaded through its alias.
const mlflowScript = `
import json, math, os, sys
import numpy as np, pandas as pd
import mlflow
from mlflow import MlflowClient
from mlflow.entities import ViewType
from sklearn.linear_model import LinearRegression

c = MlflowClient()
X = np.array([[1.0], [2.0], [3.0]])
mode = sys.argv[1]

if mode == "populate":
    c.create_experiment("imported", tags={"team": "vision", "mlflow.note.content": "notes"})
    mlflow.set_experiment("imported")
    with mlflow.start_run(run_name="train"):
        mlflow.log_params({"lr": "0.1", "depth": "3"})
        mlflow.set_tag("phase", "dev")
        for s in range(5):
            mlflow.log_metric("loss", 1.0 / (s + 1), step=s, timestamp=1700000000000 + s)
        mlflow.log_metric("odd", float("nan"), step=7)
        mlflow.log_metric("odd", 2.5, step=8)
        ds = mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2, 3]}), name="train-ds")
        mlflow.log_input(ds, context="training")
        with open("notes.txt", "w") as f:
            f.write("hello lode\n")
        mlflow.log_artifact("notes.txt", artifact_path="docs")
        model = LinearRegression().fit(X, np.array([2.0, 4.0, 6.0]))
        mlflow.sklearn.log_model(model, name="model", registered_model_name="reg", input_example=X)
    with mlflow.start_run(run_name="second"):
        mlflow.log_metric("loss", 0.5, step=0)
        model2 = LinearRegression().fit(X, np.array([3.0, 6.0, 9.0]))
        mlflow.sklearn.log_model(model2, name="model", registered_model_name="reg")
    c.set_registered_model_tag("reg", "owner", "ml")
    c.update_registered_model("reg", description="a regressor")
    c.set_registered_model_alias("reg", "champion", "1")
    c.transition_model_version_stage("reg", "2", "Staging")
    c.update_model_version("reg", "1", description="first")
    c.set_model_version_tag("reg", "1", "validated", "yes")
    with mlflow.start_run(run_name="doomed") as r:
        mlflow.log_param("p", "1")
    c.delete_run(r.info.run_id)
    gone = c.create_experiment("gone", tags={"why": "obsolete"})
    r = c.create_run(gone, run_name="old")
    c.log_metric(r.info.run_id, "m", 1.0, step=1)
    c.set_terminated(r.info.run_id)
    c.delete_experiment(gone)
    print("populated")
elif mode == "more":
    mlflow.set_experiment("imported")
    with mlflow.start_run(run_name="later"):
        mlflow.log_metric("loss", 0.1, step=0)
    print("more")
elif mode == "dump":
    out = {"experiments": {}, "models": {}}
    for e in c.search_experiments(view_type=ViewType.ALL):
        d = {"stage": e.lifecycle_stage, "tags": dict(e.tags), "runs": {}}
        if e.name != "Default":
            d["created"] = e.creation_time
        for r in c.search_runs([e.experiment_id], run_view_type=ViewType.ALL, max_results=1000):
            i = r.info
            rd = {"name": i.run_name, "status": i.status, "start": i.start_time, "end": i.end_time, "user": i.user_id,
                  "stage": i.lifecycle_stage, "params": r.data.params, "tags": r.data.tags, "history": {},
                  "inputs": sorted([{"name": x.dataset.name, "digest": x.dataset.digest, "source_type": x.dataset.source_type,
                                     "source": x.dataset.source, "schema": x.dataset.schema, "profile": x.dataset.profile,
                                     "tags": {t.key: t.value for t in x.tags}} for x in r.inputs.dataset_inputs], key=lambda x: x["name"])}
            for k in r.data.metrics:
                rd["history"][k] = [[m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value]
                                    for m in c.get_metric_history(i.run_id, k)]
            if i.lifecycle_stage == "active":
                files = {}
                def walk(p):
                    for f in c.list_artifacts(i.run_id, p):
                        if f.is_dir:
                            walk(f.path)
                        else:
                            files[f.path] = f.file_size
                walk(None)
                rd["artifacts"] = files
                if "docs/notes.txt" in files:
                    p = mlflow.artifacts.download_artifacts(run_id=i.run_id, artifact_path="docs/notes.txt")
                    rd["notes"] = open(p).read()
            d["runs"][i.run_id] = rd
        out["experiments"][e.name] = d
    for m in c.search_registered_models():
        md = {"description": m.description, "tags": m.tags, "aliases": m.aliases, "versions": {}}
        for v in c.search_model_versions("name='%s'" % m.name):
            md["versions"][v.version] = {"source": v.source, "run_id": v.run_id, "stage": v.current_stage, "status": v.status,
                                         "description": v.description, "tags": v.tags, "created": v.creation_timestamp}
        out["models"][m.name] = md
    model = mlflow.pyfunc.load_model("models:/reg@champion")
    out["prediction"] = [float(x) for x in model.predict(X)]
    print("DUMP " + json.dumps(out, sort_keys=True))
`

// startMLflow starts the real `mlflow server` on the database store (a
// --backend-store-uri) and a local artifact root under dir, and returns its
// URL and a stop function.
func startMLflow(t *testing.T, python, dir, store string) (string, func()) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-m", "mlflow", "server",
		"--backend-store-uri", store,
		"--artifacts-destination", filepath.Join(dir, "mlartifacts"),
		"--host", "127.0.0.1", "--port", fmt.Sprint(port), "--workers", "1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false")
	log, err := os.Create(filepath.Join(dir, "mlflow-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: the server runs workers, all stopped together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
	}
	t.Cleanup(stop)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, err := http.Get(url + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return url, stop
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "mlflow-server.log"))
			t.Fatalf("mlflow server did not start: %v\n%s", err, tail(string(b), 4000))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// runScript runs mlflowScript in mode against the tracking server at url.
func runScript(t *testing.T, python, dir, url, mode string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", mlflowScript, mode)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI="+url, "GIT_PYTHON_REFRESH=quiet", "MLFLOW_ENABLE_ASYNC_LOGGING=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mlflow script %s against %s: %v\n%s", mode, url, err, tail(string(out), 6000))
	}
	return string(out)
}

func dumpOf(t *testing.T, out string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "DUMP "); ok {
			var v map[string]any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no dump in the script's output:\n%s", tail(out, 4000))
	return nil
}

func jsonOf(v any) string {
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}

// TestImportFromMLflow fills a real `mlflow server` (SQLite, local
// artifacts) with the real client, imports it into Lode (SQLite) and checks
// through a Lode server, with the same client, that everything reads back
// the same (artifacts and the registered model included); then that a
// second import changes nothing, and a third after new MLflow data brings
// only that.
func TestImportFromMLflow(t *testing.T) {
	python := importPython(t)
	src, dst := t.TempDir(), t.TempDir()
	mlflowDB := "sqlite:///" + filepath.Join(src, "mlflow.db")
	testImport(t, python, src, dst, mlflowDB, mlflowDB, "sqlite:///"+filepath.Join(dst, "lode.db"))
}

// TestImportFromMLflowOnPostgres is TestImportFromMLflow with MLflow's
// server on PostgreSQL (through psycopg2, as MLflow's docs set it up) and
// Lode on another database of the same PostgreSQL server.
func TestImportFromMLflowOnPostgres(t *testing.T) {
	python := importPython(t)
	if out, err := exec.Command(python, "-c", "import psycopg2").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import psycopg2, MLflow's PostgreSQL driver (pinned in tests/python/requirements-mlflow3.txt): %v\n%s", python, err, out)
	}
	cluster, err := pgtest.Start()
	if err != nil {
		if pgtest.Required() {
			t.Fatal(err)
		}
		t.Skipf("no PostgreSQL: %v", err)
	}
	t.Cleanup(func() { cluster.Stop() })
	src, dst := t.TempDir(), t.TempDir()
	mlflowDB := cluster.NewDatabase(t)
	// SQLAlchemy reads postgresql:// as psycopg 3; MLflow documents psycopg2.
	mlflowStore := "postgresql+psycopg2://" + strings.SplitN(mlflowDB, "://", 2)[1]
	testImport(t, python, src, dst, mlflowStore, mlflowStore, cluster.NewDatabase(t))
}

func importPython(t *testing.T) string {
	python := os.Getenv("LODE_TEST_PYTHON")
	if python == "" {
		t.Skip("LODE_TEST_PYTHON is not set (make test sets it to the mlflow venv's python)")
	}
	if testing.Short() {
		t.Skip("-short: starts mlflow server")
	}
	return python
}

// testImport runs the import scenario: MLflow's server on mlflowStore
// with its artifacts under src, `lode import mlflow --from from` into Lode
// on lodeStore with its artifacts under dst.
func testImport(t *testing.T, python, src, dst, mlflowStore, from, lodeStore string) {
	work := t.TempDir()
	mlflowURL, stop := startMLflow(t, python, src, mlflowStore)
	runScript(t, python, work, mlflowURL, "populate")
	want := dumpOf(t, runScript(t, python, work, mlflowURL, "dump"))
	stop()

	importArgs := []string{"import", "mlflow",
		"--from", from,
		"--artifacts", filepath.Join(src, "mlartifacts"),
		"--backend-store-uri", lodeStore,
		"--artifacts-destination", filepath.Join(dst, "art")}
	out, errOut, code := runLode(t, importArgs...)
	if code != 0 {
		t.Fatalf("lode import: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("first import:\n%s", out)
	for _, w := range []string{
		"experiments             2 created,      0 updated,      1 skipped",
		"runs                    4 created,      0 updated,      0 skipped",
		"registered models       1 created",
		"model versions          2 created",
		"aliases                 1 created",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q", w)
		}
	}

	s := startServer(t, dst, "--backend-store-uri", lodeStore)
	got := dumpOf(t, runScript(t, python, work, s.url, "dump"))
	if jsonOf(got) != jsonOf(want) {
		t.Fatalf("Lode after the import differs from MLflow\n--- MLflow ---\n%s\n--- Lode ---\n%s", jsonOf(want), jsonOf(got))
	}
	if p, _ := want["prediction"].([]any); len(p) != 3 {
		t.Errorf("prediction %v", want["prediction"])
	}
	// The versions' files are Lode's own now: the model library read them.
	lib := s.must("GET", "/api/2.0/lode/model-library/search?flavor=sklearn", nil)
	if vs, _ := lib["model_versions"].([]any); len(vs) != 2 {
		t.Errorf("model library, sklearn flavor: %v, want both versions", lib)
	}
	s.kill()

	// Again: nothing new.
	out, errOut, code = runLode(t, importArgs...)
	if code != 0 {
		t.Fatalf("second lode import: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, w := range []string{"0 created,      0 updated", "written: 0 params, 0 tags, 0 metric points", "0 files copied"} {
		if !strings.Contains(out, w) {
			t.Errorf("second import: summary lacks %q:\n%s", w, out)
		}
	}
	if strings.Count(out, " 0 created,      0 updated") != 6 {
		t.Errorf("second import created or updated something:\n%s", out)
	}

	// New data in MLflow: only that comes over.
	mlflowURL, stop = startMLflow(t, python, src, mlflowStore)
	runScript(t, python, work, mlflowURL, "more")
	want = dumpOf(t, runScript(t, python, work, mlflowURL, "dump"))
	stop()
	out, errOut, code = runLode(t, importArgs...)
	if code != 0 {
		t.Fatalf("third lode import: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "runs                    1 created,      0 updated,      4 skipped") {
		t.Errorf("third import: want one new run:\n%s", out)
	}
	s = startServer(t, dst, "--backend-store-uri", lodeStore)
	got = dumpOf(t, runScript(t, python, work, s.url, "dump"))
	if jsonOf(got) != jsonOf(want) {
		t.Fatalf("Lode after the third import differs from MLflow\n--- MLflow ---\n%s\n--- Lode ---\n%s", jsonOf(want), jsonOf(got))
	}
}
