package mlflowimport

import (
	"path/filepath"
	"testing"
)

// URIs that point into MLflow's artifact root map to Lode's proxy, with an
// experiment's folder moved to the Lode experiment it was imported into;
// others stay as they are.
func TestRewrite(t *testing.T) {
	root := t.TempDir()
	im := &Importer{ArtifactRoot: root}
	im.addPrefix("mlflow-artifacts:/3", "mlflow-artifacts:/7")
	im.addPrefix("mlflow-artifacts:/0", "mlflow-artifacts:/0")
	for in, want := range map[string]string{
		"mlflow-artifacts:/3/abc/artifacts":                        "mlflow-artifacts:/7/abc/artifacts",
		"mlflow-artifacts://127.0.0.1:5000/3/models/m-1/artifacts": "mlflow-artifacts:/7/models/m-1/artifacts",
		"mlflow-artifacts:/0/r/artifacts/model":                    "mlflow-artifacts:/0/r/artifacts/model",
		"mlflow-artifacts:/33/x":                                   "mlflow-artifacts:/33/x", // not experiment 3's
		filepath.Join(root, "3", "r", "artifacts"):                 "mlflow-artifacts:/7/r/artifacts",
		"file://" + filepath.Join(root, "5", "r"):                  "mlflow-artifacts:/5/r",
		"s3://bucket/3/r":                                          "s3://bucket/3/r",
		"runs:/abc/model":                                          "runs:/abc/model",
		"models:/m-123":                                            "models:/m-123",
		filepath.Join(filepath.Dir(root), "elsewhere", "x"):        filepath.Join(filepath.Dir(root), "elsewhere", "x"),
		"mlflow-artifacts:/3/../../etc":                            "mlflow-artifacts:/3/../../etc", // unsafe: left alone
	} {
		if got := im.rewrite(in); got != want {
			t.Errorf("rewrite(%q) = %q, want %q", in, got, want)
		}
	}
}
