package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// sample is one job (or one xargs line) of a measurement.
type sample struct {
	Tag string
	// Sent: the submit request (the xargs line) began to be sent.
	Sent time.Time
	// Answered: jobs/submit answered (Lode only).
	Answered time.Time
	// Started: the job's command reported the time it ran (see stamps.go).
	Started time.Time
	JobID   string
	// Job is the job as it ended, with its history (Lode only).
	Job *job
}

// latency is what the benchmark is about: process start − submit sent.
func (s sample) latency() time.Duration { return s.Started.Sub(s.Sent) }

// run is one measured series: one at a time, or a burst.
type run struct {
	Samples []sample
	// Start is when the first job was sent; End when the last one ended
	// (Lode: the latest SUCCEEDED in the jobs' histories, which has
	// millisecond resolution; xargs: when xargs exited).
	Start, End time.Time
}

// config is what the measurements share.
type config struct {
	client     *client
	stamps     *stamps
	milliCPU   int64
	env        map[string]string
	workDir    string
	jobTimeout time.Duration // bounds each job, and each wait for one
	poll       time.Duration // how often one-at-a-time polls for the end
	submitters int
}

func (c *config) request(tag string) *submitReq {
	r := &submitReq{Name: "jobbench-" + tag, Command: probeCommand(tag, c.stamps.path), Env: c.env,
		WorkDir: c.workDir, TimeoutSeconds: c.jobTimeout.Seconds()}
	r.Resources.MilliCPU = c.milliCPU
	return r
}

// lodeOneAtATime submits n jobs one after the other: each is submitted
// once the one before has ended (SUCCEEDED in jobs/get), so its latency is
// the server's on an otherwise idle queue, with no queueing behind others.
func lodeOneAtATime(ctx context.Context, c *config, prefix string, n int) (*run, error) {
	r := &run{}
	for i := range n {
		tag := prefix + strconv.Itoa(i)
		s := sample{Tag: tag, Sent: time.Now()}
		j, err := c.client.submit(ctx, c.request(tag))
		if err != nil {
			return nil, fmt.Errorf("submit %s: %w", tag, err)
		}
		s.Answered, s.JobID = time.Now(), j.ID
		if s.Started, err = c.stamps.wait(ctx, tag, s.Sent.Add(c.jobTimeout)); err != nil {
			return nil, err
		}
		if s.Job, err = c.client.waitEnded(ctx, j.ID, c.poll, c.jobTimeout); err != nil {
			return nil, err
		}
		if s.Job.State != "SUCCEEDED" {
			return nil, fmt.Errorf("job %s (%s) ended %s: %s", j.ID, tag, s.Job.State, s.Job.Reason)
		}
		if i == 0 {
			r.Start = s.Sent
		}
		r.End = time.UnixMilli(s.Job.at("SUCCEEDED"))
		r.Samples = append(r.Samples, s)
	}
	return r, nil
}

