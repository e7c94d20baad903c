package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/inferapi"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/localexec"
	"github.com/lode-ml/lode/localfs"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/optunagrpc"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/serving"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
	"github.com/lode-ml/lode/tune"
	"github.com/lode-ml/lode/tuner"
	"github.com/lode-ml/lode/web"
)

// The permission matrix: every route lode server mounts (read from the
// router itself: the API's, the UI's, /metrics and the inference
// protocols) is called by an anonymous caller, an admin, the owner of what
// it names, and another user holding each permission level on it, and
// each answer is checked against the route's rule: allowed means any
// status but 401 and 403, refused means exactly 401 (anonymous) or 403.
// A route without a sample request here fails the test, so a new endpoint
// must say how it is guarded to land.

// matrixSample says how to call one route: what to send, what the other
// user's level is granted on, and, where the handler checks more than the
// rule says, what to expect instead.
type matrixSample struct {
	// on is the fixture resource the other user's level is granted on:
	// "exp", "model", "deployment" or "" (none: levels do not matter).
	on string
	// req returns the request's path (after the route's own prefix, with
	// wildcards filled in) and its query or JSON body.
	req func(fx *fixture) (path string, q url.Values, body any)
	// need, when set, overrides the rule's: the handler checks this need
	// on `on` for a signed-in caller (deployments/create checks the model).
	need auth.Need
	// alsoRead grants the other user READ on the experiment as well (a
	// model version's source must be readable by whoever registers it).
	alsoRead bool
}

// fixture is one set of resources, created by alice through the API.
type fixture struct {
	exp, run, loggedModel, model, job, deployment, token string
	// study is made by the runner on first use (studyID): its runs and
	// job would change what the search tests count. pageStudy is made in
	// the store directly, tied to exp, for the UI's pages.
	study, pageStudy   int64
	newStudy           func() int64
	roleID, rolePermID int64
}

type matrixEnv struct {
	t      *testing.T
	url    string
	auth   *auth.Service
	db     *sqlite.DB
	tokens map[string]string // user → bearer token
	n      int
	// studies runs the fixtures' studies.
	studies *tuner.Runner
}

func (e *matrixEnv) do(user, method, path string, q url.Values, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		raw, _ := json.Marshal(b)
		rd, ctype = bytes.NewReader(raw), "application/json"
	}
	u := e.url + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if tok := e.tokens[user]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// must calls as user and fails unless the answer is 200.
func (e *matrixEnv) must(user, method, path string, body any, out any) {
	e.t.Helper()
	status, b := e.do(user, method, path, nil, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s %s as %s: %d %s", method, path, user, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatal(err)
		}
	}
}

// newFixture has alice create an experiment, a run with an artifact, a
// logged model, a registered model with a version and an alias, a job, a
// deployment's ownership and a token; the admin makes a role.
func (e *matrixEnv) newFixture() *fixture {
	e.t.Helper()
	e.n++
	ctx := context.Background()
	fx := &fixture{model: fmt.Sprintf("model-%d", e.n), deployment: fmt.Sprintf("dep-%d", e.n)}
	var exp struct {
		ExperimentID string `json:"experiment_id"`
	}
	e.must("alice", "POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": fmt.Sprintf("exp-%d", e.n)}, &exp)
	fx.exp = exp.ExperimentID
	var run struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	e.must("alice", "POST", "/api/2.0/mlflow/runs/create", map[string]string{"experiment_id": fx.exp}, &run)
	fx.run = run.Run.Info.RunID
	e.must("alice", "POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": fx.run,
		"metrics": []map[string]any{{"key": "m", "value": 1, "timestamp": 1, "step": 0}}}, nil)
	e.must("alice", "PUT", "/api/2.0/mlflow-artifacts/artifacts/"+fx.exp+"/"+fx.run+"/artifacts/f.txt", []byte("hello"), nil)
	var lm struct {
		Model struct {
			Info struct {
				ModelID string `json:"model_id"`
			} `json:"info"`
		} `json:"model"`
	}
	e.must("alice", "POST", "/api/2.0/mlflow/logged-models", map[string]string{"experiment_id": fx.exp, "name": "lm"}, &lm)
	fx.loggedModel = lm.Model.Info.ModelID
	e.must("alice", "POST", "/api/2.0/mlflow/registered-models/create", map[string]string{"name": fx.model}, nil)
	e.must("alice", "POST", "/api/2.0/mlflow/model-versions/create", map[string]string{"name": fx.model, "source": "runs:/" + fx.run + "/artifacts"}, nil)
	e.must("alice", "POST", "/api/2.0/mlflow/registered-models/alias", map[string]string{"name": fx.model, "alias": "champion", "version": "1"}, nil)
	fx.job = fmt.Sprintf("job-%d", e.n)
	if err := e.db.CreateJob(ctx, &jobs.Job{ID: fx.job, State: jobs.Succeeded, Submitted: time.Now().UnixMilli(),
		Spec: jobs.Spec{Name: "j", Command: "true", User: "alice", Owner: "alice", ExperimentID: fx.exp, Env: map[string]string{"SECRET": "s3cr3t"}}}); err != nil {
		e.t.Fatal(err)
	}
	study, err := (&tune.Service{Store: e.db}).CreateStudy(ctx, &tune.Study{Name: fmt.Sprintf("page-study-%d", e.n), Directions: []tune.Direction{tune.Minimize},
		SystemAttrs: map[string]string{tune.ExperimentAttr: fmt.Sprintf("%q", fx.exp)}})
	if err != nil {
		e.t.Fatal(err)
	}
	fx.pageStudy = study
	n := e.n
	fx.newStudy = func() int64 {
		st, err := e.studies.Create(ctx, matrixStudy(fmt.Sprintf("study-%d", n), fx.exp, "alice"))
		if err != nil {
			e.t.Fatal(err)
		}
		return st.ID
	}
	alice, _ := e.auth.User(ctx, "alice")
	if err := e.auth.GrantCreator(ctx, &auth.Identity{User: alice}, auth.Deployment, fx.deployment); err != nil {
		e.t.Fatal(err)
	}
	var tok struct {
		Token struct{ ID string } `json:"token"`
	}
	e.must("alice", "POST", "/api/2.0/lode/tokens/create", map[string]any{"name": "spare"}, &tok)
	fx.token = tok.Token.ID
	var role struct {
		Role struct{ ID int64 } `json:"role"`
	}
	e.must("admin", "POST", "/api/3.0/mlflow/roles/create", map[string]string{"workspace": "default", "name": fmt.Sprintf("role-%d", e.n)}, &role)
	fx.roleID = role.Role.ID
	var rp struct {
		RolePermission struct{ ID int64 } `json:"role_permission"`
	}
	e.must("admin", "POST", "/api/3.0/mlflow/roles/permissions/add", map[string]any{"role_id": fx.roleID,
		"resource_type": "experiment", "resource_pattern": fx.exp, "permission": "READ"}, &rp)
	fx.rolePermID = rp.RolePermission.ID
	return fx
}

// studyID is the fixture's study, made on first use.
func (fx *fixture) studyID() int64 {
	if fx.study == 0 {
		fx.study = fx.newStudy()
	}
	return fx.study
}

// matrixStudy is a one-trial study whose trial does nothing (it fails:
// it logs no metric).
func matrixStudy(name, exp, owner string) tuner.Spec {
	low, high := 0.0, 1.0
	return tuner.Spec{Name: name, ExperimentID: exp, Owner: owner, User: owner,
		Space:     []tune.ParamSpec{{Name: "x", Type: tune.Float, Low: &low, High: &high}},
		Objective: tuner.Objective{Metric: "loss"}, Budget: tuner.Budget{MaxTrials: 1}, Trial: tuner.Trial{Command: "true"}}
}

