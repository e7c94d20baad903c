package tune

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/lode-ml/lode"
)

// Algorithm is how a searcher proposes trials.
type Algorithm string

// The algorithms.
const (
	// Grid tries every combination of the parameters' grids, the first
	// parameter varying slowest.
	Grid Algorithm = "grid"
	// Random samples each active parameter uniformly (in log space for a
	// log parameter).
	Random Algorithm = "random"
	// TPE is the multivariate tree-structured Parzen estimator, after
	// random startup trials.
	TPE Algorithm = "tpe"
)

// Direction says whether a study minimizes or maximizes its objective.
type Direction string

// The directions.
const (
	Minimize Direction = "minimize"
	Maximize Direction = "maximize"
)

// PrunerType is the early-stopping rule of a study.
type PrunerType string

// The pruners.
const (
	NoPruner  PrunerType = "none"
	ASHA      PrunerType = "asha"
	Hyperband PrunerType = "hyperband"
)

// Config is how a study searches, as its study file writes it:
//
//	algorithm: tpe
//	direction: maximize
//	seed: 42
//	pruner: {type: asha, min_resource: 1, max_resource: 27, reduction_factor: 3}
//
// Zero fields take the defaults that NewSearcher documents.
type Config struct {
	// Algorithm is grid, random or tpe (the default).
	Algorithm Algorithm `json:"algorithm,omitempty" yaml:"algorithm,omitempty"`
	// Direction is minimize (the default) or maximize.
	Direction Direction `json:"direction,omitempty" yaml:"direction,omitempty"`
	// Seed makes the study's proposals reproducible.
	Seed uint64 `json:"seed" yaml:"seed"`
	// StartupTrials is how many finished trials TPE waits for, proposing
	// random ones meanwhile (default 10).
	StartupTrials int `json:"startup_trials,omitempty" yaml:"startup_trials,omitempty"`
	// Candidates is how many candidates TPE draws per proposal and ranks
	// by expected improvement (default 24).
	Candidates int `json:"candidates,omitempty" yaml:"candidates,omitempty"`
	// Pruner stops unpromising trials early; none by default.
	Pruner Pruner `json:"pruner,omitzero" yaml:"pruner,omitempty"`
}

// Pruner configures early stopping. Steps of intermediate values are
// resources (epochs, say): rung k of ASHA is at step
// MinResource·ReductionFactor^k.
type Pruner struct {
	// Type is none (the default), asha or hyperband.
	Type PrunerType `json:"type,omitempty" yaml:"type,omitempty"`
	// MinResource is the step of the first rung (default 1).
	MinResource int64 `json:"min_resource,omitempty" yaml:"min_resource,omitempty"`
	// MaxResource is the step at which a trial is done: no rung is at or
	// beyond it. Optional for ASHA (0: rungs without end), required for
	// Hyperband, whose brackets it sets.
	MaxResource int64 `json:"max_resource,omitempty" yaml:"max_resource,omitempty"`
	// ReductionFactor is η: a trial goes on past a rung only if it is in
	// the top 1/η of the trials that reached the rung (default 3).
	ReductionFactor int64 `json:"reduction_factor,omitempty" yaml:"reduction_factor,omitempty"`
}

const (
	defaultStartup    = 10
	defaultCandidates = 24
	maxCandidates     = 10000
	maxResource       = 1 << 40
)

func (c Config) normalize() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, lode.Errorf(lode.EInvalid, format, args...)
	}
	switch c.Algorithm {
	case "":
		c.Algorithm = TPE
	case Grid, Random, TPE:
	default:
		return bad("algorithm must be grid, random or tpe, not %q", c.Algorithm)
	}
	switch c.Direction {
	case "":
		c.Direction = Minimize
	case Minimize, Maximize:
	default:
		return bad("direction must be minimize or maximize, not %q", c.Direction)
	}
	if c.StartupTrials == 0 {
		c.StartupTrials = defaultStartup
	}
	if c.StartupTrials < 0 {
		return bad("startup_trials must be positive, not %d", c.StartupTrials)
	}
	if c.Candidates == 0 {
		c.Candidates = defaultCandidates
	}
	if c.Candidates < 0 || c.Candidates > maxCandidates {
		return bad("candidates must be between 1 and %d, not %d", maxCandidates, c.Candidates)
	}
	p := &c.Pruner
	switch p.Type {
	case "":
		p.Type = NoPruner
	case NoPruner, ASHA, Hyperband:
	default:
		return bad("pruner type must be none, asha or hyperband, not %q", p.Type)
	}
	if p.Type == NoPruner {
		if *p != (Pruner{Type: NoPruner}) {
			return bad("pruner settings are given but its type is none")
		}
		return c, nil
	}
	if p.MinResource == 0 {
		p.MinResource = 1
	}
	if p.ReductionFactor == 0 {
		p.ReductionFactor = 3
	}
	if p.MinResource < 0 || p.MinResource > maxResource {
		return bad("pruner min_resource must be between 1 and 2^40, not %d", p.MinResource)
	}
	if p.ReductionFactor < 2 || p.ReductionFactor > 1000 {
		return bad("pruner reduction_factor must be between 2 and 1000, not %d", p.ReductionFactor)
	}
	if p.MaxResource < 0 || p.MaxResource > maxResource {
		return bad("pruner max_resource must be between 1 and 2^40, not %d", p.MaxResource)
	}
	if p.Type == Hyperband && p.MaxResource == 0 {
		return bad("a hyperband pruner needs max_resource (the step at which a trial is done)")
	}
	if p.MaxResource != 0 && p.MaxResource < p.MinResource {
		return bad("pruner max_resource %d is below min_resource %d", p.MaxResource, p.MinResource)
	}
	return c, nil
}

