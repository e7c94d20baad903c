package inferapi

import (
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/lode-ml/lode/serving"
)

func TestMLflowInvocationFormats(t *testing.T) {
	f := newFixture(t, 0)
	const records = `{"predictions":[{"y":2.5},{"y":3.0},{"y":4.5}]}`
	const list = `{"predictions":[2.5,3.0,4.5]}`
	cases := []struct{ name, ctype, body, want string }{
		{"dataframe_split", "application/json", `{"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0], [5.0]]}}`, records},
		{"dataframe_split index", "application/json", `{"dataframe_split": {"index": [0, 1, 2], "columns": ["x"], "data": [[1], [2], [5]]}}`, records},
		{"dataframe_records", "application/json", `{"dataframe_records": [{"x": 1}, {"x": 2}, {"x": 5}]}`, records},
		{"instances", "application/json", `{"instances": [1.0, 2.0, 5.0]}`, list},
		{"inputs", "application/json", `{"inputs": [1.0, 2.0, 5.0], "params": {"p": 1}}`, list},
		{"inputs dict", "application/json", `{"inputs": {"x": [1.0, 2.0, 5.0]}}`, list},
		{"bare records", "application/json", `[{"x": 1}, {"x": 2}, {"x": 5}]`, records},
		{"legacy split", "application/json", `{"columns": ["x"], "data": [[1], [2], [5]]}`, records},
		{"csv", "text/csv", "x\n1\n2\n5\n", records},
		{"charset", "application/json; charset=UTF-8", `{"instances": [1.0, 2.0, 5.0]}`, list},
	}
	for _, c := range cases {
		for _, path := range []string{"/invocations", "/endpoints/half_plus_two/invocations"} {
			r := f.do("POST", path, c.ctype, c.body)
			if r.status != 200 || r.body != c.want {
				t.Errorf("%s %s: got %d %s, want %s", c.name, path, r.status, r.body, c.want)
			}
		}
	}
}

func TestMLflowDecoding(t *testing.T) {
	f := newFixture(t, 0)
	echo := f.models["echo"]
	body := `{"dataframe_split": {"columns": ["i", "f", "s", "b", "n"], "data": [[1, 1.5, "a", true, null], [2, 2, "b", false, 3]]}, "params": {"k": 1, "s": "v"}}`
	r := f.do("POST", "/endpoints/echo/invocations", "application/json", body)
	expect(t, r, 200, `{"predictions":[{"i":1,"f":1.5,"s":"a","b":true,"n":NaN},{"i":2,"f":2.0,"s":"b","b":false,"n":3.0}]}`)
	in := echo.lastInput()
	var types []serving.DType
	for _, tn := range in.Tensors {
		types = append(types, tn.DType)
	}
	if want := []serving.DType{serving.Int64, serving.FP64, serving.Bytes, serving.Bool, serving.FP64}; !reflect.DeepEqual(types, want) || !in.Tabular {
		t.Errorf("column types %v (tabular %v), want %v", types, in.Tabular, want)
	}
	if string(in.Raw) != body || in.RawType != "application/json" {
		t.Errorf("raw %q %q", in.Raw, in.RawType)
	}
	if !reflect.DeepEqual(in.Params, map[string]any{"k": int64(1), "s": "v"}) {
		t.Errorf("params %#v", in.Params)
	}

	// Numeric rows pack, yet each column keeps its own type, and int64s
	// stay exact.
	expect(t, f.do("POST", "/endpoints/echo/invocations", "application/json",
		`{"dataframe_split": {"columns": ["i", "f"], "data": [[9007199254740993, 1.5], [2, 3]]}}`), 200,
		`{"predictions":[{"i":9007199254740993,"f":1.5},{"i":2,"f":3.0}]}`)
	expect(t, f.post("/endpoints/echo/invocations", `{"inputs": [9223372036854775807, -9223372036854775808]}`), 200,
		`{"predictions":[9223372036854775807,-9223372036854775808]}`)
	// Nested lists keep their shape; NaN and infinities go both ways.
	expect(t, f.post("/endpoints/echo/invocations", `{"instances": [[1.5, null], [Infinity, -Infinity]]}`), 200,
		`{"predictions":[[1.5,NaN],[Infinity,-Infinity]]}`)
	// Several named tensors answer as an object of them.
	expect(t, f.post("/endpoints/echo/invocations", `{"inputs": {"a": [1, 2], "b": [[true], [false]]}}`), 200,
		`{"predictions":{"a":[1,2],"b":[[true],[false]]}}`)
	// Records with a missing key: null (NaN) there.
	expect(t, f.post("/endpoints/echo/invocations", `{"dataframe_records": [{"a": 1, "b": 2}, {"a": 3}]}`), 200,
		`{"predictions":[{"a":1,"b":2.0},{"a":3,"b":NaN}]}`)

	// Missing strings, as MLflow's own serving examples write them.
	expect(t, f.post("/endpoints/echo/invocations", `{"dataframe_split": {"columns": ["x", "s"], "data": [[1.0, "a"], [2.0, NaN], [3.0, null]]}}`), 200,
		`{"predictions":[{"x":1.0,"s":"a"},{"x":2.0,"s":""},{"x":3.0,"s":""}]}`)
	expect(t, f.post("/endpoints/echo/invocations", `{"dataframe_records": [{"s": null}, {"s": "b"}]}`), 200,
		`{"predictions":[{"s":""},{"s":"b"}]}`)

	// A legacy bare list of records reaches a Python model wrapped as
	// today's dataframe_records.
	f.do("POST", "/endpoints/echo/invocations", "application/json", `[{"x": 1}]`)
	if got := string(echo.lastInput().Raw); got != `{"dataframe_records":[{"x": 1}]}` {
		t.Errorf("legacy raw body %s", got)
	}

	// CSV: types per column, empty numeric cells NaN.
	r = f.do("POST", "/endpoints/echo/invocations", "text/csv", ",a,b,c,d\n0,1,2.5,x,True\n1,2,,\"y,z\",false\n")
	expect(t, r, 200, `{"predictions":[{"Unnamed: 0":0,"a":1,"b":2.5,"c":"x","d":true},{"Unnamed: 0":1,"a":2,"b":NaN,"c":"y,z","d":false}]}`)
	if in := echo.lastInput(); in.RawType != "text/csv" || !strings.HasPrefix(string(in.Raw), ",a,b") {
		t.Errorf("csv raw %q %q", in.Raw, in.RawType)
	}
}

