package web

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

// A run's MLflow 3 logged models (log_model(name=...): a logged model
// whose source_run_id is the run, or that the run's outputs name) are
// listed on its page with their id, flavors, files and registered
// versions; the run's description and tags are edited on the page.
func TestRunLoggedModelsAndEditing(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	expID, err := s.Tracking.CreateExperiment(ctx, "mlflow3", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: expID, RunName: "train",
		Tags: []tracking.Tag{{Key: "team", Value: "tabular"}, {Key: "old", Value: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	runID := run.Info.RunID
	// One model the way the mlflow 3 client logs one (source_run_id, then
	// the run's outputs), one that only the outputs name.
	m1, err := s.Tracking.CreateLoggedModel(ctx, tracking.CreateLoggedModelRequest{ExperimentID: expID, Name: "m", SourceRunID: runID, ModelType: ""})
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimPrefix(m1.ArtifactURI, mlflowapi.ArtifactScheme+"/")
	for name, body := range map[string]string{"MLmodel": strings.ReplaceAll(fixtureMLmodel, "RUNID", runID), "model.pkl": "pickle", "requirements.txt": "scikit-learn\n"} {
		if err := s.Artifacts.Put(ctx, root+"/"+name, bytes.NewReader([]byte(body))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Tracking.FinalizeLoggedModel(ctx, m1.ModelID, tracking.ModelReady); err != nil {
		t.Fatal(err)
	}
	m2, err := s.Tracking.CreateLoggedModel(ctx, tracking.CreateLoggedModelRequest{ExperimentID: expID, Name: "checkpoint"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tracking.LogOutputs(ctx, runID, []tracking.ModelOutput{{ModelID: m1.ModelID, Step: 0}, {ModelID: m2.ModelID, Step: 7}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry.CreateModel(ctx, "registered-m", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry.CreateVersion(ctx, registry.CreateVersionRequest{Name: "registered-m", Source: "models:/" + m1.ModelID, RunID: runID, ModelID: m1.ModelID}); err != nil {
		t.Fatal(err)
	}

	code, body := s.get(t, "/runs/"+runID)
	if code != 200 {
		t.Fatalf("%d\n%s", code, body)
	}
	for _, want := range []string{`id="logged-models"`, m1.ModelID, m2.ModelID, ">sklearn<", ">python_function<", ">READY<", ">PENDING<",
		`href="/models/registered-m/versions/1"`, "/ajax-api/2.0/mlflow/logged-models/" + m1.ModelID + "/artifacts/files?artifact_file_path=model.pkl"} {
		if !strings.Contains(body, want) {
			t.Errorf("the run page lacks %q", want)
		}
	}
	if i, j := strings.Index(body, `data-model-id="`+m1.ModelID), strings.Index(body, `data-model-id="`+m2.ModelID); i < 0 || j < i {
		t.Errorf("the logged models are not listed oldest first")
	}
	// The file link downloads the model's file.
	if code, got := s.get(t, "/ajax-api/2.0/mlflow/logged-models/"+m1.ModelID+"/artifacts/files?artifact_file_path=requirements.txt"); code != 200 || got != "scikit-learn\n" {
		t.Errorf("a logged model's file: %d %q", code, got)
	}

	b := newBrowser(t, s)
	b.visit(t, "/runs/"+runID)
	row := b.text(t, `#logged-models-table tr[data-model-id="`+m1.ModelID+`"]`)
	for _, want := range []string{"m", m1.ModelID, "sklearn", "READY", "registered-m v1", "MLmodel", "model.pkl"} {
		if !strings.Contains(row, want) {
			t.Errorf("the logged model's row lacks %q: %q", want, row)
		}
	}
	if got := b.text(t, `#logged-models-table tr[data-model-id="`+m2.ModelID+`"]`); !strings.Contains(got, "checkpoint") || !strings.Contains(got, "7") {
		t.Errorf("the model only the outputs name: %q", got)
	}

	// The description: edit, save, shown after the reload.
	b.editNote(t, "Tuned on the **full** data.\n<b>not bold</b>")
	b.waitFor(t, "the saved description", `document.readyState === "complete" && (document.querySelector("#run-note") || {}).textContent === "Tuned on the **full** data.\n<b>not bold</b>"`)
	// A tag set, one changed, one deleted.
	setTag := func(key, value string) {
		t.Helper()
		b.setTag(t, key, value)
		b.waitFor(t, "tag "+key, `document.readyState === "complete" && [...document.querySelectorAll("#tags tr[data-key]")].some((tr) => tr.dataset.key === `+strconv.Quote(key)+` && tr.cells[1].textContent === `+strconv.Quote(value)+`)`)
	}
	setTag("stage", "candidate")
	setTag("team", "vision")
	b.screenshot(t, "run-edit")
	b.run(t, chromedp.Click(`#tags tr[data-key="old"] .delete-tag`))
	b.waitFor(t, "the deleted tag gone", `document.readyState === "complete" && !!document.querySelector("#tags") && !document.querySelector('#tags tr[data-key="old"]')`)
	b.noErrors(t)

	got, err := s.Tracking.GetRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, tg := range got.Tags {
		tags[tg.Key] = tg.Value
	}
	if tags["mlflow.note.content"] != "Tuned on the **full** data.\n<b>not bold</b>" || tags["stage"] != "candidate" || tags["team"] != "vision" {
		t.Errorf("the run's tags after the edits: %v", tags)
	}
	if _, ok := tags["old"]; ok {
		t.Errorf("the deleted tag is still there: %v", tags)
	}
	b.visit(t, "/runs/"+runID+"#logged-models")
	b.screenshot(t, "run-logged-models")
}
