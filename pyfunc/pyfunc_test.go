//go:build unix

package pyfunc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	lode "github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/serving"
)

// These tests run real Python workers when LODE_TEST_PYTHON names an
// interpreter with mlflow, pandas and scikit-learn installed; the
// virtualenv test also builds an environment from PyPI (or pip's cache),
// unless LODE_TEST_SKIP_VENV is set.

// makeModels is run with LODE_TEST_PYTHON to save the test models under
// the folder given as its argument.
const makeModels = `
import json, os, sys, time
import numpy as np
import pandas as pd
import mlflow
from mlflow.models import infer_signature

out = sys.argv[1]

class Sum(mlflow.pyfunc.PythonModel):
    """(x + y) * scale; a tag of "crash" exits, "boom" raises."""
    def predict(self, context, model_input, params=None):
        params = params or {}
        print("hello from predict on stdout")
        tags = list(model_input["tag"])
        if "crash" in tags:
            os._exit(1)
        if "boom" in tags:
            raise ValueError("boom")
        if params.get("sleep"):
            time.sleep(float(params["sleep"]))
        return ((model_input["x"] + model_input["y"]) * float(params.get("scale", 1.0))).to_numpy()

frame = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0], "tag": ["a", "b"]})
sig = infer_signature(frame, np.array([4.0, 6.0]), params={"scale": 1.0, "sleep": 0.0})
# Naming the requirements spares mlflow inferring them (slow).
reqs = ["mlflow==" + mlflow.__version__]
mlflow.pyfunc.save_model(os.path.join(out, "sum"), python_model=Sum(), signature=sig, pip_requirements=reqs)

class Tensor(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input.reshape(len(model_input), -1).sum(axis=1)

x = np.zeros((2, 2, 3))
mlflow.pyfunc.save_model(os.path.join(out, "tensor"), python_model=Tensor(),
                         signature=infer_signature(x, np.zeros(2)), pip_requirements=reqs)

class Dict(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        if isinstance(model_input, dict):
            return {k: float(np.asarray(v).sum()) for k, v in model_input.items()}
        return {"type": type(model_input).__name__, "env": os.environ.get("LODE_TEST_MARK"), "names": sorted(os.environ)}

mlflow.pyfunc.save_model(os.path.join(out, "dict"), python_model=Dict(), pip_requirements=reqs)

from sklearn.linear_model import LinearRegression
train = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 0.0, 2.0, 5.0]})
lr = LinearRegression().fit(train, [3.0, 2.5, 7.0, 13.0])
import mlflow.sklearn
mlflow.sklearn.save_model(lr, os.path.join(out, "sklearn"), signature=infer_signature(train, lr.predict(train)), pip_requirements=reqs)
test = pd.DataFrame({"a": [0.5, 10.0], "b": [2.0, -1.0]})
with open(os.path.join(out, "sklearn-expected.json"), "w") as f:
    json.dump(lr.predict(test).tolist(), f)

mlflow.pyfunc.save_model(os.path.join(out, "venv"), python_model=Sum(), signature=sig,
                         pip_requirements=["mlflow-skinny==3.17.2", "pandas==3.1.1", "numpy==2.4.6"])
`

var fixtures struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtures.dir != "" {
		if os.Getenv("LODE_TEST_KEEP") != "" {
			fmt.Println("kept the test models in", fixtures.dir)
		} else {
			os.RemoveAll(fixtures.dir)
		}
	}
	os.Exit(code)
}

// testPython is the interpreter the tests run models with; it skips the
// test when there is none.
func testPython(t *testing.T) string {
	t.Helper()
	py := os.Getenv("LODE_TEST_PYTHON")
	if py == "" {
		t.Skip("LODE_TEST_PYTHON is not set")
	}
	return py
}

