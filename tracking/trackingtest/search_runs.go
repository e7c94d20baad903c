package trackingtest

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

var searchRunTests = []test{
	{"Filter", testSearchRunsFilter},
	{"FilterIsNull", testSearchRunsIsNull},
	{"FilterMetricNotEqualNaN", testSearchRunsMetricNotEqualNaN},
	{"OrderBy", testSearchRunsOrder},
	{"OrderTieBreak", testSearchRunsTieBreak},
	{"Pagination", testSearchRunsPagination},
	{"ViewTypes", testSearchRunsViewTypes},
	{"MaxResults", testSearchRunsMaxResults},
	{"RunData", testSearchRunsData},
}

// runFixture is a small experiment of four runs (and a fifth run in a
// second experiment), named by their labels:
//
//	r1 alpha user alice FINISHED start 1000 end 2000  loss 0.5 acc 0.9  lr 0.1  opt adam  team ml  env prod
//	r2 beta  user bob   RUNNING  start 2000 no end    loss 0.3 acc NaN  lr 0.01           team ML
//	r3 gamma user alice FAILED   start 3000 end 3500  loss 0.7                  opt sgd            env dev
//	r4 delta user carol FINISHED start 4000 end 4200  (no metrics, params or tags)
//	r5 eps   user alice RUNNING  start 5000           loss 0.1                           team ml   (experiment 2)
type runFixture struct {
	exp1, exp2 string
	id         map[string]string // label -> run id
	labels     labeler           // run id -> label
}

func newRunFixture(e *env) *runFixture {
	e.Helper()
	f := &runFixture{
		exp1:   e.createExperiment("search-1"),
		exp2:   e.createExperiment("search-2"),
		id:     map[string]string{},
		labels: labeler{},
	}
	type spec struct {
		label, name, user, status, exp string
		start                          int64
		end                            *int64
		metrics                        []tracking.Metric
		params                         []tracking.Param
		tags                           []tracking.Tag
	}
	specs := []spec{
		{"r1", "alpha", "alice", tracking.RunFinished, f.exp1, 1000, i64(2000),
			[]tracking.Metric{m("loss", 0.5, 1, 0), m("acc", 0.9, 1, 0)},
			[]tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "opt", Value: "adam"}},
			[]tracking.Tag{{Key: "team", Value: "ml"}, {Key: "env", Value: "prod"}}},
		{"r2", "beta", "bob", tracking.RunRunning, f.exp1, 2000, nil,
			[]tracking.Metric{m("loss", 0.3, 1, 0), m("acc", math.NaN(), 1, 0)},
			[]tracking.Param{{Key: "lr", Value: "0.01"}},
			[]tracking.Tag{{Key: "team", Value: "ML"}}},
		{"r3", "gamma", "alice", tracking.RunFailed, f.exp1, 3000, i64(3500),
			[]tracking.Metric{m("loss", 0.7, 1, 0)},
			[]tracking.Param{{Key: "opt", Value: "sgd"}},
			[]tracking.Tag{{Key: "env", Value: "dev"}}},
		{"r4", "delta", "carol", tracking.RunFinished, f.exp1, 4000, i64(4200), nil, nil, nil},
		{"r5", "eps", "alice", tracking.RunRunning, f.exp2, 5000, nil,
			[]tracking.Metric{m("loss", 0.1, 1, 0)}, nil,
			[]tracking.Tag{{Key: "team", Value: "ml"}}},
	}
	for _, s := range specs {
		r := e.createRun(tracking.CreateRunRequest{ExperimentID: s.exp, UserID: s.user, StartTime: s.start, RunName: s.name})
		id := r.Info.RunID
		f.id[s.label], f.labels[id] = id, s.label
		if s.status != tracking.RunRunning || s.end != nil {
			_, err := e.svc.UpdateRun(e.ctx, id, s.status, s.end, "")
			e.must(err, "UpdateRun")
		}
		e.logBatch(id, s.metrics, s.params, s.tags)
	}
	return f
}

// ids maps labels to run ids.
func (f *runFixture) ids(labels ...string) []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = f.id[l]
	}
	return out
}

