// Package tracking is Lode's experiment tracking domain: experiments, runs,
// their params, metrics, tags and dataset inputs, and MLflow 3's logged
// models. It holds the entities, the Store interface that storage adapters
// (sqlite, postgres) implement, MLflow's validation rules and the search
// filter language. It knows nothing of HTTP or SQL.
package tracking

import (
	"context"

	"github.com/lode-ml/lode"
)

// Lifecycle stages of experiments and runs.
const (
	StageActive  = "active"
	StageDeleted = "deleted"
)

// Run statuses, as MLflow names them.
const (
	RunRunning   = "RUNNING"
	RunScheduled = "SCHEDULED"
	RunFinished  = "FINISHED"
	RunFailed    = "FAILED"
	RunKilled    = "KILLED"
)

// DefaultExperimentID is the id of the "Default" experiment every store has.
const (
	DefaultExperimentID   = "0"
	DefaultExperimentName = "Default"
)

// Tag keys MLflow gives meaning to.
const (
	TagRunName   = "mlflow.runName"
	TagUser      = "mlflow.user"
	TagParentRun = "mlflow.parentRunId"
)

// Tag is a key/value pair on an experiment, run, dataset input or model.
type Tag struct {
	Key   string
	Value string
}

// Param is a run's (or logged model's) immutable key/value parameter.
type Param struct {
	Key   string
	Value string
}

// Metric is one logged value of a metric. Value may be NaN or ±Inf.
type Metric struct {
	Key       string
	Value     float64
	Timestamp int64 // milliseconds since the epoch
	Step      int64
	// Optional links added by MLflow 3.
	ModelID       string
	DatasetName   string
	DatasetDigest string
	RunID         string // set on metrics that are returned outside a run
}

// Experiment groups runs.
type Experiment struct {
	ID               string
	Name             string
	ArtifactLocation string
	LifecycleStage   string
	CreationTime     int64
	LastUpdateTime   int64
	Tags             []Tag
}

// RunCount is how many runs an experiment has, by lifecycle stage.
type RunCount struct {
	Active, Deleted int64
}

// RunInfo is a run's metadata.
type RunInfo struct {
	RunID          string
	RunName        string
	ExperimentID   string
	UserID         string
	Status         string
	StartTime      int64
	EndTime        *int64
	ArtifactURI    string
	LifecycleStage string
}

// Dataset describes data a run used; it is identified within an experiment
// by (Name, Digest).
type Dataset struct {
	Name       string
	Digest     string
	SourceType string
	Source     string
	Schema     string
	Profile    string
}

// DatasetInput links a dataset to a run, with tags such as mlflow.data.context.
type DatasetInput struct {
	Tags    []Tag
	Dataset Dataset
}

// DatasetSummary is one dataset as some run of an experiment used it: its
// identity and the context the run gave it (mlflow.data.context; "" for
// none), as MLflow's UI lists an experiment's datasets.
type DatasetSummary struct {
	ExperimentID string
	Name         string
	Digest       string
	Context      string
}

// ModelInput and ModelOutput link runs and logged models (MLflow 3).
type ModelInput struct{ ModelID string }

// ModelOutput records that a run produced a logged model at a step.
type ModelOutput struct {
	ModelID string
	Step    int64
}

// Run is a run with its data and inputs.
type Run struct {
	Info    RunInfo
	Metrics []Metric // latest value of each metric
	Params  []Param
	Tags    []Tag
	Inputs  []DatasetInput
	// MLflow 3 model links.
	ModelInputs  []ModelInput
	ModelOutputs []ModelOutput
}

// Logged model statuses (MLflow 3).
const (
	ModelPending      = "LOGGED_MODEL_PENDING"
	ModelReady        = "LOGGED_MODEL_READY"
	ModelUploadFailed = "LOGGED_MODEL_UPLOAD_FAILED"
)

// LoggedModel is an MLflow 3 logged model: a model stored under an
// experiment, optionally produced by a run.
type LoggedModel struct {
	ModelID        string
	ExperimentID   string
	Name           string
	ArtifactURI    string
	CreationTime   int64
	LastUpdateTime int64
	ModelType      string
	SourceRunID    string
	Status         string
	StatusMessage  string
	LifecycleStage string
	Tags           []Tag
	Params         []Param
	Metrics        []Metric
}

// ViewType selects experiments or runs by lifecycle stage.
type ViewType int

// View types, as in MLflow.
const (
	ActiveOnly ViewType = iota
	DeletedOnly
	AllViews
)

// ExperimentQuery is a search_experiments request.
type ExperimentQuery struct {
	// Scope keeps the experiments (by id) the caller may read.
	Scope      lode.Scope
	Filter     []Comparison
	OrderBy    []OrderBy
	ViewType   ViewType
	MaxResults int
	PageToken  string
}

// RunQuery is a search_runs request.
type RunQuery struct {
	ExperimentIDs []string
	Filter        []Comparison
	OrderBy       []OrderBy
	ViewType      ViewType
	MaxResults    int
	PageToken     string
}

// MetricHistoryQuery selects the history of one metric of one run.
type MetricHistoryQuery struct {
	RunID      string
	Key        string
	MaxResults int // 0: all
	PageToken  string
}

// MetricHistoryPageSize is the page the mlflow client asks for when it
// reads a metric's history (GET_METRIC_HISTORY_MAX_RESULTS); the API reads
// longer answers from the store in pages of this size.
const MetricHistoryPageSize = 25000

