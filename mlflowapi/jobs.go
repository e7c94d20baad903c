package mlflowapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/jobs"
)

// Jobs is what the jobs API needs of the job service (jobs.Service).
type Jobs interface {
	Submit(ctx context.Context, spec jobs.Spec) (*jobs.Job, error)
	Get(ctx context.Context, id string) (*jobs.Job, error)
	List(ctx context.Context, q jobs.Query) ([]*jobs.Job, string, error)
	Cancel(ctx context.Context, id string) (*jobs.Job, error)
	// Logs writes a replica's log from offset to w (attempt 0: the
	// latest); with follow it keeps writing until the replica ends or ctx
	// does.
	Logs(ctx context.Context, id string, attempt, rank int, offset int64, follow bool, w io.Writer) error
}

var _ Jobs = (*jobs.Service)(nil)

// logHeaderDelay is how long a followed log waits for its first byte
// before it sends the response's status anyway: errors found sooner (an
// unknown job, a job not started) still get MLflow's JSON error body, and
// a client of a quiet job is not left waiting for headers.
const logHeaderDelay = 300 * time.Millisecond

// jobStates are the states a listing may filter on.
var jobStates = []jobs.State{jobs.Queued, jobs.Scheduled, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled}

// jbool is a boolean that also accepts "true"/"false"/"1"/"0" strings (query
// strings carry everything as strings).
type jbool bool

func (j *jbool) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("invalid boolean %s", b)
	}
	*j = jbool(v)
	return nil
}

