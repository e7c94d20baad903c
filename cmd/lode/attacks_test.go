package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/lode-ml/lode/auth"
)

// Requests an attacker would send, each of which once got through (a
// security review found them): they must be refused now.

// A registered model named "*" (or renamed so) would make its creator the
// manager of every model; a name with a NUL would open every model to
// their searches; a grant on "*" is the admins' alone.
func TestWildcardNamesAreRefused(t *testing.T) {
	e, _ := newMatrixEnv(t)
	for _, name := range []string{"*", "\x00", "a\tb"} {
		if status, b := e.do("bob", "POST", "/api/2.0/mlflow/registered-models/create", nil, map[string]string{"name": name}); status != 400 {
			t.Errorf("a model named %q: %d %s, want 400", name, status, b)
		}
	}
	e.must("bob", "POST", "/api/2.0/mlflow/registered-models/create", map[string]string{"name": "bobs"}, nil)
	if status, b := e.do("bob", "POST", "/api/2.0/mlflow/registered-models/rename", nil, map[string]string{"name": "bobs", "new_name": "*"}); status != 400 {
		t.Errorf("renaming to '*': %d %s, want 400", status, b)
	}
	var exp struct {
		ExperimentID string `json:"experiment_id"`
	}
	e.must("bob", "POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": "bob's"}, &exp)
	for _, rt := range []string{"experiment", "registered_model"} {
		status, b := e.do("bob", "POST", "/api/3.0/mlflow/users/permissions/grant", nil, map[string]string{
			"username": "carol", "resource_type": rt, "resource_id": "*", "permission": "READ"})
		if status != 403 {
			t.Errorf("bob granting %s '*': %d %s, want 403", rt, status, b)
		}
	}
	// bob still manages only his own.
	alice := e.newFixture()
	if status, _ := e.do("bob", "GET", "/api/2.0/mlflow/registered-models/get", qv("name", alice.model), nil); status != 403 {
		t.Errorf("bob reads alice's model: %d, want 403", status)
	}
}

// Experiment 1 is also "01" to the store: a DENY on 1 holds for "01".
func TestExperimentIDAliases(t *testing.T) {
	e, _ := newMatrixEnv(t)
	e.auth.Default = auth.Read // as lode server ships
	fx := e.newFixture()
	if err := e.auth.Grant(context.Background(), "bob", auth.Experiment, fx.exp, auth.Deny, false); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{fx.exp, "0" + fx.exp, "00" + fx.exp, "+" + fx.exp} {
		if status, b := e.do("bob", "GET", "/api/2.0/mlflow/experiments/get", qv("experiment_id", id), nil); status != 403 {
			t.Errorf("experiments/get %q as bob (DENY on %s): %d %.120s, want 403", id, fx.exp, status, b)
		}
		if status, b := e.do("bob", "POST", "/api/2.0/mlflow/runs/create", nil, map[string]string{"experiment_id": id}); status != 403 {
			t.Errorf("runs/create in %q as bob: %d %.120s, want 403", id, status, b)
		}
		if status, _ := e.do("bob", "GET", "/experiments/"+url.PathEscape(id), nil, nil); status != 403 && status != 404 && status != 400 {
			t.Errorf("the UI's /experiments/%s as bob: %d, want a refusal", id, status)
		}
	}
	// A grant made on "01" is a grant on 1.
	e.must("admin", "POST", "/api/3.0/mlflow/users/permissions/grant", map[string]string{
		"username": "carol", "resource_type": "experiment", "resource_id": "0" + fx.exp, "permission": "EDIT"}, nil)
	var got struct{ Permission string }
	e.must("admin", "GET", "/api/3.0/mlflow/users/permissions/get?username=carol&resource_type=experiment&resource_id="+fx.exp, nil, &got)
	if got.Permission != "EDIT" {
		t.Errorf("a grant on '0%s' gives carol %s on %s, want EDIT", fx.exp, got.Permission, fx.exp)
	}
}

