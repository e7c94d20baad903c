// Command lode is Lode's single binary: the tracking server and the tools
// around it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
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
		Long: `Lode is an open-source data-science platform in one binary: experiment
tracking that the mlflow client uses unchanged, with more to come.

Start the server with embedded defaults (SQLite, artifacts on local disk):

  lode server

then point the mlflow client at it:

  export MLFLOW_TRACKING_URI=http://127.0.0.1:5000`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCmd(), newServeCmd(), newDeployCmd(), newJobCmd(), newRunCmd(), newEnvCmd(), newDBCmd(), newVersionCmd(), newModelsCmd(), newImportCmd(), newTokenCmd())
	return root
}