// search runs a search over the given experiments and returns the labels
// of the runs found, in order.
func (f *runFixture) search(e *env, exps []string, filter string, orderBy ...string) ([]string, error) {
	runs, _, err := e.svc.SearchRuns(e.ctx, exps, filter, orderBy, tracking.ActiveOnly, 0, "")
	if err != nil {
		return nil, err
	}
	return f.labels.names(runIDs(runs)), nil
}

func testSearchRunsFilter(e *env) {
	f := newRunFixture(e)
	r1, r3, r5 := f.id["r1"], f.id["r3"], f.id["r5"]
	cases := []struct {
		filter string
		want   []string
	}{
		{"", []string{"r1", "r2", "r3", "r4"}},
		// Metrics: the latest value; NaN matches no comparison but !=.
		{"metrics.loss = 0.5", []string{"r1"}},
		{"metrics.loss != 0.5", []string{"r2", "r3"}},
		{"metrics.loss < 0.5", []string{"r2"}},
		{"metrics.loss <= 0.5", []string{"r1", "r2"}},
		{"metrics.loss > 0.5", []string{"r3"}},
		{"metrics.loss >= 0.5", []string{"r1", "r3"}},
		{"metric.loss > 0.4 AND metrics.loss < 0.6", []string{"r1"}},
		{"metrics.loss >= 5e-1", []string{"r1", "r3"}},
		{"metrics.acc > 0", []string{"r1"}},
		{"metrics.acc = 0", nil},
		{"metrics.acc <= 1", []string{"r1"}},
		{"metrics.acc >= -1", []string{"r1"}},
		{"metrics.nothing > 0", nil},
		{"metrics.nothing != 0", nil},
		// Params.
		{"params.lr = '0.1'", []string{"r1"}},
		{"param.lr = \"0.01\"", []string{"r2"}},
		{"parameters.lr != '0.1'", []string{"r2"}},
		{"params.lr LIKE '0.%'", []string{"r1", "r2"}},
		{"params.lr LIKE '%01'", []string{"r2"}},
		{"params.lr LIKE '0._'", []string{"r1"}},
		{"params.opt LIKE 'ADAM'", nil},
		{"params.opt ILIKE 'ADAM'", []string{"r1"}},
		{"params.opt ILIKE '%g%'", []string{"r3"}},
		{"params.opt != 'adam'", []string{"r3"}},
		{"params.nothing = 'x'", nil},
		// Tags.
		{"tags.team = 'ml'", []string{"r1"}},
		{"tags.team = 'ML'", []string{"r2"}},
		{"tag.team != 'ml'", []string{"r2"}},
		{"tags.team LIKE 'M%'", []string{"r2"}},
		{"tags.team LIKE 'm%'", []string{"r1"}},
		{"tags.team ILIKE 'ml'", []string{"r1", "r2"}},
		{"tags.env ILIKE '%O%'", []string{"r1"}},
		{"tags.`mlflow.runName` = 'alpha'", []string{"r1"}},
		{"tags.\"mlflow.runName\" LIKE '%ta'", []string{"r2", "r4"}},
		// Attributes.
		{"attributes.run_name = 'alpha'", []string{"r1"}},
		{"attributes.run_name != 'alpha'", []string{"r2", "r3", "r4"}},
		{"attributes.run_name LIKE '%ta'", []string{"r2", "r4"}},
		{"attributes.run_name LIKE 'A%'", nil},
		{"attributes.run_name ILIKE 'A%'", []string{"r1"}},
		{"run_name = 'gamma'", []string{"r3"}},
		{"attributes.status = 'FINISHED'", []string{"r1", "r4"}},
		{"attributes.status != 'RUNNING'", []string{"r1", "r3", "r4"}},
		{"attributes.status LIKE 'F%'", []string{"r1", "r3", "r4"}},
		{"attributes.status LIKE 'f%'", nil},
		{"attributes.status ILIKE 'run%'", []string{"r2"}},
		{"status = 'FAILED'", []string{"r3"}},
		{"attributes.user_id = 'alice'", []string{"r1", "r3"}},
		{"attributes.user_id != 'alice'", []string{"r2", "r4"}},
		{"attributes.user_id LIKE 'b%'", []string{"r2"}},
		{"attributes.user_id ILIKE 'CAROL'", []string{"r4"}},
		{"attributes.start_time = 2000", []string{"r2"}},
		{"attributes.start_time != 2000", []string{"r1", "r3", "r4"}},
		{"attributes.start_time > 2000", []string{"r3", "r4"}},
		{"attributes.start_time >= 2000", []string{"r2", "r3", "r4"}},
		{"attributes.start_time < 2000", []string{"r1"}},
		{"attributes.start_time <= 2000", []string{"r1", "r2"}},
		{"attributes.created >= 3000", []string{"r3", "r4"}},
		{"start_time > 1000 AND start_time < 4000", []string{"r2", "r3"}},
		{"attributes.end_time = 2000", []string{"r1"}},
		{"attributes.end_time != 2000", []string{"r3", "r4"}},
		{"attributes.end_time < 3600", []string{"r1", "r3"}},
		{"attributes.end_time <= 3500", []string{"r1", "r3"}},
		{"attributes.end_time > 3000", []string{"r3", "r4"}},
		{"attributes.end_time >= 0", []string{"r1", "r3", "r4"}},
		{"attributes.run_id = '" + r1 + "'", []string{"r1"}},
		{"attributes.run_id != '" + r1 + "'", []string{"r2", "r3", "r4"}},
		{"attributes.run_id IN ('" + r1 + "', '" + r3 + "')", []string{"r1", "r3"}},
		{"attributes.run_id IN ('" + r1 + "',)", []string{"r1"}},
		{"attributes.run_id NOT IN ('" + r1 + "')", []string{"r2", "r3", "r4"}},
		{"attributes.run_id IN ('" + r5 + "')", nil},
		{"attributes.artifact_uri LIKE '%" + r1 + "%'", []string{"r1"}},
		// AND.
		{"metrics.loss < 0.6 AND params.lr = '0.1'", []string{"r1"}},
		{"tags.team ILIKE 'ml' AND attributes.status = 'RUNNING'", []string{"r2"}},
		{"attributes.user_id = 'alice' AND metrics.loss > 0.6 AND tags.env = 'dev'", []string{"r3"}},
		{"params.lr LIKE '0.%' and params.opt = 'adam' AND attributes.start_time < 1500", []string{"r1"}},
		{"attributes.status = 'FINISHED' AND attributes.user_id = 'bob'", nil},
		{"metrics.loss > 0 AND metrics.acc > 0", []string{"r1"}},
	}
	for _, c := range cases {
		got, err := f.search(e, []string{f.exp1}, c.filter)
		if err != nil {
			e.Errorf("SearchRuns(%q): %v", c.filter, err)
			continue
		}
		if !sameSet(got, c.want) {
			e.Errorf("SearchRuns(%q) = %v, want %v", c.filter, got, c.want)
		}
	}

	// Several experiments.
	for _, c := range []struct {
		exps   []string
		filter string
		want   []string
	}{
		{[]string{f.exp1, f.exp2}, "", []string{"r1", "r2", "r3", "r4", "r5"}},
		{[]string{f.exp2}, "", []string{"r5"}},
		{[]string{f.exp1, f.exp2}, "tags.team = 'ml'", []string{"r1", "r5"}},
		{[]string{f.exp2, f.exp1}, "metrics.loss < 0.2", []string{"r5"}},
		{[]string{f.exp1, f.exp2}, "attributes.user_id = 'alice'", []string{"r1", "r3", "r5"}},
		{[]string{unknownExperiment}, "", nil},
	} {
		got, err := f.search(e, c.exps, c.filter)
		if err != nil {
			e.Errorf("SearchRuns(%v, %q): %v", c.exps, c.filter, err)
			continue
		}
		if !sameSet(got, c.want) {
			e.Errorf("SearchRuns(%v, %q) = %v, want %v", c.exps, c.filter, got, c.want)
		}
	}

	// Invalid filters.
	for _, bad := range []string{
		"metrics.loss = 'x'", "params.lr > '1'", "attributes.status > 'A'", "attributes.start_time = 'x'",
		"attributes.nope = 'x'", "foo.bar = 'x'", "metrics.loss", "params.lr = '1' OR params.lr = '2'",
		"attributes.run_name IN ('a')", "tags.t = x",
	} {
		_, _, err := e.svc.SearchRuns(e.ctx, []string{f.exp1}, bad, nil, tracking.ActiveOnly, 0, "")
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchRuns(%q)", bad))
	}
}

