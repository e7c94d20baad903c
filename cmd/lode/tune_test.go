package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// curveTrial is a trial that logs a learning curve of the metric loss,
// x + 1/step for steps 1..$STEPS, $PAUSE seconds apart, through the REST
// API with the job's token if it has one (the mlflow client takes seconds
// to import; the grid test uses it).
// It retries each call for a while, so that it outlives a server restart.
const curveTrial = `import json, os, sys, time, urllib.request
uri, run = os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_RUN_ID"]
def log(value, step):
    body = json.dumps({"run_id": run, "key": "loss", "value": value, "timestamp": int(time.time() * 1000), "step": step}).encode()
    for _ in range(150):
        try:
            headers = {"Content-Type": "application/json"}
            if os.environ.get("MLFLOW_TRACKING_TOKEN"):
                headers["Authorization"] = "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]
            req = urllib.request.Request(uri + "/api/2.0/mlflow/runs/log-metric", body, headers)
            urllib.request.urlopen(req, timeout=5).read()
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(3)
x = float(sys.argv[1] if len(sys.argv) > 1 else os.environ["LODE_PARAM_X"])
for step in range(1, int(os.environ["STEPS"]) + 1):
    log(x + 1.0 / step, step)
    time.sleep(float(os.environ["PAUSE"]))
`

func tunePython(t *testing.T, mlflow bool) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("local jobs need a Unix")
	}
	if p := os.Getenv("LODE_TEST_PYTHON"); p != "" {
		return p
	}
	if mlflow {
		t.Skip("LODE_TEST_PYTHON is not set (make test sets it to the mlflow venv's python)")
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	return p
}

// studyOf returns the study the server answers for id.
func studyOf(t *testing.T, s *lodeServer, id any) map[string]any {
	t.Helper()
	return s.must("GET", "/api/2.0/lode/studies/get?study_id="+fmt.Sprint(id), nil)["study"].(map[string]any)
}

