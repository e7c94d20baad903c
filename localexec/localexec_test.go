//go:build unix

package localexec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lode-ml/lode/jobs"
)

// TestMain fails the run when goroutines outlive the tests: every replica
// a test starts has ended by then, and so must its reaper.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "goroutines leaked: %d before, %d after\n%s\n", before, n, buf)
			code = 1
		}
	}
	os.Exit(code)
}

func testExecutor(t *testing.T, base string, mod ...func(*Options)) *Executor {
	t.Helper()
	if base == "" {
		base = t.TempDir()
	}
	o := Options{
		BaseDir:      base,
		Logger:       slog.New(slog.DiscardHandler),
		PollInterval: 20 * time.Millisecond,
		KillGrace:    5 * time.Second,
		NvidiaSMI:    "-",
	}
	for _, f := range mod {
		f(&o)
	}
	return New(o)
}

func launch(jobID, command string) jobs.Launch {
	return jobs.Launch{JobID: jobID, Attempt: 1, Rank: 0, Spec: jobs.Spec{Command: command}}
}

// start starts l and kills whatever is left of it when the test ends.
func start(t *testing.T, e *Executor, l jobs.Launch) jobs.Handle {
	t.Helper()
	h, err := e.Start(context.Background(), l)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Kill(); err != nil {
			t.Errorf("cleanup Kill: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = h.Wait(ctx)
	})
	return h
}

func wait(t *testing.T, h jobs.Handle) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code, err := h.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return code
}

