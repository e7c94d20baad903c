package trackingtest

import (
	"fmt"
	"slices"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

var searchExperimentTests = []test{
	{"Filter", testSearchExperimentsFilter},
	{"FilterTagIsNull", testSearchExperimentsTagIsNull},
	{"OrderBy", testSearchExperimentsOrder},
	{"ViewTypes", testSearchExperimentsViewTypes},
	{"Pagination", testSearchExperimentsPagination},
	{"MaxResults", testSearchExperimentsMaxResults},
	{"Scope", testSearchExperimentsScope},
}

// A scope keeps the experiments its caller may read, in the query: pages
// stay full and their tokens right.
func testSearchExperimentsScope(e *env) {
	ids := experimentFixture(e)
	search := func(sc lode.Scope, max int) []string {
		var names []string
		token := ""
		for {
			exps, next, err := e.store.SearchExperiments(e.ctx, tracking.ExperimentQuery{Scope: sc, ViewType: tracking.AllViews,
				OrderBy: []tracking.OrderBy{{KeyType: tracking.KeyAttribute, Key: "name", Asc: true}}, MaxResults: max, PageToken: token})
			e.must(err, fmt.Sprintf("SearchExperiments(scope %+v)", sc))
			names = append(names, experimentNames(exps)...)
			if next == "" {
				return names
			}
			token = next
		}
	}
	cases := []struct {
		sc   lode.Scope
		want []string
	}{
		{lode.Scope{}, []string{"Alpha-2", "Default", "alpha", "beta", "delta", "gamma"}},
		{lode.Scope{Only: true}, nil},
		{lode.Scope{Only: true, IDs: []string{ids["beta"], ids["delta"], "not-a-number", "424242"}}, []string{"beta", "delta"}},
		{lode.Scope{Except: []string{ids["beta"], "0", "x"}}, []string{"Alpha-2", "alpha", "delta", "gamma"}},
	}
	for _, c := range cases {
		for _, max := range []int{1000, 2} {
			if got := search(c.sc, max); !slices.Equal(got, c.want) {
				e.Errorf("SearchExperiments(scope %+v, pages of %d) = %q, want %q", c.sc, max, got, c.want)
			}
		}
	}
}

// experimentFixture creates, in this order (so with increasing creation
// times): alpha {team: ml, env: prod}, Alpha-2 {team: ML}, beta {team: data},
// gamma (no tags), and delta, deleted. It returns their ids by name.
func experimentFixture(e *env) map[string]string {
	e.Helper()
	ids := map[string]string{
		"alpha":   e.createExperiment("alpha", tracking.Tag{Key: "team", Value: "ml"}, tracking.Tag{Key: "env", Value: "prod"}),
		"Alpha-2": e.createExperiment("Alpha-2", tracking.Tag{Key: "team", Value: "ML"}),
		"beta":    e.createExperiment("beta", tracking.Tag{Key: "team", Value: "data"}),
		"gamma":   e.createExperiment("gamma"),
		"delta":   e.createExperiment("delta", tracking.Tag{Key: "team", Value: "ml"}),
	}
	e.must(e.svc.DeleteExperiment(e.ctx, ids["delta"]), "DeleteExperiment delta")
	return ids
}

func experimentNames(exps []*tracking.Experiment) []string {
	out := make([]string, len(exps))
	for i, x := range exps {
		out[i] = x.Name
	}
	return out
}

// searchExperimentNames runs one search and returns the names found.
func (e *env) searchExperimentNames(filter string, orderBy []string, view tracking.ViewType) []string {
	e.Helper()
	exps, next, err := e.svc.SearchExperiments(e.ctx, filter, orderBy, view, 0, "")
	e.must(err, fmt.Sprintf("SearchExperiments(%q, %q)", filter, orderBy))
	if next != "" {
		e.Errorf("SearchExperiments(%q): unexpected next page token", filter)
	}
	return experimentNames(exps)
}

func testSearchExperimentsFilter(e *env) {
	ids := experimentFixture(e)
	alpha := e.getExperiment(ids["alpha"])
	beta := e.getExperiment(ids["beta"])
	gamma := e.getExperiment(ids["gamma"])
	ct := func(x *tracking.Experiment) string { return fmt.Sprint(x.CreationTime) }

	cases := []struct {
		filter string
		want   []string
	}{
		{"", []string{"Default", "alpha", "Alpha-2", "beta", "gamma"}},
		{"name = 'alpha'", []string{"alpha"}},
		{"attribute.name = 'alpha'", []string{"alpha"}},
		{"name = 'ALPHA'", nil},
		{"name != 'alpha'", []string{"Default", "Alpha-2", "beta", "gamma"}},
		{"name LIKE 'alpha%'", []string{"alpha"}},
		{"name LIKE 'Alpha%'", []string{"Alpha-2"}},
		{"name LIKE '%a'", []string{"alpha", "beta", "gamma"}},
		{"name LIKE 'a_pha'", []string{"alpha"}},
		{"name ILIKE 'alpha%'", []string{"alpha", "Alpha-2"}},
		{"name ILIKE '%ET%'", []string{"beta"}},
		{"tags.team = 'ml'", []string{"alpha"}},
		{"tag.team = 'ml'", []string{"alpha"}},
		{"tags.team != 'ml'", []string{"Alpha-2", "beta"}},
		{"tags.team LIKE 'M%'", []string{"Alpha-2"}},
		{"tags.team ILIKE 'm%'", []string{"alpha", "Alpha-2"}},
		{"tags.env = 'prod'", []string{"alpha"}},
		{"tags.nope = 'x'", nil},
		{"creation_time = " + ct(beta), []string{"beta"}},
		{"creation_time != " + ct(beta), []string{"Default", "alpha", "Alpha-2", "gamma"}},
		{"creation_time > " + ct(beta) + " AND name != 'Default'", []string{"gamma"}},
		{"creation_time >= " + ct(beta) + " AND name != 'Default'", []string{"beta", "gamma"}},
		{"creation_time < " + ct(beta), []string{"alpha", "Alpha-2"}},
		{"creation_time <= " + ct(alpha), []string{"alpha"}},
		{"last_update_time >= " + ct(gamma), []string{"Default", "gamma"}},
		{"experiment_id = '" + ids["beta"] + "'", []string{"beta"}},
		{"experiment_id IN ('" + ids["beta"] + "', '" + ids["gamma"] + "', '0')", []string{"Default", "beta", "gamma"}},
		{"experiment_id NOT IN ('0')", []string{"alpha", "Alpha-2", "beta", "gamma"}},
		{"name LIKE '%a%' AND tags.env = 'prod'", []string{"alpha"}},
		{"tags.team ILIKE 'ML' AND name LIKE 'A%'", []string{"Alpha-2"}},
		{"name = 'alpha' AND name = 'beta'", nil},
	}
	for _, c := range cases {
		got := e.searchExperimentNames(c.filter, nil, tracking.ActiveOnly)
		if !sameSet(got, c.want) {
			e.Errorf("SearchExperiments(%q) = %q, want %q", c.filter, got, c.want)
		}
	}
	// A deleted experiment matches in the views that include it.
	if got := e.searchExperimentNames("tags.team = 'ml'", nil, tracking.AllViews); !sameSet(got, []string{"alpha", "delta"}) {
		e.Errorf("SearchExperiments(tags.team = 'ml', all) = %q, want alpha, delta", got)
	}

	// Invalid filters are rejected.
	for _, bad := range []string{"name > 'a'", "metrics.x > 1", "creation_time = 'x'", "name = alpha"} {
		_, _, err := e.svc.SearchExperiments(e.ctx, bad, nil, tracking.ActiveOnly, 0, "")
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchExperiments(%q)", bad))
	}
}

// MLflow 3 accepts tags.<key> IS NULL / IS NOT NULL in search_experiments:
// whether the experiment has the tag.
func testSearchExperimentsTagIsNull(e *env) {
	experimentFixture(e)
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"tags.team IS NULL", []string{"Default", "gamma"}},
		{"tags.team IS NOT NULL", []string{"alpha", "Alpha-2", "beta"}},
		{"tags.env IS NOT NULL AND tags.team = 'ml'", []string{"alpha"}},
	} {
		exps, _, err := e.svc.SearchExperiments(e.ctx, c.filter, nil, tracking.ActiveOnly, 0, "")
		if err != nil {
			e.Errorf("SearchExperiments(%q): %v", c.filter, err)
			continue
		}
		if got := experimentNames(exps); !sameSet(got, c.want) {
			e.Errorf("SearchExperiments(%q) = %q, want %q", c.filter, got, c.want)
		}
	}
}