// waitStudyEnd polls a study until it is no longer running.
func waitStudyEnd(t *testing.T, s *lodeServer, id any, limit time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st := studyOf(t, s, id)
		if st["status"] != "RUNNING" {
			return st
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st, "", " ")
			t.Fatalf("study still running after %s:\n%s\n%s", limit, b, s.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func trialsOf(st map[string]any) []map[string]any {
	var out []map[string]any
	for _, t := range st["trials"].([]any) {
		out = append(out, t.(map[string]any))
	}
	return out
}

// A grid study from a study file with `lode tune --wait`: its trials are
// jobs that log with the mlflow client, their runs children of the
// study's run with their parameters as params, found by search_runs.
func TestTuneGridStudy(t *testing.T) {
	python := tunePython(t, true)
	dir := t.TempDir()
	s := startServer(t, dir)
	work := t.TempDir()
	train := `import os, sys, mlflow
x, opt = float(os.environ["LODE_PARAM_X"]), sys.argv[1]
with mlflow.start_run():
    for step in range(3):
        mlflow.log_metric("loss", (x - 0.3) ** 2 + (0.5 if opt == "sgd" else 0) + (2 - step) * 0.01, step=step)
`
	if err := os.WriteFile(filepath.Join(work, "train.py"), []byte(train), 0o644); err != nil {
		t.Fatal(err)
	}
	study := `name: grid-study
experiment: tuning
space:
  - {name: x, type: float, low: 0, high: 1, grid: [0.25, 0.5]}
  - {name: opt, type: categorical, values: [sgd, adam]}
objective: {metric: loss, direction: minimize}
search: {algorithm: grid}
budget: {max_trials: 10, max_parallel: 2}
trial:
  command: '"$PY" train.py {opt}'
  env: {PY: ` + python + `}
  resources: {cpus: 0.5, memory: 256Mi}
`
	file := filepath.Join(work, "study.yaml")
	if err := os.WriteFile(file, []byte(study), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runLode(t, "tune", file, "--tracking-uri", s.url, "--wait", "--json")
	if code != 0 {
		t.Fatalf("lode tune --wait: exit %d\n%s\n%s\n%s", code, out, errOut, s.log)
	}
	var res struct {
		Study map[string]any `json:"study"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	st := res.Study
	if st["status"] != "FINISHED" || !strings.Contains(fmt.Sprint(st["reason"]), "every combination") {
		t.Fatalf("study %v: %v", st["status"], st["reason"])
	}
	trials := trialsOf(st)
	if len(trials) != 4 {
		t.Fatalf("%d trials, want the grid's 4", len(trials))
	}
	seen := map[string]bool{}
	for _, tr := range trials {
		if tr["state"] != "COMPLETE" {
			t.Errorf("trial %v: %v (%v)", tr["number"], tr["state"], tr["reason"])
		}
		seen[fmt.Sprint(tr["params"])] = true
		if n := len(tr["intermediate_values"].([]any)); n != 3 {
			t.Errorf("trial %v has %d intermediate values, want 3", tr["number"], n)
		}
	}
	if len(seen) != 4 {
		t.Errorf("the grid's trials repeat parameters: %v", seen)
	}
	best := st["best_trial"].(map[string]any)
	if p := best["params"].(map[string]any); p["x"] != 0.25 || p["opt"] != "adam" || math.Abs(best["value"].(float64)-0.0025) > 1e-12 {
		t.Errorf("best trial %v", best)
	}
	if !strings.Contains(errOut, "trial 3 COMPLETE") {
		t.Errorf("--wait did not report the trials:\n%s", errOut)
	}
	// The mlflow client finds the trials under the study's run.
	script := `import json, sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
exp = mlflow.get_experiment_by_name("tuning")
runs = mlflow.search_runs([exp.experiment_id], filter_string="tags.mlflow.parentRunId = '" + sys.argv[2] + "'", output_format="list")
study = mlflow.get_run(sys.argv[2])
print(json.dumps({"trials": sorted([[r.data.params, r.data.tags["lode.trial.number"], r.data.tags["lode.study.id"], r.info.status] for r in runs], key=lambda r: r[1]),
    "study": [study.data.tags.get("lode.study.best_trial"), study.data.params.get("best.x"), study.data.params.get("best.opt"), study.info.status, study.data.metrics.get("loss")]}))
`
	cmd := exec.Command(python, "-c", script, s.url, st["run_id"].(string))
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("mlflow client: %v\n%s", err, raw)
	}
	var found struct {
		Trials [][]any `json:"trials"`
		Study  []any   `json:"study"`
	}
	if err := json.Unmarshal(raw, &found); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if len(found.Trials) != 4 {
		t.Fatalf("search_runs found %d child runs, want 4: %s", len(found.Trials), raw)
	}
	for i, r := range found.Trials {
		params := r[0].(map[string]any)
		if r[1] != fmt.Sprint(i) || r[2] != fmt.Sprint(st["id"]) || r[3] != "FINISHED" || params["x"] == nil || params["opt"] == nil {
			t.Errorf("trial run %d: %v", i, r)
		}
	}
	bestNumber := fmt.Sprint(best["number"])
	if found.Study[0] != bestNumber || found.Study[1] != "0.25" || found.Study[2] != "adam" || found.Study[3] != "FINISHED" || math.Abs(found.Study[4].(float64)-0.0025) > 1e-12 {
		t.Errorf("study run: %v", found.Study)
	}

	// list and show, text and JSON.
	out, errOut, code = runLode(t, "tune", "list", "--tracking-uri", s.url)
	if code != 0 || !strings.Contains(out, "grid-study") || !strings.Contains(out, "FINISHED") {
		t.Errorf("tune list: %d %s %s", code, out, errOut)
	}
	out, errOut, code = runLode(t, "tune", "show", "grid-study", "--tracking-uri", s.url)
	if code != 0 || !strings.Contains(out, "best:        trial "+bestNumber) {
		t.Errorf("tune show: %d %s %s", code, out, errOut)
	}
	// A finished study neither stops nor resumes.
	if _, errOut, code = runLode(t, "tune", "resume", "grid-study", "--tracking-uri", s.url); code == 0 || !strings.Contains(errOut, "only a stopped or failed study resumes") {
		t.Errorf("tune resume of a finished study: %d %s", code, errOut)
	}
	// A second study of the same name is refused.
	if _, errOut, code = runLode(t, "tune", file, "--tracking-uri", s.url); code == 0 || !strings.Contains(errOut, "grid-study") {
		t.Errorf("a study name taken: %d %s", code, errOut)
	}
}

// A TPE study with ASHA: trials whose learning curve falls behind at a
// rung are cancelled and end PRUNED, with the reason on the trial and its
// run.
func TestTuneASHAPrunes(t *testing.T) {
	python := tunePython(t, false)
	dir := t.TempDir()
	s := startServer(t, dir)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "curve.py"), []byte(curveTrial), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := map[string]any{
		"name":      "asha-study",
		"space":     []any{map[string]any{"name": "x", "type": "float", "low": 0, "high": 10}},
		"objective": map[string]any{"metric": "loss", "direction": "minimize"},
		"search": map[string]any{"algorithm": "tpe", "seed": 7, "startup_trials": 4,
			"pruner": map[string]any{"type": "asha", "min_resource": 1, "max_resource": 8, "reduction_factor": 2}},
		"budget":   map[string]any{"max_trials": 8, "max_parallel": 2},
		"trial":    map[string]any{"command": `"$PY" curve.py`, "env": map[string]string{"PY": python, "STEPS": "8", "PAUSE": "0.25"}},
		"work_dir": work,
	}
	id := s.must("POST", "/api/2.0/lode/studies/create", spec)["study"].(map[string]any)["id"]
	st := waitStudyEnd(t, s, id, 120*time.Second)
	if st["status"] != "FINISHED" {
		t.Fatalf("study %v: %v", st["status"], st["reason"])
	}
	trials := trialsOf(st)
	if len(trials) != 8 {
		t.Fatalf("%d trials, want 8", len(trials))
	}
	pruned := 0
	for _, tr := range trials {
		switch tr["state"] {
		case "PRUNED":
			pruned++
			if !strings.Contains(fmt.Sprint(tr["reason"]), "pruned at rung") {
				t.Errorf("pruned trial %v's reason: %v", tr["number"], tr["reason"])
			}
			if n := len(tr["intermediate_values"].([]any)); n >= 8 {
				t.Errorf("pruned trial %v ran to the end (%d steps)", tr["number"], n)
			}
			run := s.must("GET", "/api/2.0/mlflow/runs/get?run_id="+tr["run_id"].(string), nil)
			tags := map[string]string{}
			for _, tg := range get(run, "run", "data", "tags").([]any) {
				tags[tg.(map[string]any)["key"].(string)] = tg.(map[string]any)["value"].(string)
			}
			if tags["lode.trial.state"] != "PRUNED" || !strings.Contains(tags["lode.trial.reason"], "rung") {
				t.Errorf("pruned trial's run tags: %v", tags)
			}
			job := s.must("GET", "/api/2.0/lode/jobs/get?id="+tr["job_id"].(string), nil)
			if st := get(job, "job", "state"); st != "CANCELLED" {
				t.Errorf("pruned trial's job is %v, want CANCELLED", st)
			}
		case "COMPLETE":
		default:
			t.Errorf("trial %v: %v (%v)", tr["number"], tr["state"], tr["reason"])
		}
	}
	if pruned == 0 {
		b, _ := json.MarshalIndent(trials, "", " ")
		t.Errorf("ASHA pruned no trial:\n%s", b)
	}
}

// A study survives its server: SIGKILLed mid-study, the restarted server
// resumes it where it was (its trials' jobs are re-adopted, the searcher
// restored), and the grid is tried exactly once. Stop and resume work
// over the REST API.
func TestTuneStudySurvivesRestart(t *testing.T) {
	python := tunePython(t, false)
	dir := t.TempDir()
	s := startServer(t, dir)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "curve.py"), []byte(curveTrial), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := map[string]any{
		"name":          "restart-study",
		"experiment_id": "0",
		"space":         []any{map[string]any{"name": "x", "type": "int", "low": 1, "high": 6}},
		"objective":     map[string]any{"metric": "loss", "direction": "maximize", "use": "best"},
		"search":        map[string]any{"algorithm": "grid"},
		"budget":        map[string]any{"max_parallel": 2},
		"trial":         map[string]any{"command": `"$PY" curve.py`, "env": map[string]string{"PY": python, "STEPS": "4", "PAUSE": "0.4"}},
		"work_dir":      work,
	}
	id := s.must("POST", "/api/2.0/lode/studies/create", spec)["study"].(map[string]any)["id"]
	// Kill the server once a trial has completed and others run.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st := studyOf(t, s, id)
		counts := st["trial_counts"].(map[string]any)
		if counts["COMPLETE"] != nil && counts["RUNNING"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trial completed: %v\n%s", counts, s.log)
		}
	}
	// The trials that run on call the server at the URL they were given:
	// it comes back on the same port.
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	s.kill()
	s = startServer(t, dir, "--port", u.Port())
	st := waitStudyEnd(t, s, id, 120*time.Second)
	if st["status"] != "FINISHED" {
		t.Fatalf("study after a restart: %v %v\n%s", st["status"], st["reason"], s.log)
	}
	trials := trialsOf(st)
	var xs []string
	for _, tr := range trials {
		if tr["state"] != "COMPLETE" {
			t.Errorf("trial %v: %v (%v)", tr["number"], tr["state"], tr["reason"])
		}
		xs = append(xs, fmt.Sprint(tr["params"].(map[string]any)["x"]))
	}
	sort.Strings(xs)
	if strings.Join(xs, ",") != "1,2,3,4,5,6" {
		t.Errorf("the grid after a restart: %v", xs)
	}
	if best := st["best_trial"].(map[string]any); best["value"] != 7.0 {
		t.Errorf("best trial %v, want x=6 with its best value 6+1/1", best)
	}
	if !strings.Contains(s.log.String(), "study resumed after a restart") {
		t.Errorf("the restarted server did not say it resumed the study:\n%s", s.log)
	}

	// Stop and resume, by the REST API: a stopped study's running trials
	// fail, and a resumed one goes on to its budget.
	spec["name"], spec["budget"] = "stop-study", map[string]any{"max_parallel": 1}
	id = s.must("POST", "/api/2.0/lode/studies/create", spec)["study"].(map[string]any)["id"]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if studyOf(t, s, id)["trial_counts"].(map[string]any)["RUNNING"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no trial started")
		}
	}
	stopped := s.must("POST", "/api/2.0/lode/studies/stop", map[string]any{"study_id": id})["study"].(map[string]any)
	if stopped["status"] != "STOPPED" || stopped["trial_counts"].(map[string]any)["FAIL"] != 1.0 {
		t.Fatalf("stopped study: %v %v", stopped["status"], stopped["trial_counts"])
	}
	if status, m, _ := s.call("POST", "/api/2.0/lode/studies/stop", map[string]any{"study_id": id}); status != 409 {
		t.Errorf("stopping a stopped study: %d %v", status, m)
	}
	s.must("POST", "/api/2.0/lode/studies/resume", map[string]any{"name": "stop-study"})
	st = waitStudyEnd(t, s, id, 120*time.Second)
	if st["status"] != "FINISHED" || st["trial_counts"].(map[string]any)["COMPLETE"] != 5.0 {
		t.Errorf("resumed study: %v %v %v", st["status"], st["reason"], st["trial_counts"])
	}

	// max_time ends a study, cancelling the trial that runs.
	spec["name"], spec["budget"] = "timed-study", map[string]any{"max_time": "1500ms"}
	spec["trial"] = map[string]any{"command": `"$PY" curve.py`, "env": map[string]string{"PY": python, "STEPS": "100", "PAUSE": "0.2"}}
	id = s.must("POST", "/api/2.0/lode/studies/create", spec)["study"].(map[string]any)["id"]
	st = waitStudyEnd(t, s, id, 30*time.Second)
	trials = trialsOf(st)
	if st["status"] != "FINISHED" || st["reason"] != "max_time reached" || len(trials) != 1 || trials[0]["state"] != "FAIL" ||
		!strings.Contains(fmt.Sprint(trials[0]["reason"]), "max_time") {
		t.Errorf("timed study: %v %v %v", st["status"], st["reason"], trials)
	}
}

// A trial may be an MLproject entry point: its parameters reach the
// entry point's command as -P would give them.
func TestTuneMLprojectTrial(t *testing.T) {
	python := tunePython(t, false)
	dir := t.TempDir()
	s := startServer(t, dir)
	work := t.TempDir()
	project := filepath.Join(work, "proj")
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	mlproject := `name: curve
entry_points:
  curve:
    parameters:
      x: {type: float, default: 100}
    command: '"$PY" curve.py {x}'
`
	for name, body := range map[string]string{"MLproject": mlproject, "curve.py": curveTrial} {
		if err := os.WriteFile(filepath.Join(project, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := map[string]any{
		"name":      "project-study",
		"space":     []any{map[string]any{"name": "x", "type": "float", "low": 0, "high": 1}},
		"objective": map[string]any{"metric": "loss"},
		"search":    map[string]any{"algorithm": "random", "seed": 1},
		"budget":    map[string]any{"max_trials": 2, "max_parallel": 2},
		"trial": map[string]any{"uri": "proj", "entry_point": "curve", "env_manager": "local",
			"env": map[string]string{"PY": python, "STEPS": "2", "PAUSE": "0"}},
		"work_dir": work,
	}
	id := s.must("POST", "/api/2.0/lode/studies/create", spec)["study"].(map[string]any)["id"]
	st := waitStudyEnd(t, s, id, 60*time.Second)
	if st["status"] != "FINISHED" {
		t.Fatalf("study %v: %v", st["status"], st["reason"])
	}
	for _, tr := range trialsOf(st) {
		x := tr["params"].(map[string]any)["x"].(float64)
		// The value the entry point got is the trial's x: loss at step 2
		// is x + 1/2 (not the default's 100.5).
		if tr["state"] != "COMPLETE" || math.Abs(tr["value"].(float64)-(x+0.5)) > 1e-9 {
			t.Errorf("trial %v: %v value %v, x %v", tr["number"], tr["state"], tr["value"], x)
		}
		job := s.must("GET", "/api/2.0/lode/jobs/get?id="+tr["job_id"].(string), nil)
		if cmd := fmt.Sprint(get(job, "job", "spec", "command")); !strings.Contains(cmd, "curve.py") {
			t.Errorf("trial job's command %q", cmd)
		}
	}
	// A missing entry point is refused when the study is made.
	spec["name"], spec["trial"] = "bad-project", map[string]any{"uri": "proj", "entry_point": "nope", "env_manager": "local"}
	if status, m, _ := s.call("POST", "/api/2.0/lode/studies/create", spec); status != 400 {
		t.Errorf("a missing entry point: %d %v", status, m)
	}
}

// With authentication on, a study's trials run with its creator's
// credentials, its runs are theirs, and others need UPDATE on its
// experiment to stop or resume it.
func TestTuneWithAuth(t *testing.T) {
	python := tunePython(t, false)
	dir := t.TempDir()
	t.Setenv("LODE_ADMIN_PASSWORD", "the admin's long password")
	s := startServer(t, dir, "--admin-user", "admin", "--allow-user-code")
	admin := "admin:the admin's long password"
	for _, u := range []string{"alice", "bob"} {
		if status, out := s.authCall(admin, "POST", "/api/2.0/mlflow/users/create", map[string]string{"username": u, "password": u + "'s password"}); status != 200 {
			t.Fatalf("create %s: %d %v", u, status, out)
		}
	}
	alice, bob := "alice:alice's password", "bob:bob's password"
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "curve.py"), []byte(curveTrial), 0o644); err != nil {
		t.Fatal(err)
	}
	study := `name: alices-study
experiment: alices
space: [{name: x, type: int, low: 1, high: 2}]
objective: {metric: loss}
search: {algorithm: grid}
budget: {max_parallel: 2}
trial:
  command: '"$PY" curve.py'
  env: {PY: ` + python + `, STEPS: "2", PAUSE: "0"}
`
	file := filepath.Join(work, "study.yaml")
	if err := os.WriteFile(file, []byte(study), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lodeBin, "tune", file, "--wait", "--json")
	cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI="+s.url, "MLFLOW_TRACKING_USERNAME=alice", "MLFLOW_TRACKING_PASSWORD=alice's password", "MLFLOW_TRACKING_TOKEN=")
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("lode tune as alice: %v\n%s\n%s\n%s", err, o.String(), e.String(), s.log)
	}
	var res struct {
		Study map[string]any `json:"study"`
	}
	if err := json.Unmarshal([]byte(o.String()), &res); err != nil {
		t.Fatal(err)
	}
	st := res.Study
	if st["status"] != "FINISHED" || st["trial_counts"].(map[string]any)["COMPLETE"] != 2.0 {
		t.Fatalf("alice's study: %v %v %v", st["status"], st["reason"], st["trial_counts"])
	}
	for _, run := range []string{st["run_id"].(string), trialsOf(st)[0]["run_id"].(string)} {
		_, r := s.authCall(alice, "GET", "/api/2.0/mlflow/runs/get?run_id="+run, nil)
		if u := get(r, "run", "info", "user_id"); u != "alice" {
			t.Errorf("run %s belongs to %v, want alice", run, u)
		}
	}
	// Bob reads it by the server's default permission, READ, without the
	// values of its trials' environment; he may not stop or resume it.
	ref := fmt.Sprint(st["id"])
	status, out := s.authCall(bob, "GET", "/api/2.0/lode/studies/get?study_id="+ref, nil)
	if env := get(out, "study", "spec", "trial", "env"); status != 200 || fmt.Sprint(env.(map[string]any)["STEPS"]) != "[redacted]" {
		t.Errorf("bob reads alice's study: %d %v", status, env)
	}
	if status, out := s.authCall(alice, "GET", "/api/2.0/lode/studies/get?study_id="+ref, nil); fmt.Sprint(get(out, "study", "spec", "trial", "env", "STEPS")) != "2" {
		t.Errorf("alice reads her study: %d %v", status, get(out, "study", "spec", "trial", "env"))
	}
	for _, action := range []string{"stop", "resume"} {
		if status, out := s.authCall(bob, "POST", "/api/2.0/lode/studies/"+action, map[string]any{"study_id": st["id"]}); status != 403 {
			t.Errorf("bob may %s alice's study: %d %v", action, status, out)
		}
	}
	if status, out := s.authCall(alice, "GET", "/api/2.0/lode/studies/list", nil); status != 200 || len(out["studies"].([]any)) != 1 {
		t.Errorf("alice's study list: %d %v", status, out)
	}
}
