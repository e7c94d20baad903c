package tuner

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"slices"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tune"
)

// View is a study as the REST API and the CLI show it.
type View struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	ExperimentID string `json:"experiment_id"`
	// RunID is the study's run; its trials' runs are its children.
	RunID     string `json:"run_id"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	StartedMs int64  `json:"started_ms"`
	EndedMs   int64  `json:"ended_ms,omitempty"`
	Spec      Spec   `json:"spec"`
	// TrialCounts counts trials by state.
	TrialCounts map[tune.TrialState]int `json:"trial_counts"`
	Best        *TrialView              `json:"best_trial,omitempty"`
	// Trials, by number, in a get (not in a list).
	Trials []TrialView `json:"trials,omitempty"`
}

// TrialView is one trial of a View.
type TrialView struct {
	Number int             `json:"number"`
	State  tune.TrialState `json:"state"`
	Params tune.Params     `json:"params"`
	Value  *float64        `json:"value,omitempty"`
	// Intermediate values of the objective by step, as reported to the
	// pruner.
	Intermediate []tune.Point `json:"intermediate_values,omitempty"`
	JobID        string       `json:"job_id,omitempty"`
	RunID        string       `json:"run_id,omitempty"`
	// Reason says why a trial was pruned or failed.
	Reason  string `json:"reason,omitempty"`
	StartMs int64  `json:"start_ms,omitempty"`
	EndMs   int64  `json:"end_ms,omitempty"`
}

// Get returns a study with its trials. Errors: ENotFound, also for a
// study an Optuna client keeps.
func (r *Runner) Get(ctx context.Context, id int64) (*View, error) {
	st, err := r.Studies.Store.GetStudy(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.view(ctx, st, true)
}

// GetByName returns a study by its name.
func (r *Runner) GetByName(ctx context.Context, name string) (*View, error) {
	st, err := r.Studies.Store.GetStudyByName(ctx, name)
	if err != nil {
		return nil, err
	}
	return r.view(ctx, st, true)
}

// List returns every lode tune study, oldest first, without their trials.
func (r *Runner) List(ctx context.Context) ([]*View, error) {
	sts, err := r.Studies.Store.ListStudies(ctx)
	if err != nil {
		return nil, err
	}
	out := []*View{}
	for _, st := range sts {
		if st.SystemAttrs[AttrSpec] == "" {
			continue
		}
		v, err := r.view(ctx, st, false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (r *Runner) view(ctx context.Context, st *tune.Study, withTrials bool) (*View, error) {
	if st.SystemAttrs[AttrSpec] == "" {
		return nil, lode.Errorf(lode.ENotFound, "Study %d is not a lode tune study (an Optuna client keeps it).", st.ID)
	}
	v := &View{ID: st.ID, Name: st.Name, TrialCounts: map[tune.TrialState]int{}}
	if err := json.Unmarshal([]byte(st.SystemAttrs[AttrSpec]), &v.Spec); err != nil {
		return nil, lode.Errorf(lode.EInternal, "study %s: spec: %v", st.Name, err)
	}
	var state State
	if err := json.Unmarshal([]byte(st.SystemAttrs[AttrState]), &state); err != nil {
		return nil, lode.Errorf(lode.EInternal, "study %s: state: %v", st.Name, err)
	}
	v.ExperimentID, v.RunID, v.Status, v.Reason, v.StartedMs, v.EndedMs = v.Spec.ExperimentID, state.RunID, state.Status, state.Reason, state.StartedMs, state.EndedMs
	space, err := tune.NewSpace(v.Spec.Space)
	if err != nil {
		return nil, err
	}
	recs, err := r.Studies.Store.ListTrials(ctx, st.ID, tune.TrialQuery{All: true})
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		t := trialView(space, rec)
		v.TrialCounts[t.State]++
		if t.State == tune.Complete && t.Value != nil && (v.Best == nil || better(v.Spec.Objective.Direction, *t.Value, *v.Best.Value)) {
			b := t
			v.Best = &b
		}
		if withTrials {
			v.Trials = append(v.Trials, t)
		}
	}
	return v, nil
}

func better(d tune.Direction, a, b float64) bool {
	if d == tune.Maximize {
		return a > b
	}
	return a < b
}

func trialView(space *tune.Space, rec *tune.TrialRecord) TrialView {
	t := TrialView{Number: int(rec.Number), State: rec.State, Params: tune.Params{},
		JobID: attrString(rec.SystemAttrs[AttrJobID]), RunID: attrString(rec.SystemAttrs[AttrRunID]),
		Reason: attrString(rec.SystemAttrs[AttrReason])}
	for name, p := range rec.Params {
		if sp, ok := space.Param(name); ok {
			t.Params[name] = sp.ToExternal(p.Value)
		}
	}
	if rec.State == tune.Complete && len(rec.Values) == 1 && !math.IsNaN(rec.Values[0]) {
		v := rec.Values[0]
		t.Value = &v
	}
	for _, step := range slices.Sorted(maps.Keys(rec.Intermediate)) {
		t.Intermediate = append(t.Intermediate, tune.Point{Step: step, Value: rec.Intermediate[step]})
	}
	if !rec.Start.IsZero() {
		t.StartMs = rec.Start.UnixMilli()
	}
	if !rec.Complete.IsZero() {
		t.EndMs = rec.Complete.UnixMilli()
	}
	return t
}
