package trackingtest

import (
	"regexp"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

// unknownRun is a well-formed run id no test creates.
const unknownRun = "0123456789abcdef0123456789abcdef"

var runTests = []test{
	{"CreateAndGet", testCreateRun},
	{"RunName", testCreateRunName},
	{"NotFound", testRunNotFound},
	{"Update", testUpdateRun},
	{"DeleteRestore", testDeleteRestoreRun},
	{"Tags", testRunTags},
	{"StoreCreateRun", testStoreCreateRun},
	{"StartRunAt", testStartRunAt},
	{"CountRuns", testCountRuns},
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func testCreateRun(e *env) {
	x := e.createExperiment("runs")
	exp := e.getExperiment(x)
	r := e.createRun(tracking.CreateRunRequest{
		ExperimentID: x, UserID: "alice", StartTime: 1234, RunName: "first",
		Tags: []tracking.Tag{{Key: "team", Value: "ml"}, {Key: "mlflow.source.name", Value: "train.py"}},
	})
	info := r.Info
	if !hex32.MatchString(info.RunID) {
		e.Errorf("run id %q, want 32 hex digits", info.RunID)
	}
	if info.ExperimentID != x || info.UserID != "alice" || info.StartTime != 1234 || info.RunName != "first" ||
		info.Status != tracking.RunRunning || info.EndTime != nil || info.LifecycleStage != tracking.StageActive {
		e.Errorf("created run info %+v", info)
	}
	if want := exp.ArtifactLocation + "/" + info.RunID + "/artifacts"; info.ArtifactURI != want {
		e.Errorf("artifact uri %q, want %q", info.ArtifactURI, want)
	}
	if len(r.Metrics) != 0 || len(r.Params) != 0 || len(r.Inputs) != 0 {
		e.Errorf("new run has data: %+v", r)
	}

	got := e.getRun(info.RunID)
	if !sameInfo(got.Info, info) {
		e.Errorf("GetRun info %+v, want %+v", got.Info, info)
	}
	for k, v := range map[string]string{"team": "ml", "mlflow.source.name": "train.py", tracking.TagRunName: "first"} {
		if tv, ok := tagValue(got.Tags, k); !ok || tv != v {
			e.Errorf("tag %s = %q (present %v), want %q", k, tv, ok, v)
		}
	}
	if len(got.Tags) != 3 {
		e.Errorf("tags %v, want 3", got.Tags)
	}
	ri, err := e.store.GetRunInfo(e.ctx, info.RunID)
	e.must(err, "GetRunInfo")
	if ri.RunID != info.RunID || ri.RunName != "first" || ri.ExperimentID != x {
		e.Errorf("GetRunInfo = %+v", ri)
	}

	// start_time defaults to now; two runs get two ids.
	r2 := e.createRun(tracking.CreateRunRequest{ExperimentID: x})
	if r2.Info.StartTime <= clockBase {
		e.Errorf("default start time %d, want the service's clock", r2.Info.StartTime)
	}
	if r2.Info.RunID == info.RunID {
		e.Errorf("two runs got the same id")
	}

	_, err = e.svc.CreateRun(e.ctx, tracking.CreateRunRequest{ExperimentID: x, Tags: []tracking.Tag{{Key: "bad//key", Value: "v"}}})
	e.wantCode(err, lode.EInvalid, "CreateRun with an invalid tag key")
}

func testCreateRunName(e *env) {
	x := e.createExperiment("names")
	check := func(r *tracking.Run, want string) {
		e.Helper()
		got := e.getRun(r.Info.RunID)
		if got.Info.RunName != want {
			e.Errorf("run name %q, want %q", got.Info.RunName, want)
		}
		if v, ok := tagValue(got.Tags, tracking.TagRunName); !ok || v != want {
			e.Errorf("%s tag %q (present %v), want %q", tracking.TagRunName, v, ok, want)
		}
		if n := countTags(got.Tags, tracking.TagRunName); n != 1 {
			e.Errorf("%d %s tags", n, tracking.TagRunName)
		}
	}
	check(e.createRun(tracking.CreateRunRequest{ExperimentID: x, RunName: "from-arg"}), "from-arg")
	check(e.createRun(tracking.CreateRunRequest{ExperimentID: x, Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "from-tag"}}}), "from-tag")
	check(e.createRun(tracking.CreateRunRequest{ExperimentID: x, RunName: "same", Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "same"}}}), "same")

	gen := e.createRun(tracking.CreateRunRequest{ExperimentID: x})
	if gen.Info.RunName == "" {
		e.Errorf("a run created without a name got none")
	}
	check(gen, gen.Info.RunName)

	_, err := e.svc.CreateRun(e.ctx, tracking.CreateRunRequest{ExperimentID: x, RunName: "a", Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "b"}}})
	e.wantCode(err, lode.EInvalid, "CreateRun with conflicting run_name and tag")
	// Run names need not be unique.
	check(e.createRun(tracking.CreateRunRequest{ExperimentID: x, RunName: "from-arg"}), "from-arg")
}

