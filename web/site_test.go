package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/gate"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/localexec"
	"github.com/lode-ml/lode/localfs"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// site is a whole Lode server in this process, as `lode server` wires it:
// SQLite, artifacts on disk, the registry, jobs on local processes, the
// REST API and the UI on one mux, over real HTTP.
type site struct {
	URL       string
	Tracking  *tracking.Service
	Registry  *registry.Service
	Artifacts artifact.Store
	Jobs      *jobs.Service
	DB        *sqlite.DB
	// Auth is set on a site that requires signing in (newAuthSite).
	Auth *auth.Service
}

func newSite(t *testing.T) *site {
	t.Helper()
	return newSiteWith(t, siteOptions{})
}

// siteOptions choose how a test site authenticates.
type siteOptions struct {
	// Auth makes the site require signing in, as lode server does once
	// users exist; Default is then the permission of a user on what
	// nothing grants them (READ when empty).
	Auth    bool
	Default auth.Permission
	// SecureCookies marks the session cookie Secure (a server on TLS).
	SecureCookies bool
}

// newAuthSite is a site that requires signing in, with the admin "admin"
// and the user "alice" (passwords in adminPassword, alicePassword).
func newAuthSite(t *testing.T, o siteOptions) *site {
	t.Helper()
	o.Auth = true
	s := newSiteWith(t, o)
	ctx := context.Background()
	if _, err := s.Auth.CreateUser(ctx, "admin", adminPassword, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Auth.CreateUser(ctx, "alice", alicePassword, false); err != nil {
		t.Fatal(err)
	}
	return s
}

// The test users' passwords.
const (
	adminPassword = "admin's long password"
	alicePassword = "alice's long password"
)

func newSiteWith(t *testing.T, o siteOptions) *site {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "lode.db"), sqlite.Options{DefaultArtifactRoot: mlflowapi.ArtifactScheme, Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := localfs.New(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracking.Service{Store: db, ValidateLocation: artifact.ValidateLocation}
	reg := &registry.Service{Store: db, Tracking: tr, ArtifactScheme: mlflowapi.ArtifactScheme, Artifacts: store, ArtifactRoot: store.Root()}
	api := &mlflowapi.Server{Tracking: tr, Registry: reg, Artifacts: store, Version: "test"}
	// With authentication, the same guard as lode server's judges every
	// route of the API and the UI, and keeps searches to what the caller
	// may read.
	var authSvc *auth.Service
	var guard *mlflowapi.Guard
	if o.Auth {
		authSvc = &auth.Service{Store: db, Default: o.Default, Logger: slog.New(slog.DiscardHandler)}
		guard = &mlflowapi.Guard{Auth: authSvc, Find: mlflowapi.ServiceFinder{Tracking: tr, Jobs: db}}
		tr.Readable, reg.Readable, reg.CheckSource = guard.Readable, guard.Readable, guard.CheckSource
		api.Guard, api.Auth = guard, authSvc
	}
	mux := http.NewServeMux()
	// The site stands behind the front door lode server has, so the
	// browser tests show the UI works with its headers and origin checks,
	// and answers through mlflowapi.PreRoute, as lode server does, once the
	// API is built (it needs the jobs, which need the server's URL).
	var inner atomic.Pointer[http.Handler]
	inner.Store(&[]http.Handler{mux}[0])
	srv := httptest.NewUnstartedServer(nil)
	front, err := gate.New(gate.Config{APIPrefixes: []string{"/api/", "/ajax-api/"}, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, MaxInflight: 1024}, srv.Listener.Addr())
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = front.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*inner.Load()).ServeHTTP(w, r)
	}))
	srv.Start()
	t.Cleanup(srv.Close)
	js := &jobs.Service{
		Store: db, Exec: localexec.New(localexec.Options{BaseDir: filepath.Join(dir, "jobs"), KillGrace: time.Second, Logger: slog.New(slog.DiscardHandler)}),
		Nodes: []jobs.Node{jobs.LocalNode("local", 2, 4<<30, nil)}, TrackingURI: srv.URL,
		FreePort: func() (int, error) { return 0, fmt.Errorf("no distributed jobs in UI tests") },
		Tick:     50 * time.Millisecond,
		Logger:   slog.New(slog.DiscardHandler),
	}
	if guard != nil {
		js.Readable = guard.Readable
	}
	if err := js.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(js.Close)
	api.Jobs = js
	apiHandler := api.Handler()
	mux.Handle("/", apiHandler)
	ui := &Server{Tracking: tr, Registry: reg, Artifacts: store, Jobs: js, Studies: db, Version: "test",
		Guard: guard, Auth: authSvc, SecureCookies: o.SecureCookies}
	if err := ui.Mount(mux, nil); err != nil {
		t.Fatal(err)
	}
	// Authentication stands between the front door and the routes, as in
	// lode server's serverHandler.
	pre := mlflowapi.PreRoute(apiHandler, mux)
	if o.Auth {
		pre = (&gate.Authn{Auth: authSvc, APIPrefixes: []string{"/api/", "/ajax-api/"}}).Handler(pre)
	}
	inner.Store(&pre)
	return &site{URL: srv.URL, Tracking: tr, Registry: reg, Artifacts: store, Jobs: js, DB: db, Auth: authSvc}
}

// get fetches a page without a browser.
func (s *site) get(t *testing.T, path string) (int, string) {
	t.Helper()
	res, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return res.StatusCode, string(b)
}
