package mlflowapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/lode-ml/lode"
)

// genAIAPIs are the families of MLflow 3's GenAI API (mlflow/protos
// service.proto) that Lode does not implement yet: traces and their
// assessments, evaluation datasets, scorers, issues, labelling and review
// queues, prompt optimization and the AI gateway.
var genAIAPIs = []string{"traces", "unified-traces", "get-online-trace-details", "datasets", "scorers",
	"issues", "label-schemas", "review-queues", "prompt-optimization", "gateway"}

// OTLPTracesPath is where the mlflow client exports spans (OpenTelemetry's
// OTLP over HTTP; mlflow.log_spans and the tracing exporter).
const OTLPTracesPath = "/v1/traces"

// genAIPath reports whether the URL path p is in a family of genAIAPIs
// under one of MLflow's API prefixes.
func genAIPath(p string) bool {
	for _, prefix := range []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/"} {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		family, _, _ := strings.Cut(rest, "/")
		return slices.Contains(genAIAPIs, family)
	}
	return false
}

// notImplemented is MLflow's own error for what a server does not
// support: 501 NOT_IMPLEMENTED. The client raises it as an
// MlflowException, and its tracing exporter, which catches export errors,
// logs a warning and lets the traced code go on. The GenAI families answer
// it for any path and method (from noRoute: they serve nothing, so they
// are not routes with rules; an unknown endpoint is answered to anyone
// alike).
func notImplemented(r *http.Request) error {
	return lode.Errorf(lode.ENotImplemented,
		"%s %s is not implemented: Lode does not serve MLflow's GenAI API (traces, assessments, evaluation datasets, scorers, the AI gateway) yet.", r.Method, r.URL.Path)
}

// routeOTLP answers span export with 501 NOT_IMPLEMENTED. The message
// holds the phrase MLflow's server uses when its store cannot log spans,
// which the client's exporter reads to stop sending spans.
func (s *Server) routeOTLP() {
	s.route("POST "+OTLPTracesPath, SignedInRule(), func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, lode.Errorf(lode.ENotImplemented, "REST OTLP span logging is not supported by Lode: it does not store traces yet."))
	})
}
