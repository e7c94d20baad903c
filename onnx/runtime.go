// Package onnx is Lode's ONNX Runtime adapter: it serves MLflow models of
// the onnx flavor in-process, through ONNX Runtime's C library (loaded at
// run time with github.com/yalue/onnxruntime_go), and answers as MLflow's
// ONNX pyfunc wrapper (mlflow.onnx._OnnxModelWrapper) does.
package onnx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/serving"
)

// RuntimeName is what Info.Runtime reports for ONNX models.
const RuntimeName = "onnxruntime"

// Flavor is the MLmodel flavor this runtime serves.
const Flavor = "onnx"

// RequiredVersion is the ONNX Runtime release whose C API the bindings
// were built against; that release or a newer one is needed.
const RequiredVersion = "1.24.1"

// EnvLibrary names the environment variable that locates the shared
// library when no flag does.
const EnvLibrary = "LODE_ONNXRUNTIME_LIB"

// ErrLibraryNotFound is wrapped by FindLibrary's error when no shared
// library is found, so callers can serve without ONNX rather than fail.
var ErrLibraryNotFound = errors.New("ONNX Runtime shared library not found")

// LibraryName is the shared library's file name on this platform, as
// scripts/fetch-onnxruntime.sh stores it.
func LibraryName() string {
	if runtime.GOOS == "darwin" {
		return "libonnxruntime.1.dylib"
	}
	return "libonnxruntime.so.1"
}

// FindLibrary locates ONNX Runtime's shared library: flagValue when set,
// else $LODE_ONNXRUNTIME_LIB, else lib/onnxruntime/ beside the executable's
// folder (<exe dir>/../lib/onnxruntime), else lib/onnxruntime/ under the
// working directory. The error wraps ErrLibraryNotFound when none exists.
func FindLibrary(flagValue string) (string, error) {
	exe, err := os.Executable()
	if err == nil {
		if p, err := filepath.EvalSymlinks(exe); err == nil {
			exe = p
		}
	}
	cwd, _ := os.Getwd()
	return findLibrary(flagValue, os.Getenv(EnvLibrary), exe, cwd)
}

// findLibrary is FindLibrary with its inputs made explicit (for tests).
func findLibrary(flagValue, envValue, exe, cwd string) (string, error) {
	if flagValue != "" {
		return existing(flagValue, "--onnxruntime-lib")
	}
	if envValue != "" {
		return existing(envValue, EnvLibrary)
	}
	var looked []string
	rel := filepath.Join("lib", "onnxruntime", LibraryName())
	if exe != "" {
		looked = append(looked, filepath.Join(filepath.Dir(exe), "..", rel))
	}
	if cwd != "" {
		looked = append(looked, filepath.Join(cwd, rel))
	}
	for _, p := range looked {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (looked in: %s); run `make onnxruntime` or pass --onnxruntime-lib / set %s",
		ErrLibraryNotFound, strings.Join(looked, ", "), EnvLibrary)
}

// existing checks that path, which from names, is a file.
func existing(path, from string) (string, error) {
	where := path
	if from != "" {
		where += " (from " + from + ")"
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrLibraryNotFound, where, err)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("%w: %s is a directory, not the library file", ErrLibraryNotFound, where)
	}
	return path, nil
}

// env is the process's one ONNX Runtime environment: the C library can be
// loaded once, so the first New decides which one and its outcome sticks.
var env struct {
	once    sync.Once
	lib     string
	version string
	err     error
}

// start loads the library and creates the ORT environment.
func start(lib string) (string, error) {
	if ort.IsInitialized() {
		// Someone else in the process set it up; use theirs.
		return ort.GetVersion(), nil
	}
	ort.SetSharedLibraryPath(lib)
	// ONNX Runtime would also print every failed run to stderr; Lode
	// returns (and logs) those errors itself.
	if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
		return "", explainInitError(lib, err)
	}
	return ort.GetVersion(), nil
}

