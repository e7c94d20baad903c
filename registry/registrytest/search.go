package registrytest

import (
	"fmt"
	"slices"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

var searchModelTests = []test{
	{"Filters", testSearchModelsFilters},
	{"NameIn", testSearchModelsNameIn},
	{"OrderBy", testSearchModelsOrderBy},
	{"Pagination", testSearchModelsPagination},
	{"MaxResults", testSearchModelsMaxResults},
	{"Invalid", testSearchModelsInvalid},
	{"Contents", testSearchModelsContents},
	{"Scope", testSearchScope},
}

var searchVersionTests = []test{
	{"Filters", testSearchVersionsFilters},
	{"NameIn", testSearchVersionsNameIn},
	{"Pagination", testSearchVersionsPagination},
	{"MaxResults", testSearchVersionsMaxResults},
	{"Invalid", testSearchVersionsInvalid},
}

// setUpModels registers alpha, Alpha-2, beta and gamma with tags.
func (e *env) setUpModels() {
	e.Helper()
	e.createModel("alpha", tracking.Tag{Key: "team", Value: "ml"}, tracking.Tag{Key: "env", Value: "prod"})
	e.createModel("Alpha-2", tracking.Tag{Key: "team", Value: "ML"})
	e.createModel("beta", tracking.Tag{Key: "team", Value: "data"}, tracking.Tag{Key: "env", Value: "dev"})
	e.createModel("gamma")
}

func (e *env) searchModelNames(filter string, order ...string) []string {
	e.Helper()
	return modelNames(e.walkModels(filter, order, 1000))
}

func testSearchModelsFilters(e *env) {
	e.setUpModels()
	for _, c := range []struct {
		filter string
		want   []string // in name order
	}{
		{"", []string{"Alpha-2", "alpha", "beta", "gamma"}},
		{"name = 'alpha'", []string{"alpha"}},
		{"name = 'ALPHA'", nil},
		{"name != 'alpha'", []string{"Alpha-2", "beta", "gamma"}},
		{"name LIKE 'alpha%'", []string{"alpha"}},
		{"name LIKE 'Alpha%'", []string{"Alpha-2"}},
		{"name LIKE '%a'", []string{"alpha", "beta", "gamma"}},
		{"name LIKE 'a_pha'", []string{"alpha"}},
		{"name ILIKE 'alpha%'", []string{"Alpha-2", "alpha"}},
		{"name ILIKE '%ET%'", []string{"beta"}},
		{"attribute.name = 'beta'", []string{"beta"}},
		{"tags.team = 'ml'", []string{"alpha"}},
		{"tags.team != 'ml'", []string{"Alpha-2", "beta", "gamma"}}, // models without the tag match != as in MLflow,
		{"tags.team LIKE 'M%'", []string{"Alpha-2"}},
		{"tags.team ILIKE 'm%'", []string{"Alpha-2", "alpha"}},
		{"tags.env = 'prod'", []string{"alpha"}},
		{"tags.`env` = 'dev'", []string{"beta"}},
		{"tags.missing = 'x'", nil},
		{"name LIKE '%a%' AND tags.env = 'prod'", []string{"alpha"}},
		{"tags.team ILIKE 'ml' AND name LIKE 'A%'", []string{"Alpha-2"}},
		{"tags.team = 'ml' AND tags.env = 'prod'", []string{"alpha"}},
		{"tags.team = 'data' AND tags.env = 'prod'", nil},
	} {
		got := e.searchModelNames(c.filter)
		if !slices.Equal(got, c.want) {
			e.Errorf("SearchModels %q: %v, want %v", c.filter, got, c.want)
		}
	}
}

// MLflow's search_registered_models accepts name IN (...) and NOT IN.
func testSearchModelsNameIn(e *env) {
	e.setUpModels()
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"name IN ('alpha', 'beta')", []string{"alpha", "beta"}},
		{"name NOT IN ('alpha', 'beta')", []string{"Alpha-2", "gamma"}},
	} {
		ms, _, err := e.svc.SearchModels(e.ctx, c.filter, nil, 100, "")
		if err != nil {
			e.Errorf("SearchModels %q: %v, want %v (MLflow accepts IN on name)", c.filter, err, c.want)
			continue
		}
		if got := modelNames(ms); !slices.Equal(got, c.want) {
			e.Errorf("SearchModels %q: %v, want %v", c.filter, got, c.want)
		}
	}
}

