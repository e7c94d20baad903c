package tune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// TPE, as Optuna's TPESampler (5.x) with multivariate=True and
// constant_liar=True does it (Bergstra et al. 2011; Falkner et al. 2018
// for the multivariate kernels):
//
//   - Trials are split into "below" (the best ⌈0.1·n⌉ of the n finished
//     ones, at most 25; complete trials by value first, then pruned ones
//     by the furthest step reached and the value there) and "above" (the
//     rest, and every running trial: the constant liar counts a pending
//     trial as a bad result, so parallel proposals move away from it).
//   - Each side becomes a Parzen estimator: a mixture of product kernels,
//     one per observation, and a prior kernel (the range's centre, as wide
//     as the range). Numeric kernels are truncated normals in the
//     transformed space (log space for a log parameter; integers and steps
//     by rounding, their probability the mass of their cell); a kernel's
//     width in a dimension is the distance to the farther of its
//     neighbouring observations there, clipped to [range/min(100, n+2),
//     range]. Categorical kernels put weight 1 on the observed choice plus
//     1/(n+1) spread evenly. Kernel weights are 1, except that older
//     observations ramp down once there are more than 25.
//   - Candidates are drawn from "below" and the one maximizing
//     log l(x) - log g(x) (below's density over above's) is proposed.
//     Beyond Optuna: a candidate equal to a running trial's values is
//     proposed only if every candidate is, so that parallel trials in a
//     small discrete space do not repeat each other.
//
// Conditional parameters: parameters are grouped by their condition (all
// unconditional ones together; those under the same parent and values
// together), each group is sampled jointly from the trials in which it
// was active, in order, a group only when its condition holds.

// group is a set of parameters sampled together.
type group struct{ params []int }

func groupsOf(space *Space) []group {
	keys := map[string]int{}
	var groups []group
	for i, p := range space.params {
		key := ""
		if p.When != nil {
			parent := space.params[space.index[p.When.Param]]
			var idx []int
			for _, v := range p.When.Values {
				idx = append(idx, parent.index(v))
			}
			slices.Sort(idx)
			key = fmt.Sprint(p.When.Param, slices.Compact(idx))
		}
		g, ok := keys[key]
		if !ok {
			g = len(groups)
			keys[key] = g
			groups = append(groups, group{})
		}
		groups[g].params = append(groups[g].params, i)
	}
	return groups
}

func (s *Searcher) sampleTPE(r *rand.Rand) []float64 {
	finished := 0
	for _, t := range s.trials {
		if t.state == Complete || t.state == Pruned {
			finished++
		}
	}
	if finished < s.cfg.StartupTrials {
		return s.sampleRandom(r)
	}
	below, above := s.split()
	x := make([]float64, len(s.space.params))
	for i := range x {
		x[i] = math.NaN()
	}
	for _, g := range s.groups {
		if !s.space.active(s.space.params[g.params[0]], x) {
			continue
		}
		var dims []dim
		var idx []int
		for _, i := range g.params {
			p := s.space.params[i]
			if p.single() {
				x[i] = p.Low
				if p.Kind == Categorical {
					x[i] = 0
				}
				continue
			}
			dims = append(dims, dimOf(p.Distribution))
			idx = append(idx, i)
		}
		if len(dims) == 0 {
			continue
		}
		l := newParzen(observations(below, idx, dims), dims)
		g := newParzen(observations(above, idx, dims), dims)
		pending := pendingValues(s.trials, idx)
		var best []float64
		bestScore, bestTaken := math.Inf(-1), true
		cand := make([]float64, len(dims))
		tc := make([]float64, len(dims))
		for range s.cfg.Candidates {
			l.sample(r, tc)
			for k, d := range dims {
				cand[k] = d.internal(tc[k])
				tc[k] = d.transform(cand[k])
			}
			score := l.logpdf(tc) - g.logpdf(tc)
			taken := slices.ContainsFunc(pending, func(p []float64) bool { return slices.Equal(p, cand) })
			if best == nil || (bestTaken && !taken) || (taken == bestTaken && score > bestScore) {
				best, bestScore, bestTaken = slices.Clone(cand), score, taken
			}
		}
		for k, i := range idx {
			x[i] = best[k]
		}
	}
	return x
}

