package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/gate"
	"github.com/lode-ml/lode/inferapi"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/onnx"
	"github.com/lode-ml/lode/pyfunc"
	"github.com/lode-ml/lode/serving"
)

// runtimeFlags choose and configure the model runtimes; `lode serve` and
// `lode server` share them.
type runtimeFlags struct {
	onnxLib    string
	envManager string
	python     string
	envCache   string
	modelEnv   []string
}

// defaultEnvCache is --env-cache's default; when it is "", defaultNote
// says what stands for it.
func (f *runtimeFlags) register(fs *pflag.FlagSet, defaultEnvCache, defaultNote string) {
	fs.StringVar(&f.onnxLib, "onnxruntime-lib", "", "path of ONNX Runtime's shared library (default: $LODE_ONNXRUNTIME_LIB, then lib/onnxruntime/ next to the binary or in the current directory)")
	fs.StringVar(&f.envManager, "env-manager", "virtualenv", "environment of Python models: virtualenv (built from the model's requirements, cached) or local (the --python interpreter as it is)")
	fs.StringVar(&f.python, "python", "python3", "Python interpreter for Python models and, in lode server, project jobs (the base of their virtualenvs)")
	envCacheUsage := "where Python environments (of models, and of project jobs in lode server) are cached"
	if defaultNote != "" {
		envCacheUsage += " (default: " + defaultNote + ")"
	}
	fs.StringVar(&f.envCache, "env-cache", defaultEnvCache, envCacheUsage)
	fs.StringSliceVar(&f.modelEnv, "model-env", nil, "variables of Lode's environment that Python models also get (NAME, or PREFIX* for all it begins; repeat or separate with commas): their workers and environment builds get only PATH, HOME, USER, the locale, TMPDIR, library paths, GPUs, thread counts, proxies and CA certificates (builds also PIP_*), so that Lode's own secrets stay out of models' reach")
}

// runtimes builds the model runtimes in order of preference: ONNX Runtime
// in-process for models with an onnx flavor, then Python workers for any
// pyfunc model. When ONNX Runtime's library is missing, the server runs
// all the same (most never serve an ONNX model, and the library comes
// from npm, which a newcomer may lack); ONNX models are then refused with
// the reason rather than quietly served by Python. The library is found
// now but loaded with the first ONNX model: it costs about 30 MB and
// 100 ms, which a server that serves none need not pay.
func (f *runtimeFlags) runtimes(logger *slog.Logger) []serving.Runtime {
	var ort serving.Runtime
	lib, err := onnx.FindLibrary(f.onnxLib)
	if err != nil {
		logger.Info("ONNX Runtime not found: ONNX models will be refused until it is installed (or deployed with --runtime python); other models are served as usual", "err", err)
		ort = missingRuntime{err: err}
	} else {
		ort = &lazyONNX{lib: lib, logger: logger}
	}
	py := pyfunc.New(pyfunc.Options{EnvManager: f.envManager, Python: f.python, CacheDir: f.envCache, Logger: logger, PassEnv: f.modelEnv})
	return []serving.Runtime{ort, py}
}

// lazyONNX is ONNX Runtime, loaded from lib when the first ONNX model is.
type lazyONNX struct {
	lib    string
	logger *slog.Logger
	once   sync.Once
	rt     *onnx.Runtime
	err    error
}

func (l *lazyONNX) Name() string { return onnx.RuntimeName }
func (l *lazyONNX) Supports(m *mlmodel.Model) bool {
	_, ok := m.Flavors[onnx.Flavor]
	return ok
}
func (l *lazyONNX) Load(ctx context.Context, dir string, m *mlmodel.Model, opts serving.LoadOptions) (serving.Model, error) {
	l.once.Do(func() {
		if l.rt, l.err = onnx.New(l.lib, l.logger); l.err == nil {
			l.logger.Info("ONNX Runtime loaded", "library", l.lib, "version", l.rt.Version())
		} else {
			l.logger.Error("ONNX Runtime unavailable: ONNX models will be refused (or use --runtime python)", "err", l.err)
		}
	})
	if l.err != nil {
		return nil, lode.Errorf(lode.EInvalid, "cannot serve an ONNX model: %v", l.err)
	}
	return l.rt.Load(ctx, dir, m, opts)
}

