// Package mlproject reads MLflow Projects as MLflow defines them: the
// MLproject file (name, entry points with typed parameters, and one of
// python_env, conda_env or docker_env), the implicit entry points of a
// folder without one (any .py or .sh file), and python_env.yaml. It turns
// an entry point and -P parameters into the shell command MLflow would
// run, and names the tags and params MLflow logs on a project run. It
// parses and builds; it runs nothing.
//
// The semantics follow mlflow/projects/_project_spec.py (MLflow 3.x). Where
// Lode differs it says so on the function concerned; in short: float
// parameters are validated (MLflow's documentation promises it, its code
// does not), path parameters must be local (no downloading), implicit
// entry points and env files must lie inside the project folder, conda and
// docker environments are refused, and malformed files fail at load with
// file:line rather than later with a Python traceback.
package mlproject

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	lode "github.com/lode-ml/lode"
)

// DefaultEntryPoint is the entry point `mlflow run` uses without -e.
const DefaultEntryPoint = "main"

// Default environment files MLflow looks for when the MLproject file names
// none (or when there is no MLproject file).
const (
	PythonEnvFile = "python_env.yaml"
	CondaEnvFile  = "conda.yaml"
)

// EnvKind is how a project describes its environment.
type EnvKind string

const (
	// EnvNone: no environment file. MLflow then builds a virtualenv with
	// its own Python version and no dependencies.
	EnvNone   EnvKind = "none"
	EnvPython EnvKind = "python" // python_env: the MLproject key, or a python_env.yaml
	EnvConda  EnvKind = "conda"  // conda_env: the MLproject key, or a conda.yaml
	EnvDocker EnvKind = "docker" // docker_env in the MLproject file
)

// Env is a project's environment as MLproject and the folder describe it.
type Env struct {
	Kind EnvKind
	// File is the environment file, relative to the project folder, for
	// EnvPython and EnvConda ("" otherwise).
	File string
	// Image is docker_env.image, for EnvDocker.
	Image string
}

// Manager is the value MLflow gives the mlflow.project.env tag when it
// runs a project of this kind with its default environment manager:
// "virtualenv" for python_env and for no environment, "conda", "docker".
// A run with the "local" manager sets no such tag.
func (e Env) Manager() string {
	switch e.Kind {
	case EnvConda:
		return "conda"
	case EnvDocker:
		return "docker"
	}
	return "virtualenv"
}

// Project is an MLflow project folder.
type Project struct {
	Dir  string // the project folder, absolute
	File string // the MLproject file's name in Dir; "" when there is none
	Name string // the MLproject name, if any
	Env  Env
	// Shell runs implicit .sh entry points. "" means $SHELL, or bash when
	// that is unset, as MLflow does.
	Shell string

	entryPoints []*EntryPoint // declared, in file order
}

// Load reads the project in dir: its MLproject file, if any (found
// case-insensitively, as MLflow does), and its environment, chosen as
// MLflow chooses it: docker_env, python_env or conda_env from MLproject
// (at most one), else a python_env.yaml, else a conda.yaml, else none.
//
// Load does not refuse conda or docker environments; Project.PythonEnv
// does, so that a caller running with its local environment can still run
// them. It does refuse databricks_spark_job projects (ENotImplemented).
// Differences from MLflow: malformed entry points (no command, parameters
// that are not a mapping, duplicate keys) fail here rather than when they
// run; an empty MLproject file is an empty project rather than a crash;
// python_env and conda_env files must lie inside the folder.
func Load(dir string) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "project folder %s: %v", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, lode.Errorf(lode.ENotFound, "project folder %s does not exist", dir)
		}
		return nil, lode.Internal(err, "cannot read project folder "+dir)
	}
	if !st.IsDir() {
		return nil, lode.Errorf(lode.EInvalid, "%s is not a folder", dir)
	}
	p := &Project{Dir: abs}
	file, err := findMLproject(abs)
	if err != nil {
		return nil, err
	}
	p.File = file
	var top []pair
	path := filepath.Join(abs, file)
	if file != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, lode.Internal(err, "cannot read "+path)
		}
		b, err := readBounded(f, path)
		f.Close()
		if err != nil {
			return nil, err
		}
		root, err := parseYAML(b, path)
		if err != nil {
			return nil, err
		}
		if top, err = mapping(path, root, "the MLproject file"); err != nil {
			return nil, err
		}
	}
	if err := p.parse(path, top); err != nil {
		return nil, err
	}
	return p, nil
}

