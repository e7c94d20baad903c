package mlflowapi_test

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlflowapi"
)

// TestMLflowVersionIsPinned: the MLflow API version /version answers is
// the mlflow the compatibility suite runs (and so the one Lode is tested
// against), so that the two cannot drift apart.
func TestMLflowVersionIsPinned(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "tests", "python", "requirements-mlflow3.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pinned := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "mlflow=="); ok {
			pinned = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if pinned != mlflowapi.MLflowVersion {
		t.Errorf("requirements-mlflow3.txt pins mlflow==%s, mlflowapi.MLflowVersion is %s", pinned, mlflowapi.MLflowVersion)
	}
}

// TestGenAINotImplemented: MLflow 3's GenAI calls (traces, spans,
// assessments, datasets, scorers, the gateway) get MLflow's 501
// NOT_IMPLEMENTED, under every prefix and for every method, and the span
// export's answer holds the phrase that makes the client stop exporting.
func TestGenAINotImplemented(t *testing.T) {
	e := newAPIEnv(t)
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/3.0/mlflow/traces"},
		{"POST", "/api/3.0/mlflow/traces/search"},
		{"GET", "/api/3.0/mlflow/traces/tr-1"},
		{"PATCH", "/api/2.0/mlflow/traces/tr-1/tags"},
		{"POST", "/api/3.0/mlflow/traces/tr-1/assessments"},
		{"GET", "/ajax-api/3.0/mlflow/traces/tr-1/assessments/a-1"},
		{"GET", "/api/2.0/mlflow/traces"},
		{"POST", "/api/3.0/mlflow/datasets/create"},
		{"GET", "/api/3.0/mlflow/scorers/list"},
		{"GET", "/ajax-api/3.0/mlflow/gateway/endpoints/list"},
		{"POST", "/api/3.0/mlflow/prompt-optimization/jobs"},
		{"POST", mlflowapi.OTLPTracesPath},
	} {
		r := e.do(c.method, c.path, "{}")
		wantError(t, r, http.StatusNotImplemented, lode.ENotImplemented, c.method+" "+c.path)
	}
	r := e.do("POST", mlflowapi.OTLPTracesPath, "{}")
	if msg, _ := r.JSON["message"].(string); !strings.Contains(msg, "REST OTLP span logging is not supported") {
		t.Errorf("OTLP answer %q lacks the phrase the mlflow exporter reads", msg)
	}
	// Paths next to those families are still unknown endpoints.
	wantError(t, e.do("GET", "/api/2.0/mlflow/tracesx", nil), http.StatusNotFound, lode.EEndpointNotFound, "tracesx")
}