// missingRuntime stands for ONNX Runtime when its library could not be
// loaded: it claims ONNX models and fails to load them, saying why.
type missingRuntime struct{ err error }

func (missingRuntime) Name() string { return onnx.RuntimeName }
func (missingRuntime) Supports(m *mlmodel.Model) bool {
	_, ok := m.Flavors["onnx"]
	return ok
}
func (r missingRuntime) Load(context.Context, string, *mlmodel.Model, serving.LoadOptions) (serving.Model, error) {
	return nil, lode.Errorf(lode.EInvalid, "cannot serve an ONNX model: %v", r.err)
}

// serveConfig holds `lode serve`'s flags.
type serveConfig struct {
	modelURI        string
	name            string
	host            string
	port            int
	trackingURI     string
	runtime         string
	workers         int
	maxQueue        int
	timeout         time.Duration
	maxBodyBytes    int64
	poll            time.Duration
	logFormat       string
	accessLog       bool
	shutdownTimeout time.Duration
	rt              runtimeFlags
	front           frontFlags
}

func newServeCmd() *cobra.Command {
	var c serveConfig
	cmd := &cobra.Command{
		Use:   "serve -m MODEL_URI",
		Short: "Serve one model over MLflow's, TF Serving's and KServe V2's REST protocols",
		Long: `Serve one model, as ` + "`mlflow models serve`" + ` does, on three protocols at once:

  MLflow scoring   POST /invocations, GET /ping, /health, /version
  TF Serving REST  /v1/models/NAME[:predict|:classify|:regress], /metadata
  KServe V2        /v2/health/ready, /v2/models/NAME[/ready|/infer]

plus Prometheus metrics at /metrics. MODEL_URI is models:/NAME/VERSION,
models:/NAME@ALIAS (followed: when the alias moves, the new version is
loaded, warmed and swapped in without dropping a request), models:/NAME/STAGE,
runs:/RUN_ID/PATH, or a local folder holding an MLmodel file. Registry and
run URIs are fetched from the tracking server (--tracking-uri, else
MLFLOW_TRACKING_URI, else http://127.0.0.1:5000).

Models with an onnx flavor run in-process on ONNX Runtime; other
python_function models run in a pool of Python worker processes, in a
virtualenv built from the model's requirements (or --env-manager local).

The server has lode server's front door: it answers only to localhost,
127.0.0.1, [::1], its own address and the --allowed-hosts (health probes
excepted), refuses state-changing requests from other web sites unless
--cors-allowed-origins names them, serves HTTPS with --tls-cert and
--tls-key, cuts stalled clients and caps the requests in flight. The
client that fetches models:/ and runs:/ URIs takes MLFLOW_TRACKING_TOKEN,
MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_TRACKING_SERVER_CERT_PATH and
MLFLOW_TRACKING_INSECURE_TLS as the mlflow client does. See docs/security.md.`,
		Example: `  lode serve -m models:/wine@champion -p 5001
  lode serve -m ./mlruns/0/abc/artifacts/model --env-manager local
  curl -d '{"dataframe_records": [{"alcohol": 12.8, ...}]}' -H 'Content-Type: application/json' http://127.0.0.1:5001/invocations`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), c)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&c.modelURI, "model-uri", "m", "", "model to serve (required)")
	f.StringVar(&c.name, "name", "", "name of the model in TF Serving and KServe URLs (default: the registered model's name, else the folder's)")
	f.StringVar(&c.host, "host", "127.0.0.1", "address to listen on")
	f.IntVarP(&c.port, "port", "p", 5000, "port to listen on (0 picks a free port)")
	f.StringVar(&c.trackingURI, "tracking-uri", "", "tracking server for models:/ and runs:/ URIs")
	f.StringVar(&c.runtime, "runtime", "", "force a runtime: onnx or python (default: onnx for ONNX models, else python)")
	f.IntVarP(&c.workers, "workers", "w", 0, "requests run at once: Python worker processes or concurrent ONNX runs (default: 2 for Python, the CPU count for ONNX)")
	f.IntVar(&c.maxQueue, "max-queue", 0, "requests that may wait beyond those running before the server answers 429 (default: 8 per worker for Python models, 64 per concurrent run for ONNX)")
	f.DurationVarP(&c.timeout, "timeout", "t", 60*time.Second, "per-request timeout")
	f.Int64Var(&c.maxBodyBytes, "max-request-bytes", 32<<20, "largest request body accepted")
	f.DurationVar(&c.poll, "poll", 5*time.Second, "how often an alias is re-resolved")
	f.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&c.accessLog, "access-log", true, "log every request")
	f.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to let in-flight requests finish on shutdown")
	c.rt.register(f, defaultCacheDir("envs"), "")
	c.front.register(f)
	cmd.MarkFlagRequired("model-uri")
	return cmd
}

