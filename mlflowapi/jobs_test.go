package mlflowapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/localexec"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/sqlite"
)

// jobsEnv is the API with a real job service behind it: the SQLite store,
// the local executor, one node of 2 CPUs and 4 GiB without GPUs.
type jobsEnv struct {
	*apiEnv
	svc *jobs.Service
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func newJobsEnv(t *testing.T) *jobsEnv {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("local jobs need a Unix")
	}
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "jobs.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	svc := &jobs.Service{
		Store:        db,
		Exec:         localexec.New(localexec.Options{BaseDir: filepath.Join(dir, "jobs"), KillGrace: 2 * time.Second}),
		Nodes:        []jobs.Node{jobs.LocalNode("local", 2, 4<<30, nil)},
		FreePort:     freePort,
		Tick:         20 * time.Millisecond,
		RetryBackoff: 10 * time.Millisecond,
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	// Leave no process behind: cancel what is still active and wait for it.
	t.Cleanup(func() {
		active, _, _ := svc.List(ctx, jobs.Query{States: []jobs.State{jobs.Queued, jobs.Scheduled, jobs.Running}, MaxResults: 1000})
		for _, j := range active {
			svc.Cancel(ctx, j.ID)
		}
		deadline := time.Now().Add(15 * time.Second)
		for _, j := range active {
			for time.Now().Before(deadline) {
				if g, err := svc.Get(ctx, j.ID); err != nil || g.State.Final() {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	e := newAPIEnv(t, func(s *mlflowapi.Server) { s.Jobs = svc })
	return &jobsEnv{apiEnv: e, svc: svc}
}

// job decodes the "job" of a 200 answer.
func (e *jobsEnv) job(r resp, what string) *jobs.Job {
	e.t.Helper()
	if r.Status != http.StatusOK {
		e.t.Fatalf("%s: %s", what, r)
	}
	var out struct {
		Job *jobs.Job `json:"job"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil || out.Job == nil {
		e.t.Fatalf("%s: no job in %s (%v)", what, r, err)
	}
	return out.Job
}

func (e *jobsEnv) submit(body map[string]any) *jobs.Job {
	e.t.Helper()
	return e.job(e.do(http.MethodPost, "/api/2.0/lode/jobs/submit", body), "submit")
}

func (e *jobsEnv) getJob(id string) *jobs.Job {
	e.t.Helper()
	return e.job(e.get("/api/2.0/lode/jobs/get", url.Values{"id": {id}}), "get "+id)
}

// waitJob polls jobs/get until ok says yes.
func (e *jobsEnv) waitJob(id string, what string, ok func(*jobs.Job) bool) *jobs.Job {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j := e.getJob(id)
		if ok(j) {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s: still %s, waiting for %s: %+v", id, j.State, what, j.History)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *jobsEnv) waitState(id string, st jobs.State) *jobs.Job {
	e.t.Helper()
	j := e.waitJob(id, string(st), func(j *jobs.Job) bool { return j.State == st || j.State.Final() })
	if j.State != st {
		e.t.Fatalf("job %s ended %s (%s), want %s; history %+v", id, j.State, j.Reason, st, j.History)
	}
	return j
}

func (e *jobsEnv) logs(q url.Values) resp {
	e.t.Helper()
	return e.get("/api/2.0/lode/jobs/logs", q)
}

func TestJobsSubmitGetLogs(t *testing.T) {
	e := newJobsEnv(t)
	work := t.TempDir()
	j := e.submit(map[string]any{
		"command":         `echo "$GREETING from $(basename "$PWD")"; echo to-stderr >&2; echo "rank=$LODE_JOB_ATTEMPT"`,
		"env":             map[string]string{"GREETING": "hello"},
		"work_dir":        work,
		"resources":       map[string]any{"milli_cpu": "500", "memory_bytes": 1 << 20},
		"priority":        3,
		"timeout_seconds": 30,
		"user":            "alice",
		// An owner is the server's to set, with authentication only.
		"owner": "admin",
		"tags":  map[string]string{"team": "ml"},
	})
	if j.ID == "" || j.State != jobs.Queued || j.Attempt != 0 {
		t.Fatalf("submitted job: %+v", j)
	}
	sp := j.Spec
	if sp.Name != "echo" || sp.Queue != jobs.DefaultQueue || sp.Replicas != 1 || sp.ExperimentID != "0" || sp.Priority != 3 ||
		sp.Timeout != 30*time.Second || sp.User != "alice" || sp.Resources.MilliCPU != 500 || sp.Resources.MemoryBytes != 1<<20 ||
		sp.Env["GREETING"] != "hello" || sp.WorkDir != work || sp.Tags["team"] != "ml" || sp.Owner != "" {
		t.Errorf("spec as stored: %+v", sp)
	}

	done := e.waitJob(j.ID, "the end", func(j *jobs.Job) bool { return j.State.Final() })
	if done.State != jobs.Succeeded || done.ExitCode == nil || *done.ExitCode != 0 || done.Attempt != 1 {
		t.Fatalf("job ended %s (%s) exit %v attempt %d", done.State, done.Reason, done.ExitCode, done.Attempt)
	}
	var states []jobs.State
	for _, h := range done.History {
		if h.Time <= 0 {
			t.Errorf("transition without a time: %+v", h)
		}
		states = append(states, h.State)
	}
	if got := strings.Join(stateNames(states), ","); got != "QUEUED,SCHEDULED,RUNNING,SUCCEEDED" {
		t.Errorf("history %s", got)
	}
	if done.Placement == nil || len(done.Placement.Replicas) != 1 || done.Placement.Replicas[0].Node != "local" {
		t.Errorf("placement %+v", done.Placement)
	}

	want := "hello from " + filepath.Base(work) + "\nto-stderr\nrank=1\n"
	r := e.logs(url.Values{"id": {j.ID}})
	if r.Status != http.StatusOK || string(r.Body) != want {
		t.Fatalf("logs: %s, want %q", r, want)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("logs Content-Type %q", ct)
	}
	// From an offset, of an explicit attempt and rank, under the ajax prefix.
	r = e.get("/ajax-api/2.0/lode/jobs/logs", url.Values{"id": {j.ID}, "attempt": {"1"}, "rank": {"0"}, "offset": {"6"}})
	if r.Status != http.StatusOK || string(r.Body) != want[6:] {
		t.Errorf("logs from offset 6: %s, want %q", r, want[6:])
	}
	// Following a job that has ended returns what it wrote and ends.
	r = e.logs(url.Values{"id": {j.ID}, "follow": {"true"}})
	if r.Status != http.StatusOK || string(r.Body) != want {
		t.Errorf("follow of an ended job: %s", r)
	}
	// Past the end: nothing, but a 200.
	r = e.logs(url.Values{"id": {j.ID}, "offset": {"100000"}})
	if r.Status != http.StatusOK || len(r.Body) != 0 {
		t.Errorf("logs past the end: %s", r)
	}
}

func stateNames(ss []jobs.State) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

func TestJobsFollowLogs(t *testing.T) {
	e := newJobsEnv(t)
	j := e.submit(map[string]any{"command": `for i in 1 2 3 4 5; do echo "line $i"; sleep 0.25; done`})
	e.waitState(j.ID, jobs.Running)

	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/2.0/lode/jobs/logs?"+url.Values{"id": {j.ID}, "follow": {"true"}}.Encode(), nil)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("follow: HTTP %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	var lines []string
	var firstAt, lastAt time.Time
	stillRunningAtFirst := false
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) == 1 {
			firstAt = time.Now()
			g, err := e.svc.Get(context.Background(), j.ID)
			stillRunningAtFirst = err == nil && !g.State.Final()
		}
		lastAt = time.Now()
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the followed log: %v", err)
	}
	if got := strings.Join(lines, "|"); got != "line 1|line 2|line 3|line 4|line 5" {
		t.Fatalf("followed log %q", got)
	}
	if !stillRunningAtFirst {
		t.Errorf("the first line came only after the job had ended: the log was not streamed")
	}
	if d := lastAt.Sub(firstAt); d < 500*time.Millisecond {
		t.Errorf("lines arrived within %s of each other; they were written ~1s apart", d)
	}
	e.waitJob(j.ID, "the end", func(j *jobs.Job) bool { return j.State.Final() })
}

func TestJobsFollowQuietJobSendsHeaders(t *testing.T) {
	e := newJobsEnv(t)
	j := e.submit(map[string]any{"command": "sleep 100"})
	e.waitState(j.ID, jobs.Running)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/api/2.0/lode/jobs/logs?"+url.Values{"id": {j.ID}, "follow": {"1"}}.Encode(), nil)
	start := time.Now()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("follow of a quiet job: HTTP %d", res.StatusCode)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("headers of a quiet followed log took %s", d)
	}
	// The client goes away: the server stops following (the job is then
	// cancelled by the cleanup; a handler stuck on the stream would hang
	// the server's Close).
	cancel()
	res.Body.Close()
}

func TestJobsListAndPaging(t *testing.T) {
	e := newJobsEnv(t)
	var done []string
	for i := 0; i < 5; i++ {
		j := e.submit(map[string]any{"command": "true", "queue": "batch", "user": "bob"})
		e.waitJob(j.ID, "the end", func(j *jobs.Job) bool { return j.State.Final() })
		done = append(done, j.ID)
	}
	long := e.submit(map[string]any{"command": "sleep 100", "resources": map[string]any{"milli_cpu": 2000}})
	e.waitState(long.ID, jobs.Running)
	queued := e.submit(map[string]any{"command": "sleep 100", "resources": map[string]any{"milli_cpu": 2000}})
	time.Sleep(100 * time.Millisecond)
	if st := e.getJob(queued.ID).State; st != jobs.Queued {
		t.Fatalf("second 2-CPU job is %s, want QUEUED", st)
	}

	ids := func(r resp) []string {
		t.Helper()
		m := e.ok(r, "list")
		var out []string
		for _, j := range list(m, "jobs") {
			out = append(out, str(j, "id"))
		}
		return out
	}
	all := ids(e.get("/api/2.0/lode/jobs/list", nil))
	if len(all) != 7 || all[0] != queued.ID || all[1] != long.ID {
		t.Fatalf("list: %v (want 7, newest first)", all)
	}
	if got := ids(e.get("/api/2.0/lode/jobs/list", url.Values{"state": {"RUNNING"}})); len(got) != 1 || got[0] != long.ID {
		t.Errorf("state=RUNNING: %v", got)
	}
	if got := ids(e.get("/api/2.0/lode/jobs/list", url.Values{"state": {"QUEUED", "running"}})); len(got) != 2 {
		t.Errorf("state=QUEUED&state=running: %v", got)
	}
	if got := ids(e.get("/api/2.0/lode/jobs/list", url.Values{"state": {"QUEUED,RUNNING"}})); len(got) != 2 {
		t.Errorf("state=QUEUED,RUNNING: %v", got)
	}
	if got := ids(e.get("/api/2.0/lode/jobs/list", url.Values{"queue": {"batch"}, "user": {"bob"}, "state": {"SUCCEEDED"}})); len(got) != 5 {
		t.Errorf("queue=batch user=bob SUCCEEDED: %v", got)
	}
	if got := ids(e.get("/api/2.0/lode/jobs/list", url.Values{"queue": {"nope"}})); len(got) != 0 {
		t.Errorf("queue=nope: %v", got)
	}
	if r := e.get("/api/2.0/lode/jobs/list", url.Values{"queue": {"nope"}}); !strings.Contains(string(r.Body), `"jobs":[]`) {
		t.Errorf("an empty listing should hold an empty list: %s", r)
	}

	// Pages of 2 over the 5 finished jobs.
	var paged []string
	token := ""
	pages := 0
	for {
		q := url.Values{"state": {"SUCCEEDED"}, "max_results": {"2"}}
		if token != "" {
			q.Set("page_token", token)
		}
		m := e.ok(e.get("/api/2.0/lode/jobs/list", q), "page")
		pages++
		for _, j := range list(m, "jobs") {
			paged = append(paged, str(j, "id"))
		}
		token = str(m, "next_page_token")
		if token == "" || pages > 5 {
			break
		}
	}
	if len(paged) != 5 || pages != 3 {
		t.Errorf("paging: %d jobs in %d pages: %v", len(paged), pages, paged)
	}
	seen := map[string]bool{}
	for _, id := range paged {
		seen[id] = true
	}
	for _, id := range done {
		if !seen[id] {
			t.Errorf("job %s missing from the pages", id)
		}
	}

	wantError(t, e.get("/api/2.0/lode/jobs/list", url.Values{"state": {"DONE"}}), 400, lode.EInvalid, "bad state")
	wantError(t, e.get("/api/2.0/lode/jobs/list", url.Values{"max_results": {"-1"}}), 400, lode.EInvalid, "negative max_results")
	wantError(t, e.get("/api/2.0/lode/jobs/list", url.Values{"max_results": {"many"}}), 400, lode.EInvalid, "max_results not a number")
	wantError(t, e.get("/api/2.0/lode/jobs/list", url.Values{"max_results": {"100000"}}), 400, lode.EInvalid, "max_results too large")
	wantError(t, e.get("/api/2.0/lode/jobs/list", url.Values{"page_token": {"!!!"}}), 400, lode.EInvalid, "bad page token")
}

func TestJobsCancel(t *testing.T) {
	e := newJobsEnv(t)
	running := e.submit(map[string]any{"command": "sleep 100", "resources": map[string]any{"milli_cpu": 2000}})
	e.waitState(running.ID, jobs.Running)
	queued := e.submit(map[string]any{"command": "sleep 100", "resources": map[string]any{"milli_cpu": 2000}})
	time.Sleep(100 * time.Millisecond)

	// A job not started has no log yet.
	r := e.logs(url.Values{"id": {queued.ID}})
	wantError(t, r, http.StatusConflict, lode.EInvalidState, "logs of a queued job")
	if !strings.Contains(str(r.JSON, "message"), "not started") {
		t.Errorf("logs of a queued job: %s", r)
	}
	wantError(t, e.logs(url.Values{"id": {queued.ID}, "follow": {"true"}}), http.StatusConflict, lode.EInvalidState, "follow of a queued job")

	// Cancelling a queued job ends it at once.
	c := e.job(e.do(http.MethodPost, "/api/2.0/lode/jobs/cancel", map[string]any{"id": queued.ID}), "cancel queued")
	if c.State != jobs.Cancelled {
		t.Errorf("cancelled queued job is %s", c.State)
	}

	start := time.Now()
	e.job(e.do(http.MethodPost, "/api/2.0/lode/jobs/cancel", map[string]any{"id": running.ID}), "cancel running")
	j := e.waitJob(running.ID, "cancellation", func(j *jobs.Job) bool { return j.State.Final() })
	if j.State != jobs.Cancelled {
		t.Fatalf("cancelled running job ended %s (%s)", j.State, j.Reason)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancellation took %s", d)
	}
	// Once it has ended, cancelling again is refused.
	wantError(t, e.do(http.MethodPost, "/api/2.0/lode/jobs/cancel", map[string]any{"id": running.ID}), http.StatusConflict, lode.EInvalidState, "cancel an ended job")
	wantError(t, e.do(http.MethodPost, "/api/2.0/lode/jobs/cancel", map[string]any{"id": "nope"}), 404, lode.ENotFound, "cancel an unknown job")
	wantError(t, e.do(http.MethodPost, "/api/2.0/lode/jobs/cancel", map[string]any{}), 400, lode.EInvalid, "cancel without id")
}

func TestJobsErrors(t *testing.T) {
	e := newJobsEnv(t)
	submit := func(body string) resp {
		t.Helper()
		return e.do(http.MethodPost, "/api/2.0/lode/jobs/submit", body)
	}
	for _, c := range []struct{ what, body string }{
		{"not JSON", `{"command": `},
		{"replicas a word", `{"command": "true", "replicas": "two"}`},
		{"replicas fractional", `{"command": "true", "replicas": 1.5}`},
		{"env not an object", `{"command": "true", "env": ["A=1"]}`},
		{"env value a number", `{"command": "true", "env": {"A": 1}}`},
		{"resources a string", `{"command": "true", "resources": "lots"}`},
		{"milli_cpu a word", `{"command": "true", "resources": {"milli_cpu": "one"}}`},
		{"command a number", `{"command": 7}`},
		{"tags a list", `{"command": "true", "tags": ["a"]}`},
		{"timeout negative", `{"command": "true", "timeout_seconds": -1}`},
		{"timeout a word", `{"command": "true", "timeout_seconds": "soon"}`},
		{"priority out of range", `{"command": "true", "priority": 99999999999}`},
		{"missing command", `{"name": "x"}`},
		{"blank command", `{"command": "  "}`},
		{"relative work_dir", `{"command": "true", "work_dir": "src"}`},
		{"negative memory", `{"command": "true", "resources": {"memory_bytes": -1}}`},
		{"too many replicas", `{"command": "true", "replicas": 5000}`},
		{"bad env name", `{"command": "true", "env": {"A=B": "1"}}`},
	} {
		wantError(t, submit(c.body), 400, lode.EInvalid, c.what)
	}
	// A POST must say it is JSON.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/2.0/lode/jobs/submit", strings.NewReader(`{"command":"true"}`))
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Errorf("submit without a content type: HTTP %d", res.StatusCode)
	}

	// A job that can never fit says why.
	for _, c := range []struct{ what, body, reason string }{
		{"a GPU", `{"command": "true", "resources": {"gpus": 1}}`, "largest node has 0"},
		{"8 CPUs", `{"command": "true", "resources": {"milli_cpu": 8000}}`, "largest node has"},
		{"1 TiB", `{"command": "true", "resources": {"memory_bytes": 1099511627776}}`, "memory"},
	} {
		r := submit(c.body)
		wantError(t, r, 400, lode.EInvalid, "never fits: "+c.what)
		if msg := str(r.JSON, "message"); !strings.Contains(msg, "can never run") || !strings.Contains(msg, c.reason) {
			t.Errorf("never fits (%s): message %q should say why (%q)", c.what, msg, c.reason)
		}
	}
	if n := len(list(e.ok(e.get("/api/2.0/lode/jobs/list", nil), "list"), "jobs")); n != 0 {
		t.Errorf("refused submissions left %d jobs", n)
	}

	wantError(t, e.get("/api/2.0/lode/jobs/get", url.Values{"id": {"0123456789abcdef"}}), 404, lode.ENotFound, "get an unknown job")
	wantError(t, e.get("/api/2.0/lode/jobs/get", nil), 400, lode.EInvalid, "get without id")
	wantError(t, e.logs(url.Values{"id": {"0123456789abcdef"}}), 404, lode.ENotFound, "logs of an unknown job")
	wantError(t, e.logs(url.Values{"id": {"0123456789abcdef"}, "follow": {"true"}}), 404, lode.ENotFound, "follow an unknown job")
	wantError(t, e.logs(nil), 400, lode.EInvalid, "logs without id")

	j := e.submit(map[string]any{"command": "echo hi"})
	e.waitJob(j.ID, "the end", func(j *jobs.Job) bool { return j.State.Final() })
	for _, c := range []struct {
		what string
		q    url.Values
	}{
		{"rank out of range", url.Values{"rank": {"1"}}},
		{"negative rank", url.Values{"rank": {"-1"}}},
		{"attempt never made", url.Values{"attempt": {"2"}}},
		{"negative attempt", url.Values{"attempt": {"-1"}}},
		{"negative offset", url.Values{"offset": {"-5"}}},
		{"offset a word", url.Values{"offset": {"start"}}},
		{"follow neither true nor false", url.Values{"follow": {"maybe"}}},
	} {
		c.q.Set("id", j.ID)
		wantError(t, e.logs(c.q), 400, lode.EInvalid, "logs: "+c.what)
	}
	// Logs is GET only; submit POST only.
	wantError(t, e.do(http.MethodPost, "/api/2.0/lode/jobs/logs", map[string]any{"id": j.ID}), 405, lode.EBadRequest, "POST logs")
	wantError(t, e.get("/api/2.0/lode/jobs/submit", nil), 405, lode.EBadRequest, "GET submit")
}

// syncBuffer is a bytes.Buffer safe to read while it is written.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestJobsClient(t *testing.T) {
	e := newJobsEnv(t)
	ctx := context.Background()
	c := &mlflowapi.Client{BaseURL: e.srv.URL}

	j, err := c.SubmitJob(ctx, jobs.Spec{Name: "count", Command: `for i in 1 2 3; do echo "n=$i $X"; sleep 0.3; done`,
		Env: map[string]string{"X": "y"}, Timeout: 1500 * time.Millisecond, MaxRetries: 1, Priority: -2,
		Resources: jobs.Resources{MilliCPU: 250, MemoryBytes: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	if j.Spec.Name != "count" || j.Spec.Timeout != 1500*time.Millisecond || j.Spec.MaxRetries != 1 || j.Spec.Priority != -2 ||
		j.Spec.Resources.MemoryBytes != 64<<20 {
		t.Errorf("submitted spec %+v", j.Spec)
	}
	for {
		g, err := c.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g.State == jobs.Running || g.State.Final() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var buf syncBuffer
	if err := c.JobLogs(ctx, j.ID, 0, 0, 0, true, &buf); err != nil {
		t.Fatalf("JobLogs follow: %v", err)
	}
	if got := buf.String(); got != "n=1 y\nn=2 y\nn=3 y\n" {
		t.Errorf("followed log %q", got)
	}
	var tail bytes.Buffer
	if err := c.JobLogs(ctx, j.ID, 1, 0, 6, false, &tail); err != nil || tail.String() != "n=2 y\nn=3 y\n" {
		t.Errorf("JobLogs from offset 6: %q, %v", tail.String(), err)
	}
	for {
		g, err := c.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g.State.Final() {
			if g.State != jobs.Succeeded {
				t.Errorf("job ended %s (%s)", g.State, g.Reason)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	s, err := c.SubmitJob(ctx, jobs.Spec{Command: "sleep 100", Queue: "long"})
	if err != nil {
		t.Fatal(err)
	}
	page, next, err := c.ListJobs(ctx, jobs.Query{MaxResults: 1})
	if err != nil || len(page) != 1 || page[0].ID != s.ID || next == "" {
		t.Fatalf("ListJobs page 1: %d jobs, next %q, %v", len(page), next, err)
	}
	page, next, err = c.ListJobs(ctx, jobs.Query{MaxResults: 1, PageToken: next})
	if err != nil || len(page) != 1 || page[0].ID != j.ID || next != "" {
		t.Fatalf("ListJobs page 2: %d jobs, next %q, %v", len(page), next, err)
	}
	page, _, err = c.ListJobs(ctx, jobs.Query{States: []jobs.State{jobs.Succeeded}, Queue: jobs.DefaultQueue})
	if err != nil || len(page) != 1 || page[0].ID != j.ID {
		t.Fatalf("ListJobs SUCCEEDED: %d jobs, %v", len(page), err)
	}

	// Following a job that runs until it is cancelled ends when it does.
	for {
		g, err := c.GetJob(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g.State == jobs.Running {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	followed := make(chan error, 1)
	go func() { followed <- c.JobLogs(ctx, s.ID, 0, 0, 0, true, io.Discard) }()
	if _, err := c.CancelJob(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-followed:
		if err != nil {
			t.Errorf("JobLogs of a cancelled job: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("JobLogs still following a cancelled job")
	}

	// Errors carry the server's codes.
	if _, err := c.GetJob(ctx, "nope"); lode.ErrorCode(err) != lode.ENotFound {
		t.Errorf("GetJob unknown: %v", err)
	}
	if _, err := c.SubmitJob(ctx, jobs.Spec{Command: "true", Resources: jobs.Resources{GPUs: 4}}); lode.ErrorCode(err) != lode.EInvalid ||
		!strings.Contains(err.Error(), "can never run") {
		t.Errorf("SubmitJob never fits: %v", err)
	}
	if _, err := c.SubmitJob(ctx, jobs.Spec{}); lode.ErrorCode(err) != lode.EInvalid {
		t.Errorf("SubmitJob without command: %v", err)
	}
	if err := c.JobLogs(ctx, "nope", 0, 0, 0, false, io.Discard); lode.ErrorCode(err) != lode.ENotFound {
		t.Errorf("JobLogs unknown: %v", err)
	}
	if _, err := c.CancelJob(ctx, j.ID); lode.ErrorCode(err) != lode.EInvalidState {
		t.Errorf("CancelJob of an ended job: %v", err)
	}
	// A client that gives up stops following.
	q, err := c.SubmitJob(ctx, jobs.Spec{Command: "sleep 100"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		g, _ := c.GetJob(ctx, q.ID)
		if g != nil && g.State == jobs.Running {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := c.JobLogs(cctx, q.ID, 0, 0, 0, true, io.Discard); err == nil {
		t.Errorf("JobLogs with an expired context returned no error")
	}
}
