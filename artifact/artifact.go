// Package artifact is Lode's artifact domain: the Store interface that
// artifact adapters (localfs, and later object stores) implement, and the
// validation of the two kinds of artifact addresses a client can send:
// relative artifact paths (CleanPath) and experiment artifact locations
// (ValidateLocation). It does no I/O.
//
// Every path a Store method takes is a relative artifact path in the clean
// form CleanPath returns: slash-separated, no leading or trailing slash, no
// empty, "." or ".." segments, "" for the root of the store. Stores must
// still refuse (with lode.EInvalid) a path that is not in that form, so that a
// caller that forgot CleanPath cannot escape the store.
package artifact

import (
	"context"
	"io"
)

// FileInfo describes one entry of a listing, as MLflow's list_artifacts
// returns it.
type FileInfo struct {
	// Path is relative to the store's root (not to the listed directory) and
	// slash-separated: List(ctx, "a") returns entries such as "a/b.txt".
	Path string
	// IsDir reports whether the entry is a directory.
	IsDir bool
	// Size is the size of a file in bytes; it is 0 for a directory.
	Size int64
}

// Store keeps artifacts: files addressed by relative paths, grouped in
// directories.
//
// Errors are *lode.Error values with these codes:
//   - lode.EInvalid: the path is not a clean artifact path, or the operation
//     does not apply to what the path names (see each method);
//   - lode.ENotFound: only from Open, for a path that names nothing;
//   - lode.EInternal: an unexpected storage failure (lode.Internal).
//
// A cancelled or expired ctx makes an operation fail with an error for which
// errors.Is(err, ctx.Err()) holds.
//
// Whether a file and a directory may share a name (an object "a" next to
// objects under "a/") is store-specific: object stores allow it, localfs
// refuses it with lode.EInvalid.
//
// Implementations are safe for concurrent use.
type Store interface {
	// Put stores the bytes read from r at path, creating parent directories
	// as needed and replacing any file already there. The write is atomic:
	// readers see either the old content or the whole new content, never a
	// torn file, and when Put fails the old content (if any) is unchanged.
	// Concurrent Puts of one path leave the content of one of them.
	//
	// Errors: lode.EInvalid when path is the root ("") or not clean, or
	// (localfs) names a directory or lies under a file; when reading r fails,
	// r's error, unchanged if it is a *lode.Error, else wrapped by
	// lode.Internal (errors.Is/As still find it).
	Put(ctx context.Context, path string, r io.Reader) error

	// Open opens the file at path for reading and returns its size in bytes.
	// The caller closes the reader.
	//
	// Errors: lode.ENotFound when nothing is at path (or a parent of path is
	// a file); lode.EInvalid when path is not clean or names a directory
	// (object stores, having no directories, may answer lode.ENotFound for a
	// directory instead), including the root "".
	Open(ctx context.Context, path string) (io.ReadCloser, int64, error)

	// List returns the direct children of the directory dir ("" for the
	// root), sorted by name. As in MLflow, listing a directory that does not
	// exist, or a path that names a file, returns an empty list and no error.
	//
	// Errors: lode.EInvalid when dir is not clean.
	List(ctx context.Context, dir string) ([]FileInfo, error)

	// Delete removes the file at path, or the directory at path with
	// everything under it (MLflow's delete_artifacts is recursive). As in
	// MLflow, deleting a path that does not exist succeeds and does nothing.
	//
	// Errors: lode.EInvalid when path is not clean or is the root "": the
	// root itself is never deleted.
	Delete(ctx context.Context, path string) error
}

// Checker is implemented by stores in which a path can lead somewhere else
// than it reads: localfs, whose tree may hold symlinks. Callers that
// record a path for later use (a model version's source) check it with
// CheckPath when they take it, so that one leading outside the store is
// refused then, not only when it is read.
type Checker interface {
	// CheckPath returns nil when path, followed as far as it exists (the
	// rest need not exist), stays inside the store.
	//
	// Errors: lode.EInvalid when path is not clean or resolves outside the
	// store; lode.EInternal when it cannot be followed.
	CheckPath(ctx context.Context, path string) error
}
