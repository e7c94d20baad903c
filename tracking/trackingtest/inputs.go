package trackingtest

import (
	"fmt"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

var inputTests = []test{
	{"LogInputs", testLogInputs},
	{"SearchByDataset", testSearchByDataset},
	{"ModelInputsOutputs", testModelInputsOutputs},
	{"SearchDatasets", testSearchDatasets},
}

// testSearchDatasets: an experiment's datasets, once per context they were
// used in, ordered, and only the experiments asked for.
func testSearchDatasets(e *env) {
	x := e.createExperiment("datasets-x")
	y := e.createExperiment("datasets-y")
	r1, r2, r3 := e.newRun(x, "r1"), e.newRun(x, "r2"), e.newRun(y, "r3")
	train, eval := dataset("train", "d1", "/data/train"), dataset("eval", "d2", "/data/eval")
	e.must(e.svc.LogInputs(e.ctx, r1, []tracking.DatasetInput{input(train, "training"), input(eval, "")}, nil), "LogInputs r1")
	e.must(e.svc.LogInputs(e.ctx, r2, []tracking.DatasetInput{input(train, "training"), input(eval, "validation")}, nil), "LogInputs r2")
	e.must(e.svc.LogInputs(e.ctx, r3, []tracking.DatasetInput{input(train, "other")}, nil), "LogInputs r3")
	got, err := e.svc.SearchDatasets(e.ctx, []string{x})
	e.must(err, "SearchDatasets")
	sum := func(name, digest, context string) tracking.DatasetSummary {
		return tracking.DatasetSummary{ExperimentID: x, Name: name, Digest: digest, Context: context}
	}
	want := []tracking.DatasetSummary{sum("eval", "d2", ""), sum("eval", "d2", "validation"), sum("train", "d1", "training")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		e.Errorf("SearchDatasets(%s) = %v, want %v", x, got, want)
	}
	if got, err := e.svc.SearchDatasets(e.ctx, []string{y, x}); err != nil || len(got) != 4 {
		e.Errorf("SearchDatasets(both) = %v, %v; want 4 summaries", got, err)
	}
	if _, err := e.svc.SearchDatasets(e.ctx, nil); lode.ErrorCode(err) != lode.EInvalid {
		e.Errorf("SearchDatasets without experiments: %v, want INVALID_PARAMETER_VALUE", err)
	}
}

const contextTag = "mlflow.data.context"

func dataset(name, digest, source string) tracking.Dataset {
	return tracking.Dataset{
		Name: name, Digest: digest, SourceType: "local", Source: source,
		Schema: `{"mlflow_colspec": [{"name": "x", "type": "double"}]}`, Profile: `{"num_rows": 10}`,
	}
}

func input(d tracking.Dataset, context string) tracking.DatasetInput {
	var tags []tracking.Tag
	if context != "" {
		tags = []tracking.Tag{{Key: contextTag, Value: context}}
	}
	return tracking.DatasetInput{Dataset: d, Tags: tags}
}

// findInput returns the run's input of dataset name/digest.
func findInput(r *tracking.Run, name, digest string) (tracking.DatasetInput, int) {
	var found tracking.DatasetInput
	n := 0
	for _, in := range r.Inputs {
		if in.Dataset.Name == name && in.Dataset.Digest == digest {
			found = in
			n++
		}
	}
	return found, n
}

func testLogInputs(e *env) {
	x := e.createExperiment("inputs")
	y := e.createExperiment("inputs-other")
	r1, r2, r3 := e.newRun(x, "r1"), e.newRun(x, "r2"), e.newRun(y, "r3")

	train := dataset("train", "d1", "/data/train")
	eval := dataset("eval", "d2", "/data/eval")
	e.must(e.svc.LogInputs(e.ctx, r1, []tracking.DatasetInput{
		{Dataset: train, Tags: []tracking.Tag{{Key: contextTag, Value: "training"}, {Key: "extra", Value: "x"}}},
		input(eval, "evaluation"),
	}, nil), "LogInputs r1")

	run := e.getRun(r1)
	if len(run.Inputs) != 2 {
		e.Fatalf("run has %d inputs, want 2: %+v", len(run.Inputs), run.Inputs)
	}
	in, _ := findInput(run, "train", "d1")
	if in.Dataset != train {
		e.Errorf("input dataset %+v, want %+v", in.Dataset, train)
	}
	if v, _ := tagValue(in.Tags, contextTag); v != "training" || len(in.Tags) != 2 {
		e.Errorf("input tags %v, want context training and extra", in.Tags)
	}
	if in, _ := findInput(run, "eval", "d2"); in.Dataset != eval {
		e.Errorf("eval input %+v", in)
	}

	// Logging a dataset again does not duplicate it.
	e.must(e.svc.LogInputs(e.ctx, r1, []tracking.DatasetInput{input(train, "training")}, nil), "LogInputs again")
	if _, n := findInput(e.getRun(r1), "train", "d1"); n != 1 {
		e.Errorf("train is %d inputs of r1 after logging it twice, want 1", n)
	}

	// Datasets are stored once per experiment by (name, digest): another
	// run logging the same name and digest shares the stored dataset, with
	// its own input tags.
	other := dataset("train", "d1", "/somewhere/else")
	e.must(e.svc.LogInputs(e.ctx, r2, []tracking.DatasetInput{input(other, "validation")}, nil), "LogInputs r2")
	in, n := findInput(e.getRun(r2), "train", "d1")
	if n != 1 || in.Dataset.Source != "/data/train" {
		e.Errorf("r2's train input %+v (%d), want the experiment's stored dataset (source /data/train)", in, n)
	}
	if v, _ := tagValue(in.Tags, contextTag); v != "validation" {
		e.Errorf("r2's input context %q, want validation", v)
	}
	if in, _ := findInput(e.getRun(r1), "train", "d1"); func() string { v, _ := tagValue(in.Tags, contextTag); return v }() != "training" {
		e.Errorf("r1's input tags changed by r2: %v", in.Tags)
	}
	// A new digest is a new dataset.
	e.must(e.svc.LogInputs(e.ctx, r2, []tracking.DatasetInput{input(dataset("train", "d9", "/v9"), "")}, nil), "LogInputs r2 d9")
	if in, n := findInput(e.getRun(r2), "train", "d9"); n != 1 || in.Dataset.Source != "/v9" || len(in.Tags) != 0 {
		e.Errorf("r2's train/d9 input %+v (%d)", in, n)
	}
	// Another experiment has its own datasets.
	e.must(e.svc.LogInputs(e.ctx, r3, []tracking.DatasetInput{input(other, "training")}, nil), "LogInputs r3")
	if in, _ := findInput(e.getRun(r3), "train", "d1"); in.Dataset.Source != "/somewhere/else" {
		e.Errorf("r3's dataset in another experiment: %+v, want source /somewhere/else", in.Dataset)
	}

	// Validation.
	e.wantCode(e.svc.LogInputs(e.ctx, r1, []tracking.DatasetInput{{Dataset: tracking.Dataset{Name: "", Digest: "x"}}}, nil), lode.EInvalid, "LogInputs without a name")
	e.wantCode(e.svc.LogInputs(e.ctx, r1, []tracking.DatasetInput{{Dataset: tracking.Dataset{Name: "n", Digest: ""}}}, nil), lode.EInvalid, "LogInputs without a digest")
	if got := len(e.getRun(r1).Inputs); got != 2 {
		e.Errorf("r1 has %d inputs after rejected requests, want 2", got)
	}
	// Many datasets in one request.
	var many []tracking.DatasetInput
	for i := range 30 {
		many = append(many, input(dataset(fmt.Sprintf("ds-%02d", i), "dd", "/s"), "training"))
	}
	e.must(e.svc.LogInputs(e.ctx, r3, many, nil), "LogInputs 30 datasets")
	if got := len(e.getRun(r3).Inputs); got != 31 {
		e.Errorf("r3 has %d inputs, want 31", got)
	}
}

func testSearchByDataset(e *env) {
	x := e.createExperiment("dataset-search")
	r1, r2, r3 := e.newRun(x, "r1"), e.newRun(x, "r2"), e.newRun(x, "r3")
	labels := labeler{r1: "r1", r2: "r2", r3: "r3"}
	e.must(e.svc.LogInputs(e.ctx, r1, []tracking.DatasetInput{
		input(dataset("train", "d1", "/t"), "training"),
		input(dataset("eval", "d2", "/e"), "evaluation"),
	}, nil), "LogInputs r1")
	e.must(e.svc.LogInputs(e.ctx, r2, []tracking.DatasetInput{input(dataset("train", "d1", "/t"), "validation")}, nil), "LogInputs r2")
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"datasets.name = 'train'", []string{"r1", "r2"}},
		{"dataset.name = 'eval'", []string{"r1"}},
		{"datasets.name != 'train'", []string{"r1"}},
		{"datasets.name LIKE 'tr%'", []string{"r1", "r2"}},
		{"datasets.name ILIKE 'EVAL'", []string{"r1"}},
		{"datasets.name IN ('eval', 'nope')", []string{"r1"}},
		{"datasets.name NOT IN ('train')", []string{"r1"}},
		{"datasets.digest = 'd2'", []string{"r1"}},
		{"datasets.digest = 'd1'", []string{"r1", "r2"}},
		{"datasets.context = 'validation'", []string{"r2"}},
		{"datasets.context = 'training'", []string{"r1"}},
		{"datasets.context IN ('training', 'validation')", []string{"r1", "r2"}},
		{"datasets.context LIKE '%tion'", []string{"r1", "r2"}},
		{"datasets.name = 'train' AND datasets.context = 'validation'", []string{"r2"}},
		{"datasets.name = 'nope'", nil},
	} {
		runs, _, err := e.svc.SearchRuns(e.ctx, []string{x}, c.filter, nil, tracking.ActiveOnly, 0, "")
		if err != nil {
			e.Errorf("SearchRuns(%q): %v", c.filter, err)
			continue
		}
		ids := runIDs(runs)
		if d := dupes(ids); len(d) > 0 {
			e.Errorf("SearchRuns(%q) lists runs twice: %v", c.filter, labels.names(d))
		}
		if got := labels.names(ids); !sameSet(got, c.want) {
			e.Errorf("SearchRuns(%q) = %v, want %v", c.filter, got, c.want)
		}
	}
	_, _, err := e.svc.SearchRuns(e.ctx, []string{x}, "datasets.source = 'x'", nil, tracking.ActiveOnly, 0, "")
	e.wantCode(err, lode.EInvalid, "SearchRuns on datasets.source")
	// Search results carry the inputs.
	runs, _ := e.searchRuns([]string{x}, "datasets.digest = 'd2'", nil, tracking.ActiveOnly, 0, "")
	if len(runs) != 1 || len(runs[0].Inputs) != 2 {
		e.Errorf("search result inputs: %+v", runs)
	}
}

// MLflow 3 links runs to the logged models they used and produced.
func testModelInputsOutputs(e *env) {
	x := e.createExperiment("model-io")
	id := e.newRun(x, "r")
	e.must(e.svc.LogInputs(e.ctx, id, nil, []tracking.ModelInput{{ModelID: "m-in-1"}, {ModelID: "m-in-2"}}), "LogInputs models")
	e.must(e.svc.LogInputs(e.ctx, id, nil, []tracking.ModelInput{{ModelID: "m-in-1"}}), "LogInputs model again")
	e.must(e.svc.LogOutputs(e.ctx, id, []tracking.ModelOutput{{ModelID: "m-out", Step: 3}}), "LogOutputs")
	r := e.getRun(id)
	if len(r.ModelInputs) != 2 {
		e.Errorf("model inputs %+v, want m-in-1 and m-in-2", r.ModelInputs)
	}
	if len(r.ModelOutputs) != 1 || r.ModelOutputs[0] != (tracking.ModelOutput{ModelID: "m-out", Step: 3}) {
		e.Errorf("model outputs %+v, want m-out at step 3", r.ModelOutputs)
	}
}
