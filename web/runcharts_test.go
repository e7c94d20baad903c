package web

import (
	"context"
	"html"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// An experiment's chart view draws a chart per metric and a line per run
// the filter selects, at most 100 runs, and says when it stopped there.
func TestRunChartsPage(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	ids := seedCompare(t, s, 103, 40)
	run, err := s.Tracking.GetRun(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	exp := run.Info.ExperimentID
	base := "/experiments/" + exp + "/charts"

	// Without a browser: the cap, the filter, a refused filter, the links.
	code, body := s.get(t, base)
	if code != 200 || !strings.Contains(body, `id="charts-capped"`) || !strings.Contains(body, "Showing the first 100 runs this filter matches") {
		t.Fatalf("103 runs: %d, want the cap said\n%s", code, body)
	}
	if !strings.Contains(body, "at most 200 points") { // 20,000 a chart over the 100 runs drawn
		t.Errorf("points per line not said:\n%s", body)
	}
	filter := "params.l1_ratio = '0.2'" // runs 0, 6, 12, ...: 18 of 103
	code, body = s.get(t, base+"?filter="+url.QueryEscape(filter)+"&sort="+url.QueryEscape("attributes.run_name ASC"))
	if code != 200 || strings.Contains(body, `id="charts-capped"`) || !strings.Contains(body, "18 runs matching the filter") {
		t.Fatalf("filtered: %d\n%s", code, body)
	}
	if !strings.Contains(body, `href="/experiments/`+exp+`?filter=params.l1_ratio`) {
		t.Errorf("no link back to the run table with the filter:\n%s", body)
	}
	code, body = s.get(t, base+"?filter="+url.QueryEscape("metrics.rmse <<< 1"))
	if code != 400 || !strings.Contains(body, `id="charts-error"`) {
		t.Errorf("a refused filter: %d\n%s", code, body)
	}
	if code, body := s.get(t, base+"?filter="+url.QueryEscape("params.alpha = 'none'")); code != 200 || !strings.Contains(body, "No runs match this filter") {
		t.Errorf("no runs: %d\n%s", code, body)
	}
	if code, _ := s.get(t, "/experiments/9999/charts"); code != 404 {
		t.Errorf("an unknown experiment: %d", code)
	}
	// The run table links to the view with its filter.
	_, body = s.get(t, "/experiments/"+exp+"?filter="+url.QueryEscape(filter))
	if !strings.Contains(html.UnescapeString(body), `id="run-charts" href="/experiments/`+exp+`/charts?filter=`+url.QueryEscape(filter)+`"`) {
		t.Errorf("the run table does not link to its charts:\n%s", body)
	}

	b := newBrowser(t, s)
	started := time.Now()
	b.visit(t, base+"?filter="+url.QueryEscape(filter)+"&sort="+url.QueryEscape("attributes.run_name ASC"))
	b.waitFor(t, "the charts", `window.LodeRunCharts && LodeRunCharts.chartsReady`)
	t.Logf("18 runs: page and 2 charts drawn in %v", time.Since(started).Round(time.Millisecond))
	var got struct {
		Charts []string
		Series int
		Points int
	}
	b.eval(t, `({charts: Object.keys(LodeRunCharts.charts).sort(), series: LodeRunCharts.charts.rmse.series.length - 1,
		points: LodeRunCharts.charts.rmse.data[0].length})`, &got)
	if strings.Join(got.Charts, ",") != "mae,rmse" || got.Series != 18 || got.Points != 40 {
		t.Errorf("charts %+v, want mae and rmse with 18 lines over 40 steps", got)
	}
	if !b.canvasDrawn(t, "#metric-charts canvas") {
		t.Error("the charts are blank")
	}
	b.screenshot(t, "runcharts")
	// One metric, on a log scale, kept in the URL.
	b.run(t, chromedp.SetValue("#metric", "rmse", chromedp.ByQuery), chromedp.Evaluate(`document.getElementById("metric").dispatchEvent(new Event("change"))`, nil))
	b.waitFor(t, "the rmse chart alone", `LodeRunCharts.chartsReady && Object.keys(LodeRunCharts.charts).join() === "rmse"`)
	var search string
	b.eval(t, `location.search`, &search)
	if !strings.Contains(search, "metric=rmse") || !strings.Contains(search, "filter=") {
		t.Errorf("URL after choosing a metric: %s", search)
	}

	// The whole experiment: 100 lines, drawn within bounds.
	started = time.Now()
	b.visit(t, base)
	b.waitFor(t, "the charts of 100 runs", `window.LodeRunCharts && LodeRunCharts.chartsReady`)
	b.eval(t, `({charts: Object.keys(LodeRunCharts.charts).sort(), series: LodeRunCharts.charts.rmse.series.length - 1,
		points: LodeRunCharts.charts.rmse.data[0].length})`, &got)
	if got.Series != 100 {
		t.Errorf("capped view draws %d lines, want 100", got.Series)
	}
	t.Logf("100 runs: page and 2 charts drawn in %v", time.Since(started).Round(time.Millisecond))
	b.noErrors(t)
}
