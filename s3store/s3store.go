// Package s3store is Lode's artifact store on Amazon S3 and S3-compatible
// object stores (MinIO, Ceph, versitygw, R2, ...): an artifact.Store keeping
// each artifact as one object under a key prefix of one bucket.
//
// An artifact path p is stored at the key prefix + "/" + p (just p when the
// prefix is empty). Every path must be a clean artifact path
// (artifact.CleanPath) and is joined to the prefix only after that check, so
// no operation reaches a key outside the prefix: a clean path has no ".."
// segment, and S3 does not interpret one anyway. Listing and recursive
// deletion use the prefix followed by "/", so "a" never matches "ab/...".
//
// S3 has no directories: a directory is the set of keys that share its
// prefix, it exists while one of them does, and a file "a" may sit next to
// files under "a/".
package s3store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
)

const (
	// DefaultPartSize is the size of one part of a multipart upload, and the
	// size up to which an upload is sent as a single PutObject. It is the
	// multipart_chunksize boto3 (and so MLflow) uses. With S3's limit of
	// 10,000 parts, an upload of unknown length can be up to 80 GiB.
	DefaultPartSize = 8 << 20
	// DefaultConcurrency is the number of parts of one upload sent at once.
	// An upload holds about (concurrency + 2) parts in memory, 40 MiB with
	// the defaults, whatever the artifact's size.
	DefaultConcurrency = 3

	// maxKeyLen is S3's limit on the length of a key, in bytes.
	maxKeyLen = 1024
	// maxDeleteBatch is the most keys one DeleteObjects request may name.
	maxDeleteBatch = 1000
	// abortTimeout bounds the clean-up of a failed multipart upload, which
	// runs even when the request's context is done.
	abortTimeout = 30 * time.Second
)

// Environment variables read by New, as MLflow's S3 artifact repository
// reads them.
const (
	// EnvEndpoint is the URL of an S3-compatible endpoint, used when
	// Options.Endpoint is empty.
	EnvEndpoint = "MLFLOW_S3_ENDPOINT_URL"
	// EnvIgnoreTLS, when "true" or "1", turns off the verification of the
	// endpoint's TLS certificate (for self-signed test deployments), as
	// MLflow's verify=False does.
	EnvIgnoreTLS = "MLFLOW_S3_IGNORE_TLS"
)

// Options configure New. The zero value uses the AWS SDK's defaults
// everywhere: region and credentials from the environment (AWS_REGION,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE,
// the shared config and credentials files, web identity, container and EC2
// instance roles).
type Options struct {
	// Region of the bucket. Empty: from the AWS environment; when it names
	// none, "us-east-1" for a custom endpoint, else the region S3 reports
	// for the bucket.
	Region string
	// Endpoint is the base URL of an S3-compatible store, such as
	// "http://127.0.0.1:9000". Empty: MLFLOW_S3_ENDPOINT_URL, then the
	// SDK's AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL, then AWS itself. With
	// a custom endpoint, requests use path-style addressing
	// (endpoint/bucket/key) and send checksums only where S3 requires them,
	// which is what third-party stores support (unless the variables
	// AWS_REQUEST_CHECKSUM_CALCULATION or AWS_RESPONSE_CHECKSUM_VALIDATION
	// say otherwise).
	Endpoint string
	// Credentials replace the SDK's default credential chain when not nil.
	Credentials aws.CredentialsProvider
	// PartSize is the size of a multipart upload's parts in bytes (at least
	// 5 MiB); 0 means DefaultPartSize.
	PartSize int64
	// Concurrency is the number of parts of one upload sent at once; 0
	// means DefaultConcurrency.
	Concurrency int
	// InsecureSkipVerify turns off TLS certificate verification; it is also
	// turned on by MLFLOW_S3_IGNORE_TLS.
	InsecureSkipVerify bool
}

// Store keeps artifacts in an S3 bucket under a key prefix. It implements
// artifact.Store and is safe for concurrent use.
type Store struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	prefix   string // clean, without leading or trailing "/"; "" for the bucket's root
}

var _ artifact.Store = (*Store)(nil)

