package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/mlflowapi"
)

func init() {
	pageRoutes = append(pageRoutes, func(s *Server) []route {
		return []route{{"GET /jobs", s.serveJobs, mlflowapi.SignedInRule()}, {"GET /jobs/{id}", s.serveJob, mlflowapi.On(mlflowapi.TargetJob, auth.NeedRead, "{id}")}}
	})
	funcs["jobCores"] = jobCores
	funcs["jobMemory"] = jobMemory
	funcs["jobStart"] = jobStart
	funcs["jobEnd"] = jobEnd
	funcs["jobStateURL"] = jobStateURL
	funcs["jobExit"] = func(code *int) string {
		if code == nil {
			return "–"
		}
		return strconv.Itoa(*code)
	}
	funcs["jobTimeout"] = func(d time.Duration) string {
		if d <= 0 {
			return "none"
		}
		return d.String()
	}
}

// jobStateOrder are the states, in their lifecycle order, as the filter offers
// them.
var jobStateOrder = []jobs.State{jobs.Queued, jobs.Scheduled, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled}

// jobActiveStates are the states of a job that has not ended.
var jobActiveStates = []jobs.State{jobs.Queued, jobs.Scheduled, jobs.Running}

const jobsPerPage = 100

// jobsPage is the job queue's state, all from its URL: state (a comma list
// of states, any when empty), queue, user and page (a page token).
type jobsPage struct {
	Off      bool
	States   []jobs.State
	Queue    string
	User     string
	Page     string
	Jobs     []*jobs.Job
	Next     string
	Capacity *jobCapacity
	// Active is whether the page shows, or the server has, a job that has
	// not ended: the page then refreshes itself.
	Active bool
	All    []jobs.State
}

// Has reports whether the filter holds st (for the filter's chips).
func (p jobsPage) Has(st jobs.State) bool { return slices.Contains(p.States, st) }

// StateList is the state filter as the URL spells it.
func (p jobsPage) StateList() string {
	names := make([]string, len(p.States))
	for i, st := range p.States {
		names[i] = string(st)
	}
	return strings.Join(names, ",")
}

// IsActiveFilter reports whether the filter is exactly the active states.
func (p jobsPage) IsActiveFilter() bool {
	return len(p.States) == len(jobActiveStates) && !slices.ContainsFunc(jobActiveStates, func(st jobs.State) bool { return !p.Has(st) })
}

// jobCapacity is what the nodes have and what running jobs hold of it.
type jobCapacity struct {
	Total, Used     jobs.Resources
	Nodes           int
	Running, Queued int
	// More is set when a count stopped at the listing's limit.
	More bool
}

// Percent is how much of one resource (cpu, memory, gpus) is held, for a
// meter's width.
func (c *jobCapacity) Percent(what string) int64 {
	var used, total int64
	switch what {
	case "cpu":
		used, total = c.Used.MilliCPU, c.Total.MilliCPU
	case "memory":
		used, total = c.Used.MemoryBytes, c.Total.MemoryBytes
	case "gpus":
		used, total = int64(c.Used.GPUs), int64(c.Total.GPUs)
	}
	if total <= 0 {
		return 0
	}
	return min(100, max(0, used*100/total))
}

func (s *Server) serveJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := jobsPage{Queue: strings.TrimSpace(q.Get("queue")), User: strings.TrimSpace(q.Get("user")), Page: q.Get("page"), All: jobStateOrder}
	if s.Jobs == nil {
		p.Off = true
		s.render(w, r, "jobs", "Jobs", "jobs", p)
		return
	}
	states, err := parseJobStates(q["state"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.States = states
	ctx := r.Context()
	js, next, err := s.Jobs.List(ctx, jobs.Query{States: states, Queue: p.Queue, User: p.User, MaxResults: jobsPerPage, PageToken: p.Page})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.Jobs, p.Next = js, next
	for _, j := range js {
		if !j.State.Final() {
			p.Active = true
		}
	}
	if c, err := s.readJobCapacity(ctx); err != nil {
		s.fail(w, r, err)
		return
	} else if c != nil {
		p.Capacity = c
		p.Active = p.Active || c.Running > 0 || c.Queued > 0
	}
	s.render(w, r, "jobs", "Jobs", "jobs", p)
}

// parseJobStates reads the state filter: comma lists, in one or several
// state parameters, in any case.
func parseJobStates(values []string) ([]jobs.State, error) {
	var out []jobs.State
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			name = strings.ToUpper(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			st := jobs.State(name)
			if !slices.Contains(jobStateOrder, st) {
				names := make([]string, len(jobStateOrder))
				for i, s := range jobStateOrder {
					names[i] = string(s)
				}
				return nil, lode.Errorf(lode.EInvalid, "Invalid value '%s' for parameter 'state': it must be one of %s.", name, strings.Join(names, ", "))
			}
			if !slices.Contains(out, st) {
				out = append(out, st)
			}
		}
	}
	return out, nil
}

// jobStateURL is the list's URL with st toggled in its state filter (the
// page token dropped: the listing changes). An empty st clears the filter;
// "active" selects the states of jobs that have not ended.
func jobStateURL(u *url.URL, current []jobs.State, st jobs.State) string {
	var next []string
	switch st {
	case "":
	case "active":
		for _, a := range jobActiveStates {
			next = append(next, string(a))
		}
	default:
		found := false
		for _, c := range current {
			if c == st {
				found = true
				continue
			}
			next = append(next, string(c))
		}
		if !found {
			next = append(next, string(st))
		}
	}
	return withQuery(u, "state", strings.Join(next, ","), "page", "")
}

