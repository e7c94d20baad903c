package web

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode/tracking"
)

// seedCompare makes an experiment with n finished runs: params alpha and
// l1_ratio differ between runs, solver is the same in all, and rmse and
// mae have steps histories (rmse falls faster with a smaller alpha).
func seedCompare(t *testing.T, s *site, n, steps int) []string {
	t.Helper()
	ctx := context.Background()
	exp, err := s.Tracking.CreateExperiment(ctx, fmt.Sprintf("wine-%d", n), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour).UnixMilli()
	var ids []string
	for i := 0; i < n; i++ {
		run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: exp, RunName: fmt.Sprintf("run-%d", i), StartTime: start})
		if err != nil {
			t.Fatal(err)
		}
		id := run.Info.RunID
		// A small grid search, varied enough for the charts to show something.
		alpha := []float64{0.1, 0.5, 0.3, 1, 0.05, 0.7, 0.2}[i%7] * float64(1+i/7%3)
		l1 := []float64{0.2, 0.9, 0.5, 0.1, 0.7, 0.4}[i%6]
		params := []tracking.Param{
			{Key: "alpha", Value: strconv.FormatFloat(alpha, 'g', 4, 64)},
			{Key: "l1_ratio", Value: strconv.FormatFloat(l1, 'g', 4, 64)},
			{Key: "solver", Value: "saga"},
		}
		final := 0.6 + 0.15*math.Abs(alpha-0.4) + 0.1*l1
		var ms []tracking.Metric
		for step := 0; step < steps; step++ {
			ts := start + int64(step)*1000 + int64(i)*37
			rmse := final + (1-final/2)*math.Exp(-float64(step)/float64(steps)*(2+alpha*3))
			ms = append(ms, tracking.Metric{Key: "rmse", Value: rmse, Step: int64(step), Timestamp: ts},
				tracking.Metric{Key: "mae", Value: rmse * 0.8, Step: int64(step), Timestamp: ts})
		}
		if err := s.Tracking.LogBatch(ctx, id, ms, params, []tracking.Tag{{Key: "team", Value: "wine"}}); err != nil {
			t.Fatal(err)
		}
		end := start + int64(steps)*1000
		if _, err := s.Tracking.UpdateRun(ctx, id, tracking.RunFinished, &end, ""); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestComparePage(t *testing.T) {
	s := newSite(t)
	ids := seedCompare(t, s, 6, 50)
	page := "/compare?runs=" + strings.Join(ids, ",")

	// Without a browser: the tables, and the answers to bad URLs.
	code, body := s.get(t, page)
	if code != 200 || !strings.Contains(body, "run-5") || !strings.Contains(body, `href="/runs/`+ids[0]+`"`) {
		t.Fatalf("compare page: %d\n%s", code, body)
	}
	for _, c := range []struct {
		path, want string
		code       int
	}{
		{"/compare?runs=" + ids[0] + ",deadbeef", "deadbeef", 404},
		{"/compare?runs=nope,../etc", "&#39;nope&#39;, &#39;../etc&#39;", 404},
		{"/compare", "No runs to compare", 400},
		{"/compare?runs=,,", "No runs to compare", 400},
		// A run named 101 times is one run, under the limit of 100.
		{"/compare?runs=" + strings.Repeat(ids[0]+",", 101), "Comparing 1 run<", 200},
	} {
		code, body := s.get(t, c.path)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d, want %d with %q\n%s", c.path, code, c.code, c.want, body)
		}
	}
	var many []string
	for i := 0; i < 101; i++ {
		many = append(many, fmt.Sprintf("r%d", i))
	}
	if code, body := s.get(t, "/compare?runs="+strings.Join(many, ",")); code != 400 || !strings.Contains(body, "more than 100") {
		t.Errorf("101 runs: %d\n%s", code, body)
	}

	b := newBrowser(t, s)
	started := time.Now()
	b.visit(t, page)
	b.waitFor(t, "the metric charts", `window.LodeCompare && LodeCompare.chartsReady`)
	t.Logf("6 runs: page and 2 charts drawn in %v", time.Since(started).Round(time.Millisecond))

	// One series per run in each overlaid chart, in uPlot and its legend.
	var n int
	b.eval(t, `LodeCompare.charts.rmse.series.length - 1`, &n)
	if n != 6 {
		t.Errorf("rmse chart has %d series, want 6", n)
	}
	b.eval(t, `document.querySelectorAll('.chart[data-metric="rmse"] .u-legend .u-series').length - 1`, &n)
	if n != 6 {
		t.Errorf("rmse legend has %d runs, want 6", n)
	}
	if !b.canvasDrawn(t, `#metric-charts canvas`) {
		t.Error("metric charts are blank")
	}
	if !b.canvasDrawn(t, `#parallel canvas`) || !b.canvasDrawn(t, `#scatter canvas`) {
		t.Error("parallel coordinates or scatter blank")
	}
	var axes []string
	b.eval(t, `LodeCompare.axes`, &axes)
	if strings.Join(axes, ",") != "params.alpha,params.l1_ratio,metrics.mae,metrics.rmse" {
		t.Errorf("default axes: %v", axes)
	}

	// The params diff marks alpha, not solver; "only differences" hides
	// solver and says so in the URL.
	var marked []string
	b.eval(t, `[...document.querySelectorAll('#params-table tr.differ')].map((r) => r.dataset.key)`, &marked)
	if strings.Join(marked, ",") != "alpha,l1_ratio" {
		t.Errorf("differing params: %v", marked)
	}
	b.run(t, chromedp.Click("#only-diff"))
	var hidden bool
	b.eval(t, `getComputedStyle(document.querySelector('#params-table tr[data-key="solver"]')).display === "none" && location.search.includes("diff=1")`, &hidden)
	if !hidden {
		t.Error("only differences: solver still shown, or diff=1 not in the URL")
	}

	// The scatter's axes are chosen with its selects and kept in the URL.
	b.run(t, chromedp.SetValue("#sx", "params.l1_ratio", chromedp.ByQuery))
	b.eval(t, `document.getElementById("sx").dispatchEvent(new Event("change")); true`, nil)
	var search string
	b.eval(t, `location.search`, &search)
	if !strings.Contains(search, "sx=params.l1_ratio") || !strings.Contains(search, "sy=metrics.mae") {
		t.Errorf("scatter axes not in the URL: %s", search)
	}
	var xLabel string
	b.eval(t, `LodeCompare.scatter.axes[0].label`, &xLabel)
	if xLabel != "l1_ratio (param)" || !b.canvasDrawn(t, `#scatter canvas`) {
		t.Errorf("scatter after choosing x: label %q", xLabel)
	}
	// Hovering a dot of the scatter, or a line of the parallel
	// coordinates, names its run.
	hover := func(what, pointJS string) string {
		t.Helper()
		var p struct{ X, Y float64 }
		b.eval(t, pointJS, &p)
		b.run(t, chromedp.MouseEvent(input.MouseMoved, p.X, p.Y))
		b.waitFor(t, what+" tooltip", `!document.getElementById("compare-tip").hidden`)
		return b.text(t, "#compare-tip")
	}
	got := hover("scatter", `(() => { document.getElementById("scatter-card").scrollIntoView(); const u = LodeCompare.scatter, r = u.over.getBoundingClientRect();
		return {x: r.left + u.valToPos(u.data[0][0], "x"), y: r.top + u.valToPos(u.data[1][0], "y")}; })()`)
	if !strings.Contains(got, "run-") || !strings.Contains(got, "l1_ratio: ") {
		t.Errorf("scatter tooltip: %q", got)
	}
	b.run(t, chromedp.MouseEvent(input.MouseMoved, 5, 5))
	got = hover("parallel", `(() => { document.getElementById("parallel-card").scrollIntoView(); const r = document.querySelector("#parallel canvas").getBoundingClientRect();
		const [a, c] = LodeCompare.parallelLines[3]; return {x: r.left + (a[0] + c[0]) / 2, y: r.top + (a[1] + c[1]) / 2}; })()`)
	if !strings.HasPrefix(got, "run-3") || !strings.Contains(got, "alpha: 1") {
		t.Errorf("parallel coordinates tooltip: %q", got)
	}
	b.run(t, chromedp.MouseEvent(input.MouseMoved, 5, 5))
	b.screenshot(t, "compare")
	b.noErrors(t)

	// A shared URL brings its view back: one metric on relative time, two
	// axes, the scatter's columns, only differences.
	b.visit(t, page+"&metric=rmse&x=relative&log=1&axes=params.alpha,metrics.rmse&sx=params.alpha&sy=metrics.rmse&diff=1")
	b.waitFor(t, "the rmse chart", `window.LodeCompare && LodeCompare.chartsReady`)
	var state struct {
		Charts []string
		Axes   []string
		XLabel string
		Only   bool
		Series int
	}
	b.eval(t, `({charts: Object.keys(LodeCompare.charts), axes: LodeCompare.axes, xLabel: LodeCompare.charts.rmse.axes[0].label,
		only: document.getElementById("only-diff").checked, series: LodeCompare.charts.rmse.series.length - 1})`, &state)
	if strings.Join(state.Charts, ",") != "rmse" || strings.Join(state.Axes, ",") != "params.alpha,metrics.rmse" ||
		!strings.HasPrefix(state.XLabel, "Relative time") || !state.Only || state.Series != 6 {
		t.Errorf("view from the URL: %+v", state)
	}
	if !b.canvasDrawn(t, `#parallel canvas`) || !b.canvasDrawn(t, `#metric-charts canvas`) {
		t.Error("charts blank in the shared view")
	}
	// Picking an axis adds it last, in the URL.
	b.run(t, chromedp.Click(".axes-picker summary"), chromedp.Click(`#axes-list input[value="params.l1_ratio"]`))
	b.eval(t, `location.search`, &search)
	if !strings.Contains(search, "axes=params.alpha%2Cmetrics.rmse%2Cparams.l1_ratio") {
		t.Errorf("axes not in the URL: %s", search)
	}
	b.screenshot(t, "compare-shared")
	b.noErrors(t)

	// A run with nothing logged, next to one with NaN: nothing to chart,
	// and no script error for it.
	ctx := context.Background()
	bare, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{RunName: "bare"})
	if err != nil {
		t.Fatal(err)
	}
	odd, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{RunName: "odd"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tracking.LogBatch(ctx, odd.Info.RunID, []tracking.Metric{{Key: "loss", Value: math.NaN(), Timestamp: 1}},
		[]tracking.Param{{Key: "opt", Value: "adam"}}, nil); err != nil {
		t.Fatal(err)
	}
	b.visit(t, "/compare?runs="+bare.Info.RunID+","+odd.Info.RunID)
	b.waitFor(t, "the empty view", `window.LodeCompare && LodeCompare.chartsReady`)
	if got := b.text(t, "#metrics-table"); !strings.Contains(got, "NaN") {
		t.Errorf("NaN metric: %q", got)
	}
	var unset int
	b.eval(t, `document.querySelectorAll('#params-table tr[data-key="opt"].differ td.unset').length`, &unset)
	if unset != 1 {
		t.Errorf("the bare run's missing param: %d unset cells", unset)
	}
	b.screenshot(t, "compare-empty")
	b.noErrors(t)

	// A bad id in the browser: the error page, no script errors.
	b.visit(t, "/compare?runs=nope")
	if got := b.text(t, ".error-message"); !strings.Contains(got, "'nope'") {
		t.Errorf("bad id page: %q", got)
	}
	// Chromium logs the page's own 404 as an error: that one is expected.
	b.mu.Lock()
	var others []string
	for _, e := range b.errors {
		if !strings.Contains(e, "status of 404") || !strings.Contains(e, "/compare?runs=nope") {
			others = append(others, e)
		}
	}
	b.errors = others
	b.mu.Unlock()
	b.noErrors(t)
}

