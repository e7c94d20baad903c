package pyfunc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	lode "github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/serving"
)

// envSpec is what a model's Python environment is built from: its
// python_env.yaml (or requirements.txt, or conda.yaml's pip section),
// with -r and -c files read in.
type envSpec struct {
	source   string   // the file it came from, for messages
	python   string   // the Python version the model asks for, if known
	build    []string // build dependencies (pip, setuptools, wheel)
	reqs     []string // requirement and option lines
	cons     []string // constraint lines
	files    []string // "path sha256" of local files the requirements name
	modelDir string   // the model's folder
}

// markerFile marks a finished environment; it records what it holds.
const markerFile = ".lode-env.json"

// maxIncludeDepth bounds nested -r/-c files.
const maxIncludeDepth = 10

// readEnvSpec finds and reads the model's environment description.
func readEnvSpec(dir string, m *mlmodel.Model) (*envSpec, error) {
	s := &envSpec{modelDir: dir}
	pyEnv := "python_env.yaml"
	if env, ok := m.Flavors[Flavor]["env"].(map[string]any); ok {
		if p, ok := env["virtualenv"].(string); ok && p != "" {
			pyEnv = p
		}
	}
	if v, ok := m.Flavors[Flavor]["python_version"].(string); ok {
		s.python = v
	}
	if b, err := readModelFile(dir, pyEnv); err == nil {
		var doc struct {
			Python       any      `yaml:"python"`
			Build        []string `yaml:"build_dependencies"`
			Dependencies []string `yaml:"dependencies"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, lode.Errorf(lode.EInvalidState, "cannot read the model's %s: %v", pyEnv, err)
		}
		s.source = pyEnv
		if doc.Python != nil {
			s.python = fmt.Sprint(doc.Python)
		}
		s.build = cleanLines(doc.Build)
		if err := s.add(dir, doc.Dependencies, false, 0); err != nil {
			return nil, err
		}
		return s, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, lode.Internal(err, "cannot read the model's "+pyEnv)
	}
	if _, err := os.Stat(filepath.Join(dir, "requirements.txt")); err == nil {
		s.source = "requirements.txt"
		return s, s.add(dir, []string{"-r requirements.txt"}, false, 0)
	}
	condaFile := "conda.yaml"
	if p, ok := m.Flavors[Flavor]["env"].(string); ok && p != "" {
		condaFile = p // MLflow 1.x: env names the conda file
	}
	if b, err := readModelFile(dir, condaFile); err == nil {
		var doc struct {
			Dependencies []any `yaml:"dependencies"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, lode.Errorf(lode.EInvalidState, "cannot read the model's %s: %v", condaFile, err)
		}
		for _, d := range doc.Dependencies {
			if mp, ok := d.(map[string]any); ok {
				if pip, ok := mp["pip"].([]any); ok {
					lines := make([]string, 0, len(pip))
					for _, l := range pip {
						lines = append(lines, fmt.Sprint(l))
					}
					s.source = condaFile
					if err := s.add(dir, lines, false, 0); err != nil {
						return nil, err
					}
				}
			}
		}
		if s.source != "" {
			return s, nil
		}
	}
	return nil, lode.Errorf(lode.EInvalidState,
		"the model has no python_env.yaml, requirements.txt or conda.yaml pip section to build its environment from; serve it with the local environment manager")
}

func readModelFile(dir, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
}

