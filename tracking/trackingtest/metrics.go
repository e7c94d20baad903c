package trackingtest

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

var logBatchTests = []test{
	{"Metrics", testLogBatchMetrics},
	{"LatestMetric", testLatestMetric},
	{"ParamsImmutable", testParamsImmutable},
	{"AtomicBatch", testLogBatchAtomic},
	{"Tags", testLogBatchTags},
	{"Limits", testLogBatchLimits},
	{"ModelMetrics", testLogBatchModelMetrics},
}

var metricHistoryTests = []test{
	{"Order", testMetricHistoryOrder},
	{"Duplicates", testMetricHistoryDuplicates},
	{"Pagination", testMetricHistoryPagination},
	{"PagesMixed", testMetricHistoryPagesMixed},
	{"PagesLong", testMetricHistoryPagesLong},
	{"PagesStable", testMetricHistoryPagesStable},
	{"PageTokens", testMetricHistoryPageTokens},
	{"BulkInterval", testBulkInterval},
	{"BulkIntervalRepeatedSteps", testBulkIntervalRepeatedSteps},
	{"BulkIntervalMaxResultsOne", testBulkIntervalMaxResultsOne},
}

// m is a short Metric constructor: key, value, timestamp, step.
func m(key string, value float64, ts, step int64) tracking.Metric {
	return tracking.Metric{Key: key, Value: value, Timestamp: ts, Step: step}
}

func checkMetric(e *env, what string, got tracking.Metric, key string, value float64, ts, step int64) {
	e.Helper()
	if got.Key != key || !sameFloat(got.Value, value) || got.Timestamp != ts || got.Step != step {
		e.Errorf("%s: got %s=%v (ts %d, step %d), want %s=%v (ts %d, step %d)",
			what, got.Key, got.Value, got.Timestamp, got.Step, key, value, ts, step)
	}
}

func testLogBatchMetrics(e *env) {
	x := e.createExperiment("metrics")
	id := e.newRun(x, "r")
	e.logBatch(id, []tracking.Metric{
		m("loss", 1.5, 100, 0), m("loss", 1.25, 101, 1), m("loss", 1.0, 102, 2),
		m("nan", math.NaN(), 100, 0),
		m("inf", math.Inf(1), 100, 0),
		m("ninf", math.Inf(-1), 100, 0),
		m("neg", 3, 100, -5),
		m("big", 1e300, 0, math.MaxInt32*4),
		m("tiny", -1e-300, 100, 0),
		m("path/like.key-name:x y", 7, 100, 0),
	}, nil, nil)

	r := e.getRun(id)
	want := map[string]tracking.Metric{
		"loss":                   m("loss", 1.0, 102, 2),
		"nan":                    m("nan", math.NaN(), 100, 0),
		"inf":                    m("inf", math.MaxFloat64, 100, 0),
		"ninf":                   m("ninf", -math.MaxFloat64, 100, 0),
		"neg":                    m("neg", 3, 100, -5),
		"big":                    m("big", 1e300, 0, math.MaxInt32*4),
		"tiny":                   m("tiny", -1e-300, 100, 0),
		"path/like.key-name:x y": m("path/like.key-name:x y", 7, 100, 0),
	}
	if len(r.Metrics) != len(want) {
		e.Errorf("run has %d latest metrics, want %d: %+v", len(r.Metrics), len(want), r.Metrics)
	}
	for k, w := range want {
		got, ok := latestMetric(r, k)
		if !ok {
			e.Errorf("latest metric %s missing", k)
			continue
		}
		checkMetric(e, "latest "+k, got, w.Key, w.Value, w.Timestamp, w.Step)
	}

	if h := e.history(id, "loss"); len(h) != 3 {
		e.Errorf("loss history has %d values, want 3", len(h))
	}
	for k, w := range want {
		if k == "loss" {
			continue
		}
		h := e.history(id, k)
		if len(h) != 1 {
			e.Errorf("%s history has %d values, want 1", k, len(h))
			continue
		}
		checkMetric(e, "history "+k, h[0], w.Key, w.Value, w.Timestamp, w.Step)
	}

	// The same key at many steps, in one batch and over several.
	var batch []tracking.Metric
	for i := range 500 {
		batch = append(batch, m("many", float64(i), int64(1000+i), int64(i)))
	}
	e.logBatch(id, batch, nil, nil)
	e.logBatch(id, batch[:10], nil, nil) // exact duplicates: ignored
	for i := 500; i < 510; i++ {
		e.must(e.svc.LogMetric(e.ctx, id, m("many", float64(i), int64(1000+i), int64(i))), "LogMetric")
	}
	if h := e.history(id, "many"); len(h) != 510 {
		e.Errorf("many history has %d values, want 510", len(h))
	}
	got, _ := latestMetric(e.getRun(id), "many")
	checkMetric(e, "latest many", got, "many", 509, 1509, 509)

	e.wantCode(e.svc.LogMetric(e.ctx, id, m("bad//key", 1, 1, 0)), lode.EInvalid, "LogMetric with an invalid key")
	e.wantCode(e.svc.LogMetric(e.ctx, id, m("neg-ts", 1, -1, 0)), lode.EInvalid, "LogMetric with a negative timestamp")
}

