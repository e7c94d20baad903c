package auth

import (
	"sync"
	"time"

	"github.com/lode-ml/lode"
)

// Failed sign-ins are throttled per username and client address: after
// maxFailures within failureWindow, that pair is refused until the window
// has passed since its last failure. Guessing is slowed to a handful of
// tries every few minutes, while the same user elsewhere, and other users
// from the same address, are not locked out.
const (
	maxFailures   = 10
	failureWindow = 5 * time.Minute
)

type failures struct {
	n    int
	last time.Time
}

// throttle counts recent failed sign-ins.
type throttle struct {
	mu sync.Mutex
	m  map[string]*failures
}

func (t *throttle) check(key string, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[key]
	if f == nil {
		return nil
	}
	if now.Sub(f.last) >= failureWindow {
		delete(t.m, key)
		return nil
	}
	if f.n >= maxFailures {
		wait := failureWindow - now.Sub(f.last)
		return lode.Errorf(lode.EOverloaded, "Too many failed sign-ins; try again in %d seconds.", int(wait.Seconds())+1)
	}
	return nil
}

func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*failures{}
	}
	if len(t.m) >= maxCacheEntries {
		for k, f := range t.m {
			if now.Sub(f.last) >= failureWindow {
				delete(t.m, k)
			}
		}
	}
	f := t.m[key]
	if f == nil || now.Sub(f.last) >= failureWindow {
		f = &failures{}
		t.m[key] = f
	}
	f.n++
	f.last = now
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	delete(t.m, key)
	t.mu.Unlock()
}