// single reports whether a parameter can take one value only.
func (p Param) single() bool {
	if p.Kind == Categorical {
		return len(p.Choices) == 1
	}
	return p.Low == p.High
}

// split divides trials into the good ("below") and the rest ("above"),
// both in order of number.
func (s *Searcher) split() (below, above []*trial) {
	var complete, pruned []*trial
	for _, t := range s.trials {
		switch t.state {
		case Complete:
			complete = append(complete, t)
		case Pruned:
			pruned = append(pruned, t)
		case Running:
			above = append(above, t)
		}
	}
	n := len(complete) + len(pruned)
	nBelow := min(int(math.Ceil(0.1*float64(n))), 25)
	slices.SortStableFunc(complete, func(a, b *trial) int { return cmpFloat(s.loss(a.value), s.loss(b.value)) })
	k := min(nBelow, len(complete))
	below = append(below, complete[:k]...)
	above = append(above, complete[k:]...)
	nBelow -= k
	// A pruned trial that went further is better; among those stopped at
	// the same step, the better value there.
	score := func(t *trial) (float64, float64) {
		if len(t.points) == 0 {
			return 1, 0
		}
		last := t.points[len(t.points)-1]
		return -float64(last.Step), s.loss(last.Value)
	}
	slices.SortStableFunc(pruned, func(a, b *trial) int {
		a1, a2 := score(a)
		b1, b2 := score(b)
		if c := cmpFloat(a1, b1); c != 0 {
			return c
		}
		return cmpFloat(a2, b2)
	})
	k = min(nBelow, len(pruned))
	below = append(below, pruned[:k]...)
	above = append(above, pruned[k:]...)
	byNumber := func(a, b *trial) int { return a.number - b.number }
	slices.SortFunc(below, byNumber)
	slices.SortFunc(above, byNumber)
	return below, above
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pendingValues are the values of the parameters idx in the running
// trials where all of them are active.
func pendingValues(trials []*trial, idx []int) [][]float64 {
	var out [][]float64
	for _, t := range trials {
		if t.state != Running {
			continue
		}
		row := make([]float64, len(idx))
		for k, i := range idx {
			row[k] = t.x[i]
		}
		if !slices.ContainsFunc(row, math.IsNaN) {
			out = append(out, row)
		}
	}
	return out
}

// observations are the transformed values of the parameters idx in the
// trials where all of them are active.
func observations(trials []*trial, idx []int, dims []dim) [][]float64 {
	var out [][]float64
	for _, t := range trials {
		row := make([]float64, len(idx))
		ok := true
		for k, i := range idx {
			if math.IsNaN(t.x[i]) {
				ok = false
				break
			}
			row[k] = dims[k].transform(t.x[i])
		}
		if ok {
			out = append(out, row)
		}
	}
	return out
}

// dim is one parameter in the space where kernels live.
type dim struct {
	d Distribution
	// choices > 0 for a categorical parameter.
	choices int
	// low, high and step bound the transformed values; step > 0 for a
	// discrete one, whose values are low + k·step.
	low, high, step float64
}

func dimOf(d Distribution) dim {
	switch {
	case d.Kind == Categorical:
		return dim{d: d, choices: len(d.Choices)}
	case d.Log && d.Kind == Int:
		// Each integer owns log(k-½) to log(k+½).
		return dim{d: d, low: math.Log(d.Low - 0.5), high: math.Log(d.High + 0.5)}
	case d.Log:
		return dim{d: d, low: math.Log(d.Low), high: math.Log(d.High)}
	}
	return dim{d: d, low: d.Low, high: d.High, step: d.Step}
}

func (m dim) transform(x float64) float64 {
	if m.d.Log {
		return math.Log(x)
	}
	return x
}

// internal turns a sampled transformed value into a value of the
// parameter: rounded to its integers or steps, within its range.
func (m dim) internal(t float64) float64 {
	if m.choices > 0 {
		return t
	}
	if m.d.Log {
		t = math.Exp(t)
	}
	return m.d.snap(t)
}

// parzen is a mixture of product kernels over dims.
type parzen struct {
	dims    []dim
	weights []float64 // per kernel, summing to 1
	logW    []float64
	mu      [][]float64 // [dim][kernel]
	sigma   [][]float64
	logZ    [][]float64   // log of each truncated kernel's mass
	cat     [][][]float64 // [dim][kernel][choice] probabilities
}

func defaultWeights(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	if n >= 25 {
		// numpy.linspace(1/n, 1, n-25): older observations count less.
		ramp := n - 25
		for i := range ramp {
			if ramp == 1 {
				w[i] = 1 / float64(n)
			} else {
				w[i] = 1/float64(n) + float64(i)*(1-1/float64(n))/float64(ramp-1)
			}
		}
	}
	return w
}

func newParzen(obs [][]float64, dims []dim) *parzen {
	n := len(obs)
	p := &parzen{dims: dims}
	p.weights = append(defaultWeights(n), 1) // the prior's weight
	var sum float64
	for _, w := range p.weights {
		sum += w
	}
	for i := range p.weights {
		p.weights[i] /= sum
		p.logW = append(p.logW, math.Log(p.weights[i]))
	}
	kernels := n + 1
	p.mu = make([][]float64, len(dims))
	p.sigma = make([][]float64, len(dims))
	p.logZ = make([][]float64, len(dims))
	p.cat = make([][][]float64, len(dims))
	for j, m := range dims {
		if m.choices > 0 {
			rows := make([][]float64, kernels)
			for k := range rows {
				row := make([]float64, m.choices)
				for c := range row {
					row[c] = 1 / float64(kernels)
				}
				if k < n {
					row[int(obs[k][j])]++
				}
				var s float64
				for _, v := range row {
					s += v
				}
				for c := range row {
					row[c] /= s
				}
				rows[k] = row
			}
			p.cat[j] = rows
			continue
		}
		lo, hi := m.low-m.step/2, m.high+m.step/2
		sigmas := bandwidths(obs, j, lo, hi)
		for k := range kernels {
			mu, sg := (lo+hi)/2, hi-lo
			if k < n {
				mu, sg = obs[k][j], sigmas[k]
			}
			p.mu[j] = append(p.mu[j], mu)
			p.sigma[j] = append(p.sigma[j], sg)
			p.logZ[j] = append(p.logZ[j], logGaussMass((lo-mu)/sg, (hi-mu)/sg))
		}
	}
	return p
}

// bandwidths are the kernel widths of dimension j: each observation's
// distance to the farther of its two neighbours (the range's ends count as
// neighbours, except that the lowest and highest observations look inward
// only), clipped to [width/min(100, n+2), width].
func bandwidths(obs [][]float64, j int, lo, hi float64) []float64 {
	n := len(obs)
	order := make([]int, n)
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(obs[a][j], obs[b][j]) })
	at := func(i int) float64 { // sorted position i, with the ends at -1 and n
		switch i {
		case -1:
			return lo
		case n:
			return hi
		}
		return obs[order[i]][j]
	}
	width := hi - lo
	minSigma := width / math.Min(100, float64(n+2))
	sigmas := make([]float64, n)
	for i, k := range order {
		sg := math.Max(at(i)-at(i-1), at(i+1)-at(i))
		if n >= 2 && i == 0 {
			sg = at(1) - at(0)
		} else if n >= 2 && i == n-1 {
			sg = at(n-1) - at(n-2)
		}
		sigmas[k] = math.Max(minSigma, math.Min(width, sg))
	}
	return sigmas
}