// The latest value of a metric is the one with the greatest
// (step, timestamp, value), as MLflow's SQL store keeps latest_metrics.
func testLatestMetric(e *env) {
	x := e.createExperiment("latest")
	id := e.newRun(x, "r")
	latest := func(key string) tracking.Metric {
		e.Helper()
		got, ok := latestMetric(e.getRun(id), key)
		if !ok {
			e.Fatalf("latest %s missing", key)
		}
		return got
	}
	steps := []struct {
		batch       []tracking.Metric
		value       float64
		ts, step    int64
		explanation string
	}{
		{[]tracking.Metric{m("a", 5, 10, 1)}, 5, 10, 1, "first value"},
		{[]tracking.Metric{m("a", 9, 100, 0)}, 5, 10, 1, "lower step, later timestamp: not latest"},
		{[]tracking.Metric{m("a", 100, 5, 1)}, 5, 10, 1, "same step, earlier timestamp: not latest"},
		{[]tracking.Metric{m("a", 6, 10, 1)}, 6, 10, 1, "same step and timestamp, greater value: latest"},
		{[]tracking.Metric{m("a", 1, 10, 1)}, 6, 10, 1, "same step and timestamp, smaller value: not latest"},
		{[]tracking.Metric{m("a", -3, 11, 1)}, -3, 11, 1, "same step, later timestamp: latest"},
		{[]tracking.Metric{m("a", 1, 1, 2), m("a", 0, 0, 3), m("a", 5, 5, 2)}, 0, 0, 3, "greatest step within a batch"},
		{[]tracking.Metric{m("a", 7, 0, 3), m("a", 2, 9, -4)}, 7, 0, 3, "value breaks a tie within a batch"},
	}
	for _, s := range steps {
		e.logBatch(id, s.batch, nil, nil)
		checkMetric(e, s.explanation, latest("a"), "a", s.value, s.ts, s.step)
	}

	// Negative steps come before step 0.
	e.logBatch(id, []tracking.Metric{m("neg", 1, 1, 0)}, nil, nil)
	e.logBatch(id, []tracking.Metric{m("neg", 100, 100, -1)}, nil, nil)
	checkMetric(e, "negative step after step 0", latest("neg"), "neg", 1, 1, 0)
	e.logBatch(id, []tracking.Metric{m("neg2", 100, 100, -10), m("neg2", 1, 1, -2)}, nil, nil)
	checkMetric(e, "negative steps", latest("neg2"), "neg2", 1, 1, -2)

	// A NaN at a later step is the latest value, and reads back as NaN.
	e.logBatch(id, []tracking.Metric{m("n", 1, 1, 0)}, nil, nil)
	e.logBatch(id, []tracking.Metric{m("n", math.NaN(), 1, 1)}, nil, nil)
	checkMetric(e, "NaN at a later step", latest("n"), "n", math.NaN(), 1, 1)
	e.logBatch(id, []tracking.Metric{m("n", 2, 2, 2)}, nil, nil)
	checkMetric(e, "a value after NaN", latest("n"), "n", 2, 2, 2)

	// Infinities are stored as ±MaxFloat64 and compare as such.
	e.logBatch(id, []tracking.Metric{m("i", math.Inf(1), 1, 0), m("i", math.Inf(-1), 1, 0)}, nil, nil)
	checkMetric(e, "+Inf beats -Inf", latest("i"), "i", math.MaxFloat64, 1, 0)
}

func testParamsImmutable(e *env) {
	x := e.createExperiment("params")
	id := e.newRun(x, "r")
	e.must(e.svc.LogParam(e.ctx, id, tracking.Param{Key: "lr", Value: "0.1"}), "LogParam")
	e.must(e.svc.LogParam(e.ctx, id, tracking.Param{Key: "lr", Value: "0.1"}), "LogParam same value")
	e.logBatch(id, nil, []tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "opt", Value: "adam"}}, nil)
	e.wantCode(e.svc.LogParam(e.ctx, id, tracking.Param{Key: "lr", Value: "0.2"}), lode.EInvalid, "LogParam other value")
	e.wantCode(e.store.LogBatch(e.ctx, id, nil, []tracking.Param{{Key: "lr", Value: "0.2"}}, nil), lode.EInvalid, "Store.LogBatch param with other value")
	e.wantCode(e.store.LogBatch(e.ctx, id, nil, []tracking.Param{{Key: "opt", Value: "adam"}, {Key: "lr", Value: ""}}, nil), lode.EInvalid, "Store.LogBatch param changed to empty")

	r := e.getRun(id)
	if v, _ := paramValue(r.Params, "lr"); v != "0.1" {
		e.Errorf("param lr = %q after rejected change, want 0.1", v)
	}
	if len(r.Params) != 2 {
		e.Errorf("params %v, want lr and opt", r.Params)
	}

	// An empty value is a value; long values are truncated by the service.
	e.must(e.svc.LogParam(e.ctx, id, tracking.Param{Key: "empty", Value: ""}), "LogParam empty value")
	long := make([]byte, tracking.MaxParamValueLength+10)
	for i := range long {
		long[i] = 'x'
	}
	e.must(e.svc.LogParam(e.ctx, id, tracking.Param{Key: "long", Value: string(long)}), "LogParam long value")
	r = e.getRun(id)
	if v, ok := paramValue(r.Params, "empty"); !ok || v != "" {
		e.Errorf("param empty = %q (present %v)", v, ok)
	}
	if v, _ := paramValue(r.Params, "long"); len(v) != tracking.MaxParamValueLength {
		e.Errorf("long param has %d bytes, want %d", len(v), tracking.MaxParamValueLength)
	}
	e.wantCode(e.svc.LogBatch(e.ctx, id, nil, []tracking.Param{{Key: "d", Value: "1"}, {Key: "d", Value: "1"}}, nil), lode.EInvalid, "LogBatch with a duplicate param key")

	// Params are per run.
	other := e.newRun(x, "other")
	e.must(e.svc.LogParam(e.ctx, other, tracking.Param{Key: "lr", Value: "0.5"}), "LogParam on another run")
}