// A HEAD to a GET route is judged on what its handler reads (the query),
// not on a body the guard did not look at.
func TestHeadIsJudgedOnItsQuery(t *testing.T) {
	e, _ := newMatrixEnv(t)
	alice := e.newFixture()
	var run struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	var exp struct {
		ExperimentID string `json:"experiment_id"`
	}
	e.must("bob", "POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": "bob's"}, &exp)
	e.must("bob", "POST", "/api/2.0/mlflow/runs/create", map[string]string{"experiment_id": exp.ExperimentID}, &run)
	status, _ := e.do("bob", "GET", "/api/2.0/mlflow/runs/get", qv("run_id", run.Run.Info.RunID), nil)
	get, _ := http.NewRequest("HEAD", e.url+"/api/2.0/mlflow/runs/get?run_id="+run.Run.Info.RunID,
		strings.NewReader(`{"run_id": "`+alice.run+`"}`))
	get.Header.Set("Content-Type", "application/json")
	get.Header.Set("Authorization", "Bearer "+e.tokens["bob"])
	res, err := http.DefaultClient.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if status != 200 || res.StatusCode != 200 {
		t.Fatalf("GET %d, HEAD %d", status, res.StatusCode)
	}
	var mine map[string]any
	_, b := e.do("bob", "GET", "/api/2.0/mlflow/runs/get", qv("run_id", run.Run.Info.RunID), nil)
	json.Unmarshal(b, &mine)
	if res.ContentLength >= 0 && res.ContentLength != int64(len(b)) {
		t.Errorf("HEAD answered about %d bytes, bob's run is %d: it read the body's run", res.ContentLength, len(b))
	}
}

// Guessing the current password through a stolen token is throttled as
// signing in is.
func TestCurrentPasswordGuessesAreThrottled(t *testing.T) {
	e, _ := newMatrixEnv(t)
	var last int
	for i := 0; i < 12; i++ {
		last, _ = e.do("bob", "PATCH", "/api/2.0/mlflow/users/update-password", nil, map[string]string{
			"username": "bob", "password": "a brand new password", "current_password": "guess number " + string(rune('a'+i))})
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("the 12th wrong current password: %d, want 429", last)
	}
}

// A refusal reads the same whether the run exists or not, and names the
// run, not its experiment.
func TestRefusalsAreNoOracle(t *testing.T) {
	e, _ := newMatrixEnv(t)
	alice := e.newFixture()
	missing := strings.Repeat("ab", 16)
	var a, b struct{ Message string }
	_, ra := e.do("bob", "GET", "/api/2.0/mlflow/runs/get", qv("run_id", alice.run), nil)
	_, rb := e.do("bob", "GET", "/api/2.0/mlflow/runs/get", qv("run_id", missing), nil)
	json.Unmarshal(ra, &a)
	json.Unmarshal(rb, &b)
	if strings.ReplaceAll(a.Message, alice.run, "X") != strings.ReplaceAll(b.Message, missing, "X") || strings.Contains(a.Message, "experiment") {
		t.Errorf("refusals differ or name the experiment:\n  existing: %s\n  missing:  %s", a.Message, b.Message)
	}
}

// A version may come from a run that does not exist (as in MLflow 3); a
// caller who may not read runs by default is refused it as they are a
// run they may not read, and a logged model that does not exist is
// refused to them as one that does: the answer tells nothing.
func TestVersionSourcesThatDoNotExist(t *testing.T) {
	e, _ := newMatrixEnv(t)
	alice := e.newFixture()
	e.must("bob", "POST", "/api/2.0/mlflow/registered-models/create", map[string]string{"name": "bobs"}, nil)
	missingRun, missingModel := strings.Repeat("ab", 16), "m-"+strings.Repeat("cd", 16)
	create := func(body map[string]string) (int, string) {
		t.Helper()
		body["name"] = "bobs"
		status, b := e.do("bob", "POST", "/api/2.0/mlflow/model-versions/create", nil, body)
		return status, string(b)
	}
	for _, c := range []struct{ existing, missing map[string]string }{
		{map[string]string{"source": "runs:/" + alice.run + "/model", "run_id": alice.run},
			map[string]string{"source": "runs:/" + missingRun + "/model", "run_id": missingRun}},
		{map[string]string{"source": "s3://b/k", "run_id": alice.run},
			map[string]string{"source": "s3://b/k", "run_id": missingRun}},
		{map[string]string{"source": "models:/" + alice.loggedModel},
			map[string]string{"source": "models:/" + missingModel}},
		{map[string]string{"source": "s3://b/k", "model_id": alice.loggedModel},
			map[string]string{"source": "s3://b/k", "model_id": missingModel}},
	} {
		se, be := create(c.existing)
		sm, bm := create(c.missing)
		if se != 403 || sm != 403 {
			t.Errorf("bob registers %v: %d %s; %v: %d %s; want 403 for both", c.existing, se, be, c.missing, sm, bm)
		}
	}
	// Where runs are readable by default, a version from a run that does
	// not exist is recorded, and one from a missing logged model is 404.
	e.auth.Default = auth.Read
	if status, b := create(map[string]string{"source": "runs:/" + missingRun + "/model", "run_id": missingRun}); status != 200 {
		t.Errorf("bob registers from a run that does not exist (default READ): %d %s, want 200", status, b)
	}
	if status, b := create(map[string]string{"source": "models:/" + missingModel}); status != 404 {
		t.Errorf("bob registers from a logged model that does not exist (default READ): %d %s, want 404", status, b)
	}
}
