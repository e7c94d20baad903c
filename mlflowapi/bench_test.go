package mlflowapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// BenchmarkLogBatchHandler measures one runs/log-batch call of 1000 metrics
// (100 keys x 10 steps) through the whole handler: JSON decoding,
// validation and the SQLite write.
func BenchmarkLogBatchHandler(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "lode.db"), sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:"})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := &tracking.Service{Store: db}
	h := (&mlflowapi.Server{Tracking: svc}).Handler()
	run, err := svc.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: "0"})
	if err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, 16)
	for i := range bodies {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, `{"run_id": %q, "metrics": [`, run.Info.RunID)
		for k := 0; k < 1000; k++ {
			if k > 0 {
				buf.WriteString(", ")
			}
			fmt.Fprintf(&buf, `{"key": "metric_%d", "value": %d.25, "timestamp": 1764000000000, "step": %d}`, k%100, k, i*10+k/100)
		}
		buf.WriteString("]}")
		bodies[i] = buf.Bytes()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/api/2.0/mlflow/runs/log-batch", bytes.NewReader(bodies[i%len(bodies)]))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
