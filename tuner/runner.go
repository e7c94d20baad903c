package tuner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/mlproject"
	"github.com/lode-ml/lode/tracking"
	"github.com/lode-ml/lode/tune"
)

// Jobs is what the runner needs of the job service (jobs.Service).
type Jobs interface {
	Submit(ctx context.Context, spec jobs.Spec) (*jobs.Job, error)
	Get(ctx context.Context, id string) (*jobs.Job, error)
	Cancel(ctx context.Context, id string) (*jobs.Job, error)
}

// Tracking is what the runner needs of tracking (tracking.Service): the
// study's run, and the trials' metric histories.
type Tracking interface {
	CreateRun(ctx context.Context, r tracking.CreateRunRequest) (*tracking.Run, error)
	UpdateRun(ctx context.Context, id, status string, endTime *int64, name string) (*tracking.RunInfo, error)
	LogBatch(ctx context.Context, runID string, metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) error
	GetMetricHistory(ctx context.Context, q tracking.MetricHistoryQuery) ([]tracking.Metric, string, error)
	SearchRuns(ctx context.Context, experimentIDs []string, filter string, orderBy []string, view tracking.ViewType, maxResults int, pageToken string) ([]*tracking.Run, string, error)
}

var (
	_ Jobs     = (*jobs.Service)(nil)
	_ Tracking = (*tracking.Service)(nil)
)

// A study's status.
const (
	StatusRunning  = "RUNNING"
	StatusStopped  = "STOPPED"
	StatusFinished = "FINISHED"
	StatusFailed   = "FAILED"
)

// The system attributes a runner keeps on the studies and trials it runs
// (values are JSON, as Optuna keeps its system attributes). A study
// without AttrSpec is not the runner's (an Optuna client made it).
const (
	AttrSpec     = "lode.spec"
	AttrSearcher = "lode.searcher"
	AttrState    = "lode.state"
	AttrJobID    = "lode.job_id"
	// The run of a study (its parent run) or of a trial, the experiment a
	// study belongs to, and why a trial was pruned or failed: shared with
	// the UI, which reads them from any study (tune's names).
	AttrRunID      = tune.RunAttr
	AttrExperiment = tune.ExperimentAttr
	AttrReason     = tune.ReasonAttr
	// attrSubmitting marks a trial whose job is being submitted: found
	// without AttrJobID after a restart, its job may exist unknown to the
	// study; the runner looks for it by its run's tags, follows it when it
	// exists and submits it again when it does not, so a trial runs once.
	attrSubmitting = "lode.submitting"
)

// Tags set on the study's run and its trials' runs.
const (
	TagStudyID     = "lode.study.id"
	TagStudyName   = "lode.study.name"
	TagTrialNumber = "lode.trial.number"
	TagTrialState  = "lode.trial.state"
	TagTrialReason = "lode.trial.reason"
	TagBestTrial   = "lode.study.best_trial"
	TagBestRunID   = "lode.study.best_run_id"
	TagBestValue   = "lode.study.best_value"
	tagParentRunID = "mlflow.parentRunId"
	tagRunName     = "mlflow.runName"
	tagUser        = "mlflow.user"
)

// State is where a study stands, kept in its AttrState.
type State struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// RunID is the study's run.
	RunID     string `json:"run_id"`
	StartedMs int64  `json:"started_ms"`
	// ResumedMs is when the study last started or resumed: its max_time
	// counts from then.
	ResumedMs int64 `json:"resumed_ms"`
	EndedMs   int64 `json:"ended_ms,omitempty"`
	// Exhausted: a grid search proposed its last combination.
	Exhausted bool `json:"exhausted,omitempty"`
}

// Runner runs studies (see the package comment). Start it once; it
// resumes the studies a previous server left running.
type Runner struct {
	Studies  *tune.Service
	Jobs     Jobs
	Tracking Tracking
	Logger   *slog.Logger
	// Tick is how often running trials' metrics and jobs are looked at
	// (1 s).
	Tick time.Duration
	Now  func() time.Time

	mu     sync.Mutex
	active map[int64]*study
	wake   chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
}

