// Package tunetest is the behavioural test suite every tune.Store
// implementation runs (sqlite and postgres):
//
//	func TestStudies(t *testing.T) {
//		tunetest.Run(t, func(t *testing.T) tune.Store { ... a fresh, empty store ... })
//	}
//
// What it holds a store to, beyond each method's contract in tune.Store:
// everything stored comes back as stored (NaN and infinite values
// included, distributions verbatim); unknown ids are ENotFound, a taken
// study name EExists, and every change to a finished trial EInvalidState;
// deleting a study takes its trials along, and ids are never handed out
// twice; trials created concurrently in one study get every number from 0
// up exactly once, with ids growing with numbers.
package tunetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tune"
)

// Run runs the suite; each subtest gets a fresh store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) tune.Store) {
	tests := []struct {
		name string
		fn   func(*env)
	}{
		{"Studies", testStudies},
		{"DeleteStudy", testDeleteStudy},
		{"Trials", testTrials},
		{"TemplateTrial", testTemplateTrial},
		{"ListTrials", testListTrials},
		{"Params", testParams},
		{"States", testStates},
		{"FinishedTrials", testFinishedTrials},
		{"ConcurrentTrials", testConcurrentTrials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			clock := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
			tc.fn(&env{T: t, ctx: context.Background(), store: s,
				svc: &tune.Service{Store: s, Now: func() time.Time { return clock }}, now: clock})
		})
	}
}

type env struct {
	*testing.T
	ctx   context.Context
	store tune.Store
	svc   *tune.Service
	now   time.Time
}

func (e *env) ok(err error) {
	e.Helper()
	if err != nil {
		e.Fatal(err)
	}
}

func (e *env) code(err error, want string) {
	e.Helper()
	if got := lode.ErrorCode(err); got != want {
		e.Fatalf("error %v: code %q, want %q", err, got, want)
	}
}

func (e *env) study(name string) int64 {
	e.Helper()
	id, err := e.svc.CreateStudy(e.ctx, &tune.Study{Name: name, Directions: []tune.Direction{tune.Minimize}})
	e.ok(err)
	return id
}

func (e *env) trial(study int64) *tune.TrialRecord {
	e.Helper()
	t, err := e.svc.CreateTrial(e.ctx, study, nil)
	e.ok(err)
	return t
}

func (e *env) get(id int64) *tune.TrialRecord {
	e.Helper()
	t, err := e.store.GetTrial(e.ctx, id)
	e.ok(err)
	return t
}

func testStudies(e *env) {
	id, err := e.svc.CreateStudy(e.ctx, &tune.Study{Name: "s", Directions: []tune.Direction{tune.Maximize, tune.Minimize},
		UserAttrs: map[string]string{"a": `1`}, SystemAttrs: map[string]string{"b": `"x"`}})
	e.ok(err)
	_, err = e.svc.CreateStudy(e.ctx, &tune.Study{Name: "s", Directions: []tune.Direction{tune.Minimize}})
	e.code(err, lode.EExists)
	_, err = e.svc.CreateStudy(e.ctx, &tune.Study{Name: "no-direction"})
	e.code(err, lode.EInvalid)

	e.ok(e.store.SetStudyAttr(e.ctx, id, tune.UserAttr, "a", `[1, 2]`))
	e.ok(e.store.SetStudyAttr(e.ctx, id, tune.SystemAttr, "c", `{"k": null}`))
	want := &tune.Study{ID: id, Name: "s", Directions: []tune.Direction{tune.Maximize, tune.Minimize},
		UserAttrs: map[string]string{"a": `[1, 2]`}, SystemAttrs: map[string]string{"b": `"x"`, "c": `{"k": null}`}}
	got, err := e.store.GetStudy(e.ctx, id)
	e.ok(err)
	if !reflect.DeepEqual(got, want) {
		e.Fatalf("GetStudy = %+v, want %+v", got, want)
	}
	got, err = e.store.GetStudyByName(e.ctx, "s")
	e.ok(err)
	if !reflect.DeepEqual(got, want) {
		e.Fatalf("GetStudyByName = %+v, want %+v", got, want)
	}
	id2 := e.study("t")
	all, err := e.store.ListStudies(e.ctx)
	e.ok(err)
	if len(all) != 2 || !reflect.DeepEqual(all[0], want) || all[1].ID != id2 || all[1].Name != "t" || len(all[1].UserAttrs) != 0 {
		e.Fatalf("ListStudies = %+v", all)
	}

	_, err = e.store.GetStudy(e.ctx, 9999)
	e.code(err, lode.ENotFound)
	_, err = e.store.GetStudyByName(e.ctx, "nope")
	e.code(err, lode.ENotFound)
	e.code(e.store.SetStudyAttr(e.ctx, 9999, tune.UserAttr, "a", "1"), lode.ENotFound)
}

