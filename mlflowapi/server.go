// Package mlflowapi serves MLflow's REST API over HTTP: the tracking API
// under /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/, MLflow 3's logged models
// and the mlflow-artifacts proxy, so that the real mlflow client works
// against Lode unchanged. It is the only place where a lode.Error code
// becomes an HTTP status.
package mlflowapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

// DefaultMaxBodyBytes bounds JSON request bodies.
const DefaultMaxBodyBytes = 16 << 20

// DefaultMaxArtifactBytes is lode server's default bound on one uploaded
// artifact file. MLflow has none; 5 GiB takes a single model file of a
// few billion parameters, and ten times the 500 MB shards mlflow's
// transformers flavor splits larger models into, while one request can no
// longer fill the disk.
const DefaultMaxArtifactBytes = 5 << 30

// ArtifactScheme is the URI scheme of artifacts served by this server's
// proxy; an artifact location "mlflow-artifacts:/1/abc" is the path "1/abc"
// in the artifact store.
const ArtifactScheme = "mlflow-artifacts:"

// Server is the MLflow API handler.
type Server struct {
	Tracking  *tracking.Service
	Registry  *registry.Service // nil: no model registry routes
	Artifacts artifact.Store    // nil: the artifact proxy is off
	// Deployments, when set, serves the deployments API.
	Deployments Deployments
	// Jobs, when set, serves the jobs API.
	Jobs Jobs
	// Studies, when set, serves the studies API (lode tune).
	Studies Studies
	Logger  *slog.Logger
	// Version is Lode's own version (GET /api/2.0/lode/version); GET
	// /version answers MLflowVersion.
	Version string
	// MaxBodyBytes bounds JSON bodies (default DefaultMaxBodyBytes);
	// MaxArtifactBytes bounds one uploaded artifact (0: no bound).
	MaxBodyBytes     int64
	MaxArtifactBytes int64
	// Guard decides who may call each route; nil runs the server open.
	Guard *Guard
	// Auth, when set, serves the users, roles, permissions and tokens
	// APIs (MLflow's basic-auth app's and Lode's).
	Auth *auth.Service
	// UserCode lets users who are not admins run code on the server's
	// machine (submit jobs, deploy models that run Python); without it,
	// with authentication on, only admins may. Such code runs as the
	// server's OS user, so it can do whatever the server can.
	UserCode bool

	mux    *http.ServeMux
	routes []Route
	gql    *graphql.Schema
}

// Route is one route of the API and the rule that guards it.
type Route struct {
	Method, Pattern string
	Rule            Rule
}

// Routes lists every route the handler serves (after Handler), for the
// permission matrix test and the docs.
func (s *Server) Routes() []Route { return s.routes }

// route registers h for a pattern ("METHOD /path") behind rule.
func (s *Server) route(pattern string, rule Rule, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	if rule.Access == 0 {
		panic(errNoRule)
	}
	s.routes = append(s.routes, Route{Method: method, Pattern: path, Rule: rule})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := s.Guard.Check(r, rule); err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r)
	})
}

// apiFunc handles one API call: it decodes its request from r and returns
// the response message, or an error that writeError renders.
type apiFunc func(ctx context.Context, r *http.Request) (any, error)

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s.mux = http.NewServeMux()
	s.routes = nil
	if s.Guard != nil && s.Guard.MaxBodyBytes == 0 {
		s.Guard.MaxBodyBytes = s.MaxBodyBytes
	}
	s.route("GET /health", PublicRule(), func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "OK") })
	s.routeVersion()
	// MLflow 3 clients ask what the server supports before some calls.
	s.route("GET /api/3.0/mlflow/server-info", PublicRule(), func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"store_type": "SqlStore", "workspaces_enabled": false, "trace_archival_enabled": false,
			"multipart_uploads_enabled": false, "multipart_downloads_enabled": false,
			"presigned_upload_run_id_supported": false, "presigned_upload_model_id_supported": false,
			"features_enabled": map[string]bool{"gateway": false},
		})
	})
	s.routeTracking()
	s.routeAjax()
	// MLflow's UI reads runs and experiments through GraphQL. Any
	// signed-in caller may send a query; each field checks what its REST
	// endpoint checks, on the resource it names.
	s.gql = s.newGraphQL()
	s.route("POST /graphql", SignedInRule(), s.serveGraphQL)
	s.route("GET /graphql", SignedInRule(), s.serveGraphQL)
	s.routeLoggedModels()
	s.routeOTLP()
	if s.Registry != nil {
		s.routeRegistry()
		s.routeLibrary()
	}
	if s.Deployments != nil {
		s.routeDeployments()
	}
	if s.Jobs != nil {
		s.routeJobs()
	}
	if s.Studies != nil {
		s.routeStudies()
	}
	if s.Auth != nil {
		s.routeAuth()
	}
	if s.Artifacts != nil {
		for _, prefix := range artifactProxyPrefixes {
			for _, m := range []string{"GET", "HEAD", "PUT", "DELETE"} {
				s.routes = append(s.routes, Route{Method: m, Pattern: prefix + "/{path...}", Rule: On(TargetArtifact, artifactNeed(m))})
			}
			s.routes = append(s.routes, Route{Method: "GET", Pattern: prefix, Rule: On(TargetArtifact, auth.NeedRead)})
		}
	}
	return http.HandlerFunc(s.serveHTTP)
}

