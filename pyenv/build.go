package pyenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	lode "github.com/lode-ml/lode"
)

// markerFile marks a finished environment; it records what it holds.
const markerFile = ".lode-env.json"

// Builder builds environments from one base interpreter into one cache
// folder. It is safe for concurrent use, and several processes may share
// a cache: a build holds a file lock, and an environment appears under its
// key only once it is complete.
type Builder struct {
	python string // the base interpreter, as given
	cache  string // absolute

	// SameGroup runs pip in the caller's process group rather than one of
	// its own: for a build that is part of a job, so that killing the job
	// kills the build too.
	SameGroup bool
	// Inherit, when not nil, names the variables of this process's
	// environment that the builds (the interpreter, venv and pip) get
	// (see Inherit); nil passes the whole environment, as a job's own
	// build does, whose environment was chosen for it already. pip
	// installs what a model's requirements name, and a package's build
	// runs its code: a server builds with an allow-list, so that its
	// secrets stay out of reach.
	Inherit []string

	mu     sync.Mutex
	base   *Interp
	builds map[string]chan struct{} // per-environment build locks in this process
}

// Interp is a base interpreter.
type Interp struct {
	Path    string
	Version string // "3.11.7"
}

// NewBuilder returns a builder making environments from python ("python3"
// when empty, looked up on PATH) in cacheDir (made absolute).
func NewBuilder(python, cacheDir string) *Builder {
	if python == "" {
		python = "python3"
	}
	if abs, err := filepath.Abs(cacheDir); err == nil {
		cacheDir = abs
	}
	return &Builder{python: python, cache: cacheDir, builds: map[string]chan struct{}{}}
}

// CacheDir is where the environments are.
func (b *Builder) CacheDir() string { return b.cache }

