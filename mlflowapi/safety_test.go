package mlflowapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lode-ml/lode/localfs"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/sqlite"
)

// The traversal tests send every request on a raw TCP connection: the
// request target below is exactly what goes on the wire, with no client
// library cleaning "..", decoding escapes or cutting "#".

// traversalPaths are request-target suffixes (after the proxy prefix and
// "/") that try to leave the artifact root. The root is <base>/art and
// the sentinel is <base>/outside/sentinel.txt, so "../outside/sentinel.txt"
// is the file itself. {ABS} is replaced by the absolute path of outside/
// (without its leading "/").
var traversalPaths = []string{
	// ".." segments
	"../outside/sentinel.txt",
	"0/../../outside/sentinel.txt",
	"0/../../outside/new.txt",
	"0/..",
	"0/../..",
	"..",
	"./..",
	"0/./../../outside/sentinel.txt",
	// absolute paths
	"/{ABS}/sentinel.txt",
	"//{ABS}/sentinel.txt",
	"/etc/passwd",
	// backslashes
	`..\outside\sentinel.txt`,
	`0\..\..\outside\sentinel.txt`,
	"..%5coutside%5csentinel.txt",
	"..%5Coutside/sentinel.txt",
	"0/..%5c..%5coutside/sentinel.txt",
	// NUL and other controls
	"0/sentinel.txt%00",
	"0/a%00/../../outside/sentinel.txt",
	"%00",
	"0/a%0a",
	// URL-encoded traversal
	"%2e%2e%2foutside%2fsentinel.txt",
	"%2e%2e/outside/sentinel.txt",
	"%2E%2E/outside/sentinel.txt",
	"..%2foutside%2fsentinel.txt",
	"..%2Foutside/sentinel.txt",
	"0/%2e%2e/%2e%2e/outside/sentinel.txt",
	".%2e/outside/sentinel.txt",
	"%2e./outside/sentinel.txt",
	"%2fetc%2fpasswd",
	// double (and triple) encoded
	"%252e%252e%252foutside%252fsentinel.txt",
	"%252e%252e/outside/sentinel.txt",
	"..%252foutside/sentinel.txt",
	"%25252e%25252e/outside/sentinel.txt",
	"%252fetc%252fpasswd",
	// ";" path parameters
	"..;/outside/sentinel.txt",
	"0/..;/..;/outside/sentinel.txt",
	"a;b/c",
	"0/x.txt;type=a",
	"%3b/x",
	// fragments
	"0/x.txt#frag",
	"..#/outside/sentinel.txt",
	"0/x.txt%23frag",
	"%23",
	// look-alike dots and slashes
	"%ef%bc%8e%ef%bc%8e/outside/sentinel.txt",
	"..%e2%88%95outside%e2%88%95sentinel.txt",
	"%c0%ae%c0%ae/outside/sentinel.txt",
	// drive letters and schemes
	"C:/outside/sentinel.txt",
	"file:/etc/passwd",
}

// traversalQueries are values of ?path= for the proxy's listing, as they
// go on the wire (already percent-encoded where shown).
var traversalQueries = []string{
	"..",
	"../outside",
	"0/../../outside",
	"/{ABS}",
	"//{ABS}",
	"/etc",
	"%2Fetc",
	`..\outside`,
	"..%5coutside",
	"%00",
	"0%00",
	"%2e%2e%2foutside",
	"%2e%2e/outside",
	"..%2foutside",
	"%252e%252e%252foutside",
	"..;/outside",
	"a;b/c",
	"..%3B/outside",
	"a%23b",
	"..#/outside",
	"C:/outside",
}

// safetyEnv is an apiEnv with a symlink farm inside the root, a run and a
// logged model, used by every traversal test.
type safetyEnv struct {
	*apiEnv
	abs   string // absolute path of outside/, without the leading "/"
	run   string
	model string
}

