package web

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/tune"
)

// The study pages are SignedInRule routes that check each study
// themselves (checkStudy): a study is not a tracking resource the guard
// knows.
func init() {
	pageRoutes = append(pageRoutes, func(s *Server) []route {
		return []route{
			{"GET /studies", s.studies, mlflowapi.SignedInRule()},
			{"GET /studies/{id}", s.study, mlflowapi.SignedInRule()},
			{"GET /studies/{id}/data", s.studyData, mlflowapi.SignedInRule()},
		}
	})
}

// Bounds that keep a study page light: the trials its table lists (the
// newest; the charts have them all), the intermediate values its script
// gets across all trials (each trial's thinned evenly, its last kept),
// and at most maxStudyTrials trials read at all.
const (
	maxStudyTableRows   = 500
	maxStudyIntermPts   = 200000
	minStudyIntermPerTr = 20
	maxStudyTrials      = 20000
)

// checkStudy says whether the caller may see a study. With authentication
// on, a study tied to an experiment (its tune.ExperimentAttr) is shown to
// whoever may read that experiment; any other study to admins only, as
// Optuna's storage service serves only admins (docs/optuna.md).
func (s *Server) checkStudy(ctx context.Context, st *tune.Study) error {
	if s.Guard.Open() || auth.FromContext(ctx).Admin() {
		return nil
	}
	exp := attrString(st.SystemAttrs[tune.ExperimentAttr])
	if exp == "" {
		return lode.Errorf(lode.EPermission, "Only admins may see study %d: it belongs to no experiment.", st.ID)
	}
	return s.Guard.CheckTarget(ctx, mlflowapi.TargetExperiment, exp, auth.NeedRead, false)
}

// attrString reads an attribute's JSON value as a string: a JSON string,
// or a number written as one ("" for anything else).
func attrString(v string) string {
	var x any
	if v == "" || json.Unmarshal([]byte(v), &x) != nil {
		return ""
	}
	switch x := x.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

func (s *Server) studyStore() (tune.Store, error) {
	if s.Studies == nil {
		return nil, lode.Errorf(lode.ENotFound, "This server keeps no studies.")
	}
	return s.Studies, nil
}

// studyRow is one study of the list.
type studyRow struct {
	ID         int64
	Name       string
	Directions string
	Trials     int
	Counts     []stateCount
	Best       string
	BestTrial  int64
	HasBest    bool
	Last       int64 // ms; 0 when no trial has started
}

type stateCount struct {
	State string
	N     int
}

// trialStates are the states in the order the pages list them.
var trialStates = []tune.TrialState{tune.Complete, tune.Running, tune.Waiting, tune.Pruned, tune.Failed}

func (s *Server) studies(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	store, err := s.studyStore()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	all, err := store.ListStudies(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rows []studyRow
	hidden := 0
	for i := len(all) - 1; i >= 0; i-- { // newest first
		st := all[i]
		if s.checkStudy(ctx, st) != nil {
			hidden++
			continue
		}
		trials, err := store.ListTrials(ctx, st.ID, tune.TrialQuery{All: true})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		row := studyRow{ID: st.ID, Name: st.Name, Directions: directionsText(st.Directions), Trials: len(trials)}
		n := map[tune.TrialState]int{}
		for _, t := range trials {
			n[t.State]++
			row.Last = max(row.Last, millis(t.Start), millis(t.Complete))
		}
		for _, state := range trialStates {
			if n[state] > 0 {
				row.Counts = append(row.Counts, stateCount{string(state), n[state]})
			}
		}
		if b := bestTrial(st, trials); b != nil {
			row.HasBest, row.BestTrial, row.Best = true, b.Number, formatNumber(b.Values[0])
		}
		rows = append(rows, row)
	}
	s.render(w, r, "studies", "Studies", "studies", map[string]any{"Studies": rows, "Hidden": hidden, "Admin": auth.FromContext(ctx).Admin()})
}

func directionsText(ds []tune.Direction) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d)
	}
	return strings.Join(out, ", ")
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// bestTrial is the complete trial with the best finite value of a
// single-objective study (the lowest number among equals); nil for a
// multi-objective study, which has a Pareto front instead.
func bestTrial(st *tune.Study, trials []*tune.TrialRecord) *tune.TrialRecord {
	if len(st.Directions) != 1 {
		return nil
	}
	maximize := st.Directions[0] == tune.Maximize
	var best *tune.TrialRecord
	for _, t := range trials {
		if t.State != tune.Complete || len(t.Values) == 0 || !finite(t.Values[0]) {
			continue
		}
		if best == nil || (maximize && t.Values[0] > best.Values[0]) || (!maximize && t.Values[0] < best.Values[0]) {
			best = t
		}
	}
	return best
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// studyPage is the page of one study.
type studyPage struct {
	ID           int64
	Name         string
	Directions   string
	ExperimentID string
	RunID        string
	Counts       []stateCount
	Trials       int
	Best         *trialRow
	Rows         []trialRow // newest first, at most maxStudyTableRows
	Params       []string
	Objectives   []string
	Importance   []tune.ParamImportance
	Method       string
	UserAttrs    []attrRow
	Script       studyScript
}

type attrRow struct{ Key, Value string }

// trialRow is one trial of the table.
type trialRow struct {
	Number   int64
	State    string
	Values   []string
	Params   []string // in the page's Params order; "" where unset
	Start    int64
	End      int64
	PrunedAt string // "step 12 · rung 2"
	Reason   string
	RunID    string
}

// studyScript is what the page's script draws, and what
// /studies/{id}/data answers while the study runs (with ?version=V, the
// version the page has: {"version", "live", "unchanged": true} alone when
// nothing changed). Parameter values are
// numbers: a categorical parameter's is its choice's index in Choices.
type studyScript struct {
	Directions []string               `json:"directions"`
	Params     []scriptParam          `json:"params"`
	Trials     []scriptTrial          `json:"trials"`
	Importance []tune.ParamImportance `json:"importance"`
	// Live is true while a trial is running or waiting; Version changes
	// whenever anything the page shows does.
	Live    bool   `json:"live"`
	Version string `json:"version"`
}

type scriptParam struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Log     bool     `json:"log"`
	Choices []string `json:"choices,omitempty"`
}

