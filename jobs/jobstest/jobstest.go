// Package jobstest is the behavioural test suite every jobs.Store
// implementation runs (sqlite now, postgres later):
//
//	func TestJobs(t *testing.T) {
//		jobstest.Run(t, func(t *testing.T) jobs.Store {
//			s := open a fresh, empty store ...
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The store is a dumb keeper of jobs: it does not check state moves (the
// scheduler does, with Job.Move) and does not fill in defaults. What the
// suite holds it to:
//
//   - CreateJob stores every field of a job and GetJob returns it as
//     created; a duplicate id is EExists, an empty id EInvalid.
//   - UpdateJob replaces the mutable fields (state, reason, history,
//     attempt, run id, placement, exit code, handles) and leaves the id,
//     spec and submission time as created; an unknown id is ENotFound.
//   - GetJob of an unknown id is ENotFound.
//   - Jobs handed in or out are copies: changing one later changes nothing
//     stored.
//   - ListJobs filters by states (any of), queue and user (exactly), orders
//     newest first (submitted descending, then id descending), and pages:
//     max_results 0 means 100, more than 1000 or less than 0 is EInvalid,
//     as is a malformed page token.
//   - ActiveJobs returns every job in Queued, Scheduled or Running, unpaged,
//     oldest first (submitted ascending, then id ascending).
//   - Concurrent writers of distinct jobs lose no update; concurrent
//     creates of one id let exactly one through.
//   - A cancelled context makes every method fail with an error that
//     wraps context.Canceled, and a write it refused is not applied.
//
// Jobs compare equal when they hold the same values; an empty slice or map
// and a nil one are the same value.
package jobstest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
)

// Run runs the whole suite; every subtest opens a fresh, empty store with
// newStore, which registers its own cleanup. Subtests run in parallel (up
// to go test's -parallel), so newStore must be safe to call concurrently
// and the stores it returns must be independent of each other.
func Run(t *testing.T, newStore func(t *testing.T) jobs.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Jobs", jobTests},
		{"List", listTests},
		{"Active", activeTests},
		{"Concurrency", concurrencyTests},
		{"Context", contextTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(&env{T: t, ctx: context.Background(), store: newStore(t)})
				})
			}
		})
	}
}

// test is one subtest of the suite.
type test struct {
	name string
	fn   func(e *env)
}

// env is what a subtest works with: a fresh store and helpers that fail
// the test on unexpected errors.
type env struct {
	*testing.T
	ctx   context.Context
	store jobs.Store
}

// base is the submission time (ms) of the suite's first job.
const base = 1_700_000_000_000

// must fails the test now if err is not nil.
func (e *env) must(err error, what string) {
	e.Helper()
	if err != nil {
		e.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// wantCode checks that err is a *lode.Error with the given code.
func (e *env) wantCode(err error, code, what string) {
	e.Helper()
	if err == nil {
		e.Errorf("%s: no error, want %s", what, code)
		return
	}
	if got := lode.ErrorCode(err); got != code {
		e.Errorf("%s: error code %s (%v), want %s", what, got, err, code)
	}
}

func (e *env) create(j *jobs.Job) {
	e.Helper()
	e.must(e.store.CreateJob(e.ctx, j), "CreateJob "+j.ID)
}

func (e *env) get(id string) *jobs.Job {
	e.Helper()
	j, err := e.store.GetJob(e.ctx, id)
	e.must(err, "GetJob "+id)
	if j == nil {
		e.Fatalf("GetJob %s: nil job and no error", id)
	}
	return j
}

func (e *env) update(j *jobs.Job) {
	e.Helper()
	e.must(e.store.UpdateJob(e.ctx, j), "UpdateJob "+j.ID)
}

// move moves j (failing the test on a refused move) and stores it.
func (e *env) move(j *jobs.Job, to jobs.State, now int64, reason string) {
	e.Helper()
	e.must(j.Move(to, now, reason), fmt.Sprintf("Move %s to %s", j.ID, to))
	e.update(j)
}

// list returns one page of ListJobs, checking its length against the
// page size.
func (e *env) list(q jobs.Query) ([]*jobs.Job, string) {
	e.Helper()
	js, next, err := e.store.ListJobs(e.ctx, q)
	e.must(err, fmt.Sprintf("ListJobs %+v", q))
	size := q.MaxResults
	if size == 0 {
		size = 100
	}
	if len(js) > size {
		e.Fatalf("ListJobs %+v: page of %d jobs, max_results %d", q, len(js), size)
	}
	return js, next
}

// walk returns every page of a listing, failing the test if a page that
// has a next one is not full or a token repeats. A last page may be empty.
func (e *env) walk(q jobs.Query) []*jobs.Job {
	e.Helper()
	size := q.MaxResults
	if size == 0 {
		size = 100
	}
	var all []*jobs.Job
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			e.Fatalf("ListJobs %+v: more than 1000 pages", q)
		}
		js, next := e.list(q)
		all = append(all, js...)
		if next == "" {
			return all
		}
		if len(js) != size {
			e.Fatalf("ListJobs %+v: page of %d jobs before the last, want %d", q, len(js), size)
		}
		if seen[next] {
			e.Fatalf("ListJobs: page token %q repeats", next)
		}
		seen[next] = true
		q.PageToken = next
	}
}

func (e *env) active() []*jobs.Job {
	e.Helper()
	js, err := e.store.ActiveJobs(e.ctx)
	e.must(err, "ActiveJobs")
	return js
}

