package mlflowapi

import (
	"context"
	"net/http"
	"path"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/tracking"
)

type wLoggedModelInfo struct {
	ModelID         string `json:"model_id"`
	ExperimentID    string `json:"experiment_id"`
	Name            string `json:"name"`
	CreationTime    int64  `json:"creation_timestamp_ms"`
	LastUpdatedTime int64  `json:"last_updated_timestamp_ms"`
	ArtifactURI     string `json:"artifact_uri"`
	Status          string `json:"status"`
	ModelType       string `json:"model_type,omitempty"`
	SourceRunID     string `json:"source_run_id,omitempty"`
	StatusMessage   string `json:"status_message,omitempty"`
	Tags            []wTag `json:"tags,omitempty"`
}

type wLoggedModel struct {
	Info wLoggedModelInfo `json:"info"`
	Data struct {
		Params  []wTag    `json:"params,omitempty"`
		Metrics []wMetric `json:"metrics,omitempty"`
	} `json:"data"`
}

func loggedModelOut(m *tracking.LoggedModel) wLoggedModel {
	var out wLoggedModel
	out.Info = wLoggedModelInfo{m.ModelID, m.ExperimentID, m.Name, m.CreationTime, m.LastUpdateTime, m.ArtifactURI,
		m.Status, m.ModelType, m.SourceRunID, m.StatusMessage, tagsOut(m.Tags)}
	out.Data.Params = paramsOut(m.Params)
	if len(m.Metrics) > 0 {
		out.Data.Metrics = metricsOut(m.Metrics)
	}
	return out
}

// modelStatus parses LoggedModelStatus, given by name or number.
func modelStatus(s string) (string, error) {
	switch s {
	case tracking.ModelPending, "1":
		return tracking.ModelPending, nil
	case tracking.ModelReady, "2":
		return tracking.ModelReady, nil
	case tracking.ModelUploadFailed, "3":
		return tracking.ModelUploadFailed, nil
	}
	return "", lode.Errorf(lode.EInvalid, "Invalid value '%s' for parameter 'status'.", s)
}

