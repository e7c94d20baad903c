package main

import (
	"context"
	"io"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/tracking"
)

// jobTracker gives the job service a run per job in the server's own
// tracking store, and keeps the job's logs among the run's artifacts.
type jobTracker struct {
	tracking  *tracking.Service
	artifacts artifact.Store // nil when the server proxies no artifacts
}

var _ jobs.Tracker = (*jobTracker)(nil)

func (t *jobTracker) CreateRun(ctx context.Context, experimentID, name string, tags, params map[string]string) (string, error) {
	ts := make([]tracking.Tag, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		ts = append(ts, tracking.Tag{Key: k, Value: tags[k]})
	}
	run, err := t.tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: experimentID, RunName: name, Tags: ts, UserID: tags["mlflow.user"]})
	if err != nil {
		return "", err
	}
	id := run.Info.RunID
	if len(params) > 0 {
		ps := make([]tracking.Param, 0, len(params))
		for _, k := range slices.Sorted(maps.Keys(params)) {
			ps = append(ps, tracking.Param{Key: k, Value: params[k]})
		}
		if err := t.tracking.LogBatch(ctx, id, nil, ps, nil); err != nil {
			// The job is refused: leave no run behind for it.
			t.tracking.DeleteRun(context.WithoutCancel(ctx), id)
			return "", err
		}
	}
	if _, err := t.tracking.UpdateRun(ctx, id, "SCHEDULED", nil, ""); err != nil {
		return "", err
	}
	return id, nil
}

func (t *jobTracker) SetRunStatus(ctx context.Context, runID, status string, startMs, endMs int64) error {
	if startMs > 0 {
		if err := t.tracking.StartRunAt(ctx, runID, startMs); err != nil {
			return err
		}
	}
	var end *int64
	if endMs > 0 {
		end = &endMs
	}
	_, err := t.tracking.UpdateRun(ctx, runID, status, end, "")
	return err
}

func (t *jobTracker) LogMetrics(ctx context.Context, runID string, ms, step int64, metrics map[string]float64) error {
	keys := make([]string, 0, len(metrics))
	for k := range metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ms2 := make([]tracking.Metric, 0, len(keys))
	for _, k := range keys {
		ms2 = append(ms2, tracking.Metric{Key: k, Value: metrics[k], Timestamp: ms, Step: step})
	}
	return t.tracking.LogBatch(ctx, runID, ms2, nil, nil)
}

func (t *jobTracker) PutArtifact(ctx context.Context, runID, p string, open func() (io.ReadCloser, error)) error {
	if t.artifacts == nil {
		return nil
	}
	run, err := t.tracking.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	rest, ok := strings.CutPrefix(run.Info.ArtifactURI, mlflowapi.ArtifactScheme)
	if !ok {
		return lode.Errorf(lode.EInvalid, "run %s keeps its artifacts outside this server (%s)", runID, run.Info.ArtifactURI)
	}
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return t.artifacts.Put(ctx, path.Join(strings.TrimLeft(rest, "/"), p), rc)
}
