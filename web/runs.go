package web

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/tracking"
)

func init() {
	pageRoutes = append(pageRoutes, func(s *Server) []route {
		return []route{
			{"GET /experiments/{id}", s.runs, experimentPageRule},
			{"GET /experiments/{id}/runs.csv", s.runsCSV, experimentPageRule},
		}
	})
}

// Bounds of the run table and its CSV download.
const (
	runsPerPage     = 100
	maxRunsPerPage  = 1000
	defaultRunCols  = 24   // columns shown when the URL chooses none
	maxPickerKeys   = 500  // keys of one kind the column picker lists
	maxSelected     = 1000 // run ids kept in sel=
	csvPageSize     = 1000
	maxCSVRows      = 100000
	csvTimeLayout   = "2006-01-02T15:04:05.000Z07:00"
	internalTagPfx  = "mlflow."
	tagSourceName   = "mlflow.source.name"
	defaultRunOrder = "attributes.start_time DESC"
)

// runsView is the state of the run table, all read from its URL:
//
//	filter  a search_runs filter
//	sort    one search_runs order_by clause ("metrics.rmse DESC")
//	view    active, deleted or all
//	n       runs per page (100; at most 1000)
//	page    a page token
//	cols    the params, metrics and tags shown ("params.alpha,metrics.rmse");
//	        absent: the shown runs' params and metrics; empty: none
//	sel     the selected runs' ids, kept while paging
//	expand  the parent runs whose child runs are shown (collapsed by default)
type runsView struct {
	Filter     string
	Sort       string
	Order      tracking.OrderBy // Sort parsed; start time, newest first, when Sort is empty
	View       string
	viewType   tracking.ViewType
	N          int
	Page       string
	Cols       []runColumn
	ColsChosen bool
	Selected   []string
	// Expanded are the parent runs whose children are shown (expand=).
	Expanded []string
}

// runColumn is a param, metric or tag shown as a column.
type runColumn struct {
	Kind string // tracking.KeyParam, KeyMetric or KeyTag
	Key  string
}

// runKindPrefix is how cols= and order_by name each kind.
var runKindPrefix = map[string]string{tracking.KeyParam: "params", tracking.KeyMetric: "metrics", tracking.KeyTag: "tags"}

// ID is the column as cols= names it: "metrics.rmse".
func (c runColumn) ID() string { return runKindPrefix[c.Kind] + "." + c.Key }

// orderBy is the search_runs order_by clause that sorts by the column.
func (c runColumn) orderBy(asc bool) string { return runOrderClause(runKindPrefix[c.Kind], c.Key, asc) }

var plainRunKey = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// runOrderClause writes an order_by clause, quoting a key that is not a plain
// word in backticks (keys may hold spaces, dots, slashes and colons; never
// backticks).
func runOrderClause(prefix, key string, asc bool) string {
	if !plainRunKey.MatchString(key) {
		key = "`" + key + "`"
	}
	dir := " DESC"
	if asc {
		dir = " ASC"
	}
	return prefix + "." + key + dir
}

// parseRunsView reads the view's state from the URL. A filter or sort that
// search_runs would refuse is left for SearchRuns to report, with MLflow's
// message; everything else that is malformed falls back to its default.
func parseRunsView(q url.Values) (runsView, error) {
	v := runsView{Filter: strings.TrimSpace(q.Get("filter")), Sort: strings.TrimSpace(q.Get("sort")), View: q.Get("view"), Page: q.Get("page"), N: runsPerPage}
	switch v.View {
	case "deleted":
		v.viewType = tracking.DeletedOnly
	case "all":
		v.viewType = tracking.AllViews
	default:
		v.View, v.viewType = "active", tracking.ActiveOnly
	}
	if n, err := strconv.Atoi(q.Get("n")); err == nil && n > 0 {
		v.N = min(n, maxRunsPerPage)
	}
	if q.Has("cols") {
		v.ColsChosen = true
		seen := map[string]bool{}
		for _, id := range strings.Split(q.Get("cols"), ",") {
			c, ok := parseColumn(strings.TrimSpace(id))
			if ok && !seen[c.ID()] {
				seen[c.ID()] = true
				v.Cols = append(v.Cols, c)
			}
		}
	}
	seen := map[string]bool{}
	for _, id := range strings.Split(q.Get("sel"), ",") {
		id = strings.TrimSpace(id)
		if id != "" && !seen[id] && tracking.ValidateRunID(id, "sel") == nil && len(v.Selected) < maxSelected {
			seen[id] = true
			v.Selected = append(v.Selected, id)
		}
	}
	seen = map[string]bool{}
	for _, id := range strings.Split(q.Get("expand"), ",") {
		id = strings.TrimSpace(id)
		if id != "" && !seen[id] && tracking.ValidateRunID(id, "expand") == nil && len(v.Expanded) < maxSelected {
			seen[id] = true
			v.Expanded = append(v.Expanded, id)
		}
	}
	order := v.Sort
	if order == "" {
		order = defaultRunOrder
	}
	var err error
	v.Order, err = tracking.ParseRunOrderBy(order)
	return v, err
}

