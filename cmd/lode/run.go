package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/mlproject"
	"github.com/lode-ml/lode/tracking"
)

func newRunCmd() *cobra.Command {
	var (
		o          = modelsOpts{command: "lode run"}
		spec       jobs.Spec
		jf         jobFlags
		entry      string
		version    string
		params     []string
		expName    string
		expID      string
		envManager string
		runName    string
		detach     bool
	)
	cmd := &cobra.Command{
		Use:   "run URI",
		Short: "Run an MLflow Project as a job",
		Long: `Run an MLflow Project as a job on a Lode server, as ` + "`mlflow run`" + ` runs one
on this machine. URI is a project folder, or a git repository (any URL git
clones, or a local repository with --version); "URI#sub/dir" runs the project
in a subfolder.

The project is read as MLflow reads it: the MLproject file's entry points and
their typed parameters (-P name=value; parameters the entry point does not
declare are passed on as --name value), or, without one, any .py or .sh file
as an entry point. The command runs in a Python virtual environment built
with pip from the project's python_env.yaml and cached by its content (with
no environment file, a bare one); --env-manager local runs it in the
server's environment instead. conda_env and docker_env projects are refused:
this machine runs neither conda nor docker.

The job's run records the source, the git commit, the entry point and the
parameters, as MLflow does. lode follows the job's log and exits with its
exit code (--detach submits and returns). The server is --tracking-uri, else
$MLFLOW_TRACKING_URI, else ` + defaultTrackingURI + `; with the local executor the project
must be on the server's machine (it is snapshotted at submission).`,
		Example: `  lode run examples/wine -P alpha=0.42
  lode run examples/wine -e main -P alpha=0.1 -P l1_ratio=0.9 --experiment-name wine
  lode run https://github.com/org/repo#projects/train -v v1.2 --cpus 4 --memory 8Gi
  lode run . -e scripts/prepare.py -P rows=1000 --env-manager local --detach`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := jf.apply(&spec); err != nil {
				return err
			}
			ps, err := mlproject.ParseParams(params)
			if err != nil {
				return err
			}
			if expID != "" && expName != "" {
				return errors.New("give --experiment-id or --experiment-name, not both")
			}
			ctx := cmd.Context()
			status := cmd.ErrOrStderr()
			src, err := fetchProject(ctx, args[0], version, status)
			if err != nil {
				return err
			}
			defer src.cleanup()
			p, err := mlproject.Load(src.dir)
			if err != nil {
				return err
			}
			ep, err := p.EntryPoint(entry)
			if err != nil {
				return err
			}
			cwd, err := os.Getwd()
			if err != nil {
				return err
			}
			inv, err := ep.Command(ps, cwd)
			if err != nil {
				return err
			}
			manager, pyEnv, err := projectEnv(p, envManager)
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			if spec.ExperimentID, err = resolveExperiment(ctx, c, expID, expName, status); err != nil {
				return err
			}
			tagManager := manager
			if manager == "local" {
				tagManager = "" // MLflow sets no mlflow.project.env for the local manager
			}
			// Each run gets its own name, as `mlflow run` gives one: the
			// job keeps the project's name, the run a generated one
			// (bold-panda-123) unless --run-name names it.
			name := runName
			if name == "" {
				name = tracking.RandomRunName()
			}
			info := mlproject.RunInfo{
				SourceName: src.sourceName, EntryPoint: entry, User: currentUser(), EnvManager: tagManager,
				Backend: "lode", GitCommit: src.commit, GitRepoURL: src.repoURL, GitBranch: src.branch, RunName: name,
			}
			spec.Tags = info.Tags()
			spec.Params = map[string]string{}
			for _, kv := range inv.LogParams {
				spec.Params[kv.Key] = kv.Value
			}
			spec.Command = inv.Command
			spec.WorkDir = p.Dir
			spec.PythonEnv = pyEnv
			spec.User = info.User
			spec.Name = runName
			if spec.Name == "" {
				spec.Name = p.Name
			}
			if spec.Name == "" {
				spec.Name = filepath.Base(p.Dir)
			}
			fmt.Fprintf(status, "lode: running entry point %s of %s as run %s: %s\n", entry, src.sourceName, name, inv.Command)
			j, err := c.SubmitJob(ctx, spec)
			if err != nil {
				return err
			}
			if detach || o.json {
				return o.output(cmd, map[string]any{"job": j}, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "Submitted job %s, run %s.\nFollow its log: lode job logs -f %s\n", j.ID, j.RunID, j.ID)
					return err
				})
			}
			fmt.Fprintf(status, "lode: submitted job %s, run %s\n", j.ID, j.RunID)
			return followToEnd(cmd, c, j.ID)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&entry, "entry-point", "e", mlproject.DefaultEntryPoint, "entry point: one the MLproject file declares, or a .py or .sh file of the project")
	f.StringVarP(&version, "version", "v", "", "git commit, branch or tag to run (git projects only)")
	f.StringArrayVarP(&params, "param-list", "P", nil, "a parameter NAME=VALUE (repeatable)")
	f.StringVar(&expName, "experiment-name", "", "experiment to run in, created if missing (default: $MLFLOW_EXPERIMENT_NAME)")
	f.StringVar(&expID, "experiment-id", "", "experiment id to run in (default: $MLFLOW_EXPERIMENT_ID, else 0)")
	f.StringVar(&envManager, "env-manager", "", "virtualenv (default for python_env projects and projects without an environment) or local (the server's environment as it is)")
	f.StringVar(&runName, "run-name", "", "name of the run and the job (default: a generated run name, and the project's name for the job)")
	f.BoolVarP(&detach, "detach", "d", false, "submit and return without following the job")
	f.StringVar(&o.trackingURI, "tracking-uri", "", "Lode server URL")
	f.BoolVar(&o.json, "json", false, "print the submitted job as JSON (implies --detach)")
	jf.register(f, &spec, "")
	return cmd
}