func testRunNotFound(e *env) {
	_, err := e.svc.GetRun(e.ctx, unknownRun)
	e.wantCode(err, lode.ENotFound, "GetRun unknown")
	_, err = e.store.GetRun(e.ctx, unknownRun)
	e.wantCode(err, lode.ENotFound, "Store.GetRun unknown")
	_, err = e.store.GetRunInfo(e.ctx, unknownRun)
	e.wantCode(err, lode.ENotFound, "Store.GetRunInfo unknown")
	_, err = e.svc.UpdateRun(e.ctx, unknownRun, tracking.RunFinished, nil, "")
	e.wantCode(err, lode.ENotFound, "UpdateRun unknown")
	_, err = e.store.UpdateRun(e.ctx, unknownRun, tracking.RunFinished, nil, "")
	e.wantCode(err, lode.ENotFound, "Store.UpdateRun unknown")
	e.wantCode(e.svc.DeleteRun(e.ctx, unknownRun), lode.ENotFound, "DeleteRun unknown")
	e.wantCode(e.svc.RestoreRun(e.ctx, unknownRun), lode.ENotFound, "RestoreRun unknown")
	e.wantCode(e.store.SetRunStage(e.ctx, unknownRun, tracking.StageDeleted), lode.ENotFound, "Store.SetRunStage unknown")
	e.wantCode(e.svc.LogBatch(e.ctx, unknownRun, []tracking.Metric{{Key: "m", Value: 1}}, nil, nil), lode.ENotFound, "LogBatch unknown")
	e.wantCode(e.store.LogBatch(e.ctx, unknownRun, []tracking.Metric{{Key: "m", Value: 1}}, nil, nil), lode.ENotFound, "Store.LogBatch unknown")
	e.wantCode(e.svc.SetTag(e.ctx, unknownRun, tracking.Tag{Key: "k", Value: "v"}), lode.ENotFound, "SetTag unknown")
	e.wantCode(e.store.DeleteTag(e.ctx, unknownRun, "k"), lode.ENotFound, "Store.DeleteTag unknown")
	e.wantCode(e.store.LogInputs(e.ctx, unknownRun, []tracking.DatasetInput{{Dataset: tracking.Dataset{Name: "d", Digest: "x"}}}, nil), lode.ENotFound, "Store.LogInputs unknown")
	// MLflow answers an unknown run's history with nothing, not an error.
	if hist, _, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: unknownRun, Key: "m"}); err != nil || len(hist) != 0 {
		e.Errorf("GetMetricHistory unknown = %v, %v; want nothing", hist, err)
	}
	_, err = e.svc.GetRun(e.ctx, "not/a/run/id")
	e.wantCode(err, lode.EInvalid, "GetRun with a malformed id")
}

