package trackingtest

import (
	"fmt"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

// unknownExperiment is a well-formed experiment id no test creates.
const unknownExperiment = "987654321"

var experimentTests = []test{
	{"DefaultExperiment", testDefaultExperiment},
	{"CreateAndGet", testCreateGetExperiment},
	{"DuplicateName", testExperimentDuplicateName},
	{"NotFound", testExperimentNotFound},
	{"Rename", testRenameExperiment},
	{"DeleteRestore", testDeleteRestoreExperiment},
	{"Tags", testExperimentTags},
}

func testDefaultExperiment(e *env) {
	x := e.getExperiment(tracking.DefaultExperimentID)
	if x.ID != "0" || x.Name != "Default" || x.LifecycleStage != tracking.StageActive {
		e.Errorf("default experiment = %+v, want id 0, name Default, active", x)
	}
	if !strings.HasSuffix(x.ArtifactLocation, "/0") {
		e.Errorf("default experiment artifact location %q, want suffix /0", x.ArtifactLocation)
	}
	byName, err := e.svc.GetExperimentByName(e.ctx, "Default")
	e.must(err, "GetExperimentByName Default")
	if byName.ID != "0" {
		e.Errorf("GetExperimentByName(Default).ID = %q, want 0", byName.ID)
	}
	exps, _, err := e.svc.SearchExperiments(e.ctx, "", nil, tracking.ActiveOnly, 0, "")
	e.must(err, "SearchExperiments")
	if len(exps) != 1 || exps[0].ID != "0" {
		e.Errorf("a new store's experiments: %d (%v), want only Default", len(exps), exps)
	}
	// Runs with no experiment id go to the default experiment.
	r := e.createRun(tracking.CreateRunRequest{})
	if r.Info.ExperimentID != "0" {
		e.Errorf("run created without experiment id is in experiment %q, want 0", r.Info.ExperimentID)
	}
}

func testCreateGetExperiment(e *env) {
	tags := []tracking.Tag{{Key: "team", Value: "ml"}, {Key: "note", Value: "héllo wörld"}}
	id := e.createExperiment("exp-a", tags...)
	if id == "" || id == "0" {
		e.Fatalf("CreateExperiment returned id %q", id)
	}
	x := e.getExperiment(id)
	if x.ID != id || x.Name != "exp-a" || x.LifecycleStage != tracking.StageActive {
		e.Errorf("GetExperiment = %+v, want id %s, name exp-a, active", x, id)
	}
	if !strings.HasSuffix(x.ArtifactLocation, "/"+id) {
		e.Errorf("artifact location %q, want the default root + /%s", x.ArtifactLocation, id)
	}
	if x.CreationTime <= clockBase || x.LastUpdateTime < x.CreationTime {
		e.Errorf("creation_time %d, last_update_time %d: want the service's clock (> %d)", x.CreationTime, x.LastUpdateTime, int64(clockBase))
	}
	for _, want := range tags {
		if v, ok := tagValue(x.Tags, want.Key); !ok || v != want.Value {
			e.Errorf("tag %s = %q (present %v), want %q", want.Key, v, ok, want.Value)
		}
	}
	if len(x.Tags) != len(tags) {
		e.Errorf("tags = %v, want %v", x.Tags, tags)
	}

	byName, err := e.svc.GetExperimentByName(e.ctx, "exp-a")
	e.must(err, "GetExperimentByName")
	if byName.ID != id || byName.ArtifactLocation != x.ArtifactLocation || len(byName.Tags) != len(tags) {
		e.Errorf("GetExperimentByName = %+v, want %+v", byName, x)
	}

	loc := "s3://bucket/some/where"
	id2, err := e.svc.CreateExperiment(e.ctx, "exp-b", loc, nil)
	e.must(err, "CreateExperiment with location")
	if id2 == id {
		e.Errorf("two experiments got the same id %s", id)
	}
	if got := e.getExperiment(id2).ArtifactLocation; got != loc {
		e.Errorf("artifact location %q, want the given %q", got, loc)
	}

	// Names are case-sensitive: "EXP-A" is another experiment.
	id3 := e.createExperiment("EXP-A")
	if id3 == id {
		e.Errorf("EXP-A got the id of exp-a")
	}
	_, err = e.svc.GetExperimentByName(e.ctx, "Exp-A")
	e.wantCode(err, lode.ENotFound, "GetExperimentByName with other case")

	_, err = e.svc.CreateExperiment(e.ctx, "", "", nil)
	e.wantCode(err, lode.EInvalid, "CreateExperiment with empty name")
}

func testExperimentDuplicateName(e *env) {
	id := e.createExperiment("dup")
	_, err := e.svc.CreateExperiment(e.ctx, "dup", "", nil)
	e.wantCode(err, lode.EExists, "CreateExperiment with a taken name")
	_, err = e.store.CreateExperiment(e.ctx, tracking.Experiment{Name: "dup", LifecycleStage: tracking.StageActive, CreationTime: 1, LastUpdateTime: 1})
	e.wantCode(err, lode.EExists, "Store.CreateExperiment with a taken name")
	_, err = e.svc.CreateExperiment(e.ctx, "Default", "", nil)
	e.wantCode(err, lode.EExists, "CreateExperiment named Default")

	e.must(e.svc.DeleteExperiment(e.ctx, id), "DeleteExperiment")
	_, err = e.svc.CreateExperiment(e.ctx, "dup", "", nil)
	e.wantCode(err, lode.EExists, "CreateExperiment with the name of a deleted experiment")
	_, err = e.store.CreateExperiment(e.ctx, tracking.Experiment{Name: "dup", LifecycleStage: tracking.StageActive, CreationTime: 1, LastUpdateTime: 1})
	e.wantCode(err, lode.EExists, "Store.CreateExperiment with the name of a deleted experiment")

	// The failed attempts left nothing behind.
	exps, _, err := e.svc.SearchExperiments(e.ctx, "name = 'dup'", nil, tracking.AllViews, 0, "")
	e.must(err, "SearchExperiments")
	if len(exps) != 1 || exps[0].ID != id {
		e.Errorf("experiments named dup: %d, want 1 (id %s)", len(exps), id)
	}
}

func testExperimentNotFound(e *env) {
	_, err := e.svc.GetExperiment(e.ctx, unknownExperiment)
	e.wantCode(err, lode.ENotFound, "GetExperiment unknown")
	_, err = e.store.GetExperiment(e.ctx, unknownExperiment)
	e.wantCode(err, lode.ENotFound, "Store.GetExperiment unknown")
	_, err = e.svc.GetExperimentByName(e.ctx, "no such experiment")
	e.wantCode(err, lode.ENotFound, "GetExperimentByName unknown")
	e.wantCode(e.svc.RenameExperiment(e.ctx, unknownExperiment, "x"), lode.ENotFound, "RenameExperiment unknown")
	e.wantCode(e.store.RenameExperiment(e.ctx, unknownExperiment, "x"), lode.ENotFound, "Store.RenameExperiment unknown")
	e.wantCode(e.svc.DeleteExperiment(e.ctx, unknownExperiment), lode.ENotFound, "DeleteExperiment unknown")
	e.wantCode(e.svc.RestoreExperiment(e.ctx, unknownExperiment), lode.ENotFound, "RestoreExperiment unknown")
	e.wantCode(e.store.SetExperimentStage(e.ctx, unknownExperiment, tracking.StageDeleted), lode.ENotFound, "Store.SetExperimentStage unknown")
	e.wantCode(e.svc.SetExperimentTag(e.ctx, unknownExperiment, tracking.Tag{Key: "k", Value: "v"}), lode.ENotFound, "SetExperimentTag unknown")
	e.wantCode(e.svc.DeleteExperimentTag(e.ctx, unknownExperiment, "k"), lode.ENotFound, "DeleteExperimentTag unknown")
	_, err = e.svc.CreateRun(e.ctx, tracking.CreateRunRequest{ExperimentID: unknownExperiment})
	e.wantCode(err, lode.ENotFound, "CreateRun in unknown experiment")
}

func testRenameExperiment(e *env) {
	a := e.createExperiment("a")
	e.createExperiment("b")
	before := e.getExperiment(a)

	e.must(e.svc.RenameExperiment(e.ctx, a, "a2"), "RenameExperiment")
	after := e.getExperiment(a)
	if after.Name != "a2" {
		e.Errorf("renamed experiment's name %q, want a2", after.Name)
	}
	if after.ArtifactLocation != before.ArtifactLocation || after.CreationTime != before.CreationTime {
		e.Errorf("rename changed more than the name: %+v -> %+v", before, after)
	}
	if after.LastUpdateTime < before.LastUpdateTime {
		e.Errorf("rename moved last_update_time back: %d -> %d", before.LastUpdateTime, after.LastUpdateTime)
	}
	_, err := e.svc.GetExperimentByName(e.ctx, "a")
	e.wantCode(err, lode.ENotFound, "GetExperimentByName old name")
	x, err := e.svc.GetExperimentByName(e.ctx, "a2")
	e.must(err, "GetExperimentByName new name")
	if x.ID != a {
		e.Errorf("GetExperimentByName(a2).ID = %s, want %s", x.ID, a)
	}
	// The old name is free again.
	e.createExperiment("a")

	// MLflow reports a rename onto a taken name as BAD_REQUEST.
	e.wantCode(e.svc.RenameExperiment(e.ctx, a, "b"), lode.EBadRequest, "RenameExperiment to a taken name")
	e.wantCode(e.store.RenameExperiment(e.ctx, a, "b"), lode.EBadRequest, "Store.RenameExperiment to a taken name")
	if got := e.getExperiment(a).Name; got != "a2" {
		e.Errorf("failed rename changed the name to %q", got)
	}

	// An empty new name is refused, as MLflow's server refuses it.
	e.wantCode(e.svc.RenameExperiment(e.ctx, a, ""), lode.EInvalid, "RenameExperiment with no name")
	if got := e.getExperiment(a).Name; got != "a2" {
		e.Errorf("empty rename changed the name to %q", got)
	}

	// Deleted experiments keep their name and cannot be renamed.
	d := e.createExperiment("deleted-one")
	e.must(e.svc.DeleteExperiment(e.ctx, d), "DeleteExperiment")
	e.wantCode(e.svc.RenameExperiment(e.ctx, a, "deleted-one"), lode.EBadRequest, "RenameExperiment to a deleted experiment's name")
	e.wantCode(e.svc.RenameExperiment(e.ctx, d, "resurrected"), lode.EInvalidState, "RenameExperiment of a deleted experiment")
}

func testDeleteRestoreExperiment(e *env) {
	x := e.createExperiment("to-delete")
	other := e.createExperiment("other")
	r1 := e.newRun(x, "r1")
	r2 := e.newRun(x, "r2")
	ro := e.newRun(other, "ro")

	stage := func(id string) string {
		e.Helper()
		return e.getRun(id).Info.LifecycleStage
	}

	e.must(e.svc.DeleteExperiment(e.ctx, x), "DeleteExperiment")
	if got := e.getExperiment(x).LifecycleStage; got != tracking.StageDeleted {
		e.Errorf("deleted experiment's stage %q", got)
	}
	for _, id := range []string{r1, r2} {
		if got := stage(id); got != tracking.StageDeleted {
			e.Errorf("run of a deleted experiment has stage %q, want deleted", got)
		}
	}
	if got := stage(ro); got != tracking.StageActive {
		e.Errorf("run of another experiment has stage %q, want active", got)
	}
	if got, err := e.svc.GetExperimentByName(e.ctx, "to-delete"); err != nil || got.ID != x {
		e.Errorf("GetExperimentByName of a deleted experiment: %v, %v; want it", got, err)
	}

	_, err := e.svc.CreateRun(e.ctx, tracking.CreateRunRequest{ExperimentID: x})
	e.wantCode(err, lode.EInvalid, "CreateRun in a deleted experiment")
	e.wantCode(e.svc.SetExperimentTag(e.ctx, x, tracking.Tag{Key: "k", Value: "v"}), lode.EInvalid, "SetExperimentTag on a deleted experiment")
	e.wantCode(e.svc.DeleteExperiment(e.ctx, x), lode.ENotFound, "DeleteExperiment twice")
	e.wantCode(e.svc.RestoreExperiment(e.ctx, other), lode.ENotFound, "RestoreExperiment of an active experiment")

	runs, _ := e.searchRuns([]string{x}, "", nil, tracking.ActiveOnly, 0, "")
	if len(runs) != 0 {
		e.Errorf("active runs of a deleted experiment: %d, want 0", len(runs))
	}
	runs, _ = e.searchRuns([]string{x}, "", nil, tracking.DeletedOnly, 0, "")
	if !sameSet(runIDs(runs), []string{r1, r2}) {
		e.Errorf("deleted runs of a deleted experiment: %v, want r1, r2", runIDs(runs))
	}

	e.must(e.svc.RestoreExperiment(e.ctx, x), "RestoreExperiment")
	if got := e.getExperiment(x).LifecycleStage; got != tracking.StageActive {
		e.Errorf("restored experiment's stage %q", got)
	}
	for _, id := range []string{r1, r2} {
		if got := stage(id); got != tracking.StageActive {
			e.Errorf("run of a restored experiment has stage %q, want active", got)
		}
	}
	e.newRun(x, "after-restore")

	// Store contract: unknown ids.
	e.wantCode(e.store.SetExperimentStage(e.ctx, unknownExperiment, tracking.StageActive), lode.ENotFound, "Store.SetExperimentStage(active) unknown")
}

func testExperimentTags(e *env) {
	x := e.createExperiment("tagged")
	set := func(k, v string) {
		e.Helper()
		e.must(e.svc.SetExperimentTag(e.ctx, x, tracking.Tag{Key: k, Value: v}), "SetExperimentTag "+k)
	}
	check := func(want map[string]string) {
		e.Helper()
		tags := e.getExperiment(x).Tags
		got := map[string]string{}
		for _, t := range tags {
			if _, dup := got[t.Key]; dup {
				e.Errorf("tag %s listed twice: %v", t.Key, tags)
			}
			got[t.Key] = t.Value
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			e.Errorf("%s: tags %v, want %v", where(1), got, want)
		}
	}
	set("k", "v1")
	check(map[string]string{"k": "v1"})
	set("k", "v2")
	check(map[string]string{"k": "v2"})
	set("k2", strings.Repeat("x", 5000))
	set("mlflow.note.content", "# notes\nwith ünïcode")
	check(map[string]string{"k": "v2", "k2": strings.Repeat("x", 5000), "mlflow.note.content": "# notes\nwith ünïcode"})

	e.must(e.svc.DeleteExperimentTag(e.ctx, x, "k"), "DeleteExperimentTag")
	check(map[string]string{"k2": strings.Repeat("x", 5000), "mlflow.note.content": "# notes\nwith ünïcode"})
	e.wantCode(e.svc.DeleteExperimentTag(e.ctx, x, "k"), lode.ENotFound, "DeleteExperimentTag twice")
	e.wantCode(e.svc.DeleteExperimentTag(e.ctx, x, "never-set"), lode.ENotFound, "DeleteExperimentTag never set")
	e.wantCode(e.store.DeleteExperimentTag(e.ctx, x, "never-set"), lode.ENotFound, "Store.DeleteExperimentTag never set")

	// Tags of one experiment do not leak to another.
	y := e.createExperiment("untagged")
	if tags := e.getExperiment(y).Tags; len(tags) != 0 {
		e.Errorf("new experiment has tags %v", tags)
	}
	e.wantCode(e.svc.SetExperimentTag(e.ctx, x, tracking.Tag{Key: "", Value: "v"}), lode.EInvalid, "SetExperimentTag with empty key")
}
