package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/artifact/artifacttest"
	"github.com/lode-ml/lode/s3store/s3test"
)

// openStore returns a Store on srv's bucket under prefix.
func openStore(t testing.TB, srv *s3test.Server, bucket, prefix string, opts Options) *Store {
	t.Helper()
	opts.Endpoint = srv.Endpoint
	opts.Region = srv.Region
	opts.Credentials = srv.Credentials()
	uri := "s3://" + bucket
	if prefix != "" {
		uri += "/" + prefix
	}
	s, err := New(context.Background(), uri, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", uri, err)
	}
	return s
}

// TestSuite runs the shared artifact.Store suite, each subtest in its own
// key prefix of one bucket. Each subtest then checks that nothing was
// written outside its prefix and that no multipart upload was left open.
func TestSuite(t *testing.T) {
	srv := s3test.Start(t)
	var n atomic.Int32
	artifacttest.Run(t, func(t *testing.T) artifact.Store {
		prefix := fmt.Sprintf("suite/t%03d/artifacts", n.Add(1))
		s := openStore(t, srv, srv.Bucket, prefix, Options{})
		t.Cleanup(func() {
			// Every subtest has a prefix of this shape: a key of another
			// shape was written outside the store's prefix.
			for _, k := range srv.Keys(t, srv.Bucket, "") {
				var i int
				var rest string
				if _, err := fmt.Sscanf(k, "suite/t%03d/artifacts/%s", &i, &rest); err != nil {
					t.Errorf("key %q written outside the store's prefix", k)
				}
			}
			if ups := srv.Uploads(t, srv.Bucket); len(ups) > 0 {
				t.Errorf("multipart uploads left open: %q", ups)
			}
		})
		return s
	})
}

// TestSuiteBucketRoot runs the suite on a store at the root of a bucket,
// a fresh bucket per subtest.
func TestSuiteBucketRoot(t *testing.T) {
	srv := s3test.Start(t)
	artifacttest.Run(t, func(t *testing.T) artifact.Store {
		return openStore(t, srv, srv.NewBucket(t), "", Options{})
	})
}

func TestParseURI(t *testing.T) {
	good := []struct{ uri, bucket, prefix string }{
		{"s3://bucket", "bucket", ""},
		{"s3://bucket/", "bucket", ""},
		{"s3://my-bucket.x/a/b", "my-bucket.x", "a/b"},
		{"S3://bucket/a//b/", "bucket", "a/b"},
		{"s3://Legacy_Bucket/p", "Legacy_Bucket", "p"},
	}
	for _, g := range good {
		b, p, err := ParseURI(g.uri)
		if err != nil || b != g.bucket || p != g.prefix {
			t.Errorf("ParseURI(%q) = %q, %q, %v; want %q, %q", g.uri, b, p, err, g.bucket, g.prefix)
		}
	}
	bad := []string{
		"", "bucket/x", "s3:/bucket", "gs://bucket", "file:///x", "s3://",
		"s3://ab", "s3://user@bucket/x", "s3://bucket:9000/x", "s3://bu..cket/x",
		"s3://bucket/../x", "s3://bucket/a/../../x", "s3://bucket/%2e%2e/x",
		"s3://bucket/x?versionId=1", "s3://bucket/x#f", `s3://bucket/a\b`,
		"s3://bucket//etc", // "/etc" is not a relative prefix
	}
	for _, uri := range bad {
		if _, _, err := ParseURI(uri); lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("ParseURI(%q): %v, want %s", uri, err, lode.EInvalid)
		}
		if _, err := New(context.Background(), uri, Options{Region: "us-east-1", Endpoint: "http://127.0.0.1:1"}); lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("New(%q): %v, want %s", uri, err, lode.EInvalid)
		}
	}
	// Credentials in the URI are refused without being quoted back.
	for _, uri := range []string{"s3://AKIAEXAMPLE:SECRETKEY@bucket/p", "s3://SECRETKEY@bucket", "S3://a:SECRETKEY@bu..cket/x?y"} {
		_, _, err := ParseURI(uri)
		if lode.ErrorCode(err) != lode.EInvalid || strings.Contains(err.Error(), "SECRETKEY") || !strings.Contains(err.Error(), "credentials") {
			t.Errorf("ParseURI(%q): %v, want a refusal that does not quote the secret", uri, err)
		}
	}
}

