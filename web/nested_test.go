package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode/tracking"
)

// nestRuns puts children under their parent, deeper ones under theirs,
// keeps runs whose parent is elsewhere where they were, and survives a
// loop of parents.
func TestNestRuns(t *testing.T) {
	rows := []runRow{
		{ID: "c2", ParentID: "p"}, {ID: "g", ParentID: "c1"}, {ID: "p"}, {ID: "o", ParentID: "elsewhere"},
		{ID: "c1", ParentID: "p"}, {ID: "x", ParentID: "y"}, {ID: "y", ParentID: "x"}, {ID: "s", ParentID: "s"},
	}
	got := nestRuns(rows, []string{"p"})
	var b strings.Builder
	for _, r := range got {
		fmt.Fprintf(&b, "%s%s(%d,%s,%v) ", strings.Repeat(".", r.Depth), r.ID, r.Children, r.Parent, r.Hidden)
	}
	want := "p(2,,false) .c2(0,p,false) .c1(1,p,false) ..g(0,c1,true) o(0,,false) s(0,,false) x(1,,false) .y(0,x,true) "
	if b.String() != want {
		t.Errorf("nested:\n got %s\nwant %s", b.String(), want)
	}
}

// The runs table shows child runs (tag mlflow.parentRunId) under their
// parent, collapsed until the parent's toggle opens them, as MLflow's does;
// which parents are open is in the URL.
func TestRunsNested(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	expID, err := s.Tracking.CreateExperiment(ctx, "tuning", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	otherExp, err := s.Tracking.CreateExperiment(ctx, "elsewhere", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour).UnixMilli()
	mk := func(exp, name, parent string) string {
		t.Helper()
		var tags []tracking.Tag
		if parent != "" {
			tags = []tracking.Tag{{Key: tracking.TagParentRun, Value: parent}}
		}
		start += 1000
		r, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: exp, RunName: name, Tags: tags, StartTime: start})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Tracking.LogMetric(ctx, r.Info.RunID, tracking.Metric{Key: "rmse", Value: float64(len(name)), Timestamp: start}); err != nil {
			t.Fatal(err)
		}
		return r.Info.RunID
	}
	outside := mk(otherExp, "outside-parent", "")
	parent := mk(expID, "search", "")
	trial1 := mk(expID, "trial-1", parent)
	trial2 := mk(expID, "trial-2", parent)
	fold := mk(expID, "trial-1-fold", trial1)
	orphan := mk(expID, "orphan", outside)
	plain := mk(expID, "plain", "")

	// Without a browser: the order (newest first at the top level, children
	// under their parent), the hidden children, the toggles.
	code, body := s.get(t, "/experiments/"+expID)
	if code != 200 {
		t.Fatalf("%d\n%s", code, body)
	}
	order := []string{plain, orphan, parent, trial2, trial1, fold}
	last := -1
	for _, id := range order {
		i := strings.Index(body, `data-id="`+id+`"`)
		if i <= last {
			t.Fatalf("run %s is out of order in the table\n%s", id, body)
		}
		last = i
	}
	if !strings.Contains(body, `data-id="`+trial1+`" data-parent="`+parent+`" hidden`) || !strings.Contains(body, `data-id="`+fold+`" data-parent="`+trial1+`" hidden`) {
		t.Errorf("the children are not hidden under their parent\n%s", body)
	}
	if strings.Contains(body, `data-id="`+orphan+`" data-parent`) {
		t.Errorf("a run whose parent is not on the page is shown nested")
	}
	// expand= opens a parent as the page is rendered.
	_, body = s.get(t, "/experiments/"+expID+"?expand="+parent)
	if !strings.Contains(body, `data-id="`+trial1+`" data-parent="`+parent+`">`) || !strings.Contains(body, `data-id="`+fold+`" data-parent="`+trial1+`" hidden`) {
		t.Errorf("expand= does not open the parent (and only it)\n%s", body)
	}

	b := newBrowser(t, s)
	b.visit(t, "/experiments/"+expID)
	visible := func() string {
		var names []string
		b.eval(t, `[...document.querySelectorAll("#runs tbody tr")].filter((tr) => !tr.hidden && tr.offsetParent !== null).map((tr) => tr.querySelector("td.name a").textContent)`, &names)
		return strings.Join(names, ",")
	}
	if got := visible(); got != "plain,orphan,search" {
		t.Errorf("collapsed: %s", got)
	}
	if got := b.text(t, `tr[data-id="`+parent+`"] .nest-count`); got != "2" {
		t.Errorf("the parent's count of children: %q", got)
	}
	b.run(t, chromedp.Click(`tr[data-id="`+parent+`"] .nest-toggle`))
	if got := visible(); got != "plain,orphan,search,trial-2,trial-1" {
		t.Errorf("the parent opened: %s", got)
	}
	b.run(t, chromedp.Click(`tr[data-id="`+trial1+`"] .nest-toggle`))
	if got := visible(); got != "plain,orphan,search,trial-2,trial-1,trial-1-fold" {
		t.Errorf("the child opened too: %s", got)
	}
	var search string
	b.eval(t, `location.search`, &search)
	if !strings.Contains(search, "expand="+parent+"%2C"+trial1) && !strings.Contains(search, "expand="+parent+","+trial1) {
		t.Errorf("the URL does not keep the open parents: %s", search)
	}
	var indent struct{ Parent, Child, Grandchild float64 }
	b.eval(t, fmt.Sprintf(`(() => { const x = (id) => document.querySelector('tr[data-id="' + id + '"] td.name a').getBoundingClientRect().left;
		return {parent: x(%q), child: x(%q), grandchild: x(%q)}; })()`, parent, trial1, fold), &indent)
	if !(indent.Parent < indent.Child && indent.Child < indent.Grandchild) {
		t.Errorf("children are not indented under their parent: %+v", indent)
	}
	b.screenshot(t, "runs-nested")
	// The view comes back from its URL, and sorting keeps it.
	b.run(t, chromedp.Reload())
	b.waitFor(t, "the reloaded table", `document.readyState === "complete" && !!document.querySelector("#runs")`)
	if got := visible(); got != "plain,orphan,search,trial-2,trial-1,trial-1-fold" {
		t.Errorf("after a reload: %s", got)
	}
	var sortHref string
	b.eval(t, `document.querySelector("#runs th a.sort").getAttribute("href")`, &sortHref)
	if !strings.Contains(sortHref, "expand=") {
		t.Errorf("a sort link drops the open parents: %s", sortHref)
	}
	// Closing the parent hides its whole family.
	b.run(t, chromedp.Click(`tr[data-id="`+parent+`"] .nest-toggle`))
	if got := visible(); got != "plain,orphan,search" {
		t.Errorf("the parent closed: %s", got)
	}
	b.noErrors(t)
}
