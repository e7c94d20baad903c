package main

import (
	"context"
	"net"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/localexec"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// A job's run counts its duration from when the job started, not from its
// submission, and is named as MLflow names runs: by the name its submitter
// gave, else a generated one.
func TestJobRunStartsWithItsJob(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("local jobs need a Unix")
	}
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "lode.db"), sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tr := &tracking.Service{Store: db}
	svc := &jobs.Service{
		Store:   db,
		Exec:    localexec.New(localexec.Options{BaseDir: filepath.Join(dir, "jobs"), KillGrace: 2 * time.Second}),
		Tracker: &jobTracker{tracking: tr},
		// One core: the second job waits for the first.
		Nodes: []jobs.Node{jobs.LocalNode("local", 1, 1<<30, nil)},
		FreePort: func() (int, error) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			defer l.Close()
			return l.Addr().(*net.TCPAddr).Port, nil
		},
		Tick: 20 * time.Millisecond,
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)

	first, err := svc.Submit(ctx, jobs.Spec{Name: "blocker", Command: "sleep 0.6", Resources: jobs.Resources{MilliCPU: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := svc.Submit(ctx, jobs.Spec{Command: "true", Resources: jobs.Resources{MilliCPU: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	third, err := svc.Submit(ctx, jobs.Spec{Command: "true", Resources: jobs.Resources{MilliCPU: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	final := func(id string) *jobs.Job {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			j, err := svc.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State.Final() {
				return j
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s still %s", id, j.State)
			}
		}
	}
	final(first.ID)
	j := final(second.ID)
	final(third.ID)
	var started int64
	for _, h := range j.History {
		if h.State == jobs.Running {
			started = h.Time
		}
	}
	run, err := tr.GetRun(ctx, j.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.StartTime != started || started < j.Submitted+500 {
		t.Errorf("run start %d, want the job's start %d (submitted at %d, queued behind a 0.6 s job)", run.Info.StartTime, started, j.Submitted)
	}
	if run.Info.EndTime == nil || *run.Info.EndTime < run.Info.StartTime {
		t.Errorf("run end %v before its start %d", run.Info.EndTime, run.Info.StartTime)
	}

	// Names: the one given; generated ones, different, for jobs named by
	// default (their command's first word, "true", names the jobs only).
	generated := regexp.MustCompile(`^[a-z]+-[a-z]+-[0-9]{1,3}$`)
	name := func(j *jobs.Job) string {
		r, err := tr.GetRun(ctx, j.RunID)
		if err != nil {
			t.Fatal(err)
		}
		return r.Info.RunName
	}
	if got := name(first); got != "blocker" {
		t.Errorf("run of the job named blocker is named %q", got)
	}
	a, b := name(second), name(third)
	if !generated.MatchString(a) || !generated.MatchString(b) || a == b || j.Spec.Name != "true" {
		t.Errorf("runs of unnamed jobs named %q and %q (job named %q), want two generated names", a, b, j.Spec.Name)
	}
}
