package inferapi

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"testing"

	"github.com/lode-ml/lode/serving"
)

func TestKServeServer(t *testing.T) {
	f := newFixture(t, 0)
	expect(t, f.get("/v2"), 200, `{"extensions":["binary_tensor_data"],"name":"lode","version":"0.9.0"}`)
	expect(t, f.get("/v2/health/live"), 200, `{"live":true}`)
	expect(t, f.get("/v2/health/ready"), 200, `{"ready":true}`)
	f.cat.mu.Lock()
	f.cat.unready = true
	f.cat.mu.Unlock()
	expectError(t, f.get("/v2/health/ready"), 503, protoKServe, "not ready")
	expectError(t, f.get("/v2/nothing"), 404, protoKServe, "No endpoint")
	expectError(t, f.post("/v2/health/live", ""), 405, protoKServe, "not allowed")
}

func TestKServeModelMetadata(t *testing.T) {
	f := newFixture(t, 0)
	const hpt = `{"inputs":[{"name":"x","datatype":"FP32","shape":[-1]}],"name":"half_plus_two","outputs":[{"name":"y","datatype":"FP32","shape":[-1]}],"platform":"onnxruntime_onnx","versions":["2","3"]}`
	expect(t, f.get("/v2/models/half_plus_two"), 200, hpt)
	expect(t, f.get("/v2/models/half_plus_two/versions/2"), 200, hpt)
	// A Python model described by its MLflow signature.
	expect(t, f.get("/v2/models/py"), 200, `{"inputs":[{"name":"a","datatype":"FP64","shape":[-1]}],"name":"py","outputs":[{"name":"a","datatype":"INT64","shape":[-1]},{"name":"b","datatype":"BYTES","shape":[-1]}],"platform":"mlflow_pyfunc","versions":["7"]}`)
	expectError(t, f.get("/v2/models/nope"), 404, protoKServe, "not served")
	expectError(t, f.get("/v2/models/half_plus_two/versions/9"), 404, protoKServe, "no version 9")

	expect(t, f.get("/v2/models/half_plus_two/ready"), 200, `{"name":"half_plus_two","ready":true}`)
	expect(t, f.get("/v2/models/half_plus_two/versions/2/ready"), 200, `{"name":"half_plus_two","ready":true}`)
	expectError(t, f.get("/v2/models/half_plus_two/versions/9/ready"), 404, protoKServe, "no version 9")
	expectError(t, f.get("/v2/models/loading/ready"), 503, protoKServe, "loading")
	expectError(t, f.get("/v2/models/nope/ready"), 404, protoKServe, "not served")
	expectError(t, f.get("/v2/models/half_plus_two/other"), 404, protoKServe, "No endpoint")
}

