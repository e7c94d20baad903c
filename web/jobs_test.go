package web

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
)

// submitTestJob submits a job to the site's job service (local processes).
// The test's end cancels whatever is still active, so that no process
// outlives it.
func submitTestJob(t *testing.T, s *site, spec jobs.Spec) *jobs.Job {
	t.Helper()
	j, err := s.Jobs.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if got, err := s.Jobs.Get(ctx, j.ID); err != nil || got.State.Final() {
			return
		}
		s.Jobs.Cancel(ctx, j.ID)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if got, err := s.Jobs.Get(ctx, j.ID); err != nil || got.State.Final() {
				return
			}
		}
		t.Errorf("job %s did not end when cancelled", j.ID)
	})
	return j
}

// waitJobState waits until a job is in state st.
func waitJobState(t *testing.T, s *site, id string, st jobs.State) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		j, err := s.Jobs.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == st {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s (%s), not %s", id, j.State, j.Reason, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJobsPage(t *testing.T) {
	s := newSite(t)
	// The site's node has 2 CPUs: hog takes both, so waiter queues behind it.
	hello := submitTestJob(t, s, jobs.Spec{Name: "hello", Command: "echo hello; sleep 1; echo done"})
	fails := submitTestJob(t, s, jobs.Spec{Name: "fails", Command: "echo oops >&2; exit 3"})
	hog := submitTestJob(t, s, jobs.Spec{Name: "hog", Command: "sleep 60",
		Resources: jobs.Resources{MilliCPU: 2000, MemoryBytes: 1536 << 20}, Priority: 5})
	waitJobState(t, s, hog.ID, jobs.Running)
	waiter := submitTestJob(t, s, jobs.Spec{Name: "waiter", Command: "true", Queue: "batch", User: "ana",
		Resources: jobs.Resources{MilliCPU: 1500, GPUs: 0}})
	waitJobState(t, s, hello.ID, jobs.Succeeded)
	waitJobState(t, s, fails.ID, jobs.Failed)

	// Without a browser: the filters, bad input.
	rows := func(path string) (int, string, map[string]bool) {
		code, body := s.get(t, path)
		in := map[string]bool{}
		for _, j := range []*jobs.Job{hello, fails, hog, waiter} {
			in[j.Spec.Name] = strings.Contains(body, `data-id="`+j.ID+`"`)
		}
		return code, body, in
	}
	for path, want := range map[string]string{
		"/jobs":                                      "hello fails hog waiter",
		"/jobs?state=QUEUED":                         "waiter",
		"/jobs?state=RUNNING,QUEUED":                 "hog waiter",
		"/jobs?state=running&state=failed":           "fails hog",
		"/jobs?state=SUCCEEDED,FAILED,CANCELLED":     "hello fails",
		"/jobs?queue=batch":                          "waiter",
		"/jobs?user=ana&state=QUEUED":                "waiter",
		"/jobs?queue=default&state=SUCCEEDED,QUEUED": "hello",
	} {
		code, body, in := rows(path)
		if code != 200 {
			t.Fatalf("%s: %d\n%s", path, code, body)
		}
		for name, shown := range in {
			if shown != strings.Contains(" "+want+" ", " "+name+" ") {
				t.Errorf("%s: %s shown %v, want the list %q", path, name, shown, want)
			}
		}
	}
	// The queued job says why it waits, in the list and on its page.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if j, err := s.Jobs.Get(context.Background(), waiter.ID); err != nil || j.Waiting != "" || time.Now().After(deadline) {
			break
		}
	}
	why := "waiting for CPU (needs 1.5 cores per replica, at most 0 cores free on a node)"
	if code, body := s.get(t, "/jobs?state=QUEUED"); code != 200 || !strings.Contains(body, `<div class="job-waiting" title="`+why+`">`) {
		t.Errorf("the queued job's row does not say why it waits (%q): %d\n%s", why, code, body)
	}
	if code, body := s.get(t, "/jobs/"+waiter.ID); code != 200 || !strings.Contains(body, `id="job-waiting"><strong>Why it waits:</strong> `+why+`</p>`) {
		t.Errorf("the queued job's page does not say why it waits (%q): %d\n%s", why, code, body)
	}
	if code, body := s.get(t, "/jobs/"+hog.ID); code != 200 || strings.Contains(body, `id="job-waiting"`) {
		t.Errorf("a running job's page says it waits: %d", code)
	}
	if code, body := s.get(t, "/jobs?state=BOGUS"); code != 400 || !strings.Contains(body, "INVALID_PARAMETER_VALUE") {
		t.Fatalf("a bad state: %d\n%s", code, body)
	}
	if code, _ := s.get(t, "/jobs?page=%21%21"); code != 400 {
		t.Fatalf("a bad page token: %d", code)
	}

	b := newBrowser(t, s)
	start := time.Now()
	b.visit(t, "/jobs")
	t.Logf("/jobs loaded in %v", time.Since(start))
	row := func(j *jobs.Job) string { return b.text(t, `#jobs tr[data-id="`+j.ID+`"]`) }
	for j, want := range map[*jobs.Job][]string{
		hello:  {"hello", "SUCCEEDED", "default", "0"},
		fails:  {"fails", "FAILED", "3"},
		hog:    {"hog", "RUNNING", "2", "1.5 GiB", "5"},
		waiter: {"waiter", "QUEUED", "batch", "ana", "1.5"},
	} {
		got := row(j)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s's row lacks %q: %q", j.Spec.Name, w, got)
			}
		}
	}
	if got := b.text(t, "#capacity"); !strings.Contains(got, "1 running") || !strings.Contains(got, "1 queued") ||
		!strings.Contains(got, "2 / 2 cores") || !strings.Contains(got, "1.5 GiB / 4 GiB") {
		t.Errorf("capacity: %q", got)
	}
	b.screenshot(t, "jobs")

	// The list refreshes itself while jobs are active: a new job shows up,
	// and one that ends changes state, without a reload.
	b.eval(t, `window.notReloaded = true`, nil)
	late := submitTestJob(t, s, jobs.Spec{Name: "late", Command: "echo late"})
	b.waitFor(t, "the late job's row to appear", fmt.Sprintf(`!!document.querySelector('#jobs tr[data-id="%s"][data-state="SUCCEEDED"]')`, late.ID))
	var same bool
	b.eval(t, `window.notReloaded === true`, &same)
	if !same {
		t.Error("the page reloaded to refresh")
	}

	// The state chips filter through the URL.
	b.run(t, chromedp.Click(`a.state-chip[data-state="QUEUED"]`))
	b.waitFor(t, "the QUEUED filter", `location.search === "?state=QUEUED" && document.readyState === "complete"`)
	var ids []string
	b.eval(t, `[...document.querySelectorAll("#jobs tbody tr")].map((tr) => tr.dataset.id)`, &ids)
	if len(ids) != 1 || ids[0] != waiter.ID {
		t.Errorf("state=QUEUED shows %v, want only %s", ids, waiter.ID)
	}
	b.run(t, chromedp.Click(`a.state-chip[data-state="RUNNING"]`))
	b.waitFor(t, "the QUEUED,RUNNING filter", `location.search === "?state=QUEUED%2CRUNNING" && document.readyState === "complete"`)
	var states string
	b.eval(t, `[...new Set([...document.querySelectorAll("#jobs tbody tr")].map((tr) => tr.dataset.state))].sort().join(",")`, &states)
	if states != "QUEUED,RUNNING" {
		t.Errorf("state=QUEUED,RUNNING shows jobs in %s", states)
	}

	// A queued job's page waits for it to start, asking nothing of its log.
	b.visit(t, "/jobs/"+waiter.ID)
	b.waitFor(t, "the queued job's page", `document.getElementById("log-status").textContent === "Waiting for the job to start…"`)
	b.run(t, chromedp.Sleep(500*time.Millisecond))
	b.noErrors(t)
}

