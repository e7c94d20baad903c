// Package localfs is Lode's artifact store on the local disk: an
// artifact.Store keeping each artifact as a file under one root directory.
//
// Nothing outside the root is ever read, written or deleted. Every path is
// checked twice: it must be a clean artifact path (artifact.CleanPath), and
// once its symlinks are resolved it must lie under the root (a symlink
// inside the tree that points inside the root is followed; one that
// resolves outside is refused with lode.EInvalid). All file operations then
// go through an os.Root opened on the root directory, so a symlink planted
// between the check and the operation cannot lead outside either.
//
// Uploads are written to a temporary file named ".artifact.uploading.*" (the
// prefix MLflow's local artifact repository uses) in the target directory,
// synced and renamed into place. Names with that prefix are reserved: no
// operation accepts them and List hides them.
package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
)

// TempPrefix starts the names of files being uploaded. Paths with a segment
// starting with it are refused, and List hides such entries.
const TempPrefix = ".artifact.uploading."

// maxSymlinks bounds the symlinks followed while resolving one path.
const maxSymlinks = 40

// Store keeps artifacts under a root directory. It implements
// artifact.Store and is safe for concurrent use.
type Store struct {
	root string   // absolute, free of symlinks
	fsys *os.Root // opened on root
	// errEscapes is the (unexported) error os.Root gives for a path that
	// leads outside it, to tell a symlink planted during an operation from
	// an I/O failure.
	errEscapes error
}

var (
	_ artifact.Store   = (*Store)(nil)
	_ artifact.Checker = (*Store)(nil)
)

// New returns a Store keeping artifacts under root, which it creates (0o755)
// when missing. Root is made absolute and its symlinks are resolved once,
// here: moving the root directory later is not supported.
func New(root string) (*Store, error) {
	if root == "" {
		return nil, lode.Errorf(lode.EInvalid, "The artifact root directory must not be empty.")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, lode.Internal(err, "Cannot create the artifact root directory.")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, lode.Internal(err, "Cannot resolve the artifact root directory.")
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, lode.Internal(err, "Cannot resolve the artifact root directory.")
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, lode.Internal(err, "Cannot read the artifact root directory.")
	}
	if !fi.IsDir() {
		return nil, lode.Errorf(lode.EInvalid, "The artifact root %q is not a directory.", root)
	}
	fsys, err := os.OpenRoot(real)
	if err != nil {
		return nil, lode.Internal(err, "Cannot open the artifact root directory.")
	}
	s := &Store{root: real, fsys: fsys}
	var pe *fs.PathError
	if _, err := fsys.Lstat(".."); errors.As(err, &pe) {
		s.errEscapes = pe.Err
	}
	return s, nil
}

// fsError turns an error of an os.Root operation on artifact path p into a
// *lode.Error: lode.EInvalid when the path turned out to lead outside the
// root (a symlink appeared after the check), else lode.Internal with msg.
func (s *Store) fsError(err error, p, msg string) error {
	if s.errEscapes != nil && errors.Is(err, s.errEscapes) {
		return outside(p)
	}
	return lode.Internal(err, msg)
}

func outside(p string) error {
	return lode.Errorf(lode.EInvalid, "Invalid artifact path %q: it resolves outside the artifact root.", p)
}

// Root returns the absolute, symlink-free path of the root directory.
func (s *Store) Root() string { return s.root }

// Close releases the root directory. The Store must not be used afterwards.
func (s *Store) Close() error { return s.fsys.Close() }

// CheckPath implements artifact.Checker: it resolves p's symlinks as far
// as p exists and refuses (lode.EInvalid) a path that is not clean or
// that leads outside the root. Nothing is read but metadata.
func (s *Store) CheckPath(ctx context.Context, p string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkPath(p); err != nil {
		return err
	}
	_, err := s.resolveInside(p)
	return err
}