func testDeleteStudy(e *env) {
	id := e.study("gone")
	tr := e.trial(id)
	e.ok(e.store.SetTrialParam(e.ctx, tr.ID, "x", tune.TrialParam{Value: 1, Distribution: "{}"}, nil))
	e.ok(e.store.DeleteStudy(e.ctx, id))
	e.code(e.store.DeleteStudy(e.ctx, id), lode.ENotFound)
	_, err := e.store.GetTrial(e.ctx, tr.ID)
	e.code(err, lode.ENotFound)
	_, err = e.store.ListTrials(e.ctx, id, tune.TrialQuery{All: true})
	e.code(err, lode.ENotFound)
	// The name is free again; the ids are not.
	id2 := e.study("gone")
	if id2 <= id {
		e.Fatalf("new study id %d after deleted %d", id2, id)
	}
	if tr2 := e.trial(id2); tr2.ID <= tr.ID || tr2.Number != 0 {
		e.Fatalf("new trial %+v after deleted id %d", tr2, tr.ID)
	}
}

func testTrials(e *env) {
	s := e.study("s")
	t0, t1 := e.trial(s), e.trial(s)
	if t0.Number != 0 || t1.Number != 1 || t1.ID <= t0.ID || t0.StudyID != s || t0.State != tune.Running || !t0.Start.Equal(e.now) {
		e.Fatalf("trials %+v %+v", t0, t1)
	}
	got := e.get(t1.ID)
	if got.State != tune.Running || !got.Start.Equal(e.now) || !got.Complete.IsZero() || got.Values != nil || got.Number != 1 {
		e.Fatalf("GetTrial = %+v", got)
	}
	id, err := e.store.TrialID(e.ctx, s, 1)
	e.ok(err)
	if id != t1.ID {
		e.Fatalf("TrialID = %d, want %d", id, t1.ID)
	}
	_, err = e.store.TrialID(e.ctx, s, 2)
	e.code(err, lode.ENotFound)
	_, err = e.store.GetTrial(e.ctx, 99999)
	e.code(err, lode.ENotFound)
	_, err = e.svc.CreateTrial(e.ctx, 99999, nil)
	e.code(err, lode.ENotFound)

	e.ok(e.store.SetTrialIntermediate(e.ctx, t0.ID, 3, 0.5))
	e.ok(e.store.SetTrialIntermediate(e.ctx, t0.ID, 3, 0.25))
	e.ok(e.store.SetTrialIntermediate(e.ctx, t0.ID, 4, math.NaN()))
	e.ok(e.store.SetTrialIntermediate(e.ctx, t0.ID, -1, math.Inf(-1)))
	e.ok(e.store.SetTrialAttr(e.ctx, t0.ID, tune.UserAttr, "u", `"v"`))
	e.ok(e.store.SetTrialAttr(e.ctx, t0.ID, tune.SystemAttr, "u", `2`))
	e.ok(e.store.SetTrialAttr(e.ctx, t0.ID, tune.SystemAttr, "u", `3`))
	got = e.get(t0.ID)
	if len(got.Intermediate) != 3 || got.Intermediate[3] != 0.25 || !math.IsNaN(got.Intermediate[4]) || !math.IsInf(got.Intermediate[-1], -1) {
		e.Fatalf("intermediate values %v", got.Intermediate)
	}
	if !reflect.DeepEqual(got.UserAttrs, map[string]string{"u": `"v"`}) || !reflect.DeepEqual(got.SystemAttrs, map[string]string{"u": `3`}) {
		e.Fatalf("attrs %v %v", got.UserAttrs, got.SystemAttrs)
	}
	e.code(e.store.SetTrialIntermediate(e.ctx, 99999, 1, 1), lode.ENotFound)
	e.code(e.store.SetTrialAttr(e.ctx, 99999, tune.UserAttr, "a", "1"), lode.ENotFound)
}

