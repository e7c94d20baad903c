package jobstest

import (
	"fmt"

	"github.com/lode-ml/lode/jobs"
)

var activeTests = []test{
	{"States", testActiveStates},
	{"Moves", testActiveMoves},
	{"Unpaged", testActiveUnpaged},
}

// ActiveJobs returns the Queued, Scheduled and Running jobs, oldest first,
// whole.
func testActiveStates(e *env) {
	all := e.populate(90)
	var want []*jobs.Job
	for _, j := range all {
		if !j.State.Final() {
			want = append(want, j)
		}
	}
	got := e.active()
	e.sameIDs(got, oldestFirst(want), "ActiveJobs")
	byID := map[string]*jobs.Job{}
	for _, j := range all {
		byID[j.ID] = j
	}
	for _, j := range got {
		if w := byID[j.ID]; w != nil {
			e.same(j, w, "ActiveJobs job "+j.ID)
		}
	}
}

// Jobs leave the active set when they finish, and stay in it through a
// retry.
func testActiveMoves(e *env) {
	for i := range 6 {
		e.create(queued(fmt.Sprintf("j%d", i), base+int64(5-i)))
	}
	e.sameIDs(e.active(), []string{"j5", "j4", "j3", "j2", "j1", "j0"}, "ActiveJobs")

	j := e.get("j4")
	e.move(j, jobs.Cancelled, base+10, "cancelled")
	j = e.get("j2")
	e.move(j, jobs.Failed, base+10, "no node fits")
	j = e.get("j0")
	e.move(j, jobs.Scheduled, base+10, "")
	e.move(j, jobs.Running, base+11, "")
	e.move(j, jobs.Queued, base+12, "retry")
	j = e.get("j1")
	e.move(j, jobs.Scheduled, base+10, "")
	e.move(j, jobs.Running, base+11, "")
	e.sameIDs(e.active(), []string{"j5", "j3", "j1", "j0"}, "ActiveJobs after moves")
	e.move(j, jobs.Succeeded, base+12, "")
	e.sameIDs(e.active(), []string{"j5", "j3", "j0"}, "ActiveJobs after j1 succeeded")
	for _, id := range []string{"j5", "j3", "j0"} {
		j := e.get(id)
		e.move(j, jobs.Cancelled, base+20, "")
	}
	if act := e.active(); len(act) != 0 {
		e.Errorf("ActiveJobs with every job final: %s", brief(ids(act)))
	}
}

// ActiveJobs is not a page: more active jobs than ListJobs' largest page
// all come back.
func testActiveUnpaged(e *env) {
	const n = 1100
	var want []string
	for i := range n {
		id := fmt.Sprintf("a%05d", i)
		e.create(queued(id, base+int64(i)))
		want = append(want, id)
	}
	e.create(&jobs.Job{ID: "done", State: jobs.Succeeded, Submitted: base})
	e.sameList(ids(e.active()), want, "ActiveJobs")
}
