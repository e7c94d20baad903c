package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return m
}

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// projectFiles is a small MLflow Project: a python_env with no packages
// (built offline in seconds), an entry point with typed parameters, and a
// script that prints what it was given and where it runs.
var projectFiles = map[string]string{
	"MLproject": `name: probe
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      x: {type: float, default: 1.5}
      who: string
    command: "python show.py {x} {who}"
`,
	"python_env.yaml": "python: \"3\"\nbuild_dependencies: []\ndependencies: []\n",
	"show.py": `import os, sys
print("argv", sys.argv[1:])
print("prefix", sys.prefix)
print("run", os.environ.get("MLFLOW_RUN_ID"))
print("version", open("VERSION").read().strip() if os.path.exists("VERSION") else "none")
`,
}

func runTags(t *testing.T, s *lodeServer, runID string) (map[string]string, map[string]string, string) {
	t.Helper()
	run := s.must("GET", "/api/2.0/mlflow/runs/get?run_id="+runID, nil)
	tags, params := map[string]string{}, map[string]string{}
	for _, kv := range get(run, "run", "data", "tags").([]any) {
		tags[get(kv, "key").(string)] = get(kv, "value").(string)
	}
	if ps, ok := get(run, "run", "data", "params").([]any); ok {
		for _, kv := range ps {
			params[get(kv, "key").(string)] = get(kv, "value").(string)
		}
	}
	return tags, params, get(run, "run", "info", "status").(string)
}

// generatedRunName is a name the server or `lode run` generates.
var generatedRunName = regexp.MustCompile(`^[a-z]+-[a-z]+-[0-9]{1,3}$`)

