package mlproject

import (
	"path/filepath"
	"strings"
)

// Tag names MLflow sets on a project run (mlflow/utils/mlflow_tags.py).
const (
	TagUser           = "mlflow.user"
	TagSourceName     = "mlflow.source.name"
	TagSourceType     = "mlflow.source.type"
	TagGitCommit      = "mlflow.source.git.commit"
	TagGitBranch      = "mlflow.source.git.branch"
	TagGitRepoURL     = "mlflow.source.git.repoURL"
	TagParentRunID    = "mlflow.parentRunId"
	TagRunName        = "mlflow.runName"
	TagProjectEnv     = "mlflow.project.env"
	TagEntryPoint     = "mlflow.project.entryPoint"
	TagProjectBackend = "mlflow.project.backend"
)

// SourceTypeProject is mlflow.source.type for a project run.
const SourceTypeProject = "PROJECT"

// Environment variables MLflow sets for an entry point's process, so that
// mlflow.start_run() inside it continues the project's run.
const (
	EnvRunID        = "MLFLOW_RUN_ID"
	EnvTrackingURI  = "MLFLOW_TRACKING_URI"
	EnvExperimentID = "MLFLOW_EXPERIMENT_ID"
)

// RunEnv returns the variables MLflow adds to the entry point's
// environment, as KEY=value strings.
func RunEnv(runID, experimentID, trackingURI string) []string {
	return []string{
		EnvRunID + "=" + runID,
		EnvTrackingURI + "=" + trackingURI,
		EnvExperimentID + "=" + experimentID,
	}
}

// RunInfo is what MLflow records about a project run, beyond its params
// (Invocation.LogParams).
type RunInfo struct {
	SourceName string // see SourceName
	EntryPoint string // the name given with -e ("main" by default)
	User       string
	// EnvManager is mlflow.project.env: "virtualenv", "uv", "conda" or
	// "docker" (Env.Manager gives MLflow's default); "" for the local
	// environment manager, for which MLflow sets no tag.
	EnvManager  string
	Backend     string // mlflow.project.backend: "local" for `mlflow run`
	GitCommit   string // HEAD of the repository holding the project, if any
	GitRepoURL  string // its remote's URL, if any
	GitBranch   string // the branch asked for with --version, if it is one
	ParentRunID string // the active run, when a project is run from a run
	RunName     string
}

// Tags returns the tags MLflow sets on the run: mlflow.source.type
// PROJECT, the source name, the entry point and user, and the others when
// they are known (MLflow omits the git tags outside a repository).
func (r RunInfo) Tags() map[string]string {
	t := map[string]string{
		TagSourceType: SourceTypeProject,
		TagSourceName: r.SourceName,
		TagEntryPoint: r.EntryPoint,
	}
	for k, v := range map[string]string{
		TagUser:           r.User,
		TagProjectEnv:     r.EnvManager,
		TagProjectBackend: r.Backend,
		TagGitCommit:      r.GitCommit,
		TagGitRepoURL:     r.GitRepoURL,
		TagGitBranch:      r.GitBranch,
		TagParentRunID:    r.ParentRunID,
		TagRunName:        r.RunName,
	} {
		if v != "" {
			t[k] = v
		}
	}
	return t
}

// SourceName is mlflow.source.name for a local project, as MLflow writes
// it: for a project inside a git work tree, "file://" + the work tree,
// then "#" and the project's folder within it unless it is the root; else
// the project's absolute folder. gitWorkTree is "" outside a repository.
func SourceName(projectDir, gitWorkTree string) string {
	if gitWorkTree == "" {
		return projectDir
	}
	url := "file://" + gitWorkTree
	rel, err := filepath.Rel(gitWorkTree, projectDir)
	if err != nil || rel == "." {
		return url
	}
	if !filepath.IsLocal(rel) {
		return projectDir
	}
	return url + "#" + strings.ReplaceAll(rel, string(filepath.Separator), "/")
}
