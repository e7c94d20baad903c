package trackingtest

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

var loggedModelTests = []test{
	{"Lifecycle", testLoggedModelLifecycle},
	{"Errors", testLoggedModelErrors},
	{"Search", testSearchLoggedModels},
	{"OrderByLatestMetric", testSearchLoggedModelsLatestMetric},
	{"SearchDatasets", testSearchLoggedModelsDatasets},
}

func (e *env) createModel(r tracking.CreateLoggedModelRequest) *tracking.LoggedModel {
	e.Helper()
	lm, err := e.svc.CreateLoggedModel(e.ctx, r)
	e.must(err, "CreateLoggedModel "+r.Name)
	return lm
}

func (e *env) getModel(id string) *tracking.LoggedModel {
	e.Helper()
	lm, err := e.svc.GetLoggedModel(e.ctx, id)
	e.must(err, "GetLoggedModel")
	return lm
}

func tagMap(tags []tracking.Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = t.Key + "=" + t.Value
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func paramMap(params []tracking.Param) string {
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.Key + "=" + p.Value
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func testLoggedModelLifecycle(e *env) {
	x := e.createExperiment("models")
	exp := e.getExperiment(x)
	run := e.newRun(x, "r")
	lm := e.createModel(tracking.CreateLoggedModelRequest{
		ExperimentID: x, Name: "my-model", ModelType: "sklearn", SourceRunID: run,
		Params: []tracking.Param{{Key: "alpha", Value: "0.5"}},
		Tags:   []tracking.Tag{{Key: "k", Value: "v"}},
	})
	if lm.ModelID == "" || lm.ExperimentID != x || lm.Name != "my-model" || lm.ModelType != "sklearn" ||
		lm.SourceRunID != run || lm.Status != tracking.ModelPending || lm.LifecycleStage != tracking.StageActive {
		e.Errorf("created model %+v", lm)
	}
	if !strings.HasPrefix(lm.ArtifactURI, exp.ArtifactLocation+"/") || !strings.Contains(lm.ArtifactURI, lm.ModelID) {
		e.Errorf("model artifact uri %q, want under %q with the model id", lm.ArtifactURI, exp.ArtifactLocation)
	}
	if lm.CreationTime <= clockBase {
		e.Errorf("model creation time %d, want the service's clock", lm.CreationTime)
	}
	if tagMap(lm.Tags) != "k=v" || paramMap(lm.Params) != "alpha=0.5" {
		e.Errorf("created model tags %v, params %v", lm.Tags, lm.Params)
	}

	got := e.getModel(lm.ModelID)
	if got.ModelID != lm.ModelID || got.Name != lm.Name || got.Status != tracking.ModelPending ||
		got.ArtifactURI != lm.ArtifactURI || got.CreationTime != lm.CreationTime || tagMap(got.Tags) != "k=v" {
		e.Errorf("GetLoggedModel %+v, want %+v", got, lm)
	}
	info, err := e.store.GetLoggedModelInfo(e.ctx, lm.ModelID)
	e.must(err, "GetLoggedModelInfo")
	if info.ModelID != lm.ModelID || info.ExperimentID != x || info.Name != lm.Name || info.SourceRunID != run ||
		info.ArtifactURI != lm.ArtifactURI || len(info.Tags)+len(info.Params)+len(info.Metrics) != 0 {
		e.Errorf("GetLoggedModelInfo %+v, want the model without its data", info)
	}
	if exp, err := e.svc.LoggedModelExperiment(e.ctx, lm.ModelID); err != nil || exp != x {
		e.Errorf("LoggedModelExperiment: %q %v, want %q", exp, err, x)
	}

	fin, err := e.svc.FinalizeLoggedModel(e.ctx, lm.ModelID, tracking.ModelReady)
	e.must(err, "FinalizeLoggedModel")
	if fin.Status != tracking.ModelReady {
		e.Errorf("finalized status %q", fin.Status)
	}
	if got := e.getModel(lm.ModelID); got.Status != tracking.ModelReady || got.LastUpdateTime < got.CreationTime {
		e.Errorf("after finalize: status %q, times %d/%d", got.Status, got.CreationTime, got.LastUpdateTime)
	}
	_, err = e.svc.FinalizeLoggedModel(e.ctx, lm.ModelID, "DONE")
	e.wantCode(err, lode.EInvalid, "FinalizeLoggedModel with an unknown status")

	e.must(e.svc.SetLoggedModelTags(e.ctx, lm.ModelID, []tracking.Tag{{Key: "k", Value: "v2"}, {Key: "k2", Value: "x"}}), "SetLoggedModelTags")
	if got := tagMap(e.getModel(lm.ModelID).Tags); got != "k2=x,k=v2" {
		e.Errorf("model tags %q, want k=v2 and k2=x", got)
	}
	e.must(e.svc.DeleteLoggedModelTag(e.ctx, lm.ModelID, "k2"), "DeleteLoggedModelTag")
	if got := tagMap(e.getModel(lm.ModelID).Tags); got != "k=v2" {
		e.Errorf("model tags after delete %q, want k=v2", got)
	}
	e.wantCode(e.svc.DeleteLoggedModelTag(e.ctx, lm.ModelID, "k2"), lode.ENotFound, "DeleteLoggedModelTag twice")

	e.must(e.svc.LogLoggedModelParams(e.ctx, lm.ModelID, []tracking.Param{{Key: "beta", Value: "1"}}), "LogLoggedModelParams")
	if got := paramMap(e.getModel(lm.ModelID).Params); got != "alpha=0.5,beta=1" {
		e.Errorf("model params %q, want alpha and beta", got)
	}

	// Deleted models are gone.
	e.must(e.svc.DeleteLoggedModel(e.ctx, lm.ModelID), "DeleteLoggedModel")
	_, err = e.svc.GetLoggedModel(e.ctx, lm.ModelID)
	e.wantCode(err, lode.ENotFound, "GetLoggedModel after delete")
	_, err = e.store.GetLoggedModelInfo(e.ctx, lm.ModelID)
	e.wantCode(err, lode.ENotFound, "GetLoggedModelInfo after delete")
	e.wantCode(e.svc.DeleteLoggedModel(e.ctx, lm.ModelID), lode.ENotFound, "DeleteLoggedModel twice")
	e.wantCode(e.svc.SetLoggedModelTags(e.ctx, lm.ModelID, []tracking.Tag{{Key: "a", Value: "b"}}), lode.ENotFound, "SetLoggedModelTags after delete")
	_, err = e.svc.FinalizeLoggedModel(e.ctx, lm.ModelID, tracking.ModelReady)
	e.wantCode(err, lode.ENotFound, "FinalizeLoggedModel after delete")
	models, _, err := e.svc.SearchLoggedModels(e.ctx, []string{x}, "", nil, nil, 0, "")
	e.must(err, "SearchLoggedModels")
	if len(models) != 0 {
		e.Errorf("search finds a deleted model: %+v", models)
	}

	// A model created without a name gets one.
	unnamed := e.createModel(tracking.CreateLoggedModelRequest{ExperimentID: x})
	if unnamed.Name == "" || unnamed.ModelID == lm.ModelID {
		e.Errorf("unnamed model %+v", unnamed)
	}
}

func testLoggedModelErrors(e *env) {
	x := e.createExperiment("model-errors")
	const unknown = "m-0123456789abcdef0123456789abcdef"
	_, err := e.svc.GetLoggedModel(e.ctx, unknown)
	e.wantCode(err, lode.ENotFound, "GetLoggedModel unknown")
	_, err = e.store.GetLoggedModel(e.ctx, unknown)
	e.wantCode(err, lode.ENotFound, "Store.GetLoggedModel unknown")
	_, err = e.store.GetLoggedModelInfo(e.ctx, unknown)
	e.wantCode(err, lode.ENotFound, "Store.GetLoggedModelInfo unknown")
	_, err = e.svc.LoggedModelExperiment(e.ctx, unknown)
	e.wantCode(err, lode.ENotFound, "LoggedModelExperiment unknown")
	_, err = e.svc.FinalizeLoggedModel(e.ctx, unknown, tracking.ModelReady)
	e.wantCode(err, lode.ENotFound, "FinalizeLoggedModel unknown")
	e.wantCode(e.svc.DeleteLoggedModel(e.ctx, unknown), lode.ENotFound, "DeleteLoggedModel unknown")
	e.wantCode(e.svc.SetLoggedModelTags(e.ctx, unknown, []tracking.Tag{{Key: "a", Value: "b"}}), lode.ENotFound, "SetLoggedModelTags unknown")
	e.wantCode(e.svc.DeleteLoggedModelTag(e.ctx, unknown, "a"), lode.ENotFound, "DeleteLoggedModelTag unknown")
	e.wantCode(e.svc.LogLoggedModelParams(e.ctx, unknown, []tracking.Param{{Key: "a", Value: "b"}}), lode.ENotFound, "LogLoggedModelParams unknown")

	_, err = e.svc.CreateLoggedModel(e.ctx, tracking.CreateLoggedModelRequest{ExperimentID: unknownExperiment, Name: "m"})
	e.wantCode(err, lode.ENotFound, "CreateLoggedModel in an unknown experiment")
	_, err = e.svc.CreateLoggedModel(e.ctx, tracking.CreateLoggedModelRequest{ExperimentID: x, Name: "bad/name"})
	e.wantCode(err, lode.EInvalid, "CreateLoggedModel with an invalid name")
	_, err = e.svc.CreateLoggedModel(e.ctx, tracking.CreateLoggedModelRequest{Name: "m"})
	e.wantCode(err, lode.EInvalid, "CreateLoggedModel without an experiment")
	e.must(e.svc.DeleteExperiment(e.ctx, x), "DeleteExperiment")
	_, err = e.svc.CreateLoggedModel(e.ctx, tracking.CreateLoggedModelRequest{ExperimentID: x, Name: "m"})
	e.wantCode(err, lode.EInvalid, "CreateLoggedModel in a deleted experiment")
}

// modelFixture: in experiment x, created in this order, a (ready,
// stage=prod, p=1, acc 0.9), b (pending, stage=dev, p=2, acc 0.5), c (ready,
// nothing); in experiment y, d (ready, stage=prod).
func modelFixture(e *env) (x, y string, ids map[string]string) {
	e.Helper()
	x, y = e.createExperiment("model-search"), e.createExperiment("model-search-2")
	run := e.newRun(x, "trainer")
	ids = map[string]string{}
	mk := func(exp, name string, ready bool, tags []tracking.Tag, params []tracking.Param) string {
		lm := e.createModel(tracking.CreateLoggedModelRequest{ExperimentID: exp, Name: name, ModelType: "t-" + name, SourceRunID: run, Tags: tags, Params: params})
		if ready {
			_, err := e.svc.FinalizeLoggedModel(e.ctx, lm.ModelID, tracking.ModelReady)
			e.must(err, "FinalizeLoggedModel")
		}
		ids[name] = lm.ModelID
		return lm.ModelID
	}
	a := mk(x, "a", true, []tracking.Tag{{Key: "stage", Value: "prod"}}, []tracking.Param{{Key: "p", Value: "1"}})
	b := mk(x, "b", false, []tracking.Tag{{Key: "stage", Value: "dev"}}, []tracking.Param{{Key: "p", Value: "2"}})
	mk(x, "c", true, nil, nil)
	mk(y, "d", true, []tracking.Tag{{Key: "stage", Value: "prod"}}, nil)
	e.logBatch(run, []tracking.Metric{
		{Key: "acc", Value: 0.9, Timestamp: 1, ModelID: a},
		{Key: "acc", Value: 0.5, Timestamp: 1, ModelID: b},
	}, nil, nil)
	return x, y, ids
}

func modelNames(models []*tracking.LoggedModel) []string {
	out := make([]string, len(models))
	for i, lm := range models {
		out[i] = lm.Name
	}
	return out
}

func testSearchLoggedModels(e *env) {
	x, y, ids := modelFixture(e)
	search := func(exps []string, filter string, order ...tracking.LoggedModelOrder) []string {
		e.Helper()
		models, next, err := e.svc.SearchLoggedModels(e.ctx, exps, filter, nil, order, 0, "")
		if err != nil {
			e.Errorf("SearchLoggedModels(%q, %v): %v", filter, order, err)
			return nil
		}
		if next != "" {
			e.Errorf("SearchLoggedModels(%q): unexpected next page token", filter)
		}
		return modelNames(models)
	}
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"", []string{"a", "b", "c"}},
		{"name = 'a'", []string{"a"}},
		{"name != 'a'", []string{"b", "c"}},
		{"name IN ('a', 'c')", []string{"a", "c"}},
		{"name LIKE 'b%'", []string{"b"}},
		{"attributes.status = 'LOGGED_MODEL_READY'", []string{"a", "c"}},
		{"status = 'LOGGED_MODEL_PENDING'", []string{"b"}},
		{"model_type = 't-c'", []string{"c"}},
		{"model_id = '" + ids["b"] + "'", []string{"b"}},
		{"tags.stage = 'prod'", []string{"a"}},
		{"tags.stage IN ('prod', 'dev')", []string{"a", "b"}},
		{"params.p = '2'", []string{"b"}},
		{"params.p != '2'", []string{"a"}},
		{"metrics.acc > 0.6", []string{"a"}},
		{"metrics.acc >= 0.5", []string{"a", "b"}},
		{"metrics.acc < 0", nil},
		{"status = 'LOGGED_MODEL_READY' AND tags.stage = 'prod'", []string{"a"}},
	} {
		if got := search([]string{x}, c.filter); !sameSet(got, c.want) {
			e.Errorf("SearchLoggedModels(%q) = %v, want %v", c.filter, got, c.want)
		}
	}
	if got := search([]string{x, y}, "tags.stage = 'prod'"); !sameSet(got, []string{"a", "d"}) {
		e.Errorf("SearchLoggedModels over two experiments = %v, want a, d", got)
	}

	// Order: newest first by default.
	for _, c := range []struct {
		order []tracking.LoggedModelOrder
		want  []string
	}{
		{nil, []string{"c", "b", "a"}},
		{[]tracking.LoggedModelOrder{{FieldName: "name", Ascending: true}}, []string{"a", "b", "c"}},
		{[]tracking.LoggedModelOrder{{FieldName: "name", Ascending: false}}, []string{"c", "b", "a"}},
		{[]tracking.LoggedModelOrder{{FieldName: "creation_timestamp", Ascending: true}}, []string{"a", "b", "c"}},
		{[]tracking.LoggedModelOrder{{FieldName: "metrics.acc", Ascending: false}}, []string{"a", "b", "c"}},
		{[]tracking.LoggedModelOrder{{FieldName: "metrics.acc", Ascending: true}}, []string{"b", "a", "c"}},
		{[]tracking.LoggedModelOrder{{FieldName: "status", Ascending: true}, {FieldName: "name", Ascending: false}}, []string{"b", "c", "a"}},
	} {
		if got := search([]string{x}, "", c.order...); !slices.Equal(got, c.want) {
			e.Errorf("SearchLoggedModels order %v = %v, want %v", c.order, got, c.want)
		}
	}

	// Pages.
	for i := range 7 {
		e.createModel(tracking.CreateLoggedModelRequest{ExperimentID: x, Name: fmt.Sprintf("page-%d", i)})
	}
	full, _, err := e.svc.SearchLoggedModels(e.ctx, []string{x, y}, "", nil, nil, 1000, "")
	e.must(err, "SearchLoggedModels")
	var walked []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			e.Fatalf("logged model pagination does not end")
		}
		page, next, err := e.svc.SearchLoggedModels(e.ctx, []string{x, y}, "", nil, nil, 3, token)
		e.must(err, "SearchLoggedModels page")
		if len(page) > 3 {
			e.Errorf("page of %d with max_results 3", len(page))
		}
		for _, lm := range page {
			walked = append(walked, lm.ModelID)
		}
		if next == "" {
			break
		}
		token = next
	}
	fullIDs := make([]string, len(full))
	for i, lm := range full {
		fullIDs[i] = lm.ModelID
	}
	if len(full) != 11 || !slices.Equal(walked, fullIDs) {
		e.Errorf("pages give %d models, one page %d; want the same 11", len(walked), len(full))
	}

	_, _, err = e.svc.SearchLoggedModels(e.ctx, nil, "", nil, nil, 0, "")
	e.wantCode(err, lode.EInvalid, "SearchLoggedModels without experiments")
	_, _, err = e.svc.SearchLoggedModels(e.ctx, []string{x}, "nope = 'x'", nil, nil, 0, "")
	e.wantCode(err, lode.EInvalid, "SearchLoggedModels with an invalid filter")
	_, _, err = e.svc.SearchLoggedModels(e.ctx, []string{x}, "", nil, nil, 0, "garbage!")
	e.wantCode(err, lode.EInvalid, "SearchLoggedModels with a bad page token")
}

