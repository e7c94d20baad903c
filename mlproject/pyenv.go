package mlproject

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	lode "github.com/lode-ml/lode"
)

// PythonEnv is a python_env.yaml file: what MLflow builds a project's (or
// a model's) virtualenv from.
type PythonEnv struct {
	// Python is the Python version, e.g. "3.10". "" when the file names
	// none; MLflow then uses its own interpreter's version.
	Python string `json:"python"`
	// BuildDependencies are installed first (pip, setuptools, wheel ...).
	BuildDependencies []string `json:"build_dependencies"`
	// Dependencies are pip requirement lines; "-r requirements.txt" and
	// the like name files relative to the project folder.
	Dependencies []string `json:"dependencies"`
}

// ParsePythonEnv reads a python_env.yaml file, as MLflow's
// _PythonEnv.from_yaml does: a mapping of python (a string),
// build_dependencies and dependencies (lists), each optional; any other
// key is an error, as is `python: 3.10` unquoted (YAML reads a float
// 3.1; MLflow refuses it too). Errors are EInvalid.
func ParsePythonEnv(r io.Reader) (*PythonEnv, error) {
	return parsePythonEnv(r, PythonEnvFile)
}

func parsePythonEnv(r io.Reader, file string) (*PythonEnv, error) {
	b, err := readBounded(r, file)
	if err != nil {
		return nil, err
	}
	root, err := parseYAML(b, file)
	if err != nil {
		return nil, err
	}
	if root == nil || isNull(root) {
		return nil, lode.Errorf(lode.EInvalid, "%s is empty", file)
	}
	fields, err := mapping(file, root, "python_env")
	if err != nil {
		return nil, err
	}
	env := &PythonEnv{}
	for _, f := range fields {
		switch f.key {
		case "python":
			if isNull(f.val) {
				continue
			}
			if f.val.Kind != yaml.ScalarNode || resolveKind(f.val) != kindStr {
				return nil, errAt(file, f.val, "python must be a string, e.g. python: \"%s\"", f.val.Value)
			}
			env.Python = strings.TrimSpace(f.val.Value)
		case "build_dependencies", "dependencies":
			list, err := stringList(file, f)
			if err != nil {
				return nil, err
			}
			if f.key == "dependencies" {
				env.Dependencies = list
			} else {
				env.BuildDependencies = list
			}
		default:
			return nil, errAt(file, f.keyNode, "unknown key %q; a python_env file has python, build_dependencies and dependencies", f.key)
		}
	}
	return env, nil
}

func stringList(file string, f pair) ([]string, error) {
	if isNull(f.val) {
		return nil, nil
	}
	if f.val.Kind != yaml.SequenceNode {
		return nil, errAt(file, f.val, "%s must be a list", f.key)
	}
	var out []string
	for _, item := range f.val.Content {
		item = deref(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			return nil, errAt(file, item, "%s: each entry must be a requirement string", f.key)
		}
		out = append(out, item.Value)
	}
	return out, nil
}

// Hash identifies the environment for caching a virtualenv built from it:
// the hex SHA-256 of its normalised content (entries trimmed, order kept,
// absent lists empty), so formatting, comments and quoting in the YAML do
// not change it. Files that dependencies name (-r requirements.txt) are
// not read: a cache keyed on this hash alone must also key on them.
func (e *PythonEnv) Hash() string {
	n := PythonEnv{Python: strings.TrimSpace(e.Python), BuildDependencies: []string{}, Dependencies: []string{}}
	for _, d := range e.BuildDependencies {
		n.BuildDependencies = append(n.BuildDependencies, strings.TrimSpace(d))
	}
	for _, d := range e.Dependencies {
		n.Dependencies = append(n.Dependencies, strings.TrimSpace(d))
	}
	b, _ := json.Marshal(n)
	sum := sha256.Sum256(append([]byte("lode.mlproject.python_env.v1\n"), b...))
	return hex.EncodeToString(sum[:])
}

// PythonEnv reads the project's python_env file. It returns nil and no
// error for a project with no environment file (MLflow builds a bare
// virtualenv with its own Python version there; the caller picks). Conda
// and docker environments are refused with ENotImplemented: Lode builds
// virtualenvs only.
func (p *Project) PythonEnv() (*PythonEnv, error) {
	switch p.Env.Kind {
	case EnvNone, "":
		return nil, nil
	case EnvConda:
		return nil, lode.Errorf(lode.ENotImplemented,
			"project %s uses a conda environment (%s): conda environments are not supported on this machine; use python_env (a python_env.yaml)", p.Dir, p.Env.File)
	case EnvDocker:
		return nil, lode.Errorf(lode.ENotImplemented,
			"project %s uses a docker environment (image %s): docker environments are not supported on this machine; use python_env (a python_env.yaml)", p.Dir, p.Env.Image)
	}
	path := filepath.Join(p.Dir, filepath.FromSlash(p.Env.File))
	f, err := os.Open(path)
	if err != nil {
		return nil, lode.Errorf(lode.ENotFound, "cannot read the project's %s: %v", p.Env.File, err)
	}
	defer f.Close()
	return parsePythonEnv(f, path)
}
