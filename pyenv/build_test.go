package pyenv

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	lode "github.com/lode-ml/lode"
)

// testPython is the interpreter environments are built from: the one
// `make test` names, else python3 from PATH.
func testPython(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LODE_TEST_PYTHON"); p != "" {
		return p
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH and LODE_TEST_PYTHON unset")
	}
	return p
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A bare environment (no requirements) needs no network: two builders on
// one cache, asked at once, build it once, and its scripts work after the
// rename into place.
func TestEnsureBuildsOnce(t *testing.T) {
	py := testPython(t)
	cache := t.TempDir()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dirs := make([]string, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range dirs {
		b := NewBuilder(py, cache)
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = b.Ensure(ctx, &Spec{Source: "test"}, "test", log)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ensure %d: %v", i, err)
		}
		if dirs[i] != dirs[0] || !Ready(dirs[i]) || !strings.HasPrefix(dirs[i], cache) {
			t.Fatalf("environments %q", dirs)
		}
	}
	if n := strings.Count(logs.String(), "building Python environment"); n != 1 {
		t.Fatalf("%d builds, want 1:\n%s", n, logs.String())
	}
	if out, err := exec.Command(filepath.Join(dirs[0], "bin", "pip"), "--version").CombinedOutput(); err != nil {
		t.Fatalf("pip in the environment: %v\n%s", err, out)
	} else if !strings.Contains(string(out), dirs[0]) {
		t.Fatalf("pip runs from elsewhere: %s", out)
	}
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("a temporary build folder was left: %s", e.Name())
		}
	}
}

// A requirement pip cannot install fails the build with pip's own words,
// and leaves nothing that looks finished.
func TestEnsureFailure(t *testing.T) {
	py := testPython(t)
	cache := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := NewBuilder(py, cache)
	spec := &Spec{Source: "test", Reqs: []string{"./no-such-package-dir"}, Dir: t.TempDir()}
	_, err := b.Ensure(ctx, spec, "a test", slog.New(slog.DiscardHandler))
	if lode.ErrorCode(err) != lode.EInvalidState || !strings.Contains(err.Error(), "installing the requirements failed") {
		t.Fatalf("err = %v", err)
	}
	base, _ := b.Base(ctx)
	if _, err := os.Stat(filepath.Join(cache, spec.Key(base.Version))); !os.IsNotExist(err) {
		t.Fatalf("a failed build left its folder: %v", err)
	}
	if _, err := NewBuilder("no-such-python-3", cache).Ensure(ctx, &Spec{}, "x", slog.New(slog.DiscardHandler)); lode.ErrorCode(err) != lode.EInvalidState {
		t.Fatalf("missing interpreter: %v", err)
	}
}

// Inherit passes the names listed, and the variables a PREFIX* begins,
// and nothing else; with nothing to pass it is empty, not nil (a command
// with a nil Env would get the whole environment).
func TestInherit(t *testing.T) {
	t.Setenv("LODE_T_KEEP", "1")
	t.Setenv("PIP_T_INDEX", "2")
	t.Setenv("LODE_T_SECRET", "3")
	got := Inherit([]string{"LODE_T_KEEP", "PIP_T_*"})
	want := map[string]bool{"LODE_T_KEEP=1": true, "PIP_T_INDEX=2": true}
	if len(got) != len(want) {
		t.Errorf("Inherit: %v", got)
	}
	for _, kv := range got {
		if !want[kv] {
			t.Errorf("Inherit passed %s", kv)
		}
	}
	if got := Inherit([]string{"LODE_T_NONE"}); got == nil || len(got) != 0 {
		t.Errorf("Inherit of nothing: %#v", got)
	}
}
