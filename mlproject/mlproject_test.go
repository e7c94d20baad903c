package mlproject

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	lode "github.com/lode-ml/lode"
)

// P builds an ordered parameter list from key, value, key, value ...
func P(kv ...string) []Param {
	var out []Param
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Param{kv[i], kv[i+1]})
	}
	return out
}

type cmdCase struct {
	name   string
	dir    string // under testdata
	entry  string
	params []Param
	// want is the command; $DATA stands for the quoted absolute path of
	// testdata/types/data.csv.
	want    string
	wantLog map[string]string // LogParams, when checked
	wantErr string            // a substring of the error
	code    string            // its code (EInvalid when wantErr is set and code is not)
	// differs says why Lode deliberately differs from MLflow here; the
	// live cross-check skips such cases.
	differs string
}

// The expected commands, log params and errors of the cases without
// `differs` were checked against mlflow 3.17.2 (load_project,
// get_entry_point, compute_command, compute_parameters), with SHELL=bash
// and each project folder as the working directory; TestAgainstMLflow
// re-checks them when LODE_TEST_PYTHON names a Python with mlflow.
var cmdCases = []cmdCase{
	// MLflow's examples/sklearn_elasticnet_wine.
	{name: "wine defaults", dir: "sklearn_elasticnet_wine", entry: "main",
		want: "python train.py 0.5 0.1", wantLog: map[string]string{"alpha": "0.5", "l1_ratio": "0.1"}},
	{name: "wine alpha", dir: "sklearn_elasticnet_wine", entry: "main", params: P("alpha", "0.42"),
		want: "python train.py 0.42 0.1"},
	{name: "wine both", dir: "sklearn_elasticnet_wine", entry: "main", params: P("l1_ratio", "0.9", "alpha", "0.42"),
		want: "python train.py 0.42 0.9"},
	{name: "quote spaces", dir: "noenv", entry: "main", params: P("msg", "a b"),
		want: "echo 'a b'", wantLog: map[string]string{"msg": "'a b'"}},
	{name: "quote quote", dir: "noenv", entry: "main", params: P("msg", "it's"),
		want: `echo 'it'"'"'s'`},
	{name: "quote subst", dir: "noenv", entry: "main", params: P("msg", "$(rm -rf /)"),
		want: "echo '$(rm -rf /)'", wantLog: map[string]string{"msg": "'$(rm -rf /)'"}},
	{name: "quote backticks", dir: "noenv", entry: "main", params: P("msg", "`id`; echo $HOME"),
		want: "echo '`id`; echo $HOME'"},
	{name: "quote empty", dir: "noenv", entry: "main", params: P("msg", ""),
		want: "echo ''"},
	{name: "unknown params appended", dir: "sklearn_elasticnet_wine", entry: "main",
		params: P("alpha", "0.42", "max_iter", "100", "note", "a b; echo pwned"),
		want:   "python train.py 0.42 0.1 --max_iter 100 --note 'a b; echo pwned'",
		wantLog: map[string]string{"alpha": "0.42", "l1_ratio": "0.1", "max_iter": "100",
			"note": "'a b; echo pwned'"}},
	{name: "unknown key quoted", dir: "sklearn_elasticnet_wine", entry: "main", params: P("x y", "1"),
		want: "python train.py 0.5 0.1 --'x y' 1", wantLog: map[string]string{"alpha": "0.5", "l1_ratio": "0.1", "'x y'": "1"}},
	{name: "float abc", dir: "sklearn_elasticnet_wine", entry: "main", params: P("alpha", "abc"),
		wantErr: `parameter alpha must be a number (type float), got "abc"`,
		differs: "MLflow's docs say floats are validated; its code runs `python train.py abc 0.1`"},
	{name: "float empty", dir: "sklearn_elasticnet_wine", entry: "main", params: P("alpha", ""),
		wantErr: "parameter alpha must be a number", differs: "float validation"},
	{name: "float forms", dir: "sklearn_elasticnet_wine", entry: "main", params: P("alpha", "1e-3", "l1_ratio", "-inf"),
		want: "python train.py 1e-3 -inf"},
	// YAML defaults as PyYAML (YAML 1.1) reads them and Python's str writes them.
	{name: "yaml defaults", dir: "types", entry: "defaults",
		want: "echo 1e-3 0.001 8 True 26 1e+16 0.5 0.1 'quoted 1.0' 1000.5 80 inf 2001-12-14 '' 1e-05 -0.0",
		wantLog: map[string]string{"a": "1e-3", "b": "0.001", "c": "8", "d": "True", "e": "26", "f": "1e+16", "g": "0.5",
			"h": "0.1", "i": "'quoted 1.0'", "j": "1000.5", "k": "80", "l": "inf", "m": "2001-12-14", "n": "''", "o": "1e-05", "p": "-0.0"}},
	{name: "missing all", dir: "types", entry: "required",
		wantErr: "no value given for missing parameters: 'x', 'y', 'z'"},
	{name: "missing some", dir: "types", entry: "required", params: P("x", "1"),
		wantErr: "no value given for missing parameters: 'y', 'z'"},
	{name: "required given, braces", dir: "types", entry: "required", params: P("x", "1", "y", "two words", "z", "{y}"),
		want: "echo 1 'two words' '{y}' {literal}"},
	{name: "path default", dir: "types", entry: "files",
		want:    "python check.py --data $DATA --model s3://bucket/model",
		wantLog: map[string]string{"data": "data.csv", "model": "s3://bucket/model"}},
	{name: "path file uri", dir: "types", entry: "files", params: P("data", "file://$ABSDATA"),
		want: "python check.py --data $DATA --model s3://bucket/model"},
	{name: "path escaped", dir: "types", entry: "files", params: P("data", "dat%61.csv"),
		want: "python check.py --data $DATA --model s3://bucket/model"},
	{name: "path missing", dir: "types", entry: "files", params: P("data", "missing.csv"),
		wantErr: "got value missing.csv for parameter data, but no such file or directory was found"},
	{name: "path remote", dir: "types", entry: "files", params: P("data", "s3://bucket/data.csv"),
		wantErr: "Lode does not download path parameters", code: lode.ENotImplemented,
		differs: "MLflow downloads remote path parameters"},
	{name: "uri invalid", dir: "types", entry: "files", params: P("model", "not a uri"),
		wantErr: "expected URI for parameter model but got not a uri"},
	{name: "declared .py name wins", dir: "types", entry: "train.py", params: P("a", "1"),
		want: "python train.py --declared --a 1"},
	{name: "implicit beside MLproject", dir: "types", entry: "check.py", params: P("a", "1"),
		want: "python check.py --a 1"},
	// Implicit entry points (no MLproject file).
	{name: "implicit py", dir: "implicit", entry: "train.py",
		want: "python train.py", wantLog: map[string]string{}},
	{name: "implicit py params", dir: "implicit", entry: "train.py", params: P("epochs", "3", "name", "my run"),
		want: "python train.py --epochs 3 --name 'my run'", wantLog: map[string]string{"epochs": "3", "name": "'my run'"}},
	{name: "implicit sh", dir: "implicit", entry: "run.sh", params: P("k", "v"),
		want: "bash run.sh --k v"},
	{name: "implicit quoted name", dir: "implicit", entry: "sub/my script.py",
		want: "python 'sub/my script.py'"},
	{name: "implicit main", dir: "implicit", entry: "main",
		wantErr: `could not find "main" among entry points [] or interpret it as a runnable script`},
	{name: "implicit txt", dir: "implicit", entry: "notes.txt",
		wantErr: "supported script file extensions: .py, .sh"},
	{name: "implicit missing", dir: "implicit", entry: "nope.py", wantErr: "no file nope.py", code: lode.ENotFound,
		differs: "MLflow builds `python nope.py` without looking"},
	{name: "implicit escape", dir: "implicit", entry: "../types/train.py", wantErr: "is not inside the project folder",
		differs: "MLflow runs any path"},
	{name: "implicit absolute", dir: "implicit", entry: "/etc/x.py", wantErr: "is not inside the project folder",
		differs: "MLflow runs any path"},
	{name: "implicit folder", dir: "implicit", entry: "sub.py", wantErr: "no file sub.py", code: lode.ENotFound,
		differs: "MLflow builds `python sub.py` without looking"},
	{name: "noenv", dir: "noenv", entry: "main", params: P("msg", "hello world"),
		want: "echo 'hello world'"},
}