// Put implements artifact.Store. It writes the data to a temporary file in
// the target directory, syncs it, renames it over the target and syncs the
// directory. Missing parent directories are created (0o755); the file gets
// mode 0o666 less the umask, as MLflow's files do. A path whose last segment
// is a symlink inside the root writes the symlink's target.
//
// Errors (lode.EInvalid): path is "" or not clean; it names a directory or
// something other than a regular file; one of its parents is a file; it
// resolves outside the root.
func (s *Store) Put(ctx context.Context, p string, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkPath(p); err != nil {
		return err
	}
	if p == "" {
		return lode.Errorf(lode.EInvalid, "Cannot write to the artifact root: give a file path.")
	}
	res, err := s.resolveInside(p)
	if err != nil {
		return err
	}
	if res.notDir {
		return lode.Errorf(lode.EInvalid, "Cannot write artifact %q: one of its parents is a file.", p)
	}
	if res.exists {
		if res.info.IsDir() {
			return lode.Errorf(lode.EInvalid, "Cannot write artifact %q: it is a directory.", p)
		}
		if !res.info.Mode().IsRegular() {
			return lode.Errorf(lode.EInvalid, "Cannot write artifact %q: it is not a regular file.", p)
		}
	}
	rel := s.rel(res.real)
	dir := filepath.Dir(rel)
	var tmp string
	var f *os.File
	// A concurrent Delete may remove the directory between its creation and
	// the temporary file's: try again then.
	for attempt := 1; ; attempt++ {
		if dir != "." {
			if err := s.fsys.MkdirAll(dir, 0o755); err != nil {
				if s.hasFileParent(dir) {
					return lode.Errorf(lode.EInvalid, "Cannot write artifact %q: one of its parents is a file.", p)
				}
				if attempt < 3 {
					continue
				}
				return s.fsError(err, p, "Cannot create the artifact's directory.")
			}
		}
		tmp, f, err = s.createTemp(dir)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt >= 3 {
			return s.fsError(err, p, "Cannot create the artifact file.")
		}
	}
	published := false
	defer func() {
		if !published {
			f.Close()
			s.fsys.Remove(tmp)
		}
	}()

	src := &source{ctx: ctx, r: r}
	if _, err := io.Copy(f, src); err != nil {
		if src.err != nil {
			return sourceError(src.err)
		}
		return s.fsError(err, p, "Cannot write the artifact file.")
	}
	if err := f.Sync(); err != nil {
		return s.fsError(err, p, "Cannot write the artifact file.")
	}
	if err := f.Close(); err != nil {
		return s.fsError(err, p, "Cannot write the artifact file.")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.fsys.Rename(tmp, rel); err != nil {
		if fi, lerr := s.fsys.Lstat(rel); lerr == nil && fi.IsDir() {
			return lode.Errorf(lode.EInvalid, "Cannot write artifact %q: it is a directory.", p)
		}
		return s.fsError(err, p, "Cannot write the artifact file.")
	}
	published = true
	if err := s.syncDir(dir); err != nil {
		return s.fsError(err, p, "Cannot sync the artifact's directory.")
	}
	return nil
}

// hasFileParent reports whether dir (relative to the root), or one of its
// parents, exists and is not a directory.
func (s *Store) hasFileParent(dir string) bool {
	for d := dir; d != "." && d != string(filepath.Separator); d = filepath.Dir(d) {
		if fi, err := s.fsys.Stat(d); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

// source reads the upload, stopping when ctx is done, and remembers its
// error to tell it from a write error.
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

func sourceError(err error) error {
	var le *lode.Error
	if errors.As(err, &le) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return lode.Internal(err, "Reading the artifact data failed.")
}

// createTemp creates a new file for writing in dir (relative to the root).
func (s *Store) createTemp(dir string) (string, *os.File, error) {
	for range 100 {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", nil, err
		}
		name := filepath.Join(dir, TempPrefix+hex.EncodeToString(b[:]))
		f, err := s.fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, f, err
	}
	return "", nil, errors.New("localfs: cannot find a free temporary file name")
}

func (s *Store) syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there
	}
	d, err := s.fsys.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Open implements artifact.Store. A symlink inside the root is followed.
// The reader is an *os.File, so callers may use it as an io.ReadSeeker
// (http.ServeContent).
//
// Errors: lode.ENotFound when nothing is at path (or a parent is a file);
// lode.EInvalid when path is not clean, is the root, names a directory or
// something other than a regular file, or resolves outside the root.
func (s *Store) Open(ctx context.Context, p string) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := checkPath(p); err != nil {
		return nil, 0, err
	}
	if p == "" {
		return nil, 0, lode.Errorf(lode.EInvalid, "Cannot read the artifact root: it is a directory.")
	}
	res, err := s.resolveInside(p)
	if err != nil {
		return nil, 0, err
	}
	if !res.exists {
		return nil, 0, notFound(p)
	}
	if res.info.IsDir() {
		return nil, 0, lode.Errorf(lode.EInvalid, "Cannot read artifact %q: it is a directory.", p)
	}
	if !res.info.Mode().IsRegular() {
		return nil, 0, lode.Errorf(lode.EInvalid, "Cannot read artifact %q: it is not a regular file.", p)
	}
	f, err := s.fsys.Open(s.rel(res.real))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, notFound(p)
		}
		return nil, 0, s.fsError(err, p, "Cannot open the artifact file.")
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, s.fsError(err, p, "Cannot open the artifact file.")
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, lode.Errorf(lode.EInvalid, "Cannot read artifact %q: it is not a regular file.", p)
	}
	return f, fi.Size(), nil
}