// A batch that fails (here: a param changed) stores nothing: not its
// metrics, not its other params, not its tags.
func testLogBatchAtomic(e *env) {
	x := e.createExperiment("atomic")
	id := e.newRun(x, "before")
	e.logBatch(id, nil, []tracking.Param{{Key: "p", Value: "1"}}, nil)

	check := func(what string) {
		e.Helper()
		r := e.getRun(id)
		if len(r.Metrics) != 0 {
			e.Errorf("%s: metrics of a failed batch stored: %+v", what, r.Metrics)
		}
		if h := e.history(id, "m"); len(h) != 0 {
			e.Errorf("%s: metric history of a failed batch stored: %+v", what, h)
		}
		if len(r.Params) != 1 {
			e.Errorf("%s: params of a failed batch stored: %+v", what, r.Params)
		}
		if _, ok := tagValue(r.Tags, "t"); ok {
			e.Errorf("%s: tag of a failed batch stored", what)
		}
		if r.Info.RunName != "before" {
			e.Errorf("%s: run renamed by a failed batch to %q", what, r.Info.RunName)
		}
	}
	metrics := []tracking.Metric{m("m", 1, 1, 0), m("m", 2, 2, 1)}
	tags := []tracking.Tag{{Key: "t", Value: "v"}, {Key: tracking.TagRunName, Value: "after"}}

	// Conflicting param first, last, through the service and the store.
	e.wantCode(e.svc.LogBatch(e.ctx, id, metrics, []tracking.Param{{Key: "p", Value: "2"}, {Key: "q", Value: "3"}}, tags), lode.EInvalid, "LogBatch with a changed param")
	check("service, conflict first")
	e.wantCode(e.svc.LogBatch(e.ctx, id, metrics, []tracking.Param{{Key: "q", Value: "3"}, {Key: "p", Value: "2"}}, tags), lode.EInvalid, "LogBatch with a changed param")
	check("service, conflict last")
	e.wantCode(e.store.LogBatch(e.ctx, id, metrics, []tracking.Param{{Key: "q", Value: "3"}, {Key: "p", Value: "2"}}, tags), lode.EInvalid, "Store.LogBatch with a changed param")
	check("store")

	// Then the same batch without the conflict is stored whole.
	e.logBatch(id, metrics, []tracking.Param{{Key: "q", Value: "3"}, {Key: "p", Value: "1"}}, tags)
	r := e.getRun(id)
	if len(r.Metrics) != 1 || len(r.Params) != 2 || r.Info.RunName != "after" {
		e.Errorf("good batch: %+v", r)
	}
	if h := e.history(id, "m"); len(h) != 2 {
		e.Errorf("good batch: %d metric values, want 2", len(h))
	}
}

func testLogBatchTags(e *env) {
	x := e.createExperiment("batch-tags")
	id := e.newRun(x, "first")
	e.logBatch(id, nil, nil, []tracking.Tag{{Key: "t", Value: "a"}, {Key: "u", Value: "1"}})
	e.logBatch(id, nil, nil, []tracking.Tag{{Key: "t", Value: "b"}})
	r := e.getRun(id)
	if v, _ := tagValue(r.Tags, "t"); v != "b" || countTags(r.Tags, "t") != 1 {
		e.Errorf("tag t = %q (%d times), want b once", v, countTags(r.Tags, "t"))
	}
	if v, _ := tagValue(r.Tags, "u"); v != "1" {
		e.Errorf("tag u = %q, want 1", v)
	}
	// Within a batch the last value of a key wins, as in MLflow.
	e.logBatch(id, nil, nil, []tracking.Tag{{Key: "w", Value: "1"}, {Key: "w", Value: "2"}})
	if v, _ := tagValue(e.getRun(id).Tags, "w"); v != "2" {
		e.Errorf("tag w = %q after a batch setting it twice, want 2", v)
	}

	// mlflow.runName renames the run.
	e.logBatch(id, nil, nil, []tracking.Tag{{Key: tracking.TagRunName, Value: "second"}})
	r = e.getRun(id)
	if r.Info.RunName != "second" {
		e.Errorf("run name %q after logging %s, want second", r.Info.RunName, tracking.TagRunName)
	}
	if v, _ := tagValue(r.Tags, tracking.TagRunName); v != "second" || countTags(r.Tags, tracking.TagRunName) != 1 {
		e.Errorf("%s tag %q (%d times)", tracking.TagRunName, v, countTags(r.Tags, tracking.TagRunName))
	}
	if info, _ := e.store.GetRunInfo(e.ctx, id); info == nil || info.RunName != "second" {
		e.Errorf("GetRunInfo name = %+v, want second", info)
	}
	runs, _ := e.searchRuns([]string{x}, "attributes.run_name = 'second'", nil, tracking.ActiveOnly, 0, "")
	if len(runs) != 1 {
		e.Errorf("search by the new name found %d runs", len(runs))
	}
}