// TestCompareManyRuns measures the view at its limit: 100 runs with 300
// steps of two metrics each.
func TestCompareManyRuns(t *testing.T) {
	s := newSite(t)
	ids := seedCompare(t, s, 100, 300)
	page := "/compare?runs=" + strings.Join(ids, ",")
	started := time.Now()
	if code, _ := s.get(t, page); code != 200 {
		t.Fatalf("100 runs: %d", code)
	}
	t.Logf("100 runs: server rendered the page in %v", time.Since(started).Round(time.Millisecond))
	api := "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?metric_key=rmse&max_results=500&run_ids=" + strings.Join(ids, "&run_ids=")
	started = time.Now()
	if code, body := s.get(t, api); code != 200 || strings.Count(body, `"run_id"`) != 100*300 {
		t.Fatalf("bulk interval: %d, %d points", code, strings.Count(body, `"run_id"`))
	}
	t.Logf("100 runs: get-history-bulk-interval of one metric (30000 points) in %v", time.Since(started).Round(time.Millisecond))
	b := newBrowser(t, s)
	b.visit(t, "/compare?runs="+ids[0]) // start the browser up before timing
	for _, x := range []string{"step", "relative"} {
		started := time.Now()
		b.visit(t, page+"&x="+x)
		b.waitFor(t, "the metric charts", `window.LodeCompare && LodeCompare.chartsReady`)
		var ms int
		b.eval(t, `LodeCompare.chartsMs`, &ms)
		t.Logf("100 runs, x=%s: page and 2 charts drawn in %v (fetching and drawing the charts: %d ms)", x, time.Since(started).Round(time.Millisecond), ms)
		var n int
		b.eval(t, `LodeCompare.charts.rmse.series.length - 1`, &n)
		if n != 100 {
			t.Errorf("rmse chart has %d series, want 100", n)
		}
		if !b.canvasDrawn(t, `#metric-charts canvas`) || !b.canvasDrawn(t, `#parallel canvas`) || !b.canvasDrawn(t, `#scatter canvas`) {
			t.Error("a chart is blank")
		}
	}
	b.screenshot(t, "compare-100")
	b.noErrors(t)
}

