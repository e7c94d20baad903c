package web

import (
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/tracking"
)

func init() {
	pageRoutes = append(pageRoutes, func(s *Server) []route {
		return []route{{"GET /compare", s.compare, mlflowapi.SignedInRule()}}
	})
}

// maxCompareRuns is as many runs as one get-history-bulk-interval call
// takes, so that each overlaid chart is one request.
const maxCompareRuns = tracking.MaxRunsBulkInterval

// comparePage is the compare view. Its state is all in the URL: runs (the
// ids, comma-separated), diff=1 (only rows that differ), and what its
// script reads: metric, x, log, smooth (the history charts), axes (the
// parallel coordinates), sx and sy (the scatter plot).
type comparePage struct {
	Runs        []compareRun
	Experiments []compareExperiment // those of the runs, once each
	Tables      []compareTable      // params, metrics, tags
	DiffOnly    bool
	Script      compareScript
}

type compareExperiment struct{ ID, Name string }

// compareTable is one kind of key (params, metrics, tags) with a column
// per run.
type compareTable struct {
	ID, Title string
	Numeric   bool // right-align the values
	Runs      []compareRun
	Rows      []compareRow
	AnyDiffer bool
}

type compareRun struct {
	ID             string
	Name           string
	ExperimentID   string
	ExperimentName string
	Status         string
	Lifecycle      string
	Start, End     int64
}

// compareRow is one key across the runs, one cell per run in their order.
// Differ is set when the runs do not all have the same value (a run
// without the key differs from one with it, as in MLflow).
type compareRow struct {
	Key    string
	Cells  []compareCell
	Differ bool
}

type compareCell struct {
	Value string
	Set   bool
}

// compareScript is what the page's script gets: each run's params as
// logged and its latest metric values. Only finite values are sent (JSON
// has no NaN); the tables show the others.
type compareScript struct {
	Runs    []compareScriptRun `json:"runs"`
	Params  []string           `json:"params"`
	Metrics []string           `json:"metrics"`
}

type compareScriptRun struct {
	ID      string             `json:"id"`
	Name    string             `json:"name"`
	Start   int64              `json:"start"`
	Params  map[string]string  `json:"params"`
	Metrics map[string]float64 `json:"metrics"`
}

