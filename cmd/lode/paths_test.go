package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawRequest writes exactly "METHOD target HTTP/1.1" (and body) on a
// fresh connection, so that no client library cleans ".." out of the
// target or decodes its escapes, and returns the status, headers and body.
func rawRequest(t *testing.T, base, method, target string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
	if body != nil {
		fmt.Fprintf(&b, "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, data
}

// TestPathTraversalIsRefusedNotRedirected: on the real server, where the
// API, the UI and serving share one ServeMux, a path with "." or ".."
// segments (plain, percent-encoded or with ";" parameters) is answered
// 400 INVALID_PARAMETER_VALUE with MLflow's JSON error body on every
// route, the artifact proxy's included, never redirected to a cleaned
// path; artifact paths in query strings are refused the same way; and
// nothing outside the artifact root is touched.
func TestPathTraversalIsRefusedNotRedirected(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--jobs=false")
	sentinel := filepath.Join(dir, "outside.txt")
	if err := os.WriteFile(sentinel, []byte("do not touch"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := get(s.must("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "run", "info", "run_id").(string)
	model := get(s.must("POST", "/api/2.0/mlflow/logged-models", map[string]any{"experiment_id": "0", "name": "m"}), "model", "info", "model_id").(string)
	s.must("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/"+run+"/artifacts/ok.txt", []byte("ok"))

	const ap = "/api/2.0/mlflow-artifacts/artifacts"
	jsonErrors := []string{
		// The artifact proxy, both prefixes, every form ServeMux would clean.
		ap + "/../outside.txt",
		ap + "/0/../../outside.txt",
		ap + "/0/./x.txt",
		ap + "/0/" + run + "/artifacts/..",
		ap + "/./0",
		ap + "//outside.txt",
		ap + "/0//../../outside.txt",
		ap + "/%2e%2e/outside.txt",
		ap + "/0/.%2e/.%2e/outside.txt",
		ap + "/..%2foutside.txt",
		ap + "/%252e%252e/outside.txt",
		ap + "/..;/outside.txt",
		ap + "/0/x.txt;type=a",
		"/ajax-api/2.0/mlflow-artifacts/artifacts/0/../../outside.txt",
		"/ajax-api/2.0/mlflow-artifacts/artifacts/./0",
		// Other API routes: a ".." anywhere in the path.
		"/api/2.0/mlflow/logged-models/" + model + "/../" + model + "/artifacts/directories",
		"/api/2.0/mlflow/runs/../runs/get?run_id=" + run,
		"/api/2.0/mlflow/artifacts/./list?run_id=" + run,
		"/api/2.0/mlflow/%2e%2e/mlflow/experiments/search",
		"/api/2.0/mlflow/..;/mlflow/experiments/search",
		"/ajax-api/2.0/mlflow/logged-models/" + model + "/artifacts/../artifacts/files?artifact_file_path=MLmodel",
		// The UI and serving, mounted next to the API.
		"/runs/" + run + "/../" + run,
		"/runs/" + run + "/./artifact?path=ok.txt",
		"/runs/" + run + "/%2e%2e/" + run + "/artifact?path=ok.txt",
		"/experiments/../experiments",
		"/static/../static/lode.svg",
		"/v2/models/../health/ready",
		"/endpoints/x/../y/invocations",
		// Query-string artifact paths on the API.
		"/api/2.0/mlflow/artifacts/list?run_id=" + run + "&path=..",
		"/api/2.0/mlflow/artifacts/list?run_id=" + run + "&path=..%2f..%2f..",
		"/api/2.0/mlflow/artifacts/list?run_id=" + run + "&path=..;/x",
		"/api/2.0/mlflow/logged-models/" + model + "/artifacts/directories?artifact_directory_path=../..",
		"/ajax-api/2.0/mlflow/logged-models/" + model + "/artifacts/files?artifact_file_path=..%2f..%2foutside.txt",
		ap + "?path=..",
		ap + "/?path=%2e%2e%2f",
	}
	for _, target := range jsonErrors {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			if method != "GET" && (!strings.HasPrefix(target, ap+"/") || strings.Contains(target, "?")) {
				continue
			}
			var body []byte
			if method == "PUT" {
				body = []byte("pwned")
			}
			status, h, data := rawRequest(t, s.url, method, target, body)
			var e struct {
				Code    string `json:"error_code"`
				Message string `json:"message"`
			}
			if status != http.StatusBadRequest || json.Unmarshal(data, &e) != nil || e.Code != "INVALID_PARAMETER_VALUE" || e.Message == "" {
				t.Errorf("%s %s: %d (Location %q) %s; want 400 INVALID_PARAMETER_VALUE", method, target, status, h.Get("Location"), data)
			}
		}
	}
	// The refusals are in the access log, as other requests are.
	if log := s.log.String(); !strings.Contains(log, "path=/experiments/../experiments status=400") ||
		!strings.Contains(log, "path=/api/2.0/mlflow-artifacts/artifacts/0/../../outside.txt status=400") {
		t.Errorf("the access log lacks the refused requests:\n%s", log)
	}
	// The UI's artifact pages answer their own kind of error (plain text
	// for the browser's fragments, a page for the run page), but 400 all
	// the same.
	for _, target := range []string{
		"/runs/" + run + "?artifact=..",
		"/runs/" + run + "?artifact=..%2Foutside.txt",
		"/runs/" + run + "/artifact?path=../../outside.txt",
		"/runs/" + run + "/artifact?path=..;/outside.txt",
		"/runs/" + run + "/artifact?path=ok.txt;x",
		"/runs/" + run + "/preview?path=%252e%252e/outside.txt",
		"/runs/" + run + "/artifacts?path=..",
		"/runs/" + run + "/artifacts?path=a;b",
	} {
		status, h, data := rawRequest(t, s.url, "GET", target, nil)
		if status != http.StatusBadRequest || strings.Contains(string(data), "do not touch") {
			t.Errorf("GET %s: %d (Location %q) %.200s; want 400", target, status, h.Get("Location"), data)
		}
	}
	if b, err := os.ReadFile(sentinel); err != nil || string(b) != "do not touch" {
		t.Fatalf("the file outside the artifact root changed: %q %v", b, err)
	}
	// Clean paths still work through the same front.
	if status, _, data := rawRequest(t, s.url, "GET", ap+"/0/"+run+"/artifacts/ok.txt", nil); status != 200 || string(data) != "ok" {
		t.Errorf("GET the artifact: %d %s", status, data)
	}
	if status, _, data := rawRequest(t, s.url, "GET", "/runs/"+run+"/artifact?path=ok.txt", nil); status != 200 || string(data) != "ok" {
		t.Errorf("GET the artifact from the UI: %d %s", status, data)
	}
}
