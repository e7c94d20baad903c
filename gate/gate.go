// Package gate is the HTTP front door of Lode's servers: before a request
// reaches routing (or authentication, which sits inside it), the gate
// refuses a Host header that does not name the server (DNS rebinding), a
// state-changing request from another site (cross-site request forgery),
// and a request beyond the cap on requests in flight; it answers CORS for
// the origins it is told to trust, adds security headers to every
// response, serves TLS, and cuts clients that stall while sending a body,
// receiving an answer or sending headers. `lode server` and `lode serve`
// both stand behind one.
package gate

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlflowapi"
)

// Config is what a gate enforces. Zero durations and a zero MaxInflight
// mean no bound (the command line gives each a default).
type Config struct {
	// AllowedHosts are Host header values allowed besides the defaults
	// (localhost, 127.0.0.1 and [::1] on any port, and the listening
	// address with its port; every IP address when listening on a wildcard
	// address): host (any port), host:port, *.domain[:port], or * for any
	// host, which turns the check off.
	AllowedHosts []string
	// CORSAllowedOrigins are browser origins other than the server's own
	// that may make state-changing requests and get CORS answers on API
	// paths: scheme://host[:port], scheme://*.domain[:port], or * for any.
	CORSAllowedOrigins []string
	// APIPrefixes are the path prefixes where refusals are MLflow JSON
	// errors and CORS is answered; "/" makes every path one.
	APIPrefixes []string
	// TLSCertFile and TLSKeyFile, PEM files, make the server speak HTTPS.
	TLSCertFile, TLSKeyFile string
	// ReadHeaderTimeout bounds the time to send a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds how long a request body may stall: each read of
	// it must get data within this, so a long upload that keeps flowing is
	// fine and a client that stops sending is cut.
	ReadTimeout time.Duration
	// WriteTimeout bounds how long each write of an answer may wait for
	// the client, so long streams (a followed job log) live on while a
	// client that stops reading is cut.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request.
	IdleTimeout time.Duration
	// MaxInflight caps the requests being handled at once; beyond it the
	// gate answers 503 at once (health probes are exempt).
	MaxInflight int
	// UnencryptedHTTP2 lets clients speak HTTP/2 without TLS (h2c with
	// prior knowledge, as gRPC's insecure channels do) beside HTTP/1.1;
	// a TLS server negotiates HTTP/2 anyway.
	UnencryptedHTTP2 bool
	Logger           *slog.Logger
}

// Gate checks and bounds the requests of one server.
type Gate struct {
	cfg      Config
	hosts    hostList
	origins  []originRule
	anyOrig  bool
	csrf     *http.CrossOriginProtection
	tls      *tls.Config
	inflight chan struct{}
	logger   *slog.Logger
}

// New checks cfg and returns the gate of a server listening on addr.
func New(cfg Config, addr net.Addr) (*Gate, error) {
	g := &Gate{cfg: cfg, csrf: http.NewCrossOriginProtection(), logger: cfg.Logger}
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	g.hosts.rules, g.hosts.anyIP = defaultHostRules(addr)
	for _, s := range cfg.AllowedHosts {
		if strings.TrimSpace(s) == "" {
			continue
		}
		r, err := parseHostRule(s)
		if err != nil {
			return nil, err
		}
		g.hosts.rules = append(g.hosts.rules, r)
	}
	for _, s := range cfg.CORSAllowedOrigins {
		if strings.TrimSpace(s) == "" {
			continue
		}
		r, err := parseOriginRule(s)
		if err != nil {
			return nil, err
		}
		g.origins = append(g.origins, r)
		g.anyOrig = g.anyOrig || r.any
	}
	switch {
	case cfg.TLSCertFile != "" && cfg.TLSKeyFile != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate and key: %w", err)
		}
		g.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case cfg.TLSCertFile != "" || cfg.TLSKeyFile != "":
		return nil, fmt.Errorf("TLS needs both a certificate and its key (--tls-cert and --tls-key)")
	}
	if cfg.MaxInflight > 0 {
		g.inflight = make(chan struct{}, cfg.MaxInflight)
	}
	return g, nil
}

// TLS reports whether the gate's server speaks HTTPS.
func (g *Gate) TLS() bool { return g.tls != nil }

// CheckCertificateName returns an error when the TLS certificate does not
// name host, so that a client verifying it there would fail (the server's
// own jobs reach it at a loopback address).
func (g *Gate) CheckCertificateName(host string) error {
	if g.tls == nil {
		return nil
	}
	leaf := g.tls.Certificates[0].Leaf
	if leaf == nil {
		return nil
	}
	return leaf.VerifyHostname(host)
}

// URL is the base URL of a server listening at addr behind this gate.
func (g *Gate) URL(addr net.Addr) string {
	if g.tls != nil {
		return "https://" + addr.String()
	}
	return "http://" + addr.String()
}

// Server returns an http.Server that serves h behind the gate, with the
// gate's timeouts and TLS settings; start it with Serve.
func (g *Gate) Server(h http.Handler) *http.Server {
	srv := &http.Server{
		Handler:           g.Handler(h),
		ReadHeaderTimeout: g.cfg.ReadHeaderTimeout,
		IdleTimeout:       g.cfg.IdleTimeout,
		TLSConfig:         g.tls,
		ErrorLog:          slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn),
	}
	if g.cfg.UnencryptedHTTP2 && g.tls == nil {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	return srv
}

