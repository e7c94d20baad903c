package web

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

// A model version's page: source, run, status, stage, aliases, tags,
// description, creation time, signature and how to serve it; its
// description and tags, and its model's, are edited on the pages.
func TestModelVersionPage(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	runID, expID := seedModels(t, s)
	// A version whose files (and MLmodel) the server holds.
	run, err := s.Tracking.GetRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimPrefix(run.Info.ArtifactURI, mlflowapi.ArtifactScheme+"/")
	if err := s.Artifacts.Put(ctx, root+"/model/MLmodel", bytes.NewReader([]byte(strings.ReplaceAll(fixtureMLmodel, "RUNID", runID)))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry.CreateVersion(ctx, registry.CreateVersionRequest{Name: "wine-classifier", Source: "runs:/" + runID + "/model",
		Description: "with a signature", Tags: []tracking.Tag{{Key: "validated", Value: "yes"}, {Key: "old", Value: "x"}}}); err != nil {
		t.Fatal(err)
	}

	code, body := s.get(t, "/models/wine-classifier/versions/2")
	if code != 200 {
		t.Fatalf("%d\n%s", code, body)
	}
	for _, want := range []string{"Production", "@champion", ">READY<", "runs:/" + runID + "/model", `href="/runs/` + runID + `"`, ">gbt-tuned<",
		`href="/experiments/` + expID + `"`, "gradient boosting", "models:/wine-classifier/2", "models:/wine-classifier@champion",
		"lode deploy create wine-classifier -m models:/wine-classifier@champion --wait", "lode serve -m models:/wine-classifier/2",
		`mlflow.pyfunc.load_model(&#34;models:/wine-classifier/2&#34;)`} {
		if !strings.Contains(body, want) {
			t.Errorf("version 2's page lacks %q", want)
		}
	}
	_, body = s.get(t, "/models/wine-classifier/versions/3")
	for _, want := range []string{"sepal length (cm)", "tensor int64 (-1)", ">sklearn<", "with a signature", ">validated<", "lode deploy create wine-classifier -m models:/wine-classifier/3 --wait"} {
		if !strings.Contains(body, want) {
			t.Errorf("version 3's page lacks %q", want)
		}
	}
	// A name a shell must quote, and a deployment's name made of it.
	_, body = s.get(t, "/models/"+url.PathEscape("odd name ?#% é")+"/versions/1")
	if !strings.Contains(body, "lode deploy create odd-name -m &#39;models:/odd name ?#% é/1&#39; --wait") {
		t.Errorf("the odd name's commands:\n%s", body)
	}
	for _, path := range []string{"/models/wine-classifier/versions/9", "/models/nope/versions/1", "/models/wine-classifier/versions/abc"} {
		if code, body := s.get(t, path); code != 404 || !strings.Contains(body, "RESOURCE_DOES_NOT_EXIST") {
			t.Errorf("%s: %d\n%s", path, code, body)
		}
	}

	b := newBrowser(t, s)
	// The model's page links each version to its page.
	b.visit(t, "/models/wine-classifier")
	b.run(t, chromedp.Click(`#v3 a.version-page`))
	b.waitFor(t, "version 3's page", `location.pathname === "/models/wine-classifier/versions/3" && !!document.querySelector("#version-title")`)
	b.screenshot(t, "model-version")

	// The version's description and tags.
	b.editNote(t, "Passed the holdout check.")
	b.waitFor(t, "the version's new description", `document.readyState === "complete" && (document.querySelector("#version-description") || {}).textContent === "Passed the holdout check."`)
	b.setTag(t, "reviewer", "ana")
	b.waitFor(t, "the version's new tag", `document.readyState === "complete" && !!document.querySelector('#version-tags tr[data-key="reviewer"]')`)
	b.run(t, chromedp.Click(`#version-tags tr[data-key="old"] .delete-tag`))
	b.waitFor(t, "the version's tag deleted", `document.readyState === "complete" && !!document.querySelector("#version-tags") && !document.querySelector('#version-tags tr[data-key="old"]')`)
	v, err := s.Registry.GetVersion(ctx, "wine-classifier", "3")
	if err != nil {
		t.Fatal(err)
	}
	if tags := tagMap(v.Tags); v.Description != "Passed the holdout check." || tags["reviewer"] != "ana" || tags["old"] != "" || tags["validated"] != "yes" {
		t.Errorf("version 3 after the edits: %q %v", v.Description, tags)
	}

	// The model's description and tags.
	b.visit(t, "/models/wine-classifier")
	b.editNote(t, "")
	b.waitFor(t, "the model's description emptied", `document.readyState === "complete" && (document.querySelector("#model-description") || {}).textContent === "None"`)
	b.run(t, chromedp.Click(`#model-tags tr[data-key="task"] .delete-tag`))
	b.waitFor(t, "the model's tag deleted", `document.readyState === "complete" && !!document.querySelector("#model-tags") && !document.querySelector('#model-tags tr[data-key="task"]')`)
	b.setTag(t, "owner", "tabular team")
	b.waitFor(t, "the model's new tag", `document.readyState === "complete" && !!document.querySelector('#model-tags tr[data-key="owner"]')`)
	b.screenshot(t, "model-edit")
	b.noErrors(t)
	m, err := s.Registry.GetModel(ctx, "wine-classifier")
	if err != nil {
		t.Fatal(err)
	}
	if tags := tagMap(m.Tags); m.Description != "" || tags["owner"] != "tabular team" || tags["task"] != "" || tags["team"] != "tabular" {
		t.Errorf("the model after the edits: %q %v", m.Description, tags)
	}
}

func tagMap(tags []tracking.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

// The editors are shown to those who may edit: a reader sees the text
// and tags alone; EDIT brings the forms (a model version's tags are
// deleted with MANAGE, as MLflow counts that a deletion); the changes a
// signed-in page makes carry its CSRF token.
func TestEditorsFollowPermissions(t *testing.T) {
	s := newAuthSite(t, siteOptions{})
	s.Auth.CacheTTL = -1 // grants take effect at once
	admin, err := s.Auth.User(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	ctx := auth.NewContext(context.Background(), &auth.Identity{User: admin})
	expID, err := s.Tracking.CreateExperiment(ctx, "shared", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: expID, RunName: "r",
		Tags: []tracking.Tag{{Key: "mlflow.note.content", Value: "a note"}, {Key: "k", Value: "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry.CreateModel(ctx, "shared-model", "a model", []tracking.Tag{{Key: "k", Value: "v"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry.CreateVersion(ctx, registry.CreateVersionRequest{Name: "shared-model", Source: "runs:/" + run.Info.RunID + "/model",
		Tags: []tracking.Tag{{Key: "k", Value: "v"}}}); err != nil {
		t.Fatal(err)
	}
	alice := s.signIn(t, "alice", alicePassword).Value
	pages := map[string]string{"run": "/runs/" + run.Info.RunID, "model": "/models/shared-model", "version": "/models/shared-model/versions/1"}
	check := func(when string, want map[string][3]bool) {
		t.Helper()
		for name, path := range pages {
			res, body := s.call(t, "GET", path, alice, "", nil)
			if res.StatusCode != 200 || !strings.Contains(body, ">k<") {
				t.Fatalf("%s, %s: %d\n%s", when, path, res.StatusCode, body)
			}
			got := [3]bool{strings.Contains(body, `class="edit-note"`), strings.Contains(body, `tag-form`), strings.Contains(body, `delete-tag`)}
			if got != want[name] {
				t.Errorf("%s, the %s page: note editor, tag form, tag deletion = %v, want %v", when, name, got, want[name])
			}
		}
	}
	check("reading", map[string][3]bool{"run": {}, "model": {}, "version": {}})
	for _, g := range []struct {
		rt auth.ResourceType
		id string
	}{{auth.Experiment, expID}, {auth.RegisteredModel, "shared-model"}} {
		if err := s.Auth.Grant(ctx, "alice", g.rt, g.id, auth.Edit, false); err != nil {
			t.Fatal(err)
		}
	}
	check("with EDIT", map[string][3]bool{"run": {true, true, true}, "model": {true, true, true}, "version": {true, true, false}})
	if err := s.Auth.Grant(ctx, "alice", auth.RegisteredModel, "shared-model", auth.Manage, true); err != nil {
		t.Fatal(err)
	}
	check("with MANAGE", map[string][3]bool{"run": {true, true, true}, "model": {true, true, true}, "version": {true, true, true}})

	// A change through the page, signed in: the API takes it with the
	// page's CSRF token.
	b := newBrowser(t, s)
	b.visit(t, pages["version"])
	b.signIn(t, "alice", alicePassword)
	b.waitFor(t, "the version's page", `location.pathname === "/models/shared-model/versions/1" && !!document.querySelector(".edit-note")`)
	b.editNote(t, "alice was here")
	b.waitFor(t, "the saved description", `document.readyState === "complete" && (document.querySelector("#version-description") || {}).textContent === "alice was here"`)
	b.noErrors(t)
}

// editNote opens the page's description editor, writes text and saves it,
// as a user would (the button's click, the form's submit event).
func (b *browser) editNote(t *testing.T, text string) {
	t.Helper()
	b.waitFor(t, "the description editor", `!!document.querySelector(".note-editor .edit-note")`)
	b.run(t, chromedp.Click(".note-editor .edit-note", chromedp.NodeVisible), chromedp.WaitVisible(".note-form textarea"))
	var ok bool
	b.eval(t, `(() => { const f = document.querySelector(".note-form"); f.elements.text.value = `+strconv.Quote(text)+`;
		f.querySelector('button[type="submit"]').click(); return true; })()`, &ok)
}

// setTag fills in the page's tag form and submits it.
func (b *browser) setTag(t *testing.T, key, value string) {
	t.Helper()
	b.waitFor(t, "the tag form", `!!document.querySelector(".tag-form")`)
	var ok bool
	b.eval(t, `(() => { const f = document.querySelector(".tag-form"); f.elements.key.value = `+strconv.Quote(key)+`;
		f.elements.value.value = `+strconv.Quote(value)+`; f.querySelector('button[type="submit"]').click(); return true; })()`, &ok)
}