// readJobCapacity sums the nodes' resources and what scheduled and
// running jobs hold, when the job service is the real one (the UI's Jobs
// interface does not say what nodes there are); nil otherwise. The counts
// are bounded by one listing each: a longer queue shows as "1000+".
func (s *Server) readJobCapacity(ctx context.Context) (*jobCapacity, error) {
	svc, ok := s.Jobs.(*jobs.Service)
	if !ok || len(svc.Nodes) == 0 {
		return nil, nil
	}
	const limit = 1000
	c := &jobCapacity{Nodes: len(svc.Nodes)}
	for _, n := range svc.Nodes {
		c.Total = c.Total.Add(n.Capacity)
	}
	running, next, err := s.Jobs.List(ctx, jobs.Query{States: []jobs.State{jobs.Scheduled, jobs.Running}, MaxResults: limit})
	if err != nil {
		return nil, err
	}
	c.More = next != ""
	for _, j := range running {
		c.Used = c.Used.Add(j.Spec.Resources.Scale(max(j.Spec.Replicas, 1)))
	}
	c.Running = len(running)
	queued, next, err := s.Jobs.List(ctx, jobs.Query{States: []jobs.State{jobs.Queued}, MaxResults: limit})
	if err != nil {
		return nil, err
	}
	c.Queued = len(queued)
	c.More = c.More || next != ""
	return c, nil
}

// jobPage is one job: its spec (environment variable names only: their
// values may be secrets), where it stands, and the log viewer's choice of
// rank and attempt (0: the latest).
type jobPage struct {
	Job       *jobs.Job
	EnvKeys   []string
	History   []jobTransitionRow
	Rank      int
	Attempt   int
	Ranks     []int
	Attempts  []int
	Active    bool
	Placement []jobPlacementRow
}

type jobTransitionRow struct {
	jobs.Transition
	// After is how long after the previous change this one came.
	After string
}

type jobPlacementRow struct {
	Rank   int
	Node   string
	GPUIDs string
}

// validJobID reports whether id could name a job (jobs.Service makes hex
// ids); anything else is a 404 without a lookup.
func validJobID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Server) serveJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.Jobs == nil {
		s.fail(w, r, notFound("no job '%s': this server runs without jobs", id))
		return
	}
	if !validJobID(id) {
		s.fail(w, r, notFound("no job '%s'", id))
		return
	}
	j, err := s.Jobs.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := jobPage{Job: j, Active: !j.State.Final()}
	q := r.URL.Query()
	replicas := max(j.Spec.Replicas, 1)
	if p.Rank, err = jobURLInt(q.Get("rank"), "rank", 0, replicas-1); err != nil {
		s.fail(w, r, err)
		return
	}
	// An attempt past the job's count is refused; while the job runs a
	// link may name the next one only after it has begun.
	if p.Attempt, err = jobURLInt(q.Get("attempt"), "attempt", 0, j.Attempt); err != nil {
		s.fail(w, r, err)
		return
	}
	for i := range replicas {
		p.Ranks = append(p.Ranks, i)
	}
	for i := j.Attempt; i >= 1; i-- {
		p.Attempts = append(p.Attempts, i)
	}
	for k := range j.Spec.Env {
		p.EnvKeys = append(p.EnvKeys, k)
	}
	sort.Strings(p.EnvKeys)
	for i, t := range j.History {
		row := jobTransitionRow{Transition: t}
		if i > 0 {
			row.After = durationMillis(j.History[i-1].Time, max(t.Time, j.History[i-1].Time))
		}
		p.History = append(p.History, row)
	}
	if j.Placement != nil {
		for i, rp := range j.Placement.Replicas {
			p.Placement = append(p.Placement, jobPlacementRow{Rank: i, Node: rp.Node, GPUIDs: strings.Join(rp.GPUIDs, ",")})
		}
	}
	s.render(w, r, "job", "Job "+j.Spec.Name, "jobs", p)
}

// jobURLInt reads an integer URL parameter between lo and hi; empty is lo.
func jobURLInt(v, name string, lo, hi int) (int, error) {
	if v == "" {
		return lo, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, lode.Errorf(lode.EInvalid, "Invalid value '%s' for parameter '%s': it must be a whole number from %d to %d.", v, name, lo, hi)
	}
	return n, nil
}

// jobCores shows thousandths of a CPU as cores ("1.5"); none asked is "–".
func jobCores(milli int64) string {
	if milli <= 0 {
		return "–"
	}
	return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
}

// jobMemory shows bytes in binary units ("512 MiB", "1.5 GiB"); none
// asked is "–".
func jobMemory(b int64) string {
	if b <= 0 {
		return "–"
	}
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	v, i := float64(b), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[i]
}

// jobStart is when the job's current attempt began running (0: it has not).
func jobStart(j *jobs.Job) int64 {
	for i := len(j.History) - 1; i >= 0; i-- {
		switch j.History[i].State {
		case jobs.Running:
			return j.History[i].Time
		case jobs.Queued:
			return 0 // queued again (a retry) after its last run
		}
	}
	return 0
}

// jobEnd is when the job ended (0: it has not).
func jobEnd(j *jobs.Job) int64 {
	if !j.State.Final() || len(j.History) == 0 {
		return 0
	}
	return j.History[len(j.History)-1].Time
}