// artifactProxyPrefixes are the URL paths the artifact proxy serves under.
var artifactProxyPrefixes = []string{"/api/2.0/mlflow-artifacts/artifacts", "/ajax-api/2.0/mlflow-artifacts/artifacts"}

// artifactProxyRest returns what follows the artifact proxy's prefix in r's
// escaped URL path ("" or "/..."), and whether the path has that prefix.
func artifactProxyRest(r *http.Request) (string, bool) {
	raw := r.URL.EscapedPath()
	for _, prefix := range artifactProxyPrefixes {
		if rest, ok := strings.CutPrefix(raw, prefix); ok && (rest == "" || rest[0] == '/') {
			return rest, true
		}
	}
	return "", false
}

// serveHTTP sends artifact proxy paths to the artifact handler before the
// mux sees them: ServeMux would clean "..", "//" and the like into a
// redirect, and traversal attempts must be refused, not rewritten. For the
// same reason any other path with a dot segment is refused here.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := artifactProxyRest(r); ok {
		if err := s.Guard.Check(r, On(TargetArtifact, artifactNeed(r.Method))); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.serveArtifacts(w, r, rest)
		return
	}
	if hasDotSegment(r.URL.Path) {
		s.writeError(w, r, lode.Errorf(lode.EInvalid, "Invalid URL path %s: '.' and '..' segments are not allowed.", quotePath(r.URL.Path)))
		return
	}
	if !utf8.ValidString(r.URL.Path) {
		// Path values (ids, names) would reach the store as they are and
		// come back in JSON as U+FFFD.
		s.writeError(w, r, lode.Errorf(lode.EInvalid, "Invalid URL path %s: it is not valid UTF-8.", quotePath(r.URL.Path)))
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.noRoute(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// PreRoute returns the top-level handler of a server that mounts the API on
// a ServeMux of its own, next to other routes (the web UI, serving): mux
// is that ServeMux and api the handler Handler returned (wrapped in an
// access log or not). ServeMux cleans a path holding "." or ".." segments
// into a redirect before any handler runs, so such paths, and the artifact
// proxy's, go straight to api, which refuses them with 400
// INVALID_PARAMETER_VALUE (or serves a clean proxy path): a traversal
// attempt is answered as an error, never rewritten into another request,
// and the access log wrapping api records it.
func PreRoute(api, mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := artifactProxyRest(r); ok || hasDotSegment(r.URL.Path) {
			api.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// hasDotSegment reports whether the URL path p (decoded) has a "." or ".."
// segment, also with ";" parameters ("..;", ".;x": servlet containers read
// those as ".."). Empty segments ("//") are left to ServeMux, which
// redirects them to the path without them, as MLflow's server does.
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// quotePath quotes a URL path for a message, cut to a readable length.
func quotePath(p string) string {
	const max = 200
	if len(p) > max {
		return fmt.Sprintf("%q...", p[:max])
	}
	return fmt.Sprintf("%q", p)
}

// noRoute answers a request no route takes with a JSON error: 405 with an
// Allow header when the path exists for other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		methodNotAllowed(w, r, allowed...)
		return
	}
	if genAIPath(r.URL.Path) {
		s.writeError(w, r, notImplemented(r))
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error_code": lode.EEndpointNotFound,
		"message": fmt.Sprintf("No API endpoint at %s.", r.URL.Path)})
}

// handle registers fn under both API prefixes for one method and path.
func (s *Server) handle(method, path string, rule Rule, fn apiFunc) {
	s.handleUnder([]string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"}, method, path, rule, fn)
}

// streamer is a response written while it is produced, for answers too
// long to hold in memory at once. Once it has begun, an error can only cut
// the response short.
type streamer interface {
	stream(w *bufio.Writer) error
}

// handleUnder registers fn for one method and path under each prefix.
func (s *Server) handleUnder(prefixes []string, method, path string, rule Rule, fn apiFunc) {
	h := func(w http.ResponseWriter, r *http.Request) {
		resp, err := fn(r.Context(), r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if st, ok := resp.(streamer); ok {
			s.writeStream(w, r, st)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}
	for _, prefix := range prefixes {
		s.route(method+" "+prefix+path, rule, h)
	}
}

// methodNotAllowed answers 405 with an Allow header.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed ...string) {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error_code": lode.EBadRequest,
		"message": fmt.Sprintf("Method %s is not allowed for %s; use %s.", r.Method, r.URL.Path, strings.Join(allowed, " or "))})
}

// HTTPStatus maps an error code to its HTTP status, as MLflow does.
func HTTPStatus(code string) int {
	switch code {
	case lode.EInvalid, lode.EExists, lode.EBadRequest:
		return http.StatusBadRequest
	case lode.ENotFound, lode.EEndpointNotFound:
		return http.StatusNotFound
	case lode.EPermission:
		return http.StatusForbidden
	case lode.EUnauthenticated:
		return http.StatusUnauthorized
	case lode.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case lode.ENotImplemented:
		return http.StatusNotImplemented
	case lode.EUnavailable:
		return http.StatusServiceUnavailable
	case lode.EOverloaded:
		return http.StatusTooManyRequests
	case lode.EDeadline:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// writeError renders err as MLflow's error body. Internal errors are
// logged with their cause; users see only the safe message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := lode.ErrorCode(err)
	status := HTTPStatus(code)
	if status >= 500 {
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteError(w, r, err)
}

// writeStream sends st with status 200. Should it fail half-way, the
// connection is dropped, so that the client sees a broken response rather
// than a short one that parses.
func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, st streamer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if err := st.stream(bufio.NewWriterSize(w, 32<<10)); err != nil {
		if r.Context().Err() == nil {
			s.Logger.Error("response cut short", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error_code":"INTERNAL_ERROR","message":"Could not encode the response."}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// decode reads a request message: the JSON body of POST, PATCH and DELETE
// requests, or the query string of GET requests (repeated keys make lists),
// as MLflow's server accepts both.
func (s *Server) decode(r *http.Request, v any) error {
	if r.Method == http.MethodPost {
		// As MLflow: a POST must say it is JSON. This also stops a page in a
		// browser from posting a form to a local server (no CORS preflight
		// protects form posts; a JSON content type needs one).
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			return lode.Errorf(lode.EInvalid, "Bad Request. Content-Type header is missing.")
		}
		if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(strings.ToLower(mt)) != "application/json" {
			return lode.Errorf(lode.EInvalid, "Bad Request. Content-Type must be one of ['application/json'].")
		}
	}
	if fromQuery(r) {
		q, err := query(r)
		if err != nil {
			return err
		}
		return decodeQuery(q, v)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return lode.Errorf(lode.ETooLarge, "Request body exceeds the limit of %d bytes.", s.MaxBodyBytes)
		}
		return lode.Errorf(lode.EBadRequest, "Could not read the request body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		// Older clients double-encode the body as a JSON string.
		var inner string
		if json.Unmarshal(body, &inner) == nil {
			if err := checkJSONText([]byte(inner)); err != nil {
				return err
			}
			if err2 := json.Unmarshal([]byte(inner), v); err2 == nil {
				return nil
			}
		}
		if werr := wrongType(body, v); werr != nil {
			return werr
		}
		return lode.Errorf(lode.EInvalid, "Malformed JSON in request body: %s", jsonErrorText(err))
	}
	return nil
}

// checkJSONText refuses a JSON body holding text that is no text:
// invalid UTF-8, or a \u escape of a lone UTF-16 surrogate ("\ud800"
// without its pair). encoding/json would silently turn either into
// U+FFFD, storing something other than what was sent.
func checkJSONText(b []byte) error {
	if !utf8.Valid(b) {
		return lode.Errorf(lode.EInvalid, "Invalid request body: it is not valid UTF-8 (first bad byte at offset %d).", invalidUTF8At(b))
	}
	if i := loneSurrogateAt(b); i >= 0 {
		return lode.Errorf(lode.EInvalid, "Invalid request body: the escape %s at offset %d is half of a UTF-16 surrogate pair, not a character.", b[i:i+6], i)
	}
	return nil
}

// invalidUTF8At returns the offset of the first byte of b that is not
// part of valid UTF-8, or -1.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// loneSurrogateAt returns the offset of the first \uXXXX escape in a JSON
// string of b that names a UTF-16 surrogate not paired with the escape
// next to it (a high one followed by a low one), or -1. Text outside
// strings, and escapes that are not \u, are skipped; malformed JSON is
// left to the decoder.
func loneSurrogateAt(b []byte) int {
	if !bytes.Contains(b, []byte(`\u`)) {
		return -1 // most bodies: one fast search, no scan
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			if b[i+1] != 'u' {
				i++ // the escaped character
				continue
			}
			r, ok := hex4(b, i+2)
			switch {
			case !ok:
				i++
			case 0xdc00 <= r && r <= 0xdfff:
				return i
			case 0xd800 <= r && r <= 0xdbff:
				low, ok := -1, i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u'
				if ok {
					if v, okv := hex4(b, i+8); okv {
						low = v
					}
				}
				if low < 0xdc00 || low > 0xdfff {
					return i
				}
				i += 11
			default:
				i += 5
			}
		}
	}
	return -1
}

// hex4 reads the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (int, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+4] {
		var d int
		switch {
		case '0' <= c && c <= '9':
			d = int(c - '0')
		case 'a' <= c && c <= 'f':
			d = int(c-'a') + 10
		case 'A' <= c && c <= 'F':
			d = int(c-'A') + 10
		default:
			return 0, false
		}
		v = v<<4 | d
	}
	return v, true
}

func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field '%s' must be %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	}
	return err.Error()
}

