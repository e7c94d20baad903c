package postgres_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/auth/authtest"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/jobs/jobstest"
	"github.com/lode-ml/lode/postgres"
	"github.com/lode-ml/lode/postgres/pgtest"
	"github.com/lode-ml/lode/registry/registrytest"
	"github.com/lode-ml/lode/serving"
	"github.com/lode-ml/lode/tracking"
	"github.com/lode-ml/lode/tracking/trackingtest"
)

// cluster is the throwaway PostgreSQL server of this test binary.
var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

// MaxConns bounds each test's pool, so that -parallel tests on a big
// machine stay under the server's max_connections.
var opts = postgres.Options{DefaultArtifactRoot: "mlflow-artifacts:", MaxConns: 8}

// template is a migrated database the tests' databases copy, so that each
// test does not pay for the migrations (TestMigrations* run them afresh).
const template = "lode_template"

// newDSN returns the DSN of a fresh, migrated database for t.
func newDSN(t *testing.T) string {
	t.Helper()
	cluster.Require(t)
	err := cluster.CreateTemplate(context.Background(), template, func(dsn string) error {
		_, err := postgres.Migrate(context.Background(), dsn)
		return err
	})
	if err != nil {
		t.Fatalf("template database: %v", err)
	}
	return cluster.NewDatabaseFrom(t, template)
}

// open opens the database at dsn and closes it when the test ends.
func open(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	cluster.Require(t)
	trackingtest.Run(t, func(t *testing.T) tracking.Store {
		return open(t, newDSN(t))
	})
}

func TestRegistry(t *testing.T) {
	cluster.Require(t)
	registrytest.Run(t, func(t *testing.T) registrytest.Stores {
		db := open(t, newDSN(t))
		return registrytest.Stores{Registry: db, Tracking: db}
	})
}

func TestJobs(t *testing.T) {
	cluster.Require(t)
	jobstest.Run(t, func(t *testing.T) jobs.Store {
		return open(t, newDSN(t))
	})
}

