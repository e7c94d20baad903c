package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/localexec"
	"github.com/lode-ml/lode/mlproject"
	"github.com/lode-ml/lode/pyenv"
)

func newEnvCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Python virtual environments for projects and jobs",
		Long: `Python virtual environments as MLflow's python_env.yaml describes them: built
with pip from a base interpreter and cached by what they hold, so the second
job or model with the same requirements starts at once. ` + "`lode server`" + ` runs the
jobs of ` + "`lode run`" + ` through ` + "`lode env exec`" + `.`,
	}
	cmd.AddCommand(newEnvExecCmd())
	return cmd
}

func newEnvExecCmd() *cobra.Command {
	var file, python, cache string
	cmd := &cobra.Command{
		Use:   "exec [flags] -- COMMAND [ARG...]",
		Short: "Run a command inside a cached virtual environment, building it first if needed",
		Long: `Run a command inside a Python virtual environment, building it first when
the cache does not hold it yet. The environment comes from --python-env (a
python_env.yaml: python, build_dependencies, dependencies), else from
$` + localexec.PythonEnvVar + ` (the same, as JSON: how the job server passes it), else it
is a bare environment with no packages. "-r file" dependencies are read
relative to the python_env.yaml's folder (the current directory for JSON).

pip's progress goes to stderr. The command then replaces lode (same process),
with the environment's bin folder first on PATH and VIRTUAL_ENV set.

Environments are keyed by the base interpreter's version and everything pip
installs; an environment is complete or absent, never half-built, and
concurrent builds of one environment wait for each other.`,
		Example: `  lode env exec --python-env python_env.yaml -- python train.py
  lode env exec --python python3.11 -- python -c 'import sys; print(sys.prefix)'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := envSpec(file)
			if err != nil {
				return err
			}
			log := slog.New(&lineHandler{w: cmd.ErrOrStderr(), prefix: "lode env: "})
			what := "this command"
			if id := os.Getenv("LODE_JOB_ID"); id != "" {
				what = "job " + id
			}
			// A job's kill reaches pip (same process group), and SIGTERM
			// stops the build cleanly rather than leaving lode's half of it.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			b := pyenv.NewBuilder(python, cache)
			b.SameGroup = true
			dir, err := b.Ensure(ctx, spec, what, log)
			stop()
			if err != nil {
				return err
			}
			return execIn(dir, args)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVar(&file, "python-env", "", "a python_env.yaml (default: $"+localexec.PythonEnvVar+", else a bare environment)")
	f.StringVar(&python, "python", "python3", "base interpreter the environment is made from")
	f.StringVar(&cache, "cache", defaultCacheDir("envs"), "where environments are cached")
	return cmd
}

// envSpec reads the environment to build: a python_env.yaml, else the
// JSON a job carries, else nothing (a bare environment).
func envSpec(file string) (*pyenv.Spec, error) {
	var env jobs.PythonEnv
	base, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	source := "a bare environment"
	switch raw := os.Getenv(localexec.PythonEnvVar); {
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		pe, err := mlproject.ParsePythonEnv(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		env = jobs.PythonEnv{Python: pe.Python, BuildDependencies: pe.BuildDependencies, Dependencies: pe.Dependencies}
		abs, err := filepath.Abs(file)
		if err != nil {
			return nil, err
		}
		base, source = filepath.Dir(abs), file
	case raw != "":
		if err := json.Unmarshal([]byte(raw), &env); err != nil {
			return nil, fmt.Errorf("$%s is not a Python environment: %w", localexec.PythonEnvVar, err)
		}
		source = "the job's python_env"
	}
	spec := &pyenv.Spec{Source: source, Python: env.Python, Build: pyenv.CleanLines(env.BuildDependencies), Dir: base}
	if err := spec.Add(base, env.Dependencies, false); err != nil {
		return nil, err
	}
	return spec, nil
}

// execIn replaces this process with args run inside the environment at dir.
func execIn(dir string, args []string) error {
	env := slices.DeleteFunc(pyenv.Environ(dir, os.Environ()), func(kv string) bool {
		return strings.HasPrefix(kv, localexec.PythonEnvVar+"=")
	})
	prog := args[0]
	if !strings.ContainsRune(prog, filepath.Separator) {
		// Look the program up on the environment's PATH, not lode's.
		prog = ""
		for _, kv := range env {
			if path, ok := strings.CutPrefix(kv, "PATH="); ok {
				for _, d := range filepath.SplitList(path) {
					if p := filepath.Join(d, args[0]); prog == "" && isExecutable(p) {
						prog = p
					}
				}
			}
		}
		if prog == "" {
			return fmt.Errorf("%s: %w", args[0], exec.ErrNotFound)
		}
	}
	err := syscall.Exec(prog, args, env)
	return fmt.Errorf("cannot run %s: %w", args[0], err)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// lineHandler writes a log as plain lines, for a job's log: the message,
// then key=value pairs, without times or levels (the job log has neither).
// Debug records are dropped.
type lineHandler struct {
	w      io.Writer
	prefix string
	attrs  []slog.Attr
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	if r.Level >= slog.LevelWarn {
		b.WriteString(strings.ToLower(r.Level.String()) + ": ")
	}
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		if !a.Equal(slog.Attr{}) {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &lineHandler{w: h.w, prefix: h.prefix, attrs: append(slices.Clone(h.attrs), as...)}
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
