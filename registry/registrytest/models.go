package registrytest

import (
	"fmt"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

var modelTests = []test{
	{"CreateGet", testCreateGetModel},
	{"CreateDuplicate", testCreateDuplicateModel},
	{"InvalidNames", testInvalidModelNames},
	{"Unknown", testUnknownModel},
	{"UpdateDescription", testUpdateModel},
	{"Tags", testModelTags},
	{"DeleteMissingTag", testDeleteMissingModelTag},
	{"Rename", testRenameModel},
	{"RenameOntoExisting", testRenameOntoExisting},
	{"RenameInvalid", testRenameInvalid},
	{"Delete", testDeleteModel},
}

func testCreateGetModel(e *env) {
	m, err := e.svc.CreateModel(e.ctx, "model-a", "the description",
		[]tracking.Tag{{Key: "team", Value: "ml"}, {Key: "env", Value: "dev"}, {Key: "env", Value: "prod"}})
	e.must(err, "CreateModel")
	check := func(m *registry.Model, what string) {
		e.Helper()
		if m.Name != "model-a" || m.Description != "the description" {
			e.Errorf("%s: name %q description %q", what, m.Name, m.Description)
		}
		if m.CreationTime <= 0 || m.LastUpdateTime != m.CreationTime {
			e.Errorf("%s: creation time %d, last update time %d; want equal and set", what, m.CreationTime, m.LastUpdateTime)
		}
		// As MLflow: the last value of a key repeated in the request wins.
		if tags := e.tagMap(m.Tags, what); !equalMaps(tags, map[string]string{"team": "ml", "env": "prod"}) {
			e.Errorf("%s: tags %v, want team=ml env=prod", what, tags)
		}
		if len(m.Aliases) != 0 || len(m.LatestVersions) != 0 {
			e.Errorf("%s: new model has aliases %v and latest versions %v", what, m.Aliases, versionKeys(m.LatestVersions))
		}
	}
	check(m, "CreateModel")
	check(e.getModel("model-a"), "GetModel")

	// Names are case-sensitive and may hold spaces and dots.
	for _, name := range []string{"Model-A", "model a", "model.a"} {
		e.createModel(name)
		if got := e.getModel(name); got.Name != name {
			e.Errorf("GetModel(%q) = %q", name, got.Name)
		}
	}
}

func testCreateDuplicateModel(e *env) {
	e.createModel("dup", tracking.Tag{Key: "k", Value: "first"})
	_, err := e.svc.CreateModel(e.ctx, "dup", "other", []tracking.Tag{{Key: "k", Value: "second"}})
	e.wantCode(err, lode.EExists, "CreateModel of an existing name")
	// The store says so too, not only the service.
	_, err = e.store.CreateModel(e.ctx, registry.Model{Name: "dup", CreationTime: 1, LastUpdateTime: 1})
	e.wantCode(err, lode.EExists, "Store.CreateModel of an existing name")
	m := e.getModel("dup")
	if v, _ := tagValue(m.Tags, "k"); v != "first" || m.Description != "" {
		e.Errorf("after a refused duplicate: tag k=%q description %q, want first and empty", v, m.Description)
	}
}

func testInvalidModelNames(e *env) {
	for _, name := range []string{"", "   ", "a/b", "a:b", "models:/x"} {
		_, err := e.svc.CreateModel(e.ctx, name, "", nil)
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("CreateModel(%q)", name))
	}
	_, err := e.svc.CreateModel(e.ctx, "ok", "", []tracking.Tag{{Key: "", Value: "v"}})
	e.wantCode(err, lode.EInvalid, "CreateModel with an empty tag key")
	_, err = e.svc.CreateModel(e.ctx, "ok", "", []tracking.Tag{{Key: strings.Repeat("k", registry.MaxTagKeyLength+1), Value: "v"}})
	e.wantCode(err, lode.EInvalid, "CreateModel with a too long tag key")
	if _, err := e.svc.GetModel(e.ctx, "ok"); lode.ErrorCode(err) != lode.ENotFound {
		e.Errorf("GetModel after refused creations: %v, want %s", err, lode.ENotFound)
	}
}

