// Package pyfunc is Lode's runtime for MLflow python_function models
// (scikit-learn pickles, custom PythonModels, anything mlflow.pyfunc
// loads). It runs each model in a pool of Python worker processes that it
// starts and supervises, in a virtual environment built from the model's
// requirements (or in a given interpreter), and lets MLflow's own
// scoring-server code parse requests and encode predictions, so a model
// answers as it would under `mlflow models serve`.
package pyfunc

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	lode "github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/pyenv"
	"github.com/lode-ml/lode/serving"
)

// Flavor is the MLmodel flavor this runtime serves.
const Flavor = "python_function"

// Environment managers.
const (
	// Virtualenv builds (and caches) one virtual environment per distinct
	// set of model requirements.
	Virtualenv = "virtualenv"
	// Local runs models with Options.Python as it is.
	Local = "local"
)

//go:embed worker.py
var workerScript []byte

// Options configure a Runtime.
type Options struct {
	// EnvManager is Virtualenv (the default) or Local.
	EnvManager string
	// Python is the interpreter Local runs models with, and the base
	// interpreter virtual environments are made from. Default "python3".
	Python string
	// CacheDir holds the virtual environments; default the user's cache
	// directory, under lode/python-envs.
	CacheDir string
	// Logger receives environment builds and the workers' output; a
	// model's LoadOptions.Logger takes precedence for that model.
	Logger *slog.Logger
	// RequestTimeout, when positive, bounds each prediction on top of the
	// caller's context.
	RequestTimeout time.Duration
	// PassEnv names more variables of Lode's environment that workers and
	// environment builds get, beyond DefaultInheritEnv (a model's API
	// key, HF_HOME); a name ending in * stands for every variable it
	// begins.
	PassEnv []string
}

// DefaultInheritEnv names the variables of Lode's environment that model
// workers get; nothing else of it reaches them. Loading a model runs its
// code (its loader, code/, what pip installs for it), while Lode's
// environment may hold its secrets: $LODE_ADMIN_PASSWORD, storage keys
// (AWS_*), database passwords (PG*), the mlflow client's credentials of
// lode serve (MLFLOW_TRACKING_*). Besides what any process needs (as jobs
// get it, see localexec.DefaultInheritEnv), workers get where native
// libraries and GPUs are, the thread counts of numpy and its kin, and the
// way to the network (proxies, CA certificates): none is a secret of
// Lode's, and models fail or crawl without them. No MLFLOW_* variable
// passes: a worker loads a folder on disk and talks to no tracking server.
var DefaultInheritEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TZ", "TMPDIR",
	"LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES",
	"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
}