// MLflow orders logged models on a metric by its latest value (greatest
// timestamp, then step), not by its best value.
func testSearchLoggedModelsLatestMetric(e *env) {
	x, _, ids := modelFixture(e)
	run := e.newRun(x, "retrain")
	// a's latest acc falls from 0.9 to 0.1; b's stays 0.5.
	e.logBatch(run, []tracking.Metric{{Key: "acc", Value: 0.1, Timestamp: 2, Step: 1, ModelID: ids["a"]}}, nil, nil)
	models, _, err := e.svc.SearchLoggedModels(e.ctx, []string{x}, "", nil, []tracking.LoggedModelOrder{{FieldName: "metrics.acc", Ascending: false}}, 0, "")
	e.must(err, "SearchLoggedModels")
	if got, want := modelNames(models), []string{"b", "a", "c"}; !slices.Equal(got, want) {
		e.Errorf("order by metrics.acc DESC (latest values a 0.1, b 0.5) = %v, want %v", got, want)
	}
}

// testSearchLoggedModelsDatasets checks the datasets of a logged-models
// search as MLflow's server applies them (recorded from 3.17.2): a model is
// found when it has a metric on one of the datasets, by name and digest; a
// dataset given without a digest matches only metrics logged without one;
// a metric comparison holds only for metrics on those datasets.
func testSearchLoggedModelsDatasets(e *env) {
	x, y, ids := modelFixture(e)
	run := e.newRun(x, "evaluator")
	// a: acc 0.9 (no dataset, from the fixture), acc 0.8 on train/d1;
	// b: acc 0.5 (no dataset), acc 0.3 on test/d2, a NaN loss on train/d1;
	// c: loss 0.2 on "nodigest" logged without a digest; d (experiment y): acc 0.7 on train/d1.
	e.logBatch(run, []tracking.Metric{
		{Key: "acc", Value: 0.8, Timestamp: 2, ModelID: ids["a"], DatasetName: "train", DatasetDigest: "d1"},
		{Key: "acc", Value: 0.3, Timestamp: 2, ModelID: ids["b"], DatasetName: "test", DatasetDigest: "d2"},
		{Key: "loss", Value: math.NaN(), Timestamp: 2, ModelID: ids["b"], DatasetName: "train", DatasetDigest: "d1"},
		{Key: "loss", Value: 0.2, Timestamp: 2, ModelID: ids["c"], DatasetName: "nodigest"},
		{Key: "acc", Value: 0.7, Timestamp: 2, ModelID: ids["d"], DatasetName: "train", DatasetDigest: "d1"},
	}, nil, nil)
	train, test := tracking.DatasetFilter{Name: "train", Digest: "d1"}, tracking.DatasetFilter{Name: "test", Digest: "d2"}
	for _, c := range []struct {
		exps     []string
		filter   string
		datasets []tracking.DatasetFilter
		want     []string
	}{
		{[]string{x}, "", nil, []string{"a", "b", "c"}},
		{[]string{x}, "", []tracking.DatasetFilter{train}, []string{"a", "b"}}, // b by its NaN loss
		{[]string{x}, "", []tracking.DatasetFilter{test}, []string{"b"}},
		{[]string{x}, "", []tracking.DatasetFilter{train, test}, []string{"a", "b"}},
		{[]string{x, y}, "", []tracking.DatasetFilter{train}, []string{"a", "b", "d"}},
		{[]string{x}, "", []tracking.DatasetFilter{{Name: "train"}}, nil},
		{[]string{x}, "", []tracking.DatasetFilter{{Name: "train", Digest: "d2"}}, nil},
		{[]string{x}, "", []tracking.DatasetFilter{{Name: "nodigest"}}, []string{"c"}},
		{[]string{x}, "", []tracking.DatasetFilter{{Name: "nope", Digest: "d1"}}, nil},
		// Metric comparisons look at the metrics on the datasets only.
		{[]string{x}, "metrics.acc > 0.6", nil, []string{"a"}},
		{[]string{x}, "metrics.acc > 0.6", []tracking.DatasetFilter{train}, []string{"a"}},
		{[]string{x}, "metrics.acc > 0.85", []tracking.DatasetFilter{train}, nil},
		{[]string{x}, "metrics.acc > 0.2", []tracking.DatasetFilter{test}, []string{"b"}},
		{[]string{x}, "metrics.acc > 0.4", []tracking.DatasetFilter{test}, nil},
		{[]string{x}, "metrics.acc > 0.2", []tracking.DatasetFilter{train, test}, []string{"a", "b"}},
		{[]string{x}, "metrics.loss < 1", []tracking.DatasetFilter{train}, nil},
		// Other comparisons are not narrowed, and the datasets still apply.
		{[]string{x}, "name = 'b'", []tracking.DatasetFilter{train}, []string{"b"}},
		{[]string{x}, "name = 'c'", []tracking.DatasetFilter{train}, nil},
		{[]string{x}, "tags.stage = 'prod'", []tracking.DatasetFilter{train, test}, []string{"a"}},
	} {
		models, next, err := e.svc.SearchLoggedModels(e.ctx, c.exps, c.filter, c.datasets, nil, 0, "")
		if err != nil {
			e.Errorf("SearchLoggedModels(%q, datasets %v): %v", c.filter, c.datasets, err)
			continue
		}
		if next != "" {
			e.Errorf("SearchLoggedModels(%q, datasets %v): unexpected next page token", c.filter, c.datasets)
		}
		if got := modelNames(models); !sameSet(got, c.want) {
			e.Errorf("SearchLoggedModels(%q, datasets %v) = %v, want %v", c.filter, c.datasets, got, c.want)
		}
	}
	// Pages over a dataset search hold each model once, however many
	// metrics it has on the datasets.
	for i := range 5 {
		lm := e.createModel(tracking.CreateLoggedModelRequest{ExperimentID: x, Name: fmt.Sprintf("page-%d", i)})
		e.logBatch(run, []tracking.Metric{
			{Key: "acc", Value: 0.1, Timestamp: 3, ModelID: lm.ModelID, DatasetName: "train", DatasetDigest: "d1"},
			{Key: "acc", Value: 0.2, Timestamp: 4, Step: 1, ModelID: lm.ModelID, DatasetName: "train", DatasetDigest: "d1"},
		}, nil, nil)
	}
	var walked []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			e.Fatalf("logged model pagination with datasets does not end")
		}
		page, next, err := e.svc.SearchLoggedModels(e.ctx, []string{x}, "metrics.acc >= 0.1", []tracking.DatasetFilter{train}, nil, 2, token)
		e.must(err, "SearchLoggedModels page")
		walked = append(walked, modelNames(page)...)
		if next == "" {
			break
		}
		token = next
	}
	if want := []string{"page-4", "page-3", "page-2", "page-1", "page-0", "a"}; !slices.Equal(walked, want) {
		e.Errorf("pages of a dataset search = %v, want %v", walked, want)
	}

	for _, bad := range [][]tracking.DatasetFilter{{{Digest: "d1"}}, {train, {}}, make([]tracking.DatasetFilter, tracking.MaxDatasetFilters+1)} {
		_, _, err := e.svc.SearchLoggedModels(e.ctx, []string{x}, "", bad, nil, 0, "")
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchLoggedModels with %d datasets, one without a name", len(bad)))
	}
}
