package main

// End-to-end tests of `lode models`: the built binary against a real
// `lode server` child process.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// modelsCLI runs the lode binary with MLFLOW_TRACKING_URI set to
// trackingURI ("" leaves it unset).
func modelsCLI(t *testing.T, trackingURI string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(lodeBin, args...)
	cmd.Dir = t.TempDir()
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MLFLOW_TRACKING_URI=") {
			env = append(env, kv)
		}
	}
	if trackingURI != "" {
		env = append(env, "MLFLOW_TRACKING_URI="+trackingURI)
	}
	cmd.Env = append(env, "TZ=UTC")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("lode %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// modelsOK runs the CLI and fails the test unless it exits 0.
func modelsOK(t *testing.T, trackingURI string, args ...string) (stdout, stderr string) {
	t.Helper()
	out, errOut, code := modelsCLI(t, trackingURI, args...)
	if code != 0 {
		t.Fatalf("lode %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

func modelsJSON(t *testing.T, trackingURI string, args ...string) map[string]any {
	t.Helper()
	out, _ := modelsOK(t, trackingURI, append(args, "--json")...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("lode %s --json: not a JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// readTree returns every file under dir, by slash path, with its bytes.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	for p, b := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: %s missing", what, p)
		} else if !bytes.Equal(g, b) {
			t.Errorf("%s: %s differs: %d bytes, want %d", what, p, len(g), len(b))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected file %s", what, p)
		}
	}
}

// modelFixture is a run with model files, registered as fraud-detector
// versions 1 and 2 (alias champion -> 1), plus two more models.
type modelFixture struct {
	s      *lodeServer
	runID  string
	root   string            // artifact path of the run's artifacts
	files  map[string][]byte // under root/model, by relative path
	others []string
}

func newModelFixture(t *testing.T) *modelFixture {
	t.Helper()
	s := startServer(t, t.TempDir(), "--access-log=false")
	run := get(s.must("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "run", "info")
	f := &modelFixture{s: s, runID: get(run, "run_id").(string)}
	uri := get(run, "artifact_uri").(string)
	f.root = strings.TrimLeft(strings.TrimPrefix(uri, "mlflow-artifacts:"), "/")
	weights := make([]byte, 300_001)
	rand.New(rand.NewSource(1)).Read(weights)
	f.files = map[string][]byte{
		"MLmodel":                   []byte("artifact_path: model\nflavors:\n  python_function: {}\n"),
		"requirements.txt":          []byte("scikit-learn==1.5.0\n"),
		"empty.txt":                 {},
		"data/model.pkl":            weights,
		"data/nested/deep/cfg.json": []byte(`{"k": [1, 2, 3]}`),
	}
	for p, b := range f.files {
		s.must("PUT", "/api/2.0/mlflow-artifacts/artifacts/"+f.root+"/model/"+p, b)
	}
	s.must("PUT", "/api/2.0/mlflow-artifacts/artifacts/"+f.root+"/not-the-model.txt", []byte("x"))
	s.must("POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "fraud-detector", "description": "Detects fraudulent payments"})
	s.must("POST", "/api/2.0/mlflow/registered-models/set-tag", map[string]any{"name": "fraud-detector", "key": "team", "value": "risk"})
	for i := 0; i < 2; i++ {
		s.must("POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": "fraud-detector", "source": "runs:/" + f.runID + "/model"})
	}
	s.must("POST", "/api/2.0/mlflow/model-versions/transition-stage", map[string]any{"name": "fraud-detector", "version": "2", "stage": "Staging"})
	f.others = []string{"fraud-scorer", "churn-model"}
	for _, n := range f.others {
		s.must("POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": n})
	}
	return f
}

func names(t *testing.T, m map[string]any, key string) []string {
	t.Helper()
	items, ok := m[key].([]any)
	if !ok {
		t.Fatalf("no %q list in %v", key, m)
	}
	var out []string
	for _, it := range items {
		out = append(out, get(it, "name").(string))
	}
	sort.Strings(out)
	return out
}

func TestModelsCommands(t *testing.T) {
	f := newModelFixture(t)
	uri := f.s.url

	// alias set, text and JSON.
	out, _ := modelsOK(t, uri, "models", "alias", "set", "fraud-detector", "champion", "1")
	if out != "Alias champion of model fraud-detector now points to version 1 (models:/fraud-detector@champion).\n" {
		t.Errorf("alias set: %q", out)
	}
	j := modelsJSON(t, uri, "models", "alias", "set", "fraud-detector", "canary", "2")
	if j["name"] != "fraud-detector" || j["alias"] != "canary" || j["version"] != "2" {
		t.Errorf("alias set --json: %v", j)
	}

	// list: a table; JSON; filter; pages followed; max results.
	out, _ = modelsOK(t, uri, "models", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^NAME\s+LATEST\s+ALIASES\s+UPDATED\s+DESCRIPTION$`).MatchString(lines[0]) {
		t.Fatalf("models list:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^fraud-detector\s+2\s+(champion=1,canary=2|canary=2,champion=1)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s+Detects fraudulent payments$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^churn-model\s+-\s+-\s+`).MatchString(out) {
		t.Errorf("models list rows:\n%s", out)
	}
	j = modelsJSON(t, uri, "models", "list")
	if got := names(t, j, "registered_models"); strings.Join(got, ",") != "churn-model,fraud-detector,fraud-scorer" {
		t.Errorf("list --json names = %v", got)
	}
	j = modelsJSON(t, uri, "models", "list", "--filter", "name LIKE 'fraud%'")
	if got := names(t, j, "registered_models"); strings.Join(got, ",") != "fraud-detector,fraud-scorer" {
		t.Errorf("list --filter names = %v", got)
	}
	j = modelsJSON(t, uri, "models", "list", "--page-size", "1")
	if got := names(t, j, "registered_models"); len(got) != 3 {
		t.Errorf("list --page-size 1 (3 pages) names = %v", got)
	}
	j = modelsJSON(t, uri, "models", "list", "--page-size", "1", "--max-results", "2")
	if got := names(t, j, "registered_models"); len(got) != 2 {
		t.Errorf("list --max-results 2 names = %v", got)
	}
	j = modelsJSON(t, uri, "models", "list", "--filter", "name = 'nothing'")
	if items, ok := j["registered_models"].([]any); !ok || len(items) != 0 {
		t.Errorf("empty list --json = %v, want an empty list", j)
	}
	if out, _ := modelsOK(t, uri, "models", "list", "--filter", "name = 'nothing'"); out != "No registered models.\n" {
		t.Errorf("empty list text = %q", out)
	}

	// show.
	out, _ = modelsOK(t, uri, "models", "show", "fraud-detector")
	for _, re := range []string{
		`(?m)^Name:\s+fraud-detector$`, `(?m)^Description:\s+Detects fraudulent payments$`,
		`(?m)^Tags:\s+team=risk$`, `(?m)^Aliases:\s+(champion=1,canary=2|canary=2,champion=1)$`,
		`(?m)^Created:\s+\d{4}-`, `(?m)^Latest versions:$`,
		`(?m)^  VERSION\s+STAGE\s+ALIASES\s+RUN_ID\s+SOURCE\s+CREATED$`,
		`(?m)^  2\s+Staging\s+canary\s+` + f.runID + `\s+runs:/` + f.runID + `/model\s+\d{4}-`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("models show lacks %s:\n%s", re, out)
		}
	}
	j = modelsJSON(t, uri, "models", "show", "fraud-detector")
	if get(j, "registered_model", "name") != "fraud-detector" || get(j, "registered_model", "description") != "Detects fraudulent payments" {
		t.Errorf("show --json = %v", j)
	}
	if as, _ := get(j, "registered_model", "aliases").([]any); len(as) != 2 {
		t.Errorf("show --json aliases = %v", get(j, "registered_model", "aliases"))
	}

	// versions: newest first, with stage, aliases, run id, source.
	out, _ = modelsOK(t, uri, "models", "versions", "fraud-detector")
	lines = strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^VERSION\s+STAGE\s+ALIASES\s+RUN_ID\s+SOURCE\s+CREATED$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^2\s+Staging\s+canary\s+`+f.runID+`\s+runs:/`+f.runID+`/model\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^1\s+None\s+champion\s+`+f.runID+`\s+runs:/`+f.runID+`/model\s+\d{4}-`).MatchString(lines[2]) {
		t.Errorf("models versions:\n%s", out)
	}
	j = modelsJSON(t, uri, "models", "versions", "fraud-detector")
	vs, _ := j["model_versions"].([]any)
	if len(vs) != 2 || get(vs[0], "version") != "2" || get(vs[1], "version") != "1" ||
		get(vs[1], "run_id") != f.runID || get(vs[1], "source") != "runs:/"+f.runID+"/model" ||
		get(vs[0], "current_stage") != "Staging" || get(vs[1], "aliases").([]any)[0] != "champion" {
		t.Errorf("versions --json = %v", j)
	}
	if out, _ := modelsOK(t, uri, "models", "versions", "churn-model"); out != "Model churn-model has no versions.\n" {
		t.Errorf("versions of a model without versions: %q", out)
	}

	// download, by URI with an alias: every file, byte for byte, atomically
	// (no temporary file left), with a progress line per file.
	dst := filepath.Join(t.TempDir(), "dl")
	out, errOut := modelsOK(t, uri, "models", "download", "models:/fraud-detector@champion", "--dst", dst)
	sameTree(t, "download @champion", readTree(t, dst), f.files)
	if !strings.HasPrefix(out, "Downloaded 5 files (") || !strings.Contains(out, "of models:/fraud-detector@champion (version 1, mlflow-artifacts:/"+f.root+"/model) to "+dst) {
		t.Errorf("download stdout: %q", out)
	}
	progress := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
	if len(progress) != len(f.files) || !regexp.MustCompile(`^\[1/5\] \S.* \(\d+ bytes\)$`).MatchString(progress[0]) ||
		!strings.Contains(errOut, "data/model.pkl (300001 bytes)") {
		t.Errorf("download progress on stderr:\n%s", errOut)
	}
	// Again into the same directory (files are replaced), by version, JSON.
	j = modelsJSON(t, uri, "models", "download", "models:/fraud-detector/2", "--dst", dst)
	sameTree(t, "download /2", readTree(t, dst), f.files)
	if j["version"] != "2" || j["name"] != "fraud-detector" || j["artifact_uri"] != "mlflow-artifacts:/"+f.root+"/model" ||
		j["bytes"] != float64(300001+len(f.files["MLmodel"])+len(f.files["requirements.txt"])+len(f.files["data/nested/deep/cfg.json"])) {
		t.Errorf("download --json = %v", j)
	}
	if fl, _ := j["files"].([]any); len(fl) != 5 {
		t.Errorf("download --json files = %v", j["files"])
	}
	// NAME with --alias, --version, and a stage or latest.
	for _, args := range [][]string{
		{"fraud-detector", "--alias", "canary"}, {"fraud-detector", "--version", "1"},
		{"fraud-detector", "--version", "latest"}, {"models:/fraud-detector/Staging"},
	} {
		d := filepath.Join(t.TempDir(), "d")
		modelsOK(t, uri, append([]string{"models", "download", "--dst", d}, args...)...)
		sameTree(t, "download "+strings.Join(args, " "), readTree(t, d), f.files)
	}

	// --tracking-uri beats MLFLOW_TRACKING_URI.
	if out, _ := modelsOK(t, "http://127.0.0.1:1", "models", "show", "churn-model", "--tracking-uri", uri); !strings.Contains(out, "churn-model") {
		t.Errorf("--tracking-uri: %q", out)
	}

	// alias delete, then the alias is gone.
	if out, _ := modelsOK(t, uri, "models", "alias", "delete", "fraud-detector", "canary"); out != "Deleted alias canary of model fraud-detector.\n" {
		t.Errorf("alias delete: %q", out)
	}
	j = modelsJSON(t, uri, "models", "alias", "delete", "fraud-detector", "champion")
	if j["deleted"] != true || j["alias"] != "champion" {
		t.Errorf("alias delete --json: %v", j)
	}
	if out, _ := modelsOK(t, uri, "models", "show", "fraud-detector"); !regexp.MustCompile(`(?m)^Aliases:\s+-$`).MatchString(out) {
		t.Errorf("aliases after delete:\n%s", out)
	}
}

// TestModelsErrors: server errors are shown as CODE: message with exit 1,
// and bad usage is refused before any request.
func TestModelsErrors(t *testing.T) {
	f := newModelFixture(t)
	uri := f.s.url
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"models", "show", "nope"}, "lode: RESOURCE_DOES_NOT_EXIST: Registered Model with name=nope not found\n"},
		{[]string{"models", "versions", "nope"}, "lode: RESOURCE_DOES_NOT_EXIST: Registered Model with name=nope not found\n"},
		{[]string{"models", "show", "nope", "--json"}, "lode: RESOURCE_DOES_NOT_EXIST: Registered Model with name=nope not found\n"},
		{[]string{"models", "download", "models:/nope/1", "--dst", "x"}, "lode: RESOURCE_DOES_NOT_EXIST: Model Version (name=nope, version=1) not found\n"},
		{[]string{"models", "download", "models:/fraud-detector@nope", "--dst", "x"}, "lode: INVALID_PARAMETER_VALUE: Registered model alias nope not found.\n"},
		{[]string{"models", "download", "models:/fraud-detector/7", "--dst", "x"}, "lode: RESOURCE_DOES_NOT_EXIST: Model Version (name=fraud-detector, version=7) not found\n"},
		{[]string{"models", "download", "models:/fraud-detector/Production", "--dst", "x"}, "lode: RESOURCE_DOES_NOT_EXIST: Registered model fraud-detector has no version in stage Production.\n"},
		{[]string{"models", "alias", "set", "nope", "a", "1"}, "lode: RESOURCE_DOES_NOT_EXIST: Model Version (name=nope, version=1) not found\n"},
		{[]string{"models", "alias", "set", "fraud-detector", "latest", "1"}, "lode: INVALID_PARAMETER_VALUE: 'latest' alias name (case insensitive) is reserved.\n"},
		{[]string{"models", "list", "--filter", "bogus = 1"}, "lode: INVALID_PARAMETER_VALUE: "},
		{[]string{"models", "download", "fraud-detector", "--dst", "x"}, "lode: which version of fraud-detector?"},
		{[]string{"models", "download", "models:/fraud-detector", "--dst", "x"}, "lode: invalid model URI"},
		{[]string{"models", "download", "models:/fraud-detector/1", "--version", "1", "--dst", "x"}, "lode: --version and --alias go with a model NAME"},
		{[]string{"models", "download", "models:/fraud-detector/1"}, `lode: required flag(s) "dst" not set`},
		{[]string{"models", "show"}, "lode: accepts 1 arg(s), received 0"},
		{[]string{"models", "alias", "set", "a", "b"}, "lode: accepts 3 arg(s), received 2"},
		{[]string{"models", "nosuch"}, `lode: unknown command "nosuch" for "lode models"`},
		{[]string{"models", "list", "--tracking-uri", "file:///tmp/mlruns"}, `lode: tracking URI "file:///tmp/mlruns"`},
	} {
		out, errOut, code := modelsCLI(t, uri, c.args...)
		if code != 1 || !strings.HasPrefix(errOut, c.want) || out != "" {
			t.Errorf("lode %s: exit %d, stdout %q, stderr %q; want exit 1 and stderr %q", strings.Join(c.args, " "), code, out, errOut, c.want)
		}
	}
	// No server there.
	_, errOut, code := modelsCLI(t, "", "models", "list", "--tracking-uri", "http://127.0.0.1:1")
	if code != 1 || !strings.HasPrefix(errOut, "lode: cannot reach the tracking server at http://127.0.0.1:1:") {
		t.Errorf("unreachable server: exit %d, %q", code, errOut)
	}
	// A failed download leaves nothing behind.
	dst := filepath.Join(t.TempDir(), "dl")
	modelsCLI(t, uri, "models", "download", "models:/nope/1", "--dst", dst)
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed download created %s: %v", dst, err)
	}
}

// TestModelsDownloadRefusesTraversal puts a proxy in front of the real
// server that rewrites one directory listing to name a file outside --dst;
// the download must fail before writing anything.
func TestModelsDownloadRefusesTraversal(t *testing.T) {
	f := newModelFixture(t)
	target, _ := url.Parse(f.s.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var (
		mu      sync.Mutex
		current map[string]any // the crafted entry
	)
	setEntry := func(e map[string]any) {
		mu.Lock()
		current = e
		mu.Unlock()
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/2.0/mlflow-artifacts/artifacts" && r.URL.Query().Get("path") == f.root+"/model/data/nested" {
			mu.Lock()
			defer mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"files": []any{
				map[string]any{"path": "deep", "is_dir": true},
				current,
			}})
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	base := t.TempDir()
	for i, name := range []string{"../../../../evil.txt", "../evil.txt", "/tmp/lode-evil.txt", `..\..\evil.txt`,
		"deep/../../../../evil.txt", "..", "C:/evil.txt", ""} {
		for _, isDir := range []bool{false, true} {
			setEntry(map[string]any{"path": name, "is_dir": isDir, "file_size": 5})
			work := filepath.Join(base, strings.Repeat("w", i+1), "a", "b")
			dst := filepath.Join(work, "dst")
			_, errOut, code := modelsCLI(t, front.URL, "models", "download", "models:/fraud-detector/1", "--dst", dst)
			if code != 1 || !strings.HasPrefix(errOut, "lode: refusing the artifact listing of ") ||
				!strings.Contains(errOut, "would escape the download directory") {
				t.Errorf("listing naming %q (dir %v): exit %d, stderr %q; want a refusal", name, isDir, code, errOut)
			}
			if got := readTree(t, filepath.Join(base, strings.Repeat("w", i+1))); len(got) != 0 {
				var written []string
				for p := range got {
					written = append(written, p)
				}
				t.Errorf("listing naming %q: files written: %v", name, written)
			}
		}
	}
	if _, err := os.Stat("/tmp/lode-evil.txt"); err == nil {
		t.Error("/tmp/lode-evil.txt was written")
	}
	// The same proxy with a clean listing downloads fine.
	setEntry(map[string]any{"path": "clean.txt", "is_dir": false, "file_size": 1})
	_, errOut, code := modelsCLI(t, front.URL, "models", "download", "models:/fraud-detector/1", "--dst", filepath.Join(base, "ok"))
	// clean.txt is listed but does not exist on the server: a 404 for it.
	if code != 1 || !strings.Contains(errOut, "downloading data/nested/clean.txt: RESOURCE_DOES_NOT_EXIST") {
		t.Errorf("download of a listed but missing file: exit %d, %q", code, errOut)
	}
	// Nothing half-written: only whole files, no temporary ones.
	for p := range readTree(t, filepath.Join(base, "ok")) {
		if strings.Contains(p, ".lode-download-") {
			t.Errorf("temporary file left behind: %s", p)
		}
	}
}

// TestModelsHelp: every command has --help with the shared flags.
func TestModelsHelp(t *testing.T) {
	for _, args := range [][]string{
		{"models"}, {"models", "list"}, {"models", "show"}, {"models", "versions"},
		{"models", "alias"}, {"models", "alias", "set"}, {"models", "alias", "delete"}, {"models", "download"},
	} {
		out, errOut, code := modelsCLI(t, "", append(args, "--help")...)
		if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "--json") || !strings.Contains(out, "--tracking-uri") {
			t.Errorf("lode %s --help: exit %d, stderr %q\n%s", strings.Join(args, " "), code, errOut, out)
		}
	}
	out, _, _ := modelsCLI(t, "", "models", "list", "--help")
	for _, want := range []string{"--filter", "--max-results", "--page-size", "MLFLOW_TRACKING_URI"} {
		if !strings.Contains(out, want) {
			t.Errorf("models list --help lacks %s:\n%s", want, out)
		}
	}
	out, _, _ = modelsCLI(t, "", "models", "download", "--help")
	for _, want := range []string{"--dst", "--version", "--alias", "models:/NAME@ALIAS"} {
		if !strings.Contains(out, want) {
			t.Errorf("models download --help lacks %s:\n%s", want, out)
		}
	}
	if out, _, code := modelsCLI(t, "", "--help"); code != 0 || !strings.Contains(out, "models") {
		t.Errorf("lode --help does not list models:\n%s", out)
	}
}

// TestModelsSearch finds registered versions in the model library by
// flavor and signature.
func TestModelsSearch(t *testing.T) {
	f := newModelFixture(t)
	s := f.s
	run := get(s.must("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "run", "info")
	root := strings.TrimLeft(strings.TrimPrefix(get(run, "artifact_uri").(string), "mlflow-artifacts:"), "/")
	cols := make([]string, 11)
	for i := range cols {
		cols[i] = fmt.Sprintf(`{"type": "double", "name": "x%d"}`, i)
	}
	mlmodel := "flavors:\n  sklearn: {}\n  python_function: {}\nsignature:\n  inputs: '[" + strings.Join(cols, ", ") + "]'\n"
	s.must("PUT", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/model/MLmodel", []byte(mlmodel))
	s.must("POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "wide"})
	s.must("POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": "wide", "source": "runs:/" + get(run, "run_id").(string) + "/model"})

	j := modelsJSON(t, s.url, "models", "search", "--inputs", "11", "--input-type", "float")
	if got := names(t, j, "model_versions"); strings.Join(got, ",") != "wide" {
		t.Errorf("11 float inputs: %v", got)
	}
	j = modelsJSON(t, s.url, "models", "search", "--flavor", "python_function")
	if got := names(t, j, "model_versions"); strings.Join(got, ",") != "fraud-detector,wide" {
		t.Errorf("python_function, newest only: %v", got)
	}
	j = modelsJSON(t, s.url, "models", "search", "--flavor", "python_function", "--all-versions")
	if got := names(t, j, "model_versions"); strings.Join(got, ",") != "fraud-detector,fraud-detector,wide" {
		t.Errorf("python_function, all versions: %v", got)
	}
	out, _ := modelsOK(t, s.url, "models", "search", "--flavor", "sklearn")
	if !strings.Contains(out, "wide") || !strings.Contains(out, "11 x float") || strings.Contains(out, "fraud-detector") {
		t.Errorf("table:\n%s", out)
	}
	if out, _ := modelsOK(t, s.url, "models", "search", "--flavor", "onnx"); !strings.Contains(out, "No models match.") {
		t.Errorf("no match: %q", out)
	}
}