// pick draws an index from probabilities that sum to 1.
func pick(r *rand.Rand, probs []float64) int {
	u := r.Float64()
	for i, w := range probs {
		u -= w
		if u < 0 {
			return i
		}
	}
	return len(probs) - 1
}

// sample draws one point into out (transformed values).
func (p *parzen) sample(r *rand.Rand, out []float64) {
	k := pick(r, p.weights)
	for j, m := range p.dims {
		if m.choices > 0 {
			out[j] = float64(pick(r, p.cat[j][k]))
			continue
		}
		mu, sg := p.mu[j][k], p.sigma[j][k]
		lo, hi := m.low-m.step/2, m.high+m.step/2
		v := mu + sg*truncatedNormal(r, (lo-mu)/sg, (hi-mu)/sg)
		if m.step > 0 {
			v = m.low + math.Round((v-m.low)/m.step)*m.step
		}
		out[j] = math.Max(m.low, math.Min(m.high, v))
	}
}

// logpdf is the log density (log probability for discrete dimensions) of
// a point of transformed values.
func (p *parzen) logpdf(x []float64) float64 {
	acc := slices.Clone(p.logW)
	for j, m := range p.dims {
		if m.choices > 0 {
			c := int(x[j])
			for k := range acc {
				acc[k] += math.Log(p.cat[j][k][c])
			}
			continue
		}
		v := math.Max(m.low, math.Min(m.high, x[j]))
		for k := range acc {
			mu, sg := p.mu[j][k], p.sigma[j][k]
			if m.step > 0 {
				lo := math.Max(v-m.step/2, m.low-m.step/2)
				hi := math.Min(v+m.step/2, m.high+m.step/2)
				acc[k] += logGaussMass((lo-mu)/sg, (hi-mu)/sg) - p.logZ[j][k]
			} else {
				z := (v - mu) / sg
				acc[k] += -z*z/2 - math.Log(sg) - logSqrt2Pi - p.logZ[j][k]
			}
		}
	}
	return logSumExp(acc)
}

