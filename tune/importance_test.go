package tune

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestImportance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var obs []Observation
	for i := 0; i < 80; i++ {
		lr := math.Pow(10, -4+3*r.Float64()) // log-spread, strong effect
		noise := r.Float64()                 // no effect
		opt := float64(r.IntN(3))            // categorical, medium effect
		v := math.Abs(math.Log10(lr)+2.5) + 0.3*opt + 0.05*r.NormFloat64()
		p := map[string]float64{"lr": lr, "noise": noise, "optimizer": opt}
		if i%2 == 0 {
			p["momentum"] = r.Float64() // conditional: half the trials
		}
		obs = append(obs, Observation{Value: v, Params: p})
	}
	obs = append(obs, Observation{Value: math.NaN(), Params: map[string]float64{"lr": 1}})
	got := Importance(obs, []string{"noise", "optimizer", "lr", "momentum"}, map[string]bool{"optimizer": true})
	if len(got) != 4 || got[0].Param != "lr" || got[1].Param != "optimizer" {
		t.Fatalf("order: %+v", got)
	}
	sum := 0.0
	for _, g := range got {
		sum += g.Importance
		if g.Importance < 0 || g.Importance > 1 {
			t.Fatalf("out of range: %+v", got)
		}
	}
	if math.Abs(sum-1) > 1e-9 || got[0].Importance < 0.5 {
		t.Fatalf("importances %+v (sum %v)", got, sum)
	}
	for _, g := range got[2:] {
		if g.Importance > 0.1 {
			t.Fatalf("a parameter without effect got %v: %+v", g.Importance, got)
		}
	}

	// Too few trials, a constant objective: nothing to say.
	if got := Importance(obs[:3], []string{"lr"}, nil); got != nil {
		t.Fatalf("3 trials: %+v", got)
	}
	flat := []Observation{{1, map[string]float64{"a": 1}}, {1, map[string]float64{"a": 2}}, {1, map[string]float64{"a": 3}}, {1, map[string]float64{"a": 4}}}
	if got := Importance(flat, []string{"a"}, nil); len(got) != 1 || got[0].Importance != 0 {
		t.Fatalf("flat: %+v", got)
	}
}

func TestRanksShareTies(t *testing.T) {
	got := ranks([]float64{3, 1, 3, 2})
	want := []float64{3.5, 1, 3.5, 2}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ranks %v, want %v", got, want)
		}
	}
}
