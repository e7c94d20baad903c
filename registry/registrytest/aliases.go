package registrytest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/registry"
)

var aliasTests = []test{
	{"SetGet", testSetGetAlias},
	{"Move", testMoveAlias},
	{"Delete", testDeleteAlias},
	{"DeleteVersionRemovesAliases", testDeleteVersionRemovesAliases},
	{"Reserved", testReservedAliases},
	{"InvalidCharacters", testInvalidAliases},
	{"UnknownTargets", testAliasUnknownTargets},
	{"Latest", testLatestAlias},
}

func (e *env) byAlias(name, alias string) *registry.Version {
	e.Helper()
	v, err := e.svc.GetVersionByAlias(e.ctx, name, alias)
	e.must(err, fmt.Sprintf("GetVersionByAlias %s@%s", name, alias))
	return v
}

func testSetGetAlias(e *env) {
	e.createModel("m")
	e.createModel("other")
	e.createVersion("m")
	e.createVersion("m")
	e.createVersion("other")
	e.must(e.svc.SetAlias(e.ctx, "m", "champion", "1"), "SetAlias champion")
	e.must(e.svc.SetAlias(e.ctx, "m", "challenger", "2"), "SetAlias challenger")
	e.must(e.svc.SetAlias(e.ctx, "m", "also-one_1", "1"), "SetAlias also-one_1")
	v := e.byAlias("m", "champion")
	if v.Name != "m" || v.Version != "1" {
		e.Errorf("champion resolves to %s, want m/1", v)
	}
	if !sameSet(v.Aliases, []string{"champion", "also-one_1"}) {
		e.Errorf("version 1 aliases %v", v.Aliases)
	}
	if got := e.getVersion("m", "2").Aliases; !slices.Equal(got, []string{"challenger"}) {
		e.Errorf("version 2 aliases %v", got)
	}
	if as := aliasMap(e.getModel("m").Aliases); !equalMaps(as, map[string]string{"champion": "1", "challenger": "2", "also-one_1": "1"}) {
		e.Errorf("model aliases %v", as)
	}
	// Aliases belong to one model.
	if as := e.getModel("other").Aliases; len(as) != 0 {
		e.Errorf("other model's aliases %v", as)
	}
	if _, err := e.svc.GetVersionByAlias(e.ctx, "other", "champion"); err == nil {
		e.Errorf("GetVersionByAlias other@champion: no error, the alias is m's")
	}
	// Aliases are case-sensitive names; "v1x" and "version1" are not
	// version aliases.
	for _, ok := range []string{"Champion", "v1x", "version1", "x-v1", strings.Repeat("a", registry.MaxAliasLength)} {
		e.must(e.svc.SetAlias(e.ctx, "m", ok, "2"), "SetAlias "+ok)
		if v := e.byAlias("m", ok); v.Version != "2" {
			e.Errorf("%s resolves to %s", ok, v)
		}
	}
	if v := e.byAlias("m", "champion"); v.Version != "1" {
		e.Errorf("champion moved with Champion: %s", v)
	}
	// The store resolves aliases too.
	sv, err := e.store.GetVersionByAlias(e.ctx, "m", "challenger")
	e.must(err, "Store.GetVersionByAlias")
	if sv.Version != "2" {
		e.Errorf("Store.GetVersionByAlias challenger: %s", sv)
	}
}

