package mlflowapi_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lode-ml/lode/gate/gatetest"
	"github.com/lode-ml/lode/mlflowapi"
)

// The client takes the mlflow client's variables: credentials (Basic, then
// Bearer, then the credentials file) and TLS (a CA bundle, no
// verification, a client certificate), against a real TLS server.
func TestClientFromEnv(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := gatetest.SelfSigned(t, dir)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, "client.pem")
	certPEM, _ := os.ReadFile(certFile)
	keyPEM, _ := os.ReadFile(keyFile)
	os.WriteFile(both, append(certPEM, keyPEM...), 0o600)

	var gotAuth string
	var gotClientCert bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		gotClientCert = len(r.TLS.PeerCertificates) > 0
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"registered_model": {"name": "m"}}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".mlflow"), 0o700)
	os.WriteFile(filepath.Join(home, ".mlflow", "credentials"),
		[]byte("# mlflow login\n[other]\nmlflow_tracking_username = nobody\n[mlflow]\nMLFLOW_TRACKING_USERNAME = fileuser\nmlflow_tracking_password: file:pass\n"), 0o600)
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }

	for _, tc := range []struct {
		name       string
		env        map[string]string
		auth       string
		clientCert bool
		fails      string // a part of the call's error
		bad        string // a part of ClientFromEnv's error
	}{
		{name: "no CA: the system's do not know the certificate", fails: "certificate"},
		{name: "CA bundle", env: map[string]string{"MLFLOW_TRACKING_SERVER_CERT_PATH": certFile}},
		{name: "insecure", env: map[string]string{"MLFLOW_TRACKING_INSECURE_TLS": "true"}},
		{name: "insecure=1, Basic", env: map[string]string{"MLFLOW_TRACKING_INSECURE_TLS": "1", "MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "s3cret:x"},
			auth: basic("ann", "s3cret:x")},
		{name: "Basic wins over a token", env: map[string]string{"MLFLOW_TRACKING_SERVER_CERT_PATH": certFile,
			"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw", "MLFLOW_TRACKING_TOKEN": "tok"}, auth: basic("ann", "pw")},
		{name: "token", env: map[string]string{"MLFLOW_TRACKING_SERVER_CERT_PATH": certFile, "MLFLOW_TRACKING_TOKEN": "tok"}, auth: "Bearer tok"},
		{name: "credentials file", env: map[string]string{"MLFLOW_TRACKING_SERVER_CERT_PATH": certFile, "HOME": home}, auth: basic("fileuser", "file:pass")},
		{name: "password from the environment, user from the file", env: map[string]string{"MLFLOW_TRACKING_SERVER_CERT_PATH": certFile,
			"HOME": home, "MLFLOW_TRACKING_PASSWORD": "envpw"}, auth: basic("fileuser", "envpw")},
		{name: "username without password: the token", env: map[string]string{"MLFLOW_TRACKING_SERVER_CERT_PATH": certFile,
			"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_TOKEN": "tok"}, auth: "Bearer tok"},
		{name: "client certificate", env: map[string]string{"MLFLOW_TRACKING_SERVER_CERT_PATH": certFile, "MLFLOW_TRACKING_CLIENT_CERT_PATH": both},
			clientCert: true},
		{name: "insecure and a CA", env: map[string]string{"MLFLOW_TRACKING_INSECURE_TLS": "true", "MLFLOW_TRACKING_SERVER_CERT_PATH": certFile},
			bad: "both set"},
		{name: "insecure=yes", env: map[string]string{"MLFLOW_TRACKING_INSECURE_TLS": "yes"}, bad: "must be true, false"},
		{name: "missing CA file", env: map[string]string{"MLFLOW_TRACKING_SERVER_CERT_PATH": certFile + ".nope"}, bad: "MLFLOW_TRACKING_SERVER_CERT_PATH"},
		{name: "CA file without a certificate", env: map[string]string{"MLFLOW_TRACKING_SERVER_CERT_PATH": keyFile}, bad: "no PEM certificate"},
		{name: "client cert without its key", env: map[string]string{"MLFLOW_TRACKING_CLIENT_CERT_PATH": certFile}, bad: "certificate and its key"},
	} {
		gotAuth, gotClientCert = "", false
		getenv := func(k string) string { return tc.env[k] }
		c, err := mlflowapi.ClientFromEnv(url+"/", getenv, http.DefaultTransport.(*http.Transport).Clone())
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%s: ClientFromEnv error %v, want one about %q", tc.name, err, tc.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		_, err = c.GetRegisteredModel(context.Background(), "m")
		if tc.fails != "" {
			if err == nil || !strings.Contains(err.Error(), tc.fails) {
				t.Errorf("%s: call error %v, want one about %q", tc.name, err, tc.fails)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if gotAuth != tc.auth || gotClientCert != tc.clientCert {
			t.Errorf("%s: Authorization %q, client certificate %v; want %q, %v", tc.name, gotAuth, gotClientCert, tc.auth, tc.clientCert)
		}
	}
}