func notFound(p string) error {
	return lode.Errorf(lode.ENotFound, "No such artifact: %q.", p)
}

// List implements artifact.Store. Entries are Paths under dir as given
// (List("a") gives "a/b.txt" even when "a" is a symlink), sorted by name.
// A symlink entry that resolves inside the root is listed as what it points
// to; one that resolves outside the root, dangles or loops is hidden, as are
// temporary upload files, entries that are neither files nor directories
// (sockets, devices, pipes) and names that CleanPath would refuse.
//
// A dir that does not exist or names a file gives an empty list, as in
// MLflow. Errors: lode.EInvalid when dir is not clean or resolves outside
// the root.
func (s *Store) List(ctx context.Context, dir string) ([]artifact.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkPath(dir); err != nil {
		return nil, err
	}
	res, err := s.resolveInside(dir)
	if err != nil {
		return nil, err
	}
	files := []artifact.FileInfo{}
	if !res.exists || !res.info.IsDir() {
		return files, nil
	}
	d, err := s.fsys.Open(s.rel(res.real))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return files, nil
		}
		return nil, s.fsError(err, dir, "Cannot list the artifact directory.")
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil, s.fsError(err, dir, "Cannot list the artifact directory.")
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, TempPrefix) {
			continue
		}
		child := name
		if dir != "" {
			child = dir + "/" + name
		}
		if checkPath(child) != nil {
			continue // a name no request could address
		}
		var info fs.FileInfo
		if e.Type()&fs.ModeSymlink != 0 {
			cres, err := s.resolve(child)
			if err != nil {
				if errors.Is(err, errTooManySymlinks) {
					continue
				}
				return nil, s.fsError(err, child, "Cannot list the artifact directory.")
			}
			if !cres.exists || !s.within(cres.real) {
				continue
			}
			info = cres.info
		} else {
			info, err = e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			if err != nil {
				return nil, s.fsError(err, dir, "Cannot list the artifact directory.")
			}
		}
		switch {
		case info.IsDir():
			files = append(files, artifact.FileInfo{Path: child, IsDir: true})
		case info.Mode().IsRegular():
			files = append(files, artifact.FileInfo{Path: child, Size: info.Size()})
		}
	}
	slices.SortFunc(files, func(a, b artifact.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// Delete implements artifact.Store: it removes a file, or a directory and
// everything under it. Symlinks are never followed while deleting: a symlink
// at path is removed itself (provided it resolves inside the root, or
// dangles inside it), and symlinks within a deleted directory are removed,
// not their targets. Deleting a path that does not exist (or lies under a
// file) succeeds and does nothing, as in MLflow.
//
// Errors (lode.EInvalid): path is "" (the root is never deleted) or not
// clean; it, or its parent, resolves outside the root.
func (s *Store) Delete(ctx context.Context, p string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkPath(p); err != nil {
		return err
	}
	if p == "" {
		return lode.Errorf(lode.EInvalid, "Refusing to delete the artifact root.")
	}
	parent, name := path.Split(p)
	pres, err := s.resolveInside(strings.TrimSuffix(parent, "/"))
	if err != nil {
		return err
	}
	if !pres.exists || !pres.info.IsDir() {
		return nil
	}
	target := filepath.Join(pres.real, name)
	fi, err := os.Lstat(target)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return s.fsError(err, p, "Cannot delete the artifact.")
	}
	rel := s.rel(target)
	if rel == "." {
		return lode.Errorf(lode.EInvalid, "Refusing to delete the artifact root.")
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if _, err := s.resolveInside(p); err != nil {
			return err
		}
		err = s.fsys.Remove(rel)
	case fi.IsDir():
		// A concurrent Put may add a file while the tree is being removed;
		// try again a few times before giving up.
		for range 5 {
			err = s.fsys.RemoveAll(rel)
			if !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
				break
			}
		}
	default:
		err = s.fsys.Remove(rel)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.fsError(err, p, "Cannot delete the artifact.")
	}
	return nil
}