// explainInitError turns onnxruntime_go's initialisation errors into ones
// that say what to do.
func explainInitError(lib string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Error setting ORT API base"):
		// OrtGetApiBase()->GetApi(ORT_API_VERSION) returned NULL: the
		// library is older than the C API the bindings were built for.
		found := ""
		if b, rerr := os.ReadFile(filepath.Join(filepath.Dir(lib), "VERSION")); rerr == nil {
			found = fmt.Sprintf(" (its VERSION file says %s)", strings.TrimSpace(string(b)))
		}
		return fmt.Errorf("ONNX Runtime library %s%s is too old: Lode needs ONNX Runtime %s or newer; run `make onnxruntime` to fetch it: %w",
			lib, found, RequiredVersion, err)
	case strings.Contains(msg, "OrtGetApiBase"):
		return fmt.Errorf("%s is not an ONNX Runtime library (it has no OrtGetApiBase): %w", lib, err)
	case strings.Contains(msg, "Error loading ONNX shared library"):
		return fmt.Errorf("cannot load the ONNX Runtime library %s (wrong platform or missing dependencies?): %w", lib, err)
	}
	return fmt.Errorf("initialise ONNX Runtime from %s: %w", lib, err)
}

// Runtime serves models of the onnx flavor. It implements serving.Runtime.
type Runtime struct {
	lib     string
	version string
	log     *slog.Logger
}

// New loads ONNX Runtime's shared library from libPath (see FindLibrary)
// and returns the runtime; logger (nil for slog's default) is for models
// loaded without a logger of their own. The library is loaded once per process: later
// calls share it, and fail if they name a different file, as they do if
// the first load failed.
func New(libPath string, logger *slog.Logger) (*Runtime, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if libPath == "" {
		return nil, fmt.Errorf("%w: no library path given", ErrLibraryNotFound)
	}
	abs, err := filepath.Abs(libPath)
	if err != nil {
		return nil, err
	}
	// A missing file does not consume the one try at loading the library.
	if _, err := existing(abs, ""); err != nil {
		return nil, err
	}
	env.once.Do(func() {
		env.lib = abs
		env.version, env.err = start(abs)
	})
	if env.err != nil {
		return nil, env.err
	}
	if abs != env.lib && !sameFile(abs, env.lib) {
		return nil, fmt.Errorf("ONNX Runtime is already loaded from %s; one process can load only one library (asked for %s)", env.lib, abs)
	}
	return &Runtime{lib: env.lib, version: env.version, log: logger}, nil
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// Version is the loaded ONNX Runtime's version, such as "1.24.1".
func (r *Runtime) Version() string { return r.version }

// Library is the path of the loaded shared library.
func (r *Runtime) Library() string { return r.lib }

// Name is "onnxruntime".
func (r *Runtime) Name() string { return RuntimeName }

// Supports reports whether m has an onnx flavor.
func (r *Runtime) Supports(m *mlmodel.Model) bool {
	if m == nil {
		return false
	}
	_, ok := m.Flavors[Flavor]
	return ok
}

// Load opens the model file the onnx flavor names (flavors.onnx.data,
// which must lie inside dir) in one ONNX Runtime session that all requests
// share. Each run uses one thread (intra- and inter-op), unless the
// MLmodel's onnx_session_options say otherwise: Lode scales by running
// requests concurrently, as many as opts.Workers admits.
func (r *Runtime) Load(ctx context.Context, dir string, m *mlmodel.Model, opts serving.LoadOptions) (_ serving.Model, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = lode.Internal(fmt.Errorf("panic: %v", p), "ONNX Runtime failed to load the model")
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = r.log
	}
	if log == nil {
		log = slog.Default()
	}
	if !r.Supports(m) {
		return nil, lode.Errorf(lode.EInvalid, "model %s has no onnx flavor (flavors: %v)", opts.Label(), flavorNames(m))
	}
	conf := m.Flavors[Flavor]
	data, _ := conf["data"].(string)
	if data == "" {
		return nil, lode.Errorf(lode.EInvalid, "model %s: MLmodel's onnx flavor names no model file (flavors.onnx.data)", opts.Label())
	}
	path, err := inside(dir, data)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "model %s: %v", opts.Label(), err)
	}
	so, err := sessionOptions(conf, log)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "model %s: %v", opts.Label(), err)
	}
	defer so.Destroy()

	// Reading the graph's inputs and outputs takes a session of its own;
	// skip the graph optimisations for it.
	infoOpts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, lode.Internal(err, "cannot create ONNX Runtime session options")
	}
	defer infoOpts.Destroy()
	_ = infoOpts.SetIntraOpNumThreads(1)
	_ = infoOpts.SetInterOpNumThreads(1)
	_ = infoOpts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll)
	ins, outs, err := ort.GetInputOutputInfoWithOptions(path, infoOpts)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "model %s: ONNX Runtime cannot load %s: %v", opts.Label(), data, err)
	}
	model, err := newModel(ins, outs)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "model %s: %v", opts.Label(), err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sess, err := ort.NewDynamicAdvancedSession(path, names(ins), names(outs), so)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "model %s: ONNX Runtime cannot load %s: %v", opts.Label(), data, err)
	}
	model.sess = sess
	log.Info("onnx model loaded", "model", opts.Name, "version", opts.Version, "file", path,
		"inputs", specString(model.info.Inputs), "outputs", specString(model.info.Outputs), "workers", opts.Workers)
	return model, nil
}

