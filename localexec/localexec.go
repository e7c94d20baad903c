// Package localexec runs job replicas as processes on this machine: the
// jobs.Executor for a single-node Lode.
//
// # Files
//
// Everything about a replica lives in its attempt folder,
// BaseDir/<jobID>/<attempt>/:
//
//	<rank>.log   stdout and stderr, interleaved in the order written
//	<rank>.id    the Handle's ID, written as soon as the process runs
//	<rank>.exit  the exit code, written by the wrapper as the command ends
//
// # Processes
//
// A replica is not started as Shell -c Command directly but under a small
// POSIX sh wrapper, which leads a process group of its own:
//
//	/bin/sh -c 'trap : HUP INT TERM; "$1" -c "$2"; c=$?; printf "%d\n" $c >"$3"; exit $c' \
//	    lode-job <Shell> <Command> <dir>/<rank>.exit
//
// The wrapper runs the command in a child shell (so the command's own exit,
// traps and set -e stay its own), then records the exit code in the exit
// file. The file is how a Lode that restarted learns the exit code of a
// process it did not start and so cannot wait for. The wrapper catches
// TERM (a caught signal reverts to the default in the command, so the
// command still gets and handles it) and, as Kill signals the whole group,
// outlives the command long enough to record 128+15; only SIGKILL leaves no
// exit file behind. Exit codes follow the shells: a command killed by signal
// n exits 128+n.
//
// Processes do not get a parent-death signal: jobs outlive a Lode restart and
// are adopted again by their Handle's ID (pid and start time, so a reused
// pid is not mistaken for the job). Lode must run so that stopping it does
// not kill its process tree: under systemd, KillMode=process; in a container,
// jobs end with the container, and on restart Adopt reports them gone.
//
// # Handles
//
// A Handle's ID is "pid:start:attempt:rank:jobID", the wrapper's pid and
// start time (/proc/<pid>/stat field 22 on Linux) and the replica it runs.
// Wait returns when the wrapper has exited. For a replica this Executor
// started it reports the wait status (a goroutine reaps the process as
// soon as it exits and then ends); for an adopted one it polls and reads the
// exit file, returning ErrExitUnknown when there is none. Either Wait gives
// up, leaving the replica running, when its context ends.
//
// Kill signals the process group: SIGTERM (and SIGCONT, so a stopped job sees
// it), then SIGKILL after the grace period. It blocks until no process of the
// group is left (zombies aside), so for up to the grace period; calling it
// after Wait ends what the replica left running in the background. A
// process that leaves the group (setsid, setpgid) escapes both Kill and
// Sample; cgroups would be the cure.
//
// # Environment
//
// A replica does not inherit Lode's environment, which may hold credentials
// for the store and the artifact backend. It gets only the variables named in
// Options.InheritEnv (by default PATH, HOME, USER, LOGNAME, SHELL, LANG,
// LC_ALL, TZ and TMPDIR) from Lode's environment, then Spec.Env, then
// CUDA_VISIBLE_DEVICES from Launch.GPUIDs when there are any, then
// Launch.Env, each overriding the ones before. PATH is
// /usr/local/bin:/usr/bin:/bin when nothing sets it.
package localexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/mlproject"
)

// DefaultInheritEnv names the variables a replica takes from Lode's own
// environment when Options.InheritEnv is nil.
var DefaultInheritEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// defaultPath is PATH when neither Lode's environment nor the job sets it.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// wrapperShell runs the wrapper; Options.Shell runs only the command.
const wrapperShell = "/bin/sh"

// wrapper runs "$2" with shell "$1" and writes its exit code to "$3". The
// trap keeps the wrapper alive through the SIGTERM Kill sends to the whole
// group, until the command has exited and its code is written.
const wrapper = `trap : HUP INT TERM
"$1" -c "$2"
c=$?
printf '%d\n' "$c" >"$3"
exit "$c"`

// Defaults for Options.
const (
	DefaultKillGrace    = 10 * time.Second
	DefaultPollInterval = 200 * time.Millisecond
)

// killWait bounds how long Kill waits for a group to vanish after SIGKILL.
const killWait = 5 * time.Second

