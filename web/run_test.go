package web

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

// runFixture is a finished run as a training job leaves it: params, tags
// (its job's among them), a loss and an accuracy curve, system metrics,
// and artifacts: a log, JSON, CSV, images, a logged model (registered as
// a version) and a deep folder.
type runFixture struct {
	ID    string
	ExpID string
	Root  string // the run's artifact folder in the store
	Start int64  // first metric timestamp (ms)
}

const fixtureMLmodel = `artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.9
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.1
mlflow_version: 2.16.2
model_size_bytes: 1234
model_uuid: 0f6a3c1e2d5b4c7a9e8f1a2b3c4d5e6f
run_id: RUNID
signature:
  inputs: '[{"type": "double", "name": "sepal length (cm)", "required": true}, {"type": "double", "name": "petal width (cm)", "required": false}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: null
utc_time_created: '2024-09-01 10:00:00.000000'
`

func newRunFixture(t *testing.T, s *site) runFixture {
	t.Helper()
	ctx := context.Background()
	exp, err := s.Tracking.CreateExperiment(ctx, "iris", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 9, 1, 10, 0, 0, 0, time.UTC).UnixMilli()
	run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{
		ExperimentID: exp, UserID: "ada", StartTime: start, RunName: "sturdy-heron-42",
		Tags: []tracking.Tag{
			{Key: "lode.job.id", Value: "j-0001"}, {Key: "mlflow.source.type", Value: "JOB"},
			{Key: "mlflow.source.name", Value: "python train.py --epochs 200"},
			{Key: "mlflow.source.git.commit", Value: "3f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e"},
			{Key: "team", Value: "vision"}, {Key: "mlflow.note.content", Value: "Baseline <b>not bold</b>."},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := run.Info.RunID
	var ms []tracking.Metric
	for i := 0; i < 200; i++ {
		ts := start + int64(i)*1500
		loss := 2*math.Exp(-float64(i)/40) + 0.1*math.Sin(float64(i))
		ms = append(ms,
			tracking.Metric{Key: "loss", Value: loss, Timestamp: ts, Step: int64(i + 1)},
			tracking.Metric{Key: "accuracy", Value: 1 - loss/3, Timestamp: ts, Step: int64(i + 1)})
		if i%10 == 0 {
			ms = append(ms,
				tracking.Metric{Key: "system/cpu_seconds", Value: float64(i) * 0.8, Timestamp: ts, Step: int64(i / 10)},
				tracking.Metric{Key: "system/memory_rss_megabytes", Value: 300 + float64(i%7), Timestamp: ts, Step: int64(i / 10)})
		}
	}
	// One value only, and a NaN: charts must cope with both.
	ms = append(ms, tracking.Metric{Key: "test_f1", Value: 0.93, Timestamp: start + 300000, Step: 0},
		tracking.Metric{Key: "grad_norm", Value: math.NaN(), Timestamp: start, Step: 0},
		tracking.Metric{Key: "grad_norm", Value: 1.5, Timestamp: start + 1000, Step: 1},
		tracking.Metric{Key: "grad_norm", Value: 1.2, Timestamp: start + 2000, Step: 2})
	params := []tracking.Param{{Key: "lr", Value: "0.001"}, {Key: "epochs", Value: "200"}, {Key: "optimizer", Value: "adam"}}
	if err := s.Tracking.LogBatch(ctx, id, ms, params, nil); err != nil {
		t.Fatal(err)
	}
	end := start + 200*1500
	if _, err := s.Tracking.UpdateRun(ctx, id, tracking.RunFinished, &end, ""); err != nil {
		t.Fatal(err)
	}
	root := strings.TrimPrefix(run.Info.ArtifactURI, mlflowapi.ArtifactScheme+"/")
	put := func(p string, b []byte) {
		t.Helper()
		if err := s.Artifacts.Put(ctx, root+"/"+p, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	put("train.log", []byte("epoch 1 loss 2.0\nepoch 2 loss 1.5 <script>alert(1)</script>\n"))
	put("metrics/summary.json", []byte(`{"best":{"loss":0.11,"epoch":187},"classes":["setosa","versicolor"]}`))
	var csv strings.Builder
	csv.WriteString("sepal_length,species\n")
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&csv, "%.1f,kind-%d\n", 4+float64(i)/50, i)
	}
	put("data/predictions.csv", []byte(csv.String()))
	put("plots/confusion.png", testPNG(t))
	put("plots/curve.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="60" height="40"><script>alert(1)</script><rect width="60" height="40" fill="#2f6f8f"/></svg>`))
	put("model/MLmodel", []byte(strings.ReplaceAll(fixtureMLmodel, "RUNID", id)))
	put("model/model.pkl", []byte{0x80, 0x04, 0x95, 0x00, 0x00, 'x', 0x00})
	put("model/requirements.txt", []byte("scikit-learn==1.5.1\n"))
	put("deep/a/b/c/d/e/f/g/leaf.txt", []byte("found me\n"))

	if _, err := s.Registry.CreateModel(ctx, "iris-classifier", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry.CreateVersion(ctx, registry.CreateVersionRequest{Name: "iris-classifier", Source: "runs:/" + id + "/model", RunID: id}); err != nil {
		t.Fatal(err)
	}
	return runFixture{ID: id, ExpID: exp, Root: root, Start: start}
}

// testPNG is a small two-colour PNG.
func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			c := color.RGBA{47, 111, 143, 255}
			if x > y {
				c = color.RGBA{224, 160, 48, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRunPage(t *testing.T) {
	s := newSite(t)
	f := newRunFixture(t, s)

	// Without a browser: what the server renders, and bad ids.
	code, body := s.get(t, "/runs/"+f.ID)
	if code != 200 {
		t.Fatalf("run page: %d\n%s", code, body)
	}
	for _, want := range []string{
		"sturdy-heron-42", `class="pill FINISHED"`, `href="/experiments/` + f.ExpID + `"`, ">iris<",
		`href="/jobs/j-0001"`, "python train.py --epochs 200", "3f2c1d0e9b8a", "ada", "5 min 0 s",
		">optimizer<", ">adam<", ">team<", "mlflow.source.git.commit",
		`data-key="loss"`, `data-key="accuracy"`, `id="system-charts"`, `data-key="system/cpu_seconds"`,
		"Baseline &lt;b&gt;not bold&lt;/b&gt;.", "iris-classifier v1", `href="/models/iris-classifier/versions/1"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the run page lacks %q", want)
		}
	}
	// System metrics chart apart, not among the run's metrics.
	if i := strings.Index(body, `id="metric-charts"`); i < 0 || strings.Contains(body[i:strings.Index(body, `id="system"`)], "system/") {
		t.Errorf("system metrics are mixed with the run's metrics")
	}
	for _, bad := range []string{"/runs/nope", "/runs/" + strings.Repeat("0", 32), "/runs/" + f.ID + "x"} {
		if code, body := s.get(t, bad); code != 404 || !strings.Contains(body, "RESOURCE_DOES_NOT_EXIST") {
			t.Errorf("%s: %d, want a 404 page\n%s", bad, code, body)
		}
	}
	// A ".." segment, encoded or not, is refused before any page runs.
	if code, body := s.get(t, "/runs/%2e%2e"); code != 400 || !strings.Contains(body, "INVALID_PARAMETER_VALUE") {
		t.Errorf("/runs/%%2e%%2e: %d, want 400\n%s", code, body)
	}

	// A run with nothing logged.
	bare, err := s.Tracking.CreateRun(context.Background(), tracking.CreateRunRequest{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := s.get(t, "/runs/"+bare.Info.RunID); code != 200 || !strings.Contains(body, "No parameters.") ||
		!strings.Contains(body, "This run has logged no metrics.") || !strings.Contains(body, "No artifacts logged.") || strings.Contains(body, `id="system"`) {
		t.Errorf("a bare run's page: %d\n%s", code, body)
	}

	b := newBrowser(t, s)
	b.visit(t, "/runs/"+bare.Info.RunID)
	b.waitFor(t, "the (no) charts", `!!document.body.dataset.chartsDrawn`)
	b.visit(t, "/runs/"+f.ID)
	b.waitFor(t, "the charts", `!!document.body.dataset.chartsDrawn`)
	if !b.canvasDrawn(t, "#metric-charts canvas") || !b.canvasDrawn(t, "#system-charts canvas") {
		t.Fatal("the metric charts are blank")
	}
	var n int
	b.eval(t, `document.querySelectorAll(".chart[data-key] canvas").length`, &n)
	if n != 5 {
		t.Errorf("%d charts drawn, want 5 (three metrics and two system metrics; test_f1, logged once, is a number)", n)
	}
	// A metric logged once is shown as its value, not as a dot on an axis.
	if got := b.text(t, "#chart-test_f1 .single-value .value"); got != "0.93" || runTestAttr(t, b, "#chart-test_f1", "data-single") != "1" {
		t.Errorf("test_f1 shows %q, want the value 0.93 and no chart", got)
	}
	if got := b.text(t, "#chart-test_f1 .single-value .where"); !strings.Contains(got, "logged once · step 0") {
		t.Errorf("test_f1's note %q", got)
	}
	// The server sent every point (200 < 1000): the x axis starts at step 1.
	if got := runTestAttr(t, b, `#chart-loss`, "data-first-x"); got != "1" {
		t.Errorf("loss starts at x=%s, want step 1", got)
	}
	if got := runTestAttr(t, b, `#chart-loss`, "data-points"); got != "200" {
		t.Errorf("loss has %s points, want 200", got)
	}
	if got := b.text(t, "#job-link"); got != "j-0001" {
		t.Errorf("job link %q", got)
	}
	b.screenshot(t, "run")

	// The x axis: time (seconds since the epoch), then wall time (seconds
	// since the first point); each changes the URL and redraws.
	b.run(t, chromedp.SetValue("#x-axis", "time", chromedp.ByQuery), chromedp.Evaluate(`document.getElementById("x-axis").dispatchEvent(new Event("change"))`, nil))
	b.waitFor(t, "a redraw on the time axis", `document.getElementById("chart-loss").dataset.x === "time"`)
	if got, want := runTestAttr(t, b, "#chart-loss", "data-first-x"), strconv.FormatInt(f.Start/1000, 10); got != want {
		t.Errorf("time axis starts at %s, want %s", got, want)
	}
	if q := runTestQuery(t, b); q.Get("x") != "time" {
		t.Errorf("URL after choosing time: %v", q)
	}
	b.run(t, chromedp.SetValue("#x-axis", "wall", chromedp.ByQuery), chromedp.Evaluate(`document.getElementById("x-axis").dispatchEvent(new Event("change"))`, nil))
	b.waitFor(t, "a redraw on wall time", `document.getElementById("chart-loss").dataset.x === "wall"`)
	if got := runTestAttr(t, b, "#chart-loss", "data-first-x"); got != "0" {
		t.Errorf("wall time starts at %s, want 0", got)
	}
	// Smoothing and log scale.
	b.eval(t, `(() => { const s = document.getElementById("smoothing"); s.value = "0.6"; s.dispatchEvent(new Event("input")); return true; })()`, nil)
	b.waitFor(t, "a smoothed redraw", `document.getElementById("chart-loss").dataset.smooth === "0.6"`)
	if got := b.text(t, "#smoothing-value"); got != "0.6" {
		t.Errorf("smoothing shows %q", got)
	}
	// Smoothed, a chart has two series: the raw values and the smoothed line.
	b.eval(t, `document.querySelectorAll("#chart-loss .u-legend .u-series").length`, &n)
	if n != 3 { // the x series and two lines
		t.Errorf("smoothed legend has %d entries, want 3", n)
	}
	b.run(t, chromedp.Click("#log-y", chromedp.ByQuery))
	b.waitFor(t, "a log-scale redraw", `document.getElementById("chart-loss").dataset.log === "1"`)
	if !b.canvasDrawn(t, "#metric-charts canvas") {
		t.Error("blank charts after the switches")
	}
	q := runTestQuery(t, b)
	if q.Get("x") != "wall" || q.Get("smooth") != "0.6" || q.Get("log") != "1" {
		t.Errorf("URL state: %v", q)
	}
	// The filter hides charts by name.
	b.run(t, chromedp.SendKeys("#chart-filter", "acc", chromedp.ByQuery))
	b.waitFor(t, "the filter", `document.getElementById("chart-loss").hidden && !document.getElementById("chart-accuracy").hidden`)
	if q := runTestQuery(t, b); q.Get("metric") != "acc" {
		t.Errorf("URL after filtering: %v", q)
	}

	// The URL is the view: loading it shows the same state.
	b.visit(t, "/runs/"+f.ID+"?x=wall&smooth=0.6&log=1&metric=loss")
	b.waitFor(t, "the charts", `!!document.body.dataset.chartsDrawn`)
	var state struct {
		X, Smooth string
		Log       bool
		Hidden    bool
	}
	b.eval(t, `({X: document.getElementById("x-axis").value, Smooth: document.getElementById("smoothing").value,
		Log: document.getElementById("log-y").checked, Hidden: document.getElementById("chart-accuracy").hidden})`, &state)
	if state.X != "wall" || state.Smooth != "0.6" || !state.Log || !state.Hidden {
		t.Errorf("controls from the URL: %+v", state)
	}
	if got := runTestAttr(t, b, "#chart-loss", "data-smooth"); got != "0.6" {
		t.Errorf("chart drawn with smoothing %s", got)
	}
	b.noErrors(t)
}

// TestRunPageLargeHistory is the figure: a run with 100,000 values
// of one metric shows its chart in under a second, because the server
// sends at most 1,000 of them, evenly spread.
func TestRunPageLargeHistory(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: "0", RunName: "long"})
	if err != nil {
		t.Fatal(err)
	}
	const points = 100_000
	start := time.Now().Add(-time.Hour).UnixMilli()
	logStart := time.Now()
	batch := make([]tracking.Metric, 0, 1000)
	for i := 0; i < points; i++ {
		batch = append(batch, tracking.Metric{Key: "loss", Value: 1/(1+float64(i)/1000) + 0.01*math.Sin(float64(i)/10), Timestamp: start + int64(i)*10, Step: int64(i)})
		if len(batch) == cap(batch) {
			if err := s.Tracking.LogBatch(ctx, run.Info.RunID, batch, nil, nil); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	t.Logf("logged %d points in %v", points, time.Since(logStart).Round(time.Millisecond))

	// The server's part: the downsampled history, fetched without a browser.
	fetchStart := time.Now()
	if code, body := s.get(t, newRunChart(run.Info.RunID, "loss").Src); code != 200 || strings.Count(body, `"step"`) != runChartPoints {
		t.Fatalf("bulk interval: %d, %d points", code, strings.Count(body, `"step"`))
	}
	t.Logf("get-history-bulk-interval, 1,000 of 100,000 points: %v", time.Since(fetchStart).Round(time.Millisecond))

	b := newBrowser(t, s)
	b.visit(t, "/experiments") // the browser has started: time the run page alone
	// Three loads, each from navigation start (performance.now()'s origin)
	// to the moment run.js has drawn the chart; the median is asserted, so
	// that one load slowed by a busy machine does not decide.
	var times []float64
	for i := 0; i < 3; i++ {
		b.visit(t, "/runs/"+run.Info.RunID)
		b.waitFor(t, "the chart", `!!document.body.dataset.chartsDrawn`)
		var ms float64
		b.eval(t, `Number(document.body.dataset.chartsDrawn)`, &ms)
		times = append(times, ms)
		if !b.canvasDrawn(t, "#chart-loss canvas") {
			t.Fatal("the chart is blank")
		}
		if got := runTestAttr(t, b, "#chart-loss", "data-points"); got != "1000" {
			t.Errorf("the chart has %s points, want 1000", got)
		}
	}
	// The chart's data was fetched once: preloaded by the page, used by run.js.
	var fetches int
	b.eval(t, `performance.getEntriesByType("resource").filter((e) => e.name.includes("get-history-bulk-interval")).length`, &fetches)
	if fetches != 1 {
		t.Errorf("the chart's data was fetched %d times, want 1", fetches)
	}
	t.Logf("navigation start to chart drawn, 100,000 points: %.0f ms, %.0f ms, %.0f ms", times[0], times[1], times[2])
	sorted := append([]float64(nil), times...)
	sort.Float64s(sorted)
	if sorted[1] >= 1000 {
		t.Errorf("the chart took %.0f ms (median of %v) from navigation start, want < 1000 ms", sorted[1], times)
	}
	b.noErrors(t)
}

// runTestAttr returns an attribute of the first element matching sel ("" if none).
func runTestAttr(t *testing.T, b *browser, sel, name string) string {
	t.Helper()
	var v string
	b.eval(t, fmt.Sprintf(`(document.querySelector(%q) || {getAttribute: () => ""}).getAttribute(%q) || ""`, sel, name), &v)
	return v
}

// runTestQuery returns the page's URL parameters.
func runTestQuery(t *testing.T, b *browser) url.Values {
	t.Helper()
	var s string
	b.eval(t, `location.search`, &s)
	q, err := url.ParseQuery(strings.TrimPrefix(s, "?"))
	if err != nil {
		t.Fatal(err)
	}
	return q
}
