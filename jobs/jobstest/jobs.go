package jobstest

import (
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
)

var jobTests = []test{
	{"RoundTrip", testRoundTrip},
	{"Minimal", testMinimal},
	{"ExitCodeZero", testExitCodeZero},
	{"Duplicate", testDuplicate},
	{"EmptyID", testEmptyID},
	{"Update", testUpdate},
	{"UpdateClears", testUpdateClears},
	{"UpdateKeepsSpec", testUpdateKeepsSpec},
	{"UpdateOneJob", testUpdateOneJob},
	{"Unknown", testUnknown},
	{"Copies", testCopies},
}

// Every field survives CreateJob and comes back from GetJob, ListJobs and
// (for an active job) ActiveJobs.
func testRoundTrip(e *env) {
	want := full("j-full", base)
	e.create(clone(want))
	e.same(e.get("j-full"), want, "GetJob")
	js, _ := e.list(jobs.Query{})
	if len(js) != 1 {
		e.Fatalf("ListJobs: %d jobs, want 1", len(js))
	}
	e.same(js[0], want, "ListJobs")

	// The same job, running: ActiveJobs returns it whole.
	run := full("j-running", base+1)
	run.State, run.Reason, run.ExitCode = jobs.Running, "", nil
	run.History = run.History[:6]
	e.create(clone(run))
	e.same(e.get("j-running"), run, "GetJob running")
	act := e.active()
	if len(act) != 1 {
		e.Fatalf("ActiveJobs: %d jobs, want 1", len(act))
	}
	e.same(act[0], run, "ActiveJobs")
}

// A job with little more than an id: zero values and nil pointers come
// back as they went in.
func testMinimal(e *env) {
	want := &jobs.Job{ID: "j-min", State: jobs.Queued}
	e.create(clone(want))
	got := e.get("j-min")
	e.same(got, want, "GetJob")
	if got.Placement != nil || got.ExitCode != nil {
		e.Errorf("GetJob: placement %v, exit code %v, want nil", got.Placement, got.ExitCode)
	}
	// An empty queue and user are values like any other.
	e.sameIDs(e.walk(jobs.Query{}), []string{"j-min"}, "ListJobs")
	e.sameIDs(e.active(), []string{"j-min"}, "ActiveJobs")
}

// Exit code 0 is a value, not an absent one.
func testExitCodeZero(e *env) {
	j := queued("j0", base)
	zero := 0
	j.ExitCode = &zero
	e.create(clone(j))
	got := e.get("j0")
	if got.ExitCode == nil || *got.ExitCode != 0 {
		e.Errorf("exit code after create: %v, want a pointer to 0", got.ExitCode)
	}
	got.ExitCode = nil
	e.update(got)
	if got := e.get("j0"); got.ExitCode != nil {
		e.Errorf("exit code after clearing: %d, want nil", *got.ExitCode)
	}
	got.ExitCode = &zero
	e.update(got)
	if got := e.get("j0"); got.ExitCode == nil || *got.ExitCode != 0 {
		e.Errorf("exit code after update: %v, want a pointer to 0", got.ExitCode)
	}
}

func testDuplicate(e *env) {
	first := queued("dup", base)
	e.create(clone(first))
	second := full("dup", base+10)
	e.wantCode(e.store.CreateJob(e.ctx, second), lode.EExists, "CreateJob of an existing id")
	e.same(e.get("dup"), first, "GetJob after a duplicate create")
	e.sameIDs(e.walk(jobs.Query{}), []string{"dup"}, "ListJobs after a duplicate create")
	// Another id is still fine.
	e.create(queued("dup2", base+1))
	e.sameIDs(e.walk(jobs.Query{}), []string{"dup2", "dup"}, "ListJobs")
}

func testEmptyID(e *env) {
	e.wantCode(e.store.CreateJob(e.ctx, queued("", base)), lode.EInvalid, "CreateJob without an id")
	e.sameIDs(e.walk(jobs.Query{}), nil, "ListJobs after a refused create")
}

// A job's life through UpdateJob: each stored state reads back whole.
func testUpdate(e *env) {
	e.create(queued("j", base))
	j := e.get("j")

	j.Placement = &jobs.Placement{Replicas: []jobs.ReplicaPlacement{{Node: "n1", GPUIDs: []string{"2"}}, {Node: "n2"}}}
	e.move(j, jobs.Scheduled, base+1, "placed")
	e.same(e.get("j"), j, "GetJob scheduled")

	j.RunID = "run-1"
	j.Handles = []string{"h0", "h1"}
	e.move(j, jobs.Running, base+2, "")
	e.same(e.get("j"), j, "GetJob running")

	// A retry: back to Queued, a new attempt, no placement or handles.
	one := 1
	j.ExitCode, j.Placement, j.Handles = &one, nil, nil
	j.Attempt = 2
	e.move(j, jobs.Queued, base+3, "retry 1 of 1")
	got := e.get("j")
	e.same(got, j, "GetJob retried")

	got.Placement = &jobs.Placement{Replicas: []jobs.ReplicaPlacement{{Node: "n3", GPUIDs: []string{"0", "1"}}}}
	got.ExitCode = nil
	e.move(got, jobs.Scheduled, base+4, "")
	got.Handles = []string{"h2"}
	e.move(got, jobs.Running, base+5, "")
	zero := 0
	got.ExitCode = &zero
	e.move(got, jobs.Succeeded, base+6, "exited 0")
	final := e.get("j")
	e.same(final, got, "GetJob succeeded")
	if len(final.History) != 7 || final.History[6].State != jobs.Succeeded || final.History[3].Reason != "retry 1 of 1" {
		e.Errorf("history %+v", final.History)
	}
	if final.Submitted != base {
		e.Errorf("submitted %d after updates, want %d", final.Submitted, base)
	}
	// Updating with the same values again is fine.
	e.update(clone(final))
	e.same(e.get("j"), final, "GetJob after an idempotent update")
}