func testLogBatchLimits(e *env) {
	x := e.createExperiment("limits")
	id := e.newRun(x, "r")
	metrics := func(n int) []tracking.Metric {
		out := make([]tracking.Metric, n)
		for i := range out {
			out[i] = m("m", float64(i), int64(i), int64(i))
		}
		return out
	}
	params := func(n int) []tracking.Param {
		out := make([]tracking.Param, n)
		for i := range out {
			out[i] = tracking.Param{Key: fmt.Sprintf("p%d", i), Value: "v"}
		}
		return out
	}
	tags := func(n int) []tracking.Tag {
		out := make([]tracking.Tag, n)
		for i := range out {
			out[i] = tracking.Tag{Key: fmt.Sprintf("t%d", i), Value: "v"}
		}
		return out
	}
	e.wantCode(e.svc.LogBatch(e.ctx, id, metrics(1001), nil, nil), lode.EInvalid, "LogBatch with 1001 metrics")
	e.wantCode(e.svc.LogBatch(e.ctx, id, nil, params(101), nil), lode.EInvalid, "LogBatch with 101 params")
	e.wantCode(e.svc.LogBatch(e.ctx, id, nil, nil, tags(101)), lode.EInvalid, "LogBatch with 101 tags")
	e.wantCode(e.svc.LogBatch(e.ctx, id, metrics(1000), params(1), nil), lode.EInvalid, "LogBatch with 1001 entities")
	if len(e.history(id, "m")) != 0 || len(e.getRun(id).Params) != 0 {
		e.Errorf("a rejected batch stored data")
	}
	e.logBatch(id, metrics(1000), nil, nil)
	e.logBatch(id, metrics(900), params(100), nil)
	e.logBatch(id, nil, nil, tags(100))
	if n := len(e.history(id, "m")); n != 1000 {
		e.Errorf("history after a 1000-metric batch has %d values", n)
	}
	r := e.getRun(id)
	if len(r.Params) != 100 || len(r.Tags) != 101 {
		e.Errorf("run has %d params and %d tags, want 100 and 101", len(r.Params), len(r.Tags))
	}
	// An empty batch is fine.
	e.logBatch(id, nil, nil, nil)
}

// Metrics logged with a model id are also the logged model's metrics.
func testLogBatchModelMetrics(e *env) {
	x := e.createExperiment("model-metrics")
	id := e.newRun(x, "r")
	lm, err := e.svc.CreateLoggedModel(e.ctx, tracking.CreateLoggedModelRequest{ExperimentID: x, Name: "model", SourceRunID: id})
	e.must(err, "CreateLoggedModel")
	mt := tracking.Metric{Key: "acc", Value: 0.75, Timestamp: 5, Step: 2, ModelID: lm.ModelID, DatasetName: "ds", DatasetDigest: "abc"}
	e.logBatch(id, []tracking.Metric{mt}, nil, nil)
	got, err := e.svc.GetLoggedModel(e.ctx, lm.ModelID)
	e.must(err, "GetLoggedModel")
	if len(got.Metrics) != 1 {
		e.Fatalf("logged model metrics %+v, want one", got.Metrics)
	}
	g := got.Metrics[0]
	if g.Key != "acc" || g.Value != 0.75 || g.Timestamp != 5 || g.Step != 2 || g.RunID != id ||
		g.DatasetName != "ds" || g.DatasetDigest != "abc" {
		e.Errorf("logged model metric %+v, want %+v with run id %s", g, mt, id)
	}
	// It is a run metric too.
	h := e.history(id, "acc")
	if len(h) != 1 {
		e.Fatalf("run history of a model metric %+v, want one value", h)
	}
	checkMetric(e, "run history of a model metric", h[0], "acc", 0.75, 5, 2)
}