// MLflow 3: params.<key> and tags.<key> IS NULL / IS NOT NULL test whether
// the run has the param or tag.
func testSearchRunsIsNull(e *env) {
	f := newRunFixture(e)
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"params.lr IS NULL", []string{"r3", "r4"}},
		{"params.lr IS NOT NULL", []string{"r1", "r2"}},
		{"tags.env IS NULL", []string{"r2", "r4"}},
		{"tags.env is not null", []string{"r1", "r3"}},
		{"tags.team IS NOT NULL AND params.opt IS NULL", []string{"r2"}},
	} {
		got, err := f.search(e, []string{f.exp1}, c.filter)
		if err != nil {
			e.Errorf("SearchRuns(%q): %v", c.filter, err)
			continue
		}
		if !sameSet(got, c.want) {
			e.Errorf("SearchRuns(%q) = %v, want %v", c.filter, got, c.want)
		}
	}
}

// In MLflow's SQL store a NaN metric satisfies "!=" (as every comparison
// with NaN but != is false, SQL-side NaN is stored as 0 with is_nan and
// the store adds "OR is_nan" for !=).
func testSearchRunsMetricNotEqualNaN(e *env) {
	f := newRunFixture(e)
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"metrics.acc != 0.9", []string{"r2"}},
		{"metrics.acc != 0", []string{"r1", "r2"}},
	} {
		got, err := f.search(e, []string{f.exp1}, c.filter)
		if err != nil {
			e.Errorf("SearchRuns(%q): %v", c.filter, err)
			continue
		}
		if !sameSet(got, c.want) {
			e.Errorf("SearchRuns(%q) = %v, want %v", c.filter, got, c.want)
		}
	}
}

