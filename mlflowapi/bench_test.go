package mlflowapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/gate"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// benchModes are how the benchmarks call the server: open, without
// authentication; basic and token, with it, as the owner of the
// experiment, who is no admin (admins skip the permission checks), with
// HTTP Basic or a bearer token through gate.Authn, as lode server does.
var benchModes = []string{"open", "basic", "token"}

// BenchmarkLogBatchHandler measures one runs/log-batch call of 1000 metrics
// (100 keys x 10 steps) through the whole handler: authentication, the
// permission check, JSON decoding, validation and the SQLite write.
func BenchmarkLogBatchHandler(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			f := newBenchFixture(b, mode)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.serve(b, "/api/2.0/mlflow/runs/log-batch", f.bodies[i%len(f.bodies)])
			}
		})
	}
}

// BenchmarkSearchRunsHandler measures one runs/search over 1000 runs
// (filter metrics.m > 0.5, order_by metrics.m DESC, max_results 100, as
// bench/trackingbench sends it) through the whole handler.
func BenchmarkSearchRunsHandler(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			f := newBenchFixture(b, mode)
			rnd := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 1000; i++ {
				run, err := f.svc.CreateRun(f.ctx, tracking.CreateRunRequest{ExperimentID: f.exp})
				if err != nil {
					b.Fatal(err)
				}
				ms := []tracking.Metric{{Key: "m", Value: rnd.Float64(), Timestamp: 1}, {Key: "loss", Value: rnd.Float64(), Timestamp: 1}}
				if err := f.svc.LogBatch(f.ctx, run.Info.RunID, ms, []tracking.Param{{Key: "lr", Value: "0.01"}}, nil); err != nil {
					b.Fatal(err)
				}
			}
			body := []byte(`{"experiment_ids": ["` + f.exp + `"], "filter": "metrics.m > 0.5", "order_by": ["metrics.m DESC"], "max_results": 100}`)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.serve(b, "/api/2.0/mlflow/runs/search", body)
			}
		})
	}
}

// BenchmarkGuardLogBatch measures the permission check of one runs/log-batch
// call of 1000 metrics alone, as the experiment's owner: finding the run
// in the body, its experiment and the owner's grants (both cached after
// the first call).
func BenchmarkGuardLogBatch(b *testing.B) {
	f := newBenchFixture(b, "basic")
	rule := mlflowapi.On(mlflowapi.TargetRun, auth.NeedUpdate, "run_id", "run_uuid")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequestWithContext(f.ctx, http.MethodPost, "/api/2.0/mlflow/runs/log-batch", bytes.NewReader(f.bodies[i%len(f.bodies)]))
		req.Header.Set("Content-Type", "application/json")
		if err := f.guard.Check(req, rule); err != nil {
			b.Fatal(err)
		}
	}
}

type benchFixture struct {
	handler http.Handler
	guard   *mlflowapi.Guard
	svc     *tracking.Service
	ctx     context.Context // carries the owner, for calls that skip the handler
	authz   string          // the Authorization header of requests
	exp     string          // the owner's experiment
	run     string          // a run in it
	bodies  [][]byte        // log-batch bodies for the run
}

// serve sends a POST through the handler and wants 200.
func (f *benchFixture) serve(b testing.TB, path string, body []byte) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if f.authz != "" {
		req.Header.Set("Authorization", f.authz)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("%s: status %d: %s", path, w.Code, w.Body)
	}
}

// newBenchFixture makes a server on a fresh SQLite database with an
// experiment, a run in it and log-batch bodies for the run; with
// authentication (mode basic or token), the experiment belongs to a user
// who is no admin, the caller.
func newBenchFixture(b testing.TB, mode string) *benchFixture {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "lode.db"), sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc := &tracking.Service{Store: db}
	f := &benchFixture{svc: svc, ctx: auth.NewContext(ctx, auth.OpenIdentity)}
	authn := &gate.Authn{APIPrefixes: []string{"/api/"}}
	if mode != "open" {
		as := &auth.Service{Store: db}
		const password = "a password of twelve"
		u, err := as.CreateUser(ctx, "owner", password, false)
		if err != nil {
			b.Fatal(err)
		}
		id := &auth.Identity{User: u}
		f.ctx = auth.NewContext(ctx, id)
		f.guard = &mlflowapi.Guard{Auth: as, Find: benchFinder{svc}}
		svc.Readable = f.guard.Readable
		authn.Auth = as
		f.authz = "Basic " + base64.StdEncoding.EncodeToString([]byte("owner:"+password))
		if mode == "token" {
			secret, _, err := as.CreateToken(ctx, u, "bench", auth.TokenAPI, 0, "")
			if err != nil {
				b.Fatal(err)
			}
			f.authz = "Bearer " + secret
		}
	}
	if f.exp, err = svc.CreateExperiment(f.ctx, "bench", "", nil); err != nil {
		b.Fatal(err)
	}
	if f.guard != nil {
		if err := f.guard.Auth.GrantCreator(ctx, auth.FromContext(f.ctx), auth.Experiment, f.exp); err != nil {
			b.Fatal(err)
		}
	}
	f.handler = authn.Handler((&mlflowapi.Server{Tracking: svc, Guard: f.guard}).Handler())
	run, err := svc.CreateRun(f.ctx, tracking.CreateRunRequest{ExperimentID: f.exp})
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