// Errors.
var (
	// ErrExitUnknown is returned by an adopted Handle's Wait when the process
	// ended without recording its exit code (it, or its wrapper, was killed
	// by SIGKILL, or the exit file could not be written).
	ErrExitUnknown = errors.New("localexec: the process ended without recording its exit code")
	// ErrNotRunning is returned by Sample when no process of the replica's
	// group is left.
	ErrNotRunning = errors.New("localexec: the replica is not running")
)

// Options configure an Executor.
type Options struct {
	// BaseDir holds the replicas' files (see the package comment). It is
	// made absolute.
	BaseDir string
	// Shell runs Spec.Command as Shell -c Command; default /bin/sh.
	Shell string
	// Logger receives starts, exits and trouble; default slog.Default().
	Logger *slog.Logger
	// InheritEnv names the variables taken from Lode's environment; nil
	// means DefaultInheritEnv, an empty non-nil slice nothing.
	InheritEnv []string
	// KillGrace is how long Kill waits after SIGTERM before SIGKILL;
	// default 10 s.
	KillGrace time.Duration
	// PollInterval paces the waits that have to poll: an adopted Handle's
	// Wait and Follow; default 200 ms.
	PollInterval time.Duration
	// NvidiaSMI is the nvidia-smi Sample runs for GPU figures; empty means
	// "nvidia-smi" looked up on PATH, "-" never.
	NvidiaSMI string
	// PythonEnvRunner is the command that runs a replica whose Spec names
	// a PythonEnv: the replica runs PythonEnvRunner... -- Shell -c Command,
	// with the environment as JSON in LODE_PYTHON_ENV, and the runner
	// builds or finds the environment, then execs the rest in it (`lode env
	// exec`). Nil refuses such replicas.
	PythonEnvRunner []string
}

// PythonEnvVar carries a replica's jobs.PythonEnv, as JSON, to the
// PythonEnvRunner.
const PythonEnvVar = "LODE_PYTHON_ENV"

// Executor runs replicas as local processes. It implements jobs.Executor.
type Executor struct {
	base      string
	shell     string
	log       *slog.Logger
	inherit   []string
	grace     time.Duration
	poll      time.Duration
	nvidiaSMI string
	pyRunner  []string

	mu sync.Mutex
	// running holds the replicas this Executor started, by replica key
	// (see key), from before their log file is made until they are reaped.
	running map[string]*child
}

var _ jobs.Executor = (*Executor)(nil)