func testSearchExperimentsOrder(e *env) {
	// Lower-case names only, so that byte order and any collation agree.
	for _, n := range []string{"bravo", "delta", "alpha", "charlie"} {
		e.createExperiment(n)
	}
	not := "name != 'Default'"
	cases := []struct {
		order []string
		want  []string
	}{
		// Default: newest first.
		{nil, []string{"charlie", "alpha", "delta", "bravo"}},
		{[]string{"name"}, []string{"alpha", "bravo", "charlie", "delta"}},
		{[]string{"name ASC"}, []string{"alpha", "bravo", "charlie", "delta"}},
		{[]string{"name DESC"}, []string{"delta", "charlie", "bravo", "alpha"}},
		{[]string{"attribute.name DESC"}, []string{"delta", "charlie", "bravo", "alpha"}},
		{[]string{"creation_time ASC"}, []string{"bravo", "delta", "alpha", "charlie"}},
		{[]string{"creation_time DESC"}, []string{"charlie", "alpha", "delta", "bravo"}},
		{[]string{"experiment_id ASC"}, []string{"bravo", "delta", "alpha", "charlie"}},
		{[]string{"experiment_id DESC"}, []string{"charlie", "alpha", "delta", "bravo"}},
	}
	for _, c := range cases {
		if got := e.searchExperimentNames(not, c.order, tracking.ActiveOnly); !slices.Equal(got, c.want) {
			e.Errorf("SearchExperiments order_by %q = %q, want %q", c.order, got, c.want)
		}
	}
	// Default is the newest experiment (created at the store's real time).
	if got := e.searchExperimentNames("", nil, tracking.ActiveOnly); len(got) != 5 || got[0] != "Default" {
		e.Errorf("SearchExperiments default order = %q, want Default first", got)
	}
	for _, bad := range []string{"tags.x", "name UP", "metrics.m DESC"} {
		_, _, err := e.svc.SearchExperiments(e.ctx, "", []string{bad}, tracking.ActiveOnly, 0, "")
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchExperiments order_by %q", bad))
	}
}