// DatasetFilter names a dataset in a logged-models search: a metric is on
// it when it was logged with this dataset name and digest. An empty Digest
// matches only metrics logged without one, as on MLflow's server, whose
// REST handler passes a missing digest to its store as None (SQL IS NULL).
type DatasetFilter struct {
	Name, Digest string
}

// LoggedModelQuery is a search of logged models.
type LoggedModelQuery struct {
	ExperimentIDs []string
	Filter        []Comparison
	// Datasets, when not empty, keeps the models with a metric on one of
	// them, and narrows every metric comparison to metrics on them.
	Datasets   []DatasetFilter
	OrderBy    []OrderBy
	MaxResults int
	PageToken  string
}

// Store persists tracking data. Implementations (sqlite, postgres) pass the
// shared suite in package trackingtest. Methods return *lode.Error values:
// ENotFound for unknown ids, EExists for duplicate names, EInvalid for
// broken rules such as re-logging a param with another value. Callers go
// through Service, which validates input first; a Store still enforces what
// only it can check atomically (uniqueness, param immutability).
type Store interface {
	// CreateExperiment stores e (ID is assigned) and returns its id.
	// EExists if an experiment of that name exists, deleted or not.
	CreateExperiment(ctx context.Context, e Experiment) (string, error)
	GetExperiment(ctx context.Context, id string) (*Experiment, error)
	// GetExperimentByName finds an experiment, active or deleted.
	GetExperimentByName(ctx context.Context, name string) (*Experiment, error)
	SearchExperiments(ctx context.Context, q ExperimentQuery) ([]*Experiment, string, error)
	RenameExperiment(ctx context.Context, id, name string) error
	// SetExperimentStage marks an experiment (and, for deletion, its runs)
	// deleted or active.
	SetExperimentStage(ctx context.Context, id, stage string) error
	SetExperimentTag(ctx context.Context, id string, t Tag) error
	DeleteExperimentTag(ctx context.Context, id, key string) error

	// CreateRun stores a new run with its initial tags.
	CreateRun(ctx context.Context, info RunInfo, tags []Tag) (*Run, error)
	GetRun(ctx context.Context, id string) (*Run, error)
	// GetRunInfo is GetRun without the run's data.
	GetRunInfo(ctx context.Context, id string) (*RunInfo, error)
	// UpdateRun changes status, end time and name; zero values are left.
	UpdateRun(ctx context.Context, id string, status string, endTime *int64, name string) (*RunInfo, error)
	SetRunStage(ctx context.Context, id, stage string) error
	// SetRunStartTime moves a run's start time: a job's run is created
	// when the job is submitted and starts when the job does.
	SetRunStartTime(ctx context.Context, id string, ms int64) error
	// CountRuns counts the runs of each experiment named, active and
	// deleted, in one grouped query; experiments without runs are absent.
	CountRuns(ctx context.Context, experimentIDs []string) (map[string]RunCount, error)
	// LogBatch writes metrics, params and tags in one transaction: all or
	// nothing. A param already logged with another value is EInvalid.
	LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error
	DeleteTag(ctx context.Context, runID, key string) error
	LogInputs(ctx context.Context, runID string, inputs []DatasetInput, models []ModelInput) error
	LogOutputs(ctx context.Context, runID string, models []ModelOutput) error
	// GetMetricHistory returns a metric's values ordered by (timestamp,
	// step, value), exact repeats once; nothing for an unknown run. With
	// MaxResults, at most that many and, when more follow, the token of
	// the next page; a page costs memory in its size, not the history's.
	GetMetricHistory(ctx context.Context, q MetricHistoryQuery) ([]Metric, string, error)
	// GetMetricHistoryBulkInterval returns at most maxResults points per run
	// of one metric, sampled evenly over steps in [startStep, endStep].
	GetMetricHistoryBulkInterval(ctx context.Context, runIDs []string, key string, startStep, endStep *int64, maxResults int) ([]Metric, error)
	SearchRuns(ctx context.Context, q RunQuery) ([]*Run, string, error)
	// SearchDatasets returns the distinct datasets the runs of the
	// experiments used, with each context they were used in, ordered by
	// experiment, name, digest and context: at most limit of them.
	SearchDatasets(ctx context.Context, experimentIDs []string, limit int) ([]DatasetSummary, error)

	CreateLoggedModel(ctx context.Context, m LoggedModel) (*LoggedModel, error)
	GetLoggedModel(ctx context.Context, id string) (*LoggedModel, error)
	// GetLoggedModelInfo is GetLoggedModel without the model's tags,
	// params and metrics (a model's metrics grow with every step logged
	// to it).
	GetLoggedModelInfo(ctx context.Context, id string) (*LoggedModel, error)
	// FinalizeLoggedModel sets a model's status.
	FinalizeLoggedModel(ctx context.Context, id, status string) (*LoggedModel, error)
	DeleteLoggedModel(ctx context.Context, id string) error
	SetLoggedModelTags(ctx context.Context, id string, tags []Tag) error
	DeleteLoggedModelTag(ctx context.Context, id, key string) error
	LogLoggedModelParams(ctx context.Context, id string, params []Param) error
	SearchLoggedModels(ctx context.Context, q LoggedModelQuery) ([]*LoggedModel, string, error)

	Close() error
}
