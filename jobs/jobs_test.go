package jobs

import "testing"

func TestMoves(t *testing.T) {
	j := &Job{State: Queued, History: []Transition{{State: Queued, Time: 1}}}
	steps := []struct {
		to State
		ok bool
	}{
		{Running, false}, {Scheduled, true}, {Running, true}, {Queued, true}, // a retry
		{Scheduled, true}, {Running, true}, {Succeeded, true}, {Failed, false}, {Queued, false},
	}
	for i, s := range steps {
		err := j.Move(s.to, int64(i+2), "step")
		if (err == nil) != s.ok {
			t.Fatalf("step %d: move to %s: %v, want ok=%v", i, s.to, err, s.ok)
		}
	}
	if j.State != Succeeded || len(j.History) != 7 || !j.State.Final() {
		t.Fatalf("job after moves: %+v", j)
	}
	for _, s := range []State{Succeeded, Failed, Cancelled} {
		for _, to := range []State{Queued, Scheduled, Running, Succeeded, Failed, Cancelled} {
			if CanMove(s, to) {
				t.Errorf("final state %s may move to %s", s, to)
			}
		}
	}
}

func TestResources(t *testing.T) {
	free := Resources{MilliCPU: 2000, MemoryBytes: 1 << 30, GPUs: 1}
	r := Resources{MilliCPU: 1000, MemoryBytes: 512 << 20}
	if !r.Fits(free) || r.Scale(3).Fits(free) || !r.Scale(2).Fits(free) {
		t.Fatal("Fits/Scale")
	}
	if got := free.Sub(r).Add(r); got != free {
		t.Fatalf("Sub/Add: %+v", got)
	}
}