func testSearchModelsOrderBy(e *env) {
	e.setUpModels()
	all := []string{"Alpha-2", "alpha", "beta", "gamma"}
	rev := slices.Clone(all)
	slices.Reverse(rev)
	for _, c := range []struct {
		order []string
		want  []string
	}{
		{nil, all},
		{[]string{"name"}, all},
		{[]string{"name ASC"}, all},
		{[]string{"name asc"}, all},
		{[]string{"name DESC"}, rev},
		{[]string{"attribute.name DESC"}, rev},
		// Created in the order alpha, Alpha-2, beta, gamma.
		{[]string{"creation_timestamp ASC"}, []string{"alpha", "Alpha-2", "beta", "gamma"}},
		{[]string{"creation_timestamp DESC"}, []string{"gamma", "beta", "Alpha-2", "alpha"}},
	} {
		if got := e.searchModelNames("", c.order...); !slices.Equal(got, c.want) {
			e.Errorf("SearchModels order_by %q: %v, want %v", c.order, got, c.want)
		}
	}
	// Updating a model moves it last by last_updated_timestamp.
	_, err := e.svc.UpdateModel(e.ctx, "alpha", "touched")
	e.must(err, "UpdateModel")
	got := e.searchModelNames("", "last_updated_timestamp DESC")
	if len(got) != 4 || got[0] != "alpha" {
		e.Errorf("SearchModels order_by last_updated_timestamp DESC after updating alpha: %v, want alpha first", got)
	}
	if got := e.searchModelNames("name ILIKE 'a%'", "name DESC"); !slices.Equal(got, []string{"alpha", "Alpha-2"}) {
		e.Errorf("SearchModels filtered and ordered DESC: %v", got)
	}
}

func testSearchModelsPagination(e *env) {
	var want []string
	for i := range 11 {
		name := fmt.Sprintf("model-%02d", i)
		e.createModel(name)
		want = append(want, name)
	}
	for _, size := range []int{1, 2, 3, 5, 10, 11, 12, 100} {
		for _, order := range [][]string{nil, {"name DESC"}} {
			got := modelNames(e.walkModels("", order, size))
			if d := dupes(got); len(d) > 0 {
				e.Errorf("page size %d order %q: models on two pages: %v", size, order, d)
			}
			w := slices.Clone(want)
			if order != nil {
				slices.Reverse(w)
			}
			if !slices.Equal(got, w) {
				e.Errorf("page size %d order %q: %v, want %v", size, order, got, w)
			}
		}
	}
	// A full last page gives no token (no empty page after it).
	ms, next, err := e.svc.SearchModels(e.ctx, "", nil, 11, "")
	e.must(err, "SearchModels max_results=11")
	if len(ms) != 11 || next != "" {
		e.Errorf("max_results equal to the count: %d models, token %q; want 11 and none", len(ms), next)
	}
	ms, next, err = e.svc.SearchModels(e.ctx, "", nil, 4, "")
	e.must(err, "SearchModels max_results=4")
	if len(ms) != 4 || next == "" {
		e.Errorf("first page of 4: %d models, token %q", len(ms), next)
	}
	// Pagination with a filter.
	if got := modelNames(e.walkModels("name LIKE 'model-0%'", nil, 3)); !slices.Equal(got, want[:10]) {
		e.Errorf("filtered pages: %v, want %v", got, want[:10])
	}
}

func testSearchModelsMaxResults(e *env) {
	for i := range 3 {
		e.createModel(fmt.Sprintf("m%d", i))
	}
	ms, _, err := e.svc.SearchModels(e.ctx, "", nil, 0, "")
	e.must(err, "SearchModels max_results=0 (default)")
	if len(ms) != 3 {
		e.Errorf("max_results=0: %d models, want all 3", len(ms))
	}
	_, _, err = e.svc.SearchModels(e.ctx, "", nil, registry.MaxResults, "")
	e.must(err, fmt.Sprintf("SearchModels max_results=%d", registry.MaxResults))
	_, _, err = e.svc.SearchModels(e.ctx, "", nil, registry.MaxResults+1, "")
	e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchModels max_results=%d", registry.MaxResults+1))
	_, _, err = e.svc.SearchModels(e.ctx, "", nil, -1, "")
	e.wantCode(err, lode.EInvalid, "SearchModels max_results=-1")
	// The store bounds a page by MaxResults.
	ms, next, err := e.store.SearchModels(e.ctx, registry.Query{MaxResults: 2})
	e.must(err, "Store.SearchModels MaxResults 2")
	if len(ms) != 2 || next == "" {
		e.Errorf("Store.SearchModels MaxResults 2: %d models, token %q", len(ms), next)
	}
}