// jsonKind names the JSON form a Go type decodes from, for messages.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "another JSON value"
}

// query parses the query string strictly: net/url silently drops pairs
// holding a ';', which would turn a refused request into another one, and
// keeps bytes that are not UTF-8, which JSON would turn into U+FFFD.
func query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "Invalid query string: %v", err)
	}
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return nil, lode.Errorf(lode.EInvalid, "Invalid query string: the parameter name %q is not valid UTF-8.", k)
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, lode.Errorf(lode.EInvalid, "Invalid query string: the value of '%s' is not valid UTF-8.", k)
			}
		}
	}
	return q, nil
}

// decodeQuery turns query parameters into JSON and decodes that, so GET and
// POST forms share one set of request types.
func decodeQuery(q url.Values, v any) error {
	obj := make(map[string]any, len(q))
	for k, vs := range q {
		if len(vs) == 1 {
			obj[k] = vs[0]
		} else {
			obj[k] = vs
		}
	}
	b, _ := json.Marshal(obj)
	if err := json.Unmarshal(b, v); err != nil {
		if werr := wrongType(b, v); werr != nil {
			return werr
		}
		return lode.Errorf(lode.EInvalid, "Invalid query parameters: %s", jsonErrorText(err))
	}
	return nil
}

func required(field, value string) error {
	if value == "" {
		return lode.Invalid(lode.MsgMissing, field)
	}
	return nil
}

