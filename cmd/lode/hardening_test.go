package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/lode-ml/lode/auth"
)

// bobsRun has bob create an experiment of his own (any signed-in user
// may) and a run in it; it returns both ids.
func (e *matrixEnv) bobsRun(name string) (exp, run string) {
	e.t.Helper()
	var x struct {
		ExperimentID string `json:"experiment_id"`
	}
	e.must("bob", "POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": name}, &x)
	var r struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	e.must("bob", "POST", "/api/2.0/mlflow/runs/create", map[string]string{"experiment_id": x.ExperimentID}, &r)
	return x.ExperimentID, r.Run.Info.RunID
}

// loggedModelMetrics returns the metrics of a logged model, as alice
// reads them.
func (e *matrixEnv) loggedModelMetrics(id string) []string {
	e.t.Helper()
	var out struct {
		Model struct {
			Data struct {
				Metrics []struct {
					Key   string `json:"key"`
					RunID string `json:"run_id"`
				} `json:"metrics"`
			} `json:"data"`
		} `json:"model"`
	}
	e.must("alice", "GET", "/api/2.0/mlflow/logged-models/"+id, nil, &out)
	var keys []string
	for _, m := range out.Model.Data.Metrics {
		keys = append(keys, m.Key+"@"+m.RunID)
	}
	return keys
}

// A run's permission covers the run only: a metric or an output written
// through one's own run onto a logged model needs EDIT on that model, an
// input naming a model needs READ on it, and a logged model recording its
// source run needs READ on that run (review M2).
func TestPermissionLoggedModelsNamedBesideTheRun(t *testing.T) {
	e, _ := newMatrixEnv(t)
	fx := e.newFixture()
	bobExp, bobRun := e.bobsRun("bob's")
	var own struct {
		Model struct {
			Info struct {
				ModelID string `json:"model_id"`
			} `json:"info"`
		} `json:"model"`
	}
	e.must("bob", "POST", "/api/2.0/mlflow/logged-models", map[string]any{"experiment_id": bobExp, "name": "bobs", "source_run_id": bobRun}, &own)
	bobModel := own.Model.Info.ModelID
	before := e.loggedModelMetrics(fx.loggedModel)

	metric := func(model string) map[string]any {
		return map[string]any{"key": "accuracy", "value": 0.01, "timestamp": 1, "step": 0, "model_id": model}
	}
	calls := func(model string) []struct {
		path string
		body map[string]any
	} {
		return []struct {
			path string
			body map[string]any
		}{
			{"runs/log-metric", map[string]any{"run_id": bobRun, "key": "accuracy", "value": 0.01, "timestamp": 1, "model_id": model}},
			{"runs/log-batch", map[string]any{"run_id": bobRun, "metrics": []any{metric(bobModel), metric(model)}}},
			{"runs/outputs", map[string]any{"run_id": bobRun, "models": []any{map[string]any{"model_id": model, "step": 0}}}},
			{"runs/log-inputs", map[string]any{"run_id": bobRun, "models": []any{map[string]any{"model_id": model}}}},
			{"logged-models", nil},
		}
	}
	ctx := context.Background()
	for _, level := range []auth.Permission{"", auth.Read, auth.Edit} {
		e.auth.Revoke(ctx, "bob", auth.Experiment, fx.exp)
		if level != "" {
			if err := e.auth.Grant(ctx, "bob", auth.Experiment, fx.exp, level, true); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range calls(fx.loggedModel) {
			body := c.body
			if c.path == "logged-models" {
				body = map[string]any{"experiment_id": bobExp, "name": "from-alices-run", "source_run_id": fx.run}
			}
			status, b := e.do("bob", "POST", "/api/2.0/mlflow/"+c.path, nil, body)
			// Inputs and a source run are read; metrics and outputs change the model.
			want := level == auth.Edit || (level == auth.Read && (c.path == "runs/log-inputs" || c.path == "logged-models"))
			if got := status == http.StatusOK; got != want || (!want && status != http.StatusForbidden) {
				t.Errorf("bob (%q on alice's experiment) POST %s naming alice's: %d %.200s; want allowed=%v", level, c.path, status, b, want)
			}
		}
		if level == "" {
			if after := e.loggedModelMetrics(fx.loggedModel); len(after) != len(before) {
				t.Errorf("alice's logged model's metrics were %v, now %v", before, after)
			}
		}
	}
	// His own model, his own run: all his.
	e.auth.Revoke(ctx, "bob", auth.Experiment, fx.exp)
	for _, c := range calls(bobModel) {
		body := c.body
		if c.path == "logged-models" {
			body = map[string]any{"experiment_id": bobExp, "name": "again", "source_run_id": bobRun}
		}
		if status, b := e.do("bob", "POST", "/api/2.0/mlflow/"+c.path, nil, body); status != http.StatusOK {
			t.Errorf("bob POST %s on his own model: %d %s", c.path, status, b)
		}
	}
	var got struct {
		Model struct {
			Data struct {
				Metrics []json.RawMessage `json:"metrics"`
			} `json:"data"`
		} `json:"model"`
	}
	e.must("bob", "GET", "/api/2.0/mlflow/logged-models/"+bobModel, nil, &got)
	if len(got.Model.Data.Metrics) == 0 {
		t.Error("bob's metrics on his own logged model were not kept")
	}
}
