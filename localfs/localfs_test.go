package localfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/artifact/artifacttest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSuite(t *testing.T) {
	artifacttest.Run(t, func(t *testing.T) artifact.Store {
		s := newStore(t)
		t.Cleanup(func() { assertNoTempFiles(t, s.Root()) })
		return s
	})
}

// assertNoTempFiles fails the test if an upload's temporary file was left.
func assertNoTempFiles(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), TempPrefix) {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func TestNew(t *testing.T) {
	base := t.TempDir()
	realBase, err := filepath.EvalSymlinks(base)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(filepath.Join(base, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := filepath.Join(realBase, "a", "b"); s.Root() != want {
		t.Errorf("Root() = %q, want %q", s.Root(), want)
	}
	if fi, err := os.Stat(s.Root()); err != nil || !fi.IsDir() {
		t.Fatalf("root not created: %v", err)
	}

	// A relative root is made absolute.
	t.Chdir(base)
	rs, err := New("rel")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if want := filepath.Join(realBase, "rel"); rs.Root() != want {
		t.Errorf("Root() = %q, want %q", rs.Root(), want)
	}

	// A root reached through a symlink is resolved.
	if err := os.Symlink(filepath.Join(realBase, "a"), filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	ls, err := New(filepath.Join(base, "link", "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	if ls.Root() != s.Root() {
		t.Errorf("Root() through a symlink = %q, want %q", ls.Root(), s.Root())
	}

	// A file is not a root.
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(file); err == nil {
		t.Error("New on a file succeeded")
	}
	if _, err := New(""); lode.ErrorCode(err) != lode.EInvalid {
		t.Errorf(`New(""): %v, want EInvalid`, err)
	}
}

func TestFilesOnDisk(t *testing.T) {
	s := newStore(t)
	artifacttest.MustPut(t, s, "a/b/c.txt", []byte("hello"))
	got, err := os.ReadFile(filepath.Join(s.Root(), "a", "b", "c.txt"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("file on disk: %q, %v", got, err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(s.Root(), "a", "b"))
		if err != nil || fi.Mode().Perm()&0o700 != 0o700 {
			t.Fatalf("directory mode: %v, %v", fi.Mode(), err)
		}
		fi, err = os.Stat(filepath.Join(s.Root(), "a", "b", "c.txt"))
		if err != nil || fi.Mode().Perm()&0o600 != 0o600 || fi.Mode().Perm()&0o111 != 0 {
			t.Fatalf("file mode: %v, %v", fi.Mode(), err)
		}
	}
	// Files put there by other means are served.
	if err := os.WriteFile(filepath.Join(s.Root(), "a", "outside-api.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := artifacttest.MustRead(t, s, "a/outside-api.txt"); string(got) != "hi" {
		t.Fatalf("read %q", got)
	}
}

func TestDirectoryFileConflicts(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	artifacttest.MustPut(t, s, "dir/f.txt", []byte("f"))
	artifacttest.MustPut(t, s, "file", []byte("file"))

	artifacttest.WantCode(t, "Put over a directory", s.Put(ctx, "dir", strings.NewReader("x")), lode.EInvalid)
	artifacttest.WantCode(t, "Put under a file", s.Put(ctx, "file/x", strings.NewReader("x")), lode.EInvalid)
	artifacttest.WantCode(t, "Put deep under a file", s.Put(ctx, "file/x/y", strings.NewReader("x")), lode.EInvalid)
	_, _, err := s.Open(ctx, "dir")
	artifacttest.WantCode(t, "Open of a directory", err, lode.EInvalid)

	artifacttest.WantListing(t, s, "", artifacttest.Dir("dir"), artifacttest.File("file", 4))
	artifacttest.WantListing(t, s, "dir", artifacttest.File("dir/f.txt", 1))
	if got := artifacttest.MustRead(t, s, "file"); string(got) != "file" {
		t.Fatalf("file changed to %q", got)
	}
}

func TestEmptyDirectoryListed(t *testing.T) {
	s := newStore(t)
	artifacttest.MustPut(t, s, "a/b/f", []byte("f"))
	if err := s.Delete(context.Background(), "a/b/f"); err != nil {
		t.Fatal(err)
	}
	// As in MLflow, the emptied directory stays.
	artifacttest.WantListing(t, s, "a", artifacttest.Dir("a/b"))
	artifacttest.WantListing(t, s, "a/b")
}

func TestTempFiles(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	artifacttest.MustPut(t, s, "d/f", []byte("f"))
	// A stray temporary file, as a crash would leave, is hidden.
	stray := filepath.Join(s.Root(), "d", TempPrefix+"crashed")
	if err := os.WriteFile(stray, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	artifacttest.WantListing(t, s, "d", artifacttest.File("d/f", 1))
	for _, p := range []string{TempPrefix + "x", "d/" + TempPrefix + "crashed", TempPrefix + "dir/x"} {
		artifacttest.WantCode(t, fmt.Sprintf("Put(%q)", p), s.Put(ctx, p, strings.NewReader("x")), lode.EInvalid)
		_, _, err := s.Open(ctx, p)
		artifacttest.WantCode(t, fmt.Sprintf("Open(%q)", p), err, lode.EInvalid)
		artifacttest.WantCode(t, fmt.Sprintf("Delete(%q)", p), s.Delete(ctx, p), lode.EInvalid)
		_, err = s.List(ctx, p)
		artifacttest.WantCode(t, fmt.Sprintf("List(%q)", p), err, lode.EInvalid)
	}
	if _, err := os.Stat(stray); err != nil {
		t.Fatalf("stray temp file: %v", err)
	}
	os.Remove(stray)
}

func TestListHidesUnaddressableNames(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("such names cannot be created on Windows")
	}
	s := newStore(t)
	for _, name := range []string{"a\nb", "a\\b", "a;b", "a#b", "a?b", "%2e%2e"} {
		if err := os.WriteFile(filepath.Join(s.Root(), name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	artifacttest.MustPut(t, s, "ok", []byte("ok"))
	artifacttest.WantListing(t, s, "", artifacttest.File("ok", 2))
}

// symlinkFixture is an artifact root next to an "outside" directory, with
// symlinks from the root to the outside and inside the root.
type symlinkFixture struct {
	s       *Store
	outside string
}

func newSymlinkFixture(t *testing.T) *symlinkFixture {
	t.Helper()
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	mustMkdir(t, filepath.Join(outside, "sub"))
	mustWrite(t, filepath.Join(outside, "secret.txt"), "secret")
	mustWrite(t, filepath.Join(outside, "sub", "deep.txt"), "deep")
	s, err := New(filepath.Join(base, "root"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	root := s.Root()
	realOutside, err := filepath.EvalSymlinks(outside)
	if err != nil {
		t.Fatal(err)
	}

	// Escaping links, absolute and relative, to directories and files.
	mustSymlink(t, realOutside, filepath.Join(root, "evil-dir"))
	mustSymlink(t, filepath.Join(realOutside, "secret.txt"), filepath.Join(root, "evil-file"))
	mustSymlink(t, "../outside", filepath.Join(root, "evil-rel"))
	mustSymlink(t, "../outside/secret.txt", filepath.Join(root, "evil-rel-file"))
	mustSymlink(t, "..", filepath.Join(root, "up"))
	mustSymlink(t, filepath.Join(realOutside, "missing"), filepath.Join(root, "evil-dangling"))
	mustSymlink(t, "loop", filepath.Join(root, "loop"))
	mustMkdir(t, filepath.Join(root, "a", "b"))
	mustSymlink(t, "../../../outside", filepath.Join(root, "a", "b", "evil-nested"))
	// Chains: an inside link to an escaping link.
	mustSymlink(t, "evil-dir", filepath.Join(root, "chain"))
	mustSymlink(t, "a/b/evil-nested/sub", filepath.Join(root, "chain-nested"))
	// Links that leave the root and come back in are fine.
	mustSymlink(t, "../root/a", filepath.Join(root, "out-and-back"))

	// Links that stay inside.
	mustWrite(t, filepath.Join(root, "real", "f.txt"), "inside")
	mustSymlink(t, "real", filepath.Join(root, "link-dir"))
	mustSymlink(t, filepath.Join(root, "real"), filepath.Join(root, "abs-link-dir"))
	mustSymlink(t, "real/f.txt", filepath.Join(root, "link-file"))
	mustSymlink(t, "../real/f.txt", filepath.Join(root, "a", "link-up-file"))
	mustSymlink(t, ".", filepath.Join(root, "self"))
	mustSymlink(t, "real/missing.txt", filepath.Join(root, "dangling-inside"))
	return &symlinkFixture{s: s, outside: outside}
}

var escapingLinks = []string{
	"evil-dir", "evil-file", "evil-rel", "evil-rel-file", "up", "evil-dangling",
	"a/b/evil-nested", "chain", "chain-nested",
}

// snapshot records every file, directory and symlink under dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += " " + string(b)
		}
		m[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func assertSameSnapshot(t *testing.T, before, after map[string]string) {
	t.Helper()
	var diffs []string
	for p, d := range before {
		if after[p] != d {
			diffs = append(diffs, fmt.Sprintf("%s: %q -> %q", p, d, after[p]))
		}
	}
	for p, d := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: new %q", p, d))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("changed:\n%s", strings.Join(diffs, "\n"))
	}
}

func TestSymlinkEscapesRejected(t *testing.T) {
	f := newSymlinkFixture(t)
	s := f.s
	ctx := context.Background()
	outsideBefore := snapshot(t, f.outside)
	rootBefore := snapshot(t, s.Root())

	for _, link := range escapingLinks {
		for _, p := range []string{link, link + "/secret.txt", link + "/sub/deep.txt", link + "/new.txt", link + "/newdir/new.txt"} {
			artifacttest.WantCode(t, fmt.Sprintf("Put(%q)", p), s.Put(ctx, p, strings.NewReader("pwned")), lode.EInvalid)
			rc, _, err := s.Open(ctx, p)
			if err == nil {
				data, _ := io.ReadAll(rc)
				rc.Close()
				t.Fatalf("Open(%q) read %q from outside the root", p, data)
			}
			artifacttest.WantCode(t, fmt.Sprintf("Open(%q)", p), err, lode.EInvalid)
			artifacttest.WantCode(t, fmt.Sprintf("Delete(%q)", p), s.Delete(ctx, p), lode.EInvalid)
		}
		for _, p := range []string{link, link + "/sub"} {
			files, err := s.List(ctx, p)
			if err == nil && len(files) > 0 {
				t.Fatalf("List(%q) listed the outside: %+v", p, files)
			}
			artifacttest.WantCode(t, fmt.Sprintf("List(%q)", p), err, lode.EInvalid)
		}
	}
	// The loop is refused, not followed forever.
	artifacttest.WantCode(t, "Put(loop/x)", s.Put(ctx, "loop/x", strings.NewReader("x")), lode.EInvalid)
	_, _, err := s.Open(ctx, "loop")
	artifacttest.WantCode(t, "Open(loop)", err, lode.EInvalid)
	_, err = s.List(ctx, "loop")
	artifacttest.WantCode(t, "List(loop)", err, lode.EInvalid)

	assertSameSnapshot(t, outsideBefore, snapshot(t, f.outside))
	assertSameSnapshot(t, rootBefore, snapshot(t, s.Root()))
}

func TestListHidesEscapingSymlinks(t *testing.T) {
	f := newSymlinkFixture(t)
	artifacttest.WantListing(t, f.s, "",
		artifacttest.Dir("a"),
		artifacttest.Dir("abs-link-dir"),
		artifacttest.Dir("link-dir"),
		artifacttest.File("link-file", 6),
		artifacttest.Dir("out-and-back"),
		artifacttest.Dir("real"),
		artifacttest.Dir("self"),
	)
	artifacttest.WantListing(t, f.s, "a/b")
	artifacttest.WantListing(t, f.s, "a", artifacttest.Dir("a/b"), artifacttest.File("a/link-up-file", 6))
}

func TestSymlinksInsideFollowed(t *testing.T) {
	f := newSymlinkFixture(t)
	s := f.s
	ctx := context.Background()
	outsideBefore := snapshot(t, f.outside)

	for _, p := range []string{"link-dir/f.txt", "abs-link-dir/f.txt", "link-file", "a/link-up-file", "self/self/real/f.txt", "out-and-back/link-up-file"} {
		if got := artifacttest.MustRead(t, s, p); string(got) != "inside" {
			t.Fatalf("Open(%q) read %q", p, got)
		}
	}
	artifacttest.WantListing(t, s, "link-dir", artifacttest.File("link-dir/f.txt", 6))
	artifacttest.WantListing(t, s, "abs-link-dir", artifacttest.File("abs-link-dir/f.txt", 6))
	artifacttest.WantMissing(t, s, "dangling-inside")

	// Writing through a directory link writes inside its target.
	artifacttest.MustPut(t, s, "link-dir/g.txt", []byte("g"))
	artifacttest.MustPut(t, s, "abs-link-dir/new/h.txt", []byte("h"))
	mustContent(t, filepath.Join(s.Root(), "real", "g.txt"), "g")
	mustContent(t, filepath.Join(s.Root(), "real", "new", "h.txt"), "h")
	// Writing a file link replaces its target's content; the link stays.
	artifacttest.MustPut(t, s, "link-file", []byte("updated"))
	mustContent(t, filepath.Join(s.Root(), "real", "f.txt"), "updated")
	if fi, err := os.Lstat(filepath.Join(s.Root(), "link-file")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link-file is no longer a symlink: %v", err)
	}
	// A dangling link inside the root is written through, creating its target.
	artifacttest.MustPut(t, s, "dangling-inside", []byte("now here"))
	mustContent(t, filepath.Join(s.Root(), "real", "missing.txt"), "now here")

	// Deleting a link removes the link, never its target.
	for _, p := range []string{"link-file", "link-dir", "abs-link-dir", "self"} {
		if err := s.Delete(ctx, p); err != nil {
			t.Fatalf("Delete(%q): %v", p, err)
		}
		if _, err := os.Lstat(filepath.Join(s.Root(), p)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Delete(%q) left the link: %v", p, err)
		}
	}
	mustContent(t, filepath.Join(s.Root(), "real", "f.txt"), "updated")
	mustContent(t, filepath.Join(s.Root(), "real", "g.txt"), "g")
	if _, err := os.Stat(s.Root()); err != nil {
		t.Fatalf("root gone: %v", err)
	}
	assertSameSnapshot(t, outsideBefore, snapshot(t, f.outside))
}

func TestDeleteTreeWithEscapingSymlinks(t *testing.T) {
	f := newSymlinkFixture(t)
	outsideBefore := snapshot(t, f.outside)
	// a/b holds a link to the outside; deleting a removes the link only.
	if err := f.s.Delete(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(f.s.Root(), "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a not deleted: %v", err)
	}
	assertSameSnapshot(t, outsideBefore, snapshot(t, f.outside))
}

func TestDeleteDanglingInsideLink(t *testing.T) {
	f := newSymlinkFixture(t)
	if err := f.s.Delete(context.Background(), "dangling-inside"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(f.s.Root(), "dangling-inside")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("link not deleted: %v", err)
	}
}

// TestSymlinkSwapRace swaps a directory for a symlink to the outside while
// uploads run through it: the os.Root the store works through must keep
// every write inside the root, whatever the timing.
func TestSymlinkSwapRace(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	mustMkdir(t, outside)
	s, err := New(filepath.Join(base, "root"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	flip := filepath.Join(s.Root(), "flip")

	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			os.RemoveAll(flip)
			os.Symlink(outside, flip)
			os.Remove(flip)
			os.Mkdir(flip, 0o755)
		}
	}()
	deadline := time.Now().Add(300 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		s.Put(ctx, fmt.Sprintf("flip/f%d", i), strings.NewReader("x"))
		if rc, _, err := s.Open(ctx, "flip/f0"); err == nil {
			rc.Close()
		}
		s.List(ctx, "flip")
	}
	close(stop)
	wg.Wait()
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("%d files written outside the root, e.g. %s", len(entries), entries[0].Name())
	}
}

func TestReaderErrorKeepsCause(t *testing.T) {
	s := newStore(t)
	cause := errors.New("connection reset")
	err := s.Put(context.Background(), "f", io.MultiReader(bytes.NewReader([]byte("abc")), errReader{cause}))
	if !errors.Is(err, cause) {
		t.Fatalf("Put: %v, want it to wrap the reader's error", err)
	}
	if lode.ErrorCode(err) != lode.EInternal {
		t.Fatalf("code %s", lode.ErrorCode(err))
	}
	if msg := lode.ErrorMessage(err); strings.Contains(msg, "connection reset") || strings.Contains(msg, s.Root()) {
		t.Fatalf("message %q leaks details", msg)
	}
	assertNoTempFiles(t, s.Root())
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestMessagesDoNotLeakRoot(t *testing.T) {
	f := newSymlinkFixture(t)
	ctx := context.Background()
	var errs []error
	errs = append(errs, f.s.Put(ctx, "evil-dir/x", strings.NewReader("x")))
	_, _, err := f.s.Open(ctx, "nope")
	errs = append(errs, err)
	_, _, err = f.s.Open(ctx, "real")
	errs = append(errs, err)
	_, err = f.s.List(ctx, "evil-dir")
	errs = append(errs, err)
	errs = append(errs, f.s.Delete(ctx, ""))
	for _, err := range errs {
		if err == nil {
			t.Fatal("no error")
		}
		if msg := lode.ErrorMessage(err); strings.Contains(msg, f.s.Root()) || strings.Contains(msg, f.outside) {
			t.Errorf("message %q shows a server path", msg)
		}
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p, content string) {
	t.Helper()
	mustMkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
}

func mustContent(t *testing.T, p, want string) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || string(got) != want {
		t.Fatalf("%s: %q, %v; want %q", p, got, err, want)
	}
}

func TestEscapeErrorIsInvalid(t *testing.T) {
	s := newStore(t)
	if s.errEscapes == nil {
		t.Skip("os.Root reports no escape error on this platform")
	}
	_, err := s.fsys.Open("..")
	if err == nil {
		t.Fatal("os.Root opened its parent")
	}
	if code := lode.ErrorCode(s.fsError(err, "x", "msg")); code != lode.EInvalid {
		t.Fatalf("escape error mapped to %s", code)
	}
	if code := lode.ErrorCode(s.fsError(fs.ErrPermission, "x", "msg")); code != lode.EInternal {
		t.Fatalf("permission error mapped to %s", code)
	}
}

// TestConcurrentPutDelete deletes a directory again and again while files
// are uploaded into it: whatever survives is whole, and no temporary file
// is left behind.
func TestConcurrentPutDelete(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	content := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 64<<10+i) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Losing the race to writers again and again is an internal error.
			if err := s.Delete(ctx, "d"); err != nil && lode.ErrorCode(err) != lode.EInternal {
				t.Errorf("Delete: %v", err)
				return
			}
		}
	}()
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := w; i < 200; i += 4 {
				err := s.Put(ctx, fmt.Sprintf("d/e/f%03d", i), bytes.NewReader(content(i)))
				if err != nil && lode.ErrorCode(err) != lode.EInternal {
					t.Errorf("Put: %v", err)
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	for _, f := range artifacttest.MustList(t, s, "d/e") {
		var i int
		if _, err := fmt.Sscanf(f.Path, "d/e/f%03d", &i); err != nil {
			t.Fatalf("unexpected entry %+v", f)
		}
		if got := artifacttest.MustRead(t, s, f.Path); !bytes.Equal(got, content(i)) {
			t.Fatalf("%s is torn: %d bytes", f.Path, len(got))
		}
	}
	assertNoTempFiles(t, s.Root())
}

// TestCheckPath: CheckPath refuses every path through an escaping symlink,
// also below it and where nothing exists yet, and accepts paths that stay
// inside, existing or not.
func TestCheckPath(t *testing.T) {
	f := newSymlinkFixture(t)
	ctx := context.Background()
	var bad []string
	for _, l := range escapingLinks {
		bad = append(bad, l, l+"/model", l+"/sub/not/there")
	}
	bad = append(bad, "loop", "../x", "a/../b", "/abs", ".artifact.uploading.x")
	for _, p := range bad {
		if err := f.s.CheckPath(ctx, p); lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("CheckPath(%q) = %v, want %s", p, err, lode.EInvalid)
		}
	}
	for _, p := range []string{"", "real", "real/f.txt", "link-dir/f.txt", "abs-link-dir", "link-file", "a/link-up-file",
		"self/real", "dangling-inside", "out-and-back/b", "not/there/yet"} {
		if err := f.s.CheckPath(ctx, p); err != nil {
			t.Errorf("CheckPath(%q) = %v, want nil", p, err)
		}
	}
}
