package main

// End-to-end tests of the servers' front door (package gate): host and
// origin checks against the real `lode server`, TLS with the Go client
// and the real mlflow client, stalled clients and the in-flight cap.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lode-ml/lode/gate/gatetest"
)

// raw sends one request with exactly the given Host and headers, as a
// browser (or an attacker's page) would, and returns the status, the
// answer's headers and its body.
func (s *lodeServer) raw(method, path, host, ctype, body string, headers map[string]string) (int, http.Header, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Host = host
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// findFiles lists the files named name under dir.
func findFiles(t *testing.T, dir, name string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == name {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// The attack, replayed: a page the user visits reaches the jobs
// API through DNS rebinding (a foreign Host), or posts to it cross-site
// (a foreign Origin), as fetch or as a form. Each is refused before
// routing and nothing runs; the same requests from the server's own UI
// and from the mlflow client go through, and the job they submit runs.
func TestRebindingAndCrossSiteRequestsRunNothing(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--access-log=false")
	self := strings.TrimPrefix(s.url, "http://")
	_, port, _ := net.SplitHostPort(self)
	attacker := "attacker.example:" + port
	const submit = `{"name":"x","command":"touch PWNED"}`
	const jsonType, formType = "application/json", "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, path, host, ctype, body string
		headers                       map[string]string
		want                          string
	}{
		{"the issue's curl (DNS rebinding)", "/api/2.0/lode/jobs/submit", attacker, jsonType, submit,
			map[string]string{"Origin": "http://" + attacker}, "Invalid Host header"},
		{"DNS rebinding as the browser sends it (same-origin in its eyes)", "/ajax-api/2.0/lode/jobs/submit", attacker, jsonType, submit,
			map[string]string{"Origin": "http://" + attacker, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}, "Invalid Host header"},
		{"DNS rebinding with a form", "/api/2.0/lode/jobs/submit", attacker, formType, "name=x&command=touch+PWNED",
			map[string]string{"Origin": "http://" + attacker, "Sec-Fetch-Site": "same-origin"}, "Invalid Host header"},
		{"cross-site fetch from a browser", "/api/2.0/lode/jobs/submit", self, jsonType, submit,
			map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}, "Cross-origin request blocked"},
		{"cross-site fetch from a browser without Sec-Fetch-Site", "/ajax-api/2.0/lode/jobs/submit", self, jsonType, submit,
			map[string]string{"Origin": "http://evil.example"}, "Cross-origin request blocked"},
		{"cross-site form", "/api/2.0/lode/jobs/submit", self, formType, "name=x&command=touch+PWNED",
			map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, "Cross-origin request blocked"},
		{"cross-site text/plain form carrying JSON", "/api/2.0/lode/jobs/submit", self, "text/plain", `{"name":"x","command":"touch PWNED","p":"="}`,
			map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, "Cross-origin request blocked"},
	} {
		code, h, body := s.raw("POST", tc.path, tc.host, tc.ctype, tc.body, tc.headers)
		var e struct {
			Code    string `json:"error_code"`
			Message string `json:"message"`
		}
		json.Unmarshal([]byte(body), &e)
		if code != 403 || e.Code != "PERMISSION_DENIED" || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: %d %s, want 403 PERMISSION_DENIED %q", tc.name, code, body, tc.want)
		}
		if h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: the refusal lacks the security headers: %v", tc.name, h)
		}
	}
	// A UI page through DNS rebinding: refused in plain text.
	code, h, body := s.raw("GET", "/experiments", attacker, "", "", nil)
	if code != 403 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || !strings.Contains(body, "Invalid Host header") {
		t.Errorf("UI page through DNS rebinding: %d %s %q", code, h.Get("Content-Type"), body)
	}
	// The load balancer's probe still answers under any name.
	if code, _, body := s.raw("GET", "/health", attacker, "", "", nil); code != 200 || body != "OK" {
		t.Errorf("/health under a foreign Host: %d %q", code, body)
	}

	if jobs, _ := get(s.must("GET", "/api/2.0/lode/jobs/list", nil), "jobs").([]any); len(jobs) != 0 {
		t.Fatalf("refused requests made jobs: %v", jobs)
	}
	time.Sleep(1500 * time.Millisecond) // longer than the scheduler's tick
	if found := findFiles(t, dir, "PWNED"); len(found) > 0 {
		t.Fatalf("a refused request ran its command: %v", found)
	}

	// The legitimate requests: the UI's page and its same-origin fetches
	// (through 127.0.0.1 and localhost), and the mlflow client's (no
	// Origin at all).
	code, h, _ = s.raw("GET", "/experiments", self, "", "", nil)
	if code != 200 || h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" {
		t.Errorf("UI page: %d %v", code, h)
	}
	for _, host := range []string{self, "localhost:" + port} {
		code, _, body = s.raw("POST", "/ajax-api/2.0/mlflow/experiments/create", host, jsonType, `{"name":"ui-`+host+`"}`,
			map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"})
		if code != 200 {
			t.Errorf("the UI's same-origin POST through %s: %d %s", host, code, body)
		}
	}
	s.must("POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": "client"})
	code, _, body = s.raw("POST", "/ajax-api/2.0/lode/jobs/submit", self, jsonType, submit,
		map[string]string{"Origin": "http://" + self, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"})
	if code != 200 {
		t.Fatalf("the UI's job submission: %d %s", code, body)
	}
	var sub struct{ Job struct{ ID string } }
	json.Unmarshal([]byte(body), &sub)
	waitJob(t, s, sub.Job.ID, "SUCCEEDED")
	if found := findFiles(t, dir, "PWNED"); len(found) != 1 {
		t.Errorf("the legitimate job's file: %v", found)
	}
}

// waitJob waits for a job to reach state.
func waitJob(t *testing.T, s *lodeServer, id, state string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		j := s.must("GET", "/api/2.0/lode/jobs/get?id="+id, nil)
		st, _ := get(j, "job", "state").(string)
		if st == state {
			return j
		}
		if time.Now().After(deadline) || (st != "QUEUED" && st != "SCHEDULED" && st != "RUNNING") {
			_, logs, _ := s.getBytes("/api/2.0/lode/jobs/logs?id=" + id)
			t.Fatalf("job %s: %v, want %s; log:\n%s", id, j, state, logs)
		}
	}
}

