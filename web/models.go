package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

func init() {
	pageRoutes = append(pageRoutes, func(s *Server) []route {
		modelRule := mlflowapi.On(mlflowapi.TargetModel, auth.NeedRead, "{name}")
		return []route{
			{"GET /models", s.serveModels, mlflowapi.SignedInRule()},
			{"GET /models/{name}", s.serveModel, modelRule},
			{"GET /models/{name}/versions/{version}", s.serveModelVersion, modelRule},
		}
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
	Edit     editable
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
	p := modelPage{Model: m, Page: r.URL.Query().Get("page"), Edit: s.modelEditable(ctx, m.Name, m.Description, m.Tags)}
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

// versionPage is one model version: where it came from, its state, its
// signature and how to serve it.
type versionPage struct {
	Off       bool
	V         *registry.Version
	Row       modelVersionRow
	Inputs    []loggedModelColumn
	Outputs   []loggedModelColumn
	URI       string   // models:/NAME/VERSION
	AliasURIs []string // models:/NAME@ALIAS, one per alias
	// Serve are commands that serve or load the version (shell and
	// Python), Deploy the one that deploys it on this server.
	Deploy string
	Serve  []string
	Edit   editable
}

func (s *Server) serveModelVersion(w http.ResponseWriter, r *http.Request) {
	name, version := r.PathValue("name"), r.PathValue("version")
	if s.Registry == nil {
		s.render(w, r, "modelversion", name, "models", versionPage{Off: true})
		return
	}
	ctx := r.Context()
	v, err := s.Registry.GetVersion(ctx, name, version)
	if err != nil {
		if lode.ErrorCode(err) == lode.EInvalid {
			// A name or number that cannot be is a page that is not there.
			err = notFound("no version '%s' of registered model '%s'", version, name)
		}
		s.fail(w, r, err)
		return
	}
	p := versionPage{V: v, Row: s.modelVersionRuns(ctx, []*registry.Version{v})[0],
		URI:  "models:/" + v.Name + "/" + v.Version,
		Edit: s.versionEditable(ctx, v.Name, v.Version, v.Description, v.Tags)}
	p.Inputs = loggedModelColumns(v.Library.SignatureInputs)
	p.Outputs = loggedModelColumns(v.Library.SignatureOutputs)
	for _, a := range v.Aliases {
		p.AliasURIs = append(p.AliasURIs, "models:/"+v.Name+"@"+a)
	}
	// A deployment that follows an alias moves with it to the next
	// version: the hint names the alias when there is one.
	deployURI := p.URI
	if len(p.AliasURIs) > 0 {
		deployURI = p.AliasURIs[0]
	}
	p.Deploy = "lode deploy create " + deploymentName(v.Name) + " -m " + shellWord(deployURI) + " --wait"
	p.Serve = []string{
		"lode serve -m " + shellWord(p.URI),
		"mlflow.pyfunc.load_model(" + strconv.Quote(p.URI) + ")",
	}
	s.render(w, r, "modelversion", v.Name+" v"+v.Version, "models", p)
}

// deploymentName suggests a deployment's name for a model: a deployment
// name is letters, digits, '.', '_' and '-', starting with a letter or
// digit, where a model's may hold anything but '/' and ':'.
func deploymentName(model string) string {
	var b strings.Builder
	dash := true // no dash first
	for _, c := range strings.ToLower(model) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' {
			b.WriteRune(c)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimRight(b.String(), "-")
	name = strings.TrimLeft(name[:min(len(name), 128)], "._")
	if name == "" {
		return "model"
	}
	return name
}

// shellWord quotes s for a POSIX shell when it holds more than letters,
// digits and the punctuation of a model URI.
func shellWord(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-/:@", c)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
