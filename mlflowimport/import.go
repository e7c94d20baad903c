package mlflowimport

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"

	"golang.org/x/sync/errgroup"
)

// Importer copies one MLflow database (and artifact root) into Lode.
type Importer struct {
	Source *Source
	// ArtifactRoot is the local folder MLflow's server kept artifacts in
	// (its --artifacts-destination, e.g. ./mlartifacts); "" copies no files
	// (URIs are still rewritten, for files copied by other means).
	ArtifactRoot string
	Tracking     tracking.Store
	Registry     registry.Store
	Artifacts    artifact.Store // Lode's; nil copies no files
	// Workspace is the MLflow workspace imported from a database that has
	// workspaces (default "default").
	Workspace string
	// Progress, when set, is called as the import goes (often: throttle
	// the display), and once at the end with final true; never by two
	// goroutines at once.
	Progress func(s Stats, final bool)
	// Workers is how many runs are imported at once (0: 4). Each reads
	// its run from MLflow's database and writes it to Lode's store on its
	// own connections, so the database round trips overlap.
	Workers int

	mu       sync.Mutex // guards stats, copied and calls of Progress
	stats    Stats
	prefixes []prefixMap
	expIDs   map[string]string  // MLflow experiment id -> Lode's
	copied   map[[2]string]bool // (MLflow path, Lode path) trees copied in this run
}

// Count is what happened to one kind of entity.
type Count struct {
	Total   int // found in MLflow
	Created int
	Updated int // existed in Lode, and something missing was added
	Skipped int // existed in Lode with nothing to add
}

// Done is how many have been handled so far.
func (c Count) Done() int { return c.Created + c.Updated + c.Skipped }

// Stats are an import's counts, for the progress display and the summary.
type Stats struct {
	Experiments, Runs, LoggedModels, Models, Versions, Aliases Count
	// Points written: params, tags, metric points (a run's full history).
	Params, Tags, MetricPoints int64
	// Artifact files copied (with their bytes), already there, and in
	// MLflow's root (an estimate for the progress bar).
	Files, Bytes, FilesSkipped, FilesTotal int64
	Warnings                               []string
}

func (im *Importer) workspace() string {
	if im.Workspace == "" {
		return "default"
	}
	return im.Workspace
}

func (im *Importer) warnf(format string, args ...any) {
	im.tally(func(s *Stats) { s.Warnings = append(s.Warnings, fmt.Sprintf(format, args...)) })
}

// tally changes the counts; runs are imported concurrently.
func (im *Importer) tally(f func(s *Stats)) {
	im.mu.Lock()
	f(&im.stats)
	im.mu.Unlock()
}

func (im *Importer) progress(final bool) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.Progress != nil {
		im.Progress(im.stats, final)
	}
}

// Run imports everything and returns the counts. It stops at the first
// error; what was imported until then stays, and running again resumes.
func (im *Importer) Run(ctx context.Context) (Stats, error) {
	im.expIDs = map[string]string{}
	err := im.run(ctx)
	im.progress(true)
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.stats, err
}

