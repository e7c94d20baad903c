package mlflowapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/localfs"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// apiEnv is a real Lode API: SQLite store, localfs artifacts, the
// mlflowapi handler behind an httptest server.
type apiEnv struct {
	t       *testing.T
	srv     *httptest.Server
	api     *mlflowapi.Server
	db      *sqlite.DB
	store   *localfs.Store
	base    string // holds art/ (the artifact root) and outside/
	artRoot string // what localfs.New was given
	outside string // a directory next to the root, never to be touched
}

const testVersion = "1.2.3-test"

// newAPIEnv starts a server; configure may change the Server before its
// Handler is built.
func newAPIEnv(t *testing.T, configure ...func(*mlflowapi.Server)) *apiEnv {
	t.Helper()
	ctx := context.Background()
	base := t.TempDir()
	dbDir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dbDir, "lode.db"), sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:"})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	artRoot := filepath.Join(base, "art")
	store, err := localfs.New(artRoot)
	if err != nil {
		t.Fatalf("localfs.New: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	outside := filepath.Join(base, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "sentinel.txt"), []byte("do not touch"), 0o644); err != nil {
		t.Fatal(err)
	}
	api := &mlflowapi.Server{
		Tracking:  &tracking.Service{Store: db, ValidateLocation: artifact.ValidateLocation},
		Artifacts: store,
		Version:   testVersion,
	}
	for _, c := range configure {
		c(api)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &apiEnv{t: t, srv: srv, api: api, db: db, store: store, base: base, artRoot: artRoot, outside: outside}
}

func (e *apiEnv) addr() string { return strings.TrimPrefix(e.srv.URL, "http://") }

// resp is a decoded response.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any // nil when the body is not a JSON object
}

func (r resp) String() string {
	b := r.Body
	if len(b) > 600 {
		b = b[:600]
	}
	return fmt.Sprintf("HTTP %d %s", r.Status, b)
}

func newResp(status int, h http.Header, body []byte) resp {
	r := resp{Status: status, Header: h, Body: body}
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		r.JSON = m
	}
	return r
}

// do sends method url with body: nil, a string or []byte (sent as is), or
// any other value (sent as JSON).
func (e *apiEnv) do(method, path string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return newResp(res.StatusCode, res.Header, data)
}

// get sends a GET with the query q.
func (e *apiEnv) get(path string, q url.Values) resp {
	e.t.Helper()
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return e.do(http.MethodGet, path, nil)
}

// ok fails the test unless r is a 200 with a JSON object.
func (e *apiEnv) ok(r resp, what string) map[string]any {
	e.t.Helper()
	if r.Status != http.StatusOK || r.JSON == nil {
		e.t.Fatalf("%s: want 200 with a JSON object, got %s", what, r)
	}
	return r.JSON
}

// wantError checks an MLflow error body and status, reporting every
// mismatch of one response in a single line.
func wantError(t *testing.T, r resp, status int, code string, what string) {
	t.Helper()
	var bad []string
	if r.Status != status {
		bad = append(bad, fmt.Sprintf("status %d, want %d", r.Status, status))
	}
	if r.JSON == nil {
		bad = append(bad, "body is not a JSON object")
	} else {
		if got, _ := r.JSON["error_code"].(string); got != code {
			bad = append(bad, fmt.Sprintf("error_code %q, want %q", got, code))
		}
		if msg, _ := r.JSON["message"].(string); strings.TrimSpace(msg) == "" {
			bad = append(bad, "empty message")
		}
	}
	if ct := r.Header.Get("Content-Type"); r.Status >= 400 && !strings.HasPrefix(ct, "application/json") {
		bad = append(bad, fmt.Sprintf("Content-Type %q, want application/json", ct))
	}
	if len(bad) > 0 {
		t.Errorf("%s: %s (%s)", what, strings.Join(bad, "; "), r)
	}
}

// rawDo writes exactly "METHOD target HTTP/1.1" and body on a fresh TCP
// connection, so that no client library normalises the target.
func rawDo(t *testing.T, addr, method, target string, body []byte) resp {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
	if body != nil || method == http.MethodPut || method == http.MethodPost {
		fmt.Fprintf(&b, "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: reading the response: %v", method, target, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return newResp(res.StatusCode, res.Header, data)
}

// snapshot records every entry under dir (without following symlinks):
// type, mode, size, content hash and link target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v", fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			desc += fmt.Sprintf(" %d %s mtime=%d", fi.Size(), hex.EncodeToString(sum[:8]), fi.ModTime().UnixNano())
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(before, after map[string]string) string {
	var b strings.Builder
	for k, v := range before {
		if w, ok := after[k]; !ok {
			fmt.Fprintf(&b, "\n  removed %s (%s)", k, v)
		} else if w != v {
			fmt.Fprintf(&b, "\n  changed %s: %s => %s", k, v, w)
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			fmt.Fprintf(&b, "\n  created %s (%s)", k, v)
		}
	}
	return b.String()
}

// field walks a decoded JSON value: field(m, "run", "info", "run_id").
func field(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, keys ...string) string {
	s, _ := field(v, keys...).(string)
	return s
}

func list(v any, keys ...string) []any {
	l, _ := field(v, keys...).([]any)
	return l
}

// kv turns a list of {"key","value"} objects into a map.
func kv(items []any) map[string]string {
	out := map[string]string{}
	for _, it := range items {
		out[str(it, "key")] = str(it, "value")
	}
	return out
}
