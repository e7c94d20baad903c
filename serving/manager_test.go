package serving_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/serving"
	"github.com/lode-ml/lode/sqlite"
)

// aliasSource is a registry of one model whose alias the test moves; each
// version's folder holds an MLmodel file with a "scale" flavor.
type aliasSource struct {
	root    string
	mu      sync.Mutex
	aliases map[string]string
}

func newAliasSource(t *testing.T, versions int) *aliasSource {
	s := &aliasSource{root: t.TempDir(), aliases: map[string]string{"champion": "1"}}
	for v := 1; v <= versions; v++ {
		dir := filepath.Join(s.root, strconv.Itoa(v))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mlm := fmt.Sprintf("flavors:\n  scale:\n    factor: %d\n", v)
		if err := os.WriteFile(filepath.Join(dir, "MLmodel"), []byte(mlm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *aliasSource) set(alias, v string) {
	s.mu.Lock()
	s.aliases[alias] = v
	s.mu.Unlock()
}

func (s *aliasSource) Resolve(_ context.Context, ref serving.Ref) (serving.Resolved, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := ref.Version
	if ref.Alias != "" {
		var ok bool
		if v, ok = s.aliases[ref.Alias]; !ok {
			return serving.Resolved{}, lode.Errorf(lode.ENotFound, "no alias %s", ref.Alias)
		}
	}
	return serving.Resolved{Model: ref.Name, Version: v, Location: filepath.Join(s.root, v)}, nil
}

func (s *aliasSource) Fetch(_ context.Context, r serving.Resolved) (string, error) {
	return r.Location, nil
}

// scaleRuntime serves the test's "scale" models: y = factor × x, with a
// load delay, counting open models.
type scaleRuntime struct {
	open      atomic.Int64
	loadDelay time.Duration
}

func (r *scaleRuntime) Name() string                   { return "scale" }
func (r *scaleRuntime) Supports(m *mlmodel.Model) bool { return m.Flavors["scale"] != nil }
func (r *scaleRuntime) Load(ctx context.Context, dir string, m *mlmodel.Model, _ serving.LoadOptions) (serving.Model, error) {
	time.Sleep(r.loadDelay)
	r.open.Add(1)
	return &scaleModel{factor: float64(m.Flavors["scale"]["factor"].(int)), rt: r}, nil
}

type scaleModel struct {
	factor float64
	rt     *scaleRuntime
	closed atomic.Bool
}

func (m *scaleModel) Info() serving.Info {
	return serving.Info{Runtime: "scale", Inputs: []serving.TensorSpec{{Name: "x", DType: serving.FP64, Shape: []int64{-1}}}}
}

func (m *scaleModel) Predict(ctx context.Context, in *serving.Input) (*serving.Output, error) {
	if m.closed.Load() {
		return nil, errors.New("predict on a closed model")
	}
	time.Sleep(200 * time.Microsecond)
	x := in.Tensors[0].Data.([]float64)
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v * m.factor
	}
	return &serving.Output{Tensors: []serving.Tensor{{Name: "y", DType: serving.FP64, Shape: []int64{int64(len(y))}, Data: y}}}, nil
}

func (m *scaleModel) Close() error {
	if m.closed.Swap(true) {
		return errors.New("closed twice")
	}
	m.rt.open.Add(-1)
	return nil
}

func predict(c serving.Catalog, name string, x float64) (float64, string, error) {
	ep, release, err := c.Lookup(name, "", "")
	if err != nil {
		return 0, "", err
	}
	defer release()
	out, err := ep.Predict(context.Background(), &serving.Input{Tensors: []serving.Tensor{{Name: "x", DType: serving.FP64, Shape: []int64{1}, Data: []float64{x}}}})
	if err != nil {
		return 0, "", err
	}
	return out.Tensors[0].Data.([]float64)[0], ep.Version, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSwapsUnderLoad moves the alias 20 times while 8 clients send
// requests without pause, and counts every request: none may fail, each
// answer must come from a whole model version, and every retired version
// must be closed once drained.
func TestSwapsUnderLoad(t *testing.T) {
	src := newAliasSource(t, 21)
	rt := &scaleRuntime{loadDelay: 20 * time.Millisecond}
	m := &serving.Manager{Runtimes: []serving.Runtime{rt}, Source: src, Poll: time.Hour}
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, serving.Deployment{Name: "wine", ModelURI: "models:/wine@champion", Workers: 4}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first version", m.Ready)

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				y, v, err := predict(m, "wine", 2)
				if err == nil {
					if want, _ := strconv.Atoi(v); y != float64(2*want) {
						err = fmt.Errorf("version %s answered %v", v, y)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for v := 2; v <= 21; v++ {
		src.set("champion", strconv.Itoa(v))
		m.Refresh()
		want := strconv.Itoa(v)
		waitFor(t, "version "+want, func() bool {
			st, _ := m.Get("wine")
			return st.Version == want
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during 20 swaps; first: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	t.Logf("%d requests, 0 failed, across 20 swaps", ok.Load())
	waitFor(t, "retired versions closed", func() bool { return rt.open.Load() == 1 })
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := rt.open.Load(); n != 0 {
		t.Fatalf("%d models still open after Close", n)
	}
}

func TestLookupVersionsAndLabels(t *testing.T) {
	src := newAliasSource(t, 3)
	src.set("challenger", "2")
	m := &serving.Manager{Runtimes: []serving.Runtime{&scaleRuntime{}}, Source: src, Poll: time.Hour}
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	for _, d := range []serving.Deployment{{Name: "wine", ModelURI: "models:/wine@champion"}, {Name: "wine-v2", ModelURI: "models:/wine/2"}} {
		if _, err := m.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "ready", m.Ready)
	for _, tc := range []struct{ version, label, want, code string }{
		{"", "", "1", ""},
		{"1", "", "1", ""},
		{"2", "", "2", ""}, // served by wine-v2
		{"", "challenger", "2", ""},
		{"", "champion", "1", ""},
		{"3", "", "", lode.ENotFound},
		{"", "nope", "", lode.ENotFound},
	} {
		ep, release, err := m.Lookup("wine", tc.version, tc.label)
		if code := lode.ErrorCode(err); code != tc.code {
			t.Errorf("Lookup(wine, %q, %q): code %q, want %q (%v)", tc.version, tc.label, code, tc.code, err)
			continue
		}
		if err == nil {
			if ep.Version != tc.want {
				t.Errorf("Lookup(wine, %q, %q) = version %s, want %s", tc.version, tc.label, ep.Version, tc.want)
			}
			release()
		}
	}
	if _, _, err := m.Lookup("nope", "", ""); lode.ErrorCode(err) != lode.ENotFound {
		t.Errorf("unknown model: %v", err)
	}
	if _, err := m.Create(ctx, serving.Deployment{Name: "wine", ModelURI: "models:/wine/1"}); lode.ErrorCode(err) != lode.EExists {
		t.Errorf("duplicate create: %v", err)
	}
	for _, bad := range []serving.Deployment{
		{Name: "../x", ModelURI: "models:/wine/1"},
		{Name: "ok", ModelURI: "https://example.invalid/model"},
		{Name: "ok", ModelURI: "models:/wine/1", Runtime: "tensorflow"},
		{Name: "ok", ModelURI: "models:/wine/1", Workers: -1},
	} {
		if _, err := m.Create(ctx, bad); lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("Create(%+v): %v, want INVALID_PARAMETER_VALUE", bad, err)
		}
	}
	if err := m.Delete(ctx, "wine-v2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Lookup("wine", "2", ""); lode.ErrorCode(err) != lode.ENotFound {
		t.Errorf("version 2 after deleting its deployment: %v", err)
	}
}

// A failed load of a new version keeps the old one serving.
func TestFailedLoadKeepsServing(t *testing.T) {
	src := newAliasSource(t, 2)
	if err := os.WriteFile(filepath.Join(src.root, "2", "MLmodel"), []byte("flavors:\n  keras: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &serving.Manager{Runtimes: []serving.Runtime{&scaleRuntime{}}, Source: src, Poll: time.Hour}
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	if _, err := m.Create(ctx, serving.Deployment{Name: "wine", ModelURI: "models:/wine@champion"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(ctx, "wine"); err != nil {
		t.Fatal(err)
	}
	src.set("champion", "2")
	if err := m.Load(ctx, "wine"); err == nil {
		t.Fatal("loading a model no runtime serves succeeded")
	}
	st, _ := m.Get("wine")
	if st.State != serving.StateAvailable || st.Version != "1" || st.Error == "" {
		t.Fatalf("status after a failed swap: %+v", st)
	}
	if y, _, err := predict(m, "wine", 3); err != nil || y != 3 {
		t.Fatalf("old version after a failed swap: %v, %v", y, err)
	}
}

func TestParseModelURI(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		want serving.Ref
	}{
		{"models:/wine/3", serving.Ref{Kind: serving.RefRegistry, Name: "wine", Version: "3"}},
		{"models:/wine@champion", serving.Ref{Kind: serving.RefRegistry, Name: "wine", Alias: "champion"}},
		{"models:/wine/Production", serving.Ref{Kind: serving.RefRegistry, Name: "wine", Stage: "Production"}},
		{"models:/wine/latest", serving.Ref{Kind: serving.RefRegistry, Name: "wine", Stage: "latest"}},
		{"runs:/abc/model", serving.Ref{Kind: serving.RefRun, RunID: "abc", Path: "model"}},
		{"./model", serving.Ref{Kind: serving.RefLocal, Dir: "./model"}},
		{"file:///tmp/model", serving.Ref{Kind: serving.RefLocal, Dir: "/tmp/model"}},
	} {
		got, err := serving.ParseModelURI(tc.uri)
		tc.want.URI = tc.uri
		if err != nil || got != tc.want {
			t.Errorf("ParseModelURI(%q) = %+v, %v; want %+v", tc.uri, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "models:/", "models:/wine", "models:/@x", "models:/wine/1/2", "runs:/", "s3://b/k", "file://host/x"} {
		if _, err := serving.ParseModelURI(bad); lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("ParseModelURI(%q): %v, want INVALID_PARAMETER_VALUE", bad, err)
		}
	}
}

// TestManagersShareStore runs two managers on one database, as two
// servers do: what one creates, replaces or deletes, the other serves or
// stops within a poll, and a manager's own creations are never undone by
// its sync while they are being written.
func TestManagersShareStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lode.db")
	src := newAliasSource(t, 3)
	start := func() (*serving.Manager, *scaleRuntime) {
		db, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		rt := &scaleRuntime{}
		m := &serving.Manager{Runtimes: []serving.Runtime{rt}, Source: src, Store: db, Poll: 20 * time.Millisecond}
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(ctx) })
		return m, rt
	}
	a, _ := start()
	b, rtB := start()
	served := func(m *serving.Manager, name, version string) func() bool {
		return func() bool {
			y, v, err := predict(m, name, 1)
			want, _ := strconv.Atoi(version)
			return err == nil && v == version && y == float64(want)
		}
	}

	if _, err := a.Create(ctx, serving.Deployment{Name: "wine", ModelURI: "models:/wine/1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to serve wine v1", served(b, "wine", "1"))

	// Replaced through b (delete, create with another URI): a follows.
	if err := b.Delete(ctx, "wine"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, serving.Deployment{Name: "wine", ModelURI: "models:/wine/2"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to serve wine v2", served(a, "wine", "2"))

	// Deleted through a: b stops serving it and closes its model.
	if err := a.Delete(ctx, "wine"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to stop serving wine", func() bool {
		_, err := b.Get("wine")
		return lode.ErrorCode(err) == lode.ENotFound && rtB.open.Load() == 0
	})

	// Many creations on a while both poll every 20 ms: none is lost on
	// either side.
	for i := 0; i < 30; i++ {
		name := fmt.Sprintf("m%02d", i)
		if _, err := a.Create(ctx, serving.Deployment{Name: name, ModelURI: "models:/wine/3"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	for _, m := range []*serving.Manager{a, b} {
		waitFor(t, "30 deployments served", func() bool {
			n := 0
			for _, st := range m.List() {
				if st.State == serving.StateAvailable {
					n++
				}
			}
			return n == 30
		})
	}
}

// flavorRuntime stands in for a real runtime by name: it serves models
// with its flavor and counts what it loads.
type flavorRuntime struct {
	name, flavor string
	loads        atomic.Int64
}

func (r *flavorRuntime) Name() string                   { return r.name }
func (r *flavorRuntime) Supports(m *mlmodel.Model) bool { return m.Flavors[r.flavor] != nil }
func (r *flavorRuntime) Load(context.Context, string, *mlmodel.Model, serving.LoadOptions) (serving.Model, error) {
	r.loads.Add(1)
	return &scaleModel{factor: 1, rt: &scaleRuntime{}}, nil
}

// A deployment forced onto ONNX Runtime never loads a version in Python,
// also when its alias moves to one that only Python could serve: this is
// what lets users who may not run code on the server deploy ONNX models.
func TestForcedONNXNeverRunsPython(t *testing.T) {
	src := newAliasSource(t, 2)
	both := "flavors:\n  onnx:\n    data: model.onnx\n  python_function:\n    loader_module: mlflow.onnx\n"
	pythonOnly := "flavors:\n  python_function:\n    loader_module: evil\n    code: code\n"
	for v, mlm := range map[string]string{"1": both, "2": pythonOnly} {
		if err := os.WriteFile(filepath.Join(src.root, v, "MLmodel"), []byte(mlm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ort := &flavorRuntime{name: "onnxruntime", flavor: "onnx"}
	py := &flavorRuntime{name: "python", flavor: "python_function"}
	m := &serving.Manager{Runtimes: []serving.Runtime{ort, py}, Source: src, Poll: time.Hour}
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	if _, err := m.Create(ctx, serving.Deployment{Name: "d", ModelURI: "models:/d@champion", Runtime: "onnx"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	src.set("champion", "2")
	err := m.Load(ctx, "d")
	if err == nil || lode.ErrorCode(err) != lode.EInvalid {
		t.Fatalf("loading a Python-only version with runtime onnx: %v", err)
	}
	t.Logf("refused: %v", err)
	if _, err := m.Create(ctx, serving.Deployment{Name: "d2", ModelURI: "models:/d/2", Runtime: "onnx"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(ctx, "d2"); err == nil {
		t.Fatal("a Python-only version loaded with runtime onnx")
	}
	if n := py.loads.Load(); n != 0 {
		t.Fatalf("the Python runtime loaded %d models", n)
	}
	if st, _ := m.Get("d"); st.Version != "1" || ort.loads.Load() != 1 {
		t.Fatalf("status: %+v, ONNX loads %d", st, ort.loads.Load())
	}
}