func testMetricHistoryOrder(e *env) {
	x := e.createExperiment("history")
	id := e.newRun(x, "r")
	in := []tracking.Metric{
		m("h", 3, 30, 1), m("h", 1, 10, 5), m("h", 2, 10, 2), m("h", -1, 10, 2),
		m("h", math.NaN(), 40, 0), m("h", math.Inf(1), 20, 0), m("h", 0, 20, 0),
	}
	e.logBatch(id, in[:3], nil, nil)
	e.logBatch(id, in[3:], nil, nil)
	e.logBatch(id, []tracking.Metric{m("other", 1, 1, 1)}, nil, nil)
	want := []tracking.Metric{
		m("h", -1, 10, 2), m("h", 2, 10, 2), m("h", 1, 10, 5),
		m("h", 0, 20, 0), m("h", math.MaxFloat64, 20, 0),
		m("h", 3, 30, 1), m("h", math.NaN(), 40, 0),
	}
	got := e.history(id, "h")
	if len(got) != len(want) {
		e.Fatalf("history has %d values, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		checkMetric(e, fmt.Sprintf("history[%d]", i), got[i], w.Key, w.Value, w.Timestamp, w.Step)
	}
	if h := e.history(id, "never-logged"); len(h) != 0 {
		e.Errorf("history of an unlogged key: %+v", h)
	}
	// Keys are exact: no prefix matching.
	if h := e.history(id, "H"); len(h) != 0 {
		e.Errorf("history of key H: %+v", h)
	}
}

// MLflow's SQL store keeps one row per (key, timestamp, step, value): an
// exact duplicate, in the same batch or a later one, collapses.
func testMetricHistoryDuplicates(e *env) {
	x := e.createExperiment("dupes")
	id := e.newRun(x, "r")
	e.logBatch(id, []tracking.Metric{m("d", 1, 1, 0), m("d", 1, 1, 0), m("d", 2, 1, 0), m("d", 1, 2, 0), m("d", 1, 1, 1)}, nil, nil)
	e.logBatch(id, []tracking.Metric{m("d", 1, 1, 0), m("d", math.NaN(), 1, 0)}, nil, nil)
	e.logBatch(id, []tracking.Metric{m("d", math.NaN(), 1, 0)}, nil, nil)
	e.must(e.svc.LogMetric(e.ctx, id, m("d", 2, 1, 0)), "LogMetric duplicate")
	got := e.history(id, "d")
	// (1,ts1,s0), (2,ts1,s0), (1,ts2,s0), (1,ts1,s1), (NaN,ts1,s0)
	if len(got) != 5 {
		e.Errorf("history has %d values, want 5 distinct: %+v", len(got), got)
	}
	nan := 0
	for _, v := range got {
		if math.IsNaN(v.Value) {
			nan++
		}
	}
	if nan != 1 {
		e.Errorf("%d NaN values in history, want 1", nan)
	}
}

func testMetricHistoryPagination(e *env) {
	x := e.createExperiment("history-pages")
	id := e.newRun(x, "r")
	var in []tracking.Metric
	for i := range 9 {
		in = append(in, m("p", float64(i%3), int64(100-i), int64(i)))
	}
	e.logBatch(id, in, nil, nil)
	full := e.history(id, "p")
	if len(full) != 9 {
		e.Fatalf("history has %d values, want 9", len(full))
	}
	for _, size := range []int{1, 2, 3, 4, 9, 10} {
		var walked []tracking.Metric
		token := ""
		pages := 0
		for {
			page, next, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: id, Key: "p", MaxResults: size, PageToken: token})
			e.must(err, "GetMetricHistory page")
			pages++
			if len(page) > size {
				e.Errorf("page of %d with max_results %d", len(page), size)
			}
			walked = append(walked, page...)
			if next == "" {
				break
			}
			if pages > 20 {
				e.Fatalf("history pagination does not end")
			}
			token = next
		}
		if want := (9 + size - 1) / size; pages != want {
			e.Errorf("max_results %d: %d pages, want %d", size, pages, want)
		}
		if len(walked) != len(full) {
			e.Errorf("max_results %d: pages hold %d values, want %d", size, len(walked), len(full))
			continue
		}
		for i := range full {
			w := full[i]
			checkMetric(e, fmt.Sprintf("max_results %d, value %d", size, i), walked[i], w.Key, w.Value, w.Timestamp, w.Step)
		}
	}
	_, _, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: id, Key: "p", MaxResults: 2, PageToken: "garbage!"})
	e.wantCode(err, lode.EInvalid, "GetMetricHistory with a bad page token")
	_, _, err = e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: id, Key: "p", MaxResults: -1})
	e.wantCode(err, lode.EInvalid, "GetMetricHistory with negative max_results")
	_, _, err = e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: id})
	e.wantCode(err, lode.EInvalid, "GetMetricHistory without a key")
}

// walkHistory reads a metric's history in pages of size, checking that
// no page is larger and that the last page alone has no token.
func (e *env) walkHistory(runID, key string, size int) []tracking.Metric {
	e.Helper()
	var all []tracking.Metric
	token := ""
	for pages := 1; ; pages++ {
		page, next, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: runID, Key: key, MaxResults: size, PageToken: token})
		e.must(err, fmt.Sprintf("GetMetricHistory page %d of %d", pages, size))
		if len(page) > size || (next != "" && len(page) != size) {
			e.Fatalf("page %d: %d values (next page token %q) with max_results %d", pages, len(page), next, size)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		if pages > 10000 {
			e.Fatalf("history pagination does not end")
		}
		token = next
	}
}

