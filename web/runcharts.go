package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/tracking"
)

func init() {
	pageRoutes = append(pageRoutes, func(s *Server) []route {
		return []route{{"GET /experiments/{id}/charts", s.runCharts, experimentPageRule}}
	})
	funcs["runChartsLink"] = func(expID string, u *url.URL) string { return viewLink("/experiments/"+expID+"/charts", u) }
}

// Bounds of an experiment's chart view. One chart is one
// get-history-bulk-interval request, so the runs drawn are as many as it
// takes; the points per line shrink as runs are added, so that a chart
// holds about the same number of points however many runs it draws.
const (
	maxChartRuns    = tracking.MaxRunsBulkInterval
	maxChartMetrics = 1000 // metric keys the metric select offers
	chartPoints     = 20000
	minLinePoints   = 100
	maxLinePoints   = 1000
)

// runChartsPage is an experiment's chart view: a chart per metric, a line
// per run, for the runs the run table's filter selects (filter, sort and
// view from the URL, as the table reads them), the first maxChartRuns of
// them. Its script (history.js) reads metric, x, log and smooth.
type runChartsPage struct {
	Experiment *tracking.Experiment
	runsView
	Error  string // a refused filter or sort: MLflow's message
	Table  string // the run table with this filter
	Capped bool   // more runs match than are drawn
	Script runChartsScript
}

// runChartsScript is what the page's script gets.
type runChartsScript struct {
	Runs    []compareScriptRun `json:"runs"`
	Metrics []string           `json:"metrics"`
	// Points is the most each line holds (the server samples the rest).
	Points int `json:"points"`
}

// MetricsCapped reports whether the runs have more metric keys than the
// select offers.
func (p runChartsPage) MetricsCapped() bool { return len(p.Script.Metrics) >= maxChartMetrics }

// MaxRuns is how many runs the view draws at most.
func (runChartsPage) MaxRuns() int { return maxChartRuns }

func (s *Server) runCharts(w http.ResponseWriter, r *http.Request) {
	id, err := experimentID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	exp, err := s.Tracking.GetExperiment(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, orderErr := parseRunsView(r.URL.Query())
	p := runChartsPage{Experiment: exp, runsView: v, Table: runsTableLink(exp.ID, r.URL)}
	var runs []*tracking.Run
	var next string
	if orderErr == nil {
		runs, next, err = s.Tracking.SearchRuns(r.Context(), []string{exp.ID}, v.Filter, v.orderBy(), v.viewType, maxChartRuns, "")
	} else {
		err = orderErr
	}
	if err != nil {
		if lode.ErrorCode(err) != lode.EInvalid {
			s.fail(w, r, err)
			return
		}
		p.Error = lode.ErrorMessage(err)
		s.renderStatus(w, r, mlflowapi.HTTPStatus(lode.EInvalid), "runcharts", exp.Name+" · charts", "experiments", p)
		return
	}
	p.Capped = next != ""
	keys := map[string]bool{}
	for _, run := range runs {
		name := run.Info.RunName
		if name == "" {
			name = run.Info.RunID
		}
		p.Script.Runs = append(p.Script.Runs, compareScriptRun{ID: run.Info.RunID, Name: name, Start: run.Info.StartTime})
		for _, m := range run.Metrics {
			keys[m.Key] = true
		}
	}
	p.Script.Metrics = chartMetricOrder(keys)
	p.Script.Points = max(minLinePoints, min(maxLinePoints, chartPoints/max(1, len(runs))))
	s.render(w, r, "runcharts", exp.Name+" · charts", "experiments", p)
}

// chartMetricOrder lists the metric keys to chart: the runs' own metrics
// by name, then the system metrics a job logs (system/...), which say how
// a run ran rather than how it did; at most maxChartMetrics.
func chartMetricOrder(keys map[string]bool) []string {
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int {
		sa, sb := strings.HasPrefix(a, "system/"), strings.HasPrefix(b, "system/")
		if sa != sb {
			if sa {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	return out[:min(len(out), maxChartMetrics)]
}

// runsTableLink is the run table of the chart view's filter, sort and
// lifecycle view (and runChartsLink, in templates, the other way).
func runsTableLink(expID string, u *url.URL) string {
	return viewLink("/experiments/"+expID, u)
}

// viewLink is path with the filter, sort and view of u.
func viewLink(path string, u *url.URL) string {
	q, out := u.Query(), url.Values{}
	for _, k := range []string{"filter", "sort", "view"} {
		if q.Has(k) {
			out.Set(k, q.Get(k))
		}
	}
	l := url.URL{Path: path, RawQuery: out.Encode()}
	return l.String()
}