// setLevel gives bob exactly level on the fixture's resource (none for "").
func (e *matrixEnv) setLevel(fx *fixture, on string, level auth.Permission, alsoRead bool) {
	e.t.Helper()
	ctx := context.Background()
	types := map[string]struct {
		t  auth.ResourceType
		id string
	}{"exp": {auth.Experiment, fx.exp}, "model": {auth.RegisteredModel, fx.model}, "deployment": {auth.Deployment, fx.deployment}}
	for _, r := range types {
		e.auth.Revoke(ctx, "bob", r.t, r.id)
	}
	if r, ok := types[on]; ok && level != "" {
		if err := e.auth.Grant(ctx, "bob", r.t, r.id, level, true); err != nil {
			e.t.Fatal(err)
		}
	}
	if alsoRead && on != "exp" {
		e.auth.Grant(ctx, "bob", auth.Experiment, fx.exp, auth.Read, true)
	}
}

func qv(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// Helpers for the sample table.
func sGet(on string, f func(fx *fixture) url.Values) matrixSample {
	return matrixSample{on: on, req: func(fx *fixture) (string, url.Values, any) { return "", f(fx), nil }}
}

func sSend(on string, f func(fx *fixture) any) matrixSample {
	return matrixSample{on: on, req: func(fx *fixture) (string, url.Values, any) { return "", nil, f(fx) }}
}

func sAt(on string, path func(fx *fixture) string, body func(fx *fixture) any) matrixSample {
	return matrixSample{on: on, req: func(fx *fixture) (string, url.Values, any) {
		var b any
		if body != nil {
			b = body(fx)
		}
		return path(fx), nil, b
	}}
}

func none(*fixture) url.Values { return nil }

// matrixSamples are keyed by method and pattern without the API prefix
// (/api/2.0/, /ajax-api/2.0/, /api/3.0/, /ajax-api/3.0/).
func matrixSamples() map[string]matrixSample {
	runQ := func(fx *fixture) url.Values { return qv("run_id", fx.run) }
	runB := func(fx *fixture) any { return map[string]any{"run_id": fx.run} }
	expB := func(fx *fixture) any { return map[string]any{"experiment_id": fx.exp} }
	modelQ := func(fx *fixture) url.Values { return qv("name", fx.model) }
	modelB := func(fx *fixture) any { return map[string]any{"name": fx.model} }
	verQ := func(fx *fixture) url.Values { return qv("name", fx.model, "version", "1") }
	lmPath := func(suffix string) func(fx *fixture) string {
		return func(fx *fixture) string { return "logged-models/" + fx.loggedModel + suffix }
	}
	grantB := func(fx *fixture) any {
		return map[string]any{"username": "carol", "resource_type": "experiment", "resource_id": fx.exp, "permission": "READ"}
	}
	s := map[string]matrixSample{
		"GET /health":            sGet("", func(*fixture) url.Values { return nil }),
		"GET /version":           sGet("", func(*fixture) url.Values { return nil }),
		"GET mlflow/server-info": sGet("", func(*fixture) url.Values { return nil }),
		"GET lode/version":       sGet("", none),
		"POST /v1/traces":        sAt("", func(*fixture) string { return "/v1/traces" }, func(*fixture) any { return map[string]any{} }),
		"POST mlflow/experiments/create": sSend("", func(fx *fixture) any {
			return map[string]string{"name": fmt.Sprintf("new-%s-%d", fx.exp, time.Now().UnixNano())}
		}),
		"GET mlflow/experiments/get":         sGet("exp", func(fx *fixture) url.Values { return qv("experiment_id", fx.exp) }),
		"GET mlflow/experiments/get-by-name": sGet("exp", func(fx *fixture) url.Values { return qv("experiment_name", "exp-"+fx.model[len("model-"):]) }),
		"POST mlflow/experiments/search":     sSend("", func(*fixture) any { return map[string]any{"max_results": 10} }),
		"GET mlflow/experiments/search":      sGet("", func(*fixture) url.Values { return qv("max_results", "10") }),
		"POST mlflow/experiments/update":     sSend("exp", func(fx *fixture) any { return map[string]any{"experiment_id": fx.exp, "new_name": "renamed-" + fx.exp} }),
		"POST mlflow/experiments/delete":     sSend("exp", expB),
		"POST mlflow/experiments/restore":    sSend("exp", expB),
		"POST mlflow/experiments/set-experiment-tag": sSend("exp", func(fx *fixture) any {
			return map[string]any{"experiment_id": fx.exp, "key": "k", "value": "v"}
		}),
		"POST mlflow/experiments/delete-experiment-tag": sSend("exp", func(fx *fixture) any { return map[string]any{"experiment_id": fx.exp, "key": "k"} }),
		"POST mlflow/runs/create":                       sSend("exp", expB),
		"GET mlflow/runs/get":                           sGet("exp", runQ),
		"POST mlflow/runs/update":                       sSend("exp", func(fx *fixture) any { return map[string]any{"run_id": fx.run, "status": "FINISHED"} }),
		"POST mlflow/runs/delete":                       sSend("exp", runB),
		"POST mlflow/runs/restore":                      sSend("exp", runB),
		"POST mlflow/runs/log-metric": sSend("exp", func(fx *fixture) any {
			return map[string]any{"run_id": fx.run, "key": "m2", "value": 1, "timestamp": 1}
		}),
		"POST mlflow/runs/log-parameter": sSend("exp", func(fx *fixture) any { return map[string]any{"run_id": fx.run, "key": "p", "value": "1"} }),
		"POST mlflow/runs/set-tag":       sSend("exp", func(fx *fixture) any { return map[string]any{"run_id": fx.run, "key": "t", "value": "1"} }),
		"POST mlflow/runs/delete-tag":    sSend("exp", func(fx *fixture) any { return map[string]any{"run_id": fx.run, "key": "t"} }),
		"POST mlflow/runs/log-batch": sSend("exp", func(fx *fixture) any {
			return map[string]any{"run_id": fx.run, "params": []map[string]string{{"key": "b", "value": "1"}}}
		}),
		"POST mlflow/runs/log-inputs": sSend("exp", runB),
		"POST mlflow/runs/outputs":    sSend("exp", runB),
		"POST mlflow/runs/search":     sSend("", func(fx *fixture) any { return map[string]any{"experiment_ids": []string{fx.exp}} }),
		"GET mlflow/metrics/get-history": sGet("exp", func(fx *fixture) url.Values {
			return qv("run_id", fx.run, "metric_key", "m")
		}),
		"GET mlflow/metrics/get-history-bulk-interval": sGet("exp", func(fx *fixture) url.Values {
			return qv("run_ids", fx.run, "metric_key", "m", "max_results", "10")
		}),
		"GET mlflow/metrics/get-history-bulk": sGet("exp", func(fx *fixture) url.Values {
			return qv("run_id", fx.run, "metric_key", "m")
		}),
		"POST mlflow/experiments/search-datasets": {on: "exp", need: auth.NeedRead, req: func(fx *fixture) (string, url.Values, any) {
			return "", nil, map[string]any{"experiment_ids": []string{fx.exp}}
		}},
		"POST mlflow/upload-artifact": {on: "exp", req: func(fx *fixture) (string, url.Values, any) {
			return "upload-artifact", qv("run_uuid", fx.run, "path", "ui/table.json"), []byte(`{"a": 1}`)
		}},
		"POST /graphql":             sSend("", func(*fixture) any { return map[string]any{"query": `{ test(inputString: "x") { output } }`} }),
		"GET /graphql":              sGet("", func(*fixture) url.Values { return qv("query", `{ test(inputString: "x") { output } }`) }),
		"GET mlflow/artifacts/list": sGet("exp", runQ),
		"POST mlflow/runs/log-model": sSend("exp", func(fx *fixture) any {
			return map[string]any{"run_id": fx.run, "model_json": `{"artifact_path": "model", "flavors": {}}`}
		}),
		"POST mlflow/logged-models":                             sSend("exp", func(fx *fixture) any { return map[string]any{"experiment_id": fx.exp, "name": "lm2"} }),
		"GET mlflow/logged-models/{model_id}":                   sAt("exp", lmPath(""), nil),
		"PATCH mlflow/logged-models/{model_id}":                 sAt("exp", lmPath(""), func(*fixture) any { return map[string]any{"status": "LOGGED_MODEL_READY"} }),
		"DELETE mlflow/logged-models/{model_id}":                sAt("exp", lmPath(""), func(*fixture) any { return map[string]any{} }),
		"PATCH mlflow/logged-models/{model_id}/tags":            sAt("exp", lmPath("/tags"), func(*fixture) any { return map[string]any{"tags": []map[string]string{{"key": "k", "value": "v"}}} }),
		"DELETE mlflow/logged-models/{model_id}/tags/{tag_key}": sAt("exp", lmPath("/tags/k"), func(*fixture) any { return map[string]any{} }),
		"POST mlflow/logged-models/{model_id}/params": sAt("exp", lmPath("/params"), func(*fixture) any {
			return map[string]any{"params": []map[string]string{{"key": "p", "value": "1"}}}
		}),
		"POST mlflow/logged-models/search":                          sSend("", func(fx *fixture) any { return map[string]any{"experiment_ids": []string{fx.exp}} }),
		"GET mlflow/logged-models/{model_id}/artifacts/directories": sAt("exp", lmPath("/artifacts/directories"), nil),
		"GET mlflow/logged-models/{model_id}/artifacts/files": {on: "exp", req: func(fx *fixture) (string, url.Values, any) {
			return "logged-models/" + fx.loggedModel + "/artifacts/files", qv("artifact_file_path", "x.txt"), nil
		}},
		"POST mlflow/registered-models/create": sSend("", func(fx *fixture) any {
			return map[string]any{"name": fmt.Sprintf("new-%s-%d", fx.model, time.Now().UnixNano())}
		}),
		"GET mlflow/registered-models/get":     sGet("model", modelQ),
		"POST mlflow/registered-models/rename": sSend("model", func(fx *fixture) any { return map[string]any{"name": fx.model, "new_name": fx.model + "-renamed"} }),
		"PATCH mlflow/registered-models/update": sSend("model", func(fx *fixture) any {
			return map[string]any{"name": fx.model, "description": "d"}
		}),
		"DELETE mlflow/registered-models/delete":            sSend("model", modelB),
		"GET mlflow/registered-models/search":               sGet("", none),
		"POST mlflow/registered-models/get-latest-versions": sSend("model", modelB),
		"GET mlflow/registered-models/get-latest-versions":  sGet("model", modelQ),
		"POST mlflow/registered-models/set-tag":             sSend("model", func(fx *fixture) any { return map[string]any{"name": fx.model, "key": "k", "value": "v"} }),
		"DELETE mlflow/registered-models/delete-tag":        sSend("model", func(fx *fixture) any { return map[string]any{"name": fx.model, "key": "k"} }),
		"POST mlflow/registered-models/alias":               sSend("model", func(fx *fixture) any { return map[string]any{"name": fx.model, "alias": "b", "version": "1"} }),
		"DELETE mlflow/registered-models/alias":             sSend("model", func(fx *fixture) any { return map[string]any{"name": fx.model, "alias": "champion"} }),
		"GET mlflow/registered-models/alias":                sGet("model", func(fx *fixture) url.Values { return qv("name", fx.model, "alias", "champion") }),
		"POST mlflow/model-versions/create": {on: "model", alsoRead: true, req: func(fx *fixture) (string, url.Values, any) {
			return "", nil, map[string]any{"name": fx.model, "source": "runs:/" + fx.run + "/artifacts"}
		}},
		"GET mlflow/model-versions/get":               sGet("model", verQ),
		"PATCH mlflow/model-versions/update":          sSend("model", func(fx *fixture) any { return map[string]any{"name": fx.model, "version": "1", "description": "d"} }),
		"POST mlflow/model-versions/transition-stage": sSend("model", func(fx *fixture) any { return map[string]any{"name": fx.model, "version": "1", "stage": "Staging"} }),
		"DELETE mlflow/model-versions/delete":         sSend("model", func(fx *fixture) any { return map[string]any{"name": fx.model, "version": "1"} }),
		"GET mlflow/model-versions/search":            sGet("", none),
		"GET mlflow/model-versions/get-download-uri":  sGet("model", verQ),
		"POST mlflow/model-versions/set-tag": sSend("model", func(fx *fixture) any {
			return map[string]any{"name": fx.model, "version": "1", "key": "k", "value": "v"}
		}),
		"DELETE mlflow/model-versions/delete-tag": sSend("model", func(fx *fixture) any { return map[string]any{"name": fx.model, "version": "1", "key": "k"} }),
		"GET lode/model-library/search":           sGet("", none),
		"POST lode/deployments/create": {on: "model", need: auth.NeedUpdate, req: func(fx *fixture) (string, url.Values, any) {
			return "", nil, map[string]any{"name": fx.deployment + "-new", "model_uri": "models:/" + fx.model + "/1"}
		}},
		"GET lode/deployments/get":       sGet("deployment", func(fx *fixture) url.Values { return qv("name", fx.deployment) }),
		"GET lode/deployments/list":      sGet("", none),
		"DELETE lode/deployments/delete": sSend("deployment", func(fx *fixture) any { return map[string]any{"name": fx.deployment} }),
		"POST lode/jobs/submit": sSend("exp", func(fx *fixture) any {
			return map[string]any{"name": "j", "command": "true", "experiment_id": fx.exp}
		}),
		"GET lode/jobs/get":     sGet("exp", func(fx *fixture) url.Values { return qv("id", fx.job) }),
		"GET lode/jobs/list":    sGet("", none),
		"POST lode/jobs/cancel": sSend("exp", func(fx *fixture) any { return map[string]any{"id": fx.job} }),
		"GET lode/jobs/logs":    sGet("exp", func(fx *fixture) url.Values { return qv("id", fx.job) }),
		// Studies run code as jobs do; the handlers find the study's
		// experiment and check it.
		"POST lode/studies/create": sSend("exp", func(fx *fixture) any {
			sp := matrixStudy("study-new-"+fx.exp, "", "")
			return map[string]any{"name": sp.Name, "experiment_id": fx.exp, "space": sp.Space, "objective": sp.Objective, "trial": sp.Trial, "budget": sp.Budget}
		}),
		"GET lode/studies/get": {on: "exp", need: auth.NeedRead, req: func(fx *fixture) (string, url.Values, any) {
			return "", qv("study_id", fmt.Sprint(fx.studyID())), nil
		}},
		"GET lode/studies/list": sGet("", none),
		"POST lode/studies/stop": {on: "exp", need: auth.NeedUpdate, req: func(fx *fixture) (string, url.Values, any) {
			return "", nil, map[string]any{"study_id": fx.studyID()}
		}},
		"POST lode/studies/resume": {on: "exp", need: auth.NeedUpdate, req: func(fx *fixture) (string, url.Values, any) {
			return "", nil, map[string]any{"study_id": fx.studyID()}
		}},
		// Accounts.
		"POST mlflow/users/create": sSend("", func(fx *fixture) any {
			return map[string]any{"username": "u-" + fx.exp + fmt.Sprint(time.Now().UnixNano()), "password": "a long password"}
		}),
		"GET mlflow/users/get":                 sGet("", func(*fixture) url.Values { return qv("username", "bob") }),
		"GET mlflow/users/current":             sGet("", none),
		"GET mlflow/users/list":                sGet("", none),
		"PATCH mlflow/users/update-password":   sSend("", func(*fixture) any { return map[string]any{"username": "bob", "password": "bob's password!"} }),
		"PATCH mlflow/users/update-admin":      sSend("", func(*fixture) any { return map[string]any{"username": "carol", "is_admin": false} }),
		"DELETE mlflow/users/delete":           sSend("", func(*fixture) any { return map[string]any{"username": "nobody-at-all"} }),
		"GET mlflow/users/current/permissions": sGet("", none),
		"GET mlflow/users/permissions/list":    sGet("", func(*fixture) url.Values { return qv("username", "bob") }),
		"POST mlflow/users/permissions/grant":  sSend("exp", grantB),
		"POST mlflow/users/permissions/revoke": sSend("exp", grantB),
		"GET mlflow/users/permissions/get": sGet("", func(fx *fixture) url.Values {
			return qv("username", "bob", "resource_type", "experiment", "resource_id", fx.exp)
		}),
		"POST mlflow/experiments/permissions/create":       sSend("exp", grantLegacy("experiment_id", true)),
		"GET mlflow/experiments/permissions/get":           sGet("exp", func(fx *fixture) url.Values { return qv("experiment_id", fx.exp, "username", "carol") }),
		"PATCH mlflow/experiments/permissions/update":      sSend("exp", grantLegacy("experiment_id", true)),
		"DELETE mlflow/experiments/permissions/delete":     sSend("exp", grantLegacy("experiment_id", false)),
		"POST mlflow/registered-models/permissions/create": sSend("model", grantLegacy("name", true)),
		"GET mlflow/registered-models/permissions/get": sGet("model", func(fx *fixture) url.Values {
			return qv("name", fx.model, "username", "carol")
		}),
		"PATCH mlflow/registered-models/permissions/update":  sSend("model", grantLegacy("name", true)),
		"DELETE mlflow/registered-models/permissions/delete": sSend("model", grantLegacy("name", false)),
		"POST mlflow/roles/create": sSend("", func(fx *fixture) any {
			return map[string]any{"workspace": "default", "name": "r-" + fx.model + fmt.Sprint(time.Now().UnixNano())}
		}),
		"GET mlflow/roles/get":       sGet("", func(fx *fixture) url.Values { return qv("role_id", fmt.Sprint(fx.roleID)) }),
		"GET mlflow/roles/list":      sGet("", none),
		"PATCH mlflow/roles/update":  sSend("", func(fx *fixture) any { return map[string]any{"role_id": fx.roleID, "description": "d"} }),
		"DELETE mlflow/roles/delete": sSend("", func(fx *fixture) any { return map[string]any{"role_id": fx.roleID} }),
		"POST mlflow/roles/permissions/add": sSend("", func(fx *fixture) any {
			return map[string]any{"role_id": fx.roleID, "resource_type": "registered_model", "resource_pattern": "*", "permission": "READ"}
		}),
		"DELETE mlflow/roles/permissions/remove": sSend("", func(fx *fixture) any { return map[string]any{"role_permission_id": fx.rolePermID} }),
		"GET mlflow/roles/permissions/list":      sGet("", func(fx *fixture) url.Values { return qv("role_id", fmt.Sprint(fx.roleID)) }),
		"PATCH mlflow/roles/permissions/update": sSend("", func(fx *fixture) any {
			return map[string]any{"role_permission_id": fx.rolePermID, "permission": "EDIT"}
		}),
		"POST mlflow/roles/assign":     sSend("", func(fx *fixture) any { return map[string]any{"username": "carol", "role_id": fx.roleID} }),
		"DELETE mlflow/roles/unassign": sSend("", func(fx *fixture) any { return map[string]any{"username": "carol", "role_id": fx.roleID} }),
		"GET mlflow/users/roles/list":  sGet("", func(*fixture) url.Values { return qv("username", "bob") }),
		"GET mlflow/roles/users/list":  sGet("", func(fx *fixture) url.Values { return qv("role_id", fmt.Sprint(fx.roleID)) }),
		"POST lode/tokens/create":      sSend("", func(*fixture) any { return map[string]any{"name": "t"} }),
		"GET lode/tokens/list":         sGet("", none),
		"POST lode/tokens/revoke":      sSend("", func(fx *fixture) any { return map[string]any{"id": fx.token} }),
		// The artifact proxy.
		"GET mlflow-artifacts/artifacts/{path...}":    sAt("exp", artifactPath, nil),
		"HEAD mlflow-artifacts/artifacts/{path...}":   sAt("exp", artifactPath, nil),
		"PUT mlflow-artifacts/artifacts/{path...}":    sAt("exp", artifactPath, func(*fixture) any { return []byte("new") }),
		"DELETE mlflow-artifacts/artifacts/{path...}": sAt("exp", artifactPath, nil),
		"GET mlflow-artifacts/artifacts": {on: "exp", req: func(fx *fixture) (string, url.Values, any) {
			return "", qv("path", fx.exp+"/"+fx.run+"/artifacts"), nil
		}},
		// The UI.
		"GET /static/":                   sAt("", func(*fixture) string { return "/static/lode.css" }, nil),
		"GET /{$}":                       sAt("", func(*fixture) string { return "/" }, nil),
		"GET /favicon.ico":               sAt("", func(*fixture) string { return "/favicon.ico" }, nil),
		"GET /login":                     sAt("", func(*fixture) string { return "/login" }, nil),
		"POST /login":                    sAt("", func(*fixture) string { return "/login" }, func(*fixture) any { return url.Values{"username": {"carol"}, "password": {"carol's password"}} }),
		"POST /logout":                   sAt("", func(*fixture) string { return "/logout" }, nil),
		"GET /account":                   sAt("", func(*fixture) string { return "/account" }, nil),
		"GET /admin":                     sAt("", func(*fixture) string { return "/admin" }, nil),
		"GET /compare":                   {on: "exp", need: auth.NeedRead, req: func(fx *fixture) (string, url.Values, any) { return "/compare", qv("runs", fx.run), nil }},
		"GET /experiments":               sAt("", func(*fixture) string { return "/experiments" }, nil),
		"GET /experiments/{id}":          sAt("exp", func(fx *fixture) string { return "/experiments/" + fx.exp }, nil),
		"GET /experiments/{id}/runs.csv": sAt("exp", func(fx *fixture) string { return "/experiments/" + fx.exp + "/runs.csv" }, nil),
		"GET /experiments/{experiment}/runs/{id}": sAt("exp", func(fx *fixture) string { return "/experiments/" + fx.exp + "/runs/" + fx.run }, nil),
		"GET /jobs":                             sAt("", func(*fixture) string { return "/jobs" }, nil),
		"GET /jobs/{id}":                        sAt("exp", func(fx *fixture) string { return "/jobs/" + fx.job }, nil),
		"GET /models":                           sAt("", func(*fixture) string { return "/models" }, nil),
		"GET /models/{name}":                    sAt("model", func(fx *fixture) string { return "/models/" + fx.model }, nil),
		"GET /models/{name}/versions/{version}": sAt("model", func(fx *fixture) string { return "/models/" + fx.model + "/versions/1" }, nil),
		"GET /runs/{id}":                        sAt("exp", func(fx *fixture) string { return "/runs/" + fx.run }, nil),
		"GET /experiments/{id}/charts":          sAt("exp", func(fx *fixture) string { return "/experiments/" + fx.exp + "/charts" }, nil),
		"GET /runs/{id}/artifact": {on: "exp", req: func(fx *fixture) (string, url.Values, any) {
			return "/runs/" + fx.run + "/artifact", qv("path", "f.txt"), nil
		}},
		"GET /runs/{id}/preview": {on: "exp", req: func(fx *fixture) (string, url.Values, any) {
			return "/runs/" + fx.run + "/preview", qv("path", "f.txt"), nil
		}},
		"GET /runs/{id}/artifacts":     sAt("exp", func(fx *fixture) string { return "/runs/" + fx.run + "/artifacts" }, nil),
		"GET /metrics":                 sAt("", func(*fixture) string { return "/metrics" }, nil),
		"POST /optuna.StorageService/": sAt("", func(*fixture) string { return "/optuna.StorageService/GetAllStudies" }, func(*fixture) any { return map[string]any{} }),
		"* /v1/":                       sAt("deployment", func(fx *fixture) string { return "/v1/models/" + fx.deployment + ":predict" }, func(*fixture) any { return map[string]any{"instances": [][]float64{{1}}} }),
		"* /v2/":                       sAt("deployment", func(fx *fixture) string { return "/v2/models/" + fx.deployment + "/infer" }, func(*fixture) any { return map[string]any{"inputs": []any{}} }),
		"GET /v2":                      sAt("", func(*fixture) string { return "/v2" }, nil),
		"* /endpoints/":                sAt("deployment", func(fx *fixture) string { return "/endpoints/" + fx.deployment + "/invocations" }, func(*fixture) any { return map[string]any{"inputs": [][]float64{{1}}} }),

		// The study pages: a study takes its experiment's READ (the handler
		// checks it).
		"GET /studies": sAt("", func(*fixture) string { return "/studies" }, nil),
		"GET /studies/{id}": {on: "exp", need: auth.NeedRead, req: func(fx *fixture) (string, url.Values, any) {
			return fmt.Sprintf("/studies/%d", fx.pageStudy), nil, nil
		}},
		"GET /studies/{id}/data": {on: "exp", need: auth.NeedRead, req: func(fx *fixture) (string, url.Values, any) {
			return fmt.Sprintf("/studies/%d/data", fx.pageStudy), nil, nil
		}},
	}
	return s
}

func artifactPath(fx *fixture) string { return fx.exp + "/" + fx.run + "/artifacts/f.txt" }

func grantLegacy(idField string, withPermission bool) func(fx *fixture) any {
	return func(fx *fixture) any {
		b := map[string]any{"username": "carol"}
		if idField == "name" {
			b["name"] = fx.model
		} else {
			b[idField] = fx.exp
		}
		if withPermission {
			b["permission"] = "READ"
		}
		return b
	}
}

// matrixSpec is who may call each route, written down apart from the
// routes' rules (after MLflow 3's basic-auth app, docs/security.md): the
// test checks every rule against it, so that a rule changed by mistake
// fails here. "read", "use", "update", "delete" and "manage" are needs on
// the resource the request names ("+owner": a job's submitter too).
var matrixSpec = map[string]string{
	"* /endpoints/":                  "use",
	"* /v1/":                         "use",
	"* /v2/":                         "use",
	"DELETE lode/deployments/delete": "delete",
	"DELETE mlflow-artifacts/artifacts/{path...}":               "delete",
	"DELETE mlflow/experiments/permissions/delete":              "manage",
	"DELETE mlflow/logged-models/{model_id}":                    "delete",
	"DELETE mlflow/logged-models/{model_id}/tags/{tag_key}":     "delete",
	"DELETE mlflow/model-versions/delete":                       "delete",
	"DELETE mlflow/model-versions/delete-tag":                   "delete",
	"DELETE mlflow/registered-models/alias":                     "delete",
	"DELETE mlflow/registered-models/delete":                    "delete",
	"DELETE mlflow/registered-models/delete-tag":                "update",
	"DELETE mlflow/registered-models/permissions/delete":        "manage",
	"DELETE mlflow/roles/delete":                                "admin",
	"DELETE mlflow/roles/permissions/remove":                    "admin",
	"DELETE mlflow/roles/unassign":                              "admin",
	"DELETE mlflow/users/delete":                                "admin",
	"GET /account":                                              "signed-in",
	"GET /admin":                                                "admin",
	"GET /compare":                                              "signed-in",
	"GET /experiments":                                          "signed-in",
	"GET /experiments/{id}":                                     "read",
	"GET /experiments/{id}/runs.csv":                            "read",
	"GET /experiments/{experiment}/runs/{id}":                   "read",
	"GET /experiments/{id}/charts":                              "read",
	"GET /favicon.ico":                                          "public",
	"GET /health":                                               "public",
	"GET /jobs":                                                 "signed-in",
	"GET /jobs/{id}":                                            "read",
	"GET /login":                                                "public",
	"GET /metrics":                                              "signed-in",
	"POST /optuna.StorageService/":                              "admin",
	"GET /models":                                               "signed-in",
	"GET /models/{name}":                                        "read",
	"GET /models/{name}/versions/{version}":                     "read",
	"GET /runs/{id}":                                            "read",
	"GET /runs/{id}/artifact":                                   "read",
	"GET /runs/{id}/artifacts":                                  "read",
	"GET /runs/{id}/preview":                                    "read",
	"GET /studies":                                              "signed-in",
	"GET /studies/{id}":                                         "signed-in",
	"GET /studies/{id}/data":                                    "signed-in",
	"GET /static/":                                              "public",
	"GET /v2":                                                   "public",
	"GET /version":                                              "public",
	"GET /{$}":                                                  "public",
	"GET lode/deployments/get":                                  "read",
	"GET lode/deployments/list":                                 "signed-in",
	"GET lode/jobs/get":                                         "read",
	"GET lode/jobs/list":                                        "signed-in",
	"GET lode/studies/get":                                      "signed-in",
	"GET lode/studies/list":                                     "signed-in",
	"POST lode/studies/stop":                                    "signed-in",
	"POST lode/studies/resume":                                  "signed-in",
	"POST lode/studies/create":                                  "update",
	"GET lode/jobs/logs":                                        "read",
	"GET lode/model-library/search":                             "signed-in",
	"GET lode/tokens/list":                                      "signed-in",
	"GET lode/version":                                          "public",
	"GET mlflow-artifacts/artifacts":                            "read",
	"GET mlflow-artifacts/artifacts/{path...}":                  "read",
	"GET mlflow/artifacts/list":                                 "read",
	"GET mlflow/experiments/get":                                "read",
	"GET mlflow/experiments/get-by-name":                        "read",
	"GET mlflow/experiments/permissions/get":                    "manage",
	"GET mlflow/experiments/search":                             "signed-in",
	"GET mlflow/logged-models/{model_id}":                       "read",
	"GET mlflow/logged-models/{model_id}/artifacts/directories": "read",
	"GET mlflow/logged-models/{model_id}/artifacts/files":       "read",
	"GET mlflow/metrics/get-history":                            "read",
	"GET mlflow/metrics/get-history-bulk-interval":              "read",
	"GET mlflow/metrics/get-history-bulk":                       "read",
	"POST mlflow/experiments/search-datasets":                   "signed-in",
	"POST mlflow/upload-artifact":                               "update",
	"POST /graphql":                                             "signed-in",
	"GET /graphql":                                              "signed-in",
	"GET mlflow/model-versions/get":                             "read",
	"GET mlflow/model-versions/get-download-uri":                "read",
	"GET mlflow/model-versions/search":                          "signed-in",
	"GET mlflow/registered-models/alias":                        "read",
	"GET mlflow/registered-models/get":                          "read",
	"GET mlflow/registered-models/get-latest-versions":          "read",
	"GET mlflow/registered-models/permissions/get":              "manage",
	"GET mlflow/registered-models/search":                       "signed-in",
	"GET mlflow/roles/get":                                      "admin",
	"GET mlflow/roles/list":                                     "admin",
	"GET mlflow/roles/permissions/list":                         "admin",
	"GET mlflow/roles/users/list":                               "admin",
	"GET mlflow/runs/get":                                       "read",
	"GET mlflow/server-info":                                    "public",
	"GET mlflow/users/current":                                  "signed-in",
	"GET mlflow/users/current/permissions":                      "signed-in",
	"GET mlflow/users/get":                                      "self",
	"GET mlflow/users/list":                                     "signed-in",
	"GET mlflow/users/permissions/get":                          "self",
	"GET mlflow/users/permissions/list":                         "self",
	"GET mlflow/users/roles/list":                               "self",
	"HEAD mlflow-artifacts/artifacts/{path...}":                 "read",
	"PATCH mlflow/experiments/permissions/update":               "manage",
	"PATCH mlflow/logged-models/{model_id}":                     "update",
	"PATCH mlflow/logged-models/{model_id}/tags":                "update",
	"PATCH mlflow/model-versions/update":                        "update",
	"PATCH mlflow/registered-models/permissions/update":         "manage",
	"PATCH mlflow/registered-models/update":                     "update",
	"PATCH mlflow/roles/permissions/update":                     "admin",
	"PATCH mlflow/roles/update":                                 "admin",
	"PATCH mlflow/users/update-admin":                           "admin",
	"PATCH mlflow/users/update-password":                        "self",
	"POST /login":                                               "public",
	"POST /logout":                                              "public",
	"POST /v1/traces":                                           "signed-in",
	"POST lode/deployments/create":                              "signed-in",
	"POST lode/jobs/cancel":                                     "manage+owner",
	"POST lode/jobs/submit":                                     "update",
	"POST lode/tokens/create":                                   "signed-in",
	"POST lode/tokens/revoke":                                   "signed-in",
	"POST mlflow/experiments/create":                            "signed-in",
	"POST mlflow/experiments/delete":                            "delete",
	"POST mlflow/experiments/delete-experiment-tag":             "update",
	"POST mlflow/experiments/permissions/create":                "manage",
	"POST mlflow/experiments/restore":                           "delete",
	"POST mlflow/experiments/search":                            "signed-in",
	"POST mlflow/experiments/set-experiment-tag":                "update",
	"POST mlflow/experiments/update":                            "update",
	"POST mlflow/logged-models":                                 "update",
	"POST mlflow/logged-models/search":                          "signed-in",
	"POST mlflow/logged-models/{model_id}/params":               "update",
	"POST mlflow/model-versions/create":                         "update",
	"POST mlflow/model-versions/set-tag":                        "update",
	"POST mlflow/model-versions/transition-stage":               "update",
	"POST mlflow/registered-models/alias":                       "update",
	"POST mlflow/registered-models/create":                      "signed-in",
	"POST mlflow/registered-models/get-latest-versions":         "read",
	"POST mlflow/registered-models/permissions/create":          "manage",
	"POST mlflow/registered-models/rename":                      "update",
	"POST mlflow/registered-models/set-tag":                     "update",
	"POST mlflow/roles/assign":                                  "admin",
	"POST mlflow/roles/create":                                  "admin",
	"POST mlflow/roles/permissions/add":                         "admin",
	"POST mlflow/runs/create":                                   "update",
	"POST mlflow/runs/delete":                                   "delete",
	"POST mlflow/runs/delete-tag":                               "update",
	"POST mlflow/runs/log-batch":                                "update",
	"POST mlflow/runs/log-inputs":                               "update",
	"POST mlflow/runs/log-metric":                               "update",
	"POST mlflow/runs/log-model":                                "update",
	"POST mlflow/runs/log-parameter":                            "update",
	"POST mlflow/runs/outputs":                                  "update",
	"POST mlflow/runs/restore":                                  "delete",
	"POST mlflow/runs/search":                                   "signed-in",
	"POST mlflow/runs/set-tag":                                  "update",
	"POST mlflow/runs/update":                                   "update",
	"POST mlflow/users/create":                                  "admin",
	"POST mlflow/users/permissions/grant":                       "manage",
	"POST mlflow/users/permissions/revoke":                      "manage",
	"PUT mlflow-artifacts/artifacts/{path...}":                  "update",
}

// ruleSpec writes a rule as matrixSpec does.
func ruleSpec(r mlflowapi.Rule) string {
	switch r.Access {
	case mlflowapi.Public:
		return "public"
	case mlflowapi.SignedIn:
		return "signed-in"
	case mlflowapi.AdminOnly:
		return "admin"
	case mlflowapi.SelfOrAdmin:
		return "self"
	}
	w := r.Need.String()
	if r.Owner {
		w += "+owner"
	}
	return w
}

// sampleKey is the route's key in matrixSamples.
func sampleKey(rt mlflowapi.Route) string {
	p := rt.Pattern
	for _, prefix := range []string{"/api/2.0/", "/ajax-api/2.0/", "/api/3.0/", "/ajax-api/3.0/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			p = rest
			break
		}
	}
	return rt.Method + " " + p
}

