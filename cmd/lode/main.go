// Command lode is Lode's single binary: the tracking server and the tools
// around it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0.dev0"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lode:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "lode",
		Short: "Lode: the data-science platform in one binary",
		Long: `Lode is an open-source data-science platform in one binary:

  tracking and registry  experiments, runs, metrics, artifacts, registered
                         models: MLflow's REST API, which the mlflow client
                         uses unchanged; SQLite or PostgreSQL, disk or S3
  web UI                 runs tables, charts, comparisons, models, jobs, at /
  model serving          lode serve, or deployments on the server, over
                         MLflow's, TF Serving's and KServe V2's protocols
  jobs and projects      lode job, lode run: commands and MLflow Projects
                         queued on the machine's CPUs, memory and GPUs,
                         each tracked as a run
  users and permissions  MLflow's basic-auth API, tokens, TLS

Start the server (everything under ./lode-data; --data-dir moves it):

  lode server

then point the mlflow client, and the commands below, at it:

  export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
  lode runs list --experiment wine`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddGroup(
		&cobra.Group{ID: "server", Title: "Servers:"},
		&cobra.Group{ID: "client", Title: "Working with a server:"},
		&cobra.Group{ID: "admin", Title: "Setup and tools:"},
	)
	for _, g := range []struct {
		id   string
		cmds []*cobra.Command
	}{
		{"server", []*cobra.Command{newServerCmd(), newServeCmd()}},
		{"client", []*cobra.Command{newExperimentsCmd(), newRunsCmd(), newModelsCmd(), newDeployCmd(), newJobCmd(), newRunCmd(), newTuneCmd(), newTokenCmd()}},
		{"admin", []*cobra.Command{newEnvCmd(), newDBCmd(), newImportCmd(), newVersionCmd()}},
	} {
		for _, c := range g.cmds {
			c.GroupID = g.id
			root.AddCommand(c)
		}
	}
	root.SetHelpCommandGroupID("admin")
	root.SetCompletionCommandGroupID("admin")
	refuseUnknownCommands(root)
	root.SetFlagErrorFunc(suggestFlag)

	// lode --version prints what lode version prints.
	showVersion := root.Flags().Bool("version", false, "print Lode's version, as lode version does")
	group := root.RunE
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if *showVersion {
			v, _, err := cmd.Find([]string{"version"})
			if err != nil {
				return err
			}
			return v.RunE(v, nil)
		}
		return group(cmd, args)
	}
	return root
}

// refuseUnknownCommands makes every command that groups others (lode,
// lode job, lode models alias...) answer a word that is none of its
// commands with an error that suggests the nearest, as cobra does only for
// the root: cobra would print the group's help and exit 0.
func refuseUnknownCommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknownCommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
		}
		return fmt.Errorf("%s\n\nRun '%s --help' for usage", msg, cmd.CommandPath())
	}
}

// suggestFlag adds the nearest flag's name to an unknown flag's error.
func suggestFlag(cmd *cobra.Command, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return err
	}
	best, bestDist := "", 3 // farther than 2 edits is no suggestion
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(name, f.Name)
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" {
		return err
	}
	return fmt.Errorf("%w\n\nDid you mean this?\n\t--%s", err, best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
