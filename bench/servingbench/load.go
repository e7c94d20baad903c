package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"
)

// stats are one measurement's figures. Only requests sent and answered
// within the measured window count.
type stats struct {
	Rate       float64 `json:"rate,omitempty"` // the open loop's intended requests/s
	Requests   int64   `json:"requests"`       // answered 200
	Errors     int64   `json:"errors"`         // anything else, transport errors included
	FirstError string  `json:"first_error,omitempty"`
	RPS        float64 `json:"rps"` // Requests per second of the window
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	// How late the open loop's dispatcher handed requests out (its timer's
	// lateness), not counted in the latencies.
	LagP50ms float64 `json:"lag_p50_ms,omitempty"`
	LagP99ms float64 `json:"lag_p99_ms,omitempty"`
}

func (s stats) String() string {
	e := ""
	if s.Errors > 0 {
		e = fmt.Sprintf(", %d errors (first: %s)", s.Errors, s.FirstError)
	}
	lag := ""
	if s.Rate > 0 {
		lag = fmt.Sprintf(" (dispatch lag p50 %.3f ms, p99 %.3f ms)", s.LagP50ms, s.LagP99ms)
	}
	return fmt.Sprintf("%.0f req/s, p50 %.3f ms, p99 %.3f ms%s%s", s.RPS, s.P50ms, s.P99ms, lag, e)
}

// recorder gathers the latencies of one measurement from many goroutines.
type recorder struct {
	mu       sync.Mutex
	lat      []time.Duration
	lag      []time.Duration
	errs     int64
	firstErr string
}

func (r *recorder) add(lat, lag []time.Duration, errs int64, firstErr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lat = append(r.lat, lat...)
	r.lag = append(r.lag, lag...)
	r.errs += errs
	if r.firstErr == "" {
		r.firstErr = firstErr
	}
}

func (r *recorder) stats(window time.Duration) stats {
	slices.Sort(r.lat)
	slices.Sort(r.lag)
	return stats{Requests: int64(len(r.lat)), Errors: r.errs, FirstError: r.firstErr,
		RPS:   float64(len(r.lat)) / window.Seconds(),
		P50ms: ms(quantile(r.lat, 0.50)), P99ms: ms(quantile(r.lat, 0.99)),
		LagP50ms: ms(quantile(r.lag, 0.50)), LagP99ms: ms(quantile(r.lag, 0.99))}
}

// quantile of sorted durations, nearest rank.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// newClient is a keep-alive HTTP/1.1 client with an idle connection for
// each of conns concurrent requests, and no gzip.
func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// closedLoop runs conc clients, each sending its next request when the last
// is answered, for warmup and then the measured dur.
func closedLoop(ctx context.Context, t target, conc int, warmup, dur time.Duration) stats {
	cl := newClient(conc)
	defer cl.CloseIdleConnections()
	from := time.Now().Add(warmup)
	end := from.Add(dur)
	var rec recorder
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var lat []time.Duration
			var errs int64
			var firstErr string
			for ctx.Err() == nil {
				start := time.Now()
				if !start.Before(end) {
					break
				}
				_, err := t.post(ctx, cl)
				done := time.Now()
				if start.Before(from) || done.After(end) {
					continue
				}
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				lat = append(lat, done.Sub(start))
			}
			rec.add(lat, nil, errs, firstErr)
		})
	}
	wg.Wait()
	return rec.stats(dur)
}

// openLoop sends requests at a fixed rate, whatever the server's answers,
// for warmup and then the measured dur. A request's latency runs from the
// moment the dispatcher hands it out, so time spent waiting for a free client
// (at most clients requests are in flight) counts against the server, while
// the dispatcher's own lateness (its timer's granularity) is reported apart.
func openLoop(ctx context.Context, t target, rate float64, clients int, warmup, dur time.Duration) stats {
	cl := newClient(clients)
	defer cl.CloseIdleConnections()
	type job struct{ due, queued time.Time }
	total := int((warmup + dur).Seconds() * rate)
	jobs := make(chan job, total)
	start := time.Now()
	from := start.Add(warmup)
	end := from.Add(dur)
	var rec recorder
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var lat, lag []time.Duration
			var errs int64
			var firstErr string
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				_, err := t.post(ctx, cl)
				done := time.Now()
				if j.due.Before(from) || !j.due.Before(end) {
					continue
				}
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				lat = append(lat, done.Sub(j.queued))
				lag = append(lag, j.queued.Sub(j.due))
			}
			rec.add(lat, lag, errs, firstErr)
		})
	}
	interval := float64(time.Second) / rate
	for i := 0; i < total && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		jobs <- job{due, time.Now()}
	}
	close(jobs)
	wg.Wait()
	s := rec.stats(dur)
	s.Rate = rate
	return s
}

func numCPU() int { return runtime.NumCPU() }