// cleanLines trims lines and drops blank ones and comments.
func cleanLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if l = stripComment(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// stripComment removes a pip comment (a # at the start or after a space)
// and surrounding space.
func stripComment(l string) string {
	l = strings.TrimSpace(l)
	if strings.HasPrefix(l, "#") {
		return ""
	}
	if i := strings.Index(l, " #"); i >= 0 {
		l = l[:i]
	}
	if i := strings.Index(l, "\t#"); i >= 0 {
		l = l[:i]
	}
	return strings.TrimSpace(l)
}

// add reads requirement lines found in folder base: -r and -c files are
// read in (relative to base, as pip reads them), other lines kept.
func (s *envSpec) add(base string, lines []string, constraint bool, depth int) error {
	if depth > maxIncludeDepth {
		return lode.Errorf(lode.EInvalidState, "requirement files include each other more than %d deep", maxIncludeDepth)
	}
	for _, l := range cleanLines(lines) {
		opt, arg := splitOption(l)
		switch opt {
		case "-r", "--requirement", "-c", "--constraint":
			path := arg
			if !filepath.IsAbs(path) {
				path = filepath.Join(base, filepath.FromSlash(path))
			}
			sub, err := readRequirementsFile(path)
			if err != nil {
				return lode.Errorf(lode.EInvalidState, "cannot read the model's requirements: %v", err)
			}
			isCons := constraint || opt == "-c" || opt == "--constraint"
			if err := s.add(filepath.Dir(path), sub, isCons, depth+1); err != nil {
				return err
			}
			continue
		}
		if constraint {
			s.cons = append(s.cons, l)
		} else {
			s.reqs = append(s.reqs, l)
		}
		if opt == "" || opt == "-e" || opt == "--editable" {
			s.hashLocalFile(base, l, arg)
		}
	}
	return nil
}

// splitOption splits "-r file", "--requirement=file" or "-rfile" into the
// option and its argument; a requirement line has no option.
func splitOption(l string) (opt, arg string) {
	if !strings.HasPrefix(l, "-") {
		return "", l
	}
	if i := strings.IndexAny(l, " \t="); i >= 0 {
		return l[:i], strings.TrimSpace(l[i+1:])
	}
	if len(l) > 2 && l[1] != '-' {
		return l[:2], strings.TrimSpace(l[2:]) // -rfile
	}
	return l, ""
}

// hashLocalFile records the content of a local wheel or archive a
// requirement names, so an environment is rebuilt when it changes.
func (s *envSpec) hashLocalFile(base, line, arg string) {
	p := arg
	if p == "" {
		p = line
	}
	if !strings.ContainsAny(p, `/\`) && !strings.HasSuffix(p, ".whl") && !strings.HasSuffix(p, ".tar.gz") && !strings.HasSuffix(p, ".zip") {
		return
	}
	p = strings.TrimPrefix(p, "file://")
	for _, cand := range []string{p, filepath.Join(base, p), filepath.Join(s.modelDir, p)} {
		f, err := os.Open(cand)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err == nil && st.Mode().IsRegular() {
			h := sha256.New()
			if _, err := io.Copy(h, f); err == nil {
				s.files = append(s.files, p+" "+hex.EncodeToString(h.Sum(nil)))
			}
		}
		f.Close()
		return
	}
}

// readRequirementsFile returns a file's logical lines, continuations
// joined.
func readRequirementsFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		if strings.HasSuffix(l, `\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`))
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	return lines, nil
}

// key names the environment: a hash of the base interpreter's version and
// everything pip is asked to install.
func (s *envSpec) key(baseVersion string) string {
	h := sha256.New()
	fmt.Fprintf(h, "lode python env 1\npython %s\n", baseVersion)
	for _, part := range []struct {
		tag   string
		lines []string
	}{{"build", s.build}, {"req", s.reqs}, {"con", s.cons}, {"file", s.files}} {
		lines := slices.Clone(part.lines)
		slices.Sort(lines)
		for _, l := range lines {
			fmt.Fprintf(h, "%s %s\n", part.tag, l)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// baseInterp is the interpreter virtual environments are made from.
type baseInterp struct {
	path    string
	version string // "3.11.7"
}

// baseInterpreter probes Options.Python once.
func (r *Runtime) baseInterpreter(ctx context.Context) (*baseInterp, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.base != nil {
		return r.base, nil
	}
	path, err := exec.LookPath(r.opts.Python)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalidState, "Python interpreter %q not found: %v", r.opts.Python, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-c", "import platform; print(platform.python_version())").Output()
	if err != nil {
		return nil, lode.Errorf(lode.EInvalidState, "cannot run Python interpreter %s: %v", path, err)
	}
	r.base = &baseInterp{path: path, version: strings.TrimSpace(string(out))}
	return r.base, nil
}

// environment returns the model's virtual environment, building it when
// it is not cached yet.
func (r *Runtime) environment(ctx context.Context, dir string, m *mlmodel.Model, opts serving.LoadOptions, log *slog.Logger) (string, error) {
	spec, err := readEnvSpec(dir, m)
	if err != nil {
		return "", err
	}
	base, err := r.baseInterpreter(ctx)
	if err != nil {
		return "", err
	}
	if spec.python != "" && majorMinor(spec.python) != majorMinor(base.version) {
		log.Warn("the model asks for another Python version; using the base interpreter's",
			"wants", spec.python, "using", base.version, "interpreter", base.path)
	}
	key := spec.key(base.version)
	final := filepath.Join(r.opts.CacheDir, key)
	if envReady(final) {
		log.Debug("using cached Python environment", "env", key)
		return final, nil
	}
	unlock, err := r.lockEnv(ctx, key, log)
	if err != nil {
		return "", err
	}
	defer unlock()
	if envReady(final) {
		log.Debug("using Python environment built meanwhile", "env", key)
		return final, nil
	}
	if err := r.build(ctx, base, spec, key, opts.Label(), log); err != nil {
		return "", err
	}
	return final, nil
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// envReady reports whether a finished environment is at dir.
func envReady(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
		return false
	}
	_, err := os.Stat(venvPython(dir))
	return err == nil
}

// lockEnv holds the build lock of one environment: in this process, and
// across processes through a lock file where the system has them.
func (r *Runtime) lockEnv(ctx context.Context, key string, log *slog.Logger) (func(), error) {
	r.mu.Lock()
	ch, ok := r.builds[key]
	if !ok {
		ch = make(chan struct{}, 1)
		r.builds[key] = ch
	}
	r.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
		log.Info("waiting for the Python environment another load is building", "env", key)
		select {
		case ch <- struct{}{}:
		case <-ctx.Done():
			return nil, ctxError(ctx, "waiting for the Python environment")
		}
	}
	locks := filepath.Join(r.opts.CacheDir, ".locks")
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
func (r *Runtime) build(ctx context.Context, base *baseInterp, spec *envSpec, key, model string, log *slog.Logger) error {
	cache := r.opts.CacheDir
	final := filepath.Join(cache, key)
	// Holding the lock, any temporary folder of this key is a dead build's.
	if old, _ := filepath.Glob(final + ".tmp-*"); len(old) > 0 {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	if _, err := os.Stat(final); err == nil {
		os.RemoveAll(final) // not ready: a copy left by hand, or damaged
	}
	tmp, err := os.MkdirTemp(cache, key+".tmp-")
	if err != nil {
		return lode.Internal(err, "cannot create the Python environment folder")
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	log.Info(fmt.Sprintf("building Python environment %s for model %s: %d requirements", key, model, len(spec.reqs)),
		"env", key, "python", base.version, "from", spec.source)
	start := time.Now()
	tail := &lineTail{max: 25}
	run := func(step string, args ...string) error {
		if err := runLogged(ctx, log, tail, spec.modelDir, args[0], args[1:]...); err != nil {
			if ctx.Err() != nil {
				return ctxError(ctx, "building the Python environment")
			}
			return lode.Errorf(lode.EInvalidState, "building Python environment %s for model %s: %s failed: %v\n%s",
				key, model, step, err, tail.String())
		}
		return nil
	}
	if err := run("creating the virtual environment", base.path, "-m", "venv", tmp); err != nil {
		return err
	}
	py := venvPython(tmp)
	pip := []string{py, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"}
	if len(spec.build) > 0 {
		if err := run("installing build dependencies", append(slices.Clone(pip), spec.build...)...); err != nil {
			return err
		}
	}
	if len(spec.reqs) > 0 {
		reqFile := filepath.Join(tmp, "lode-requirements.txt")
		if err := os.WriteFile(reqFile, []byte(strings.Join(spec.reqs, "\n")+"\n"), 0o644); err != nil {
			return lode.Internal(err, "cannot write the environment's requirements")
		}
		args := append(slices.Clone(pip), "-r", reqFile)
		if len(spec.cons) > 0 {
			consFile := filepath.Join(tmp, "lode-constraints.txt")
			if err := os.WriteFile(consFile, []byte(strings.Join(spec.cons, "\n")+"\n"), 0o644); err != nil {
				return lode.Internal(err, "cannot write the environment's constraints")
			}
			args = append(args, "-c", consFile)
		}
		if err := run("installing the model's requirements", args...); err != nil {
			return err
		}
	}
	if err := relocate(tmp, final); err != nil {
		return lode.Internal(err, "cannot finish the Python environment")
	}
	marker, _ := json.MarshalIndent(map[string]any{
		"python":       base.version,
		"interpreter":  base.path,
		"model":        model,
		"source":       spec.source,
		"build":        spec.build,
		"requirements": spec.reqs,
		"constraints":  spec.cons,
		"built":        time.Now().UTC().Format(time.RFC3339),
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, markerFile), marker, 0o644); err != nil {
		return lode.Internal(err, "cannot finish the Python environment")
	}
	if err := os.Rename(tmp, final); err != nil {
		return lode.Internal(err, "cannot finish the Python environment")
	}
	ok = true
	log.Info(fmt.Sprintf("built Python environment %s for model %s", key, model), "env", key,
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
	entries, err := os.ReadDir(filepath.Dir(venvPython(tmp)))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := fix(filepath.Join(filepath.Dir(venvPython(tmp)), e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// venvPython is the interpreter of the virtual environment at dir.
func venvPython(dir string) string {
	if runtime.GOOS == "windows" {
		return filepath.Join(dir, "Scripts", "python.exe")
	}
	return filepath.Join(dir, "bin", "python")
}

// venvEnv is the process environment of a worker in the virtual
// environment at dir, as activating it would set it.
func venvEnv(dir string) []string {
	bin := filepath.Dir(venvPython(dir))
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "PYTHONHOME", "VIRTUAL_ENV":
			continue
		case "PATH":
			kv = k + "=" + bin + string(os.PathListSeparator) + v
		}
		env = append(env, kv)
	}
	return append(env, "VIRTUAL_ENV="+dir)
}

// runLogged runs a build command, logging its output line by line (pip's
// progress lines at info, the rest at debug) and keeping the last lines
// for an error message.
func runLogged(ctx context.Context, log *slog.Logger, tail *lineTail, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
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
			tail.add(line)
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

// lineTail keeps the last lines of an output.
type lineTail struct {
	max   int
	lines []string
}

func (t *lineTail) add(l string) {
	if len(l) > 1000 {
		l = l[:1000] + "..."
	}
	t.lines = append(t.lines, l)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *lineTail) String() string { return strings.Join(t.lines, "\n") }
