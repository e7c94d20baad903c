package serving

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/lode-ml/lode"
)

// Limiter is admission control for one model: at most Concurrency requests
// run at once, at most Queue more wait for a slot, and any beyond that are
// refused at once (429) rather than piling up. A request that waits longer
// than its context allows is answered 503.
type Limiter struct {
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
	running atomic.Int64
}

// NewLimiter returns a limiter; concurrency below 1 is taken as 1 and a
// negative queue as 0.
func NewLimiter(concurrency, queue int) *Limiter {
	if concurrency < 1 {
		concurrency = 1
	}
	if queue < 0 {
		queue = 0
	}
	return &Limiter{slots: make(chan struct{}, concurrency), queue: int64(queue)}
}

// Acquire waits for a slot. The returned func gives it back and must be
// called exactly once.
func (l *Limiter) Acquire(ctx context.Context) (func(), error) {
	select {
	case l.slots <- struct{}{}:
		l.running.Add(1)
		return l.release, nil
	default:
	}
	if l.waiting.Add(1) > l.queue {
		l.waiting.Add(-1)
		return nil, lode.Errorf(lode.EOverloaded, "model is overloaded: %d requests running and %d queued; retry later", cap(l.slots), l.queue)
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		l.running.Add(1)
		return l.release, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, lode.Errorf(lode.EUnavailable, "timed out waiting for the model: %d requests ahead", cap(l.slots)+int(l.queue))
		}
		return nil, ctx.Err()
	}
}

func (l *Limiter) release() {
	l.running.Add(-1)
	<-l.slots
}

// Waiting is the number of requests queued for a slot.
func (l *Limiter) Waiting() int { return int(l.waiting.Load()) }

// Running is the number of requests holding a slot.
func (l *Limiter) Running() int { return int(l.running.Load()) }

// Concurrency is the number of slots.
func (l *Limiter) Concurrency() int { return cap(l.slots) }