// TrialState is a trial's state, named as Optuna names them.
type TrialState string

// The states of a trial. A proposed trial is running (the constant liar
// treats it as a bad result until it finishes).
// A stored trial may also be WAITING: enqueued (by an Optuna client) for a
// worker to claim; a finished trial never changes again.
const (
	Running  TrialState = "RUNNING"
	Waiting  TrialState = "WAITING"
	Complete TrialState = "COMPLETE"
	Pruned   TrialState = "PRUNED"
	Failed   TrialState = "FAIL"
)

// Finished reports whether s is final.
func (s TrialState) Finished() bool { return s == Complete || s == Pruned || s == Failed }

// Valid reports whether s is a known state.
func (s TrialState) Valid() bool { return s == Running || s == Waiting || s.Finished() }

// Point is an intermediate value of a trial at a step.
type Point struct {
	Step  int64   `json:"step"`
	Value float64 `json:"value"`
}

// Decision is a pruner's answer to an intermediate value.
type Decision struct {
	// Prune says to stop the trial; it should end Pruned.
	Prune bool `json:"prune"`
	// Rung is the rung the decision was made at, -1 before the first.
	Rung int `json:"rung"`
	// Reason says why the trial was pruned.
	Reason string `json:"reason,omitempty"`
}

// Trial is what the searcher knows about one trial.
type Trial struct {
	Number int        `json:"number"`
	State  TrialState `json:"state"`
	Params Params     `json:"params"`
	// Value is the objective of a complete trial.
	Value *float64 `json:"value,omitempty"`
	// Intermediate values, by step.
	Intermediate []Point `json:"intermediate,omitempty"`
	// Rungs are the values the pruner recorded at each rung reached, in
	// order (the pruned trial was stopped at rung len(Rungs)-1).
	Rungs []float64 `json:"rungs,omitempty"`
	// Bracket is a Hyperband trial's bracket (0: the most aggressive).
	Bracket int `json:"bracket"`
	// Reason says why a trial was pruned or failed.
	Reason string `json:"reason,omitempty"`
}

// trial is the searcher's record of a trial: x holds the internal value of
// each parameter of the space (NaN: inactive).
type trial struct {
	number  int
	state   TrialState
	x       []float64
	value   float64
	points  []Point
	rungs   []float64
	bracket int
	prune   *Decision
	reason  string
}

// Searcher is a study's decision-making core: a deterministic state machine
// fed with observations (Propose, Report, Complete, Fail, Prune) that
// proposes trials and decides pruning. Given the same space, config and
// observations, it makes the same decisions; its state round-trips through
// MarshalJSON and Restore. A Searcher is not safe for concurrent use.
//
// Randomness comes from a generator seeded with (seed, trial number), so a
// proposal depends only on the seed, the trial's number and the trials
// observed so far.
type Searcher struct {
	space  *Space
	cfg    Config
	trials []*trial
	grid   [][]float64
	groups []group
}

