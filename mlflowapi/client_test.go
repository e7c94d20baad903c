package mlflowapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/localfs"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// clientEnv is a real server (SQLite, local artifacts, tracking and
// registry) behind httptest, with a hook that may answer a request in its
// place, and a client of it.
type clientEnv struct {
	srv    *httptest.Server
	client *mlflowapi.Client

	mu       sync.Mutex
	override func(w http.ResponseWriter, r *http.Request) bool // true: answered
	ctypes   map[string]string                                 // method+path -> Content-Type seen
}

func newClientEnv(t *testing.T) *clientEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lode.db"), sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:"})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	artRoot := filepath.Join(t.TempDir(), "art")
	store, err := localfs.New(artRoot)
	if err != nil {
		t.Fatalf("localfs.New: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	trk := &tracking.Service{Store: db, ValidateLocation: artifact.ValidateLocation}
	api := &mlflowapi.Server{
		Tracking:  trk,
		Registry:  &registry.Service{Store: db, Tracking: trk, ArtifactScheme: mlflowapi.ArtifactScheme, ArtifactRoot: artRoot},
		Artifacts: store,
		Version:   testVersion,
	}
	h := api.Handler()
	e := &clientEnv{ctypes: map[string]string{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.ctypes[r.Method+" "+r.URL.Path] = r.Header.Get("Content-Type")
		o := e.override
		e.mu.Unlock()
		if o != nil && o(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.client = &mlflowapi.Client{BaseURL: e.srv.URL + "/", HTTP: e.srv.Client()}
	return e
}

func (e *clientEnv) setOverride(f func(w http.ResponseWriter, r *http.Request) bool) {
	e.mu.Lock()
	e.override = f
	e.mu.Unlock()
}

// createRun creates a run in the default experiment and returns its id and
// artifact URI.
func (e *clientEnv) createRun(t *testing.T) (string, string) {
	t.Helper()
	res, err := e.srv.Client().Post(e.srv.URL+"/api/2.0/mlflow/runs/create", "application/json", strings.NewReader(`{"experiment_id":"0"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Run struct {
			Info struct {
				RunID       string `json:"run_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
		t.Fatalf("runs/create: %d %v", res.StatusCode, err)
	}
	return out.Run.Info.RunID, out.Run.Info.ArtifactURI
}

// wantLodeError checks that err is a *lode.Error with code (and message,
// when not empty).
func wantLodeError(t *testing.T, err error, code, message, what string) {
	t.Helper()
	var le *lode.Error
	if !errors.As(err, &le) {
		t.Fatalf("%s: error %v (%T), want a *lode.Error %s", what, err, err, code)
	}
	if le.Code != code || (message != "" && le.Message != message) {
		t.Errorf("%s: error %q / %q, want %q / %q", what, le.Code, le.Message, code, message)
	}
}

func TestClientRegistryRoundTrip(t *testing.T) {
	e := newClientEnv(t)
	c := e.client
	ctx := context.Background()

	for _, n := range []string{"fraud-a", "fraud-b", "fraud-c", "churn", "other"} {
		m, err := c.CreateRegisteredModel(ctx, n, "model "+n)
		if err != nil {
			t.Fatalf("CreateRegisteredModel(%s): %v", n, err)
		}
		if m.Name != n || m.Description != "model "+n || m.CreationTime == 0 {
			t.Errorf("CreateRegisteredModel(%s) = %+v", n, m)
		}
	}
	if ct := e.ctypes["POST /api/2.0/mlflow/registered-models/create"]; ct != "application/json" {
		t.Errorf("POST Content-Type = %q, want application/json", ct)
	}
	_, err := c.CreateRegisteredModel(ctx, "churn", "")
	wantLodeError(t, err, lode.EExists, "Registered Model (name=churn) already exists.", "duplicate create")
	_, err = c.GetRegisteredModel(ctx, "missing")
	wantLodeError(t, err, lode.ENotFound, "Registered Model with name=missing not found", "get unknown model")
	if err.Error() != "RESOURCE_DOES_NOT_EXIST: Registered Model with name=missing not found" {
		t.Errorf("error text = %q", err)
	}

	// Pages of two, followed to the end.
	var names []string
	token := ""
	pages := 0
	for {
		page, next, err := c.SearchRegisteredModels(ctx, "name LIKE 'fraud%'", 2, token)
		if err != nil {
			t.Fatalf("SearchRegisteredModels: %v", err)
		}
		pages++
		for _, m := range page {
			names = append(names, m.Name)
		}
		if next == "" {
			break
		}
		token = next
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "fraud-a,fraud-b,fraud-c" || pages != 2 {
		t.Errorf("filtered search = %v in %d pages, want fraud-a,b,c in 2", names, pages)
	}
	_, _, err = c.SearchRegisteredModels(ctx, "nonsense ~~ 1", 0, "")
	wantLodeError(t, err, lode.EInvalid, "", "bad filter")

	// Artifacts of a run, registered as a version.
	runID, runURI := e.createRun(t)
	root, err := mlflowapi.ProxiedArtifactPath(runURI)
	if err != nil {
		t.Fatalf("ProxiedArtifactPath(%s): %v", runURI, err)
	}
	files := map[string][]byte{
		"model/MLmodel":             []byte("flavors:\n  python_function: {}\n"),
		"model/data/weights.bin":    bytes.Repeat([]byte{0, 1, 2, 0xff}, 50000),
		"model/data/deep/note.txt":  []byte("deep"),
		"model/empty.txt":           {},
		"model/name with space.txt": []byte("spaces"),
	}
	for p, b := range files {
		if err := c.UploadArtifact(ctx, root+"/"+p, bytes.NewReader(b)); err != nil {
			t.Fatalf("UploadArtifact(%s): %v", p, err)
		}
	}
	if err := c.UploadArtifact(ctx, root+"/outside.txt", strings.NewReader("not the model")); err != nil {
		t.Fatal(err)
	}
	v1, err := c.CreateModelVersion(ctx, "fraud-a", "runs:/"+runID+"/model", "")
	if err != nil {
		t.Fatalf("CreateModelVersion: %v", err)
	}
	v2, err := c.CreateModelVersion(ctx, "fraud-a", "runs:/"+runID+"/model", runID)
	if err != nil {
		t.Fatalf("CreateModelVersion: %v", err)
	}
	if v1.Version != "1" || v2.Version != "2" || v1.RunID != runID || v1.Source != "runs:/"+runID+"/model" {
		t.Errorf("versions = %+v, %+v", v1, v2)
	}
	if err := c.SetRegisteredModelAlias(ctx, "fraud-a", "champion", "1"); err != nil {
		t.Fatalf("SetRegisteredModelAlias: %v", err)
	}
	err = c.SetRegisteredModelAlias(ctx, "fraud-a", "latest", "1")
	wantLodeError(t, err, lode.EInvalid, "", "reserved alias")
	got, err := c.GetModelVersionByAlias(ctx, "fraud-a", "champion")
	if err != nil || got.Version != "1" || strings.Join(got.Aliases, ",") != "champion" {
		t.Errorf("GetModelVersionByAlias = %+v, %v", got, err)
	}
	m, err := c.GetRegisteredModel(ctx, "fraud-a")
	if err != nil || len(m.Aliases) != 1 || m.Aliases[0] != (mlflowapi.ModelAlias{Alias: "champion", Version: "1"}) {
		t.Errorf("GetRegisteredModel aliases = %+v, %v", m, err)
	}
	vs, _, err := c.SearchModelVersions(ctx, "name = 'fraud-a'", []string{"version_number DESC"}, 0, "")
	if err != nil || len(vs) != 2 || vs[0].Version != "2" || vs[1].Version != "1" {
		t.Errorf("SearchModelVersions = %+v, %v", vs, err)
	}
	latest, err := c.GetLatestVersions(ctx, "fraud-a", nil)
	if err != nil || len(latest) != 1 || latest[0].Version != "2" {
		t.Errorf("GetLatestVersions = %+v, %v", latest, err)
	}
	if _, err := c.GetModelVersion(ctx, "fraud-a", "9"); err == nil {
		t.Error("GetModelVersion of a missing version: no error")
	} else {
		wantLodeError(t, err, lode.ENotFound, "Model Version (name=fraud-a, version=9) not found", "missing version")
	}

	uri, err := c.GetModelVersionDownloadURI(ctx, "fraud-a", "1")
	if err != nil || uri != runURI+"/model" {
		t.Fatalf("GetModelVersionDownloadURI = %q, %v; want %s/model", uri, err, runURI)
	}
	dir, err := mlflowapi.ProxiedArtifactPath(uri)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := c.ListArtifactTree(ctx, dir)
	if err != nil {
		t.Fatalf("ListArtifactTree: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range tree {
		want, ok := files["model/"+f.Rel]
		if !ok {
			t.Errorf("ListArtifactTree listed %q, not a model file", f.Rel)
			continue
		}
		seen[f.Rel] = true
		if f.Path != dir+"/"+f.Rel {
			t.Errorf("file %q has path %q", f.Rel, f.Path)
		}
		if (f.Size == nil && len(want) != 0) || (f.Size != nil && *f.Size != int64(len(want))) {
			t.Errorf("file %q size %v, want %d", f.Rel, f.Size, len(want))
		}
		rc, n, err := c.OpenArtifact(ctx, f.Path)
		if err != nil {
			t.Errorf("OpenArtifact(%s): %v", f.Path, err)
			continue
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, want) || n != int64(len(want)) {
			t.Errorf("OpenArtifact(%s): %d bytes (announced %d), %v", f.Path, len(b), n, err)
		}
	}
	if len(seen) != len(files) {
		t.Errorf("ListArtifactTree found %v, want all of %d files", seen, len(files))
	}
	// A URI naming one file lists as that file.
	one, err := c.ListArtifactTree(ctx, dir+"/MLmodel")
	if err != nil || len(one) != 1 || one[0].Rel != "MLmodel" || one[0].Path != dir+"/MLmodel" {
		t.Errorf("ListArtifactTree of a file = %+v, %v", one, err)
	}
	none, err := c.ListArtifactTree(ctx, dir+"/no-such-dir")
	if err != nil || len(none) != 0 {
		t.Errorf("ListArtifactTree of a missing dir = %+v, %v", none, err)
	}
	_, _, err = c.OpenArtifact(ctx, dir+"/nope.bin")
	wantLodeError(t, err, lode.ENotFound, "", "download of a missing file")

	if err := c.DeleteRegisteredModelAlias(ctx, "fraud-a", "champion"); err != nil {
		t.Fatalf("DeleteRegisteredModelAlias: %v", err)
	}
	if ct := e.ctypes["DELETE /api/2.0/mlflow/registered-models/alias"]; ct != "application/json" {
		t.Errorf("DELETE Content-Type = %q, want application/json", ct)
	}
	_, err = c.GetModelVersionByAlias(ctx, "fraud-a", "champion")
	// MLflow answers an unknown alias of an existing model with INVALID_PARAMETER_VALUE.
	wantLodeError(t, err, lode.EInvalid, "Registered model alias champion not found.", "deleted alias")
}

func TestClientErrorsWithoutErrorBody(t *testing.T) {
	e := newClientEnv(t)
	e.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "registered-models/get") {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>upstream\nfailed</html>")
			return true
		}
		return false
	})
	_, err := e.client.GetRegisteredModel(context.Background(), "m")
	wantLodeError(t, err, lode.EInternal, "HTTP 502 from GET /api/2.0/mlflow/registered-models/get: <html>upstream failed</html>", "502 with HTML")

	// No server at all: a plain error naming the URI.
	c := &mlflowapi.Client{BaseURL: "http://127.0.0.1:1"}
	_, err = c.GetRegisteredModel(context.Background(), "m")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the tracking server at http://127.0.0.1:1") {
		t.Errorf("unreachable server: %v", err)
	}
}

func TestProxiedArtifactPath(t *testing.T) {
	for uri, want := range map[string]string{
		"mlflow-artifacts:/0/abc/artifacts/model":            "0/abc/artifacts/model",
		"mlflow-artifacts:0/abc":                             "0/abc",
		"mlflow-artifacts://localhost:5000/0/abc/artifacts/": "0/abc/artifacts",
		"MLFLOW-ARTIFACTS:/a//b":                             "a/b",
	} {
		got, err := mlflowapi.ProxiedArtifactPath(uri)
		if err != nil || got != want {
			t.Errorf("ProxiedArtifactPath(%q) = %q, %v; want %q", uri, got, err, want)
		}
	}
	for _, uri := range []string{
		"s3://bucket/key", "file:///etc", "/abs/path", "runs:/abc/model", "mlflow-artifacts:/",
		"mlflow-artifacts://host", "mlflow-artifacts:/a/../../etc", "mlflow-artifacts:/a/%2e%2e/b", `mlflow-artifacts:/a\b`,
	} {
		if got, err := mlflowapi.ProxiedArtifactPath(uri); err == nil {
			t.Errorf("ProxiedArtifactPath(%q) = %q, want an error", uri, got)
		}
	}
}

func TestSafeRelPath(t *testing.T) {
	for _, ok := range []string{"MLmodel", "data/model.bin", "a b/c.txt", "...hidden", ".env", "x..y"} {
		if why := mlflowapi.SafeRelPath(ok); why != "" {
			t.Errorf("SafeRelPath(%q) refused: %s", ok, why)
		}
	}
	for _, bad := range []string{"", "..", ".", "../x", "a/../../x", "a/..", "/etc/passwd", "//host/share",
		`..\x`, `a\b`, "a//b", "a/", "./a", "C:/x", "c:x", "a\x00b", "a\nb"} {
		if why := mlflowapi.SafeRelPath(bad); why == "" {
			t.Errorf("SafeRelPath(%q) accepted", bad)
		}
	}
}

// TestListArtifactTreeRefusesUnsafeNames: a listing (hand-crafted here, in
// front of a real server) naming anything that could leave the download
// directory makes the whole tree fail.
func TestListArtifactTreeRefusesUnsafeNames(t *testing.T) {
	e := newClientEnv(t)
	ctx := context.Background()
	_, runURI := e.createRun(t)
	root, _ := mlflowapi.ProxiedArtifactPath(runURI)
	for _, p := range []string{"model/MLmodel", "model/data/w.bin"} {
		if err := e.client.UploadArtifact(ctx, root+"/"+p, strings.NewReader(p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, evil := range []string{"../evil.txt", "../../../../evil.txt", "/tmp/evil.txt", `..\evil.txt`,
		"ok/../../evil.txt", "..", "C:/evil.txt", ""} {
		for _, isDir := range []bool{false, true} {
			e.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/api/2.0/mlflow-artifacts/artifacts" || r.URL.Query().Get("path") != root+"/model/data" {
					return false
				}
				body, _ := json.Marshal(map[string]any{"files": []map[string]any{
					{"path": "w.bin", "is_dir": false, "file_size": 16},
					{"path": evil, "is_dir": isDir, "file_size": 4},
				}})
				w.Header().Set("Content-Type", "application/json")
				w.Write(body)
				return true
			})
			files, err := e.client.ListArtifactTree(ctx, root+"/model")
			if err == nil || !strings.Contains(err.Error(), "would escape the download directory") ||
				!strings.Contains(err.Error(), fmt.Sprintf("%q", evil)) {
				t.Errorf("listing with %q (dir %v): %v, %v; want a refusal naming it", evil, isDir, files, err)
			}
		}
	}
	e.setOverride(nil)
	files, err := e.client.ListArtifactTree(ctx, root+"/model")
	if err != nil || len(files) != 2 {
		t.Errorf("clean listing: %+v, %v", files, err)
	}
}

// TestClientErrorsHideCredentials: a tracking URI with a password (or one
// that does not parse) never shows it in the client's errors.
func TestClientErrorsHideCredentials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, base := range []string{
		"http://alice:SECRETPW@" + closed,
		"http://alice:SECRET%zzPW@" + closed,
		"http://alice:SECRETPW@[::1" + closed,
	} {
		c := &mlflowapi.Client{BaseURL: base, HTTP: &http.Client{Timeout: 5 * time.Second}}
		_, err := c.GetRegisteredModel(context.Background(), "m")
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("BaseURL %q: %v, want an error without the password", base, err)
		}
	}
}
