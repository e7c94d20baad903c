package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRedactURI(t *testing.T) {
	for in, want := range map[string]string{
		"postgresql://lode:SECRET@db:5432/lode":                  "postgresql://lode:xxxxx@db:5432/lode",
		"postgresql://lode:SECRET@db/lode?sslmode=require":       "postgresql://lode:xxxxx@db/lode?sslmode=require",
		"postgresql://db/lode?password=SECRET&sslmode=disable":   "postgresql://db/lode?password=xxxxx&sslmode=disable",
		"postgresql://u@db/lode?sslpassword=SECRET":              "postgresql://u@db/lode?sslpassword=xxxxx",
		"postgresql://u:SE#CR/ET@db/lode":                        "postgresql://xxxxx@db/lode",
		"postgresql://u:SECRET@db:notaport/lode?password=SECRET": "postgresql://xxxxx@db:notaport/lode?password=xxxxx",
		"postgresql+psycopg2://u:SECRET%40x@db/lode":             "postgresql+psycopg2://u:xxxxx@db/lode",
		"https://SECRET@github.com/org/repo.git":                 "https://xxxxx@github.com/org/repo.git",
		"https://x-access-token:SECRET@github.com/org/repo#sub":  "https://x-access-token:xxxxx@github.com/org/repo#sub",
		"https://host/repo?access_token=SECRET&x=1":              "https://host/repo?access_token=xxxxx&x=1",
		"ssh://git@github.com/org/repo.git":                      "ssh://git@github.com/org/repo.git",
		"git@github.com:org/repo.git":                            "git@github.com:org/repo.git",
		"sqlite:///lode-data/lode.db":                            "sqlite:///lode-data/lode.db",
		"/a/local/path":                                          "/a/local/path",
		"http://127.0.0.1:5000":                                  "http://127.0.0.1:5000",
	} {
		got := redactURI(in)
		if got != want || strings.Contains(got, "SECRET") || strings.Contains(got, "SE#CR") {
			t.Errorf("redactURI(%q) = %q, want %q", in, got, want)
		}
	}
	msg := "fatal: unable to access 'https://x-access-token:SECRET@github.com/org/repo/': 403; token SECRET"
	if got := redactIn(msg, "https://x-access-token:SECRET@github.com/org/repo"); strings.Contains(got, "SECRET") {
		t.Errorf("redactIn left the secret: %q", got)
	}
}

// TestFetchProjectHidesGitCredentials: a project fetched from a git URL
// holding a token (https://user:TOKEN@host/repo, the way CI systems pass
// one) is fetched with it, but the token is in none of what lode run
// prints or records: the status line, the run's source name and
// repository URL tags, and the errors of a failed fetch.
func TestFetchProjectHidesGitCredentials(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Skip("git-http-backend is not installed")
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "src")
	writeFiles(t, repo, map[string]string{"MLproject": "name: p\nentry_points:\n  main:\n    command: echo hi\n"})
	gitEnv := append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch", "main"}, {"add", "."}, {"commit", "--quiet", "-m", "one"},
		{"clone", "--quiet", "--bare", repo, filepath.Join(dir, "served", "repo.git")},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = repo, gitEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	// A git smart-HTTP server that wants the token, as a git host does.
	const token = "SECRETTOKEN123"
	gitHTTP := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + filepath.Join(dir, "served"), "GIT_HTTP_EXPORT_ALL=1"}, Stderr: io.Discard}
	var authed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); !ok || pw != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		authed.Add(1)
		gitHTTP.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	uri := "http://ci:" + token + "@" + host + "/repo.git"

	ctx := context.Background()
	var status bytes.Buffer
	src, err := fetchProject(ctx, uri, "", &status)
	if err != nil {
		t.Fatalf("fetchProject: %v\n%s", err, status.String())
	}
	defer src.cleanup()
	if authed.Load() == 0 {
		t.Fatal("the fetch never used the token")
	}
	if _, err := os.Stat(filepath.Join(src.dir, "MLproject")); err != nil {
		t.Fatalf("the project was not fetched: %v", err)
	}
	for what, s := range map[string]string{"status": status.String(), "source name": src.sourceName, "repo URL": src.repoURL} {
		if strings.Contains(s, token) {
			t.Errorf("the %s shows the token: %q", what, s)
		}
	}
	if src.repoURL != "http://ci:xxxxx@"+host+"/repo.git" || src.sourceName != src.repoURL {
		t.Errorf("source name %q, repo URL %q", src.sourceName, src.repoURL)
	}

	// Failures: a version that is not there, a repository that is not
	// there, and a host where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, c := range []struct{ uri, version string }{
		{uri, "no-such-branch"},
		{"http://ci:" + token + "@" + host + "/missing.git", ""},
		{"http://" + token + "@" + closed + "/repo.git", ""},
	} {
		status.Reset()
		src, err := fetchProject(ctx, c.uri, c.version, &status)
		if err == nil {
			src.cleanup()
			t.Errorf("fetchProject(%q, %q) worked", c.uri, c.version)
			continue
		}
		if strings.Contains(err.Error(), token) || strings.Contains(status.String(), token) {
			t.Errorf("fetchProject(%q, %q): the token shows: %v\n%s", c.uri, c.version, err, status.String())
		}
	}
}

