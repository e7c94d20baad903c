package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/lode-ml/lode/s3store/s3test"
)

// `lode server --artifacts-destination s3://...` keeps the artifact
// proxy's files in S3 (a real versitygw on loopback): an upload through
// the proxy lands under the prefix and reads back whole.
func TestServerArtifactsOnS3(t *testing.T) {
	s3 := s3test.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	t.Setenv("AWS_REGION", s3.Region)
	t.Setenv("MLFLOW_S3_ENDPOINT_URL", s3.Endpoint)
	s := startServer(t, t.TempDir(), "--artifacts-destination", "s3://"+s3.Bucket+"/lode")

	exp := s.must("POST", "/api/2.0/mlflow/experiments/create", map[string]string{"name": "on-s3"})
	run := s.must("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": get(exp, "experiment_id")})
	uri := get(run, "run", "info", "artifact_uri").(string)
	rel := strings.TrimPrefix(uri, "mlflow-artifacts:/") + "/model/weights.bin"
	data := bytes.Repeat([]byte("lode"), 3<<20) // 12 MiB: more than one multipart part
	req, _ := http.NewRequest(http.MethodPut, s.url+"/api/2.0/mlflow-artifacts/artifacts/"+rel, bytes.NewReader(data))
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("upload: %d", res.StatusCode)
	}
	code, got, err := s.getBytes("/api/2.0/mlflow-artifacts/artifacts/" + rel)
	if err != nil || code != 200 || !bytes.Equal(got, data) {
		t.Fatalf("download: %d, %d bytes, %v", code, len(got), err)
	}
	keys := s3.Keys(t, s3.Bucket, "lode/")
	if len(keys) != 1 || keys[0] != "lode/"+rel {
		t.Fatalf("keys in the bucket: %v", keys)
	}

	// An upload over --max-artifact-bytes sent without its length is cut
	// after a multipart part went up: 413, and no object is left.
	lim := startServer(t, t.TempDir(), "--artifacts-destination", "s3://"+s3.Bucket+"/limited", "--max-artifact-bytes", strconv.Itoa(6<<20))
	req, _ = http.NewRequest(http.MethodPut, lim.url+"/api/2.0/mlflow-artifacts/artifacts/0/big.bin", io.MultiReader(bytes.NewReader(data)))
	res, err = lim.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 413 || body["error_code"] != "REQUEST_LIMIT_EXCEEDED" {
		t.Errorf("upload over the limit to S3: %d %v", res.StatusCode, body)
	}
	if keys := s3.Keys(t, s3.Bucket, "limited/"); len(keys) != 0 {
		t.Errorf("a refused upload left %v in the bucket", keys)
	}

	// A bucket that does not exist fails the start, with the reason.
	_, errOut, code2 := runLode(t, "server", "--port", "0", "--backend-store-uri", "sqlite:///"+t.TempDir()+"/x.db",
		"--artifacts-destination", "s3://no-such-bucket/x")
	if code2 == 0 || !strings.Contains(errOut, "--artifacts-destination") {
		t.Fatalf("missing bucket: exit %d\n%s", code2, errOut)
	}
}
