package jobstest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
)

var listTests = []test{
	{"Empty", testListEmpty},
	{"Order", testListOrder},
	{"Filters", testListFilters},
	{"FiltersAfterUpdate", testListFiltersAfterUpdate},
	{"Paging", testListPaging},
	{"PagingFiltered", testListPagingFiltered},
	{"MaxResults", testListMaxResults},
	{"BadPageToken", testListBadPageToken},
}

var allStates = []jobs.State{jobs.Queued, jobs.Scheduled, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled}

// newestFirst sorts js as ListJobs does and returns their ids.
func newestFirst(js []*jobs.Job) []string {
	s := slices.Clone(js)
	sort.Slice(s, func(a, b int) bool {
		if s[a].Submitted != s[b].Submitted {
			return s[a].Submitted > s[b].Submitted
		}
		return s[a].ID > s[b].ID
	})
	return ids(s)
}

// oldestFirst sorts js as ActiveJobs does and returns their ids.
func oldestFirst(js []*jobs.Job) []string {
	out := newestFirst(js)
	slices.Reverse(out)
	return out
}

// matches reports whether j is one q selects.
func matches(j *jobs.Job, q jobs.Query) bool {
	if len(q.States) > 0 && !slices.Contains(q.States, j.State) {
		return false
	}
	return (q.Queue == "" || j.Spec.Queue == q.Queue) && (q.User == "" || j.Spec.User == q.User) && q.Experiments.Has(j.Spec.Experiment())
}

// populate creates n jobs in a random (but fixed) order, with submission
// times that tie in pairs, spread over queues, users and states, and
// returns them as stored.
func (e *env) populate(n int) []*jobs.Job {
	e.Helper()
	queues := []string{"default", "research", "prod", ""}
	users := []string{"alice", "bob", "", "carol"}
	var out []*jobs.Job
	for i := range n {
		j := queued(fmt.Sprintf("job-%04d", i), base+int64(i/2))
		j.Spec.Queue = queues[i%len(queues)]
		j.Spec.User = users[(i/3)%len(users)]
		j.Spec.Priority = i % 5
		j.Spec.ExperimentID = []string{"", "1", "2", "12"}[(i/2)%4]
		if s := allStates[(i/5)%len(allStates)]; s != jobs.Queued {
			j.State = s
			j.History = append(j.History, jobs.Transition{State: s, Time: j.Submitted + 1})
		}
		out = append(out, j)
	}
	r := rand.New(rand.NewPCG(1, 2))
	order := r.Perm(n)
	for _, i := range order {
		e.create(clone(out[i]))
	}
	return out
}

func testListEmpty(e *env) {
	js, next := e.list(jobs.Query{})
	if len(js) != 0 || next != "" {
		e.Errorf("ListJobs of an empty store: %d jobs, next %q", len(js), next)
	}
	js, next = e.list(jobs.Query{States: []jobs.State{jobs.Running}, Queue: "q", User: "u", MaxResults: 5})
	if len(js) != 0 || next != "" {
		e.Errorf("ListJobs of an empty store with filters: %d jobs, next %q", len(js), next)
	}
	if act := e.active(); len(act) != 0 {
		e.Errorf("ActiveJobs of an empty store: %d jobs", len(act))
	}
}

// Newest first; equal submission times order by id, descending.
func testListOrder(e *env) {
	all := e.populate(40)
	e.sameIDs(e.walk(jobs.Query{}), newestFirst(all), "ListJobs")
	// Ids break ties as strings, not by creation order.
	e.create(queued("zz", base))
	e.create(queued("aa", base+1000))
	e.create(queued("mm", base+1000))
	got := ids(e.walk(jobs.Query{MaxResults: 3}))
	if len(got) != 43 || !slices.Equal(got[:3], []string{"mm", "aa", "job-0039"}) || got[len(got)-3] != "zz" {
		e.Errorf("ListJobs after adding ties: %s", brief(got))
	}
}

func testListFilters(e *env) {
	all := e.populate(120)
	queries := []jobs.Query{
		{},
		{States: []jobs.State{jobs.Queued}},
		{States: []jobs.State{jobs.Running}},
		{States: []jobs.State{jobs.Succeeded, jobs.Failed, jobs.Cancelled}},
		{States: []jobs.State{jobs.Queued, jobs.Scheduled, jobs.Running}},
		{States: allStates},
		{States: []jobs.State{"NO_SUCH_STATE"}},
		{States: []jobs.State{jobs.Failed, "NO_SUCH_STATE"}},
		{Queue: "research"},
		{Queue: "prod"},
		{Queue: "Research"},
		{Queue: "nope"},
		{User: "alice"},
		{User: "carol"},
		{User: "al"},
		{Queue: "default", User: "bob"},
		{Queue: "research", States: []jobs.State{jobs.Queued, jobs.Running}},
		{Queue: "prod", User: "carol", States: []jobs.State{jobs.Scheduled, jobs.Succeeded}},
		{User: "alice", States: []jobs.State{jobs.Cancelled}},
		// Experiments: "" is the Default experiment, "0".
		{Experiments: lode.Scope{Only: true, IDs: []string{"1", "0"}}},
		{Experiments: lode.Scope{Only: true}},
		{Experiments: lode.Scope{Except: []string{"2", "0"}}},
		{Experiments: lode.Scope{Except: []string{"1"}}, Queue: "prod"},
	}
	for _, q := range queries {
		var want []*jobs.Job
		for _, j := range all {
			if matches(j, q) {
				want = append(want, j)
			}
		}
		q.MaxResults = 1000
		e.sameIDs(e.walk(q), newestFirst(want), fmt.Sprintf("ListJobs %+v", q))
		q.MaxResults = 7
		e.sameIDs(e.walk(q), newestFirst(want), fmt.Sprintf("ListJobs %+v", q))
	}
	// Jobs come back whole from a filtered listing too.
	js, _ := e.list(jobs.Query{Queue: "prod", MaxResults: 1})
	if len(js) != 1 {
		e.Fatalf("ListJobs queue prod: %d jobs", len(js))
	}
	for _, j := range all {
		if j.ID == js[0].ID {
			e.same(js[0], j, "ListJobs queue prod")
		}
	}
}

