package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/localexec"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

func TestParseMemory(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"100B", 100},
		{"1048576", 1 << 20},
		{"2147483648", 2 << 30},
		{"1K", 1000},
		{"1k", 1000},
		{"1Ki", 1024},
		{"512M", 512e6},
		{"512Mi", 512 << 20},
		{"512MiB", 512 << 20},
		{"512mb", 512e6},
		{"2G", 2e9},
		{"2Gi", 2 << 30},
		{"1.5Gi", 3 << 29},
		{"1.5G", 15e8},
		{" 4 Gi ", 4 << 30},
		{"1T", 1e12},
		{"1Ti", 1 << 40},
		{"0.5Ki", 512},
		{"8388607Ti", 8388607 << 40},
	} {
		got, err := parseMemory(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseMemory(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	// A bare small number is a unit forgotten, not bytes.
	for _, in := range []string{"5", "100", "0.5", "1048575"} {
		_, err := parseMemory(in)
		if err == nil || !strings.Contains(err.Error(), "did you mean "+in+"Gi") {
			t.Errorf("parseMemory(%q): %v, want a refusal suggesting %sGi", in, err, in)
		}
	}
	for _, in := range []string{"", "G", "Gi", "-1", "-1G", "1X", "1 GB extra", "1e9", "1..5G", "1.2.3M", "9223372036854775808", "8388608Ti", "10000000000T", "1GG", "abc"} {
		if got, err := parseMemory(in); err == nil {
			t.Errorf("parseMemory(%q) = %d, want an error", in, got)
		}
	}
}

func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"python train.py | tee log"}, "python train.py | tee log"},
		{[]string{"python", "train.py", "--lr", "0.1"}, "python train.py --lr 0.1"},
		{[]string{"python", "-c", "print('hi there')"}, `python -c 'print('"'"'hi there'"'"')'`},
		{[]string{"echo", "", "$HOME", "a b"}, `echo '' '$HOME' 'a b'`},
		{[]string{"env", "A=1", "x/y.z:w,v+u@t%s^r"}, "env A=1 x/y.z:w,v+u@t%s^r"},
	} {
		if got := commandLine(c.args); got != c.want {
			t.Errorf("commandLine(%q) = %s, want %s", c.args, got, c.want)
		}
	}
	// What the shell makes of a quoted line is the arguments given.
	args := []string{"printf", "%s|", "it's", "a b", "", "$X", "`x`", "\\n", "*"}
	out, err := exec.Command("/bin/sh", "-c", commandLine(args)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "it's|a b||$X|`x`|\\n|*|"; string(out) != want {
		t.Errorf("sh ran %s and printed %q, want %q", commandLine(args), out, want)
	}
}

func TestJobExitCode(t *testing.T) {
	code := func(c int) *int { return &c }
	for _, c := range []struct {
		j    jobs.Job
		want int
	}{
		{jobs.Job{State: jobs.Succeeded, ExitCode: code(0)}, 0},
		{jobs.Job{State: jobs.Failed, ExitCode: code(3)}, 3},
		{jobs.Job{State: jobs.Failed, ExitCode: code(-1)}, 1},
		{jobs.Job{State: jobs.Failed, ExitCode: code(300)}, 1},
		{jobs.Job{State: jobs.Failed}, 1},
		{jobs.Job{State: jobs.Cancelled, ExitCode: code(143)}, 143},
		{jobs.Job{State: jobs.Cancelled}, 1},
	} {
		if got := jobExitCode(&c.j); got != c.want {
			t.Errorf("jobExitCode(%s, %v) = %d, want %d", c.j.State, c.j.ExitCode, got, c.want)
		}
	}
}

// jobCLIServer serves the jobs API in this process: a real job service on
// SQLite and the local executor, without the code snapshots of `lode
// server` (a job runs in the --workdir given).
func jobCLIServer(t *testing.T) string {
	t.Helper()
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
	svc := &jobs.Service{
		Store: db,
		Exec:  localexec.New(localexec.Options{BaseDir: filepath.Join(dir, "jobs"), KillGrace: 2 * time.Second}),
		Nodes: []jobs.Node{jobs.LocalNode("local", 2, 4<<30, nil)},
		FreePort: func() (int, error) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			defer l.Close()
			return l.Addr().(*net.TCPAddr).Port, nil
		},
		Tick:         20 * time.Millisecond,
		RetryBackoff: 10 * time.Millisecond,
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	t.Cleanup(func() {
		active, _, _ := svc.List(ctx, jobs.Query{States: []jobs.State{jobs.Queued, jobs.Scheduled, jobs.Running}})
		for _, j := range active {
			svc.Cancel(ctx, j.ID)
		}
		for _, j := range active {
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if g, err := svc.Get(ctx, j.ID); err != nil || g.State.Final() {
					break
				}
			}
		}
	})
	api := &mlflowapi.Server{Tracking: &tracking.Service{Store: db}, Jobs: svc}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// runJobCLI runs `lode ARGS...` in this process and returns its stdout,
// stderr, the exit code it asked for (-1: none) and its error.
func runJobCLI(t *testing.T, uri string, args ...string) (string, string, int, error) {
	t.Helper()
	exitCode := -1
	prev := osExit
	osExit = func(c int) { exitCode = c }
	defer func() { osExit = prev }()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	// The flag goes right after "job": after "--" it would be the command's.
	root.SetArgs(append([]string{args[0], "--tracking-uri", uri}, args[1:]...))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), exitCode, err
}

