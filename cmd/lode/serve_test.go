package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lode-ml/lode/onnx"
)

// needONNXRuntime skips a test when ONNX Runtime's library is missing,
// unless LODE_REQUIRE_ONNXRUNTIME=1 (as in make test) makes that a failure.
func needONNXRuntime(t *testing.T) {
	t.Helper()
	if _, err := onnx.FindLibrary(""); err != nil {
		if os.Getenv("LODE_REQUIRE_ONNXRUNTIME") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// halfPlusTwoDir is an MLflow ONNX model folder: y = 0.5 x + 2.
func halfPlusTwoDir(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("..", "..", "onnx", "testdata", "half_plus_two"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b))
}

// registerHalfPlusTwo logs the half_plus_two ONNX model as a run's
// artifacts through s and registers it as hpt version 1, alias champion.
func registerHalfPlusTwo(t *testing.T, s *lodeServer) {
	t.Helper()
	run := get(s.must("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "run", "info")
	root := strings.TrimLeft(strings.TrimPrefix(get(run, "artifact_uri").(string), "mlflow-artifacts:"), "/")
	for _, name := range []string{"MLmodel", "model.onnx"} {
		b, err := os.ReadFile(filepath.Join(halfPlusTwoDir(t), name))
		if err != nil {
			t.Fatal(err)
		}
		s.must("PUT", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/model/"+name, b)
	}
	s.must("POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "hpt"})
	s.must("POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": "hpt", "source": "runs:/" + get(run, "run_id").(string) + "/model"})
	s.must("POST", "/api/2.0/mlflow/registered-models/alias", map[string]any{"name": "hpt", "alias": "champion", "version": "1"})
}

// A deployment is stored: after the server is killed and started again on
// the same files, it serves the model again without being recreated.
func TestDeploymentsSurviveRestart(t *testing.T) {
	needONNXRuntime(t)
	dir := t.TempDir()
	s := startServer(t, dir, "--access-log=false", "--deployment-poll", "100ms")
	registerHalfPlusTwo(t, s)
	s.must("POST", "/api/2.0/lode/deployments/create", map[string]any{"name": "hpt", "model_uri": "models:/hpt@champion"})

	waitAvailable := func(s *lodeServer) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			st := s.must("GET", "/api/2.0/lode/deployments/get?name=hpt", nil)
			if get(st, "deployment", "state") == "AVAILABLE" {
				if get(st, "deployment", "runtime_name") != "onnxruntime" || get(st, "deployment", "version") != "1" {
					t.Fatalf("deployment: %v", st)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("deployment never became available: %v\n%s", st, s.log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	predict := func(s *lodeServer) {
		t.Helper()
		code, body := postJSON(t, s.url+"/v1/models/hpt:predict", `{"instances": [1.0, 2.0, 5.0]}`)
		if code != 200 || body != `{"predictions":[2.5,3.0,4.5]}` {
			t.Fatalf("predict: %d %s", code, body)
		}
	}
	waitAvailable(s)
	predict(s)
	s.kill()

	s2 := startServer(t, dir, "--access-log=false")
	waitAvailable(s2)
	predict(s2)
	list := s2.must("GET", "/api/2.0/lode/deployments/list", nil)
	if n := len(list["deployments"].([]any)); n != 1 {
		t.Fatalf("%d deployments after restart: %v", n, list)
	}
	s2.must("DELETE", "/api/2.0/lode/deployments/delete", map[string]any{"name": "hpt"})
	if code, _ := postJSON(t, s2.url+"/v1/models/hpt:predict", `{"instances": [1.0]}`); code != 404 {
		t.Fatalf("deleted deployment answered %d", code)
	}
}

var serveListenRE = regexp.MustCompile(`lode serve listening.* url=(https?://\S+)`)

// lode serve on a local model folder answers all three protocols and
// stops cleanly on SIGTERM.
func TestServeLocalFolder(t *testing.T) {
	needONNXRuntime(t)
	cmd := exec.Command(lodeBin, "serve", "-m", halfPlusTwoDir(t), "-p", "0", "--name", "half_plus_two")
	var log lockedBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	var url string
	deadline := time.Now().Add(20 * time.Second)
	for url == "" {
		if m := serveListenRE.FindStringSubmatch(log.String()); m != nil {
			url = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lode serve did not start:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, tc := range []struct{ path, body, want string }{
		{"/invocations", `{"inputs": [1.0, 2.0, 5.0]}`, `{"predictions":[2.5,3.0,4.5]}`},
		{"/v1/models/half_plus_two:predict", `{"instances": [1.0, 2.0, 5.0]}`, `{"predictions":[2.5,3.0,4.5]}`},
		{"/v2/models/half_plus_two/infer", `{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2, 5]}]}`,
			`{"model_name":"half_plus_two","model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[3],"data":[2.5,3.0,4.5]}]}`},
	} {
		code, body := postJSON(t, url+tc.path, tc.body)
		if code != 200 || body != tc.want {
			t.Errorf("POST %s: %d %s, want %s", tc.path, code, body, tc.want)
		}
	}
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	io.Copy(&metrics, res.Body)
	res.Body.Close()
	if !strings.Contains(metrics.String(), `lode_serving_requests_total{code="200",model="half_plus_two",protocol="kserve",version="1"} 1`) {
		t.Errorf("metrics lack the KServe request:\n%s", metrics.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("lode serve exited with %v\n%s", err, log.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("lode serve did not stop on SIGTERM")
	}
}

// A missing library is a clear error for ONNX models.
func TestServeWithoutONNXRuntime(t *testing.T) {
	cmd := exec.Command(lodeBin, "serve", "-m", halfPlusTwoDir(t), "-p", "0", "--onnxruntime-lib", filepath.Join(t.TempDir(), "nope.so"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("lode serve started without ONNX Runtime:\n%s", out)
	}
	if !bytes.Contains(out, []byte("cannot serve an ONNX model")) || !bytes.Contains(out, []byte("onnxruntime")) {
		t.Fatalf("unclear error:\n%s", out)
	}
}

// Without ONNX Runtime's library the server starts all the same: only an
// ONNX model is refused, and the deployment says why and how to get it.
func TestServerRunsWithoutONNXRuntime(t *testing.T) {
	t.Setenv("LODE_ONNXRUNTIME_LIB", "") // the test binary's and the server's folders have no lib/onnxruntime
	s := startServer(t, t.TempDir(), "--access-log=false", "--jobs=false", "--deployment-poll", "100ms")
	registerHalfPlusTwo(t, s)
	s.must("POST", "/api/2.0/lode/deployments/create", map[string]any{"name": "hpt", "model_uri": "models:/hpt/1"})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d := s.must("GET", "/api/2.0/lode/deployments/get?name=hpt", nil)
		st, _ := get(d, "deployment", "state").(string)
		if st == "LOADING" && time.Now().Before(deadline) {
			continue
		}
		msg, _ := get(d, "deployment", "error").(string)
		if st != "FAILED" || !strings.Contains(msg, "cannot serve an ONNX model: ONNX Runtime shared library not found") || !strings.Contains(msg, "make onnxruntime") {
			t.Fatalf("deployment of an ONNX model without ONNX Runtime: %v", d)
		}
		break
	}
}
