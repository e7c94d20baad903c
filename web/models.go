package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

func init() {
	pageRoutes = append(pageRoutes, func(s *Server) []route {
		return []route{{"GET /models", s.serveModels, mlflowapi.SignedInRule()}, {"GET /models/{name}", s.serveModel, mlflowapi.On(mlflowapi.TargetModel, auth.NeedRead, "{name}")}}
	})
	// A model name may hold any character but '/' and ':' ("a b?#%"):
	// links to it escape it as one path segment.
}

// modelsPage is the registered-model list's state, all from its URL: q (a
// name substring, or a search_registered_models filter when it holds an
// operator) and page (a page token). Off says the server runs without a
// registry.
type modelsPage struct {
	Off    bool
	Query  string
	Models []*registry.Model
	Next   string
	Page   string
}

const (
	modelsPerPage   = 100
	versionsPerPage = 100
	// modelsNotPrompt leaves out prompts, which MLflow 3 stores as registered
	// models with this tag: its model list leaves them out too.
	modelsNotPrompt = "tags.`mlflow.prompt.is_prompt` != 'true'"
)

func (s *Server) serveModels(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := modelsPage{Query: strings.TrimSpace(q.Get("q")), Page: q.Get("page")}
	if s.Registry == nil {
		p.Off = true
		s.render(w, r, "models", "Models", "models", p)
		return
	}
	filter := p.Query
	if filter != "" && !strings.ContainsAny(filter, "=<>!") && !strings.Contains(strings.ToUpper(filter), " LIKE ") {
		filter = "name ILIKE " + modelFilterQuote("%"+filter+"%")
	}
	if filter == "" {
		filter = modelsNotPrompt
	} else {
		// A filter is a conjunction (the language has no OR), so one more
		// clause joins with a plain AND.
		filter += " AND " + modelsNotPrompt
	}
	models, next, err := s.Registry.SearchModels(r.Context(), filter, []string{"last_updated_timestamp DESC", "name ASC"}, modelsPerPage, p.Page)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.Models, p.Next = models, next
	s.render(w, r, "models", "Models", "models", p)
}

// modelFilterQuote quotes a string for a search filter. The language
// does not unescape doubled quotes, so a value holding a single quote is
// put in double quotes; one holding both loses its double quotes (a search
// box can live with that).
func modelFilterQuote(v string) string {
	if strings.Contains(v, "'") {
		return `"` + strings.ReplaceAll(v, `"`, "") + `"`
	}
	return "'" + v + "'"
}

// modelPage is one registered model with a page of its versions, newest
// first, each with the run it came from (when it names one).
type modelPage struct {
	Off      bool
	Model    *registry.Model
	Versions []modelVersionRow
	Next     string
	Page     string
}

// modelVersionRow is a version with its source run and that run's experiment,
// looked up for the links back to them. Run is nil when the version names
// no run or the run is gone.
type modelVersionRow struct {
	V          *registry.Version
	Run        *tracking.RunInfo
	Experiment string // the run's experiment's name
}

func (s *Server) serveModel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.Registry == nil {
		s.render(w, r, "model", name, "models", modelPage{Off: true})
		return
	}
	if registry.ValidateName(name) != nil {
		s.fail(w, r, notFound("no registered model '%s'", name))
		return
	}
	ctx := r.Context()
	m, err := s.Registry.GetModel(ctx, name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := modelPage{Model: m, Page: r.URL.Query().Get("page")}
	// The store is asked directly, with the name as a value rather than
	// spliced into a filter string, so that any name matches exactly.
	vs, next, err := s.Registry.Store.SearchVersions(ctx, registry.Query{
		Filter:     []tracking.Comparison{{KeyType: tracking.KeyAttribute, Key: "name", Op: "=", Value: name}},
		OrderBy:    []tracking.OrderBy{{KeyType: tracking.KeyAttribute, Key: "version", Asc: false}},
		MaxResults: versionsPerPage, PageToken: p.Page,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.Next = next
	p.Versions = s.modelVersionRuns(ctx, vs)
	s.render(w, r, "model", name, "models", p)
}

// modelVersionRuns looks up each version's run and experiment, once per run.
// A run that cannot be read (deleted for good, from another server, or in
// an experiment the viewer may not read: reading the model opens nothing
// of the runs its versions came from) just goes without links, its id
// alone shown.
func (s *Server) modelVersionRuns(ctx context.Context, vs []*registry.Version) []modelVersionRow {
	runs := map[string]*tracking.RunInfo{}
	exps := map[string]string{}
	rows := make([]modelVersionRow, len(vs))
	for i, v := range vs {
		rows[i].V = v
		if v.RunID == "" || s.Tracking == nil {
			continue
		}
		info, seen := runs[v.RunID]
		if !seen {
			if s.Guard.CheckTarget(ctx, mlflowapi.TargetRun, v.RunID, auth.NeedRead, false) == nil {
				if run, err := s.Tracking.GetRun(ctx, v.RunID); err == nil {
					info = &run.Info
				}
			}
			runs[v.RunID] = info
		}
		if info == nil {
			continue
		}
		rows[i].Run = info
		name, seen := exps[info.ExperimentID]
		if !seen {
			if e, err := s.Tracking.GetExperiment(ctx, info.ExperimentID); err == nil {
				name = e.Name
			}
			exps[info.ExperimentID] = name
		}
		rows[i].Experiment = name
	}
	return rows
}