// study is a running study as the runner holds it.
type study struct {
	id       int64
	spec     Spec
	state    State
	searcher *tune.Searcher
	trials   map[int]*trialRef
	// project is an MLproject trial's entry point and directory.
	entry      *mlproject.EntryPoint
	projectDir string
	pyEnv      *jobs.PythonEnv
	// reported: the searcher was told values its stored state lacks.
	reported bool
}

// trialRef is what the runner knows of a trial beyond the searcher.
type trialRef struct {
	id     int64
	jobID  string
	runID  string
	synced int64 // the highest step reported to the searcher; -1 for none
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Start loads the studies left running and starts the loop that follows
// them.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active = map[int64]*study{}
	r.wake = make(chan struct{}, 1)
	r.stop = make(chan struct{})
	sts, err := r.Studies.Store.ListStudies(ctx)
	if err != nil {
		return err
	}
	for _, st := range sts {
		if st.SystemAttrs[AttrSpec] == "" {
			continue
		}
		var state State
		if json.Unmarshal([]byte(st.SystemAttrs[AttrState]), &state) != nil || state.Status != StatusRunning {
			continue
		}
		s, err := r.load(ctx, st)
		if err != nil {
			r.log().Error("cannot resume study", "study", st.Name, "err", err)
			continue
		}
		r.active[s.id] = s
		r.log().Info("study resumed after a restart", "study", st.Name, "trials", len(s.trials))
	}
	tick := r.Tick
	if tick <= 0 {
		tick = time.Second
	}
	r.wg.Add(1)
	go r.loop(tick)
	return nil
}

// Close stops the loop; the studies' jobs keep running, and a restarted
// server resumes the studies.
func (r *Runner) Close() {
	r.mu.Lock()
	if r.stop == nil {
		r.mu.Unlock()
		return
	}
	close(r.stop)
	r.stop = nil
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) loop(tick time.Duration) {
	defer r.wg.Done()
	r.mu.Lock()
	stop := r.stop
	r.mu.Unlock()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-r.wake:
		}
		r.pass(context.Background())
	}
}

// pass moves every active study one step.
func (r *Runner) pass(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, 0, len(r.active))
	for id := range r.active {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s := r.active[id]
		if err := r.step(ctx, s); err != nil {
			r.log().Error("study step failed; retrying", "study", s.spec.Name, "err", err)
		}
		if s.state.Status != StatusRunning {
			delete(r.active, id)
		}
	}
}

// load rebuilds a study from the store, and makes its stored trials and
// its searcher agree where a crash left them apart.
func (r *Runner) load(ctx context.Context, st *tune.Study) (*study, error) {
	s := &study{id: st.ID, trials: map[int]*trialRef{}}
	if err := json.Unmarshal([]byte(st.SystemAttrs[AttrSpec]), &s.spec); err != nil {
		return nil, lode.Errorf(lode.EInternal, "study %s: spec: %v", st.Name, err)
	}
	if err := json.Unmarshal([]byte(st.SystemAttrs[AttrState]), &s.state); err != nil {
		return nil, lode.Errorf(lode.EInternal, "study %s: state: %v", st.Name, err)
	}
	var raw json.RawMessage
	if err := json.Unmarshal([]byte(st.SystemAttrs[AttrSearcher]), &raw); err != nil {
		return nil, lode.Errorf(lode.EInternal, "study %s: searcher: %v", st.Name, err)
	}
	sr, err := tune.Restore(raw)
	if err != nil {
		return nil, err
	}
	s.searcher = sr
	if err := r.project(s); err != nil {
		return nil, err
	}
	recs, err := r.Studies.Store.ListTrials(ctx, st.ID, tune.TrialQuery{All: true})
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		ref := &trialRef{id: rec.ID, synced: -1, jobID: attrString(rec.SystemAttrs[AttrJobID]), runID: attrString(rec.SystemAttrs[AttrRunID])}
		n := int(rec.Number)
		s.trials[n] = ref
		t, ok := sr.Trial(n)
		if !ok {
			continue
		}
		for _, p := range t.Intermediate {
			ref.synced = max(ref.synced, p.Step)
		}
		switch {
		case t.State == tune.Running && rec.State.Finished():
			// The record was written, the searcher's state not yet.
			reason := attrString(rec.SystemAttrs[AttrReason])
			switch rec.State {
			case tune.Complete:
				if len(rec.Values) == 1 {
					err = sr.Complete(n, rec.Values[0])
				}
			case tune.Pruned:
				err = sr.Prune(n, reason)
			default:
				err = sr.Fail(n, reason)
			}
		case t.State.Finished() && !rec.State.Finished():
			// The searcher decided, the record was not written.
			err = r.finishRecord(ctx, s, t)
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// project loads an MLproject trial's entry point.
func (r *Runner) project(s *study) error {
	t := s.spec.Trial
	if t.URI == "" {
		return nil
	}
	dir := t.URI
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.spec.WorkDir, dir)
	}
	p, err := mlproject.Load(dir)
	if err != nil {
		return err
	}
	ep, err := p.EntryPoint(t.EntryPoint)
	if err != nil {
		return err
	}
	s.entry, s.projectDir = ep, dir
	manager := t.EnvManager
	if manager == "" {
		manager = p.Env.Manager() // MLflow's default for the project, as lode run picks it
	}
	switch manager {
	case "local":
		if p.Env.Kind == mlproject.EnvDocker {
			_, err := p.PythonEnv() // the docker refusal
			return err
		}
	case "virtualenv":
		pe, err := p.PythonEnv() // refuses conda and docker environments
		if err != nil {
			return err
		}
		s.pyEnv = &jobs.PythonEnv{}
		if pe != nil {
			s.pyEnv = &jobs.PythonEnv{Python: pe.Python, BuildDependencies: pe.BuildDependencies, Dependencies: pe.Dependencies}
		}
	default:
		return lode.Errorf(lode.ENotImplemented, "study: the project's environment manager %s is not supported; set trial.env_manager to virtualenv or local", manager)
	}
	return nil
}