// defaultCacheDir is Lode's per-user cache: $XDG_CACHE_HOME/lode/<sub>.
func defaultCacheDir(sub string) string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "lode", sub)
	}
	return filepath.Join(".lode-cache", sub)
}

func runServe(ctx context.Context, c serveConfig) error {
	logger, err := newLogger(c.logFormat)
	if err != nil {
		return err
	}
	// A model server's heap is small and its requests allocate: collecting
	// less often trims tail latency for little memory. GOGC overrides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ref, err := serving.ParseModelURI(c.modelURI)
	if err != nil {
		return errors.New(lode.ErrorMessage(err))
	}
	name := c.name
	if name == "" {
		name = defaultServedName(ref)
	}
	src := &clientSource{opts: modelsOpts{command: "lode serve", trackingURI: c.trackingURI}, cacheDir: defaultCacheDir("models"), progress: os.Stderr}
	mgr := &serving.Manager{Runtimes: c.rt.runtimes(logger), Source: src, Logger: logger, Poll: c.poll}
	if err := mgr.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
		defer cancel()
		mgr.Close(cctx)
	}()
	logger.Info("loading model", "model_uri", c.modelURI, "name", name)
	if _, err := mgr.Create(ctx, serving.Deployment{Name: name, ModelURI: c.modelURI, Runtime: c.runtime,
		Workers: c.workers, MaxQueue: c.maxQueue, TimeoutMillis: c.timeout.Milliseconds()}); err != nil {
		return fmt.Errorf("%s: %s", c.modelURI, lode.ErrorMessage(err))
	}
	if err := waitLoaded(ctx, mgr, name); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := inferapi.New(inferapi.Options{Catalog: mgr, Logger: logger, NoAccessLog: !c.accessLog, MaxBodyBytes: c.maxBodyBytes,
		Registerer: reg, Standalone: name, Version: version, MLflowVersion: mlflowapi.MLflowVersion})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", api)
	return listenAndServe(ctx, logger, c.host, c.port, &c.front, mux, c.shutdownTimeout, "lode serve listening", "model", name)
}