func readLog(t *testing.T, e *Executor, l jobs.Launch) string {
	t.Helper()
	rc, err := e.Logs(l.JobID, l.Attempt, l.Rank, 0)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func pid(t *testing.T, h jobs.Handle) procID {
	t.Helper()
	p, err := parseID(h.ID())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitLive waits until h's group has at least n live processes.
func waitLive(t *testing.T, h jobs.Handle, n int) {
	t.Helper()
	p := pid(t, h)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := groupLive(p)
		if err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d has %d live processes, want %d", p.pid, got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFile waits for a file a command writes when it is ready.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertGroupGone checks that no live process is left in h's group.
func assertGroupGone(t *testing.T, h jobs.Handle) {
	t.Helper()
	p := pid(t, h)
	members, err := listGroup(p.pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if !m.zombie {
			t.Errorf("process %d of group %d still runs", m.pid, p.pid)
		}
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "")
	for i, tc := range []struct {
		cmd  string
		want int
	}{
		{"true", 0},
		{"exit 3", 3},
		{"echo hi; false", 1},
		{"kill -KILL $$", 128 + 9},
		{"kill -TERM $$", 128 + 15},
		{"no-such-command-lode-test", 127},
	} {
		l := launch("exit", tc.cmd)
		l.Rank = i
		h := start(t, e, l)
		if got := wait(t, h); got != tc.want {
			t.Errorf("%q: exit code %d, want %d", tc.cmd, got, tc.want)
		}
		// Wait again gives the same answer.
		if got := wait(t, h); got != tc.want {
			t.Errorf("%q: second Wait %d, want %d", tc.cmd, got, tc.want)
		}
		code, ok, err := e.RecordedExit(h.ID())
		if err != nil || !ok || code != tc.want {
			t.Errorf("%q: RecordedExit = %d, %v, %v; want %d", tc.cmd, code, ok, err, tc.want)
		}
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("LODE_TEST_SECRET", "do-not-pass")
	t.Setenv("TZ", "Europe/Paris")
	e := testExecutor(t, "")
	l := launch("env", "env")
	l.Spec.Env = map[string]string{"A": "spec", "B": "spec", "CUDA_VISIBLE_DEVICES": "spec"}
	l.Env = map[string]string{"B": "launch", "MLFLOW_RUN_ID": "r1"}
	l.GPUIDs = []string{"2", "3"}
	h := start(t, e, l)
	if code := wait(t, h); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	env := map[string]string{}
	for line := range strings.Lines(readLog(t, e, l)) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		env[k] = v
	}
	want := map[string]string{
		"A": "spec", "B": "launch", "MLFLOW_RUN_ID": "r1", "CUDA_VISIBLE_DEVICES": "2,3",
		"TZ": "Europe/Paris", "PATH": os.Getenv("PATH"),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["LODE_TEST_SECRET"]; ok {
		t.Error("Lode's own environment leaked into the job")
	}

	// Launch.Env wins over the GPU assignment; nothing inherited when
	// InheritEnv is empty.
	e = testExecutor(t, "", func(o *Options) { o.InheritEnv = []string{} })
	l = launch("env2", "env")
	l.GPUIDs = []string{"0"}
	l.Env = map[string]string{"CUDA_VISIBLE_DEVICES": "7"}
	h = start(t, e, l)
	wait(t, h)
	got := strings.Fields(readLog(t, e, l))
	for _, kv := range got {
		if strings.HasPrefix(kv, "TZ=") || strings.HasPrefix(kv, "HOME=") {
			t.Errorf("%s inherited with InheritEnv empty", kv)
		}
	}
	for _, kv := range []string{"CUDA_VISIBLE_DEVICES=7", "PATH=" + defaultPath} {
		if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+kv+" ") {
			t.Errorf("env lacks %s: %q", kv, got)
		}
	}

	l = launch("env3", "true")
	l.Env = map[string]string{"BAD=NAME": "x"}
	if _, err := e.Start(context.Background(), l); err == nil {
		t.Error("Start took a variable name with '='")
	}
}

func TestWorkDir(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "")
	dir := t.TempDir()
	l := launch("wd", "pwd -P; touch made-here")
	l.Spec.WorkDir = dir
	wait(t, start(t, e, l))
	real, _ := filepath.EvalSymlinks(dir)
	if got := strings.TrimSpace(readLog(t, e, l)); got != real {
		t.Errorf("ran in %q, want %q", got, real)
	}
	if _, err := os.Stat(filepath.Join(dir, "made-here")); err != nil {
		t.Error(err)
	}

	// Without a WorkDir, the attempt folder.
	l = launch("wd2", "pwd -P")
	wait(t, start(t, e, l))
	real, _ = filepath.EvalSymlinks(e.LogDir("wd2", 1))
	if got := strings.TrimSpace(readLog(t, e, l)); got != real {
		t.Errorf("ran in %q, want %q", got, real)
	}
}

func TestInterleavedLog(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "")
	l := launch("mix", "echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf 'no newline' >&2")
	h := start(t, e, l)
	wait(t, h)
	if got, want := readLog(t, e, l), "out1\nerr1\nout2\nerr2\nno newline"; got != want {
		t.Errorf("log %q, want %q", got, want)
	}
	path := filepath.Join(e.LogDir("mix", 1), "0.log")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("log not at BaseDir/<job>/<attempt>/<rank>.log: %v", err)
	}

	rc, err := e.Logs("mix", 1, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "err1\nout2\nerr2\nno newline" {
		t.Errorf("log from offset 5: %q", b)
	}
	if _, err := e.Logs("mix", 1, 1, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Logs of a replica that never ran: %v", err)
	}
	if _, err := e.Logs("../x", 1, 0, 0); err == nil {
		t.Error("Logs took a job ID with a slash")
	}
}

func TestFollow(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "")
	l := launch("follow", "for i in 1 2 3 4; do echo line$i; sleep 0.3; done; echo done >&2")
	h := start(t, e, l)

	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := e.Follow(context.Background(), "follow", 1, 0, 0, pw)
		pw.Close()
		errc <- err
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() || sc.Text() != "line1" {
		t.Fatalf("first line %q, %v", sc.Text(), sc.Err())
	}
	// The first line came while the job still ran.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	_, err := h.Wait(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the job had already ended when its first line was followed: %v", err)
	}
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	if got := strings.Join(rest, ","); got != "line2,line3,line4,done" {
		t.Errorf("followed %q", got)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Follow: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after the job ended")
	}

	// Following a finished replica from an offset drains it and returns.
	var sb strings.Builder
	if err := e.Follow(context.Background(), "follow", 1, 0, 6, &sb); err != nil {
		t.Fatal(err)
	}
	if sb.String() != "line2\nline3\nline4\ndone\n" {
		t.Errorf("Follow from offset 6: %q", sb.String())
	}
}

func TestFollowCancel(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "")
	l := launch("followcancel", "echo started; sleep 1000")
	start(t, e, l)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var sb strings.Builder
	if err := e.Follow(ctx, "followcancel", 1, 0, 0, &sb); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Follow: %v, want the context's error", err)
	}
	if sb.String() != "started\n" {
		t.Errorf("followed %q", sb.String())
	}
}