// Serve serves srv (from Server) on ln, over TLS when the gate has it.
func (g *Gate) Serve(srv *http.Server, ln net.Listener) error {
	if g.tls != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// probes are the health and version paths that load balancers and
// orchestrators call by IP or by an internal name: they reveal nothing
// and change nothing, so they skip the host check and the in-flight cap.
var probes = map[string]bool{"/health": true, "/ping": true, "/version": true,
	"/v2/health/live": true, "/v2/health/ready": true}

func isProbe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && probes[r.URL.Path]
}

// stateChanging reports whether a method may change state: every method
// but the safe ones.
func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// Handler wraps next with the gate: security headers and deadlines on
// every request; then the host check, the origin check and CORS, and the
// in-flight cap, in that order, before next sees the request.
func (g *Gate) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gw := &writer{ResponseWriter: w, rc: http.NewResponseController(w), timeout: g.cfg.WriteTimeout}
		gw.extend()
		var body *stallReader
		if g.cfg.ReadTimeout > 0 && r.Body != nil && r.Body != http.NoBody {
			body = &stallReader{ReadCloser: r.Body, rc: gw.rc, timeout: g.cfg.ReadTimeout, w: w, http1: r.ProtoMajor == 1}
			r.Body = body
		}
		defer func() {
			// The server finishes the answer and reads what is left of the
			// body after the handler returns: both stay bounded, and an
			// answer the handler left empty gets the headers too.
			gw.secure()
			gw.extend()
			if body != nil && !body.done {
				gw.rc.SetReadDeadline(time.Now().Add(g.cfg.ReadTimeout))
			}
		}()
		ok, release := g.admit(gw, r)
		if !ok {
			return
		}
		if release != nil {
			defer release()
		}
		next.ServeHTTP(gw, r)
	})
}

// admit runs the checks; when it returns false it has answered. release,
// when not nil, gives back the request's in-flight slot.
func (g *Gate) admit(w *writer, r *http.Request) (ok bool, release func()) {
	probe := isProbe(r)
	if !probe && !g.hosts.allows(r.Host, g.defaultPort()) {
		g.logger.Warn("refused a request with a Host this server does not answer to (possible DNS rebinding)",
			"host", r.Host, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		g.refuse(w, r, lode.EPermission, fmt.Sprintf("Invalid Host header '%s' - possible DNS rebinding attack detected. "+
			"If this server is meant to answer to that name, add it to --allowed-hosts.", printable(r.Host)))
		return false, nil
	}
	if !g.checkOrigin(w, r) {
		return false, nil
	}
	if g.inflight != nil && !probe {
		select {
		case g.inflight <- struct{}{}:
			return true, func() { <-g.inflight }
		default:
			g.logger.Warn("refused a request: too many in flight", "limit", cap(g.inflight), "method", r.Method, "path", r.URL.Path)
			w.Header().Set("Retry-After", "1")
			g.refuse(w, r, lode.EUnavailable, fmt.Sprintf("The server is handling %d requests already; retry shortly.", cap(g.inflight)))
			return false, nil
		}
	}
	return true, nil
}

// checkOrigin applies the cross-origin rules; when it returns false it
// has answered (a refusal or a CORS preflight).
func (g *Gate) checkOrigin(w *writer, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	trusted := false
	if origin != "" && len(g.origins) > 0 {
		if o, ok := parseOrigin(origin); ok || g.anyOrig {
			for _, rule := range g.origins {
				if rule.any || (ok && rule.matches(o)) {
					trusted = true
					break
				}
			}
		}
	}
	if trusted && g.isAPI(r.URL.Path) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return false
		}
	}
	if trusted || !stateChanging(r.Method) {
		return true
	}
	if origin != "" {
		o, ok := parseOrigin(origin)
		if !ok || !g.hosts.allows(o.hostPort(), o.port) {
			return g.refuseOrigin(w, r, origin)
		}
	}
	if err := g.csrf.Check(r); err != nil {
		return g.refuseOrigin(w, r, origin)
	}
	return true
}

func (g *Gate) refuseOrigin(w *writer, r *http.Request, origin string) bool {
	g.logger.Warn("refused a cross-origin request", "origin", origin, "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"),
		"host", r.Host, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	from := "another site"
	if origin != "" {
		from = fmt.Sprintf("origin '%s'", printable(origin))
	}
	g.refuse(w, r, lode.EPermission, fmt.Sprintf("Cross-origin request blocked: a %s request from %s. "+
		"If that origin is trusted, add it to --cors-allowed-origins.", r.Method, from))
	return false
}

func (g *Gate) defaultPort() string {
	if g.tls != nil {
		return "443"
	}
	return "80"
}

func (g *Gate) isAPI(path string) bool { return onAPI(g.cfg.APIPrefixes, path) }

// refuse answers a refused request: MLflow's JSON error body on API
// paths, plain text elsewhere (the UI's pages, a browser's address bar).
func (g *Gate) refuse(w http.ResponseWriter, r *http.Request, code, msg string) {
	answer(w, code, msg, onAPI(g.cfg.APIPrefixes, r.URL.Path))
}

// onAPI reports whether path is under one of the API prefixes.
func onAPI(prefixes []string, path string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// answer writes an error: MLflow's JSON body when api, else plain text.
func answer(w http.ResponseWriter, code, msg string, api bool) {
	status := mlflowapi.HTTPStatus(code)
	if api {
		b, _ := json.Marshal(map[string]string{"error_code": code, "message": msg})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// printable keeps a header value fit to quote in a message.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return -1
		}
		return c
	}, s)
}