func testUnknownModel(e *env) {
	_, err := e.svc.GetModel(e.ctx, "nope")
	e.wantCode(err, lode.ENotFound, "GetModel of an unknown model")
	_, err = e.store.GetModel(e.ctx, "nope")
	e.wantCode(err, lode.ENotFound, "Store.GetModel of an unknown model")
	_, err = e.svc.UpdateModel(e.ctx, "nope", "d")
	e.wantCode(err, lode.ENotFound, "UpdateModel of an unknown model")
	_, err = e.svc.RenameModel(e.ctx, "nope", "other")
	e.wantCode(err, lode.ENotFound, "RenameModel of an unknown model")
	e.wantCode(e.svc.DeleteModel(e.ctx, "nope"), lode.ENotFound, "DeleteModel of an unknown model")
	e.wantCode(e.svc.SetModelTag(e.ctx, "nope", tracking.Tag{Key: "k", Value: "v"}), lode.ENotFound, "SetModelTag on an unknown model")
	e.wantCode(e.svc.DeleteModelTag(e.ctx, "nope", "k"), lode.ENotFound, "DeleteModelTag on an unknown model")
	_, err = e.svc.LatestVersions(e.ctx, "nope", nil)
	e.wantCode(err, lode.ENotFound, "LatestVersions of an unknown model")
	_, err = e.svc.CreateVersion(e.ctx, registry.CreateVersionRequest{Name: "nope", Source: "s3://b/k"})
	e.wantCode(err, lode.ENotFound, "CreateVersion of an unknown model")
	_, err = e.store.CreateVersion(e.ctx, registry.Version{Name: "nope", Source: "s3://b/k", CurrentStage: registry.StageNone, Status: registry.StatusReady, CreationTime: 1, LastUpdateTime: 1})
	e.wantCode(err, lode.ENotFound, "Store.CreateVersion of an unknown model")
	if _, err := e.svc.GetModel(e.ctx, "other"); lode.ErrorCode(err) != lode.ENotFound {
		e.Errorf("GetModel(other) after renaming an unknown model: %v, want %s", err, lode.ENotFound)
	}
}

func testUpdateModel(e *env) {
	created := e.createModel("m")
	m, err := e.svc.UpdateModel(e.ctx, "m", "new description")
	e.must(err, "UpdateModel")
	if m.Description != "new description" {
		e.Errorf("UpdateModel returned description %q", m.Description)
	}
	if m.LastUpdateTime <= created.LastUpdateTime || m.CreationTime != created.CreationTime {
		e.Errorf("UpdateModel: creation %d -> %d, last update %d -> %d; want creation kept and last update later",
			created.CreationTime, m.CreationTime, created.LastUpdateTime, m.LastUpdateTime)
	}
	if got := e.getModel("m"); got.Description != "new description" {
		e.Errorf("GetModel after UpdateModel: description %q", got.Description)
	}
	// An empty description clears it.
	_, err = e.svc.UpdateModel(e.ctx, "m", "")
	e.must(err, "UpdateModel to empty")
	if got := e.getModel("m"); got.Description != "" {
		e.Errorf("description after clearing: %q", got.Description)
	}
}

func testModelTags(e *env) {
	e.createModel("m", tracking.Tag{Key: "a", Value: "1"})
	e.createModel("other", tracking.Tag{Key: "a", Value: "other"})
	e.must(e.svc.SetModelTag(e.ctx, "m", tracking.Tag{Key: "b", Value: "2"}), "SetModelTag b")
	e.must(e.svc.SetModelTag(e.ctx, "m", tracking.Tag{Key: "a", Value: "overwritten"}), "SetModelTag a again")
	e.must(e.svc.SetModelTag(e.ctx, "m", tracking.Tag{Key: "empty", Value: ""}), "SetModelTag with an empty value")
	if tags := e.tagMap(e.getModel("m").Tags, "GetModel"); !equalMaps(tags, map[string]string{"a": "overwritten", "b": "2", "empty": ""}) {
		e.Errorf("tags after set and overwrite: %v", tags)
	}
	e.must(e.svc.DeleteModelTag(e.ctx, "m", "a"), "DeleteModelTag a")
	if tags := e.tagMap(e.getModel("m").Tags, "GetModel"); !equalMaps(tags, map[string]string{"b": "2", "empty": ""}) {
		e.Errorf("tags after delete: %v", tags)
	}
	if tags := e.tagMap(e.getModel("other").Tags, "GetModel other"); !equalMaps(tags, map[string]string{"a": "other"}) {
		e.Errorf("tags of another model changed: %v", tags)
	}
	e.wantCode(e.svc.SetModelTag(e.ctx, "m", tracking.Tag{Key: "", Value: "v"}), lode.EInvalid, "SetModelTag with an empty key")
	e.wantCode(e.svc.SetModelTag(e.ctx, "m", tracking.Tag{Key: strings.Repeat("k", registry.MaxTagKeyLength+1)}), lode.EInvalid, "SetModelTag with a too long key")
}