// findMLproject returns the name of the file in dir whose name is
// "mlproject" in any case.
func findMLproject(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", lode.Internal(err, "cannot list project folder "+dir)
	}
	var found []string
	for _, e := range ents {
		if strings.ToLower(e.Name()) == "mlproject" {
			found = append(found, e.Name())
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		if st, err := os.Stat(filepath.Join(dir, found[0])); err != nil || !st.Mode().IsRegular() {
			return "", lode.Errorf(lode.EInvalid, "%s in %s is not a file", found[0], dir)
		}
		return found[0], nil
	}
	return "", lode.Errorf(lode.EInvalid, "%s holds several MLproject files (%s); keep one", dir, strings.Join(found, ", "))
}

var envKeys = []string{"conda_env", "docker_env", "python_env"}

func (p *Project) parse(file string, top []pair) error {
	get := map[string]pair{}
	for _, kv := range top {
		get[kv.key] = kv
	}
	var envFields []string
	for _, k := range envKeys {
		if _, ok := get[k]; ok {
			envFields = append(envFields, k)
		}
	}
	if len(envFields) > 1 {
		return errAt(file, nil, "project cannot contain multiple environment fields: %s", strings.Join(envFields, ", "))
	}
	if kv, ok := get["name"]; ok {
		name, null, err := pyStr(kv.val)
		if err != nil {
			return errAt(file, kv.val, "name: %v", err)
		}
		if !null {
			p.Name = name
		}
	}
	if kv, ok := get["entry_points"]; ok {
		eps, err := mapping(file, kv.val, "entry_points")
		if err != nil {
			return err
		}
		for _, ep := range eps {
			e, err := parseEntryPoint(file, ep)
			if err != nil {
				return err
			}
			p.entryPoints = append(p.entryPoints, e)
		}
	}
	if kv, ok := get["databricks_spark_job"]; ok && !isNull(kv.val) {
		return lode.Errorf(lode.ENotImplemented, "%s:%d: databricks_spark_job projects are not supported", file, kv.keyNode.Line)
	}
	return p.parseEnv(file, get)
}

func (p *Project) parseEnv(file string, get map[string]pair) error {
	if kv, ok := get["docker_env"]; ok && truthy(kv.val) {
		fields, err := mapping(file, kv.val, "docker_env")
		if err != nil {
			return err
		}
		for _, f := range fields {
			if f.key == "image" && truthy(f.val) {
				p.Env = Env{Kind: EnvDocker, Image: f.val.Value}
				return nil
			}
		}
		return errAt(file, kv.val, "docker environment specified but no image attribute found")
	}
	for _, e := range []struct {
		key  string
		kind EnvKind
	}{{"python_env", EnvPython}, {"conda_env", EnvConda}} {
		kv, ok := get[e.key]
		if !ok || !truthy(kv.val) {
			continue
		}
		v := deref(kv.val)
		if v.Kind != yaml.ScalarNode {
			return errAt(file, v, "%s must name a file", e.key)
		}
		name := v.Value
		if err := p.checkInside(name); err != nil {
			return lode.Errorf(lode.ErrorCode(err), "%s:%d: %s: %s", file, kv.val.Line, e.key, lode.ErrorMessage(err))
		}
		p.Env = Env{Kind: e.kind, File: name}
		return nil
	}
	for _, e := range []struct {
		name string
		kind EnvKind
	}{{PythonEnvFile, EnvPython}, {CondaEnvFile, EnvConda}} {
		if _, err := os.Stat(filepath.Join(p.Dir, e.name)); err == nil {
			p.Env = Env{Kind: e.kind, File: e.name}
			return nil
		}
	}
	p.Env = Env{Kind: EnvNone}
	return nil
}

