// Command tunebench runs Lode's TPE searcher (package tune) on a standard
// test function for the tuning quality benchmark (bench/tune.py,
// docs/benchmarks.md): sequential trials, one JSON line per seed with the
// best value after each checkpoint.
//
//	tunebench -func branin -seeds 0-19 -trials 100 -checkpoints 50,100
//
// The functions are defined here and in bench/tune.py alike: branin
// (2-d, minimum 0.397887), hartmann6 (6-d, minimum -3.32237) and
// rosenbrock10 (10-d on [-5, 10], minimum 0).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/lode-ml/lode/tune"
)

type function struct {
	low, high []float64
	f         func([]float64) float64
}

func functions() map[string]function {
	box := func(n int, lo, hi float64) ([]float64, []float64) {
		l, h := make([]float64, n), make([]float64, n)
		for i := range l {
			l[i], h[i] = lo, hi
		}
		return l, h
	}
	h6lo, h6hi := box(6, 0, 1)
	r10lo, r10hi := box(10, -5, 10)
	alpha := []float64{1.0, 1.2, 3.0, 3.2}
	a := [4][6]float64{{10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14}, {3, 3.5, 1.7, 10, 17, 8}, {17, 8, 0.05, 10, 0.1, 14}}
	p := [4][6]float64{{1312, 1696, 5569, 124, 8283, 5886}, {2329, 4135, 8307, 3736, 1004, 9991},
		{2348, 1451, 3522, 2883, 3047, 6650}, {4047, 8828, 8732, 5743, 1091, 381}}
	return map[string]function{
		"branin": {[]float64{-5, 0}, []float64{10, 15}, func(x []float64) float64 {
			b, c, t := 5.1/(4*math.Pi*math.Pi), 5/math.Pi, 1/(8*math.Pi)
			return math.Pow(x[1]-b*x[0]*x[0]+c*x[0]-6, 2) + 10*(1-t)*math.Cos(x[0]) + 10
		}},
		"hartmann6": {h6lo, h6hi, func(x []float64) float64 {
			var s float64
			for i := range 4 {
				var e float64
				for j := range 6 {
					e += a[i][j] * math.Pow(x[j]-p[i][j]*1e-4, 2)
				}
				s += alpha[i] * math.Exp(-e)
			}
			return -s
		}},
		"rosenbrock10": {r10lo, r10hi, func(x []float64) float64 {
			var s float64
			for i := 0; i+1 < len(x); i++ {
				s += 100*math.Pow(x[i+1]-x[i]*x[i], 2) + math.Pow(1-x[i], 2)
			}
			return s
		}},
	}
}

func main() {
	name := flag.String("func", "branin", "branin, hartmann6 or rosenbrock10")
	seeds := flag.String("seeds", "0-19", "seeds, as first-last")
	trials := flag.Int("trials", 100, "trials per study")
	checkpoints := flag.String("checkpoints", "50,100", "trial counts at which to print the best value")
	algorithm := flag.String("algorithm", "tpe", "tpe or random")
	flag.Parse()
	if err := run(*name, *seeds, *trials, *checkpoints, tune.Algorithm(*algorithm)); err != nil {
		fmt.Fprintln(os.Stderr, "tunebench:", err)
		os.Exit(1)
	}
}

func run(name, seeds string, trials int, checkpoints string, algorithm tune.Algorithm) error {
	fn, ok := functions()[name]
	if !ok {
		return fmt.Errorf("no function %q", name)
	}
	first, last, ok := strings.Cut(seeds, "-")
	if !ok {
		last = first
	}
	lo, err1 := strconv.ParseUint(first, 10, 64)
	hi, err2 := strconv.ParseUint(last, 10, 64)
	if err1 != nil || err2 != nil || hi < lo {
		return fmt.Errorf("bad -seeds %q", seeds)
	}
	at := map[int]bool{}
	for _, c := range strings.Split(checkpoints, ",") {
		n, err := strconv.Atoi(c)
		if err != nil {
			return fmt.Errorf("bad -checkpoints %q", checkpoints)
		}
		at[n] = true
	}
	var specs []tune.ParamSpec
	for i := range fn.low {
		specs = append(specs, tune.ParamSpec{Name: fmt.Sprintf("x%d", i), Type: tune.Float, Low: &fn.low[i], High: &fn.high[i]})
	}
	space, err := tune.NewSpace(specs)
	if err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	for seed := lo; seed <= hi; seed++ {
		s, err := tune.NewSearcher(space, tune.Config{Algorithm: algorithm, Seed: seed})
		if err != nil {
			return err
		}
		best := map[string]float64{}
		min := math.Inf(1)
		x := make([]float64, len(fn.low))
		for n := 1; n <= trials; n++ {
			t, _ := s.Propose()
			for i := range x {
				x[i] = t.Params[fmt.Sprintf("x%d", i)].(float64)
			}
			v := fn.f(x)
			min = math.Min(min, v)
			if err := s.Complete(t.Number, v); err != nil {
				return err
			}
			if at[n] {
				best[strconv.Itoa(n)] = min
			}
		}
		if err := out.Encode(map[string]any{"func": name, "seed": seed, "best": best}); err != nil {
			return err
		}
	}
	return nil
}