func testMoveAlias(e *env) {
	e.createModel("m")
	e.createVersion("m")
	e.createVersion("m")
	e.must(e.svc.SetAlias(e.ctx, "m", "prod", "1"), "SetAlias prod -> 1")
	e.must(e.svc.SetAlias(e.ctx, "m", "prod", "2"), "SetAlias prod -> 2")
	if v := e.byAlias("m", "prod"); v.Version != "2" || !slices.Equal(v.Aliases, []string{"prod"}) {
		e.Errorf("prod after move: %s with aliases %v", v, v.Aliases)
	}
	if got := e.getVersion("m", "1").Aliases; len(got) != 0 {
		e.Errorf("version 1 still has aliases %v", got)
	}
	if as := e.getModel("m").Aliases; len(as) != 1 || as[0] != (registry.Alias{Alias: "prod", Version: "2"}) {
		e.Errorf("model aliases after move: %v", as)
	}
	// Setting it again to the same version is fine.
	e.must(e.svc.SetAlias(e.ctx, "m", "prod", "2"), "SetAlias prod -> 2 again")
	if as := e.getModel("m").Aliases; len(as) != 1 {
		e.Errorf("model aliases after setting the same alias twice: %v", as)
	}
}

func testDeleteAlias(e *env) {
	e.createModel("m")
	e.createVersion("m")
	e.must(e.svc.SetAlias(e.ctx, "m", "a", "1"), "SetAlias a")
	e.must(e.svc.SetAlias(e.ctx, "m", "b", "1"), "SetAlias b")
	e.must(e.svc.DeleteAlias(e.ctx, "m", "a"), "DeleteAlias a")
	if _, err := e.svc.GetVersionByAlias(e.ctx, "m", "a"); err == nil {
		e.Errorf("GetVersionByAlias of a deleted alias: no error")
	} else if c := lode.ErrorCode(err); c != lode.ENotFound && c != lode.EInvalid {
		// MLflow answers INVALID_PARAMETER_VALUE for an unknown alias of a
		// known model; RESOURCE_DOES_NOT_EXIST is as good a fit.
		e.Errorf("GetVersionByAlias of a deleted alias: %v, want %s or %s", err, lode.ENotFound, lode.EInvalid)
	}
	if v := e.getVersion("m", "1"); !slices.Equal(v.Aliases, []string{"b"}) {
		e.Errorf("version aliases after deleting a: %v", v.Aliases)
	}
	// Deleting an alias that is not there is not an error (as MLflow).
	e.must(e.svc.DeleteAlias(e.ctx, "m", "a"), "DeleteAlias a again")
	e.must(e.svc.DeleteAlias(e.ctx, "m", "never"), "DeleteAlias of an alias never set")
	// The version itself stays.
	e.getVersion("m", "1")
	e.wantCode(e.svc.DeleteAlias(e.ctx, "nope", "a"), lode.ENotFound, "DeleteAlias on an unknown model")
}

func testDeleteVersionRemovesAliases(e *env) {
	e.createModel("m")
	e.createVersion("m")
	e.createVersion("m")
	e.must(e.svc.SetAlias(e.ctx, "m", "a", "1"), "SetAlias a")
	e.must(e.svc.SetAlias(e.ctx, "m", "a2", "1"), "SetAlias a2")
	e.must(e.svc.SetAlias(e.ctx, "m", "b", "2"), "SetAlias b")
	e.must(e.svc.DeleteVersion(e.ctx, "m", "1"), "DeleteVersion 1")
	for _, a := range []string{"a", "a2"} {
		if v, err := e.svc.GetVersionByAlias(e.ctx, "m", a); err == nil {
			e.Errorf("alias %s of a deleted version still resolves to %s", a, v)
		}
	}
	if as := aliasMap(e.getModel("m").Aliases); !equalMaps(as, map[string]string{"b": "2"}) {
		e.Errorf("model aliases after deleting version 1: %v", as)
	}
	// A new version does not pick up the old aliases.
	v := e.createVersion("m")
	if len(v.Aliases) != 0 {
		e.Errorf("new version %s has aliases %v", v, v.Aliases)
	}
	// The alias name can be used again.
	e.must(e.svc.SetAlias(e.ctx, "m", "a", v.Version), "SetAlias a to the new version")
	if got := e.byAlias("m", "a"); got.Version != v.Version {
		e.Errorf("a resolves to %s, want %s", got, v.Version)
	}
}

