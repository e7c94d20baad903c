package tuner

import (
	"strings"
	"testing"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tune"
)

func fp(v float64) *float64 { return &v }

func validSpec() Spec {
	return Spec{Name: "s1", Space: []tune.ParamSpec{
		{Name: "lr", Type: tune.Float, Low: fp(1e-4), High: fp(1), Log: true},
		{Name: "opt", Type: tune.Categorical, Values: []any{"sgd", "adam"}},
		{Name: "momentum", Type: tune.Float, Low: fp(0), High: fp(0.9), When: &tune.Condition{Param: "opt", Values: []any{"sgd"}}},
	}, Objective: Objective{Metric: "loss"}, Trial: Trial{Command: "python train.py --lr {lr}"}}
}

func TestSpecCheck(t *testing.T) {
	sp := validSpec()
	sr, err := sp.Check()
	if err != nil {
		t.Fatal(err)
	}
	if sp.ExperimentID != "0" || sp.Objective.Direction != tune.Minimize || sp.Objective.Use != UseLast ||
		sp.Budget.MaxTrials != 10 || sp.Budget.MaxParallel != 1 || sr.Config().Direction != tune.Minimize {
		t.Errorf("defaults: %+v", sp)
	}
	for _, c := range []struct {
		name   string
		change func(*Spec)
		want   string
	}{
		{"bad name", func(s *Spec) { s.Name = "a b" }, "name"},
		{"no metric", func(s *Spec) { s.Objective.Metric = " " }, "objective.metric"},
		{"bad direction", func(s *Spec) { s.Objective.Direction = "up" }, "objective.direction"},
		{"bad use", func(s *Spec) { s.Objective.Use = "first" }, "objective.use"},
		{"two directions", func(s *Spec) { s.Search.Direction = tune.Maximize }, "search.direction"},
		{"no trial", func(s *Spec) { s.Trial.Command = "" }, "command or an MLproject uri"},
		{"both", func(s *Spec) { s.Trial.URI = "." }, "both"},
		{"entry point without uri", func(s *Spec) { s.Trial.EntryPoint = "main" }, "entry_point"},
		{"bad env manager", func(s *Spec) { s.Trial.Command, s.Trial.URI, s.Trial.EnvManager, s.WorkDir = "", ".", "conda", "/w" }, "env_manager"},
		{"relative uri without a work dir", func(s *Spec) { s.Trial.Command, s.Trial.URI = "", "proj" }, "work_dir"},
		{"max trials", func(s *Spec) { s.Budget.MaxTrials = -1 }, "max_trials"},
		{"max parallel", func(s *Spec) { s.Budget.MaxParallel = 5000 }, "max_parallel"},
		{"max time", func(s *Spec) { s.Budget.MaxTime = "soon" }, "max_time"},
		{"negative max time", func(s *Spec) { s.Budget.MaxTime = "-1m" }, "max_time"},
		{"timeout", func(s *Spec) { s.Trial.TimeoutSeconds = -1 }, "timeout_seconds"},
		{"empty space", func(s *Spec) { s.Space = nil }, "no parameters"},
		{"grid of a continuous float", func(s *Spec) { s.Search.Algorithm = tune.Grid }, "grid"},
		{"bad pruner", func(s *Spec) { s.Search.Pruner.Type = "median" }, "pruner"},
	} {
		sp := validSpec()
		c.change(&sp)
		_, err := sp.Check()
		if lode.ErrorCode(err) != lode.EInvalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want EInvalid naming %q", c.name, err, c.want)
		}
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{"lr": "LODE_PARAM_LR", "model.depth": "LODE_PARAM_MODEL_DEPTH",
		"a-b/c": "LODE_PARAM_A_B_C", "n_estimators": "LODE_PARAM_N_ESTIMATORS", "C": "LODE_PARAM_C"} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRender(t *testing.T) {
	sp := validSpec()
	sp.Space = append(sp.Space, tune.ParamSpec{Name: "lr_decay", Type: tune.Float, Low: fp(0), High: fp(1)},
		tune.ParamSpec{Name: "note", Type: tune.Categorical, Values: []any{"it's", "a b"}})
	space, err := tune.NewSpace(sp.Space)
	if err != nil {
		t.Fatal(err)
	}
	got := Render("train --lr {lr} --decay {lr_decay} --opt {opt} --m {momentum} --note {note} ${HOME} {other}", space,
		tune.Params{"lr": 0.001, "lr_decay": 0.5, "opt": "adam", "note": "it's"})
	want := `train --lr 0.001 --decay 0.5 --opt adam --m '' --note 'it'\''s' ${HOME} {other}`
	if got != want {
		t.Errorf("Render:\n got %s\nwant %s", got, want)
	}
	env := trialEnv(&Spec{Name: "s", Trial: Trial{Env: map[string]string{"A": "1"}}}, 7, 3, tune.Params{"lr": 0.5, "flag": true, "n": int64(4)})
	for k, v := range map[string]string{"A": "1", "LODE_PARAM_LR": "0.5", "LODE_PARAM_FLAG": "true", "LODE_PARAM_N": "4",
		"LODE_STUDY_ID": "7", "LODE_STUDY_NAME": "s", "LODE_TRIAL_NUMBER": "3"} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
}
