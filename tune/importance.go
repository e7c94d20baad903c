package tune

import (
	"math"
	"sort"
)

// ImportanceMethod says, in words a page can show, how Importance judges
// a parameter.
const ImportanceMethod = "ε² (epsilon squared) of a one-way ANOVA of the objective's ranks over each parameter's binned values: " +
	"the share of the ranks' variance that the parameter's bins explain, corrected for the number of bins; " +
	"marginal (it sees no interactions between parameters), from complete trials only"

// importanceBins is how many bins a numeric parameter's values fall into
// (equal counts: quantiles, so that a log-spread parameter is binned as
// evenly as a uniform one).
const importanceBins = 6

// minImportanceTrials is the fewest complete trials Importance judges.
const minImportanceTrials = 4

// Observation is one complete trial as Importance reads it: its objective
// value and its parameters' values (internal representation: a
// categorical parameter's choice index).
type Observation struct {
	Value  float64
	Params map[string]float64
}

// ParamImportance is one parameter's importance, from 0 to 1; the
// importances of a study's parameters sum to 1 unless all are 0.
type ParamImportance struct {
	Param      string  `json:"param"`
	Importance float64 `json:"importance"`
}

// Importance ranks parameters by how much of the objective's variation
// each explains on its own (see ImportanceMethod), most important first.
// It is cheap and honest rather than complete: unlike fANOVA it fits no
// model and sees no interactions, and with few trials its numbers are
// rough. categorical says which parameters take their values as
// categories (each choice its own bin). Trials with a value that is not
// finite are left out, as are parameters a trial does not have (its
// conditional parameters). It returns nil with fewer than 4 observations.
func Importance(obs []Observation, params []string, categorical map[string]bool) []ParamImportance {
	var ok []Observation
	for _, o := range obs {
		if !math.IsNaN(o.Value) && !math.IsInf(o.Value, 0) {
			ok = append(ok, o)
		}
	}
	if len(ok) < minImportanceTrials || len(params) == 0 {
		return nil
	}
	out := make([]ParamImportance, 0, len(params))
	total := 0.0
	for _, p := range params {
		var vals, ys []float64
		for _, o := range ok {
			if v, has := o.Params[p]; has && !math.IsNaN(v) {
				vals = append(vals, v)
				ys = append(ys, o.Value)
			}
		}
		e := 0.0
		if len(vals) >= minImportanceTrials {
			e = epsilonSquared(bins(vals, categorical[p]), ranks(ys))
		}
		out = append(out, ParamImportance{Param: p, Importance: e})
		total += e
	}
	if total > 0 {
		for i := range out {
			out[i].Importance /= total
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Importance > out[j].Importance })
	return out
}

// ranks are ys' ranks from 1, ties sharing their mean rank: the ranks
// keep one diverged trial's huge loss from outweighing every other.
func ranks(ys []float64) []float64 {
	idx := make([]int, len(ys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ys[idx[a]] < ys[idx[b]] })
	r := make([]float64, len(ys))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && ys[idx[j+1]] == ys[idx[i]] {
			j++
		}
		mean := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = mean
		}
		i = j + 1
	}
	return r
}

// bins gives each value its bin: a categorical value its own; numbers
// their quantile bin, equal values always in one bin.
func bins(vals []float64, categorical bool) []int {
	out := make([]int, len(vals))
	if categorical {
		index := map[float64]int{}
		for i, v := range vals {
			b, ok := index[v]
			if !ok {
				b = len(index)
				index[v] = b
			}
			out[i] = b
		}
		return out
	}
	sorted := append([]float64(nil), vals...)
	sort.Float64s(sorted)
	n := min(importanceBins, len(vals))
	// The upper edge of each bin but the last, as values of the data.
	edges := make([]float64, 0, n-1)
	for k := 1; k < n; k++ {
		e := sorted[k*len(sorted)/n]
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	for i, v := range vals {
		out[i] = sort.Search(len(edges), func(k int) bool { return v < edges[k] })
	}
	return out
}

// epsilonSquared is (SSB − (k−1)·MSW) / (SST + MSW), the share of y's
// variance between groups less what k groups of noise would explain by
// chance, at least 0.
func epsilonSquared(group []int, y []float64) float64 {
	n := len(y)
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= float64(n)
	sum, count := map[int]float64{}, map[int]float64{}
	sst := 0.0
	for i, v := range y {
		sum[group[i]] += v
		count[group[i]]++
		sst += (v - mean) * (v - mean)
	}
	k := len(count)
	if k < 2 || n <= k || sst == 0 {
		return 0
	}
	ssb := 0.0
	for g, s := range sum {
		m := s / count[g]
		ssb += count[g] * (m - mean) * (m - mean)
	}
	msw := (sst - ssb) / float64(n-k)
	return max(0, (ssb-float64(k-1)*msw)/(sst+msw))
}