func testSearchModelsInvalid(e *env) {
	e.setUpModels()
	for _, f := range []string{"foo = 'x'", "name = ", "name ~ 'x'", "version_number = 1", "run_id = 'x'", "name = 'a' OR name = 'b'"} {
		_, _, err := e.svc.SearchModels(e.ctx, f, nil, 10, "")
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchModels %q", f))
	}
	for _, o := range []string{"foo", "name UP", "name ASC DESC", "tags.team"} {
		_, _, err := e.svc.SearchModels(e.ctx, "", []string{o}, 10, "")
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchModels order_by %q", o))
	}
	for _, tok := range []string{"not base64!", "bm90IGpzb24=" /* "not json" */} {
		_, _, err := e.svc.SearchModels(e.ctx, "", nil, 10, tok)
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchModels page token %q", tok))
	}
}

// Search results carry the same data as GetModel.
func testSearchModelsContents(e *env) {
	e.setUpRich("rich")
	ms, _, err := e.svc.SearchModels(e.ctx, "name = 'rich'", nil, 10, "")
	e.must(err, "SearchModels")
	if len(ms) != 1 {
		e.Fatalf("SearchModels name = 'rich': %v", modelNames(ms))
	}
	m, want := ms[0], e.getModel("rich")
	if m.Description != want.Description || m.CreationTime != want.CreationTime || m.LastUpdateTime != want.LastUpdateTime {
		e.Errorf("search result %+v, GetModel %+v", m, want)
	}
	if !equalMaps(e.tagMap(m.Tags, "search"), e.tagMap(want.Tags, "get")) || !equalMaps(aliasMap(m.Aliases), aliasMap(want.Aliases)) {
		e.Errorf("search result tags %v aliases %v; GetModel tags %v aliases %v", m.Tags, m.Aliases, want.Tags, want.Aliases)
	}
	if !equalMaps(latestByStage(m.LatestVersions), latestByStage(want.LatestVersions)) {
		e.Errorf("search result latest versions %v, GetModel %v", versionKeys(m.LatestVersions), versionKeys(want.LatestVersions))
	}
}

// setUpVersions registers a (3 versions) and b (2 versions); a/1 and b/2
// come from run r1, a/2 from run r2, and a/3, b/1 from s3.
func (e *env) setUpVersions() (r1, r2 string) {
	e.Helper()
	e.createModel("a")
	e.createModel("b")
	r1, r2 = e.newRun().Info.RunID, e.newRun().Info.RunID
	e.createVersionFrom(registry.CreateVersionRequest{Name: "a", Source: "runs:/" + r1 + "/model", Tags: []tracking.Tag{{Key: "k", Value: "x"}}})
	e.createVersionFrom(registry.CreateVersionRequest{Name: "a", Source: "runs:/" + r2 + "/model", Tags: []tracking.Tag{{Key: "k", Value: "y"}}})
	e.createVersionFrom(registry.CreateVersionRequest{Name: "a", Source: "s3://bucket/a3"})
	e.createVersionFrom(registry.CreateVersionRequest{Name: "b", Source: "s3://bucket/b1", Tags: []tracking.Tag{{Key: "k", Value: "X"}, {Key: "other", Value: "1"}}})
	e.createVersionFrom(registry.CreateVersionRequest{Name: "b", Source: "runs:/" + r1 + "/m2"})
	return r1, r2
}

