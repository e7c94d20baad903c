// Package artifacttest is the behavioural test suite every artifact.Store
// must pass. An adapter's tests call Run with a constructor of empty stores:
//
//	func TestStore(t *testing.T) {
//		artifacttest.Run(t, func(t *testing.T) artifact.Store { ... })
//	}
//
// The suite holds only what every store must do; behaviour that depends on
// the backend (directories next to files of the same name, symlinks) is
// tested by each adapter.
package artifacttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
)

// Run runs the suite; newStore returns a new, empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) artifact.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s artifact.Store)
	}{
		{"RoundTripBinary", testRoundTripBinary},
		{"RoundTripLarge", testRoundTripLarge},
		{"EmptyFile", testEmptyFile},
		{"Overwrite", testOverwrite},
		{"SpecialNames", testSpecialNames},
		{"ListNested", testListNested},
		{"ListSorted", testListSorted},
		{"ListEmptyRoot", testListEmptyRoot},
		{"ListMissing", testListMissing},
		{"ListFile", testListFile},
		{"OpenMissing", testOpenMissing},
		{"OpenDirectory", testOpenDirectory},
		{"DeleteFile", testDeleteFile},
		{"DeleteDirectory", testDeleteDirectory},
		{"DeleteMissing", testDeleteMissing},
		{"DeleteRoot", testDeleteRoot},
		{"PutRoot", testPutRoot},
		{"UncleanPaths", testUncleanPaths},
		{"FailingReader", testFailingReader},
		{"ReaderLodeError", testReaderLodeError},
		{"CanceledContext", testCanceledContext},
		{"CancelDuringPut", testCancelDuringPut},
		{"ConcurrentPutsSamePath", testConcurrentPutsSamePath},
		{"ConcurrentPutsSameDir", testConcurrentPutsSameDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// Helpers, exported for adapters' own tests.

// MustPut stores data at p or fails the test.
func MustPut(t testing.TB, s artifact.Store, p string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), p, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", p, err)
	}
}

// MustRead reads the file at p or fails the test; it checks that the size
// Open reports is the number of bytes read.
func MustRead(t testing.TB, s artifact.Store, p string) []byte {
	t.Helper()
	rc, size, err := s.Open(context.Background(), p)
	if err != nil {
		t.Fatalf("Open(%q): %v", p, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", p, err)
	}
	if int64(len(data)) != size {
		t.Fatalf("Open(%q) reported size %d, read %d bytes", p, size, len(data))
	}
	return data
}

// MustList lists dir or fails the test.
func MustList(t testing.TB, s artifact.Store, dir string) []artifact.FileInfo {
	t.Helper()
	files, err := s.List(context.Background(), dir)
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	return files
}

// WantCode fails the test unless err has one of the codes.
func WantCode(t testing.TB, what string, err error, codes ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", what, strings.Join(codes, " or "))
	}
	if code := lode.ErrorCode(err); !slices.Contains(codes, code) {
		t.Fatalf("%s: %v (code %s), want %s", what, err, code, strings.Join(codes, " or "))
	}
}

// WantMissing fails the test unless Open(p) fails with lode.ENotFound.
func WantMissing(t testing.TB, s artifact.Store, p string) {
	t.Helper()
	rc, _, err := s.Open(context.Background(), p)
	if err == nil {
		rc.Close()
	}
	WantCode(t, fmt.Sprintf("Open(%q)", p), err, lode.ENotFound)
}

// WantListing fails the test unless List(dir) returns want, in order.
func WantListing(t testing.TB, s artifact.Store, dir string, want ...artifact.FileInfo) {
	t.Helper()
	got := MustList(t, s, dir)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %+v, want %+v", dir, got, want)
	}
}

// Dir builds an expected listing entry for a directory.
func Dir(p string) artifact.FileInfo { return artifact.FileInfo{Path: p, IsDir: true} }

// File builds an expected listing entry for a file of size bytes.
func File(p string, size int64) artifact.FileInfo { return artifact.FileInfo{Path: p, Size: size} }

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testRoundTripBinary(t *testing.T, s artifact.Store) {
	var data []byte
	for range 3 {
		for b := range 256 {
			data = append(data, byte(b))
		}
	}
	data = append(data, "\r\n\x00\r\x1a"...)
	MustPut(t, s, "bin/all-bytes.bin", data)
	if got := MustRead(t, s, "bin/all-bytes.bin"); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
}