// MLflow's delete_registered_model_tag does nothing when the model has no
// such tag (it only requires the model to exist).
func testDeleteMissingModelTag(e *env) {
	e.createModel("m", tracking.Tag{Key: "keep", Value: "1"})
	if err := e.svc.DeleteModelTag(e.ctx, "m", "absent"); err != nil {
		e.Errorf("DeleteModelTag of a key the model does not have: %v, want no error (MLflow ignores it)", err)
	}
	if tags := e.tagMap(e.getModel("m").Tags, "GetModel"); !equalMaps(tags, map[string]string{"keep": "1"}) {
		e.Errorf("tags after deleting an absent key: %v", tags)
	}
}

// setUpRich gives model name two versions, tags on the model and on a
// version, an alias and a description.
func (e *env) setUpRich(name string) {
	e.Helper()
	_, err := e.svc.CreateModel(e.ctx, name, "desc of "+name, []tracking.Tag{{Key: "t", Value: name}})
	e.must(err, "CreateModel "+name)
	e.createVersion(name, tracking.Tag{Key: "vt", Value: "v1"})
	e.createVersion(name)
	e.transition(name, "2", "Production", false)
	e.must(e.svc.SetAlias(e.ctx, name, "champion", "1"), "SetAlias")
}

// checkRich checks what setUpRich(orig) made, now found under name.
func (e *env) checkRich(name, orig, what string) {
	e.Helper()
	m := e.getModel(name)
	if m.Name != name || m.Description != "desc of "+orig {
		e.Errorf("%s: model %q description %q", what, m.Name, m.Description)
	}
	if tags := e.tagMap(m.Tags, what); !equalMaps(tags, map[string]string{"t": orig}) {
		e.Errorf("%s: model tags %v, want t=%s", what, tags, orig)
	}
	if as := aliasMap(m.Aliases); !equalMaps(as, map[string]string{"champion": "1"}) {
		e.Errorf("%s: aliases %v, want champion -> 1", what, as)
	}
	if got := e.versionNumbers(name); !sameSet(got, []string{"1", "2"}) {
		e.Errorf("%s: versions %v, want [1 2]", what, got)
	}
	v1 := e.getVersion(name, "1")
	if v1.Name != name {
		e.Errorf("%s: version 1 has name %q", what, v1.Name)
	}
	if tags := e.tagMap(v1.Tags, what); !equalMaps(tags, map[string]string{"vt": "v1"}) {
		e.Errorf("%s: version 1 tags %v", what, tags)
	}
	if v2 := e.getVersion(name, "2"); v2.CurrentStage != registry.StageProduction {
		e.Errorf("%s: version 2 stage %q", what, v2.CurrentStage)
	}
	v, err := e.svc.GetVersionByAlias(e.ctx, name, "champion")
	e.must(err, what+": GetVersionByAlias")
	if v.Name != name || v.Version != "1" {
		e.Errorf("%s: alias champion resolves to %s", what, v)
	}
	if lv := latestByStage(m.LatestVersions); !equalMaps(lv, map[string]string{registry.StageNone: "1", registry.StageProduction: "2"}) || len(m.LatestVersions) != 2 {
		e.Errorf("%s: latest versions by stage %v, want None: 1, Production: 2", what, lv)
	}
}

