package mlflowapi

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// ClientFromEnv returns a client of the tracking server at baseURL that
// authenticates and checks TLS as the mlflow Python client does, from the
// same environment variables (getenv is os.Getenv outside tests):
//
//   - MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (else the
//     [mlflow] section of ~/.mlflow/credentials): HTTP Basic; else
//     MLFLOW_TRACKING_TOKEN: a Bearer token.
//   - MLFLOW_TRACKING_SERVER_CERT_PATH: the PEM certificates (CA bundle)
//     the server's certificate is verified with, instead of the system's.
//   - MLFLOW_TRACKING_INSECURE_TLS=true: no verification at all; it may not
//     be set together with MLFLOW_TRACKING_SERVER_CERT_PATH.
//   - MLFLOW_TRACKING_CLIENT_CERT_PATH: a PEM file holding a client
//     certificate and its key, for servers that ask for one.
//
// tr is the transport the client uses; its TLS settings are set here.
func ClientFromEnv(baseURL string, getenv func(string) string, tr *http.Transport) (*Client, error) {
	c := &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Transport: tr}}
	user, pass := getenv("MLFLOW_TRACKING_USERNAME"), getenv("MLFLOW_TRACKING_PASSWORD")
	if user == "" || pass == "" {
		fu, fp := credentialsFile(getenv("HOME"))
		if user == "" {
			user = fu
		}
		if pass == "" {
			pass = fp
		}
	}
	switch token := getenv("MLFLOW_TRACKING_TOKEN"); {
	case user != "" && pass != "":
		c.Authorization = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	case token != "":
		c.Authorization = "Bearer " + token
	}

	insecure := false
	switch v := strings.ToLower(getenv("MLFLOW_TRACKING_INSECURE_TLS")); v {
	case "", "false", "0":
	case "true", "1":
		insecure = true
	default:
		return nil, fmt.Errorf("MLFLOW_TRACKING_INSECURE_TLS must be true, false, 1 or 0, not %q", v)
	}
	serverCert, clientCert := getenv("MLFLOW_TRACKING_SERVER_CERT_PATH"), getenv("MLFLOW_TRACKING_CLIENT_CERT_PATH")
	if insecure && serverCert != "" {
		return nil, fmt.Errorf("MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH are both set: set one of them")
	}
	if !insecure && serverCert == "" && clientCert == "" {
		return c, nil
	}
	cfg := &tls.Config{}
	if tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	cfg.InsecureSkipVerify = insecure
	if serverCert != "" {
		pem, err := os.ReadFile(serverCert)
		if err != nil {
			return nil, fmt.Errorf("MLFLOW_TRACKING_SERVER_CERT_PATH: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("MLFLOW_TRACKING_SERVER_CERT_PATH: no PEM certificate in %s", serverCert)
		}
		cfg.RootCAs = pool
	}
	if clientCert != "" {
		pem, err := os.ReadFile(clientCert)
		if err != nil {
			return nil, fmt.Errorf("MLFLOW_TRACKING_CLIENT_CERT_PATH: %w", err)
		}
		cert, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			return nil, fmt.Errorf("MLFLOW_TRACKING_CLIENT_CERT_PATH: %s must hold a PEM certificate and its key: %w", clientCert, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr.TLSClientConfig = cfg
	return c, nil
}

// credentialsFile reads the username and password of the mlflow client's
// credentials file (~/.mlflow/credentials, an INI file), if there is one.
func credentialsFile(home string) (user, pass string) {
	if home == "" {
		return "", ""
	}
	b, err := os.ReadFile(filepath.Join(home, ".mlflow", "credentials"))
	if err != nil {
		return "", ""
	}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			section = strings.TrimSpace(line[1 : len(line)-1])
		case section == "mlflow":
			k, v, ok := strings.Cut(line, "=")
			if i := strings.IndexByte(line, ':'); i >= 0 && (!ok || i < len(k)) {
				k, v, ok = line[:i], line[i+1:], true
			}
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "mlflow_tracking_username":
				user = strings.TrimSpace(v)
			case "mlflow_tracking_password":
				pass = strings.TrimSpace(v)
			}
		}
	}
	return user, pass
}
