package mlflowapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/tracking"
)

type empty struct{}

func (s *Server) routeTracking() {
	t := s.Tracking
	s.handle("POST", "experiments/create", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name             string `json:"name"`
			ArtifactLocation string `json:"artifact_location"`
			Tags             []wTag `json:"tags"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("name", req.Name); err != nil {
			return nil, err
		}
		if err := s.checkCreate(ctx, auth.Experiment, ""); err != nil {
			return nil, err
		}
		if err := s.checkLocation(ctx, req.ArtifactLocation); err != nil {
			return nil, err
		}
		id, err := t.CreateExperiment(ctx, req.Name, req.ArtifactLocation, tagsIn(req.Tags))
		if err != nil {
			return nil, err
		}
		if err := s.grantCreator(ctx, auth.Experiment, id); err != nil {
			return nil, err
		}
		return map[string]string{"experiment_id": id}, nil
	})
	getExperiment := func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			ExperimentID jstr `json:"experiment_id"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("experiment_id", string(req.ExperimentID)); err != nil {
			return nil, err
		}
		e, err := t.GetExperiment(ctx, string(req.ExperimentID))
		if err != nil {
			return nil, err
		}
		return map[string]any{"experiment": experimentOut(e)}, nil
	}
	s.handle("GET", "experiments/get", On(TargetExperiment, auth.NeedRead, "experiment_id"), getExperiment)
	s.handle("GET", "experiments/get-by-name", On(TargetExperimentName, auth.NeedRead, "experiment_name"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name string `json:"experiment_name"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		e, err := t.GetExperimentByName(ctx, req.Name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"experiment": experimentOut(e)}, nil
	})
	searchExperiments := func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			MaxResults jint   `json:"max_results"`
			PageToken  string `json:"page_token"`
			Filter     string `json:"filter"`
			OrderBy    jstrs  `json:"order_by"`
			ViewType   jstr   `json:"view_type"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		view, err := viewType(string(req.ViewType))
		if err != nil {
			return nil, lode.Errorf(lode.EInvalid, "%v", err)
		}
		if err := positive("max_results", req.MaxResults); err != nil {
			return nil, err
		}
		exps, next, err := t.SearchExperiments(ctx, req.Filter, req.OrderBy, view, int(req.MaxResults.V), req.PageToken)
		if err != nil {
			return nil, err
		}
		out := make([]wExperiment, len(exps))
		for i, e := range exps {
			out[i] = experimentOut(e)
		}
		resp := map[string]any{"experiments": out}
		if next != "" {
			resp["next_page_token"] = next
		}
		return resp, nil
	}
	s.handle("POST", "experiments/search", SignedInRule(), searchExperiments)
	s.handle("GET", "experiments/search", SignedInRule(), searchExperiments)
	s.handle("POST", "experiments/update", On(TargetExperiment, auth.NeedUpdate, "experiment_id"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			ExperimentID jstr   `json:"experiment_id"`
			NewName      string `json:"new_name"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("experiment_id", string(req.ExperimentID)); err != nil {
			return nil, err
		}
		if err := required("new_name", req.NewName); err != nil {
			return nil, err
		}
		return empty{}, t.RenameExperiment(ctx, string(req.ExperimentID), req.NewName)
	})
	experimentOp := func(op func(context.Context, string) error) apiFunc {
		return func(ctx context.Context, r *http.Request) (any, error) {
			var req struct {
				ExperimentID jstr `json:"experiment_id"`
			}
			if err := s.decode(r, &req); err != nil {
				return nil, err
			}
			if err := required("experiment_id", string(req.ExperimentID)); err != nil {
				return nil, err
			}
			return empty{}, op(ctx, string(req.ExperimentID))
		}
	}
	s.handle("POST", "experiments/delete", On(TargetExperiment, auth.NeedDelete, "experiment_id"), experimentOp(t.DeleteExperiment))
	s.handle("POST", "experiments/restore", On(TargetExperiment, auth.NeedDelete, "experiment_id"), experimentOp(t.RestoreExperiment))
	s.handle("POST", "experiments/set-experiment-tag", On(TargetExperiment, auth.NeedUpdate, "experiment_id"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			ExperimentID jstr   `json:"experiment_id"`
			Key          string `json:"key"`
			Value        string `json:"value"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("experiment_id", string(req.ExperimentID)); err != nil {
			return nil, err
		}
		if err := required("key", req.Key); err != nil {
			return nil, err
		}
		return empty{}, t.SetExperimentTag(ctx, string(req.ExperimentID), tracking.Tag{Key: req.Key, Value: req.Value})
	})
	s.handle("POST", "experiments/delete-experiment-tag", On(TargetExperiment, auth.NeedUpdate, "experiment_id"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			ExperimentID jstr   `json:"experiment_id"`
			Key          string `json:"key"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("experiment_id", string(req.ExperimentID)); err != nil {
			return nil, err
		}
		if err := required("key", req.Key); err != nil {
			return nil, err
		}
		return empty{}, t.DeleteExperimentTag(ctx, string(req.ExperimentID), req.Key)
	})

	s.handle("POST", "runs/create", On(TargetExperiment, auth.NeedUpdate, "experiment_id"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			ExperimentID jstr   `json:"experiment_id"`
			UserID       string `json:"user_id"`
			StartTime    jint   `json:"start_time"`
			Tags         []wTag `json:"tags"`
			RunName      string `json:"run_name"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if !s.Guard.Open() {
			// A run is its creator's: the UI and audits read user_id as who
			// made it. Only admins may record someone else (a service
			// account importing runs, say).
			if id := auth.FromContext(ctx); !id.Admin() || req.UserID == "" {
				req.UserID = id.Name()
			}
		}
		run, err := t.CreateRun(ctx, tracking.CreateRunRequest{
			ExperimentID: string(req.ExperimentID), UserID: req.UserID, StartTime: req.StartTime.V,
			Tags: tagsIn(req.Tags), RunName: req.RunName,
		})
		if err != nil {
			return nil, err
		}
		return map[string]any{"run": runOut(run)}, nil
	})
	s.handle("GET", "runs/get", runRule(auth.NeedRead), func(ctx context.Context, r *http.Request) (any, error) {
		var req runRef
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		run, err := t.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		return map[string]any{"run": runOut(run)}, nil
	})
	s.handle("POST", "runs/update", runRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			runRef
			Status  string `json:"status"`
			EndTime jint   `json:"end_time"`
			RunName string `json:"run_name"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		info, err := t.UpdateRun(ctx, id, req.Status, req.EndTime.ptr(), req.RunName)
		if err != nil {
			return nil, err
		}
		return map[string]any{"run_info": runInfoOut(info)}, nil
	})
	runOp := func(op func(context.Context, string) error) apiFunc {
		return func(ctx context.Context, r *http.Request) (any, error) {
			var req runRef
			if err := s.decode(r, &req); err != nil {
				return nil, err
			}
			id, err := req.id()
			if err != nil {
				return nil, err
			}
			return empty{}, op(ctx, id)
		}
	}
	s.handle("POST", "runs/delete", runRule(auth.NeedDelete), runOp(t.DeleteRun))
	s.handle("POST", "runs/restore", runRule(auth.NeedDelete), runOp(t.RestoreRun))
	s.handle("POST", "runs/log-metric", runRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			runRef
			rMetric
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		if err := required("key", req.Key); err != nil {
			return nil, err
		}
		if !req.Value.Set {
			return nil, lode.Invalid(lode.MsgMissing, "value")
		}
		if !req.Timestamp.Set {
			return nil, lode.Invalid(lode.MsgMissing, "timestamp")
		}
		if err := s.checkLoggedModels(ctx, auth.NeedUpdate, 1, func(int) string { return req.ModelID }); err != nil {
			return nil, err
		}
		return empty{}, t.LogMetric(ctx, id, req.metric())
	})
	s.handle("POST", "runs/log-parameter", runRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			runRef
			Key   string  `json:"key"`
			Value *string `json:"value"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		if err := required("key", req.Key); err != nil {
			return nil, err
		}
		if req.Value == nil {
			return nil, lode.Invalid(lode.MsgMissing, "value")
		}
		return empty{}, t.LogParam(ctx, id, tracking.Param{Key: req.Key, Value: *req.Value})
	})
	s.handle("POST", "runs/set-tag", runRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			runRef
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		if err := required("key", req.Key); err != nil {
			return nil, err
		}
		return empty{}, t.SetTag(ctx, id, tracking.Tag{Key: req.Key, Value: req.Value})
	})
	s.handle("POST", "runs/delete-tag", runRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			runRef
			Key string `json:"key"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		if err := required("key", req.Key); err != nil {
			return nil, err
		}
		return empty{}, t.DeleteTag(ctx, id, req.Key)
	})
	s.handle("POST", "runs/log-batch", runRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			RunID   string    `json:"run_id"`
			Metrics []rMetric `json:"metrics"`
			Params  []wTag    `json:"params"`
			Tags    []wTag    `json:"tags"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("run_id", req.RunID); err != nil {
			return nil, err
		}
		// MLflow's request schema wants a key in every item, before
		// anything else is checked.
		for i, m := range req.Metrics {
			if m.Key == "" {
				return nil, lode.Invalid(lode.MsgMissing, fmt.Sprintf("metrics[%d].key", i))
			}
		}
		for field, items := range map[string][]wTag{"params": req.Params, "tags": req.Tags} {
			for i, it := range items {
				if it.Key == "" {
					return nil, lode.Invalid(lode.MsgMissing, fmt.Sprintf("%s[%d].key", field, i))
				}
			}
		}
		metrics := make([]tracking.Metric, len(req.Metrics))
		for i, m := range req.Metrics {
			if !m.Value.Set {
				return nil, lode.Invalid(lode.MsgMissing, fmt.Sprintf("metrics[%d].value", i))
			}
			if !m.Timestamp.Set {
				return nil, lode.Invalid(lode.MsgMissing, fmt.Sprintf("metrics[%d].timestamp", i))
			}
			metrics[i] = m.metric()
		}
		if err := s.checkLoggedModels(ctx, auth.NeedUpdate, len(metrics), func(i int) string { return metrics[i].ModelID }); err != nil {
			return nil, err
		}
		return empty{}, t.LogBatch(ctx, req.RunID, metrics, paramsIn(req.Params), tagsIn(req.Tags))
	})
	s.handle("POST", "runs/log-inputs", runRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			RunID    string          `json:"run_id"`
			Datasets []wDatasetInput `json:"datasets"`
			Models   []wModelRef     `json:"models"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("run_id", req.RunID); err != nil {
			return nil, err
		}
		inputs := make([]tracking.DatasetInput, len(req.Datasets))
		for i, d := range req.Datasets {
			ds := d.Dataset
			inputs[i] = tracking.DatasetInput{Tags: tagsIn(d.Tags), Dataset: tracking.Dataset{
				Name: ds.Name, Digest: ds.Digest, SourceType: ds.SourceType, Source: ds.Source, Schema: ds.Schema, Profile: ds.Profile}}
		}
		models := make([]tracking.ModelInput, len(req.Models))
		for i, m := range req.Models {
			models[i] = tracking.ModelInput{ModelID: m.ModelID}
		}
		if err := s.checkLoggedModels(ctx, auth.NeedRead, len(models), func(i int) string { return models[i].ModelID }); err != nil {
			return nil, err
		}
		return empty{}, t.LogInputs(ctx, req.RunID, inputs, models)
	})
	s.handle("POST", "runs/outputs", runRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			RunID  string `json:"run_id"`
			Models []struct {
				ModelID string `json:"model_id"`
				Step    jint   `json:"step"`
			} `json:"models"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("run_id", req.RunID); err != nil {
			return nil, err
		}
		models := make([]tracking.ModelOutput, len(req.Models))
		for i, m := range req.Models {
			models[i] = tracking.ModelOutput{ModelID: m.ModelID, Step: m.Step.V}
		}
		if err := s.checkLoggedModels(ctx, auth.NeedUpdate, len(models), func(i int) string { return models[i].ModelID }); err != nil {
			return nil, err
		}
		return empty{}, t.LogOutputs(ctx, req.RunID, models)
	})
	s.handle("POST", "runs/search", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			ExperimentIDs jstrs  `json:"experiment_ids"`
			Filter        string `json:"filter"`
			RunViewType   jstr   `json:"run_view_type"`
			MaxResults    jint   `json:"max_results"`
			OrderBy       jstrs  `json:"order_by"`
			PageToken     string `json:"page_token"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		view, err := viewType(string(req.RunViewType))
		if err != nil {
			return nil, lode.Errorf(lode.EInvalid, "%v", err)
		}
		// MLflow's request schema bounds max_results of runs/search
		// (experiments/search is bounded by its store, with another text).
		if err := overLimit("max_results", req.MaxResults, tracking.MaxResultsRuns); err != nil {
			return nil, err
		}
		if err := positive("max_results", req.MaxResults); err != nil {
			return nil, err
		}
		runs, next, err := t.SearchRuns(ctx, req.ExperimentIDs, req.Filter, req.OrderBy, view, int(req.MaxResults.V), req.PageToken)
		if err != nil {
			return nil, err
		}
		resp := map[string]any{}
		if len(runs) > 0 {
			resp["runs"] = runsOut(runs)
		}
		if next != "" {
			resp["next_page_token"] = next
		}
		return resp, nil
	})
	s.handle("GET", "metrics/get-history", runRule(auth.NeedRead), s.getMetricHistory)
	s.handle("GET", "metrics/get-history-bulk-interval", Each(On(TargetRun, auth.NeedRead, "run_ids")), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			RunIDs     jstrs  `json:"run_ids"`
			MetricKey  string `json:"metric_key"`
			StartStep  jint   `json:"start_step"`
			EndStep    jint   `json:"end_step"`
			MaxResults jint   `json:"max_results"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		// MLflow's request schema, checked before the store's rules.
		if len(req.RunIDs) == 0 {
			return nil, lode.Invalid(lode.MsgMissing, "run_ids")
		}
		if err := required("metric_key", req.MetricKey); err != nil {
			return nil, err
		}
		if req.MaxResults.Set && (req.MaxResults.V < 1 || req.MaxResults.V > tracking.MaxResultsBulkInterval) {
			return nil, lode.Invalid(lode.MsgBetween, "max_results", 1, tracking.MaxResultsBulkInterval)
		}
		ms, err := t.GetMetricHistoryBulkInterval(ctx, req.RunIDs, req.MetricKey, req.StartStep.ptr(), req.EndStep.ptr(), int(req.MaxResults.V))
		if err != nil {
			return nil, err
		}
		return map[string]any{"metrics": metricsOut(ms)}, nil
	})
	s.handle("GET", "artifacts/list", runRule(auth.NeedRead), s.listRunArtifacts)
	// MLflow 2.x clients record each logged model here.
	s.handle("POST", "runs/log-model", runRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			RunID     string `json:"run_id"`
			ModelJSON string `json:"model_json"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("run_id", req.RunID); err != nil {
			return nil, err
		}
		if err := required("model_json", req.ModelJSON); err != nil {
			return nil, err
		}
		return empty{}, t.RecordLoggedModel(ctx, req.RunID, req.ModelJSON)
	})
}

// checkLocation refuses a new experiment's artifact location under the
// proxy whose first segment names an experiment (a number, as the proxy's
// checks read it) the caller may not change: its runs' artifacts, and the
// logs the server itself writes there for their jobs, would land in that
// experiment's tree. Other custom locations are left to the default and
// wildcard grants, as the proxy leaves them.
func (s *Server) checkLocation(ctx context.Context, location string) error {
	if s.Guard.Open() {
		return nil
	}
	scheme, rest, ok := strings.Cut(location, ":")
	if !ok || !strings.EqualFold(scheme+":", ArtifactScheme) {
		return nil
	}
	p, _ := proxiedPath(ArtifactScheme + rest)
	first, _, _ := strings.Cut(p, "/")
	if _, err := strconv.ParseInt(first, 10, 64); err != nil {
		return nil
	}
	if err := s.Guard.CheckArtifact(ctx, p, auth.NeedUpdate); err != nil {
		if lode.ErrorCode(err) != lode.EPermission {
			return err
		}
		return auth.Denied("user '%s' may not keep artifacts in experiment %s's folder (artifact_location).", auth.FromContext(ctx).Name(), first)
	}
	return nil
}

// checkLoggedModels checks need on each logged model a request names
// besides its run (model(i) for i < n, "" for none): the route's rule
// covers the run only, and a metric or an output written onto a model is
// a change to that model, which may live in an experiment the caller may
// not touch. Each model is checked once.
func (s *Server) checkLoggedModels(ctx context.Context, need auth.Need, n int, model func(int) string) error {
	if s.Guard.Open() {
		return nil
	}
	var checked []string
	for i := 0; i < n; i++ {
		id := model(i)
		if id == "" || slices.Contains(checked, id) {
			continue
		}
		if err := s.Guard.CheckTarget(ctx, TargetLoggedModel, id, need, false); err != nil {
			return err
		}
		checked = append(checked, id)
	}
	return nil
}

// positive refuses a max_results given as zero or less; leaving it out
// means the default.
func positive(field string, v jint) error {
	if v.Set && v.V <= 0 {
		return lode.Invalid(lode.MsgNotPositive, v.V, field)
	}
	return nil
}

// runRef is the run_id (or legacy run_uuid) field of run requests.
type runRef struct {
	RunID   string `json:"run_id"`
	RunUUID string `json:"run_uuid"`
}

func (r runRef) id() (string, error) {
	id := r.RunID
	if id == "" {
		id = r.RunUUID
	}
	if id == "" {
		return "", lode.Invalid(lode.MsgMissing, "run_id")
	}
	return id, nil
}

// proxiedPath returns the artifact-store path of a mlflow-artifacts: URI,
// or false for URIs this server does not serve.
func proxiedPath(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, ArtifactScheme)
	if !ok {
		return "", false
	}
	// mlflow-artifacts:/a/b and mlflow-artifacts://host/a/b both name a/b.
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[i:]
		} else {
			rest = ""
		}
	}
	return strings.Trim(rest, "/"), true
}
