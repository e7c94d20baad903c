package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

// asAdmin is a context in which the site's admin acts (the registry checks
// that whoever registers a version may read its run).
func asAdmin(t *testing.T, s *site) context.Context {
	t.Helper()
	ctx := context.Background()
	u, err := s.Auth.User(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewContext(ctx, &auth.Identity{User: u})
}

// A model page shows the name, status and experiment of each version's
// run only to a viewer who may read that run; reading the model shows
// the run's id alone (review L6).
func TestModelPageShowsOnlyReadableRuns(t *testing.T) {
	s := newAuthSite(t, siteOptions{Default: auth.NoPermissions})
	ctx := asAdmin(t, s)
	expID, err := s.Tracking.CreateExperiment(ctx, "secret-experiment", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: expID, RunName: "secret-run-name"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry.CreateModel(ctx, "shared-model", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry.CreateVersion(ctx, registry.CreateVersionRequest{Name: "shared-model", Source: "runs:/" + run.Info.RunID + "/model"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Auth.Grant(ctx, "alice", auth.RegisteredModel, "shared-model", auth.Read, true); err != nil {
		t.Fatal(err)
	}
	c := s.signIn(t, "alice", alicePassword)
	page := func() string {
		t.Helper()
		res, body := s.call(t, "GET", "/models/shared-model", c.Value, "", nil)
		if res.StatusCode != 200 {
			t.Fatalf("the model page as alice: %d\n%s", res.StatusCode, body)
		}
		return body
	}
	body := page()
	for _, hidden := range []string{"secret-run-name", "secret-experiment", `href="/runs/`, `href="/experiments/` + expID + `"`, "FINISHED", "RUNNING"} {
		if strings.Contains(body, hidden) {
			t.Errorf("alice, who may not read the run, sees %q on the model page", hidden)
		}
	}
	if !strings.Contains(body, run.Info.RunID[:12]) {
		t.Errorf("the model page does not show the run's id to alice")
	}
	if err := s.Auth.Grant(ctx, "alice", auth.Experiment, expID, auth.Read, true); err != nil {
		t.Fatal(err)
	}
	body = page()
	for _, shown := range []string{"secret-run-name", "secret-experiment", `href="/runs/` + run.Info.RunID + `"`} {
		if !strings.Contains(body, shown) {
			t.Errorf("alice, who may read the run, does not see %q on the model page", shown)
		}
	}
}

// A run page shows the state of the job its lode.job.id tag names only
// when that job is the run's own: the tag is anyone's to set who may edit
// the run, and must not tell them the state of someone else's job (review
// L6).
func TestRunPageShowsOnlyItsOwnJob(t *testing.T) {
	s := newAuthSite(t, siteOptions{Default: auth.NoPermissions})
	ctx := asAdmin(t, s)
	adminExp, err := s.Tracking.CreateExperiment(ctx, "admin's", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	adminRun, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: adminExp})
	if err != nil {
		t.Fatal(err)
	}
	aliceExp, err := s.Tracking.CreateExperiment(ctx, "alice's", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Auth.Grant(ctx, "alice", auth.Experiment, aliceExp, auth.Edit, true); err != nil {
		t.Fatal(err)
	}
	aliceRun, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: aliceExp})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for id, run := range map[string]*tracking.Run{"admins-job": adminRun, "alices-job": aliceRun} {
		if err := s.DB.CreateJob(ctx, &jobs.Job{ID: id, State: jobs.Succeeded, Submitted: now, RunID: run.Info.RunID,
			Spec: jobs.Spec{Name: id, Command: "true", ExperimentID: run.Info.ExperimentID}}); err != nil {
			t.Fatal(err)
		}
	}
	c := s.signIn(t, "alice", alicePassword)
	for job, shown := range map[string]bool{"admins-job": false, "alices-job": true} {
		if err := s.Tracking.SetTag(ctx, aliceRun.Info.RunID, tracking.Tag{Key: "lode.job.id", Value: job}); err != nil {
			t.Fatal(err)
		}
		res, body := s.call(t, "GET", "/runs/"+aliceRun.Info.RunID, c.Value, "", nil)
		if res.StatusCode != 200 || !strings.Contains(body, `id="job-link"`) {
			t.Fatalf("alice's run page: %d\n%s", res.StatusCode, body)
		}
		if got := strings.Contains(body, `class="pill SUCCEEDED"`); got != shown {
			t.Errorf("alice's run tagged with %s: job state shown %v, want %v", job, got, shown)
		}
	}
}
