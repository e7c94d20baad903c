package mlflowapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lode-ml/lode/tracking"
)

// logHistory logs n values of metric "loss" to a new run (step i,
// timestamp 1000+i) and returns the run's id.
func logHistory(t *testing.T, e *apiEnv, n int) string {
	t.Helper()
	ctx := context.Background()
	svc := e.api.Tracking
	x, err := svc.CreateExperiment(ctx, "history", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := svc.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: x})
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]tracking.Metric, 0, 1000)
	for i := range n {
		batch = append(batch, tracking.Metric{Key: "loss", Value: float64(i) / 4, Timestamp: 1000 + int64(i), Step: int64(i)})
		if len(batch) == cap(batch) || i == n-1 {
			if err := svc.LogBatch(ctx, run.Info.RunID, batch, nil, nil); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return run.Info.RunID
}

// historyPage is a decoded get-history answer.
type historyPage struct {
	Metrics []struct {
		Key       string  `json:"key"`
		Value     float64 `json:"value"`
		Timestamp int64   `json:"timestamp"`
		Step      int64   `json:"step"`
	} `json:"metrics"`
	NextPageToken string `json:"next_page_token"`
}

func (e *apiEnv) historyPage(prefix string, q url.Values) historyPage {
	e.t.Helper()
	r := e.get(prefix+"metrics/get-history", q)
	if r.Status != http.StatusOK {
		e.t.Fatalf("get-history %v: %s", q, r)
	}
	var h historyPage
	if err := json.Unmarshal(r.Body, &h); err != nil {
		e.t.Fatalf("get-history %v: %v", q, err)
	}
	return h
}

// Without max_results, get-history answers every value, as MLflow's
// server does, though the store is read a page at a time; with it, pages
// of that size, also across the store's own pages.
func TestMetricHistoryPages(t *testing.T) {
	e := newAPIEnv(t)
	n := 2*tracking.MetricHistoryPageSize + 17
	run := logHistory(t, e, n)
	check := func(what string, h historyPage, from, count int, more bool) {
		t.Helper()
		if len(h.Metrics) != count || (h.NextPageToken != "") != more {
			t.Fatalf("%s: %d values, next page token %q; want %d values, more: %v", what, len(h.Metrics), h.NextPageToken, count, more)
		}
		for i, m := range h.Metrics {
			if s := int64(from + i); m.Key != "loss" || m.Step != s || m.Timestamp != 1000+s || m.Value != float64(s)/4 {
				t.Fatalf("%s: value %d is %+v, want step %d", what, i, m, s)
			}
		}
	}
	for _, prefix := range []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"} {
		q := url.Values{"run_id": {run}, "metric_key": {"loss"}}
		check(prefix+" without max_results", e.historyPage(prefix, q), 0, n, false)

		q.Set("max_results", "30000")
		h := e.historyPage(prefix, q)
		check(prefix+" max_results 30000", h, 0, 30000, true)
		q.Set("page_token", h.NextPageToken)
		check(prefix+" max_results 30000, page 2", e.historyPage(prefix, q), 30000, n-30000, false)
		q.Del("max_results")
		check(prefix+" the rest after page 1", e.historyPage(prefix, q), 30000, n-30000, false)

		q = url.Values{"run_id": {run}, "metric_key": {"loss"}, "max_results": {fmt.Sprint(n)}}
		check(prefix+" max_results n", e.historyPage(prefix, q), 0, n, false)

		for _, bad := range []url.Values{
			{"run_id": {run}, "metric_key": {"loss"}, "max_results": {"0"}},
			{"run_id": {run}, "metric_key": {"loss"}, "max_results": {"-5"}},
			{"run_id": {run}, "metric_key": {"loss"}, "page_token": {"garbage!"}},
			{"run_id": {run}, "metric_key": {"loss"}, "page_token": {"eyJvZmZzZXQiOiAxfQ=="}}, // {"offset": 1}
		} {
			wantError(t, e.get(prefix+"metrics/get-history", bad), 400, "INVALID_PARAMETER_VALUE", fmt.Sprintf("get-history %v", bad))
		}
	}
}

