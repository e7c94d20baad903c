package inferapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

// testCatalog serves endpoints from a map, as the serving manager would.
type testCatalog struct {
	mu      sync.Mutex
	models  map[string]*testModel
	unready bool
}

type testModel struct {
	versions map[string]*serving.Endpoint
	def      string
	labels   map[string]string
	loading  bool
}

func newCatalog() *testCatalog { return &testCatalog{models: map[string]*testModel{}} }

func (c *testCatalog) add(ep *serving.Endpoint, labels ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.models[ep.Name]
	if m == nil {
		m = &testModel{versions: map[string]*serving.Endpoint{}, labels: map[string]string{}}
		c.models[ep.Name] = m
	}
	m.versions[ep.Version] = ep
	m.def = ep.Version
	for _, l := range labels {
		m.labels[l] = ep.Version
	}
}

func (c *testCatalog) Lookup(name, version, label string) (*serving.Endpoint, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.models[name]
	if m == nil {
		return nil, nil, lode.Errorf(lode.ENotFound, "Model '%s' is not served.", name)
	}
	if m.loading {
		return nil, nil, lode.Errorf(lode.EUnavailable, "Model '%s' is still loading.", name)
	}
	v := m.def
	if label != "" {
		lv, ok := m.labels[label]
		if !ok {
			return nil, nil, lode.Errorf(lode.ENotFound, "Model '%s' has no label '%s'.", name, label)
		}
		v = lv
	}
	if version != "" {
		v = version
	}
	ep := m.versions[v]
	if ep == nil {
		return nil, nil, lode.Errorf(lode.ENotFound, "Model '%s' has no version %s.", name, v)
	}
	release, ok := ep.Acquire()
	if !ok {
		return nil, nil, lode.Errorf(lode.EUnavailable, "Model '%s' version %s is retiring.", name, v)
	}
	return ep, release, nil
}