// New returns an Executor.
func New(o Options) *Executor {
	e := &Executor{
		shell:     o.Shell,
		log:       o.Logger,
		inherit:   o.InheritEnv,
		grace:     o.KillGrace,
		poll:      o.PollInterval,
		nvidiaSMI: o.NvidiaSMI,
		pyRunner:  slices.Clone(o.PythonEnvRunner),
		running:   map[string]*child{},
	}
	if o.BaseDir != "" {
		e.base = o.BaseDir
		if abs, err := filepath.Abs(o.BaseDir); err == nil {
			e.base = abs
		}
	}
	if e.shell == "" {
		e.shell = "/bin/sh"
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.inherit == nil {
		e.inherit = DefaultInheritEnv
	}
	if e.grace <= 0 {
		e.grace = DefaultKillGrace
	}
	if e.poll <= 0 {
		e.poll = DefaultPollInterval
	}
	return e
}

// replica names one replica of one attempt.
type replica struct {
	jobID   string
	attempt int
	rank    int
}

func (r replica) check() error {
	if r.jobID == "" || r.jobID == "." || r.jobID == ".." || strings.ContainsAny(r.jobID, "/\\\x00") {
		return fmt.Errorf("localexec: job ID %q cannot name a folder", r.jobID)
	}
	if r.attempt < 0 || r.rank < 0 {
		return fmt.Errorf("localexec: attempt %d, rank %d: negative", r.attempt, r.rank)
	}
	return nil
}

func (r replica) key() string { return fmt.Sprintf("%s/%d/%d", r.jobID, r.attempt, r.rank) }

// LogDir is the attempt folder that holds the replicas' logs:
// BaseDir/<jobID>/<attempt>. A Launch's LogDir must be empty or this.
func (e *Executor) LogDir(jobID string, attempt int) string {
	return filepath.Join(e.base, jobID, strconv.Itoa(attempt))
}

func (e *Executor) path(r replica, ext string) string {
	return filepath.Join(e.LogDir(r.jobID, r.attempt), strconv.Itoa(r.rank)+ext)
}

// procID is what a Handle's ID encodes: "pid:start:attempt:rank:jobID", the
// job ID last as it may hold colons.
type procID struct {
	pid   int
	start uint64
	replica
}

func (p procID) String() string {
	return fmt.Sprintf("%d:%d:%d:%d:%s", p.pid, p.start, p.attempt, p.rank, p.jobID)
}

func parseID(id string) (procID, error) {
	f := strings.SplitN(id, ":", 5)
	bad := func() (procID, error) { return procID{}, fmt.Errorf("localexec: %q is not a local process ID", id) }
	if len(f) != 5 {
		return bad()
	}
	var p procID
	var err1, err2, err3, err4 error
	p.pid, err1 = strconv.Atoi(f[0])
	p.start, err2 = strconv.ParseUint(f[1], 10, 64)
	p.attempt, err3 = strconv.Atoi(f[2])
	p.rank, err4 = strconv.Atoi(f[3])
	p.jobID = f[4]
	if err := errors.Join(err1, err2, err3, err4); err != nil || p.pid <= 0 || p.replica.check() != nil {
		return bad()
	}
	return p, nil
}

// env is the replica's environment; see the package comment.
func (e *Executor) env(l jobs.Launch) ([]string, error) {
	m := map[string]string{}
	for _, k := range e.inherit {
		if v, ok := os.LookupEnv(k); ok {
			m[k] = v
		}
	}
	if _, ok := m["PATH"]; !ok {
		m["PATH"] = defaultPath
	}
	maps.Copy(m, l.Spec.Env)
	if len(l.GPUIDs) > 0 {
		m["CUDA_VISIBLE_DEVICES"] = strings.Join(l.GPUIDs, ",")
	}
	maps.Copy(m, l.Env)
	env := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(m[k], 0) {
			return nil, fmt.Errorf("localexec: environment variable %q cannot be set", k)
		}
		env = append(env, k+"="+m[k])
	}
	return env, nil
}

// Start starts one replica and returns once it runs; ctx bounds only the
// start, not the replica's life. The log file is created (or appended to)
// before the process starts; a failure to start is written to it too.
func (e *Executor) Start(ctx context.Context, l jobs.Launch) (jobs.Handle, error) {
	if !supported {
		return nil, errors.ErrUnsupported
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := replica{l.JobID, l.Attempt, l.Rank}
	if err := r.check(); err != nil {
		return nil, err
	}
	if e.base == "" {
		return nil, errors.New("localexec: no BaseDir")
	}
	if strings.TrimSpace(l.Spec.Command) == "" {
		return nil, errors.New("localexec: the job has no command")
	}
	dir := e.LogDir(r.jobID, r.attempt)
	if l.Hostfile != "" {
		// A distributed job's hostfile, for Horovod and MPI.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		hf := filepath.Join(dir, "hostfile")
		if err := writeFileAtomic(hf, []byte(l.Hostfile)); err != nil {
			return nil, err
		}
		l.Env = maps.Clone(l.Env)
		if l.Env == nil {
			l.Env = map[string]string{}
		}
		l.Env["LODE_HOSTFILE"] = hf
	}
	if l.Spec.PythonEnv != nil {
		if len(e.pyRunner) == 0 {
			return nil, errors.New("localexec: the job asks for a Python environment and this executor cannot build one")
		}
		b, err := json.Marshal(l.Spec.PythonEnv)
		if err != nil {
			return nil, err
		}
		l.Env = maps.Clone(l.Env)
		if l.Env == nil {
			l.Env = map[string]string{}
		}
		l.Env[PythonEnvVar] = string(b)
		words := append(slices.Clone(e.pyRunner), "--", e.shell, "-c", l.Spec.Command)
		for i, w := range words {
			words[i] = mlproject.Quote(w) // shlex.quote, as MLflow quotes
		}
		l.Spec.Command = "exec " + strings.Join(words, " ")
	}
	env, err := e.env(l)
	if err != nil {
		return nil, err
	}

	c := &child{r: r, done: make(chan struct{})}
	if err := e.claim(c); err != nil {
		return nil, err
	}
	h, err := e.start(c, l, dir, env)
	if err != nil {
		e.release(c)
		close(c.done)
		return nil, err
	}
	return h, nil
}

// claim registers c as running, refusing a replica that already runs here or
// from before a restart.
func (e *Executor) claim(c *child) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.running[c.r.key()]; ok {
		return fmt.Errorf("localexec: replica %s is already running", c.r.key())
	}
	if p, ok := e.readIDFile(c.r); ok {
		if alive, _ := procAlive(p.pid, p.start); alive {
			return fmt.Errorf("localexec: replica %s is already running as pid %d", c.r.key(), p.pid)
		}
	}
	e.running[c.r.key()] = c
	return nil
}

