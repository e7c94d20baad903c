package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

// seedModels registers "wine-classifier" with two versions: 1 from an
// object-store path, 2 from a run ("runs:/<id>/model") in experiment
// "wine-quality", in Production with the alias champion. A model with an
// awkward name, and a prompt (which the list leaves out), come along. It
// returns the run's id and the experiment's.
func seedModels(t *testing.T, s *site) (runID, expID string) {
	t.Helper()
	ctx := context.Background()
	expID, err := s.Tracking.CreateExperiment(ctx, "wine-quality", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: expID, RunName: "gbt-tuned"})
	if err != nil {
		t.Fatal(err)
	}
	runID = run.Info.RunID
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.Registry.CreateModel(ctx, "wine-classifier", "Predicts a wine's quality from its chemistry.\nTrained weekly.",
		[]tracking.Tag{{Key: "team", Value: "tabular"}, {Key: "task", Value: "classification"}})
	must(err)
	_, err = s.Registry.CreateVersion(ctx, registry.CreateVersionRequest{Name: "wine-classifier", Source: "s3://models/wine/1", Description: "baseline"})
	must(err)
	_, err = s.Registry.CreateVersion(ctx, registry.CreateVersionRequest{Name: "wine-classifier", Source: "runs:/" + runID + "/model", Description: "gradient boosting"})
	must(err)
	must(s.Registry.SetAlias(ctx, "wine-classifier", "champion", "2"))
	_, err = s.Registry.TransitionStage(ctx, "wine-classifier", "2", "Production", false)
	must(err)

	_, err = s.Registry.CreateModel(ctx, "odd name ?#% é", "", nil)
	must(err)
	_, err = s.Registry.CreateVersion(ctx, registry.CreateVersionRequest{Name: "odd name ?#% é", Source: "s3://models/odd/1"})
	must(err)
	_, err = s.Registry.CreateModel(ctx, "a-prompt", "", []tracking.Tag{{Key: "mlflow.prompt.is_prompt", Value: "true"}})
	must(err)
	return runID, expID
}

func TestModelPages(t *testing.T) {
	s := newSite(t)
	runID, expID := seedModels(t, s)
	odd := "/models/" + url.PathEscape("odd name ?#% é")

	// Without a browser: search, a bad filter, a missing model, an awkward name.
	if code, body := s.get(t, "/models"); code != 200 || !strings.Contains(body, "wine-classifier") || strings.Contains(body, "a-prompt") {
		t.Fatalf("the list (prompts left out): %d\n%s", code, body)
	}
	if code, body := s.get(t, "/models?q=WINE"); code != 200 || !strings.Contains(body, ">wine-classifier<") || strings.Contains(body, "odd name") {
		t.Fatalf("search by name: %d\n%s", code, body)
	}
	if code, body := s.get(t, "/models?q=tags.team+%3D+%27tabular%27"); code != 200 || !strings.Contains(body, ">wine-classifier<") || strings.Contains(body, "odd name") {
		t.Fatalf("search by filter: %d\n%s", code, body)
	}
	if code, body := s.get(t, "/models?q=it%27s"); code != 200 || !strings.Contains(body, "No registered models match") {
		t.Fatalf("a name with a quote: %d\n%s", code, body)
	}
	if code, body := s.get(t, "/models?q=name+%3D%3D"); code != 400 || !strings.Contains(body, "INVALID_PARAMETER_VALUE") {
		t.Fatalf("a bad filter: %d\n%s", code, body)
	}
	if code, body := s.get(t, "/models?page=%21%21"); code != 400 {
		t.Fatalf("a bad page token: %d\n%s", code, body)
	}
	for _, path := range []string{"/models/nope", "/models/a%3Ab"} {
		if code, body := s.get(t, path); code != 404 || !strings.Contains(body, "RESOURCE_DOES_NOT_EXIST") {
			t.Fatalf("%s: %d\n%s", path, code, body)
		}
	}
	if code, body := s.get(t, odd); code != 200 || !strings.Contains(body, "s3://models/odd/1") {
		t.Fatalf("an awkward name: %d\n%s", code, body)
	}

	b := newBrowser(t, s)
	start := time.Now()
	b.visit(t, "/models")
	t.Logf("/models loaded in %v", time.Since(start))
	row := b.text(t, `#models tr[data-name="wine-classifier"]`)
	for _, want := range []string{"v2", "Production", "v1", "@champion → v2", "Predicts a wine"} {
		if !strings.Contains(row, want) {
			t.Errorf("the model's row lacks %q: %q", want, row)
		}
	}
	var href string
	b.eval(t, `document.querySelector('#models tr[data-name="odd name ?#% é"] a.model-name').getAttribute("href")`, &href)
	if href != odd {
		t.Errorf("the awkward name's link: %q, want %q", href, odd)
	}
	b.screenshot(t, "models")

	// The search box keeps its query in the URL.
	b.run(t, chromedp.SetValue(`input[name=q]`, "odd"), chromedp.Submit(`input[name=q]`))
	b.waitFor(t, "the search's result", `location.search === "?q=odd" && document.readyState === "complete" && !document.querySelector('tr[data-name="wine-classifier"]')`)
	b.visit(t, "/models")

	b.run(t, chromedp.Click(`tr[data-name="wine-classifier"] a.model-name`))
	b.waitFor(t, "the model's page", `location.pathname === "/models/wine-classifier" && !!document.querySelector("#versions")`)
	start = time.Now()
	b.visit(t, "/models/wine-classifier")
	t.Logf("/models/wine-classifier loaded in %v", time.Since(start))
	if got := b.text(t, "#model-description"); !strings.Contains(got, "Trained weekly") {
		t.Errorf("description: %q", got)
	}
	if got := b.text(t, "#model-tags"); !strings.Contains(got, "team") || !strings.Contains(got, "tabular") {
		t.Errorf("tags: %q", got)
	}
	if got := b.text(t, "#aliases"); !strings.Contains(got, "@champion") || !strings.Contains(got, "Version 2") {
		t.Errorf("aliases: %q", got)
	}
	var versions []string
	b.eval(t, `[...document.querySelectorAll("#versions tbody tr")].map((tr) => tr.dataset.version)`, &versions)
	if strings.Join(versions, ",") != "2,1" {
		t.Errorf("versions, newest first: %v", versions)
	}
	v2 := b.text(t, "#v2")
	for _, want := range []string{"Production", "@champion", "READY", "runs:/" + runID[:8], "gbt-tuned", "wine-quality", "gradient boosting"} {
		if !strings.Contains(v2, want) {
			t.Errorf("version 2's row lacks %q: %q", want, v2)
		}
	}
	var links struct{ Run, Exp, V1Run string }
	b.eval(t, `({run: document.querySelector("#v2 a.run-link").getAttribute("href"),
		exp: document.querySelector("#v2 a.experiment-link").getAttribute("href"),
		v1run: document.querySelector("#v1 a.run-link") ? "link" : ""})`, &links)
	if links.Run != "/runs/"+runID || links.Exp != "/experiments/"+expID || links.V1Run != "" {
		t.Errorf("links back to the source run: %+v", links)
	}
	b.screenshot(t, "model")

	// The source run's link leads to it.
	b.run(t, chromedp.Click("#v2 a.run-link"))
	b.waitFor(t, "the source run's page", fmt.Sprintf(`location.pathname === "/runs/%s"`, runID))
	b.noErrors(t)
}

