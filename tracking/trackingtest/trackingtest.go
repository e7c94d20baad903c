// Package trackingtest is the behavioural test suite every tracking.Store
// implementation runs (sqlite now, postgres later):
//
//	func TestStore(t *testing.T) {
//		trackingtest.Run(t, func(t *testing.T) tracking.Store {
//			s := open a fresh, empty store ...
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite follows MLflow's semantics (its SQLAlchemy store and
// search_utils). It drives a store through tracking.Service where MLflow's
// behaviour is the service's (validation, lifecycle rules) and calls the
// Store directly where the contract is the store's own (uniqueness,
// atomicity, param immutability, pagination). Stores are expected to be
// opened with a DefaultArtifactRoot; the suite checks only that an
// experiment's default artifact location ends in "/<experiment id>".
package trackingtest

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

// Run runs the whole suite; every subtest opens a fresh, empty store with
// open, which registers its own cleanup. Subtests run in parallel (up to
// go test's -parallel), so open must be safe to call concurrently and the
// stores it returns must be independent of each other.
func Run(t *testing.T, open func(t *testing.T) tracking.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Experiments", experimentTests},
		{"SearchExperiments", searchExperimentTests},
		{"Runs", runTests},
		{"LogBatch", logBatchTests},
		{"MetricHistory", metricHistoryTests},
		{"Inputs", inputTests},
		{"SearchRuns", searchRunTests},
		{"LoggedModels", loggedModelTests},
		{"Concurrency", concurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(newEnv(t, open(t)))
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

// env is what a subtest works with: a fresh store, a Service over it whose
// clock advances one millisecond at each reading, and helpers that fail
// the test on unexpected errors.
type env struct {
	*testing.T
	ctx   context.Context
	store tracking.Store
	svc   *tracking.Service
}

// clockBase is the first time the suite's clock gives: in the past, so the
// Default experiment, created by the store at its real "now", is newer
// than every experiment the suite creates.
const clockBase = 1_600_000_000_000

func newEnv(t *testing.T, s tracking.Store) *env {
	var mu sync.Mutex
	ms := int64(clockBase)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		ms++
		return time.UnixMilli(ms)
	}
	return &env{T: t, ctx: context.Background(), store: s, svc: &tracking.Service{Store: s, Now: now}}
}

// where returns "file:line" of the suite's caller depth frames up, for
// messages from helpers called in loops (t.Helper reports only one frame).
func where(depth int) string {
	_, file, line, ok := runtime.Caller(depth + 1)
	if !ok {
		return "?"
	}
	return fmt.Sprintf("%s:%d", file[strings.LastIndexByte(file, '/')+1:], line)
}

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

// createExperiment creates an experiment through the service.
func (e *env) createExperiment(name string, tags ...tracking.Tag) string {
	e.Helper()
	id, err := e.svc.CreateExperiment(e.ctx, name, "", tags)
	e.must(err, "CreateExperiment "+name)
	return id
}

// createRun creates a run through the service.
func (e *env) createRun(r tracking.CreateRunRequest) *tracking.Run {
	e.Helper()
	run, err := e.svc.CreateRun(e.ctx, r)
	e.must(err, "CreateRun")
	return run
}

// newRun creates a run named name in experiment exp.
func (e *env) newRun(exp, name string) string {
	e.Helper()
	return e.createRun(tracking.CreateRunRequest{ExperimentID: exp, RunName: name}).Info.RunID
}

func (e *env) logBatch(runID string, metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) {
	e.Helper()
	e.must(e.svc.LogBatch(e.ctx, runID, metrics, params, tags), "LogBatch")
}

func (e *env) getRun(id string) *tracking.Run {
	e.Helper()
	r, err := e.svc.GetRun(e.ctx, id)
	e.must(err, "GetRun")
	return r
}

func (e *env) getExperiment(id string) *tracking.Experiment {
	e.Helper()
	x, err := e.svc.GetExperiment(e.ctx, id)
	e.must(err, "GetExperiment "+id)
	return x
}

// history returns the whole history of a metric, in one request.
func (e *env) history(runID, key string) []tracking.Metric {
	e.Helper()
	ms, next, err := e.svc.GetMetricHistory(e.ctx, tracking.MetricHistoryQuery{RunID: runID, Key: key})
	e.must(err, "GetMetricHistory "+key)
	if next != "" {
		e.Errorf("GetMetricHistory %s without max_results: next page token %q, want none", key, next)
	}
	return ms
}

// searchRuns returns one page of search_runs through the service.
func (e *env) searchRuns(exps []string, filter string, orderBy []string, view tracking.ViewType, max int, token string) ([]*tracking.Run, string) {
	e.Helper()
	runs, next, err := e.svc.SearchRuns(e.ctx, exps, filter, orderBy, view, max, token)
	e.must(err, fmt.Sprintf("SearchRuns filter=%q order_by=%q", filter, orderBy))
	return runs, next
}

// walkRuns returns every page of a search_runs request, failing the test
// if pages overlap or never end.
func (e *env) walkRuns(exps []string, filter string, orderBy []string, view tracking.ViewType, pageSize int) []*tracking.Run {
	e.Helper()
	var all []*tracking.Run
	token := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			e.Fatalf("SearchRuns: more than 10000 pages")
		}
		runs, next := e.searchRuns(exps, filter, orderBy, view, pageSize, token)
		if len(runs) > pageSize {
			e.Fatalf("SearchRuns page of %d runs, max_results %d", len(runs), pageSize)
		}
		all = append(all, runs...)
		if next == "" {
			break
		}
		if next == token {
			e.Fatalf("SearchRuns: page token %q repeats", next)
		}
		token = next
	}
	return all
}

// runIDs lists the ids of runs.
func runIDs(runs []*tracking.Run) []string {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.Info.RunID
	}
	return ids
}

// labeler names run ids for readable messages.
type labeler map[string]string

func (l labeler) names(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if n, ok := l[id]; ok {
			out[i] = n
		} else {
			out[i] = id
		}
	}
	return out
}

// sameSet reports whether a and b hold the same strings, ignoring order.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(x, y)
}

// dupes returns the strings that occur more than once in s.
func dupes(s []string) []string {
	seen := map[string]int{}
	var out []string
	for _, x := range s {
		seen[x]++
		if seen[x] == 2 {
			out = append(out, x)
		}
	}
	return out
}

// sameFloat compares metric values, NaN equal to NaN.
func sameFloat(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b))
}

func tagValue(tags []tracking.Tag, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

func paramValue(params []tracking.Param, key string) (string, bool) {
	for _, p := range params {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

func latestMetric(r *tracking.Run, key string) (tracking.Metric, bool) {
	for _, m := range r.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return tracking.Metric{}, false
}

// countTags counts the tags with key key, to catch duplicated rows.
func countTags(tags []tracking.Tag, key string) int {
	n := 0
	for _, t := range tags {
		if t.Key == key {
			n++
		}
	}
	return n
}

func i64(v int64) *int64 { return &v }