// waitLoaded waits for the first version of a deployment and reports the
// load error if there was one.
func waitLoaded(ctx context.Context, mgr *serving.Manager, name string) error {
	for {
		st, err := mgr.Get(name)
		if err != nil {
			return err
		}
		switch st.State {
		case serving.StateAvailable:
			return nil
		case serving.StateFailed:
			return fmt.Errorf("cannot serve %s: %s", st.ModelURI, st.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func defaultServedName(ref serving.Ref) string {
	switch ref.Kind {
	case serving.RefRegistry:
		return ref.Name
	case serving.RefLocal:
		if b := filepath.Base(filepath.Clean(ref.Dir)); b != "." && b != "/" {
			return b
		}
	}
	return "model"
}

// listenAndServe serves h behind the front door front configures (every
// path answers refusals in JSON: a model server has no pages) until ctx
// ends, then drains in-flight requests for up to grace.
func listenAndServe(ctx context.Context, logger *slog.Logger, host string, port int, front *frontFlags, h http.Handler, grace time.Duration, msg string, attrs ...any) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	g, err := front.gate(ln.Addr(), logger, "/")
	if err != nil {
		ln.Close()
		return err
	}
	return serveOn(ctx, logger, ln, g, h, grace, msg, attrs...)
}

// serveOn serves h on ln behind g until ctx ends, then drains in-flight
// requests for up to grace.
func serveOn(ctx context.Context, logger *slog.Logger, ln net.Listener, g *gate.Gate, h http.Handler, grace time.Duration, msg string, attrs ...any) error {
	srv := g.Server(withVersionHeader(h))
	logger.Info(msg, append([]any{"url", g.URL(ln.Addr()), "version", version}, attrs...)...)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(srv, ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests", "timeout", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// clientSource resolves model URIs through a tracking server's REST API
// and downloads model files into a local cache; local folders are served
// in place.
type clientSource struct {
	opts     modelsOpts
	cacheDir string
	progress io.Writer
	client   *mlflowapi.Client
}

func (s *clientSource) c() (*mlflowapi.Client, error) {
	if s.client == nil {
		c, err := s.opts.client()
		if err != nil {
			return nil, err
		}
		s.client = c
	}
	return s.client, nil
}

// Resolve implements serving.Source.
func (s *clientSource) Resolve(ctx context.Context, ref serving.Ref) (serving.Resolved, error) {
	switch ref.Kind {
	case serving.RefLocal:
		dir, err := filepath.Abs(ref.Dir)
		if err != nil {
			return serving.Resolved{}, err
		}
		if _, err := os.Stat(filepath.Join(dir, "MLmodel")); err != nil {
			return serving.Resolved{}, lode.Errorf(lode.ENotFound, "no MLmodel file in %s", ref.Dir)
		}
		return serving.Resolved{Version: "1", Location: dir}, nil
	case serving.RefRun:
		c, err := s.c()
		if err != nil {
			return serving.Resolved{}, err
		}
		uri, err := c.ResolveRunsURI(ctx, "runs:/"+ref.RunID+"/"+ref.Path)
		if err != nil {
			return serving.Resolved{}, err
		}
		return serving.Resolved{Version: "1", Location: uri}, nil
	}
	c, err := s.c()
	if err != nil {
		return serving.Resolved{}, err
	}
	mr := modelRef{name: ref.Name, version: ref.Version + ref.Stage, alias: ref.Alias}
	v, err := resolveVersion(ctx, c, mr)
	if err != nil {
		return serving.Resolved{}, err
	}
	uri, err := c.GetModelVersionDownloadURI(ctx, ref.Name, v)
	if err != nil {
		return serving.Resolved{}, err
	}
	return serving.Resolved{Model: ref.Name, Version: v, Location: uri}, nil
}

// Fetch implements serving.Source.
func (s *clientSource) Fetch(ctx context.Context, r serving.Resolved) (string, error) {
	if filepath.IsAbs(r.Location) {
		return r.Location, nil
	}
	c, err := s.c()
	if err != nil {
		return "", err
	}
	root, err := mlflowapi.ProxiedArtifactPath(r.Location)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(c.BaseURL + "\x00" + r.Location))
	dst := filepath.Join(s.cacheDir, hex.EncodeToString(sum[:12]))
	if _, err := os.Stat(filepath.Join(dst, "MLmodel")); err == nil {
		return dst, nil
	}
	files, err := c.ListArtifactTree(ctx, root)
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", lode.Errorf(lode.ENotFound, "no files at %s", r.Location)
	}
	tmp := dst + ".tmp-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	defer os.RemoveAll(tmp)
	if _, _, err := downloadFiles(ctx, c, files, tmp, s.progress); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(tmp, "MLmodel")); err != nil {
		return "", lode.Errorf(lode.EInvalid, "no MLmodel file at %s", r.Location)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, serr := os.Stat(filepath.Join(dst, "MLmodel")); serr == nil {
			return dst, nil
		}
		return "", err
	}
	return dst, nil
}