func TestKillGrandchildren(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "")
	h := start(t, e, launch("kill", "sleep 1000 & sleep 1000"))
	waitLive(t, h, 3) // wrapper, and the two sleeps
	t0 := time.Now()
	if err := h.Kill(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("Kill took %v though SIGTERM suffices", d)
	}
	assertGroupGone(t, h)
	// The wrapper outlives SIGTERM to record it.
	if code := wait(t, h); code != 128+15 {
		t.Errorf("exit code %d, want 143", code)
	}
	if code, ok, _ := e.RecordedExit(h.ID()); !ok || code != 143 {
		t.Errorf("recorded exit %d, %v", code, ok)
	}
	if err := h.Kill(); err != nil {
		t.Errorf("second Kill: %v", err)
	}
}

func TestKillEscalates(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "", func(o *Options) { o.KillGrace = 300 * time.Millisecond })
	h := start(t, e, launch("stubborn", `trap "" TERM; sleep 1000 & sleep 1000`))
	waitLive(t, h, 3)
	t0 := time.Now()
	if err := h.Kill(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("Kill returned after %v, before the grace period", d)
	}
	assertGroupGone(t, h)
	if code := wait(t, h); code != 128+9 {
		t.Errorf("exit code %d, want 137", code)
	}
	if _, ok, _ := e.RecordedExit(h.ID()); ok {
		t.Error("an exit code was recorded through SIGKILL")
	}
}

func TestKillAfterExitEndsStragglers(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "")
	h := start(t, e, launch("straggler", "sleep 1000 >/dev/null 2>&1 & exit 0"))
	if code := wait(t, h); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	waitLive(t, h, 1) // the background sleep
	if err := h.Kill(); err != nil {
		t.Fatal(err)
	}
	assertGroupGone(t, h)
}

func TestAdoptAfterRestart(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	e1 := testExecutor(t, base)
	l := launch("adopt", "echo before; sleep 0.5; echo after; exit 7")
	h1 := start(t, e1, l)
	id := h1.ID()

	// The same Executor hands back its own child.
	if h, ok, err := e1.Adopt(context.Background(), id); err != nil || !ok || h != h1 {
		t.Errorf("Adopt on the starting Executor: %v, %v, %v", h, ok, err)
	}

	e2 := testExecutor(t, base) // Lode restarted
	if _, err := e2.Start(context.Background(), l); err == nil {
		t.Error("a second Start of a replica that still runs succeeded")
	}
	h2, ok, err := e2.Adopt(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("Adopt: %v, %v", ok, err)
	}
	if _, isChild := h2.(*adopted); !isChild || h2.ID() != id {
		t.Fatalf("adopted %T %q", h2, h2.ID())
	}
	var sb strings.Builder
	if err := e2.Follow(context.Background(), "adopt", 1, 0, 0, &sb); err != nil {
		t.Fatal(err)
	}
	if code := wait(t, h2); code != 7 {
		t.Errorf("adopted Wait: %d, want 7", code)
	}
	if sb.String() != "before\nafter\n" {
		t.Errorf("followed %q", sb.String())
	}
	if code := wait(t, h1); code != 7 {
		t.Errorf("Wait: %d, want 7", code)
	}

	// Once it has ended, it cannot be adopted; its exit code is on record.
	e3 := testExecutor(t, base)
	if h, ok, err := e3.Adopt(context.Background(), id); ok || err != nil || h != nil {
		t.Errorf("Adopt of an ended replica: %v, %v, %v", h, ok, err)
	}
	if code, ok, err := e3.RecordedExit(id); code != 7 || !ok || err != nil {
		t.Errorf("RecordedExit: %d, %v, %v", code, ok, err)
	}
	if h, ok, err := e1.Adopt(context.Background(), id); ok || err != nil || h != nil {
		t.Errorf("Adopt of an ended replica on its Executor: %v, %v, %v", h, ok, err)
	}
}