// projectEnv chooses the environment manager (MLflow's default for the
// project unless one is given) and the Python environment the job gets.
func projectEnv(p *mlproject.Project, manager string) (string, *jobs.PythonEnv, error) {
	if manager == "" {
		manager = p.Env.Manager()
	}
	switch manager {
	case "local":
		if p.Env.Kind == mlproject.EnvDocker {
			_, err := p.PythonEnv() // the docker refusal
			return "", nil, err
		}
		return manager, nil, nil
	case "virtualenv", "conda", "docker":
		pe, err := p.PythonEnv() // refuses conda and docker environments
		if err != nil {
			return "", nil, err
		}
		if manager != "virtualenv" {
			return "", nil, lode.Errorf(lode.ENotImplemented, "--env-manager %s is not supported on this machine; use virtualenv or local", manager)
		}
		env := &jobs.PythonEnv{}
		if pe != nil {
			env = &jobs.PythonEnv{Python: pe.Python, BuildDependencies: pe.BuildDependencies, Dependencies: pe.Dependencies}
		}
		return manager, env, nil
	case "uv":
		return "", nil, lode.Errorf(lode.ENotImplemented, "--env-manager uv is not supported; use virtualenv (pip) or local")
	}
	return "", nil, lode.Errorf(lode.EInvalid, "unknown --env-manager %q: want virtualenv or local", manager)
}

// resolveExperiment finds the experiment to run in, creating a named one
// that does not exist yet, as `mlflow run` does.
func resolveExperiment(ctx context.Context, c interface {
	ExperimentIDByName(context.Context, string) (string, error)
	CreateExperiment(context.Context, string) (string, error)
}, id, name string, status io.Writer) (string, error) {
	if id == "" && name == "" {
		id, name = os.Getenv("MLFLOW_EXPERIMENT_ID"), os.Getenv("MLFLOW_EXPERIMENT_NAME")
	}
	if id != "" || name == "" {
		return id, nil
	}
	found, err := c.ExperimentIDByName(ctx, name)
	if err == nil {
		return found, nil
	}
	if lode.ErrorCode(err) != lode.ENotFound {
		return "", err
	}
	fmt.Fprintf(status, "lode: experiment %q does not exist; creating it\n", name)
	return c.CreateExperiment(ctx, name)
}

// projectSource is a project folder ready to run, and what the run records
// about where it came from.
type projectSource struct {
	dir        string
	sourceName string // mlflow.source.name
	commit     string // HEAD of the repository holding it, if any
	repoURL    string // that repository's origin, if any
	branch     string // --version, when it names a branch
	cleanup    func()
}

