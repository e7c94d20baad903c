// Package tuner runs `lode tune` studies on a server: it turns a study
// spec into a stored study (tune.Store) with a run in tracking, submits
// each trial the searcher (tune.Searcher) proposes as a job whose run is
// a child of the study's, reads the trials' objective metric from
// tracking, reports it to the searcher, cancels the trials its pruner
// stops, and keeps every decision stored so that a restarted server
// resumes each study where it was. The decisions are the searcher's; this
// package only carries them out.
package tuner

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/tune"
)

// Spec is a study as `lode tune study.yaml` and the REST API describe it.
type Spec struct {
	// Name is unique among studies.
	Name string `json:"name" yaml:"name"`
	// ExperimentID is where the study's run and its trials' runs go
	// ("0" when empty). A study file may name the experiment instead
	// (Experiment); the CLI resolves it.
	ExperimentID string           `json:"experiment_id,omitempty" yaml:"experiment_id,omitempty"`
	Experiment   string           `json:"experiment,omitempty" yaml:"experiment,omitempty"`
	Space        []tune.ParamSpec `json:"space" yaml:"space"`
	Objective    Objective        `json:"objective" yaml:"objective"`
	// Search configures the searcher; its direction is the objective's.
	Search tune.Config `json:"search" yaml:"search"`
	Budget Budget      `json:"budget" yaml:"budget"`
	Trial  Trial       `json:"trial" yaml:"trial"`
	// WorkDir is the directory, on the server's machine, that trials run
	// in (each trial gets its own snapshot, as a job does).
	WorkDir string `json:"work_dir,omitempty" yaml:"work_dir,omitempty"`
	// User is who the trials' jobs say they are for; Owner, set by the
	// server when it authenticates, is whose permissions they run with.
	User  string `json:"user,omitempty" yaml:"user,omitempty"`
	Owner string `json:"owner,omitempty" yaml:"-"`
}

// Objective is the metric a trial logs and how it is judged.
type Objective struct {
	// Metric is the name the trial logs with mlflow.log_metric; its
	// steps are the pruner's resource.
	Metric string `json:"metric" yaml:"metric"`
	// Direction is minimize (the default) or maximize.
	Direction tune.Direction `json:"direction,omitempty" yaml:"direction,omitempty"`
	// Use is which of the metric's values is the trial's: last (the
	// default: the value at the highest step, the latest logged there) or
	// best.
	Use string `json:"use,omitempty" yaml:"use,omitempty"`
}

// The values of Objective.Use.
const (
	UseLast = "last"
	UseBest = "best"
)

// Budget bounds a study.
type Budget struct {
	// MaxTrials is how many trials are started at most (default 10; a
	// grid also ends when every combination has been tried).
	MaxTrials int `json:"max_trials,omitempty" yaml:"max_trials,omitempty"`
	// MaxParallel is how many trials run at once (default 1).
	MaxParallel int `json:"max_parallel,omitempty" yaml:"max_parallel,omitempty"`
	// MaxTime, a Go duration ("30m"), stops the study that long after it
	// started or was last resumed: no trial starts after it, and running
	// ones are cancelled. Empty: no limit.
	MaxTime string `json:"max_time,omitempty" yaml:"max_time,omitempty"`
}

// Trial is what each trial runs: a shell command, or an MLproject's entry
// point.
type Trial struct {
	// Command is run by /bin/sh -c in the trial's working directory, with
	// each {name} of a parameter of the space replaced by the trial's
	// value, shell-quoted (an inactive conditional parameter's by '').
	Command string `json:"command,omitempty" yaml:"command,omitempty"`
	// URI is an MLproject directory, relative to the work directory (or
	// absolute on the server's machine); the trial runs its EntryPoint
	// (default main) with the trial's parameters as -P name=value.
	URI        string `json:"uri,omitempty" yaml:"uri,omitempty"`
	EntryPoint string `json:"entry_point,omitempty" yaml:"entry_point,omitempty"`
	// EnvManager, for an MLproject, is local (run in the server's
	// environment) or virtualenv (the project's python_env.yaml, built by
	// the server as `lode run` does); empty picks MLflow's default for the
	// project, as `lode run` does.
	EnvManager string            `json:"env_manager,omitempty" yaml:"env_manager,omitempty"`
	Env        map[string]string `json:"env,omitempty" yaml:"env,omitempty"`
	// Resources are each trial's, as a job asks for them (the REST API's
	// form); a study file writes them as FileResources, which the CLI
	// turns into these.
	Resources     jobs.Resources `json:"resources" yaml:"-"`
	FileResources *FileResources `json:"-" yaml:"resources,omitempty"`
	// TimeoutSeconds bounds each trial (0: none).
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty" yaml:"timeout_seconds,omitempty"`
	Queue          string  `json:"queue,omitempty" yaml:"queue,omitempty"`
	Priority       int     `json:"priority,omitempty" yaml:"priority,omitempty"`
}

// FileResources are a trial's resources as a study file writes them, as
// `lode job submit` takes them: cpus: 0.5, memory: 512Mi, gpus: 1.
type FileResources struct {
	CPUs   float64 `yaml:"cpus,omitempty"`
	Memory string  `yaml:"memory,omitempty"`
	GPUs   int     `yaml:"gpus,omitempty"`
}

// Defaults and bounds of a budget.
const (
	defaultMaxTrials   = 10
	defaultMaxParallel = 1
	maxTrialsLimit     = 100000
	maxParallelLimit   = 1000
)

var studyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$`)

// Check fills in a spec's defaults and checks it: a bad field is EInvalid,
// named. It returns the searcher the spec describes, with no trials.
func (sp *Spec) Check() (*tune.Searcher, error) {
	bad := func(format string, args ...any) (*tune.Searcher, error) {
		return nil, lode.Errorf(lode.EInvalid, "study: "+format, args...)
	}
	if !studyName.MatchString(sp.Name) {
		return bad("name %q must be 1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit", sp.Name)
	}
	if sp.ExperimentID == "" {
		sp.ExperimentID = "0"
	}
	o := &sp.Objective
	if strings.TrimSpace(o.Metric) == "" {
		return bad("objective.metric is required: the metric each trial logs")
	}
	switch o.Direction {
	case "":
		o.Direction = tune.Minimize
	case tune.Minimize, tune.Maximize:
	default:
		return bad("objective.direction must be minimize or maximize, not %q", o.Direction)
	}
	switch o.Use {
	case "":
		o.Use = UseLast
	case UseLast, UseBest:
	default:
		return bad("objective.use must be last or best, not %q", o.Use)
	}
	if sp.Search.Direction != "" && sp.Search.Direction != o.Direction {
		return bad("search.direction %q differs from objective.direction %q: give it once, in objective", sp.Search.Direction, o.Direction)
	}
	sp.Search.Direction = o.Direction
	b := &sp.Budget
	if b.MaxTrials == 0 {
		b.MaxTrials = defaultMaxTrials
	}
	if b.MaxParallel == 0 {
		b.MaxParallel = defaultMaxParallel
	}
	if b.MaxTrials < 1 || b.MaxTrials > maxTrialsLimit {
		return bad("budget.max_trials must be between 1 and %d, not %d", maxTrialsLimit, b.MaxTrials)
	}
	if b.MaxParallel < 1 || b.MaxParallel > maxParallelLimit {
		return bad("budget.max_parallel must be between 1 and %d, not %d", maxParallelLimit, b.MaxParallel)
	}
	if _, err := sp.maxTime(); err != nil {
		return nil, err
	}
	t := &sp.Trial
	switch {
	case t.Command == "" && t.URI == "":
		return bad("trial needs a command or an MLproject uri")
	case t.Command != "" && t.URI != "":
		return bad("trial has both a command and an MLproject uri: give one")
	case t.URI == "" && (t.EntryPoint != "" || t.EnvManager != ""):
		return bad("trial.entry_point and trial.env_manager are for an MLproject uri")
	}
	if t.URI != "" {
		if !filepath.IsAbs(t.URI) && !filepath.IsAbs(sp.WorkDir) {
			return bad("trial.uri %q is relative: it needs an absolute work_dir", t.URI)
		}
		if t.EntryPoint == "" {
			t.EntryPoint = "main"
		}
		switch t.EnvManager {
		case "", "local", "virtualenv":
		default:
			return bad("trial.env_manager must be local or virtualenv, not %q", t.EnvManager)
		}
	}
	if t.TimeoutSeconds < 0 || t.TimeoutSeconds > 1e9 {
		return bad("trial.timeout_seconds must be between 0 and 1e9, not %v", t.TimeoutSeconds)
	}
	space, err := tune.NewSpace(sp.Space)
	if err != nil {
		return nil, err
	}
	return tune.NewSearcher(space, sp.Search)
}

// maxTime is the budget's max_time; 0 for none.
func (sp *Spec) maxTime() (time.Duration, error) {
	if sp.Budget.MaxTime == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(sp.Budget.MaxTime)
	if err != nil || d <= 0 {
		return 0, lode.Errorf(lode.EInvalid, "study: budget.max_time %q must be a positive duration such as 90s, 30m or 2h", sp.Budget.MaxTime)
	}
	return d, nil
}

// EnvName is the environment variable a trial finds a parameter in:
// LODE_PARAM_ and the name upper-cased, every character other than a
// letter, digit or '_' made '_' (lr → LODE_PARAM_LR, model.depth →
// LODE_PARAM_MODEL_DEPTH).
func EnvName(param string) string {
	b := []byte(strings.ToUpper(param))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return "LODE_PARAM_" + string(b)
}

// paramText is how a parameter's value is written into a command, an
// environment variable and a run param.
func paramText(v any) string { return tune.FormatValue(v) }

// Render returns the command a trial runs: each {name} of a parameter of
// the space replaced by its shell-quoted value (” when the parameter is
// inactive in this trial). Other braces are left as they are.
func Render(command string, space *tune.Space, params tune.Params) string {
	var olds []string
	names := make([]string, 0)
	for _, p := range space.Params() {
		names = append(names, p.Name)
	}
	// Longest first, so that {lr_decay} is not read as {lr} and more.
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		v := "''"
		if x, ok := params[n]; ok {
			v = shellQuote(paramText(x))
		}
		olds = append(olds, "{"+n+"}", v)
	}
	return strings.NewReplacer(olds...).Replace(command)
}

// shellQuote quotes s for /bin/sh unless it is made of characters the
// shell takes literally.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.,:/+=@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// trialEnv is the environment a trial's job gets besides the spec's:
// each active parameter as EnvName, and the study and trial it is.
func trialEnv(sp *Spec, studyID int64, number int, params tune.Params) map[string]string {
	env := map[string]string{}
	for k, v := range sp.Trial.Env {
		env[k] = v
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env[EnvName(k)] = paramText(params[k])
	}
	env["LODE_STUDY_ID"] = fmt.Sprint(studyID)
	env["LODE_STUDY_NAME"] = sp.Name
	env["LODE_TRIAL_NUMBER"] = fmt.Sprint(number)
	return env
}
