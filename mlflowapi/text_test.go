package mlflowapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/sqlite"
)

// TestTextThatIsNotTextIsRefused: a string field holding invalid UTF-8 or
// a lone UTF-16 surrogate escape, in a JSON body, a query string or the
// URL path, is refused with 400 INVALID_PARAMETER_VALUE naming the
// problem; encoding/json would otherwise store U+FFFD in its place.
// Well-formed text, surrogate pairs and escaped backslashes included,
// is stored as sent.
func TestTextThatIsNotTextIsRefused(t *testing.T) {
	e := newAPIEnv(t, func(s *mlflowapi.Server) {
		s.Registry = &registry.Service{Store: s.Tracking.Store.(*sqlite.DB), Tracking: s.Tracking, ArtifactScheme: mlflowapi.ArtifactScheme}
	})
	run := str(e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "run"), "run", "info", "run_id")
	const api = "/api/2.0/mlflow/"
	bodies := []struct{ path, body, why string }{
		{"experiments/create", "{\"name\": \"a\xffb\"}", "not valid UTF-8"},
		{"experiments/create", "{\"name\": \"a\xc3\"}", "not valid UTF-8"},
		{"experiments/create", "{\"name\": \"\xed\xa0\x80\"}", "not valid UTF-8"}, // a surrogate in UTF-8 form
		{"experiments/create", `{"name": "a\ud800b"}`, `\ud800`},
		{"experiments/create", `{"name": "a\uDBFF"}`, `\uDBFF`},
		{"experiments/create", `{"name": "a\udc00"}`, `\udc00`},
		{"experiments/create", `{"name": "a\ud800\u0041"}`, `\ud800`},
		{"experiments/create", `{"name": "a\ud800\ud800\udc00"}`, `\ud800`},
		{"experiments/create", `{"name": "ok", "tags": [{"key": "k", "value": "\udfff"}]}`, `\udfff`},
		{"experiments/create", `"{\"name\": \"a\\ud800\"}"`, `\ud800`}, // double-encoded, as older clients send
		{"runs/log-parameter", `{"run_id": "` + run + `", "key": "p", "value": "v\ud83d"}`, `\ud83d`},
		{"runs/log-parameter", "{\"run_id\": \"" + run + "\", \"key\": \"p\xfe\", \"value\": \"v\"}", "not valid UTF-8"},
		{"runs/set-tag", `{"run_id": "` + run + `", "key": "t", "value": "\ude00x"}`, `\ude00`},
		{"runs/log-batch", `{"run_id": "` + run + `", "params": [{"key": "b", "value": "\ud800"}]}`, `\ud800`},
		{"registered-models/create", "{\"name\": \"m\x80\"}", "not valid UTF-8"},
	}
	for _, c := range bodies {
		r := e.do("POST", api+c.path, c.body)
		wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", c.path+" "+c.body)
		if msg := str(r.JSON, "message"); !strings.Contains(msg, c.why) || !strings.Contains(msg, "body") {
			t.Errorf("%s %q: the message does not name the problem: %q", c.path, c.body, msg)
		}
	}
	queries := []string{
		api + "experiments/get-by-name?experiment_name=a%FFb",
		api + "runs/get?run_id=%C3",
		api + "metrics/get-history?run_id=" + run + "&metric_key=%ED%A0%80",
		api + "registered-models/search?filter=name%3D%27%FF%27",
		api + "artifacts/list?run_id=" + run + "&path=%FF",
		"/api/2.0/lode/model-library/search?name=%FE",
		"/api/2.0/lode/model-library/search?%FF=1",
	}
	for _, target := range queries {
		r := e.do("GET", target, nil)
		wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "GET "+target)
		if msg := str(r.JSON, "message"); !strings.Contains(msg, "not valid UTF-8") {
			t.Errorf("GET %s: the message does not name the problem: %q", target, msg)
		}
	}
	for _, target := range []string{
		api + "logged-models/m-%FF",
		"/ajax-api/2.0/mlflow/logged-models/m-%C0%AF/artifacts/files?artifact_file_path=x",
		artifactPrefixes[0] + "/0/a%FF.txt",
	} {
		r := e.do("GET", target, nil)
		wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "GET "+target)
		if msg := str(r.JSON, "message"); !strings.Contains(msg, "not valid UTF-8") {
			t.Errorf("GET %s: the message does not name the problem: %q", target, msg)
		}
	}

	// Nothing of the refused requests was stored.
	exps := list(e.ok(e.do("POST", api+"experiments/search", map[string]any{"max_results": 100}), "search"), "experiments")
	for _, x := range exps {
		if strings.ContainsRune(str(x, "name"), '\uFFFD') {
			t.Errorf("an experiment was stored with U+FFFD: %v", x)
		}
	}
	got := e.ok(e.do("GET", api+"runs/get?run_id="+run, nil), "get run")
	if ps := list(got, "run", "data", "params"); len(ps) != 0 {
		t.Errorf("params were stored: %v", ps)
	}

	// Real text is kept as sent: a surrogate pair, an escaped backslash
	// before "ud800", and non-ASCII in a query.
	for body, want := range map[string]string{
		`{"name": "smile \ud83d\ude00"}`: "smile \U0001F600",
		`{"name": "literal \\ud800"}`:    `literal \ud800`,
		`{"name": "caf\u00e9 ü"}`:        "café ü",
	} {
		id := str(e.ok(e.do("POST", api+"experiments/create", body), body), "experiment_id")
		if name := str(e.ok(e.do("GET", api+"experiments/get?experiment_id="+id, nil), "get"), "experiment", "name"); name != want {
			t.Errorf("%s stored as %q, want %q", body, name, want)
		}
	}
	if r := e.do("GET", api+"experiments/get-by-name?experiment_name=caf%C3%A9%20%C3%BC", nil); r.Status != 200 {
		t.Errorf("get-by-name with UTF-8 in the query: %s", r)
	}
}