// ParseURI splits an artifact destination "s3://bucket[/prefix]" into the
// bucket and the clean prefix ("" for the bucket's root). The scheme is
// case-insensitive; the prefix must pass artifact.CleanPath, which also
// drops empty segments and a trailing "/".
func ParseURI(uri string) (bucket, prefix string, err error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if authority, _, _ := strings.Cut(rest, "/"); strings.Contains(authority, "@") {
		// Not quoted: what precedes the '@' may be a key and its secret.
		return "", "", lode.Errorf(lode.EInvalid, "Invalid S3 artifact URI: credentials in the URI are not allowed; "+
			"give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the shared AWS configuration.")
	}
	if !ok || !strings.EqualFold(scheme, "s3") {
		return "", "", lode.Errorf(lode.EInvalid, "Invalid S3 artifact URI %q: must be s3://bucket/prefix.", uri)
	}
	if strings.ContainsAny(rest, "?#") {
		return "", "", lode.Errorf(lode.EInvalid, "Invalid S3 artifact URI %q: query strings and fragments are not allowed.", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !validBucket(bucket) {
		return "", "", lode.Errorf(lode.EInvalid, "Invalid S3 artifact URI %q: %q is not a valid bucket name.", uri, bucket)
	}
	prefix, err = artifact.CleanPath(prefix)
	if err != nil {
		return "", "", lode.Errorf(lode.EInvalid, "Invalid S3 artifact URI %q: the key prefix is not a safe path (%s).", uri, lode.ErrorMessage(err))
	}
	return bucket, prefix, nil
}

// validBucket accepts S3's bucket names, including the legacy ones with
// capitals and underscores, and refuses anything that would change the
// request's URL: no "/", "@", ":", "..".
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 255 || strings.Contains(b, "..") {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// New returns a Store for the destination uri, "s3://bucket/prefix". It
// builds the S3 client from opts and the AWS environment; it makes no
// request, except to look up the bucket's region when neither opts, the
// environment nor a custom endpoint gives one. Use Check to find out whether
// the bucket can be reached.
func New(ctx context.Context, uri string, opts Options) (*Store, error) {
	bucket, prefix, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	endpoint := opts.Endpoint
	if endpoint == "" {
		endpoint = os.Getenv(EnvEndpoint)
	}
	insecure := opts.InsecureSkipVerify || envTrue(os.Getenv(EnvIgnoreTLS))

	var loadOpts []func(*config.LoadOptions) error
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(opts.Credentials))
	}
	if insecure {
		loadOpts = append(loadOpts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true // asked for by the operator
		})))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, lode.Internal(err, "Cannot load the AWS configuration for the S3 artifact store.")
	}
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint // AWS_ENDPOINT_URL(_S3) or the shared config's endpoint_url
	}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
		if cfg.Region == "" {
			// SigV4 needs a region; S3-compatible stores answer to any,
			// and boto3 signs for us-east-1 too when none is set.
			cfg.Region = "us-east-1"
		}
		// Since early 2025 the SDK sends CRC checksums (and aws-chunked
		// trailers) on every upload by default, which many S3-compatible
		// stores reject. Unless the environment chose, send and check them
		// only where S3 requires them, as older SDKs did. (The loaded
		// config cannot tell a default from a choice, hence the variables.)
		if os.Getenv("AWS_REQUEST_CHECKSUM_CALCULATION") == "" {
			cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}
		if os.Getenv("AWS_RESPONSE_CHECKSUM_VALIDATION") == "" {
			cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	}
	if cfg.Region == "" {
		region, err := bucketRegion(ctx, cfg, bucket)
		if err != nil {
			return nil, err
		}
		cfg.Region = region
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = endpoint != ""
		// Objects uploaded in parts have no whole-object checksum to
		// check; without this the SDK logs a warning on every download
		// of one.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return newStore(client, bucket, prefix, opts)
}

// bucketRegion asks S3 where bucket lives (an unauthenticated HeadBucket
// answers with its region even when access is denied).
func bucketRegion(ctx context.Context, cfg aws.Config, bucket string) (string, error) {
	cfg.Region = "us-east-1"
	region, err := manager.GetBucketRegion(ctx, s3.NewFromConfig(cfg), bucket)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", lode.Internal(err, fmt.Sprintf("Cannot find the region of the S3 bucket %q: set AWS_REGION.", bucket))
	}
	return region, nil
}