// UpdateJob replaces the mutable fields: ones left empty are cleared.
func testUpdateClears(e *env) {
	j := full("j", base)
	j.State = jobs.Running
	e.create(clone(j))
	j.Reason, j.History, j.Attempt, j.RunID, j.Placement, j.ExitCode, j.Handles = "", nil, 0, "", nil, nil, nil
	e.update(clone(j))
	got := e.get("j")
	e.same(got, j, "GetJob after clearing")
	if got.Placement != nil || got.ExitCode != nil || len(got.Handles) != 0 || len(got.History) != 0 || got.RunID != "" || got.Reason != "" {
		e.Errorf("fields not cleared: %s", show(got))
	}
}

// UpdateJob leaves the spec and submission time as created, and listings
// keep filtering and ordering on them.
func testUpdateKeepsSpec(e *env) {
	orig := queued("j", base+5)
	orig.Spec.Queue, orig.Spec.User, orig.Spec.Owner, orig.Spec.Priority = "q1", "alice", "alice", 3
	orig.Spec.Env = map[string]string{"A": "1"}
	e.create(clone(orig))
	e.create(queued("k", base+1))

	j := clone(orig)
	j.Spec = jobs.Spec{Name: "changed", Command: "rm -rf /", Queue: "q2", User: "mallory", Owner: "mallory", Priority: 99}
	j.Submitted = base
	e.must(j.Move(jobs.Scheduled, base+6, "placed"), "Move")
	e.update(j)

	want := clone(orig)
	want.State, want.Reason, want.History = j.State, j.Reason, j.History
	e.same(e.get("j"), want, "GetJob after an update that changes the spec")
	e.sameIDs(e.walk(jobs.Query{Queue: "q1"}), []string{"j"}, "ListJobs queue q1")
	e.sameIDs(e.walk(jobs.Query{Queue: "q2"}), nil, "ListJobs queue q2")
	e.sameIDs(e.walk(jobs.Query{User: "alice"}), []string{"j"}, "ListJobs user alice")
	e.sameIDs(e.walk(jobs.Query{User: "mallory"}), nil, "ListJobs user mallory")
	e.sameIDs(e.walk(jobs.Query{}), []string{"j", "k"}, "ListJobs order by the original submission time")
	e.sameIDs(e.active(), []string{"k", "j"}, "ActiveJobs order by the original submission time")
}

// An update touches only its own job.
func testUpdateOneJob(e *env) {
	a, b := queued("a", base), queued("b", base+1)
	e.create(clone(a))
	e.create(clone(b))
	j := e.get("a")
	e.move(j, jobs.Cancelled, base+2, "cancelled by alice")
	e.same(e.get("b"), b, "GetJob of the other job")
	e.same(e.get("a"), j, "GetJob of the updated job")
}

func testUnknown(e *env) {
	_, err := e.store.GetJob(e.ctx, "nope")
	e.wantCode(err, lode.ENotFound, "GetJob of an unknown id")
	if err != nil && !strings.Contains(lode.ErrorMessage(err), "nope") {
		e.Errorf("GetJob of an unknown id: message %q does not name the id", lode.ErrorMessage(err))
	}
	e.wantCode(e.store.UpdateJob(e.ctx, queued("nope", base)), lode.ENotFound, "UpdateJob of an unknown id")
	_, err = e.store.GetJob(e.ctx, "nope")
	e.wantCode(err, lode.ENotFound, "GetJob after UpdateJob of an unknown id")
	e.sameIDs(e.walk(jobs.Query{}), nil, "ListJobs after UpdateJob of an unknown id")
	e.sameIDs(e.active(), nil, "ActiveJobs after UpdateJob of an unknown id")

	// Ids are exact: no prefix, case or whitespace matches.
	e.create(queued("Job-1", base))
	for _, id := range []string{"job-1", "Job-", "Job-1 ", "Job-1%", ""} {
		_, err := e.store.GetJob(e.ctx, id)
		e.wantCode(err, lode.ENotFound, "GetJob "+id)
	}
}

// The store keeps its own copies: changing a job after CreateJob,
// UpdateJob or GetJob changes nothing stored.
func testCopies(e *env) {
	want := full("j", base)
	j := clone(want)
	e.create(j)
	j.Spec.Env["WANDB_MODE"] = "online"
	j.History[0].Reason = "changed"
	j.Placement.Replicas[0].GPUIDs[0] = "7"
	j.Handles[0] = "changed"
	*j.ExitCode = 1
	e.same(e.get("j"), want, "GetJob after changing the created job")

	got := e.get("j")
	got.History[0].Reason = "changed"
	got.Placement.Replicas[1].Node = "changed"
	got.Spec.Env["EMPTY"] = "changed"
	*got.ExitCode = 2
	e.same(e.get("j"), want, "GetJob after changing a job GetJob returned")

	upd := clone(want)
	upd.Reason = "updated"
	e.update(upd)
	upd.Placement.Replicas[0].Node = "changed"
	upd.Handles[1] = "changed"
	want.Reason = "updated"
	e.same(e.get("j"), want, "GetJob after changing an updated job")

	js, _ := e.list(jobs.Query{})
	js[0].History[1].State = jobs.Cancelled
	e.same(e.get("j"), want, "GetJob after changing a job ListJobs returned")
}