func TestMLflowFloatFormat(t *testing.T) {
	f := newFixture(t, 0)
	// FP32 values print at float32 precision.
	expect(t, f.post("/invocations", `{"instances": [0.2, 1e30, 0.00001]}`), 200, `{"predictions":[2.1,5e+29,2.000005]}`)
}

func TestMLflowPython(t *testing.T) {
	f := newFixture(t, 0)
	// Predictions pass through as the model wrote them.
	expect(t, f.post("/endpoints/py/invocations", `{"dataframe_records": [{"a": 1}]}`), 200,
		`{"predictions":[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}`)
	expect(t, f.post("/endpoints/pylist/invocations", `{"instances": [1]}`), 200, `{"predictions":[0.5, 1.5, NaN]}`)
	// A Python model without a signature reads what Lode cannot decode.
	pyecho := f.models["pyecho"]
	r := f.do("POST", "/endpoints/pyecho/invocations", "application/vnd.apache.parquet", "PAR1...")
	expect(t, r, 200, `{"predictions":{}}`)
	if in := pyecho.lastInput(); string(in.Raw) != "PAR1..." || in.RawType != "application/vnd.apache.parquet" || len(in.Tensors) != 0 {
		t.Errorf("parquet forwarded as %+v", in)
	}
	chat := `{"messages": [{"role": "user", "content": "hi"}]}`
	expect(t, f.post("/endpoints/pyecho/invocations", chat), 200, `{"predictions":{}}`)
	if in := pyecho.lastInput(); string(in.Raw) != chat {
		t.Errorf("chat forwarded as %+v", in)
	}
	// Not for other models, nor for invalid JSON.
	expectError(t, f.do("POST", "/endpoints/echo/invocations", "application/vnd.apache.parquet", "PAR1"), 415, protoMLflow, "parquet")
	expectError(t, f.post("/endpoints/echo/invocations", chat), 400, protoMLflow, "exactly one of the input fields")
	expectError(t, f.post("/endpoints/pyecho/invocations", `{"messages": `), 400, protoMLflow, "valid JSON")
}

func TestMLflowSignature(t *testing.T) {
	f := newFixture(t, 0)
	expectError(t, f.post("/endpoints/columns/invocations", `{"dataframe_records": [{"a": 1.0}]}`), 400, protoMLflow, "missing required input column 'b'")
	expectError(t, f.post("/endpoints/columns/invocations", `{"dataframe_records": [{"a": 1.0, "b": "x"}]}`), 400, protoMLflow, "input column 'b' must be of type long")
	expect(t, f.post("/endpoints/columns/invocations", `{"inputs": {"a": [1.5], "b": [2]}}`), 200, `{"predictions":[{"a":1.5,"b":2}]}`)
	if in := f.models["columns"].lastInput(); !in.Tabular {
		t.Error("a dict of columns for a tabular model is not tabular")
	}
}

