package pyfunc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	lode "github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/serving"
)

// These tests need no Python.

func TestEncodeInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   serving.Input
		bin  map[string]bool
		want string
	}{{
		name: "frame",
		in: serving.Input{Tabular: true, Tensors: []serving.Tensor{
			{Name: "x", DType: serving.FP64, Data: []float64{1, 2.5}},
			{Name: "n", DType: serving.Int64, Data: []int64{3, -4}},
			{Name: "s", DType: serving.Bytes, Data: []string{"a\"b", "\x01é\xff"}},
			{Name: "ok", DType: serving.Bool, Data: []bool{true, false}},
		}},
		want: `{"dataframe_split":{"columns":["x","n","s","ok"],"data":[[1.0,3,"a\"b",true],[2.5,-4,"\u0001é\ufffd",false]]}}`,
	}, {
		name: "unnamed columns, non-finite floats, params",
		in: serving.Input{Tabular: true, Tensors: []serving.Tensor{
			{DType: serving.FP32, Data: []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0.1, 1e21}},
		}, Params: map[string]any{"k": 2}},
		want: `{"dataframe_split":{"data":[[NaN],[Infinity],[-Infinity],[0.1],[1e+21]]},"params":{"k":2}}`,
	}, {
		name: "binary column",
		in: serving.Input{Tabular: true, Tensors: []serving.Tensor{
			{Name: "img", DType: serving.Bytes, Data: []string{"\x00\x01"}},
		}},
		bin:  map[string]bool{"img": true},
		want: `{"dataframe_split":{"columns":["img"],"data":[["AAE="]]}}`,
	}, {
		name: "unnamed tensor",
		in: serving.Input{Tensors: []serving.Tensor{
			{DType: serving.Int32, Shape: []int64{2, 1, 3}, Data: []int32{1, 2, 3, 4, 5, 6}},
		}},
		want: `{"inputs":[[[1,2,3]],[[4,5,6]]]}`,
	}, {
		name: "named tensors and a scalar",
		in: serving.Input{Tensors: []serving.Tensor{
			{Name: "a", DType: serving.Uint8, Shape: []int64{2}, Data: []uint8{7, 8}},
			{Name: "b", DType: serving.FP64, Shape: []int64{}, Data: []float64{3}},
			{Name: "c", DType: serving.Bytes, Data: []string{"x"}},
		}},
		want: `{"inputs":{"a":[7,8],"b":3.0,"c":["x"]}}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			b, ct, err := encodeInput(&tc.in, tc.bin)
			if err != nil {
				t.Fatal(err)
			}
			if ct != contentJSON || string(b) != tc.want {
				t.Fatalf("got %s %s\nwant %s", ct, b, tc.want)
			}
		})
	}

	b, ct, err := encodeInput(&serving.Input{Raw: []byte("a\n1\n"), RawType: "text/csv"}, nil)
	if err != nil || ct != "text/csv" || string(b) != "a\n1\n" {
		t.Fatalf("raw: %q %q %v", b, ct, err)
	}

	for name, in := range map[string]serving.Input{
		"no inputs":     {},
		"ragged frame":  {Tabular: true, Tensors: []serving.Tensor{{Name: "a", DType: serving.FP64, Data: []float64{1}}, {Name: "b", DType: serving.FP64, Data: []float64{1, 2}}}},
		"wrong data":    {Tabular: true, Tensors: []serving.Tensor{{Name: "a", DType: serving.FP64, Data: []int64{1}}}},
		"bad shape":     {Tensors: []serving.Tensor{{DType: serving.FP64, Shape: []int64{2, 2}, Data: []float64{1}}}},
		"unnamed of 2":  {Tensors: []serving.Tensor{{Name: "a", DType: serving.FP64, Data: []float64{1}}, {DType: serving.FP64, Data: []float64{1}}}},
		"NaN in params": {Tensors: []serving.Tensor{{DType: serving.FP64, Data: []float64{1}}}, Params: map[string]any{"p": math.NaN()}},
	} {
		if _, _, err := encodeInput(&in, nil); lode.ErrorCode(err) != lode.EBadRequest {
			t.Errorf("%s: got %v, want a bad request", name, err)
		}
	}
}

func TestSignatureInfo(t *testing.T) {
	m, err := mlmodel.Parse(strings.NewReader(`
flavors:
  python_function: {loader_module: mlflow.sklearn}
signature:
  inputs: '[{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b", "required": false},
    {"type": "binary", "name": "c"}, {"type": "boolean", "name": "d"}, {"type": "array", "items": {"type": "string"}, "name": "e"}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]'
