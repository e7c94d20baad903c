package jobs

import (
	"context"

	"github.com/lode-ml/lode"
)

// Query selects jobs for List: all of the set fields must match.
type Query struct {
	States []State
	Queue  string
	User   string
	// Experiments keeps the jobs of the experiments its caller may read.
	Experiments lode.Scope
	// MaxResults bounds a page (0: 100); PageToken continues a listing.
	MaxResults int
	PageToken  string
}

// Store keeps jobs. Errors are *lode.Error values: ENotFound for unknown
// ids, EExists for a duplicate id.
type Store interface {
	CreateJob(ctx context.Context, j *Job) error
	// UpdateJob replaces a job's mutable fields (state, reason, history,
	// attempt, run id, placement, exit code, handles).
	UpdateJob(ctx context.Context, j *Job) error
	GetJob(ctx context.Context, id string) (*Job, error)
	// ListJobs returns jobs newest first.
	ListJobs(ctx context.Context, q Query) ([]*Job, string, error)
	// ActiveJobs returns every job not in a final state, oldest first.
	ActiveJobs(ctx context.Context) ([]*Job, error)
}