// runID is the run `lode run` reported on stderr.
func runIDFrom(t *testing.T, stderr string) string {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if _, rest, ok := strings.Cut(line, ", run "); ok && strings.HasPrefix(line, "lode: submitted job") {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no run id in:\n%s", stderr)
	return ""
}

func TestRunProject(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("local jobs need a Unix")
	}
	python := os.Getenv("LODE_TEST_PYTHON")
	if python == "" {
		var err error
		if python, err = exec.LookPath("python3"); err != nil {
			t.Skip("no python3 on PATH and LODE_TEST_PYTHON unset")
		}
	}
	dir := t.TempDir()
	envs := filepath.Join(dir, "envs")
	s := startServer(t, dir, "--job-dir", filepath.Join(dir, "jobs"), "--env-cache", envs, "--python", python)
	proj := filepath.Join(dir, "proj")
	writeFiles(t, proj, projectFiles)

	// Typed parameters, shell quoting, an undeclared parameter passed on as
	// --name value, a new experiment, and a virtualenv from the cache.
	out, errOut, code := runLode(t, "run", proj, "--tracking-uri", s.url, "-P", "who=a b", "-P", "extra=7", "--experiment-name", "projects")
	if code != 0 {
		t.Fatalf("lode run: exit %d\n%s\n%s\n%s", code, out, errOut, s.log)
	}
	runID := runIDFrom(t, errOut)
	for _, want := range []string{"argv ['1.5', 'a b', '--extra', '7']", "prefix " + envs, "run " + runID} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the job's output:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, `experiment "projects" does not exist; creating it`) || !strings.Contains(out, "building Python environment") {
		t.Errorf("stderr:\n%s\nstdout:\n%s", errOut, out)
	}
	tags, params, status := runTags(t, s, runID)
	if status != "FINISHED" {
		t.Errorf("run status %s", status)
	}
	for k, v := range map[string]string{"mlflow.source.type": "PROJECT", "mlflow.project.entryPoint": "main",
		"mlflow.project.env": "virtualenv", "mlflow.source.name": proj} {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, tags[k], v)
		}
	}
	// The run gets a generated name of its own, as `mlflow run` gives one,
	// not the project's name (which every run of it would share).
	firstName := tags["mlflow.runName"]
	if !generatedRunName.MatchString(firstName) || !strings.Contains(errOut, "as run "+firstName) {
		t.Errorf("run name %q, want a generated one (adjective-noun-number) reported on stderr:\n%s", firstName, errOut)
	}
	if _, ok := tags["mlflow.source.git.commit"]; ok {
		t.Errorf("a folder outside git got a commit tag: %v", tags)
	}
	for k, v := range map[string]string{"x": "1.5", "who": "'a b'", "extra": "7"} {
		if params[k] != v {
			t.Errorf("param %s = %q, want %q (params %v)", k, params[k], v, params)
		}
	}

	// The second run finds the environment built; the local manager uses
	// the server's Python; an implicit .py entry point takes -P as --k v.
	out, errOut, code = runLode(t, "run", proj, "--tracking-uri", s.url, "-P", "who=b", "-P", "x=2e3")
	if code != 0 || strings.Contains(out, "building Python environment") || !strings.Contains(out, "argv ['2e3', 'b']") {
		t.Errorf("second run: exit %d\n%s\n%s", code, out, errOut)
	}
	tags, _, _ = runTags(t, s, runIDFrom(t, errOut))
	if name := tags["mlflow.runName"]; !generatedRunName.MatchString(name) || name == firstName {
		t.Errorf("second run's name %q, want another generated one than %q", name, firstName)
	}
	out, errOut, code = runLode(t, "run", proj, "--tracking-uri", s.url, "-e", "show.py", "--env-manager", "local", "-P", "k=v", "--run-name", "mine")
	if code != 0 || strings.Contains(out, "prefix "+envs) || !strings.Contains(out, "argv ['--k', 'v']") {
		t.Errorf("local manager: exit %d\n%s\n%s", code, out, errOut)
	}
	tags, _, _ = runTags(t, s, runIDFrom(t, errOut))
	if _, ok := tags["mlflow.project.env"]; ok || tags["mlflow.project.entryPoint"] != "show.py" || tags["mlflow.runName"] != "mine" {
		t.Errorf("local manager tags %v", tags)
	}

	// Refusals, before anything is submitted.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", proj}, "no value given for missing parameters: 'who'"},
		{[]string{"run", proj, "-P", "who=x", "-P", "x=abc"}, "parameter x must be a number"},
		{[]string{"run", proj, "-e", "nope"}, "nope"},
		{[]string{"run", filepath.Join(dir, "missing")}, "no such folder, and not a git URL"},
		{[]string{"run", proj, "-v", "main", "-P", "who=x"}, "only supported for git project URIs"},
		{[]string{"run", proj, "--env-manager", "conda", "-P", "who=x"}, "not supported on this machine"},
	} {
		out, errOut, code := runLode(t, append(c.args, "--tracking-uri", s.url)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("lode %v: exit %d, want an error with %q\n%s%s", c.args, code, c.want, out, errOut)
		}
	}
	// Cancelled while its environment is being built: the build stops,
	// leaves nothing half-built, and the job ends CANCELLED.
	other := filepath.Join(dir, "other")
	writeFiles(t, other, map[string]string{"MLproject": "name: other\npython_env: python_env.yaml\nentry_points:\n  main:\n    command: python -c 'print(1)'\n",
		"python_env.yaml": "python: \"3\"\nbuild_dependencies: [\"pip\"]\ndependencies: []\n"})
	out, errOut, code = runLode(t, "run", other, "--tracking-uri", s.url, "--detach", "--json")
	if code != 0 {
		t.Fatalf("run --detach: exit %d\n%s\n%s", code, out, errOut)
	}
	jobID := get(mustJSON(t, out), "job", "id").(string)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, b, _ := s.getBytes("/api/2.0/lode/jobs/logs?id=" + jobID)
		if strings.Contains(string(b), "building Python environment") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the build never started: %s", b)
		}
	}
	s.must("POST", "/api/2.0/lode/jobs/cancel", map[string]string{"id": jobID})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if get(s.must("GET", "/api/2.0/lode/jobs/get?id="+jobID, nil), "job", "state") == "CANCELLED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not end: %v", s.must("GET", "/api/2.0/lode/jobs/get?id="+jobID, nil))
		}
	}
	if left, _ := filepath.Glob(filepath.Join(envs, "*.tmp-*")); len(left) > 0 {
		t.Errorf("a cancelled build left %v", left)
	}

	conda := filepath.Join(dir, "conda")
	writeFiles(t, conda, map[string]string{"MLproject": "name: c\nconda_env: conda.yaml\nentry_points:\n  main:\n    command: python -V\n", "conda.yaml": "dependencies: [python=3.11]\n"})
	if _, errOut, code := runLode(t, "run", conda, "--tracking-uri", s.url); code == 0 || !strings.Contains(errOut, "conda environments are not supported on this machine") {
		t.Errorf("conda project: exit %d\n%s", code, errOut)
	}
}

