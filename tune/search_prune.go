package tune

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Early stopping, as Optuna's SuccessiveHalvingPruner and HyperbandPruner
// decide it.
//
// ASHA: rung k is at step r·η^(s+k) (r: min_resource, η: reduction_factor,
// s: 0, or the bracket under Hyperband), below max_resource if one is set.
// When a trial's latest reported step reaches a rung it has not yet
// passed, its value at that step is recorded for the rung, and it goes on
// only if that value is among the best ⌊n/η⌋ of the n values recorded at
// the rung so far by any trial (the best one when n < η); otherwise it is
// pruned. A jump over several rungs is checked rung by rung.
//
// Hyperband: B = ⌊log_η(R/r)⌋+1 brackets (R: max_resource), bracket b
// running ASHA with its first rung at r·η^b, so bracket 0 is the most
// aggressive and the last the least (often no rung below R at all). A
// trial joins bracket b with probability in proportion to
// ⌈B·η^(B-1-b)/(B-b)⌉, drawn from the seed and its number; it competes
// only with trials of its own bracket.

// brackets returns Hyperband's bracket count and trial budget per bracket.
func (p Pruner) brackets() []uint64 {
	n := 0
	for res := p.MinResource; res <= p.MaxResource; res *= p.ReductionFactor {
		n++
	}
	budgets := make([]uint64, n)
	for b := range budgets {
		s := n - 1 - b
		pow := uint64(1)
		for range s {
			pow *= uint64(p.ReductionFactor)
		}
		budgets[b] = (uint64(n)*pow + uint64(s)) / uint64(s+1) // ceil
	}
	return budgets
}

// bracketOf is trial n's Hyperband bracket; 0 without Hyperband.
func (s *Searcher) bracketOf(n int) int {
	if s.cfg.Pruner.Type != Hyperband {
		return 0
	}
	budgets := s.cfg.Pruner.brackets()
	var total uint64
	for _, b := range budgets {
		total += b
	}
	// A stream of its own, so that the bracket draw does not disturb the
	// trial's parameter sampling.
	u := rand.New(rand.NewPCG(s.cfg.Seed^0x68797065726261, uint64(n))).Uint64N(total)
	for b, budget := range budgets {
		if u < budget {
			return b
		}
		u -= budget
	}
	return len(budgets) - 1
}

// decide is the pruner's decision for t, which has just reported.
func (s *Searcher) decide(t *trial) Decision {
	p := s.cfg.Pruner
	if p.Type == NoPruner || len(t.points) == 0 {
		return Decision{Rung: len(t.rungs) - 1}
	}
	last := t.points[len(t.points)-1]
	for {
		rung := len(t.rungs)
		step, ok := p.rungStep(t.bracket, rung)
		if !ok || last.Step < step {
			return Decision{Rung: rung - 1}
		}
		t.rungs = append(t.rungs, last.Value)
		var values []float64
		for _, o := range s.trials {
			if o.bracket == t.bracket && len(o.rungs) > rung {
				values = append(values, s.loss(o.rungs[rung]))
			}
		}
		slices.Sort(values)
		top := max(len(values)/int(p.ReductionFactor), 1)
		threshold := values[top-1]
		if s.loss(last.Value) > threshold {
			where := ""
			if p.Type == Hyperband {
				where = fmt.Sprintf(" of bracket %d", t.bracket)
			}
			return Decision{Prune: true, Rung: rung, Reason: fmt.Sprintf(
				"pruned at rung %d%s (step %d): value %s is not among the best %d of the %d trials at this rung (threshold %s)",
				rung, where, step, FormatValue(last.Value), top, len(values), FormatValue(s.loss(threshold)))}
		}
	}
}

// rungStep is the step of rung k in bracket b, false if there is none
// (at or beyond max_resource, or too large).
func (p Pruner) rungStep(b, k int) (int64, bool) {
	step := p.MinResource
	for range b + k {
		if step > maxResource/p.ReductionFactor {
			return 0, false
		}
		step *= p.ReductionFactor
	}
	if p.MaxResource > 0 && step >= p.MaxResource {
		return 0, false
	}
	return step, true
}