// handleJobs registers fn under Lode's API prefixes like handleLode, with
// the jobs API's error statuses (see jobError).
func (s *Server) handleJobs(method, path string, rule Rule, fn apiFunc) {
	h := func(w http.ResponseWriter, r *http.Request) {
		resp, err := fn(r.Context(), r)
		if err != nil {
			s.jobError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}
	for _, prefix := range []string{"/api/2.0/lode/", "/ajax-api/2.0/lode/"} {
		s.route(method+" "+prefix+path, rule, h)
	}
}

// jobError writes err as MLflow's error body. INVALID_STATE, which MLflow
// answers with 500, is the caller's mistake here (cancelling a job that has
// ended, asking for the log of one that has not started) and gets 409.
func (s *Server) jobError(w http.ResponseWriter, r *http.Request, err error) {
	if code := lode.ErrorCode(err); code == lode.EInvalidState {
		writeJSON(w, http.StatusConflict, map[string]string{"error_code": code, "message": lode.ErrorMessage(err)})
		return
	}
	s.writeError(w, r, err)
}

// toInt checks that a request's integer fits an int field.
func toInt(field string, v jint) (int, error) {
	if v.V > math.MaxInt32 || v.V < math.MinInt32 {
		return 0, lode.Errorf(lode.EInvalid, "Invalid value %d for parameter '%s': out of range.", v.V, field)
	}
	return int(v.V), nil
}

// submitRequest is the body of jobs/submit.
type submitRequest struct {
	Name      string            `json:"name"`
	Command   string            `json:"command"`
	Env       map[string]string `json:"env"`
	WorkDir   string            `json:"work_dir"`
	Resources struct {
		MilliCPU    jint `json:"milli_cpu"`
		MemoryBytes jint `json:"memory_bytes"`
		GPUs        jint `json:"gpus"`
	} `json:"resources"`
	Replicas       jint              `json:"replicas"`
	Priority       jint              `json:"priority"`
	Queue          string            `json:"queue"`
	User           string            `json:"user"`
	MaxRetries     jint              `json:"max_retries"`
	TimeoutSeconds jfloat            `json:"timeout_seconds"`
	ExperimentID   jstr              `json:"experiment_id"`
	Tags           map[string]string `json:"tags"`
	Params         map[string]string `json:"params"`
	PythonEnv      *jobs.PythonEnv   `json:"python_env"`
}

func (req *submitRequest) spec() (jobs.Spec, error) {
	sp := jobs.Spec{Name: req.Name, Command: req.Command, Env: req.Env, WorkDir: req.WorkDir, Queue: req.Queue,
		User: req.User, ExperimentID: string(req.ExperimentID), Tags: req.Tags, Params: req.Params, PythonEnv: req.PythonEnv,
		Resources: jobs.Resources{MilliCPU: req.Resources.MilliCPU.V, MemoryBytes: req.Resources.MemoryBytes.V}}
	var err error
	for _, f := range []struct {
		name string
		v    jint
		dst  *int
	}{
		{"resources.gpus", req.Resources.GPUs, &sp.Resources.GPUs},
		{"replicas", req.Replicas, &sp.Replicas},
		{"priority", req.Priority, &sp.Priority},
		{"max_retries", req.MaxRetries, &sp.MaxRetries},
	} {
		if *f.dst, err = toInt(f.name, f.v); err != nil {
			return sp, err
		}
	}
	if sp.WorkDir != "" && !filepath.IsAbs(sp.WorkDir) {
		return sp, lode.Errorf(lode.EInvalid, "Invalid value '%s' for parameter 'work_dir': it must be an absolute path on the server's machine.", sp.WorkDir)
	}
	if t := req.TimeoutSeconds; t.Set {
		if math.IsNaN(t.V) || t.V < 0 || t.V*1e9 >= math.MaxInt64 {
			return sp, lode.Errorf(lode.EInvalid, "Invalid value %v for parameter 'timeout_seconds': it must be a number of seconds, 0 for none.", t.V)
		}
		sp.Timeout = time.Duration(math.Round(t.V * 1e9))
	}
	return sp, nil
}

// jobIDReq is a request naming one job.
type jobIDReq struct {
	ID jstr `json:"id"`
}

// routeJobs serves the jobs API:
//
//	POST /api/2.0/lode/jobs/submit  {name, command, env, work_dir, resources {milli_cpu, memory_bytes, gpus},
//	                                 replicas, priority, queue, user, max_retries, timeout_seconds,
//	                                 experiment_id, tags, params, python_env}           → {job}
//	GET  /api/2.0/lode/jobs/get?id=ID                                                 → {job}
//	GET  /api/2.0/lode/jobs/list?state=S&state=S&queue=Q&user=U&max_results=N&page_token=T
//	                                                                                  → {jobs, next_page_token}
//	POST /api/2.0/lode/jobs/cancel  {id}                                              → {job}
//	GET  /api/2.0/lode/jobs/logs?id=ID&attempt=A&rank=R&offset=O&follow=true          → text/plain
func (s *Server) routeJobs() {
	s.handleJobs("POST", "jobs/submit", On(TargetExperiment, auth.NeedUpdate, "experiment_id"), func(ctx context.Context, r *http.Request) (any, error) {
		var req submitRequest
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		sp, err := req.spec()
		if err != nil {
			return nil, err
		}
		if !s.Guard.Open() {
			id := auth.FromContext(ctx)
			if !s.UserCode && !id.Admin() {
				return nil, auth.Denied("only admins may submit jobs on this server: a job runs as the server's operating-system user, " +
					"so it could do anything the server can. Ask an admin to run it, or to start the server with --allow-user-code.")
			}
			// A job belongs to whoever submitted it, whatever the request says.
			sp.User = id.Name()
			sp.Owner = id.Name()
		}
		j, err := s.Jobs.Submit(ctx, sp)
		if err != nil {
			return nil, err
		}
		return map[string]any{"job": j}, nil
	})
	s.handleJobs("GET", "jobs/get", On(TargetJob, auth.NeedRead, "id"), func(ctx context.Context, r *http.Request) (any, error) {
		var req jobIDReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("id", string(req.ID)); err != nil {
			return nil, err
		}
		j, err := s.Jobs.Get(ctx, string(req.ID))
		if err != nil {
			return nil, err
		}
		return map[string]any{"job": s.jobOut(ctx, j)}, nil
	})
	s.handleJobs("GET", "jobs/list", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			States     jstrs  `json:"state"`
			Queue      string `json:"queue"`
			User       string `json:"user"`
			MaxResults jint   `json:"max_results"`
			PageToken  string `json:"page_token"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		q := jobs.Query{Queue: req.Queue, User: req.User, PageToken: req.PageToken}
		for _, v := range req.States {
			for _, name := range strings.Split(v, ",") {
				st, err := parseJobState(name)
				if err != nil {
					return nil, err
				}
				q.States = append(q.States, st)
			}
		}
		if req.MaxResults.V < 0 {
			return nil, lode.Errorf(lode.EInvalid, "Invalid value %d for parameter 'max_results': it must not be negative.", req.MaxResults.V)
		}
		n, err := toInt("max_results", req.MaxResults)
		if err != nil {
			return nil, err
		}
		q.MaxResults = n
		js, next, err := s.Jobs.List(ctx, q)
		if err != nil {
			return nil, err
		}
		if js == nil {
			js = []*jobs.Job{}
		}
		for i, j := range js {
			js[i] = s.jobOut(ctx, j)
		}
		out := map[string]any{"jobs": js}
		if next != "" {
			out["next_page_token"] = next
		}
		return out, nil
	})
	s.handleJobs("POST", "jobs/cancel", Rule{Access: OnResource, Target: TargetJob, Need: auth.NeedManage, Params: []string{"id"}, Owner: true}, func(ctx context.Context, r *http.Request) (any, error) {
		var req jobIDReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("id", string(req.ID)); err != nil {
			return nil, err
		}
		j, err := s.Jobs.Cancel(ctx, string(req.ID))
		if err != nil {
			return nil, err
		}
		return map[string]any{"job": j}, nil
	})
	for _, prefix := range []string{"/api/2.0/lode/", "/ajax-api/2.0/lode/"} {
		s.route("GET "+prefix+"jobs/logs", On(TargetJob, auth.NeedRead, "id"), s.serveJobLogs)
	}
}

// Redacted stands for the value of a job's environment variable that its
// caller may not see.
const Redacted = "[redacted]"

// jobOut is a job as its caller may see it: the values of its environment
// variables (which may hold credentials) only for its owner and admins
// (its user, a name anyone could write while the server ran open, is no
// owner).
func (s *Server) jobOut(ctx context.Context, j *jobs.Job) *jobs.Job {
	id := auth.FromContext(ctx)
	if s.Guard.Open() || id.Admin() || len(j.Spec.Env) == 0 || (j.Spec.Owner != "" && j.Spec.Owner == id.Name()) {
		return j
	}
	c := *j
	c.Spec.Env = make(map[string]string, len(j.Spec.Env))
	for k := range j.Spec.Env {
		c.Spec.Env[k] = Redacted
	}
	return &c
}

func parseJobState(name string) (jobs.State, error) {
	name = strings.ToUpper(strings.TrimSpace(name))
	for _, st := range jobStates {
		if string(st) == name {
			return st, nil
		}
	}
	names := make([]string, len(jobStates))
	for i, st := range jobStates {
		names[i] = string(st)
	}
	return "", lode.Errorf(lode.EInvalid, "Invalid value '%s' for parameter 'state': it must be one of %s.", name, strings.Join(names, ", "))
}

// serveJobLogs streams a replica's log as text. Errors found before the
// first byte (or, when following, before logHeaderDelay) are answered with
// MLflow's JSON error body; once the text has begun, an error just ends it.
func (s *Server) serveJobLogs(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID      jstr  `json:"id"`
		Attempt jint  `json:"attempt"`
		Rank    jint  `json:"rank"`
		Offset  jint  `json:"offset"`
		Follow  jbool `json:"follow"`
	}
	if err := s.decode(r, &req); err != nil {
		s.jobError(w, r, err)
		return
	}
	if err := required("id", string(req.ID)); err != nil {
		s.jobError(w, r, err)
		return
	}
	attempt, err := toInt("attempt", req.Attempt)
	if err == nil && attempt < 0 {
		err = lode.Errorf(lode.EInvalid, "Invalid value %d for parameter 'attempt': it must not be negative (0: the latest).", attempt)
	}
	rank, err2 := toInt("rank", req.Rank)
	if err == nil {
		err = err2
	}
	if err == nil && req.Offset.V < 0 {
		err = lode.Errorf(lode.EInvalid, "Invalid value %d for parameter 'offset': it must not be negative.", req.Offset.V)
	}
	if err != nil {
		s.jobError(w, r, err)
		return
	}
	id, follow := string(req.ID), bool(req.Follow)
	lw := &logWriter{w: w, rc: http.NewResponseController(w), flush: follow}
	var timer *time.Timer
	if follow {
		timer = time.AfterFunc(logHeaderDelay, lw.commit)
	}
	err = s.Jobs.Logs(r.Context(), id, attempt, rank, req.Offset.V, follow, lw)
	if timer != nil {
		timer.Stop()
	}
	if lw.finish() {
		if err != nil && r.Context().Err() == nil {
			s.Logger.Warn("job log stream ended by an error", "job", id, "attempt", attempt, "rank", rank, "err", err)
		}
		return
	}
	switch {
	case err == nil:
		lw.start()
	case r.Context().Err() != nil:
		// The client went away before anything was sent.
	case errors.Is(err, fs.ErrNotExist):
		s.jobError(w, r, lode.Errorf(lode.ENotFound, "job %s has no log yet for attempt %d rank %d", id, attempt, rank))
	default:
		s.jobError(w, r, err)
	}
}

// logWriter writes a log as the body of a text/plain answer: the status
// goes out with the first byte, or when commit is called. When following,
// each write is flushed to the client at once.
type logWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	flush   bool
	started bool
	done    bool
}

var errLogClosed = errors.New("mlflowapi: the log answer has ended")

// start sends the status and headers.
func (lw *logWriter) start() {
	if lw.started {
		return
	}
	lw.started = true
	h := lw.w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if lw.flush {
		h.Set("X-Accel-Buffering", "no") // proxies must not hold a followed log back
	}
	lw.w.WriteHeader(http.StatusOK)
}

func (lw *logWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.done {
		return 0, errLogClosed
	}
	lw.start()
	n, err := lw.w.Write(p)
	if err == nil && lw.flush {
		err = lw.rc.Flush()
	}
	return n, err
}

// commit sends the status now, when nothing has been written yet.
func (lw *logWriter) commit() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.done || lw.started {
		return
	}
	lw.start()
	lw.rc.Flush()
}

// finish stops further writes (a late timer, a writer left behind) and
// reports whether the answer has begun.
func (lw *logWriter) finish() bool {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.done = true
	return lw.started
}

// submitJobBody is the body the client sends to jobs/submit.
type submitJobBody struct {
	Name           string            `json:"name,omitempty"`
	Command        string            `json:"command"`
	Env            map[string]string `json:"env,omitempty"`
	WorkDir        string            `json:"work_dir,omitempty"`
	Resources      jobs.Resources    `json:"resources"`
	Replicas       int               `json:"replicas,omitempty"`
	Priority       int               `json:"priority,omitempty"`
	Queue          string            `json:"queue,omitempty"`
	User           string            `json:"user,omitempty"`
	MaxRetries     int               `json:"max_retries,omitempty"`
	TimeoutSeconds float64           `json:"timeout_seconds,omitempty"`
	ExperimentID   string            `json:"experiment_id,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	Params         map[string]string `json:"params,omitempty"`
	PythonEnv      *jobs.PythonEnv   `json:"python_env,omitempty"`
}

type jobResp struct {
	Job *jobs.Job `json:"job"`
}

// SubmitJob submits a job. The server fills in defaults (one replica, the
// default queue, experiment 0) and refuses a job that could never run.
func (c *Client) SubmitJob(ctx context.Context, spec jobs.Spec) (*jobs.Job, error) {
	in := submitJobBody{Name: spec.Name, Command: spec.Command, Env: spec.Env, WorkDir: spec.WorkDir,
		Resources: spec.Resources, Replicas: spec.Replicas, Priority: spec.Priority, Queue: spec.Queue,
		User: spec.User, MaxRetries: spec.MaxRetries, TimeoutSeconds: spec.Timeout.Seconds(),
		ExperimentID: spec.ExperimentID, Tags: spec.Tags, Params: spec.Params, PythonEnv: spec.PythonEnv}
	var out jobResp
	if err := c.callPath(ctx, http.MethodPost, "/api/2.0/lode/jobs/submit", nil, in, &out); err != nil {
		return nil, err
	}
	return out.Job, jobMissing(out.Job)
}

// GetJob returns a job.
func (c *Client) GetJob(ctx context.Context, id string) (*jobs.Job, error) {
	var out jobResp
	if err := c.callPath(ctx, http.MethodGet, "/api/2.0/lode/jobs/get", url.Values{"id": {id}}, nil, &out); err != nil {
		return nil, err
	}
	return out.Job, jobMissing(out.Job)
}

// ListJobs returns one page of jobs, newest first, and the next page's
// token ("" on the last page).
func (c *Client) ListJobs(ctx context.Context, q jobs.Query) ([]*jobs.Job, string, error) {
	v := url.Values{}
	for _, st := range q.States {
		v.Add("state", string(st))
	}
	setNonEmpty(v, "queue", q.Queue)
	setNonEmpty(v, "user", q.User)
	if q.MaxResults > 0 {
		v.Set("max_results", strconv.Itoa(q.MaxResults))
	}
	setNonEmpty(v, "page_token", q.PageToken)
	var out struct {
		Jobs []*jobs.Job `json:"jobs"`
		Next string      `json:"next_page_token"`
	}
	if err := c.callPath(ctx, http.MethodGet, "/api/2.0/lode/jobs/list", v, nil, &out); err != nil {
		return nil, "", err
	}
	return out.Jobs, out.Next, nil
}

// CancelJob cancels a job: a queued one ends at once, a running one when
// its processes are gone (the job returned may still say RUNNING).
func (c *Client) CancelJob(ctx context.Context, id string) (*jobs.Job, error) {
	var out jobResp
	if err := c.callPath(ctx, http.MethodPost, "/api/2.0/lode/jobs/cancel", nil, map[string]string{"id": id}, &out); err != nil {
		return nil, err
	}
	return out.Job, jobMissing(out.Job)
}

// JobLogs copies a replica's log into w, from byte offset: of attempt (0:
// the latest) and rank. With follow it returns when the replica has ended
// (or ctx does), having copied what it wrote as it wrote it.
func (c *Client) JobLogs(ctx context.Context, id string, attempt, rank int, offset int64, follow bool, w io.Writer) error {
	q := url.Values{"id": {id}}
	if attempt > 0 {
		q.Set("attempt", strconv.Itoa(attempt))
	}
	if rank != 0 {
		q.Set("rank", strconv.Itoa(rank))
	}
	if offset != 0 {
		q.Set("offset", strconv.FormatInt(offset, 10))
	}
	if follow {
		q.Set("follow", "true")
	}
	const p = "/api/2.0/lode/jobs/logs"
	res, err := c.send(ctx, http.MethodGet, p, q, nil, "")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(w, res.Body); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("reading the log of job %s: %w", id, err)
	}
	return nil
}

func jobMissing(j *jobs.Job) error {
	if j == nil {
		return errors.New("malformed answer: no job")
	}
	return nil
}
