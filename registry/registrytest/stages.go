package registrytest

import (
	"fmt"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/registry"
)

var stageTests = []test{
	{"Transition", testTransitionStage},
	{"CaseInsensitive", testStageCaseInsensitive},
	{"Invalid", testInvalidStage},
	{"ArchiveExisting", testArchiveExisting},
	{"LatestVersions", testLatestVersions},
}

func testTransitionStage(e *env) {
	e.createModel("m")
	before := e.createVersion("m")
	e.createVersion("m")
	v := e.transition("m", "1", registry.StageStaging, false)
	if v.CurrentStage != registry.StageStaging || v.Version != "1" {
		e.Errorf("TransitionStage returned %s in %q", v, v.CurrentStage)
	}
	if v.LastUpdateTime <= before.LastUpdateTime {
		e.Errorf("TransitionStage: last update %d, not after %d", v.LastUpdateTime, before.LastUpdateTime)
	}
	if got := e.getVersion("m", "1").CurrentStage; got != registry.StageStaging {
		e.Errorf("stage after transition: %q", got)
	}
	if got := e.getVersion("m", "2").CurrentStage; got != registry.StageNone {
		e.Errorf("another version's stage changed: %q", got)
	}
	// Every stage can go to every other, and back to None.
	for _, st := range []string{registry.StageProduction, registry.StageArchived, registry.StageStaging, registry.StageNone} {
		if v := e.transition("m", "1", st, false); v.CurrentStage != st {
			e.Errorf("transition to %s: stage %q", st, v.CurrentStage)
		}
	}
	// Two versions may share a stage when nothing is archived.
	e.transition("m", "1", registry.StageProduction, false)
	e.transition("m", "2", registry.StageProduction, false)
	if got := stageOf([]*registry.Version{e.getVersion("m", "1"), e.getVersion("m", "2")}); got["1"] != registry.StageProduction || got["2"] != registry.StageProduction {
		e.Errorf("stages after moving both to Production without archiving: %v", got)
	}
}

func testStageCaseInsensitive(e *env) {
	e.createModel("m")
	e.createVersion("m")
	for _, c := range []struct{ in, want string }{
		{"staging", registry.StageStaging},
		{"PRODUCTION", registry.StageProduction},
		{"aRcHiVeD", registry.StageArchived},
		{"none", registry.StageNone},
		{"Staging", registry.StageStaging},
	} {
		if v := e.transition("m", "1", c.in, false); v.CurrentStage != c.want {
			e.Errorf("transition to %q: stage %q, want %q", c.in, v.CurrentStage, c.want)
		}
		if got := e.getVersion("m", "1").CurrentStage; got != c.want {
			e.Errorf("stored stage after transition to %q: %q, want %q", c.in, got, c.want)
		}
	}
	got, err := e.svc.LatestVersions(e.ctx, "m", []string{"STAGING"})
	e.must(err, "LatestVersions [STAGING]")
	if keys := versionKeys(got); len(keys) != 1 || keys[0] != "m/1" {
		e.Errorf("LatestVersions [STAGING]: %v, want [m/1]", keys)
	}
}

func testInvalidStage(e *env) {
	e.createModel("m")
	e.createVersion("m")
	for _, bad := range []string{"", "Deleted_Internal", "prod", "Staging ", "Active"} {
		_, err := e.svc.TransitionStage(e.ctx, "m", "1", bad, false)
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("TransitionStage to %q", bad))
		_, err = e.svc.LatestVersions(e.ctx, "m", []string{bad})
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("LatestVersions of stage %q", bad))
	}
	if got := e.getVersion("m", "1").CurrentStage; got != registry.StageNone {
		e.Errorf("stage after refused transitions: %q", got)
	}
}

