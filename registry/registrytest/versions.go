package registrytest

import (
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

var versionTests = []test{
	{"CreateGet", testCreateGetVersion},
	{"Numbering", testVersionNumbering},
	{"NumbersNeverReused", testVersionNumbersNeverReused},
	{"ConcurrentCreate", testConcurrentCreateVersion},
	{"UpdateDescription", testUpdateVersion},
	{"InvalidVersion", testInvalidVersionNumbers},
	{"Unknown", testUnknownVersion},
	{"Tags", testVersionTags},
	{"DeleteMissingTag", testDeleteMissingVersionTag},
	{"Delete", testDeleteVersion},
}

func testCreateGetVersion(e *env) {
	m := e.createModel("m")
	v, err := e.svc.CreateVersion(e.ctx, registry.CreateVersionRequest{
		Name: "m", Source: "s3://bucket/path/model", Description: "first", RunLink: "http://link",
		Tags: []tracking.Tag{{Key: "k", Value: "v"}},
	})
	e.must(err, "CreateVersion")
	check := func(v *registry.Version, what string) {
		e.Helper()
		if v.Name != "m" || v.Version != "1" {
			e.Errorf("%s: %s, want m/1", what, v)
		}
		if v.Source != "s3://bucket/path/model" || v.StorageLocation != "s3://bucket/path/model" {
			e.Errorf("%s: source %q storage location %q", what, v.Source, v.StorageLocation)
		}
		if v.CurrentStage != registry.StageNone || v.Status != registry.StatusReady {
			e.Errorf("%s: stage %q status %q, want None and READY", what, v.CurrentStage, v.Status)
		}
		if v.Description != "first" || v.RunLink != "http://link" || v.RunID != "" {
			e.Errorf("%s: description %q run link %q run id %q", what, v.Description, v.RunLink, v.RunID)
		}
		if v.CreationTime <= m.CreationTime || v.LastUpdateTime != v.CreationTime {
			e.Errorf("%s: creation time %d (model's %d), last update %d", what, v.CreationTime, m.CreationTime, v.LastUpdateTime)
		}
		if tags := e.tagMap(v.Tags, what); !equalMaps(tags, map[string]string{"k": "v"}) {
			e.Errorf("%s: tags %v", what, tags)
		}
		if len(v.Aliases) != 0 {
			e.Errorf("%s: aliases %v", what, v.Aliases)
		}
	}
	check(v, "CreateVersion")
	check(e.getVersion("m", "1"), "GetVersion")
	got, err := e.store.GetVersion(e.ctx, "m", "1")
	e.must(err, "Store.GetVersion")
	check(got, "Store.GetVersion")
	// Creating a version updates the model.
	if mm := e.getModel("m"); mm.LastUpdateTime < v.CreationTime {
		e.Errorf("model last update %d before its new version's creation %d", mm.LastUpdateTime, v.CreationTime)
	}
	// The version shows as the model's latest None version.
	if lv := latestByStage(e.getModel("m").LatestVersions); !equalMaps(lv, map[string]string{registry.StageNone: "1"}) {
		e.Errorf("latest versions after one version: %v", lv)
	}
	_, err = e.svc.CreateVersion(e.ctx, registry.CreateVersionRequest{Name: "m"})
	e.wantCode(err, lode.EInvalid, "CreateVersion without a source")
	_, err = e.svc.CreateVersion(e.ctx, registry.CreateVersionRequest{Name: "m", Source: "s3://b/k", Tags: []tracking.Tag{{Key: ""}}})
	e.wantCode(err, lode.EInvalid, "CreateVersion with an empty tag key")
	if got := e.versionNumbers("m"); !slices.Equal(got, []string{"1"}) {
		e.Errorf("versions after refused creations: %v, want [1]", got)
	}
}

func testVersionNumbering(e *env) {
	e.createModel("a")
	e.createModel("b")
	for i := 1; i <= 3; i++ {
		if v := e.createVersion("a"); v.Version != strconv.Itoa(i) {
			e.Errorf("version %d of a: got number %s", i, v.Version)
		}
	}
	// Each model counts on its own.
	for i := 1; i <= 2; i++ {
		if v := e.createVersion("b"); v.Version != strconv.Itoa(i) {
			e.Errorf("version %d of b: got number %s", i, v.Version)
		}
	}
	if v := e.createVersion("a"); v.Version != "4" {
		e.Errorf("fourth version of a: %s", v.Version)
	}
	if got := e.versionNumbers("a"); !slices.Equal(got, []string{"1", "2", "3", "4"}) {
		e.Errorf("versions of a: %v", got)
	}
	if got := e.versionNumbers("b"); !slices.Equal(got, []string{"1", "2"}) {
		e.Errorf("versions of b: %v", got)
	}
}

func testVersionNumbersNeverReused(e *env) {
	e.createModel("m")
	for range 3 {
		e.createVersion("m")
	}
	// Deleting the newest version does not free its number.
	e.must(e.svc.DeleteVersion(e.ctx, "m", "3"), "DeleteVersion 3")
	if v := e.createVersion("m"); v.Version != "4" {
		e.Errorf("version created after deleting 3: %s, want 4", v.Version)
	}
	e.must(e.svc.DeleteVersion(e.ctx, "m", "4"), "DeleteVersion 4")
	e.must(e.svc.DeleteVersion(e.ctx, "m", "2"), "DeleteVersion 2")
	e.must(e.svc.DeleteVersion(e.ctx, "m", "1"), "DeleteVersion 1")
	if v := e.createVersion("m"); v.Version != "5" {
		e.Errorf("version created after deleting all: %s, want 5", v.Version)
	}
	if got := e.versionNumbers("m"); !slices.Equal(got, []string{"5"}) {
		e.Errorf("versions: %v, want [5]", got)
	}
	// The new version 5 has none of the old versions' tags or aliases.
	if v := e.getVersion("m", "5"); len(v.Tags) != 0 || len(v.Aliases) != 0 {
		e.Errorf("version 5: tags %v aliases %v", v.Tags, v.Aliases)
	}
}

func testConcurrentCreateVersion(e *env) {
	e.createModel("m")
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	got := make(chan string, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v, err := e.svc.CreateVersion(e.ctx, registry.CreateVersionRequest{Name: "m", Source: fmt.Sprintf("s3://b/%d/%d", w, i)})
				if err != nil {
					errs <- err
					continue
				}
				got <- v.Version
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(got)
	for err := range errs {
		e.Errorf("concurrent CreateVersion: %v", err)
	}
	var nums []string
	for v := range got {
		nums = append(nums, v)
	}
	if d := dupes(nums); len(d) > 0 {
		e.Errorf("concurrent CreateVersion gave numbers twice: %v", d)
	}
	var want []string
	for i := 1; i <= workers*each; i++ {
		want = append(want, strconv.Itoa(i))
	}
	if !sameSet(nums, want) {
		e.Errorf("concurrent CreateVersion numbers %v, want 1..%d", nums, workers*each)
	}
	if all := e.versionNumbers("m"); len(all) != workers*each {
		e.Errorf("%d versions stored, want %d", len(all), workers*each)
	}
}

func testUpdateVersion(e *env) {
	e.createModel("m")
	created := e.createVersion("m")
	e.createVersion("m")
	v, err := e.svc.UpdateVersion(e.ctx, "m", "1", "described")
	e.must(err, "UpdateVersion")
	if v.Description != "described" || v.Version != "1" {
		e.Errorf("UpdateVersion returned %s description %q", v, v.Description)
	}
	if v.LastUpdateTime <= created.LastUpdateTime || v.CreationTime != created.CreationTime {
		e.Errorf("UpdateVersion: creation %d -> %d, last update %d -> %d", created.CreationTime, v.CreationTime, created.LastUpdateTime, v.LastUpdateTime)
	}
	if got := e.getVersion("m", "1"); got.Description != "described" {
		e.Errorf("GetVersion after update: description %q", got.Description)
	}
	if got := e.getVersion("m", "2"); got.Description != "" {
		e.Errorf("another version's description changed: %q", got.Description)
	}
	_, err = e.svc.UpdateVersion(e.ctx, "m", "9", "x")
	e.wantCode(err, lode.ENotFound, "UpdateVersion of an unknown version")
	_, err = e.svc.UpdateVersion(e.ctx, "nope", "1", "x")
	e.wantCode(err, lode.ENotFound, "UpdateVersion of an unknown model")
}

func testInvalidVersionNumbers(e *env) {
	e.createModel("m")
	e.createVersion("m")
	// Not integers are invalid; integers below 1, as in MLflow, are
	// versions that do not exist.
	for bad, code := range map[string]string{"": lode.EInvalid, "abc": lode.EInvalid, "1.5": lode.EInvalid, "1 ": lode.EInvalid,
		"0": lode.ENotFound, "-1": lode.ENotFound} {
		_, err := e.svc.GetVersion(e.ctx, "m", bad)
		e.wantCode(err, code, fmt.Sprintf("GetVersion(%q)", bad))
		_, err = e.svc.UpdateVersion(e.ctx, "m", bad, "x")
		e.wantCode(err, code, fmt.Sprintf("UpdateVersion(%q)", bad))
		e.wantCode(e.svc.DeleteVersion(e.ctx, "m", bad), code, fmt.Sprintf("DeleteVersion(%q)", bad))
		e.wantCode(e.svc.SetAlias(e.ctx, "m", "al", bad), code, fmt.Sprintf("SetAlias to version %q", bad))
	}
	if got := e.versionNumbers("m"); !slices.Equal(got, []string{"1"}) {
		e.Errorf("versions: %v", got)
	}
}

func testUnknownVersion(e *env) {
	e.createModel("m")
	e.createVersion("m")
	_, err := e.svc.GetVersion(e.ctx, "m", "2")
	e.wantCode(err, lode.ENotFound, "GetVersion of an unknown version")
	_, err = e.store.GetVersion(e.ctx, "m", "2")
	e.wantCode(err, lode.ENotFound, "Store.GetVersion of an unknown version")
	_, err = e.svc.GetVersion(e.ctx, "nope", "1")
	e.wantCode(err, lode.ENotFound, "GetVersion of an unknown model")
	e.wantCode(e.svc.DeleteVersion(e.ctx, "m", "2"), lode.ENotFound, "DeleteVersion of an unknown version")
	e.wantCode(e.store.DeleteVersion(e.ctx, "m", "2"), lode.ENotFound, "Store.DeleteVersion of an unknown version")
	e.wantCode(e.svc.SetVersionTag(e.ctx, "m", "2", tracking.Tag{Key: "k"}), lode.ENotFound, "SetVersionTag on an unknown version")
	e.wantCode(e.store.SetVersionTag(e.ctx, "m", "2", tracking.Tag{Key: "k"}), lode.ENotFound, "Store.SetVersionTag on an unknown version")
	e.wantCode(e.svc.DeleteVersionTag(e.ctx, "m", "2", "k"), lode.ENotFound, "DeleteVersionTag on an unknown version")
	_, err = e.svc.TransitionStage(e.ctx, "m", "2", "Staging", false)
	e.wantCode(err, lode.ENotFound, "TransitionStage of an unknown version")
	_, err = e.store.TransitionStage(e.ctx, "m", "2", "Staging", false, clockBase+1_000_000)
	e.wantCode(err, lode.ENotFound, "Store.TransitionStage of an unknown version")
	_, err = e.store.UpdateVersion(e.ctx, "m", "2", "d", clockBase+1_000_000)
	e.wantCode(err, lode.ENotFound, "Store.UpdateVersion of an unknown version")
	if got := e.versionNumbers("m"); !slices.Equal(got, []string{"1"}) {
		e.Errorf("versions: %v", got)
	}
}

func testVersionTags(e *env) {
	e.createModel("m")
	e.createVersion("m", tracking.Tag{Key: "a", Value: "1"})
	e.createVersion("m", tracking.Tag{Key: "a", Value: "v2"})
	e.must(e.svc.SetVersionTag(e.ctx, "m", "1", tracking.Tag{Key: "b", Value: "2"}), "SetVersionTag b")
	e.must(e.svc.SetVersionTag(e.ctx, "m", "1", tracking.Tag{Key: "a", Value: "overwritten"}), "SetVersionTag a again")
	if tags := e.tagMap(e.getVersion("m", "1").Tags, "GetVersion 1"); !equalMaps(tags, map[string]string{"a": "overwritten", "b": "2"}) {
		e.Errorf("version tags after set and overwrite: %v", tags)
	}
	e.must(e.svc.DeleteVersionTag(e.ctx, "m", "1", "a"), "DeleteVersionTag a")
	if tags := e.tagMap(e.getVersion("m", "1").Tags, "GetVersion 1"); !equalMaps(tags, map[string]string{"b": "2"}) {
		e.Errorf("version tags after delete: %v", tags)
	}
	if tags := e.tagMap(e.getVersion("m", "2").Tags, "GetVersion 2"); !equalMaps(tags, map[string]string{"a": "v2"}) {
		e.Errorf("tags of another version changed: %v", tags)
	}
	// Version tags are not the model's.
	if tags := e.getModel("m").Tags; len(tags) != 0 {
		e.Errorf("model tags after setting version tags: %v", tags)
	}
	e.wantCode(e.svc.SetVersionTag(e.ctx, "m", "1", tracking.Tag{Key: ""}), lode.EInvalid, "SetVersionTag with an empty key")
	e.wantCode(e.svc.SetVersionTag(e.ctx, "m", "x", tracking.Tag{Key: "k"}), lode.EInvalid, "SetVersionTag on version x")
}

// MLflow's delete_model_version_tag does nothing when the version has no
// such tag (it only requires the version to exist).
func testDeleteMissingVersionTag(e *env) {
	e.createModel("m")
	e.createVersion("m", tracking.Tag{Key: "keep", Value: "1"})
	if err := e.svc.DeleteVersionTag(e.ctx, "m", "1", "absent"); err != nil {
		e.Errorf("DeleteVersionTag of a key the version does not have: %v, want no error (MLflow ignores it)", err)
	}
	if tags := e.tagMap(e.getVersion("m", "1").Tags, "GetVersion"); !equalMaps(tags, map[string]string{"keep": "1"}) {
		e.Errorf("tags after deleting an absent key: %v", tags)
	}
}

func testDeleteVersion(e *env) {
	e.createModel("m")
	e.createVersion("m", tracking.Tag{Key: "k", Value: "1"})
	e.createVersion("m", tracking.Tag{Key: "k", Value: "2"})
	e.createVersion("m")
	e.transition("m", "2", "Production", false)
	e.must(e.svc.DeleteVersion(e.ctx, "m", "2"), "DeleteVersion 2")
	_, err := e.svc.GetVersion(e.ctx, "m", "2")
	e.wantCode(err, lode.ENotFound, "GetVersion of a deleted version")
	e.wantCode(e.svc.DeleteVersion(e.ctx, "m", "2"), lode.ENotFound, "DeleteVersion twice")
	if got := e.versionNumbers("m"); !slices.Equal(got, []string{"1", "3"}) {
		e.Errorf("versions after deleting 2: %v", got)
	}
	if tags := e.tagMap(e.getVersion("m", "1").Tags, "GetVersion 1"); !equalMaps(tags, map[string]string{"k": "1"}) {
		e.Errorf("tags of version 1 after deleting 2: %v", tags)
	}
	// The deleted version was the only Production one: no latest Production.
	if lv := latestByStage(e.getModel("m").LatestVersions); !equalMaps(lv, map[string]string{registry.StageNone: "3"}) {
		e.Errorf("latest versions after delete: %v, want None: 3", lv)
	}
	if vs := e.walkVersions("tags.k = '2'", nil, 100); len(vs) != 0 {
		e.Errorf("search still finds the deleted version by its tag: %v", versionKeys(vs))
	}
}