// NewFromClient returns a Store using an S3 client configured by the
// caller, for buckets that New's configuration cannot describe. Only the
// bucket and key prefix are taken from uri.
func NewFromClient(client *s3.Client, uri string, opts Options) (*Store, error) {
	bucket, prefix, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return newStore(client, bucket, prefix, opts)
}

func newStore(client *s3.Client, bucket, prefix string, opts Options) (*Store, error) {
	partSize := opts.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < manager.MinUploadPartSize {
		return nil, lode.Errorf(lode.EInvalid, "The S3 upload part size must be at least %d bytes.", manager.MinUploadPartSize)
	}
	concurrency := opts.Concurrency
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	checksums := client.Options().RequestChecksumCalculation
	uploader := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = partSize
		u.Concurrency = concurrency
		// The uploader would abort a failed multipart upload with the
		// request's context, which is already cancelled when the client
		// went away; Put aborts it itself with a context of its own.
		u.LeavePartsOnError = true
		u.RequestChecksumCalculation = checksums
	})
	return &Store{client: client, uploader: uploader, bucket: bucket, prefix: prefix}, nil
}

// Bucket returns the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// Prefix returns the clean key prefix ("" for the bucket's root).
func (s *Store) Prefix() string { return s.prefix }

// URI returns the store's destination as "s3://bucket/prefix".
func (s *Store) URI() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + s.prefix
}

// Check makes one request (HeadBucket) to find out whether the bucket
// exists and the credentials may use it, for a server to fail early on a
// misconfiguration.
func (s *Store) Check(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	var respErr *awshttp.ResponseError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusNotFound:
		// HEAD answers have no body, so no NoSuchBucket code either.
		return lode.Internal(err, fmt.Sprintf("The S3 artifact bucket %q does not exist.", s.bucket))
	}
	return s.s3Error(ctx, err, "", "Cannot reach the S3 artifact bucket.")
}

// key returns the object key of the clean artifact path p.
func (s *Store) key(p string) string {
	switch {
	case s.prefix == "":
		return p
	case p == "":
		return s.prefix
	default:
		return s.prefix + "/" + p
	}
}

// dirPrefix returns the key prefix of everything under the directory p.
func (s *Store) dirPrefix(p string) string {
	if k := s.key(p); k != "" {
		return k + "/"
	}
	return ""
}

// checkPath refuses (lode.EInvalid) a path that is not in clean form, or
// whose key would be longer than S3 allows.
func (s *Store) checkPath(p string) error {
	clean, err := artifact.CleanPath(p)
	if err != nil {
		return err
	}
	if clean != p {
		return lode.Errorf(lode.EInvalid, "Invalid artifact path %q: not in clean form (%q).", p, clean)
	}
	if len(s.key(p))+1 > maxKeyLen { // +1: the "/" a directory listing adds
		return lode.Errorf(lode.EInvalid, "Invalid artifact path %q: too long for an S3 key.", p)
	}
	return nil
}