func testArchiveExisting(e *env) {
	e.createModel("m")
	e.createModel("other")
	for range 5 {
		e.createVersion("m")
	}
	e.createVersion("other")
	e.transition("m", "1", registry.StageProduction, false)
	e.transition("m", "2", registry.StageProduction, false)
	e.transition("m", "3", registry.StageStaging, false)
	e.transition("other", "1", registry.StageProduction, false)
	// 4 goes to Production, archiving 1 and 2 (the other Production
	// versions of m) but not 3 (Staging), 5 (None) or other's version.
	v, err := e.svc.TransitionStage(e.ctx, "m", "4", "production", true)
	e.must(err, "TransitionStage with archive_existing_versions")
	if v.CurrentStage != registry.StageProduction {
		e.Errorf("transitioned version in %q", v.CurrentStage)
	}
	want := map[string]string{"1": registry.StageArchived, "2": registry.StageArchived, "3": registry.StageStaging, "4": registry.StageProduction, "5": registry.StageNone}
	got := map[string]string{}
	for n := range want {
		got[n] = e.getVersion("m", n).CurrentStage
	}
	if !equalMaps(got, want) {
		e.Errorf("stages after archiving Production: %v, want %v", got, want)
	}
	if st := e.getVersion("other", "1").CurrentStage; st != registry.StageProduction {
		e.Errorf("another model's Production version moved to %q", st)
	}
	// Archived versions are newer in LastUpdateTime than before.
	if a := e.getVersion("m", "1"); a.LastUpdateTime < v.LastUpdateTime {
		e.Errorf("archived version's last update %d before the transition's %d", a.LastUpdateTime, v.LastUpdateTime)
	}

	// Moving the only Staging version to Staging again with archiving
	// archives nothing, itself included.
	e.transition("m", "3", registry.StageStaging, true)
	if st := e.getVersion("m", "3").CurrentStage; st != registry.StageStaging {
		e.Errorf("version 3 re-sent to Staging with archiving: %q", st)
	}
	// 5 to Staging archives 3 only.
	e.transition("m", "5", "STAGING", true)
	want = map[string]string{"1": registry.StageArchived, "2": registry.StageArchived, "3": registry.StageArchived, "4": registry.StageProduction, "5": registry.StageStaging}
	for n := range want {
		got[n] = e.getVersion("m", n).CurrentStage
	}
	if !equalMaps(got, want) {
		e.Errorf("stages after archiving Staging: %v, want %v", got, want)
	}

	// The store itself archives only versions of the target stage.
	_, err = e.store.TransitionStage(e.ctx, "m", "1", registry.StageProduction, true, clockBase+1_000_000)
	e.must(err, "Store.TransitionStage with archiveOthers")
	want = map[string]string{"1": registry.StageProduction, "2": registry.StageArchived, "3": registry.StageArchived, "4": registry.StageArchived, "5": registry.StageStaging}
	for n := range want {
		got[n] = e.getVersion("m", n).CurrentStage
	}
	if !equalMaps(got, want) {
		e.Errorf("stages after Store.TransitionStage: %v, want %v", got, want)
	}
}

func testLatestVersions(e *env) {
	e.createModel("m")
	e.createModel("empty")
	for range 6 {
		e.createVersion("m")
	}
	e.transition("m", "1", registry.StageProduction, false)
	e.transition("m", "2", registry.StageStaging, false)
	e.transition("m", "3", registry.StageProduction, false)
	e.transition("m", "4", registry.StageArchived, false)
	e.transition("m", "6", registry.StageStaging, false)
	// None: 5; Staging: 2, 6; Production: 1, 3; Archived: 4.
	all := map[string]string{registry.StageNone: "5", registry.StageStaging: "6", registry.StageProduction: "3", registry.StageArchived: "4"}
	latest := func(stages ...string) map[string]string {
		e.Helper()
		vs, err := e.svc.LatestVersions(e.ctx, "m", stages)
		e.must(err, fmt.Sprintf("LatestVersions %v", stages))
		if d := dupes(versionKeys(vs)); len(d) > 0 {
			e.Errorf("LatestVersions %v repeats %v", stages, d)
		}
		out := latestByStage(vs)
		if len(out) != len(vs) {
			e.Errorf("LatestVersions %v gives two versions of one stage: %v", stages, versionKeys(vs))
		}
		return out
	}
	if got := latest(); !equalMaps(got, all) {
		e.Errorf("LatestVersions of all stages: %v, want %v", got, all)
	}
	if got := latest(registry.StageProduction, "staging"); !equalMaps(got, map[string]string{registry.StageProduction: "3", registry.StageStaging: "6"}) {
		e.Errorf("LatestVersions [Production staging]: %v", got)
	}
	if got := latest("None"); !equalMaps(got, map[string]string{registry.StageNone: "5"}) {
		e.Errorf("LatestVersions [None]: %v", got)
	}
	if got := latestByStage(e.getModel("m").LatestVersions); !equalMaps(got, all) {
		e.Errorf("GetModel latest versions: %v, want %v", got, all)
	}
	// Store-level, with canonical stage names.
	vs, err := e.store.LatestVersions(e.ctx, "m", []string{registry.StageArchived})
	e.must(err, "Store.LatestVersions")
	if got := latestByStage(vs); !equalMaps(got, map[string]string{registry.StageArchived: "4"}) {
		e.Errorf("Store.LatestVersions [Archived]: %v", got)
	}
	// Deleting the newest Production version makes the previous one latest.
	e.must(e.svc.DeleteVersion(e.ctx, "m", "3"), "DeleteVersion 3")
	if got := latest(registry.StageProduction); !equalMaps(got, map[string]string{registry.StageProduction: "1"}) {
		e.Errorf("LatestVersions [Production] after deleting 3: %v", got)
	}
	if got := latest(); len(got) != 4 {
		e.Errorf("LatestVersions after deleting 3: %v", got)
	}
	// A model without versions has none.
	vs, err = e.svc.LatestVersions(e.ctx, "empty", nil)
	e.must(err, "LatestVersions of a model without versions")
	if len(vs) != 0 {
		e.Errorf("LatestVersions of a model without versions: %v", versionKeys(vs))
	}
}
