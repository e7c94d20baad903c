package tracking

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/lode-ml/lode"
)

// Service is the tracking API: it validates requests as MLflow does, applies
// MLflow's lifecycle rules and delegates storage to a Store. Transport
// adapters (mlflowapi) call it; they never reach the Store directly.
type Service struct {
	Store Store
	// ValidateLocation checks a client-supplied artifact_location; nil
	// accepts any.
	ValidateLocation func(string) error
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Readable restricts searches to the experiments their caller may
	// read (nil: no restriction).
	Readable lode.ReadableFunc
}

// readable returns the ids of the experiments in ids that the caller may
// read, as MLflow 3 does: the others are left out of a search, silently.
func (s *Service) readable(ctx context.Context, ids []string) ([]string, error) {
	sc, err := s.Readable.Readable(ctx, "experiment")
	if err != nil {
		return nil, err
	}
	return sc.Filter(ids), nil
}

func (s *Service) now() int64 {
	if s.Now != nil {
		return s.Now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// NewID returns a random 32-hex-digit id, as MLflow's uuid4().hex.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

// CreateExperiment creates an experiment and returns its id.
func (s *Service) CreateExperiment(ctx context.Context, name, location string, tags []Tag) (string, error) {
	if err := ValidateExperimentName(name); err != nil {
		return "", err
	}
	for _, t := range tags {
		if err := ValidateExperimentTag(t); err != nil {
			return "", err
		}
	}
	if location != "" && s.ValidateLocation != nil {
		if err := s.ValidateLocation(location); err != nil {
			return "", err
		}
	}
	now := s.now()
	return s.Store.CreateExperiment(ctx, Experiment{
		Name: name, ArtifactLocation: location, LifecycleStage: StageActive,
		CreationTime: now, LastUpdateTime: now, Tags: tags,
	})
}

// GetExperiment returns an experiment, active or deleted.
func (s *Service) GetExperiment(ctx context.Context, id string) (*Experiment, error) {
	if err := ValidateExperimentID(id); err != nil {
		return nil, err
	}
	return s.Store.GetExperiment(ctx, id)
}

// GetExperimentByName returns the experiment with that name.
func (s *Service) GetExperimentByName(ctx context.Context, name string) (*Experiment, error) {
	if name == "" {
		return nil, lode.Invalid(lode.MsgMissing, "experiment_name")
	}
	return s.Store.GetExperimentByName(ctx, name)
}

// SearchExperiments runs a search_experiments request given in MLflow's
// string forms.
func (s *Service) SearchExperiments(ctx context.Context, filter string, orderBy []string, view ViewType, maxResults int, pageToken string) ([]*Experiment, string, error) {
	q := ExperimentQuery{ViewType: view, PageToken: pageToken}
	var err error
	if q.Scope, err = s.Readable.Readable(ctx, "experiment"); err != nil {
		return nil, "", err
	}
	if q.MaxResults, err = ValidateMaxResults(maxResults, MaxResultsExperiments); err != nil {
		return nil, "", err
	}
	if q.Filter, err = ParseExperimentFilter(filter); err != nil {
		return nil, "", err
	}
	for _, o := range orderBy {
		ob, err := ParseExperimentOrderBy(o)
		if err != nil {
			return nil, "", err
		}
		q.OrderBy = append(q.OrderBy, ob)
	}
	return s.Store.SearchExperiments(ctx, q)
}

func (s *Service) activeExperiment(ctx context.Context, id string) (*Experiment, error) {
	e, err := s.GetExperiment(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.LifecycleStage != StageActive {
		return nil, lode.Errorf(lode.EInvalid, "The experiment %s must be in the 'active' state. Current state is %s.", e.ID, e.LifecycleStage)
	}
	return e, nil
}

// RenameExperiment renames an active experiment.
func (s *Service) RenameExperiment(ctx context.Context, id, name string) error {
	if err := ValidateExperimentName(name); err != nil {
		return err
	}
	e, err := s.GetExperiment(ctx, id)
	if err != nil {
		return err
	}
	if e.LifecycleStage != StageActive {
		return lode.Errorf(lode.EInvalidState, "Cannot rename a non-active experiment.")
	}
	return s.Store.RenameExperiment(ctx, id, name)
}

// DeleteExperiment marks an active experiment and its runs deleted.
func (s *Service) DeleteExperiment(ctx context.Context, id string) error {
	if _, err := s.activeExperiment(ctx, id); err != nil {
		if lode.ErrorCode(err) == lode.EInvalid {
			return lode.Errorf(lode.ENotFound, "No Experiment with id=%s exists", id)
		}
		return err
	}
	return s.Store.SetExperimentStage(ctx, id, StageDeleted)
}

// RestoreExperiment restores a deleted experiment and its runs.
func (s *Service) RestoreExperiment(ctx context.Context, id string) error {
	e, err := s.GetExperiment(ctx, id)
	if err != nil {
		return err
	}
	if e.LifecycleStage != StageDeleted {
		// MLflow looks among deleted experiments only.
		return lode.Errorf(lode.ENotFound, "No Experiment with id=%s exists", id)
	}
	return s.Store.SetExperimentStage(ctx, id, StageActive)
}

// SetExperimentTag sets a tag on an active experiment.
func (s *Service) SetExperimentTag(ctx context.Context, id string, t Tag) error {
	if err := ValidateExperimentTag(t); err != nil {
		return err
	}
	if _, err := s.activeExperiment(ctx, id); err != nil {
		return err
	}
	return s.Store.SetExperimentTag(ctx, id, t)
}

// DeleteExperimentTag removes a tag from an active experiment.
func (s *Service) DeleteExperimentTag(ctx context.Context, id, key string) error {
	if _, err := s.activeExperiment(ctx, id); err != nil {
		return err
	}
	return s.Store.DeleteExperimentTag(ctx, id, key)
}

// CreateRunRequest holds the fields of runs/create.
type CreateRunRequest struct {
	ExperimentID string
	UserID       string
	StartTime    int64
	Tags         []Tag
	RunName      string
}

// CreateRun starts a run in an active experiment.
func (s *Service) CreateRun(ctx context.Context, r CreateRunRequest) (*Run, error) {
	if r.ExperimentID == "" {
		r.ExperimentID = DefaultExperimentID
	}
	for i := range r.Tags {
		if err := ValidateTag(&r.Tags[i], fmt.Sprintf("tags[%d]", i)); err != nil {
			return nil, err
		}
	}
	e, err := s.activeExperiment(ctx, r.ExperimentID)
	if err != nil {
		return nil, err
	}
	tagName := ""
	for _, t := range r.Tags {
		if t.Key == TagRunName {
			tagName = t.Value
		}
	}
	if r.RunName != "" && tagName != "" && r.RunName != tagName {
		return nil, lode.Errorf(lode.EInvalid, "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='%s', mlflow.runName='%s').", r.RunName, tagName)
	}
	name := r.RunName
	if name == "" {
		name = tagName
	}
	if name == "" {
		name = RandomRunName()
	}
	tags := append([]Tag(nil), r.Tags...)
	if tagName == "" {
		tags = append(tags, Tag{Key: TagRunName, Value: name})
	}
	if r.StartTime == 0 {
		r.StartTime = s.now()
	}
	id := NewID()
	info := RunInfo{
		RunID: id, RunName: name, ExperimentID: e.ID, UserID: r.UserID,
		Status: RunRunning, StartTime: r.StartTime, LifecycleStage: StageActive,
		ArtifactURI: JoinURI(e.ArtifactLocation, id, "artifacts"),
	}
	return s.Store.CreateRun(ctx, info, tags)
}

// JoinURI appends path segments to an artifact URI with one slash between
// each, as MLflow's append_to_uri_path does ("s3://b/" + "x" = "s3://b/x").
func JoinURI(base string, segs ...string) string {
	out := strings.TrimRight(base, "/")
	if strings.HasSuffix(base, ":/") || strings.HasSuffix(base, ":") {
		// "mlflow-artifacts:/" + "x" is "mlflow-artifacts:/x", never "//x",
		// which would read x as a host.
		out = strings.TrimRight(base, "/") + "/"
		return out + strings.Join(segs, "/")
	}
	return out + "/" + strings.Join(segs, "/")
}

// GetRun returns a run with its data.
func (s *Service) GetRun(ctx context.Context, id string) (*Run, error) {
	if err := ValidateRunID(id, "run_id"); err != nil {
		return nil, err
	}
	return s.Store.GetRun(ctx, id)
}

// RunExperiment returns the id of the experiment a run belongs to.
func (s *Service) RunExperiment(ctx context.Context, id string) (string, error) {
	if err := ValidateRunID(id, "run_id"); err != nil {
		return "", err
	}
	info, err := s.Store.GetRunInfo(ctx, id)
	if err != nil {
		return "", err
	}
	return info.ExperimentID, nil
}

// activeRun returns the info of a run that may be written to.
func (s *Service) activeRun(ctx context.Context, id string) (*RunInfo, error) {
	if err := ValidateRunID(id, "run_id"); err != nil {
		return nil, err
	}
	info, err := s.Store.GetRunInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.LifecycleStage != StageActive {
		return nil, lode.Errorf(lode.EInvalid, "The run %s must be in the 'active' state. Current state is %s.", id, info.LifecycleStage)
	}
	return info, nil
}

// ValidStatus reports whether s is a run status MLflow knows.
func ValidStatus(s string) bool {
	switch s {
	case RunRunning, RunScheduled, RunFinished, RunFailed, RunKilled:
		return true
	}
	return false
}

// UpdateRun changes a run's status, end time or name.
func (s *Service) UpdateRun(ctx context.Context, id, status string, endTime *int64, name string) (*RunInfo, error) {
	if status != "" && !ValidStatus(status) {
		return nil, invalidValue("status", status, "")
	}
	if _, err := s.activeRun(ctx, id); err != nil {
		return nil, err
	}
	return s.Store.UpdateRun(ctx, id, status, endTime, name)
}

// StartRunAt moves an active run's start time to ms (ms since the epoch,
// positive). A job's run is created when the job is submitted, so that the
// job has its run id at once; its duration counts from when the job
// started.
func (s *Service) StartRunAt(ctx context.Context, id string, ms int64) error {
	if ms <= 0 {
		return invalidValue("start_time", ms, "")
	}
	if _, err := s.activeRun(ctx, id); err != nil {
		return err
	}
	return s.Store.SetRunStartTime(ctx, id, ms)
}

// CountRuns counts the runs of the experiments named (at most
// MaxCountExperiments), by lifecycle stage, in one query; the caller has
// chosen experiments it may read.
func (s *Service) CountRuns(ctx context.Context, experimentIDs []string) (map[string]RunCount, error) {
	if len(experimentIDs) > MaxCountExperiments {
		return nil, lode.Errorf(lode.EInvalid, "Cannot count the runs of more than %d experiments at once (got %d).", MaxCountExperiments, len(experimentIDs))
	}
	return s.Store.CountRuns(ctx, experimentIDs)
}

// MaxCountExperiments bounds CountRuns: a page of the experiment list.
const MaxCountExperiments = 1000

// DeleteRun marks a run deleted.
func (s *Service) DeleteRun(ctx context.Context, id string) error {
	if err := ValidateRunID(id, "run_id"); err != nil {
		return err
	}
	if _, err := s.Store.GetRunInfo(ctx, id); err != nil {
		return err
	}
	return s.Store.SetRunStage(ctx, id, StageDeleted)
}

// RestoreRun marks a deleted run active again.
func (s *Service) RestoreRun(ctx context.Context, id string) error {
	if err := ValidateRunID(id, "run_id"); err != nil {
		return err
	}
	if _, err := s.Store.GetRunInfo(ctx, id); err != nil {
		return err
	}
	return s.Store.SetRunStage(ctx, id, StageActive)
}

// LogBatch validates and writes metrics, params and tags atomically.
func (s *Service) LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error {
	if err := ValidateBatchLimits(len(metrics), len(params), len(tags)); err != nil {
		return err
	}
	// Field paths for messages are formatted only when something fails.
	for i := range metrics {
		if ValidateMetric(metrics[i], "") != nil {
			return ValidateMetric(metrics[i], fmt.Sprintf("metrics[%d]", i))
		}
		NormalizeMetric(&metrics[i])
	}
	seen := make(map[string]bool, len(params))
	for i := range params {
		if ValidateParam(&params[i], "") != nil {
			return ValidateParam(&params[i], fmt.Sprintf("params[%d]", i))
		}
		if seen[params[i].Key] {
			return lode.Errorf(lode.EInvalid, "Duplicate parameter keys have been submitted: ['%s']. Please ensure the request contains only one param value per param key.", params[i].Key)
		}
		seen[params[i].Key] = true
	}
	for i := range tags {
		if err := ValidateTag(&tags[i], fmt.Sprintf("tags[%d]", i)); err != nil {
			return err
		}
	}
	if _, err := s.activeRun(ctx, runID); err != nil {
		return err
	}
	return s.Store.LogBatch(ctx, runID, metrics, params, tags)
}

// LogMetric logs one metric value.
func (s *Service) LogMetric(ctx context.Context, runID string, m Metric) error {
	if err := ValidateMetric(m, ""); err != nil {
		return err
	}
	NormalizeMetric(&m)
	if _, err := s.activeRun(ctx, runID); err != nil {
		return err
	}
	return s.Store.LogBatch(ctx, runID, []Metric{m}, nil, nil)
}

// LogParam logs one param; a different value for a logged key is EInvalid.
func (s *Service) LogParam(ctx context.Context, runID string, p Param) error {
	if err := ValidateParam(&p, ""); err != nil {
		return err
	}
	if _, err := s.activeRun(ctx, runID); err != nil {
		return err
	}
	return s.Store.LogBatch(ctx, runID, nil, []Param{p}, nil)
}

// SetTag sets a run tag; mlflow.runName also renames the run.
func (s *Service) SetTag(ctx context.Context, runID string, t Tag) error {
	if err := ValidateTag(&t, ""); err != nil {
		return err
	}
	if _, err := s.activeRun(ctx, runID); err != nil {
		return err
	}
	return s.Store.LogBatch(ctx, runID, nil, nil, []Tag{t})
}

// DeleteTag removes a run tag.
func (s *Service) DeleteTag(ctx context.Context, runID, key string) error {
	if _, err := s.activeRun(ctx, runID); err != nil {
		return err
	}
	return s.Store.DeleteTag(ctx, runID, key)
}

// LogInputs records the datasets (and MLflow 3 models) a run used.
func (s *Service) LogInputs(ctx context.Context, runID string, inputs []DatasetInput, models []ModelInput) error {
	for _, in := range inputs {
		if err := ValidateDataset(in); err != nil {
			return err
		}
	}
	if _, err := s.activeRun(ctx, runID); err != nil {
		return err
	}
	return s.Store.LogInputs(ctx, runID, inputs, models)
}

// LogOutputs records the logged models a run produced.
func (s *Service) LogOutputs(ctx context.Context, runID string, models []ModelOutput) error {
	if _, err := s.activeRun(ctx, runID); err != nil {
		return err
	}
	return s.Store.LogOutputs(ctx, runID, models)
}

// GetMetricHistory returns the logged values of a metric: all of them, or
// one page of q.MaxResults (see Store.GetMetricHistory).
func (s *Service) GetMetricHistory(ctx context.Context, q MetricHistoryQuery) ([]Metric, string, error) {
	if q.RunID == "" {
		return nil, "", lode.Invalid(lode.MsgMissing, "run_id")
	}
	if q.Key == "" {
		return nil, "", lode.Invalid(lode.MsgMissing, "metric_key")
	}
	if err := ValidateRunID(q.RunID, "run_id"); err != nil {
		return nil, "", err
	}
	if q.MaxResults < 0 {
		return nil, "", invalidValue("max_results", q.MaxResults, "")
	}
	return s.Store.GetMetricHistory(ctx, q)
}

// Bounds of get-history-bulk-interval, as in MLflow.
const (
	MaxRunsBulkInterval    = 100
	MaxResultsBulkInterval = 2500
)

// GetMetricHistoryBulkInterval samples one metric of several runs.
func (s *Service) GetMetricHistoryBulkInterval(ctx context.Context, runIDs []string, key string, startStep, endStep *int64, maxResults int) ([]Metric, error) {
	if len(runIDs) == 0 {
		return nil, lode.Errorf(lode.EInvalid, "GetMetricHistoryBulkInterval request must specify at least one run_id.")
	}
	if len(runIDs) > MaxRunsBulkInterval {
		return nil, lode.Errorf(lode.EInvalid, "GetMetricHistoryBulkInterval request cannot specify more than %d run_ids. Received %d run_ids.", MaxRunsBulkInterval, len(runIDs))
	}
	if key == "" {
		return nil, lode.Invalid(lode.MsgMissing, "metric_key")
	}
	if (startStep == nil) != (endStep == nil) {
		return nil, lode.Errorf(lode.EInvalid, "Both start_step and end_step must be specified together, or neither may be specified.")
	}
	if startStep != nil && *startStep > *endStep {
		return nil, lode.Errorf(lode.EInvalid, "end_step must be greater than start_step. Found start_step=%d and end_step=%d.", *startStep, *endStep)
	}
	if maxResults == 0 {
		maxResults = MaxResultsBulkInterval
	}
	if maxResults < 0 || maxResults > MaxResultsBulkInterval {
		return nil, lode.Errorf(lode.EInvalid, "max_results must be between 1 and %d.", MaxResultsBulkInterval)
	}
	for _, id := range runIDs {
		if err := ValidateRunID(id, "run_ids"); err != nil {
			return nil, err
		}
	}
	return s.Store.GetMetricHistoryBulkInterval(ctx, runIDs, key, startStep, endStep, maxResults)
}

// Bounds of get-history-bulk, as in MLflow.
const (
	MaxRunsBulk    = 100
	MaxResultsBulk = 25000
)

// GetMetricHistoryBulk returns every value of one metric of several runs,
// as MLflow's UI reads them for its charts: ordered by run id, then as
// GetMetricHistory orders one run's, at most maxResults in all (0 or
// more than MaxResultsBulk: MaxResultsBulk). A run id named twice counts
// once; an unknown run has no values.
func (s *Service) GetMetricHistoryBulk(ctx context.Context, runIDs []string, key string, maxResults int) ([]Metric, error) {
	if len(runIDs) == 0 {
		return nil, lode.Errorf(lode.EInvalid, "GetMetricHistoryBulk request must specify at least one run_id.")
	}
	if len(runIDs) > MaxRunsBulk {
		return nil, lode.Errorf(lode.EInvalid, "GetMetricHistoryBulk request cannot specify more than %d run_ids. Received %d run_ids.", MaxRunsBulk, len(runIDs))
	}
	if key == "" {
		return nil, lode.Errorf(lode.EInvalid, "GetMetricHistoryBulk request must specify a metric_key.")
	}
	if maxResults < 0 {
		return nil, invalidValue("max_results", maxResults, "It must be a positive integer.")
	}
	if maxResults == 0 || maxResults > MaxResultsBulk {
		maxResults = MaxResultsBulk
	}
	ids := slices.Clone(runIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if err := ValidateRunID(id, "run_id"); err != nil {
			return nil, err
		}
	}
	var out []Metric
	for _, id := range ids {
		q := MetricHistoryQuery{RunID: id, Key: key}
		for len(out) < maxResults {
			q.MaxResults = min(maxResults-len(out), MetricHistoryPageSize)
			page, next, err := s.Store.GetMetricHistory(ctx, q)
			if err != nil {
				return nil, err
			}
			out = append(out, page...)
			if next == "" {
				break
			}
			q.PageToken = next
		}
	}
	return out, nil
}

// MaxDatasetSummaries bounds a search-datasets answer, as in MLflow.
const (
	MaxExperimentsSearchDatasets = 20
	MaxDatasetSummaries          = 1000
)

// SearchDatasets lists the datasets the runs of some experiments used,
// for MLflow's UI (experiments/search-datasets).
func (s *Service) SearchDatasets(ctx context.Context, experimentIDs []string) ([]DatasetSummary, error) {
	if len(experimentIDs) == 0 {
		return nil, lode.Errorf(lode.EInvalid, "SearchDatasets request must specify at least one experiment_id.")
	}
	if len(experimentIDs) > MaxExperimentsSearchDatasets {
		return nil, lode.Errorf(lode.EInvalid, "SearchDatasets request cannot specify more than %d experiment_ids. Received %d experiment_ids.", MaxExperimentsSearchDatasets, len(experimentIDs))
	}
	for _, id := range experimentIDs {
		if err := ValidateExperimentID(id); err != nil {
			return nil, err
		}
	}
	return s.Store.SearchDatasets(ctx, experimentIDs, MaxDatasetSummaries)
}

// SearchRuns runs a search_runs request given in MLflow's string forms.
func (s *Service) SearchRuns(ctx context.Context, experimentIDs []string, filter string, orderBy []string, view ViewType, maxResults int, pageToken string) ([]*Run, string, error) {
	q := RunQuery{ExperimentIDs: experimentIDs, ViewType: view, PageToken: pageToken}
	var err error
	if q.MaxResults, err = ValidateMaxResults(maxResults, MaxResultsRuns); err != nil {
		return nil, "", err
	}
	for _, id := range experimentIDs {
		if err := ValidateExperimentID(id); err != nil {
			return nil, "", err
		}
	}
	if q.Filter, err = ParseRunFilter(filter); err != nil {
		return nil, "", err
	}
	for _, o := range orderBy {
		ob, err := ParseRunOrderBy(o)
		if err != nil {
			return nil, "", err
		}
		q.OrderBy = append(q.OrderBy, ob)
	}
	if q.ExperimentIDs, err = s.readable(ctx, experimentIDs); err != nil {
		return nil, "", err
	}
	if len(q.ExperimentIDs) == 0 {
		return nil, "", nil
	}
	return s.Store.SearchRuns(ctx, q)
}

// RandomRunName returns a name like "brave-owl-417", as MLflow names runs
// that were given none.
func RandomRunName() string {
	adjectives := []string{"amber", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fair",
		"gentle", "glad", "grand", "keen", "kind", "lively", "lucky", "merry", "nimble", "noble",
		"polite", "proud", "quick", "quiet", "rare", "sharp", "shy", "silent", "smart", "steady",
		"sunny", "swift", "tidy", "vast", "warm", "wise", "witty", "young", "zealous", "zesty"}
	nouns := []string{"ant", "bass", "bear", "bee", "crane", "crow", "deer", "dove", "eagle", "eel",
		"finch", "fox", "frog", "gull", "hare", "hawk", "heron", "ibis", "jay", "koala",
		"lark", "lion", "lynx", "mole", "moth", "newt", "otter", "owl", "panda", "quail",
		"raven", "seal", "shrew", "slug", "snail", "stag", "swan", "toad", "trout", "wolf"}
	pick := func(n int) int {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
		if err != nil {
			return 0
		}
		return int(v.Int64())
	}
	return fmt.Sprintf("%s-%s-%d", adjectives[pick(len(adjectives))], nouns[pick(len(nouns))], pick(1000))
}

// TagLoggedModels is the run tag where MLflow 2.x records the models logged
// in a run (mlflow.log-model.history), a JSON list.
const TagLoggedModels = "mlflow.log-model.history"

// RecordLoggedModel appends a model's summary to the run's
// mlflow.log-model.history tag, as MLflow 2.x's runs/log-model does. model
// is the MLmodel file as JSON; only its identifying fields are kept.
func (s *Service) RecordLoggedModel(ctx context.Context, runID, modelJSON string) error {
	var model map[string]any
	if err := json.Unmarshal([]byte(modelJSON), &model); err != nil || model == nil {
		return lode.Errorf(lode.EInvalid, "Malformed model info. \n %s \n is not a valid JSON.", modelJSON)
	}
	var missing []string
	for _, k := range []string{"artifact_path", "flavors", "utc_time_created", "run_id"} {
		if _, ok := model[k]; !ok {
			missing = append(missing, "'"+k+"'")
		}
	}
	if len(missing) > 0 {
		return lode.Errorf(lode.EInvalid, "Model json is missing mandatory fields: {%s}", strings.Join(missing, ", "))
	}
	summary := map[string]any{}
	for _, k := range []string{"run_id", "utc_time_created", "artifact_path", "model_uuid"} {
		if v, ok := model[k]; ok {
			summary[k] = v
		}
	}
	flavors := map[string]any{}
	if fl, ok := model["flavors"].(map[string]any); ok {
		for name, conf := range fl {
			if c, ok := conf.(map[string]any); ok {
				trimmed := make(map[string]any, len(c))
				for k, v := range c {
					if k != "config" {
						trimmed[k] = v
					}
				}
				conf = trimmed
			}
			flavors[name] = conf
		}
	}
	summary["flavors"] = flavors
	if _, err := s.activeRun(ctx, runID); err != nil {
		return err
	}
	run, err := s.Store.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	var history []any
	for _, t := range run.Tags {
		if t.Key == TagLoggedModels {
			_ = json.Unmarshal([]byte(t.Value), &history) // a broken tag starts over
		}
	}
	b, err := json.Marshal(append(history, summary))
	if err != nil {
		return lode.Internal(err, "Could not encode the model history.")
	}
	return s.Store.LogBatch(ctx, runID, nil, nil, []Tag{{Key: TagLoggedModels, Value: string(b)}})
}