func testSearchRunsOrder(e *env) {
	f := newRunFixture(e)
	cases := []struct {
		order []string
		want  []string
	}{
		{nil, []string{"r4", "r3", "r2", "r1"}},
		{[]string{"metrics.loss"}, []string{"r2", "r1", "r3", "r4"}},
		{[]string{"metrics.loss ASC"}, []string{"r2", "r1", "r3", "r4"}},
		{[]string{"metrics.loss DESC"}, []string{"r3", "r1", "r2", "r4"}},
		// NaN sorts after numbers and before missing values, both ways.
		{[]string{"metrics.acc DESC"}, []string{"r1", "r2", "r4", "r3"}},
		{[]string{"metrics.acc ASC"}, []string{"r1", "r2", "r4", "r3"}},
		{[]string{"params.lr ASC"}, []string{"r2", "r1", "r4", "r3"}},
		{[]string{"params.lr DESC"}, []string{"r1", "r2", "r4", "r3"}},
		{[]string{"tags.env ASC"}, []string{"r3", "r1", "r4", "r2"}},
		{[]string{"tags.env DESC"}, []string{"r1", "r3", "r4", "r2"}},
		{[]string{"attributes.run_name ASC"}, []string{"r1", "r2", "r4", "r3"}},
		{[]string{"attributes.run_name DESC"}, []string{"r3", "r4", "r2", "r1"}},
		{[]string{"attributes.start_time ASC"}, []string{"r1", "r2", "r3", "r4"}},
		{[]string{"start_time DESC"}, []string{"r4", "r3", "r2", "r1"}},
		{[]string{"attributes.end_time ASC"}, []string{"r1", "r3", "r4", "r2"}},
		{[]string{"attributes.end_time DESC"}, []string{"r4", "r3", "r1", "r2"}},
		{[]string{"attributes.status ASC", "metrics.loss DESC"}, []string{"r3", "r1", "r4", "r2"}},
		{[]string{"attributes.user_id DESC", "attributes.start_time ASC"}, []string{"r4", "r2", "r1", "r3"}},
		{[]string{"params.opt DESC", "metrics.loss ASC"}, []string{"r3", "r1", "r2", "r4"}},
	}
	for _, c := range cases {
		got, err := f.search(e, []string{f.exp1}, "", c.order...)
		if err != nil {
			e.Errorf("SearchRuns order_by %q: %v", c.order, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			e.Errorf("SearchRuns order_by %q = %v, want %v", c.order, got, c.want)
		}
	}
	// Order and filter together, over two experiments.
	got, err := f.search(e, []string{f.exp1, f.exp2}, "metrics.loss < 0.6", "metrics.loss DESC")
	e.must(err, "SearchRuns")
	if want := []string{"r1", "r2", "r5"}; !slices.Equal(got, want) {
		e.Errorf("SearchRuns(loss < 0.6, loss DESC) over two experiments = %v, want %v", got, want)
	}
	for _, bad := range []string{"metrics.loss UP", "datasets.name", "nope", "attributes.nope DESC"} {
		_, _, err := e.svc.SearchRuns(e.ctx, []string{f.exp1}, "", []string{bad}, tracking.ActiveOnly, 0, "")
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("SearchRuns order_by %q", bad))
	}
}