// NewSearcher checks cfg against space and returns a searcher with no
// trials. Errors are EInvalid: a bad config, or a grid search over a
// parameter without a step or a grid list.
func NewSearcher(space *Space, cfg Config) (*Searcher, error) {
	if space == nil {
		return nil, lode.Errorf(lode.EInvalid, "no search space")
	}
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	s := &Searcher{space: space, cfg: cfg, groups: groupsOf(space)}
	if cfg.Algorithm == Grid {
		if s.grid, err = gridOf(space); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Space returns the searcher's space.
func (s *Searcher) Space() *Space { return s.space }

// Config returns the searcher's config, defaults filled in.
func (s *Searcher) Config() Config { return s.cfg }

// Size is the number of trials a grid search proposes; 0 for the others,
// which never run out.
func (s *Searcher) Size() int { return len(s.grid) }

// Propose returns the next trial, now running, numbered from 0. It returns
// false when a grid search has proposed every combination.
func (s *Searcher) Propose() (Trial, bool) {
	n := len(s.trials)
	var x []float64
	switch s.cfg.Algorithm {
	case Grid:
		if n >= len(s.grid) {
			return Trial{}, false
		}
		x = slices.Clone(s.grid[n])
	case Random:
		x = s.sampleRandom(s.rng(n))
	case TPE:
		x = s.sampleTPE(s.rng(n))
	}
	t := &trial{number: n, state: Running, x: x, bracket: s.bracketOf(n)}
	s.trials = append(s.trials, t)
	return s.view(t), true
}

// rng is trial n's random source: the same for the same seed and number,
// whatever happened before.
func (s *Searcher) rng(n int) *rand.Rand {
	return rand.New(rand.NewPCG(s.cfg.Seed, uint64(n)))
}

func (s *Searcher) get(number int, verb string) (*trial, error) {
	if number < 0 || number >= len(s.trials) {
		return nil, lode.Errorf(lode.ENotFound, "no trial %d in this study", number)
	}
	t := s.trials[number]
	if t.state != Running {
		return nil, lode.Errorf(lode.EInvalidState, "cannot %s trial %d: it is %s", verb, number, t.state)
	}
	return t, nil
}

// Report records a running trial's intermediate value at a step (an epoch,
// say) and returns the pruner's decision. A second value at a step already
// reported is ignored, as Optuna ignores it. A value that is not a finite
// number prunes the trial. Errors: ENotFound for an unknown trial,
// EInvalidState for a finished one, EInvalid for a negative step.
func (s *Searcher) Report(number int, step int64, value float64) (Decision, error) {
	t, err := s.get(number, "report a value of")
	if err != nil {
		return Decision{}, err
	}
	if step < 0 {
		return Decision{}, lode.Errorf(lode.EInvalid, "step %d is negative", step)
	}
	if t.prune != nil {
		return *t.prune, nil
	}
	if !finite(value) {
		d := Decision{Prune: true, Rung: len(t.rungs) - 1, Reason: fmt.Sprintf("the value at step %d is %v, not a finite number", step, value)}
		t.prune = &d
		return d, nil
	}
	i, found := slices.BinarySearchFunc(t.points, step, func(p Point, step int64) int { return cmpInt(p.Step, step) })
	if !found {
		t.points = slices.Insert(t.points, i, Point{Step: step, Value: value})
	}
	d := s.decide(t)
	if d.Prune {
		t.prune = &d
	}
	return d, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Complete records a running trial's objective value. Errors: ENotFound,
// EInvalidState (the trial is finished), EInvalid (value not finite; fail
// the trial instead).
func (s *Searcher) Complete(number int, value float64) error {
	t, err := s.get(number, "complete")
	if err != nil {
		return err
	}
	if !finite(value) {
		return lode.Errorf(lode.EInvalid, "trial %d's objective %v is not a finite number", number, value)
	}
	t.state, t.value = Complete, value
	return nil
}

// Fail records that a running trial failed; TPE ignores failed trials.
func (s *Searcher) Fail(number int, reason string) error {
	t, err := s.get(number, "fail")
	if err != nil {
		return err
	}
	t.state, t.reason = Failed, reason
	return nil
}

// Prune records that a running trial ended pruned. An empty reason keeps
// the pruner's, if it decided.
func (s *Searcher) Prune(number int, reason string) error {
	t, err := s.get(number, "prune")
	if err != nil {
		return err
	}
	if reason == "" && t.prune != nil {
		reason = t.prune.Reason
	}
	t.state, t.reason = Pruned, reason
	return nil
}

func (s *Searcher) view(t *trial) Trial {
	v := Trial{Number: t.number, State: t.state, Params: s.space.external(t.x),
		Intermediate: slices.Clone(t.points), Rungs: slices.Clone(t.rungs), Bracket: t.bracket, Reason: t.reason}
	if t.state == Complete {
		val := t.value
		v.Value = &val
	}
	if v.Reason == "" && t.prune != nil {
		v.Reason = t.prune.Reason
	}
	return v
}

// Trial returns trial number.
func (s *Searcher) Trial(number int) (Trial, bool) {
	if number < 0 || number >= len(s.trials) {
		return Trial{}, false
	}
	return s.view(s.trials[number]), true
}

// Trials returns every trial, in order of number.
func (s *Searcher) Trials() []Trial {
	out := make([]Trial, len(s.trials))
	for i, t := range s.trials {
		out[i] = s.view(t)
	}
	return out
}

// Best returns the complete trial with the best value (the lowest numbered
// among equals), or false if none is complete.
func (s *Searcher) Best() (Trial, bool) {
	var best *trial
	for _, t := range s.trials {
		if t.state == Complete && (best == nil || s.better(t.value, best.value)) {
			best = t
		}
	}
	if best == nil {
		return Trial{}, false
	}
	return s.view(best), true
}

// better reports whether a is strictly better than b.
func (s *Searcher) better(a, b float64) bool {
	if s.cfg.Direction == Maximize {
		return a > b
	}
	return a < b
}

// sign turns a value into a loss: lower is better.
func (s *Searcher) loss(v float64) float64 {
	if s.cfg.Direction == Maximize {
		return -v
	}
	return v
}

// stateVersion is the version of the serialized state; Restore refuses
// others.
const stateVersion = 1

type stateJSON struct {
	Version int         `json:"version"`
	Space   *Space      `json:"space"`
	Config  Config      `json:"config"`
	Trials  []trialJSON `json:"trials"`
}

type trialJSON struct {
	Number  int                `json:"number"`
	State   TrialState         `json:"state"`
	Params  map[string]float64 `json:"params"`
	Value   *float64           `json:"value,omitempty"`
	Points  []Point            `json:"intermediate,omitempty"`
	Rungs   []float64          `json:"rungs,omitempty"`
	Bracket int                `json:"bracket,omitempty"`
	Prune   *Decision          `json:"prune,omitempty"`
	Reason  string             `json:"reason,omitempty"`
}

// MarshalJSON writes the searcher's whole state: space, config and trials
// (parameters in Optuna's internal representation).
func (s *Searcher) MarshalJSON() ([]byte, error) {
	st := stateJSON{Version: stateVersion, Space: s.space, Config: s.cfg, Trials: make([]trialJSON, len(s.trials))}
	for i, t := range s.trials {
		tj := trialJSON{Number: t.number, State: t.state, Params: map[string]float64{}, Points: t.points,
			Rungs: t.rungs, Bracket: t.bracket, Prune: t.prune, Reason: t.reason}
		for j, p := range s.space.params {
			if !math.IsNaN(t.x[j]) {
				tj.Params[p.Name] = t.x[j]
			}
		}
		if t.state == Complete {
			v := t.value
			tj.Value = &v
		}
		st.Trials[i] = tj
	}
	return json.Marshal(st)
}

// Restore rebuilds a searcher from what MarshalJSON wrote. Given the same
// observations from then on, it decides exactly as the searcher that was
// saved would have. Errors are EInvalid for state that does not check.
func Restore(data []byte) (*Searcher, error) {
	var st stateJSON
	if err := json.Unmarshal(data, &st); err != nil {
		if lode.ErrorCode(err) == lode.EInvalid {
			return nil, err
		}
		return nil, lode.Errorf(lode.EInvalid, "searcher state: %v", err)
	}
	if st.Version != stateVersion {
		return nil, lode.Errorf(lode.EInvalid, "searcher state version %d; this Lode reads version %d", st.Version, stateVersion)
	}
	s, err := NewSearcher(st.Space, st.Config)
	if err != nil {
		return nil, err
	}
	bad := func(i int, format string, args ...any) (*Searcher, error) {
		return nil, lode.Errorf(lode.EInvalid, "searcher state: trial %d: %s", i, fmt.Sprintf(format, args...))
	}
	for i, tj := range st.Trials {
		if tj.Number != i {
			return bad(i, "numbered %d", tj.Number)
		}
		t := &trial{number: i, state: tj.State, points: tj.Points, rungs: tj.Rungs, bracket: tj.Bracket, prune: tj.Prune, reason: tj.Reason}
		switch t.state {
		case Running, Pruned, Failed:
			if tj.Value != nil {
				return bad(i, "a %s trial has a value", t.state)
			}
		case Complete:
			if tj.Value == nil || !finite(*tj.Value) {
				return bad(i, "a complete trial has no value")
			}
			t.value = *tj.Value
		default:
			return bad(i, "unknown state %q", t.state)
		}
		t.x = make([]float64, len(s.space.params))
		for j, p := range s.space.params {
			t.x[j] = math.NaN()
			v, present := tj.Params[p.Name]
			if s.space.active(p, t.x) != present {
				return bad(i, "parameter %q is present where its condition says otherwise", p.Name)
			}
			if present {
				if !p.contains(v) {
					return bad(i, "parameter %q's value %v is outside its range", p.Name, v)
				}
				t.x[j] = v
			}
		}
		if len(tj.Params) != len(s.space.external(t.x)) {
			return bad(i, "a parameter is not of the space")
		}
		if t.bracket < 0 || (t.bracket > 0 && t.bracket >= len(s.cfg.Pruner.brackets())) {
			return bad(i, "no bracket %d", t.bracket)
		}
		if !slices.IsSortedFunc(t.points, func(a, b Point) int { return cmpInt(a.Step, b.Step) }) {
			return bad(i, "intermediate values are not in order of step")
		}
		s.trials = append(s.trials, t)
	}
	return s, nil
}