func testSearchVersionsFilters(e *env) {
	r1, r2 := e.setUpVersions()
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"", []string{"a/1", "a/2", "a/3", "b/1", "b/2"}},
		{"name = 'a'", []string{"a/1", "a/2", "a/3"}},
		{"name = 'A'", nil},
		{"name != 'a'", []string{"b/1", "b/2"}},
		{"name LIKE 'b%'", []string{"b/1", "b/2"}},
		{"name ILIKE 'B'", []string{"b/1", "b/2"}},
		{fmt.Sprintf("run_id = '%s'", r1), []string{"a/1", "b/2"}},
		{fmt.Sprintf("run_id = '%s'", r2), []string{"a/2"}},
		{fmt.Sprintf("run_id IN ('%s')", r2), []string{"a/2"}},
		{fmt.Sprintf("run_id IN ('%s', '%s')", r1, r2), []string{"a/1", "a/2", "b/2"}},
		{fmt.Sprintf("run_id NOT IN ('%s')", r1), []string{"a/2", "a/3", "b/1"}},
		{fmt.Sprintf("name = 'a' AND run_id = '%s'", r1), []string{"a/1"}},
		{"run_id = 'ffffffffffffffffffffffffffffffff'", nil},
		{"tags.k = 'x'", []string{"a/1"}},
		{"tags.k ILIKE 'x'", []string{"a/1", "b/1"}},
		// Versions without the tag match != too, as in MLflow's registry.
		{"tags.k != 'x'", []string{"b/2", "b/1", "a/3", "a/2"}},
		{"tags.k = 'X' AND tags.other = '1'", []string{"b/1"}},
		{"tags.k = 'x' AND tags.other = '1'", nil},
		{"source_path = 's3://bucket/a3'", []string{"a/3"}},
		{"source_path LIKE 's3://%'", []string{"a/3", "b/1"}},
		{"version_number = 2", []string{"a/2", "b/2"}},
		{"version_number > 1 AND name = 'a'", []string{"a/2", "a/3"}},
	} {
		got := versionKeys(e.walkVersions(c.filter, nil, 1000))
		if !sameSet(got, c.want) || len(got) != len(c.want) {
			e.Errorf("SearchVersions %q: %v, want %v", c.filter, got, c.want)
		}
	}
	// Results carry the version's data.
	vs := e.walkVersions("name = 'b' AND version_number = 1", nil, 10)
	if len(vs) != 1 {
		e.Fatalf("SearchVersions b/1: %v", versionKeys(vs))
	}
	if tags := e.tagMap(vs[0].Tags, "search"); !equalMaps(tags, map[string]string{"k": "X", "other": "1"}) || vs[0].Source != "s3://bucket/b1" {
		e.Errorf("search result b/1: source %q tags %v", vs[0].Source, tags)
	}
	e.must(e.svc.SetAlias(e.ctx, "a", "champ", "2"), "SetAlias")
	vs = e.walkVersions("tags.k = 'y'", nil, 10)
	if len(vs) != 1 || !slices.Equal(vs[0].Aliases, []string{"champ"}) || vs[0].RunID != r2 {
		e.Errorf("search result a/2: %v aliases %v", versionKeys(vs), vs[0].Aliases)
	}
}

// MLflow's search_model_versions accepts name IN (...) and NOT IN.
func testSearchVersionsNameIn(e *env) {
	e.setUpVersions()
	e.createModel("c")
	e.createVersion("c")
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"name IN ('a', 'c')", []string{"a/1", "a/2", "a/3", "c/1"}},
		{"name NOT IN ('a', 'c')", []string{"b/1", "b/2"}},
	} {
		vs, _, err := e.svc.SearchVersions(e.ctx, c.filter, nil, 100, "")
		if err != nil {
			e.Errorf("SearchVersions %q: %v, want %v (MLflow accepts IN on name)", c.filter, err, c.want)
			continue
		}
		if got := versionKeys(vs); !sameSet(got, c.want) {
			e.Errorf("SearchVersions %q: %v, want %v", c.filter, got, c.want)
		}
	}
}

func testSearchVersionsPagination(e *env) {
	var want []string
	for _, name := range []string{"x", "y", "z"} {
		e.createModel(name)
		for range 4 {
			v := e.createVersion(name, tracking.Tag{Key: "model", Value: name})
			want = append(want, v.Name+"/"+v.Version)
		}
	}
	for _, size := range []int{1, 2, 5, 12, 13} {
		for _, order := range [][]string{nil, {"name ASC", "version_number DESC"}, {"creation_timestamp ASC"}} {
			got := versionKeys(e.walkVersions("", order, size))
			if d := dupes(got); len(d) > 0 {
				e.Errorf("page size %d order %q: versions on two pages: %v", size, order, d)
			}
			if !sameSet(got, want) {
				e.Errorf("page size %d order %q: %v, want %v", size, order, got, want)
			}
		}
	}
	// Orders that name a unique key give exactly that order.
	got := versionKeys(e.walkVersions("", []string{"name DESC", "version_number ASC"}, 5))
	wantOrder := []string{"z/1", "z/2", "z/3", "z/4", "y/1", "y/2", "y/3", "y/4", "x/1", "x/2", "x/3", "x/4"}
	if !slices.Equal(got, wantOrder) {
		e.Errorf("order_by name DESC, version_number ASC: %v, want %v", got, wantOrder)
	}
	// MLflow's default order: newest first.
	got = versionKeys(e.walkVersions("name = 'y'", nil, 3))
	if !slices.Equal(got, []string{"y/4", "y/3", "y/2", "y/1"}) {
		e.Errorf("default order of y's versions: %v, want newest first", got)
	}
	// Pages with a tag filter.
	got = versionKeys(e.walkVersions("tags.model = 'z'", []string{"version_number ASC"}, 3))
	if !slices.Equal(got, []string{"z/1", "z/2", "z/3", "z/4"}) {
		e.Errorf("filtered pages: %v", got)
	}
}

