package serving_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/serving"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// A version registered from a run that did not exist was checked against
// nobody's right to read that run: the server does not deploy it, not even
// once a run of that id exists (an import keeps MLflow's run ids).
func TestStoreSourceRefusesVersionsOfRunsThatDidNotExist(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lode.db"), sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	track := &tracking.Service{Store: db}
	reg := &registry.Service{Store: db, Tracking: track, ArtifactScheme: "mlflow-artifacts:"}
	src := &serving.StoreSource{Registry: reg, Scheme: "mlflow-artifacts:",
		RunArtifactURI: func(ctx context.Context, id string) (string, error) {
			run, err := track.GetRun(ctx, id)
			if err != nil {
				return "", err
			}
			return run.Info.ArtifactURI, nil
		}}
	if _, err := reg.CreateModel(ctx, "m", "", nil); err != nil {
		t.Fatal(err)
	}
	exp, err := track.CreateExperiment(ctx, "e", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	missing := tracking.NewID()
	if _, err := reg.CreateVersion(ctx, registry.CreateVersionRequest{Name: "m", Source: "runs:/" + missing + "/model"}); err != nil {
		t.Fatal(err)
	}
	// The run appears, as an import would make it.
	if _, err := db.CreateRun(ctx, tracking.RunInfo{RunID: missing, ExperimentID: exp, Status: "FINISHED",
		LifecycleStage: tracking.StageActive, ArtifactURI: "mlflow-artifacts:/" + exp + "/" + missing + "/artifacts"}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = src.Resolve(ctx, serving.Ref{Kind: serving.RefRegistry, Name: "m", Version: "1"})
	if lode.ErrorCode(err) != lode.EInvalid || !strings.Contains(lode.ErrorMessage(err), "did not exist") {
		t.Errorf("Resolve of a version from a run that did not exist: %v, want %s", err, lode.EInvalid)
	}
	// A version registered now, from the run that exists, is deployed.
	if _, err := reg.CreateVersion(ctx, registry.CreateVersionRequest{Name: "m", Source: "runs:/" + missing + "/model"}); err != nil {
		t.Fatal(err)
	}
	got, err := src.Resolve(ctx, serving.Ref{Kind: serving.RefRegistry, Name: "m", Version: "2"})
	if err != nil || got.Location != "mlflow-artifacts:/"+exp+"/"+missing+"/artifacts/model" {
		t.Errorf("Resolve of version 2: %+v, %v", got, err)
	}
}
