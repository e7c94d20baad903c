package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/lode-ml/lode/mlflowimport"
)

func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import data from other platforms",
	}
	cmd.AddCommand(newImportMLflowCmd())
	return cmd
}

func newImportMLflowCmd() *cobra.Command {
	var from, artifacts, backend, dest, dataDir, defaultRoot, workspace string
	var workers int
	cmd := &cobra.Command{
		Use:   "mlflow --from <mlflow backend store URI> --artifacts <mlflow artifact root>",
		Short: "Copy an MLflow tracking server's experiments, runs, models and artifacts into Lode",
		Long: `Copy everything from an MLflow tracking server's database into Lode's store:
experiments, runs (same ids) with params, tags, full metric histories and
dataset inputs, logged models, registered models with versions, stages and
aliases; and the files under MLflow's artifact root (the folder given to
` + "`mlflow server --artifacts-destination`" + `, ./mlartifacts by default), with the
URIs that pointed into it rewritten to Lode's artifact proxy.

Running it again imports only what is new: experiments are matched by name,
runs and logged models by id, models by name, versions by number. Stop
MLflow's server first, or import again afterwards to pick up late writes.

  lode import mlflow --from sqlite:///mlflow.db --artifacts ./mlartifacts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if workers < 1 || workers > 64 {
				return fmt.Errorf("--workers %d: want 1 to 64", workers)
			}
			src, err := mlflowimport.OpenSource(ctx, from)
			if err != nil {
				return fmt.Errorf("--from %s: %w", redactURI(from), err)
			}
			defer src.Close()
			if artifacts != "" {
				if fi, err := os.Stat(artifacts); err != nil || !fi.IsDir() {
					return fmt.Errorf("--artifacts %s: not a folder", artifacts)
				}
			}
			dir := resolveDataDir(dataDir)
			if backend == "" {
				if backend, err = sqliteURIIn(dir); err != nil {
					return err
				}
			}
			dest = orInDataDir(dest, dir, dataArtifacts)
			db, _, err := openMetadata(ctx, backend, defaultRoot, "FULL")
			if err != nil {
				return err
			}
			defer db.Close()
			store, _, err := openArtifacts(ctx, dest)
			if err != nil {
				return fmt.Errorf("--artifacts-destination: %w", err)
			}
			p := newProgress(cmd.ErrOrStderr())
			im := &mlflowimport.Importer{
				Source: src, ArtifactRoot: artifacts, Tracking: db, Registry: db, Artifacts: store,
				Workspace: workspace, Progress: p.update, Workers: workers,
			}
			stats, err := im.Run(ctx)
			printImportSummary(cmd.OutOrStdout(), from, artifacts, stats)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "MLflow's backend store URI: sqlite:///mlflow.db or postgresql://user:password@host:port/database (required)")
	f.StringVar(&artifacts, "artifacts", "", "MLflow's artifact root, a local folder (its server's --artifacts-destination); without it no files are copied")
	f.StringVar(&dataDir, "data-dir", "", "lode server's data directory, where the store and artifacts below are by default (default $"+dataDirEnv+", else "+defaultDataDir+")")
	f.StringVar(&backend, "backend-store-uri", "", "Lode's metadata store, as for lode server (default: "+dataDB+" in --data-dir)")
	f.StringVar(&dest, "artifacts-destination", "", "Lode's artifact store, as for lode server: a folder or s3://bucket/prefix (default: "+dataArtifacts+"/ in --data-dir)")
	f.StringVar(&defaultRoot, "default-artifact-root", "mlflow-artifacts:", "artifact root of the experiments created, as for lode server")
	f.StringVar(&workspace, "workspace", "default", "the MLflow workspace to import, for databases with workspaces")
	f.IntVar(&workers, "workers", 4, "runs imported at once")
	cmd.MarkFlagRequired("from")
	return cmd
}

// progress draws the import's progress on stderr: one line rewritten in
// place on a terminal, a plain line every few seconds otherwise (logs).
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	every time.Duration
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, every: 5 * time.Second}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.every = true, 100*time.Millisecond
		}
	}
	return p
}

func (p *progress) update(s mlflowimport.Stats, final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !final && now.Sub(p.last) < p.every {
		return
	}
	if final && !p.drawn && !p.tty {
		return // a quick import: the summary says it all
	}
	p.last, p.drawn = now, true
	line := fmt.Sprintf("experiments %d/%d  runs %d/%d  logged models %d/%d  models %d/%d  versions %d/%d  metric points %d  files %d (%s)",
		s.Experiments.Done(), s.Experiments.Total, s.Runs.Done(), s.Runs.Total, s.LoggedModels.Done(), s.LoggedModels.Total,
		s.Models.Done(), s.Models.Total, s.Versions.Done(), s.Versions.Total, s.MetricPoints, s.Files, byteSize(s.Bytes))
	if !p.tty {
		fmt.Fprintln(p.w, "import:", line)
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s", bar(s.Runs.Done(), s.Runs.Total, 24), line)
	if final {
		fmt.Fprintln(p.w)
	}
}

// bar is a text progress bar of done out of total.
func bar(done, total, width int) string {
	fill := width
	if total > 0 {
		fill = done * width / total
	}
	return "[" + strings.Repeat("#", fill) + strings.Repeat(".", width-fill) + "]"
}

func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func printImportSummary(w io.Writer, from, artifacts string, s mlflowimport.Stats) {
	fmt.Fprintf(w, "Imported from MLflow %s:\n", redactURI(from))
	row := func(name string, c mlflowimport.Count) {
		fmt.Fprintf(w, "  %-18s %6d created, %6d updated, %6d skipped (already in Lode)\n", name, c.Created, c.Updated, c.Skipped)
	}
	row("experiments", s.Experiments)
	row("runs", s.Runs)
	row("logged models", s.LoggedModels)
	row("registered models", s.Models)
	row("model versions", s.Versions)
	row("aliases", s.Aliases)
	fmt.Fprintf(w, "  written: %d params, %d tags, %d metric points\n", s.Params, s.Tags, s.MetricPoints)
	if artifacts == "" {
		fmt.Fprintln(w, "  artifacts: not copied (no --artifacts)")
	} else {
		fmt.Fprintf(w, "  artifacts: %d files copied (%s), %d already in Lode\n", s.Files, byteSize(s.Bytes), s.FilesSkipped)
	}
	for _, warn := range s.Warnings {
		fmt.Fprintln(w, "  warning:", warn)
	}
}
