package web

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

func init() {
	pageRoutes = append(pageRoutes, func(s *Server) []route {
		return []route{
			{"GET /runs/{id}", s.runPage, runPageRule},
			// MLflow's UI names a run under its experiment, and links to
			// it (the client's "View run" without its "#") come here.
			{"GET /experiments/{experiment}/runs/{id}", s.runPageOfExperiment, runPageRule},
			// The artifact browser's parts: a file's bytes, the preview
			// pane of one entry, and a folder's listing (fragments of the
			// page, fetched by run.js as the user browses).
			{"GET /runs/{id}/artifact", s.runArtifactFile, runPageRule},
			{"GET /runs/{id}/preview", s.runArtifactPreview, runPageRule},
			{"GET /runs/{id}/artifacts", s.runArtifactTree, runPageRule},
		}
	})
}

// runSystemMetricPrefix marks the resource metrics a job's sampler logs
// (jobs.Service's sampleLoop, named as MLflow's system metrics are).
const runSystemMetricPrefix = "system/"

// runPageData is the run page. Its view state, all from the URL: x (the
// charts' x axis: step, time or wall), smooth (TensorBoard's smoothing
// weight, 0 to 0.99), log (1: log-scale y), metric (a filter on chart
// names), artifact (the selected artifact path).
type runPageData struct {
	Run        *tracking.Run
	Experiment *tracking.Experiment
	End        int64
	User       string
	Source     string
	SourceType string
	GitCommit  string
	Note       string
	ParentID   string
	JobID      string
	JobHref    string
	Job        *jobs.Job

	Params        []tracking.Param
	Metrics       []tracking.Metric // latest values, not system/
	SystemMetrics []tracking.Metric
	Tags          []tracking.Tag // the user's
	SystemTags    []tracking.Tag // mlflow.* and lode.*
	Inputs        []tracking.DatasetInput

	// The charts: one per metric, with the URL of its downsampled
	// history; the first few are preloaded (Preload), so that their data
	// comes while the browser is still starting the page's scripts.
	Charts       []runChart
	SystemCharts []runChart
	Preload      []string

	X, Smooth, Filter string
	Log               bool

	Artifacts artifactBrowser
	Versions  []*registry.Version
	// LoggedModels are the MLflow 3 logged models the run produced.
	LoggedModels []*runLoggedModel
	// Edit is the description and user tags, with their editors for a
	// viewer who may edit the run.
	Edit editable
}

// artifactBrowser is the artifact section of the run page.
type artifactBrowser struct {
	URI      string
	Served   bool // on this server's artifact proxy
	NoStore  bool // the server has no artifact store at all
	Tree     []*artifactEntry
	Selected string
	Preview  *artifactPreview
	Models   []*loggedModelSummary
	Error    string
}

// runChart is one metric's chart.
type runChart struct {
	Key string
	Src string // its history, at most runChartPoints values spread over all of it
}

// runChartPoints bounds the values a chart fetches: the server spreads
// them evenly over the whole history, so a metric with 100,000 values
// costs no more to fetch and draw than one with 1,000.
const runChartPoints = 1000

// runChartsPreloaded is how many charts' data the page asks for before
// its scripts run (as many as run.js fetches at once).
const runChartsPreloaded = 6

func newRunChart(runID, key string) runChart {
	return runChart{Key: key, Src: "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=" + runID +
		"&metric_key=" + url.QueryEscape(key) + "&max_results=" + strconv.Itoa(runChartPoints)}
}