func TestKServeInferJSON(t *testing.T) {
	f := newFixture(t, 0)
	expect(t, f.post("/v2/models/half_plus_two/infer", `{"id": "r1", "inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2, 5]}]}`), 200,
		`{"model_name":"half_plus_two","model_version":"3","id":"r1","outputs":[{"name":"y","datatype":"FP32","shape":[3],"data":[2.5,3.0,4.5]}]}`)
	expect(t, f.post("/v2/models/half_plus_two/versions/2/infer", `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}`), 200,
		`{"model_name":"half_plus_two","model_version":"2","outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[2.5]}]}`)

	// Nested data, every kind of datatype, parameters.
	body := `{"parameters": {"temperature": 0.5}, "inputs": [
		{"name": "a", "shape": [2, 2], "datatype": "INT32", "data": [[1, 2], [3, 4]]},
		{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["x", "y"]},
		{"name": "b", "shape": [1], "datatype": "BOOL", "data": [true]},
		{"name": "u", "shape": [1], "datatype": "UINT8", "data": [255]},
		{"name": "d", "shape": [], "datatype": "FP64", "data": 1.5}]}`
	expect(t, f.post("/v2/models/echo/infer", body), 200,
		`{"model_name":"echo","model_version":"1","outputs":[`+
			`{"name":"a","datatype":"INT32","shape":[2,2],"data":[1,2,3,4]},`+
			`{"name":"s","datatype":"BYTES","shape":[2],"data":["x","y"]},`+
			`{"name":"b","datatype":"BOOL","shape":[1],"data":[true]},`+
			`{"name":"u","datatype":"UINT8","shape":[1],"data":[255]},`+
			`{"name":"d","datatype":"FP64","shape":[],"data":[1.5]}]}`)
	in := f.models["echo"].lastInput()
	if _, ok := in.Tensors[0].Data.([]int32); !ok || in.Params["temperature"] != 0.5 {
		t.Errorf("decoded %+v", in)
	}

	// Output selection.
	expect(t, f.post("/v2/models/pair/infer", `{"inputs": [{"name": "x", "shape": [2], "datatype": "INT64", "data": [1, 2]}], "outputs": [{"name": "label"}]}`), 200,
		`{"model_name":"pair","model_version":"1","outputs":[{"name":"label","datatype":"BYTES","shape":[2],"data":["odd","even"]}]}`)
	expectError(t, f.post("/v2/models/pair/infer", `{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}], "outputs": [{"name": "nope"}]}`),
		400, protoKServe, "unexpected inference output 'nope'")

	// Python predictions become tensors.
	expect(t, f.post("/v2/models/py/infer", `{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}]}`), 200,
		`{"model_name":"py","model_version":"7","outputs":[{"name":"a","datatype":"INT64","shape":[2],"data":[1,2]},{"name":"b","datatype":"BYTES","shape":[2],"data":["x","y"]}]}`)
	if in := f.models["py"].lastInput(); !in.Tabular {
		t.Error("named columns for a tabular model are not tabular")
	}
	expect(t, f.post("/v2/models/pylist/infer", `{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}]}`), 200,
		`{"model_name":"pylist","model_version":"1","outputs":[{"name":"predictions","datatype":"FP64","shape":[3],"data":[0.5,1.5,NaN]}]}`)
}

func TestKServeErrors(t *testing.T) {
	f := newFixture(t, 0)
	in := func(s string) string { return `{"inputs": [` + s + `]}` }
	cases := []struct {
		body   string
		status int
		msg    string
	}{
		{`{"inputs": [`, 400, "not valid JSON"},
		{`[]`, 400, "must be a JSON object"},
		{`{}`, 400, `"inputs" must be`},
		{`{"inputs": []}`, 400, `"inputs" must be`},
		{in(`{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}`), 400, "has 2 values; shape [3] holds 3"},
		{in(`{"name": "x", "shape": [2], "datatype": "FP16", "data": [1, 2]}`), 400, `datatype "FP16"`},
		{in(`{"name": "x", "shape": [1], "datatype": "INT8", "data": [300]}`), 400, "out of range for INT8"},
		{in(`{"name": "x", "shape": [1], "datatype": "INT64", "data": [1.5]}`), 400, "not a valid INT64"},
		{in(`{"name": "x", "shape": [1], "datatype": "FP32", "data": ["a"]}`), 400, "holds string values"},
		{in(`{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, "a"]}`), 400, "mixed types"},
		{in(`{"name": "x", "shape": [1], "datatype": "FP32"}`), 400, `has no "data"`},
		{in(`{"name": "x", "shape": [-1], "datatype": "FP32", "data": []}`), 400, "negative dimension"},
		{in(`{"name": "x", "shape": "3", "datatype": "FP32", "data": [1]}`), 400, "list of integers"},
		{in(`{"shape": [1], "datatype": "FP32", "data": [1]}`), 400, `has no "name"`},
		{in(`{"name": "x", "shape": [1], "data": [1]}`), 400, `has no "datatype"`},
		{in(`{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}, {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}`), 400, "given twice"},
		{in(`{"name": "x", "shape": [65536, 65536], "datatype": "FP32", "parameters": {"binary_data_size": 0}}`), 400, "more than"},
		{in(`{"name": "x", "shape": [1], "datatype": "FP32", "data": [1], "parameters": {"binary_data_size": 4}}`), 400, "both"},
		{`{"id": 1, "inputs": []}`, 400, `"id" must be a string`},
	}
	for _, c := range cases {
		expectError(t, f.post("/v2/models/echo/infer", c.body), c.status, protoKServe, c.msg)
	}
	expectError(t, f.post("/v2/models/nope/infer", in(`{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}`)), 404, protoKServe, "not served")
	expectError(t, f.get("/v2/models/echo/infer"), 405, protoKServe, "not allowed")
	// The signature check names the input.
	expectError(t, f.post("/v2/models/half_plus_two/infer", in(`{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}`)), 400, protoKServe, "input 'x' must have shape [-1]")
}