// compareRunIDs reads the run ids of a compare URL: runs=a,b,c (or runs
// repeated), in order, without blanks or repeats.
func compareRunIDs(r *http.Request) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, v := range r.URL.Query()["runs"] {
		for _, id := range strings.Split(v, ",") {
			id = strings.TrimSpace(id)
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	switch {
	case len(ids) == 0:
		return nil, lode.Errorf(lode.EInvalid, "No runs to compare: name them as /compare?runs=ID1,ID2.")
	case len(ids) > maxCompareRuns:
		return nil, lode.Errorf(lode.EInvalid, "Cannot compare more than %d runs at once (got %d).", maxCompareRuns, len(ids))
	}
	return ids, nil
}

func (s *Server) compare(w http.ResponseWriter, r *http.Request) {
	ids, err := compareRunIDs(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	runs := make([]*tracking.Run, 0, len(ids))
	var missing []string
	for _, id := range ids {
		if err := s.Guard.CheckTarget(ctx, mlflowapi.TargetRun, id, auth.NeedRead, false); err != nil {
			s.fail(w, r, err)
			return
		}
		run, err := s.Tracking.GetRun(ctx, id)
		switch code := lode.ErrorCode(err); {
		case err == nil:
			runs = append(runs, run)
		case code == lode.ENotFound || code == lode.EInvalid:
			// A malformed id names no run either: both are "not found" here.
			missing = append(missing, "'"+shorten(60, id)+"'")
		default:
			s.fail(w, r, err)
			return
		}
	}
	if len(missing) > 0 {
		noun := "run"
		if len(missing) > 1 {
			noun = "runs"
		}
		s.fail(w, r, notFound("No %s %s: the compare view needs runs that exist.", noun, strings.Join(missing, ", ")))
		return
	}

	p := comparePage{DiffOnly: r.URL.Query().Get("diff") == "1"}
	expNames := map[string]string{}
	for _, run := range runs {
		info := run.Info
		if _, ok := expNames[info.ExperimentID]; !ok {
			// A missing experiment only costs its name on the page.
			expNames[info.ExperimentID] = info.ExperimentID
			if e, err := s.Tracking.GetExperiment(ctx, info.ExperimentID); err == nil {
				expNames[info.ExperimentID] = e.Name
			}
			p.Experiments = append(p.Experiments, compareExperiment{ID: info.ExperimentID, Name: expNames[info.ExperimentID]})
		}
		cr := compareRun{ID: info.RunID, Name: info.RunName, ExperimentID: info.ExperimentID,
			ExperimentName: expNames[info.ExperimentID], Status: info.Status, Lifecycle: info.LifecycleStage, Start: info.StartTime}
		if cr.Name == "" {
			cr.Name = info.RunID
		}
		if info.EndTime != nil {
			cr.End = *info.EndTime
		}
		p.Runs = append(p.Runs, cr)

		sr := compareScriptRun{ID: cr.ID, Name: cr.Name, Start: cr.Start, Params: map[string]string{}, Metrics: map[string]float64{}}
		for _, pm := range run.Params {
			sr.Params[pm.Key] = pm.Value
		}
		for _, m := range run.Metrics {
			if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
				sr.Metrics[m.Key] = m.Value
			}
		}
		p.Script.Runs = append(p.Script.Runs, sr)
	}

	params := compareRows(runs, func(run *tracking.Run) map[string]string {
		out := map[string]string{}
		for _, pm := range run.Params {
			out[pm.Key] = pm.Value
		}
		return out
	})
	metrics := compareRows(runs, func(run *tracking.Run) map[string]string {
		out := map[string]string{}
		for _, m := range run.Metrics {
			out[m.Key] = formatNumber(m.Value)
		}
		return out
	})
	// Lode's and MLflow's own tags (mlflow.*) say how a run was made, not
	// what it tried: the compare view leaves them out, as MLflow's does.
	tags := compareRows(runs, func(run *tracking.Run) map[string]string {
		out := map[string]string{}
		for _, t := range run.Tags {
			if !strings.HasPrefix(t.Key, "mlflow.") && !strings.HasPrefix(t.Key, "lode.") {
				out[t.Key] = t.Value
			}
		}
		return out
	})
	for _, row := range params {
		p.Script.Params = append(p.Script.Params, row.Key)
	}
	for _, row := range metrics {
		p.Script.Metrics = append(p.Script.Metrics, row.Key)
	}
	p.Tables = []compareTable{
		{ID: "params", Title: "Parameters", Rows: params},
		{ID: "metrics", Title: "Metrics (latest values)", Numeric: true, Rows: metrics},
	}
	if len(tags) > 0 {
		p.Tables = append(p.Tables, compareTable{ID: "tags", Title: "Tags", Rows: tags})
	}
	for i := range p.Tables {
		p.Tables[i].Runs = p.Runs
		for _, row := range p.Tables[i].Rows {
			p.Tables[i].AnyDiffer = p.Tables[i].AnyDiffer || row.Differ
		}
	}
	title := "Compare " + strconv.Itoa(len(p.Runs)) + " runs"
	if len(p.Runs) == 1 {
		title = "Compare 1 run"
	}
	s.render(w, r, "compare", title, "experiments", p)
}

// compareRows lays out one kind of key/value (params, metrics, tags) of
// the runs as rows sorted by key. Metric values are compared as shown
// (6 significant digits), which is what a reader can tell apart.
func compareRows(runs []*tracking.Run, values func(*tracking.Run) map[string]string) []compareRow {
	all := make([]map[string]string, len(runs))
	keys := map[string]bool{}
	for i, run := range runs {
		all[i] = values(run)
		for k := range all[i] {
			keys[k] = true
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	rows := make([]compareRow, 0, len(sorted))
	for _, k := range sorted {
		row := compareRow{Key: k, Cells: make([]compareCell, len(runs))}
		for i := range runs {
			v, ok := all[i][k]
			row.Cells[i] = compareCell{Value: v, Set: ok}
			if i > 0 && row.Cells[i] != row.Cells[0] {
				row.Differ = true
			}
		}
		rows = append(rows, row)
	}
	return rows
}