// routeURL is the URL path a sample calls for a route.
func routeURL(rt mlflowapi.Route, samplePath string) string {
	switch {
	case strings.HasPrefix(samplePath, "/"):
		return samplePath
	case strings.HasSuffix(rt.Pattern, "{path...}"):
		return strings.TrimSuffix(rt.Pattern, "{path...}") + samplePath
	case samplePath != "":
		i := strings.Index(rt.Pattern, "/mlflow/")
		if i < 0 {
			i = strings.Index(rt.Pattern, "/lode/")
			return rt.Pattern[:i+len("/lode/")] + samplePath
		}
		return rt.Pattern[:i+len("/mlflow/")] + samplePath
	}
	return rt.Pattern
}

// expected reports whether the spec lets caller (with level, for bob)
// make the request.
func expected(spec string, s matrixSample, caller string, level auth.Permission) bool {
	switch {
	case spec == "public":
		return true
	case caller == "anonymous":
		return false
	case caller == "admin":
		return true
	}
	switch spec {
	case "signed-in":
		if s.need == 0 {
			return true
		}
	case "admin":
		return false
	case "self":
		return caller == "bob" // the samples name bob
	}
	if caller == "alice" {
		return true // she created it all: MANAGE, and the job is hers
	}
	if s.on == "" {
		return false
	}
	need := s.need
	if need == 0 {
		for _, n := range []auth.Need{auth.NeedRead, auth.NeedUse, auth.NeedUpdate, auth.NeedDelete, auth.NeedManage} {
			if strings.TrimSuffix(spec, "+owner") == n.String() {
				need = n
			}
		}
	}
	return level != "" && level.Allows(need)
}