func (im *Importer) run(ctx context.Context) error {
	exps, err := im.readExperiments(ctx)
	if err != nil {
		return err
	}
	models, err := im.readModels(ctx)
	if err != nil {
		return err
	}
	lms, err := im.readLoggedModels(ctx)
	if err != nil {
		return err
	}
	st := &im.stats
	st.Experiments.Total = len(exps)
	st.LoggedModels.Total = len(lms)
	st.Models.Total = len(models)
	for _, e := range exps {
		st.Runs.Total += im.Source.count(ctx, `SELECT COUNT(*) FROM runs WHERE experiment_id = ?`, atoi(e.ID))
	}
	for _, m := range models {
		where, args := im.wsFilter(ctx, "model_versions", "")
		st.Versions.Total += im.Source.count(ctx, `SELECT COUNT(*) FROM model_versions WHERE name = ?`+where, append([]any{m.Name}, args...)...)
		st.Aliases.Total += len(m.Aliases)
	}
	if im.ArtifactRoot != "" && im.Artifacts != nil {
		st.FilesTotal = countFiles(im.ArtifactRoot)
	}
	im.progress(false)

	// Experiments first (runs and logged models need their Lode ids), then
	// logged models (metric points linked to one are recorded on the model
	// only when it exists), then runs, then the registry, whose versions
	// name runs and logged models.
	var deleted []string
	for _, e := range exps {
		id, created, err := im.importExperiment(ctx, e)
		if err != nil {
			return fmt.Errorf("experiment %q: %w", e.Name, err)
		}
		if created && e.LifecycleStage == tracking.StageDeleted {
			deleted = append(deleted, id)
		}
	}
	for _, m := range lms {
		if err := im.importLoggedModel(ctx, m); err != nil {
			return fmt.Errorf("logged model %s: %w", m.ModelID, err)
		}
	}
	for _, e := range exps {
		runs, err := im.readRuns(ctx, e.ID)
		if err != nil {
			return err
		}
		if err := im.importRuns(ctx, runs, im.expIDs[e.ID]); err != nil {
			return err
		}
	}
	// Deleting an experiment in Lode marks its runs deleted, as MLflow did
	// when it was deleted there; so it comes after they are all in.
	for _, id := range deleted {
		if err := im.Tracking.SetExperimentStage(ctx, id, tracking.StageDeleted); err != nil {
			return err
		}
	}
	for _, m := range models {
		if err := im.importModel(ctx, m); err != nil {
			return fmt.Errorf("registered model %q: %w", m.Name, err)
		}
	}
	return nil
}

func isNotFound(err error) bool { return lode.ErrorCode(err) == lode.ENotFound }

// missingTags returns the tags of want whose keys have lacks.
func missingTags(want, have []tracking.Tag) []tracking.Tag {
	keys := map[string]bool{}
	for _, t := range have {
		keys[t.Key] = true
	}
	var out []tracking.Tag
	for _, t := range want {
		if !keys[t.Key] {
			out = append(out, t)
		}
	}
	return out
}

func (im *Importer) importExperiment(ctx context.Context, e srcExperiment) (string, bool, error) {
	st := &im.stats.Experiments
	have, err := im.Tracking.GetExperimentByName(ctx, e.Name)
	if err != nil && !isNotFound(err) {
		return "", false, err
	}
	if have != nil {
		im.expIDs[e.ID] = have.ID
		im.addPrefix(e.ArtifactLocation, have.ArtifactLocation)
		add := missingTags(e.Tags, have.Tags)
		for _, t := range add {
			if err := im.Tracking.SetExperimentTag(ctx, have.ID, t); err != nil {
				return "", false, err
			}
		}
		if len(add) > 0 {
			st.Updated++
		} else {
			st.Skipped++
		}
		return have.ID, false, nil
	}
	exp := e.Experiment
	exp.LifecycleStage = tracking.StageActive
	if _, in := im.sourceRel(e.ArtifactLocation); in || e.ArtifactLocation == "" {
		// Files that were in MLflow's root move to Lode's store: the
		// experiment gets Lode's default location (mlflow-artifacts:/<id>).
		exp.ArtifactLocation = ""
	}
	id, err := im.Tracking.CreateExperiment(ctx, exp)
	if err != nil {
		return "", false, err
	}
	got, err := im.Tracking.GetExperiment(ctx, id)
	if err != nil {
		return "", false, err
	}
	im.expIDs[e.ID] = id
	im.addPrefix(e.ArtifactLocation, got.ArtifactLocation)
	st.Created++
	im.stats.Tags += int64(len(e.Tags))
	return id, true, nil
}

