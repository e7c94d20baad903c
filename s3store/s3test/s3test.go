// Package s3test starts a real S3 server for tests: versitygw
// (github.com/versity/versitygw, Apache-2.0) with its POSIX backend, on a
// free port of 127.0.0.1, keeping its objects in a temporary directory.
//
// The binary is found through the environment variable LODE_VERSITYGW (a
// path), else as "versitygw" on PATH. Without it, Start skips the test,
// saying why, unless LODE_REQUIRE_S3=1, when it fails it: CI sets that so a
// missing server cannot pass as green. Install it with
//
//	GOBIN=<dir> go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Environment variables Start reads.
const (
	EnvBinary  = "LODE_VERSITYGW"
	EnvRequire = "LODE_REQUIRE_S3"
)

// Fixed credentials of the test server: it listens on loopback only and
// lives as long as one test.
const (
	AccessKey = "lodetestaccess"
	SecretKey = "lodetestsecret0123456789"
	Region    = "us-east-1"
)

// startTimeout bounds the wait for the server to answer.
const startTimeout = 30 * time.Second

// Server is a running versitygw.
type Server struct {
	// Endpoint is the server's base URL, "http://127.0.0.1:PORT".
	Endpoint string
	// Bucket is a bucket Start created, empty.
	Bucket string
	// AccessKey, SecretKey and Region are what clients sign with.
	AccessKey, SecretKey, Region string
	// Root is the directory of the POSIX backend: a bucket is a directory
	// in it, an object a file.
	Root string

	client *s3.Client
}

// Binary returns the path of the versitygw binary, or "" when there is none.
func Binary() string {
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	p, err := exec.LookPath("versitygw")
	if err != nil {
		return ""
	}
	return p
}

// Start starts versitygw for the test t and stops it when t ends. It skips
// t when the binary is missing (fails it under LODE_REQUIRE_S3=1).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := fmt.Sprintf("no S3 server for this test: set %s to a versitygw binary or put versitygw on PATH "+
			"(go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", EnvBinary)
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(msg + "; " + EnvRequire + "=1 requires it")
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v", EnvBinary, err)
	}

	root := t.TempDir()
	// The port is found by listening on :0 and closing; another process may
	// take it before versitygw binds it, so a server that exits at once is
	// started again on another port.
	var lastErr error
	for range 3 {
		s, err := start(t, bin, root)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("versitygw did not start: %v", lastErr)
	return nil
}

// lockedBuffer collects the server's output for error messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		return len(p), nil // enough to diagnose a failure
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func start(t testing.TB, bin, root string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin,
		"--access", AccessKey,
		"--secret", SecretKey,
		"--region", Region,
		"--port", addr,
		"posix", root,
	)
	// A minimal environment: versitygw reads many VGW_* and ROOT_*
	// variables, and must not pick up a developer's own settings.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root, "TMPDIR=" + os.TempDir()}
	var out lockedBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}

	s := &Server{
		Endpoint:  "http://" + addr,
		AccessKey: AccessKey,
		SecretKey: SecretKey,
		Region:    Region,
		Root:      root,
	}
	s.client = s.Client()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		if _, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
			break
		} else if ctx.Err() != nil {
			stop()
			return nil, fmt.Errorf("no answer on %s within %v (last error: %v); output:\n%s", addr, startTimeout, err, out.String())
		}
		select {
		case err := <-exited:
			exited <- err
			stop()
			return nil, fmt.Errorf("versitygw exited: %v; output:\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", out.String())
		}
	})
	s.Bucket = s.NewBucket(t)
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Client returns an S3 client for the server, with path-style addressing.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		Credentials:  s.Credentials(),
		UsePathStyle: true,
	})
}

// Credentials returns the server's credentials as an AWS credentials
// provider.
func (s *Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")
}

// NewBucket creates a new, empty bucket with a random name and returns the
// name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "lode-test-" + hex.EncodeToString(b[:])
	if _, err := s.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// Keys returns every key in bucket under prefix (all of them for ""), as
// S3 lists them, for tests that look past a store at what it wrote.
func (s *Server) Keys(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket),
		Prefix: aws.String(prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing %s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// Uploads returns the keys of the multipart uploads in progress in bucket,
// to check that failed uploads were aborted.
func (s *Server) Uploads(t testing.TB, bucket string) []string {
	t.Helper()
	out, err := s.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		var ae interface{ ErrorCode() string }
		if errors.As(err, &ae) && ae.ErrorCode() == "NotImplemented" {
			t.Skip("this S3 server cannot list multipart uploads")
		}
		t.Fatalf("listing multipart uploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}