var logSqrt2Pi = 0.5 * math.Log(2*math.Pi)

func logSumExp(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	if math.IsInf(m, -1) {
		return m
	}
	var s float64
	for _, x := range xs {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}

// ndtr is the standard normal CDF.
func ndtr(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// logNdtr is log ndtr(x), by an asymptotic series far in the left tail
// where ndtr underflows.
func logNdtr(x float64) float64 {
	if x > 5 {
		return math.Log1p(-ndtr(-x))
	}
	if x > -20 {
		return math.Log(ndtr(x))
	}
	x2 := x * x
	return -x2/2 - math.Log(-x) - logSqrt2Pi + math.Log(1-1/x2+3/(x2*x2)-15/(x2*x2*x2))
}

// logGaussMass is log(ndtr(b) - ndtr(a)), accurate in either tail.
func logGaussMass(a, b float64) float64 {
	switch {
	case a >= b:
		return math.Inf(-1)
	case b <= 0:
		la, lb := logNdtr(a), logNdtr(b)
		if math.IsInf(lb, -1) {
			return lb
		}
		return lb + math.Log1p(-math.Exp(la-lb))
	case a >= 0:
		return logGaussMass(-b, -a)
	}
	return math.Log1p(-ndtr(a) - ndtr(-b))
}

// truncatedNormal draws a standard normal value conditioned on [a, b], by
// inverting the CDF on the side of zero where it is precise.
func truncatedNormal(r *rand.Rand, a, b float64) float64 {
	if a > 0 {
		return -truncatedNormal(r, -b, -a)
	}
	pa, pb := ndtr(a), ndtr(b)
	if pb-pa < 1e-300 {
		return a + r.Float64()*(b-a)
	}
	z := -math.Sqrt2 * math.Erfcinv(2*(pa+r.Float64()*(pb-pa)))
	return math.Max(a, math.Min(b, z))
}
