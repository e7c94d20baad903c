package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/localexec"
	"github.com/lode-ml/lode/sqlite"
)

// runs records what the service tells tracking.
type runs struct {
	mu        sync.Mutex
	n         int
	status    map[string][]string
	artifacts map[string]string
	metrics   map[string]int
	names     map[string]string  // the name each run was created with
	starts    map[string][]int64 // the start times each run was moved to
}

func newRuns() *runs {
	return &runs{status: map[string][]string{}, artifacts: map[string]string{}, metrics: map[string]int{},
		names: map[string]string{}, starts: map[string][]int64{}}
}

func (r *runs) CreateRun(_ context.Context, exp, name string, tags, _ map[string]string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	id := fmt.Sprintf("run%d", r.n)
	r.status[id] = []string{"SCHEDULED"}
	r.names[id] = name
	return id, nil
}

func (r *runs) SetRunStatus(_ context.Context, id, status string, start, _ int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[id] = append(r.status[id], status)
	if start != 0 {
		r.starts[id] = append(r.starts[id], start)
	}
	return nil
}

func (r *runs) LogMetrics(_ context.Context, id string, _, _ int64, m map[string]float64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics[id] += len(m)
	return nil
}

func (r *runs) PutArtifact(_ context.Context, id, path string, open func() (io.ReadCloser, error)) error {
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	r.mu.Lock()
	r.artifacts[id+"/"+path] = string(b)
	r.mu.Unlock()
	return err
}

func (r *runs) statuses(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.status[id], ",")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type env struct {
	store *sqlite.DB
	exec  *localexec.Executor
	runs  *runs
	dir   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "lode.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &env{store: db, exec: localexec.New(localexec.Options{BaseDir: filepath.Join(dir, "jobs"), KillGrace: 2 * time.Second}), runs: newRuns(), dir: dir}
}

