package mlflowapi

import (
	"context"
	"net/http"
	"runtime"
)

// MLflowVersion is the version of MLflow's API that Lode implements: the
// newest mlflow 3.x the compatibility suite pins
// (tests/python/requirements-mlflow3.txt; TestMLflowVersionIsPinned keeps
// the two equal). GET /version answers it, not Lode's own version,
// because the mlflow client reads /version to decide which features the
// server has (log_spans needs 3.4 or later, for example): a Lode version
// such as 0.1.0 would turn features off, or make the client refuse them
// with an error about the server's version.
const MLflowVersion = "3.17.2"

// VersionHeader names the response header in which lode server and lode
// serve send Lode's own version.
const VersionHeader = "X-Lode-Version"

// VersionInfo is what GET /api/2.0/lode/version answers.
type VersionInfo struct {
	LodeVersion      string `json:"lode_version"`
	MLflowAPIVersion string `json:"mlflow_api_version"`
	GoVersion        string `json:"go_version"`
}

// NewVersionInfo describes a Lode of version lodeVersion.
func NewVersionInfo(lodeVersion string) VersionInfo {
	return VersionInfo{LodeVersion: lodeVersion, MLflowAPIVersion: MLflowVersion, GoVersion: runtime.Version()}
}

// routeVersion serves MLflow's /version and Lode's own.
func (s *Server) routeVersion() {
	s.route("GET /version", PublicRule(), func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(MLflowVersion))
	})
	s.handleUnder([]string{"/api/2.0/lode/", "/ajax-api/2.0/lode/"}, "GET", "version", PublicRule(), func(context.Context, *http.Request) (any, error) {
		return NewVersionInfo(s.Version), nil
	})
}