// ColsParam is the chosen columns as cols= names them.
func (v runsView) ColsParam() string {
	ids := make([]string, len(v.Cols))
	for i, c := range v.Cols {
		ids[i] = c.ID()
	}
	return strings.Join(ids, ",")
}

// parseColumn reads one entry of cols=: "params.alpha", "metrics.val/loss",
// "tags.team" (the singular forms are accepted too). The key is everything
// after the first dot.
func parseColumn(id string) (runColumn, bool) {
	prefix, key, ok := strings.Cut(id, ".")
	if !ok || key == "" {
		return runColumn{}, false
	}
	kinds := map[string]string{"params": tracking.KeyParam, "param": tracking.KeyParam,
		"metrics": tracking.KeyMetric, "metric": tracking.KeyMetric, "tags": tracking.KeyTag, "tag": tracking.KeyTag}
	kind, ok := kinds[prefix]
	if !ok || strings.ContainsAny(key, "`,") {
		return runColumn{}, false
	}
	return runColumn{Kind: kind, Key: key}, true
}

// orderBy is what SearchRuns gets: the URL's sort, or none (the store's
// own order, start time newest first).
func (v runsView) orderBy() []string {
	if v.Sort == "" {
		return nil
	}
	return []string{v.Sort}
}

// runValues indexes a run's data by column.
type runValues struct {
	params  map[string]string
	metrics map[string]float64
	tags    map[string]string
}

func runValuesOf(r *tracking.Run) runValues {
	v := runValues{params: make(map[string]string, len(r.Params)), metrics: make(map[string]float64, len(r.Metrics)), tags: make(map[string]string, len(r.Tags))}
	for _, p := range r.Params {
		v.params[p.Key] = p.Value
	}
	for _, m := range r.Metrics {
		v.metrics[m.Key] = m.Value
	}
	for _, t := range r.Tags {
		v.tags[t.Key] = t.Value
	}
	return v
}

// runKeySet gathers the keys present in some runs, by kind.
type runKeySet struct {
	params, metrics, tags map[string]bool
}

func newRunKeySet() runKeySet {
	return runKeySet{params: map[string]bool{}, metrics: map[string]bool{}, tags: map[string]bool{}}
}

// add records a run's keys; MLflow's internal tags (mlflow.*) are left out,
// as MLflow's run table leaves them out: name, user and source have their
// own columns.
func (k runKeySet) add(r *tracking.Run) {
	for _, p := range r.Params {
		k.params[p.Key] = true
	}
	for _, m := range r.Metrics {
		k.metrics[m.Key] = true
	}
	for _, t := range r.Tags {
		if !strings.HasPrefix(t.Key, internalTagPfx) {
			k.tags[t.Key] = true
		}
	}
}

