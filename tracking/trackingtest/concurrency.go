package trackingtest

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/lode-ml/lode/tracking"
)

var concurrencyTests = []test{
	{"LogBatch", testConcurrentLogBatch},
}

// concurrencyDuration is how long the writers run.
const concurrencyDuration = time.Second

// Eight writers log batches for about a second, each alternating between a
// run of its own and a run they all share, while a reader searches. No
// request may fail and no value may be lost.
func testConcurrentLogBatch(e *env) {
	const workers = 8
	const perBatch = 5
	x := e.createExperiment("concurrency")
	shared := e.newRun(x, "shared")
	own := make([]string, workers)
	for g := range own {
		own[g] = e.newRun(x, fmt.Sprintf("own-%d", g))
	}

	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		errs       []error
		ownBatches = make([]int, workers)
		shBatches  = make([]int, workers)
		lastOwn    = make([]int, workers)
		maxStep    int64
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	deadline := time.Now().Add(concurrencyDuration)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				run := own[g]
				if i%2 == 1 {
					run = shared
				}
				var ms []tracking.Metric
				for j := range perBatch {
					step := int64(g)*1_000_000 + int64(i)*perBatch + int64(j)
					ms = append(ms, tracking.Metric{Key: "m", Value: float64(j), Timestamp: int64(i), Step: step})
				}
				params := []tracking.Param{{Key: fmt.Sprintf("p-%d-%d", g, i), Value: strconv.Itoa(i)}}
				tags := []tracking.Tag{{Key: fmt.Sprintf("last-%d", g), Value: strconv.Itoa(i)}}
				if err := e.svc.LogBatch(e.ctx, run, ms, params, tags); err != nil {
					fail(fmt.Errorf("worker %d batch %d: %w", g, i, err))
					return
				}
				mu.Lock()
				if run == shared {
					shBatches[g]++
					maxStep = max(maxStep, ms[perBatch-1].Step)
				} else {
					ownBatches[g]++
					lastOwn[g] = i
				}
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) {
			if _, _, err := e.svc.SearchRuns(e.ctx, []string{x}, "metrics.m >= 0", []string{"metrics.m DESC"}, tracking.ActiveOnly, 100, ""); err != nil {
				fail(fmt.Errorf("reader: SearchRuns: %w", err))
				return
			}
			if _, err := e.svc.GetRun(e.ctx, shared); err != nil {
				fail(fmt.Errorf("reader: GetRun: %w", err))
				return
			}
		}
	}()
	wg.Wait()
	for _, err := range errs {
		e.Errorf("concurrent request failed: %v", err)
	}
	if len(errs) > 0 {
		return
	}

	totalShared := 0
	for g := range workers {
		if ownBatches[g] == 0 || shBatches[g] == 0 {
			e.Errorf("worker %d logged %d batches to its run and %d to the shared one; want some of each", g, ownBatches[g], shBatches[g])
		}
		totalShared += shBatches[g]
		if n := len(e.history(own[g], "m")); n != ownBatches[g]*perBatch {
			e.Errorf("run of worker %d: %d metric values, want %d", g, n, ownBatches[g]*perBatch)
		}
		r := e.getRun(own[g])
		if len(r.Params) != ownBatches[g] {
			e.Errorf("run of worker %d: %d params, want %d", g, len(r.Params), ownBatches[g])
		}
		if v, _ := tagValue(r.Tags, fmt.Sprintf("last-%d", g)); v != strconv.Itoa(lastOwn[g]) {
			e.Errorf("run of worker %d: tag last-%d = %q, want %d", g, g, v, lastOwn[g])
		}
	}
	if n := len(e.history(shared, "m")); n != totalShared*perBatch {
		e.Errorf("shared run: %d metric values, want %d", n, totalShared*perBatch)
	}
	r := e.getRun(shared)
	if len(r.Params) != totalShared {
		e.Errorf("shared run: %d params, want %d", len(r.Params), totalShared)
	}
	if lm, ok := latestMetric(r, "m"); !ok || lm.Step != maxStep {
		e.Errorf("shared run: latest m at step %d, want %d", lm.Step, maxStep)
	}
	e.Logf("%d batches in %v (%d to the shared run)", func() int {
		n := totalShared
		for _, b := range ownBatches {
			n += b
		}
		return n
	}(), concurrencyDuration, totalShared)
}