func (e *Executor) release(c *child) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running[c.r.key()] == c {
		delete(e.running, c.r.key())
	}
}

func (e *Executor) start(c *child, l jobs.Launch, dir string, env []string) (*child, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("localexec: %w", err)
	}
	exitPath := e.path(c.r, ".exit")
	for _, p := range []string{exitPath, e.path(c.r, ".id")} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("localexec: %w", err)
		}
	}
	logf, err := os.OpenFile(e.path(c.r, ".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("localexec: %w", err)
	}
	defer logf.Close()

	workDir := l.Spec.WorkDir
	if workDir == "" {
		workDir = dir
	}
	cmd := exec.Command(wrapperShell, "-c", wrapper, "lode-job", e.shell, l.Spec.Command, exitPath)
	cmd.Dir = workDir
	cmd.Env = env
	cmd.Stdout = logf // one *os.File for both: the child gets one
	cmd.Stderr = logf // O_APPEND descriptor, and no copying goroutines
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(logf, "lode: cannot start the job: %v\n", err)
		return nil, fmt.Errorf("localexec: starting replica %s: %w", c.r.key(), err)
	}
	pid := cmd.Process.Pid
	// Not yet reaped, so the pid is still this child's.
	info, ok, err := readProc(pid)
	if err == nil && !ok {
		err = errors.New("no such process")
	}
	if err == nil {
		e.mu.Lock()
		c.proc = proc{e: e, procID: procID{pid: pid, start: info.start, replica: c.r}, exitPath: exitPath}
		c.id = c.procID.String()
		e.mu.Unlock()
		err = writeFileAtomic(e.path(c.r, ".id"), []byte(c.id+"\n"))
	}
	if err != nil {
		// Without an ID nothing could find this process again.
		_ = signalGroup(pid, sigKill)
		_ = cmd.Wait()
		fmt.Fprintf(logf, "lode: cannot start the job: %v\n", err)
		return nil, fmt.Errorf("localexec: starting replica %s: %w", c.r.key(), err)
	}
	c.cmd = cmd
	go c.reap()
	e.log.Info("job replica started", "job", c.r.jobID, "attempt", c.r.attempt, "rank", c.r.rank, "pid", pid, "workdir", workDir)
	return c, nil
}

func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// readIDFile reads the ID of the replica's last process, if any.
func (e *Executor) readIDFile(r replica) (procID, bool) {
	b, err := os.ReadFile(e.path(r, ".id"))
	if err != nil {
		return procID{}, false
	}
	p, err := parseID(strings.TrimSpace(string(b)))
	if err != nil || p.replica != r {
		return procID{}, false
	}
	return p, true
}

// readExitFile reads an exit file the wrapper wrote; ok is false when there
// is none, or only a partial one.
func readExitFile(name string) (code int, ok bool, err error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	s, complete := strings.CutSuffix(string(b), "\n")
	if !complete {
		return 0, false, nil
	}
	code, err = strconv.Atoi(s)
	if err != nil {
		return 0, false, fmt.Errorf("localexec: %s: %q is no exit code", name, s)
	}
	return code, true, nil
}