func TestMLflowErrors(t *testing.T) {
	f := newFixture(t, 100)
	cases := []struct {
		method, path, ctype, body string
		status                    int
		code, msg                 string
	}{
		{"POST", "/invocations", "text/plain", "x", 415, "BAD_REQUEST", "only supports the following content types"},
		{"POST", "/invocations", "", "x", 415, "BAD_REQUEST", "only supports the following content types"},
		{"POST", "/invocations", "application/json; charset=latin-1", "{}", 415, "BAD_REQUEST", "only supports UTF-8"},
		{"POST", "/invocations", "application/json; format=pandas-split", "{}", 415, "BAD_REQUEST", "Unrecognized content type parameters: format"},
		{"POST", "/invocations", "application/json", `{"instances": [` + repeat("1,", 60) + `1]}`, 413, "REQUEST_LIMIT_EXCEEDED", "larger than the limit of 100 bytes"},
		{"POST", "/invocations", "application/json", `{"instances": [1,`, 400, "BAD_REQUEST", "Ensure that input is a valid JSON formatted string"},
		{"POST", "/invocations", "application/json", ``, 400, "BAD_REQUEST", "valid JSON"},
		{"POST", "/invocations", "application/json", `{"foo": 1}`, 400, "BAD_REQUEST", "exactly one of the input fields"},
		{"POST", "/invocations", "application/json", `{"instances": [1], "inputs": [1]}`, 400, "BAD_REQUEST", "Received dictionary with input fields: ['instances', 'inputs']"},
		{"POST", "/invocations", "application/json", `[1, 2]`, 400, "BAD_REQUEST", "Received a list"},
		{"POST", "/invocations", "application/json", `{"instances": [1], "params": [1]}`, 400, "BAD_REQUEST", "params must be"},
		{"POST", "/invocations", "application/json", `{"dataframe_split": {"columns": ["x"], "data": [[1], [2, 3]]}}`, 400, "BAD_REQUEST", "row 1 has 2 values"},
		{"POST", "/invocations", "application/json", `{"dataframe_split": {"columns": ["x", "y"], "data": [[1]]}}`, 400, "BAD_REQUEST", "2 columns but rows of 1"},
		{"POST", "/invocations", "application/json", `{"dataframe_records": [{"x": 1}, {"x": "a"}]}`, 400, "BAD_REQUEST", "column 'x' holds values of mixed types"},
		{"POST", "/invocations", "application/json", `{"dataframe_records": [{"x": 1}, 2]}`, 400, "BAD_REQUEST", "record 1 is not an object"},
		{"POST", "/invocations", "application/json", `{"dataframe_records": 1}`, 400, "BAD_REQUEST", "must be a list of records"},
		{"POST", "/invocations", "text/csv", "a,b\n1\n", 400, "BAD_REQUEST", "Failed to parse input as a Pandas DataFrame"},
		{"POST", "/invocations", "text/csv", "", 400, "BAD_REQUEST", "CSV input is empty"},
		{"POST", "/endpoints/nope/invocations", "application/json", `{"instances": [1]}`, 404, "RESOURCE_DOES_NOT_EXIST", "not served"},
		{"POST", "/endpoints/loading/invocations", "application/json", `{"instances": [1]}`, 503, "TEMPORARILY_UNAVAILABLE", "loading"},
		{"GET", "/invocations", "", "", 405, "BAD_REQUEST", "not allowed"},
		{"GET", "/nothing/here", "", "", 404, "ENDPOINT_NOT_FOUND", "No endpoint"},
		{"POST", "/endpoints/half_plus_two/other", "", "", 404, "ENDPOINT_NOT_FOUND", "No endpoint"},
	}
	for _, c := range cases {
		r := f.do(c.method, c.path, c.ctype, c.body)
		expectError(t, r, c.status, protoMLflow, c.msg)
		if r.status == c.status {
			if code := r.json(t)["error_code"]; code != c.code {
				t.Errorf("%s %s: error_code %v, want %s", c.method, c.path, code, c.code)
			}
		}
	}
}

func TestMLflowHealth(t *testing.T) {
	f := newFixture(t, 0)
	expect(t, f.get("/ping"), 200, "\n")
	expect(t, f.get("/health"), 200, "\n")
	expect(t, f.get("/version"), 200, "3.1.0") // the MLflow version, not Lode's
	expect(t, f.get("/endpoints/half_plus_two/ping"), 200, "\n")
	expectError(t, f.get("/endpoints/loading/ping"), 503, protoMLflow, "loading")
	expectError(t, f.get("/endpoints/nope/ping"), 404, protoMLflow, "not served")
	f.cat.mu.Lock()
	f.cat.unready = true
	f.cat.mu.Unlock()
	expectError(t, f.get("/ping"), 503, protoMLflow, "not ready")
	expectError(t, f.get("/health"), 503, protoMLflow, "not ready")
}

func TestNotStandalone(t *testing.T) {
	h := New(Options{Catalog: newCatalog(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f := &fixture{t: t}
	f.srv = newServer(t, h)
	expectError(t, f.post("/invocations", `{"instances": [1]}`), 404, protoMLflow, "No endpoint")
	expectError(t, f.get("/ping"), 404, protoMLflow, "No endpoint")
}
