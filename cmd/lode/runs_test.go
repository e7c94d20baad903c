package main

// End-to-end tests of `lode experiments` and `lode runs`: the built binary
// against a real `lode server` child process, and of the command line's
// help, suggestions and flag checks.

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// logRun creates a run in exp with params, metrics and tags, through the
// REST API, and returns its id.
func logRun(t *testing.T, s *lodeServer, exp, name string, params map[string]string, metrics map[string]any, tags map[string]string) string {
	t.Helper()
	id, _ := get(s.must("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp, "run_name": name, "start_time": 1700000000000}), "run", "info", "run_id").(string)
	var ps, ms, ts []map[string]any
	for k, v := range params {
		ps = append(ps, map[string]any{"key": k, "value": v})
	}
	for k, v := range metrics {
		ms = append(ms, map[string]any{"key": k, "value": v, "timestamp": 1700000000000, "step": 3})
	}
	for k, v := range tags {
		ts = append(ts, map[string]any{"key": k, "value": v})
	}
	s.must("POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": id, "params": ps, "metrics": ms, "tags": ts})
	s.must("POST", "/api/2.0/mlflow/runs/update", map[string]any{"run_id": id, "status": "FINISHED", "end_time": 1700000065000})
	return id
}

func compactJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// runIDs are the run ids of a `runs list --json` answer, in order.
func runIDs(t *testing.T, m map[string]any) []string {
	t.Helper()
	rs, _ := m["runs"].([]any)
	ids := []string{}
	for _, r := range rs {
		ids = append(ids, get(r, "info", "run_id").(string))
	}
	return ids
}

func TestRunsAndExperimentsCommands(t *testing.T) {
	s := startServer(t, t.TempDir(), "--access-log=false", "--jobs=false")
	uri := s.url

	// experiments create, list, and the same name twice.
	created := modelsJSON(t, uri, "experiments", "create", "wine", "--tag", "team=research")
	wine, _ := created["experiment_id"].(string)
	if wine == "" {
		t.Fatalf("experiments create --json: %v", created)
	}
	if _, errOut, code := modelsCLI(t, uri, "experiments", "create", "wine"); code != 1 || !strings.HasPrefix(errOut, "lode: RESOURCE_ALREADY_EXISTS") {
		t.Errorf("creating wine twice: exit %d, %q", code, errOut)
	}
	out, _ := modelsOK(t, uri, "experiments", "create", "other")
	if !regexp.MustCompile(`^Created experiment other with id \d+\.\n$`).MatchString(out) {
		t.Errorf("experiments create: %q", out)
	}
	if got := names(t, modelsJSON(t, uri, "experiments", "list"), "experiments"); strings.Join(got, ",") != "Default,other,wine" {
		t.Errorf("experiments list: %v", got)
	}
	exps := modelsJSON(t, uri, "experiments", "list", "--filter", "tags.team = 'research'")
	if got := names(t, exps, "experiments"); strings.Join(got, ",") != "wine" {
		t.Errorf("experiments list --filter: %v", got)
	}
	if tags := get(exps["experiments"].([]any)[0], "tags"); !strings.Contains(compactJSON(tags), `"team"`) {
		t.Errorf("the experiment's tags: %v", tags)
	}
	out, _ = modelsOK(t, uri, "experiments", "list")
	if !strings.Contains(out, "ID  NAME") || !strings.Contains(out, "wine") || !strings.Contains(out, "mlflow-artifacts:/"+wine) {
		t.Errorf("experiments list:\n%s", out)
	}

	// Three runs in wine, one in Default.
	a := logRun(t, s, wine, "a", map[string]string{"alpha": "0.1", "l1": "0.9"}, map[string]any{"rmse": 0.5, "r2": 0.8}, map[string]string{"team": "x"})
	b := logRun(t, s, wine, "b", map[string]string{"alpha": "0.5", "l1": "0.9"}, map[string]any{"rmse": 0.75, "r2": "NaN"}, map[string]string{"team": "x"})
	c := logRun(t, s, wine, "c", map[string]string{"alpha": "0.9"}, map[string]any{"rmse": 0.25}, nil)
	d := logRun(t, s, "0", "d", nil, map[string]any{"rmse": 1}, nil)

	asSet := func(ids []string) string { sort.Strings(ids); return strings.Join(ids, ",") }
	if got, want := asSet(runIDs(t, modelsJSON(t, uri, "runs", "list", "--experiment", "wine"))), asSet([]string{a, b, c}); got != want {
		t.Errorf("runs list --experiment wine: %v, want %v", got, want)
	}
	if got, want := asSet(runIDs(t, modelsJSON(t, uri, "runs", "list", "-e", wine, "-e", "0"))), asSet([]string{a, b, c, d}); got != want {
		t.Errorf("runs list by ids: %v, want %v", got, want)
	}
	if got, want := asSet(runIDs(t, modelsJSON(t, uri, "runs", "list"))), asSet([]string{a, b, c, d}); got != want {
		t.Errorf("runs list of every experiment: %v, want %v", got, want)
	}
	ordered := runIDs(t, modelsJSON(t, uri, "runs", "list", "-e", "wine", "--filter", "metrics.rmse < 0.7", "--order-by", "metrics.rmse ASC"))
	if strings.Join(ordered, ",") != c+","+a {
		t.Errorf("runs list --filter --order-by: %v, want [%s %s]", ordered, c, a)
	}
	if got := runIDs(t, modelsJSON(t, uri, "runs", "list", "-e", "wine", "--order-by", "params.alpha DESC", "--max-results", "1")); strings.Join(got, ",") != c {
		t.Errorf("runs list --max-results 1: %v, want [%s]", got, c)
	}
	out, _ = modelsOK(t, uri, "runs", "list", "-e", "wine")
	for _, want := range []string{"RUN ID", a, b, c, wine + " (wine)", "FINISHED", "1m5s"} {
		if !strings.Contains(out, want) {
			t.Errorf("runs list lacks %q:\n%s", want, out)
		}
	}

	// runs show.
	show := modelsJSON(t, uri, "runs", "show", b)
	if get(show, "run", "info", "run_name") != "b" || !strings.Contains(compactJSON(get(show, "run", "data", "metrics")), `"value":"NaN"`) {
		t.Errorf("runs show --json: %v", show)
	}
	out, _ = modelsOK(t, uri, "runs", "show", b)
	for _, re := range []string{`Run:\s+` + b, `Name:\s+b\n`, `Experiment:\s+` + wine, `Status:\s+FINISHED`, `Duration:\s+1m5s`,
		`Params:\n\s+alpha\s+0\.5\n\s+l1\s+0\.9\n`, `\n\s+r2\s+NaN\s+3\s`, `\n\s+rmse\s+0\.75\s+3\s`, `Tags:\n(.*\n)*\s+team\s+x\n`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("runs show lacks %s:\n%s", re, out)
		}
	}
	if _, errOut, code := modelsCLI(t, uri, "runs", "show", "0123456789abcdef0123456789abcdef"); code != 1 || !strings.HasPrefix(errOut, "lode: RESOURCE_DOES_NOT_EXIST") {
		t.Errorf("runs show of no run: exit %d, %q", code, errOut)
	}

	// runs compare: side by side, differences marked.
	cmp := modelsJSON(t, uri, "runs", "compare", a, b, c)
	rows := func(section string) map[string]string {
		out := map[string]string{}
		for _, r := range cmp[section].([]any) {
			out[get(r, "key").(string)] = compactJSON(get(r, "values")) + " " + compactJSON(get(r, "differ"))
		}
		return out
	}
	if got, want := rows("params"), map[string]string{"alpha": `["0.1","0.5","0.9"] true`, "l1": `["0.9","0.9",null] true`}; compactJSON(got) != compactJSON(want) {
		t.Errorf("compare params: %v, want %v", got, want)
	}
	if got, want := rows("metrics"), map[string]string{"r2": `[0.8,"NaN",null] true`, "rmse": `[0.5,0.75,0.25] true`}; compactJSON(got) != compactJSON(want) {
		t.Errorf("compare metrics: %v, want %v", got, want)
	}
	if got, want := rows("tags"), map[string]string{"team": `["x","x",null] true`}; compactJSON(got) != compactJSON(want) {
		t.Errorf("compare tags (mlflow.* left out): %v, want %v", got, want)
	}
	cmp = modelsJSON(t, uri, "runs", "compare", a, b)
	if got := rows("params"); got["l1"] != `["0.9","0.9"] false` {
		t.Errorf("compare of equal values: %v", got)
	}
	cmp = modelsJSON(t, uri, "runs", "compare", a, b, "--only-diff")
	if got := rows("params"); len(got) != 1 || got["alpha"] == "" {
		t.Errorf("compare --only-diff: %v", got)
	}
	out, _ = modelsOK(t, uri, "runs", "compare", a, b)
	for _, re := range []string{`RUN\s+` + a[:8] + `\s+` + b[:8] + `\n`, `\n\*\s+alpha\s+0\.1\s+0\.5\n`, `\n\s+l1\s+0\.9\s+0\.9\n`,
		`\n\*\s+r2\s+0\.8\s+NaN\n`, `\* differs between the runs`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("runs compare lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "* l1") || regexp.MustCompile(`\*\s+l1`).MatchString(out) {
		t.Errorf("runs compare marks equal values:\n%s", out)
	}
	if _, errOut, code := modelsCLI(t, uri, "runs", "compare", a); code != 1 || !strings.Contains(errOut, "requires at least 2 arg(s)") {
		t.Errorf("compare of one run: exit %d, %q", code, errOut)
	}

	// experiments delete, by name; its runs go with it.
	out, _ = modelsOK(t, uri, "experiments", "delete", "wine")
	if out != "Deleted experiment "+wine+" (wine).\n" {
		t.Errorf("experiments delete: %q", out)
	}
	if got := names(t, modelsJSON(t, uri, "experiments", "list", "--view", "deleted"), "experiments"); strings.Join(got, ",") != "wine" {
		t.Errorf("experiments list --view deleted: %v", got)
	}
	if got := runIDs(t, modelsJSON(t, uri, "runs", "list")); strings.Join(got, ",") != d {
		t.Errorf("runs list after the delete: %v, want [%s]", got, d)
	}
	if got, want := asSet(runIDs(t, modelsJSON(t, uri, "runs", "list", "--view", "all"))), asSet([]string{a, b, c, d}); got != want {
		t.Errorf("runs list --view all: %v, want %v", got, want)
	}
	// A deleted run of an active experiment is found too.
	s.must("POST", "/api/2.0/mlflow/runs/delete", map[string]any{"run_id": d})
	if got, want := asSet(runIDs(t, modelsJSON(t, uri, "runs", "list", "--view", "deleted"))), asSet([]string{a, b, c, d}); got != want {
		t.Errorf("runs list --view deleted: %v, want %v", got, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"runs", "list", "--experiment", "nope"}, `lode: no experiment with the id or name "nope"`},
		{[]string{"experiments", "delete", "nope"}, `lode: no experiment with the id or name "nope"`},
		{[]string{"runs", "list", "--view", "some"}, `lode: --view "some": want active, deleted or all`},
		{[]string{"runs", "list", "--filter", "bogus = 1"}, "lode: INVALID_PARAMETER_VALUE: "},
		{[]string{"experiments", "create", "x", "--tag", "novalue"}, `lode: --tag "novalue": want KEY=VALUE`},
		{[]string{"runs", "list", "--tracking-uri", "file:///tmp/mlruns"}, `lode: tracking URI "file:///tmp/mlruns": lode runs talks to a server over http:// or https://`},
	} {
		out, errOut, code := modelsCLI(t, uri, c.args...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, c.want) {
			t.Errorf("lode %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", strings.Join(c.args, " "), code, out, errOut, c.want)
		}
	}
}

