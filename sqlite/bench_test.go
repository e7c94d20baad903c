package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// BenchmarkLogBatch1000 measures one log-batch of 1000 metrics (100 keys x
// 10 steps) through the service, as the tracking benchmark sends them.
func BenchmarkLogBatch1000(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "lode.db"), sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:", Synchronous: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			svc := &tracking.Service{Store: db}
			run, err := svc.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: "0"})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ms := make([]tracking.Metric, 0, 1000)
				for k := 0; k < 100; k++ {
					for s := 0; s < 10; s++ {
						ms = append(ms, tracking.Metric{Key: fmt.Sprintf("metric_%d", k), Value: float64(i*10 + s), Timestamp: int64(i), Step: int64(i*10 + s)})
					}
				}
				if err := svc.LogBatch(ctx, run.Info.RunID, ms, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
