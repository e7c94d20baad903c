package mlflowapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/tracking"
)

// MaxUploadArtifactBytes bounds one file sent to upload-artifact, as
// MLflow's server bounds it: the UI's uploads are small (a table it
// edits, an image), and the artifact proxy takes large files.
const MaxUploadArtifactBytes = 10 << 20

// routeAjax registers the endpoints MLflow's server serves for its own
// UI under /ajax-api only; Lode serves them under /api too, as it does
// every other endpoint.
func (s *Server) routeAjax() {
	t := s.Tracking
	s.handle("GET", "metrics/get-history-bulk", Each(On(TargetRun, auth.NeedRead, "run_id")), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			RunIDs     jstrs  `json:"run_id"`
			MetricKey  string `json:"metric_key"`
			MaxResults jint   `json:"max_results"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		// MLflow limits its query to max_results rows: zero is none.
		if req.MaxResults.Set && req.MaxResults.V == 0 && len(req.RunIDs) > 0 && req.MetricKey != "" {
			return map[string]any{"metrics": []wMetric{}}, nil
		}
		ms, err := t.GetMetricHistoryBulk(ctx, req.RunIDs, req.MetricKey, int(min(req.MaxResults.V, tracking.MaxResultsBulk+1)))
		if err != nil {
			return nil, err
		}
		// Each value with its run and nothing else (no model or dataset
		// link), and an empty list written out, as MLflow answers.
		out := make([]wMetric, len(ms))
		for i, m := range ms {
			out[i] = wMetric{Key: m.Key, Value: wfloat(m.Value), Timestamp: m.Timestamp, Step: m.Step, RunID: m.RunID}
		}
		return map[string]any{"metrics": out}, nil
	})
	// MLflow asks READ on every experiment named, refusing the request
	// when one is not readable (rather than leaving it out, as searches
	// do); the rule cannot name each of a JSON body's list, so the handler
	// checks them.
	s.handle("POST", "experiments/search-datasets", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			ExperimentIDs jstrs `json:"experiment_ids"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if !s.Guard.Open() && len(req.ExperimentIDs) <= tracking.MaxExperimentsSearchDatasets {
			for _, id := range req.ExperimentIDs {
				if err := s.Guard.CheckTarget(ctx, TargetExperiment, id, auth.NeedRead, false); err != nil {
					return nil, err
				}
			}
		}
		sums, err := t.SearchDatasets(ctx, req.ExperimentIDs)
		if err != nil {
			return nil, err
		}
		if len(sums) == 0 {
			return empty{}, nil // MLflow's protobuf JSON leaves out an empty list
		}
		type wSummary struct {
			ExperimentID string `json:"experiment_id"`
			Name         string `json:"name"`
			Digest       string `json:"digest"`
			Context      string `json:"context,omitempty"`
		}
		out := make([]wSummary, len(sums))
		for i, d := range sums {
			out[i] = wSummary{ExperimentID: d.ExperimentID, Name: d.Name, Digest: d.Digest, Context: d.Context}
		}
		return map[string]any{"dataset_summaries": out}, nil
	})
	// MLflow reads run_uuid only, from the query; the body is the file.
	uploadRule := Each(On(TargetRun, auth.NeedUpdate, "run_uuid"))
	for _, prefix := range []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"} {
		s.route("POST "+prefix+"upload-artifact", uploadRule, s.uploadArtifact)
	}
}

// uploadArtifact is upload-artifact: it writes the request's body as the
// file at ?path= under the artifact root of the run ?run_uuid= names, as
// MLflow's UI saves a file it edited. The answer is MLflow's: status 200
// and an empty body.
func (s *Server) uploadArtifact(w http.ResponseWriter, r *http.Request) {
	if err := s.putRunArtifact(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) putRunArtifact(r *http.Request) error {
	ctx := r.Context()
	q, err := query(r)
	if err != nil {
		return err
	}
	ids, err := queryValues(q, "run_uuid")
	if err != nil {
		return err
	}
	if len(ids) > 1 {
		return duplicate("run_uuid")
	}
	if len(ids) == 0 || ids[0] == "" {
		return lode.Errorf(lode.EInvalid, "Request must specify run_uuid.")
	}
	paths, err := queryValues(q, "path")
	if err != nil {
		return err
	}
	if len(paths) > 1 {
		return duplicate("path")
	}
	if len(paths) == 0 || paths[0] == "" {
		return lode.Errorf(lode.EInvalid, "Request must specify path.")
	}
	rel, err := artifact.CleanPath(paths[0])
	if err != nil {
		return err
	}
	if rel == "" {
		return lode.Errorf(lode.EInvalid, "Invalid artifact path: it names the artifact root.")
	}
	tooLarge := lode.Errorf(lode.EInvalid, "Artifact size is too large. Max size is 10MB.")
	if r.ContentLength > MaxUploadArtifactBytes {
		return tooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxUploadArtifactBytes))
	if err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			return tooLarge
		}
		return lode.Errorf(lode.EBadRequest, "Could not read the request body: %v", err)
	}
	if len(data) == 0 {
		return lode.Errorf(lode.EInvalid, "Request must specify data.")
	}
	run, err := s.Tracking.GetRun(ctx, ids[0])
	if err != nil {
		return err
	}
	root, ok := proxiedPath(run.Info.ArtifactURI)
	if !ok || s.Artifacts == nil {
		return lode.Errorf(lode.EInvalid, "Artifacts at '%s' are not served by this server; only %s URIs are.", run.Info.ArtifactURI, ArtifactScheme)
	}
	if root, err = artifact.CleanPath(root); err != nil {
		return err
	}
	p := path.Join(root, rel)
	// The run's artifact root may lie in another experiment's folder: the
	// file is checked where it lands, as the proxy checks a PUT.
	if err := s.Guard.CheckArtifact(ctx, p, auth.NeedUpdate); err != nil {
		return err
	}
	return s.Artifacts.Put(ctx, p, bytes.NewReader(data))
}
