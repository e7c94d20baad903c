package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/mlflowapi"
)

// bobsRun has bob create an experiment of his own (any signed-in user
// may) and a run in it; it returns both ids.
func (e *matrixEnv) bobsRun(name string) (exp, run string) {
	e.t.Helper()
	var x struct {
		ExperimentID string `json:"experiment_id"`
	}
	e.must("bob", "POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": name}, &x)
	var r struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	e.must("bob", "POST", "/api/2.0/mlflow/runs/create", map[string]string{"experiment_id": x.ExperimentID}, &r)
	return x.ExperimentID, r.Run.Info.RunID
}

// loggedModelMetrics returns the metrics of a logged model, as alice
// reads them.
func (e *matrixEnv) loggedModelMetrics(id string) []string {
	e.t.Helper()
	var out struct {
		Model struct {
			Data struct {
				Metrics []struct {
					Key   string `json:"key"`
					RunID string `json:"run_id"`
				} `json:"metrics"`
			} `json:"data"`
		} `json:"model"`
	}
	e.must("alice", "GET", "/api/2.0/mlflow/logged-models/"+id, nil, &out)
	var keys []string
	for _, m := range out.Model.Data.Metrics {
		keys = append(keys, m.Key+"@"+m.RunID)
	}
	return keys
}

