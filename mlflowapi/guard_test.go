package mlflowapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// TestGuardRefusesDuplicateParameters: a request that names its resource
// twice — in another case, escaped, or simply again — is refused before
// its handler runs. The guard would judge one name while encoding/json,
// which matches names case-insensitively and keeps the last, hands the
// handler another: a user could set the admin's password, or write to
// runs they may only read.
func TestGuardRefusesDuplicateParameters(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lode.db"), sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	as := &auth.Service{Store: db}
	if _, err := as.CreateUser(ctx, "admin", "the admin's password", true); err != nil {
		t.Fatal(err)
	}
	mallory, err := as.CreateUser(ctx, "mallory", "mallory's password", false)
	if err != nil {
		t.Fatal(err)
	}
	me := auth.NewContext(ctx, &auth.Identity{User: mallory, Basic: true})
	svc := &tracking.Service{Store: db}
	newRun := func(name string, owner *auth.Identity) string {
		exp, err := svc.CreateExperiment(ctx, name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if owner != nil {
			if err := as.GrantCreator(ctx, owner, auth.Experiment, exp); err != nil {
				t.Fatal(err)
			}
		}
		run, err := svc.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: exp})
		if err != nil {
			t.Fatal(err)
		}
		return run.Info.RunID
	}
	own := newRun("mallory's", auth.FromContext(me))
	theirs := newRun("someone else's", nil) // mallory may read it (the default), not write
	h := (&mlflowapi.Server{Tracking: svc, Auth: as, Guard: &mlflowapi.Guard{Auth: as, Find: benchFinder{svc}}}).Handler()
	do := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(me, method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	metric := `"metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}]`

	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/api/2.0/mlflow/users/update-password", `{"username": "mallory", "password": "a new password", "USERNAME": "admin"}`},
		{"PATCH", "/api/2.0/mlflow/users/update-password", `{"username": "mallory", "password": "a new password", "username": "admin"}`},
		{"PATCH", "/api/2.0/mlflow/users/update-password", `{"username": "mallory", "password": "a new password", "u\u017Fername": "admin"}`},
		{"PATCH", "/api/2.0/mlflow/users/update-password", `{"username": "mallory", "password": "a new password", "user\u006eame": "admin"}`},
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id": "` + own + `", ` + metric + `, "Run_Id": "` + theirs + `"}`},
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id": "` + own + `", "run_id": "` + theirs + `", ` + metric + `}`},
		{"GET", "/api/2.0/mlflow/users/get?username=mallory&USERNAME=admin", ""},
		{"GET", "/api/2.0/mlflow/users/get?username=mallory&username=admin", ""},
		{"GET", "/api/2.0/mlflow/users/get?username=mallory&u%C5%BFername=admin", ""},
		{"GET", "/api/2.0/mlflow/metrics/get-history-bulk-interval?metric_key=m&run_ids=" + own + "&RUN_IDS=" + theirs, ""},
	} {
		w := do(c.method, c.path, c.body)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Duplicate parameter") {
			t.Errorf("%s %s %s: got %d %s, want 400 for the duplicate parameter", c.method, c.path, c.body, w.Code, w.Body)
		}
	}
	if _, err := as.Login(ctx, "admin", "a new password", "test"); err == nil {
		t.Fatal("mallory set the admin's password")
	}
	if run, err := svc.GetRun(ctx, theirs); err != nil || len(run.Metrics) != 0 {
		t.Fatalf("someone else's run: %v, metrics %v; want none logged", err, run.Metrics)
	}

	// What clients send passes: a run named once, both of a metric's
	// names for its run, a user's own password.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id": "` + own + `", ` + metric + `}`},
		{"POST", "/api/2.0/mlflow/runs/log-metric", `{"run_uuid": "` + own + `", "key": "m", "value": 2, "timestamp": 2, "run_id": "` + own + `"}`},
		{"GET", "/api/2.0/mlflow/metrics/get-history-bulk-interval?metric_key=m&run_ids=" + own + "&run_ids=" + own, ""},
		{"PATCH", "/api/2.0/mlflow/users/update-password", `{"username": "mallory", "password": "a new password"}`},
	} {
		if w := do(c.method, c.path, c.body); w.Code != http.StatusOK {
			t.Errorf("%s %s %s: got %d %s, want 200", c.method, c.path, c.body, w.Code, w.Body)
		}
	}
	// Someone else's run, named once, stays out of reach.
	if w := do("POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id": "`+theirs+`", `+metric+`}`); w.Code != http.StatusForbidden {
		t.Errorf("log-batch to someone else's run: got %d %s, want 403", w.Code, w.Body)
	}
}