func TestJobPage(t *testing.T) {
	s := newSite(t)
	// ticker prints a line every 200 ms for 30 s; its environment holds a
	// secret the page must not show.
	ticker := submitTestJob(t, s, jobs.Spec{Name: "ticker",
		Command: `i=0; while [ $i -lt 150 ]; do i=$((i+1)); echo "line $i"; sleep 0.2; done`,
		Env:     map[string]string{"API_TOKEN": "hunter2-very-secret", "EPOCHS": "3"}, MaxRetries: 2, Timeout: 5 * time.Minute,
		Resources: jobs.Resources{MilliCPU: 500, MemoryBytes: 256 << 20}})
	hello := submitTestJob(t, s, jobs.Spec{Name: "hello", Command: "echo hello; sleep 1; echo done"})
	// flaky fails twice: its page follows the retry.
	flaky := submitTestJob(t, s, jobs.Spec{Name: "flaky", Command: `echo "try at $(date +%s%N)"; sleep 0.5; exit 1`, MaxRetries: 1})
	waitJobState(t, s, hello.ID, jobs.Succeeded)

	code, body := s.get(t, "/jobs/"+ticker.ID)
	if code != 200 || !strings.Contains(body, "API_TOKEN") || !strings.Contains(body, "EPOCHS") || strings.Contains(body, "hunter2") {
		t.Fatalf("the job's page shows env names, not values: %d\n%s", code, body)
	}
	for _, path := range []string{"/jobs/0123456789abcdef0123456789abcdef", "/jobs/not%20an%20id", "/jobs/" + strings.Repeat("a", 100)} {
		if code, body := s.get(t, path); code != 404 || !strings.Contains(body, "RESOURCE_DOES_NOT_EXIST") {
			t.Errorf("%s: %d\n%s", path, code, body)
		}
	}
	for _, q := range []string{"rank=1", "rank=x", "attempt=9", "attempt=-1"} {
		if code, _ := s.get(t, "/jobs/"+hello.ID+"?"+q); code != 400 {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}

	b := newBrowser(t, s)
	// A finished job: its whole log, read once.
	start := time.Now()
	b.visit(t, "/jobs/"+hello.ID)
	t.Logf("/jobs/{id} loaded in %v", time.Since(start))
	b.waitFor(t, "the finished job's log", `document.getElementById("log").textContent === "hello\ndone\n" && document.getElementById("log-status").textContent === "End of log"`)
	if n := b.text(t, "#job-history"); !strings.Contains(n, "QUEUED") || !strings.Contains(n, "RUNNING") || !strings.Contains(n, "SUCCEEDED") {
		t.Errorf("history: %q", n)
	}
	if got := b.text(t, "#job-exit"); got != "0" {
		t.Errorf("exit code: %q", got)
	}
	var cancel bool
	b.eval(t, `!!document.getElementById("cancel-job")`, &cancel)
	if cancel {
		t.Error("a finished job offers Cancel")
	}

	// A job retried: "latest" moves on to the new attempt; an attempt
	// chosen goes in the URL.
	b.visit(t, "/jobs/"+flaky.ID)
	b.waitFor(t, "the retried job to end", `document.getElementById("job-live").dataset.state === "FAILED" && document.getElementById("log-status").textContent === "End of log"`)
	var menu string
	b.eval(t, `[...document.querySelectorAll("#log-attempt option")].map((o) => o.textContent).join(",")`, &menu)
	if menu != "latest,2,1" {
		t.Errorf("the attempt menu: %q", menu)
	}
	var latest, first string
	b.eval(t, `document.getElementById("log").textContent`, &latest)
	b.run(t, chromedp.SetValue("#log-attempt", "1"), chromedp.Evaluate(`document.getElementById("log-attempt").dispatchEvent(new Event("change"))`, nil))
	b.waitFor(t, "attempt 1's log", `location.search === "?attempt=1" && document.getElementById("log-status").textContent === "End of log"`)
	b.eval(t, `document.getElementById("log").textContent`, &first)
	if strings.Count(latest, "try at") != 1 || strings.Count(first, "try at") != 1 || latest == first {
		t.Errorf("attempt 2's log %q, attempt 1's %q: want one line each, not the same", latest, first)
	}
	b.visit(t, "/jobs/"+flaky.ID+"?attempt=1")
	b.waitFor(t, "attempt 1's log from the URL", fmt.Sprintf(`document.getElementById("log-attempt").value === "1" && document.getElementById("log").textContent === %q`, first))

	// A running job: its log grows in the page while it runs.
	b.visit(t, "/jobs/"+ticker.ID)
	b.waitFor(t, "the first lines", `document.getElementById("log").textContent.includes("line 2\n")`)
	b.waitFor(t, "later lines", `document.getElementById("log").textContent.includes("line 12\n")`)
	if j, _ := s.Jobs.Get(context.Background(), ticker.ID); j.State != jobs.Running {
		t.Fatalf("the log grew, but the job is %s", j.State)
	}
	var log string
	b.eval(t, `document.getElementById("log").textContent`, &log)
	for i := 1; i <= 12; i++ {
		if n := strings.Count(log, fmt.Sprintf("line %d\n", i)); n != 1 {
			t.Fatalf("line %d appears %d times in\n%s", i, n, log)
		}
	}
	if got := b.text(t, "#job-spec"); !strings.Contains(got, "0.5 CPU cores") || !strings.Contains(got, "256 MiB") || !strings.Contains(got, "5m0s") || !strings.Contains(got, "(values hidden)") {
		t.Errorf("spec: %q", got)
	}
	if got := b.text(t, "#job-placement"); !strings.Contains(got, "rank 0: local") {
		t.Errorf("placement: %q", got)
	}
	b.screenshot(t, "job")

	// Cancel: the job ends CANCELLED, the page says so and the log stops.
	b.run(t, chromedp.Click("#cancel-job"))
	b.waitFor(t, "the page to show the job cancelled", `document.getElementById("job-live").dataset.state === "CANCELLED" && !document.getElementById("cancel-job")`)
	b.waitFor(t, "the log to end", `document.getElementById("log-status").textContent === "End of log"`)
	if j, _ := s.Jobs.Get(context.Background(), ticker.ID); j.State != jobs.Cancelled {
		t.Fatalf("the job is %s after Cancel", j.State)
	}
	b.eval(t, `document.getElementById("log").textContent`, &log)
	if strings.Contains(log, "line 150\n") {
		t.Error("the job ran to its end")
	}
	b.noErrors(t)
}

// fakeJobs serves the pages one job, with a run.
type fakeJobs struct{ job *jobs.Job }

func (f fakeJobs) Get(ctx context.Context, id string) (*jobs.Job, error) {
	if id != f.job.ID {
		return nil, lode.Errorf(lode.ENotFound, "no job %s", id)
	}
	return f.job, nil
}

func (f fakeJobs) List(ctx context.Context, q jobs.Query) ([]*jobs.Job, string, error) {
	return []*jobs.Job{f.job}, "", nil
}

// A job's run is linked from the list and from its page. (The test site's
// job service has no tracker, so its jobs have no runs.)
func TestJobRunLinks(t *testing.T) {
	code := 0
	j := &jobs.Job{ID: "abc123", State: jobs.Succeeded, RunID: "0123456789abcdef0123456789abcdef", Attempt: 1, ExitCode: &code,
		Spec:    jobs.Spec{Name: "train", Command: "python train.py", Replicas: 1, Queue: "default", ExperimentID: "7"},
		History: []jobs.Transition{{State: jobs.Queued, Time: 1000}, {State: jobs.Scheduled, Time: 1500}, {State: jobs.Running, Time: 2000}, {State: jobs.Succeeded, Time: 62000}}}
	mux := http.NewServeMux()
	ui := &Server{Jobs: fakeJobs{j}, Version: "test"}
	if err := ui.Mount(mux, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/jobs", "/jobs/abc123"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body := string(b)
		if res.StatusCode != 200 || !strings.Contains(body, `href="/runs/0123456789abcdef0123456789abcdef"`) || !strings.Contains(body, "1 min 0 s") {
			t.Errorf("%s: %d, want a link to the run and a duration of a minute\n%s", path, res.StatusCode, body)
		}
	}
}

// The queue's pages stay quick with many jobs on record: 5,000 ended jobs
// (written to the store directly: they are history, not work) and the
// list's first and a later page, filtered and not, each under a second.
func TestJobsPageAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("a scale test")
	}
	s := newSite(t)
	ctx := context.Background()
	const n = 5000
	start := time.Now()
	base := time.Now().Add(-time.Hour).UnixMilli()
	states := []jobs.State{jobs.Succeeded, jobs.Failed, jobs.Cancelled}
	for i := range n {
		code := i % 3
		at := base + int64(i)*100
		st := states[i%3]
		j := &jobs.Job{ID: fmt.Sprintf("%032x", i+1), State: st, Attempt: 1, ExitCode: &code, Submitted: at,
			Spec: jobs.Spec{Name: fmt.Sprintf("sweep-%d", i), Command: "python train.py", Replicas: 1, Queue: []string{"default", "batch"}[i%2],
				Resources: jobs.Resources{MilliCPU: 1000, MemoryBytes: 2 << 30}},
			History: []jobs.Transition{{State: jobs.Queued, Time: at}, {State: jobs.Scheduled, Time: at + 10},
				{State: jobs.Running, Time: at + 20}, {State: st, Time: at + 5000}}}
		if err := s.DB.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("stored %d jobs in %v", n, time.Since(start))
	timed := func(what, path string) string {
		t.Helper()
		start := time.Now()
		code, body := s.get(t, path)
		d := time.Since(start)
		t.Logf("%s: %d ms", what, d.Milliseconds())
		if code != 200 {
			t.Fatalf("%s: %d\n%s", path, code, body)
		}
		if d > time.Second {
			t.Errorf("%s took %v, over a second", what, d)
		}
		return body
	}
	body := timed("first page of 5,000 jobs", "/jobs")
	if got := strings.Count(body, "<tr data-id="); got != jobsPerPage {
		t.Fatalf("the first page has %d jobs", got)
	}
	timed("next page", nextPageLink(t, body))
	timed("filtered by state and queue", "/jobs?state=FAILED,CANCELLED&queue=batch")
	timed("a job's page", "/jobs/"+fmt.Sprintf("%032x", n/2))
}

// nextPageLink is the path of a list page's "Next page" button.
func nextPageLink(t *testing.T, body string) string {
	t.Helper()
	const mark = `id="next-page" href="`
	_, rest, ok := strings.Cut(body, mark)
	if !ok {
		t.Fatal("no next page")
	}
	href, _, _ := strings.Cut(rest, `"`)
	return html.UnescapeString(href)
}

// A server without jobs says so, and has no job pages.
func TestJobPagesWithoutJobs(t *testing.T) {
	mux := http.NewServeMux()
	ui := &Server{Version: "test"}
	if err := ui.Mount(mux, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]int{"/jobs": 200, "/jobs/abc": 404} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want || !strings.Contains(string(body), "without jobs") {
			t.Errorf("%s: %d, want %d and a word on jobs being off\n%s", path, res.StatusCode, want, body)
		}
	}
}