// runFromPath reads the run a /runs/{id}/... path names; an id that is not a
// run id is a 404, as a missing run is.
func (s *Server) runFromPath(r *http.Request) (*tracking.Run, error) {
	id := r.PathValue("id")
	if tracking.ValidateRunID(id, "run_id") != nil {
		return nil, notFound("no run '%s'", id)
	}
	return s.Tracking.GetRun(r.Context(), id)
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	run, err := s.runFromPath(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	p := runPageData{Run: run, X: q.Get("x"), Filter: q.Get("metric"), Log: q.Get("log") == "1"}
	switch p.X {
	case "step", "time", "wall":
	default:
		p.X = "step"
	}
	if v, err := strconv.ParseFloat(q.Get("smooth"), 64); err == nil && v > 0 {
		p.Smooth = strconv.FormatFloat(min(v, 0.99), 'f', -1, 64)
	} else {
		p.Smooth = "0"
	}
	if run.Info.EndTime != nil {
		p.End = *run.Info.EndTime
	}
	if exp, err := s.Tracking.GetExperiment(ctx, run.Info.ExperimentID); err == nil {
		p.Experiment = exp
	}
	p.User = run.Info.UserID
	for _, t := range run.Tags {
		switch t.Key {
		case tracking.TagUser:
			if p.User == "" {
				p.User = t.Value
			}
		case "mlflow.source.name":
			p.Source = t.Value
		case "mlflow.source.type":
			p.SourceType = t.Value
		case "mlflow.source.git.commit":
			p.GitCommit = t.Value
		case "mlflow.note.content":
			p.Note = t.Value
		case tracking.TagParentRun:
			if tracking.ValidateRunID(t.Value, "") == nil {
				p.ParentID = t.Value
			}
		case "lode.job.id":
			p.JobID = t.Value
			p.JobHref = "/jobs/" + url.PathEscape(t.Value)
		}
		if strings.HasPrefix(t.Key, "mlflow.") || strings.HasPrefix(t.Key, "lode.") {
			p.SystemTags = append(p.SystemTags, t)
		} else {
			p.Tags = append(p.Tags, t)
		}
	}
	// The tag is anyone's to set who may edit the run: the job it names is
	// shown only when it is this run's own job, else the page would tell
	// the state of any job to whoever names it.
	if p.JobID != "" && s.Jobs != nil {
		if j, err := s.Jobs.Get(ctx, p.JobID); err == nil && j.RunID == run.Info.RunID {
			p.Job = j
		}
	}
	for _, m := range run.Metrics {
		if strings.HasPrefix(m.Key, runSystemMetricPrefix) {
			p.SystemMetrics = append(p.SystemMetrics, m)
		} else {
			p.Metrics = append(p.Metrics, m)
		}
	}
	p.Params, p.Inputs = run.Params, run.Inputs
	sort.Slice(p.Params, func(i, j int) bool { return p.Params[i].Key < p.Params[j].Key })
	sort.Slice(p.Metrics, func(i, j int) bool { return p.Metrics[i].Key < p.Metrics[j].Key })
	sort.Slice(p.SystemMetrics, func(i, j int) bool { return p.SystemMetrics[i].Key < p.SystemMetrics[j].Key })
	sort.Slice(p.Tags, func(i, j int) bool { return p.Tags[i].Key < p.Tags[j].Key })
	sort.Slice(p.SystemTags, func(i, j int) bool { return p.SystemTags[i].Key < p.SystemTags[j].Key })
	for _, m := range p.Metrics {
		p.Charts = append(p.Charts, newRunChart(run.Info.RunID, m.Key))
	}
	for _, m := range p.SystemMetrics {
		p.SystemCharts = append(p.SystemCharts, newRunChart(run.Info.RunID, m.Key))
	}
	for _, c := range append(append([]runChart(nil), p.Charts...), p.SystemCharts...) {
		if len(p.Preload) < runChartsPreloaded {
			p.Preload = append(p.Preload, c.Src)
		}
	}
	p.Versions = s.runModelVersions(ctx, run.Info.RunID)
	p.LoggedModels = s.runLoggedModels(ctx, run, p.Versions)
	p.Edit = s.runEditable(ctx, run.Info.RunID, p.Note, p.Tags)

	if err := s.loadRunArtifacts(ctx, r, run, &p.Artifacts); err != nil {
		s.fail(w, r, err)
		return
	}
	title := run.Info.RunName
	if title == "" {
		title = run.Info.RunID
	}
	s.render(w, r, "run", title, "experiments", p)
}

// runPageOfExperiment sends /experiments/{experiment}/runs/{id}, MLflow's
// UI's path of a run, to the run's page (the run names its experiment).
func (s *Server) runPageOfExperiment(w http.ResponseWriter, r *http.Request) {
	run, err := s.runFromPath(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u := url.URL{Path: "/runs/" + run.Info.RunID, RawQuery: r.URL.RawQuery}
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// loadRunArtifacts fills the page's artifact browser: the tree, the selected
// entry's preview and the logged models' summaries. A path that escapes
// is an error (400); a store failure is shown in the section, not as a
// failed page.
func (s *Server) loadRunArtifacts(ctx context.Context, r *http.Request, run *tracking.Run, a *artifactBrowser) error {
	a.URI, a.NoStore = run.Info.ArtifactURI, s.Artifacts == nil
	selected, err := artifactParam(r, "artifact")
	if err != nil {
		return err
	}
	root, ok := s.artifactRoot(run.Info.ArtifactURI)
	if !ok {
		return nil
	}
	// The run's artifact location may point into another experiment's
	// tree: the path is checked as the proxy checks it.
	if err := s.Guard.CheckArtifact(ctx, root, auth.NeedRead); err != nil {
		return err
	}
	a.Served, a.Selected = true, selected
	tree, err := s.artifactTree(ctx, run.Info.RunID, root, "", selected)
	if err != nil {
		a.Error = lode.ErrorMessage(err)
		return nil
	}
	a.Tree = tree
	for _, dir := range loggedModelFolders(tree) {
		a.Models = append(a.Models, s.loggedModel(ctx, run, root, dir))
	}
	if selected != "" {
		if a.Preview, err = s.previewArtifact(ctx, run, root, selected); err != nil {
			a.Preview = &artifactPreview{Path: selected, Name: path.Base(selected), Kind: "error", Note: lode.ErrorMessage(err)}
		}
	}
	return nil
}

// runArtifactFile serves one artifact file's bytes (?path=; download=1
// asks for an attachment).
func (s *Server) runArtifactFile(w http.ResponseWriter, r *http.Request) {
	_, root, rel, ok := s.artifactRequest(w, r)
	if !ok {
		return
	}
	if rel == "" {
		s.runFragmentError(w, lode.Errorf(lode.EInvalid, "name an artifact file: ?path="))
		return
	}
	s.serveArtifact(w, r, root, rel, r.URL.Query().Get("download") == "1")
}

// runArtifactPreview renders the preview pane of ?path= (a fragment).
func (s *Server) runArtifactPreview(w http.ResponseWriter, r *http.Request) {
	run, root, rel, ok := s.artifactRequest(w, r)
	if !ok {
		return
	}
	p, err := s.previewArtifact(r.Context(), run, root, rel)
	if err != nil {
		s.runFragmentError(w, err)
		return
	}
	s.renderRunFragment(w, r, "artifact-preview", p)
}

// runArtifactTree renders the listing of folder ?path= (a fragment), for a
// folder the page did not list up front.
func (s *Server) runArtifactTree(w http.ResponseWriter, r *http.Request) {
	run, root, rel, ok := s.artifactRequest(w, r)
	if !ok {
		return
	}
	tree, err := s.artifactTree(r.Context(), run.Info.RunID, root, rel, "")
	if err != nil {
		s.runFragmentError(w, err)
		return
	}
	s.renderRunFragment(w, r, "artifact-tree", tree)
}

// artifactRequest checks the run and ?path= of an artifact endpoint,
// answering the error itself when there is one.
func (s *Server) artifactRequest(w http.ResponseWriter, r *http.Request) (run *tracking.Run, root, rel string, ok bool) {
	run, err := s.runFromPath(r)
	if err != nil {
		s.runFragmentError(w, err)
		return nil, "", "", false
	}
	rel, err = artifactParam(r, "path")
	if err != nil {
		s.runFragmentError(w, err)
		return nil, "", "", false
	}
	root, served := s.artifactRoot(run.Info.ArtifactURI)
	if !served {
		s.runFragmentError(w, notFound("the artifacts of run %s (%s) are not on this server", run.Info.RunID, run.Info.ArtifactURI))
		return nil, "", "", false
	}
	if err := s.Guard.CheckArtifact(r.Context(), root, auth.NeedRead); err != nil {
		s.runFragmentError(w, err)
		return nil, "", "", false
	}
	return run, root, rel, true
}

// renderRunFragment renders one named template of the run page alone.
func (s *Server) renderRunFragment(w http.ResponseWriter, r *http.Request, name string, data any) {
	t, ok := s.pages["run"]
	if !ok {
		s.runFragmentError(w, lode.Errorf(lode.EInternal, "no page template run"))
		return
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		s.runFragmentError(w, lode.Internal(err, "cannot render the artifact view"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(b.Bytes())
}

// runFragmentError answers a fragment or file request that failed: the
// status of err's code and its message as plain text (run.js shows it).
func (s *Server) runFragmentError(w http.ResponseWriter, err error) {
	status := mlflowapi.HTTPStatus(lode.ErrorCode(err))
	if status >= 500 {
		s.Logger.Error("artifact view failed", "err", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write([]byte(lode.ErrorMessage(err)))
}