// inside resolves name, a path relative to dir, refusing any that leaves
// dir, symbolic links included.
func inside(dir, name string) (string, error) {
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return "", fmt.Errorf("model file %q is not a path inside the model folder", name)
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("model folder: %w", err)
	}
	p, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		return "", fmt.Errorf("model file %q: %w", name, err)
	}
	rel, err := filepath.Rel(root, p)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("model file %q leads outside the model folder", name)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("model file %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("model file %q is not a regular file", name)
	}
	return p, nil
}

// sessionOptions builds the session options: one thread per run, unless
// the flavor's onnx_session_options (as mlflow.onnx.save_model records
// them) ask otherwise. Execution providers other than the CPU are not
// available here and are ignored.
func sessionOptions(conf map[string]any, log *slog.Logger) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("create session options: %w", err)
	}
	intra, inter := 1, 1
	if o, ok := conf["onnx_session_options"].(map[string]any); ok {
		if n, ok := positive(o["intra_op_num_threads"]); ok {
			intra = n
		}
		if n, ok := positive(o["inter_op_num_threads"]); ok {
			inter = n
		}
		if s, ok := o["execution_mode"].(string); ok {
			switch strings.ToUpper(s) {
			case "SEQUENTIAL":
				err = so.SetExecutionMode(ort.ExecutionModeSequential)
			case "PARALLEL":
				err = so.SetExecutionMode(ort.ExecutionModeParallel)
			}
		}
		if n, ok := positive(o["graph_optimization_level"]); ok && err == nil {
			err = so.SetGraphOptimizationLevel(ort.GraphOptimizationLevel(n))
		}
		if extra, ok := o["extra_session_config"].(map[string]any); ok {
			for k, v := range extra {
				if err == nil {
					err = so.AddSessionConfigEntry(k, fmt.Sprint(v))
				}
			}
		}
	}
	if err == nil {
		err = so.SetIntraOpNumThreads(intra)
	}
	if err == nil {
		err = so.SetInterOpNumThreads(inter)
	}
	if err != nil {
		so.Destroy()
		return nil, fmt.Errorf("onnx_session_options: %w", err)
	}
	if p, ok := conf["providers"].([]any); ok && len(p) > 0 {
		log.Debug("onnx model names execution providers; Lode runs it on the CPU", "providers", p)
	}
	return so, nil
}

// positive reads a YAML number that must be a positive integer.
func positive(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, n > 0
	case int64:
		return int(n), n > 0
	case float64:
		return int(n), n > 0 && n == float64(int(n))
	}
	return 0, false
}

func names(infos []ort.InputOutputInfo) []string {
	s := make([]string, len(infos))
	for i, in := range infos {
		s[i] = in.Name
	}
	return s
}

func flavorNames(m *mlmodel.Model) []string {
	if m == nil {
		return nil
	}
	return m.FlavorNames()
}

func specString(specs []serving.TensorSpec) string {
	parts := make([]string, len(specs))
	for i, s := range specs {
		parts[i] = fmt.Sprintf("%s:%s%v", s.Name, s.DType, s.Shape)
	}
	return strings.Join(parts, " ")
}
