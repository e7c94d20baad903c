package onnx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/serving"
)

var quiet = slog.New(slog.DiscardHandler)

// testRuntime returns the runtime, skipping the test when the shared
// library is missing (failing instead under LODE_REQUIRE_ONNXRUNTIME=1).
func testRuntime(t testing.TB) *Runtime {
	t.Helper()
	lib, err := FindLibrary("")
	if err != nil {
		// go test runs in onnx/: look in the repository's lib/ too.
		if p, err2 := filepath.Abs(filepath.Join("..", "lib", "onnxruntime", LibraryName())); err2 == nil {
			if _, err2 := os.Stat(p); err2 == nil {
				lib, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("LODE_REQUIRE_ONNXRUNTIME") == "1" {
			t.Fatalf("LODE_REQUIRE_ONNXRUNTIME=1: %v", err)
		}
		t.Skipf("ONNX Runtime is not installed here (make onnxruntime fetches it): %v", err)
	}
	r, err := New(lib, quiet)
	if err != nil {
		t.Fatalf("New(%s): %v", lib, err)
	}
	return r
}

// loadDir loads an MLflow model folder from testdata.
func loadDir(t testing.TB, r *Runtime, name string) serving.Model {
	t.Helper()
	dir := filepath.Join("testdata", name)
	f, err := os.Open(filepath.Join(dir, "MLmodel"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mm, err := mlmodel.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Supports(mm) {
		t.Fatalf("Supports(%s) = false", name)
	}
	m, err := r.Load(context.Background(), dir, mm, serving.LoadOptions{Name: name, Version: "1", Logger: quiet})
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// loadFile loads a bare .onnx file from testdata.
func loadFile(t testing.TB, r *Runtime, file string) serving.Model {
	t.Helper()
	m, err := r.Load(context.Background(), "testdata", onnxModel(file), serving.LoadOptions{Name: file, Logger: quiet})
	if err != nil {
		t.Fatalf("Load(%s): %v", file, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func onnxModel(data string) *mlmodel.Model {
	return &mlmodel.Model{Flavors: map[string]map[string]any{"onnx": {"data": data}}}
}

func predict(t testing.TB, m serving.Model, in *serving.Input) *serving.Output {
	t.Helper()
	out, err := m.Predict(context.Background(), in)
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	return out
}

// wantInvalid checks that err is an EInvalid *lode.Error whose message
// holds every part.
func wantInvalid(t testing.TB, err error, parts ...string) {
	t.Helper()
	var le *lode.Error
	if !errors.As(err, &le) || le.Code != lode.EInvalid {
		t.Fatalf("error %v, want a *lode.Error with code %s", err, lode.EInvalid)
	}
	for _, p := range parts {
		if !strings.Contains(le.Message, p) {
			t.Errorf("error message %q does not mention %q", le.Message, p)
		}
	}
}

func wantFloats(t testing.TB, got serving.Tensor, name string, shape []int64, want ...float64) {
	t.Helper()
	if got.Name != name || got.DType != serving.FP32 || !reflect.DeepEqual(got.Shape, shape) {
		t.Fatalf("output %s %s %v, want %s FP32 %v", got.Name, got.DType, got.Shape, name, shape)
	}
	d, ok := got.Data.([]float32)
	if !ok || len(d) != len(want) {
		t.Fatalf("output data %#v, want %v", got.Data, want)
	}
	for i := range want {
		if math.Abs(float64(d[i])-want[i]) > 1e-4 {
			t.Fatalf("output %v, want %v", d, want)
		}
	}
}

func TestFindLibrary(t *testing.T) {
	tmp := t.TempDir()
	touch := func(p string) string {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flag := touch(filepath.Join(tmp, "flag", "lib.so"))
	envLib := touch(filepath.Join(tmp, "env", "lib.so"))
	exe := filepath.Join(tmp, "inst", "bin", "lode")
	exeLib := touch(filepath.Join(tmp, "inst", "lib", "onnxruntime", LibraryName()))
	cwd := filepath.Join(tmp, "work")
	cwdLib := touch(filepath.Join(cwd, "lib", "onnxruntime", LibraryName()))

	for _, c := range []struct {
		flag, env, exe, cwd, want string
	}{
		{flag, envLib, exe, cwd, flag},
		{"", envLib, exe, cwd, envLib},
		{"", "", exe, cwd, exeLib},
		{"", "", filepath.Join(tmp, "elsewhere", "lode"), cwd, cwdLib},
	} {
		got, err := findLibrary(c.flag, c.env, c.exe, c.cwd)
		if err != nil {
			t.Fatalf("findLibrary(%q, %q, %q, %q): %v", c.flag, c.env, c.exe, c.cwd, err)
		}
		if filepath.Clean(got) != filepath.Clean(c.want) {
			t.Errorf("findLibrary(%q, %q, %q, %q) = %s, want %s", c.flag, c.env, c.exe, c.cwd, got, c.want)
		}
	}

	// A flag or variable naming a missing file is an error, not a fallback.
	if _, err := findLibrary(filepath.Join(tmp, "nope.so"), "", exe, cwd); !errors.Is(err, ErrLibraryNotFound) || !strings.Contains(err.Error(), "--onnxruntime-lib") {
		t.Errorf("missing flag library: %v", err)
	}
	if _, err := findLibrary("", filepath.Join(tmp, "nope.so"), exe, cwd); !errors.Is(err, ErrLibraryNotFound) || !strings.Contains(err.Error(), EnvLibrary) {
		t.Errorf("missing env library: %v", err)
	}

	// Nothing anywhere: the error says where it looked and what to do.
	_, err := findLibrary("", "", filepath.Join(tmp, "x", "bin", "lode"), filepath.Join(tmp, "y"))
	if !errors.Is(err, ErrLibraryNotFound) {
		t.Fatalf("findLibrary with no library: %v", err)
	}
	for _, s := range []string{
		"ONNX Runtime shared library not found",
		filepath.Join(tmp, "x", "bin", "..", "lib", "onnxruntime", LibraryName()),
		filepath.Join(tmp, "y", "lib", "onnxruntime", LibraryName()),
		"make onnxruntime", "--onnxruntime-lib", "LODE_ONNXRUNTIME_LIB",
	} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}

	// FindLibrary reads the environment variable.
	t.Setenv(EnvLibrary, envLib)
	if got, err := FindLibrary(""); err != nil || got != envLib {
		t.Errorf("FindLibrary with %s set = %q, %v", EnvLibrary, got, err)
	}
	if got, err := FindLibrary(flag); err != nil || got != flag {
		t.Errorf("FindLibrary(flag) = %q, %v", got, err)
	}
}

func TestNewMissingLibrary(t *testing.T) {
	_, err := New(filepath.Join(t.TempDir(), "libonnxruntime.so.1"), nil)
	if !errors.Is(err, ErrLibraryNotFound) {
		t.Fatalf("New(missing) = %v, want ErrLibraryNotFound", err)
	}
	// It did not use up the process's one try.
	testRuntime(t)
}

func TestExplainInitError(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libonnxruntime.so.1")
	os.WriteFile(filepath.Join(dir, "VERSION"), []byte("1.17.0\n"), 0o644)
	err := explainInitError(lib, errors.New("Platform-specific initialization failed: Error setting ORT API base: 2"))
	for _, s := range []string{lib, "1.17.0", "too old", RequiredVersion, "make onnxruntime"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("wrong-version error %q does not mention %q", err, s)
		}
	}
	err = explainInitError(lib, errors.New(`Error looking up OrtGetApiBase in "x": undefined symbol`))
	if !strings.Contains(err.Error(), "not an ONNX Runtime library") {
		t.Errorf("not-ORT error: %v", err)
	}
}

func TestNewTwice(t *testing.T) {
	r := testRuntime(t)
	if r.Name() != "onnxruntime" || !strings.HasPrefix(r.Version(), "1.") {
		t.Errorf("Name %q Version %q", r.Name(), r.Version())
	}
	if r2, err := New(r.Library(), nil); err != nil || r2.Version() != r.Version() {
		t.Errorf("second New: %v", err)
	}
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	os.WriteFile(other, []byte("not a library"), 0o644)
	if _, err := New(other, nil); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("New with another library: %v", err)
	}
}

func TestSupports(t *testing.T) {
	r := &Runtime{}
	if !r.Supports(onnxModel("model.onnx")) {
		t.Error("onnx flavor not supported")
	}
	if r.Supports(&mlmodel.Model{Flavors: map[string]map[string]any{"python_function": {}}}) || r.Supports(nil) {
		t.Error("pyfunc-only model supported")
	}
}

func TestInfo(t *testing.T) {
	r := testRuntime(t)
	for _, c := range []struct {
		name    string
		m       serving.Model
		inputs  []serving.TensorSpec
		outputs []serving.TensorSpec
	}{
		{"half_plus_two", loadDir(t, r, "half_plus_two"),
			[]serving.TensorSpec{{Name: "x", DType: serving.FP32, Shape: []int64{-1}}},
			[]serving.TensorSpec{{Name: "y", DType: serving.FP32, Shape: []int64{-1}}}},
		{"linear", loadDir(t, r, "linear"),
			[]serving.TensorSpec{{Name: "float_input", DType: serving.FP32, Shape: []int64{-1, 3}}},
			[]serving.TensorSpec{{Name: "variable", DType: serving.FP32, Shape: []int64{-1, 1}}}},
		{"mixed", loadFile(t, r, "mixed.onnx"),
			[]serving.TensorSpec{
				{Name: "a", DType: serving.FP32, Shape: []int64{-1}},
				{Name: "b", DType: serving.Int64, Shape: []int64{-1}},
				{Name: "s", DType: serving.Bytes, Shape: []int64{-1}}},
			[]serving.TensorSpec{
				{Name: "sum", DType: serving.FP32, Shape: []int64{-1}},
				{Name: "s_out", DType: serving.Bytes, Shape: []int64{-1}},
				{Name: "total", DType: serving.FP32, Shape: []int64{}}}},
		{"classifier", loadDir(t, r, "classifier"),
			[]serving.TensorSpec{{Name: "float_input", DType: serving.FP32, Shape: []int64{-1, 2}}},
			[]serving.TensorSpec{
				{Name: "output_label", DType: serving.Int64, Shape: []int64{-1}},
				{Name: "output_probability"}}},
	} {
		info := c.m.Info()
		if info.Runtime != "onnxruntime" || info.Tabular {
			t.Errorf("%s: Runtime %q Tabular %v", c.name, info.Runtime, info.Tabular)
		}
		if !reflect.DeepEqual(info.Inputs, c.inputs) {
			t.Errorf("%s: Inputs %+v, want %+v", c.name, info.Inputs, c.inputs)
		}
		if !reflect.DeepEqual(info.Outputs, c.outputs) {
			t.Errorf("%s: Outputs %+v, want %+v", c.name, info.Outputs, c.outputs)
		}
	}
}

func TestHalfPlusTwo(t *testing.T) {
	r := testRuntime(t)
	m := loadDir(t, r, "half_plus_two")

	// TF Serving's example: instances [1.0, 2.0, 5.0] -> [2.5, 3.0, 4.5].
	out := predict(t, m, &serving.Input{Tensors: []serving.Tensor{
		{DType: serving.FP64, Shape: []int64{3}, Data: []float64{1, 2, 5}},
	}})
	if out.Tabular || len(out.Tensors) != 1 {
		t.Fatalf("output %+v", out)
	}
	wantFloats(t, out.Tensors[0], "y", []int64{3}, 2.5, 3, 4.5)

	// A lone tensor feeds the lone input, whatever its name; ints are cast.
	out = predict(t, m, &serving.Input{Tensors: []serving.Tensor{
		{Name: "instances", DType: serving.Int64, Shape: []int64{2}, Data: []int64{0, -4}},
	}})
	wantFloats(t, out.Tensors[0], "y", []int64{2}, 2, 0)

	// One column of a data frame; the answer is a column too.
	out = predict(t, m, &serving.Input{Tabular: true, Tensors: []serving.Tensor{
		{Name: "x", DType: serving.FP64, Shape: []int64{3}, Data: []float64{1, 2, 5}},
	}})
	if !out.Tabular {
		t.Errorf("tabular input answered with tensors")
	}
	wantFloats(t, out.Tensors[0], "y", []int64{3}, 2.5, 3, 4.5)

	// A file loaded on its own answers the same.
	m2 := loadFile(t, r, "half_plus_two.onnx")
	out = predict(t, m2, &serving.Input{Tensors: []serving.Tensor{
		{Name: "x", DType: serving.FP32, Shape: []int64{1}, Data: []float32{10}},
	}})
	wantFloats(t, out.Tensors[0], "y", []int64{1}, 7)
}

func TestLinear(t *testing.T) {
	r := testRuntime(t)
	m := loadDir(t, r, "linear") // y = a + 2b + 3c + 4

	out := predict(t, m, &serving.Input{Tabular: true, Tensors: []serving.Tensor{
		{Name: "a", DType: serving.FP64, Shape: []int64{2}, Data: []float64{1, 0}},
		{Name: "b", DType: serving.Int64, Shape: []int64{2}, Data: []int64{1, 0}},
		{Name: "c", DType: serving.FP64, Shape: []int64{2}, Data: []float64{1, -1}},
	}})
	if !out.Tabular {
		t.Errorf("tabular input answered with tensors")
	}
	wantFloats(t, out.Tensors[0], "variable", []int64{2}, 10, 1)

	out = predict(t, m, &serving.Input{Tensors: []serving.Tensor{
		{DType: serving.FP32, Shape: []int64{2, 3}, Data: []float32{1, 1, 1, 0, 0, -1}},
	}})
	if out.Tabular {
		t.Errorf("tensor input answered as a data frame")
	}
	wantFloats(t, out.Tensors[0], "variable", []int64{2, 1}, 10, 1)
}

func TestBadInput(t *testing.T) {
	r := testRuntime(t)
	hp2 := loadDir(t, r, "half_plus_two")
	linear := loadDir(t, r, "linear")
	mixed := loadFile(t, r, "mixed.onnx")
	ctx := context.Background()
	f64 := func(name string, shape []int64, v ...float64) serving.Tensor {
		return serving.Tensor{Name: name, DType: serving.FP64, Shape: shape, Data: v}
	}
	strs := func(name string, v ...string) serving.Tensor {
		return serving.Tensor{Name: name, DType: serving.Bytes, Shape: []int64{int64(len(v))}, Data: v}
	}

	for _, c := range []struct {
		name  string
		m     serving.Model
		in    *serving.Input
		parts []string
	}{
		{"wrong rank", hp2, &serving.Input{Tensors: []serving.Tensor{f64("x", []int64{3, 1}, 1, 2, 3)}},
			[]string{`"x"`, "[-1]", "[3, 1]"}},
		{"wrong width", linear, &serving.Input{Tensors: []serving.Tensor{f64("", []int64{1, 4}, 1, 2, 3, 4)}},
			[]string{`"float_input"`, "[-1, 3]", "[1, 4]"}},
		{"too few columns", linear, &serving.Input{Tabular: true, Tensors: []serving.Tensor{f64("a", []int64{1}, 1), f64("b", []int64{1}, 1)}},
			[]string{`"float_input"`, "[-1, 3]", "2 columns"}},
		{"data does not fill shape", hp2, &serving.Input{Tensors: []serving.Tensor{f64("x", []int64{4}, 1, 2)}},
			[]string{`"x"`, "2 values"}},
		{"unknown input", mixed, &serving.Input{Tensors: []serving.Tensor{f64("a", []int64{1}, 1), f64("zzz", []int64{1}, 1)}},
			[]string{`"zzz"`, "a (FP32 [-1]), b (INT64 [-1]), s (BYTES [-1])"}},
		{"missing input", mixed, &serving.Input{Tensors: []serving.Tensor{f64("a", []int64{1}, 1), f64("b", []int64{1}, 1)}},
			[]string{`missing input "s"`}},
		{"unnamed tensor, several inputs", mixed, &serving.Input{Tensors: []serving.Tensor{f64("", []int64{1}, 1)}},
			[]string{"unnamed", "3"}},
		{"two tensors for one input", hp2, &serving.Input{Tensors: []serving.Tensor{f64("x", []int64{1}, 1), f64("y", []int64{1}, 1)}},
			[]string{`"y"`}},
		{"duplicate input", mixed, &serving.Input{Tensors: []serving.Tensor{f64("a", []int64{1}, 1), f64("a", []int64{1}, 1)}},
			[]string{`"a"`, "more than once"}},
		{"fraction for an int input", mixed, &serving.Input{Tensors: []serving.Tensor{f64("a", []int64{1}, 1), f64("b", []int64{1}, 1.5), strs("s", "x")}},
			[]string{`"b"`, "INT64", "1.5"}},
		{"numbers for a string input", mixed, &serving.Input{Tensors: []serving.Tensor{f64("a", []int64{1}, 1), f64("b", []int64{1}, 1), f64("s", []int64{1}, 1)}},
			[]string{`"s"`, "BYTES"}},
		{"strings for a float input", hp2, &serving.Input{Tensors: []serving.Tensor{strs("x", "1")}},
			[]string{`"x"`, "FP32", "strings"}},
		{"missing column", mixed, &serving.Input{Tabular: true, Tensors: []serving.Tensor{f64("a", []int64{1}, 1), strs("s", "x")}},
			[]string{`missing column "b"`}},
		{"ragged columns", linear, &serving.Input{Tabular: true, Tensors: []serving.Tensor{f64("a", []int64{2}, 1, 2), f64("b", []int64{1}, 1), f64("c", []int64{1}, 1)}},
			[]string{`"b"`, "one per row"}},
		{"no tensors", hp2, &serving.Input{}, []string{"x (FP32 [-1])"}},
		{"no data", hp2, &serving.Input{Tensors: []serving.Tensor{{Name: "x", Shape: []int64{1}}}}, []string{`"x"`}},
		{"negative dim", hp2, &serving.Input{Tensors: []serving.Tensor{f64("x", []int64{-1}, 1)}}, []string{`"x"`, "negative"}},
		{"nil", hp2, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := c.m.Predict(ctx, c.in)
			if err == nil {
				t.Fatalf("Predict succeeded: %+v", out)
			}
			wantInvalid(t, err, c.parts...)
		})
	}
}

func TestMixed(t *testing.T) {
	r := testRuntime(t)
	m := loadFile(t, r, "mixed.onnx")

	out := predict(t, m, &serving.Input{Tensors: []serving.Tensor{
		{Name: "s", DType: serving.Bytes, Shape: []int64{2}, Data: []string{"x", "héllo"}},
		{Name: "b", DType: serving.FP64, Shape: []int64{2}, Data: []float64{1, 2}}, // whole: cast to int64
		{Name: "a", DType: serving.FP64, Shape: []int64{2}, Data: []float64{0.5, 1.5}},
	}})
	if out.Tabular || len(out.Tensors) != 3 {
		t.Fatalf("output %+v", out)
	}
	wantFloats(t, out.Tensors[0], "sum", []int64{2}, 1.5, 3.5)
	if s := out.Tensors[1]; s.Name != "s_out" || s.DType != serving.Bytes || !reflect.DeepEqual(s.Data, []string{"x", "héllo"}) || !reflect.DeepEqual(s.Shape, []int64{2}) {
		t.Errorf("s_out %+v", s)
	}
	wantFloats(t, out.Tensors[2], "total", []int64{}, 2) // a scalar

	// As a data frame each input takes its column; "total" has one value,
	// not one per row, so the answer is tensors.
	out = predict(t, m, &serving.Input{Tabular: true, Tensors: []serving.Tensor{
		{Name: "a", DType: serving.FP64, Shape: []int64{3}, Data: []float64{1, 2, 3}},
		{Name: "b", DType: serving.Bool, Shape: []int64{3}, Data: []bool{true, false, true}},
		{Name: "s", DType: serving.Bytes, Shape: []int64{3}, Data: []string{"p", "", "q"}},
		{Name: "extra", DType: serving.FP64, Shape: []int64{3}, Data: []float64{0, 0, 0}},
	}})
	if out.Tabular {
		t.Errorf("answer is tabular though total has one value")
	}
	wantFloats(t, out.Tensors[0], "sum", []int64{3}, 2, 2, 4)
	if s := out.Tensors[1].Data; !reflect.DeepEqual(s, []string{"p", "", "q"}) {
		t.Errorf("s_out %q", s)
	}
	wantFloats(t, out.Tensors[2], "total", []int64{}, 6)
}

func TestClassifierPredictions(t *testing.T) {
	r := testRuntime(t)
	m := loadDir(t, r, "classifier")

	// What MLflow 3's scoring server answers for the same inputs.
	const wantRecords = `[{"output_label": 0, "output_probability": {"0": 0.9525529146194458, "1": 0.04744711518287659}},
		{"output_label": 1, "output_probability": {"0": 0.04743713140487671, "1": 0.9525628685951233}}]`
	const wantDict = `{"output_label": [0, 1], "output_probability": [{"0": 0.9525529146194458, "1": 0.04744711518287659},
		{"0": 0.04743713140487671, "1": 0.9525628685951233}]}`

	out := predict(t, m, &serving.Input{Tabular: true, Tensors: []serving.Tensor{
		{Name: "a", DType: serving.FP64, Shape: []int64{2}, Data: []float64{0, 4}},
		{Name: "b", DType: serving.FP64, Shape: []int64{2}, Data: []float64{0.5, 3.5}},
	}})
	samePredictions(t, out, wantRecords)
	if !strings.HasPrefix(string(out.Predictions), `[{"output_label":0,"output_probability":{"0":`) {
		t.Errorf("fields out of order: %s", out.Predictions)
	}

	out = predict(t, m, &serving.Input{Tensors: []serving.Tensor{
		{DType: serving.FP64, Shape: []int64{2, 2}, Data: []float64{0, 0.5, 4, 3.5}},
	}})
	samePredictions(t, out, wantDict)
}

// samePredictions compares JSON, numbers to within 1e-6.
func samePredictions(t *testing.T, out *serving.Output, want string) {
	t.Helper()
	if len(out.Tensors) != 0 || len(out.Predictions) == 0 {
		t.Fatalf("output %+v, want Predictions", out)
	}
	var got, exp any
	if err := json.Unmarshal(out.Predictions, &got); err != nil {
		t.Fatalf("Predictions %s: %v", out.Predictions, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	if !closeJSON(got, exp) {
		t.Errorf("Predictions %s, want %s", out.Predictions, want)
	}
}

func closeJSON(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && math.Abs(a-b) < 1e-6
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !closeJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k := range a {
			if !closeJSON(a[k], b[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestConcurrentPredict(t *testing.T) {
	r := testRuntime(t)
	hp2 := loadDir(t, r, "half_plus_two")
	linear := loadDir(t, r, "linear")
	const goroutines, calls = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				x := float64(g*calls + i)
				out, err := hp2.Predict(context.Background(), &serving.Input{Tensors: []serving.Tensor{
					{Shape: []int64{2}, DType: serving.FP64, Data: []float64{x, -x}},
				}})
				if err != nil {
					errs <- err
					return
				}
				if d := out.Tensors[0].Data.([]float32); d[0] != float32(0.5*x+2) || d[1] != float32(-0.5*x+2) {
					errs <- fmt.Errorf("half_plus_two(%v) = %v", x, d)
					return
				}
				out, err = linear.Predict(context.Background(), &serving.Input{Tabular: true, Tensors: []serving.Tensor{
					{Name: "a", Shape: []int64{1}, DType: serving.FP64, Data: []float64{1}},
					{Name: "b", Shape: []int64{1}, DType: serving.FP64, Data: []float64{1}},
					{Name: "c", Shape: []int64{1}, DType: serving.FP64, Data: []float64{float64(i % 7)}},
				}})
				if err != nil {
					errs <- err
					return
				}
				if d := out.Tensors[0].Data.([]float32); math.Abs(float64(d[0])-float64(7+3*(i%7))) > 1e-3 {
					errs <- fmt.Errorf("linear(1, 1, %d) = %v", i%7, d)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestEmptyInput(t *testing.T) {
	r := testRuntime(t)
	m := loadDir(t, r, "linear")
	// Zero rows: either an answer with no rows or a clean error, never a
	// panic.
	out, err := m.Predict(context.Background(), &serving.Input{Tensors: []serving.Tensor{
		{DType: serving.FP32, Shape: []int64{0, 3}, Data: []float32{}},
	}})
	if err != nil {
		if code := lode.ErrorCode(err); code != lode.EInvalid {
			t.Errorf("empty input: %v", err)
		}
		t.Logf("empty input: %v", err)
		return
	}
	t.Logf("empty input: %+v", out.Tensors[0])
	if out.Tensors[0].Len() != 0 {
		t.Errorf("empty input answered %+v", out.Tensors[0])
	}
}

func TestContextAndClose(t *testing.T) {
	r := testRuntime(t)
	m := loadDir(t, r, "half_plus_two")
	in := &serving.Input{Tensors: []serving.Tensor{{DType: serving.FP32, Shape: []int64{1}, Data: []float32{1}}}}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Predict(ctx, in); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict with a canceled context: %v", err)
	}
	if _, err := r.Load(ctx, "testdata", onnxModel("half_plus_two.onnx"), serving.LoadOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a canceled context: %v", err)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := m.Predict(context.Background(), in); lode.ErrorCode(err) != lode.EInvalidState {
		t.Errorf("Predict after Close: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	r := testRuntime(t)
	ctx := context.Background()
	hp2, err := filepath.Abs(filepath.Join("testdata", "half_plus_two.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	os.MkdirAll(model, 0o755)
	os.WriteFile(filepath.Join(dir, "outside.onnx"), mustRead(t, hp2), 0o644)
	os.WriteFile(filepath.Join(model, "garbage.onnx"), []byte("not a model"), 0o644)
	if err := os.Symlink(filepath.Join(dir, "outside.onnx"), filepath.Join(model, "link.onnx")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(model, "sub"), 0o755)

	for _, c := range []struct {
		name  string
		m     *mlmodel.Model
		parts []string
	}{
		{"parent", onnxModel("../outside.onnx"), []string{"../outside.onnx", "not a path inside"}},
		{"absolute", onnxModel(hp2), []string{"not a path inside"}},
		{"symlink out", onnxModel("link.onnx"), []string{"link.onnx", "outside the model folder"}},
		{"missing", onnxModel("nope.onnx"), []string{"nope.onnx"}},
		{"directory", onnxModel("sub"), []string{"not a regular file"}},
		{"empty data", onnxModel(""), []string{"flavors.onnx.data"}},
		{"garbage", onnxModel("garbage.onnx"), []string{"garbage.onnx", "cannot load"}},
		{"not onnx", &mlmodel.Model{Flavors: map[string]map[string]any{"sklearn": {}}}, []string{"no onnx flavor"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := r.Load(ctx, model, c.m, serving.LoadOptions{Name: "m", Version: "3", Logger: quiet})
			if err == nil {
				m.Close()
				t.Fatal("Load succeeded")
			}
			wantInvalid(t, err, append(c.parts, "m version 3")...)
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSessionOptions(t *testing.T) {
	r := testRuntime(t)
	m := onnxModel("half_plus_two.onnx")
	m.Flavors["onnx"]["onnx_session_options"] = map[string]any{
		"intra_op_num_threads":     2,
		"inter_op_num_threads":     2,
		"execution_mode":           "parallel",
		"graph_optimization_level": 99,
		"extra_session_config":     map[string]any{"session.use_env_allocators": "0"},
	}
	model, err := r.Load(context.Background(), "testdata", m, serving.LoadOptions{Logger: quiet})
	if err != nil {
		t.Fatalf("Load with session options: %v", err)
	}
	defer model.Close()
	out := predict(t, model, &serving.Input{Tensors: []serving.Tensor{{Shape: []int64{1}, DType: serving.FP32, Data: []float32{4}}}})
	wantFloats(t, out.Tensors[0], "y", []int64{1}, 4)
}

func TestConvertData(t *testing.T) {
	for _, c := range []struct {
		src  any
		et   ort.TensorElementDataType
		want any
		bad  string
	}{
		{[]float64{1.5, -2}, ort.TensorElementDataTypeFloat, []float32{1.5, -2}, ""},
		{[]int64{3}, ort.TensorElementDataTypeFloat, []float32{3}, ""},
		{[]bool{true, false}, ort.TensorElementDataTypeFloat, []float32{1, 0}, ""},
		{[]float64{3, -4}, ort.TensorElementDataTypeInt64, []int64{3, -4}, ""},
		{[]float64{3.25}, ort.TensorElementDataTypeInt64, nil, "3.25"},
		{[]float64{math.NaN()}, ort.TensorElementDataTypeInt64, nil, "NaN"},
		{[]int64{-1}, ort.TensorElementDataTypeUint8, nil, "-1"},
		{[]int64{256}, ort.TensorElementDataTypeUint8, nil, "256"},
		{[]int64{255}, ort.TensorElementDataTypeUint8, []uint8{255}, ""},
		{[]uint64{math.MaxUint64}, ort.TensorElementDataTypeInt64, nil, "18446744073709551615"},
		{[]float64{0, 2}, ort.TensorElementDataTypeBool, []bool{false, true}, ""},
		{[]string{"a"}, ort.TensorElementDataTypeString, []string{"a"}, ""},
		{[]string{"a"}, ort.TensorElementDataTypeFloat, nil, "strings"},
		{[]int32{1}, ort.TensorElementDataTypeString, nil, "INT32"},
	} {
		got, err := convertData(c.src, c.et)
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("convertData(%v, %v) error %v, want one mentioning %q", c.src, c.et, err, c.bad)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("convertData(%v, %v) = %v, %v; want %v", c.src, c.et, got, err, c.want)
		}
	}
}

func TestStackColumns(t *testing.T) {
	got := stackColumns([]any{[]float32{1, 2}, []float32{3, 4}, []float32{5, 6}}, 2)
	if want := []float32{1, 3, 5, 2, 4, 6}; !reflect.DeepEqual(got, want) {
		t.Errorf("stackColumns = %v, want %v", got, want)
	}
}

func TestHalfFloats(t *testing.T) {
	for _, c := range []struct {
		f float32
		h uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff},
		{1e6, 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
		{5.960464477539063e-08, 0x0001}, // smallest subnormal
		{6.097555160522461e-05, 0x03ff}, // largest subnormal
		{6.103515625e-05, 0x0400},       // smallest normal
		{1.0009765625, 0x3c01},
		{1.00048828125, 0x3c00}, // a tie rounds to even
		{1.00146484375, 0x3c02}, // a tie rounds to even
	} {
		if got := f32ToF16(c.f); got != c.h {
			t.Errorf("f32ToF16(%v) = %#04x, want %#04x", c.f, got, c.h)
		}
		if c.f <= 65504 && c.f >= -65504 {
			if back := f16ToF32(c.h); back != c.f && c.f != 1.00048828125 && c.f != 1.00146484375 {
				t.Errorf("f16ToF32(%#04x) = %v, want %v", c.h, back, c.f)
			}
		}
	}
	if h := f32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN -> %#04x", h)
	}
	for _, f := range []float32{0, 1, -3.5, 1e30} {
		if got := bf16ToF32(f32ToBF16(f)); math.Abs(float64(got-f)) > math.Abs(float64(f))/128 {
			t.Errorf("bfloat16 round trip of %v = %v", f, got)
		}
	}
}

func TestUnknownOutputShape(t *testing.T) {
	r := testRuntime(t)
	m := loadFile(t, r, "noshape.onnx")
	if got := m.Info().Outputs[0].Shape; len(got) != 0 {
		t.Errorf("undeclared output shape reported as %v", got)
	}
	// "y" looks like a scalar but is not: the first run falls back to
	// letting ONNX Runtime allocate it, later runs go straight there.
	for range 2 {
		out := predict(t, m, &serving.Input{Tensors: []serving.Tensor{
			{Name: "x", Shape: []int64{4}, DType: serving.FP32, Data: []float32{1, 2, 3, 4}},
			{Name: "shape", Shape: []int64{2}, DType: serving.Int64, Data: []int64{2, 2}},
		}})
		wantFloats(t, out.Tensors[0], "y", []int64{2, 2}, 1, 2, 3, 4)
	}
	if !m.(*Model).noScalars.Load() {
		t.Error("the fallback was not remembered")
	}

	// ONNX Runtime's own complaint about an input is the caller's error.
	_, err := m.Predict(context.Background(), &serving.Input{Tensors: []serving.Tensor{
		{Name: "x", Shape: []int64{4}, DType: serving.FP32, Data: []float32{1, 2, 3, 4}},
		{Name: "shape", Shape: []int64{2}, DType: serving.Int64, Data: []int64{3, 3}},
	}})
	wantInvalid(t, err, "Reshape")
}

func TestAppendJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -2.5, 0.1, 1e-7, 1.5e-9, 1e20, 1e21, 123456789.125, float64(float32(0.9525529))} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
	v := []any{object{{"b", int64(1)}, {"a", []any{true, nil, "x\"y", uint64(7), int32(-3)}}}, 2.5}
	got, err := appendJSON(nil, v)
	if want := `[{"b":1,"a":[true,null,"x\"y",7,-3]},2.5]`; err != nil || string(got) != want {
		t.Errorf("appendJSON = %s, %v; want %s", got, err, want)
	}
}