func newSafetyEnv(t *testing.T) *safetyEnv {
	e := newAPIEnv(t)
	// Some ordinary content in the root.
	e.ok(e.do("PUT", artifactPrefixes[0]+"/0/x.txt", []byte("inside")), "put x.txt")
	run := str(e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "run"), "run", "info", "run_id")
	model := str(e.ok(e.do("POST", "/api/2.0/mlflow/logged-models", map[string]any{"experiment_id": "0", "name": "m"}), "model"), "model", "info", "model_id")
	e.ok(e.do("PUT", artifactPrefixes[0]+"/0/"+run+"/artifacts/ok.txt", []byte("ok")), "put run artifact")
	e.ok(e.do("PUT", artifactPrefixes[0]+"/0/models/"+model+"/artifacts/MLmodel", []byte("m")), "put model artifact")

	// Symlinks inside the root pointing outside it, absolute and relative,
	// to the directory and to the file, also inside the run's and the
	// model's artifact directories.
	links := map[string]string{
		"escape":                         e.outside,
		"escape-rel":                     "../outside",
		"filelink":                       filepath.Join(e.outside, "sentinel.txt"),
		"0/deep":                         "../../outside",
		"0/deepfile":                     "../../outside/sentinel.txt",
		"0/dangling":                     filepath.Join(e.outside, "not-there.txt"),
		"0/root-up":                      "../..",
		"0/" + run + "/artifacts/escape": e.outside,
		"0/models/" + model + "/artifacts/escape":     e.outside,
		"0/models/" + model + "/artifacts/escapefile": filepath.Join(e.outside, "sentinel.txt"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(e.artRoot, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	return &safetyEnv{apiEnv: e, abs: strings.TrimPrefix(e.outside, "/"), run: run, model: model}
}

func (s *safetyEnv) expand(p string) string { return strings.ReplaceAll(p, "{ABS}", s.abs) }

// untouched runs fn and checks that nothing under base (the artifact root
// and its sibling outside/, with the sentinel) changed.
func (s *safetyEnv) untouched(t *testing.T, what string, fn func()) {
	t.Helper()
	before := snapshot(t, s.base)
	fn()
	if d := diffSnapshots(before, snapshot(t, s.base)); d != "" {
		t.Errorf("%s changed the disk:%s", what, d)
	}
	data, err := os.ReadFile(filepath.Join(s.outside, "sentinel.txt"))
	if err != nil || string(data) != "do not touch" {
		t.Fatalf("%s: sentinel is gone or changed: %q, %v", what, data, err)
	}
}

func wantInvalid(t *testing.T, r resp, what string) {
	t.Helper()
	wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", what)
	if strings.Contains(string(r.Body), "do not touch") {
		t.Errorf("%s: the response leaks the sentinel's content", what)
	}
}

func TestArtifactProxyTraversal(t *testing.T) {
	s := newSafetyEnv(t)
	for _, ap := range artifactPrefixes {
		for _, p := range traversalPaths {
			target := ap + "/" + s.expand(p)
			for _, method := range []string{"GET", "HEAD", "PUT", "DELETE"} {
				s.untouched(t, method+" "+target, func() {
					var body []byte
					if method == "PUT" {
						body = []byte("pwned")
					}
					r := rawDo(t, s.addr(), method, target, body)
					if method == "HEAD" {
						if r.Status != http.StatusBadRequest {
							t.Errorf("HEAD %s: status %d, want 400", target, r.Status)
						}
						return
					}
					wantInvalid(t, r, method+" "+target)
				})
			}
		}
	}
}

func TestArtifactProxyListTraversal(t *testing.T) {
	s := newSafetyEnv(t)
	for _, ap := range artifactPrefixes {
		for _, base := range []string{ap, ap + "/"} {
			for _, q := range traversalQueries {
				target := base + "?path=" + s.expand(q)
				s.untouched(t, "GET "+target, func() {
					r := rawDo(t, s.addr(), "GET", target, nil)
					wantInvalid(t, r, "GET "+target)
					if strings.Contains(string(r.Body), "sentinel") {
						t.Errorf("GET %s lists outside the root: %s", target, r)
					}
				})
			}
		}
	}
}

// TestArtifactProxySymlinks: symlinks inside the root that lead outside it
// cannot be read, listed, written or deleted through, and a listing of
// their directory hides them.
func TestArtifactProxySymlinks(t *testing.T) {
	s := newSafetyEnv(t)
	ap := artifactPrefixes[0]
	cases := []struct{ method, target string }{
		{"GET", ap + "/escape/sentinel.txt"},
		{"GET", ap + "/escape-rel/sentinel.txt"},
		{"GET", ap + "/filelink"},
		{"GET", ap + "/0/deep/sentinel.txt"},
		{"GET", ap + "/0/deepfile"},
		{"GET", ap + "/0/root-up/outside/sentinel.txt"},
		{"GET", ap + "/0/dangling"},
		{"GET", ap + "?path=escape"},
		{"GET", ap + "?path=escape-rel"},
		{"GET", ap + "?path=0/deep"},
		{"GET", ap + "?path=0/root-up"},
		{"GET", ap + "?path=0/root-up/outside"},
		{"PUT", ap + "/escape/new.txt"},
		{"PUT", ap + "/escape/sentinel.txt"},
		{"PUT", ap + "/escape-rel/sub/new.txt"},
		{"PUT", ap + "/filelink"},
		{"PUT", ap + "/0/deepfile"},
		{"PUT", ap + "/0/dangling"},
		{"PUT", ap + "/0/root-up/outside/sentinel.txt"},
		{"DELETE", ap + "/escape/sentinel.txt"},
		{"DELETE", ap + "/escape"},
		{"DELETE", ap + "/escape-rel"},
		{"DELETE", ap + "/filelink"},
		{"DELETE", ap + "/0/deep"},
		{"DELETE", ap + "/0/deep/sentinel.txt"},
		{"DELETE", ap + "/0/deepfile"},
		{"DELETE", ap + "/0/root-up/outside"},
		{"GET", "/api/2.0/mlflow/artifacts/list?run_id=" + s.run + "&path=escape"},
		{"GET", "/ajax-api/2.0/mlflow/artifacts/list?run_id=" + s.run + "&path=escape"},
		{"GET", "/api/2.0/mlflow/logged-models/" + s.model + "/artifacts/directories?artifact_directory_path=escape"},
		{"GET", "/ajax-api/2.0/mlflow/logged-models/" + s.model + "/artifacts/files?artifact_file_path=escapefile"},
		{"GET", "/ajax-api/2.0/mlflow/logged-models/" + s.model + "/artifacts/files?artifact_file_path=escape/sentinel.txt"},
	}
	for _, c := range cases {
		s.untouched(t, c.method+" "+c.target, func() {
			var body []byte
			if c.method == "PUT" {
				body = []byte("pwned")
			}
			wantInvalid(t, rawDo(t, s.addr(), c.method, c.target, body), c.method+" "+c.target)
		})
	}
	// Listings that contain the symlinks hide them.
	for _, target := range []string{
		ap + "?path=",
		ap + "?path=0",
		"/api/2.0/mlflow/artifacts/list?run_id=" + s.run,
		"/api/2.0/mlflow/logged-models/" + s.model + "/artifacts/directories",
	} {
		r := rawDo(t, s.addr(), "GET", target, nil)
		if r.Status != 200 {
			t.Errorf("GET %s: %s", target, r)
			continue
		}
		for _, f := range list(r.JSON, "files") {
			switch name := str(f, "path"); {
			case strings.Contains(name, "escape"), strings.Contains(name, "filelink"), strings.Contains(name, "deep"),
				strings.Contains(name, "dangling"), strings.Contains(name, "root-up"):
				t.Errorf("GET %s lists the outward symlink %q", target, name)
			}
		}
	}
}

// TestArtifactProxyNonCanonicalPrefix: requests whose path reaches the
// proxy prefix only after cleaning ("/x/../artifacts/...", "//api/...",
// "artifacts%2f..") are not served as artifact requests, and touch nothing.
func TestArtifactProxyNonCanonicalPrefix(t *testing.T) {
	s := newSafetyEnv(t)
	for _, target := range []string{
		"/api/2.0/mlflow-artifacts/x/../artifacts/0/x.txt",
		"//api/2.0/mlflow-artifacts/artifacts/0/x.txt",
		"/api/2.0/mlflow-artifacts/./artifacts/0/x.txt",
		"/api/2.0/mlflow-artifacts/artifacts%2f..%2f..%2f..%2foutside/sentinel.txt",
		"/api/2.0/mlflow-artifacts/artifacts%2F0/x.txt",
		"/api/2.0/mlflow-artifacts%2fartifacts/0/x.txt",
		"/api/2.0/mlflow-artifacts/artifacts..%2f..%2foutside/sentinel.txt",
	} {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			s.untouched(t, method+" "+target, func() {
				r := rawDo(t, s.addr(), method, target, []byte("pwned"))
				if r.Status < 300 || strings.Contains(string(r.Body), "do not touch") {
					t.Errorf("%s %s: %s", method, target, r)
				}
			})
		}
	}
}

func TestExperimentArtifactLocationValidation(t *testing.T) {
	e := newAPIEnv(t)
	count := func() int {
		r := e.ok(e.do("POST", "/api/2.0/mlflow/experiments/search", map[string]any{"view_type": "ALL", "max_results": 1000}), "search")
		return len(list(r, "experiments"))
	}
	n := count()
	for i, loc := range []string{
		"file:///etc",
		"file:/etc",
		"FILE:///etc",
		"/etc",
		"../x",
		"x",
		"./mlruns",
		`C:\x`,
		"C:/x",
		"mlflow-artifacts:/../x",
		"mlflow-artifacts:/a/../../x",
		"mlflow-artifacts:/a%2f..%2fb",
		"mlflow-artifacts:/a%2F..%2Fb",
		"mlflow-artifacts:/%2e%2e/x",
		"mlflow-artifacts:/%252e%252e/x",
		"mlflow-artifacts:/a\\..\\b",
		"mlflow-artifacts:/a%00b",
		"mlflow-artifacts:/a;b",
		"mlflow-artifacts:/a?x=1",
		"mlflow-artifacts:/a#frag",
		"mlflow-artifacts://evil.example.com/x",
		"mlflow-artifacts:",
		"mlflow-artifacts:x",
		"s3://b/../x",
		"s3://b/a/../../x",
		"s3://b/%2e%2e/x",
		"s3://../x",
		"s3:///x",
		"s3://user:pass@b/x",
		"http://example.com/x",
		"https://example.com/x",
		"ftp://example.com/x",
		"runs:/abc/x",
		"models:/m/1",
		" mlflow-artifacts:/x",
		"mlflow-artifacts:/x ",
	} {
		r := e.do("POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "bad-" + string(rune('a'+i%26)) + loc, "artifact_location": loc})
		wantInvalid(t, r, "artifact_location "+loc)
	}
	if got := count(); got != n {
		t.Errorf("bad locations created %d experiments", got-n)
	}
	// Good locations are accepted.
	for _, loc := range []string{"mlflow-artifacts:/team/x", "s3://bucket/path", "gs://bucket", "MLFLOW-ARTIFACTS:/upper"} {
		e.ok(e.do("POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "good " + loc, "artifact_location": loc}), "good location "+loc)
	}
}

func TestRunAndModelArtifactListTraversal(t *testing.T) {
	s := newSafetyEnv(t)
	paths := []string{
		"..", "../..", "../../..", "../../../outside", "/etc", "//etc", "a/../../..",
		"%2e%2e", "..%2f..", "%252e%252e%252f", `..\..`, "a\x00", "..;/x", "a#b", "C:/x",
	}
	for _, p := range paths {
		for _, prefix := range apiPrefixes {
			for _, target := range []string{
				prefix + "artifacts/list?" + url.Values{"run_id": {s.run}, "path": {p}}.Encode(),
				prefix + "logged-models/" + s.model + "/artifacts/directories?" + url.Values{"artifact_directory_path": {p}}.Encode(),
			} {
				s.untouched(t, "GET "+target, func() {
					wantInvalid(t, rawDo(t, s.addr(), "GET", target, nil), "GET "+target)
				})
			}
		}
		target := "/ajax-api/2.0/mlflow/logged-models/" + s.model + "/artifacts/files?" + url.Values{"artifact_file_path": {p + "/sentinel.txt"}}.Encode()
		s.untouched(t, "GET "+target, func() {
			wantInvalid(t, rawDo(t, s.addr(), "GET", target, nil), "GET "+target)
		})
	}
	// The same traversal sent as raw, unencoded query strings.
	for _, q := range traversalQueries {
		q = s.expand(q)
		for _, target := range []string{
			"/api/2.0/mlflow/artifacts/list?run_id=" + s.run + "&path=" + q,
			"/api/2.0/mlflow/logged-models/" + s.model + "/artifacts/directories?artifact_directory_path=" + q,
		} {
			s.untouched(t, "GET "+target, func() {
				wantInvalid(t, rawDo(t, s.addr(), "GET", target, nil), "GET "+target)
			})
		}
	}
	// POST bodies reach artifacts/list too when a client sends them.
	r := s.do("GET", "/api/2.0/mlflow/artifacts/list?run_id="+s.run+"&path=..%2F..", nil)
	wantInvalid(t, r, "artifacts/list ..%2F..")
}

// TestPreRouteRefusesDotSegments: behind PreRoute, with the API mounted on
// an outer ServeMux next to other routes (as lode server mounts it), a
// path with "." or ".." segments gets 400 INVALID_PARAMETER_VALUE from
// every route, never the mux's redirect to a cleaned path, and the
// artifact proxy keeps its own, stricter checks.
func TestPreRouteRefusesDotSegments(t *testing.T) {
	s := newSafetyEnv(t)
	api := s.api.Handler()
	mux := http.NewServeMux()
	mux.Handle("/", api)
	var other atomic.Int32
	mux.HandleFunc("GET /ui/{id}", func(w http.ResponseWriter, r *http.Request) { other.Add(1) })
	front := httptest.NewServer(mlflowapi.PreRoute(api, mux))
	defer front.Close()
	addr := strings.TrimPrefix(front.URL, "http://")
	for _, target := range []string{
		artifactPrefixes[0] + "/0/../../outside/sentinel.txt",
		artifactPrefixes[1] + "/./0/x.txt",
		artifactPrefixes[0] + "/0//../x.txt",
		artifactPrefixes[0] + "/0/x.txt/..",
		"/api/2.0/mlflow/runs/../runs/get?run_id=" + s.run,
		"/api/2.0/mlflow/./experiments/search",
		"/api/2.0/mlflow/%2e%2e/mlflow/experiments/search",
		"/api/2.0/mlflow/.;x/experiments/search",
		"/ui/../ui/1",
		"/ui/1/..",
		"/ui/%2E",
	} {
		s.untouched(t, "GET "+target, func() {
			wantInvalid(t, rawDo(t, addr, "GET", target, nil), "GET "+target)
		})
	}
	if n := other.Load(); n != 0 {
		t.Errorf("the other route ran %d times", n)
	}
	// The API's own handler refuses them too, without the outer mux.
	wantInvalid(t, rawDo(t, s.addr(), "GET", "/api/2.0/mlflow/runs/../runs/get?run_id="+s.run, nil), "API alone")
	// Clean paths pass.
	if r := rawDo(t, addr, "GET", artifactPrefixes[0]+"/0/x.txt", nil); r.Status != 200 || string(r.Body) != "inside" {
		t.Errorf("GET x.txt through PreRoute: %s", r)
	}
	if r := rawDo(t, addr, "GET", "/ui/1", nil); r.Status != 200 || other.Load() != 1 {
		t.Errorf("GET /ui/1 through PreRoute: %s (other route ran %d times)", r, other.Load())
	}
}

// TestModelVersionSourceSymlinks: a model-version source whose files, in
// the artifact root, are reached through a symlink leading outside it is
// refused at model-versions/create, in each form a source can take (a
// local path, the proxy's URI, runs:/ and models:/); one through a
// symlink that stays inside, or not there yet, is registered.
func TestModelVersionSourceSymlinks(t *testing.T) {
	e := newAPIEnv(t, func(s *mlflowapi.Server) {
		db := s.Tracking.Store.(*sqlite.DB)
		st := s.Artifacts.(*localfs.Store)
		s.Registry = &registry.Service{Store: db, Tracking: s.Tracking, ArtifactScheme: mlflowapi.ArtifactScheme,
			Artifacts: st, ArtifactRoot: st.Root()}
	})
	root := e.store.Root()
	run := str(e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "run"), "run", "info", "run_id")
	e.ok(e.do("PUT", artifactPrefixes[0]+"/0/"+run+"/artifacts/model/MLmodel", []byte("flavors: {}\n")), "put MLmodel")
	escaping := str(e.ok(e.do("POST", "/api/2.0/mlflow/logged-models", map[string]any{"experiment_id": "0", "name": "m"}), "model"), "model", "info", "model_id")
	links := map[string]string{
		"evil":                                e.outside,
		"evil-rel":                            "../outside",
		"0/" + run + "/artifacts/escape":      e.outside,
		"0/" + run + "/artifacts/up":          "../../../..",
		"0/models/" + escaping + "/artifacts": e.outside,
		"inside":                              "0/" + run + "/artifacts",
	}
	for name, target := range links {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	e.ok(e.do("POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "m"}), "create model")
	for _, source := range []string{
		filepath.Join(root, "evil"),
		filepath.Join(root, "evil", "model"),
		filepath.Join(root, "evil-rel", "model"),
		"mlflow-artifacts:/evil",
		"mlflow-artifacts:/evil-rel/model",
		"mlflow-artifacts:/0/" + run + "/artifacts/escape",
		"runs:/" + run + "/escape",
		"runs:/" + run + "/escape/not-there-yet",
		"runs:/" + run + "/up/outside",
		"models:/" + escaping,
	} {
		r := e.do("POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": "m", "source": source})
		wantInvalid(t, r, "source "+source)
		if !strings.Contains(str(r.JSON, "message"), "outside the artifact root") {
			t.Errorf("source %s: the message does not say why: %s", source, r)
		}
	}
	if vs := list(e.ok(e.do("GET", "/api/2.0/mlflow/model-versions/search?filter=name%3D%27m%27", nil), "search"), "model_versions"); len(vs) != 0 {
		t.Fatalf("%d versions registered from escaping sources", len(vs))
	}
	for _, source := range []string{
		"runs:/" + run + "/model",
		filepath.Join(root, "inside", "model"),
		"mlflow-artifacts:/inside/model",
		"mlflow-artifacts:/not/there/yet",
	} {
		e.ok(e.do("POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": "m", "source": source}), "source "+source)
	}
}

// TestRefusedURIsHideCredentials: a location or source refused for
// holding credentials is not quoted back with its password.
func TestRefusedURIsHideCredentials(t *testing.T) {
	e := newAPIEnv(t, func(s *mlflowapi.Server) {
		s.Registry = &registry.Service{Store: s.Tracking.Store.(*sqlite.DB), Tracking: s.Tracking, ArtifactScheme: mlflowapi.ArtifactScheme}
	})
	e.ok(e.do("POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "m"}), "create model")
	for _, uri := range []string{"s3://AKIAEXAMPLE:HUSH@bucket/m", "gs://u:HU/SH@bucket/m", "hdfs://u:HUSH@host:x/m"} {
		for _, r := range []resp{
			e.do("POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "x", "artifact_location": uri}),
			e.do("POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": "m", "source": uri}),
		} {
			wantInvalid(t, r, uri)
			if strings.Contains(string(r.Body), "HU") {
				t.Errorf("%s: the refusal quotes the password: %s", uri, r)
			}
		}
	}
}