// A project in git: a folder inside a work tree records its commit; a
// branch of a repository (-v) and a bare repository's default branch are
// fetched into a temporary folder and run from there.
func TestRunGitProject(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("local jobs need a Unix")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	python := os.Getenv("LODE_TEST_PYTHON")
	if python == "" {
		var err error
		if python, err = exec.LookPath("python3"); err != nil {
			t.Skip("no python3 on PATH and LODE_TEST_PYTHON unset")
		}
	}
	dir := t.TempDir()
	s := startServer(t, dir, "--job-dir", filepath.Join(dir, "jobs"), "--env-cache", filepath.Join(dir, "envs"), "--python", python)
	repo := filepath.Join(dir, "repo")
	files := map[string]string{}
	for k, v := range projectFiles {
		files["sub/"+k] = v
	}
	files["sub/VERSION"] = "one\n"
	writeFiles(t, repo, files)
	gitRun := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitRun("init", "--quiet", "--initial-branch", "main")
	gitRun("add", ".")
	gitRun("commit", "--quiet", "-m", "one")
	mainCommit := gitRun("rev-parse", "HEAD")
	gitRun("checkout", "--quiet", "-b", "feature")
	writeFiles(t, repo, map[string]string{"sub/VERSION": "two\n"})
	gitRun("commit", "--quiet", "-am", "two")
	featureCommit := gitRun("rev-parse", "HEAD")
	gitRun("checkout", "--quiet", "main")

	// The work tree's folder, as it is.
	out, errOut, code := runLode(t, "run", filepath.Join(repo, "sub"), "--tracking-uri", s.url, "-P", "who=w", "--env-manager", "local")
	if code != 0 || !strings.Contains(out, "version one") {
		t.Fatalf("work tree: exit %d\n%s\n%s", code, out, errOut)
	}
	tags, _, _ := runTags(t, s, runIDFrom(t, errOut))
	if tags["mlflow.source.git.commit"] != mainCommit || tags["mlflow.source.name"] != "file://"+repo+"#sub" {
		t.Errorf("work tree tags %v", tags)
	}

	// A branch of the repository.
	out, errOut, code = runLode(t, "run", repo+"#sub", "-v", "feature", "--tracking-uri", s.url, "-P", "who=f", "--env-manager", "local")
	if code != 0 || !strings.Contains(out, "version two") {
		t.Fatalf("-v feature: exit %d\n%s\n%s", code, out, errOut)
	}
	tags, _, _ = runTags(t, s, runIDFrom(t, errOut))
	if tags["mlflow.source.git.commit"] != featureCommit || tags["mlflow.source.git.branch"] != "feature" || tags["mlflow.source.name"] != repo+"#sub" {
		t.Errorf("-v feature tags %v", tags)
	}

	// A bare repository, by file:// URL: its default branch.
	bare := filepath.Join(dir, "bare.git")
	gitRun("clone", "--quiet", "--bare", repo, bare)
	out, errOut, code = runLode(t, "run", "file://"+bare+"#sub", "--tracking-uri", s.url, "-P", "who=b", "--env-manager", "local")
	if code != 0 || !strings.Contains(out, "version one") {
		t.Fatalf("bare repository: exit %d\n%s\n%s", code, out, errOut)
	}
	tags, _, _ = runTags(t, s, runIDFrom(t, errOut))
	if tags["mlflow.source.git.commit"] != mainCommit || tags["mlflow.source.git.repoURL"] != bare {
		t.Errorf("bare repository tags %v", tags)
	}
	if _, errOut, code := runLode(t, "run", "file://"+bare+"#sub", "-v", "no-such-branch", "--tracking-uri", s.url); code == 0 || !strings.Contains(errOut, "unable to fetch version 'no-such-branch'") {
		t.Errorf("missing version: exit %d\n%s", code, errOut)
	}
}

// `lode server` serves the web UI at / beside the API.
func TestServerServesUI(t *testing.T) {
	s := startServer(t, t.TempDir())
	for path, want := range map[string]string{
		"/":                                      "<h1 class=\"grow\">Experiments</h1>",
		"/experiments":                           "Default",
		"/experiments/0":                         "Default",
		"/models":                                "Models",
		"/jobs":                                  "Jobs",
		"/static/lode.js":                        "Lode",
		"/static/vendor/uplot/uPlot.iife.min.js": "uPlot",
	} {
		code, body, err := s.getBytes(path)
		if err != nil || code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %v, want 200 with %q", path, code, err, want)
		}
	}
	if code, _, _ := s.getBytes("/runs/nope"); code != 404 {
		t.Errorf("GET /runs/nope: %d", code)
	}
}
