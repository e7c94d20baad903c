package inferapi

import (
	"net/http"
	"testing"
)

func TestTFPredictSeed(t *testing.T) {
	f := newFixture(t, 0)
	r := f.post("/v1/models/half_plus_two:predict", `{"instances": [1.0, 2.0, 5.0]}`)
	expect(t, r, 200, `{"predictions":[2.5,3.0,4.5]}`)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	// The same through a version, a label, and integers.
	expect(t, f.post("/v1/models/half_plus_two/versions/2:predict", `{"instances": [1, 2, 5]}`), 200, `{"predictions":[2.5,3.0,4.5]}`)
	expect(t, f.post("/v1/models/half_plus_two/labels/stable:predict", `{"signature_name": "serving_default", "instances": [1.0]}`), 200, `{"predictions":[2.5]}`)
	// Columnar.
	expect(t, f.post("/v1/models/half_plus_two:predict", `{"inputs": [1.0, 2.0]}`), 200, `{"outputs":[2.5,3.0]}`)
	expect(t, f.post("/v1/models/half_plus_two:predict", `{"inputs": {"x": [4]}}`), 200, `{"outputs":[4.0]}`)
}

func TestTFMultipleOutputs(t *testing.T) {
	f := newFixture(t, 0)
	expect(t, f.post("/v1/models/pair:predict", `{"instances": [1, 2]}`), 200,
		`{"predictions":[{"double":2.0,"label":"odd"},{"double":4.0,"label":"even"}]}`)
	expect(t, f.post("/v1/models/pair:predict", `{"inputs": [1, 2]}`), 200,
		`{"outputs":{"double":[2.0,4.0],"label":["odd","even"]}}`)
	// Rows of a 2-D input keep their shape.
	expect(t, f.post("/v1/models/pair:predict", `{"instances": [[1, 2], [3, 4]]}`), 200,
		`{"predictions":[{"double":[2.0,4.0],"label":["odd","even"]},{"double":[6.0,8.0],"label":["odd","even"]}]}`)
}

func TestTFInstancesAsObjects(t *testing.T) {
	f := newFixture(t, 0)
	r := f.post("/v1/models/echo:predict", `{"instances": [{"a": 1, "b": "x"}, {"a": 2.5, "b": "y"}]}`)
	expect(t, r, 200, `{"predictions":[{"a":1.0,"b":"x"},{"a":2.5,"b":"y"}]}`)
	if in := f.models["echo"].lastInput(); !in.Tabular || in.Tensors[0].Name != "a" {
		t.Errorf("records were not decoded as a data frame: %+v", in)
	}
	// Named tensors with a batch dimension, and TF's base64 strings.
	r = f.post("/v1/models/echo:predict", `{"instances": [{"img": [1, 2], "tag": {"b64": "aGk="}}, {"img": [3, 4], "tag": {"b64": "eW8="}}]}`)
	expect(t, r, 200, `{"predictions":[{"img":[1,2],"tag":"hi"},{"img":[3,4],"tag":"yo"}]}`)
	if in := f.models["echo"].lastInput(); in.Tabular || in.Tensors[0].Shape[1] != 2 {
		t.Errorf("named tensors decoded as %+v", in)
	}
}

func TestTFStatus(t *testing.T) {
	f := newFixture(t, 0)
	expect(t, f.get("/v1/models/half_plus_two"), 200,
		`{"model_version_status":[{"version":"2","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}},{"version":"3","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]}`)
	expect(t, f.get("/v1/models/half_plus_two/versions/3"), 200,
		`{"model_version_status":[{"version":"3","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]}`)
	expect(t, f.get("/v1/models/half_plus_two/labels/stable"), 200,
		`{"model_version_status":[{"version":"3","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]}`)
	expect(t, f.get("/v1/models/loading"), 200,
		`{"model_version_status":[{"version":"1","state":"LOADING","status":{"error_code":"OK","error_message":""}}]}`)
	expectError(t, f.get("/v1/models/half_plus_two/versions/9"), 404, protoTF, "no version 9")
	expectError(t, f.get("/v1/models/half_plus_two/labels/nope"), 404, protoTF, "no label")
	expectError(t, f.get("/v1/models/nope"), 404, protoTF, "not served")
}

func TestTFMetadata(t *testing.T) {
	f := newFixture(t, 0)
	expect(t, f.get("/v1/models/half_plus_two/versions/2/metadata"), 200,
		`{"metadata":{"signature_def":{"signature_def":{"serving_default":{"inputs":{"x":{"dtype":"DT_FLOAT","tensor_shape":{"dim":[{"size":"-1","name":""}],"unknown_rank":false},"name":"x"}},"method_name":"tensorflow/serving/predict","outputs":{"y":{"dtype":"DT_FLOAT","tensor_shape":{"dim":[{"size":"-1","name":""}],"unknown_rank":false},"name":"y"}}}}}},"model_spec":{"name":"half_plus_two","signature_name":"","version":"2"}}`)
	m := f.get("/v1/models/columns/metadata").json(t)
	sig := m["metadata"].(map[string]any)["signature_def"].(map[string]any)["signature_def"].(map[string]any)["serving_default"].(map[string]any)
	if b := sig["inputs"].(map[string]any)["b"].(map[string]any); b["dtype"] != "DT_INT64" {
		t.Errorf("signature fallback: %v", b)
	}
	expectError(t, f.get("/v1/models/nope/metadata"), 404, protoTF, "not served")
}

