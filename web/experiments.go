package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/tracking"
)

func init() {
	pageRoutes = append(pageRoutes, func(s *Server) []route {
		return []route{{"GET /experiments", s.experiments, mlflowapi.SignedInRule()}}
	})
}

// experimentsPage is the experiment list's state, all from its URL: q
// (a name substring, or a search_experiments filter when it holds an
// operator), view (active, deleted or all), page (a page token).
type experimentsPage struct {
	Query       string
	View        string
	Experiments []*tracking.Experiment
	// Runs counts each listed experiment's runs (one grouped query for
	// the page); an experiment without runs is absent.
	Runs map[string]tracking.RunCount
	Next string
	Page string
}

const experimentsPerPage = 100

func (s *Server) experiments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := experimentsPage{Query: strings.TrimSpace(q.Get("q")), View: q.Get("view"), Page: q.Get("page")}
	view := tracking.ActiveOnly
	switch p.View {
	case "deleted":
		view = tracking.DeletedOnly
	case "all":
		view = tracking.AllViews
	default:
		p.View = "active"
	}
	filter := p.Query
	if filter != "" && !strings.ContainsAny(filter, "=<>!") && !strings.Contains(strings.ToUpper(filter), " LIKE ") {
		// A bare word searches names, as the experiment list's box does in MLflow.
		quote := "'"
		if strings.Contains(filter, "'") {
			quote, filter = `"`, strings.ReplaceAll(filter, `"`, "")
		}
		filter = "name ILIKE " + quote + "%" + filter + "%" + quote
	}
	exps, next, err := s.Tracking.SearchExperiments(r.Context(), filter, []string{"last_update_time DESC"}, view, experimentsPerPage, p.Page)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.Experiments, p.Next = exps, next
	ids := make([]string, len(exps))
	for i, e := range exps {
		ids[i] = e.ID
	}
	if p.Runs, err = s.Tracking.CountRuns(r.Context(), ids); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "experiments", "Experiments", "experiments", p)
}

// experimentID is the id in a path like /experiments/{id}, checked.
func experimentID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return "", notFound("no experiment '%s'", id)
	}
	return id, nil
}