// Base probes the base interpreter once.
func (b *Builder) Base(ctx context.Context) (*Interp, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.base != nil {
		return b.base, nil
	}
	path, err := exec.LookPath(b.python)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalidState, "Python interpreter %q not found: %v", b.python, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	probe := exec.CommandContext(ctx, path, "-c", "import platform; print(platform.python_version())")
	probe.Env = b.environ()
	out, err := probe.Output()
	if err != nil {
		return nil, lode.Errorf(lode.EInvalidState, "cannot run Python interpreter %s: %v", path, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	b.base = &Interp{Path: path, Version: strings.TrimSpace(string(out))}
	return b.base, nil
}

// Ensure returns the folder of spec's environment, building it first when
// it is not in the cache. what names what it is for in messages ("model
// wine/3", "job 1f2e..."). Build progress goes to log: pip's
// "Collecting", "Installing" and error lines at info, the rest at debug.
func (b *Builder) Ensure(ctx context.Context, spec *Spec, what string, log *slog.Logger) (string, error) {
	base, err := b.Base(ctx)
	if err != nil {
		return "", err
	}
	if spec.Python != "" && MajorMinor(spec.Python) != MajorMinor(base.Version) {
		log.Warn(fmt.Sprintf("%s asks for Python %s; using %s, the base interpreter's", what, spec.Python, base.Version),
			"interpreter", base.Path)
	}
	key := spec.Key(base.Version)
	final := filepath.Join(b.cache, key)
	if Ready(final) {
		log.Debug("using cached Python environment", "env", key)
		return final, nil
	}
	unlock, err := b.lock(ctx, key, log)
	if err != nil {
		return "", err
	}
	defer unlock()
	if Ready(final) {
		log.Debug("using Python environment built meanwhile", "env", key)
		return final, nil
	}
	if err := b.build(ctx, base, spec, key, what, log); err != nil {
		return "", err
	}
	return final, nil
}

// MajorMinor is "3.11" of "3.11.7".
func MajorMinor(v string) string {
	parts := strings.SplitN(strings.TrimSpace(v), ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// Ready reports whether a finished environment is at dir.
func Ready(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
		return false
	}
	_, err := os.Stat(Python(dir))
	return err == nil
}

// lock holds the build lock of one environment: in this process, and
// across processes through a lock file where the system has them.
func (b *Builder) lock(ctx context.Context, key string, log *slog.Logger) (func(), error) {
	b.mu.Lock()
	ch, ok := b.builds[key]
	if !ok {
		ch = make(chan struct{}, 1)
		b.builds[key] = ch
	}
	b.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
		log.Info("waiting for the Python environment being built for another", "env", key)
		select {
		case ch <- struct{}{}:
		case <-ctx.Done():
			return nil, ctxError(ctx, "waiting for the Python environment")
		}
	}
	locks := filepath.Join(b.cache, ".locks")
	if err := os.MkdirAll(locks, 0o755); err != nil {
		<-ch
		return nil, lode.Internal(err, "cannot create the Python environment cache")
	}
	f, err := os.OpenFile(filepath.Join(locks, key+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		<-ch
		return nil, lode.Internal(err, "cannot create the Python environment lock")
	}
	for waited := false; ; waited = true {
		ok, err := tryLockFile(f)
		if err != nil || ok {
			break // no file locks here: the in-process lock stands alone
		}
		if !waited {
			log.Info("waiting for the Python environment another process is building", "env", key)
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			f.Close()
			<-ch
			return nil, ctxError(ctx, "waiting for the Python environment")
		}
	}
	return func() {
		unlockFile(f)
		f.Close()
		<-ch
	}, nil
}

// build makes the environment in a temporary folder beside its final
// place and renames it there once pip has installed everything, so an
// interrupted build never leaves an environment that looks finished.
func (b *Builder) build(ctx context.Context, base *Interp, spec *Spec, key, what string, log *slog.Logger) error {
	final := filepath.Join(b.cache, key)
	if err := os.MkdirAll(b.cache, 0o755); err != nil {
		return lode.Internal(err, "cannot create the Python environment cache")
	}
	// Holding the lock, any temporary folder of this key is a dead build's.
	if old, _ := filepath.Glob(final + ".tmp-*"); len(old) > 0 {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	if _, err := os.Stat(final); err == nil {
		os.RemoveAll(final) // not ready: a copy left by hand, or damaged
	}
	tmp, err := os.MkdirTemp(b.cache, key+".tmp-")
	if err != nil {
		return lode.Internal(err, "cannot create the Python environment folder")
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	log.Info(fmt.Sprintf("building Python environment %s for %s: %d requirements", key, what, len(spec.Reqs)),
		"env", key, "python", base.Version, "from", spec.Source)
	start := time.Now()
	tail := &LineTail{Max: 25}
	dir := spec.Dir
	if dir == "" {
		dir = b.cache
	}
	run := func(step string, args ...string) error {
		if err := runLogged(ctx, log, tail, !b.SameGroup, dir, b.environ(), args[0], args[1:]...); err != nil {
			if ctx.Err() != nil {
				return ctxError(ctx, "building the Python environment")
			}
			return lode.Errorf(lode.EInvalidState, "building Python environment %s for %s: %s failed: %v\n%s",
				key, what, step, err, tail.String())
		}
		return nil
	}
	if err := run("creating the virtual environment", base.Path, "-m", "venv", tmp); err != nil {
		return err
	}
	py := Python(tmp)
	pip := []string{py, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"}
	if len(spec.Build) > 0 {
		if err := run("installing build dependencies", append(slices.Clone(pip), spec.Build...)...); err != nil {
			return err
		}
	}
	if len(spec.Reqs) > 0 {
		reqFile := filepath.Join(tmp, "lode-requirements.txt")
		if err := os.WriteFile(reqFile, []byte(strings.Join(spec.Reqs, "\n")+"\n"), 0o644); err != nil {
			return lode.Internal(err, "cannot write the environment's requirements")
		}
		args := append(slices.Clone(pip), "-r", reqFile)
		if len(spec.Cons) > 0 {
			consFile := filepath.Join(tmp, "lode-constraints.txt")
			if err := os.WriteFile(consFile, []byte(strings.Join(spec.Cons, "\n")+"\n"), 0o644); err != nil {
				return lode.Internal(err, "cannot write the environment's constraints")
			}
			args = append(args, "-c", consFile)
		}
		if err := run("installing the requirements", args...); err != nil {
			return err
		}
	}
	if err := relocate(tmp, final); err != nil {
		return lode.Internal(err, "cannot finish the Python environment")
	}
	marker, _ := json.MarshalIndent(map[string]any{
		"python":       base.Version,
		"interpreter":  base.Path,
		"for":          what,
		"source":       spec.Source,
		"build":        spec.Build,
		"requirements": spec.Reqs,
		"constraints":  spec.Cons,
		"built":        time.Now().UTC().Format(time.RFC3339),
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, markerFile), marker, 0o644); err != nil {
		return lode.Internal(err, "cannot finish the Python environment")
	}
	if err := os.Rename(tmp, final); err != nil {
		return lode.Internal(err, "cannot finish the Python environment")
	}
	ok = true
	log.Info(fmt.Sprintf("built Python environment %s for %s", key, what), "env", key,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// relocate rewrites the build folder's path to the final one in the text
// files of bin/ (script shebangs, activate scripts) and pyvenv.cfg, so the
// renamed environment's scripts work. Python itself finds its environment
// from where it runs.
func relocate(tmp, final string) error {
	old, repl := []byte(tmp), []byte(final)
	fix := func(path string) error {
		st, err := os.Lstat(path)
		if err != nil || !st.Mode().IsRegular() || st.Size() > 1<<20 {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil || bytes.IndexByte(b, 0) >= 0 || !bytes.Contains(b, old) {
			return err
		}
		return os.WriteFile(path, bytes.ReplaceAll(b, old, repl), st.Mode().Perm())
	}
	if err := fix(filepath.Join(tmp, "pyvenv.cfg")); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Dir(Python(tmp)))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := fix(filepath.Join(filepath.Dir(Python(tmp)), e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Python is the interpreter of the environment at dir.
func Python(dir string) string {
	if runtime.GOOS == "windows" {
		return filepath.Join(dir, "Scripts", "python.exe")
	}
	return filepath.Join(dir, "bin", "python")
}

// environ is the environment of the builds' commands (nil: this
// process's).
func (b *Builder) environ() []string {
	if b.Inherit == nil {
		return nil
	}
	return Inherit(b.Inherit)
}

// Inherit returns the variables of this process's environment that names
// lists, as KEY=value strings; a name ending in * stands for every
// variable it begins (PIP_* for all of pip's settings). It gives the
// processes that run someone else's code (model workers, builds) what
// they need and none of the server's own secrets (passwords, storage
// keys), which live in the same environment.
func Inherit(names []string) []string {
	out := []string{} // not nil: a command with a nil Env gets everything
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, n := range names {
			if prefix, ok := strings.CutSuffix(n, "*"); (ok && strings.HasPrefix(k, prefix)) || k == n {
				out = append(out, kv)
				break
			}
		}
	}
	return out
}

// Environ is env (KEY=value strings) as activating the environment at dir
// changes it: its bin folder first on PATH, VIRTUAL_ENV set, PYTHONHOME
// dropped.
func Environ(dir string, env []string) []string {
	bin := filepath.Dir(Python(dir))
	out := make([]string, 0, len(env)+2)
	hasPath := false
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "PYTHONHOME", "VIRTUAL_ENV":
			continue
		case "PATH":
			hasPath = true
			kv = k + "=" + bin + string(os.PathListSeparator) + v
		}
		out = append(out, kv)
	}
	if !hasPath {
		out = append(out, "PATH="+bin)
	}
	return append(out, "VIRTUAL_ENV="+dir)
}

// runLogged runs a build command, logging its output line by line (pip's
// progress lines at info, the rest at debug) and keeping the last lines
// for an error message.
func runLogged(ctx context.Context, log *slog.Logger, tail *LineTail, ownGroup bool, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	if ownGroup {
		cmd.SysProcAttr = sysProcAttr()
		cmd.Cancel = func() error { return killGroup(cmd.Process) }
	}
	cmd.WaitDelay = 5 * time.Second
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			if strings.TrimSpace(line) == "" {
				continue
			}
			tail.Add(line)
			level := slog.LevelDebug
			for _, p := range []string{"Collecting", "Installing", "Successfully", "ERROR", "WARNING", "Building"} {
				if strings.HasPrefix(line, p) {
					level = slog.LevelInfo
					break
				}
			}
			log.Log(context.Background(), level, "pip: "+line)
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Wait()
	// A grandchild may hold the pipe; do not wait on it for long.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	pr.Close()
	<-done
	return err
}

// LineTail keeps the last lines of an output.
type LineTail struct {
	Max   int
	lines []string
}

// Add keeps l, cut to 1,000 bytes, dropping the oldest line past Max.
func (t *LineTail) Add(l string) {
	if len(l) > 1000 {
		l = l[:1000] + "..."
	}
	t.lines = append(t.lines, l)
	if len(t.lines) > t.Max {
		t.lines = t.lines[len(t.lines)-t.Max:]
	}
}

// Len is how many lines are kept.
func (t *LineTail) Len() int { return len(t.lines) }

func (t *LineTail) String() string { return strings.Join(t.lines, "\n") }

// ctxError is the error for a context that ended while doing what.
func ctxError(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return lode.Errorf(lode.EDeadline, "deadline exceeded while %s", what)
	}
	return lode.Errorf(lode.EDeadline, "cancelled while %s", what)
}