// AccessLog wraps h with a structured access log.
func AccessLog(logger *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		logger.Info("http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes", sw.n, "ms", float64(time.Since(start).Microseconds())/1000)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WriteError answers err as MLflow's JSON error body, with a challenge
// when the caller must authenticate; for handlers outside the API (which
// log through Server).
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	code := lode.ErrorCode(err)
	if code == lode.EUnauthenticated {
		Challenge(w, r)
	}
	writeJSON(w, HTTPStatus(code), map[string]string{"error_code": code, "message": lode.ErrorMessage(err)})
}

// Challenge asks an unauthenticated client for credentials: HTTP Basic,
// as MLflow's basic-auth app asks, or a bearer token. A web page's script
// (a browser's request with a Sec-Fetch-Mode other than navigate) is not
// asked for Basic: its browser would answer with a password dialog over
// the page, then send that password with every request, past signing
// out. The UI sends its user to the sign-in page instead.
func Challenge(w http.ResponseWriter, r *http.Request) {
	if m := r.Header.Get("Sec-Fetch-Mode"); m == "" || m == "navigate" {
		w.Header().Add("WWW-Authenticate", `Basic realm="lode", charset="UTF-8"`)
	}
	w.Header().Add("WWW-Authenticate", `Bearer realm="lode"`)
}

// checkCreate refuses to create what a DENY on every resource of its kind
// (or on its name) forbids the caller (auth.Service.CheckCreate).
func (s *Server) checkCreate(ctx context.Context, t auth.ResourceType, name string) error {
	if s.Auth == nil {
		return nil
	}
	return s.Auth.CheckCreate(ctx, auth.FromContext(ctx), t, name)
}

// grantCreator makes the caller a manager of what they just created.
func (s *Server) grantCreator(ctx context.Context, t auth.ResourceType, id string) error {
	if s.Auth == nil {
		return nil
	}
	return s.Auth.GrantCreator(ctx, auth.FromContext(ctx), t, id)
}

// fromQuery reports whether a request's parameters are in its query
// string rather than its body: GET and HEAD requests (ServeMux sends HEAD
// to GET routes), and others with a query and no body. decode and the
// guard both ask it, so that what the guard checks is what the handler
// acts on.
func fromQuery(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead || (r.ContentLength == 0 && r.URL.RawQuery != "")
}