func (e *env) service(t *testing.T, nodes ...jobs.Node) *jobs.Service {
	t.Helper()
	if len(nodes) == 0 {
		nodes = []jobs.Node{jobs.LocalNode("local", 4, 8<<30, []string{"0", "1"})}
	}
	s := &jobs.Service{Store: e.store, Exec: e.exec, Tracker: e.runs, Nodes: nodes, TrackingURI: "http://127.0.0.1:1",
		FreePort: freePort, Tick: 20 * time.Millisecond, SampleEvery: 50 * time.Millisecond, RetryBackoff: 10 * time.Millisecond}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func waitFinal(t *testing.T, s *jobs.Service, id string) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Final() {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s: %+v", id, j.State, j.History)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitState(t *testing.T, s *jobs.Service, id string, want jobs.State) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, _ := s.Get(context.Background(), id)
		if j != nil && j.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never %s: %+v", id, want, j)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func logOf(t *testing.T, e *env, j *jobs.Job, rank int) string {
	t.Helper()
	rc, err := e.exec.Logs(j.ID, j.Attempt, rank, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func TestJobSucceedsWithTrackingEnvironment(t *testing.T) {
	e := newEnv(t)
	s := e.service(t)
	j, err := s.Submit(context.Background(), jobs.Spec{Command: `echo "run=$MLFLOW_RUN_ID exp=$MLFLOW_EXPERIMENT_ID uri=$MLFLOW_TRACKING_URI gpus=[$CUDA_VISIBLE_DEVICES]"; sleep 0.2`,
		Resources: jobs.Resources{MilliCPU: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s, j.ID)
	if j.State != jobs.Succeeded || *j.ExitCode != 0 || j.Attempt != 1 {
		t.Fatalf("job: %+v", j)
	}
	want := fmt.Sprintf("run=%s exp=0 uri=http://127.0.0.1:1 gpus=[]\n", j.RunID)
	if got := logOf(t, e, j, 0); got != want {
		t.Fatalf("log %q, want %q", got, want)
	}
	if got := e.runs.statuses(j.RunID); got != "SCHEDULED,RUNNING,FINISHED" {
		t.Fatalf("run statuses %s", got)
	}
	if got := e.runs.artifacts[j.RunID+"/lode-logs/attempt-1/rank-0.log"]; got != want {
		t.Fatalf("log artifact %q", got)
	}
	var states []string
	for _, h := range j.History {
		states = append(states, string(h.State))
	}
	if strings.Join(states, ",") != "QUEUED,SCHEDULED,RUNNING,SUCCEEDED" {
		t.Fatalf("history %v", j.History)
	}
	// The run starts when the job does; a job named by default (its
	// command's first word) leaves its run to be named by tracking.
	e.runs.mu.Lock()
	starts, name := e.runs.starts[j.RunID], e.runs.names[j.RunID]
	e.runs.mu.Unlock()
	if len(starts) != 1 || starts[0] != j.History[2].Time || name != "" {
		t.Fatalf("run moved to start at %v (job started at %d), created with name %q", starts, j.History[2].Time, name)
	}
	// The store has it too.
	got, err := e.store.GetJob(context.Background(), j.ID)
	if err != nil || got.State != jobs.Succeeded {
		t.Fatalf("stored job: %+v %v", got, err)
	}
}

func TestRetriesThenFails(t *testing.T) {
	e := newEnv(t)
	s := e.service(t)
	j, err := s.Submit(context.Background(), jobs.Spec{Command: "echo attempt $LODE_JOB_ATTEMPT; exit 3", MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s, j.ID)
	if j.State != jobs.Failed || *j.ExitCode != 3 || j.Attempt != 3 || !strings.Contains(j.Reason, "exit code 3") {
		t.Fatalf("job: %+v", j)
	}
	if got := logOf(t, e, j, 0); got != "attempt 3\n" {
		t.Fatalf("log of the last attempt: %q", got)
	}
	if got := e.runs.statuses(j.RunID); !strings.HasSuffix(got, "FAILED") {
		t.Fatalf("run statuses %s", got)
	}
	e.runs.mu.Lock()
	defer e.runs.mu.Unlock()
	if len(e.runs.starts[j.RunID]) != 1 {
		t.Fatalf("run start moved %d times over 3 attempts, want once (the first start)", len(e.runs.starts[j.RunID]))
	}
}

func TestCancelAndTimeout(t *testing.T) {
	e := newEnv(t)
	s := e.service(t)
	ctx := context.Background()
	j, err := s.Submit(ctx, jobs.Spec{Command: "sleep 100 & sleep 100"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s, j.ID, jobs.Running)
	if _, err := s.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s, j.ID)
	if j.State != jobs.Cancelled {
		t.Fatalf("cancelled job: %+v", j)
	}
	if _, err := s.Cancel(ctx, j.ID); lode.ErrorCode(err) != lode.EInvalidState {
		t.Fatalf("cancel of an ended job: %v", err)
	}
	if got := e.runs.statuses(j.RunID); !strings.HasSuffix(got, "KILLED") {
		t.Fatalf("run statuses %s", got)
	}
	j, err = s.Submit(ctx, jobs.Spec{Command: "sleep 30", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s, j.ID)
	if j.State != jobs.Failed || !strings.Contains(j.Reason, "timed out after 300ms") {
		t.Fatalf("timed-out job: %+v", j)
	}
}

func TestRefusedAndGPUs(t *testing.T) {
	e := newEnv(t)
	s := e.service(t)
	ctx := context.Background()
	_, err := s.Submit(ctx, jobs.Spec{Command: "true", Resources: jobs.Resources{GPUs: 4}})
	if lode.ErrorCode(err) != lode.EInvalid || !strings.Contains(err.Error(), "4 GPUs") {
		t.Fatalf("a job needing 4 GPUs on a 2-GPU node: %v", err)
	}
	for _, bad := range []jobs.Spec{{Command: " "}, {Command: "true", Replicas: -1}, {Command: "true", MaxRetries: -1}, {Command: "true", Env: map[string]string{"A=B": "x"}}} {
		if _, err := s.Submit(ctx, bad); lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("Submit(%+v): %v", bad, err)
		}
	}
	// Two one-GPU jobs at once get different GPUs.
	var ids []string
	for i := 0; i < 2; i++ {
		j, err := s.Submit(ctx, jobs.Spec{Command: "echo $CUDA_VISIBLE_DEVICES; sleep 0.3", Resources: jobs.Resources{GPUs: 1}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		j := waitFinal(t, s, id)
		seen[strings.TrimSpace(logOf(t, e, j, 0))] = true
	}
	if !seen["0"] || !seen["1"] {
		t.Fatalf("GPUs given: %v", seen)
	}
}

func TestDistributedEnvironment(t *testing.T) {
	e := newEnv(t)
	s := e.service(t)
	j, err := s.Submit(context.Background(), jobs.Spec{Replicas: 3,
		Command: `echo "$RANK/$WORLD_SIZE local=$LOCAL_RANK master=$MASTER_ADDR:$MASTER_PORT"; echo "$TF_CONFIG"; cat "$LODE_HOSTFILE"`})
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s, j.ID)
	if j.State != jobs.Succeeded || len(j.Placement.Replicas) != 3 {
		t.Fatalf("job: %+v", j)
	}
	var master string
	for rank := 0; rank < 3; rank++ {
		lines := strings.Split(strings.TrimSpace(logOf(t, e, j, rank)), "\n")
		if len(lines) != 3 {
			t.Fatalf("rank %d log: %q", rank, lines)
		}
		head := fmt.Sprintf("%d/3 local=%d master=127.0.0.1:", rank, rank)
		if !strings.HasPrefix(lines[0], head) {
			t.Fatalf("rank %d: %q, want prefix %q", rank, lines[0], head)
		}
		if m := strings.TrimPrefix(lines[0], head); master == "" {
			master = m
		} else if m != master {
			t.Fatalf("ranks disagree on the master: %s vs %s", m, master)
		}
		var tf struct {
			Cluster struct{ Worker []string }
			Task    struct {
				Type  string
				Index int
			}
		}
		if err := json.Unmarshal([]byte(lines[1]), &tf); err != nil || len(tf.Cluster.Worker) != 3 || tf.Task.Index != rank || tf.Task.Type != "worker" {
			t.Fatalf("rank %d TF_CONFIG %q: %v", rank, lines[1], err)
		}
		if lines[2] != "127.0.0.1 slots=3" {
			t.Fatalf("hostfile %q", lines[2])
		}
	}
}

// A gang: when one replica fails, the others are stopped and the job fails.
func TestGangFailsTogether(t *testing.T) {
	e := newEnv(t)
	s := e.service(t)
	j, err := s.Submit(context.Background(), jobs.Spec{Replicas: 2, Command: `if [ "$RANK" = 1 ]; then exit 5; fi; sleep 60`})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	j = waitFinal(t, s, j.ID)
	// The failing rank's code, not the one rank 0 got when it was stopped.
	if j.State != jobs.Failed || *j.ExitCode != 5 || j.Reason != "rank 1 exited with code 5" || time.Since(start) > 15*time.Second {
		t.Fatalf("gang job: %+v after %s", j, time.Since(start))
	}
}

// pidAlive reports whether the process whose pid a job wrote to file runs.
func pidAlive(t *testing.T, file string) bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A killed process nobody has reaped yet (its parent, the job's
	// shell, is gone, and not every init reaps at once) is dead too.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// A job ends when all its processes have: what it left in the background
// is killed, and a cancelled job is CANCELLED only once a process that
// ignores SIGTERM has been killed.
func TestJobsEndWithTheirProcesses(t *testing.T) {
	e := newEnv(t)
	s := e.service(t)
	ctx := context.Background()
	bg := filepath.Join(t.TempDir(), "bg.pid")
	j, err := s.Submit(ctx, jobs.Spec{Command: "sleep 100 >/dev/null 2>&1 & echo $! > " + bg})
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s, j.ID); j.State != jobs.Succeeded || pidAlive(t, bg) {
		t.Fatalf("job %s; its background process alive: %v", j.State, pidAlive(t, bg))
	}

	stubborn := filepath.Join(t.TempDir(), "stubborn.pid")
	j, err = s.Submit(ctx, jobs.Spec{Command: `sh -c 'trap "" TERM; echo $$ > ` + stubborn + `; while :; do sleep 0.1; done' & wait`})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s, j.ID, jobs.Running)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(stubborn); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("the job never wrote its pid")
		}
	}
	start := time.Now()
	if _, err := s.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s, j.ID)
	if j.State != jobs.Cancelled || pidAlive(t, stubborn) || time.Since(start) < 2*time.Second {
		t.Fatalf("cancelled %s after %s; process alive: %v", j.State, time.Since(start), pidAlive(t, stubborn))
	}
}

// Closing the service leaves running jobs running, at once.
func TestCloseLeavesJobsRunning(t *testing.T) {
	e := newEnv(t)
	s := e.service(t)
	ctx := context.Background()
	j, err := s.Submit(ctx, jobs.Spec{Command: "sleep 3"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s, j.ID, jobs.Running)
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close waited %s for a running job", d)
	}
	if got, err := e.store.GetJob(ctx, j.ID); err != nil || got.State != jobs.Running {
		t.Fatalf("after Close: %+v %v", got, err)
	}
	s2 := (&env{store: e.store, exec: localexec.New(localexec.Options{BaseDir: filepath.Join(e.dir, "jobs")}), runs: e.runs, dir: e.dir}).service(t)
	if j = waitFinal(t, s2, j.ID); j.State != jobs.Succeeded {
		t.Fatalf("re-adopted job: %+v", j)
	}
}

// Jobs that need the whole machine run one after another, by priority.
func TestQueueOrder(t *testing.T) {
	e := newEnv(t)
	one := jobs.LocalNode("local", 1, 1<<30, nil)
	s := e.service(t, one)
	ctx := context.Background()
	blocker, err := s.Submit(ctx, jobs.Spec{Command: "sleep 0.5", Resources: jobs.Resources{MilliCPU: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s, blocker.ID, jobs.Running)
	low, _ := s.Submit(ctx, jobs.Spec{Command: "true", Resources: jobs.Resources{MilliCPU: 1000}, Priority: 0})
	high, _ := s.Submit(ctx, jobs.Spec{Command: "true", Resources: jobs.Resources{MilliCPU: 1000}, Priority: 10})
	// While the blocker runs, the queued jobs say why they wait, in Get
	// and in List; the low one has the high one ahead of it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		j, err := s.Get(ctx, low.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != jobs.Queued {
			t.Fatalf("the low-priority job left the queue (%s) before saying why it waited", j.State)
		}
		want := "waiting for CPU (needs 1 core per replica, at most 0 cores free on a node); 1 queued ahead of it"
		// A pass before the high one was submitted saw the low one alone.
		if j.Waiting != want && !time.Now().After(deadline) {
			continue
		}
		if j.Waiting != want {
			t.Fatalf("waiting %q, want %q", j.Waiting, want)
		}
		listed, _, err := s.List(ctx, jobs.Query{States: []jobs.State{jobs.Queued}})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(listed, func(l *jobs.Job) bool { return l.ID == high.ID })
		if i < 0 || listed[i].Waiting != "waiting for CPU (needs 1 core per replica, at most 0 cores free on a node)" {
			t.Fatalf("listed queued jobs %+v: the high-priority one should wait for CPU", listed)
		}
		break
	}
	lj, hj := waitFinal(t, s, low.ID), waitFinal(t, s, high.ID)
	started := func(j *jobs.Job) int64 {
		for _, h := range j.History {
			if h.State == jobs.Running {
				return h.Time
			}
		}
		return 0
	}
	if !(started(hj) <= started(lj)) {
		t.Fatalf("the high-priority job started at %d, after the low one at %d", started(hj), started(lj))
	}
}

// After a restart the service re-adopts a running job and learns its exit
// code; a job whose processes vanished without one is failed as lost.
func TestRestartReadoptsRunningJobs(t *testing.T) {
	e := newEnv(t)
	s1 := e.service(t)
	ctx := context.Background()
	j, err := s1.Submit(ctx, jobs.Spec{Command: "sleep 1; exit 4"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s1, j.ID, jobs.Running)
	s1.Close()

	// A second service on the same store and executor folder.
	e2 := &env{store: e.store, exec: localexec.New(localexec.Options{BaseDir: filepath.Join(e.dir, "jobs")}), runs: e.runs, dir: e.dir}
	s2 := e2.service(t)
	j = waitFinal(t, s2, j.ID)
	if j.State != jobs.Failed || j.ExitCode == nil || *j.ExitCode != 4 {
		t.Fatalf("re-adopted job: %+v", j)
	}
}