// same checks that got holds the values of want.
func (e *env) same(got, want *jobs.Job, what string) {
	e.Helper()
	if got == nil {
		e.Errorf("%s: nil job, want %s", what, show(want))
		return
	}
	if !reflect.DeepEqual(norm(got), norm(want)) {
		e.Errorf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

// sameIDs checks that js are the jobs named by want, in that order.
func (e *env) sameIDs(js []*jobs.Job, want []string, what string) {
	e.Helper()
	e.sameList(ids(js), want, what)
}

// sameList checks that got and want hold the same ids in the same order.
func (e *env) sameList(got, want []string, what string) {
	e.Helper()
	if !slices.Equal(got, want) {
		e.Errorf("%s: got %d jobs %s, want %d %s", what, len(got), brief(got), len(want), brief(want))
	}
}

func ids(js []*jobs.Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		if j == nil {
			out[i] = "<nil>"
			continue
		}
		out[i] = j.ID
	}
	return out
}

// brief shortens long id lists in messages.
func brief(ids []string) string {
	if len(ids) > 12 {
		return fmt.Sprintf("[%s ... %s]", strings.Join(ids[:6], " "), strings.Join(ids[len(ids)-6:], " "))
	}
	return fmt.Sprint(ids)
}

func show(j *jobs.Job) string {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Sprintf("%+v", *j)
	}
	return string(b)
}

// norm returns a deep copy of j with empty slices and maps made nil.
func norm(j *jobs.Job) *jobs.Job {
	c := clone(j)
	if len(c.Spec.Env) == 0 {
		c.Spec.Env = nil
	}
	if len(c.History) == 0 {
		c.History = nil
	}
	if len(c.Handles) == 0 {
		c.Handles = nil
	}
	if c.Placement != nil {
		if len(c.Placement.Replicas) == 0 {
			c.Placement.Replicas = nil
		}
		for i := range c.Placement.Replicas {
			if len(c.Placement.Replicas[i].GPUIDs) == 0 {
				c.Placement.Replicas[i].GPUIDs = nil
			}
		}
	}
	return c
}

// clone returns a deep copy of j.
func clone(j *jobs.Job) *jobs.Job {
	c := *j
	if j.Spec.Env != nil {
		c.Spec.Env = make(map[string]string, len(j.Spec.Env))
		for k, v := range j.Spec.Env {
			c.Spec.Env[k] = v
		}
	}
	if j.History != nil {
		c.History = append([]jobs.Transition{}, j.History...)
	}
	if j.Handles != nil {
		c.Handles = append([]string{}, j.Handles...)
	}
	if j.ExitCode != nil {
		x := *j.ExitCode
		c.ExitCode = &x
	}
	if j.Placement != nil {
		p := jobs.Placement{}
		if j.Placement.Replicas != nil {
			p.Replicas = make([]jobs.ReplicaPlacement, len(j.Placement.Replicas))
			for i, r := range j.Placement.Replicas {
				p.Replicas[i] = jobs.ReplicaPlacement{Node: r.Node}
				if r.GPUIDs != nil {
					p.Replicas[i].GPUIDs = append([]string{}, r.GPUIDs...)
				}
			}
		}
		c.Placement = &p
	}
	return &c
}

// queued returns a freshly submitted job: Queued, one transition.
func queued(id string, submitted int64) *jobs.Job {
	return &jobs.Job{
		ID: id,
		Spec: jobs.Spec{
			Name: id, Command: "echo " + id, Replicas: 1, Queue: "default",
			Resources: jobs.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30},
		},
		State:     jobs.Queued,
		History:   []jobs.Transition{{State: jobs.Queued, Time: submitted, Reason: "submitted"}},
		Attempt:   1,
		Submitted: submitted,
	}
}

// full returns a job with every field set: a two-replica GPU job that
// failed on its second attempt.
func full(id string, submitted int64) *jobs.Job {
	exit := 137
	t := submitted
	return &jobs.Job{
		ID: id,
		Spec: jobs.Spec{
			Name:    "train résumé 🚀",
			Command: `torchrun --nproc-per-node 2 train.py --lr 3e-4 --tag "it's \"quoted\""`,
			Env:     map[string]string{"WANDB_MODE": "offline", "EMPTY": "", "UNICODE": "ü ☃", "MULTI": "a\nb"},
			WorkDir: "/var/lib/lode/snapshots/8c1f",
			Resources: jobs.Resources{
				MilliCPU: 1500, MemoryBytes: 64 << 30, GPUs: 2,
			},
			Replicas:     2,
			Priority:     -3,
			Queue:        "research",
			User:         "alice@example.com",
			Owner:        "alice",
			MaxRetries:   2,
			Timeout:      90*time.Minute + 1,
			ExperimentID: "42",
		},
		State:  jobs.Failed,
		Reason: "replica 1 exited with code 137",
		History: []jobs.Transition{
			{State: jobs.Queued, Time: t, Reason: "submitted"},
			{State: jobs.Scheduled, Time: t + 1},
			{State: jobs.Running, Time: t + 2},
			{State: jobs.Queued, Time: t + 3, Reason: "retry 1 of 2"},
			{State: jobs.Scheduled, Time: t + 4},
			{State: jobs.Running, Time: t + 5},
			{State: jobs.Failed, Time: t + 6, Reason: "replica 1 exited with code 137"},
		},
		Attempt: 2,
		RunID:   "0f9e8d7c6b5a49382716a5b4c3d2e1f0",
		Placement: &jobs.Placement{Replicas: []jobs.ReplicaPlacement{
			{Node: "gpu-node-1", GPUIDs: []string{"0", "3"}},
			{Node: "gpu-node-2", GPUIDs: []string{"GPU-5fd2a7c1-08b9-4c6e-9f5e-1234567890ab", "1"}},
		}},
		ExitCode:  &exit,
		Submitted: submitted,
		Handles:   []string{"pid:4242:1700000000005", "pid:4243:1700000000005"},
	}
}
