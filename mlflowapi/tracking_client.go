package mlflowapi

import (
	"context"
	"net/http"
	"net/url"
)

// The tracking API's wire forms, for callers of the client.
type (
	// Experiment is an experiment as the API sends it.
	Experiment = wExperiment
	// Run is a run as the API sends it: its info, and its data (params,
	// tags and the latest value of each metric).
	Run = wRun
	// RunInfo is what a run is: ids, name, status, times, artifact URI.
	RunInfo = wRunInfo
	// Metric is one metric value as the API sends it.
	Metric = wMetric
)

// UnmarshalJSON reads a double as protobuf's JSON writes it: a number, or
// "NaN", "Infinity" and "-Infinity" as strings.
func (f *wfloat) UnmarshalJSON(b []byte) error {
	var j jfloat
	if err := j.UnmarshalJSON(b); err != nil {
		return err
	}
	*f = wfloat(j.V)
	return nil
}

// Float is a metric's value as a float64.
func (m Metric) Float() float64 { return float64(m.Value) }

// ExperimentQuery is a search for experiments (experiments/search).
type ExperimentQuery struct {
	Filter     string
	OrderBy    []string
	ViewType   string // ACTIVE_ONLY (""), DELETED_ONLY or ALL
	MaxResults int    // 0: the server's default page size
	PageToken  string
}

// SearchExperiments returns one page of experiments and the next page's
// token ("" on the last page).
func (c *Client) SearchExperiments(ctx context.Context, q ExperimentQuery) ([]Experiment, string, error) {
	in := map[string]any{}
	setNonEmptyJSON(in, "filter", q.Filter)
	setNonEmptyJSON(in, "view_type", q.ViewType)
	setNonEmptyJSON(in, "page_token", q.PageToken)
	if len(q.OrderBy) > 0 {
		in["order_by"] = q.OrderBy
	}
	if q.MaxResults > 0 {
		in["max_results"] = q.MaxResults
	}
	var out struct {
		Experiments []Experiment `json:"experiments"`
		Next        string       `json:"next_page_token"`
	}
	if err := c.call(ctx, http.MethodPost, "experiments/search", nil, in, &out); err != nil {
		return nil, "", err
	}
	return out.Experiments, out.Next, nil
}

// GetExperiment returns the experiment with id.
func (c *Client) GetExperiment(ctx context.Context, id string) (*Experiment, error) {
	var out struct {
		Experiment Experiment `json:"experiment"`
	}
	if err := c.call(ctx, http.MethodGet, "experiments/get", url.Values{"experiment_id": {id}}, nil, &out); err != nil {
		return nil, err
	}
	return &out.Experiment, nil
}

// GetExperimentByName returns the experiment named name.
func (c *Client) GetExperimentByName(ctx context.Context, name string) (*Experiment, error) {
	var out struct {
		Experiment Experiment `json:"experiment"`
	}
	if err := c.call(ctx, http.MethodGet, "experiments/get-by-name", url.Values{"experiment_name": {name}}, nil, &out); err != nil {
		return nil, err
	}
	return &out.Experiment, nil
}

// CreateExperimentWith creates an experiment with an artifact location
// ("" for the server's default) and tags, and returns its id.
func (c *Client) CreateExperimentWith(ctx context.Context, name, artifactLocation string, tags []Tag) (string, error) {
	in := map[string]any{"name": name}
	setNonEmptyJSON(in, "artifact_location", artifactLocation)
	if len(tags) > 0 {
		in["tags"] = tags
	}
	var out struct {
		ID string `json:"experiment_id"`
	}
	err := c.call(ctx, http.MethodPost, "experiments/create", nil, in, &out)
	return out.ID, err
}

// DeleteExperiment marks an experiment (and its runs) deleted.
func (c *Client) DeleteExperiment(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, "experiments/delete", nil, map[string]string{"experiment_id": id}, nil)
}

// RunQuery is a search for runs (runs/search).
type RunQuery struct {
	ExperimentIDs []string
	Filter        string
	OrderBy       []string
	ViewType      string // ACTIVE_ONLY (""), DELETED_ONLY or ALL
	MaxResults    int    // 0: the server's default page size
	PageToken     string
}

// SearchRuns returns one page of runs and the next page's token ("" on the
// last page).
func (c *Client) SearchRuns(ctx context.Context, q RunQuery) ([]Run, string, error) {
	in := map[string]any{"experiment_ids": q.ExperimentIDs}
	setNonEmptyJSON(in, "filter", q.Filter)
	setNonEmptyJSON(in, "run_view_type", q.ViewType)
	setNonEmptyJSON(in, "page_token", q.PageToken)
	if len(q.OrderBy) > 0 {
		in["order_by"] = q.OrderBy
	}
	if q.MaxResults > 0 {
		in["max_results"] = q.MaxResults
	}
	var out struct {
		Runs []Run  `json:"runs"`
		Next string `json:"next_page_token"`
	}
	if err := c.call(ctx, http.MethodPost, "runs/search", nil, in, &out); err != nil {
		return nil, "", err
	}
	return out.Runs, out.Next, nil
}

// GetRun returns the run with id.
func (c *Client) GetRun(ctx context.Context, id string) (*Run, error) {
	var out struct {
		Run Run `json:"run"`
	}
	if err := c.call(ctx, http.MethodGet, "runs/get", url.Values{"run_id": {id}}, nil, &out); err != nil {
		return nil, err
	}
	return &out.Run, nil
}

func setNonEmptyJSON(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}