// sameHistory checks got against want value by value, links included.
func (e *env) sameHistory(what string, got, want []tracking.Metric) {
	e.Helper()
	if len(got) != len(want) {
		e.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Key != w.Key || !sameFloat(g.Value, w.Value) || g.Timestamp != w.Timestamp || g.Step != w.Step ||
			g.ModelID != w.ModelID || g.DatasetName != w.DatasetName || g.DatasetDigest != w.DatasetDigest {
			e.Errorf("%s: value %d is %+v, want %+v", what, i, g, w)
			return
		}
	}
}

// Pages split anywhere, also between values that differ in value alone,
// on NaN and infinities and on repeats that collapse.
func testMetricHistoryPagesMixed(e *env) {
	x := e.createExperiment("history-pages-mixed")
	id := e.newRun(x, "r")
	lm, err := e.svc.CreateLoggedModel(e.ctx, tracking.CreateLoggedModelRequest{ExperimentID: x, Name: "model", SourceRunID: id})
	e.must(err, "CreateLoggedModel")
	linked := m("p", 0.5, 10, 1)
	linked.ModelID, linked.DatasetName, linked.DatasetDigest = lm.ModelID, "ds", "abc"
	e.logBatch(id, []tracking.Metric{
		m("p", 1, 10, 1), m("p", math.NaN(), 10, 1), m("p", -1, 10, 1), m("p", 0, 10, 1),
		m("p", 7, 30, 0), m("p", math.Inf(1), 20, 2), m("p", math.Inf(-1), 20, 2),
	}, nil, nil)
	e.logBatch(id, []tracking.Metric{
		m("p", math.Copysign(0, -1), 10, 1), // the same as 0: collapses
		m("p", math.NaN(), 10, 1), m("p", 1, 10, 1), m("p", 2, 5, 9), linked,
		m("p", 3, 20, 1), m("p", 3, 20, 1),
	}, nil, nil)
	// The repeat of the linked value, unlinked, collapses into the first.
	e.logBatch(id, []tracking.Metric{m("p", 7, 30, 0), m("p", 0, math.MaxInt64, math.MinInt64), m("p", 0, 0, 0), m("p", 0.5, 10, 1)}, nil, nil)
	full := e.history(id, "p")
	if len(full) != 12 {
		e.Fatalf("history has %d values, want 12: %+v", len(full), full)
	}
	if i := slices.IndexFunc(full, func(x tracking.Metric) bool { return x.Value == 0.5 }); i < 0 || full[i].ModelID != lm.ModelID || full[i].DatasetName != "ds" {
		e.Errorf("the linked value lost its links to a later repeat: %+v", full)
	}
	for i := 1; i < len(full); i++ {
		a, b := full[i-1], full[i]
		if a.Timestamp > b.Timestamp || (a.Timestamp == b.Timestamp && a.Step > b.Step) {
			e.Errorf("history out of order at %d: %+v before %+v", i, a, b)
		}
	}
	for _, size := range []int{1, 2, 3, 4, 5, 11, 12, 13, tracking.MetricHistoryPageSize} {
		e.sameHistory(fmt.Sprintf("pages of %d", size), e.walkHistory(id, "p", size), full)
	}
}

// A history logged out of order over many chunks, with repeats, reads the
// same in pages of any size as in one piece.
func testMetricHistoryPagesLong(e *env) {
	x := e.createExperiment("history-pages-long")
	id := e.newRun(x, "r")
	const n = 3000
	rng := rand.New(rand.NewPCG(13, 1))
	var in []tracking.Metric
	for i := range n {
		// Few distinct timestamps, so that steps and values order too.
		in = append(in, m("p", float64(rng.IntN(5)), int64(i/10), int64(rng.IntN(4))))
		if i%7 == 0 {
			in = append(in, in[rng.IntN(len(in))])
		}
	}
	rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
	for len(in) > 0 {
		k := min(len(in), 1+rng.IntN(200))
		e.logBatch(id, in[:k], nil, nil)
		in = in[k:]
	}
	full := e.history(id, "p")
	if len(full) == 0 || len(full) > n {
		e.Fatalf("history has %d values", len(full))
	}
	for i := 1; i < len(full); i++ {
		a, b := full[i-1], full[i]
		if a.Timestamp > b.Timestamp || (a.Timestamp == b.Timestamp && (a.Step > b.Step || (a.Step == b.Step && a.Value >= b.Value))) {
			e.Fatalf("history out of order or repeating at %d: %+v before %+v", i, a, b)
		}
	}
	for _, size := range []int{7, 100, 1000, len(full) - 1, len(full)} {
		e.sameHistory(fmt.Sprintf("pages of %d", size), e.walkHistory(id, "p", size), full)
	}
}