// binaryRequest builds a request in Triton's binary tensor format.
func binaryRequest(t *testing.T, header any, blobs ...[]byte) (string, string) {
	t.Helper()
	js, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	body := append([]byte{}, js...)
	for _, b := range blobs {
		body = append(body, b...)
	}
	return string(body), strconv.Itoa(len(js))
}

func f32bytes(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func bytesElems(vals ...string) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

func TestKServeBinary(t *testing.T) {
	f := newFixture(t, 0)
	body, hl := binaryRequest(t, map[string]any{
		"inputs":  []any{map[string]any{"name": "x", "shape": []int{3}, "datatype": "FP32", "parameters": map[string]any{"binary_data_size": 12}}},
		"outputs": []any{map[string]any{"name": "y", "parameters": map[string]any{"binary_data": true}}},
	}, f32bytes(1, 2, 5))
	r := f.do(http.MethodPost, "/v2/models/half_plus_two/infer", "application/octet-stream", body, headerLength, hl)
	if r.status != 200 {
		t.Fatalf("binary infer: %d %s", r.status, r.body)
	}
	n, err := strconv.Atoi(r.header.Get(headerLength))
	if err != nil || n > len(r.body) {
		t.Fatalf("response %s %q", headerLength, r.header.Get(headerLength))
	}
	if r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("content type %q", r.header.Get("Content-Type"))
	}
	if want := `{"model_name":"half_plus_two","model_version":"3","outputs":[{"name":"y","datatype":"FP32","shape":[3],"parameters":{"binary_data_size":12}}]}`; r.body[:n] != want {
		t.Errorf("JSON header %s, want %s", r.body[:n], want)
	}
	if got := []byte(r.body[n:]); !bytes.Equal(got, f32bytes(2.5, 3, 4.5)) {
		t.Errorf("binary output % x", got)
	}

	// BYTES in binary both ways, with a JSON input alongside, and
	// binary_data_output for every output.
	body, hl = binaryRequest(t, map[string]any{
		"parameters": map[string]any{"binary_data_output": true},
		"inputs": []any{
			map[string]any{"name": "s", "shape": []int{2}, "datatype": "BYTES", "parameters": map[string]any{"binary_data_size": 13}},
			map[string]any{"name": "j", "shape": []int{1}, "datatype": "INT16", "data": []int{-2}},
			map[string]any{"name": "f", "shape": []int{2}, "datatype": "FP32", "parameters": map[string]any{"binary_data_size": 8}},
		},
	}, bytesElems("ab", "cde"), f32bytes(0.5, -1))
	r = f.do(http.MethodPost, "/v2/models/echo/infer", "", body, headerLength, hl)
	n, _ = strconv.Atoi(r.header.Get(headerLength))
	if r.status != 200 || n == 0 {
		t.Fatalf("binary BYTES: %d %s", r.status, r.body)
	}
	if want := `{"model_name":"echo","model_version":"1","outputs":[{"name":"s","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":13}},{"name":"j","datatype":"INT16","shape":[1],"parameters":{"binary_data_size":2}},{"name":"f","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]}`; r.body[:n] != want {
		t.Errorf("JSON header %s", r.body[:n])
	}
	want := append(append(bytesElems("ab", "cde"), 0xfe, 0xff), f32bytes(0.5, -1)...)
	if got := []byte(r.body[n:]); !bytes.Equal(got, want) {
		t.Errorf("binary outputs % x, want % x", got, want)
	}
	in := f.models["echo"].lastInput()
	if s, _ := in.Tensors[0].Data.([]string); len(s) != 2 || s[1] != "cde" {
		t.Errorf("BYTES input %+v", in.Tensors[0])
	}

	// Malformed binary requests.
	x := func(size int) map[string]any {
		return map[string]any{"inputs": []any{map[string]any{"name": "x", "shape": []int{2}, "datatype": "FP32", "parameters": map[string]any{"binary_data_size": size}}}}
	}
	bad := []struct {
		blob []byte
		size int
		msg  string
	}{
		{f32bytes(1), 8, "claims 8 bytes of binary data; 4 remain"},
		{f32bytes(1, 2, 3), 8, "4 bytes of binary data follow the inputs unclaimed"},
		{f32bytes(1, 2, 3), 12, "has 12 bytes of binary data; 2 elements of FP32 take 8"},
	}
	for _, c := range bad {
		body, hl := binaryRequest(t, x(c.size), c.blob)
		expectError(t, f.do(http.MethodPost, "/v2/models/echo/infer", "", body, headerLength, hl), 400, protoKServe, c.msg)
	}
	body, _ = binaryRequest(t, x(8), f32bytes(1, 2))
	expectError(t, f.do(http.MethodPost, "/v2/models/echo/infer", "", body, headerLength, "9999"), 400, protoKServe, "does not fit")
	body, hl = binaryRequest(t, map[string]any{"inputs": []any{map[string]any{"name": "s", "shape": []int{2}, "datatype": "BYTES", "parameters": map[string]any{"binary_data_size": 12}}}}, bytesElems("ab", "cde")[:12])
	expectError(t, f.do(http.MethodPost, "/v2/models/echo/infer", "", body, headerLength, hl), 400, protoKServe, "overruns")
}