// The client commands sign in as the mlflow client does.
func TestRunsCommandSignsIn(t *testing.T) {
	t.Setenv("LODE_ADMIN_PASSWORD", "")
	s := startServer(t, t.TempDir(), "--admin-user", "admin", "--access-log=false", "--jobs=false")
	m := regexp.MustCompile(`Its password, shown only this once:\s+(\S+)`).FindStringSubmatch(s.log.String())
	if m == nil {
		t.Fatalf("no admin password:\n%s", s.log)
	}
	lode := func(env ...string) (string, string, error) {
		cmd := exec.Command(lodeBin, "experiments", "list", "--json")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), append([]string{"MLFLOW_TRACKING_URI=" + s.url, "MLFLOW_TRACKING_USERNAME=", "MLFLOW_TRACKING_PASSWORD=", "MLFLOW_TRACKING_TOKEN="}, env...)...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	if _, errOut, err := lode(); err == nil || !strings.Contains(errOut, "UNAUTHENTICATED") {
		t.Errorf("without credentials: %v %q", err, errOut)
	}
	out, errOut, err := lode("MLFLOW_TRACKING_USERNAME=admin", "MLFLOW_TRACKING_PASSWORD="+m[1])
	var got struct{ Experiments []struct{ Name string } }
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got.Experiments) != 1 || got.Experiments[0].Name != "Default" {
		t.Errorf("with the admin's password: %v %q %q", err, out, errOut)
	}
}

