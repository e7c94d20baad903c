package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lode-ml/lode/sqlite"
)

// authCall sends a request as user (Basic, "user:password") or with a
// bearer token ("Bearer ...") and decodes the JSON answer.
func (s *lodeServer) authCall(cred, method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok, ok := strings.CutPrefix(cred, "Bearer "); ok {
		req.Header.Set("Authorization", "Bearer "+tok)
	} else if user, pw, ok := strings.Cut(cred, ":"); ok {
		req.SetBasicAuth(user, pw)
	}
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &m)
	if m == nil {
		m = map[string]any{"_raw": string(b)}
	}
	return res.StatusCode, m
}

// TestAuthModes: with no user on loopback the server runs open; on another
// address it refuses to start open, unless told to; --auth makes an admin
// with a password printed once (and never logged); once users exist the
// server asks for credentials without being told; the admin may come from
// the environment.
func TestAuthModes(t *testing.T) {
	dir := t.TempDir()
	// Open on loopback.
	s := startServer(t, dir)
	if status, _ := s.authCall("", "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil); status != 200 {
		t.Fatalf("open server: %d", status)
	}
	s.kill()

	// Refused on all addresses without authentication; it says why and how.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lodeBin, "server", "--host", "0.0.0.0", "--port", "0",
		"--backend-store-uri", "sqlite:///"+filepath.Join(dir, "lode.db"), "--artifacts-destination", filepath.Join(dir, "art"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing to listen on 0.0.0.0 without authentication") || !strings.Contains(string(out), "--insecure-no-auth") {
		t.Fatalf("an open server on 0.0.0.0: err %v, output:\n%s", err, out)
	}
	s = startServer(t, dir, "--host", "0.0.0.0", "--insecure-no-auth")
	if !strings.Contains(s.log.String(), "insecure-no-auth") {
		t.Errorf("--insecure-no-auth gave no warning:\n%s", s.log)
	}
	s.kill()

	// --auth: an admin with a generated password, shown once, not in a log line.
	s = startServer(t, dir, "--auth")
	m := regexp.MustCompile(`Its password, shown only this once:\s+(\S+)`).FindStringSubmatch(s.log.String())
	if m == nil {
		t.Fatalf("no generated password printed:\n%s", s.log)
	}
	pw := m[1]
	for _, line := range strings.Split(s.log.String(), "\n") {
		if strings.Contains(line, "level=") && strings.Contains(line, pw) {
			t.Errorf("the password is in a log line: %s", line)
		}
	}
	if status, _ := s.authCall("", "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil); status != 401 {
		t.Errorf("anonymous with auth on: %d, want 401", status)
	}
	if status, _ := s.authCall("admin:"+pw, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil); status != 200 {
		t.Errorf("the admin with the printed password: %d", status)
	}
	if status, _ := s.authCall("admin:wrong password", "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil); status != 401 {
		t.Errorf("a wrong password: %d, want 401", status)
	}
	s.kill()

	// Users exist: authentication stays on, and no password is printed again.
	s = startServer(t, dir)
	if status, _ := s.authCall("", "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil); status != 401 {
		t.Errorf("restarted without flags: anonymous got %d, want 401", status)
	}
	if strings.Contains(s.log.String(), pw) || strings.Contains(s.log.String(), "shown only this once") {
		t.Errorf("the restarted server printed a password:\n%s", s.log)
	}
	s.kill()

	// The admin from the environment.
	t.Setenv("LODE_ADMIN_USER", "root")
	t.Setenv("LODE_ADMIN_PASSWORD", "root's long password")
	s = startServer(t, t.TempDir())
	if status, _ := s.authCall("root:root's long password", "GET", "/api/2.0/mlflow/users/current", nil); status != 200 {
		t.Errorf("the admin from $LODE_ADMIN_USER: %d", status)
	}
	if strings.Contains(s.log.String(), "shown only this once") {
		t.Errorf("a password was printed although $LODE_ADMIN_PASSWORD gave one")
	}
}