// cleanEnv is this process's environment without the mlflow client's
// tracking variables, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MLFLOW_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runLodeEnv runs the lode binary with env.
func runLodeEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(lodeBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Run()
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

const tlsClientScript = `
import os, tempfile, mlflow
from mlflow import MlflowClient
mlflow.set_experiment("tls")
with mlflow.start_run() as run:
    mlflow.log_param("p", "1")
    mlflow.log_metric("m", 2.0)
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "a.txt"), "w") as f:
        f.write("over tls")
    mlflow.log_artifact(os.path.join(d, "a.txt"))
r = MlflowClient().get_run(run.info.run_id)
assert r.data.metrics["m"] == 2.0, r.data.metrics
p = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="a.txt", dst_path=tempfile.mkdtemp())
assert open(p).read() == "over tls"
print("ok", run.info.run_id)
`

// lode server over TLS: the Go client and the real mlflow client, with
// the certificate given or verification off, and a job that reaches the
// server over https with the certificate the server hands it.
func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := gatetest.SelfSigned(t, dir)
	s := startServer(t, dir, "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(s.url, "https://127.0.0.1:") {
		t.Fatalf("logged URL %s, want https", s.url)
	}
	plain := "http://" + strings.TrimPrefix(s.url, "https://")
	if res, err := http.Get(plain + "/health"); err == nil {
		res.Body.Close()
		if res.StatusCode != 400 {
			t.Errorf("plain HTTP to the TLS server: %d", res.StatusCode)
		}
	}

	// Lode's own client.
	s.must("POST", "/api/2.0/mlflow/registered-models/create", map[string]string{"name": "tls-model"})
	for _, tc := range []struct {
		name string
		env  []string
		ok   bool
	}{
		{"with the certificate", []string{"MLFLOW_TRACKING_SERVER_CERT_PATH=" + cert}, true},
		{"insecure", []string{"MLFLOW_TRACKING_INSECURE_TLS=true"}, true},
		{"without either", nil, false},
	} {
		out, errOut, code := runLodeEnv(t, cleanEnv(tc.env...), "models", "list", "--tracking-uri", s.url)
		if tc.ok && (code != 0 || !strings.Contains(out, "tls-model")) {
			t.Errorf("lode models list %s: exit %d\n%s%s", tc.name, code, out, errOut)
		}
		if !tc.ok && (code == 0 || !strings.Contains(errOut, "certificate")) {
			t.Errorf("lode models list %s: exit %d, want a certificate error\n%s%s", tc.name, code, out, errOut)
		}
	}

	python := os.Getenv("LODE_TEST_PYTHON")
	if python == "" {
		t.Skip("LODE_TEST_PYTHON is not set: the mlflow client half is skipped")
	}
	for _, tc := range []struct {
		name string
		env  []string
		ok   bool
	}{
		{"MLFLOW_TRACKING_SERVER_CERT_PATH", []string{"MLFLOW_TRACKING_SERVER_CERT_PATH=" + cert}, true},
		{"MLFLOW_TRACKING_INSECURE_TLS", []string{"MLFLOW_TRACKING_INSECURE_TLS=true"}, true},
		{"neither", []string{"MLFLOW_HTTP_REQUEST_MAX_RETRIES=0"}, false},
	} {
		cmd := exec.Command(python, "-c", tlsClientScript)
		cmd.Dir = t.TempDir()
		cmd.Env = cleanEnv(append(tc.env, "MLFLOW_TRACKING_URI="+s.url)...)
		out, err := cmd.CombinedOutput()
		if tc.ok && (err != nil || !strings.Contains(string(out), "ok ")) {
			t.Errorf("mlflow client with %s: %v\n%s", tc.name, err, out)
		}
		if !tc.ok && (err == nil || !strings.Contains(string(out), "CERTIFICATE_VERIFY_FAILED")) {
			t.Errorf("mlflow client with %s: %v, want a verification failure\n%s", tc.name, err, out)
		}
	}

	// A job's mlflow calls reach the server over https with the
	// certificate the server gave it.
	cmdline := fmt.Sprintf(`echo "uri=$MLFLOW_TRACKING_URI cert=$MLFLOW_TRACKING_SERVER_CERT_PATH"; %q -c "import mlflow; mlflow.log_metric('tls_job', 1.0)"`, python)
	j := s.must("POST", "/api/2.0/lode/jobs/submit", map[string]any{"name": "tls", "command": cmdline})
	id := get(j, "job", "id").(string)
	j = waitJob(t, s, id, "SUCCEEDED")
	_, logs, _ := s.getBytes("/api/2.0/lode/jobs/logs?id=" + id)
	if want := fmt.Sprintf("uri=%s cert=%s\n", s.url, cert); !strings.HasPrefix(string(logs), want) {
		t.Errorf("job log %q, want it to start with %q", logs, want)
	}
	run := s.must("GET", "/api/2.0/mlflow/runs/get?run_id="+get(j, "job", "run_id").(string), nil)
	// The job's own metric, among the system/ metrics its job may have
	// sampled when it ran long enough (as it does on a loaded machine).
	metrics, _ := get(run, "run", "data", "metrics").([]any)
	logged := false
	for _, m := range metrics {
		logged = logged || get(m, "key") == "tls_job"
	}
	if !logged {
		t.Errorf("the job's run metrics: %v, want tls_job among them", metrics)
	}
}

