// Package registry is Lode's model registry domain: registered models, their
// numbered versions, tags, aliases and stages, as MLflow's model registry
// defines them. It holds the entities, the Store interface that storage
// adapters implement, and the rules: name and alias validation, stage
// transitions and which model-version sources are safe to accept.
package registry

import (
	"context"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

// Stages of a model version, as MLflow names them.
const (
	StageNone       = "None"
	StageStaging    = "Staging"
	StageProduction = "Production"
	StageArchived   = "Archived"
)

// StatusReady is the status of every model version Lode creates: the files
// are already in place when a version is registered.
const StatusReady = "READY"

// Alias points a name at one version of a registered model.
type Alias struct {
	Alias   string
	Version string
}

// Model is a registered model.
type Model struct {
	Name           string
	CreationTime   int64
	LastUpdateTime int64
	UserID         string
	Description    string
	Tags           []tracking.Tag
	Aliases        []Alias
	LatestVersions []*Version // latest version of each stage
}

// Version is one version of a registered model.
type Version struct {
	Name            string
	Version         string
	CreationTime    int64
	LastUpdateTime  int64
	UserID          string
	CurrentStage    string
	Description     string
	Source          string
	StorageLocation string // where the files are: Source with runs:/ and models:/ resolved
	RunID           string
	RunLink         string
	Status          string
	StatusMessage   string
	ModelID         string
	Tags            []tracking.Tag
	Aliases         []string
	Library         Library // what the version's MLmodel file says
}

// Library describes a version for the model library, from its MLmodel
// file: flavors and the shape of its signature. Column counts are -1 when
// the model has no signature.
type Library struct {
	Flavors          []string
	InputColumns     int
	InputTypes       []string
	OutputColumns    int
	OutputTypes      []string
	SignatureInputs  string
	SignatureOutputs string
}

// LibraryQuery finds versions in the model library; empty fields match
// everything. Types match when the signature uses that type family
// (float, int, string, bool, ...).
type LibraryQuery struct {
	NameLike      string // SQL LIKE pattern on the model name
	Tags          map[string]string
	Flavor        string
	InputColumns  int // 0: any
	InputType     string
	OutputColumns int
	OutputType    string
	LatestOnly    bool // only each model's newest matching version
	// Models keeps the registered models (by name) the caller may read.
	Models     lode.Scope
	MaxResults int
}

// Query is a search of registered models or of versions.
type Query struct {
	// Models keeps the registered models (by name) the caller may read.
	Models     lode.Scope
	Filter     []tracking.Comparison
	OrderBy    []tracking.OrderBy
	MaxResults int
	PageToken  string
}

// Store persists the registry. Methods return *lode.Error values:
// ENotFound for unknown models and versions, EExists for a duplicate name.
type Store interface {
	CreateModel(ctx context.Context, m Model) (*Model, error)
	GetModel(ctx context.Context, name string) (*Model, error)
	// RenameModel renames a model; its versions, tags and aliases follow.
	RenameModel(ctx context.Context, name, newName string, now int64) (*Model, error)
	UpdateModel(ctx context.Context, name, description string, now int64) (*Model, error)
	DeleteModel(ctx context.Context, name string) error
	SearchModels(ctx context.Context, q Query) ([]*Model, string, error)
	SetModelTag(ctx context.Context, name string, t tracking.Tag) error
	DeleteModelTag(ctx context.Context, name, key string) error
	SetAlias(ctx context.Context, name, alias, version string) error
	DeleteAlias(ctx context.Context, name, alias string) error

	// CreateVersion gives v the model's next version number.
	CreateVersion(ctx context.Context, v Version) (*Version, error)
	GetVersion(ctx context.Context, name, version string) (*Version, error)
	// GetVersionByAlias resolves an alias.
	GetVersionByAlias(ctx context.Context, name, alias string) (*Version, error)
	UpdateVersion(ctx context.Context, name, version, description string, now int64) (*Version, error)
	// TransitionStage moves a version to stage; with archiveOthers, the
	// model's other versions in that stage move to Archived.
	TransitionStage(ctx context.Context, name, version, stage string, archiveOthers bool, now int64) (*Version, error)
	DeleteVersion(ctx context.Context, name, version string) error
	SearchVersions(ctx context.Context, q Query) ([]*Version, string, error)
	// LatestVersions returns the newest version of each stage (of the given
	// stages, or all).
	LatestVersions(ctx context.Context, name string, stages []string) ([]*Version, error)
	// SearchLibrary finds versions by flavor, signature, name and tags.
	SearchLibrary(ctx context.Context, q LibraryQuery) ([]*Version, error)
	SetVersionTag(ctx context.Context, name, version string, t tracking.Tag) error
	DeleteVersionTag(ctx context.Context, name, version, key string) error
}