func attrString(v string) string {
	var s string
	if json.Unmarshal([]byte(v), &s) != nil {
		return ""
	}
	return s
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// Create checks a spec, stores the study, creates its run and starts it.
// Errors: EInvalid for a bad spec, EExists for a name taken.
func (r *Runner) Create(ctx context.Context, spec Spec) (*View, error) {
	sr, err := spec.Check()
	if err != nil {
		return nil, err
	}
	s := &study{spec: spec, searcher: sr, trials: map[int]*trialRef{}}
	if err := r.project(s); err != nil {
		return nil, err
	}
	id, err := r.Studies.CreateStudy(ctx, &tune.Study{Name: spec.Name, Directions: []tune.Direction{spec.Objective.Direction},
		UserAttrs: map[string]string{}, SystemAttrs: map[string]string{}})
	if err != nil {
		return nil, err
	}
	s.id = id
	user := spec.Owner
	if user == "" {
		user = spec.User
	}
	tags := []tracking.Tag{{Key: TagStudyID, Value: strconv.FormatInt(id, 10)}, {Key: TagStudyName, Value: spec.Name},
		{Key: "mlflow.source.type", Value: "STUDY"}}
	if user != "" {
		tags = append(tags, tracking.Tag{Key: tagUser, Value: user})
	}
	run, err := r.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: spec.ExperimentID, RunName: spec.Name, UserID: user, Tags: tags})
	if err != nil {
		r.Studies.Store.DeleteStudy(context.WithoutCancel(ctx), id)
		return nil, err
	}
	cfg := sr.Config()
	params := []tracking.Param{{Key: "algorithm", Value: string(cfg.Algorithm)}, {Key: "seed", Value: strconv.FormatUint(cfg.Seed, 10)},
		{Key: "objective", Value: spec.Objective.Metric}, {Key: "direction", Value: string(cfg.Direction)},
		{Key: "pruner", Value: string(cfg.Pruner.Type)}, {Key: "max_trials", Value: strconv.Itoa(spec.Budget.MaxTrials)},
		{Key: "max_parallel", Value: strconv.Itoa(spec.Budget.MaxParallel)}}
	if err := r.Tracking.LogBatch(ctx, run.Info.RunID, nil, params, nil); err != nil {
		return nil, err
	}
	now := r.now().UnixMilli()
	s.state = State{Status: StatusRunning, RunID: run.Info.RunID, StartedMs: now, ResumedMs: now}
	if err := r.setAttr(ctx, id, AttrSpec, jsonText(spec)); err != nil {
		return nil, err
	}
	if err := r.setAttr(ctx, id, AttrExperiment, jsonText(spec.ExperimentID)); err != nil {
		return nil, err
	}
	if err := r.setAttr(ctx, id, AttrRunID, jsonText(run.Info.RunID)); err != nil {
		return nil, err
	}
	if err := r.saveSearcher(ctx, s); err != nil {
		return nil, err
	}
	if err := r.saveState(ctx, s); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.active != nil {
		r.active[id] = s
	}
	r.mu.Unlock()
	r.poke()
	return r.Get(ctx, id)
}

