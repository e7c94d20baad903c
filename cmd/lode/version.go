package main

import (
	"fmt"
	"net/http"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/lode-ml/lode/mlflowapi"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Lode's version and the MLflow API version it implements",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "lode %s (%s, %s/%s)\nMLflow API %s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, mlflowapi.MLflowVersion)
			return nil
		},
	}
}

// withVersionHeader sends Lode's version with every response: GET
// /version answers the MLflow API version, for the mlflow client.
func withVersionHeader(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(mlflowapi.VersionHeader, version)
		h.ServeHTTP(w, r)
	})
}