func (im *Importer) importLoggedModel(ctx context.Context, m srcLoggedModel) error {
	st := &im.stats.LoggedModels
	exp, ok := im.expIDs[m.experimentID]
	if !ok {
		st.Skipped++ // its experiment is in another workspace
		return nil
	}
	have, err := im.Tracking.GetLoggedModel(ctx, m.ModelID)
	if err != nil && !isNotFound(err) {
		return err
	}
	if have != nil {
		if err := im.copyFor(ctx, m.ArtifactURI, have.ArtifactURI); err != nil {
			return err
		}
		st.Skipped++
		return nil
	}
	lm := m.LoggedModel
	lm.ExperimentID = exp
	lm.ArtifactURI = im.rewrite(m.ArtifactURI)
	if err := im.copyFor(ctx, m.ArtifactURI, lm.ArtifactURI); err != nil {
		return err
	}
	if _, err := im.Tracking.CreateLoggedModel(ctx, lm); err != nil {
		return err
	}
	if m.LifecycleStage == tracking.StageDeleted {
		if err := im.Tracking.DeleteLoggedModel(ctx, m.ModelID); err != nil {
			return err
		}
	}
	st.Created++
	return nil
}

// importRun creates a run that Lode lacks, with the same id, or adds to
// one it has what it is missing: params, tags, metric points and inputs
// (never changing a value Lode has).
// importRuns imports the runs of one experiment, Workers at a time; the
// first error stops the others.
func (im *Importer) importRuns(ctx context.Context, runs []srcRun, expID string) error {
	workers := im.Workers
	if workers <= 0 {
		workers = 4
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, r := range runs {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := im.importRun(ctx, r, expID); err != nil {
				return fmt.Errorf("run %s: %w", r.RunID, err)
			}
			im.progress(false)
			return nil
		})
	}
	return g.Wait()
}

func (im *Importer) importRun(ctx context.Context, r srcRun, expID string) error {
	data, err := im.readRunData(ctx, r.RunID)
	if err != nil {
		return err
	}
	have, err := im.Tracking.GetRun(ctx, r.RunID)
	if err != nil && !isNotFound(err) {
		return err
	}
	created := false
	if have == nil {
		info := r.RunInfo
		info.ExperimentID = expID
		info.ArtifactURI = im.rewrite(r.ArtifactURI)
		// Data is logged while the run is active; deletion comes last.
		info.LifecycleStage = tracking.StageActive
		if have, err = im.Tracking.CreateRun(ctx, info, data.tags); err != nil {
			return err
		}
		im.tally(func(s *Stats) { s.Tags += int64(len(data.tags)) })
		created = true
	}
	added, err := im.fillRun(ctx, have, r, data)
	if err != nil {
		return err
	}
	if err := im.copyFor(ctx, r.ArtifactURI, have.Info.ArtifactURI); err != nil {
		return err
	}
	if created && r.LifecycleStage == tracking.StageDeleted {
		if err := im.Tracking.SetRunStage(ctx, r.RunID, tracking.StageDeleted); err != nil {
			return err
		}
	}
	im.tally(func(s *Stats) {
		switch {
		case created:
			s.Runs.Created++
		case added:
			s.Runs.Updated++
		default:
			s.Runs.Skipped++
		}
	})
	return nil
}

// metricBatch bounds the points written in one transaction.
const metricBatch = 1000