// TestSecretsStayOutOfLogsAndErrors runs the binary as an operator would
// and reads everything it prints: database passwords (in the URI's
// userinfo or its query) in every error of lode server, lode db upgrade
// and lode import; S3 credentials in an artifact destination; and, once
// the server runs, tokens and passwords that clients send in query
// strings and headers, which the access log must not repeat.
func TestSecretsStayOutOfLogsAndErrors(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	sqlite := "sqlite:///" + filepath.Join(dir, "lode.db")
	for _, args := range [][]string{
		{"server", "--port", "0", "--backend-store-uri", "postgresql://lode:HUSH1@" + closed + "/lode"},
		{"server", "--port", "0", "--backend-store-uri", "postgresql://lode@" + closed + "/lode?password=HUSH2&sslmode=disable"},
		{"server", "--port", "0", "--backend-store-uri", "postgresql://lode:HUSH3@" + closed + "/lode?sslmode=bogus"},
		{"server", "--port", "0", "--backend-store-uri", "postgresql://lode:HUSH4%zz@" + closed + "/lode"},
		{"server", "--port", "0", "--backend-store-uri", "postgresql://?password=HUSH5"},
		{"server", "--port", "0", "--backend-store-uri", sqlite, "--artifacts-destination", "s3://AKIAEXAMPLE:HUSH6@bucket/lode"},
		{"db", "upgrade", "--backend-store-uri", "postgresql://lode:HUSH7@" + closed + "/lode"},
		{"import", "mlflow", "--from", "postgresql://mlflow:HUSH8@" + closed + "/mlflow", "--artifacts", dir, "--backend-store-uri", sqlite},
	} {
		stdout, stderr, code := runLode(t, args...)
		if code == 0 {
			t.Errorf("lode %v: exit 0", args)
		}
		if strings.Contains(stdout+stderr, "HUSH") {
			t.Errorf("lode %v shows a secret:\n%s%s", args, stdout, stderr)
		}
	}

	s := startServer(t, dir, "--jobs=false")
	for _, target := range []string{
		"/api/2.0/mlflow/experiments/search?token=HUSH9&max_results=1",
		"/api/2.0/mlflow/runs/get?run_id=x&password=HUSH9",
		"/experiments?access_token=HUSH9",
		"/api/2.0/mlflow-artifacts/artifacts?path=&sig=HUSH9",
		"/no/such/page?api_key=HUSH9",
	} {
		req, err := http.NewRequest("GET", s.url+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer HUSH10")
		req.Header.Set("Cookie", "session=HUSH11")
		req.SetBasicAuth("alice", "HUSH12")
		res, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	// The requests were logged, without their secrets.
	log := s.log.String()
	if !strings.Contains(log, "path=/api/2.0/mlflow/experiments/search") || !strings.Contains(log, "path=/experiments") {
		t.Errorf("the access log lacks the requests:\n%s", log)
	}
	if strings.Contains(log, "HUSH") {
		t.Errorf("the server's log shows a secret:\n%s", log)
	}
}