func runKeysSorted(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func runColumnsOf(kind string, keys []string) []runColumn {
	cols := make([]runColumn, len(keys))
	for i, k := range keys {
		cols[i] = runColumn{Kind: kind, Key: k}
	}
	return cols
}

// runUser is who ran a run: its user_id, else its mlflow.user tag.
func runUser(r *tracking.Run, v runValues) string {
	if r.Info.UserID != "" {
		return r.Info.UserID
	}
	return v.tags[tracking.TagUser]
}

// The page.

// runsPage is what templates/runs.html gets.
type runsPage struct {
	Experiment *tracking.Experiment
	runsView
	Error   string // a refused filter, sort or page token: MLflow's message
	Headers []runHeader
	Rows    []runRow
	Next    string
	// Picker lists the keys the column picker offers, by kind.
	Picker    []runPickerGroup
	CSV       string
	PageSizes []int
}

// runHeader is one column heading; Sort is the link that sorts by it
// (empty when the column cannot be sorted).
type runHeader struct {
	Label, Kind, Title, Sort, Arrow string
	Num                             bool
}

type runRow struct {
	ID, Name, Status, User, Source, SourceTitle string
	Start, End                                  int64
	Deleted, Selected                           bool
	Cells                                       []runCell
	// Nesting (nestRuns): the run's parent when it is shown under it, how
	// deep it is, how many runs are shown under it, whether those are
	// shown (Expanded) and whether the run itself is (not Hidden).
	ParentID         string // its mlflow.parentRunId tag
	Parent           string
	Depth, Children  int
	Expanded, Hidden bool
}

type runCell struct {
	Text, Title string
	Num, Empty  bool
}

type runPickerGroup struct {
	Label     string
	Keys      []runPickerKey
	Truncated bool
}

type runPickerKey struct {
	ID, Key string
	Checked bool
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
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
	p := runsPage{Experiment: exp, runsView: v, PageSizes: []int{25, 50, 100, 250, 500, 1000}}
	if !slices.Contains(p.PageSizes, v.N) {
		p.PageSizes = append(p.PageSizes, v.N)
		slices.Sort(p.PageSizes)
	}
	p.CSV = runsCSVLink(exp.ID, r.URL)

	var runs []*tracking.Run
	if orderErr == nil {
		runs, p.Next, err = s.Tracking.SearchRuns(r.Context(), []string{exp.ID}, v.Filter, v.orderBy(), v.viewType, v.N, v.Page)
	} else {
		err = orderErr
	}
	if err != nil {
		if lode.ErrorCode(err) != lode.EInvalid {
			s.fail(w, r, err)
			return
		}
		// A filter or sort the user typed was refused: the page stays, with
		// its filter box and MLflow's message, as a 400.
		p.Error = lode.ErrorMessage(err)
		s.renderStatus(w, r, mlflowapi.HTTPStatus(lode.EInvalid), "runs", exp.Name, "experiments", p)
		return
	}

	keys := newRunKeySet()
	for _, run := range runs {
		keys.add(run)
	}
	if !v.ColsChosen {
		// By default: the shown runs' metrics, then params, up to a limit.
		p.Cols = append(runColumnsOf(tracking.KeyMetric, runKeysSorted(keys.metrics)), runColumnsOf(tracking.KeyParam, runKeysSorted(keys.params))...)
		p.Cols = p.Cols[:min(len(p.Cols), defaultRunCols)]
	}
	p.Picker = runPickerGroups(keys, p.Cols)
	p.Headers = runHeaders(r.URL, p.runsView)
	selected := make(map[string]bool, len(v.Selected))
	for _, id := range v.Selected {
		selected[id] = true
	}
	p.Rows = make([]runRow, len(runs))
	for i, run := range runs {
		vals := runValuesOf(run)
		row := runRow{
			ID: run.Info.RunID, Name: run.Info.RunName, Status: run.Info.Status, User: runUser(run, vals),
			Start: run.Info.StartTime, Deleted: run.Info.LifecycleStage == tracking.StageDeleted,
			Selected: selected[run.Info.RunID], Cells: make([]runCell, len(p.Cols)),
		}
		if run.Info.EndTime != nil {
			row.End = *run.Info.EndTime
		}
		if src := vals.tags[tagSourceName]; src != "" {
			row.Source, row.SourceTitle = path.Base(src), src
		}
		for j, c := range p.Cols {
			row.Cells[j] = runCellOf(c, vals)
		}
		row.ParentID = vals.tags[tracking.TagParentRun]
		p.Rows[i] = row
	}
	p.Rows = nestRuns(p.Rows, v.Expanded)
	s.render(w, r, "runs", exp.Name, "experiments", p)
}

// nestRuns shows child runs under their parent, as MLflow's run table
// does: a run whose parent (its mlflow.parentRunId tag) is on the page
// follows it, one level deeper, hidden unless the parent is expanded; the
// others keep their place in the page's order, as do runs whose parent is
// on another page. Children keep the page's order among themselves. A run
// in a loop of parents (tags are anyone's to set) is shown at the top.
func nestRuns(rows []runRow, expanded []string) []runRow {
	open := make(map[string]bool, len(expanded))
	for _, id := range expanded {
		open[id] = true
	}
	index := make(map[string]int, len(rows))
	for i, r := range rows {
		index[r.ID] = i
	}
	children := map[string][]int{}
	child := make([]bool, len(rows))
	for i, r := range rows {
		if _, ok := index[r.ParentID]; ok && r.ParentID != r.ID {
			children[r.ParentID] = append(children[r.ParentID], i)
			child[i] = true
		}
	}
	out := make([]runRow, 0, len(rows))
	placed := make([]bool, len(rows))
	var place func(i int, parent string, depth int, hidden bool) int
	place = func(i int, parent string, depth int, hidden bool) int {
		if placed[i] {
			return 0
		}
		placed[i] = true
		at := len(out)
		r := rows[i]
		r.Parent, r.Depth, r.Hidden, r.Expanded = parent, depth, hidden, open[r.ID]
		out = append(out, r)
		for _, c := range children[r.ID] {
			out[at].Children += place(c, r.ID, depth+1, hidden || !r.Expanded)
		}
		return 1
	}
	for i := range rows {
		if !child[i] {
			place(i, "", 0, false)
		}
	}
	for i := range rows {
		place(i, "", 0, false)
	}
	return out
}

// runCellOf is a column's value in one run; a run without the key shows a dash.
func runCellOf(c runColumn, v runValues) runCell {
	switch c.Kind {
	case tracking.KeyMetric:
		if m, ok := v.metrics[c.Key]; ok {
			return runCell{Text: formatNumber(m), Title: strconv.FormatFloat(m, 'g', -1, 64), Num: true}
		}
	case tracking.KeyParam:
		if p, ok := v.params[c.Key]; ok {
			return runCell{Text: shorten(60, p), Title: p}
		}
	case tracking.KeyTag:
		if t, ok := v.tags[c.Key]; ok {
			return runCell{Text: shorten(60, t), Title: t}
		}
	}
	return runCell{Text: "–", Empty: true, Num: c.Kind == tracking.KeyMetric}
}

// runHeaders are the table's headings, each linking to the view sorted by
// it: ascending first, then toggling. Duration has no attribute to sort by.
func runHeaders(u *url.URL, v runsView) []runHeader {
	type col struct {
		label, kind, prefix, key string // kind and prefix name the key as order_by does
		chosen                   bool   // a param, metric or tag column
	}
	cols := []col{
		{label: "Name", kind: tracking.KeyAttribute, prefix: "attributes", key: "run_name"},
		{label: "Status", kind: tracking.KeyAttribute, prefix: "attributes", key: "status"},
		{label: "Started", kind: tracking.KeyAttribute, prefix: "attributes", key: "start_time"},
		{label: "Duration"},
		{label: "User", kind: tracking.KeyAttribute, prefix: "attributes", key: "user_id"},
		{label: "Source", kind: tracking.KeyTag, prefix: "tags", key: tagSourceName},
	}
	for _, c := range v.Cols {
		cols = append(cols, col{label: c.Key, kind: c.Kind, prefix: runKindPrefix[c.Kind], key: c.Key, chosen: true})
	}
	hs := make([]runHeader, len(cols))
	for i, c := range cols {
		h := runHeader{Label: c.label, Title: c.label}
		if c.chosen {
			h.Kind, h.Title, h.Num = c.kind, c.prefix+"."+c.key, c.kind == tracking.KeyMetric
		}
		if c.key != "" {
			asc := true
			if v.Order.KeyType == c.kind && v.Order.Key == c.key {
				if v.Order.Asc {
					h.Arrow, asc = "▲", false
				} else {
					h.Arrow = "▼"
				}
			}
			h.Sort = withQuery(u, "sort", runOrderClause(c.prefix, c.key, asc), "page", "")
		}
		hs[i] = h
	}
	return hs
}

// runPickerGroups lists the keys the column picker offers: those of the
// shown runs (keys, which it adds to), and the chosen ones even when no
// shown run has them, so that they can be unchosen.
func runPickerGroups(keys runKeySet, chosen []runColumn) []runPickerGroup {
	byKind := map[string]map[string]bool{tracking.KeyParam: keys.params, tracking.KeyMetric: keys.metrics, tracking.KeyTag: keys.tags}
	checked := map[string]bool{}
	for _, c := range chosen {
		checked[c.ID()] = true
		byKind[c.Kind][c.Key] = true
	}
	var gs []runPickerGroup
	for _, g := range []struct {
		label, kind string
		keys        map[string]bool
	}{{"Metrics", tracking.KeyMetric, keys.metrics}, {"Parameters", tracking.KeyParam, keys.params}, {"Tags", tracking.KeyTag, keys.tags}} {
		all := runKeysSorted(g.keys)
		pg := runPickerGroup{Label: g.label, Truncated: len(all) > maxPickerKeys}
		for _, k := range all[:min(len(all), maxPickerKeys)] {
			c := runColumn{Kind: g.kind, Key: k}
			pg.Keys = append(pg.Keys, runPickerKey{ID: c.ID(), Key: k, Checked: checked[c.ID()]})
		}
		gs = append(gs, pg)
	}
	return gs
}

// runsCSVLink is the CSV download of the view: its filter, sort, lifecycle
// view and chosen columns (no page: the download has every matching run).
func runsCSVLink(expID string, u *url.URL) string {
	q, out := u.Query(), url.Values{}
	for _, k := range []string{"filter", "sort", "view", "cols"} {
		if q.Has(k) {
			out.Set(k, q.Get(k))
		}
	}
	l := url.URL{Path: "/experiments/" + expID + "/runs.csv", RawQuery: out.Encode()}
	return l.String()
}

// The CSV download.

// runsCSV streams every run the view matches (up to maxCSVRows) as CSV,
// page by page: run_id, name, status, start_time, end_time, user, source,
// then the chosen columns, or when none are chosen every param, metric
// and (non-internal) tag of the matching runs. Times are UTC ISO 8601;
// text cells go through csvText.
func (s *Server) runsCSV(w http.ResponseWriter, r *http.Request) {
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
	v, err := parseRunsView(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	search := func(token string) ([]*tracking.Run, string, error) {
		return s.Tracking.SearchRuns(r.Context(), []string{exp.ID}, v.Filter, v.orderBy(), v.viewType, csvPageSize, token)
	}
	runs, next, err := search("")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cols := v.Cols
	if !v.ColsChosen {
		// The header names every key, so the keys are gathered first, in a
		// pass that reads what the download will (bounded alike); the
		// download then starts again from the first page, already read.
		keys, page, more := newRunKeySet(), runs, next
		for n := 0; ; {
			for _, run := range page {
				keys.add(run)
			}
			if n += len(page); more == "" || n >= maxCSVRows {
				break
			}
			if page, more, err = search(more); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		cols = append(append(runColumnsOf(tracking.KeyParam, runKeysSorted(keys.params)),
			runColumnsOf(tracking.KeyMetric, runKeysSorted(keys.metrics))...), runColumnsOf(tracking.KeyTag, runKeysSorted(keys.tags))...)
	}

	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+csvFileName(exp.Name)+`-runs.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	header := []string{"run_id", "name", "status", "start_time", "end_time", "user", "source"}
	for _, c := range cols {
		header = append(header, csvText(c.ID()))
	}
	cw.Write(header)
	record := make([]string, len(header))
	written := 0
	for {
		for _, run := range runs {
			if written == maxCSVRows {
				break
			}
			vals := runValuesOf(run)
			record = append(record[:0], run.Info.RunID, csvText(run.Info.RunName), run.Info.Status, runsCSVTime(run.Info.StartTime), "",
				csvText(runUser(run, vals)), csvText(vals.tags[tagSourceName]))
			if run.Info.EndTime != nil {
				record[4] = runsCSVTime(*run.Info.EndTime)
			}
			for _, c := range cols {
				record = append(record, runsCSVValue(c, vals))
			}
			cw.Write(record)
			written++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return // the client went away
		}
		if next == "" || written == maxCSVRows {
			return
		}
		if runs, next, err = search(next); err != nil {
			// The status is sent: the download ends short, and the log says why.
			s.Logger.Error("runs CSV cut short", "experiment", exp.ID, "rows", written, "err", err)
			return
		}
	}
}

func runsCSVTime(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(csvTimeLayout)
}

// runsCSVValue is a column's value in full (metrics at full precision); a run
// without the key gives an empty field. Params and tags are text anyone
// who can log to the run wrote: csvText neutralises them. Metrics are
// numbers this server formats, which a spreadsheet reads as numbers.
func runsCSVValue(c runColumn, v runValues) string {
	switch c.Kind {
	case tracking.KeyMetric:
		if m, ok := v.metrics[c.Key]; ok {
			return strconv.FormatFloat(m, 'g', -1, 64)
		}
	case tracking.KeyParam:
		return csvText(v.params[c.Key])
	case tracking.KeyTag:
		return csvText(v.tags[c.Key])
	}
	return ""
}

// csvDecimal is a plain decimal number, as a spreadsheet reads one.
var csvDecimal = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// csvText neutralises a text cell against formula injection (CWE-1236,
// OWASP's "CSV Injection"): a spreadsheet opening the file runs a cell
// that starts with '=', '+', '-' or '@' as a formula (and some skip a
// leading tab, carriage return, line feed or NUL first), so such a cell
// gets a leading "'", which makes it text and is not shown. A plain
// decimal number ("-1", "-0.5", "+2e-3"), which a spreadsheet reads as a
// number and cannot run, is kept as it is, so that a param such as -1
// stays a number.
func csvText(s string) string {
	if s == "" || strings.IndexByte("=+-@\t\r\n\x00", s[0]) < 0 || csvDecimal.MatchString(s) {
		return s
	}
	return "'" + s
}

// csvFileName makes an experiment name a file name: letters, digits, dots,
// dashes and underscores; anything else becomes an underscore.
func csvFileName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if s := strings.Trim(string(b), "._"); s != "" {
		return s
	}
	return "experiment"
}
