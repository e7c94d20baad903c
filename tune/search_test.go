package tune

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lode-ml/lode"
)

func mustSearcher(t *testing.T, specs []ParamSpec, cfg Config) *Searcher {
	t.Helper()
	space, err := NewSpace(specs)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSearcher(space, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func propose(t *testing.T, s *Searcher) Trial {
	t.Helper()
	tr, ok := s.Propose()
	if !ok {
		t.Fatal("no proposal")
	}
	return tr
}

func TestGridEnumeratesExactly(t *testing.T) {
	specs := []ParamSpec{
		{Name: "a", Type: Categorical, Values: []any{"x", "y"}},
		{Name: "b", Type: Int, Low: f(1), High: f(5), Step: f(2)},
		{Name: "c", Type: Float, Low: f(0.001), High: f(1), Log: true, Grid: []float64{0.01, 0.1}},
		{Name: "d", Type: Float, Low: f(0), High: f(0.3), Step: f(0.1), When: &Condition{Param: "a", Values: []any{"x"}}},
	}
	s := mustSearcher(t, specs, Config{Algorithm: Grid})
	var want []string
	for _, a := range []string{"x", "y"} {
		for _, b := range []int{1, 3, 5} {
			for _, c := range []float64{0.01, 0.1} {
				if a == "y" {
					want = append(want, fmt.Sprintf("a=%s b=%d c=%v", a, b, c))
					continue
				}
				for _, d := range []float64{0, 0.1, 0.2, 0.3} {
					want = append(want, fmt.Sprintf("a=%s b=%d c=%v d=%v", a, b, c, d))
				}
			}
		}
	}
	var got []string
	for {
		tr, ok := s.Propose()
		if !ok {
			break
		}
		p := tr.Params
		line := fmt.Sprintf("a=%s b=%d c=%v", p["a"], p["b"], p["c"])
		if d, ok := p["d"]; ok {
			line += fmt.Sprintf(" d=%v", d)
		}
		got = append(got, line)
		s.Complete(tr.Number, 0)
	}
	if !slices.Equal(got, want) || s.Size() != len(want) {
		t.Fatalf("grid (size %d):\n%s\nwant:\n%s", s.Size(), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, ok := s.Propose(); ok {
		t.Fatal("a proposal after the grid's end")
	}

	_, err := NewSearcher(mustSpace(t, []ParamSpec{{Name: "lr", Type: Float, Low: f(0), High: f(1)}}), Config{Algorithm: Grid})
	if lode.ErrorCode(err) != lode.EInvalid || !strings.Contains(err.Error(), `parameter "lr" is continuous; give it a step or a grid list`) {
		t.Fatalf("grid over a continuous parameter: %v", err)
	}
	_, err = NewSearcher(mustSpace(t, []ParamSpec{{Name: "n", Type: Int, Low: f(0), High: f(1e9)}}), Config{Algorithm: Grid})
	if lode.ErrorCode(err) != lode.EInvalid || !strings.Contains(err.Error(), "more than 100000 steps") {
		t.Fatalf("a huge grid: %v", err)
	}
}

func mustSpace(t *testing.T, specs []ParamSpec) *Space {
	t.Helper()
	s, err := NewSpace(specs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRandomCoversRanges(t *testing.T) {
	specs := []ParamSpec{
		{Name: "u", Type: Float, Low: f(-2), High: f(2)},
		{Name: "lg", Type: Float, Low: f(1e-4), High: f(1), Log: true},
		{Name: "st", Type: Float, Low: f(0), High: f(1), Step: f(0.25)},
		{Name: "i", Type: Int, Low: f(1), High: f(4)},
		{Name: "il", Type: Int, Low: f(1), High: f(1000), Log: true},
		{Name: "is", Type: Int, Low: f(0), High: f(10), Step: f(5)},
		{Name: "opt", Type: Categorical, Values: []any{"sgd", "adam", "rmsprop"}},
		{Name: "mom", Type: Float, Low: f(0), High: f(1), When: &Condition{Param: "opt", Values: []any{"sgd", "rmsprop"}}},
		{Name: "nest", Type: Categorical, Values: []any{true, false}, When: &Condition{Param: "opt", Values: []any{"sgd"}}},
	}
	s := mustSearcher(t, specs, Config{Algorithm: Random, Seed: 7})
	const n = 4000
	seen := map[string]map[any]int{}
	var lgLow, ilLow, uNeg int
	for range n {
		p := propose(t, s).Params
		for k, v := range p {
			if seen[k] == nil {
				seen[k] = map[any]int{}
			}
			if k != "u" && k != "lg" && k != "mom" {
				seen[k][v]++
			}
		}
		u, lg := p["u"].(float64), p["lg"].(float64)
		if u < -2 || u > 2 || lg < 1e-4 || lg > 1 {
			t.Fatalf("out of range: %v", p)
		}
		if u < 0 {
			uNeg++
		}
		if lg < 1e-2 {
			lgLow++
		}
		if p["il"].(int64) <= 31 {
			ilLow++
		}
		_, hasMom := p["mom"]
		_, hasNest := p["nest"]
		if hasMom != (p["opt"] != "adam") || hasNest != (p["opt"] == "sgd") {
			t.Fatalf("conditional parameters wrong: %v", p)
		}
		if m, ok := p["mom"].(float64); ok && (m < 0 || m > 1) {
			t.Fatalf("mom out of range: %v", p)
		}
	}
	within := func(name string, count int, frac float64) {
		if got := float64(count) / n; math.Abs(got-frac) > 0.04 {
			t.Errorf("%s: fraction %.3f, want about %.2f", name, got, frac)
		}
	}
	within("u < 0", uNeg, 0.5)
	within("lg < 0.01 (log-uniform)", lgLow, 0.5)
	within("il <= 31 (log-uniform int)", ilLow, 0.5)
	wantKeys := map[string][]any{
		"st": {0.0, 0.25, 0.5, 0.75, 1.0}, "i": {int64(1), int64(2), int64(3), int64(4)},
		"is": {int64(0), int64(5), int64(10)}, "opt": {"sgd", "adam", "rmsprop"}, "nest": {true, false},
	}
	for name, values := range wantKeys {
		if len(seen[name]) != len(values) {
			t.Errorf("%s took %v, want exactly %v", name, seen[name], values)
		}
		for _, v := range values {
			if seen[name][v] == 0 {
				t.Errorf("%s never took %v (took %v)", name, v, seen[name])
			}
		}
	}
	// A wide int range is covered to its end.
	w := mustSearcher(t, []ParamSpec{{Name: "n", Type: Int, Low: f(0), High: f(1 << 50)}}, Config{Algorithm: Random})
	if n := propose(t, w).Params["n"].(int64); n < 1<<40 {
		t.Errorf("n = %d from [0, 2^50]", n)
	}
	for v := range seen["il"] {
		if i := v.(int64); i < 1 || i > 1000 {
			t.Errorf("il = %d", i)
		}
	}
}

// A TPE study over a conditional space proposes exactly the active
// parameters, each in range, and the study's objective improves.
func TestTPEConditional(t *testing.T) {
	s := mustSearcher(t, yamlSpace(t).Specs(), Config{Algorithm: TPE, Seed: 3, Direction: Maximize})
	space := s.Space()
	objective := func(p Params) float64 {
		v := -math.Abs(math.Log10(p["lr"].(float64)) + 2)
		switch p["optimizer"] {
		case "sgd":
			v += p["momentum"].(float64)
		case "adam":
			v += 1.5 - 10*math.Abs(p["beta1"].(float64)-0.9)
		}
		return v
	}
	for range 60 {
		tr := propose(t, s)
		if _, err := space.Check(tr.Params); err != nil {
			t.Fatalf("trial %d: %v: %v", tr.Number, tr.Params, err)
		}
		if err := s.Complete(tr.Number, objective(tr.Params)); err != nil {
			t.Fatal(err)
		}
	}
	best, _ := s.Best()
	if *best.Value < 1 {
		t.Errorf("best after 60 trials: %v %v", *best.Value, best.Params)
	}
	// The later half should pick adam (the best branch) more often than chance.
	adam := 0
	for _, tr := range s.Trials()[30:] {
		if tr.Params["optimizer"] == "adam" {
			adam++
		}
	}
	if adam < 10 {
		t.Errorf("adam in %d of the last 30 trials", adam)
	}
}

// With pending trials, TPE's constant liar counts them as bad results so
// parallel proposals spread instead of repeating the best guess.
func TestConstantLiar(t *testing.T) {
	s := mustSearcher(t, []ParamSpec{{Name: "x", Type: Int, Low: f(0), High: f(40)}}, Config{Seed: 1})
	for range 20 {
		tr := propose(t, s)
		x := float64(tr.Params["x"].(int64))
		s.Complete(tr.Number, (x-17)*(x-17))
	}
	const k = 6
	var xs []int64
	for range k {
		xs = append(xs, propose(t, s).Params["x"].(int64))
	}
	if len(slices.Compact(slices.Sorted(slices.Values(xs)))) != k {
		t.Fatalf("%d pending proposals collide: %v", k, xs)
	}
	below, above := s.split()
	for _, tr := range below {
		if tr.state == Running {
			t.Fatalf("a running trial is among the good ones")
		}
	}
	running := 0
	for _, tr := range above {
		if tr.state == Running {
			running++
		}
	}
	if running != k || len(below) != 2 {
		t.Fatalf("split: %d below, %d running above", len(below), running)
	}
}

// observe plays a scripted study on s: each trial reports a curve, and
// ends as its script says. It returns a log of every decision.
func observe(t *testing.T, s *Searcher, from, to int) []string {
	t.Helper()
	var log []string
	for i := from; i < to; i++ {
		tr := propose(t, s)
		// Finish an older trial now and then, so that some stay pending.
		if i >= 3 {
			old := s.trials[i-3]
			if old.state == Running {
				switch {
				case old.prune != nil:
					s.Prune(old.number, "")
				case i%7 == 0:
					s.Fail(old.number, "exit status 1")
				default:
					v := 0.0
					params := s.view(old).Params
					for _, name := range slices.Sorted(maps.Keys(params)) {
						if f, ok := params[name].(float64); ok {
							v += f * float64(len(name))
						}
					}
					s.Complete(old.number, v)
				}
			}
		}
		for step := int64(1); step <= 9; step++ {
			d, err := s.Report(tr.Number, step, math.Sin(float64(i*7+int(step))))
			if err != nil {
				t.Fatal(err)
			}
			log = append(log, fmt.Sprintf("%d@%d:%v", tr.Number, step, d.Prune))
			if d.Prune {
				break
			}
		}
		log = append(log, fmt.Sprint(tr.Params))
	}
	return log
}

// The same seed and observations give the same proposals and decisions;
// a searcher restored midway goes on exactly as the unbroken one.
func TestDeterminismAndRestore(t *testing.T) {
	configs := []Config{
		{Algorithm: TPE, Seed: 11, Pruner: Pruner{Type: ASHA}},
		{Algorithm: TPE, Seed: 12, Direction: Maximize, StartupTrials: 5, Pruner: Pruner{Type: Hyperband, MaxResource: 9}},
		{Algorithm: Random, Seed: 13},
	}
	for _, cfg := range configs {
		specs := yamlSpace(t).Specs()
		a := mustSearcher(t, specs, cfg)
		b := mustSearcher(t, specs, cfg)
		la := observe(t, a, 0, 40)
		lb := observe(t, b, 0, 20)
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Restore(data)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(r)
		if string(again) != string(data) {
			t.Fatalf("state changed in a round trip:\n%s\n%s", data, again)
		}
		lb = append(lb, observe(t, r, 20, 40)...)
		if !slices.Equal(la, lb) {
			t.Fatalf("%+v: restored searcher diverged", cfg)
		}
		for i, tr := range a.Trials() {
			if o, _ := r.Trial(i); !reflect.DeepEqual(tr, o) {
				t.Fatalf("%+v: trial %d differs after restore:\n%#v\n%#v", cfg, i, tr, o)
			}
		}
		c := mustSearcher(t, specs, Config{Algorithm: cfg.Algorithm, Seed: cfg.Seed + 100, Pruner: cfg.Pruner, Direction: cfg.Direction})
		if slices.Equal(la, observe(t, c, 0, 40)) {
			t.Fatalf("%+v: another seed gives the same study", cfg)
		}
	}
	g := mustSearcher(t, []ParamSpec{{Name: "a", Type: Int, Low: f(0), High: f(9)}}, Config{Algorithm: Grid})
	propose(t, g)
	propose(t, g)
	data, _ := json.Marshal(g)
	r, err := Restore(data)
	if err != nil {
		t.Fatal(err)
	}
	if tr := propose(t, r); tr.Number != 2 || tr.Params["a"] != int64(2) {
		t.Fatalf("restored grid proposes %+v", tr)
	}
}

func TestRestoreErrors(t *testing.T) {
	s := mustSearcher(t, yamlSpace(t).Specs(), Config{Seed: 1})
	propose(t, s)
	good, _ := json.Marshal(s)
	cases := map[string]string{
		`"version":1`:                `"version":2`,
		`"algorithm":"tpe"`:          `"algorithm":"bayes"`,
		`"state":"RUNNING"`:          `"state":"WAITING"`,
		`"params":{`:                 `"params":{"momentum":0.5,`,
		`"name":"lr","type":"float"`: `"name":"lr","type":"double"`,
	}
	for from, to := range cases {
		bad := strings.Replace(string(good), from, to, 1)
		if bad == string(good) {
			t.Fatalf("%s not in %s", from, good)
		}
		if _, err := Restore([]byte(bad)); lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("%s: %v, want EInvalid", to, err)
		}
	}
	if _, err := Restore([]byte("{")); lode.ErrorCode(err) != lode.EInvalid {
		t.Errorf("truncated state: %v", err)
	}
}

func TestObservationErrors(t *testing.T) {
	s := mustSearcher(t, []ParamSpec{{Name: "x", Type: Float, Low: f(0), High: f(1)}}, Config{Algorithm: Random, Pruner: Pruner{Type: ASHA}})
	tr := propose(t, s)
	if _, err := s.Report(5, 1, 0); lode.ErrorCode(err) != lode.ENotFound {
		t.Errorf("report on an unknown trial: %v", err)
	}
	if _, err := s.Report(tr.Number, -1, 0); lode.ErrorCode(err) != lode.EInvalid {
		t.Errorf("negative step: %v", err)
	}
	if err := s.Complete(tr.Number, math.NaN()); lode.ErrorCode(err) != lode.EInvalid {
		t.Errorf("NaN objective: %v", err)
	}
	d, err := s.Report(tr.Number, 0, math.Inf(1))
	if err != nil || !d.Prune || !strings.Contains(d.Reason, "not a finite number") {
		t.Errorf("infinite intermediate value: %+v %v", d, err)
	}
	if err := s.Complete(tr.Number, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(tr.Number, 1); lode.ErrorCode(err) != lode.EInvalidState {
		t.Errorf("completing twice: %v", err)
	}
	if _, err := s.Report(tr.Number, 2, 0); lode.ErrorCode(err) != lode.EInvalidState {
		t.Errorf("report after completion: %v", err)
	}
	bad := []Config{
		{Algorithm: "bayes"}, {Direction: "up"}, {StartupTrials: -1}, {Candidates: -1},
		{Pruner: Pruner{Type: "median"}}, {Pruner: Pruner{Type: Hyperband}}, {Pruner: Pruner{Type: ASHA, ReductionFactor: 1}},
		{Pruner: Pruner{Type: ASHA, MinResource: 10, MaxResource: 5}}, {Pruner: Pruner{MinResource: 3}},
	}
	for _, cfg := range bad {
		if _, err := NewSearcher(s.Space(), cfg); lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("config %+v: %v, want EInvalid", cfg, err)
		}
	}
}