// A page token names where its page ended, not how many values preceded
// it: values logged between two pages, before that point or after it,
// neither repeat nor skip what the next page holds.
func testMetricHistoryPagesStable(e *env) {
	x := e.createExperiment("history-pages-stable")
	id := e.newRun(x, "r")
	e.logBatch(id, []tracking.Metric{m("p", 1, 10, 0), m("p", 2, 20, 0), m("p", 3, 30, 0), m("p", 4, 40, 0)}, nil, nil)
	page, next, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: id, Key: "p", MaxResults: 2})
	e.must(err, "GetMetricHistory page 1")
	if len(page) != 2 || next == "" {
		e.Fatalf("page 1: %+v, next page token %q", page, next)
	}
	// Before the first page's end, at it (a value after its last), after it.
	e.logBatch(id, []tracking.Metric{m("p", 9, 5, 0), m("p", 2.5, 20, 0), m("p", 3.5, 35, 0)}, nil, nil)
	rest, next, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: id, Key: "p", MaxResults: 10, PageToken: next})
	e.must(err, "GetMetricHistory page 2")
	if next != "" {
		e.Errorf("page 2: next page token %q, want none", next)
	}
	want := []tracking.Metric{m("p", 2.5, 20, 0), m("p", 3, 30, 0), m("p", 3.5, 35, 0), m("p", 4, 40, 0)}
	e.sameHistory("page 2 after more values were logged", rest, want)
}

func testMetricHistoryPageTokens(e *env) {
	x := e.createExperiment("history-page-tokens")
	id := e.newRun(x, "r")
	e.logBatch(id, []tracking.Metric{m("p", 1, 10, 0), m("p", 2, 20, 0), m("p", 3, 30, 0)}, nil, nil)
	for _, tok := range []string{
		"garbage!",
		base64.StdEncoding.EncodeToString([]byte(`{"offset": 1}`)), // a search's token, not a history's
		base64.StdEncoding.EncodeToString([]byte(`{}`)),
		base64.StdEncoding.EncodeToString([]byte(`[1, 2]`)),
		base64.StdEncoding.EncodeToString([]byte(`{"timestamp": "x"}`)),
	} {
		_, _, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: id, Key: "p", MaxResults: 2, PageToken: tok})
		e.wantCode(err, lode.EInvalid, "GetMetricHistory with page token "+tok)
	}
	// A token read back without max_results gives all that follows.
	_, next, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: id, Key: "p", MaxResults: 1})
	e.must(err, "GetMetricHistory page 1")
	rest, last, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: id, Key: "p", PageToken: next})
	e.must(err, "GetMetricHistory rest")
	if last != "" {
		e.Errorf("the rest of a history: next page token %q, want none", last)
	}
	e.sameHistory("the rest of a history", rest, []tracking.Metric{m("p", 2, 20, 0), m("p", 3, 30, 0)})
	// Another key's token names a place in time, valid for any key.
	other, _, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: id, Key: "never-logged", PageToken: next})
	e.must(err, "GetMetricHistory of another key with a token")
	if len(other) != 0 {
		e.Errorf("history of an unlogged key with a token: %+v", other)
	}
}

// bulkFixture logs metric "m" at steps 0..99 (timestamp = step) on run a
// and steps 0..9 on run b.
func bulkFixture(e *env) (a, b string) {
	x := e.createExperiment("bulk")
	a, b = e.newRun(x, "a"), e.newRun(x, "b")
	var ma, mb []tracking.Metric
	for i := range 100 {
		ma = append(ma, m("m", float64(i)/10, int64(i), int64(i)))
		if i < 10 {
			mb = append(mb, m("m", float64(i), int64(i), int64(i)))
		}
	}
	e.logBatch(a, ma, nil, nil)
	e.logBatch(b, mb, nil, nil)
	e.logBatch(a, []tracking.Metric{m("other", 1, 1, 1)}, nil, nil)
	return a, b
}

// byRun groups bulk-interval results by run id, checking each is ordered
// by (step, timestamp, value).
func byRun(e *env, ms []tracking.Metric) map[string][]tracking.Metric {
	e.Helper()
	out := map[string][]tracking.Metric{}
	for _, mt := range ms {
		if mt.Key != "m" {
			e.Errorf("bulk interval returned key %q", mt.Key)
		}
		out[mt.RunID] = append(out[mt.RunID], mt)
	}
	for id, ms := range out {
		if !sort.SliceIsSorted(ms, func(i, j int) bool {
			if ms[i].Step != ms[j].Step {
				return ms[i].Step < ms[j].Step
			}
			if ms[i].Timestamp != ms[j].Timestamp {
				return ms[i].Timestamp < ms[j].Timestamp
			}
			return ms[i].Value < ms[j].Value
		}) {
			e.Errorf("bulk interval values of run %s not in step order", id)
		}
	}
	return out
}

func steps(ms []tracking.Metric) []int64 {
	out := make([]int64, len(ms))
	for i, mt := range ms {
		out[i] = mt.Step
	}
	return out
}

