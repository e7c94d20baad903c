package tracking

import (
	"context"
	"fmt"
	"strings"

	"github.com/lode-ml/lode"
)

// CreateLoggedModelRequest holds the fields of logged-models create.
type CreateLoggedModelRequest struct {
	ExperimentID string
	Name         string
	ModelType    string
	SourceRunID  string
	Params       []Param
	Tags         []Tag
}

// ValidateLoggedModelName applies MLflow's rule for logged model names.
func ValidateLoggedModelName(name string) error {
	if strings.ContainsAny(name, "/:.%\"'") {
		return lode.Errorf(lode.EInvalid, "Invalid model name ('%s') provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%%', '\"', \"'\")", name)
	}
	return nil
}

// CreateLoggedModel creates a pending logged model in an active experiment;
// its artifacts live under <experiment location>/models/<id>/artifacts.
func (s *Service) CreateLoggedModel(ctx context.Context, r CreateLoggedModelRequest) (*LoggedModel, error) {
	if r.ExperimentID == "" {
		return nil, lode.Invalid(lode.MsgMissing, "experiment_id")
	}
	if err := ValidateLoggedModelName(r.Name); err != nil {
		return nil, err
	}
	for i := range r.Params {
		if err := ValidateParam(&r.Params[i], fmt.Sprintf("params[%d]", i)); err != nil {
			return nil, err
		}
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
	if r.Name == "" {
		r.Name = RandomRunName()
	}
	id := "m-" + NewID()
	now := s.now()
	return s.Store.CreateLoggedModel(ctx, LoggedModel{
		ModelID: id, ExperimentID: e.ID, Name: r.Name,
		ArtifactURI:  JoinURI(e.ArtifactLocation, "models", id, "artifacts"),
		CreationTime: now, LastUpdateTime: now, ModelType: r.ModelType,
		SourceRunID: r.SourceRunID, Status: ModelPending, LifecycleStage: StageActive,
		Tags: r.Tags, Params: r.Params,
	})
}

// GetLoggedModel returns an active logged model.
func (s *Service) GetLoggedModel(ctx context.Context, id string) (*LoggedModel, error) {
	if id == "" {
		return nil, lode.Invalid(lode.MsgMissing, "model_id")
	}
	return s.Store.GetLoggedModel(ctx, id)
}

// LoggedModelExperiment returns the id of the experiment an active logged
// model belongs to, without reading the model's data: permission checks
// ask it on every metric batch that names a model.
func (s *Service) LoggedModelExperiment(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", lode.Invalid(lode.MsgMissing, "model_id")
	}
	m, err := s.Store.GetLoggedModelInfo(ctx, id)
	if err != nil {
		return "", err
	}
	return m.ExperimentID, nil
}

// FinalizeLoggedModel sets a logged model's final status.
func (s *Service) FinalizeLoggedModel(ctx context.Context, id, status string) (*LoggedModel, error) {
	switch status {
	case ModelReady, ModelUploadFailed, ModelPending:
	default:
		return nil, invalidValue("status", status, "")
	}
	return s.Store.FinalizeLoggedModel(ctx, id, status)
}

// DeleteLoggedModel deletes a logged model.
func (s *Service) DeleteLoggedModel(ctx context.Context, id string) error {
	return s.Store.DeleteLoggedModel(ctx, id)
}

// SetLoggedModelTags sets tags on a logged model.
func (s *Service) SetLoggedModelTags(ctx context.Context, id string, tags []Tag) error {
	for i := range tags {
		if err := ValidateTag(&tags[i], fmt.Sprintf("tags[%d]", i)); err != nil {
			return err
		}
	}
	return s.Store.SetLoggedModelTags(ctx, id, tags)
}

// DeleteLoggedModelTag removes a tag from a logged model.
func (s *Service) DeleteLoggedModelTag(ctx context.Context, id, key string) error {
	return s.Store.DeleteLoggedModelTag(ctx, id, key)
}

// LogLoggedModelParams logs params on a logged model.
func (s *Service) LogLoggedModelParams(ctx context.Context, id string, params []Param) error {
	for i := range params {
		if err := ValidateParam(&params[i], fmt.Sprintf("params[%d]", i)); err != nil {
			return err
		}
	}
	return s.Store.LogLoggedModelParams(ctx, id, params)
}

// LoggedModelOrder is one order_by entry of a logged-models search, which
// MLflow's API gives as a structure rather than a string.
type LoggedModelOrder struct {
	FieldName     string
	Ascending     bool
	DatasetName   string
	DatasetDigest string
}

// MaxDatasetFilters bounds the datasets of one logged-models search (each
// is two query parameters; MLflow sets no bound).
const MaxDatasetFilters = 1000

// SearchLoggedModels searches logged models. With datasets, only models
// with a metric logged on one of them are found, and a metric comparison
// in filter holds only for such metrics (see DatasetFilter).
func (s *Service) SearchLoggedModels(ctx context.Context, experimentIDs []string, filter string, datasets []DatasetFilter, orderBy []LoggedModelOrder, maxResults int, pageToken string) ([]*LoggedModel, string, error) {
	if len(experimentIDs) == 0 {
		return nil, "", lode.Invalid(lode.MsgMissing, "experiment_ids")
	}
	for _, id := range experimentIDs {
		if err := ValidateExperimentID(id); err != nil {
			return nil, "", err
		}
	}
	if len(datasets) > MaxDatasetFilters {
		return nil, "", lode.Errorf(lode.EInvalid, "A logged-models search names at most %d datasets, not %d.", MaxDatasetFilters, len(datasets))
	}
	for _, d := range datasets {
		if d.Name == "" {
			return nil, "", lode.Errorf(lode.EInvalid, "`dataset_name` in the `datasets` clause must be specified.")
		}
	}
	q := LoggedModelQuery{ExperimentIDs: experimentIDs, Datasets: datasets, PageToken: pageToken}
	var err error
	if maxResults == 0 {
		maxResults = 100
	}
	if q.MaxResults, err = ValidateMaxResults(maxResults, MaxResultsRuns); err != nil {
		return nil, "", err
	}
	if q.Filter, err = ParseLoggedModelFilter(filter); err != nil {
		return nil, "", err
	}
	for _, o := range orderBy {
		ob, err := ParseLoggedModelOrderBy(o.FieldName, o.Ascending, o.DatasetName, o.DatasetDigest)
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
	return s.Store.SearchLoggedModels(ctx, q)
}