func testTemplateTrial(e *env) {
	s := e.study("s")
	e.trial(s)
	start, end := e.now.Add(-time.Hour), e.now.Add(-time.Minute)
	tmpl := &tune.TrialRecord{ID: 77, Number: 12, State: tune.Complete, Values: []float64{math.Inf(1), -2.5}, Start: start, Complete: end,
		Params:       map[string]tune.TrialParam{"lr": {Value: 0.01, Distribution: `{"name": "FloatDistribution", "attributes": {"log": true, "step": null, "low": 1e-05, "high": 1.0}}`}, "c": {Value: 2, Distribution: `{"name": "CategoricalDistribution", "attributes": {"choices": ["a", "b", null]}}`}},
		Intermediate: map[int64]float64{0: 1, 10: math.NaN()},
		UserAttrs:    map[string]string{"note": `"copied"`}, SystemAttrs: map[string]string{"fixed_params": `{"lr": 0.01}`}}
	tr, err := e.svc.CreateTrial(e.ctx, s, tmpl)
	e.ok(err)
	if tr.Number != 1 || tr.ID == 77 {
		e.Fatalf("trial from template: %+v", tr)
	}
	got := e.get(tr.ID)
	want := *tmpl
	want.ID, want.Number, want.StudyID = tr.ID, 1, s
	// NaN never equals itself: compare it apart.
	if !math.IsNaN(got.Intermediate[10]) {
		e.Fatalf("intermediate NaN came back as %v", got.Intermediate[10])
	}
	got.Intermediate[10], want.Intermediate = 0, map[int64]float64{0: 1, 10: 0}
	if !got.Start.Equal(start) || !got.Complete.Equal(end) {
		e.Fatalf("times %v %v, want %v %v", got.Start, got.Complete, start, end)
	}
	got.Start, got.Complete, want.Start, want.Complete = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, &want) {
		e.Fatalf("trial from template\n got %+v\nwant %+v", got, &want)
	}
	// A waiting template: an enqueued trial.
	w, err := e.svc.CreateTrial(e.ctx, s, &tune.TrialRecord{State: tune.Waiting})
	e.ok(err)
	if g := e.get(w.ID); g.State != tune.Waiting || !g.Start.IsZero() {
		e.Fatalf("waiting trial %+v", g)
	}
	_, err = e.svc.CreateTrial(e.ctx, s, &tune.TrialRecord{State: "BOGUS"})
	e.code(err, lode.EInvalid)
}

