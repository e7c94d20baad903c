package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// A registered model that a deployment serves can be neither deleted nor
// renamed, by anyone: its name would be free, and whoever made a new model
// under it would choose what the deployment serves. Once the deployments
// are gone, it can.
func TestDeployedModelsStayPut(t *testing.T) {
	e, _ := newMatrixEnv(t)
	fx := e.newFixture()
	for name, uri := range map[string]string{"follows": "models:/" + fx.model + "@champion", "pinned": "models:/" + fx.model + "/1"} {
		e.must("alice", "POST", "/api/2.0/lode/deployments/create", map[string]any{"name": name, "model_uri": uri, "runtime": "onnx"}, nil)
	}
	refused := func(who, path string, body any) {
		t.Helper()
		method := "POST"
		if strings.HasSuffix(path, "delete") {
			method = "DELETE"
		}
		status, b := e.do(who, method, path, nil, body)
		var out struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		}
		json.Unmarshal(b, &out)
		if status != 400 || out.ErrorCode != "INVALID_PARAMETER_VALUE" || !strings.Contains(out.Message, "deployments 'follows', 'pinned' serve it") ||
			!strings.Contains(out.Message, "Delete the deployments first") {
			t.Errorf("%s %s as %s: %d %s; want 400 INVALID_PARAMETER_VALUE naming the deployments", method, path, who, status, b)
		}
	}
	for _, who := range []string{"alice", "admin"} {
		refused(who, "/api/2.0/mlflow/registered-models/delete", map[string]any{"name": fx.model})
		refused(who, "/api/2.0/mlflow/registered-models/rename", map[string]any{"name": fx.model, "new_name": fx.model + "-renamed"})
	}
	e.must("alice", "GET", "/api/2.0/mlflow/registered-models/get?name="+fx.model, nil, nil)

	// A model no deployment serves goes as before.
	other := e.newFixture()
	e.must("alice", "POST", "/api/2.0/mlflow/registered-models/rename", map[string]any{"name": other.model, "new_name": other.model + "-renamed"}, nil)
	e.must("alice", "DELETE", "/api/2.0/mlflow/registered-models/delete", map[string]any{"name": other.model + "-renamed"}, nil)

	// One deployment left: named alone.
	e.must("alice", "DELETE", "/api/2.0/lode/deployments/delete", map[string]any{"name": "pinned"}, nil)
	if status, b := e.do("alice", "DELETE", "/api/2.0/mlflow/registered-models/delete", nil, map[string]any{"name": fx.model}); status != 400 ||
		!strings.Contains(string(b), "deployment 'follows' serves it. Delete the deployment first.") {
		t.Errorf("delete with one deployment left: %d %s", status, b)
	}
	e.must("alice", "DELETE", "/api/2.0/lode/deployments/delete", map[string]any{"name": "follows"}, nil)
	e.must("alice", "POST", "/api/2.0/mlflow/registered-models/rename", map[string]any{"name": fx.model, "new_name": fx.model + "-renamed"}, nil)
	e.must("alice", "DELETE", "/api/2.0/mlflow/registered-models/delete", map[string]any{"name": fx.model + "-renamed"}, nil)
}
