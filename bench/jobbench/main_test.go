package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseStamp(t *testing.T) {
	tag, at, ok := parseStamp("lo12 1795660958683123456\n")
	if !ok || tag != "lo12" || at.UnixNano() != 1795660958683123456 {
		t.Errorf("parseStamp = %q, %v, %v", tag, at.UnixNano(), ok)
	}
	for _, bad := range []string{"", "lo12", " 123", "lo12 x", "lo12 -5", "lo12 %s%N"} {
		if _, _, ok := parseStamp(bad); ok {
			t.Errorf("parseStamp(%q) accepted", bad)
		}
	}
}

func TestSummarize(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[len(d)-1-i] = time.Duration(i+1) * time.Millisecond // unsorted on purpose
	}
	s := summarize(d)
	if s.N != 100 || s.P50 != 50 || s.P90 != 90 || s.P99 != 99 || s.Max != 100 || s.Mean != 50.5 {
		t.Errorf("summarize = %+v", s)
	}
	if d[0] != 100*time.Millisecond {
		t.Error("summarize sorted its argument")
	}
	if (summarize(nil) != dist{}) {
		t.Error("summarize(nil) is not zero")
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:5000", "http://localhost:1", "http://[::1]:80/"} {
		if err := checkLoopback(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:5000", "https://127.0.0.1:5000", "127.0.0.1:5000", "http://example.com"} {
		if checkLoopback(bad) == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestProbe runs the probe command through a real shell: its line reaches
// the FIFO and the time it reports lies between before and after.
func TestProbe(t *testing.T) {
	st, err := openStamps(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	before := time.Now()
	if out, err := exec.Command("/bin/sh", "-c", probeCommand("t1", st.path)).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	after := time.Now()
	at, err := st.wait(context.Background(), "t1", time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if at.Before(before) || at.After(after) {
		t.Errorf("stamp %v not within [%v, %v]", at, before, after)
	}
	if _, err := st.wait(context.Background(), "t2", time.Now().Add(50*time.Millisecond)); err == nil {
		t.Error("a stamp that never came was returned")
	}
}

func TestFloor(t *testing.T) {
	if _, err := exec.LookPath("xargs"); err != nil {
		t.Skip("no xargs")
	}
	st, err := openStamps(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	c := &config{stamps: st, jobTimeout: 10 * time.Second}
	ctx := context.Background()
	one, err := floorOneAtATime(ctx, c, "fo", 5, 2, nil, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	burst, err := floorBurst(ctx, c, "fb", 20, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*run{one, burst} {
		for _, s := range r.Samples {
			if s.latency() <= 0 || s.latency() > 10*time.Second {
				t.Errorf("%s: latency %v", s.Tag, s.latency())
			}
		}
		if !r.End.After(r.Start) {
			t.Errorf("run ends %v, before it starts %v", r.End, r.Start)
		}
	}
}

// fakeLode is a stand-in for the jobs API: it runs each job's command with
// /bin/sh -c at once and keeps a history as Lode does.
type fakeLode struct {
	mu   sync.Mutex
	jobs []*job // in submission order
	wg   sync.WaitGroup
}

func (f *fakeLode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ms := func() int64 { return time.Now().UnixMilli() }
	answer := func(v any) { json.NewEncoder(w).Encode(v) }
	switch r.URL.Path {
	case "/api/2.0/lode/jobs/submit":
		var req submitReq
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil || req.Command == "" {
			w.WriteHeader(400)
			answer(map[string]string{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad submit"})
			return
		}
		f.mu.Lock()
		j := &job{ID: fmt.Sprintf("job%04d", len(f.jobs)), State: "QUEUED", History: []transition{{State: "QUEUED", TimeMs: ms()}}}
		f.jobs = append(f.jobs, j)
		j.State = "RUNNING"
		j.History = append(j.History, transition{State: "SCHEDULED", TimeMs: ms()}, transition{State: "RUNNING", TimeMs: ms()})
		out := *j
		f.mu.Unlock()
		f.wg.Go(func() {
			err := exec.Command("/bin/sh", "-c", req.Command).Run()
			f.mu.Lock()
			defer f.mu.Unlock()
			j.State = "SUCCEEDED"
			if err != nil {
				j.State = "FAILED"
			}
			j.History = append(j.History, transition{State: j.State, TimeMs: ms()})
		})
		answer(map[string]any{"job": out})
	case "/api/2.0/lode/jobs/get":
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, j := range f.jobs {
			if j.ID == r.URL.Query().Get("id") {
				answer(map[string]any{"job": j})
				return
			}
		}
		w.WriteHeader(404)
		answer(map[string]string{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such job"})
	case "/api/2.0/lode/jobs/list":
		q := r.URL.Query()
		max, _ := strconv.Atoi(q.Get("max_results"))
		from, _ := strconv.Atoi(q.Get("page_token"))
		f.mu.Lock()
		defer f.mu.Unlock()
		var match []*job
		for i := len(f.jobs) - 1; i >= 0; i-- { // newest first
			if len(q["state"]) == 0 || slices.Contains(q["state"], f.jobs[i].State) {
				match = append(match, f.jobs[i])
			}
		}
		match = match[min(from, len(match)):]
		next := ""
		if len(match) > max {
			match, next = match[:max], strconv.Itoa(from+max)
		}
		answer(map[string]any{"jobs": match, "next_page_token": next})
	default:
		http.NotFound(w, r)
	}
}

// TestAgainstFake runs both Lode measurements against the stand-in, and
// the report over them.
func TestAgainstFake(t *testing.T) {
	fake := &fakeLode{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer fake.wg.Wait()
	st, err := openStamps(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	c := &config{client: newClient(srv.URL, 3), stamps: st, milliCPU: 1000, jobTimeout: 10 * time.Second,
		poll: time.Millisecond, submitters: 3}
	ctx := context.Background()
	one, err := lodeOneAtATime(ctx, c, "lo", 4)
	if err != nil {
		t.Fatal(err)
	}
	burst, err := lodeBurst(ctx, c, "lb", 12)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*run{one, burst} {
		for _, s := range r.Samples {
			if s.Job == nil || s.Job.State != "SUCCEEDED" || s.latency() <= 0 || s.Answered.Before(s.Sent) {
				t.Errorf("%s: %+v", s.Tag, s)
			}
		}
	}
	rep := &report{Parallel: 2, MilliCPU: 1000, Submitters: 3, Command: probeCommand("TAG", "DIR/stamps"), TargetMs: 20,
		LodeOne: newSeries(one, false), Breakdown: breakdown(one), LodeBurst: newSeries(burst, true)}
	if rep.LodeBurst.Jobs != 12 || rep.LodeBurst.WallS <= 0 || rep.LodeOne.Latency.N != 4 {
		t.Errorf("series: %+v, %+v", rep.LodeOne, rep.LodeBurst)
	}
	var b strings.Builder
	rep.write(&b)
	for _, want := range []string{"One at a time (4 jobs", "| Lode |", "Burst of 12", "sent → SCHEDULED"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	// A refused submission is an error with the server's message.
	if _, err := c.client.submit(ctx, &submitReq{}); err == nil || !strings.Contains(err.Error(), "bad submit") {
		t.Errorf("empty submit: %v", err)
	}
}