// BuildInheritEnv names what virtualenv builds get beyond
// DefaultInheritEnv: pip's own settings (a private index, its cache) and
// where its configuration and cache are.
var BuildInheritEnv = []string{"PIP_*", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"}

// Runtime loads python_function models. It is safe for concurrent use.
type Runtime struct {
	opts Options

	envs *pyenv.Builder

	mu     sync.Mutex
	script string // path of the worker script, once written
}

var _ serving.Runtime = (*Runtime)(nil)

// New returns a runtime with the given options, defaults filled in.
func New(opts Options) *Runtime {
	if opts.EnvManager == "" {
		opts.EnvManager = Virtualenv
	}
	if opts.Python == "" {
		opts.Python = "python3"
	}
	// Workers run in folders of their own, so a relative interpreter path
	// is made absolute now (a bare name is looked up on PATH at start).
	if strings.ContainsRune(opts.Python, filepath.Separator) && !filepath.IsAbs(opts.Python) {
		if abs, err := filepath.Abs(opts.Python); err == nil {
			opts.Python = abs
		}
	}
	if opts.CacheDir != "" && !filepath.IsAbs(opts.CacheDir) {
		if abs, err := filepath.Abs(opts.CacheDir); err == nil {
			opts.CacheDir = abs
		}
	}
	if opts.CacheDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			opts.CacheDir = filepath.Join(d, "lode", "python-envs")
		} else {
			opts.CacheDir = filepath.Join(os.TempDir(), "lode-python-envs")
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	envs := pyenv.NewBuilder(opts.Python, opts.CacheDir)
	envs.Inherit = slices.Concat(DefaultInheritEnv, BuildInheritEnv, opts.PassEnv)
	return &Runtime{opts: opts, envs: envs}
}

// Name is "python".
func (r *Runtime) Name() string { return "python" }

// Supports reports whether the model has a python_function flavor.
func (r *Runtime) Supports(m *mlmodel.Model) bool {
	_, ok := m.Flavors[Flavor]
	return ok
}

// DefaultWorkers is how many worker processes a model gets when
// LoadOptions.Workers is 0: two, or one on a single-CPU machine.
func DefaultWorkers() int {
	return min(2, runtime.NumCPU())
}

// Load prepares the model's Python environment, starts its workers and
// waits until every one has loaded the model. A model that fails to load
// (a missing package, a broken pickle) fails Load with the Python error.
func (r *Runtime) Load(ctx context.Context, dir string, m *mlmodel.Model, opts serving.LoadOptions) (serving.Model, error) {
	if !r.Supports(m) {
		return nil, lode.Errorf(lode.EInvalid, "model %s has no %s flavor", opts.Label(), Flavor)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, lode.Internal(err, "cannot resolve the model's folder")
	}
	log := r.opts.Logger
	if opts.Logger != nil {
		log = opts.Logger
	}
	log = log.With("model", opts.Name, "version", opts.Version)
	info, binary := signatureInfo(m, log)

	start := time.Now()
	var python string
	env := pyenv.Inherit(slices.Concat(DefaultInheritEnv, r.opts.PassEnv))
	switch r.opts.EnvManager {
	case Local:
		python = r.opts.Python
	case Virtualenv:
		envDir, err := r.environment(ctx, dir, m, opts, log)
		if err != nil {
			return nil, err
		}
		python = pyenv.Python(envDir)
		env = pyenv.Environ(envDir, env)
	default:
		return nil, lode.Errorf(lode.EInvalid, "unknown Python environment manager %q (want %q or %q)", r.opts.EnvManager, Virtualenv, Local)
	}
	script, err := r.workerScript()
	if err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = DefaultWorkers()
	}
	mod, err := startModel(ctx, modelConfig{
		name:    opts.Label(),
		dir:     dir,
		python:  python,
		script:  script,
		env:     env,
		workers: workers,
		timeout: r.opts.RequestTimeout,
		info:    info,
		binary:  binary,
		log:     log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("python model loaded", "workers", workers, "python", mod.python, "mlflow", mod.mlflow,
		"env_manager", r.opts.EnvManager, "took", time.Since(start).Round(time.Millisecond))
	return mod, nil
}

// workerScript writes the embedded worker script into the cache folder,
// once, under a name that changes with its content.
func (r *Runtime) workerScript() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.script != "" {
		return r.script, nil
	}
	sum := sha256.Sum256(workerScript)
	path := filepath.Join(r.opts.CacheDir, ".worker-"+hex.EncodeToString(sum[:6])+".py")
	if b, err := os.ReadFile(path); err == nil && string(b) == string(workerScript) {
		r.script = path
		return path, nil
	}
	if err := os.MkdirAll(r.opts.CacheDir, 0o755); err != nil {
		return "", lode.Internal(err, "cannot create the Python cache folder")
	}
	f, err := os.CreateTemp(r.opts.CacheDir, ".worker-*.tmp")
	if err != nil {
		return "", lode.Internal(err, "cannot write the Python worker script")
	}
	_, err = f.Write(workerScript)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", lode.Internal(fmt.Errorf("write %s: %w", path, err), "cannot write the Python worker script")
	}
	r.script = path
	return path, nil
}