// lodeBurst submits n jobs as fast as c.submitters clients can, each
// sending its next request when the last is answered, then waits for every
// job to start and end.
func lodeBurst(ctx context.Context, c *config, prefix string, n int) (*run, error) {
	r := &run{Samples: make([]sample, n)}
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range c.submitters {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					return
				}
				tag := prefix + strconv.Itoa(i)
				s := &r.Samples[i]
				s.Tag, s.Sent = tag, time.Now()
				j, err := c.client.submit(ctx, c.request(tag))
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("submit %s: %w", tag, err); cancel() })
					return
				}
				s.Answered, s.JobID = time.Now(), j.ID
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	r.Start = r.Samples[0].Sent
	for _, s := range r.Samples {
		if s.Sent.Before(r.Start) { // several submitters: any may be first
			r.Start = s.Sent
		}
	}
	// However long the queue, the jobs must keep starting: each wait
	// (they come in any order, and are waited for in submission order)
	// may take a whole job timeout.
	for i := range r.Samples {
		s := &r.Samples[i]
		var err error
		if s.Started, err = c.stamps.wait(ctx, s.Tag, time.Now().Add(c.jobTimeout)); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(c.jobTimeout)
	// All started; now wait for all to end. Polling only begins here so
	// that it does not load the server while the jobs are launched.
	ids := map[string]*sample{}
	for i := range r.Samples {
		ids[r.Samples[i].JobID] = &r.Samples[i]
	}
	active := []string{"QUEUED", "SCHEDULED", "RUNNING"}
	for {
		js, _, err := c.client.list(ctx, active, 1, "")
		if err != nil {
			return nil, err
		}
		if len(js) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("jobs still active %v after the last started (%s is %s)", c.jobTimeout, js[0].ID, js[0].State)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Read the ended jobs back, with their histories, a page at a time.
	left := len(ids)
	token := ""
	for left > 0 {
		js, next, err := c.client.list(ctx, []string{"SUCCEEDED", "FAILED", "CANCELLED"}, 1000, token)
		if err != nil {
			return nil, err
		}
		for _, j := range js {
			if s := ids[j.ID]; s != nil && s.Job == nil {
				s.Job = j
				left--
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	for i := range r.Samples {
		s := &r.Samples[i]
		if s.Job == nil {
			return nil, fmt.Errorf("job %s (%s) is missing from jobs/list", s.JobID, s.Tag)
		}
		if s.Job.State != "SUCCEEDED" {
			return nil, fmt.Errorf("job %s (%s) ended %s: %s", s.JobID, s.Tag, s.Job.State, s.Job.Reason)
		}
		if e := time.UnixMilli(s.Job.at("SUCCEEDED")); e.After(r.End) {
			r.End = e
		}
	}
	return r, nil
}

// floorOneAtATime hands xargs one command at a time, the next once the
// last has reported its start and a settle pause has passed (so that the
// last process has exited, as a Lode job has when it is SUCCEEDED).
func floorOneAtATime(ctx context.Context, c *config, prefix string, n, parallel int, env []string, settle time.Duration) (*run, error) {
	x, err := startXargs(parallel, env)
	if err != nil {
		return nil, err
	}
	defer x.kill()
	r := &run{}
	for i := range n {
		tag := prefix + strconv.Itoa(i)
		s := sample{Tag: tag}
		if s.Sent, err = x.hand(probeCommand(tag, c.stamps.path)); err != nil {
			return nil, fmt.Errorf("xargs: %w", err)
		}
		if s.Started, err = c.stamps.wait(ctx, tag, s.Sent.Add(c.jobTimeout)); err != nil {
			return nil, err
		}
		if i == 0 {
			r.Start = s.Sent
		}
		r.Samples = append(r.Samples, s)
		time.Sleep(settle)
	}
	if r.End, err = x.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

// floorBurst hands xargs all n commands at once and waits for it to exit,
// which it does once every command has ended.
func floorBurst(ctx context.Context, c *config, prefix string, n, parallel int, env []string) (*run, error) {
	x, err := startXargs(parallel, env)
	if err != nil {
		return nil, err
	}
	defer x.kill()
	r := &run{Samples: make([]sample, n)}
	// Should the pipe (64 KiB) fill up, a write blocks until xargs has
	// read enough; a line's time is when its write began, as a Lode job's
	// is when its submit began.
	for i := range n {
		tag := prefix + strconv.Itoa(i)
		r.Samples[i].Tag = tag
		if r.Samples[i].Sent, err = x.hand(probeCommand(tag, c.stamps.path)); err != nil {
			return nil, fmt.Errorf("xargs: %w", err)
		}
	}
	if r.End, err = x.finish(); err != nil {
		return nil, err
	}
	r.Start = r.Samples[0].Sent
	for i := range r.Samples {
		// xargs has exited: every command has reported, or never will.
		if r.Samples[i].Started, err = c.stamps.wait(ctx, r.Samples[i].Tag, time.Now().Add(c.jobTimeout)); err != nil {
			return nil, err
		}
	}
	return r, nil
}