// checkInside checks that name, relative to the project folder, names a
// regular file inside it, symbolic links followed.
func (p *Project) checkInside(name string) error {
	rel := filepath.FromSlash(name)
	if !filepath.IsLocal(rel) {
		return lode.Errorf(lode.EInvalid, "%q is not inside the project folder", name)
	}
	path := filepath.Join(p.Dir, rel)
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return lode.Errorf(lode.ENotFound, "no file %s in the project folder %s", name, p.Dir)
		}
		return lode.Errorf(lode.EInvalid, "%s: %v", name, err)
	}
	if !st.Mode().IsRegular() {
		return lode.Errorf(lode.EInvalid, "%s is not a file", name)
	}
	realDir, err := filepath.EvalSymlinks(p.Dir)
	if err != nil {
		return lode.Internal(err, "cannot resolve "+p.Dir)
	}
	realFile, err := filepath.EvalSymlinks(path)
	if err != nil {
		return lode.Internal(err, "cannot resolve "+path)
	}
	if r, err := filepath.Rel(realDir, realFile); err != nil || !filepath.IsLocal(r) {
		return lode.Errorf(lode.EInvalid, "%q links outside the project folder", name)
	}
	return nil
}

// EntryPoints returns the entry points the MLproject file declares, in
// file order.
func (p *Project) EntryPoints() []*EntryPoint { return slices.Clone(p.entryPoints) }

// scriptExts are the extensions MLflow's error message lists as runnable
// (it also runs .R files).
var scriptExts = []string{".py", ".sh"}

// EntryPoint returns the entry point called name: a declared one, or else,
// as MLflow does, a script in the project run by its extension: a .py
// file with `python FILE`, a .sh file with `$SHELL FILE` (bash when SHELL
// is unset), an .R file with MLflow's Rscript line. An implicit entry
// point declares no parameters, so every -P parameter is appended as
// --key value.
//
// Unlike MLflow, which builds the command without looking, Lode requires
// the script to exist as a regular file inside the project folder: an
// absolute name, a .. escape or a symbolic link leading outside is
// refused (EInvalid), a missing file is ENotFound.
func (p *Project) EntryPoint(name string) (*EntryPoint, error) {
	for _, e := range p.entryPoints {
		if e.Name == name {
			return e, nil
		}
	}
	var cmd string
	switch pyExt(name) {
	case ".py":
		cmd = "python " + Quote(name)
	case ".sh":
		sh := p.Shell
		if sh == "" {
			sh = os.Getenv("SHELL")
		}
		if sh == "" {
			sh = "bash"
		}
		cmd = sh + " " + Quote(name)
	case ".R":
		cmd = `Rscript -e "mlflow::mlflow_source('` + Quote(name) + `')" --args`
	default:
		names := make([]string, len(p.entryPoints))
		for i, e := range p.entryPoints {
			names[i] = fmt.Sprintf("%q", e.Name)
		}
		return nil, lode.Errorf(lode.EInvalid,
			"could not find %q among entry points [%s] or interpret it as a runnable script; supported script file extensions: %s",
			name, strings.Join(names, ", "), strings.Join(scriptExts, ", "))
	}
	if err := p.checkInside(name); err != nil {
		return nil, lode.Errorf(lode.ErrorCode(err), "entry point %s: %s", name, lode.ErrorMessage(err))
	}
	return &EntryPoint{Name: name, Template: cmd, Implicit: true}, nil
}

// pyExt is os.path.splitext(p)[1]: the last extension of the last path
// element, where leading dots do not start one (".py" has none).
func pyExt(p string) string {
	base := p[strings.LastIndex(p, "/")+1:]
	i := strings.LastIndex(base, ".")
	if i < 0 || strings.Trim(base[:i], ".") == "" {
		return ""
	}
	return base[i:]
}