// Filters see the stored state, not the state at creation.
func testListFiltersAfterUpdate(e *env) {
	for i := range 5 {
		e.create(queued(fmt.Sprintf("j%d", i), base+int64(i)))
	}
	running := []jobs.State{jobs.Running}
	e.sameIDs(e.walk(jobs.Query{States: running}), nil, "ListJobs running before")
	for _, id := range []string{"j1", "j3"} {
		j := e.get(id)
		e.move(j, jobs.Scheduled, base+10, "")
		e.move(j, jobs.Running, base+11, "")
	}
	e.sameIDs(e.walk(jobs.Query{States: running}), []string{"j3", "j1"}, "ListJobs running")
	e.sameIDs(e.walk(jobs.Query{States: []jobs.State{jobs.Queued}}), []string{"j4", "j2", "j0"}, "ListJobs queued")
	j := e.get("j3")
	e.move(j, jobs.Succeeded, base+12, "")
	e.sameIDs(e.walk(jobs.Query{States: running}), []string{"j1"}, "ListJobs running after j3 finished")
	e.sameIDs(e.walk(jobs.Query{States: []jobs.State{jobs.Succeeded}}), []string{"j3"}, "ListJobs succeeded")
}

// 250 jobs in pages of 100: 100, 100, 50, each page where the last left
// off, and the default page size is 100.
func testListPaging(e *env) {
	all := e.populate(250)
	want := newestFirst(all)
	var got []string
	q := jobs.Query{MaxResults: 100}
	for i, size := range []int{100, 100, 50} {
		js, next := e.list(q)
		if len(js) != size {
			e.Fatalf("page %d: %d jobs, want %d", i, len(js), size)
		}
		if (next == "") != (i == 2) {
			e.Fatalf("page %d: next page token %q", i, next)
		}
		got = append(got, ids(js)...)
		q.PageToken = next
	}
	e.sameList(got, want, "pages of 100")

	js, next := e.list(jobs.Query{})
	if len(js) != 100 || next == "" {
		e.Errorf("ListJobs with no max_results: %d jobs, next %q; want 100 and a token", len(js), next)
	}
	e.sameIDs(js, want[:100], "ListJobs with no max_results")
	js, next = e.list(jobs.Query{PageToken: next})
	e.sameIDs(js, want[100:200], "second default page")
	if next == "" {
		e.Errorf("second default page: no next page token")
	}

	for _, size := range []int{1, 7, 50, 99, 249, 250, 251, 1000} {
		e.sameIDs(e.walk(jobs.Query{MaxResults: size}), want, fmt.Sprintf("pages of %d", size))
	}
	js, next = e.list(jobs.Query{MaxResults: 1000})
	if len(js) != 250 || next != "" {
		e.Errorf("max_results 1000: %d jobs, next %q; want 250 and no token", len(js), next)
	}
}

func testListPagingFiltered(e *env) {
	all := e.populate(250)
	q := jobs.Query{Queue: "research", States: []jobs.State{jobs.Queued, jobs.Failed}, MaxResults: 4}
	var want []*jobs.Job
	for _, j := range all {
		if matches(j, q) {
			want = append(want, j)
		}
	}
	if len(want) < 10 {
		e.Fatalf("populate: only %d jobs match %+v", len(want), q)
	}
	e.sameIDs(e.walk(q), newestFirst(want), "filtered pages of 4")
}

func testListMaxResults(e *env) {
	e.populate(3)
	for _, n := range []int{1001, 5000, -1} {
		_, _, err := e.store.ListJobs(e.ctx, jobs.Query{MaxResults: n})
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("ListJobs max_results %d", n))
	}
	js, next := e.list(jobs.Query{MaxResults: 3})
	if len(js) != 3 || next != "" {
		e.Errorf("max_results 3 of 3: %d jobs, next %q", len(js), next)
	}
	js, next = e.list(jobs.Query{MaxResults: 2})
	if len(js) != 2 || next == "" {
		e.Errorf("max_results 2 of 3: %d jobs, next %q", len(js), next)
	}
	js, next = e.list(jobs.Query{MaxResults: 2, PageToken: next})
	if len(js) != 1 || next != "" {
		e.Errorf("second page of max_results 2 of 3: %d jobs, next %q", len(js), next)
	}
}

func testListBadPageToken(e *env) {
	e.populate(3)
	for _, tok := range []string{"!!!not base64!!!", "bm90IGpzb24=" /* "not json" */} {
		_, _, err := e.store.ListJobs(e.ctx, jobs.Query{PageToken: tok})
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("ListJobs page token %q", tok))
	}
}