// The admin's password leaves the server's environment once read, so
// that nothing the server starts inherits it, also when the admin exists
// already and it is not used.
func TestAuthSetupUnsetsAdminPassword(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lode.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := authFlags{adminUser: "root", defaultPermission: "READ", sessionTTL: time.Hour, jobTokenTTL: time.Hour}
	for _, when := range []string{"creating the admin", "with the admin there"} {
		t.Setenv("LODE_ADMIN_PASSWORD", "root's long password")
		svc, err := setupAuth(ctx, f, db, "127.0.0.1", io.Discard, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := os.LookupEnv("LODE_ADMIN_PASSWORD"); ok {
			t.Errorf("%s: $LODE_ADMIN_PASSWORD is still %q", when, v)
		}
		if _, err := svc.Login(ctx, "root", "root's long password", "test"); err != nil {
			t.Errorf("%s: the admin signs in with the password: %v", when, err)
		}
	}
}

// TestTokenCommandAndJobTokens: `lode token` makes, lists and revokes
// tokens with the mlflow client's credentials; lode's own commands
// authenticate with them; a job gets a token of its submitter's that works
// inside it (but cannot make more credentials) and is gone once it ends; its run belongs to the submitter.
func TestTokenCommandAndJobTokens(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LODE_ADMIN_PASSWORD", "")
	s := startServer(t, dir, "--admin-user", "admin", "--job-cpus", "1", "--allow-user-code") // alice submits a job
	pwRE := regexp.MustCompile(`Its password, shown only this once:\s+(\S+)`)
	m := pwRE.FindStringSubmatch(s.log.String())
	if m == nil {
		t.Fatalf("no admin password:\n%s", s.log)
	}
	admin := "admin:" + m[1]
	if status, out := s.authCall(admin, "POST", "/api/2.0/mlflow/users/create", map[string]string{"username": "alice", "password": "alice's password"}); status != 200 {
		t.Fatalf("create alice: %d %v", status, out)
	}
	lode := func(env []string, args ...string) (string, string, error) {
		cmd := exec.Command(lodeBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append([]string{"MLFLOW_TRACKING_URI=" + s.url, "MLFLOW_TRACKING_USERNAME=", "MLFLOW_TRACKING_PASSWORD=", "MLFLOW_TRACKING_TOKEN="}, env...)...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	alice := []string{"MLFLOW_TRACKING_USERNAME=alice", "MLFLOW_TRACKING_PASSWORD=alice's password"}
	out, errOut, err := lode(alice, "token", "create", "laptop", "--expires", "30d")
	if err != nil {
		t.Fatalf("lode token create: %v\n%s", err, errOut)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "lode_") || !strings.Contains(errOut, "not shown again") {
		t.Fatalf("lode token create printed %q / %q", out, errOut)
	}
	withToken := []string{"MLFLOW_TRACKING_TOKEN=" + secret}
	out, errOut, err = lode(withToken, "token", "list", "--json")
	if err != nil || !strings.Contains(out, `"laptop"`) || strings.Contains(out, secret) {
		t.Fatalf("lode token list with the token: %v %s %s", err, out, errOut)
	}
	var list struct {
		Tokens []struct{ ID, Name string } `json:"tokens"`
	}
	json.Unmarshal([]byte(out), &list)
	if _, _, err := lode(withToken, "models", "list"); err != nil {
		t.Fatalf("lode models list with the token: %v", err)
	}
	if _, errOut, err = lode(nil, "models", "list"); err == nil || !strings.Contains(errOut, "UNAUTHENTICATED") {
		t.Fatalf("lode models list without credentials: %v %s", err, errOut)
	}
	if _, errOut, err = lode(alice, "token", "revoke", list.Tokens[0].ID); err != nil {
		t.Fatalf("lode token revoke: %v %s", err, errOut)
	}
	if _, _, err = lode(withToken, "models", "list"); err == nil {
		t.Fatalf("a revoked token still works")
	}

	// A job of alice's, in her experiment, calls the server with its own
	// token. (The Default experiment is READ for her, the default.)
	_, exp := s.authCall("alice:alice's password", "POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": "alice's"})
	jobOut := filepath.Join(dir, "job-out.json")
	status, sub := s.authCall("alice:alice's password", "POST", "/api/2.0/lode/jobs/submit", map[string]any{
		"name": "uses its token", "experiment_id": exp["experiment_id"],
		// Its token reads what alice may read, and cannot make more tokens.
		"command": lodeBin + " models list --json > " + jobOut + " && ! " + lodeBin + " token list 2> " + jobOut + ".denied",
		"env":     map[string]string{"NOTE": "hello"}})
	if status != 200 {
		t.Fatalf("submit: %d %v", status, sub)
	}
	job := sub["job"].(map[string]any)
	id := job["id"].(string)
	deadline := time.Now().Add(60 * time.Second)
	var state string
	for time.Now().Before(deadline) {
		_, g := s.authCall("alice:alice's password", "GET", "/api/2.0/lode/jobs/get?id="+id, nil)
		if state = g["job"].(map[string]any)["state"].(string); state == "SUCCEEDED" || state == "FAILED" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if state != "SUCCEEDED" {
		t.Fatalf("the job ended %s\n%s", state, s.log)
	}
	b, err := os.ReadFile(jobOut + ".denied")
	if err != nil || !strings.Contains(string(b), "cannot manage users, permissions or tokens") {
		t.Fatalf("the job's token listing tokens: %v %s", err, b)
	}
	// Its token is gone now.
	_, all := s.authCall(admin, "GET", "/api/2.0/lode/tokens/list?all=true", nil)
	for _, tk := range all["tokens"].([]any) {
		if tk.(map[string]any)["job_id"] == id {
			t.Errorf("the ended job's token is still there: %v", tk)
		}
	}
	// Its run is alice's.
	_, run := s.authCall(admin, "GET", "/api/2.0/mlflow/runs/get?run_id="+job["run_id"].(string), nil)
	if u := run["run"].(map[string]any)["info"].(map[string]any)["user_id"]; u != "alice" {
		t.Errorf("the job's run belongs to %v, want alice", u)
	}
	// Another user sees the names of its environment, not the values.
	s.authCall(admin, "POST", "/api/2.0/mlflow/users/create", map[string]string{"username": "bob", "password": "bob's password!"})
	_, g := s.authCall("bob:bob's password!", "GET", "/api/2.0/lode/jobs/get?id="+id, nil)
	if env := g["job"].(map[string]any)["spec"].(map[string]any)["env"]; env.(map[string]any)["NOTE"] != "[redacted]" {
		t.Errorf("bob sees the job's env as %v", env)
	}
	_, g = s.authCall("alice:alice's password", "GET", "/api/2.0/lode/jobs/get?id="+id, nil)
	if env := g["job"].(map[string]any)["spec"].(map[string]any)["env"]; env.(map[string]any)["NOTE"] != "hello" {
		t.Errorf("alice sees her job's env as %v", env)
	}
}
