// Package web is Lode's web UI: pages rendered by the server from
// html/template, with small scripts and the vendored uPlot embedded in the
// binary (no Node.js step). Pages read the domain services directly; their
// scripts call the MLflow and Lode REST APIs under /ajax-api/ for what
// changes in place (charts, live logs, edits). Every view's state (filter,
// sort, columns, selection, chart options) lives in its URL.
package web

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
	"github.com/lode-ml/lode/tune"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Jobs is what the UI reads of the job service (jobs.Service has it).
type Jobs interface {
	Get(ctx context.Context, id string) (*jobs.Job, error)
	List(ctx context.Context, q jobs.Query) ([]*jobs.Job, string, error)
}

// Server renders the UI. Registry, Artifacts, Jobs and Studies may be nil: their
// pages then say the server runs without them.
type Server struct {
	Tracking  *tracking.Service
	Registry  *registry.Service
	Artifacts artifact.Store
	Jobs      Jobs
	// Studies, when set, are the tuning studies the study pages show.
	Studies tune.Store
	Version string
	Logger  *slog.Logger
	// Guard decides who may see each page (nil: everyone, as on a server
	// without authentication); Auth, when set, signs users in and out.
	Guard *mlflowapi.Guard
	Auth  *auth.Service
	// SecureCookies marks the session cookie Secure (the server speaks
	// TLS); SessionTTL is how long a sign-in lasts (DefaultSessionTTL).
	SecureCookies bool
	SessionTTL    time.Duration

	pages  map[string]*template.Template
	routes []mlflowapi.Route
}

// Routes lists the UI's routes and their rules (after Mount), for the
// permission matrix test.
func (s *Server) Routes() []mlflowapi.Route { return s.routes }

// Mount adds the UI's routes to mux: the pages, and /static/. wrap, when
// not nil, wraps each handler (an access log).
func (s *Server) Mount(mux *http.ServeMux, wrap func(http.Handler) http.Handler) error {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if wrap == nil {
		wrap = func(h http.Handler) http.Handler { return h }
	}
	if err := s.parse(); err != nil {
		return err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return err
	}
	s.routes = nil
	handle := func(pattern string, rule mlflowapi.Rule, h http.Handler) {
		method, p, _ := strings.Cut(pattern, " ")
		s.routes = append(s.routes, mlflowapi.Route{Method: method, Pattern: p, Rule: rule})
		mux.Handle(pattern, wrap(s.guard(rule, h)))
	}
	handle("GET /static/", mlflowapi.PublicRule(), http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(static))))
	handle("GET /{$}", mlflowapi.PublicRule(), http.RedirectHandler("/experiments", http.StatusFound))
	handle("GET /favicon.ico", mlflowapi.PublicRule(), http.RedirectHandler("/static/lode.svg", http.StatusMovedPermanently))
	for _, add := range pageRoutes {
		for _, rt := range add(s) {
			handle(rt.pattern, rt.rule, rt.handler)
		}
	}
	return nil
}

// route is one page: its pattern, its handler and who may see it.
type route struct {
	pattern string
	handler http.HandlerFunc
	rule    mlflowapi.Rule
}

// guard answers a request its caller may not make: a visitor who has not
// signed in is sent to the sign-in page, and comes back after it.
func (s *Server) guard(rule mlflowapi.Rule, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := s.Guard.Check(r, rule)
		if err == nil {
			h.ServeHTTP(w, r)
			return
		}
		if lode.ErrorCode(err) == lode.EUnauthenticated && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		s.fail(w, r, err)
	})
}

// The rules of the pages of one run and of one experiment.
var (
	runPageRule        = mlflowapi.On(mlflowapi.TargetRun, auth.NeedRead, "{id}")
	experimentPageRule = mlflowapi.On(mlflowapi.TargetExperiment, auth.NeedRead, "{id}")
)

// pageRoutes are filled in by each page's file (init), so that pages can
// be written side by side without touching one list.
var pageRoutes []func(*Server) []route

// funcs are the helpers templates use.
var funcs = template.FuncMap{
	"ms":       formatMillis,
	"ago":      ago,
	"duration": durationMillis,
	"short":    shorten,
	"num":      formatNumber,
	"query":    withQuery,
	"json":     toJSON,
	"join":     strings.Join,
	"add":      func(a, b int) int { return a + b },
	// pathEscape makes a name one URL path segment (model names may hold
	// spaces, slashes, '#' and '?').
	"pathEscape": url.PathEscape,
}

// parse reads the layout and every page template: a page is
// templates/<name>.html, rendered inside templates/layout.html; the parts
// several pages share (templates/_<name>.html) come with the layout.
func (s *Server) parse() error {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html")
	if err != nil {
		return err
	}
	entries, err := fs.ReadDir(templateFS, "templates")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") || !strings.HasSuffix(e.Name(), ".html") {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+e.Name())
		if err != nil {
			return err
		}
		s.pages[name] = t
	}
	return nil
}

// Page is what every page template gets.
type Page struct {
	Title   string
	Nav     string // the navigation item to highlight: experiments, models, jobs
	Version string
	URL     *url.URL
	Data    any
	// Who is signed in ("" on a server without authentication), whether
	// they are an admin, and the token their page's changes must carry.
	User  string
	Admin bool
	CSRF  string
}

// page fills in what every page shows of its viewer.
func (s *Server) page(r *http.Request, title, nav string, data any) Page {
	p := Page{Title: title, Nav: nav, Version: s.Version, URL: r.URL, Data: data}
	id := auth.FromContext(r.Context())
	p.User, p.Admin = id.Name(), id.User != nil && id.User.IsAdmin
	if c, err := r.Cookie(auth.SessionCookie); err == nil && id.User != nil {
		p.CSRF = auth.CSRFToken(c.Value)
	}
	return p
}

// render writes page name with data; a failure to render is a 500 that
// shows nothing half-written.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name, title, nav string, data any) {
	s.renderStatus(w, r, http.StatusOK, name, title, nav, data)
}

// renderStatus is render with another status than 200 (a refused
// sign-in's form, shown again).
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any) {
	t, ok := s.pages[name]
	if !ok {
		s.fail(w, r, lode.Errorf(lode.EInternal, "no page template %q", name))
		return
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout.html", s.page(r, title, nav, data)); err != nil {
		s.fail(w, r, lode.Internal(err, "cannot render the page"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// fail renders an error page with the status of err's code.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := lode.ErrorCode(err)
	status := mlflowapi.HTTPStatus(code)
	msg := lode.ErrorMessage(err)
	if status >= 500 {
		s.Logger.Error("page failed", "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	t, ok := s.pages["error"]
	if !ok {
		fmt.Fprintf(w, "<!doctype html><title>Error</title><p>%s</p>", template.HTMLEscapeString(msg))
		return
	}
	t.ExecuteTemplate(w, "layout.html", s.page(r, "Error", "", map[string]any{"Status": status, "Code": code, "Message": msg}))
}

// notFound is the error for a page that names something missing.
func notFound(format string, args ...any) error {
	return lode.Errorf(lode.ENotFound, format, args...)
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	v := "public, max-age=" + strconv.Itoa(int(d.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", v)
		h.ServeHTTP(w, r)
	})
}
