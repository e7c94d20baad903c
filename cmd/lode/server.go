package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/gate"
	"github.com/lode-ml/lode/inferapi"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/localfs"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/optunagrpc"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/s3store"
	"github.com/lode-ml/lode/serving"
	"github.com/lode-ml/lode/tracking"
	"github.com/lode-ml/lode/tune"
	"github.com/lode-ml/lode/tuner"
	"github.com/lode-ml/lode/web"
)

// serverConfig holds `lode server`'s flags.
type serverConfig struct {
	dataDir             string
	host                string
	port                int
	backendStoreURI     string
	artifactsDest       string
	defaultArtifactRoot string
	serveArtifacts      bool
	maxBodyBytes        int64
	maxArtifactBytes    int64
	synchronous         string
	logFormat           string
	accessLog           bool
	shutdownTimeout     time.Duration
	modelCache          string
	poll                time.Duration
	rt                  runtimeFlags
	jobDir              string
	jobs                bool
	jobCPUs             float64
	jobMemory           string
	jobGPUs             int
	maxSnapshotBytes    int64
	auth                authFlags
	front               frontFlags
	optunaGRPC          bool
}

func newServerCmd() *cobra.Command {
	var c serverConfig
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the tracking server (MLflow REST API and artifact proxy)",
		Long: `Run Lode's server: experiment tracking and the model registry (MLflow's
REST API and artifact proxy), the web UI at /, deployed models and jobs.
It listens on 127.0.0.1:5000 and keeps everything in one data directory,
--data-dir (default $LODE_DATA_DIR, else ./lode-data):

  lode.db          metadata (SQLite)       --backend-store-uri
  artifacts/       artifacts               --artifacts-destination
  jobs/            job snapshots and logs  --job-dir
  serving/models/  deployed models' files  --model-cache
  serving/envs/    Python environments     --env-cache

Each flag on the right puts its part elsewhere (PostgreSQL, S3, another
disk); the rest stays in the data directory. The mlflow client works
against the server unchanged:

  export MLFLOW_TRACKING_URI=http://127.0.0.1:5000

The server answers only to the Host names localhost, 127.0.0.1, [::1] and
its own address (any IP address when it listens on 0.0.0.0 or ::); add the
names users reach it by with --allowed-hosts (lode.example.com,
*.example.com). State-changing requests from other web sites are refused;
--cors-allowed-origins lets named origins in. With --tls-cert and --tls-key
it serves HTTPS:

  export MLFLOW_TRACKING_URI=https://lode.example.com:5000
  export MLFLOW_TRACKING_SERVER_CERT_PATH=/path/to/ca.pem   # a private CA

Slow or stalled clients are cut (--read-header-timeout, --read-timeout,
--write-timeout, --idle-timeout) and at most --max-inflight-requests are
handled at once.

With no user, on a loopback address, the server asks nobody to sign in (the
one-person laptop). --admin-user NAME (password from $LODE_ADMIN_PASSWORD,
else generated and printed once) turns authentication on, as users in its
database do: clients then sign in as with MLflow's basic-auth app
(MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or a token from
"lode token create" in MLFLOW_TRACKING_TOKEN), browsers at /login, and each
request needs MLflow's permission on what it touches; only admins run code
(jobs, Python models) unless --allow-user-code. On any other address
the server refuses to start without authentication unless given
--insecure-no-auth. See docs/security.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), c)
		},
	}
	f := cmd.Flags()
	registerDataDir(f, &c.dataDir)
	f.StringVar(&c.host, "host", "127.0.0.1", "address to listen on")
	f.IntVarP(&c.port, "port", "p", 5000, "port to listen on (0 picks a free port)")
	f.StringVar(&c.backendStoreURI, "backend-store-uri", "", "metadata store: sqlite:///relative/path.db, sqlite:////absolute/path.db, or postgresql://user:password@host:port/database (default: "+dataDB+" in --data-dir)")
	f.StringVar(&c.artifactsDest, "artifacts-destination", "", "where the artifact proxy keeps artifacts: a directory, or s3://bucket/prefix (credentials and region from the usual AWS variables; MLFLOW_S3_ENDPOINT_URL for S3-compatible stores) (default: "+dataArtifacts+"/ in --data-dir)")
	f.StringVar(&c.defaultArtifactRoot, "default-artifact-root", "mlflow-artifacts:", "artifact root of new experiments (<root>/<experiment id>)")
	f.BoolVar(&c.serveArtifacts, "serve-artifacts", true, "serve the mlflow-artifacts proxy")
	f.Int64Var(&c.maxBodyBytes, "max-request-bytes", mlflowapi.DefaultMaxBodyBytes, "largest JSON request body accepted")
	f.Int64Var(&c.maxArtifactBytes, "max-artifact-bytes", mlflowapi.DefaultMaxArtifactBytes, "largest artifact file one upload may carry, in bytes; the default, 5 GiB, takes most single model files (0: no limit)")
	f.StringVar(&c.synchronous, "sqlite-synchronous", "FULL", "SQLite synchronous mode: FULL (survives power loss) or NORMAL (survives process crashes)")
	f.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&c.accessLog, "access-log", true, "log every request")
	f.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to let in-flight requests finish on shutdown")
	f.StringVar(&c.modelCache, "model-cache", "", "where deployed models' files are cached (default: "+dataModelCache+"/ in --data-dir)")
	f.DurationVar(&c.poll, "deployment-poll", 5*time.Second, "how often deployments re-resolve the aliases they follow, and the server re-reads the deployments other servers on its database made")
	c.rt.register(f, "", dataEnvCache+"/ in --data-dir")
	f.StringVar(&c.jobDir, "job-dir", "", "where jobs' code snapshots and logs are kept (default: "+dataJobs+"/ in --data-dir)")
	f.BoolVar(&c.jobs, "jobs", true, "run jobs on this server; with several servers on one database, exactly one runs them (the others: --jobs=false)")
	f.Float64Var(&c.jobCPUs, "job-cpus", 0, "CPU cores jobs may use (default: all of this machine's)")
	f.StringVar(&c.jobMemory, "job-memory", "", "memory jobs may use, e.g. 16G (default: all of this machine's)")
	f.IntVar(&c.jobGPUs, "job-gpus", -1, "GPUs jobs may use, numbered 0..N-1 (default: those nvidia-smi lists)")
	f.Int64Var(&c.maxSnapshotBytes, "max-job-snapshot-bytes", 1<<30, "largest working directory a job may be submitted with")
	f.BoolVar(&c.optunaGRPC, "optuna-grpc", true, "serve Optuna's gRPC storage (optuna.storages.GrpcStorageProxy) on this port, over HTTP/2 without TLS beside HTTP/1.1; with authentication on, only admins may call it (see docs/optuna.md)")
	c.front.register(f)
	c.auth.register(f)
	return cmd
}

func newLogger(format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q: want text or json", format)
}

// placeData puts every part of the server's data that no flag placed in
// the data directory.
func (c *serverConfig) placeData() error {
	c.dataDir = resolveDataDir(c.dataDir)
	if c.backendStoreURI == "" {
		uri, err := sqliteURIIn(c.dataDir)
		if err != nil {
			return err
		}
		c.backendStoreURI = uri
	}
	c.artifactsDest = orInDataDir(c.artifactsDest, c.dataDir, dataArtifacts)
	c.jobDir = orInDataDir(c.jobDir, c.dataDir, dataJobs)
	c.modelCache = orInDataDir(c.modelCache, c.dataDir, dataModelCache)
	c.rt.envCache = orInDataDir(c.rt.envCache, c.dataDir, dataEnvCache)
	return nil
}

func runServer(ctx context.Context, c serverConfig) error {
	logger, err := newLogger(c.logFormat)
	if err != nil {
		return err
	}
	if err := c.placeData(); err != nil {
		return err
	}
	db, dbPath, err := openMetadata(ctx, c.backendStoreURI, c.defaultArtifactRoot, c.synchronous)
	if err != nil {
		return err
	}
	defer db.Close()
	authSvc, err := setupAuth(ctx, c.auth, db, c.host, os.Stderr, logger)
	if err != nil {
		return err
	}

	trackingSvc := &tracking.Service{Store: db, ValidateLocation: artifact.ValidateLocation}
	registrySvc := &registry.Service{Store: db, Tracking: trackingSvc, ArtifactScheme: mlflowapi.ArtifactScheme}
	// Who may do what: the guard judges each route by its rule, and the
	// services keep every search within what its caller may read.
	guard := &mlflowapi.Guard{Auth: authSvc, Find: mlflowapi.ServiceFinder{Tracking: trackingSvc, Jobs: db}, MaxBodyBytes: c.maxBodyBytes}
	trackingSvc.Readable, registrySvc.Readable, registrySvc.CheckSource = guard.Readable, guard.Readable, guard.CheckSource
	api := &mlflowapi.Server{
		Tracking:         trackingSvc,
		Registry:         registrySvc,
		Logger:           logger,
		Version:          version,
		MaxBodyBytes:     c.maxBodyBytes,
		MaxArtifactBytes: c.maxArtifactBytes,
		Guard:            guard,
		Auth:             authSvc,
		UserCode:         c.auth.allowUserCode,
	}
	if authSvc != nil {
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		go sweepTokens(sctx, authSvc, logger)
	}
	if c.serveArtifacts {
		store, root, err := openArtifacts(ctx, c.artifactsDest)
		if err != nil {
			return fmt.Errorf("--artifacts-destination: %w", err)
		}
		api.Artifacts = store
		// Model versions may name files under the artifact root, and the
		// model library reads their MLmodel files from it.
		registrySvc.Artifacts, registrySvc.ArtifactRoot = store, root
	}
	mgr := &serving.Manager{
		Runtimes: c.rt.runtimes(logger),
		Source: &serving.StoreSource{
			Registry: registrySvc, Artifacts: api.Artifacts, Scheme: mlflowapi.ArtifactScheme, CacheDir: c.modelCache,
			RunArtifactURI: func(ctx context.Context, id string) (string, error) {
				run, err := trackingSvc.GetRun(ctx, id)
				if err != nil {
					return "", err
				}
				return run.Info.ArtifactURI, nil
			},
		},
		Store: db, Logger: logger, Poll: c.poll,
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("start deployments: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
		defer cancel()
		mgr.Close(cctx)
	}()
	api.Deployments = mgr

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	infer := inferapi.New(inferapi.Options{Catalog: mgr, Logger: logger, NoAccessLog: !c.accessLog, MaxBodyBytes: c.maxBodyBytes,
		Registerer: reg, Version: version, Authorize: func(ctx context.Context, model string, predict bool) error {
			return guard.CheckTarget(ctx, mlflowapi.TargetDeployment, model, inferNeed(predict), false)
		}})
	// Jobs run as local processes, each with a run in this server's
	// tracking store; the server listens first so jobs know its URL.
	ln, err := net.Listen("tcp", net.JoinHostPort(c.host, strconv.Itoa(c.port)))
	if err != nil {
		return err
	}
	c.front.h2c = c.optunaGRPC
	front, err := c.front.gate(ln.Addr(), logger, apiPrefixes...)
	if err != nil {
		ln.Close()
		return err
	}
	var uiJobs web.Jobs
	if c.jobs {
		var creds jobs.Credentials
		if authSvc != nil {
			creds = &jobCredentials{auth: authSvc, ttl: c.auth.jobTokenTTL, logger: logger}
		}
		jobSvc, err := startJobs(ctx, c, db, dbPath, trackingSvc, api.Artifacts, jobTracking(front, ln.Addr(), c.front.tlsCert, logger), creds, guard.Readable, logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer jobSvc.Close()
		api.Jobs, uiJobs = jobSvc, jobSvc
		// Studies (lode tune) run their trials as jobs, so the server
		// that runs jobs runs them, and resumes those a restart stopped.
		runner := &tuner.Runner{Studies: &tune.Service{Store: db}, Jobs: jobSvc, Tracking: trackingSvc, Logger: logger}
		if err := runner.Start(ctx); err != nil {
			ln.Close()
			return fmt.Errorf("start studies: %w", err)
		}
		defer runner.Close()
		api.Studies = runner
	} else {
		logger.Info("jobs are off on this server (--jobs=false)")
	}

	ui := &web.Server{Tracking: trackingSvc, Registry: registrySvc, Artifacts: api.Artifacts, Jobs: uiJobs, Studies: db, Version: version, Logger: logger,
		Guard: guard, Auth: authSvc, SecureCookies: front.TLS() || c.auth.secureCookies, SessionTTL: c.auth.sessionTTL}
	var accessLog *slog.Logger
	if c.accessLog {
		accessLog = logger
	}
	var optuna *optunagrpc.Server
	if c.optunaGRPC {
		optuna = &optunagrpc.Server{Studies: &tune.Service{Store: db}, Logger: logger}
	}
	h, _, err := serverHandler(api, ui, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), infer, optuna, accessLog)
	if err != nil {
		ln.Close()
		return err
	}
	return serveOn(ctx, logger, ln, front, h, c.shutdownTimeout, "lode server listening",
		"data_dir", c.dataDir, "backend_store", redactURI(c.backendStoreURI), "artifacts", c.artifactsDest)
}

// jobTracking is how this server's jobs reach it: its listening address
// (loopback when it listens on all addresses), over https with the
// server's certificate when it serves TLS.
func jobTracking(g *gate.Gate, addr net.Addr, certFile string, logger *slog.Logger) trackingTarget {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	t := trackingTarget{uri: "http://" + net.JoinHostPort(host, port)}
	if g.TLS() {
		t.uri = "https://" + net.JoinHostPort(host, port)
		if abs, err := filepath.Abs(certFile); err == nil {
			t.certPath = abs
		}
		if err := g.CheckCertificateName(host); err != nil {
			logger.Warn("jobs reach this server at "+t.uri+", a name its TLS certificate lacks: their mlflow calls will fail verification",
				"err", err)
		}
	}
	return t
}

// trackingTarget is the tracking server's URL as jobs get it, and the
// certificate they verify it with (none for http).
type trackingTarget struct {
	uri      string
	certPath string
}

// openArtifacts opens the artifact store dest names: s3://bucket/prefix,
// checked with one request so that a wrong bucket or credentials fail at
// start rather than at the first upload; else a local directory, whose
// path is returned too (model versions may name files inside it).
func openArtifacts(ctx context.Context, dest string) (artifact.Store, string, error) {
	if strings.HasPrefix(dest, "s3://") {
		st, err := s3store.New(ctx, dest, s3store.Options{})
		if err != nil {
			return nil, "", err
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := st.Check(cctx); err != nil {
			return nil, "", err
		}
		return st, "", nil
	}
	st, err := localfs.New(dest)
	if err != nil {
		return nil, "", err
	}
	return st, st.Root(), nil
}

// serverHandler puts lode server's routes together: the MLflow and Lode
// APIs, the UI, /metrics, the inference protocols and Optuna's storage
// service (unless optuna is nil), on one mux behind authentication (the
// gate goes around it). It returns every route with the rule that guards
// it; accessLog, when set, logs each request.
func serverHandler(api *mlflowapi.Server, ui *web.Server, metrics, infer http.Handler, optuna *optunagrpc.Server, accessLog *slog.Logger) (http.Handler, []mlflowapi.Route, error) {
	var handler http.Handler = api.Handler()
	var wrap func(http.Handler) http.Handler
	if accessLog != nil {
		handler = mlflowapi.AccessLog(accessLog, handler)
		wrap = func(h http.Handler) http.Handler { return mlflowapi.AccessLog(accessLog, h) }
	}
	mux := http.NewServeMux()
	mux.Handle("/", handler)
	// MLflow's span export shares /v1/ with TF Serving's API; the MLflow
	// API answers it.
	mux.Handle("POST "+mlflowapi.OTLPTracesPath, handler)
	if err := ui.Mount(mux, wrap); err != nil {
		return nil, nil, fmt.Errorf("web UI: %w", err)
	}
	routes := append(api.Routes(), ui.Routes()...)
	for _, rt := range serverRoutes(api.Guard, metrics, infer, optuna) {
		mux.Handle(rt.pattern, rt.handler)
		method, path, ok := strings.Cut(rt.pattern, " ")
		if !ok {
			method, path = "*", rt.pattern
		}
		routes = append(routes, mlflowapi.Route{Method: method, Pattern: path, Rule: rt.rule})
	}
	authn := &gate.Authn{Auth: api.Auth, APIPrefixes: apiPrefixes, Logger: api.Logger}
	return authn.Handler(mlflowapi.PreRoute(handler, mux)), routes, nil
}

// apiPrefixes are the paths of lode server's APIs: their refusals are
// MLflow JSON errors, the rest (the UI) are text.
var apiPrefixes = []string{"/api/", "/ajax-api/", "/graphql", "/v1/", "/v2/", "/endpoints/"}

// serverRoute is one of the routes lode server mounts itself, besides the
// API's and the UI's.
type serverRoute struct {
	pattern string
	rule    mlflowapi.Rule
	handler http.Handler
}

// serverRoutes are /metrics (for any signed-in caller: a Prometheus
// scraper sends a token), the inference protocols, which check each
// call themselves (inferapi.Options.Authorize): USE on the deployment for
// a prediction, READ for its status and metadata, and Optuna's storage
// service when optuna is not nil.
func serverRoutes(g *mlflowapi.Guard, metrics, infer http.Handler, optuna *optunagrpc.Server) []serverRoute {
	signedIn := mlflowapi.SignedInRule()
	rs := []serverRoute{{"GET /metrics", signedIn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.Check(r, signedIn); err != nil {
			mlflowapi.WriteError(w, r, err)
			return
		}
		metrics.ServeHTTP(w, r)
	})}}
	// Deployed models answer TF Serving's and KServe's protocols, and
	// MLflow scoring at /endpoints/NAME/invocations.
	for _, p := range []string{"/v1/", "/v2/", "/endpoints/"} {
		rs = append(rs, serverRoute{p, mlflowapi.On(mlflowapi.TargetDeployment, auth.NeedUse), infer})
	}
	// KServe's server metadata names the server and its protocol only.
	rs = append(rs, serverRoute{"GET /v2", mlflowapi.PublicRule(), infer})
	if optuna != nil {
		rs = append(rs, optunaRoute(g, optuna))
	}
	return rs
}

// inferNeed is what an inference call needs of a deployment: USE for a
// prediction, READ for its status and metadata.
func inferNeed(predict bool) auth.Need {
	if predict {
		return auth.NeedUse
	}
	return auth.NeedRead
}

// optunaRoute serves Optuna's storage service to admins (anyone, on a
// server without authentication): a study is not yet tied to an
// experiment whose permissions could guard it, and Optuna's
// GrpcStorageProxy sends no credentials of its own (see docs/optuna.md for
// a client that does). A refused gRPC call gets its answer as a gRPC
// status, so that Optuna raises it as such.
func optunaRoute(g *mlflowapi.Guard, optuna *optunagrpc.Server) serverRoute {
	rule := mlflowapi.AdminRule()
	h := optuna.Handler()
	return serverRoute{"POST " + optunagrpc.ServicePath, rule, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.Check(r, rule); err != nil {
			if optunagrpc.IsCall(r) {
				optuna.Refuse(w, err)
			} else {
				mlflowapi.WriteError(w, r, err)
			}
			return
		}
		h.ServeHTTP(w, r)
	})}
}