func testRoundTripLarge(t *testing.T, s artifact.Store) {
	data := randomBytes(1, 5<<20+123)
	MustPut(t, s, "large/model.bin", data)
	if got := MustRead(t, s, "large/model.bin"); !bytes.Equal(got, data) {
		t.Fatal("large file read back differs")
	}
	// A reader without WriterTo, handing out small odd-sized chunks.
	if err := s.Put(context.Background(), "large/chunked.bin", &chunkReader{data: data, chunk: 4093}); err != nil {
		t.Fatalf("Put chunked: %v", err)
	}
	if got := MustRead(t, s, "large/chunked.bin"); !bytes.Equal(got, data) {
		t.Fatal("chunked file read back differs")
	}
}

type chunkReader struct {
	data  []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.chunk, len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func testEmptyFile(t *testing.T, s artifact.Store) {
	MustPut(t, s, "empty", nil)
	if got := MustRead(t, s, "empty"); len(got) != 0 {
		t.Fatalf("empty file read back as %d bytes", len(got))
	}
	WantListing(t, s, "", File("empty", 0))
}

func testOverwrite(t *testing.T, s artifact.Store) {
	MustPut(t, s, "a/f.txt", []byte("a long first version"))
	MustPut(t, s, "a/f.txt", []byte("short"))
	if got := MustRead(t, s, "a/f.txt"); string(got) != "short" {
		t.Fatalf("after overwrite read %q", got)
	}
	WantListing(t, s, "a", File("a/f.txt", 5))
}

func testSpecialNames(t *testing.T, s artifact.Store) {
	names := []string{
		"with space.txt",
		"ünïcödé 数据.csv",
		"a%20b.txt",
		"100%.txt",
		".hidden",
		"..dots",
		"a..b",
		"trailing.",
		"x:y",
		"$HOME",
		"~",
		"emoji😀",
	}
	var want []artifact.FileInfo
	for i, name := range names {
		data := []byte(fmt.Sprintf("content %d", i))
		MustPut(t, s, "names/"+name, data)
		if got := MustRead(t, s, "names/"+name); !bytes.Equal(got, data) {
			t.Fatalf("%q read back %q", name, got)
		}
		want = append(want, File("names/"+name, int64(len(data))))
	}
	slices.SortFunc(want, func(a, b artifact.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	WantListing(t, s, "names", want...)
}

func testListNested(t *testing.T, s artifact.Store) {
	MustPut(t, s, "a/b/c.txt", []byte("c"))
	MustPut(t, s, "a/d.txt", []byte("dd"))
	MustPut(t, s, "top.txt", []byte("top"))
	WantListing(t, s, "", Dir("a"), File("top.txt", 3))
	WantListing(t, s, "a", Dir("a/b"), File("a/d.txt", 2))
	WantListing(t, s, "a/b", File("a/b/c.txt", 1))
}

func testListSorted(t *testing.T, s artifact.Store) {
	for _, name := range []string{"b", "a", "C", "a.txt", "a-b", "a_b", "Z", "0", "é"} {
		MustPut(t, s, "d/"+name, []byte(name))
	}
	MustPut(t, s, "d/m/x", []byte("x"))
	files := MustList(t, s, "d")
	if len(files) != 10 {
		t.Fatalf("List = %+v, want 10 entries", files)
	}
	if !slices.IsSortedFunc(files, func(a, b artifact.FileInfo) int { return strings.Compare(a.Path, b.Path) }) {
		t.Fatalf("List is not sorted: %+v", files)
	}
}

func testListEmptyRoot(t *testing.T, s artifact.Store) {
	WantListing(t, s, "")
}

func testListMissing(t *testing.T, s artifact.Store) {
	WantListing(t, s, "nope")
	WantListing(t, s, "nope/deeper")
	MustPut(t, s, "a/f", []byte("f"))
	WantListing(t, s, "a/nope")
	WantListing(t, s, "b")
}

func testListFile(t *testing.T, s artifact.Store) {
	MustPut(t, s, "a/f.txt", []byte("f"))
	WantListing(t, s, "a/f.txt")
	WantListing(t, s, "a/f.txt/under")
}

func testOpenMissing(t *testing.T, s artifact.Store) {
	WantMissing(t, s, "nope")
	WantMissing(t, s, "nope/deeper.txt")
	MustPut(t, s, "a/f.txt", []byte("f"))
	WantMissing(t, s, "a/g.txt")
	WantMissing(t, s, "a/f.txt/under")
	WantMissing(t, s, "A/f.txt")
}

func testOpenDirectory(t *testing.T, s artifact.Store) {
	MustPut(t, s, "a/b/f.txt", []byte("f"))
	for _, p := range []string{"a", "a/b"} {
		rc, _, err := s.Open(context.Background(), p)
		if err == nil {
			rc.Close()
		}
		WantCode(t, fmt.Sprintf("Open(%q) of a directory", p), err, lode.EInvalid, lode.ENotFound)
	}
	rc, _, err := s.Open(context.Background(), "")
	if err == nil {
		rc.Close()
	}
	WantCode(t, `Open("")`, err, lode.EInvalid)
}

func testDeleteFile(t *testing.T, s artifact.Store) {
	MustPut(t, s, "a/f.txt", []byte("f"))
	MustPut(t, s, "a/g.txt", []byte("g"))
	if err := s.Delete(context.Background(), "a/f.txt"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	WantMissing(t, s, "a/f.txt")
	WantListing(t, s, "a", File("a/g.txt", 1))
}

func testDeleteDirectory(t *testing.T, s artifact.Store) {
	MustPut(t, s, "a/b/c/f.txt", []byte("f"))
	MustPut(t, s, "a/b/g.txt", []byte("g"))
	MustPut(t, s, "a/keep.txt", []byte("k"))
	MustPut(t, s, "ab/keep.txt", []byte("k"))
	if err := s.Delete(context.Background(), "a/b"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	WantMissing(t, s, "a/b/c/f.txt")
	WantMissing(t, s, "a/b/g.txt")
	WantListing(t, s, "a/b")
	WantListing(t, s, "a", File("a/keep.txt", 1))
	WantListing(t, s, "ab", File("ab/keep.txt", 1))
}

func testDeleteMissing(t *testing.T, s artifact.Store) {
	for _, p := range []string{"nope", "nope/deeper", "a/nope"} {
		if err := s.Delete(context.Background(), p); err != nil {
			t.Fatalf("Delete(%q) of a missing path: %v", p, err)
		}
	}
	MustPut(t, s, "f", []byte("f"))
	if err := s.Delete(context.Background(), "f/under"); err != nil {
		t.Fatalf("Delete under a file: %v", err)
	}
	if got := MustRead(t, s, "f"); string(got) != "f" {
		t.Fatalf("f changed to %q", got)
	}
}

func testDeleteRoot(t *testing.T, s artifact.Store) {
	MustPut(t, s, "a/f", []byte("f"))
	WantCode(t, `Delete("")`, s.Delete(context.Background(), ""), lode.EInvalid)
	if got := MustRead(t, s, "a/f"); string(got) != "f" {
		t.Fatalf("a/f changed to %q", got)
	}
}

func testPutRoot(t *testing.T, s artifact.Store) {
	WantCode(t, `Put("")`, s.Put(context.Background(), "", strings.NewReader("x")), lode.EInvalid)
	WantListing(t, s, "")
}

// UncleanPaths are paths CleanPath refuses or would change: stores must
// refuse them all with lode.EInvalid.
var UncleanPaths = []string{
	"..",
	"../x",
	"../../etc/passwd",
	"a/../b",
	"a/../../x",
	"/etc/passwd",
	"/x",
	"./x",
	"a/./b",
	"a//b",
	"a/",
	"/",
	`a\b`,
	`..\x`,
	"a\x00b",
	"%2e%2e/x",
	"..%2fx",
	"%252e%252e%252fx",
	"a#b",
	"a?b",
	"..;/x",
	"C:/x",
	"file:///etc/passwd",
}

func testUncleanPaths(t *testing.T, s artifact.Store) {
	ctx := context.Background()
	MustPut(t, s, "a/b", []byte("b"))
	MustPut(t, s, "x", []byte("x"))
	for _, p := range UncleanPaths {
		WantCode(t, fmt.Sprintf("Put(%q)", p), s.Put(ctx, p, strings.NewReader("evil")), lode.EInvalid)
		rc, _, err := s.Open(ctx, p)
		if err == nil {
			rc.Close()
		}
		WantCode(t, fmt.Sprintf("Open(%q)", p), err, lode.EInvalid)
		_, err = s.List(ctx, p)
		WantCode(t, fmt.Sprintf("List(%q)", p), err, lode.EInvalid)
		WantCode(t, fmt.Sprintf("Delete(%q)", p), s.Delete(ctx, p), lode.EInvalid)
	}
	WantListing(t, s, "", Dir("a"), File("x", 1))
	WantListing(t, s, "a", File("a/b", 1))
	if got := MustRead(t, s, "x"); string(got) != "x" {
		t.Fatalf("x changed to %q", got)
	}
}

var errBroken = errors.New("artifacttest: broken reader")

// failingReader returns n bytes of data, then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	n := min(len(p), r.n)
	for i := range n {
		p[i] = 'z'
	}
	r.n -= n
	return n, nil
}

func testFailingReader(t *testing.T, s artifact.Store) {
	ctx := context.Background()
	MustPut(t, s, "d/f.txt", []byte("old"))
	err := s.Put(ctx, "d/f.txt", &failingReader{n: 100 << 10, err: errBroken})
	if !errors.Is(err, errBroken) {
		t.Fatalf("Put with a failing reader: %v, want an error wrapping the reader's", err)
	}
	if got := MustRead(t, s, "d/f.txt"); string(got) != "old" {
		t.Fatalf("after a failed overwrite read %q, want the old content", got)
	}
	err = s.Put(ctx, "d/new.txt", &failingReader{n: 10, err: errBroken})
	if !errors.Is(err, errBroken) {
		t.Fatalf("Put with a failing reader: %v", err)
	}
	WantMissing(t, s, "d/new.txt")
	WantListing(t, s, "d", File("d/f.txt", 3))
}

func testReaderLodeError(t *testing.T, s artifact.Store) {
	tooLarge := lode.Errorf(lode.ETooLarge, "too large")
	err := s.Put(context.Background(), "f", &failingReader{n: 10, err: tooLarge})
	if code := lode.ErrorCode(err); code != lode.ETooLarge {
		t.Fatalf("Put with a reader failing with a lode error: %v, want code %s", err, lode.ETooLarge)
	}
	WantMissing(t, s, "f")
}

func testCanceledContext(t *testing.T, s artifact.Store) {
	MustPut(t, s, "a/f", []byte("f"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "a/g", strings.NewReader("g")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: %v, want context.Canceled", err)
	}
	if rc, _, err := s.Open(ctx, "a/f"); !errors.Is(err, context.Canceled) {
		if err == nil {
			rc.Close()
		}
		t.Fatalf("Open: %v, want context.Canceled", err)
	}
	if _, err := s.List(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("List: %v, want context.Canceled", err)
	}
	if err := s.Delete(ctx, "a/f"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Delete: %v, want context.Canceled", err)
	}
	WantMissing(t, s, "a/g")
	WantListing(t, s, "a", File("a/f", 1))
}

// cancelingReader cancels its context after the first read.
type cancelingReader struct {
	cancel context.CancelFunc
	reads  int
}

func (r *cancelingReader) Read(p []byte) (int, error) {
	r.reads++
	if r.reads > 1 {
		r.cancel()
	}
	if r.reads > 1000 {
		return 0, io.EOF
	}
	n := min(len(p), 1024)
	for i := range n {
		p[i] = 'c'
	}
	return n, nil
}

func testCancelDuringPut(t *testing.T, s artifact.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := s.Put(ctx, "f", &cancelingReader{cancel: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put cancelled midway: %v, want context.Canceled", err)
	}
	WantMissing(t, s, "f")
	WantListing(t, s, "")
}

func testConcurrentPutsSamePath(t *testing.T, s artifact.Store) {
	const writers = 12
	const size = 256 << 10
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = randomBytes(uint64(100+i), size+i)
	}
	isCandidate := func(b []byte) bool {
		return slices.ContainsFunc(contents, func(c []byte) bool { return bytes.Equal(b, c) })
	}

	ctx := context.Background()
	done := make(chan struct{})
	var readers sync.WaitGroup
	var torn sync.Once
	tornMsg := ""
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				rc, size, err := s.Open(ctx, "same/f.bin")
				if err != nil {
					if lode.ErrorCode(err) != lode.ENotFound {
						torn.Do(func() { tornMsg = fmt.Sprintf("Open during writes: %v", err) })
					}
					continue
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || int64(len(b)) != size || !isCandidate(b) {
					torn.Do(func() {
						tornMsg = fmt.Sprintf("read %d bytes (size %d, err %v) matching no writer", len(b), size, err)
					})
				}
			}
		}()
	}

	var writersWG sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for range 3 {
				if err := s.Put(ctx, "same/f.bin", bytes.NewReader(contents[i])); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	writersWG.Wait()
	close(done)
	readers.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if tornMsg != "" {
		t.Fatal(tornMsg)
	}
	if got := MustRead(t, s, "same/f.bin"); !isCandidate(got) {
		t.Fatalf("final content (%d bytes) matches no writer", len(got))
	}
	files := MustList(t, s, "same")
	if len(files) != 1 || files[0].Path != "same/f.bin" {
		t.Fatalf("List after concurrent writes = %+v, want only same/f.bin", files)
	}
}

func testConcurrentPutsSameDir(t *testing.T, s artifact.Store) {
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := fmt.Sprintf("new/deep/dir/f%02d", i)
			errs[i] = s.Put(context.Background(), p, strings.NewReader(p))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	files := MustList(t, s, "new/deep/dir")
	if len(files) != n {
		t.Fatalf("List = %d entries, want %d", len(files), n)
	}
	for i, f := range files {
		want := fmt.Sprintf("new/deep/dir/f%02d", i)
		if f.Path != want || f.IsDir || f.Size != int64(len(want)) {
			t.Fatalf("entry %d = %+v, want %s", i, f, want)
		}
	}
}
