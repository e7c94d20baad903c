package tune

import (
	"slices"
	"strings"
	"testing"
)

type report struct {
	trial int
	step  int64
	value float64
	want  string // "" to continue, else a substring of the prune reason
}

func playReports(t *testing.T, s *Searcher, sign float64, reports []report) {
	t.Helper()
	for i, r := range reports {
		for len(s.trials) <= r.trial {
			propose(t, s)
		}
		d, err := s.Report(r.trial, r.step, sign*r.value)
		if err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
		if r.want == "" && d.Prune {
			t.Errorf("report %d (trial %d, step %d, %v): pruned: %s", i, r.trial, r.step, r.value, d.Reason)
		}
		if r.want != "" && (!d.Prune || !strings.Contains(d.Reason, r.want)) {
			t.Errorf("report %d (trial %d, step %d, %v): %+v, want pruned with %q", i, r.trial, r.step, r.value, d, r.want)
		}
	}
}

// ASHA with η=3, rungs at steps 1, 3, 9 (minimizing; the same curves
// negated when maximizing): a trial goes on past a rung only if it is
// among the best ⌊n/3⌋ (at least 1) of the n trials at that rung so far.
func TestASHA(t *testing.T) {
	reports := []report{
		{0, 1, 0.5, ""}, // alone at rung 0
		{1, 1, 0.6, "pruned at rung 0 (step 1): value 0.6 is not among the best 1 of the 2 trials at this rung (threshold 0.5)"},
		{2, 1, 0.4, ""},
		{3, 1, 0.45, "best 1 of the 4 trials at this rung (threshold 0.4)"},
		{4, 1, 0.3, ""},
		{5, 1, 0.35, ""}, // 6 trials: the best 2 go on
		{6, 0, 0.1, ""},  // step 0 is before the first rung
		{0, 2, 0.45, ""}, // between rungs
		{0, 3, 0.42, ""}, // alone at rung 1
		{2, 3, 0.38, ""},
		{4, 9, 0.2, ""}, // jumps over rung 1 (best) to rung 2 (alone)
		{5, 3, 0.5, "pruned at rung 1 (step 3): value 0.5 is not among the best 1 of the 4 trials at this rung (threshold 0.2)"},
		{1, 2, 0.1, "rung 0"}, // a pruned trial stays pruned
		{0, 3, 0.0, ""},       // a second value at a step is ignored
	}
	for _, dir := range []Direction{Minimize, Maximize} {
		t.Run(string(dir), func(t *testing.T) {
			s := mustSearcher(t, []ParamSpec{{Name: "x", Type: Float, Low: f(0), High: f(1)}},
				Config{Algorithm: Random, Direction: dir, Pruner: Pruner{Type: ASHA}})
			sign := 1.0
			if dir == Maximize {
				sign = -1
				for i := range reports {
					reports[i].want = strings.ReplaceAll(reports[i].want, "value 0.", "value -0.")
					reports[i].want = strings.ReplaceAll(reports[i].want, "threshold 0.", "threshold -0.")
				}
			}
			playReports(t, s, sign, reports)
			want := map[int][]float64{0: {0.5, 0.42}, 1: {0.6}, 3: {0.45}, 4: {0.3, 0.2, 0.2}, 5: {0.35, 0.5}, 6: nil}
			for n, rungs := range want {
				tr, _ := s.Trial(n)
				for i := range rungs {
					rungs[i] *= sign
				}
				if !slices.Equal(tr.Rungs, rungs) {
					t.Errorf("trial %d rungs %v, want %v", n, tr.Rungs, rungs)
				}
			}
			if err := s.Prune(1, ""); err != nil {
				t.Fatal(err)
			}
			if tr, _ := s.Trial(1); tr.State != Pruned || !strings.Contains(tr.Reason, "rung 0 (step 1)") {
				t.Errorf("pruned trial: %+v", tr)
			}
		})
	}
}

// max_resource caps the rungs: none at or beyond it.
func TestASHAMaxResource(t *testing.T) {
	s := mustSearcher(t, []ParamSpec{{Name: "x", Type: Float, Low: f(0), High: f(1)}},
		Config{Algorithm: Random, Pruner: Pruner{Type: ASHA, MinResource: 2, ReductionFactor: 2, MaxResource: 8}})
	// Rungs at 2 and 4; 8 is the end.
	playReports(t, s, 1, []report{
		{0, 2, 1, ""}, {0, 4, 1, ""}, {0, 8, 1, ""},
		{1, 2, 0.5, ""}, {1, 4, 0.5, ""}, {1, 8, 5, ""},
		{2, 3, 2, "pruned at rung 0 (step 2): value 2 is not among the best 1 of the 3 trials"},
		// Jumps to the end: passes rung 0 as the 2nd best of 4 (⌊4/2⌋ go
		// on), fails rung 1 as the 2nd of 3.
		{3, 8, 0.9, "pruned at rung 1 (step 4): value 0.9 is not among the best 1 of the 3 trials at this rung (threshold 0.5)"},
	})
	if tr, _ := s.Trial(3); !slices.Equal(tr.Rungs, []float64{0.9, 0.9}) {
		t.Errorf("trial 3 rungs %v", tr.Rungs)
	}
}

// Hyperband with r=1, R=9, η=3: three brackets (first rungs at steps 1, 3
// and 9), trial budgets 9, 5 and 3; trials compete within their bracket.
func TestHyperband(t *testing.T) {
	p := Pruner{Type: Hyperband, MinResource: 1, MaxResource: 9, ReductionFactor: 3}
	if got := p.brackets(); !slices.Equal(got, []uint64{9, 5, 3}) {
		t.Fatalf("budgets %v", got)
	}
	s := mustSearcher(t, []ParamSpec{{Name: "x", Type: Float, Low: f(0), High: f(1)}}, Config{Algorithm: Random, Seed: 5, Pruner: p})
	counts := make([]int, 3)
	byBracket := map[int][]int{}
	for n := range 1700 {
		b := s.bracketOf(n)
		counts[b]++
		byBracket[b] = append(byBracket[b], n)
	}
	for b, want := range []int{900, 500, 300} {
		if d := counts[b] - want; d < -60 || d > 60 {
			t.Errorf("bracket %d holds %d of 1700 trials, want about %d", b, counts[b], want)
		}
	}
	b0, b1, b2 := byBracket[0], byBracket[1], byBracket[2]
	playReports(t, s, 1, []report{
		{b0[0], 1, 0.5, ""},
		{b1[0], 1, 0.9, ""}, // bracket 1 has no rung at step 1
		{b1[0], 3, 0.9, ""}, // alone in bracket 1's rung 0
		{b1[1], 1, 0.1, ""},
		{b1[1], 3, 1.0, "pruned at rung 0 of bracket 1 (step 3): value 1 is not among the best 1 of the 2 trials"},
		{b0[1], 1, 0.7, "pruned at rung 0 of bracket 0 (step 1)"},
		{b0[2], 1, 0.4, ""},
		{b0[2], 3, 9, ""},    // alone at bracket 0's rung 1
		{b2[0], 8, 100, ""},  // bracket 2 has no rung below 9
		{b2[1], 8, 1000, ""}, // and never prunes
	})
}