func (c *testCatalog) Status(name string) ([]serving.VersionStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.models[name]
	if m == nil {
		return nil, lode.Errorf(lode.ENotFound, "Model '%s' is not served.", name)
	}
	var out []serving.VersionStatus
	for v := range m.versions {
		st := serving.StateAvailable
		if m.loading {
			st = serving.StateLoading
		}
		out = append(out, serving.VersionStatus{Version: v, State: st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func (c *testCatalog) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for n := range c.models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (c *testCatalog) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.unready
}

// funcModel is a serving.Model made of a function.
type funcModel struct {
	info serving.Info
	fn   func(ctx context.Context, in *serving.Input) (*serving.Output, error)

	mu   sync.Mutex
	last *serving.Input
}

func (m *funcModel) Info() serving.Info { return m.info }
func (m *funcModel) Close() error       { return nil }

func (m *funcModel) Predict(ctx context.Context, in *serving.Input) (*serving.Output, error) {
	m.mu.Lock()
	m.last = in
	m.mu.Unlock()
	return m.fn(ctx, in)
}

func (m *funcModel) lastInput() *serving.Input {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// floats reads any numeric tensor as float64s.
func floats(t *serving.Tensor) []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i], _ = floatAt(t, i)
	}
	return out
}

// halfPlusTwo is TF Serving's example model: y = x/2 + 2 over FP32.
func halfPlusTwo() *funcModel {
	return &funcModel{
		info: serving.Info{Runtime: "onnxruntime",
			Inputs:  []serving.TensorSpec{{Name: "x", DType: serving.FP32, Shape: []int64{-1}}},
			Outputs: []serving.TensorSpec{{Name: "y", DType: serving.FP32, Shape: []int64{-1}}}},
		fn: func(_ context.Context, in *serving.Input) (*serving.Output, error) {
			x := &in.Tensors[0]
			vals := floats(x)
			y := make([]float32, len(vals))
			for i, v := range vals {
				y[i] = float32(v)/2 + 2
			}
			shape := x.Shape
			if shape == nil {
				shape = []int64{int64(len(y))}
			}
			return &serving.Output{Tabular: in.Tabular, Tensors: []serving.Tensor{{Name: "y", DType: serving.FP32, Shape: shape, Data: y}}}, nil
		},
	}
}

// pairModel answers two outputs per element of its first input: its
// double (FP64) and whether it is odd or even (BYTES).
func pairModel() *funcModel {
	return &funcModel{
		info: serving.Info{Runtime: "onnxruntime", Outputs: []serving.TensorSpec{
			{Name: "double", DType: serving.FP64, Shape: []int64{-1}},
			{Name: "label", DType: serving.Bytes, Shape: []int64{-1}}}},
		fn: func(_ context.Context, in *serving.Input) (*serving.Output, error) {
			x := &in.Tensors[0]
			vals := floats(x)
			d := make([]float64, len(vals))
			l := make([]string, len(vals))
			for i, v := range vals {
				d[i] = 2 * v
				l[i] = "even"
				if int(v)%2 != 0 {
					l[i] = "odd"
				}
			}
			return &serving.Output{Tabular: in.Tabular, Tensors: []serving.Tensor{
				{Name: "double", DType: serving.FP64, Shape: x.Dims(), Data: d},
				{Name: "label", DType: serving.Bytes, Shape: x.Dims(), Data: l}}}, nil
		},
	}
}

// echoModel returns its inputs as outputs (for decoding checks).
func echoModel(runtime string) *funcModel {
	return &funcModel{
		info: serving.Info{Runtime: runtime},
		fn: func(_ context.Context, in *serving.Input) (*serving.Output, error) {
			return &serving.Output{Tabular: in.Tabular, Tensors: in.Tensors}, nil
		},
	}
}

// pythonModel answers with fixed predictions, as the python runtime does.
func pythonModel(predictions string) *funcModel {
	return &funcModel{
		info: serving.Info{Runtime: "python"},
		fn: func(context.Context, *serving.Input) (*serving.Output, error) {
			return &serving.Output{Predictions: json.RawMessage(predictions)}, nil
		},
	}
}

// slowModel blocks until release is closed or, unless stubborn, its
// context ends.
func slowModel(release <-chan struct{}, started chan<- struct{}, stubborn bool) *funcModel {
	return &funcModel{
		info: serving.Info{Runtime: "onnxruntime"},
		fn: func(ctx context.Context, in *serving.Input) (*serving.Output, error) {
			if started != nil {
				started <- struct{}{}
			}
			done := ctx.Done()
			if stubborn {
				done = nil
			}
			select {
			case <-release:
				return &serving.Output{Tensors: in.Tensors}, nil
			case <-done:
				return nil, ctx.Err()
			}
		},
	}
}

// fixture is a test server over a catalog of test models.
type fixture struct {
	t       *testing.T
	srv     *httptest.Server
	cat     *testCatalog
	reg     *prometheus.Registry
	log     *syncBuffer
	models  map[string]*funcModel
	release chan struct{}
	started chan struct{}
}

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

func newFixture(t *testing.T, maxBody int64) *fixture {
	t.Helper()
	f := &fixture{t: t, cat: newCatalog(), reg: prometheus.NewRegistry(), log: &syncBuffer{},
		models: map[string]*funcModel{}, release: make(chan struct{}), started: make(chan struct{}, 16)}
	add := func(name, version string, m *funcModel, o serving.EndpointOptions, labels ...string) *serving.Endpoint {
		f.models[name] = m
		ep := serving.NewEndpoint(name, version, m, o)
		ep.LoadTime = 1500 * time.Millisecond
		f.cat.add(ep, labels...)
		return ep
	}
	add("half_plus_two", "2", halfPlusTwo(), serving.EndpointOptions{})
	add("half_plus_two", "3", halfPlusTwo(), serving.EndpointOptions{Concurrency: 4}, "stable")
	add("pair", "1", pairModel(), serving.EndpointOptions{})
	add("echo", "1", echoModel("onnxruntime"), serving.EndpointOptions{})
	add("pyecho", "1", echoModel("python"), serving.EndpointOptions{})
	add("py", "7", pythonModel(`[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]`), serving.EndpointOptions{Signature: &serving.Signature{
		Inputs:  []serving.TensorSpec{{Name: "a", DType: serving.FP64, Shape: []int64{-1}}},
		Outputs: []serving.TensorSpec{{Name: "a", DType: serving.Int64, Shape: []int64{-1}}, {Name: "b", DType: serving.Bytes, Shape: []int64{-1}}},
		Tabular: true}})
	add("pylist", "1", pythonModel(`[0.5, 1.5, NaN]`), serving.EndpointOptions{})
	add("columns", "1", echoModel("python"), serving.EndpointOptions{Signature: &serving.Signature{Tabular: true, Inputs: []serving.TensorSpec{
		{Name: "a", DType: serving.FP64, Shape: []int64{-1}},
		{Name: "b", DType: serving.Int64, Shape: []int64{-1}}}}})
	add("slow", "1", slowModel(f.release, f.started, false), serving.EndpointOptions{Concurrency: 1, Queue: -1})
	add("queued", "1", slowModel(f.release, f.started, true), serving.EndpointOptions{Concurrency: 1, Queue: 1, Timeout: 300 * time.Millisecond})
	add("sleepy", "1", slowModel(f.release, f.started, false), serving.EndpointOptions{Timeout: 100 * time.Millisecond})
	add("classifier", "1", &funcModel{info: serving.Info{Runtime: "onnxruntime"},
		fn: func(_ context.Context, in *serving.Input) (*serving.Output, error) {
			n := in.Rows()
			labels := make([]int64, n)
			probs := make([]float32, 0, 3*n)
			for i := range n {
				labels[i] = int64(i % 3)
				p := []float32{0.25, 0.25, 0.25}
				p[i%3] = 0.5
				probs = append(probs, p...)
			}
			return &serving.Output{Tensors: []serving.Tensor{
				{Name: "output_label", DType: serving.Int64, Shape: []int64{int64(n)}, Data: labels},
				{Name: "output_probability", DType: serving.FP32, Shape: []int64{int64(n), 3}, Data: probs}}}, nil
		}}, serving.EndpointOptions{})
	loading := serving.NewEndpoint("loading", "1", halfPlusTwo(), serving.EndpointOptions{})
	f.cat.add(loading)
	f.cat.models["loading"].loading = true
	logger := slog.New(slog.NewJSONHandler(f.log, nil))
	h := New(Options{Catalog: f.cat, Logger: logger, MaxBodyBytes: maxBody, Registerer: f.reg,
		Standalone: "half_plus_two", Version: "0.9.0", MLflowVersion: "3.1.0"})
	f.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		select {
		case <-f.release:
		default:
			close(f.release)
		}
		f.srv.Close()
	})
	return f
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("response %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (f *fixture) do(method, path, contentType, body string, header ...string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (f *fixture) get(path string) response { return f.do(http.MethodGet, path, "", "") }

func (f *fixture) post(path, body string) response {
	return f.do(http.MethodPost, path, "application/json", body)
}

// expect checks a status and an exact body.
func expect(t *testing.T, r response, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Errorf("got %d %s\nwant %d %s", r.status, r.body, status, body)
	}
}

// expectError checks a status and that the body is the protocol's error
// format with a message containing want.
func expectError(t *testing.T, r response, status int, proto, want string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	m := r.json(t)
	var msg string
	switch proto {
	case protoMLflow:
		if _, ok := m["error_code"].(string); !ok || len(m) != 2 {
			t.Errorf("body %s is not MLflow's error format", r.body)
		}
		msg, _ = m["message"].(string)
	default:
		if len(m) != 1 {
			t.Errorf("body %s is not {\"error\": ...}", r.body)
		}
		msg, _ = m["error"].(string)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error message %q does not contain %q", msg, want)
	}
}

// withName makes version "1" of a model served under name.
func withName(name string, m *funcModel) *serving.Endpoint {
	return serving.NewEndpoint(name, "1", m, serving.EndpointOptions{})
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