// newMatrixEnv runs lode server's whole handler in this process, with
// authentication on and NO_PERMISSIONS by default, over real SQLite,
// artifacts on disk, jobs and deployments; admin, alice, bob (with tokens)
// and carol exist. It returns the routes with their rules. Users may run
// code (--allow-user-code), so that the matrix tests the permission rules
// of jobs and deployments.
func newMatrixEnv(t *testing.T) (*matrixEnv, []mlflowapi.Route) {
	return newMatrixEnvWith(t, true)
}

// newMatrixEnvWith is newMatrixEnv, with or without --allow-user-code.
func newMatrixEnvWith(t *testing.T, userCode bool) (*matrixEnv, []mlflowapi.Route) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "lode.db"), sqlite.Options{DefaultArtifactRoot: mlflowapi.ArtifactScheme, Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := localfs.New(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	authSvc := &auth.Service{Store: db, Default: auth.NoPermissions, CacheTTL: -1}
	tr := &tracking.Service{Store: db, ValidateLocation: artifact.ValidateLocation}
	reg := &registry.Service{Store: db, Tracking: tr, ArtifactScheme: mlflowapi.ArtifactScheme, Artifacts: store, ArtifactRoot: store.Root()}
	guard := &mlflowapi.Guard{Auth: authSvc, Find: mlflowapi.ServiceFinder{Tracking: tr, Jobs: db}}
	tr.Readable, reg.Readable, reg.CheckSource = guard.Readable, guard.Readable, guard.CheckSource
	mgr := &serving.Manager{Source: &serving.StoreSource{Registry: reg, Artifacts: store, Scheme: mlflowapi.ArtifactScheme, CacheDir: filepath.Join(dir, "cache")},
		Store: db, Logger: logger}
	if err := mgr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(ctx) })
	srv := httptest.NewUnstartedServer(nil)
	js := &jobs.Service{Store: db, Exec: localexec.New(localexec.Options{BaseDir: filepath.Join(dir, "jobs"), KillGrace: time.Second, Logger: logger}),
		Nodes: []jobs.Node{jobs.LocalNode("local", 2, 4<<30, nil)}, TrackingURI: "http://" + srv.Listener.Addr().String(),
		Tick: 50 * time.Millisecond, Logger: logger, Readable: guard.Readable, Tracker: &jobTracker{tracking: tr, artifacts: store},
		Credentials: &jobCredentials{auth: authSvc, ttl: time.Hour, logger: logger}}
	if err := js.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(js.Close)
	runner := &tuner.Runner{Studies: &tune.Service{Store: db}, Jobs: js, Tracking: tr, Logger: logger, Tick: 50 * time.Millisecond}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runner.Close)
	api := &mlflowapi.Server{Tracking: tr, Registry: reg, Artifacts: store, Deployments: mgr, Jobs: js, Studies: runner, Guard: guard, Auth: authSvc, Logger: logger, Version: "test",
		UserCode: userCode}
	ui := &web.Server{Tracking: tr, Registry: reg, Artifacts: store, Jobs: js, Studies: db, Guard: guard, Auth: authSvc, Version: "test", Logger: logger}
	infer := inferapi.New(inferapi.Options{Catalog: mgr, Logger: logger, NoAccessLog: true, Authorize: func(ctx context.Context, model string, predict bool) error {
		return guard.CheckTarget(ctx, mlflowapi.TargetDeployment, model, inferNeed(predict), false)
	}})
	optuna := &optunagrpc.Server{Studies: &tune.Service{Store: db}, Logger: logger}
	h, routes, err := serverHandler(api, ui, promhttp.Handler(), infer, optuna, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)

	e := &matrixEnv{t: t, url: srv.URL, auth: authSvc, db: db, tokens: map[string]string{}, studies: runner}
	for _, u := range []struct {
		name, pw string
		admin    bool
	}{{"admin", "admin's password", true}, {"alice", "alice's password", false}, {"bob", "bob's password!", false}, {"carol", "carol's password", false}} {
		user, err := authSvc.CreateUser(ctx, u.name, u.pw, u.admin)
		if err != nil {
			t.Fatal(err)
		}
		if u.name != "carol" {
			e.tokens[u.name], _, err = authSvc.CreateToken(ctx, user, "matrix", auth.TokenAPI, 0, "")
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return e, routes
}

func TestPermissionMatrix(t *testing.T) {
	e, routes := newMatrixEnv(t)
	samples := matrixSamples()
	sort.Slice(routes, func(i, j int) bool { return routes[i].Pattern+routes[i].Method < routes[j].Pattern+routes[j].Method })
	used := map[string]bool{}
	levels := []auth.Permission{"", auth.Read, auth.Use, auth.Edit, auth.Manage, auth.Deny}
	var fx *fixture
	calls := 0
	for _, rt := range routes {
		key := sampleKey(rt)
		s, ok := samples[key]
		if !ok {
			t.Errorf("route %s %s has no sample request in the permission matrix (key %q): add one to matrixSamples", rt.Method, rt.Pattern, key)
			continue
		}
		used[key] = true
		spec, ok := matrixSpec[key]
		if !ok {
			t.Errorf("route %s %s is missing from matrixSpec (key %q): say who may call it", rt.Method, rt.Pattern, key)
			continue
		}
		if got := ruleSpec(rt.Rule); got != spec {
			t.Errorf("route %s %s: its rule says %q, the spec %q", rt.Method, rt.Pattern, got, spec)
		}
		method := rt.Method
		if method == "*" {
			method = "POST"
		}
		type call struct {
			caller string
			level  auth.Permission
		}
		cs := []call{{"anonymous", ""}, {"admin", ""}, {"alice", ""}}
		for _, l := range levels {
			cs = append(cs, call{"bob", l})
		}
		for _, c := range cs {
			if fx == nil {
				fx = e.newFixture()
			}
			e.setLevel(fx, s.on, c.level, s.alsoRead)
			path, query, body := s.req(fx)
			status, b := e.do(c.caller, method, routeURL(rt, path), query, body)
			calls++
			want := expected(spec, s, c.caller, c.level)
			got := status != http.StatusUnauthorized && status != http.StatusForbidden
			// A page sends a visitor who has not signed in to sign in.
			if status == http.StatusSeeOther && c.caller == "anonymous" && strings.HasPrefix(locationOf(b), "/login?next=") {
				got, status = false, http.StatusUnauthorized
			}
			if got != want {
				t.Errorf("%s %s as %s%s: %d %.200s; want %s", method, routeURL(rt, path), c.caller, map[bool]string{true: " with " + string(c.level), false: ""}[c.caller == "bob"],
					status, b, map[bool]string{true: "allowed", false: "refused"}[want])
			}
			if !want && c.caller == "anonymous" && status != http.StatusUnauthorized {
				t.Errorf("%s %s as anonymous: %d, want 401", method, rt.Pattern, status)
			}
			// A change that went through used the fixture up (a deleted
			// run, a renamed model): the next call gets a fresh one.
			if got && method != "GET" && method != "HEAD" {
				fx = nil
			}
		}
	}
	for key := range samples {
		if !used[key] {
			t.Errorf("sample %q matches no route: a route was removed or renamed", key)
		}
	}
	t.Logf("%d routes, %d calls", len(routes), calls)
}

// locationOf finds the redirect target in a 303's body ("<a href=...>").
func locationOf(body []byte) string {
	_, rest, ok := strings.Cut(string(body), `href="`)
	if !ok {
		return ""
	}
	loc, _, _ := strings.Cut(rest, `"`)
	return loc
}

// Searches and listings hold only what their caller may read, in full
// pages: experiments, runs, logged models, registered models and their
// versions, jobs, and the UI's lists.
func TestSearchesAreScoped(t *testing.T) {
	e, _ := newMatrixEnv(t)
	ctx := context.Background()
	mine, theirs := e.newFixture(), e.newFixture()
	for _, g := range []struct {
		t  auth.ResourceType
		id string
	}{{auth.Experiment, mine.exp}, {auth.RegisteredModel, mine.model}} {
		if err := e.auth.Grant(ctx, "bob", g.t, g.id, auth.Read, false); err != nil {
			t.Fatal(err)
		}
	}
	// Five more experiments bob may read and five he may not, for paging.
	var readable []string
	for i := 0; i < 10; i++ {
		var out struct {
			ExperimentID string `json:"experiment_id"`
		}
		e.must("alice", "POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": fmt.Sprintf("paged-%d", i)}, &out)
		if i%2 == 0 {
			e.auth.Grant(ctx, "bob", auth.Experiment, out.ExperimentID, auth.Read, false)
			readable = append(readable, out.ExperimentID)
		}
	}
	var ids []string
	token := ""
	for pages := 0; ; pages++ {
		var out struct {
			Experiments []struct {
				ExperimentID string `json:"experiment_id"`
			} `json:"experiments"`
			Next string `json:"next_page_token"`
		}
		e.must("bob", "POST", "/api/2.0/mlflow/experiments/search", map[string]any{"max_results": 2, "page_token": token}, &out)
		if out.Next != "" && len(out.Experiments) != 2 {
			t.Errorf("page %d holds %d experiments: pages must be full", pages, len(out.Experiments))
		}
		for _, x := range out.Experiments {
			ids = append(ids, x.ExperimentID)
		}
		if token = out.Next; token == "" {
			break
		}
	}
	sort.Strings(ids)
	want := append([]string{mine.exp}, readable...)
	sort.Strings(want)
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("bob's experiments: %v, want %v", ids, want)
	}

	count := func(path string, body any, key string) int {
		t.Helper()
		var out map[string]any
		method := "POST"
		if body == nil {
			method = "GET"
		}
		e.must("bob", method, path, body, &out)
		list, _ := out[key].([]any)
		return len(list)
	}
	if n := count("/api/2.0/mlflow/runs/search", map[string]any{"experiment_ids": []string{mine.exp, theirs.exp}}, "runs"); n != 1 {
		t.Errorf("runs/search over both experiments gave bob %d runs, want his 1", n)
	}
	if n := count("/api/2.0/mlflow/runs/search", map[string]any{"experiment_ids": []string{theirs.exp}}, "runs"); n != 0 {
		t.Errorf("runs/search over an experiment bob may not read gave %d runs", n)
	}
	if n := count("/api/2.0/mlflow/logged-models/search", map[string]any{"experiment_ids": []string{mine.exp, theirs.exp}}, "models"); n != 1 {
		t.Errorf("logged-models/search gave bob %d models, want 1", n)
	}
	if n := count("/api/2.0/mlflow/registered-models/search?max_results=100", nil, "registered_models"); n != 1 {
		t.Errorf("registered-models/search gave bob %d models, want 1", n)
	}
	if n := count("/api/2.0/mlflow/model-versions/search", nil, "model_versions"); n != 1 {
		t.Errorf("model-versions/search gave bob %d versions, want 1", n)
	}
	if n := count("/api/2.0/lode/jobs/list", nil, "jobs"); n != 1 {
		t.Errorf("jobs/list gave bob %d jobs, want 1", n)
	}
	for page, name := range map[string]string{"/experiments": "exp-", "/models": "model-"} {
		_, b := e.do("bob", "GET", page, nil, nil)
		mineNum := strings.TrimPrefix(mine.model, "model-")
		theirsNum := strings.TrimPrefix(theirs.model, "model-")
		if !strings.Contains(string(b), name+mineNum+"<") || strings.Contains(string(b), name+theirsNum+"<") {
			t.Errorf("the UI's %s page for bob: want %s%s listed and %s%s not", page, name, mineNum, name, theirsNum)
		}
	}
}