func TestAuth(t *testing.T) {
	cluster.Require(t)
	authtest.Run(t, func(t *testing.T) auth.Store {
		return open(t, newDSN(t))
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	dsn := cluster.NewDatabase(t) // empty: Open migrates it

	db, err := postgres.Open(ctx, dsn, opts)
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
	db2 := open(t, dsn)
	if v, err := db2.SchemaVersion(ctx); err != nil || v != v1 {
		t.Errorf("SchemaVersion of a second handle = %d, %v; want %d", v, err, v1)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if v, err := postgres.Migrate(ctx, dsn); err != nil || v != v1 {
		t.Errorf("Migrate of a migrated database = %d, %v; want %d", v, err, v1)
	}
	for range 2 {
		db := open(t, dsn)
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

// Servers starting at once on an empty database: the advisory lock makes
// one migrate and the others find the work done.
func TestMigrationsConcurrent(t *testing.T) {
	ctx := context.Background()
	dsn := cluster.NewDatabase(t)
	const servers = 6
	var wg sync.WaitGroup
	dbs := make([]*postgres.DB, servers)
	errs := make([]error, servers)
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = postgres.Open(ctx, dsn, opts)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		defer dbs[i].Close()
	}
	if t.Failed() {
		return
	}
	exps, _, err := dbs[0].SearchExperiments(ctx, tracking.ExperimentQuery{ViewType: tracking.AllViews, MaxResults: 100})
	if err != nil || len(exps) != 1 {
		t.Errorf("experiments after concurrent opens: %d, %v; want only Default", len(exps), err)
	}
}

// A database migrated by a newer lode is refused, not misread.
func TestMigrationsNewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := newDSN(t)
	db := open(t, dsn)
	if _, err := db.Pool().Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(ctx, dsn, opts); lode.ErrorCode(err) != lode.EInvalidState {
		t.Errorf("Open of a newer schema: %v, want %s", err, lode.EInvalidState)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dsn := newDSN(t)
	db, err := postgres.Open(ctx, dsn, opts)
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

	db = open(t, dsn)
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
	exp2, err := svc.CreateExperiment(ctx, "new", "", nil)
	if err != nil {
		t.Fatalf("CreateExperiment after reopening: %v", err)
	}
	if exp2 == exp || exp2 == tracking.DefaultExperimentID {
		t.Errorf("new experiment got id %s (old %s)", exp2, exp)
	}
}

// serving has no shared suite for its store; this covers the contract:
// put creates or replaces, delete of a missing name is fine, list is by
// name.
func TestDeployments(t *testing.T) {
	ctx := context.Background()
	var db serving.DeploymentStore = open(t, newDSN(t))
	for _, d := range []serving.Deployment{
		{Name: "b", ModelURI: "models:/m/1", CreationTime: 1},
		{Name: "a", ModelURI: "models:/m/2", CreationTime: 2},
		{Name: "b", ModelURI: "models:/m/3", CreationTime: 3},
	} {
		if err := db.PutDeployment(ctx, d); err != nil {
			t.Fatalf("PutDeployment(%s): %v", d.Name, err)
		}
	}
	ds, err := db.ListDeployments(ctx)
	if err != nil {
		t.Fatalf("ListDeployments: %v", err)
	}
	if len(ds) != 2 || ds[0].Name != "a" || ds[1].Name != "b" || ds[1].ModelURI != "models:/m/3" {
		t.Errorf("ListDeployments = %+v; want a, then b replaced by m3", ds)
	}
	if err := db.DeleteDeployment(ctx, "a"); err != nil {
		t.Fatalf("DeleteDeployment: %v", err)
	}
	if err := db.DeleteDeployment(ctx, "missing"); err != nil {
		t.Errorf("DeleteDeployment of a missing name: %v", err)
	}
	if ds, err := db.ListDeployments(ctx); err != nil || len(ds) != 1 || ds[0].Name != "b" {
		t.Errorf("ListDeployments after delete = %+v, %v", ds, err)
	}
}

func TestDSNFromURI(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"postgresql://u:p@localhost:5432/db", "postgresql://u:p@localhost:5432/db"},
		{"postgres://u@127.0.0.1/db?sslmode=disable", "postgresql://u@127.0.0.1/db?sslmode=disable"},
		{"postgresql+psycopg2://u:p@h:5433/mlflow", "postgresql://u:p@h:5433/mlflow"},
	} {
		got, err := postgres.DSNFromURI(c.uri)
		if err != nil || got != c.want {
			t.Errorf("DSNFromURI(%q) = %q, %v; want %q", c.uri, got, err, c.want)
		}
		if !postgres.IsURI(c.uri) {
			t.Errorf("IsURI(%q) = false", c.uri)
		}
	}
	for _, bad := range []string{"", "sqlite:///x.db", "mysql://u@h/db", "postgresql://", "postgresql:/x", "host=localhost dbname=x"} {
		if got, err := postgres.DSNFromURI(bad); err == nil {
			t.Errorf("DSNFromURI(%q) = %q, want an error", bad, got)
		} else if lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("DSNFromURI(%q): %v, want %s", bad, err, lode.EInvalid)
		}
	}
	// Refusals never quote a password.
	for _, bad := range []string{"mysql://u:SECRETPW@h/db", "postgresql://?password=SECRETPW", "postgresql://u:SECRETPW@h:notaport/db",
		"postgresql://u:SECRETPW@h/db?sslmode=nonsense", "postgresql://u:SECRET%PW@h/db"} {
		if _, err := postgres.DSNFromURI(bad); err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("DSNFromURI(%q): %v, want an error without the password", bad, err)
		}
		if _, err := postgres.Open(context.Background(), bad, postgres.Options{}); err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("Open(%q): %v, want an error without the password", bad, err)
		}
	}
	for _, uri := range []string{"sqlite:///x.db", "mysql://u@h/db", "postgresql", ""} {
		if postgres.IsURI(uri) {
			t.Errorf("IsURI(%q) = true", uri)
		}
	}
}
