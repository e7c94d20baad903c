package gate

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// writer is the response writer behind the gate: it adds the security
// headers to whatever answer goes out, and gives each write its own
// deadline.
type writer struct {
	http.ResponseWriter
	rc      *http.ResponseController // of the server's own writer
	timeout time.Duration
	headed  bool
}

// extend moves the write deadline to timeout from now.
func (w *writer) extend() {
	if w.timeout > 0 {
		w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

// secure adds the security headers a handler has not set itself: no
// framing (clickjacking), no content sniffing, no Referer to other sites.
// A handler's own Content-Security-Policy is kept, with a second policy
// against framing when it says nothing about it.
func (w *writer) secure() {
	if w.headed {
		return
	}
	w.headed = true
	h := w.Header()
	setDefault(h, "X-Frame-Options", "DENY")
	setDefault(h, "X-Content-Type-Options", "nosniff")
	setDefault(h, "Referrer-Policy", "same-origin")
	if !strings.Contains(strings.Join(h.Values("Content-Security-Policy"), ";"), "frame-ancestors") {
		h.Add("Content-Security-Policy", "frame-ancestors 'none'")
	}
}

func setDefault(h http.Header, k, v string) {
	if h.Get(k) == "" {
		h.Set(k, v)
	}
}

func (w *writer) WriteHeader(code int) {
	if code >= 200 {
		w.secure()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	w.secure()
	w.extend()
	return w.ResponseWriter.Write(p)
}

// FlushError is what http.ResponseController.Flush calls.
func (w *writer) FlushError() error {
	w.secure()
	w.extend()
	return w.rc.Flush()
}

func (w *writer) Flush() { w.FlushError() }

// Unwrap lets http.ResponseController reach the server's writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// stallReader is a request body whose every read must get data within
// timeout: the deadline moves before each read, so only a client that
// stops sending is cut.
type stallReader struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	w       http.ResponseWriter
	http1   bool
	done    bool // the body ended, in EOF or an error
}

func (b *stallReader) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		// The server now reads ahead to notice a client that goes away;
		// that read must not time out while the handler works on.
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		// The deadline stays past, so whatever reads the connection next
		// fails at once; over HTTP/1 the connection closes after the
		// answer rather than waiting for headers that will not come.
		b.done = true
		if b.http1 && errors.Is(err, os.ErrDeadlineExceeded) {
			b.w.Header().Set("Connection", "close")
		}
	}
	return n, err
}