// Mistyped commands and flags get the nearest names, at every level;
// --version prints what lode version does; a bare small --memory is
// refused; the top-level help describes what Lode is.
func TestCommandLineHelps(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sever"}, "lode: unknown command \"sever\" for \"lode\"\n\nDid you mean this?\n\tserve\n\tserver\n"},
		{[]string{"job", "lst"}, "lode: unknown command \"lst\" for \"lode job\"\n\nDid you mean this?\n\tlist\n"},
		{[]string{"models", "alias", "st"}, "Did you mean this?\n\tset\n"},
		{[]string{"runs", "cmpare", "x"}, "Did you mean this?\n\tcompare\n"},
		{[]string{"experiments", "lst"}, "Did you mean this?\n\tlist\n"},
		{[]string{"deploy", "craete"}, "Did you mean this?\n\tcreate\n"},
		{[]string{"server", "--prot", "1"}, "lode: unknown flag: --prot\n\nDid you mean this?\n\t--port\n"},
		{[]string{"runs", "list", "--experimnet", "x"}, "Did you mean this?\n\t--experiment\n"},
		{[]string{"job", "nosuch"}, "lode: unknown command \"nosuch\" for \"lode job\"\n\nRun 'lode job --help' for usage"},
		{[]string{"job", "submit", "--memory", "5", "--", "true"}, `lode: --memory: "5" has no unit and would be 5 bytes: did you mean 5Gi (or 5G)?`},
		{[]string{"run", ".", "--memory", "16"}, `did you mean 16Gi (or 16G)?`},
		{[]string{"server", "--port", "0", "--job-memory", "64"}, `lode: --job-memory: "64" has no unit and would be 64 bytes: did you mean 64Gi (or 64G)?`},
		{[]string{"deploy", "list", "--tracking-uri", "file:///x"}, `lode: tracking URI "file:///x": lode deploy talks to a server`},
		{[]string{"job", "list", "--tracking-uri", "file:///x"}, `lode job talks to a server`},
	} {
		_, errOut, code := runLode(t, c.args...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("lode %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
	v, _, code := runLode(t, "version")
	if out, _, c := runLode(t, "--version"); c != 0 || code != 0 || out != v {
		t.Errorf("lode --version: exit %d, %q; lode version: %q", c, out, v)
	}
	// A group with no command shows its help.
	if out, _, code := runLode(t, "runs"); code != 0 || !strings.Contains(out, "compare") {
		t.Errorf("lode runs: exit %d\n%s", code, out)
	}
	out, _, code := runLode(t, "--help")
	for _, want := range []string{"tracking and registry", "web UI", "model serving", "jobs and projects", "users and permissions", "--data-dir",
		"experiments", "runs", "--version"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("lode --help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "more to come") {
		t.Errorf("lode --help still promises more to come:\n%s", out)
	}
}