func (im *Importer) fillRun(ctx context.Context, have *tracking.Run, r srcRun, data *runData) (bool, error) {
	id := r.RunID
	added := false
	params := map[string]bool{}
	for _, p := range have.Params {
		params[p.Key] = true
	}
	var newParams []tracking.Param
	for _, p := range data.params {
		if !params[p.Key] {
			newParams = append(newParams, p)
		}
	}
	newTags := missingTags(data.tags, have.Tags)
	if len(newParams) > 0 || len(newTags) > 0 {
		if err := im.Tracking.LogBatch(ctx, id, nil, newParams, newTags); err != nil {
			return false, err
		}
		im.tally(func(s *Stats) {
			s.Params += int64(len(newParams))
			s.Tags += int64(len(newTags))
		})
		added = true
	}

	// Metric history: the points Lode lacks, compared point by point (a
	// key Lode has no latest value of has no points either).
	latest := map[string]bool{}
	for _, m := range have.Metrics {
		latest[m.Key] = true
	}
	var points []tracking.Metric
	for i := 0; i < len(data.metrics); {
		key := data.metrics[i].Key
		j := i
		for j < len(data.metrics) && data.metrics[j].Key == key {
			j++
		}
		if !latest[key] {
			points = append(points, data.metrics[i:j]...)
		} else {
			hist, _, err := im.Tracking.GetMetricHistory(ctx, tracking.MetricHistoryQuery{RunID: id, Key: key})
			if err != nil {
				return false, err
			}
			got := map[metricKey]bool{}
			for _, m := range hist {
				m.Key = key
				got[pointKey(m)] = true
			}
			for _, m := range data.metrics[i:j] {
				if !got[pointKey(m)] {
					points = append(points, m)
				}
			}
		}
		i = j
	}
	for len(points) > 0 {
		n := min(len(points), metricBatch)
		if err := im.Tracking.LogBatch(ctx, id, points[:n], nil, nil); err != nil {
			return false, err
		}
		im.tally(func(s *Stats) { s.MetricPoints += int64(n) })
		points = points[n:]
		added = true
	}

	inputs := map[[2]string]bool{}
	for _, in := range have.Inputs {
		inputs[[2]string{in.Dataset.Name, in.Dataset.Digest}] = true
	}
	var newInputs []tracking.DatasetInput
	for _, in := range data.inputs {
		if !inputs[[2]string{in.Dataset.Name, in.Dataset.Digest}] {
			newInputs = append(newInputs, in)
		}
	}
	mins := map[string]bool{}
	for _, m := range have.ModelInputs {
		mins[m.ModelID] = true
	}
	var newModelInputs []tracking.ModelInput
	for _, m := range data.modelInputs {
		if !mins[m.ModelID] {
			newModelInputs = append(newModelInputs, m)
		}
	}
	if len(newInputs) > 0 || len(newModelInputs) > 0 {
		if err := im.Tracking.LogInputs(ctx, id, newInputs, newModelInputs); err != nil {
			return false, err
		}
		added = true
	}
	mouts := map[string]bool{}
	for _, m := range have.ModelOutputs {
		mouts[m.ModelID] = true
	}
	var newOutputs []tracking.ModelOutput
	for _, m := range data.modelOutputs {
		if !mouts[m.ModelID] {
			newOutputs = append(newOutputs, m)
		}
	}
	if len(newOutputs) > 0 {
		if err := im.Tracking.LogOutputs(ctx, id, newOutputs); err != nil {
			return false, err
		}
		added = true
	}

	// A run that was still going at the last import may have ended since.
	info := have.Info
	active := info.Status == tracking.RunRunning || info.Status == tracking.RunScheduled
	if active && (r.Status != info.Status || !sameEnd(r.EndTime, info.EndTime)) {
		if _, err := im.Tracking.UpdateRun(ctx, id, r.Status, r.EndTime, ""); err != nil {
			return false, err
		}
		added = true
	}
	return added, nil
}