// Runs are ordered by start_time DESC, then run id, after any order_by.
func testSearchRunsTieBreak(e *env) {
	x := e.createExperiment("ties")
	starts := []int64{5, 5, 5, 9, 9, 1, 5}
	type run struct {
		id    string
		start int64
		loss  float64
	}
	var runs []run
	for i, s := range starts {
		id := e.createRun(tracking.CreateRunRequest{ExperimentID: x, StartTime: s}).Info.RunID
		loss := float64(i % 2)
		e.logBatch(id, []tracking.Metric{m("loss", loss, 1, 0)}, nil, nil)
		runs = append(runs, run{id, s, loss})
	}
	byStartThenID := func(a, b run) int {
		return cmp.Or(cmp.Compare(b.start, a.start), strings.Compare(a.id, b.id))
	}
	for _, c := range []struct {
		order []string
		sort  func(a, b run) int
	}{
		{nil, byStartThenID},
		{[]string{"metrics.loss DESC"}, func(a, b run) int { return cmp.Or(cmp.Compare(b.loss, a.loss), byStartThenID(a, b)) }},
		{[]string{"metrics.loss ASC"}, func(a, b run) int { return cmp.Or(cmp.Compare(a.loss, b.loss), byStartThenID(a, b)) }},
		{[]string{"attributes.start_time ASC"}, func(a, b run) int {
			return cmp.Or(cmp.Compare(a.start, b.start), strings.Compare(a.id, b.id))
		}},
	} {
		want := slices.Clone(runs)
		slices.SortFunc(want, c.sort)
		wantIDs := make([]string, len(want))
		for i, r := range want {
			wantIDs[i] = r.id
		}
		got, _ := e.searchRuns([]string{x}, "", c.order, tracking.ActiveOnly, 0, "")
		if !slices.Equal(runIDs(got), wantIDs) {
			e.Errorf("order_by %q: got %v, want %v", c.order, runIDs(got), wantIDs)
		}
	}
}

