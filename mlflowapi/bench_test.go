package mlflowapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// BenchmarkLogBatchHandler measures one runs/log-batch call of 1000 metrics
// (100 keys x 10 steps) through the whole handler: JSON decoding,
// validation and the SQLite write; open: on a server without
// authentication, owner: with it, as the experiment's owner, who is no
// admin, so that the permission check runs (gate.Authn has put the
// identity in the context).
func BenchmarkLogBatchHandler(b *testing.B) {
	for _, mode := range []string{"open", "owner"} {
		b.Run(mode, func(b *testing.B) {
			f := newBenchFixture(b, mode == "owner")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := f.request(i)
				w := httptest.NewRecorder()
				f.handler.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkGuardLogBatch measures the permission check of one runs/log-batch
// call of 1000 metrics alone, as the experiment's owner: finding the run
// in the body, its experiment and the owner's grants (both cached after
// the first call).
func BenchmarkGuardLogBatch(b *testing.B) {
	f := newBenchFixture(b, true)
	rule := mlflowapi.On(mlflowapi.TargetRun, auth.NeedUpdate, "run_id", "run_uuid")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f.guard.Check(f.request(i), rule); err != nil {
			b.Fatal(err)
		}
	}
}

type benchFixture struct {
	handler http.Handler
	guard   *mlflowapi.Guard
	svc     *tracking.Service
	ctx     context.Context // carries the caller
	run     string
	bodies  [][]byte
}

func (f *benchFixture) request(i int) *http.Request {
	req := httptest.NewRequestWithContext(f.ctx, http.MethodPost, "/api/2.0/mlflow/runs/log-batch", bytes.NewReader(f.bodies[i%len(f.bodies)]))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// newBenchFixture makes a server on a fresh SQLite database with one run,
// and log-batch bodies for it; with authentication, the run's experiment
// belongs to a user who is no admin, the caller.
func newBenchFixture(b testing.TB, withAuth bool) *benchFixture {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "lode.db"), sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc := &tracking.Service{Store: db}
	f := &benchFixture{svc: svc, ctx: auth.NewContext(ctx, auth.OpenIdentity)}
	exp := "0"
	if withAuth {
		as := &auth.Service{Store: db}
		u, err := as.CreateUser(ctx, "owner", "a password of twelve", false)
		if err != nil {
			b.Fatal(err)
		}
		id := &auth.Identity{User: u}
		f.ctx = auth.NewContext(ctx, id)
		if exp, err = svc.CreateExperiment(f.ctx, "owned", "", nil); err != nil {
			b.Fatal(err)
		}
		if err := as.GrantCreator(ctx, id, auth.Experiment, exp); err != nil {
			b.Fatal(err)
		}
		f.guard = &mlflowapi.Guard{Auth: as, Find: benchFinder{svc}}
	}
	f.handler = (&mlflowapi.Server{Tracking: svc, Guard: f.guard}).Handler()
	run, err := svc.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: exp})
	if err != nil {
		b.Fatal(err)
	}
	f.run = run.Info.RunID
	f.bodies = make([][]byte, 16)
	for i := range f.bodies {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, `{"run_id": %q, "metrics": [`, run.Info.RunID)
		for k := 0; k < 1000; k++ {
			if k > 0 {
				buf.WriteString(", ")
			}
			fmt.Fprintf(&buf, `{"key": "metric_%d", "value": %d.25, "timestamp": 1764000000000, "step": %d}`, k%100, k, i*10+k/100)
		}
		buf.WriteString("]}")
		f.bodies[i] = buf.Bytes()
	}
	return f
}

// benchFinder finds runs' experiments in the tracking service.
type benchFinder struct{ tracking *tracking.Service }

func (f benchFinder) RunExperiment(ctx context.Context, id string) (string, error) {
	return f.tracking.RunExperiment(ctx, id)
}

func (benchFinder) LoggedModelExperiment(context.Context, string) (string, error) {
	return "", lode.Errorf(lode.ENotFound, "no logged models here")
}

func (benchFinder) ExperimentID(context.Context, string) (string, error) {
	return "", lode.Errorf(lode.ENotFound, "no experiment names here")
}

func (benchFinder) JobOwner(context.Context, string) (string, string, error) {
	return "", "", lode.Errorf(lode.ENotFound, "no jobs here")
}
