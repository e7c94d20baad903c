// Package inferapi is the HTTP side of Lode's model server. It serves the
// models of a serving.Catalog in three protocols, and defines the serving
// Prometheus metrics and a structured access log:
//
//   - MLflow's scoring protocol: POST /endpoints/{name}/invocations and
//     GET /endpoints/{name}/ping; with Options.Standalone also POST
//     /invocations, GET /ping, /health and /version at the root. JSON
//     (dataframe_split, dataframe_records, instances, inputs, and MLflow
//     1.x's bare records) and CSV; errors as {"error_code", "message"}.
//   - TensorFlow Serving's REST API under /v1/models/{name}[/versions/{v}
//     |/labels/{l}]: status, /metadata, :predict, :classify, :regress;
//     errors as {"error"}.
//   - KServe's V2 Open Inference Protocol under /v2, with Triton's binary
//     tensor data extension; errors as {"error"}.
//
// Floats are written as Python writes them (NaN and ±Infinity as bare
// tokens, whole floats with ".0", FP32 at float32 precision); see encode.go.
package inferapi

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/serving"
)

// DefaultMaxBodyBytes bounds request bodies unless Options say otherwise.
const DefaultMaxBodyBytes = 32 << 20

// Options configure a Handler.
type Options struct {
	// Catalog is the set of models served.
	Catalog serving.Catalog
	// Logger receives the access log (Info) and failures (nil: the
	// default logger).
	Logger *slog.Logger
	// NoAccessLog turns the access log off; failures are still logged.
	NoAccessLog bool
	// MaxBodyBytes bounds request bodies (default DefaultMaxBodyBytes);
	// larger ones are answered 413.
	MaxBodyBytes int64
	// Registerer receives the serving metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Standalone, when set, is the name of the one model `lode serve`
	// serves: it mounts MLflow's /invocations, /ping, /health and /version
	// at the root, as `mlflow models serve` does.
	Standalone string
	// Version is Lode's version, for KServe's server metadata.
	Version string
	// MLflowVersion is the MLflow version whose scoring protocol the
	// handler speaks, for /version: `mlflow models serve` answers its
	// mlflow version there, and clients compare it with theirs.
	MLflowVersion string
	// Authorize, when set, decides whether the caller in ctx may use a
	// model: ask it for a prediction (infer) or read its status and
	// metadata. nil lets everyone.
	Authorize func(ctx context.Context, model string, infer bool) error
}

// Handler serves the inference protocols.
type Handler struct {
	cat        serving.Catalog
	log        *slog.Logger
	maxBody    int64
	standalone string
	version    string
	mlflowVer  string
	accessLog  bool
	metrics    *metrics
	authorize  func(ctx context.Context, model string, infer bool) error
}

// New returns a handler for o.
func New(o Options) *Handler {
	h := &Handler{cat: o.Catalog, log: o.Logger, maxBody: o.MaxBodyBytes, standalone: o.Standalone,
		version: o.Version, mlflowVer: o.MLflowVersion, accessLog: !o.NoAccessLog, authorize: o.Authorize}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	h.metrics = newMetrics(o.Registerer, o.Catalog, h.log)
	return h
}

// The protocols, as metrics and logs name them.
const (
	protoMLflow = "mlflow"
	protoTF     = "tfserving"
	protoKServe = "kserve"
)

// call is what one request learns as it is served, for logs and metrics.
type call struct {
	ctx     context.Context
	proto   string
	model   string // the model asked for
	version string // the version asked for, then the one that served
	found   bool   // the model was found
	infer   bool   // an inference call (counted in the metrics)
}

// respWriter records the status and size of a response.
type respWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *respWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// ServeHTTP routes a request to its protocol, then logs it and counts it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &respWriter{ResponseWriter: w}
	body := &countingBody{ReadCloser: r.Body}
	if r.Body != nil {
		r.Body = body
	}
	c := &call{ctx: r.Context(), proto: protocolOf(r.URL.Path)}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("inference handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
			if rw.status == 0 {
				h.fail(rw, r, c, lode.Errorf(lode.EInternal, "Internal error."))
			}
		}
		h.finish(rw, r, c, body.n, time.Since(start))
	}()
	h.route(rw, r, c)
}

func protocolOf(path string) string {
	switch {
	case path == "/v2" || strings.HasPrefix(path, "/v2/"):
		return protoKServe
	case strings.HasPrefix(path, "/v1/"):
		return protoTF
	}
	return protoMLflow
}

func (h *Handler) route(w http.ResponseWriter, r *http.Request, c *call) {
	switch c.proto {
	case protoKServe:
		h.routeKServe(w, r, c, strings.TrimPrefix(r.URL.Path, "/v2"))
	case protoTF:
		h.routeTF(w, r, c, strings.TrimPrefix(r.URL.Path, "/v1/"))
	default:
		h.routeMLflow(w, r, c, r.URL.Path)
	}
}

// finish writes the access log line and the request metrics.
func (h *Handler) finish(w *respWriter, r *http.Request, c *call, in int64, d time.Duration) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	if h.accessLog {
		h.logRequest(w, r, c, status, in, d)
	}
	if c.infer {
		model, version := c.model, c.version
		if !c.found {
			// Unknown names stay out of the labels, so that requests for
			// made-up models cannot grow the series without bound.
			version = ""
			if !slices.Contains(h.cat.Names(), model) {
				model = ""
			}
		}
		h.metrics.observe(model, version, c.proto, status, d)
	}
}