// A server without a registry says so on both pages.
func TestModelPagesWithoutRegistry(t *testing.T) {
	mux := http.NewServeMux()
	ui := &Server{Version: "test"}
	if err := ui.Mount(mux, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/models", "/models/anything"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		_, err = io.Copy(&sb, res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || !strings.Contains(sb.String(), "registry is off") {
			t.Errorf("%s: %d\n%s", path, res.StatusCode, sb.String())
		}
	}
}

// The model list and a model's page stay quick with 300 models of 5
// versions each, and one model of 1,000 versions.
func TestModelPagesAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("a scale test")
	}
	s := newSite(t)
	ctx := context.Background()
	start := time.Now()
	run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{RunName: "source"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		name := fmt.Sprintf("model-%03d", i)
		if _, err := s.Registry.CreateModel(ctx, name, "a model", nil); err != nil {
			t.Fatal(err)
		}
		for v := range 5 {
			if _, err := s.Registry.CreateVersion(ctx, registry.CreateVersionRequest{Name: name, Source: fmt.Sprintf("s3://m/%d/%d", i, v)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Registry.SetAlias(ctx, name, "champion", "3"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Registry.CreateModel(ctx, "big", "", nil); err != nil {
		t.Fatal(err)
	}
	for v := range 1000 {
		src := fmt.Sprintf("s3://big/%d", v)
		if v%2 == 0 {
			src = "runs:/" + run.Info.RunID + "/model"
		}
		if _, err := s.Registry.CreateVersion(ctx, registry.CreateVersionRequest{Name: "big", Source: src}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seeded 301 models, 2,500 versions in %v", time.Since(start))
	timed := func(what, path, want string) string {
		t.Helper()
		start := time.Now()
		code, body := s.get(t, path)
		d := time.Since(start)
		t.Logf("%s: %d ms", what, d.Milliseconds())
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("%s: %d, want %q\n%s", path, code, want, body)
		}
		if d > time.Second {
			t.Errorf("%s took %v, over a second", what, d)
		}
		return body
	}
	timed("the model list (100 of 301)", "/models", "model-299")
	timed("searched", "/models?q=model-1", "model-199")
	body := timed("a model of 1,000 versions (100 on its page)", "/models/big", `id="v1000"`)
	timed("its next page", nextPageLink(t, body), `id="v900"`)
}