func testSearchVersionsMaxResults(e *env) {
	e.createModel("m")
	for range 3 {
		e.createVersion("m")
	}
	vs, next, err := e.svc.SearchVersions(e.ctx, "", nil, 0, "")
	e.must(err, "SearchVersions max_results=0 (default)")
	if len(vs) != 3 || next != "" {
		e.Errorf("max_results=0: %d versions, token %q", len(vs), next)
	}
	vs, next, err = e.svc.SearchVersions(e.ctx, "", nil, 2, "")
	e.must(err, "SearchVersions max_results=2")
	if len(vs) != 2 || next == "" {
		e.Errorf("max_results=2: %d versions, token %q", len(vs), next)
	}
	_, _, err = e.svc.SearchVersions(e.ctx, "", nil, 200000, "")
	e.must(err, "SearchVersions max_results=200000")
	_, _, err = e.svc.SearchVersions(e.ctx, "", nil, 200001, "")
	e.wantCode(err, lode.EInvalid, "SearchVersions max_results=200001")
	_, _, err = e.svc.SearchVersions(e.ctx, "", nil, -1, "")
	e.wantCode(err, lode.EInvalid, "SearchVersions max_results=-1")
	vs, next, err = e.store.SearchVersions(e.ctx, registry.Query{MaxResults: 1})
	e.must(err, "Store.SearchVersions MaxResults 1")
	if len(vs) != 1 || next == "" {
		e.Errorf("Store.SearchVersions MaxResults 1: %d versions, token %q", len(vs), next)
	}
}

func testSearchVersionsInvalid(e *env) {
	e.setUpVersions()
	for _, f := range []string{"foo = 'x'", "version_number = 'x'", "version_number = 1.5", "source_path IN ('x')", "tags.k IN ('x')", "name = 'a' OR name = 'b'"} {
		_, _, err := e.svc.SearchVersions(e.ctx, f, nil, 10, "")
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchVersions %q", f))
	}
	for _, o := range []string{"foo", "run_id", "name SIDEWAYS"} {
		_, _, err := e.svc.SearchVersions(e.ctx, "", []string{o}, 10, "")
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchVersions order_by %q", o))
	}
	_, _, err := e.svc.SearchVersions(e.ctx, "", nil, 10, "%%%")
	e.wantCode(err, lode.EInvalid, "SearchVersions with a bad page token")
}

// A scope keeps the models (and their versions, and their library
// entries) its caller may read, in the query, pages full.
func testSearchScope(e *env) {
	e.setUpModels()
	for _, name := range []string{"alpha", "beta", "beta", "gamma"} {
		e.createVersion(name)
	}
	cases := []struct {
		sc             lode.Scope
		models, versus []string
	}{
		{lode.Scope{}, []string{"Alpha-2", "alpha", "beta", "gamma"}, []string{"alpha/1", "beta/1", "beta/2", "gamma/1"}},
		{lode.Scope{Only: true}, nil, nil},
		{lode.Scope{Only: true, IDs: []string{"beta", "nope"}}, []string{"beta"}, []string{"beta/1", "beta/2"}},
		{lode.Scope{Except: []string{"beta", "Alpha-2"}}, []string{"alpha", "gamma"}, []string{"alpha/1", "gamma/1"}},
	}
	for _, c := range cases {
		var models, versions []string
		token := ""
		for {
			ms, next, err := e.store.SearchModels(e.ctx, registry.Query{Models: c.sc, MaxResults: 1, PageToken: token,
				OrderBy: []tracking.OrderBy{{Key: "name", Asc: true}}})
			e.must(err, "SearchModels")
			for _, m := range ms {
				models = append(models, m.Name)
			}
			if token = next; next == "" {
				break
			}
		}
		for {
			vs, next, err := e.store.SearchVersions(e.ctx, registry.Query{Models: c.sc, MaxResults: 1, PageToken: token,
				OrderBy: []tracking.OrderBy{{Key: "name", Asc: true}, {Key: "version", Asc: true}}})
			e.must(err, "SearchVersions")
			for _, v := range vs {
				versions = append(versions, v.String())
			}
			if token = next; next == "" {
				break
			}
		}
		lib, err := e.store.SearchLibrary(e.ctx, registry.LibraryQuery{Models: c.sc, MaxResults: 100})
		e.must(err, "SearchLibrary")
		var libNames []string
		for _, v := range lib {
			libNames = append(libNames, v.String())
		}
		slices.Sort(libNames)
		if !slices.Equal(models, c.models) || !slices.Equal(versions, c.versus) || !slices.Equal(libNames, c.versus) {
			e.Errorf("scope %+v: models %q, versions %q, library %q; want %q and %q", c.sc, models, versions, libNames, c.models, c.versus)
		}
	}
}