func sameEnd(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func (im *Importer) importModel(ctx context.Context, m registry.Model) error {
	st := &im.stats.Models
	have, err := im.Registry.GetModel(ctx, m.Name)
	if err != nil && !isNotFound(err) {
		return err
	}
	if have == nil {
		create := m
		create.Aliases = nil
		if have, err = im.Registry.CreateModel(ctx, create); err != nil {
			return err
		}
		st.Created++
	} else {
		add := missingTags(m.Tags, have.Tags)
		for _, t := range add {
			if err := im.Registry.SetModelTag(ctx, m.Name, t); err != nil {
				return err
			}
		}
		if len(add) > 0 {
			st.Updated++
		} else {
			st.Skipped++
		}
	}
	versions, err := im.readVersions(ctx, m.Name)
	if err != nil {
		return err
	}
	for _, v := range versions {
		if err := im.importVersion(ctx, v); err != nil {
			return fmt.Errorf("version %s: %w", v.Version, err)
		}
		im.progress(false)
	}
	aliases := map[string]bool{}
	for _, a := range have.Aliases {
		aliases[a.Alias] = true
	}
	for _, a := range m.Aliases {
		if aliases[a.Alias] {
			im.stats.Aliases.Skipped++
			continue
		}
		if _, err := im.Registry.GetVersion(ctx, m.Name, a.Version); err != nil {
			im.warnf("alias %s@%s: version %s is not in Lode", m.Name, a.Alias, a.Version)
			im.stats.Aliases.Skipped++
			continue
		}
		if err := im.Registry.SetAlias(ctx, m.Name, a.Alias, a.Version); err != nil {
			return err
		}
		im.stats.Aliases.Created++
	}
	return nil
}

// importVersion creates a version under MLflow's number. The store hands
// out the model's next number, so numbers MLflow skipped (deleted
// versions) are taken by a placeholder that is deleted at once; a number
// the Lode model has already used cannot be had again and is reported.
func (im *Importer) importVersion(ctx context.Context, v registry.Version) error {
	st := &im.stats.Versions
	if _, err := im.Registry.GetVersion(ctx, v.Name, v.Version); err == nil {
		if err := im.copyFor(ctx, v.StorageLocation, im.rewrite(v.StorageLocation)); err != nil {
			return err
		}
		st.Skipped++
		return nil
	} else if !isNotFound(err) {
		return err
	}
	want, err := strconv.ParseInt(v.Version, 10, 64)
	if err != nil {
		return err
	}
	nv := v
	nv.Source = im.rewrite(v.Source)
	nv.StorageLocation = im.rewrite(v.StorageLocation)
	if v.StorageLocation != "" {
		if err := im.copyFor(ctx, v.StorageLocation, nv.StorageLocation); err != nil {
			return err
		}
	} else {
		nv.StorageLocation, err = im.resolveSource(ctx, nv.Source)
		if err != nil {
			return err
		}
	}
	if id, ok := strings.CutPrefix(v.Source, "models:/"); ok && strings.HasPrefix(id, "m-") {
		nv.ModelID = strings.Trim(id, "/")
	}
	if nv.CurrentStage == "" {
		nv.CurrentStage = registry.StageNone
	}
	nv.Library = registry.Describe(ctx, im.Artifacts, proxyScheme, nv.StorageLocation) // for the model library, as registering through the API does
	for {
		got, err := im.Registry.CreateVersion(ctx, nv)
		if err != nil {
			return err
		}
		n, _ := strconv.ParseInt(got.Version, 10, 64)
		if n == want {
			st.Created++
			return nil
		}
		if err := im.Registry.DeleteVersion(ctx, v.Name, got.Version); err != nil {
			return err
		}
		if n > want {
			im.warnf("model %s version %s: Lode's model has used that number already; not imported", v.Name, v.Version)
			st.Skipped++
			return nil
		}
	}
}

// resolveSource is where a version's files are when MLflow did not record
// it (versions created before MLflow kept storage_location).
func (im *Importer) resolveSource(ctx context.Context, source string) (string, error) {
	switch {
	case strings.HasPrefix(source, "runs:/"):
		id, p, _ := strings.Cut(strings.TrimLeft(strings.TrimPrefix(source, "runs:/"), "/"), "/")
		run, err := im.Tracking.GetRunInfo(ctx, id)
		if isNotFound(err) {
			return source, nil
		} else if err != nil {
			return "", err
		}
		if p == "" {
			return run.ArtifactURI, nil
		}
		return tracking.JoinURI(run.ArtifactURI, p), nil
	case strings.HasPrefix(source, "models:/m-"):
		m, err := im.Tracking.GetLoggedModel(ctx, strings.Trim(strings.TrimPrefix(source, "models:/"), "/"))
		if isNotFound(err) {
			return source, nil
		} else if err != nil {
			return "", err
		}
		return m.ArtifactURI, nil
	}
	return source, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// atoi turns an id this package formatted back into the integer MLflow's
// columns hold (PostgreSQL compares integers with integers only).
func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