func testSearchExperimentsViewTypes(e *env) {
	experimentFixture(e)
	active := []string{"Default", "alpha", "Alpha-2", "beta", "gamma"}
	for _, c := range []struct {
		view tracking.ViewType
		want []string
	}{
		{tracking.ActiveOnly, active},
		{tracking.DeletedOnly, []string{"delta"}},
		{tracking.AllViews, append(slices.Clone(active), "delta")},
	} {
		if got := e.searchExperimentNames("", nil, c.view); !sameSet(got, c.want) {
			e.Errorf("SearchExperiments view %d = %q, want %q", c.view, got, c.want)
		}
	}
}

func testSearchExperimentsPagination(e *env) {
	const n = 23
	for i := range n {
		id := e.createExperiment(fmt.Sprintf("page-%02d", i))
		if i%5 == 0 {
			e.must(e.svc.DeleteExperiment(e.ctx, id), "DeleteExperiment")
		}
	}
	for _, view := range []tracking.ViewType{tracking.ActiveOnly, tracking.DeletedOnly, tracking.AllViews} {
		for _, order := range [][]string{nil, {"name DESC"}, {"creation_time ASC"}} {
			full, next, err := e.svc.SearchExperiments(e.ctx, "", order, view, 1000, "")
			e.must(err, "SearchExperiments")
			if next != "" {
				e.Errorf("a complete page has a next token")
			}
			var walked []string
			token := ""
			for pages := 0; ; pages++ {
				if pages > n+2 {
					e.Fatalf("pagination does not end")
				}
				page, next, err := e.svc.SearchExperiments(e.ctx, "", order, view, 4, token)
				e.must(err, "SearchExperiments page")
				if len(page) > 4 {
					e.Errorf("page of %d with max_results 4", len(page))
				}
				if next != "" && len(page) != 4 {
					e.Errorf("short page of %d has a next token", len(page))
				}
				walked = append(walked, experimentNames(page)...)
				if next == "" {
					break
				}
				token = next
			}
			if want := experimentNames(full); !slices.Equal(walked, want) {
				e.Errorf("view %d order %q: pages give %q, want %q", view, order, walked, want)
			}
			if d := dupes(walked); len(d) > 0 {
				e.Errorf("view %d order %q: experiments on several pages: %q", view, order, d)
			}
		}
	}
	all := e.searchExperimentNames("", nil, tracking.AllViews)
	if len(all) != n+1 {
		e.Errorf("%d experiments in all views, want %d", len(all), n+1)
	}
	// A page token from the store is opaque; garbage is rejected.
	_, _, err := e.svc.SearchExperiments(e.ctx, "", nil, tracking.AllViews, 4, "not a page token!")
	e.wantCode(err, lode.EInvalid, "SearchExperiments with a bad page token")
	_, _, err = e.store.SearchExperiments(e.ctx, tracking.ExperimentQuery{ViewType: tracking.AllViews, MaxResults: 4, PageToken: "%%%"})
	e.wantCode(err, lode.EInvalid, "Store.SearchExperiments with a bad page token")
}

func testSearchExperimentsMaxResults(e *env) {
	for i := range 3 {
		e.createExperiment(fmt.Sprintf("m-%d", i))
	}
	exps, next, err := e.svc.SearchExperiments(e.ctx, "", nil, tracking.ActiveOnly, 2, "")
	e.must(err, "SearchExperiments max 2")
	if len(exps) != 2 || next == "" {
		e.Errorf("max_results 2 of 4: %d results, next %q; want 2 and a token", len(exps), next)
	}
	exps, next, err = e.svc.SearchExperiments(e.ctx, "", nil, tracking.ActiveOnly, 4, "")
	e.must(err, "SearchExperiments max 4")
	if len(exps) != 4 || next != "" {
		e.Errorf("max_results 4 of 4: %d results, next %q; want 4 and no token", len(exps), next)
	}
	_, _, err = e.svc.SearchExperiments(e.ctx, "", nil, tracking.ActiveOnly, tracking.MaxResultsExperiments, "")
	e.must(err, "SearchExperiments at the max_results bound")
	_, _, err = e.svc.SearchExperiments(e.ctx, "", nil, tracking.ActiveOnly, tracking.MaxResultsExperiments+1, "")
	e.wantCode(err, lode.EInvalid, "SearchExperiments max_results over the bound")
	_, _, err = e.svc.SearchExperiments(e.ctx, "", nil, tracking.ActiveOnly, -1, "")
	e.wantCode(err, lode.EInvalid, "SearchExperiments negative max_results")
}