// The streamed answer is the JSON the message has: protobuf's spellings
// of NaN and infinities, links only where set, no run_id.
func TestMetricHistoryJSON(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	svc := e.api.Tracking
	x, err := svc.CreateExperiment(ctx, "history-json", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := svc.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: x})
	if err != nil {
		t.Fatal(err)
	}
	id := run.Info.RunID
	lm, err := svc.CreateLoggedModel(ctx, tracking.CreateLoggedModelRequest{ExperimentID: x, Name: "m", SourceRunID: id})
	if err != nil {
		t.Fatal(err)
	}
	key := "path/like.key-name:x y"
	err = svc.LogBatch(ctx, id, []tracking.Metric{
		{Key: key, Value: math.NaN(), Timestamp: 1, Step: 0},
		{Key: key, Value: 1e-7, Timestamp: 2, Step: -1, ModelID: lm.ModelID, DatasetName: "ds", DatasetDigest: "d1"},
		{Key: key, Value: 2.5e300, Timestamp: 3, Step: 1 << 40, DatasetName: "ds"},
		{Key: key, Value: -0.125, Timestamp: 4, Step: 2},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"metrics":[{"key":"path/like.key-name:x y","value":"NaN","timestamp":1,"step":0},` +
		`{"key":"path/like.key-name:x y","value":1e-07,"timestamp":2,"step":-1,"model_id":"` + lm.ModelID + `","dataset_name":"ds","dataset_digest":"d1"},` +
		`{"key":"path/like.key-name:x y","value":2.5e+300,"timestamp":3,"step":1099511627776,"dataset_name":"ds"},` +
		`{"key":"path/like.key-name:x y","value":-0.125,"timestamp":4,"step":2}]}`
	q := url.Values{"run_id": {id}, "metric_key": {key}}
	if r := e.get("/api/2.0/mlflow/metrics/get-history", q); r.Status != 200 || string(r.Body) != want || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("get-history: %s (%s)\nwant %s", r, r.Header.Get("Content-Type"), want)
	}
	q.Set("max_results", "3")
	r := e.get("/api/2.0/mlflow/metrics/get-history", q)
	var h map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &h); err != nil || len(h) != 2 || h["next_page_token"] == nil {
		t.Errorf("get-history page of 3: %s", r)
	}
	if r := e.get("/api/2.0/mlflow/metrics/get-history", url.Values{"run_id": {id}, "metric_key": {"other"}}); string(r.Body) != `{}` {
		t.Errorf("get-history of an unlogged key: %s, want {}", r)
	}
}

// Reading a long history at once costs the server memory in the size of
// a page, not of the history: 300,000 values held at once as the store's
// metrics, the message and its JSON take over 100 MB of heap; read and
// written a page at a time, 15-35 MB.
func TestMetricHistoryMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("logs 300,000 values")
	}
	e := newAPIEnv(t)
	const n = 300_000
	run := logHistory(t, e, n)
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	runtime.GC()
	base := heap()
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			peak.Store(max(peak.Load(), heap()))
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	res, err := e.srv.Client().Get(e.srv.URL + "/api/2.0/mlflow/metrics/get-history?" +
		url.Values{"run_id": {run}, "metric_key": {"loss"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	// Count the values without keeping the answer: one '{' each, and the
	// message's own.
	var braces countBraces
	_, err = io.Copy(&braces, res.Body)
	res.Body.Close()
	close(done)
	<-stopped
	if err != nil {
		t.Fatal(err)
	}
	if braces != n+1 {
		t.Fatalf("get-history: %d values, want %d", braces-1, n)
	}
	grew := peak.Load() - base
	t.Logf("heap: %.1f MB before, at most %.1f MB more while answering", float64(base)/1e6, float64(grew)/1e6)
	if grew > 64<<20 {
		t.Errorf("the heap grew by %.1f MB while answering a history of %d values; want it bounded by the page size", float64(grew)/1e6, n)
	}
}

type countBraces int

func (c *countBraces) Write(b []byte) (int, error) {
	for _, x := range b {
		if x == '{' {
			*c++
		}
	}
	return len(b), nil
}