// fetchProject finds the project URI names, as MLflow's _fetch_project
// does: an existing folder (or file:// URI) is used where it is, unless
// --version asks for a revision of the git repository it is, which is then
// fetched into a temporary folder; anything else is a git URL, fetched
// likewise. "#sub/dir" names a subfolder (without ".", as in MLflow).
func fetchProject(ctx context.Context, uri, version string, status io.Writer) (*projectSource, error) {
	src := &projectSource{cleanup: func() {}}
	base, sub, _ := strings.Cut(uri, "#")
	if strings.Contains(sub, ".") {
		return nil, lode.Errorf(lode.EInvalid, "'.' is not allowed in project subdirectory paths: %q", sub)
	}
	local := strings.TrimPrefix(base, "file://")
	st, statErr := os.Stat(local)
	isLocal := statErr == nil
	switch {
	case isLocal && !st.IsDir():
		return nil, lode.Errorf(lode.EInvalid, "%s is not a folder (zip projects are not supported)", base)
	case !isLocal && !gitURL(base):
		return nil, lode.Errorf(lode.ENotFound, "project %s: no such folder, and not a git URL", base)
	case isLocal:
		// A bare repository has no files to run: fetch it as a remote
		// (MLflow would look for an MLproject file in it and fail).
		if bare, _ := git(ctx, local, "rev-parse", "--is-bare-repository"); bare == "true" {
			isLocal = false
		}
	}
	root := local
	if !isLocal || version != "" {
		if statErr == nil {
			if _, err := git(ctx, local, "rev-parse", "--git-dir"); err != nil {
				return nil, lode.Errorf(lode.EInvalid, "setting a version is only supported for git project URIs; %s is not a git repository", base)
			}
			if abs, err := filepath.Abs(local); err == nil {
				base = abs // git fetches a relative path from its own folder
			}
		}
		tmp, err := os.MkdirTemp("", "lode-project-")
		if err != nil {
			return nil, err
		}
		src.cleanup = func() { os.RemoveAll(tmp) }
		fmt.Fprintf(status, "lode: fetching project %s into %s\n", redactURI(uri), tmp)
		if err := fetchGit(ctx, base, version, tmp); err != nil {
			src.cleanup()
			return nil, redactErr(err, base)
		}
		root = tmp
	}
	dir, err := filepath.Abs(filepath.Join(root, filepath.FromSlash(sub)))
	if err != nil {
		src.cleanup()
		return nil, err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		src.cleanup()
		return nil, lode.Errorf(lode.ENotFound, "could not find subdirectory %s of %s", sub, base)
	}
	src.dir = dir
	// What git knows about the folder; outside a repository (or without
	// git) the run simply gets no git tags, as with MLflow.
	top, _ := git(ctx, dir, "rev-parse", "--show-toplevel")
	if top != "" {
		src.commit, _ = git(ctx, dir, "rev-parse", "HEAD")
		// A URL with a token (https://TOKEN@host/repo) would put it in
		// the run's tags, for everyone who can read the run.
		src.repoURL, _ = git(ctx, dir, "remote", "get-url", "origin")
		src.repoURL = redactURI(src.repoURL)
		if version != "" {
			if _, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", "refs/heads/"+version); err == nil {
				src.branch = version
			}
		}
	}
	src.sourceName = redactURI(uri) // a fetched repository is known by its URI
	if isLocal && version == "" {
		src.sourceName = mlproject.SourceName(dir, top)
	}
	return src, nil
}

// gitURL reports whether s looks like something git clones: a URL
// (https://, ssh://, git://, file://) or scp-like user@host:path.
func gitURL(s string) bool {
	if strings.Contains(s, "://") {
		return true
	}
	at, colon := strings.Index(s, "@"), strings.Index(s, ":")
	return at > 0 && colon > at && !strings.Contains(s[:colon], "/")
}

// fetchGit checks out version (a commit, branch or tag; the remote's default
// branch when empty) of the repository at uri into dst, fetching only that
// revision, as MLflow does.
func fetchGit(ctx context.Context, uri, version, dst string) error {
	if _, err := exec.LookPath("git"); err != nil {
		return lode.Errorf(lode.EInvalidState, "running a git project needs git, which is not installed here")
	}
	steps := [][]string{{"init", "--quiet"}, {"remote", "add", "origin", uri}}
	for _, s := range steps {
		if _, err := git(ctx, dst, s...); err != nil {
			return err
		}
	}
	if version == "" {
		out, err := git(ctx, dst, "ls-remote", "--symref", "origin", "HEAD")
		if err != nil {
			return lode.Errorf(lode.EInvalid, "cannot read git repository %s: %v", uri, err)
		}
		for _, line := range strings.Split(out, "\n") {
			if ref, ok := strings.CutPrefix(line, "ref: refs/heads/"); ok {
				version, _, _ = strings.Cut(ref, "\t")
			}
		}
		if version == "" {
			return lode.Errorf(lode.EInvalid, "cannot find the default branch of git repository %s", uri)
		}
	}
	if _, err := git(ctx, dst, "fetch", "--quiet", "--depth", "1", "--tags", "origin", version); err != nil {
		return lode.Errorf(lode.EInvalid, "unable to fetch version '%s' of git repository %s; make sure it exists: %v", version, uri, err)
	}
	// A branch gets a local branch of its name (so the run can record it);
	// a commit or tag is checked out detached.
	if _, err := git(ctx, dst, "rev-parse", "--verify", "--quiet", "refs/remotes/origin/"+version); err == nil {
		_, err = git(ctx, dst, "checkout", "--quiet", "-b", version, "refs/remotes/origin/"+version)
		return err
	}
	if _, err := git(ctx, dst, "checkout", "--quiet", "--detach", "FETCH_HEAD"); err != nil {
		return lode.Errorf(lode.EInvalid, "unable to check out version '%s' of git repository %s: %v", version, uri, err)
	}
	return nil
}

// git runs git in dir and returns its trimmed output; the error carries
// git's own message.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("git %s: %s", args[0], msg)
		}
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return strings.TrimSpace(string(out)), nil
}
