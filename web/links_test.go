package web

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/lode-ml/lode/tracking"
)

// The links the mlflow client prints ("View run NAME at:
// http://HOST/#/experiments/1/runs/ID", "View experiment at:
// http://HOST/#/experiments/1", the same in 2.22.5 and 3.17.2) and the other
// routes of MLflow's UI, which live in the fragment, land on Lode's page of
// the same thing; MLflow's run path without the fragment is a page too.
func TestMLflowLinks(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	runID, expID := seedModels(t, s)
	other, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: expID, RunName: "other"})
	if err != nil {
		t.Fatal(err)
	}
	odd := url.PathEscape("odd name ?#% é")

	// Without a browser: MLflow's path of a run redirects to its page, its
	// query kept; a run that is not there is the UI's 404 page, not the
	// API's JSON.
	res, body := s.call(t, "GET", "/experiments/"+expID+"/runs/"+runID+"?x=time", "", "", nil)
	if res.StatusCode != 302 || res.Header.Get("Location") != "/runs/"+runID+"?x=time" {
		t.Fatalf("/experiments/%s/runs/%s: %d %q\n%s", expID, runID, res.StatusCode, res.Header.Get("Location"), body)
	}
	for _, path := range []string{"/experiments/" + expID + "/runs/0123456789abcdef0123456789abcdef", "/experiments/1/runs/nope"} {
		res, body = s.call(t, "GET", path, "", "", nil)
		if res.StatusCode != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "RESOURCE_DOES_NOT_EXIST") {
			t.Errorf("%s: %d %s\n%s", path, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	}

	b := newBrowser(t, s)
	cases := []struct{ from, want string }{
		// What the client prints.
		{"/#/experiments/" + expID + "/runs/" + runID, "/runs/" + runID},
		{"/#/experiments/" + expID, "/experiments/" + expID},
		{"/experiments#/experiments/" + expID, "/experiments/" + expID},
		// MLflow's UI's other routes.
		{"/#/experiments/" + expID + "/runs/" + runID + "/artifacts/model/MLmodel", "/runs/" + runID + "?artifact=model%2FMLmodel"},
		{"/#/experiments/" + expID + "/runs/" + runID + "/model-metrics", "/runs/" + runID + "#charts"},
		{"/#/experiments/" + expID + "/overview", "/experiments/" + expID},
		{"/#/experiments/" + expID + "/runs", "/experiments/" + expID},
		{"/#/runs/" + runID, "/runs/" + runID},
		{"/#/models", "/models"},
		{"/#/models/wine-classifier", "/models/wine-classifier"},
		{"/#/models/wine-classifier/versions/2", "/models/wine-classifier/versions/2"},
		{"/#/models/" + odd + "/versions/1", "/models/" + odd + "/versions/1"},
		{"/#/models/wine-classifier/serving", "/models/wine-classifier"},
		{fmt.Sprintf(`/#/compare-runs?runs=["%s","%s"]&experiments=["%s"]`, runID, other.Info.RunID, expID), "/compare?runs=" + runID + "," + other.Info.RunID},
		{fmt.Sprintf(`/#/metric?runs=["%s"]&metric="loss"&experiments=["%s"]`, runID, expID), "/runs/" + runID + "?metric=loss#charts"},
		{"/#/compare-experiments/s?experiments=[1]", "/experiments"},
		// Not MLflow's: the page stays.
		{"/experiments#top", "/experiments#top"},
		{"/#/no-such-page", "/experiments#/no-such-page"},
	}
	for _, c := range cases {
		b.visit(t, c.from)
		b.waitFor(t, c.from+" → "+c.want, fmt.Sprintf(`document.readyState === "complete" && location.pathname + location.search + location.hash === %q`, c.want))
	}
	// The page it lands on is the right one.
	b.visit(t, "/#/models/wine-classifier/versions/2")
	b.waitFor(t, "the version's page", `!!document.querySelector("#version-title")`)
	if got := b.text(t, "#version-title"); !strings.Contains(got, "wine-classifier") || !strings.Contains(got, "version 2") {
		t.Errorf("the version page's title: %q", got)
	}
	b.visit(t, "/#/experiments/"+expID+"/runs/"+runID)
	b.waitFor(t, "the run's page", `!!document.querySelector("#run-name")`)
	if got := b.text(t, "#run-name"); got != "gbt-tuned" {
		t.Errorf("the run page's title: %q", got)
	}
	b.noErrors(t)
}

// On a server that asks for a sign-in, the client's link leads through
// the sign-in page to the run.
func TestMLflowLinkSignIn(t *testing.T) {
	s := newAuthSite(t, siteOptions{})
	ctx := context.Background()
	expID, err := s.Tracking.CreateExperiment(ctx, "linked", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: expID, RunName: "linked-run"})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)
	b.visit(t, "/#/experiments/"+expID+"/runs/"+run.Info.RunID)
	b.waitFor(t, "the sign-in page for the run", fmt.Sprintf(`location.pathname === "/login" && new URLSearchParams(location.search).get("next") === %q`, "/runs/"+run.Info.RunID))
	b.signIn(t, "alice", alicePassword)
	b.waitFor(t, "the run's page", fmt.Sprintf(`location.pathname === %q && !!document.querySelector("#run-name")`, "/runs/"+run.Info.RunID))
	b.noErrors(t)
}
