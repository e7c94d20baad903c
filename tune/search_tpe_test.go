package tune

import (
	"math"
	"slices"
	"testing"
)

// Standard test functions with known minima.
type testFunc struct {
	name  string
	specs []ParamSpec
	f     func(Params) float64
	min   float64
}

func floats(names []string, low, high float64) []ParamSpec {
	var out []ParamSpec
	for _, n := range names {
		out = append(out, ParamSpec{Name: n, Type: Float, Low: &low, High: &high})
	}
	return out
}

func vec(p Params, names []string) []float64 {
	out := make([]float64, len(names))
	for i, n := range names {
		out[i] = p[n].(float64)
	}
	return out
}

var (
	x2 = []string{"x0", "x1"}
	x4 = []string{"x0", "x1", "x2", "x3"}
	x6 = []string{"x0", "x1", "x2", "x3", "x4", "x5"}
)

func branin() testFunc {
	lo0, hi0, lo1, hi1 := -5.0, 10.0, 0.0, 15.0
	return testFunc{"branin", []ParamSpec{
		{Name: "x0", Type: Float, Low: &lo0, High: &hi0}, {Name: "x1", Type: Float, Low: &lo1, High: &hi1}},
		func(p Params) float64 {
			x := vec(p, x2)
			b, c, t := 5.1/(4*math.Pi*math.Pi), 5/math.Pi, 1/(8*math.Pi)
			return math.Pow(x[1]-b*x[0]*x[0]+c*x[0]-6, 2) + 10*(1-t)*math.Cos(x[0]) + 10
		}, 0.397887}
}

func quadratic() testFunc {
	return testFunc{"quadratic", floats(x2, -10, 10), func(p Params) float64 {
		x := vec(p, x2)
		return (x[0]-2)*(x[0]-2) + 2*(x[1]+3)*(x[1]+3)
	}, 0}
}

func rosenbrock4() testFunc {
	return testFunc{"rosenbrock4", floats(x4, -2, 2), func(p Params) float64 {
		x := vec(p, x4)
		var s float64
		for i := 0; i < 3; i++ {
			s += 100*math.Pow(x[i+1]-x[i]*x[i], 2) + math.Pow(1-x[i], 2)
		}
		return s
	}, 0}
}

func hartmann6() testFunc {
	alpha := []float64{1.0, 1.2, 3.0, 3.2}
	a := [4][6]float64{{10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14}, {3, 3.5, 1.7, 10, 17, 8}, {17, 8, 0.05, 10, 0.1, 14}}
	pm := [4][6]float64{{1312, 1696, 5569, 124, 8283, 5886}, {2329, 4135, 8307, 3736, 1004, 9991},
		{2348, 1451, 3522, 2883, 3047, 6650}, {4047, 8828, 8732, 5743, 1091, 381}}
	return testFunc{"hartmann6", floats(x6, 0, 1), func(p Params) float64 {
		x := vec(p, x6)
		var s float64
		for i := range 4 {
			var e float64
			for j := range 6 {
				e += a[i][j] * math.Pow(x[j]-pm[i][j]*1e-4, 2)
			}
			s += alpha[i] * math.Exp(-e)
		}
		return -s
	}, -3.32237}
}

// run is a sequential study of n trials; it returns the best value.
func run(t testing.TB, fn testFunc, cfg Config, n int) float64 {
	space, err := NewSpace(fn.specs)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSearcher(space, cfg)
	if err != nil {
		t.Fatal(err)
	}
	best := math.Inf(1)
	for range n {
		tr, ok := s.Propose()
		if !ok {
			t.Fatal("no proposal")
		}
		v := fn.f(tr.Params)
		best = math.Min(best, v)
		if err := s.Complete(tr.Number, v); err != nil {
			t.Fatal(err)
		}
	}
	return best
}

func median(xs []float64) float64 {
	xs = slices.Sorted(slices.Values(xs))
	return (xs[(len(xs)-1)/2] + xs[len(xs)/2]) / 2
}

// TPE's median best after 100 trials beats random search's on each
// function, and comes near the optimum.
func TestTPEOptima(t *testing.T) {
	cases := []struct {
		fn  testFunc
		tol float64 // TPE's median gap to the optimum after 100 trials
	}{
		// Medians over 9 seeds sit at gaps of about 0.01-0.03, 0.02-0.04,
		// 0.1-0.3 and 3.2-4.1 on other seed sets.
		{branin(), 0.06},
		{quadratic(), 0.08},
		{hartmann6(), 0.45},
		{rosenbrock4(), 6},
	}
	const seeds = 9
	for _, c := range cases {
		var tpe, rnd []float64
		for seed := range uint64(seeds) {
			tpe = append(tpe, run(t, c.fn, Config{Algorithm: TPE, Seed: seed}, 100))
			rnd = append(rnd, run(t, c.fn, Config{Algorithm: Random, Seed: seed}, 100))
		}
		mt, mr := median(tpe), median(rnd)
		t.Logf("%s: TPE median best %.5g, random %.5g, optimum %.6g", c.fn.name, mt, mr, c.fn.min)
		if mt >= mr {
			t.Errorf("%s: TPE's median best %.5g is no better than random search's %.5g", c.fn.name, mt, mr)
		}
		if mt-c.fn.min > c.tol {
			t.Errorf("%s: TPE's median best %.5g is further than %g from the optimum %.6g", c.fn.name, mt, c.tol, c.fn.min)
		}
	}
}