func testReservedAliases(e *env) {
	e.createModel("m")
	e.createVersion("m")
	for _, a := range []string{"latest", "LATEST", "Latest", "v1", "V12", "v0", "v007"} {
		e.wantCode(e.svc.SetAlias(e.ctx, "m", a, "1"), lode.EInvalid, fmt.Sprintf("SetAlias %q", a))
	}
	if as := e.getModel("m").Aliases; len(as) != 0 {
		e.Errorf("aliases after refused reserved names: %v", as)
	}
	if v := e.getVersion("m", "1"); len(v.Aliases) != 0 {
		e.Errorf("version aliases after refused reserved names: %v", v.Aliases)
	}
}

func testInvalidAliases(e *env) {
	e.createModel("m")
	e.createVersion("m")
	for _, a := range []string{"", "a b", "a/b", "a.b", "a:b", "a@b", "a'b", "a\x00b", "a\nb", strings.Repeat("a", registry.MaxAliasLength+1)} {
		e.wantCode(e.svc.SetAlias(e.ctx, "m", a, "1"), lode.EInvalid, fmt.Sprintf("SetAlias %q", a))
	}
	if as := e.getModel("m").Aliases; len(as) != 0 {
		e.Errorf("aliases after refused names: %v", as)
	}
	_, err := e.svc.GetVersionByAlias(e.ctx, "m", "")
	e.wantCode(err, lode.EInvalid, "GetVersionByAlias with an empty alias")
}

func testAliasUnknownTargets(e *env) {
	e.createModel("m")
	e.createVersion("m")
	e.wantCode(e.svc.SetAlias(e.ctx, "m", "a", "2"), lode.ENotFound, "SetAlias to an unknown version")
	e.wantCode(e.svc.SetAlias(e.ctx, "nope", "a", "1"), lode.ENotFound, "SetAlias on an unknown model")
	// The store checks the version itself: the service's check and the
	// store's write are two transactions, and the version may be deleted
	// in between.
	e.wantCode(e.store.SetAlias(e.ctx, "m", "a", "2"), lode.ENotFound, "Store.SetAlias to an unknown version")
	e.wantCode(e.store.SetAlias(e.ctx, "nope", "a", "1"), lode.ENotFound, "Store.SetAlias on an unknown model")
	if as := e.getModel("m").Aliases; len(as) != 0 {
		e.Errorf("aliases after refused targets: %v", as)
	}
	_, err := e.svc.GetVersionByAlias(e.ctx, "nope", "a")
	e.wantCode(err, lode.ENotFound, "GetVersionByAlias on an unknown model")
}

// MLflow resolves the reserved alias "latest" (any case) to the model's
// highest version number, whatever its stage.
func testLatestAlias(e *env) {
	e.createModel("m")
	e.createModel("empty")
	for range 3 {
		e.createVersion("m")
	}
	e.transition("m", "1", registry.StageProduction, false)
	e.transition("m", "2", registry.StageStaging, false)
	e.must(e.svc.SetAlias(e.ctx, "m", "champion", "1"), "SetAlias champion")
	for _, a := range []string{"latest", "LATEST", "Latest"} {
		v, err := e.svc.GetVersionByAlias(e.ctx, "m", a)
		if err != nil {
			e.Errorf("GetVersionByAlias m@%s: %v, want version 3 (MLflow resolves 'latest' to the newest version)", a, err)
			continue
		}
		if v.Version != "3" {
			e.Errorf("GetVersionByAlias m@%s = %s, want m/3", a, v)
		}
	}
	_, err := e.svc.GetVersionByAlias(e.ctx, "empty", "latest")
	e.wantCode(err, lode.ENotFound, "GetVersionByAlias latest of a model without versions")
	_, err = e.svc.GetVersionByAlias(e.ctx, "nope", "latest")
	e.wantCode(err, lode.ENotFound, "GetVersionByAlias latest of an unknown model")
}
