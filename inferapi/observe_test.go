package inferapi

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lode-ml/lode"
)

// postAsync sends a request from another goroutine (no t.Fatal there).
func (f *fixture) postAsync(path, body string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		resp, err := http.Post(f.srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			ch <- response{status: -1, body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}()
	return ch
}

const oneInput = `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}`

func TestOverloaded(t *testing.T) {
	f := newFixture(t, 0)
	first := f.postAsync("/v2/models/slow/infer", oneInput)
	<-f.started
	// One slot, no queue: the next request is refused at once, in each
	// protocol's format.
	expectError(t, f.post("/v2/models/slow/infer", oneInput), 429, protoKServe, "overloaded")
	expectError(t, f.post("/v1/models/slow:predict", `{"instances": [1]}`), 429, protoTF, "overloaded")
	r := f.post("/endpoints/slow/invocations", `{"instances": [1]}`)
	expectError(t, r, 429, protoMLflow, "overloaded")
	if code := r.json(t)["error_code"]; code != "RESOURCE_EXHAUSTED" {
		t.Errorf("error_code %v", code)
	}
	// The collector sees the request in flight.
	if v := gauge(t, f.reg, "lode_serving_inflight_requests", "slow", "1"); v != 1 {
		t.Errorf("inflight %v, want 1", v)
	}
	close(f.release)
	if r := <-first; r.status != 200 {
		t.Errorf("first request: %d %s", r.status, r.body)
	}
}

func TestQueueTimeout(t *testing.T) {
	f := newFixture(t, 0)
	// "queued" runs one request and queues one; its timeout is 300ms, and
	// its model ignores it.
	first := f.postAsync("/v1/models/queued:predict", `{"instances": [1]}`)
	<-f.started
	second := f.postAsync("/v1/models/queued:predict", `{"instances": [2]}`)
	deadline := time.Now().Add(2 * time.Second)
	for gauge(t, f.reg, "lode_serving_queue_depth", "queued", "1") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the second request never queued")
		}
		time.Sleep(5 * time.Millisecond)
	}
	expectError(t, f.post("/v1/models/queued:predict", `{"instances": [3]}`), 429, protoTF, "overloaded")
	// The queued request gives up waiting (503).
	expectError(t, <-second, 503, protoTF, "timed out waiting")
	close(f.release)
	if r := <-first; r.status != 200 {
		t.Errorf("first request: %d %s", r.status, r.body)
	}
}

func TestModelDeadline(t *testing.T) {
	f := newFixture(t, 0)
	expectError(t, f.post("/endpoints/sleepy/invocations", `{"instances": [1]}`), 504, protoMLflow, "did not answer within 100ms")
	expectError(t, f.post("/v2/models/sleepy/infer", oneInput), 504, protoKServe, "did not answer within 100ms")
}

// metric finds one gathered metric by name and labels.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