func testdata(t *testing.T, name string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func expand(t *testing.T, s string) string {
	data := filepath.Join(testdata(t, "types"), "data.csv")
	return strings.NewReplacer("$DATA", Quote(data), "$ABSDATA", data).Replace(s)
}

func checkErr(t *testing.T, err error, wantErr, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", wantErr)
	}
	if !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("error %q does not contain %q", err, wantErr)
	}
	if code == "" {
		code = lode.EInvalid
	}
	if got := lode.ErrorCode(err); got != code {
		t.Fatalf("error code %s, want %s (%v)", got, code, err)
	}
}

func TestCommand(t *testing.T) {
	for _, c := range cmdCases {
		t.Run(c.name, func(t *testing.T) {
			dir := testdata(t, c.dir)
			p, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			p.Shell = "bash"
			var params []Param
			for _, kv := range c.params {
				params = append(params, Param{kv.Key, expand(t, kv.Value)})
			}
			var inv *Invocation
			ep, err := p.EntryPoint(c.entry)
			if err == nil {
				inv, err = ep.Command(params, dir)
			}
			if c.wantErr != "" {
				checkErr(t, err, c.wantErr, c.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := expand(t, c.want); inv.Command != want {
				t.Errorf("command\n got %s\nwant %s", inv.Command, want)
			}
			if c.wantLog != nil {
				got := map[string]string{}
				for _, p := range inv.LogParams {
					got[p.Key] = p.Value
				}
				if !equalMaps(got, c.wantLog) {
					t.Errorf("log params %v, want %v", got, c.wantLog)
				}
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestInvocationParams(t *testing.T) {
	dir := testdata(t, "types")
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := p.EntryPoint("files")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ep.Command(P("extra", "x y", "data", "data.csv"), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{{"data", filepath.Join(dir, "data.csv")}, {"model", "s3://bucket/model"}}
	if len(inv.Params) != 2 || inv.Params[0] != want[0] || inv.Params[1] != want[1] {
		t.Errorf("params %v, want %v", inv.Params, want)
	}
	if len(inv.Extra) != 1 || inv.Extra[0] != (Param{"extra", "x y"}) {
		t.Errorf("extra %v", inv.Extra)
	}
	wantLog := []Param{{"data", "data.csv"}, {"model", "s3://bucket/model"}, {"extra", "'x y'"}}
	if len(inv.LogParams) != 3 || inv.LogParams[0] != wantLog[0] || inv.LogParams[1] != wantLog[1] || inv.LogParams[2] != wantLog[2] {
		t.Errorf("log params %v, want %v", inv.LogParams, wantLog)
	}
	// Relative paths resolve against baseDir (MLflow: its working directory).
	if _, err := ep.Command(P("data", "data.csv"), t.TempDir()); err == nil {
		t.Error("data.csv resolved outside baseDir")
	}
}

func TestShellFromEnv(t *testing.T) {
	p, err := Load(testdata(t, "implicit"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ shell, want string }{{"/bin/zsh", "/bin/zsh run.sh"}, {"", "bash run.sh"}} {
		t.Setenv("SHELL", c.shell)
		ep, err := p.EntryPoint("run.sh")
		if err != nil {
			t.Fatal(err)
		}
		if ep.Template != c.want {
			t.Errorf("SHELL=%q: %q, want %q", c.shell, ep.Template, c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	for _, c := range []struct {
		dir     string
		name    string
		file    string
		env     Env
		entries []string
		wantErr string
		code    string
	}{
		{dir: "sklearn_elasticnet_wine", name: "tutorial", file: "MLproject",
			env: Env{Kind: EnvPython, File: "python_env.yaml"}, entries: []string{"main"}},
		{dir: "types", name: "types", file: "mlproject", env: Env{Kind: EnvPython, File: "python_env.yaml"},
			entries: []string{"defaults", "required", "files", "train.py"}},
		{dir: "implicit", env: Env{Kind: EnvNone}},
		{dir: "noenv", file: "MLProject", env: Env{Kind: EnvNone}, entries: []string{"main"}},
		{dir: "conda", name: "conda-project", file: "MLproject", env: Env{Kind: EnvConda, File: "env/conda.yaml"}, entries: []string{"main"}},
		{dir: "conda_default", env: Env{Kind: EnvConda, File: "conda.yaml"}},
		{dir: "docker", name: "docker-project", file: "MLproject", env: Env{Kind: EnvDocker, Image: "mlflow-docker-example"}, entries: []string{"main"}},
		{dir: "multienv", wantErr: "project cannot contain multiple environment fields: conda_env, python_env"},
		{dir: "nonexistent", wantErr: "does not exist", code: lode.ENotFound},
	} {
		t.Run(c.dir, func(t *testing.T) {
			p, err := Load(filepath.Join("testdata", c.dir))
			if c.wantErr != "" {
				checkErr(t, err, c.wantErr, c.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != c.name || p.File != c.file || p.Env != c.env {
				t.Errorf("got name %q file %q env %+v, want %q %q %+v", p.Name, p.File, p.Env, c.name, c.file, c.env)
			}
			if !filepath.IsAbs(p.Dir) {
				t.Errorf("Dir %q is not absolute", p.Dir)
			}
			var names []string
			for _, e := range p.EntryPoints() {
				names = append(names, e.Name)
			}
			if strings.Join(names, ",") != strings.Join(c.entries, ",") {
				t.Errorf("entry points %v, want %v", names, c.entries)
			}
		})
	}
}

func TestParameters(t *testing.T) {
	p, err := Load(testdata(t, "types"))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := p.EntryPoint("required")
	if err != nil {
		t.Fatal(err)
	}
	want := []Parameter{{Name: "x", Type: "float"}, {Name: "y", Type: "string"}, {Name: "z", Type: "string"}}
	if len(ep.Parameters) != len(want) {
		t.Fatalf("parameters %+v", ep.Parameters)
	}
	for i := range want {
		if ep.Parameters[i] != want[i] {
			t.Errorf("parameter %d: %+v, want %+v", i, ep.Parameters[i], want[i])
		}
	}
	ep, _ = p.EntryPoint("defaults")
	if got := ep.Parameters[2]; got != (Parameter{Name: "c", Type: "int", Default: "8", HasDefault: true}) {
		t.Errorf("c: %+v", got)
	}
}

func TestEnvRefused(t *testing.T) {
	for _, c := range []struct{ dir, want string }{
		{"conda", "conda environments are not supported on this machine; use python_env"},
		{"conda_default", "conda environments are not supported on this machine; use python_env"},
		{"docker", "docker environments are not supported on this machine; use python_env"},
	} {
		p, err := Load(filepath.Join("testdata", c.dir))
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.PythonEnv()
		checkErr(t, err, c.want, lode.ENotImplemented)
	}
	p, err := Load(filepath.Join("testdata", "implicit"))
	if err != nil {
		t.Fatal(err)
	}
	if env, err := p.PythonEnv(); env != nil || err != nil {
		t.Errorf("no env: got %v, %v", env, err)
	}
	for kind, want := range map[EnvKind]string{EnvNone: "virtualenv", EnvPython: "virtualenv", EnvConda: "conda", EnvDocker: "docker"} {
		if got := (Env{Kind: kind}).Manager(); got != want {
			t.Errorf("%s: manager %q, want %q", kind, got, want)
		}
	}
}

func TestProjectPythonEnv(t *testing.T) {
	p, err := Load(testdata(t, "sklearn_elasticnet_wine"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := p.PythonEnv()
	if err != nil {
		t.Fatal(err)
	}
	if env.Python != "3.10" || strings.Join(env.BuildDependencies, ",") != "pip" ||
		strings.Join(env.Dependencies, ",") != "mlflow>=1.0,scikit-learn==1.5.1,pandas" {
		t.Errorf("env %+v", env)
	}
}

func TestParsePythonEnv(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       PythonEnv
		wantErr    string
	}{
		{name: "full", yaml: "python: \"3.10\"\nbuild_dependencies:\n  - pip\ndependencies:\n  - mlflow\n  - -r requirements.txt\n",
			want: PythonEnv{Python: "3.10", BuildDependencies: []string{"pip"}, Dependencies: []string{"mlflow", "-r requirements.txt"}}},
		{name: "patch version plain", yaml: "python: 3.10.4\n", want: PythonEnv{Python: "3.10.4"}},
		{name: "nulls", yaml: "python:\ndependencies:\n", want: PythonEnv{}},
		{name: "flow", yaml: "{python: '3.9', dependencies: [numpy==1.26.4]}", want: PythonEnv{Python: "3.9", Dependencies: []string{"numpy==1.26.4"}}},
		{name: "float python", yaml: "python: 3.10\n", wantErr: `python_env.yaml:1: python must be a string, e.g. python: "3.10"`},
		{name: "int python", yaml: "python: 3\n", wantErr: "python must be a string"},
		{name: "unknown key", yaml: "python: '3.10'\nchannels: [x]\n", wantErr: `python_env.yaml:2: unknown key "channels"`},
		{name: "deps not list", yaml: "dependencies: numpy\n", wantErr: "python_env.yaml:1: dependencies must be a list"},
		{name: "dep not string", yaml: "dependencies:\n  - {a: b}\n", wantErr: "python_env.yaml:2: dependencies: each entry must be a requirement string"},
		{name: "empty", yaml: "", wantErr: "python_env.yaml is empty"},
		{name: "not mapping", yaml: "- a\n", wantErr: "python_env must be a mapping"},
		{name: "bad yaml", yaml: "python: '3.10'\ndependencies: [a\n", wantErr: "python_env.yaml:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env, err := ParsePythonEnv(strings.NewReader(c.yaml))
			if c.wantErr != "" {
				checkErr(t, err, c.wantErr, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if env.Python != c.want.Python || strings.Join(env.BuildDependencies, "\n") != strings.Join(c.want.BuildDependencies, "\n") ||
				strings.Join(env.Dependencies, "\n") != strings.Join(c.want.Dependencies, "\n") {
				t.Errorf("got %+v, want %+v", env, c.want)
			}
		})
	}
}

func TestPythonEnvHash(t *testing.T) {
	parse := func(s string) *PythonEnv {
		t.Helper()
		env, err := ParsePythonEnv(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	a := parse("python: \"3.10\"\nbuild_dependencies: [pip]\ndependencies:\n  - mlflow\n  - pandas\n")
	same := []string{
		"# comment\ndependencies: [mlflow, pandas]\nbuild_dependencies:\n  - 'pip'\npython: '3.10'\n",
		"{python: \"3.10\", build_dependencies: [\" pip \"], dependencies: [mlflow, pandas]}",
	}
	for _, s := range same {
		if h := parse(s).Hash(); h != a.Hash() {
			t.Errorf("hash of %q differs", s)
		}
	}
	diff := []string{
		"python: \"3.11\"\nbuild_dependencies: [pip]\ndependencies: [mlflow, pandas]\n",
		"python: \"3.10\"\nbuild_dependencies: [pip]\ndependencies: [mlflow, pandas, numpy]\n",
		"python: \"3.10\"\ndependencies: [mlflow, pandas]\n",
		"python: \"3.10\"\nbuild_dependencies: [pip, mlflow]\ndependencies: [pandas]\n",
	}
	for _, s := range diff {
		if parse(s).Hash() == a.Hash() {
			t.Errorf("hash of %q is the same", s)
		}
	}
	// The hash is part of cache keys: changing it rebuilds every cached
	// environment, so it is pinned.
	const golden = "6e87a63fd11eafe771817c54d4e48086b23050555f3ec065df1ad9c106755b90"
	// It is sha256("lode.mlproject.python_env.v1\n" + the JSON of the
	// normalised env).
	if h := a.Hash(); h != golden {
		t.Errorf("hash %s, want %s", h, golden)
	}
	if (&PythonEnv{}).Hash() == (&PythonEnv{Python: "3.10"}).Hash() {
		t.Error("empty and 3.10 hash alike")
	}
}

// writeProject writes files (name → content) into a new folder.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestInvalidMLproject(t *testing.T) {
	for _, c := range []struct {
		name, mlproject string
		files           map[string]string
		wantErr         string // after "<dir>/MLproject"
		code            string
	}{
		{name: "syntax", mlproject: "name: x\nentry_points:\n  main:\n    command: \"python\n", wantErr: ":4: invalid YAML"},
		{name: "bad indent", mlproject: "name: x\n entry_points: {}\n", wantErr: ":2: invalid YAML"},
		{name: "top not mapping", mlproject: "- a\n- b\n", wantErr: ":1: the MLproject file must be a mapping"},
		{name: "entry_points list", mlproject: "entry_points:\n  - main\n", wantErr: ":2: entry_points must be a mapping"},
		{name: "no command", mlproject: "entry_points:\n  main:\n    parameters: {a: float}\n", wantErr: `:2: entry point "main" has no command`},
		{name: "command list", mlproject: "entry_points:\n  main:\n    command: [a, b]\n", wantErr: ":3: entry point \"main\": command must be a string"},
		{name: "params list", mlproject: "entry_points:\n  main:\n    parameters: [a]\n    command: x\n", wantErr: `:3: entry point "main": parameters must be a mapping`},
		{name: "param default list", mlproject: "entry_points:\n  main:\n    parameters:\n      a: {default: [1]}\n    command: x\n", wantErr: `:4: entry point "main": parameter "a": default: expected a single value, not a list`},
		{name: "duplicate entry", mlproject: "entry_points:\n  main:\n    command: a\n  main:\n    command: b\n", wantErr: `:4: entry_points: duplicate key "main"`},
		{name: "two documents", mlproject: "name: a\n---\nname: b\n", wantErr: ":2: expected a single YAML document"},
		{name: "docker no image", mlproject: "docker_env:\n  volumes: [a]\n", wantErr: ":2: docker environment specified but no image attribute found"},
		{name: "python_env missing", mlproject: "python_env: env.yaml\n", wantErr: ":1: python_env: no file env.yaml", code: lode.ENotFound},
		{name: "python_env escape", mlproject: "python_env: ../env.yaml\n", wantErr: ":1: python_env: \"../env.yaml\" is not inside the project folder"},
		{name: "databricks", mlproject: "databricks_spark_job:\n  python_file: a.py\n", wantErr: ":1: databricks_spark_job projects are not supported", code: lode.ENotImplemented},
		{name: "too large", mlproject: "name: x\n" + strings.Repeat("#", MaxFileSize), wantErr: " is larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"MLproject": c.mlproject}
			for k, v := range c.files {
				files[k] = v
			}
			dir := writeProject(t, files)
			_, err := Load(dir)
			checkErr(t, err, filepath.Join(dir, "MLproject")+c.wantErr, c.code)
		})
	}
}

func TestEmptyAndAliases(t *testing.T) {
	dir := writeProject(t, map[string]string{"MLproject": "# nothing yet\n", "a.py": ""})
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.EntryPoints()) != 0 || p.Env.Kind != EnvNone {
		t.Errorf("empty project: %+v", p)
	}
	dir = writeProject(t, map[string]string{"MLproject": `
params: &common
  alpha: {type: float, default: 0.5}
entry_points:
  a:
    parameters: *common
    command: python a.py {alpha}
`})
	p, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := p.EntryPoint("a")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ep.Command(nil, dir)
	if err != nil || inv.Command != "python a.py 0.5" {
		t.Errorf("alias: %v %v", inv, err)
	}
}

func TestSeveralMLprojectFiles(t *testing.T) {
	dir := writeProject(t, map[string]string{"MLproject": "name: a\n"})
	if err := os.WriteFile(filepath.Join(dir, "mlproject"), []byte("name: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) < 2 {
		t.Skip("case-insensitive file system")
	}
	_, err := Load(dir)
	checkErr(t, err, "several MLproject files", "")
}

func TestEntryPointEscapes(t *testing.T) {
	outside := writeProject(t, map[string]string{"evil.py": "", "evil.sh": ""})
	dir := writeProject(t, map[string]string{"ok.py": "", "sub/inner.py": ""})
	if err := os.Symlink(filepath.Join(outside, "evil.py"), filepath.Join(dir, "link.py")); err != nil {
		t.Skip("no symlinks:", err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "ok.py"), filepath.Join(dir, "inlink.py")); err != nil {
		t.Fatal(err)
	}
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, wantErr, code string }{
		{"ok.py", "", ""},
		{"./ok.py", "", ""},
		{"sub/inner.py", "", ""},
		{"sub/../ok.py", "", ""},
		{"inlink.py", "", ""},
		{"../ok.py", "is not inside the project folder", ""},
		{"sub/../../ok.py", "is not inside the project folder", ""},
		{filepath.Join(outside, "evil.py"), "is not inside the project folder", ""},
		{"link.py", "links outside the project folder", ""},
		{"out/evil.sh", "links outside the project folder", ""},
		{"sub", "could not find", ""},
		{"missing.py", "no file missing.py", lode.ENotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.EntryPoint(c.name)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkErr(t, err, c.wantErr, c.code)
		})
	}
}

func TestTemplateErrors(t *testing.T) {
	for _, c := range []struct{ cmd, wantErr string }{
		{"python a.py {0}", "command field {0} is not supported"},
		{"python a.py {}", "command field {} is not supported"},
		{"python a.py {alpha.real}", "command field {alpha.real} is not supported"},
		{"python a.py {alpha!r}", "command field {alpha!r} is not supported"},
		{"python a.py {alpha:>5}", "command field {alpha:>5} is not supported"},
		{"python a.py {beta}", "command uses {beta}, which is not a declared parameter"},
		{"python a.py {alpha", "single '{'"},
		{"python a.py alpha}", "single '}'"},
		{"python a.py {alpha}}", "single '}'"},
	} {
		e := &EntryPoint{Name: "main", Parameters: []Parameter{{Name: "alpha", Type: "string", Default: "1", HasDefault: true}}, Template: c.cmd}
		_, err := e.Command(nil, "")
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%q: error %v, want %q", c.cmd, err, c.wantErr)
		}
	}
	e := &EntryPoint{Name: "main", Parameters: []Parameter{{Name: "alpha", Type: "string", Default: "1", HasDefault: true}},
		Template: "awk '{{print $1}}' {alpha} {{{alpha}}}"}
	inv, err := e.Command(P("alpha", "x y"), "")
	if err != nil || inv.Command != "awk '{print $1}' 'x y' {'x y'}" {
		t.Errorf("braces: %v %v", inv, err)
	}
}

func TestParseParams(t *testing.T) {
	got, err := ParseParams([]string{"alpha=0.5", "expr=a=b", "empty="})
	if err != nil {
		t.Fatal(err)
	}
	want := P("alpha", "0.5", "expr", "a=b", "empty", "")
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %v, want %v", i, got[i], want[i])
		}
	}
	_, err = ParseParams([]string{"alpha"})
	checkErr(t, err, "invalid format for -P parameter: 'alpha'. Use -P name=value.", "")
	_, err = ParseParams([]string{"a=1", "a=2"})
	checkErr(t, err, "repeated parameter: 'a'", "")
	_, err = (&EntryPoint{Template: "x"}).Command(P("a", "1", "a", "2"), "")
	checkErr(t, err, "repeated parameter: 'a'", "")
}

// Checked against Python 3.11's shlex.quote.
func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"abc": "abc", "a b": "'a b'", "": "''", "it's": `'it'"'"'s'`, "$HOME": "'$HOME'",
		"a@b%c+d=e:f,g./h-i": "a@b%c+d=e:f,g./h-i", "é": "'é'", "x*": "'x*'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// Checked against Python 3.11's repr(float).
func TestFormatPyFloat(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{0.1, "0.1"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"}, {1e-5, "1e-05"}, {0.0001, "0.0001"},
		{123456789012345678.0, "1.2345678901234568e+17"}, {1.5e300, "1.5e+300"}, {5e-324, "5e-324"},
		{-2.5, "-2.5"}, {1.0 / 3, "0.3333333333333333"}, {9007199254740992.0, "9007199254740992.0"},
		{1234567890123456.7, "1234567890123456.8"}, {0, "0.0"}, {math.Copysign(0, -1), "-0.0"},
		{math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"},
	} {
		if got := formatPyFloat(c.f); got != c.want {
			t.Errorf("formatPyFloat(%v) = %s, want %s", c.f, got, c.want)
		}
	}
}

// Checked against Python 3.11's float().
func TestPyFloatValid(t *testing.T) {
	for in, want := range map[string]bool{
		"1": true, " 1.5 ": true, "1_000.5": true, "1__0": false, "_1": false, "1_": false, "1e5": true,
		"1E+5": true, ".5": true, "5.": true, ".": false, "e5": false, "inf": true, "-Infinity": true,
		"nan": true, "+-1": false, "0x10": false, "1e400": true, "abc": false, "": false, "1,5": false,
	} {
		if got := pyFloatValid(in); got != want {
			t.Errorf("pyFloatValid(%q) = %v, want %v", in, got, want)
		}
	}
}

// Checked against urllib.parse.urlparse and mlflow's get_local_path_or_none.
func TestLocalPath(t *testing.T) {
	for _, c := range []struct {
		in, scheme, path string
		local            bool
	}{
		{"path:123", "path", "", false},
		{"s3://b/k", "s3", "", false},
		{"file:///tmp/x%20y", "file", "/tmp/x y", true},
		{"file://host/x", "file", "", false},
		{"file:rel", "file", "rel", true},
		{"file:/tmp", "file", "/tmp", true},
		{"file:///tmp/a?q=1#f", "file", "/tmp/a", true},
		{"rel/path", "", "rel/path", true},
		{"1abc:foo", "", "1abc:foo", true},
		{"a_b:c", "", "a_b:c", true},
		{"A+b.c-d:x", "a+b.c-d", "", false},
		{" s3://x", "s3", "", false},
		{"HTTP://x", "http", "", false},
		{"100%", "", "100%", true},
	} {
		if s := uriScheme(c.in); s != c.scheme {
			t.Errorf("uriScheme(%q) = %q, want %q", c.in, s, c.scheme)
		}
		path, local := localPath(c.in)
		if path != c.path || local != c.local {
			t.Errorf("localPath(%q) = %q, %v, want %q, %v", c.in, path, local, c.path, c.local)
		}
	}
}

func TestTags(t *testing.T) {
	tags := RunInfo{SourceName: "file:///repo#examples/wine", EntryPoint: "main", User: "ann",
		EnvManager: "virtualenv", Backend: "local", GitCommit: "abc123"}.Tags()
	want := map[string]string{
		"mlflow.source.type": "PROJECT", "mlflow.source.name": "file:///repo#examples/wine",
		"mlflow.project.entryPoint": "main", "mlflow.user": "ann", "mlflow.project.env": "virtualenv",
		"mlflow.project.backend": "local", "mlflow.source.git.commit": "abc123",
	}
	if !equalMaps(tags, want) {
		t.Errorf("tags %v, want %v", tags, want)
	}
	for _, c := range []struct{ dir, tree, want string }{
		{"/repo/examples/wine", "/repo", "file:///repo#examples/wine"},
		{"/repo", "/repo", "file:///repo"},
		{"/work/wine", "", "/work/wine"},
	} {
		if got := SourceName(c.dir, c.tree); got != c.want {
			t.Errorf("SourceName(%q, %q) = %q, want %q", c.dir, c.tree, got, c.want)
		}
	}
	if env := RunEnv("r1", "0", "http://localhost:5000"); strings.Join(env, " ") !=
		"MLFLOW_RUN_ID=r1 MLFLOW_TRACKING_URI=http://localhost:5000 MLFLOW_EXPERIMENT_ID=0" {
		t.Errorf("RunEnv %v", env)
	}
}

// crossCheck runs each case through MLflow itself.
const crossCheck = `
import json, os, sys, tempfile
from mlflow.projects import _project_spec as s
os.environ["SHELL"] = "bash"
out = []
for c in json.load(sys.stdin):
    cwd = os.getcwd()
    os.chdir(c["dir"])
    try:
        ep = s.load_project(".").get_entry_point(c["entry"])
        params = {k: v for k, v in c["params"]}
        cmd = ep.compute_command(params, tempfile.mkdtemp())
        final, extra = ep.compute_parameters(params, None)
        out.append({"cmd": cmd, "log": {**final, **extra}})
    except Exception as e:
        out.append({"err": "%s: %s" % (type(e).__name__, e)})
    os.chdir(cwd)
json.dump(out, sys.stdout)
`

// TestAgainstMLflow checks the cases without `differs` against MLflow,
// when LODE_TEST_PYTHON names a Python with mlflow installed.
func TestAgainstMLflow(t *testing.T) {
	py := os.Getenv("LODE_TEST_PYTHON")
	if py == "" {
		t.Skip("LODE_TEST_PYTHON is not set")
	}
	type in struct {
		Dir    string     `json:"dir"`
		Entry  string     `json:"entry"`
		Params [][]string `json:"params"`
	}
	var ins []in
	var cases []cmdCase
	for _, c := range cmdCases {
		if c.differs != "" {
			continue
		}
		i := in{Dir: testdata(t, c.dir), Entry: c.entry, Params: [][]string{}}
		for _, p := range c.params {
			i.Params = append(i.Params, []string{p.Key, expand(t, p.Value)})
		}
		ins = append(ins, i)
		cases = append(cases, c)
	}
	b, _ := json.Marshal(ins)
	cmd := exec.Command(py, "-c", crossCheck)
	cmd.Stdin = strings.NewReader(string(b))
	cmd.Stderr = os.Stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var outs []struct {
		Cmd string            `json:"cmd"`
		Log map[string]string `json:"log"`
		Err string            `json:"err"`
	}
	if err := json.Unmarshal(outb, &outs); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		o := outs[i]
		if c.wantErr != "" {
			if o.Err == "" {
				t.Errorf("%s: MLflow succeeds (%s), Lode fails", c.name, o.Cmd)
			}
			continue
		}
		if o.Err != "" {
			t.Errorf("%s: MLflow fails: %s", c.name, o.Err)
			continue
		}
		if want := expand(t, c.want); o.Cmd != want {
			t.Errorf("%s: MLflow runs\n%s\nthe table says\n%s", c.name, o.Cmd, want)
		}
		if c.wantLog != nil && !equalMaps(o.Log, c.wantLog) {
			t.Errorf("%s: MLflow logs %v, the table says %v", c.name, o.Log, c.wantLog)
		}
	}
}

// Checked against mlflow 3.17.2 with PyYAML 6.0.4.
func TestMergeKeys(t *testing.T) {
	dir := writeProject(t, map[string]string{"MLproject": `
base: &base
  alpha: {type: float, default: 0.5}
  beta: {type: float, default: 1.5}
other: &other
  beta: {type: float, default: 2.5}
  gamma: {type: float, default: 3.5}
entry_points:
  main:
    parameters:
      delta: {type: string, default: d}
      <<: [*other, *base]
      alpha: {type: float, default: 9}
    command: "echo {alpha} {beta} {gamma} {delta}"
`})
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := p.EntryPoint("main")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ep.Parameters {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "beta,gamma,alpha,delta" {
		t.Errorf("parameters %v", names)
	}
	inv, err := ep.Command(P("x", "1"), dir)
	if err != nil || inv.Command != "echo 9 1.5 3.5 d --x 1" {
		t.Errorf("got %v, %v", inv, err)
	}
}

// Checked against mlflow 3.17.2.
func TestRScript(t *testing.T) {
	dir := writeProject(t, map[string]string{"x.R": ""})
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := p.EntryPoint("x.R")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ep.Command(P("x", "1"), dir)
	if want := `Rscript -e "mlflow::mlflow_source('x.R')" --args --x 1`; err != nil || inv.Command != want {
		t.Errorf("got %v, %v, want %s", inv, err, want)
	}
}
