package web

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode/tracking"
)

func TestExperimentsPage(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	for _, name := range []string{"wine", "vision-resnet", "vision-vit"} {
		if _, err := s.Tracking.CreateExperiment(ctx, name, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Without a browser: the page and its search, by name and by filter.
	if code, body := s.get(t, "/experiments?q=vision"); code != 200 || !strings.Contains(body, "vision-vit") || strings.Contains(body, ">wine<") {
		t.Fatalf("search by name: %d\n%s", code, body)
	}
	if code, body := s.get(t, "/experiments?q=name+%3D+%27wine%27"); code != 200 || !strings.Contains(body, ">wine<") || strings.Contains(body, "vision-vit") {
		t.Fatalf("search by filter: %d", code)
	}
	if code, body := s.get(t, "/experiments?q=name+%3D%3D"); code != 400 || !strings.Contains(body, "INVALID_PARAMETER_VALUE") {
		t.Fatalf("a bad filter: %d\n%s", code, body)
	}

	b := newBrowser(t, s)
	b.visit(t, "/experiments")
	if got := b.text(t, "#experiments tbody"); !strings.Contains(got, "wine") || !strings.Contains(got, "Default") {
		t.Fatalf("experiments table: %q", got)
	}
	b.screenshot(t, "experiments")

	// Create, rename, delete and restore, through the page's buttons.
	b.answer("new-exp")
	b.run(t, chromedp.Click("#new-experiment"))
	b.waitFor(t, "the new experiment's runs page", `/^\/experiments\/\d+$/.test(location.pathname) && document.readyState === "complete"`)
	b.visit(t, "/experiments")
	b.answer("renamed-exp")
	b.run(t, chromedp.Click(`tr[data-name="new-exp"] button.rename`))
	b.waitFor(t, "the renamed experiment", `!!document.querySelector('tr[data-name="renamed-exp"]')`)
	b.run(t, chromedp.Click(`tr[data-name="renamed-exp"] button.delete`))
	b.waitFor(t, "the deleted experiment to leave the list", `document.readyState === "complete" && !document.querySelector('tr[data-name="renamed-exp"]')`)
	b.visit(t, "/experiments?view=deleted")
	b.run(t, chromedp.Click(`tr[data-name="renamed-exp"] button.restore`))
	b.waitFor(t, "the restored experiment to leave the deleted view", `document.readyState === "complete" && !document.querySelector('tr[data-name="renamed-exp"]')`)
	b.visit(t, "/experiments")
	if got := b.text(t, "#experiments tbody"); !strings.Contains(got, "renamed-exp") {
		t.Fatalf("after restore: %q", got)
	}
	b.noErrors(t)
}

// The list counts each experiment's runs, active and deleted.
func TestExperimentsRunCounts(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	wine, err := s.Tracking.CreateExperiment(ctx, "wine", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tracking.CreateExperiment(ctx, "empty", "", nil); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		r, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: wine})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Info.RunID)
	}
	if err := s.Tracking.DeleteRun(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	code, body := s.get(t, "/experiments")
	if code != 200 {
		t.Fatalf("experiments: %d", code)
	}
	cell := func(name string) string {
		_, row, ok := strings.Cut(body, `data-name="`+name+`"`)
		if !ok {
			t.Fatalf("no row for %s", name)
		}
		_, c, _ := strings.Cut(row, `runs-count`)
		c, _, _ = strings.Cut(c, "</td>")
		return c
	}
	if got := cell("wine"); !strings.Contains(got, ">2 ") || !strings.Contains(got, "+1 deleted") {
		t.Errorf("wine's run count cell %q, want 2 and +1 deleted", got)
	}
	if got := cell("empty"); !strings.Contains(got, ">0") {
		t.Errorf("empty's run count cell %q, want 0", got)
	}
}