func TestNewOptions(t *testing.T) {
	if _, err := New(context.Background(), "s3://bucket", Options{Region: "x", Endpoint: "http://127.0.0.1:1", PartSize: 1 << 20}); lode.ErrorCode(err) != lode.EInvalid {
		t.Errorf("part size below 5 MiB: %v", err)
	}
	s, err := New(context.Background(), "s3://bucket/p/", Options{Region: "eu-west-3", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	o := s.client.Options()
	if !o.UsePathStyle || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:1" || o.Region != "eu-west-3" {
		t.Errorf("client options: path style %v, endpoint %q, region %q", o.UsePathStyle, aws.ToString(o.BaseEndpoint), o.Region)
	}
	if o.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired {
		t.Errorf("checksums with a custom endpoint: %v, want when required", o.RequestChecksumCalculation)
	}
	if s.uploader.PartSize != DefaultPartSize || s.uploader.Concurrency != DefaultConcurrency || !s.uploader.LeavePartsOnError {
		t.Errorf("uploader: part size %d, concurrency %d, leave parts %v", s.uploader.PartSize, s.uploader.Concurrency, s.uploader.LeavePartsOnError)
	}
	if s.URI() != "s3://bucket/p" || s.Bucket() != "bucket" || s.Prefix() != "p" {
		t.Errorf("URI %q, bucket %q, prefix %q", s.URI(), s.Bucket(), s.Prefix())
	}
}

// TestEndpointFromEnv checks that MLFLOW_S3_ENDPOINT_URL is honoured, and
// that AWS credentials come from the standard environment variables.
func TestEndpointFromEnv(t *testing.T) {
	srv := s3test.Start(t)
	t.Setenv(EnvEndpoint, srv.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	s, err := New(context.Background(), "s3://"+srv.Bucket+"/env", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o := s.client.Options(); !o.UsePathStyle || o.Region != "us-east-1" {
		t.Errorf("path style %v, region %q", o.UsePathStyle, o.Region)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	artifacttest.MustPut(t, s, "f.txt", []byte("via env"))
	if keys := srv.Keys(t, srv.Bucket, "env/"); !slices.Equal(keys, []string{"env/f.txt"}) {
		t.Fatalf("keys = %q", keys)
	}

	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	bad, err := New(context.Background(), "s3://"+srv.Bucket+"/env", Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Put(context.Background(), "g.txt", strings.NewReader("x"))
	if lode.ErrorCode(err) != lode.EInternal || !strings.Contains(lode.ErrorMessage(err), "SignatureDoesNotMatch") {
		t.Fatalf("Put with a wrong secret: %v, want an internal error naming SignatureDoesNotMatch", err)
	}
}

func TestCheckAndMissingBucket(t *testing.T) {
	srv := s3test.Start(t)
	if err := openStore(t, srv, srv.Bucket, "", Options{}).Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	s := openStore(t, srv, "no-such-bucket-here", "p", Options{})
	ctx := context.Background()
	err := s.Check(ctx)
	if lode.ErrorCode(err) != lode.EInternal || !strings.Contains(lode.ErrorMessage(err), "does not exist") {
		t.Fatalf("Check of a missing bucket: %v", err)
	}
	// A missing bucket is the server's misconfiguration, never "artifact
	// not found" (which clients take as a plain 404).
	if _, _, err := s.Open(ctx, "f"); lode.ErrorCode(err) != lode.EInternal {
		t.Fatalf("Open in a missing bucket: %v", err)
	}
	if _, err := s.List(ctx, ""); lode.ErrorCode(err) != lode.EInternal {
		t.Fatalf("List in a missing bucket: %v", err)
	}
	if err := s.Put(ctx, "f", strings.NewReader("x")); lode.ErrorCode(err) != lode.EInternal {
		t.Fatalf("Put in a missing bucket: %v", err)
	}
}

// TestPrefixIsolation: stores on neighbouring prefixes ("p" and "p2") see
// only their own keys, and deleting in one leaves the other and the keys
// next to the prefix ("p.txt") alone.
func TestPrefixIsolation(t *testing.T) {
	srv := s3test.Start(t)
	a := openStore(t, srv, srv.Bucket, "p", Options{})
	b := openStore(t, srv, srv.Bucket, "p2", Options{})
	root := openStore(t, srv, srv.Bucket, "", Options{})
	artifacttest.MustPut(t, a, "x/f", []byte("a"))
	artifacttest.MustPut(t, b, "x/f", []byte("b"))
	artifacttest.MustPut(t, root, "p.txt", []byte("file next to the prefix"))
	artifacttest.WantListing(t, a, "", artifacttest.Dir("x"))
	artifacttest.WantListing(t, b, "", artifacttest.Dir("x"))
	if err := a.Delete(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if got := artifacttest.MustRead(t, b, "x/f"); string(got) != "b" {
		t.Fatalf("b's file = %q", got)
	}
	if got := artifacttest.MustRead(t, root, "p.txt"); string(got) != "file next to the prefix" {
		t.Fatalf("root file = %q", got)
	}
	want := []string{"p.txt", "p2/x/f"}
	if keys := srv.Keys(t, srv.Bucket, ""); !slices.Equal(keys, want) {
		t.Fatalf("keys = %q, want %q", keys, want)
	}
}

// TestFileAndDirectorySameName: S3 allows an object "a" next to objects
// under "a/"; List then shows both, Open reads the file and Delete removes
// both. Stores backed by a file system refuse the second Put with
// lode.EInvalid instead, as localfs does, and keep the first.
func TestFileAndDirectorySameName(t *testing.T) {
	srv := s3test.Start(t)
	s := openStore(t, srv, srv.Bucket, "p", Options{})
	artifacttest.MustPut(t, s, "a", []byte("file"))
	artifacttest.MustPut(t, s, "a.txt", []byte("t"))
	err := s.Put(context.Background(), "a/b", strings.NewReader("under"))
	if err != nil {
		artifacttest.WantCode(t, `Put("a/b") under a file`, err, lode.EInvalid)
		t.Logf("this S3 server refuses a directory next to a file of the same name: %v", err)
		artifacttest.WantListing(t, s, "", artifacttest.File("a", 4), artifacttest.File("a.txt", 1))
		artifacttest.MustPut(t, s, "d/f", []byte("f"))
		artifacttest.WantCode(t, `Put("d") over a directory`, s.Put(context.Background(), "d", strings.NewReader("x")), lode.EInvalid)
		return
	}
	artifacttest.WantListing(t, s, "", artifacttest.Dir("a"), artifacttest.File("a", 4), artifacttest.File("a.txt", 1))
	if got := artifacttest.MustRead(t, s, "a"); string(got) != "file" {
		t.Fatalf("a = %q", got)
	}
	if err := s.Delete(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	artifacttest.WantListing(t, s, "", artifacttest.File("a.txt", 1))
}

// TestForeignKeys: keys that other tools put in the bucket and that no
// artifact path can name ("dir/" folder markers, empty and ".." segments)
// are left out of listings; Delete of a directory still removes them.
func TestForeignKeys(t *testing.T) {
	srv := s3test.Start(t)
	s := openStore(t, srv, srv.Bucket, "p", Options{})
	artifacttest.MustPut(t, s, "d/ok.txt", []byte("ok"))
	c := srv.Client()
	for _, k := range []string{"p/d/", "p/d/sub/", "p/d/sub/x"} {
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String(srv.Bucket), Key: aws.String(k), Body: strings.NewReader(""),
		}); err != nil {
			t.Fatalf("PutObject(%q): %v", k, err)
		}
	}
	artifacttest.WantListing(t, s, "d", artifacttest.File("d/ok.txt", 2), artifacttest.Dir("d/sub"))
	artifacttest.WantListing(t, s, "d/sub", artifacttest.File("d/sub/x", 0))
	if err := s.Delete(context.Background(), "d"); err != nil {
		t.Fatal(err)
	}
	if keys := srv.Keys(t, srv.Bucket, "p/"); len(keys) != 0 {
		t.Fatalf("left after Delete: %q", keys)
	}
}

// TestListAndDeletePaginate: more keys than one page of ListObjectsV2 and
// than one DeleteObjects batch.
func TestListAndDeletePaginate(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 1,100 objects")
	}
	srv := s3test.Start(t)
	s := openStore(t, srv, srv.Bucket, "p", Options{})
	const n = 1100
	ctx := context.Background()
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- s.Put(ctx, fmt.Sprintf("many/f%04d", i), strings.NewReader("x"))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	files := artifacttest.MustList(t, s, "many")
	if len(files) != n || files[0].Path != "many/f0000" || files[n-1].Path != fmt.Sprintf("many/f%04d", n-1) {
		t.Fatalf("List: %d entries, want %d", len(files), n)
	}
	artifacttest.WantListing(t, s, "", artifacttest.Dir("many"))
	if err := s.Delete(ctx, "many"); err != nil {
		t.Fatal(err)
	}
	if keys := srv.Keys(t, srv.Bucket, ""); len(keys) != 0 {
		t.Fatalf("%d keys left after Delete", len(keys))
	}
}

// TestTooManyParts: an upload longer than the part limit allows fails with
// lode.ETooLarge, writes nothing and leaves no multipart upload behind.
func TestTooManyParts(t *testing.T) {
	srv := s3test.Start(t)
	s := openStore(t, srv, srv.Bucket, "p", Options{PartSize: 5 << 20})
	s.uploader.MaxUploadParts = 2
	err := s.Put(context.Background(), "big", io.LimitReader(zeros{}, 11<<20))
	if lode.ErrorCode(err) != lode.ETooLarge {
		t.Fatalf("Put over the part limit: %v, want %s", err, lode.ETooLarge)
	}
	artifacttest.WantMissing(t, s, "big")
	if ups := srv.Uploads(t, srv.Bucket); len(ups) > 0 {
		t.Fatalf("multipart uploads left open: %q", ups)
	}
}

// TestCancelDuringMultipart: a multipart upload cancelled midway is aborted
// although its context is done.
func TestCancelDuringMultipart(t *testing.T) {
	srv := s3test.Start(t)
	s := openStore(t, srv, srv.Bucket, "p", Options{PartSize: 5 << 20})
	artifacttest.MustPut(t, s, "m.bin", []byte("old"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelAfter{r: io.LimitReader(zeros{}, 100<<20), n: 12 << 20, cancel: cancel}
	err := s.Put(ctx, "m.bin", r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: %v, want context.Canceled", err)
	}
	if got := artifacttest.MustRead(t, s, "m.bin"); string(got) != "old" {
		t.Fatalf("after a cancelled overwrite read %d bytes", len(got))
	}
	if ups := srv.Uploads(t, srv.Bucket); len(ups) > 0 {
		t.Fatalf("multipart uploads left open: %q", ups)
	}
}

// cancelAfter cancels its context once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestContentType: objects get a Content-Type from their extension.
func TestContentType(t *testing.T) {
	srv := s3test.Start(t)
	s := openStore(t, srv, srv.Bucket, "p", Options{})
	artifacttest.MustPut(t, s, "plot.png", []byte("png"))
	out, err := srv.Client().HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String("p/plot.png"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ct := aws.ToString(out.ContentType); ct != "image/png" {
		t.Fatalf("Content-Type = %q", ct)
	}
}

// genReader generates n pseudo-random bytes without holding them: a 100 MB
// artifact that never exists in memory as a whole.
type genReader struct {
	rng *rand.ChaCha8
	n   int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	g.rng.Read(p)
	g.n -= int64(len(p))
	return len(p), nil
}

// heapSampler records the largest HeapInuse seen while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak atomic.Uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestLargeStreaming uploads 100 MiB + 1 byte from a generating reader and
// reads it back, checking the SHA-256 both ways and that the heap grows by
// far less than the artifact's size: Put and Open stream.
func TestLargeStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MiB through the loopback S3 server")
	}
	srv := s3test.Start(t)
	s := openStore(t, srv, srv.Bucket, "big", Options{})
	const size = 100<<20 + 1
	const seed = "lode s3 streaming test seed 0123"
	// Bound the heap the upload may add: the uploader holds up to
	// Concurrency+1 parts plus the first part, 40 MiB with the defaults;
	// 64 MiB leaves room for the GC's timing and is still far below
	// the 100 MiB a buffering implementation would need.
	const limit = 64 << 20
	ctx := context.Background()

	wantHash := sha256.New()
	src := io.TeeReader(&genReader{rng: rand.NewChaCha8([32]byte([]byte(seed))), n: size}, wantHash)
	base := heapInuse()
	h := sampleHeap()
	start := time.Now()
	if err := s.Put(ctx, "model.bin", src); err != nil {
		t.Fatalf("Put: %v", err)
	}
	upTime := time.Since(start)
	upPeak := h.Stop()

	if keys := srv.Keys(t, srv.Bucket, "big/"); !slices.Equal(keys, []string{"big/model.bin"}) {
		t.Fatalf("keys = %q", keys)
	}

	base2 := heapInuse()
	h = sampleHeap()
	start = time.Now()
	rc, gotSize, err := s.Open(ctx, "model.bin")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	gotHash := sha256.New()
	n, err := io.Copy(gotHash, rc)
	rc.Close()
	downTime := time.Since(start)
	downPeak := h.Stop()
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if gotSize != size || n != size {
		t.Fatalf("Open reported %d bytes, read %d, want %d", gotSize, n, size)
	}
	if !bytes.Equal(gotHash.Sum(nil), wantHash.Sum(nil)) {
		t.Fatal("the content read back differs from the content uploaded (SHA-256)")
	}

	upDelta := int64(upPeak) - int64(base)
	downDelta := int64(downPeak) - int64(base2)
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	t.Logf("%d bytes: upload %v (%.0f MiB/s), peak HeapInuse +%.1f MiB; download %v (%.0f MiB/s), peak HeapInuse +%.1f MiB",
		int64(size), upTime.Round(time.Millisecond), mb(size)/upTime.Seconds(), mb(upDelta),
		downTime.Round(time.Millisecond), mb(size)/downTime.Seconds(), mb(downDelta))
	if upDelta > limit {
		t.Errorf("upload grew the heap by %.1f MiB, more than %.0f MiB", mb(upDelta), mb(limit))
	}
	if downDelta > 16<<20 {
		t.Errorf("download grew the heap by %.1f MiB, more than 16 MiB", mb(downDelta))
	}
}

// TestSDKChecksums runs uploads and downloads with the SDK's default
// checksums (CRC32 on every request, as New leaves it for AWS itself),
// chosen through the environment, which New must then respect.
func TestSDKChecksums(t *testing.T) {
	srv := s3test.Start(t)
	t.Setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_supported")
	t.Setenv("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_supported")
	s := openStore(t, srv, srv.Bucket, "ck", Options{PartSize: 5 << 20})
	if o := s.client.Options(); o.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenSupported {
		t.Fatalf("RequestChecksumCalculation = %v, want when supported", o.RequestChecksumCalculation)
	}
	small := []byte("small artifact")
	big := bytes.Repeat([]byte("0123456789abcdef"), (11<<20)/16+5) // three parts
	artifacttest.MustPut(t, s, "small", small)
	artifacttest.MustPut(t, s, "big", big)
	if got := artifacttest.MustRead(t, s, "small"); !bytes.Equal(got, small) {
		t.Fatalf("small read back as %q", got)
	}
	if got := artifacttest.MustRead(t, s, "big"); !bytes.Equal(got, big) {
		t.Fatal("big read back differs")
	}
	if err := s.Delete(context.Background(), "big"); err != nil {
		t.Fatal(err)
	}
}