func TestAdoptedKill(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	e1 := testExecutor(t, base)
	h1 := start(t, e1, launch("adoptkill", "sleep 1000 & sleep 1000"))
	waitLive(t, h1, 3)
	e2 := testExecutor(t, base)
	h2, ok, err := e2.Adopt(context.Background(), h1.ID())
	if err != nil || !ok {
		t.Fatalf("Adopt: %v, %v", ok, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = h2.Wait(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("adopted Wait on a running replica: %v", err)
	}
	if err := h2.Kill(); err != nil {
		t.Fatal(err)
	}
	assertGroupGone(t, h2)
	if code := wait(t, h2); code != 143 {
		t.Errorf("adopted Wait after Kill: %d, want 143", code)
	}
	if code := wait(t, h1); code != 143 {
		t.Errorf("Wait after Kill: %d, want 143", code)
	}
}

func TestAdoptedExitUnknown(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	e1 := testExecutor(t, base, func(o *Options) { o.KillGrace = 100 * time.Millisecond })
	// The command says when its trap is set: a SIGTERM that came before
	// would end it with 143, recorded, and nothing would be unknown.
	ready := filepath.Join(t.TempDir(), "ready")
	h1 := start(t, e1, launch("unknown", `trap "" TERM; : > '`+ready+`'; sleep 1000`))
	waitFile(t, ready)
	h2, ok, err := testExecutor(t, base).Adopt(context.Background(), h1.ID())
	if err != nil || !ok {
		t.Fatalf("Adopt: %v, %v", ok, err)
	}
	if err := h1.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code, err := h2.Wait(ctx); code != -1 || !errors.Is(err, ErrExitUnknown) {
		t.Errorf("adopted Wait of a SIGKILLed replica: %d, %v", code, err)
	}
}

func TestAdoptGoneOrReused(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "")
	h := start(t, e, launch("gone", "true"))
	wait(t, h)
	e2 := testExecutor(t, e.base)
	if _, ok, err := e2.Adopt(context.Background(), h.ID()); ok || err != nil {
		t.Errorf("Adopt of an exited process: %v, %v", ok, err)
	}

	// A live pid with another start time is another process.
	self, ok, err := readProc(os.Getpid())
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	reused := procID{pid: os.Getpid(), start: self.start + 1, replica: replica{"gone", 1, 0}}
	if _, ok, err := e2.Adopt(context.Background(), reused.String()); ok || err != nil {
		t.Errorf("Adopt of a reused pid: %v, %v", ok, err)
	}
	if err := e2.killGroup(reused); err != nil {
		t.Errorf("Kill of a reused pid: %v", err)
	}
	if _, err := e2.Sample(&adopted{proc: proc{id: reused.String()}}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Sample of a reused pid: %v", err)
	}

	for _, id := range []string{"", "x", "1:2:3:4", "0:1:1:0:job", "-5:1:1:0:job", "12:1:1:0:a/b", "12:1:1:0:..", "12:x:1:0:job"} {
		if _, ok, err := e2.Adopt(context.Background(), id); ok || err == nil {
			t.Errorf("Adopt(%q): %v, %v; want an error", id, ok, err)
		}
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "")
	ctx := context.Background()
	for _, l := range []jobs.Launch{
		launch("", "true"),
		launch("..", "true"),
		launch("a/b", "true"),
		launch("ok", "  "),
		{JobID: "ok", Attempt: -1, Spec: jobs.Spec{Command: "true"}},
	} {
		if _, err := e.Start(ctx, l); err == nil {
			t.Errorf("Start(%+v) succeeded", l)
		}
	}
	l := launch("ok", "true")
	l.Hostfile = "127.0.0.1 slots=1\n"
	l.Spec.Command = `test "$(cat "$LODE_HOSTFILE")" = "127.0.0.1 slots=1"`
	if code := wait(t, start(t, e, l)); code != 0 {
		t.Errorf("the hostfile was not written: exit %d", code)
	}

	l = launch("nowd", "true")
	l.Spec.WorkDir = filepath.Join(t.TempDir(), "missing")
	if _, err := e.Start(ctx, l); err == nil {
		t.Error("Start in a missing folder succeeded")
	}
	if log := readLog(t, e, l); !strings.Contains(log, "lode: cannot start the job") {
		t.Errorf("start failure not in the log: %q", log)
	}
	// The failed start left nothing running: the replica can start again.
	l.Spec.WorkDir = ""
	wait(t, start(t, e, l))

	l = launch("twice", "sleep 1000")
	start(t, e, l)
	if _, err := e.Start(ctx, l); err == nil {
		t.Error("a second Start of a running replica succeeded")
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.Start(cctx, launch("cancelled", "true")); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a cancelled context: %v", err)
	}
}

func TestWaitTimeout(t *testing.T) {
	t.Parallel()
	e := testExecutor(t, "")
	h := start(t, e, launch("timeout", "sleep 1000"))
	code, timedOut, err := WaitTimeout(context.Background(), h, 200*time.Millisecond)
	if err != nil || !timedOut || code != 143 {
		t.Errorf("WaitTimeout: %d, %v, %v", code, timedOut, err)
	}
	assertGroupGone(t, h)

	h = start(t, e, launch("quick", "exit 4"))
	code, timedOut, err = WaitTimeout(context.Background(), h, 10*time.Second)
	if err != nil || timedOut || code != 4 {
		t.Errorf("WaitTimeout: %d, %v, %v", code, timedOut, err)
	}
}

func TestSample(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	smi := filepath.Join(dir, "nvidia-smi")
	pidFile := filepath.Join(dir, "pid")
	script := `#!/bin/sh
case "$1" in
--query-compute-apps=*) printf '%s, GPU-aaa, 512\n%s, GPU-bbb, [N/A]\n999999999, GPU-ccc, 100\n' "$(cat ` + pidFile + `)" "$(cat ` + pidFile + `)" ;;
--query-gpu=*) printf 'GPU-aaa, 40\nGPU-bbb, 60\nGPU-ccc, 99\n' ;;
*) exit 2 ;;
esac
`
	if err := os.WriteFile(smi, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := testExecutor(t, "", func(o *Options) { o.NvidiaSMI = smi })
	h := start(t, e, launch("busy", "while :; do :; done"))
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid(t, h).pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	var u Usage
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		u, err = e.Sample(h)
		if err != nil {
			t.Fatal(err)
		}
		if u.CPUSeconds >= 0.2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if u.CPUSeconds < 0.2 || u.RSSBytes <= 0 || u.Processes < 2 {
		t.Errorf("usage of a busy loop: %+v", u)
	}
	if u.GPUs != 2 || u.GPUMemoryBytes != 512<<20 || u.GPUUtilization != 50 {
		t.Errorf("GPU usage: %+v", u)
	}

	// Without nvidia-smi, no GPU figures and no error.
	e2 := testExecutor(t, e.base, func(o *Options) { o.NvidiaSMI = filepath.Join(dir, "missing") })
	u, err := e2.Sample(h)
	if err != nil || u.GPUs != 0 || u.Processes < 2 {
		t.Errorf("Sample with a broken nvidia-smi: %+v, %v", u, err)
	}

	if err := h.Kill(); err != nil {
		t.Fatal(err)
	}
	wait(t, h)
	if _, err := e.Sample(h); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Sample after exit: %v", err)
	}
}

func TestPS(t *testing.T) {
	procs, err := psProcs("-p", strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Skip("no usable ps:", err)
	}
	if len(procs) != 1 || procs[0].pid != os.Getpid() || procs[0].pgid != syscall.Getpgrp() || procs[0].start == 0 || procs[0].rssBytes <= 0 {
		t.Errorf("ps of this process: %+v", procs)
	}
	if procs, err := psProcs("-p", "999999999"); err != nil || len(procs) != 0 {
		t.Errorf("ps of no process: %v, %v", procs, err)
	}
	for s, want := range map[string]float64{"00:01:02": 62, "1-00:00:01": 86401, "0:01.50": 1.5, "2:03:04.25": 7384.25} {
		if got, err := parseCPUTime(s); err != nil || got != want {
			t.Errorf("parseCPUTime(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	p, err := parsePSLine("  77  70 Z+   1024 0:00.10 Tue Mar  3 04:05:06 2026\n")
	if err != nil || p.pid != 77 || p.pgid != 70 || !p.zombie || p.rssBytes != 1<<20 || p.cpuSeconds != 0.1 || p.start == 0 {
		t.Errorf("parsePSLine: %+v, %v", p, err)
	}
}

func TestParseNvidiaSMI(t *testing.T) {
	apps := "100, GPU-a, 1024\n101, GPU-a, [N/A]\n102, GPU-b, 2048\n200, GPU-c, 4096\n\n"
	mem, gpus := parseComputeApps(apps, map[int]bool{100: true, 101: true, 102: true})
	if mem != 3072<<20 || len(gpus) != 2 || !gpus["GPU-a"] || !gpus["GPU-b"] {
		t.Errorf("parseComputeApps: %d, %v", mem, gpus)
	}
	if u := meanUtilization("GPU-a, 10\nGPU-b, [N/A]\nGPU-c, 100\n", gpus); u != 10 {
		t.Errorf("meanUtilization: %v", u)
	}
}

func TestParseID(t *testing.T) {
	p := procID{pid: 12, start: 34, replica: replica{"job:with:colons", 2, 3}}
	got, err := parseID(p.String())
	if err != nil || got != p {
		t.Errorf("parseID(%q) = %+v, %v", p.String(), got, err)
	}
}