func testUpdateRun(e *env) {
	x := e.createExperiment("updates")
	id := e.newRun(x, "before")

	info, err := e.svc.UpdateRun(e.ctx, id, tracking.RunFinished, i64(5000), "")
	e.must(err, "UpdateRun status/end")
	if info.Status != tracking.RunFinished || info.EndTime == nil || *info.EndTime != 5000 || info.RunName != "before" {
		e.Errorf("UpdateRun returned %+v", info)
	}
	got := e.getRun(id).Info
	if got.Status != tracking.RunFinished || got.EndTime == nil || *got.EndTime != 5000 || got.RunName != "before" {
		e.Errorf("after UpdateRun, GetRun = %+v", got)
	}

	// Zero values change nothing; the name changes the tag too.
	info, err = e.svc.UpdateRun(e.ctx, id, "", nil, "after")
	e.must(err, "UpdateRun name")
	if info.RunName != "after" || info.Status != tracking.RunFinished || info.EndTime == nil || *info.EndTime != 5000 {
		e.Errorf("UpdateRun(name) returned %+v", info)
	}
	run := e.getRun(id)
	if v, _ := tagValue(run.Tags, tracking.TagRunName); v != "after" || run.Info.RunName != "after" {
		e.Errorf("renamed run: name %q, tag %q; want after", run.Info.RunName, v)
	}
	if n := countTags(run.Tags, tracking.TagRunName); n != 1 {
		e.Errorf("%d %s tags after rename", n, tracking.TagRunName)
	}

	for _, s := range []string{tracking.RunScheduled, tracking.RunFailed, tracking.RunKilled, tracking.RunRunning} {
		info, err = e.svc.UpdateRun(e.ctx, id, s, nil, "")
		e.must(err, "UpdateRun "+s)
		if info.Status != s {
			e.Errorf("status %q, want %q", info.Status, s)
		}
	}
	_, err = e.svc.UpdateRun(e.ctx, id, "DONE", nil, "")
	e.wantCode(err, lode.EInvalid, "UpdateRun with an unknown status")
	if got := e.getRun(id).Info.Status; got != tracking.RunRunning {
		e.Errorf("rejected update changed status to %q", got)
	}
	// Runs found by name after a rename.
	runs, _ := e.searchRuns([]string{x}, "attributes.run_name = 'after'", nil, tracking.ActiveOnly, 0, "")
	if len(runs) != 1 || runs[0].Info.RunID != id {
		e.Errorf("search by new run name found %v", runIDs(runs))
	}
}

