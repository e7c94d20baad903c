package mlflowapi_test

import (
	"net/url"
	"testing"

	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/sqlite"
)

// TestModelLibrarySearch registers versions whose MLmodel files differ in
// flavor and signature, and finds them through the library endpoint.
func TestModelLibrarySearch(t *testing.T) {
	e := newAPIEnv(t, func(s *mlflowapi.Server) {
		db := s.Tracking.Store.(*sqlite.DB)
		s.Registry = &registry.Service{Store: db, Tracking: s.Tracking, ArtifactScheme: mlflowapi.ArtifactScheme, Artifacts: s.Artifacts}
	})
	register := func(name, mlmodel string) {
		run := str(e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "create run"), "run", "info", "run_id")
		e.ok(e.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/"+run+"/artifacts/model/MLmodel", []byte(mlmodel)), "upload MLmodel")
		e.ok(e.do("POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": name, "tags": []map[string]string{{"key": "team", "value": "risk"}}}), "create model")
		e.ok(e.do("POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": name, "source": "runs:/" + run + "/model"}), "create version")
	}
	eleven := `[` + func() string {
		s := ""
		for i := 0; i < 11; i++ {
			if i > 0 {
				s += ", "
			}
			s += `{"type": "float", "name": "f` + string(rune('a'+i)) + `"}`
		}
		return s
	}() + `]`
	register("wide", "flavors:\n  sklearn: {}\n  python_function: {}\nsignature:\n  inputs: '"+eleven+"'\n  outputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float64\", \"shape\": [-1]}}]'\n")
	register("tensor", "flavors:\n  onnx: {}\nsignature:\n  inputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float32\", \"shape\": [-1, 11]}}]'\n")
	register("narrow", "flavors:\n  sklearn: {}\nsignature:\n  inputs: '[{\"type\": \"long\", \"name\": \"n\"}]'\n")
	register("nosig", "flavors:\n  sklearn: {}\n")

	find := func(q url.Values) []string {
		t.Helper()
		got := e.ok(e.get("/api/2.0/lode/model-library/search", q), "library search "+q.Encode())
		var names []string
		for _, v := range list(got, "model_versions") {
			names = append(names, str(v, "name"))
		}
		return names
	}
	for _, c := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{"input_columns": {"11"}, "input_type": {"float"}}, "[tensor wide]"},
		{url.Values{"input_columns": {"11"}, "input_type": {"double"}}, "[tensor wide]"},
		{url.Values{"flavor": {"sklearn"}}, "[narrow nosig wide]"},
		{url.Values{"flavor": {"onnx"}}, "[tensor]"},
		{url.Values{"input_type": {"int"}}, "[narrow]"},
		{url.Values{"name": {"n%"}, "tag": {"team=risk"}}, "[narrow nosig]"},
		{url.Values{"tag": {"team=other"}}, "[]"},
		{url.Values{"output_columns": {"1"}, "output_type": {"float"}}, "[wide]"},
	} {
		if got := fmtList(find(c.q)); got != c.want {
			t.Errorf("search %s = %s, want %s", c.q.Encode(), got, c.want)
		}
	}
	got := e.ok(e.get("/api/2.0/lode/model-library/search", url.Values{"flavor": {"onnx"}}), "onnx")
	lib := field(list(got, "model_versions")[0], "library")
	if field(lib, "input_columns") != float64(11) || str(lib, "signature", "inputs") == "" {
		t.Errorf("library = %v", lib)
	}
	wantError(t, e.get("/api/2.0/lode/model-library/search", url.Values{"tag": {"novalue"}}), 400, "INVALID_PARAMETER_VALUE", "bad tag filter")
	wantError(t, e.get("/api/2.0/lode/model-library/search", url.Values{"max_results": {"5000"}}), 400, "INVALID_PARAMETER_VALUE", "too many results")
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