func testRenameModel(e *env) {
	e.setUpRich("old")
	m, err := e.svc.RenameModel(e.ctx, "old", "new")
	e.must(err, "RenameModel")
	if m.Name != "new" {
		e.Errorf("RenameModel returned name %q", m.Name)
	}
	e.checkRich("new", "old", "after rename")
	_, err = e.svc.GetModel(e.ctx, "old")
	e.wantCode(err, lode.ENotFound, "GetModel of the old name")
	_, err = e.svc.GetVersion(e.ctx, "old", "1")
	e.wantCode(err, lode.ENotFound, "GetVersion under the old name")
	if vs := e.walkVersions("name = 'old'", nil, 100); len(vs) != 0 {
		e.Errorf("versions still under the old name: %v", versionKeys(vs))
	}
	// Numbering goes on under the new name.
	if v := e.createVersion("new"); v.Version != "3" {
		e.Errorf("first version created after rename: %s, want 3", v.Version)
	}
	// The old name is free again and starts afresh.
	e.createModel("old")
	if v := e.createVersion("old"); v.Version != "1" {
		e.Errorf("first version of a new model with the old name: %s, want 1", v.Version)
	}
	if m := e.getModel("old"); len(m.Tags) != 0 || len(m.Aliases) != 0 {
		e.Errorf("new model with the old name inherited tags %v or aliases %v", m.Tags, m.Aliases)
	}
}

func testRenameOntoExisting(e *env) {
	e.setUpRich("a")
	e.createModel("b", tracking.Tag{Key: "own", Value: "b"})
	_, err := e.svc.RenameModel(e.ctx, "a", "b")
	e.wantCode(err, lode.EExists, "RenameModel onto an existing name")
	_, err = e.store.RenameModel(e.ctx, "a", "b", clockBase+1_000_000)
	e.wantCode(err, lode.EExists, "Store.RenameModel onto an existing name")
	e.checkRich("a", "a", "after a refused rename")
	b := e.getModel("b")
	if tags := e.tagMap(b.Tags, "GetModel b"); !equalMaps(tags, map[string]string{"own": "b"}) || len(b.Aliases) != 0 || len(b.LatestVersions) != 0 {
		e.Errorf("target of a refused rename changed: tags %v, aliases %v, latest %v", tags, b.Aliases, versionKeys(b.LatestVersions))
	}
	if got := e.versionNumbers("b"); len(got) != 0 {
		e.Errorf("target of a refused rename has versions %v", got)
	}
}

func testRenameInvalid(e *env) {
	e.createModel("m")
	for _, bad := range []string{"", "a/b", "a:b", "  "} {
		_, err := e.svc.RenameModel(e.ctx, "m", bad)
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("RenameModel to %q", bad))
	}
	e.getModel("m")
}

func testDeleteModel(e *env) {
	e.setUpRich("gone")
	e.setUpRich("kept")
	e.must(e.svc.DeleteModel(e.ctx, "gone"), "DeleteModel")
	_, err := e.svc.GetModel(e.ctx, "gone")
	e.wantCode(err, lode.ENotFound, "GetModel after delete")
	for _, v := range []string{"1", "2"} {
		_, err = e.svc.GetVersion(e.ctx, "gone", v)
		e.wantCode(err, lode.ENotFound, "GetVersion after delete")
		_, err = e.store.GetVersion(e.ctx, "gone", v)
		e.wantCode(err, lode.ENotFound, "Store.GetVersion after delete")
	}
	_, err = e.svc.GetVersionByAlias(e.ctx, "gone", "champion")
	if err == nil {
		e.Errorf("GetVersionByAlias after delete: no error")
	}
	if vs := e.walkVersions("name = 'gone'", nil, 100); len(vs) != 0 {
		e.Errorf("versions left after delete: %v", versionKeys(vs))
	}
	e.wantCode(e.svc.DeleteModel(e.ctx, "gone"), lode.ENotFound, "DeleteModel twice")
	e.checkRich("kept", "kept", "other model after delete")

	// A model created again under the name has nothing of the old one, and
	// its versions start at 1.
	e.createModel("gone")
	m := e.getModel("gone")
	if len(m.Tags) != 0 || len(m.Aliases) != 0 || len(m.LatestVersions) != 0 || m.Description != "" {
		e.Errorf("re-created model kept old data: %+v", m)
	}
	_, err = e.svc.GetVersion(e.ctx, "gone", "1")
	e.wantCode(err, lode.ENotFound, "GetVersion of a re-created model")
	if v := e.createVersion("gone"); v.Version != "1" || len(v.Tags) != 0 || len(v.Aliases) != 0 {
		e.Errorf("first version of a re-created model: %s tags %v aliases %v, want 1 with none", v.Version, v.Tags, v.Aliases)
	}
}
