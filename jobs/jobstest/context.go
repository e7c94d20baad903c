package jobstest

import (
	"context"
	"errors"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
)

var contextTests = []test{
	{"Cancelled", testCancelled},
}

// Every method fails on a cancelled context with an error that wraps
// context.Canceled, and refused writes are not applied.
func testCancelled(e *env) {
	e.create(queued("old", base))
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()

	check := func(err error, what string) {
		e.Helper()
		if err == nil {
			e.Errorf("%s with a cancelled context: no error", what)
			return
		}
		if !errors.Is(err, context.Canceled) {
			e.Errorf("%s with a cancelled context: %v, want an error wrapping context.Canceled", what, err)
		}
	}
	check(e.store.CreateJob(ctx, queued("new", base+1)), "CreateJob")
	j := e.get("old")
	e.must(j.Move(jobs.Scheduled, base+2, ""), "Move")
	check(e.store.UpdateJob(ctx, j), "UpdateJob")
	_, err := e.store.GetJob(ctx, "old")
	check(err, "GetJob")
	_, _, err = e.store.ListJobs(ctx, jobs.Query{})
	check(err, "ListJobs")
	_, err = e.store.ActiveJobs(ctx)
	check(err, "ActiveJobs")

	_, err = e.store.GetJob(e.ctx, "new")
	e.wantCode(err, lode.ENotFound, "GetJob of a job created with a cancelled context")
	e.same(e.get("old"), queued("old", base), "GetJob of a job updated with a cancelled context")
	// The store still works with a live context.
	e.update(j)
	e.same(e.get("old"), j, "GetJob after an update with a live context")
}