func (s *Server) routeLoggedModels() {
	t := s.Tracking
	modelResp := func(m *tracking.LoggedModel, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return map[string]any{"model": loggedModelOut(m)}, nil
	}
	s.handle("POST", "logged-models", On(TargetExperiment, auth.NeedUpdate, "experiment_id"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			ExperimentID jstr   `json:"experiment_id"`
			Name         string `json:"name"`
			ModelType    string `json:"model_type"`
			SourceRunID  string `json:"source_run_id"`
			Params       []wTag `json:"params"`
			Tags         []wTag `json:"tags"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		// The model records the run it came from: the caller must be able
		// to read that run, as MLflow 3 asks.
		if req.SourceRunID != "" {
			if err := s.Guard.CheckTarget(ctx, TargetRun, req.SourceRunID, auth.NeedRead, false); err != nil {
				return nil, err
			}
		}
		return modelResp(t.CreateLoggedModel(ctx, tracking.CreateLoggedModelRequest{
			ExperimentID: string(req.ExperimentID), Name: req.Name, ModelType: req.ModelType,
			SourceRunID: req.SourceRunID, Params: paramsIn(req.Params), Tags: tagsIn(req.Tags),
		}))
	})
	s.handle("GET", "logged-models/{model_id}", On(TargetLoggedModel, auth.NeedRead, "{model_id}"), func(ctx context.Context, r *http.Request) (any, error) {
		return modelResp(t.GetLoggedModel(ctx, r.PathValue("model_id")))
	})
	s.handle("PATCH", "logged-models/{model_id}", On(TargetLoggedModel, auth.NeedUpdate, "{model_id}"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Status jstr `json:"status"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		status, err := modelStatus(string(req.Status))
		if err != nil {
			return nil, err
		}
		return modelResp(t.FinalizeLoggedModel(ctx, r.PathValue("model_id"), status))
	})
	s.handle("DELETE", "logged-models/{model_id}", On(TargetLoggedModel, auth.NeedDelete, "{model_id}"), func(ctx context.Context, r *http.Request) (any, error) {
		return empty{}, t.DeleteLoggedModel(ctx, r.PathValue("model_id"))
	})
	s.handle("PATCH", "logged-models/{model_id}/tags", On(TargetLoggedModel, auth.NeedUpdate, "{model_id}"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Tags []wTag `json:"tags"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return empty{}, t.SetLoggedModelTags(ctx, r.PathValue("model_id"), tagsIn(req.Tags))
	})
	s.handle("DELETE", "logged-models/{model_id}/tags/{tag_key}", On(TargetLoggedModel, auth.NeedDelete, "{model_id}"), func(ctx context.Context, r *http.Request) (any, error) {
		return empty{}, t.DeleteLoggedModelTag(ctx, r.PathValue("model_id"), r.PathValue("tag_key"))
	})
	s.handle("POST", "logged-models/{model_id}/params", On(TargetLoggedModel, auth.NeedUpdate, "{model_id}"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Params []wTag `json:"params"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return empty{}, t.LogLoggedModelParams(ctx, r.PathValue("model_id"), paramsIn(req.Params))
	})
	s.handle("POST", "logged-models/search", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			ExperimentIDs jstrs  `json:"experiment_ids"`
			Filter        string `json:"filter"`
			MaxResults    jint   `json:"max_results"`
			OrderBy       []struct {
				FieldName     string `json:"field_name"`
				Ascending     *bool  `json:"ascending"`
				DatasetName   string `json:"dataset_name"`
				DatasetDigest string `json:"dataset_digest"`
			} `json:"order_by"`
			PageToken string `json:"page_token"`
			Datasets  []struct {
				DatasetName   string `json:"dataset_name"`
				DatasetDigest string `json:"dataset_digest"`
			} `json:"datasets"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		var datasets []tracking.DatasetFilter
		for _, d := range req.Datasets {
			datasets = append(datasets, tracking.DatasetFilter{Name: d.DatasetName, Digest: d.DatasetDigest})
		}
		var order []tracking.LoggedModelOrder
		for _, o := range req.OrderBy {
			asc := o.Ascending == nil || *o.Ascending
			order = append(order, tracking.LoggedModelOrder{FieldName: o.FieldName, Ascending: asc, DatasetName: o.DatasetName, DatasetDigest: o.DatasetDigest})
		}
		models, next, err := t.SearchLoggedModels(ctx, req.ExperimentIDs, req.Filter, datasets, order, int(req.MaxResults.V), req.PageToken)
		if err != nil {
			return nil, err
		}
		out := make([]wLoggedModel, len(models))
		for i, m := range models {
			out[i] = loggedModelOut(m)
		}
		resp := map[string]any{"models": out}
		if next != "" {
			resp["next_page_token"] = next
		}
		return resp, nil
	})
	s.handle("GET", "logged-models/{model_id}/artifacts/directories", On(TargetLoggedModel, auth.NeedRead, "{model_id}"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Path string `json:"artifact_directory_path"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		m, err := t.GetLoggedModel(ctx, r.PathValue("model_id"))
		if err != nil {
			return nil, err
		}
		return s.listUnder(ctx, m.ArtifactURI, req.Path)
	})
	// The UI downloads a logged model's files through this endpoint.
	s.route("GET /ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files", On(TargetLoggedModel, auth.NeedRead, "{model_id}"), func(w http.ResponseWriter, r *http.Request) {
		m, err := t.GetLoggedModel(r.Context(), r.PathValue("model_id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		root, ok := proxiedPath(m.ArtifactURI)
		if !ok {
			s.writeError(w, r, lode.Errorf(lode.EInvalid, "Artifacts at '%s' are not served by this server.", m.ArtifactURI))
			return
		}
		q, err := query(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rel, err := artifact.CleanPath(q.Get("artifact_file_path"))
		if err == nil && rel == "" {
			err = lode.Invalid(lode.MsgMissing, "artifact_file_path")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if root, err = artifact.CleanPath(root); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.download(w, r, path.Join(root, rel))
	})
}
