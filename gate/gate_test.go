package gate_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lode-ml/lode/gate"
	"github.com/lode-ml/lode/gate/gatetest"
)

// serve runs h behind a gate on a real loopback server and returns its URL.
func serve(t *testing.T, cfg gate.Config, h http.Handler) (*gate.Gate, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(cfg, ln.Addr())
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := g.Server(h)
	go g.Serve(srv, ln)
	t.Cleanup(func() { srv.Close() })
	return g, g.URL(ln.Addr())
}

// ok answers 200 "ok", and counts the requests that got through.
type ok struct{ n atomic.Int64 }

func (o *ok) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.n.Add(1)
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "ok")
}

var apiPrefixes = []string{"/api/", "/ajax-api/"}

func TestHostAndOriginChecks(t *testing.T) {
	h := &ok{}
	_, base := serve(t, gate.Config{APIPrefixes: apiPrefixes, AllowedHosts: []string{"lode.example.com", "*.corp.example"},
		CORSAllowedOrigins: []string{"https://app.example.com", "https://*.tools.example"}}, h)
	port := base[strings.LastIndex(base, ":")+1:]
	self := "127.0.0.1:" + port
	const submit = "/api/2.0/lode/jobs/submit"
	for _, tc := range []struct {
		name, method, path, host string
		headers                  map[string]string
		status                   int
		json                     bool
	}{
		{"same host, no origin (mlflow client)", "POST", submit, self, nil, 200, false},
		{"localhost on the port", "GET", "/experiments", "localhost:" + port, nil, 200, false},
		{"rebinding: foreign Host and its own Origin", "POST", submit, "attacker.example:" + port,
			map[string]string{"Origin": "http://attacker.example:" + port}, 403, true},
		{"rebinding: foreign Host, GET of the UI", "GET", "/experiments", "attacker.example:" + port, nil, 403, false},
		{"rebinding: foreign Host, GET of the API", "GET", "/api/2.0/mlflow/experiments/search", "attacker.example", nil, 403, true},
		{"foreign Host on a health probe", "GET", "/health", "attacker.example", nil, 200, false},
		{"foreign Host POSTing to the probe path", "POST", "/health", "attacker.example", nil, 403, false},
		{"added host", "POST", submit, "lode.example.com", map[string]string{"Origin": "https://lode.example.com"}, 200, false},
		{"added wildcard", "GET", "/experiments", "lode.corp.example:8443", nil, 200, false},
		{"browser same-origin POST", "POST", submit, self,
			map[string]string{"Origin": "http://" + self, "Sec-Fetch-Site": "same-origin"}, 200, false},
		{"browser cross-site POST to the API", "POST", submit, self,
			map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, 403, true},
		{"cross-site form POST to a UI path", "POST", "/experiments", self,
			map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"}, 403, false},
		{"old browser: foreign Origin, no Sec-Fetch-Site", "POST", submit, self, map[string]string{"Origin": "http://evil.example"}, 403, true},
		{"same-site subdomain", "DELETE", submit, self,
			map[string]string{"Origin": "http://a." + self, "Sec-Fetch-Site": "same-site"}, 403, true},
		{"sandboxed page: Origin null", "PUT", submit, self, map[string]string{"Origin": "null"}, 403, true},
		{"Origin on an allowed host but another port, old browser", "PATCH", submit, self,
			map[string]string{"Origin": "http://localhost:9999"}, 403, true},
		{"cross-site GET is allowed (CORS keeps the answer from the page)", "GET", "/api/2.0/mlflow/experiments/search", self,
			map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, 200, false},
		{"typed into the address bar", "POST", submit, self, map[string]string{"Sec-Fetch-Site": "none"}, 200, false},
		{"trusted CORS origin", "POST", submit, self,
			map[string]string{"Origin": "https://app.example.com", "Sec-Fetch-Site": "cross-site"}, 200, false},
		{"trusted CORS origin pattern", "POST", submit, self,
			map[string]string{"Origin": "https://x.tools.example", "Sec-Fetch-Site": "cross-site"}, 200, false},
		{"trusted origin's lookalike", "POST", submit, self,
			map[string]string{"Origin": "https://app.example.com.evil.example", "Sec-Fetch-Site": "cross-site"}, 403, true},
	} {
		before := h.n.Load()
		req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(`{"name":"x","command":"touch PWNED"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		req.Header.Set("Content-Type", "application/json")
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, res.StatusCode, body, tc.status)
			continue
		}
		if reached := h.n.Load() > before; reached != (tc.status == 200) {
			t.Errorf("%s: handler reached = %v with status %d", tc.name, reached, res.StatusCode)
		}
		if tc.status != 403 {
			continue
		}
		if tc.json {
			var e struct{ ErrorCode, Message string }
			if err := json.Unmarshal(body, &struct {
				ErrorCode *string `json:"error_code"`
				Message   *string `json:"message"`
			}{&e.ErrorCode, &e.Message}); err != nil || e.ErrorCode != "PERMISSION_DENIED" || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: body %s (%s), want MLflow's PERMISSION_DENIED JSON", tc.name, body, res.Header.Get("Content-Type"))
			}
		} else if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: Content-Type %q, want text", tc.name, res.Header.Get("Content-Type"))
		}
		if strings.Contains(tc.name, "rebinding") && !strings.Contains(string(body), "Invalid Host header") {
			t.Errorf("%s: body %s lacks 'Invalid Host header'", tc.name, body)
		}
		if strings.Contains(tc.name, "POST") && tc.host == self && !strings.Contains(string(body), "Cross-origin request blocked") {
			t.Errorf("%s: body %s lacks 'Cross-origin request blocked'", tc.name, body)
		}
	}
}

func TestCORS(t *testing.T) {
	_, base := serve(t, gate.Config{APIPrefixes: apiPrefixes, CORSAllowedOrigins: []string{"https://app.example.com"}}, &ok{})
	preflight := func(origin, path string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", base+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res := preflight("https://app.example.com", "/api/2.0/mlflow/runs/create")
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Content-Type") ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		res.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight from a trusted origin: %d %v", res.StatusCode, res.Header)
	}
	if res := preflight("https://evil.example", "/api/2.0/mlflow/runs/create"); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin got CORS headers: %v", res.Header)
	}
	if res := preflight("https://app.example.com", "/experiments"); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight on a UI path got CORS headers: %v", res.Header)
	}
	req, _ := http.NewRequest("GET", base+"/api/2.0/mlflow/experiments/search", nil)
	req.Header.Set("Origin", "https://app.example.com")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || res.Header.Get("Vary") != "Origin" {
		t.Errorf("GET from a trusted origin: %v", res.Header)
	}
}

func TestSecurityHeaders(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<p>hi</p>") })
	mux.HandleFunc("/sandboxed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
		w.WriteHeader(200)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) { http.NewResponseController(w).Flush() })
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	_, base := serve(t, gate.Config{APIPrefixes: apiPrefixes}, mux)
	for _, tc := range []struct {
		path, host string
		csp        []string
	}{
		{"/page", "", []string{"frame-ancestors 'none'"}},
		{"/missing", "", []string{"frame-ancestors 'none'"}},
		{"/stream", "", []string{"frame-ancestors 'none'"}},
		{"/empty", "", []string{"frame-ancestors 'none'"}},
		{"/page", "attacker.example", []string{"frame-ancestors 'none'"}}, // the refusal too
		{"/sandboxed", "", []string{"default-src 'none'; sandbox", "frame-ancestors 'none'"}},
	} {
		req, _ := http.NewRequest("GET", base+tc.path, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" ||
			strings.Join(h.Values("Content-Security-Policy"), "|") != strings.Join(tc.csp, "|") {
			t.Errorf("%s (Host %q): headers %v", tc.path, tc.host, h)
		}
	}
}

func TestInflightCap(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 3)
	mux := http.NewServeMux()
	mux.HandleFunc("/api/slow", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
	_, base := serve(t, gate.Config{APIPrefixes: apiPrefixes, MaxInflight: 2}, mux)
	done := make(chan int, 2)
	for range 2 {
		go func() {
			res, err := http.Get(base + "/api/slow")
			if err != nil {
				done <- 0
				return
			}
			res.Body.Close()
			done <- res.StatusCode
		}()
	}
	<-entered
	<-entered
	start := time.Now()
	res, err := http.Get(base + "/api/slow")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"error_code":"TEMPORARILY_UNAVAILABLE"`) {
		t.Errorf("third request: %d %v %s, want 503 with Retry-After and TEMPORARILY_UNAVAILABLE", res.StatusCode, res.Header, body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the refusal took %v: it must not wait for a slot", d)
	}
	if res, err := http.Get(base + "/health"); err != nil || res.StatusCode != 200 {
		t.Errorf("/health at the cap: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	close(release)
	for range 2 {
		if code := <-done; code != 200 {
			t.Errorf("a request within the cap: %d", code)
		}
	}
	if res, err := http.Get(base + "/api/slow"); err != nil || res.StatusCode != 200 {
		t.Errorf("after the slots freed: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}

// A client that sends headers and part of a body, then nothing, is cut
// after the read timeout; one whose body keeps flowing, however slowly
// and for however long, is not.
func TestStalledBodyIsCut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	handlerErr := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/api/upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			handlerErr <- err
			http.Error(w, err.Error(), 400)
			return
		}
		// Long work after the body: the request must live on.
		time.Sleep(3 * timeout)
		if err := r.Context().Err(); err != nil {
			http.Error(w, "context ended: "+err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d", n)
	})
	_, base := serve(t, gate.Config{APIPrefixes: apiPrefixes, ReadTimeout: timeout, ReadHeaderTimeout: time.Second}, mux)
	addr := strings.TrimPrefix(base, "http://")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n%s", addr, strings.Repeat("x", 100))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(conn)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("the stalled connection was not closed: %v after %v", err, elapsed)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("the stalled connection was closed after %v, want about %v", elapsed, timeout)
	}
	select {
	case err := <-handlerErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the handler's read failed with %v, want a timeout", err)
		}
	default:
		t.Errorf("the handler saw no read error; the client got %q", rest)
	}
	if !strings.HasPrefix(string(rest), "HTTP/1.1 400") || !strings.Contains(string(rest), "Connection: close") {
		t.Errorf("the stalled client got %q, want the handler's 400 and Connection: close", rest)
	}

	// A body that trickles in over 4 timeouts, a chunk every half timeout.
	pr, pw := io.Pipe()
	go func() {
		for range 8 {
			pw.Write([]byte(strings.Repeat("y", 10)))
			time.Sleep(timeout / 2)
		}
		pw.Close()
	}()
	res, err := http.Post(base+"/api/upload", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "80" {
		t.Errorf("trickling upload: %d %s, want 200 80", res.StatusCode, body)
	}
}

// Headers that never finish are cut after the read-header timeout.
func TestStalledHeadersAreCut(t *testing.T) {
	_, base := serve(t, gate.Config{ReadHeaderTimeout: 300 * time.Millisecond}, &ok{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(conn); err != nil || time.Since(start) > 3*time.Second {
		t.Errorf("stalled headers: %v after %v", err, time.Since(start))
	}
}

// A client that stops reading is cut after the write timeout; a stream
// that pauses longer than the timeout between writes lives on.
func TestWriteTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	writeErr := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1<<20)
		for range 256 {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	})
	mux.HandleFunc("/follow", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for i := range 3 {
			fmt.Fprintf(w, "line %d\n", i)
			if err := rc.Flush(); err != nil {
				return
			}
			time.Sleep(2 * timeout)
		}
	})
	_, base := serve(t, gate.Config{WriteTimeout: timeout}, mux)

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(conn, "GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("256 MiB went to a client that read nothing")
		}
	case <-time.After(10 * time.Second):
		t.Error("a client that reads nothing held the handler for 10 s")
	}

	res, err := http.Get(base + "/follow")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 3 || sc.Err() != nil {
		t.Errorf("a stream with pauses longer than the write timeout: %q, %v", lines, sc.Err())
	}
}

func TestTLS(t *testing.T) {
	cert, key, pool := gatetest.SelfSigned(t, t.TempDir())
	g, base := serve(t, gate.Config{TLSCertFile: cert, TLSKeyFile: key}, &ok{})
	if !g.TLS() || !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("TLS gate URL %s", base)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil {
		t.Errorf("over TLS: %d, tls %v", res.StatusCode, res.TLS != nil)
	}
	// A client that does not trust the certificate fails; plain HTTP gets
	// Go's 400 answer.
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("an untrusted certificate was accepted")
	}
	if res, err := http.Get("http://" + strings.TrimPrefix(base, "https://") + "/"); err == nil {
		res.Body.Close()
		if res.StatusCode != 400 {
			t.Errorf("plain HTTP to the TLS port: %d", res.StatusCode)
		}
	}

	// Over HTTP/2 too, a stalled body is cut and a flowing one is not.
	const timeout = 300 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		fmt.Fprintf(w, "%s %d", r.Proto, n)
	})
	_, base2 := serve(t, gate.Config{TLSCertFile: cert, TLSKeyFile: key, ReadTimeout: timeout}, mux)
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	trickle := func(chunks int, stall time.Duration) (int, string, time.Duration) {
		pr, pw := io.Pipe()
		go func() {
			for range chunks {
				pw.Write([]byte("0123456789"))
				time.Sleep(timeout / 2)
			}
			time.Sleep(stall)
			pw.Close()
		}()
		start := time.Now()
		res, err := h2.Post(base2+"/upload", "application/octet-stream", pr)
		if err != nil {
			return 0, err.Error(), time.Since(start)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), time.Since(start)
	}
	if code, body, _ := trickle(6, 0); code != 200 || body != "HTTP/2.0 60" {
		t.Errorf("a flowing HTTP/2 upload: %d %q", code, body)
	}
	if code, body, d := trickle(2, 10*time.Second); code == 200 || d > 5*time.Second {
		t.Errorf("a stalled HTTP/2 upload: %d %q after %v, want it cut after about %v", code, body, d, timeout)
	}

	for _, bad := range []gate.Config{
		{TLSCertFile: cert},
		{TLSKeyFile: key},
		{TLSCertFile: key, TLSKeyFile: cert},
		{TLSCertFile: cert + ".missing", TLSKeyFile: key},
		{AllowedHosts: []string{"http://x"}},
		{CORSAllowedOrigins: []string{"x.example"}},
	} {
		if _, err := gate.New(bad, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}); err == nil {
			t.Errorf("gate.New(%+v): no error", bad)
		}
	}
}