// A run's permission covers the run only: a metric or an output written
// through one's own run onto a logged model needs EDIT on that model, an
// input naming a model needs READ on it, and a logged model recording its
// source run needs READ on that run (review M2).
func TestPermissionLoggedModelsNamedBesideTheRun(t *testing.T) {
	e, _ := newMatrixEnv(t)
	fx := e.newFixture()
	bobExp, bobRun := e.bobsRun("bob's")
	var own struct {
		Model struct {
			Info struct {
				ModelID string `json:"model_id"`
			} `json:"info"`
		} `json:"model"`
	}
	e.must("bob", "POST", "/api/2.0/mlflow/logged-models", map[string]any{"experiment_id": bobExp, "name": "bobs", "source_run_id": bobRun}, &own)
	bobModel := own.Model.Info.ModelID
	before := e.loggedModelMetrics(fx.loggedModel)

	metric := func(model string) map[string]any {
		return map[string]any{"key": "accuracy", "value": 0.01, "timestamp": 1, "step": 0, "model_id": model}
	}
	calls := func(model string) []struct {
		path string
		body map[string]any
	} {
		return []struct {
			path string
			body map[string]any
		}{
			{"runs/log-metric", map[string]any{"run_id": bobRun, "key": "accuracy", "value": 0.01, "timestamp": 1, "model_id": model}},
			{"runs/log-batch", map[string]any{"run_id": bobRun, "metrics": []any{metric(bobModel), metric(model)}}},
			{"runs/outputs", map[string]any{"run_id": bobRun, "models": []any{map[string]any{"model_id": model, "step": 0}}}},
			{"runs/log-inputs", map[string]any{"run_id": bobRun, "models": []any{map[string]any{"model_id": model}}}},
			{"logged-models", nil},
		}
	}
	ctx := context.Background()
	for _, level := range []auth.Permission{"", auth.Read, auth.Edit} {
		e.auth.Revoke(ctx, "bob", auth.Experiment, fx.exp)
		if level != "" {
			if err := e.auth.Grant(ctx, "bob", auth.Experiment, fx.exp, level, true); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range calls(fx.loggedModel) {
			body := c.body
			if c.path == "logged-models" {
				body = map[string]any{"experiment_id": bobExp, "name": "from-alices-run", "source_run_id": fx.run}
			}
			status, b := e.do("bob", "POST", "/api/2.0/mlflow/"+c.path, nil, body)
			// Inputs and a source run are read; metrics and outputs change the model.
			want := level == auth.Edit || (level == auth.Read && (c.path == "runs/log-inputs" || c.path == "logged-models"))
			if got := status == http.StatusOK; got != want || (!want && status != http.StatusForbidden) {
				t.Errorf("bob (%q on alice's experiment) POST %s naming alice's: %d %.200s; want allowed=%v", level, c.path, status, b, want)
			}
		}
		if level == "" {
			if after := e.loggedModelMetrics(fx.loggedModel); len(after) != len(before) {
				t.Errorf("alice's logged model's metrics were %v, now %v", before, after)
			}
		}
	}
	// His own model, his own run: all his.
	e.auth.Revoke(ctx, "bob", auth.Experiment, fx.exp)
	for _, c := range calls(bobModel) {
		body := c.body
		if c.path == "logged-models" {
			body = map[string]any{"experiment_id": bobExp, "name": "again", "source_run_id": bobRun}
		}
		if status, b := e.do("bob", "POST", "/api/2.0/mlflow/"+c.path, nil, body); status != http.StatusOK {
			t.Errorf("bob POST %s on his own model: %d %s", c.path, status, b)
		}
	}
	var got struct {
		Model struct {
			Data struct {
				Metrics []json.RawMessage `json:"metrics"`
			} `json:"data"`
		} `json:"model"`
	}
	e.must("bob", "GET", "/api/2.0/mlflow/logged-models/"+bobModel, nil, &got)
	if len(got.Model.Data.Metrics) == 0 {
		t.Error("bob's metrics on his own logged model were not kept")
	}
}

// send makes one request with the credentials given as headers (an
// Authorization header, a session cookie and its CSRF token) and returns
// the status and body.
func (e *matrixEnv) send(method, path string, header map[string]string, cookie string, body any) (int, []byte) {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: cookie})
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// A token made with an API token expires no later than it (a short-lived
// or stolen token does not turn into a permanent one); one made with a
// token that never expires, a session or a password may live as long as
// asked; a job's token makes none (review L3).
func TestTokenMadeWithATokenDoesNotOutliveIt(t *testing.T) {
	e, _ := newMatrixEnv(t)
	ctx := context.Background()
	alice := mustUser(t, e, "alice")
	mint := func(kind auth.TokenKind, ttl time.Duration, job string) (string, *auth.Token) {
		t.Helper()
		secret, tok, err := e.auth.CreateToken(ctx, alice, "parent", kind, ttl, job)
		if err != nil {
			t.Fatal(err)
		}
		return secret, tok
	}
	type made struct {
		Token struct {
			ExpiresMs int64 `json:"expires_ms"`
		} `json:"token"`
		Secret string `json:"secret"`
	}
	create := func(what string, header map[string]string, cookie string, days int) (int, made) {
		t.Helper()
		body := map[string]any{"name": "child"}
		if days >= 0 {
			body["expires_in_days"] = days
		}
		status, b := e.send("POST", "/api/2.0/lode/tokens/create", header, cookie, body)
		var out made
		if status == http.StatusOK {
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
		} else if status != http.StatusForbidden {
			t.Errorf("%s: %d %s", what, status, b)
		}
		return status, out
	}
	bearer := func(secret string) map[string]string { return map[string]string{"Authorization": "Bearer " + secret} }
	const day = 24 * time.Hour

	// A token that expires in 36 hours: a child asked for a day keeps its
	// day; one asked for 90 days, or for ever, ends with its parent, and
	// so does the child of that child.
	short, parent := mint(auth.TokenAPI, 36*time.Hour, "")
	now := time.Now().UnixMilli()
	if _, out := create("one day", bearer(short), "", 1); out.Token.ExpiresMs < now+day.Milliseconds()-60000 || out.Token.ExpiresMs > now+day.Milliseconds()+60000 {
		t.Errorf("a one-day child of a 36-hour token expires at %d, want about %d", out.Token.ExpiresMs, now+day.Milliseconds())
	}
	for _, days := range []int{90, 0, -1} {
		_, out := create("capped", bearer(short), "", days)
		if out.Token.ExpiresMs == 0 || out.Token.ExpiresMs > parent.ExpiresMs || out.Token.ExpiresMs < parent.ExpiresMs-60000 {
			t.Errorf("a child asked for %d days (-1: the default) of a token expiring at %d expires at %d", days, parent.ExpiresMs, out.Token.ExpiresMs)
		}
		if days == 0 {
			_, grand := create("grandchild", bearer(out.Secret), "", 0)
			if grand.Token.ExpiresMs == 0 || grand.Token.ExpiresMs > parent.ExpiresMs {
				t.Errorf("a child's child expires at %d, after the first token (%d)", grand.Token.ExpiresMs, parent.ExpiresMs)
			}
		}
	}
	// A token that never expires, a session and a password make tokens
	// that never expire.
	if _, out := create("with a token that never expires", bearer(e.tokens["alice"]), "", 0); out.Token.ExpiresMs != 0 || out.Secret == "" {
		t.Errorf("a token that never expires made one expiring at %d", out.Token.ExpiresMs)
	}
	session, _ := mint(auth.TokenSession, time.Hour, "")
	if _, out := create("with a session", map[string]string{"X-CSRF-Token": auth.CSRFToken(session)}, session, 0); out.Token.ExpiresMs != 0 || out.Secret == "" {
		t.Errorf("a one-hour session made a token expiring at %d, want never", out.Token.ExpiresMs)
	}
	basic := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice's password"))}
	if _, out := create("with a password", basic, "", 0); out.Token.ExpiresMs != 0 || out.Secret == "" {
		t.Errorf("Basic made a token expiring at %d, want never", out.Token.ExpiresMs)
	}
	// A job's token makes none.
	job, _ := mint(auth.TokenJob, time.Hour, "some-job")
	if status, _ := create("with a job's token", bearer(job), "", 1); status != http.StatusForbidden {
		t.Errorf("a job's token made a token: %d", status)
	}
}