// An experiment whose artifact location points into another experiment's
// tree gives its runs no way into that tree: every read is checked by the
// path's own experiment, whichever route leads there.
func TestArtifactLocationsStayInTheirExperiment(t *testing.T) {
	e, _ := newMatrixEnv(t)
	ctx := context.Background()
	alice := e.newFixture()
	// Bob may not make such an experiment himself
	// (TestPermissionArtifactLocationInAnotherExperiment); an admin may,
	// and bob may edit it, and nothing else.
	var exp struct {
		ExperimentID string `json:"experiment_id"`
	}
	e.must("admin", "POST", "/api/2.0/mlflow/experiments/create", map[string]string{
		"name": "bob's", "artifact_location": "mlflow-artifacts:/" + alice.exp}, &exp)
	if err := e.auth.Grant(ctx, "bob", auth.Experiment, exp.ExperimentID, auth.Edit, true); err != nil {
		t.Fatal(err)
	}
	var run struct {
		Run struct {
			Info struct {
				RunID       string `json:"run_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	e.must("bob", "POST", "/api/2.0/mlflow/runs/create", map[string]string{"experiment_id": exp.ExperimentID}, &run)
	if !strings.HasPrefix(run.Run.Info.ArtifactURI, "mlflow-artifacts:/"+alice.exp+"/") {
		t.Fatalf("bob's run keeps its artifacts at %s", run.Run.Info.ArtifactURI)
	}
	if err := e.auth.Check(ctx, &auth.Identity{User: mustUser(t, e, "bob")}, auth.Experiment, alice.exp, auth.NeedRead); err == nil {
		t.Fatal("bob may read alice's experiment: the test proves nothing")
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/2.0/mlflow/artifacts/list?run_id=" + run.Run.Info.RunID},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/" + alice.exp + "/" + run.Run.Info.RunID + "/artifacts/x.txt"},
		{"GET", "/runs/" + run.Run.Info.RunID + "/artifacts"},
		{"GET", "/runs/" + run.Run.Info.RunID + "/artifact?path=x.txt"},
	} {
		var body any
		if c.method == "PUT" {
			body = []byte("x")
		}
		if status, b := e.do("bob", c.method, c.path, nil, body); status != 403 {
			t.Errorf("%s %s as bob: %d %.200s, want 403", c.method, c.path, status, b)
		}
	}
}

func mustUser(t *testing.T, e *matrixEnv, name string) *auth.User {
	t.Helper()
	u, err := e.auth.User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Without --allow-user-code only admins run code on the server: a user
// who manages an experiment and a model may neither submit a job nor
// deploy a model that runs Python, only one forced onto ONNX Runtime.
func TestUserCodePermission(t *testing.T) {
	e, _ := newMatrixEnvWith(t, false)
	ctx := context.Background()
	fx := e.newFixture()
	for _, g := range []struct {
		t  auth.ResourceType
		id string
	}{{auth.Experiment, fx.exp}, {auth.RegisteredModel, fx.model}} {
		if err := e.auth.Grant(ctx, "bob", g.t, g.id, auth.Manage, false); err != nil {
			t.Fatal(err)
		}
	}
	job := map[string]any{"name": "j", "command": "true", "experiment_id": fx.exp}
	deploy := func(name, runtime string) map[string]any {
		return map[string]any{"name": name, "model_uri": "models:/" + fx.model + "@champion", "runtime": runtime}
	}
	refused := func(what string, status int, b []byte) {
		t.Helper()
		var out struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		}
		json.Unmarshal(b, &out)
		if status != 403 || out.ErrorCode != "PERMISSION_DENIED" || !strings.Contains(out.Message, "--allow-user-code") {
			t.Errorf("%s: %d %s; want 403 PERMISSION_DENIED naming --allow-user-code", what, status, b)
		}
	}
	for _, who := range []string{"bob", "alice"} {
		status, b := e.do(who, "POST", "/api/2.0/lode/jobs/submit", nil, job)
		refused("jobs/submit as "+who, status, b)
		sp := matrixStudy(who+"-study", "", "")
		status, b = e.do(who, "POST", "/api/2.0/lode/studies/create", nil, map[string]any{"name": sp.Name, "experiment_id": fx.exp,
			"space": sp.Space, "objective": sp.Objective, "trial": sp.Trial})
		refused("studies/create as "+who, status, b)
		status, b = e.do(who, "POST", "/api/2.0/lode/studies/resume", nil, map[string]any{"study_id": fx.studyID()})
		refused("studies/resume as "+who, status, b)
		for _, rt := range []string{"", "python"} {
			status, b = e.do(who, "POST", "/api/2.0/lode/deployments/create", nil, deploy(who+"-py", rt))
			refused(fmt.Sprintf("deployments/create with runtime %q as %s", rt, who), status, b)
		}
		if status, b := e.do(who, "POST", "/api/2.0/lode/deployments/create", nil, deploy(who+"-onnx", "onnx")); status != 200 {
			t.Errorf("deployments/create with runtime onnx as %s: %d %s", who, status, b)
		}
	}
	// Without EDIT on the experiment the answer is the usual refusal.
	if status, b := e.do("bob", "POST", "/api/2.0/lode/jobs/submit", nil, map[string]any{"name": "j", "command": "true", "experiment_id": "0"}); status != 403 || strings.Contains(string(b), "--allow-user-code") {
		t.Errorf("jobs/submit to an experiment bob may not edit: %d %s", status, b)
	}
	// An admin may do both.
	if status, b := e.do("admin", "POST", "/api/2.0/lode/jobs/submit", nil, job); status != 200 {
		t.Errorf("jobs/submit as admin: %d %s", status, b)
	}
	if status, b := e.do("admin", "POST", "/api/2.0/lode/deployments/create", nil, deploy("admins", "")); status != 200 {
		t.Errorf("deployments/create as admin: %d %s", status, b)
	}
}