func (r *Runner) setAttr(ctx context.Context, id int64, key, value string) error {
	return r.Studies.Store.SetStudyAttr(ctx, id, tune.SystemAttr, key, value)
}

func (r *Runner) saveSearcher(ctx context.Context, s *study) error {
	b, err := s.searcher.MarshalJSON()
	if err != nil {
		return err
	}
	if err := r.setAttr(ctx, s.id, AttrSearcher, string(b)); err != nil {
		return err
	}
	s.reported = false
	return nil
}

func (r *Runner) saveState(ctx context.Context, s *study) error {
	return r.setAttr(ctx, s.id, AttrState, jsonText(s.state))
}

// Stop stops a running study: its running trials are cancelled and fail,
// its run ends KILLED. Errors: ENotFound, EInvalidState for a study that
// is not running.
func (r *Runner) Stop(ctx context.Context, id int64) (*View, error) {
	r.mu.Lock()
	s, ok := r.active[id]
	if !ok {
		r.mu.Unlock()
		v, err := r.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, lode.Errorf(lode.EInvalidState, "study %s is %s, not running", v.Name, v.Status)
	}
	err := r.end(ctx, s, StatusStopped, "stopped", "the study was stopped")
	if err == nil {
		delete(r.active, id)
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return r.Get(ctx, id)
}

// Resume starts a stopped or failed study again, with its budget's
// max_time counted from now. Errors: ENotFound, EInvalidState for a study
// that is running or finished.
func (r *Runner) Resume(ctx context.Context, id int64) (*View, error) {
	st, err := r.Studies.Store.GetStudy(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.SystemAttrs[AttrSpec] == "" {
		return nil, lode.Errorf(lode.EInvalidState, "study %s is not a lode tune study (an Optuna client runs it)", st.Name)
	}
	if err := r.resume(ctx, st); err != nil {
		return nil, err
	}
	r.poke()
	return r.Get(ctx, id)
}

func (r *Runner) resume(ctx context.Context, st *tune.Study) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, running := r.active[st.ID]; running {
		return lode.Errorf(lode.EInvalidState, "study %s is running", st.Name)
	}
	s, err := r.load(ctx, st)
	if err != nil {
		return err
	}
	if s.state.Status != StatusStopped && s.state.Status != StatusFailed {
		return lode.Errorf(lode.EInvalidState, "study %s is %s: only a stopped or failed study resumes", st.Name, s.state.Status)
	}
	s.state.Status, s.state.Reason, s.state.EndedMs = StatusRunning, "", 0
	s.state.ResumedMs = r.now().UnixMilli()
	if _, err := r.Tracking.UpdateRun(ctx, s.state.RunID, "RUNNING", nil, ""); err != nil {
		return err
	}
	if err := r.saveState(ctx, s); err != nil {
		return err
	}
	if r.active == nil {
		return lode.Errorf(lode.EInvalidState, "this server runs no studies")
	}
	r.active[st.ID] = s
	return nil
}

// step follows a study's running trials, starts new ones while the
// budget allows, and ends the study when it is done.
func (r *Runner) step(ctx context.Context, s *study) error {
	for _, t := range s.searcher.Trials() {
		if t.State == tune.Running {
			if err := r.follow(ctx, s, t.Number); err != nil {
				return err
			}
		}
	}
	if s.reported {
		if err := r.saveSearcher(ctx, s); err != nil {
			return err
		}
	}
	timeUp := false
	if d, _ := s.spec.maxTime(); d > 0 && r.now().UnixMilli() >= s.state.ResumedMs+d.Milliseconds() {
		timeUp = true
	}
	if timeUp {
		return r.end(ctx, s, StatusFinished, "max_time reached", "the study's max_time was reached")
	}
	for s.state.Status == StatusRunning && !s.state.Exhausted && running(s) < s.spec.Budget.MaxParallel && len(s.searcher.Trials()) < s.spec.Budget.MaxTrials {
		ok, err := r.launch(ctx, s)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
	}
	if s.state.Status == StatusRunning && running(s) == 0 && (s.state.Exhausted || len(s.searcher.Trials()) >= s.spec.Budget.MaxTrials) {
		reason := "max_trials reached"
		if s.state.Exhausted {
			reason = "every combination of the grid was tried"
		}
		return r.end(ctx, s, StatusFinished, reason, "")
	}
	return nil
}

func running(s *study) int {
	n := 0
	for _, t := range s.searcher.Trials() {
		if t.State == tune.Running {
			n++
		}
	}
	return n
}

// launch proposes a trial and submits its job; false when a grid has no
// combination left or the study failed.
func (r *Runner) launch(ctx context.Context, s *study) (bool, error) {
	t, ok := s.searcher.Propose()
	if !ok {
		s.state.Exhausted = true
		return false, r.saveState(ctx, s)
	}
	// The searcher's state is stored first: a restart finds the trial
	// proposed and creates what is missing of it.
	if err := r.saveSearcher(ctx, s); err != nil {
		return false, err
	}
	return true, r.submit(ctx, s, t)
}

// submit stores a proposed trial (unless stored) and submits its job.
func (r *Runner) submit(ctx context.Context, s *study, t tune.Trial) error {
	ref := s.trials[t.Number]
	if ref == nil {
		rec := &tune.TrialRecord{State: tune.Running, Start: r.now(), Params: map[string]tune.TrialParam{},
			UserAttrs: map[string]string{}, SystemAttrs: map[string]string{attrSubmitting: "true"}}
		for name, v := range t.Params {
			p, _ := s.searcher.Space().Param(name)
			x, err := p.ToInternal(v)
			if err != nil {
				return err
			}
			dist, err := p.OptunaJSON()
			if err != nil {
				return err
			}
			rec.Params[name] = tune.TrialParam{Value: x, Distribution: string(dist)}
		}
		stored, err := r.Studies.CreateTrial(ctx, s.id, rec)
		if err != nil {
			return err
		}
		if int(stored.Number) != t.Number {
			return lode.Errorf(lode.EInternal, "study %s: trial %d was stored as number %d", s.spec.Name, t.Number, stored.Number)
		}
		ref = &trialRef{id: stored.ID, synced: -1}
		s.trials[t.Number] = ref
	} else if err := r.Studies.Store.SetTrialAttr(ctx, ref.id, tune.SystemAttr, attrSubmitting, "true"); err != nil {
		return err
	}
	js, err := r.jobSpec(s, t)
	if err == nil {
		var j *jobs.Job
		if j, err = r.Jobs.Submit(ctx, js); err == nil {
			ref.jobID, ref.runID = j.ID, j.RunID
			if err := r.Studies.Store.SetTrialAttr(ctx, ref.id, tune.SystemAttr, AttrJobID, jsonText(j.ID)); err != nil {
				return err
			}
			return r.Studies.Store.SetTrialAttr(ctx, ref.id, tune.SystemAttr, AttrRunID, jsonText(j.RunID))
		}
	}
	// A trial that cannot be submitted says the same of the next: the
	// study fails, with the reason, and resumes once it is mended.
	if lode.ErrorCode(err) == lode.EInternal {
		return err
	}
	reason := "its job was refused: " + lode.ErrorMessage(err)
	if ferr := r.finish(ctx, s, t.Number, tune.Failed, 0, reason); ferr != nil {
		return ferr
	}
	return r.end(ctx, s, StatusFailed, reason, "")
}

// jobSpec is trial t's job: its command, its parameters as params and
// environment variables, its run a child of the study's.
func (r *Runner) jobSpec(s *study, t tune.Trial) (jobs.Spec, error) {
	sp := s.spec
	name := fmt.Sprintf("%s-trial-%d", sp.Name, t.Number)
	js := jobs.Spec{Name: name, Env: trialEnv(&sp, s.id, t.Number, t.Params), WorkDir: sp.WorkDir,
		Resources: sp.Trial.Resources, Queue: sp.Trial.Queue, Priority: sp.Trial.Priority, User: sp.User, Owner: sp.Owner,
		Timeout: time.Duration(sp.Trial.TimeoutSeconds * float64(time.Second)), ExperimentID: sp.ExperimentID,
		Tags: map[string]string{tagParentRunID: s.state.RunID, TagStudyID: strconv.FormatInt(s.id, 10), TagStudyName: sp.Name,
			TagTrialNumber: strconv.Itoa(t.Number), tagRunName: name},
		Params: map[string]string{}}
	for k, v := range t.Params {
		js.Params[k] = paramText(v)
	}
	if s.entry == nil {
		js.Command = Render(sp.Trial.Command, s.searcher.Space(), t.Params)
		return js, nil
	}
	var ps []mlproject.Param
	for _, k := range slices.Sorted(maps.Keys(t.Params)) {
		ps = append(ps, mlproject.Param{Key: k, Value: paramText(t.Params[k])})
	}
	inv, err := s.entry.Command(ps, s.projectDir)
	if err != nil {
		return js, err
	}
	js.Command, js.WorkDir, js.PythonEnv = inv.Command, s.projectDir, s.pyEnv
	js.Tags["mlflow.source.type"] = "PROJECT"
	js.Tags["mlflow.project.entryPoint"] = sp.Trial.EntryPoint
	return js, nil
}

// submitted finds the job of trial n that a server stopped in the middle
// of submitting may have left, by the study's and trial's tags on its run;
// nil when there is none. A run whose job was never stored (the server
// stopped between the two) is marked FAILED, and nil returned: the trial is
// submitted again.
func (r *Runner) submitted(ctx context.Context, s *study, n int) (*jobs.Job, error) {
	filter := fmt.Sprintf("tags.`%s` = '%d' and tags.`%s` = '%d'", TagStudyID, s.id, TagTrialNumber, n)
	runs, _, err := r.Tracking.SearchRuns(ctx, []string{s.spec.ExperimentID}, filter, nil, tracking.ActiveOnly, 10, "")
	if err != nil {
		return nil, err
	}
	for _, run := range runs {
		jobID := ""
		for _, t := range run.Tags {
			if t.Key == "lode.job.id" {
				jobID = t.Value
			}
		}
		j, err := r.Jobs.Get(ctx, jobID)
		if err == nil {
			return j, nil
		}
		if lode.ErrorCode(err) != lode.ENotFound {
			return nil, err
		}
		end := r.now().UnixMilli()
		if _, err := r.Tracking.UpdateRun(ctx, run.Info.RunID, "FAILED", &end, ""); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// follow reports a running trial's new intermediate values, prunes it
// when the pruner says so, and finishes it when its job has ended.
func (r *Runner) follow(ctx context.Context, s *study, n int) error {
	ref := s.trials[n]
	if ref == nil || ref.jobID == "" {
		if ref != nil {
			rec, err := r.Studies.Store.GetTrial(ctx, ref.id)
			if err != nil {
				return err
			}
			if rec.SystemAttrs[attrSubmitting] != "" {
				j, err := r.submitted(ctx, s, n)
				if err != nil {
					return err
				}
				if j != nil {
					ref.jobID, ref.runID = j.ID, j.RunID
					if err := r.Studies.Store.SetTrialAttr(ctx, ref.id, tune.SystemAttr, AttrJobID, jsonText(j.ID)); err != nil {
						return err
					}
					if err := r.Studies.Store.SetTrialAttr(ctx, ref.id, tune.SystemAttr, AttrRunID, jsonText(j.RunID)); err != nil {
						return err
					}
				}
			}
		}
		if ref == nil || ref.jobID == "" {
			t, _ := s.searcher.Trial(n)
			return r.submit(ctx, s, t)
		}
	}
	j, err := r.Jobs.Get(ctx, ref.jobID)
	if lode.ErrorCode(err) == lode.ENotFound {
		return r.finish(ctx, s, n, tune.Failed, 0, "its job "+ref.jobID+" is gone")
	}
	if err != nil {
		return err
	}
	// The job's state is read before its metrics: a job seen ended has
	// logged all it will.
	var hist []tracking.Metric
	if ref.runID != "" { // a job service without tracking gives none
		if hist, err = r.history(ctx, s, ref.runID); err != nil {
			return err
		}
	}
	for _, m := range hist {
		if m.Step <= ref.synced {
			continue
		}
		d, err := s.searcher.Report(n, m.Step, m.Value)
		if err != nil {
			return err
		}
		if err := r.Studies.Store.SetTrialIntermediate(ctx, ref.id, m.Step, m.Value); err != nil {
			return err
		}
		ref.synced, s.reported = m.Step, true
		if d.Prune {
			if _, err := r.Jobs.Cancel(ctx, ref.jobID); err != nil && lode.ErrorCode(err) != lode.EInvalidState {
				return err
			}
			return r.finish(ctx, s, n, tune.Pruned, 0, d.Reason)
		}
	}
	if !j.State.Final() {
		return nil
	}
	if j.State != jobs.Succeeded {
		reason := fmt.Sprintf("its job ended %s", j.State)
		if j.Reason != "" {
			reason += ": " + j.Reason
		}
		return r.finish(ctx, s, n, tune.Failed, 0, reason)
	}
	v, ok := s.value(hist)
	if !ok {
		return r.finish(ctx, s, n, tune.Failed, 0, fmt.Sprintf("its job succeeded without logging the metric %q as a finite number", s.spec.Objective.Metric))
	}
	return r.finish(ctx, s, n, tune.Complete, v, "")
}

// history is a run's objective metric, one value per step (the latest
// logged there), by step.
func (r *Runner) history(ctx context.Context, s *study, runID string) ([]tracking.Metric, error) {
	ms, _, err := r.Tracking.GetMetricHistory(ctx, tracking.MetricHistoryQuery{RunID: runID, Key: s.spec.Objective.Metric})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].Step != ms[j].Step {
			return ms[i].Step < ms[j].Step
		}
		return ms[i].Timestamp < ms[j].Timestamp
	})
	out := ms[:0]
	for _, m := range ms {
		if len(out) > 0 && out[len(out)-1].Step == m.Step {
			out[len(out)-1] = m
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// value is a trial's objective from its history: the last value, or the
// best.
func (s *study) value(hist []tracking.Metric) (float64, bool) {
	if len(hist) == 0 {
		return 0, false
	}
	if s.spec.Objective.Use == UseLast {
		v := hist[len(hist)-1].Value
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	}
	best, found := 0.0, false
	for _, m := range hist {
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			continue
		}
		if !found || (s.spec.Objective.Direction == tune.Maximize) == (m.Value > best) && m.Value != best {
			best, found = m.Value, true
		}
	}
	return best, found
}

// finish ends a running trial: its record first, then the searcher (a
// restart in between finds the record ended and tells the searcher), its
// run's tags, and the study's best.
func (r *Runner) finish(ctx context.Context, s *study, n int, state tune.TrialState, value float64, reason string) error {
	ref := s.trials[n]
	if ref == nil {
		return lode.Errorf(lode.EInternal, "study %s: no record of trial %d", s.spec.Name, n)
	}
	var values []float64
	if state == tune.Complete {
		values = []float64{value}
	}
	if reason != "" {
		if err := r.Studies.Store.SetTrialAttr(ctx, ref.id, tune.SystemAttr, AttrReason, jsonText(reason)); err != nil {
			return err
		}
	}
	if _, err := r.Studies.SetTrialState(ctx, ref.id, state, values); err != nil && lode.ErrorCode(err) != lode.EInvalidState {
		return err
	}
	var err error
	switch state {
	case tune.Complete:
		err = s.searcher.Complete(n, value)
	case tune.Pruned:
		err = s.searcher.Prune(n, reason)
	default:
		err = s.searcher.Fail(n, reason)
	}
	if err != nil {
		return err
	}
	if err := r.saveSearcher(ctx, s); err != nil {
		return err
	}
	t, _ := s.searcher.Trial(n)
	return r.tagTrial(ctx, s, ref, t)
}

// finishRecord writes a trial the searcher has ended into its record.
func (r *Runner) finishRecord(ctx context.Context, s *study, t tune.Trial) error {
	ref := s.trials[t.Number]
	var values []float64
	if t.Value != nil {
		values = []float64{*t.Value}
	}
	if t.Reason != "" {
		if err := r.Studies.Store.SetTrialAttr(ctx, ref.id, tune.SystemAttr, AttrReason, jsonText(t.Reason)); err != nil {
			return err
		}
	}
	if _, err := r.Studies.SetTrialState(ctx, ref.id, t.State, values); err != nil && lode.ErrorCode(err) != lode.EInvalidState {
		return err
	}
	return r.tagTrial(ctx, s, ref, t)
}

// tagTrial records an ended trial on its run, and the study's best on
// the study's run.
func (r *Runner) tagTrial(ctx context.Context, s *study, ref *trialRef, t tune.Trial) error {
	if ref.runID != "" {
		tags := []tracking.Tag{{Key: TagTrialState, Value: string(t.State)}}
		if t.Reason != "" {
			tags = append(tags, tracking.Tag{Key: TagTrialReason, Value: truncate(t.Reason, 5000)})
		}
		if err := r.Tracking.LogBatch(ctx, ref.runID, nil, nil, tags); err != nil {
			r.log().Warn("cannot tag a trial's run", "study", s.spec.Name, "trial", t.Number, "err", err)
		}
	}
	best, ok := s.searcher.Best()
	if !ok || best.Number != t.Number {
		return nil
	}
	bestRun := ""
	if b := s.trials[best.Number]; b != nil {
		bestRun = b.runID
	}
	complete := 0
	for _, x := range s.searcher.Trials() {
		if x.State == tune.Complete {
			complete++
		}
	}
	tags := []tracking.Tag{{Key: TagBestTrial, Value: strconv.Itoa(best.Number)}, {Key: TagBestRunID, Value: bestRun},
		{Key: TagBestValue, Value: strconv.FormatFloat(*best.Value, 'g', -1, 64)}}
	metrics := []tracking.Metric{{Key: s.spec.Objective.Metric, Value: *best.Value, Timestamp: r.now().UnixMilli(), Step: int64(complete)}}
	return r.Tracking.LogBatch(ctx, s.state.RunID, metrics, nil, tags)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// end ends a study: running trials are cancelled and fail with
// trialReason; the study's run ends (FINISHED, or KILLED when stopped,
// FAILED when failed), with the best trial's parameters as params.
func (r *Runner) end(ctx context.Context, s *study, status, reason, trialReason string) error {
	for _, t := range s.searcher.Trials() {
		if t.State != tune.Running {
			continue
		}
		if ref := s.trials[t.Number]; ref != nil && ref.jobID != "" {
			if _, err := r.Jobs.Cancel(ctx, ref.jobID); err != nil && lode.ErrorCode(err) != lode.EInvalidState && lode.ErrorCode(err) != lode.ENotFound {
				return err
			}
		}
		if s.trials[t.Number] == nil {
			if err := s.searcher.Fail(t.Number, trialReason); err != nil {
				return err
			}
			continue
		}
		if err := r.finish(ctx, s, t.Number, tune.Failed, 0, trialReason); err != nil {
			return err
		}
	}
	now := r.now().UnixMilli()
	s.state.Status, s.state.Reason, s.state.EndedMs = status, reason, now
	runStatus := map[string]string{StatusFinished: "FINISHED", StatusStopped: "KILLED", StatusFailed: "FAILED"}[status]
	if best, ok := s.searcher.Best(); ok && status == StatusFinished {
		var ps []tracking.Param
		for _, k := range slices.Sorted(maps.Keys(best.Params)) {
			ps = append(ps, tracking.Param{Key: "best." + k, Value: paramText(best.Params[k])})
		}
		if err := r.Tracking.LogBatch(ctx, s.state.RunID, nil, ps, nil); err != nil {
			r.log().Warn("cannot log the best trial's parameters on the study's run", "study", s.spec.Name, "err", err)
		}
	}
	if _, err := r.Tracking.UpdateRun(ctx, s.state.RunID, runStatus, &now, ""); err != nil {
		return err
	}
	if err := r.saveSearcher(ctx, s); err != nil {
		return err
	}
	r.log().Info("study ended", "study", s.spec.Name, "status", status, "reason", reason)
	return r.saveState(ctx, s)
}