// A job is its owner's: the signed-in user who submitted it, whatever the
// request's user or tags say. Its permissions, its env values, its run
// and its token are the owner's; a job with a user but no owner (as one
// submitted while the server ran open is stored) belongs to nobody and
// gets no token (review L4).
func TestPermissionJobOwner(t *testing.T) {
	e, _ := newMatrixEnv(t)
	ctx := context.Background()
	fx := e.newFixture()
	bobExp, _ := e.bobsRun("bob's jobs")

	// The request's user and mlflow.user tag name the admin: the job, its
	// run and its token are bob's all the same. It succeeds only with a
	// token in its environment.
	var sub struct {
		Job jobs.Job `json:"job"`
	}
	e.must("bob", "POST", "/api/2.0/lode/jobs/submit", map[string]any{"name": "j", "experiment_id": bobExp,
		"command": `test -n "$MLFLOW_TRACKING_TOKEN"`, "user": "admin", "tags": map[string]string{"mlflow.user": "admin"}}, &sub)
	if sub.Job.Spec.User != "bob" || sub.Job.Spec.Owner != "bob" {
		t.Errorf("bob's job: user %q, owner %q; want bob, bob", sub.Job.Spec.User, sub.Job.Spec.Owner)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !sub.Job.State.Final() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		status, b := e.do("bob", "GET", "/api/2.0/lode/jobs/get", qv("id", sub.Job.ID), nil)
		if status != http.StatusOK || json.Unmarshal(b, &sub) != nil {
			t.Fatalf("jobs/get as bob: %d %s", status, b)
		}
	}
	if sub.Job.State != jobs.Succeeded {
		t.Errorf("bob's job %s: %s (%s); want SUCCEEDED, with a token", sub.Job.ID, sub.Job.State, sub.Job.Reason)
	}
	var run struct {
		Run struct {
			Info struct {
				UserID string `json:"user_id"`
			} `json:"info"`
			Data struct {
				Tags []struct{ Key, Value string } `json:"tags"`
			} `json:"data"`
		} `json:"run"`
	}
	status, b := e.do("bob", "GET", "/api/2.0/mlflow/runs/get", qv("run_id", sub.Job.RunID), nil)
	if status != http.StatusOK || json.Unmarshal(b, &run) != nil {
		t.Fatalf("the job's run: %d %s", status, b)
	}
	if run.Run.Info.UserID != "bob" {
		t.Errorf("the job's run's user_id: %q, want bob", run.Run.Info.UserID)
	}
	for _, tag := range run.Run.Data.Tags {
		if tag.Key == "mlflow.user" && tag.Value != "bob" {
			t.Errorf("the job's run's mlflow.user tag: %q, want bob", tag.Value)
		}
	}

	// Two jobs in alice's experiment, which bob may read: one stored with
	// bob as its user only (as the server stored it while open), one with
	// bob as its owner.
	if err := e.auth.Grant(ctx, "bob", auth.Experiment, fx.exp, auth.Read, true); err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"", "bob"} {
		id := "job-owned-by-" + owner
		if err := e.db.CreateJob(ctx, &jobs.Job{ID: id, State: jobs.Succeeded, Submitted: time.Now().UnixMilli(),
			Spec: jobs.Spec{Name: "j", Command: "true", User: "bob", Owner: owner, ExperimentID: fx.exp, Env: map[string]string{"SECRET": "s3cr3t"}}}); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Job jobs.Job `json:"job"`
		}
		e.must("bob", "GET", "/api/2.0/lode/jobs/get?id="+id, nil, &got)
		wantEnv := map[bool]string{true: "s3cr3t", false: mlflowapi.Redacted}[owner == "bob"]
		if got.Job.Spec.Env["SECRET"] != wantEnv {
			t.Errorf("job with owner %q as bob: env %v, want SECRET=%s", owner, got.Job.Spec.Env, wantEnv)
		}
		// Cancelling an ended job is refused by the handler (409) once
		// the guard lets the caller through.
		status, b := e.do("bob", "POST", "/api/2.0/lode/jobs/cancel", nil, map[string]string{"id": id})
		if want := map[bool]int{true: http.StatusConflict, false: http.StatusForbidden}[owner == "bob"]; status != want {
			t.Errorf("bob cancels the job with owner %q: %d %s, want %d", owner, status, b, want)
		}
	}

	// The token an attempt gets is its owner's; a job with no owner gets
	// none, whoever its user names.
	creds := &jobCredentials{auth: e.auth, ttl: time.Hour, logger: slog.New(slog.DiscardHandler)}
	env, err := creds.Issue(ctx, &jobs.Job{ID: "open", Attempt: 1, Spec: jobs.Spec{User: "admin"}})
	if err != nil || len(env) != 0 {
		t.Errorf("a job without an owner, user admin: env %v, %v; want no token", env, err)
	}
	env, err = creds.Issue(ctx, &jobs.Job{ID: "owned", Attempt: 1, Spec: jobs.Spec{User: "admin", Owner: "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.auth.Authenticate(ctx, env["MLFLOW_TRACKING_TOKEN"])
	if err != nil || id.Name() != "bob" || id.Job() != "owned" {
		t.Errorf("the token of bob's job: %v %v; want a job token of bob's", id, err)
	}
}

// A new experiment's artifact location under the proxy may name another
// experiment's folder only for a caller who may change that experiment:
// else its runs' files, and the logs the server writes for their jobs,
// land in a tree its owner never opened to them (review L5).
func TestPermissionArtifactLocationInAnotherExperiment(t *testing.T) {
	e, _ := newMatrixEnv(t)
	ctx := context.Background()
	alice := e.newFixture()
	bobExp, _ := e.bobsRun("bob's")
	n := 0
	create := func(user, location string) (int, []byte) {
		t.Helper()
		n++
		return e.do(user, "POST", "/api/2.0/mlflow/experiments/create", nil, map[string]string{
			"name": fmt.Sprintf("at-%d", n), "artifact_location": location})
	}
	into := []string{
		"mlflow-artifacts:/" + alice.exp,
		"mlflow-artifacts:/" + alice.exp + "/" + alice.run + "/artifacts",
		"MLflow-Artifacts:/" + alice.exp + "/x",
		"mlflow-artifacts:/" + alice.exp + "//x",
	}
	for _, loc := range into {
		if status, b := create("bob", loc); status != http.StatusForbidden {
			t.Errorf("bob makes an experiment at %s: %d %.200s, want 403", loc, status, b)
		}
	}
	// Anything else is his to choose: his own experiment's folder, a
	// folder no experiment's id names, another store.
	for _, loc := range []string{"mlflow-artifacts:/" + bobExp + "/more", "mlflow-artifacts:/team-b/x", "s3://bucket/" + alice.exp} {
		if status, b := create("bob", loc); status != http.StatusOK {
			t.Errorf("bob makes an experiment at %s: %d %.200s, want 200", loc, status, b)
		}
	}
	// EDIT on alice's experiment, or being an admin, opens her folder.
	for _, loc := range into[:2] {
		if status, b := create("admin", loc); status != http.StatusOK {
			t.Errorf("the admin makes an experiment at %s: %d %.200s", loc, status, b)
		}
	}
	if err := e.auth.Grant(ctx, "bob", auth.Experiment, alice.exp, auth.Edit, true); err != nil {
		t.Fatal(err)
	}
	if status, b := create("bob", into[1]); status != http.StatusOK {
		t.Errorf("bob with EDIT on alice's experiment makes one at %s: %d %.200s", into[1], status, b)
	}
}

// With authentication on, a run's user_id is its creator's name whatever
// the request says; an admin may record another user (review L7).
func TestPermissionRunUserIsItsCreator(t *testing.T) {
	e, _ := newMatrixEnv(t)
	bobExp, _ := e.bobsRun("bob's")
	for _, c := range []struct{ caller, asked, want string }{
		{"bob", "admin", "bob"},
		{"bob", "", "bob"},
		{"bob", "bob", "bob"},
		{"admin", "service-account", "service-account"},
		{"admin", "", "admin"},
	} {
		body := map[string]string{"experiment_id": bobExp}
		if c.asked != "" {
			body["user_id"] = c.asked
		}
		var out struct {
			Run struct {
				Info struct {
					RunID  string `json:"run_id"`
					UserID string `json:"user_id"`
				} `json:"info"`
			} `json:"run"`
		}
		e.must(c.caller, "POST", "/api/2.0/mlflow/runs/create", body, &out)
		if out.Run.Info.UserID != c.want {
			t.Errorf("%s creates a run with user_id %q: user_id %q, want %q", c.caller, c.asked, out.Run.Info.UserID, c.want)
		}
		var got struct {
			Run struct {
				Info struct {
					UserID string `json:"user_id"`
				} `json:"info"`
			} `json:"run"`
		}
		e.must("admin", "GET", "/api/2.0/mlflow/runs/get?run_id="+out.Run.Info.RunID, nil, &got)
		if got.Run.Info.UserID != c.want {
			t.Errorf("the stored run's user_id: %q, want %q", got.Run.Info.UserID, c.want)
		}
	}
}