func TestTFClassifyRegress(t *testing.T) {
	f := newFixture(t, 0)
	expect(t, f.post("/v1/models/classifier:classify", `{"context": {"c": 1}, "examples": [{"x": [1.0]}, {"x": 2.0}]}`), 200,
		`{"results":[[["0",0.5],["1",0.25],["2",0.25]],[["0",0.25],["1",0.5],["2",0.25]]]}`)
	if in := f.models["classifier"].lastInput(); !in.Tabular || len(in.Tensors) != 2 || in.Tensors[0].Name != "c" {
		t.Errorf("examples decoded as %+v", in)
	}
	expect(t, f.post("/v1/models/half_plus_two:regress", `{"examples": [{"x": 1}, {"x": 3}]}`), 200, `{"results":[2.5,3.5]}`)
	// A Python model's data frame of class probabilities.
	f.cat.add(withName("proba", pythonModel(`[{"cat": 0.9, "dog": 0.1}, {"cat": 0.2, "dog": 0.8}]`)))
	expect(t, f.post("/v1/models/proba:classify", `{"examples": [{"x": 1}, {"x": 2}]}`), 200,
		`{"results":[[["cat",0.9],["dog",0.1]],[["cat",0.2],["dog",0.8]]]}`)
	// Predicted labels only.
	f.cat.add(withName("labels", pythonModel(`["cat", "dog"]`)))
	expect(t, f.post("/v1/models/labels:classify", `{"examples": [{"x": 1}, {"x": 2}]}`), 200,
		`{"results":[[["cat",1.0]],[["dog",1.0]]]}`)
	expectError(t, f.post("/v1/models/labels:regress", `{"examples": [{"x": 1}, {"x": 2}]}`), 400, protoTF, "use :predict")
	expectError(t, f.post("/v1/models/classifier:classify", `{"examples": [1, 2]}`), 400, protoTF, "list of objects")
	expectError(t, f.post("/v1/models/classifier:classify", `{"instances": [1, 2]}`), 400, protoTF, `Missing "examples"`)
}

func TestTFErrors(t *testing.T) {
	f := newFixture(t, 64)
	cases := []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "/v1/models/half_plus_two:predict", `{"instances": [1.0,`, 400, "not valid JSON"},
		{"POST", "/v1/models/half_plus_two:predict", `[1]`, 400, "must be a JSON object"},
		{"POST", "/v1/models/half_plus_two:predict", `{"instances": [1], "inputs": [1]}`, 400, "both"},
		{"POST", "/v1/models/half_plus_two:predict", `{}`, 400, "Missing"},
		{"POST", "/v1/models/half_plus_two:predict", `{"signature_name": "other", "instances": [1]}`, 400, "not found in signature def"},
		{"POST", "/v1/models/half_plus_two:predict", `{"instances": [[1, 2], [3]]}`, 400, "ragged"},
		{"POST", "/v1/models/half_plus_two:predict", `{"instances": [[1, 2], [3, 4]]}`, 400, "must have shape"},
		{"POST", "/v1/models/half_plus_two:predict", `{"instances": [1, "a"]}`, 400, "mixed types"},
		{"POST", "/v1/models/half_plus_two:predict", `{"instances": [` + repeat("1,", 40) + `1]}`, 413, "larger than the limit"},
		{"POST", "/v1/models/nope:predict", `{"instances": [1]}`, 404, "not served"},
		{"POST", "/v1/models/half_plus_two/versions/7:predict", `{"instances": [1]}`, 404, "no version 7"},
		{"POST", "/v1/models/loading:predict", `{"instances": [1]}`, 503, "still loading"},
		{"POST", "/v1/models/half_plus_two:explain", `{}`, 404, "No endpoint"},
		{"GET", "/v1/models/half_plus_two:predict", ``, 405, "not allowed"},
		{"GET", "/v1/other", ``, 404, "No endpoint"},
		{"GET", "/v1/models//versions/1", ``, 404, "No endpoint"},
	}
	for _, c := range cases {
		r := f.do(c.method, c.path, "application/json", c.body)
		expectError(t, r, c.status, protoTF, c.msg)
	}
	if r := f.do("GET", "/v1/models/half_plus_two:predict", "", ""); r.header.Get("Allow") != http.MethodPost {
		t.Errorf("405 without Allow: %v", r.header)
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