func testSearchRunsPagination(e *env) {
	x := e.createExperiment("pages")
	other := e.createExperiment("pages-other")
	e.newRun(other, "not-in-x")
	const n = 250
	type run struct {
		id     string
		start  int64
		metric *float64
		param  *string
	}
	runs := make([]run, n)
	for i := range runs {
		r := run{start: 1000 + int64(i/3)}
		r.id = e.createRun(tracking.CreateRunRequest{ExperimentID: x, StartTime: r.start, RunName: fmt.Sprintf("run-%03d", i)}).Info.RunID
		var ms []tracking.Metric
		var ps []tracking.Param
		if i%3 != 0 {
			v := float64((i * 7) % 50)
			r.metric = &v
			ms = append(ms, m("m", v, int64(i), 0))
		}
		if i%4 != 0 {
			p := fmt.Sprintf("%03d", (i*13)%100)
			r.param = &p
			ps = append(ps, tracking.Param{Key: "p", Value: p})
		}
		if ms != nil || ps != nil {
			e.logBatch(r.id, ms, ps, nil)
		}
		runs[i] = r
	}
	tie := func(a, b run) int { return cmp.Or(cmp.Compare(b.start, a.start), strings.Compare(a.id, b.id)) }
	// nullsLast orders present values by less and puts missing ones last.
	nullsLast := func(a, b bool, c int) int {
		switch {
		case a && b:
			return c
		case a:
			return -1
		case b:
			return 1
		}
		return 0
	}
	cases := []struct {
		order []string
		sort  func(a, b run) int
	}{
		{nil, tie},
		{[]string{"metrics.m DESC"}, func(a, b run) int {
			c := 0
			if a.metric != nil && b.metric != nil {
				c = cmp.Compare(*b.metric, *a.metric)
			}
			return cmp.Or(nullsLast(a.metric != nil, b.metric != nil, c), tie(a, b))
		}},
		{[]string{"metrics.m ASC"}, func(a, b run) int {
			c := 0
			if a.metric != nil && b.metric != nil {
				c = cmp.Compare(*a.metric, *b.metric)
			}
			return cmp.Or(nullsLast(a.metric != nil, b.metric != nil, c), tie(a, b))
		}},
		{[]string{"params.p ASC"}, func(a, b run) int {
			c := 0
			if a.param != nil && b.param != nil {
				c = strings.Compare(*a.param, *b.param)
			}
			return cmp.Or(nullsLast(a.param != nil, b.param != nil, c), tie(a, b))
		}},
		{[]string{"attributes.start_time ASC"}, func(a, b run) int {
			return cmp.Or(cmp.Compare(a.start, b.start), strings.Compare(a.id, b.id))
		}},
	}
	for _, c := range cases {
		want := slices.Clone(runs)
		slices.SortFunc(want, c.sort)
		wantIDs := make([]string, n)
		for i, r := range want {
			wantIDs[i] = r.id
		}
		for _, size := range []int{17, 100, 250, 1000} {
			got := runIDs(e.walkRuns([]string{x}, "", c.order, tracking.ActiveOnly, size))
			if d := dupes(got); len(d) > 0 {
				e.Errorf("order_by %q, pages of %d: %d runs on several pages", c.order, size, len(d))
			}
			if len(got) != n {
				e.Errorf("order_by %q, pages of %d: %d runs, want %d", c.order, size, len(got), n)
				continue
			}
			if !slices.Equal(got, wantIDs) {
				i := 0
				for i < n && got[i] == wantIDs[i] {
					i++
				}
				e.Errorf("order_by %q, pages of %d: order differs from position %d", c.order, size, i)
			}
		}
	}
	// A filter and pages.
	got := e.walkRuns([]string{x, other}, "metrics.m >= 25", []string{"metrics.m DESC"}, tracking.ActiveOnly, 7)
	want := 0
	for _, r := range runs {
		if r.metric != nil && *r.metric >= 25 {
			want++
		}
	}
	if len(got) != want || len(dupes(runIDs(got))) != 0 {
		e.Errorf("filtered pages: %d runs (%d duplicates), want %d", len(got), len(dupes(runIDs(got))), want)
	}
	_, _, err := e.svc.SearchRuns(e.ctx, []string{x}, "", nil, tracking.ActiveOnly, 10, "bad token")
	e.wantCode(err, lode.EInvalid, "SearchRuns with a bad page token")
	_, _, err = e.store.SearchRuns(e.ctx, tracking.RunQuery{ExperimentIDs: []string{x}, MaxResults: 10, PageToken: "%%%"})
	e.wantCode(err, lode.EInvalid, "Store.SearchRuns with a bad page token")
}