// A client that sends headers and part of an upload, then stops, is cut
// after --read-timeout, and leaves no artifact; while such clients hold
// the --max-inflight-requests slots, other requests get 503 at once and
// health probes still answer.
func TestStalledClientsAndInflightCap(t *testing.T) {
	// Long enough that on a loaded machine the stalled uploads reach their
	// handlers, and so hold the slots, well before they are cut.
	const readTimeout = 5 * time.Second
	s := startServer(t, t.TempDir(), "--access-log=false", "--read-timeout", readTimeout.String(), "--max-inflight-requests", "2")
	addr := strings.TrimPrefix(s.url, "http://")
	start := time.Now()
	stall := func(i int) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "PUT /api/2.0/mlflow-artifacts/artifacts/0/stalled/file%d HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n\r\n%s",
			i, addr, strings.Repeat("x", 1000))
		return c
	}
	conns := []net.Conn{stall(0), stall(1)}
	var code int
	var h http.Header
	var body string
	for deadline := time.Now().Add(readTimeout - time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, h, body = s.raw("GET", "/api/2.0/mlflow/experiments/search?max_results=1", addr, "", "", nil)
		if code == 503 || time.Now().After(deadline) {
			break
		}
		// The server reads the connections concurrently: a probe that came
		// in while only one upload held a slot took the other, and the
		// second upload was refused (its answer waits until its body is
		// cut, but the server logs the refusal). Stall another in its place.
		for refused := strings.Count(s.log.String(), `too many in flight" limit=2 method=PUT`); len(conns) < 2+refused; {
			conns = append(conns, stall(len(conns)))
		}
	}
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, `"error_code":"TEMPORARILY_UNAVAILABLE"`) {
		t.Errorf("beyond the cap: %d %v %s, want 503 TEMPORARILY_UNAVAILABLE with Retry-After", code, h, body)
	}
	if code, _, body := s.raw("GET", "/health", addr, "", "", nil); code != 200 || body != "OK" {
		t.Errorf("/health at the cap: %d %s", code, body)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("stalled upload %d was not cut: %v", i, err)
		}
	}
	if d := time.Since(start); d < readTimeout || d > readTimeout+5*time.Second {
		t.Errorf("the stalled uploads were cut after %v, want about %v", d, readTimeout)
	}
	if code, _, _ := s.raw("GET", "/api/2.0/mlflow-artifacts/artifacts/0/stalled/file0", addr, "", "", nil); code != 404 {
		t.Errorf("a cut upload left an artifact: %d", code)
	}
	if code, _, body := s.raw("GET", "/api/2.0/mlflow/experiments/search?max_results=1", addr, "", "", nil); code != 200 {
		t.Errorf("after the stalled clients were cut: %d %s", code, body)
	}
}