func gauge(t *testing.T, reg *prometheus.Registry, name, model, version string) float64 {
	t.Helper()
	m := metric(t, reg, name, map[string]string{"model": model, "version": version})
	if m == nil {
		t.Fatalf("no %s{model=%q,version=%q}", name, model, version)
	}
	return m.GetGauge().GetValue()
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, 0)
	f.post("/v1/models/half_plus_two:predict", `{"instances": [1.0]}`)
	f.post("/v1/models/half_plus_two:predict", `{"instances": [1.0]}`)
	f.post("/v1/models/half_plus_two:predict", `{"instances": "x"}`)
	f.post("/v2/models/half_plus_two/versions/2/infer", oneInput)
	f.post("/invocations", `{"instances": [1.0]}`)
	f.post("/v1/models/nope:predict", `{"instances": [1.0]}`)
	f.post("/v1/models/half_plus_two/versions/9:predict", `{"instances": [1.0]}`)
	f.get("/v1/models/half_plus_two")

	counter := func(model, version, proto, code string) float64 {
		m := metric(t, f.reg, "lode_serving_requests_total", map[string]string{"model": model, "version": version, "protocol": proto, "code": code})
		if m == nil {
			return 0
		}
		return m.GetCounter().GetValue()
	}
	checks := []struct {
		model, version, proto, code string
		want                        float64
	}{
		{"half_plus_two", "3", "tfserving", "200", 2},
		{"half_plus_two", "3", "tfserving", "400", 1},
		{"half_plus_two", "2", "kserve", "200", 1},
		{"half_plus_two", "3", "mlflow", "200", 1},
		{"", "", "tfserving", "404", 1},
		{"half_plus_two", "", "tfserving", "404", 1},
	}
	for _, c := range checks {
		if got := counter(c.model, c.version, c.proto, c.code); got != c.want {
			t.Errorf("requests{%s,%s,%s,%s} = %v, want %v", c.model, c.version, c.proto, c.code, got, c.want)
		}
	}
	h := metric(t, f.reg, "lode_serving_request_duration_seconds", map[string]string{"model": "half_plus_two", "version": "3", "protocol": "tfserving"})
	if h == nil || h.GetHistogram().GetSampleCount() != 3 || len(h.GetHistogram().GetBucket()) != len(durationBuckets) {
		t.Errorf("duration histogram %v", h)
	}
	if v := gauge(t, f.reg, "lode_serving_model_load_seconds", "half_plus_two", "3"); v != 1.5 {
		t.Errorf("load seconds %v", v)
	}
	if v := gauge(t, f.reg, "lode_serving_queue_depth", "half_plus_two", "3"); v != 0 {
		t.Errorf("queue depth %v", v)
	}
	if m := metric(t, f.reg, "lode_serving_queue_depth", map[string]string{"model": "loading"}); m != nil {
		t.Error("a loading model has gauges")
	}
	// Status calls are not inference requests.
	if m := metric(t, f.reg, "lode_serving_requests_total", map[string]string{"code": "200", "protocol": "tfserving", "version": "2"}); m != nil {
		t.Errorf("status call counted: %v", m)
	}

	// A second handler on the same registry shares the collectors.
	New(Options{Catalog: f.cat, Registerer: f.reg})
}

func TestAccessLog(t *testing.T) {
	f := newFixture(t, 0)
	body := `{"instances": [1.0, 2.0, 5.0]}`
	r := f.post("/v1/models/half_plus_two:predict", body)
	f.get("/v2/health/live")
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(f.log.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d access log lines: %s", len(lines), f.log.String())
	}
	l := lines[0]
	want := map[string]any{"level": "INFO", "method": "POST", "path": "/v1/models/half_plus_two:predict", "status": 200.0,
		"bytes_in": float64(len(body)), "bytes_out": float64(len(r.body)), "protocol": "tfserving", "model": "half_plus_two", "version": "3"}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("log %s = %v, want %v", k, l[k], v)
		}
	}
	if _, ok := l["duration_ms"].(float64); !ok {
		t.Errorf("no duration_ms in %v", l)
	}
	if s, _ := l["remote"].(string); !strings.HasPrefix(s, "127.0.0.1:") {
		t.Errorf("remote %v", l["remote"])
	}
	if strings.Contains(f.log.String(), "instances") {
		t.Error("the log holds the request body")
	}
	if lines[1]["protocol"] != "kserve" || lines[1]["status"] != 200.0 {
		t.Errorf("health line %v", lines[1])
	}
}

func TestNoAccessLog(t *testing.T) {
	var buf syncBuffer
	cat := newCatalog()
	cat.add(withName("sleepy", slowModel(make(chan struct{}), nil, false)))
	h := New(Options{Catalog: cat, NoAccessLog: true, Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	f := &fixture{t: t, srv: newServer(t, h)}
	f.get("/v2/health/live")
	f.post("/v2/models/nope/infer", oneInput)
	if buf.String() != "" {
		t.Errorf("logged %s", buf.String())
	}
	// Failures are still logged.
	h.fail(httptest.NewRecorder(), httptest.NewRequest("GET", "/v2", nil), &call{proto: protoKServe}, lode.Internal(io.EOF, "Internal error."))
	if !strings.Contains(buf.String(), `"level":"ERROR"`) || !strings.Contains(buf.String(), "EOF") {
		t.Errorf("failure not logged: %s", buf.String())
	}
}