func TestKServeGzip(t *testing.T) {
	f := newFixture(t, 0)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}`))
	zw.Close()
	r := f.do(http.MethodPost, "/v2/models/half_plus_two/infer", "application/json", buf.String(), "Content-Encoding", "gzip")
	expect(t, r, 200, `{"model_name":"half_plus_two","model_version":"3","outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[2.5]}]}`)
	expectError(t, f.do(http.MethodPost, "/v2/models/half_plus_two/infer", "application/json", "{}", "Content-Encoding", "br"), 415, protoKServe, "Content-Encoding")
}

func TestPredictionTensors(t *testing.T) {
	cases := []struct {
		raw   string
		want  []serving.Tensor
		tab   bool
		error bool
	}{
		{raw: `[1, 2]`, want: []serving.Tensor{{Name: "predictions", DType: serving.Int64, Shape: []int64{2}, Data: []int64{1, 2}}}},
		{raw: `[[1.5], [2]]`, want: []serving.Tensor{{Name: "predictions", DType: serving.FP64, Shape: []int64{2, 1}, Data: []float64{1.5, 2}}}},
		{raw: `"x"`, want: []serving.Tensor{{Name: "predictions", DType: serving.Bytes, Shape: []int64{1}, Data: []string{"x"}}}},
		{raw: `{"p": [true], "q": ["a"]}`, want: []serving.Tensor{{Name: "p", DType: serving.Bool, Shape: []int64{1}, Data: []bool{true}}, {Name: "q", DType: serving.Bytes, Shape: []int64{1}, Data: []string{"a"}}}},
		{raw: `[{"p": 1}, {"p": 2.5}]`, tab: true, want: []serving.Tensor{{Name: "p", DType: serving.FP64, Shape: []int64{2}, Data: []float64{1, 2.5}}}},
		{raw: `[[1], [1, 2]]`, error: true},
		{raw: `[{"p": 1}, 2]`, error: true},
	}
	for _, c := range cases {
		ts, tab, err := predictionTensors([]byte(c.raw), nil)
		if c.error {
			if err == nil {
				t.Errorf("%s: no error", c.raw)
			}
			continue
		}
		if err != nil || tab != c.tab || !tensorsEqual(ts, c.want) {
			t.Errorf("%s: got %+v %v %v, want %+v", c.raw, ts, tab, err, c.want)
		}
	}
}

func tensorsEqual(a, b []serving.Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].DType != b[i].DType || !sameShape(a[i].Shape, b[i].Shape) ||
			string(appendFlat(nil, &a[i])) != string(appendFlat(nil, &b[i])) {
			return false
		}
	}
	return true
}
