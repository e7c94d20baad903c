package jobstest

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
)

var concurrencyTests = []test{
	{"Updates", testConcurrentUpdates},
	{"DuplicateCreates", testConcurrentDuplicateCreates},
}

// Eight writers each drive jobs of their own through many retries and
// create new ones, while readers list and get. No request may fail, no
// update may be lost, and no reader may see a job whose state and history
// disagree.
func testConcurrentUpdates(e *env) {
	const (
		workers = 8
		perW    = 4  // jobs each writer owns
		cycles  = 8  // Queued -> Scheduled -> Running -> Queued rounds
		extra   = 10 // jobs each writer creates while it works
	)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		done atomic.Bool
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	own := func(w, k int) string { return fmt.Sprintf("w%d-j%d", w, k) }
	for w := range workers {
		for k := range perW {
			e.create(queued(own(w, k), base+int64(w*perW+k)))
		}
	}

	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := int64(base + 1000)
			step := func(id string, to jobs.State, reason string) error {
				j, err := e.store.GetJob(e.ctx, id)
				if err != nil {
					return fmt.Errorf("GetJob %s: %w", id, err)
				}
				now++
				if err := j.Move(to, now, reason); err != nil {
					return fmt.Errorf("job %s: %w (stored job lost an update?)", id, err)
				}
				if to == jobs.Queued {
					j.Attempt++
				}
				if to == jobs.Running {
					j.Handles = []string{fmt.Sprintf("%s-attempt-%d", id, j.Attempt)}
				}
				if err := e.store.UpdateJob(e.ctx, j); err != nil {
					return fmt.Errorf("UpdateJob %s: %w", id, err)
				}
				return nil
			}
			for c := range cycles {
				for k := range perW {
					id := own(w, k)
					for _, to := range []jobs.State{jobs.Scheduled, jobs.Running, jobs.Queued} {
						if err := step(id, to, fmt.Sprintf("cycle %d", c)); err != nil {
							fail(err)
							return
						}
					}
				}
				for x := c * extra / cycles; x < (c+1)*extra/cycles; x++ {
					if err := e.store.CreateJob(e.ctx, queued(fmt.Sprintf("w%d-new%d", w, x), base+5000)); err != nil {
						fail(fmt.Errorf("CreateJob: %w", err))
						return
					}
				}
			}
			for k := range perW {
				if err := step(own(w, k), jobs.Cancelled, "done"); err != nil {
					fail(err)
					return
				}
			}
		}()
	}

	consistent := func(j *jobs.Job, what string) {
		if len(j.History) == 0 || j.History[len(j.History)-1].State != j.State {
			fail(fmt.Errorf("%s: job %s in state %s with history %+v", what, j.ID, j.State, j.History))
		}
	}
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; !done.Load(); i++ {
				id := own(i%workers, (i+r)%perW)
				j, err := e.store.GetJob(e.ctx, id)
				if err != nil {
					fail(fmt.Errorf("reader GetJob %s: %w", id, err))
					return
				}
				consistent(j, "GetJob")
				var js []*jobs.Job
				if r == 0 {
					js, _, err = e.store.ListJobs(e.ctx, jobs.Query{States: []jobs.State{jobs.Running, jobs.Scheduled}, MaxResults: 50})
				} else {
					js, err = e.store.ActiveJobs(e.ctx)
				}
				if err != nil {
					fail(fmt.Errorf("reader listing: %w", err))
					return
				}
				for _, j := range js {
					consistent(j, "listing")
					if r == 0 && j.State != jobs.Running && j.State != jobs.Scheduled {
						fail(fmt.Errorf("ListJobs running or scheduled returned job %s in %s", j.ID, j.State))
					}
					if r == 1 && j.State.Final() {
						fail(fmt.Errorf("ActiveJobs returned job %s in %s", j.ID, j.State))
					}
				}
			}
		}()
	}
	wg.Wait()
	done.Store(true)
	readers.Wait()
	for i, err := range errs {
		if i == 10 {
			e.Errorf("... and %d more errors", len(errs)-10)
			break
		}
		e.Error(err)
	}
	if len(errs) > 0 {
		e.FailNow()
	}

	for w := range workers {
		for k := range perW {
			j := e.get(own(w, k))
			if j.State != jobs.Cancelled || len(j.History) != 1+3*cycles+1 || j.Attempt != 1+cycles {
				e.Errorf("job %s: state %s, %d transitions, attempt %d; want %s, %d, %d",
					j.ID, j.State, len(j.History), j.Attempt, jobs.Cancelled, 1+3*cycles+1, 1+cycles)
				continue
			}
			for i, tr := range j.History[1 : len(j.History)-1] {
				want := []jobs.State{jobs.Scheduled, jobs.Running, jobs.Queued}[i%3]
				if tr.State != want || tr.Reason != fmt.Sprintf("cycle %d", i/3) {
					e.Errorf("job %s: transition %d is %+v, want %s in cycle %d", j.ID, i+1, tr, want, i/3)
					break
				}
			}
			if want := fmt.Sprintf("%s-attempt-%d", j.ID, cycles); len(j.Handles) != 1 || j.Handles[0] != want {
				e.Errorf("job %s: handles %v, want [%s]", j.ID, j.Handles, want)
			}
		}
	}
	all := e.walk(jobs.Query{MaxResults: 1000})
	if len(all) != workers*perW+workers*extra {
		e.Errorf("ListJobs: %d jobs, want %d", len(all), workers*perW+workers*extra)
	}
	if act := e.active(); len(act) != workers*extra {
		e.Errorf("ActiveJobs: %d jobs, want the %d new ones", len(act), workers*extra)
	}
}

// Creates of one id racing each other: exactly one wins, the rest are
// EExists, and the winner's job is the one stored.
func testConcurrentDuplicateCreates(e *env) {
	const racers = 8
	for round := range 10 {
		id := fmt.Sprintf("race-%d", round)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, racers)
		)
		for r := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j := queued(id, base)
				j.Reason = fmt.Sprintf("racer %d", r)
				<-start
				errs[r] = e.store.CreateJob(e.ctx, j)
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for r, err := range errs {
			switch {
			case err == nil && winner >= 0:
				e.Errorf("%s: racers %d and %d both created it", id, winner, r)
			case err == nil:
				winner = r
			case lode.ErrorCode(err) != lode.EExists:
				e.Errorf("%s: racer %d: %v, want %s", id, r, err, lode.EExists)
			}
		}
		if winner < 0 {
			e.Errorf("%s: no racer created it", id)
			continue
		}
		if got := e.get(id); got.Reason != fmt.Sprintf("racer %d", winner) {
			e.Errorf("%s: stored job is %q's, the winner was racer %d", id, got.Reason, winner)
		}
	}
	if n := len(e.walk(jobs.Query{})); n != 10 {
		e.Errorf("ListJobs: %d jobs, want 10", n)
	}
}