// Adopt reattaches to a replica by its Handle's ID, typically after Lode
// restarted; ok is false when that process no longer runs (see RecordedExit
// for how it ended). The returned Handle's Wait polls, as the process is not
// Lode's child, and reads the exit code from the exit file.
func (e *Executor) Adopt(ctx context.Context, id string) (jobs.Handle, bool, error) {
	if !supported {
		return nil, false, errors.ErrUnsupported
	}
	p, err := parseID(id)
	if err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	e.mu.Lock()
	c := e.running[p.replica.key()]
	mine := c != nil && c.id == id
	e.mu.Unlock()
	if mine {
		select {
		case <-c.done:
			return nil, false, nil
		default:
			return c, true, nil
		}
	}
	alive, err := procAlive(p.pid, p.start)
	if err != nil || !alive {
		return nil, false, err
	}
	e.log.Info("job replica adopted", "job", p.jobID, "attempt", p.attempt, "rank", p.rank, "pid", p.pid)
	return &adopted{proc: proc{e: e, procID: p, id: id, exitPath: e.path(p.replica, ".exit")}}, true, nil
}

// RecordedExit reads the exit code the replica with this Handle ID
// recorded; ok is false when it recorded none (it still runs, or it was
// killed by SIGKILL). It tells a replica that ended while Lode was down, for
// which Adopt reports false, from one that vanished.
func (e *Executor) RecordedExit(id string) (code int, ok bool, err error) {
	p, err := parseID(id)
	if err != nil {
		return 0, false, err
	}
	return readExitFile(e.path(p.replica, ".exit"))
}

// Logs opens a replica's log (stdout and stderr, interleaved) at offset.
func (e *Executor) Logs(jobID string, attempt, rank int, offset int64) (io.ReadCloser, error) {
	r := replica{jobID, attempt, rank}
	if err := r.check(); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("localexec: negative log offset %d", offset)
	}
	f, err := os.Open(e.path(r, ".log"))
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Follow copies a replica's log from offset to w as it grows, until the
// replica has exited and the log is drained, or ctx ends (then it returns
// ctx's error). It follows replicas started by this Executor, and those
// started before a restart, adopted or not. Processes a replica left
// behind in the background may write after Follow returns.
func (e *Executor) Follow(ctx context.Context, jobID string, attempt, rank int, offset int64, w io.Writer) error {
	rc, err := e.Logs(jobID, attempt, rank, offset)
	if err != nil {
		return err
	}
	defer rc.Close()
	r := replica{jobID, attempt, rank}
	buf := make([]byte, 32<<10)
	tick := time.NewTicker(e.poll)
	defer tick.Stop()
	for {
		// Whether it runs is asked before draining, so that what it
		// wrote before it exited is drained.
		running, exited := e.replicaRunning(r)
		if err := drain(rc, w, buf); err != nil {
			return err
		}
		if !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
		case <-tick.C:
		}
	}
}

// replicaRunning reports whether the replica runs; exited, when not nil,
// closes when it ends.
func (e *Executor) replicaRunning(r replica) (running bool, exited <-chan struct{}) {
	e.mu.Lock()
	c := e.running[r.key()]
	e.mu.Unlock()
	if c != nil {
		return true, c.done
	}
	p, ok := e.readIDFile(r)
	if !ok {
		return false, nil
	}
	alive, err := procAlive(p.pid, p.start)
	return alive || err != nil, nil
}

func drain(r io.Reader, w io.Writer, buf []byte) error {
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// WaitTimeout waits for h, as h.Wait does; when timeout (> 0) passes first,
// it kills h, waits for it to end and reports timedOut. When ctx ends first
// it returns ctx's error and leaves the replica running.
func WaitTimeout(ctx context.Context, h jobs.Handle, timeout time.Duration) (code int, timedOut bool, err error) {
	if timeout <= 0 {
		code, err = h.Wait(ctx)
		return code, false, err
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, err = h.Wait(tctx)
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return code, false, err
	}
	if err := h.Kill(); err != nil {
		return -1, true, err
	}
	code, err = h.Wait(ctx)
	return code, true, err
}
