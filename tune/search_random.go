package tune

import (
	"math"
	"math/rand/v2"

	"github.com/lode-ml/lode"
)

// sampleRandom draws every active parameter independently: uniformly over
// the range (in log space for a log parameter), over the steps for a
// stepped one, over the choices for a categorical one.
func (s *Searcher) sampleRandom(r *rand.Rand) []float64 {
	x := make([]float64, len(s.space.params))
	for i, p := range s.space.params {
		x[i] = math.NaN()
		if s.space.active(p, x) {
			x[i] = randomValue(p.Distribution, r)
		}
	}
	return x
}

func randomValue(d Distribution, r *rand.Rand) float64 {
	switch {
	case d.Kind == Categorical:
		return float64(r.IntN(len(d.Choices)))
	case d.Log && d.Kind == Int:
		// Each integer owns the stretch of log space from k-½ to k+½, so
		// that rounding gives every one its log-uniform share.
		lo, hi := math.Log(d.Low-0.5), math.Log(d.High+0.5)
		return d.snap(math.Round(math.Exp(lo + r.Float64()*(hi-lo))))
	case d.Log:
		lo, hi := math.Log(d.Low), math.Log(d.High)
		return d.snap(math.Exp(lo + r.Float64()*(hi-lo)))
	case d.Step > 0:
		return d.stepValue(r.Int64N(d.steps() + 1))
	}
	return d.snap(d.Low + r.Float64()*(d.High-d.Low))
}

// gridOf enumerates the grid of space: every combination of the active
// parameters' grid values, in the order of the parameters (the first
// varies slowest), a conditional parameter taking part only where its
// condition holds.
func gridOf(space *Space) ([][]float64, error) {
	values := make([][]float64, len(space.params))
	for i, p := range space.params {
		switch {
		case len(p.Grid) > 0:
			values[i] = p.Grid
		case p.Kind == Categorical:
			for k := range p.Choices {
				values[i] = append(values[i], float64(k))
			}
		case p.Step > 0:
			if p.steps() >= maxGrid {
				return nil, lode.Errorf(lode.EInvalid, "grid search: parameter %q has more than %d steps; give it a grid list", p.Name, maxGrid)
			}
			for k := int64(0); k <= p.steps(); k++ {
				values[i] = append(values[i], p.stepValue(k))
			}
		default:
			return nil, lode.Errorf(lode.EInvalid, "grid search: parameter %q is continuous; give it a step or a grid list", p.Name)
		}
	}
	var out [][]float64
	x := make([]float64, len(space.params))
	var walk func(i int) error
	walk = func(i int) error {
		if i == len(space.params) {
			if len(out) >= maxGrid {
				return lode.Errorf(lode.EInvalid, "grid search: the grid has more than %d combinations; use random or tpe, or coarser steps", maxGrid)
			}
			out = append(out, append([]float64(nil), x...))
			return nil
		}
		p := space.params[i]
		if !space.active(p, x) {
			x[i] = math.NaN()
			return walk(i + 1)
		}
		for _, v := range values[i] {
			x[i] = v
			if err := walk(i + 1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(0); err != nil {
		return nil, err
	}
	return out, nil
}