// Parallel coordinates take categorical params (their categories are the
// axis's ticks); the scatter's axes go on a log scale, leaving out, with
// a note, the runs a log scale cannot place.
func TestCompareCategoricalAndLog(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	exp, err := s.Tracking.CreateExperiment(ctx, "optimizers", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := []string{"sgd", "adam", "rmsprop", "adam", "sgd", "lion"}
	var ids []string
	for i, o := range opts {
		run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: exp, RunName: fmt.Sprintf("run-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		lr := []string{"0.1", "0.01", "0.001", "0.0001", "1", "0.03"}[i]
		loss := []float64{0.9, 0.2, 0.05, 0.4, 0, 0.003}[i] // run-4's 0 has no place on a log scale
		params := []tracking.Param{{Key: "optimizer", Value: o}, {Key: "lr", Value: lr}, {Key: "id", Value: fmt.Sprintf("x-%d", i)}}
		if err := s.Tracking.LogBatch(ctx, run.Info.RunID, []tracking.Metric{{Key: "loss", Value: loss, Timestamp: 1}}, params, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.Info.RunID)
	}
	b := newBrowser(t, s)
	b.visit(t, "/compare?runs="+strings.Join(ids, ",")+"&axes=params.optimizer,params.lr,metrics.loss&sx=params.lr&sy=metrics.loss")
	b.waitFor(t, "the charts", `window.LodeCompare && LodeCompare.chartsReady`)

	var cols []struct {
		ID   string
		Cats []string
	}
	b.eval(t, `LodeCompare.columns.map((c) => ({id: c.id, cats: c.cats || []}))`, &cols)
	var got []string
	for _, c := range cols {
		got = append(got, c.ID+"["+strings.Join(c.Cats, " ")+"]")
	}
	// Categories in natural order; "id" (6 values) is a category axis too.
	if want := "params.id[x-0 x-1 x-2 x-3 x-4 x-5],params.lr[],params.optimizer[adam lion rmsprop sgd],metrics.loss[]"; strings.Join(got, ",") != want {
		t.Errorf("columns %s, want %s", strings.Join(got, ","), want)
	}
	var ticks []string
	b.eval(t, `LodeCompare.parallelTicks["params.optimizer"]`, &ticks)
	if strings.Join(ticks, ",") != "adam,lion,rmsprop,sgd" {
		t.Errorf("optimizer axis ticks %v", ticks)
	}
	// Each run's line crosses the optimizer axis at its category: adam
	// (runs 1 and 3) at the same height, below sgd (runs 0 and 4).
	var ys []float64
	b.eval(t, `LodeCompare.parallelLines.map((l) => l[0][1])`, &ys)
	if len(ys) != 6 || ys[1] != ys[3] || ys[0] != ys[4] || !(ys[1] > ys[0]) {
		t.Errorf("heights on the optimizer axis %v", ys)
	}
	if !b.canvasDrawn(t, "#parallel canvas") {
		t.Error("parallel coordinates blank")
	}
	// The scatter offers numbers only.
	var options []string
	b.eval(t, `[...document.querySelectorAll("#sx option")].map((o) => o.value)`, &options)
	if strings.Join(options, ",") != "params.lr,metrics.loss" {
		t.Errorf("scatter offers %v", options)
	}

	// Log scales on both axes: run-4 (loss 0) is left out, and said so.
	b.run(t, chromedp.Click("#slogx"), chromedp.Click("#slogy"))
	var sc struct {
		Points  int
		LeftOut int
		DistrX  int
		DistrY  int
		Note    string
		Search  string
	}
	b.eval(t, `({points: LodeCompare.scatter.data[0].length, leftOut: LodeCompare.scatterLeftOut, distrX: LodeCompare.scatter.scales.x.distr,
		distrY: LodeCompare.scatter.scales.y.distr, note: document.getElementById("scatter-note").hidden ? "" : document.getElementById("scatter-note").textContent,
		search: location.search})`, &sc)
	if sc.Points != 5 || sc.LeftOut != 1 || sc.DistrX != 3 || sc.DistrY != 3 || !strings.Contains(sc.Note, "1 run with a value of zero or less on the log x or y axis is left out") ||
		!strings.Contains(sc.Search, "slogx=1") || !strings.Contains(sc.Search, "slogy=1") {
		t.Errorf("log scatter: %+v", sc)
	}
	if !b.canvasDrawn(t, "#scatter canvas") {
		t.Error("log scatter blank")
	}
	// loss was logged once per run, at step 0: its chart centres step 0
	// rather than making up an axis from 0 to 100.
	b.waitFor(t, "the metric charts", `LodeCompare.chartsReady`)
	var xr []float64
	b.eval(t, `[LodeCompare.charts.loss.scales.x.min, LodeCompare.charts.loss.scales.x.max]`, &xr)
	if len(xr) != 2 || xr[0] >= 0 || xr[1] <= 0 || xr[1] > 10 {
		t.Errorf("the x axis of a metric logged at one step: %v, want around 0", xr)
	}
	b.run(t, chromedp.Evaluate(`document.getElementById("scatter-card").scrollIntoView()`, nil))
	b.screenshot(t, "compare-categorical-log")
	// Back to a linear y: every run has a positive lr, so none is left out.
	b.run(t, chromedp.Click("#slogy"))
	b.eval(t, `({points: LodeCompare.scatter.data[0].length, leftOut: LodeCompare.scatterLeftOut, distrX: LodeCompare.scatter.scales.x.distr,
		distrY: LodeCompare.scatter.scales.y.distr, note: "", search: location.search})`, &sc)
	if sc.Points != 6 || sc.LeftOut != 0 || sc.DistrX != 3 || sc.DistrY != 1 || strings.Contains(sc.Search, "slogy") {
		t.Errorf("log x only: %+v", sc)
	}
	b.noErrors(t)
}