func testListTrials(e *env) {
	s, other := e.study("s"), e.study("other")
	var ids []int64
	for range 5 {
		ids = append(ids, e.trial(s).ID)
		e.trial(other)
	}
	e.ok(e.store.SetTrialParam(e.ctx, ids[2], "x", tune.TrialParam{Value: 3, Distribution: "d"}, nil))
	numbers := func(ts []*tune.TrialRecord) []int64 {
		var out []int64
		for _, t := range ts {
			if t.StudyID != s {
				e.Fatalf("trial of study %d listed for %d", t.StudyID, s)
			}
			out = append(out, t.Number)
		}
		return out
	}
	all, err := e.store.ListTrials(e.ctx, s, tune.TrialQuery{All: true})
	e.ok(err)
	if n := numbers(all); !slices.Equal(n, []int64{0, 1, 2, 3, 4}) || all[2].Params["x"].Value != 3 {
		e.Fatalf("all trials %v", n)
	}
	some, err := e.store.ListTrials(e.ctx, s, tune.TrialQuery{IDAbove: ids[3], IDs: []int64{ids[0], ids[2]}})
	e.ok(err)
	if n := numbers(some); !slices.Equal(n, []int64{0, 2, 4}) || some[1].Params["x"].Value != 3 {
		e.Fatalf("selected trials %v", n)
	}
	none, err := e.store.ListTrials(e.ctx, s, tune.TrialQuery{IDAbove: ids[4]})
	e.ok(err)
	if len(none) != 0 {
		e.Fatalf("trials above the last: %v", numbers(none))
	}
	empty := e.study("empty")
	if ts, err := e.store.ListTrials(e.ctx, empty, tune.TrialQuery{All: true}); err != nil || len(ts) != 0 {
		e.Fatalf("empty study: %v, %v", ts, err)
	}
	_, err = e.store.ListTrials(e.ctx, 99999, tune.TrialQuery{All: true})
	e.code(err, lode.ENotFound)
}

func testParams(e *env) {
	s := e.study("s")
	t0, t1 := e.trial(s), e.trial(s)
	var seen []string
	check := func(prev string) error {
		seen = append(seen, prev)
		if prev != "" && prev != "A" {
			return lode.Errorf(lode.EInvalid, "incompatible")
		}
		return nil
	}
	e.ok(e.store.SetTrialParam(e.ctx, t0.ID, "x", tune.TrialParam{Value: 1.5, Distribution: "A"}, check))
	e.ok(e.store.SetTrialParam(e.ctx, t1.ID, "x", tune.TrialParam{Value: 2.5, Distribution: "A"}, check))
	e.ok(e.store.SetTrialParam(e.ctx, t1.ID, "y", tune.TrialParam{Value: -1, Distribution: "B"}, check))
	if !slices.Equal(seen, []string{"", "A", ""}) {
		e.Fatalf("check saw %q", seen)
	}
	refuse := func(string) error { return lode.Errorf(lode.EInvalid, "no") }
	e.code(e.store.SetTrialParam(e.ctx, t1.ID, "z", tune.TrialParam{Value: 1, Distribution: "C"}, refuse), lode.EInvalid)
	got := e.get(t1.ID)
	want := map[string]tune.TrialParam{"x": {Value: 2.5, Distribution: "A"}, "y": {Value: -1, Distribution: "B"}}
	if !reflect.DeepEqual(got.Params, want) {
		e.Fatalf("params %v, want %v", got.Params, want)
	}
	e.code(e.store.SetTrialParam(e.ctx, 99999, "x", tune.TrialParam{Distribution: "A"}, nil), lode.ENotFound)
}