type scriptTrial struct {
	Number int64          `json:"number"`
	State  string         `json:"state"`
	Values []any          `json:"values"` // null where not finite
	Params map[string]any `json:"params"`
	// Steps and Inter are the intermediate values, by step.
	Steps    []int64 `json:"steps,omitempty"`
	Inter    []any   `json:"inter,omitempty"`
	Duration int64   `json:"duration_ms"`
}

// loadStudy reads a study the caller may see, and its trials.
func (s *Server) loadStudy(r *http.Request) (*tune.Study, []*tune.TrialRecord, error) {
	store, err := s.studyStore()
	if err != nil {
		return nil, nil, err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, notFound("No study with id %q.", r.PathValue("id"))
	}
	ctx := r.Context()
	st, err := store.GetStudy(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkStudy(ctx, st); err != nil {
		return nil, nil, err
	}
	trials, err := store.ListTrials(ctx, id, tune.TrialQuery{All: true})
	if err != nil {
		return nil, nil, err
	}
	if len(trials) > maxStudyTrials {
		trials = trials[len(trials)-maxStudyTrials:]
	}
	return st, trials, nil
}

func (s *Server) study(w http.ResponseWriter, r *http.Request) {
	st, trials, err := s.loadStudy(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "study", "Study "+st.Name, "studies", buildStudyPage(st, trials, time.Now()))
}

func (s *Server) studyData(w http.ResponseWriter, r *http.Request) {
	st, trials, err := s.loadStudy(r)
	if err != nil {
		mlflowapi.WriteError(w, r, err)
		return
	}
	p := buildStudyPage(st, trials, time.Now())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	// The page polls with the version it shows: an unchanged study is
	// answered in a few bytes.
	if v := r.URL.Query().Get("version"); v != "" && v == p.Script.Version {
		json.NewEncoder(w).Encode(map[string]any{"version": v, "live": p.Script.Live, "unchanged": true})
		return
	}
	json.NewEncoder(w).Encode(p.Script)
}

// buildStudyPage turns a study and its trials into what the page shows.
func buildStudyPage(st *tune.Study, trials []*tune.TrialRecord, now time.Time) *studyPage {
	p := &studyPage{ID: st.ID, Name: st.Name, Directions: directionsText(st.Directions), Trials: len(trials),
		ExperimentID: attrString(st.SystemAttrs[tune.ExperimentAttr]), RunID: attrString(st.SystemAttrs[tune.RunAttr]),
		Method: tune.ImportanceMethod,
		// Empty lists, not null, for the script.
		Script: studyScript{Directions: []string{}, Params: []scriptParam{}, Trials: []scriptTrial{}, Importance: []tune.ParamImportance{}}}
	for k, v := range st.UserAttrs {
		p.UserAttrs = append(p.UserAttrs, attrRow{k, v})
	}
	sort.Slice(p.UserAttrs, func(i, j int) bool { return p.UserAttrs[i].Key < p.UserAttrs[j].Key })
	for i, d := range st.Directions {
		p.Objectives = append(p.Objectives, fmt.Sprintf("value %d (%s)", i, d))
		p.Script.Directions = append(p.Script.Directions, string(d))
	}
	if len(st.Directions) == 1 {
		p.Objectives[0] = "value (" + string(st.Directions[0]) + ")"
	}

	// The parameters: every name any trial has, each with the distribution
	// it was last given (the store keeps one per name in a study).
	dists := map[string]tune.Distribution{}
	for _, t := range trials {
		for name, tp := range t.Params {
			if d, err := tune.ParseOptunaDistribution([]byte(tp.Distribution)); err == nil {
				dists[name] = d
			} else if _, ok := dists[name]; !ok {
				dists[name] = tune.Distribution{Kind: tune.Float}
			}
		}
	}
	for name := range dists {
		p.Params = append(p.Params, name)
	}
	sort.Strings(p.Params)
	categorical := map[string]bool{}
	for _, name := range p.Params {
		d := dists[name]
		sp := scriptParam{Name: name, Kind: string(d.Kind), Log: d.Log}
		if d.Kind == tune.Categorical {
			categorical[name] = true
			for _, c := range d.Choices {
				sp.Choices = append(sp.Choices, choiceText(c))
			}
		}
		p.Script.Params = append(p.Script.Params, sp)
	}

	n := map[tune.TrialState]int{}
	perTrial := max(minStudyIntermPerTr, maxStudyIntermPts/max(1, len(trials)))
	var obs []tune.Observation
	version := fnv.New64a()
	fmt.Fprintf(version, "%d", len(trials))
	for _, t := range trials {
		n[t.State]++
		if t.State == tune.Running || t.State == tune.Waiting {
			p.Script.Live = true
		}
		end := t.Complete
		if end.IsZero() && t.State == tune.Running {
			end = now
		}
		st := scriptTrial{Number: t.Number, State: string(t.State), Params: map[string]any{}, Values: []any{}}
		if !t.Start.IsZero() && !end.IsZero() {
			st.Duration = end.Sub(t.Start).Milliseconds()
		}
		for _, v := range t.Values {
			st.Values = append(st.Values, jsonNumber(v))
		}
		for name, tp := range t.Params {
			d := dists[name]
			if d.Kind == tune.Categorical {
				st.Params[name] = tp.Value
			} else {
				st.Params[name] = jsonNumber(tp.Value)
			}
		}
		steps := make([]int64, 0, len(t.Intermediate))
		for step := range t.Intermediate {
			steps = append(steps, step)
		}
		sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
		for _, step := range thin(steps, perTrial) {
			st.Steps = append(st.Steps, step)
			st.Inter = append(st.Inter, jsonNumber(t.Intermediate[step]))
		}
		p.Script.Trials = append(p.Script.Trials, st)
		fmt.Fprintf(version, ";%d:%s:%d:%d:%v", t.Number, t.State, len(t.Intermediate), len(t.Params), t.Values)
		if t.State == tune.Complete && len(t.Values) > 0 {
			o := tune.Observation{Value: t.Values[0], Params: map[string]float64{}}
			for name, tp := range t.Params {
				o.Params[name] = tp.Value
			}
			obs = append(obs, o)
		}
	}
	p.Script.Version = strconv.FormatUint(version.Sum64(), 36)
	if len(st.Directions) == 1 {
		p.Importance = tune.Importance(obs, p.Params, categorical)
	}
	if p.Importance != nil {
		p.Script.Importance = p.Importance
	}
	for _, state := range trialStates {
		if n[state] > 0 {
			p.Counts = append(p.Counts, stateCount{string(state), n[state]})
		}
	}
	if b := bestTrial(st, trials); b != nil {
		row := trialRowOf(b, p.Params, dists)
		p.Best = &row
	}
	for i := len(trials) - 1; i >= 0 && len(p.Rows) < maxStudyTableRows; i-- {
		p.Rows = append(p.Rows, trialRowOf(trials[i], p.Params, dists))
	}
	return p
}

// thin keeps at most n of steps, evenly spread, the last always.
func thin(steps []int64, n int) []int64 {
	if len(steps) <= n {
		return steps
	}
	out := make([]int64, 0, n)
	for i := 0; i < n-1; i++ {
		out = append(out, steps[i*len(steps)/(n-1)])
	}
	if last := steps[len(steps)-1]; out[len(out)-1] != last {
		out = append(out, last)
	}
	return out
}

// jsonNumber is x, or nil (JSON null) where x is not finite: JSON has no
// NaN or infinity.
func jsonNumber(x float64) any {
	if !finite(x) {
		return nil
	}
	return x
}

// choiceText is a categorical choice as the page shows it.
func choiceText(c any) string {
	switch c := c.(type) {
	case nil:
		return "None"
	case string:
		return c
	}
	return tune.FormatValue(c)
}

func trialRowOf(t *tune.TrialRecord, params []string, dists map[string]tune.Distribution) trialRow {
	row := trialRow{Number: t.Number, State: string(t.State), Start: millis(t.Start), End: millis(t.Complete),
		RunID: attrString(t.SystemAttrs[tune.RunAttr])}
	for _, v := range t.Values {
		row.Values = append(row.Values, formatNumber(v))
	}
	for _, name := range params {
		tp, ok := t.Params[name]
		if !ok {
			row.Params = append(row.Params, "")
			continue
		}
		d := dists[name]
		if d.Kind == tune.Categorical {
			row.Params = append(row.Params, choiceText(d.ToExternal(tp.Value)))
		} else if d.Kind == tune.Int {
			row.Params = append(row.Params, tune.FormatValue(d.ToExternal(tp.Value)))
		} else {
			row.Params = append(row.Params, formatNumber(tp.Value))
		}
	}
	if t.State == tune.Pruned {
		row.PrunedAt, row.Reason = prunedAt(t)
	}
	return row
}

// prunedAt says where a pruned trial stopped: the last step it reported
// an intermediate value at (where Optuna's pruners decide) and, when its
// attributes tell, the rung: Optuna's successive-halving pruners record
// completed_rung_<n> for each rung a trial reached, Lode's own runner a
// reason (tune.ReasonAttr).
func prunedAt(t *tune.TrialRecord) (where, reason string) {
	var parts []string
	if len(t.Intermediate) > 0 {
		last := int64(math.MinInt64)
		for step := range t.Intermediate {
			last = max(last, step)
		}
		parts = append(parts, fmt.Sprintf("step %d", last))
	}
	rung := -1
	for k := range t.SystemAttrs {
		if n, ok := strings.CutPrefix(k, "completed_rung_"); ok {
			if i, err := strconv.Atoi(n); err == nil && i > rung {
				rung = i
			}
		}
	}
	if rung >= 0 {
		parts = append(parts, fmt.Sprintf("rung %d", rung))
	}
	return strings.Join(parts, " · "), attrString(t.SystemAttrs[tune.ReasonAttr])
}
