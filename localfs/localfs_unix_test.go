//go:build unix

package localfs

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact/artifacttest"
)

// A named pipe is neither read (opening it would block) nor written, and is
// not listed.
func TestNamedPipe(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := syscall.Mkfifo(filepath.Join(s.Root(), "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, _, err := s.Open(ctx, "pipe")
	artifacttest.WantCode(t, "Open(pipe)", err, lode.EInvalid)
	artifacttest.WantCode(t, "Put(pipe)", s.Put(ctx, "pipe", strings.NewReader("x")), lode.EInvalid)
	artifacttest.WantListing(t, s, "")
	if err := s.Delete(ctx, "pipe"); err != nil {
		t.Fatalf("Delete(pipe): %v", err)
	}
}