func testBulkInterval(e *env) {
	a, b := bulkFixture(e)
	bulk := func(ids []string, start, end *int64, max int) map[string][]tracking.Metric {
		e.Helper()
		ms, err := e.svc.GetMetricHistoryBulkInterval(e.ctx, ids, "m", start, end, max)
		e.must(err, "GetMetricHistoryBulkInterval")
		return byRun(e, ms)
	}

	// Everything when max_results allows it (0 means MLflow's default 2500).
	got := bulk([]string{a, b}, nil, nil, 0)
	if len(got[a]) != 100 || len(got[b]) != 10 {
		e.Errorf("default max_results: %d and %d values, want 100 and 10", len(got[a]), len(got[b]))
	}
	for i, mt := range got[a] {
		checkMetric(e, "bulk value", mt, "m", float64(i)/10, int64(i), int64(i))
	}

	// At most max_results per run, evenly spread, keeping first and last.
	got = bulk([]string{a, b}, nil, nil, 10)
	if len(got[b]) != 10 {
		e.Errorf("run b (10 values), max_results 10: %d values", len(got[b]))
	}
	sa := steps(got[a])
	if len(sa) != 10 || sa[0] != 0 || sa[len(sa)-1] != 99 {
		e.Errorf("run a (100 steps), max_results 10: steps %v, want 10 from 0 to 99", sa)
	}
	for i := 1; i < len(sa); i++ {
		if gap := sa[i] - sa[i-1]; gap < 5 || gap > 20 {
			e.Errorf("steps %v not evenly spread", sa)
			break
		}
	}

	// A step range.
	got = bulk([]string{a, b}, i64(20), i64(40), 5)
	sa = steps(got[a])
	if len(sa) < 2 || len(sa) > 5 || sa[0] != 20 || sa[len(sa)-1] != 40 {
		e.Errorf("steps [20, 40], max_results 5: %v", sa)
	}
	if len(got[b]) != 0 {
		e.Errorf("run b has no step in [20, 40], got %v", steps(got[b]))
	}
	got = bulk([]string{b}, i64(-5), i64(3), 100)
	if sb := steps(got[b]); !slices.Equal(sb, []int64{0, 1, 2, 3}) {
		e.Errorf("run b steps [-5, 3]: %v", sb)
	}
	got = bulk([]string{a}, i64(7), i64(7), 10)
	if sa := steps(got[a]); !slices.Equal(sa, []int64{7}) {
		e.Errorf("run a steps [7, 7]: %v", sa)
	}

	// Only the asked key and runs.
	ms, err := e.svc.GetMetricHistoryBulkInterval(e.ctx, []string{b}, "other", nil, nil, 10)
	e.must(err, "GetMetricHistoryBulkInterval other")
	if len(ms) != 0 {
		e.Errorf("run b has no metric other, got %+v", ms)
	}

	// Validation.
	for _, c := range []struct {
		ids        []string
		key        string
		start, end *int64
		max        int
		what       string
	}{
		{nil, "m", nil, nil, 10, "no run ids"},
		{[]string{a}, "", nil, nil, 10, "no key"},
		{[]string{a}, "m", i64(1), nil, 10, "start without end"},
		{[]string{a}, "m", nil, i64(1), 10, "end without start"},
		{[]string{a}, "m", i64(5), i64(1), 10, "start after end"},
		{[]string{a}, "m", nil, nil, tracking.MaxResultsBulkInterval + 1, "max_results too large"},
		{[]string{a}, "m", nil, nil, -1, "negative max_results"},
		{make([]string, tracking.MaxRunsBulkInterval+1), "m", nil, nil, 10, "too many runs"},
	} {
		_, err := e.svc.GetMetricHistoryBulkInterval(e.ctx, c.ids, c.key, c.start, c.end, c.max)
		e.wantCode(err, lode.EInvalid, "GetMetricHistoryBulkInterval "+c.what)
	}
}

// The Store contract (and MLflow 3's store) bounds the points returned per
// run by max_results even when many values share a step, e.g. the step 0
// of log_metric calls without a step.
func testBulkIntervalRepeatedSteps(e *env) {
	x := e.createExperiment("bulk-repeat")
	id := e.newRun(x, "r")
	var in []tracking.Metric
	for i := range 50 {
		in = append(in, m("m", float64(i), int64(i), 0))
	}
	in = append(in, m("m", 99, 100, 1))
	e.logBatch(id, in, nil, nil)
	ms, err := e.svc.GetMetricHistoryBulkInterval(e.ctx, []string{id}, "m", nil, nil, 10)
	e.must(err, "GetMetricHistoryBulkInterval")
	got := byRun(e, ms)[id]
	if len(got) > 10 {
		e.Errorf("max_results 10 over 51 values (50 at step 0): %d values returned", len(got))
	}
	if len(got) < 2 {
		e.Fatalf("max_results 10 over 51 values: %d values returned", len(got))
	}
	checkMetric(e, "first value", got[0], "m", 0, 0, 0)
	checkMetric(e, "last value", got[len(got)-1], "m", 99, 100, 1)
}

// With max_results 1 MLflow 3's store returns each run's last point.
func testBulkIntervalMaxResultsOne(e *env) {
	a, b := bulkFixture(e)
	ms, err := e.svc.GetMetricHistoryBulkInterval(e.ctx, []string{a, b}, "m", nil, nil, 1)
	e.must(err, "GetMetricHistoryBulkInterval")
	got := byRun(e, ms)
	if len(got[a]) != 1 || len(got[b]) != 1 {
		e.Fatalf("max_results 1: %d and %d values, want 1 each", len(got[a]), len(got[b]))
	}
	checkMetric(e, "run a, max_results 1", got[a][0], "m", 9.9, 99, 99)
	checkMetric(e, "run b, max_results 1", got[b][0], "m", 9, 9, 9)
}