func testDeleteRestoreRun(e *env) {
	x := e.createExperiment("lifecycle")
	id := e.newRun(x, "r")
	keep := e.newRun(x, "keep")
	e.logBatch(id, []tracking.Metric{{Key: "m", Value: 1, Timestamp: 1}}, []tracking.Param{{Key: "p", Value: "1"}}, []tracking.Tag{{Key: "t", Value: "1"}})

	e.must(e.svc.DeleteRun(e.ctx, id), "DeleteRun")
	r := e.getRun(id)
	if r.Info.LifecycleStage != tracking.StageDeleted {
		e.Errorf("deleted run's stage %q", r.Info.LifecycleStage)
	}
	if _, ok := paramValue(r.Params, "p"); !ok || len(r.Metrics) != 1 {
		e.Errorf("deleted run lost its data: %+v", r)
	}
	if got := e.getRun(keep).Info.LifecycleStage; got != tracking.StageActive {
		e.Errorf("other run's stage %q", got)
	}

	what := "on a deleted run"
	e.wantCode(e.svc.LogBatch(e.ctx, id, []tracking.Metric{{Key: "m", Value: 2, Timestamp: 2}}, nil, nil), lode.EInvalid, "LogBatch "+what)
	e.wantCode(e.svc.LogMetric(e.ctx, id, tracking.Metric{Key: "m", Value: 2, Timestamp: 2}), lode.EInvalid, "LogMetric "+what)
	e.wantCode(e.svc.LogParam(e.ctx, id, tracking.Param{Key: "q", Value: "1"}), lode.EInvalid, "LogParam "+what)
	e.wantCode(e.svc.SetTag(e.ctx, id, tracking.Tag{Key: "t", Value: "2"}), lode.EInvalid, "SetTag "+what)
	e.wantCode(e.svc.DeleteTag(e.ctx, id, "t"), lode.EInvalid, "DeleteTag "+what)
	_, err := e.svc.UpdateRun(e.ctx, id, tracking.RunFinished, nil, "")
	e.wantCode(err, lode.EInvalid, "UpdateRun "+what)
	e.wantCode(e.svc.LogInputs(e.ctx, id, []tracking.DatasetInput{{Dataset: tracking.Dataset{Name: "d", Digest: "x"}}}, nil), lode.EInvalid, "LogInputs "+what)
	e.wantCode(e.svc.LogOutputs(e.ctx, id, []tracking.ModelOutput{{ModelID: "m-1"}}), lode.EInvalid, "LogOutputs "+what)
	r = e.getRun(id)
	if len(e.history(id, "m")) != 1 || r.Info.Status != tracking.RunRunning {
		e.Errorf("writes to a deleted run were stored: %+v", r)
	}
	if v, _ := tagValue(r.Tags, "t"); v != "1" {
		e.Errorf("tag t = %q after rejected writes, want 1", v)
	}

	// Deleting again is allowed, as in MLflow.
	e.must(e.svc.DeleteRun(e.ctx, id), "DeleteRun twice")

	e.must(e.svc.RestoreRun(e.ctx, id), "RestoreRun")
	if got := e.getRun(id).Info.LifecycleStage; got != tracking.StageActive {
		e.Errorf("restored run's stage %q", got)
	}
	e.must(e.svc.LogMetric(e.ctx, id, tracking.Metric{Key: "m", Value: 3, Timestamp: 3}), "LogMetric on a restored run")
	if n := len(e.history(id, "m")); n != 2 {
		e.Errorf("history after restore has %d values, want 2", n)
	}
}

func testRunTags(e *env) {
	x := e.createExperiment("run-tags")
	id := e.newRun(x, "r")
	e.must(e.svc.SetTag(e.ctx, id, tracking.Tag{Key: "k", Value: "v1"}), "SetTag")
	e.must(e.svc.SetTag(e.ctx, id, tracking.Tag{Key: "k", Value: "v2"}), "SetTag overwrite")
	e.must(e.svc.SetTag(e.ctx, id, tracking.Tag{Key: "long", Value: strings.Repeat("é", 3000)}), "SetTag long")
	r := e.getRun(id)
	if v, _ := tagValue(r.Tags, "k"); v != "v2" || countTags(r.Tags, "k") != 1 {
		e.Errorf("tag k = %q (%d times), want v2 once", v, countTags(r.Tags, "k"))
	}
	if v, _ := tagValue(r.Tags, "long"); v != strings.Repeat("é", 3000) {
		e.Errorf("long tag value not kept (len %d)", len(v))
	}
	e.must(e.svc.DeleteTag(e.ctx, id, "k"), "DeleteTag")
	if _, ok := tagValue(e.getRun(id).Tags, "k"); ok {
		e.Errorf("deleted tag still there")
	}
	e.wantCode(e.svc.DeleteTag(e.ctx, id, "k"), lode.ENotFound, "DeleteTag twice")
	e.wantCode(e.store.DeleteTag(e.ctx, id, "never"), lode.ENotFound, "Store.DeleteTag never set")

	// SetTag mlflow.runName renames the run.
	e.must(e.svc.SetTag(e.ctx, id, tracking.Tag{Key: tracking.TagRunName, Value: "renamed"}), "SetTag runName")
	r = e.getRun(id)
	if r.Info.RunName != "renamed" || countTags(r.Tags, tracking.TagRunName) != 1 {
		e.Errorf("after SetTag runName: name %q, tags %v", r.Info.RunName, r.Tags)
	}
}