// lode serve has the same front door: TLS, the host check (not on its
// probes), the security headers.
func TestServeFrontDoor(t *testing.T) {
	needONNXRuntime(t)
	dir := t.TempDir()
	cert, key, pool := gatetest.SelfSigned(t, dir)
	cmd := exec.Command(lodeBin, "serve", "-m", halfPlusTwoDir(t), "-p", "0", "--name", "half_plus_two", "--tls-cert", cert, "--tls-key", key)
	var log lockedBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == ""; time.Sleep(20 * time.Millisecond) {
		if m := serveListenRE.FindStringSubmatch(log.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("lode serve did not start:\n%s", log.String())
		}
	}
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("lode serve logged %s, want https", url)
	}
	s := &lodeServer{t: t, url: url, client: tlsClient(pool)}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(url, "https://"))
	code, h, body := s.raw("POST", "/invocations", "127.0.0.1:"+port, "application/json", `{"inputs": [1.0, 2.0, 5.0]}`, nil)
	if code != 200 || body != `{"predictions":[2.5,3.0,4.5]}` || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("POST /invocations over TLS: %d %s %v", code, body, h)
	}
	code, h, body = s.raw("POST", "/invocations", "attacker.example:"+port, "application/json", `{"inputs": [1.0]}`, nil)
	if code != 403 || !strings.Contains(body, `"error_code":"PERMISSION_DENIED"`) || h.Get("Content-Type") != "application/json" {
		t.Errorf("POST /invocations under a foreign Host: %d %s", code, body)
	}
	if code, _, _ := s.raw("GET", "/ping", "10.1.2.3.nip.example", "", "", nil); code != 200 {
		t.Errorf("GET /ping under a foreign Host: %d", code)
	}
}

func tlsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}
