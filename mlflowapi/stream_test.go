package mlflowapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// brokenStream writes the start of a long answer, then fails, as a
// history whose store fails after the first page would.
type brokenStream struct{}

func (brokenStream) stream(w *bufio.Writer) error {
	w.WriteString(`{"metrics":[`)
	w.WriteString(strings.Repeat(`{"key":"m","value":1,"timestamp":1,"step":1},`, 2000))
	w.Flush()
	return errors.New("the store went away")
}

// A streamed answer that fails half-way is cut off, never ended as if it
// were whole, and the failure is logged.
func TestStreamCutShort(t *testing.T) {
	var log bytes.Buffer
	s := &Server{Logger: slog.New(slog.NewTextHandler(&log, nil)), mux: http.NewServeMux()}
	s.handle("GET", "test/stream", PublicRule(), func(context.Context, *http.Request) (any, error) { return brokenStream{}, nil })
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/api/2.0/mlflow/test/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err == nil {
		t.Fatalf("a failed stream read as a whole answer of %d bytes", len(body))
	}
	if !strings.Contains(log.String(), "the store went away") {
		t.Errorf("the failure was not logged: %q", log.String())
	}
}