// Put implements artifact.Store. The data is streamed: up to PartSize bytes
// go in one PutObject, more in a multipart upload of PartSize parts, so an
// upload holds at most about (Concurrency + 2) parts in memory. S3 makes the
// object visible only when the PutObject or CompleteMultipartUpload
// succeeds, whole, replacing the old one; a failed multipart upload is
// aborted so its parts do not linger (a crash can still leave some: a bucket
// lifecycle rule AbortIncompleteMultipartUpload removes those).
//
// The object's Content-Type is guessed from the name's extension, as
// MLflow's S3 repository does.
//
// Errors: lode.EInvalid when path is "" or not clean; lode.ETooLarge when
// the data exceeds what the part size allows (10,000 parts) or S3's object
// size limit; the reader's or the context's error as the contract says.
func (s *Store) Put(ctx context.Context, p string, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.checkPath(p); err != nil {
		return err
	}
	if p == "" {
		return lode.Errorf(lode.EInvalid, "Cannot write to the artifact root: give a file path.")
	}
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(p)),
		// Wrapped so that the uploader cannot see an io.Seeker or
		// io.ReaderAt: it then reads part by part instead of measuring
		// the source, and errors are the source's own.
		Body: &source{ctx: ctx, r: r},
	}
	if ct := mime.TypeByExtension(path.Ext(p)); ct != "" {
		in.ContentType = aws.String(ct)
	}
	_, err := s.uploader.Upload(ctx, in)
	if err == nil {
		return nil
	}
	var failed manager.MultiUploadFailure
	if errors.As(err, &failed) && failed.UploadID() != "" {
		s.abort(ctx, in.Key, failed.UploadID())
	}
	if src := in.Body.(*source); src.err != nil {
		return sourceError(src.err)
	}
	if strings.Contains(err.Error(), "exceeded total allowed") && strings.Contains(err.Error(), "MaxUploadParts") {
		// The uploader's own limit check has no error type of its own.
		return lode.Errorf(lode.ETooLarge, "Artifact %q is too large: at most %d bytes can be uploaded with the configured part size.", p, s.uploader.PartSize*int64(s.uploader.MaxUploadParts))
	}
	return s.s3Error(ctx, err, p, "Cannot write the artifact to S3.")
}

// abort abandons a failed multipart upload, with a context of its own so
// that it runs also when ctx was cancelled.
func (s *Store) abort(ctx context.Context, key *string, uploadID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	// Best effort: a leftover upload is invisible, costs only storage, and
	// a lifecycle rule can collect it.
	_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.bucket),
		Key:      key,
		UploadId: aws.String(uploadID),
	})
}

// source reads the upload, stopping when ctx is done, and remembers its
// error so Put can return it unchanged.
type source struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// sourceError returns the error of the upload's reader as the Store
// contract says: unchanged when it is a *lode.Error or the context's, else
// wrapped by lode.Internal.
func sourceError(err error) error {
	var le *lode.Error
	if errors.As(err, &le) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return lode.Internal(err, "Reading the artifact data failed.")
}

// Open implements artifact.Store; the reader streams the object's body.
// Open of a directory answers lode.ENotFound (there is no such object),
// which the contract allows for object stores.
func (s *Store) Open(ctx context.Context, p string) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := s.checkPath(p); err != nil {
		return nil, 0, err
	}
	if p == "" {
		return nil, 0, lode.Errorf(lode.EInvalid, "Cannot open the artifact root: it is a directory.")
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(p)),
	})
	if err != nil {
		return nil, 0, s.s3Error(ctx, err, p, "Cannot read the artifact from S3.")
	}
	size := aws.ToInt64(out.ContentLength)
	if out.ContentLength == nil || size < 0 {
		out.Body.Close()
		return nil, 0, lode.Internal(errors.New("s3store: GetObject gave no Content-Length"), "Cannot read the artifact from S3.")
	}
	return out.Body, size, nil
}

// List implements artifact.Store with ListObjectsV2 and the delimiter "/",
// page by page. Entries other tools may have created that no artifact path
// can name (a "dir/" folder marker, empty or ".." segments) are left out.
func (s *Store) List(ctx context.Context, dir string) ([]artifact.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.checkPath(dir); err != nil {
		return nil, err
	}
	listPrefix := s.dirPrefix(dir)
	var files []artifact.FileInfo
	add := func(name string, isDir bool, size int64) {
		if name == "" || strings.Contains(name, "/") {
			return
		}
		p := name
		if dir != "" {
			p = dir + "/" + name
		}
		// The whole path, not the name alone: "x:y" is a fine name in a
		// directory but not as the first segment.
		if clean, err := artifact.CleanPath(p); err != nil || clean != p {
			return
		}
		if isDir {
			size = 0
		}
		files = append(files, artifact.FileInfo{Path: p, IsDir: isDir, Size: size})
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket:    aws.String(s.bucket),
		Prefix:    aws.String(listPrefix),
		Delimiter: aws.String("/"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.s3Error(ctx, err, dir, "Cannot list the artifacts in S3.")
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), listPrefix), "/")
			add(name, true, 0)
		}
		for _, obj := range page.Contents {
			add(strings.TrimPrefix(aws.ToString(obj.Key), listPrefix), false, aws.ToInt64(obj.Size))
		}
	}
	// S3 sorts keys and common prefixes separately (and "a/" after "a.b"),
	// Lode sorts entries by path; a directory comes before a file of the
	// same name.
	slices.SortFunc(files, func(a, b artifact.FileInfo) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		switch {
		case a.IsDir == b.IsDir:
			return 0
		case a.IsDir:
			return -1
		default:
			return 1
		}
	})
	return files, nil
}