`))
	if err != nil {
		t.Fatal(err)
	}
	info, binary := signatureInfo(m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	want := []serving.TensorSpec{
		{Name: "a", DType: serving.FP64, Shape: []int64{-1}},
		{Name: "b", DType: serving.Int64, Shape: []int64{-1}, Optional: true},
		{Name: "c", DType: serving.Bytes, Shape: []int64{-1}},
		{Name: "d", DType: serving.Bool, Shape: []int64{-1}},
		{Name: "e", DType: "", Shape: []int64{-1}},
	}
	if !info.Tabular || info.Runtime != "python" || !equalSpecs(info.Inputs, want) {
		t.Fatalf("inputs %+v", info.Inputs)
	}
	if !equalSpecs(info.Outputs, []serving.TensorSpec{{DType: serving.FP32, Shape: []int64{-1, 3}}}) {
		t.Fatalf("outputs %+v", info.Outputs)
	}
	if !binary["c"] || len(binary) != 1 {
		t.Fatalf("binary %v", binary)
	}
	for dt, want := range map[string]serving.DType{
		"float64": serving.FP64, "<f4": serving.FP32, "int8": serving.Int8, "uint16": serving.Uint16,
		"bool": serving.Bool, "object": serving.Bytes, "str": serving.Bytes, "|S10": serving.Bytes, "complex128": "",
	} {
		if got := serving.DTypeOfNumpy(dt); got != want {
			t.Errorf("DTypeOfNumpy(%q) = %q, want %q", dt, got, want)
		}
	}
}

func equalSpecs(a, b []serving.TensorSpec) bool {
	return slices.EqualFunc(a, b, func(x, y serving.TensorSpec) bool {
		return x.Name == y.Name && x.DType == y.DType && x.Optional == y.Optional && slices.Equal(x.Shape, y.Shape)
	})
}

func TestEnvSpec(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("MLmodel", "flavors:\n  python_function:\n    env:\n      virtualenv: python_env.yaml\n")
	write("python_env.yaml", "python: 3.10.4\nbuild_dependencies:\n- pip\n- wheel\ndependencies:\n- -r requirements.txt\n")
	write("requirements.txt", "# comment\nmlflow==3.17.2\npandas>=2 \\\n  ; python_version >= '3.9'  # trailing\n-c constraints.txt\n--extra-index-url https://example.invalid/simple\nwheels/local-1.0-py3-none-any.whl\n")
	write("constraints.txt", "numpy<3\n-r sub/more.txt\n")
	write("sub/more.txt", "scipy<2\n")
	write("wheels/local-1.0-py3-none-any.whl", "not really a wheel")

	m, err := mlmodel.Parse(strings.NewReader(mustRead(t, filepath.Join(dir, "MLmodel"))))
	if err != nil {
		t.Fatal(err)
	}
	s, err := readEnvSpec(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	wantReqs := []string{"mlflow==3.17.2", "pandas>=2   ; python_version >= '3.9'", "--extra-index-url https://example.invalid/simple", "wheels/local-1.0-py3-none-any.whl"}
	if s.Python != "3.10.4" || s.Source != "python_env.yaml" || !slices.Equal(s.Build, []string{"pip", "wheel"}) ||
		!slices.Equal(s.Reqs, wantReqs) || !slices.Equal(s.Cons, []string{"numpy<3", "scipy<2"}) || len(s.Files) != 1 {
		t.Fatalf("spec %+v", s)
	}

	// The key follows what gets installed, not the order it is listed in.
	k := s.Key("3.11.7")
	s2 := *s
	s2.Reqs = slices.Clone(s.Reqs)
	slices.Reverse(s2.Reqs)
	if s2.Key("3.11.7") != k {
		t.Fatal("key depends on requirement order")
	}
	if s.Key("3.12.1") == k {
		t.Fatal("key ignores the base Python version")
	}
	write("wheels/local-1.0-py3-none-any.whl", "another wheel")
	s3, _ := readEnvSpec(dir, m)
	if s3.Key("3.11.7") == k {
		t.Fatal("key ignores the local wheel's content")
	}

	// Without python_env.yaml: requirements.txt; without that: conda.yaml.
	os.Remove(filepath.Join(dir, "python_env.yaml"))
	s, err = readEnvSpec(dir, m)
	if err != nil || s.Source != "requirements.txt" || len(s.Build) != 0 || len(s.Reqs) != 4 {
		t.Fatalf("spec %+v, %v", s, err)
	}
	os.Remove(filepath.Join(dir, "requirements.txt"))
	write("conda.yaml", "dependencies:\n- python=3.11\n- pip\n- pip:\n  - mlflow==2.22.5\n  - cloudpickle==3.1.1\n")
	s, err = readEnvSpec(dir, m)
	if err != nil || s.Source != "conda.yaml" || !slices.Equal(s.Reqs, []string{"mlflow==2.22.5", "cloudpickle==3.1.1"}) {
		t.Fatalf("spec %+v, %v", s, err)
	}
	os.Remove(filepath.Join(dir, "conda.yaml"))
	if _, err := readEnvSpec(dir, m); lode.ErrorCode(err) != lode.EInvalidState {
		t.Fatalf("no environment: %v", err)
	}

	// Files that include each other fail instead of looping.
	write("requirements.txt", "-r requirements.txt\n")
	if _, err := readEnvSpec(dir, m); lode.ErrorCode(err) != lode.EInvalidState {
		t.Fatalf("include loop: %v", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	if err := writeFrame(&buf, header{Type: "predict", ID: 7, ContentType: "text/csv"}, []byte("a\n1\n")); err != nil {
		t.Fatal(err)
	}
	if err := writeFrame(&buf, header{Type: "ready", Python: "3.11.7"}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := readFrame(&buf)
	if err != nil || f.Type != "predict" || f.ID != 7 || f.ContentType != "text/csv" || string(f.body) != "a\n1\n" {
		t.Fatalf("%+v %v", f, err)
	}
	f, err = readFrame(&buf)
	if err != nil || f.Type != "ready" || f.Python != "3.11.7" || len(f.body) != 0 {
		t.Fatalf("%+v %v", f, err)
	}
	if _, err := readFrame(&buf); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	if _, err := readFrame(bytes.NewReader([]byte{0, 0, 0, 9, 0, 0, 0, 0, '{'})); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut frame: %v", err)
	}
	if _, err := readFrame(bytes.NewReader([]byte{0xff, 0, 0, 0, 0, 0, 0, 0})); err == nil {
		t.Fatal("huge frame accepted")
	}
}

func TestPredictions(t *testing.T) {
	for _, tc := range []struct {
		body      string
		unwrapped bool
		want      string
	}{
		{`{"predictions": [1.0, NaN]}`, false, `[1.0, NaN]`},
		{`{"extra": 2, "predictions": {"a": 1}}`, false, `{"a": 1}`},
		{`{"choices": []}`, true, `{"choices": []}`},
	} {
		if got := string(predictions([]byte(tc.body), tc.unwrapped)); got != tc.want {
			t.Errorf("predictions(%s) = %s, want %s", tc.body, got, tc.want)
		}
	}
}

func TestWorkerError(t *testing.T) {
	for _, tc := range []struct {
		h    header
		want string
	}{
		{header{Code: "INVALID_PARAMETER_VALUE", Status: 400}, lode.EInvalid},
		{header{Code: "BAD_REQUEST", Status: 415}, lode.EBadRequest},
		{header{Code: "RESOURCE_CONFLICT", Status: 409}, lode.EBadRequest},
		{header{Code: "DATA_LOSS", Status: 500}, lode.EInternal},
		{header{Code: "CUSTOMER_UNAUTHORIZED", Status: 401}, lode.EUnauthenticated},
	} {
		err := workerError(tc.h)
		if lode.ErrorCode(err) != tc.want {
			t.Errorf("%+v: got %v, want %s", tc.h, err, tc.want)
		}
	}
	var e *lode.Error
	if !errors.As(workerError(header{Code: "BAD_REQUEST", Message: "m"}), &e) || e.Message != "m" {
		t.Fatalf("message not kept: %+v", e)
	}
	if b, _ := json.Marshal(header{Type: "predict"}); string(b) != `{"type":"predict"}` {
		t.Fatalf("request header %s", b)
	}
}
