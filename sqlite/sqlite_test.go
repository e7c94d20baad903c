package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
	"github.com/lode-ml/lode/tracking/trackingtest"
)

var opts = sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:"}

// open opens a database at path and closes it when the test ends.
func open(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	trackingtest.Run(t, func(t *testing.T) tracking.Store {
		return open(t, filepath.Join(t.TempDir(), "lode.db"))
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lode.db")

	db, err := sqlite.Open(ctx, path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	v1, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if v1 < 1 {
		t.Fatalf("SchemaVersion after Open = %d, want >= 1", v1)
	}
	// A second handle on the same file while the first is open.
	db2 := open(t, path)
	if v, err := db2.SchemaVersion(ctx); err != nil || v != v1 {
		t.Errorf("SchemaVersion of a second handle = %d, %v; want %d", v, err, v1)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for range 2 {
		db := open(t, path)
		if v, err := db.SchemaVersion(ctx); err != nil || v != v1 {
			t.Errorf("SchemaVersion after reopening = %d, %v; want %d", v, err, v1)
		}
		exps, _, err := db.SearchExperiments(ctx, tracking.ExperimentQuery{ViewType: tracking.AllViews, MaxResults: 100})
		if err != nil {
			t.Fatalf("SearchExperiments: %v", err)
		}
		if len(exps) != 1 || exps[0].ID != tracking.DefaultExperimentID {
			t.Errorf("experiments after reopening: %d, want only Default", len(exps))
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "lode.db") // Open creates the directories
	db, err := sqlite.Open(ctx, path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	svc := &tracking.Service{Store: db}
	exp, err := svc.CreateExperiment(ctx, "kept", "", []tracking.Tag{{Key: "k", Value: "v"}})
	if err != nil {
		t.Fatalf("CreateExperiment: %v", err)
	}
	run, err := svc.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: exp, RunName: "r"})
	if err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	id := run.Info.RunID
	err = svc.LogBatch(ctx, id,
		[]tracking.Metric{{Key: "m", Value: 1, Timestamp: 1, Step: 0}, {Key: "m", Value: 2, Timestamp: 2, Step: 1}},
		[]tracking.Param{{Key: "p", Value: "x"}}, []tracking.Tag{{Key: "t", Value: "y"}})
	if err != nil {
		t.Fatalf("LogBatch: %v", err)
	}
	if err := svc.DeleteExperiment(ctx, exp); err != nil {
		t.Fatalf("DeleteExperiment: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = open(t, path)
	svc = &tracking.Service{Store: db}
	e, err := svc.GetExperimentByName(ctx, "kept")
	if err != nil {
		t.Fatalf("GetExperimentByName after reopening: %v", err)
	}
	if e.ID != exp || e.LifecycleStage != tracking.StageDeleted || len(e.Tags) != 1 {
		t.Errorf("experiment after reopening: %+v", e)
	}
	r, err := svc.GetRun(ctx, id)
	if err != nil {
		t.Fatalf("GetRun after reopening: %v", err)
	}
	if r.Info.RunName != "r" || r.Info.LifecycleStage != tracking.StageDeleted || len(r.Params) != 1 || len(r.Metrics) != 1 || r.Metrics[0].Value != 2 {
		t.Errorf("run after reopening: %+v", r)
	}
	hist, _, err := svc.GetMetricHistory(ctx, tracking.MetricHistoryQuery{RunID: id, Key: "m"})
	if err != nil || len(hist) != 2 {
		t.Errorf("history after reopening: %v, %v", hist, err)
	}
	// Ids keep counting: a new experiment does not reuse the old id.
	exp2, err := svc.CreateExperiment(ctx, "new", "", nil)
	if err != nil {
		t.Fatalf("CreateExperiment after reopening: %v", err)
	}
	if exp2 == exp || exp2 == tracking.DefaultExperimentID {
		t.Errorf("new experiment got id %s (old %s)", exp2, exp)
	}
}

func TestOpenInvalidOptions(t *testing.T) {
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqlite.Options{Synchronous: "SOMETIMES"})
	if lode.ErrorCode(err) != lode.EInvalid {
		t.Errorf("Open with synchronous=SOMETIMES: %v, want %s", err, lode.EInvalid)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "y.db"), sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatalf("Open with synchronous=normal: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestPathFromURI(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"sqlite:///rel.db", "rel.db"},
		{"sqlite:///dir/rel.db", "dir/rel.db"},
		{"sqlite:////abs/x.db", "/abs/x.db"},
		{"sqlite:////abs/dir/x.db?timeout=5", "/abs/dir/x.db"},
		{"sqlite:///mlruns.db?mode=rwc", "mlruns.db"},
	} {
		got, err := sqlite.PathFromURI(c.uri)
		if err != nil || got != c.want {
			t.Errorf("PathFromURI(%q) = %q, %v; want %q", c.uri, got, err, c.want)
		}
	}
	for _, bad := range []string{
		"", "rel.db", "/abs/x.db", "postgresql://localhost/db", "mysql://x/y", "file:x.db",
		"sqlite:", "sqlite:/x.db", "sqlite://", "sqlite:///", "sqlite://host/x.db",
	} {
		if got, err := sqlite.PathFromURI(bad); err == nil {
			t.Errorf("PathFromURI(%q) = %q, want an error", bad, got)
		} else if lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("PathFromURI(%q): %v, want %s", bad, err, lode.EInvalid)
		}
	}
}

// A URI whose path is empty once the query is cut off names no file.
func TestPathFromURIEmptyPath(t *testing.T) {
	const bad = "sqlite:///?mode=ro"
	if got, err := sqlite.PathFromURI(bad); err == nil {
		t.Errorf("PathFromURI(%q) = %q with no error, want an error", bad, got)
	}
}