// checkPath refuses paths that are not in CleanPath's clean form, and
// reserved temporary names.
func checkPath(p string) error {
	clean, err := artifact.CleanPath(p)
	if err != nil {
		return err
	}
	if clean != p {
		return lode.Errorf(lode.EInvalid, "Invalid artifact path %q: not in clean form (%q).", p, clean)
	}
	if p != "" {
		// Refuses what this OS cannot name: on Windows, reserved names
		// (CON, NUL, ...) and ':' (alternate data streams).
		if _, err := filepath.Localize(p); err != nil {
			return lode.Errorf(lode.EInvalid, "Invalid artifact path %q: not a valid file name on this server.", p)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		if strings.HasPrefix(seg, TempPrefix) {
			return lode.Errorf(lode.EInvalid, "Invalid artifact path %q: names starting with %q are reserved.", p, TempPrefix)
		}
	}
	return nil
}

// resolution is where an artifact path leads on disk.
type resolution struct {
	// real is the absolute path, with every symlink of its existing part
	// resolved. When the path does not exist, its missing part is joined
	// lexically.
	real string
	// exists reports whether real exists; info is then its Lstat, which is
	// never a symlink.
	exists bool
	info   fs.FileInfo
	// notDir reports that a parent of the path is not a directory.
	notDir bool
}

var errTooManySymlinks = errors.New("too many levels of symbolic links")

// resolve follows the clean artifact path p from the root, component by
// component, as the kernel would, resolving symlinks (relative and
// absolute) without limiting where they lead: callers check the result with
// within. Only metadata is read (Lstat, Readlink).
func (s *Store) resolve(p string) (resolution, error) {
	cur := s.root
	var parts []string
	if p != "" {
		parts = strings.Split(p, "/")
	}
	links := 0
	var info fs.FileInfo
	for len(parts) > 0 {
		name := parts[0]
		parts = parts[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			info = nil
			continue
		}
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(next)
		if err != nil {
			notDir := errors.Is(err, syscall.ENOTDIR)
			if errors.Is(err, fs.ErrNotExist) || notDir {
				return resolution{real: filepath.Join(append([]string{next}, parts...)...), notDir: notDir}, nil
			}
			return resolution{}, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur, info = next, fi
			continue
		}
		links++
		if links > maxSymlinks {
			return resolution{}, errTooManySymlinks
		}
		target, err := os.Readlink(next)
		if err != nil {
			return resolution{}, err
		}
		if filepath.IsAbs(target) {
			vol := filepath.VolumeName(target)
			cur = vol + string(filepath.Separator)
			target = target[len(vol):]
			info = nil
		}
		parts = append(splitOS(target), parts...)
	}
	if info == nil {
		fi, err := os.Lstat(cur)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return resolution{real: cur}, nil
			}
			return resolution{}, err
		}
		info = fi
	}
	return resolution{real: cur, exists: true, info: info}, nil
}

// resolveInside resolves p and checks that it stays under the root.
func (s *Store) resolveInside(p string) (resolution, error) {
	res, err := s.resolve(p)
	if errors.Is(err, errTooManySymlinks) {
		return resolution{}, lode.Errorf(lode.EInvalid, "Invalid artifact path %q: too many levels of symbolic links.", p)
	}
	if err != nil {
		return resolution{}, lode.Internal(err, fmt.Sprintf("Cannot resolve artifact path %q.", p))
	}
	if !s.within(res.real) {
		return resolution{}, outside(p)
	}
	return res, nil
}

// within reports whether the absolute path real is the root or under it.
func (s *Store) within(real string) bool {
	if real == s.root {
		return true
	}
	prefix := s.root
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	return strings.HasPrefix(real, prefix)
}

// rel returns real (under the root) relative to the root, "." for the root.
func (s *Store) rel(real string) string {
	if real == s.root {
		return "."
	}
	prefix := s.root
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	return strings.TrimPrefix(real, prefix)
}

// splitOS splits an OS path into its components.
func splitOS(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r < 0x80 && os.IsPathSeparator(uint8(r)) })
}