// modelDir returns the folder of a test model, saving them all once.
func modelDir(t *testing.T, name string) string {
	t.Helper()
	py := testPython(t)
	fixtures.once.Do(func() {
		dir, err := os.MkdirTemp("", "lode-pyfunc-test-")
		if err != nil {
			fixtures.err = err
			return
		}
		fixtures.dir = dir
		start := time.Now()
		cmd := exec.Command(py, "-c", makeModels, dir)
		cmd.Dir = dir // mlflow may leave an mlruns folder in its working directory
		out, err := cmd.CombinedOutput()
		if err != nil {
			fixtures.err = fmt.Errorf("saving the test models: %v\n%s", err, out)
		}
		t.Logf("saved the test models in %v", time.Since(start).Round(time.Millisecond))
	})
	if fixtures.err != nil {
		t.Fatal(fixtures.err)
	}
	return filepath.Join(fixtures.dir, name)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLogger logs into a buffer that is shown when the test fails (or
// always, with LODE_TEST_LOG set).
func testLogger(t *testing.T) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("LODE_TEST_LOG") != "" {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func readMLmodel(t *testing.T, dir string) *mlmodel.Model {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MLmodel"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := mlmodel.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loadLocal loads a test model with the local environment manager.
func loadLocal(t *testing.T, name string, workers int) *model {
	t.Helper()
	return loadLocalWith(t, name, workers, Options{})
}

// loadLocalWith is loadLocal with more options.
func loadLocalWith(t *testing.T, name string, workers int, opts Options) *model {
	t.Helper()
	dir := modelDir(t, name)
	log, _ := testLogger(t)
	opts.EnvManager, opts.Python, opts.CacheDir, opts.Logger = Local, testPython(t), t.TempDir(), log
	rt := New(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := rt.Load(ctx, dir, readMLmodel(t, dir), serving.LoadOptions{Name: name, Version: "1", Workers: workers})
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	t.Cleanup(func() { m.Close() })
	return m.(*model)
}

// sumInput is a frame for the "sum" model.
func sumInput(x, y []float64, tags []string, params map[string]any) *serving.Input {
	return &serving.Input{
		Tabular: true,
		Tensors: []serving.Tensor{
			{Name: "x", DType: serving.FP64, Shape: []int64{int64(len(x))}, Data: x},
			{Name: "y", DType: serving.FP64, Shape: []int64{int64(len(y))}, Data: y},
			{Name: "tag", DType: serving.Bytes, Shape: []int64{int64(len(tags))}, Data: tags},
		},
		Params: params,
	}
}

func predictFloats(t *testing.T, m serving.Model, in *serving.Input) []float64 {
	t.Helper()
	out, err := m.Predict(context.Background(), in)
	if err != nil {
		t.Fatalf("predict: %v", err)
	}
	var got []float64
	if err := json.Unmarshal(out.Predictions, &got); err != nil {
		t.Fatalf("predictions %s: %v", out.Predictions, err)
	}
	return got
}

func wantFloats(t *testing.T, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func wantCode(t *testing.T, err error, codes ...string) {
	t.Helper()
	t.Logf("error: %v", err)
	if err == nil {
		t.Fatalf("got no error, want %v", codes)
	}
	if !slices.Contains(codes, lode.ErrorCode(err)) {
		t.Fatalf("got %v, want code %v", err, codes)
	}
}

func TestPredict(t *testing.T) {
	m := loadLocal(t, "sum", 2)
	ctx := context.Background()

	t.Run("info", func(t *testing.T) {
		info := m.Info()
		want := []serving.TensorSpec{
			{Name: "x", DType: serving.FP64, Shape: []int64{-1}},
			{Name: "y", DType: serving.FP64, Shape: []int64{-1}},
			{Name: "tag", DType: serving.Bytes, Shape: []int64{-1}},
		}
		if info.Runtime != "python" || !info.Tabular || fmt.Sprint(info.Inputs) != fmt.Sprint(want) {
			t.Fatalf("info %+v", info)
		}
		if len(info.Outputs) != 1 || info.Outputs[0].DType != serving.FP64 {
			t.Fatalf("outputs %+v", info.Outputs)
		}
	})
	t.Run("tabular", func(t *testing.T) {
		got := predictFloats(t, m, sumInput([]float64{1.5, 2}, []float64{0.25, -1}, []string{"a", "b"}, nil))
		wantFloats(t, got, []float64{1.75, 1})
	})
	t.Run("params", func(t *testing.T) {
		got := predictFloats(t, m, sumInput([]float64{1, 2}, []float64{1, 1}, []string{"a", "b"}, map[string]any{"scale": 3.0}))
		wantFloats(t, got, []float64{6, 9})
	})
	t.Run("raw json", func(t *testing.T) {
		in := &serving.Input{
			Raw:     []byte(`{"dataframe_records": [{"x": 1, "y": 2, "tag": "a"}], "params": {"scale": 0.5}}`),
			RawType: "application/json",
		}
		wantFloats(t, predictFloats(t, m, in), []float64{1.5})
	})
	t.Run("raw csv", func(t *testing.T) {
		in := &serving.Input{Raw: []byte("x,y,tag\n1,2,a\n3,4,b\n"), RawType: "text/csv"}
		wantFloats(t, predictFloats(t, m, in), []float64{3, 7})
	})
	t.Run("missing column", func(t *testing.T) {
		in := &serving.Input{Tabular: true, Tensors: []serving.Tensor{{Name: "x", DType: serving.FP64, Data: []float64{1}}}}
		_, err := m.Predict(ctx, in)
		wantCode(t, err, lode.EInvalid, lode.EBadRequest)
		if !strings.Contains(lode.ErrorMessage(err), "missing inputs") {
			t.Fatalf("message %q", lode.ErrorMessage(err))
		}
	})
	t.Run("bad json", func(t *testing.T) {
		_, err := m.Predict(ctx, &serving.Input{Raw: []byte(`{"dataframe_split": `), RawType: "application/json"})
		wantCode(t, err, lode.EInvalid, lode.EBadRequest)
		_, err = m.Predict(ctx, &serving.Input{Raw: []byte(`{"nope": 1}`), RawType: "application/json"})
		wantCode(t, err, lode.EBadRequest)
	})
	t.Run("content type", func(t *testing.T) {
		_, err := m.Predict(ctx, &serving.Input{Raw: []byte(`x`), RawType: "text/plain"})
		wantCode(t, err, lode.EBadRequest)
	})
	t.Run("model raises", func(t *testing.T) {
		_, err := m.Predict(ctx, sumInput([]float64{1}, []float64{1}, []string{"boom"}, nil))
		wantCode(t, err, lode.EBadRequest)
		msg := lode.ErrorMessage(err)
		if !strings.Contains(msg, "ValueError: boom") || strings.Contains(msg, "Traceback") {
			t.Fatalf("message %q", msg)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for g := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					x := float64(g*100 + i)
					out, err := m.Predict(ctx, sumInput([]float64{x, x + 1}, []float64{1, 2}, []string{"a", "b"}, nil))
					if err != nil {
						errs <- err
						return
					}
					var got []float64
					if err := json.Unmarshal(out.Predictions, &got); err != nil || len(got) != 2 || got[0] != x+1 || got[1] != x+3 {
						errs <- fmt.Errorf("got %s for x=%v", out.Predictions, x)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestTensorModels(t *testing.T) {
	t.Run("unnamed tensor", func(t *testing.T) {
		m := loadLocal(t, "tensor", 1)
		info := m.Info()
		if info.Tabular || len(info.Inputs) != 1 || info.Inputs[0].DType != serving.FP64 || fmt.Sprint(info.Inputs[0].Shape) != "[-1 2 3]" {
			t.Fatalf("info %+v", info)
		}
		data := make([]float64, 12)
		for i := range data {
			data[i] = float64(i)
		}
		in := &serving.Input{Tensors: []serving.Tensor{{DType: serving.FP64, Shape: []int64{2, 2, 3}, Data: data}}}
		wantFloats(t, predictFloats(t, m, in), []float64{15, 51})
	})
	t.Run("named tensors", func(t *testing.T) {
		m := loadLocal(t, "dict", 1)
		if info := m.Info(); len(info.Inputs) != 0 || info.Tabular {
			t.Fatalf("info %+v", info)
		}
		in := &serving.Input{Tensors: []serving.Tensor{
			{Name: "a", DType: serving.Int32, Shape: []int64{2, 2}, Data: []int32{1, 2, 3, 4}},
			{Name: "b", DType: serving.FP32, Shape: []int64{3}, Data: []float32{0.5, 0.25, 0.25}},
		}}
		out, err := m.Predict(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]float64
		if err := json.Unmarshal(out.Predictions, &got); err != nil || got["a"] != 10 || got["b"] != 1 {
			t.Fatalf("predictions %s (%v)", out.Predictions, err)
		}
	})
}

// A worker runs the model's code, so it gets none of Lode's secrets:
// only the variables DefaultInheritEnv names, and those PassEnv adds.
func TestWorkerEnvironment(t *testing.T) {
	secrets := []string{"LODE_ADMIN_PASSWORD", "AWS_SECRET_ACCESS_KEY", "PGPASSWORD", "MLFLOW_TRACKING_TOKEN", "LODE_TEST_MARK"}
	for _, k := range secrets {
		t.Setenv(k, "s3cret")
	}
	t.Setenv("OMP_NUM_THREADS", "1")
	type answer struct {
		Type  string   `json:"type"`
		Env   *string  `json:"env"`
		Names []string `json:"names"`
	}
	ask := func(m *model) answer {
		t.Helper()
		out, err := m.Predict(context.Background(), &serving.Input{Raw: []byte("a\n1\n"), RawType: "text/csv"})
		if err != nil {
			t.Fatal(err)
		}
		var a answer
		if err := json.Unmarshal(out.Predictions, &a); err != nil || a.Type != "DataFrame" {
			t.Fatalf("answer %s: %v", out.Predictions, err)
		}
		return a
	}
	a := ask(loadLocal(t, "dict", 1))
	for _, k := range secrets {
		if slices.Contains(a.Names, k) {
			t.Errorf("the worker sees $%s", k)
		}
	}
	for _, k := range []string{"PATH", "OMP_NUM_THREADS", "PYTHONUNBUFFERED"} {
		if !slices.Contains(a.Names, k) {
			t.Errorf("the worker lacks $%s: %v", k, a.Names)
		}
	}
	t.Logf("the worker's environment: %v", a.Names)
	a = ask(loadLocalWith(t, "dict", 1, Options{PassEnv: []string{"LODE_TEST_*"}}))
	if a.Env == nil || *a.Env != "s3cret" || slices.Contains(a.Names, "LODE_ADMIN_PASSWORD") {
		t.Errorf("with PassEnv LODE_TEST_*: $LODE_TEST_MARK %v, names %v", a.Env, a.Names)
	}
}

func TestSklearn(t *testing.T) {
	m := loadLocal(t, "sklearn", 1)
	b, err := os.ReadFile(modelDir(t, "sklearn-expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	in := &serving.Input{Tabular: true, Tensors: []serving.Tensor{
		{Name: "a", DType: serving.FP64, Data: []float64{0.5, 10}},
		{Name: "b", DType: serving.FP64, Data: []float64{2, -1}},
	}}
	wantFloats(t, predictFloats(t, m, in), want)
}

func TestWorkerCrash(t *testing.T) {
	m := loadLocal(t, "sum", 2)
	before := m.pids()
	start := time.Now()
	_, err := m.Predict(context.Background(), sumInput([]float64{1}, []float64{1}, []string{"crash"}, nil))
	wantCode(t, err, lode.EUnavailable)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the crash took %v to report", d)
	}
	// The other worker serves meanwhile; then the restarted one.
	for range 5 {
		wantFloats(t, predictFloats(t, m, sumInput([]float64{1}, []float64{2}, []string{"a"}, nil)), []float64{3})
	}
	waitFor(t, 2*time.Minute, func() bool {
		now := m.pids()
		return len(now) == 2 && !slices.Equal(sorted(now), sorted(before))
	})
	for range 5 {
		wantFloats(t, predictFloats(t, m, sumInput([]float64{1}, []float64{2}, []string{"a"}, nil)), []float64{3})
	}

	// With one worker, requests wait for its restart.
	one := loadLocal(t, "sum", 1)
	_, err = one.Predict(context.Background(), sumInput([]float64{1}, []float64{1}, []string{"crash"}, nil))
	wantCode(t, err, lode.EUnavailable)
	wantFloats(t, predictFloats(t, one, sumInput([]float64{1}, []float64{2}, []string{"a"}, nil)), []float64{3})
}

func TestDeadline(t *testing.T) {
	m := loadLocal(t, "sum", 1)
	before := m.pids()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Predict(ctx, sumInput([]float64{1}, []float64{1}, []string{"a"}, map[string]any{"sleep": 30.0}))
	wantCode(t, err, lode.EDeadline)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the deadline took %v to report", d)
	}
	// The slow worker was killed and replaced.
	wantFloats(t, predictFloats(t, m, sumInput([]float64{1}, []float64{2}, []string{"a"}, nil)), []float64{3})
	if now := m.pids(); len(now) != 1 || now[0] == before[0] {
		t.Fatalf("workers %v, were %v", now, before)
	}
	if alive(before[0]) {
		t.Fatalf("the slow worker %d is still running", before[0])
	}

	// A cancelled request is a deadline too.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = m.Predict(ctx, sumInput([]float64{1}, []float64{1}, []string{"a"}, map[string]any{"sleep": 30.0}))
	wantCode(t, err, lode.EDeadline)
	wantFloats(t, predictFloats(t, m, sumInput([]float64{1}, []float64{2}, []string{"a"}, nil)), []float64{3})
}

func TestRequestTimeout(t *testing.T) {
	dir := modelDir(t, "sum")
	log, _ := testLogger(t)
	rt := New(Options{EnvManager: Local, Python: testPython(t), CacheDir: t.TempDir(), Logger: log, RequestTimeout: 300 * time.Millisecond})
	m, err := rt.Load(context.Background(), dir, readMLmodel(t, dir), serving.LoadOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.Predict(context.Background(), sumInput([]float64{1}, []float64{1}, []string{"a"}, map[string]any{"sleep": 30.0}))
	wantCode(t, err, lode.EDeadline)
}

func TestClose(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	m := loadLocal(t, "sum", 2)
	pids := m.pids()
	if len(pids) != 2 {
		t.Fatalf("workers %v", pids)
	}
	wantFloats(t, predictFloats(t, m, sumInput([]float64{1}, []float64{2}, []string{"a"}, nil)), []float64{3})
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("closed in %v", time.Since(start).Round(time.Millisecond))
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("worker %d still runs after Close", pid)
		}
	}
	_, err := m.Predict(context.Background(), sumInput([]float64{1}, []float64{2}, []string{"a"}, nil))
	wantCode(t, err, lode.EUnavailable)
	waitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines })
}

func TestLoadError(t *testing.T) {
	testPython(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "MLmodel"), []byte("flavors:\n  python_function:\n    loader_module: lode_no_such_module\n"), 0o644)
	log, _ := testLogger(t)
	rt := New(Options{EnvManager: Local, Python: testPython(t), CacheDir: t.TempDir(), Logger: log})
	_, err := rt.Load(context.Background(), dir, readMLmodel(t, dir), serving.LoadOptions{Name: "broken", Workers: 2})
	if err == nil || !strings.Contains(err.Error(), "No module named 'lode_no_such_module'") {
		t.Fatalf("got %v", err)
	}
	wantCode(t, err, lode.EInvalidState)

	rt = New(Options{EnvManager: Local, Python: "/nonexistent/python", CacheDir: t.TempDir(), Logger: log})
	_, err = rt.Load(context.Background(), dir, readMLmodel(t, dir), serving.LoadOptions{Name: "broken"})
	wantCode(t, err, lode.EInvalidState)
}

// A worker that dies before it says ready fails Load with its stderr.
func TestWorkerExitsEarly(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "MLmodel"), []byte("flavors:\n  python_function: {}\n"), 0o644)
	log, _ := testLogger(t)
	// sh runs the worker script as a shell script: it complains and exits.
	rt := New(Options{EnvManager: Local, Python: sh, CacheDir: t.TempDir(), Logger: log})
	_, err = rt.Load(context.Background(), dir, readMLmodel(t, dir), serving.LoadOptions{Name: "early", Workers: 1})
	wantCode(t, err, lode.EInvalidState)
	if msg := lode.ErrorMessage(err); !strings.Contains(msg, "exited before loading it (exit status") || !strings.Contains(msg, "worker-") {
		t.Fatalf("message %q", msg)
	}
}

func TestVirtualenv(t *testing.T) {
	py := testPython(t)
	if os.Getenv("LODE_TEST_SKIP_VENV") != "" {
		t.Skip("LODE_TEST_SKIP_VENV is set")
	}
	dir := modelDir(t, "venv")
	mm := readMLmodel(t, dir)
	cache := t.TempDir()
	log, logs := testLogger(t)
	rt := New(Options{EnvManager: Virtualenv, Python: py, CacheDir: cache, Logger: log})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// Two loads at once build the environment once.
	start := time.Now()
	var models [2]serving.Model
	var errs [2]error
	var wg sync.WaitGroup
	for i := range models {
		wg.Add(1)
		go func() {
			defer wg.Done()
			models[i], errs[i] = rt.Load(ctx, dir, mm, serving.LoadOptions{Name: "venv", Version: fmt.Sprint(i + 1), Workers: 1})
		}()
	}
	wg.Wait()
	built := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
		defer models[i].Close()
	}
	t.Logf("built the environment and loaded the model in %v", built.Round(time.Millisecond))
	if n := strings.Count(logs.String(), "building Python environment"); n != 1 {
		t.Fatalf("%d builds, want 1", n)
	}
	for _, m := range models {
		wantFloats(t, predictFloats(t, m, sumInput([]float64{1, 2}, []float64{3, 4}, []string{"a", "b"}, map[string]any{"scale": 2.0})), []float64{8, 12})
		pm := m.(*model)
		if !strings.HasPrefix(pm.cfg.python, cache) || pm.mlflow != "3.17.2" {
			t.Fatalf("python %s, mlflow %s", pm.cfg.python, pm.mlflow)
		}
	}
	envs := listCache(t, cache)
	if len(envs) != 1 {
		t.Fatalf("cache holds %v", envs)
	}
	// The environment's own pip works after the rename.
	if out, err := exec.Command(filepath.Join(cache, envs[0], "bin", "pip"), "--version").CombinedOutput(); err != nil {
		t.Fatalf("pip in the environment: %v\n%s", err, out)
	}

	// Another runtime on the same cache reuses it.
	log2, logs2 := testLogger(t)
	rt2 := New(Options{EnvManager: Virtualenv, Python: py, CacheDir: cache, Logger: log2})
	start = time.Now()
	m, err := rt2.Load(ctx, dir, mm, serving.LoadOptions{Name: "venv", Version: "3", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cached := time.Since(start)
	t.Logf("loaded the model from the cached environment in %v", cached.Round(time.Millisecond))
	if strings.Contains(logs2.String(), "building Python environment") {
		t.Fatal("the cached environment was rebuilt")
	}
	wantFloats(t, predictFloats(t, m, sumInput([]float64{1}, []float64{3}, []string{"a"}, nil)), []float64{4})

	// A failed build leaves nothing behind.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "MLmodel"), []byte("flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "requirements.txt"), []byte("./lode-missing-package-1.0-py3-none-any.whl\n"), 0o644)
	start = time.Now()
	_, err = rt.Load(ctx, bad, readMLmodel(t, bad), serving.LoadOptions{Name: "bad"})
	wantCode(t, err, lode.EInvalidState)
	t.Logf("failed build took %v: %v", time.Since(start).Round(time.Millisecond), err)
	if now := listCache(t, cache); !slices.Equal(now, envs) {
		t.Fatalf("cache holds %v after a failed build, want %v", now, envs)
	}
}

// listCache lists the cache's entries but for the hidden ones (locks, the
// worker script).
func listCache(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}

func alive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func sorted(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