// Delete implements artifact.Store: it deletes the object at path, then
// every object under path + "/", in batches of 1,000 keys. Objects
// uploaded into the directory while it is being deleted may survive.
func (s *Store) Delete(ctx context.Context, p string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.checkPath(p); err != nil {
		return err
	}
	if p == "" {
		return lode.Errorf(lode.EInvalid, "Cannot delete the artifact root.")
	}
	// Deleting a missing key succeeds in S3, as Delete must.
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(p)),
	}); err != nil {
		return s.s3Error(ctx, err, p, "Cannot delete the artifact in S3.")
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.bucket),
		Prefix:  aws.String(s.dirPrefix(p)),
		MaxKeys: aws.Int32(maxDeleteBatch),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s.s3Error(ctx, err, p, "Cannot list the artifacts to delete in S3.")
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, 0, len(page.Contents))
		for _, obj := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: obj.Key})
		}
		for batch := range slices.Chunk(ids, maxDeleteBatch) {
			out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
				Bucket: aws.String(s.bucket),
				Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
			})
			if err != nil {
				return s.s3Error(ctx, err, p, "Cannot delete the artifacts in S3.")
			}
			for _, e := range out.Errors {
				if aws.ToString(e.Code) == "NoSuchKey" {
					continue // deleted meanwhile by someone else
				}
				return lode.Internal(fmt.Errorf("s3store: deleting %q: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message)),
					"Cannot delete the artifacts in S3.")
			}
		}
	}
	return nil
}

// s3Error turns an error of an S3 call on artifact path p into the error the
// Store contract asks for: the context's error when ctx is done;
// lode.ENotFound when the object does not exist; lode.ETooLarge for S3's
// size limits; lode.EUnavailable when S3 still throttles after the SDK's
// retries; else lode.Internal with msg, naming the S3 error code (which
// says what to fix: NoSuchBucket, AccessDenied, InvalidAccessKeyId, ...).
func (s *Store) s3Error(ctx context.Context, err error, p, msg string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr // whatever the SDK made of it
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return notFound(p)
	}
	code := ""
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	status := 0
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	switch {
	case code == "NoSuchBucket":
		return lode.Internal(err, fmt.Sprintf("The S3 artifact bucket %q does not exist.", s.bucket))
	case code == "NoSuchKey" || status == http.StatusNotFound:
		return notFound(p)
	case code == "ExistingObjectIsDirectory" || code == "ObjectParentIsFile":
		// Gateways onto a file system (versitygw's POSIX backend) refuse a
		// file and a directory of one name, as localfs does: same code.
		return lode.Errorf(lode.EInvalid, "Cannot write artifact %q: a file and a directory of the same name cannot coexist in this S3 store.", p)
	case code == "EntityTooLarge":
		return lode.Errorf(lode.ETooLarge, "Artifact %q is larger than the S3 store accepts.", p)
	case code == "KeyTooLongError":
		return lode.Errorf(lode.EInvalid, "Invalid artifact path %q: too long for an S3 key.", p)
	case code == "SlowDown" || status == http.StatusServiceUnavailable:
		return &lode.Error{Code: lode.EUnavailable, Message: "The S3 artifact store is busy; try again later.", Err: err}
	}
	if code != "" {
		msg = strings.TrimSuffix(msg, ".") + " (S3 error " + code + ")."
	} else if status != 0 {
		msg = strings.TrimSuffix(msg, ".") + " (HTTP status " + strconv.Itoa(status) + ")."
	}
	return lode.Internal(err, msg)
}

func notFound(p string) error {
	return lode.Errorf(lode.ENotFound, "Artifact %q does not exist.", p)
}

// envTrue reads a boolean environment variable as MLflow does ("true" or
// "1", any case).
func envTrue(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "true" || v == "1"
}