func TestJobCLI(t *testing.T) {
	uri := jobCLIServer(t)
	work := t.TempDir()

	// submit --follow prints the log and ends with the job's exit code.
	out, errOut, code, err := runJobCLI(t, uri, "job", "submit", "-f", "--name", "counter", "--cpus", "0.5", "--memory", "64Mi",
		"--env", "X=42", "--workdir", work, "--", `for i in 1 2 3; do echo "tick $i X=$X in $PWD"; sleep 0.2; done; exit 3`)
	if err != nil {
		t.Fatalf("submit -f: %v\n%s", err, errOut)
	}
	wantLog := ""
	for _, i := range []string{"1", "2", "3"} {
		wantLog += "tick " + i + " X=42 in " + work + "\n"
	}
	if out != wantLog || code != 3 {
		t.Errorf("submit -f: exit %d, printed %q, want exit 3 and %q", code, out, wantLog)
	}
	if !strings.Contains(errOut, "submitted job") || !strings.Contains(errOut, "FAILED (exit code 3)") {
		t.Errorf("submit -f notes: %q", errOut)
	}

	// Several arguments reach the program as they were.
	out, _, code, err = runJobCLI(t, uri, "job", "submit", "-f", "--", "printf", "%s|", "a b", "it's", "$X")
	if err != nil || code != -1 || out != "a b|it's|$X|" {
		t.Errorf("submit -f of argv: %q, exit %d, %v", out, code, err)
	}

	// submit --json, then list, show, logs.
	out, _, _, err = runJobCLI(t, uri, "job", "submit", "--json", "--queue", "batch", "--priority", "5", "--retries", "1",
		"--timeout", "90s", "--workdir", work, "--", "echo done")
	if err != nil {
		t.Fatal(err)
	}
	var sub struct {
		Job jobs.Job `json:"job"`
	}
	if err := json.Unmarshal([]byte(out), &sub); err != nil {
		t.Fatalf("submit --json: %v\n%s", err, out)
	}
	id := sub.Job.ID
	if sp := sub.Job.Spec; sp.Queue != "batch" || sp.Priority != 5 || sp.MaxRetries != 1 || sp.Timeout != 90*time.Second || sp.WorkDir != work || sp.Command != "echo done" {
		t.Errorf("submitted spec %+v", sp)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _, _, err = runJobCLI(t, uri, "job", "show", "--json", id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, `"state": "SUCCEEDED"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job did not succeed: %s", out)
		}
	}
	out, _, _, err = runJobCLI(t, uri, "job", "show", id)
	for _, want := range []string{"ID:", id, "SUCCEEDED", "echo done", "batch", "Exit code:", "rank 0 on local", "History:", "QUEUED", "RUNNING", "submitted"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("show: %v, no %q in\n%s", err, want, out)
		}
	}
	out, _, _, err = runJobCLI(t, uri, "job", "logs", id)
	if err != nil || out != "done\n" {
		t.Errorf("logs: %q, %v", out, err)
	}
	out, _, _, err = runJobCLI(t, uri, "job", "logs", "-f", id)
	if err != nil || out != "done\n" {
		t.Errorf("logs -f of an ended job: %q, %v", out, err)
	}
	out, _, _, err = runJobCLI(t, uri, "job", "list", "--state", "succeeded", "--queue", "batch")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "SUCCEEDED") || strings.Count(out, "\n") != 2 {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, _, _, err = runJobCLI(t, uri, "job", "list", "--json", "--max-results", "2")
	var listed struct {
		Jobs []jobs.Job `json:"jobs"`
	}
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed.Jobs) != 2 || listed.Jobs[0].ID != id {
		t.Errorf("list --json --max-results 2: %v\n%s", err, out)
	}

	// cancel a running job; cancelling again is refused.
	out, _, _, err = runJobCLI(t, uri, "job", "submit", "--json", "--workdir", work, "--", "sleep", "100")
	if err != nil || json.Unmarshal([]byte(out), &sub) != nil {
		t.Fatalf("submit sleep: %v %s", err, out)
	}
	sleeper := sub.Job.ID
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _, _, _ = runJobCLI(t, uri, "job", "show", "--json", sleeper)
		if strings.Contains(out, `"state": "RUNNING"`) || time.Now().After(deadline) {
			break
		}
	}
	out, _, _, err = runJobCLI(t, uri, "job", "cancel", sleeper)
	if err != nil || !strings.Contains(out, sleeper) {
		t.Errorf("cancel: %q, %v", out, err)
	}
	out, errOut, code, err = runJobCLI(t, uri, "job", "logs", "-f", sleeper)
	if err != nil || !strings.Contains(errOut, "CANCELLED") || code != -1 {
		t.Errorf("logs -f of a cancelled job: %q %q %d %v", out, errOut, code, err)
	}
	if _, _, _, err = runJobCLI(t, uri, "job", "cancel", sleeper); err == nil || !strings.Contains(err.Error(), "already ended") {
		t.Errorf("cancel twice: %v", err)
	}

	// Mistakes are reported, not sent.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"job", "submit", "--memory", "lots", "--", "true"}, "--memory"},
		{[]string{"job", "submit", "--cpus", "-1", "--", "true"}, "--cpus"},
		{[]string{"job", "submit", "--env", "NOVALUE", "--", "true"}, "NAME=VALUE"},
		{[]string{"job", "submit", "-f", "--json", "--", "true"}, "do not go together"},
		{[]string{"job", "submit", "--gpus", "1", "--", "true"}, "can never run"},
		{[]string{"job", "submit"}, "requires at least 1 arg"},
		{[]string{"job", "show", "nope"}, "does not exist"},
		{[]string{"job", "logs", "--rank", "1", id}, "ranks 0 to 0"},
		{[]string{"job", "list", "--state", "DONE"}, "state"},
	} {
		if _, _, _, err := runJobCLI(t, uri, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("lode %s: %v, want an error with %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