func testStates(e *env) {
	s := e.study("s")
	tr := e.trial(s)
	moved, err := e.svc.SetTrialState(e.ctx, tr.ID, tune.Running, nil)
	e.ok(err)
	if moved {
		e.Fatal("a running trial moved to RUNNING again")
	}
	later := e.now.Add(time.Second)
	e.svc.Now = func() time.Time { return later }
	moved, err = e.svc.SetTrialState(e.ctx, tr.ID, tune.Complete, []float64{0.5})
	e.ok(err)
	if !moved {
		e.Fatal("COMPLETE not applied")
	}
	got := e.get(tr.ID)
	if got.State != tune.Complete || !slices.Equal(got.Values, []float64{0.5}) || !got.Start.Equal(e.now) || !got.Complete.Equal(later) {
		e.Fatalf("completed trial %+v", got)
	}

	w, err := e.svc.CreateTrial(e.ctx, s, &tune.TrialRecord{State: tune.Waiting})
	e.ok(err)
	moved, err = e.svc.SetTrialState(e.ctx, w.ID, tune.Running, nil)
	e.ok(err)
	if !moved {
		e.Fatal("a waiting trial was not claimed")
	}
	moved, err = e.svc.SetTrialState(e.ctx, w.ID, tune.Running, nil)
	e.ok(err)
	if moved {
		e.Fatal("a claimed trial was claimed twice")
	}
	if g := e.get(w.ID); g.State != tune.Running || !g.Start.Equal(later) {
		e.Fatalf("claimed trial %+v", g)
	}
	moved, err = e.svc.SetTrialState(e.ctx, w.ID, tune.Pruned, nil)
	e.ok(err)
	if g := e.get(w.ID); !moved || g.State != tune.Pruned || g.Values != nil || !g.Complete.Equal(later) {
		e.Fatalf("pruned trial %+v", g)
	}
	_, err = e.svc.SetTrialState(e.ctx, tr.ID, "BOGUS", nil)
	e.code(err, lode.EInvalid)
	_, err = e.svc.SetTrialState(e.ctx, 99999, tune.Failed, nil)
	e.code(err, lode.ENotFound)
}

func testFinishedTrials(e *env) {
	s := e.study("s")
	for _, st := range []tune.TrialState{tune.Complete, tune.Pruned, tune.Failed} {
		tr := e.trial(s)
		_, err := e.svc.SetTrialState(e.ctx, tr.ID, st, []float64{1})
		e.ok(err)
		_, err = e.svc.SetTrialState(e.ctx, tr.ID, tune.Complete, []float64{2})
		e.code(err, lode.EInvalidState)
		e.code(e.store.SetTrialParam(e.ctx, tr.ID, "x", tune.TrialParam{Value: 1, Distribution: "d"}, nil), lode.EInvalidState)
		e.code(e.store.SetTrialIntermediate(e.ctx, tr.ID, 1, 1), lode.EInvalidState)
		e.code(e.store.SetTrialAttr(e.ctx, tr.ID, tune.UserAttr, "a", "1"), lode.EInvalidState)
		if g := e.get(tr.ID); g.State != st || !slices.Equal(g.Values, []float64{1}) || len(g.Params)+len(g.Intermediate)+len(g.UserAttrs) != 0 {
			e.Fatalf("finished trial changed: %+v", g)
		}
	}
}

// testConcurrentTrials is several Optuna workers asking for trials of one
// study at once.
func testConcurrentTrials(e *env) {
	s := e.study("s")
	const workers, each = 8, 12
	var mu sync.Mutex
	var all []*tune.TrialRecord
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				tr, err := e.svc.CreateTrial(e.ctx, s, nil)
				if err != nil {
					errs <- err
					return
				}
				if _, err := e.svc.SetTrialState(e.ctx, tr.ID, tune.Complete, []float64{float64(tr.Number)}); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				all = append(all, tr)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		var le *lode.Error
		if errors.As(err, &le) && le.Code == lode.EUnavailable {
			continue
		}
		e.Fatal(err)
	}
	listed, err := e.store.ListTrials(e.ctx, s, tune.TrialQuery{All: true})
	e.ok(err)
	if len(listed) != len(all) || len(all) < workers*each/2 {
		e.Fatalf("%d trials created, %d listed", len(all), len(listed))
	}
	for i, tr := range listed {
		if tr.Number != int64(i) {
			e.Fatalf("trial %d has number %d: numbers %v", i, tr.Number, fmt.Sprint(numbersOf(listed)))
		}
		if i > 0 && tr.ID <= listed[i-1].ID {
			e.Fatalf("trial #%d has id %d, not above #%d's %d", i, tr.ID, i-1, listed[i-1].ID)
		}
		if tr.State != tune.Complete || tr.Values[0] != float64(i) {
			e.Fatalf("trial %+v", tr)
		}
	}
}

func numbersOf(ts []*tune.TrialRecord) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.Number
	}
	return out
}