// logRequest writes one access log line; request bodies are never logged.
func (h *Handler) logRequest(w *respWriter, r *http.Request, c *call, status int, in int64, d time.Duration) {
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes_in", in),
		slog.Int64("bytes_out", w.bytes),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("protocol", c.proto),
		slog.String("model", c.model),
		slog.String("version", c.version),
		slog.String("remote", r.RemoteAddr))
}

// httpError is an error with a status no lode code maps to.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// statusClientClosed is logged when the client went away (nginx's 499).
const statusClientClosed = 499

// errorInfo maps err to a status, a code and a message safe to show.
func errorInfo(err error) (int, string, string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.code, he.msg
	}
	var le *lode.Error
	if !errors.As(err, &le) {
		switch {
		case errors.Is(err, context.Canceled):
			return statusClientClosed, lode.EUnavailable, "The request was cancelled."
		case errors.Is(err, context.DeadlineExceeded):
			return http.StatusGatewayTimeout, lode.EDeadline, "The request timed out."
		}
	}
	code := lode.ErrorCode(err)
	return mlflowapi.HTTPStatus(code), code, lode.ErrorMessage(err)
}

// fail answers err in the format of the request's protocol: MLflow's
// {"error_code", "message"}, or {"error"} for TF Serving and KServe.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	status, code, msg := errorInfo(err)
	if code == lode.EUnauthenticated {
		mlflowapi.Challenge(w, r)
	}
	switch {
	case code == lode.EInternal:
		h.log.Error("inference request failed", "method", r.Method, "path", r.URL.Path, "model", c.model, "err", err)
	case status >= 500 && status != statusClientClosed:
		h.log.Warn("inference request failed", "method", r.Method, "path", r.URL.Path, "model", c.model, "status", status, "err", msg)
	}
	if c.proto == protoMLflow {
		writeJSON(w, status, map[string]string{"error_code": code, "message": msg})
		return
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

// notFound answers a path no route takes.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, c *call) {
	h.fail(w, r, c, &httpError{status: http.StatusNotFound, code: lode.EEndpointNotFound,
		msg: fmt.Sprintf("No endpoint at %s %s.", r.Method, r.URL.Path)})
}

// allow checks the method; it answers 405 and returns false when wrong.
// GET routes take HEAD too.
func (h *Handler) allow(w http.ResponseWriter, r *http.Request, c *call, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", method)
	h.fail(w, r, c, &httpError{status: http.StatusMethodNotAllowed, code: lode.EBadRequest,
		msg: fmt.Sprintf("Method %s is not allowed for %s; use %s.", r.Method, r.URL.Path, method)})
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"Could not encode the response."}`)
	}
	writeBody(w, status, "application/json", b)
}

func writeBody(w http.ResponseWriter, status int, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(b)
}

func (h *Handler) tooLarge() error {
	return lode.Errorf(lode.ETooLarge, "The request body is larger than the limit of %d bytes.", h.maxBody)
}

// readBody reads the request body, at most maxBody bytes of it.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.maxBody {
		return nil, h.tooLarge()
	}
	if r.Body == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, h.tooLarge()
		}
		return nil, lode.Errorf(lode.EBadRequest, "Could not read the request body: %v", err)
	}
	return buf.Bytes(), nil
}

// decompress undoes a gzip or deflate Content-Encoding, within maxBody.
func (h *Handler) decompress(r *http.Request, body []byte) ([]byte, error) {
	var zr io.Reader
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return body, nil
	case "gzip":
		g, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, lode.Errorf(lode.EBadRequest, "Could not decompress the gzip body: %v", err)
		}
		zr = g
	case "deflate":
		zr = flate.NewReader(bytes.NewReader(body))
	default:
		return nil, &httpError{status: http.StatusUnsupportedMediaType, code: lode.EBadRequest,
			msg: fmt.Sprintf("Unsupported Content-Encoding %q; use gzip or deflate.", enc)}
	}
	out, err := io.ReadAll(io.LimitReader(zr, h.maxBody+1))
	if err != nil {
		return nil, lode.Errorf(lode.EBadRequest, "Could not decompress the body: %v", err)
	}
	if int64(len(out)) > h.maxBody {
		return nil, h.tooLarge()
	}
	return out, nil
}

// allowed asks Options.Authorize whether the caller may use a model, for
// what the call is (an inference, or a read of status and metadata).
func (h *Handler) allowed(c *call, name string) error {
	if h.authorize == nil {
		return nil
	}
	return h.authorize(c.ctx, name, c.infer)
}

// lookup finds a model's endpoint and records what served the call.
func (h *Handler) lookup(c *call, name, version, label string) (*serving.Endpoint, func(), error) {
	if err := h.allowed(c, name); err != nil {
		return nil, nil, err
	}
	ep, release, err := h.cat.Lookup(name, version, label)
	if err != nil {
		return nil, nil, err
	}
	if ep == nil {
		if release != nil {
			release()
		}
		return nil, nil, lode.Errorf(lode.ENotFound, "Model '%s' is not served.", name)
	}
	if release == nil {
		release = func() {}
	}
	c.found, c.version = true, ep.Version
	return ep, release, nil
}

// predict runs the model and checks its answer.
func predict(ctx context.Context, ep *serving.Endpoint, in *serving.Input) (*serving.Output, error) {
	out, err := ep.Predict(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := checkOutput(out); err != nil {
		return nil, err
	}
	return out, nil
}