// The Store stores what it is given: the run info and initial tags.
func testStoreCreateRun(e *env) {
	x := e.createExperiment("store-runs")
	end := int64(99)
	info := tracking.RunInfo{
		RunID: tracking.NewID(), RunName: "direct", ExperimentID: x, UserID: "u",
		Status: tracking.RunFinished, StartTime: 42, EndTime: &end,
		ArtifactURI: "file:///tmp/a", LifecycleStage: tracking.StageActive,
	}
	r, err := e.store.CreateRun(e.ctx, info, []tracking.Tag{{Key: tracking.TagRunName, Value: "direct"}, {Key: "a", Value: "b"}})
	e.must(err, "Store.CreateRun")
	got := r.Info
	if got.RunID != info.RunID || got.RunName != "direct" || got.ExperimentID != x || got.UserID != "u" ||
		got.Status != tracking.RunFinished || got.StartTime != 42 || got.EndTime == nil || *got.EndTime != 99 ||
		got.ArtifactURI != info.ArtifactURI || got.LifecycleStage != tracking.StageActive {
		e.Errorf("Store.CreateRun returned %+v, want %+v", got, info)
	}
	if v, _ := tagValue(r.Tags, "a"); v != "b" || len(r.Tags) != 2 {
		e.Errorf("Store.CreateRun tags %v", r.Tags)
	}
}

// sameInfo compares run infos, end times by value.
func sameInfo(a, b tracking.RunInfo) bool {
	ae, be := a.EndTime, b.EndTime
	a.EndTime, b.EndTime = nil, nil
	if a != b || (ae == nil) != (be == nil) {
		return false
	}
	return ae == nil || *ae == *be
}

func testStartRunAt(e *env) {
	x := e.createExperiment("start-at")
	r := e.createRun(tracking.CreateRunRequest{ExperimentID: x, StartTime: 1000})
	e.must(e.svc.StartRunAt(e.ctx, r.Info.RunID, 5000), "StartRunAt")
	if got := e.getRun(r.Info.RunID).Info.StartTime; got != 5000 {
		e.Errorf("start time %d after StartRunAt, want 5000", got)
	}
	e.wantCode(e.svc.StartRunAt(e.ctx, r.Info.RunID, 0), lode.EInvalid, "StartRunAt 0")
	e.wantCode(e.svc.StartRunAt(e.ctx, unknownRun, 5000), lode.ENotFound, "StartRunAt unknown run")
	e.wantCode(e.store.SetRunStartTime(e.ctx, unknownRun, 5000), lode.ENotFound, "SetRunStartTime unknown run")
	e.must(e.svc.DeleteRun(e.ctx, r.Info.RunID), "DeleteRun")
	e.wantCode(e.svc.StartRunAt(e.ctx, r.Info.RunID, 6000), lode.EInvalid, "StartRunAt deleted run")
}

func testCountRuns(e *env) {
	a, b, empty := e.createExperiment("count-a"), e.createExperiment("count-b"), e.createExperiment("count-empty")
	for range 3 {
		e.newRun(a, "")
	}
	gone := e.newRun(a, "")
	e.must(e.svc.DeleteRun(e.ctx, gone), "DeleteRun")
	e.newRun(b, "")
	got, err := e.svc.CountRuns(e.ctx, []string{a, b, empty})
	e.must(err, "CountRuns")
	want := map[string]tracking.RunCount{a: {Active: 3, Deleted: 1}, b: {Active: 1}}
	if len(got) != len(want) || got[a] != want[a] || got[b] != want[b] {
		e.Errorf("CountRuns = %v, want %v", got, want)
	}
	if got, err := e.svc.CountRuns(e.ctx, nil); err != nil || len(got) != 0 {
		e.Errorf("CountRuns(nil) = %v, %v; want nothing", got, err)
	}
	_, err = e.svc.CountRuns(e.ctx, []string{"x"})
	e.wantCode(err, lode.EInvalid, "CountRuns malformed id")
	_, err = e.svc.CountRuns(e.ctx, make([]string, tracking.MaxCountExperiments+1))
	e.wantCode(err, lode.EInvalid, "CountRuns too many")
}
