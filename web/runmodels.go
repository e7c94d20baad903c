package web

import (
	"context"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

func init() {
	// trimPrefix shows a status without its enum's prefix
	// (LOGGED_MODEL_READY is READY).
	funcs["trimPrefix"] = func(prefix, s string) string { return strings.TrimPrefix(s, prefix) }
}

// runLoggedModelsMax bounds the logged models a run page lists (a run
// that logs a model per step could have thousands: the API lists them all).
const runLoggedModelsMax = 100

// runLoggedModel is a logged model (MLflow 3: log_model(name=...)) that a
// run produced, as the run page lists it.
type runLoggedModel struct {
	M        *tracking.LoggedModel
	Step     *int64   // the step the run logged it at (its outputs)
	Flavors  []string // from its MLmodel file, when this server holds it
	Files    []runLoggedModelFile
	More     int  // files not listed
	Served   bool // its files are on this server, readable by the viewer
	Versions []*registry.Version
	Inputs   []loggedModelColumn
	Outputs  []loggedModelColumn
}

// runLoggedModelFile is one top-level file or folder of a logged model,
// downloaded through the logged-models API.
type runLoggedModelFile struct {
	Name, Href string
	IsDir      bool
	Size       int64
}

// runLoggedModels lists the logged models a run produced: those its
// outputs name and those whose source_run_id is the run (MLflow links a
// model both ways; either may be missing on models logged by other
// clients), oldest first, with the registered versions made from each.
func (s *Server) runLoggedModels(ctx context.Context, run *tracking.Run, versions []*registry.Version) []*runLoggedModel {
	byID := map[string]*runLoggedModel{}
	var out []*runLoggedModel
	add := func(m *tracking.LoggedModel) *runLoggedModel {
		if lm, ok := byID[m.ModelID]; ok {
			return lm
		}
		lm := &runLoggedModel{M: m}
		byID[m.ModelID] = lm
		out = append(out, lm)
		return lm
	}
	for _, o := range run.ModelOutputs {
		if len(out) >= runLoggedModelsMax {
			break
		}
		// A run's outputs may name a model of another experiment.
		if s.Guard.CheckTarget(ctx, mlflowapi.TargetLoggedModel, o.ModelID, auth.NeedRead, false) != nil {
			continue
		}
		if m, err := s.Tracking.GetLoggedModel(ctx, o.ModelID); err == nil {
			step := o.Step
			add(m).Step = &step
		}
	}
	// The run id is checked to be an id (hex) before this: it is safe to quote.
	models, _, err := s.Tracking.SearchLoggedModels(ctx, []string{run.Info.ExperimentID}, "source_run_id = '"+run.Info.RunID+"'", nil, nil, runLoggedModelsMax, "")
	if err != nil {
		s.Logger.Warn("cannot list a run's logged models", "run", run.Info.RunID, "err", err)
	}
	for _, m := range models {
		if len(out) < runLoggedModelsMax {
			add(m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].M.CreationTime < out[j].M.CreationTime })
	for _, lm := range out {
		for _, v := range versions {
			if v.ModelID == lm.M.ModelID || strings.TrimRight(v.Source, "/") == "models:/"+lm.M.ModelID {
				lm.Versions = append(lm.Versions, v)
			}
		}
		s.describeLoggedModel(ctx, lm)
	}
	return out
}

// describeLoggedModel reads what a logged model's MLmodel file says, and
// lists its top-level files, when its artifacts are on this server and the
// viewer may read them (a model's location is under its experiment's).
func (s *Server) describeLoggedModel(ctx context.Context, lm *runLoggedModel) {
	root, ok := s.artifactRoot(lm.M.ArtifactURI)
	if !ok || s.Guard.CheckArtifact(ctx, root, auth.NeedRead) != nil {
		return
	}
	lm.Served = true
	lib := registry.Describe(ctx, s.Artifacts, mlflowapi.ArtifactScheme, lm.M.ArtifactURI)
	lm.Flavors = lib.Flavors
	lm.Inputs, lm.Outputs = loggedModelColumns(lib.SignatureInputs), loggedModelColumns(lib.SignatureOutputs)
	files, err := s.Artifacts.List(ctx, root)
	if err != nil {
		return
	}
	for _, f := range files {
		rel := strings.TrimPrefix(strings.TrimPrefix(f.Path, root), "/")
		if rel == "" || rel == f.Path {
			continue
		}
		if len(lm.Files) == artifactDirMax {
			lm.More++
			continue
		}
		file := runLoggedModelFile{Name: path.Base(rel), IsDir: f.IsDir, Size: f.Size}
		if !f.IsDir {
			file.Href = "/ajax-api/2.0/mlflow/logged-models/" + url.PathEscape(lm.M.ModelID) + "/artifacts/files?" +
				url.Values{"artifact_file_path": {rel}}.Encode()
		}
		lm.Files = append(lm.Files, file)
	}
	sort.SliceStable(lm.Files, func(i, j int) bool {
		if lm.Files[i].IsDir != lm.Files[j].IsDir {
			return lm.Files[i].IsDir
		}
		return lm.Files[i].Name < lm.Files[j].Name
	})
}