func testSearchRunsViewTypes(e *env) {
	f := newRunFixture(e)
	e.must(e.svc.DeleteRun(e.ctx, f.id["r4"]), "DeleteRun")
	for _, c := range []struct {
		view tracking.ViewType
		want []string
	}{
		{tracking.ActiveOnly, []string{"r1", "r2", "r3"}},
		{tracking.DeletedOnly, []string{"r4"}},
		{tracking.AllViews, []string{"r1", "r2", "r3", "r4"}},
	} {
		runs, _ := e.searchRuns([]string{f.exp1}, "", nil, c.view, 0, "")
		if got := f.labels.names(runIDs(runs)); !sameSet(got, c.want) {
			e.Errorf("SearchRuns view %d = %v, want %v", c.view, got, c.want)
		}
	}
	runs, _ := e.searchRuns([]string{f.exp1}, "attributes.user_id = 'carol'", nil, tracking.DeletedOnly, 0, "")
	if got := f.labels.names(runIDs(runs)); !slices.Equal(got, []string{"r4"}) {
		e.Errorf("SearchRuns(deleted, user carol) = %v", got)
	}
	e.must(e.svc.RestoreRun(e.ctx, f.id["r4"]), "RestoreRun")
	runs, _ = e.searchRuns([]string{f.exp1}, "", nil, tracking.DeletedOnly, 0, "")
	if len(runs) != 0 {
		e.Errorf("deleted runs after restore: %v", f.labels.names(runIDs(runs)))
	}
}

func testSearchRunsMaxResults(e *env) {
	f := newRunFixture(e)
	runs, next := e.searchRuns([]string{f.exp1}, "", nil, tracking.ActiveOnly, 3, "")
	if len(runs) != 3 || next == "" {
		e.Errorf("max_results 3 of 4: %d runs, next %q", len(runs), next)
	}
	runs, next = e.searchRuns([]string{f.exp1}, "", nil, tracking.ActiveOnly, 4, "")
	if len(runs) != 4 || next != "" {
		e.Errorf("max_results 4 of 4: %d runs, next %q", len(runs), next)
	}
	runs, _ = e.searchRuns([]string{f.exp1}, "", nil, tracking.ActiveOnly, tracking.MaxResultsRuns, "")
	if len(runs) != 4 {
		e.Errorf("max_results at the bound: %d runs", len(runs))
	}
	_, _, err := e.svc.SearchRuns(e.ctx, []string{f.exp1}, "", nil, tracking.ActiveOnly, tracking.MaxResultsRuns+1, "")
	e.wantCode(err, lode.EInvalid, "SearchRuns max_results 50001")
	_, _, err = e.svc.SearchRuns(e.ctx, []string{f.exp1}, "", nil, tracking.ActiveOnly, -5, "")
	e.wantCode(err, lode.EInvalid, "SearchRuns negative max_results")
}

// Search results carry the runs' data, as get_run does.
func testSearchRunsData(e *env) {
	f := newRunFixture(e)
	runs, _ := e.searchRuns([]string{f.exp1}, "attributes.run_name = 'alpha'", nil, tracking.ActiveOnly, 0, "")
	if len(runs) != 1 {
		e.Fatalf("found %d runs named alpha", len(runs))
	}
	got, want := runs[0], e.getRun(f.id["r1"])
	if !sameInfo(got.Info, want.Info) {
		e.Errorf("search info %+v, get_run info %+v", got.Info, want.Info)
	}
	if len(got.Metrics) != 2 || len(got.Params) != 2 || len(got.Tags) != 3 {
		e.Errorf("search result data: %d metrics, %d params, %d tags; want 2, 2, 3", len(got.Metrics), len(got.Params), len(got.Tags))
	}
	if mt, ok := latestMetric(got, "loss"); !ok || mt.Value != 0.5 {
		e.Errorf("search result loss = %+v", mt)
	}
	if v, _ := paramValue(got.Params, "opt"); v != "adam" {
		e.Errorf("search result param opt = %q", v)
	}
	if v, _ := tagValue(got.Tags, "env"); v != "prod" {
		e.Errorf("search result tag env = %q", v)
	}
}
