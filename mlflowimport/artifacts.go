package mlflowimport

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/lode-ml/lode/artifact"
)

// proxyScheme is the scheme of both servers' artifact proxies: MLflow's
// `mlflow-artifacts:/1/abc` is the file 1/abc under its
// --artifacts-destination, and Lode's the path 1/abc in its store.
const proxyScheme = "mlflow-artifacts:"

// sourceRel says where uri points inside MLflow's artifact root, as a clean
// relative path ("" is the root itself), when it does: a proxy URI
// (mlflow-artifacts:/x or mlflow-artifacts://host:port/x), or a local path
// or file: URI under the root given with --artifacts. Other URIs (s3://,
// runs:/, ...) are not in the root.
func (im *Importer) sourceRel(uri string) (string, bool) {
	if rest, ok := strings.CutPrefix(uri, proxyScheme); ok {
		if strings.HasPrefix(rest, "//") { // with a host: the path follows it
			i := strings.IndexByte(rest[2:], '/')
			if i < 0 {
				rest = ""
			} else {
				rest = rest[2+i:]
			}
		}
		clean, err := artifact.CleanPath(strings.TrimLeft(rest, "/"))
		return clean, err == nil
	}
	if im.ArtifactRoot == "" {
		return "", false
	}
	p := uri
	if strings.HasPrefix(uri, "file:") {
		u, err := url.Parse(uri)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return "", false
		}
		p = u.Path
	}
	if !filepath.IsAbs(p) {
		return "", false
	}
	root, err := filepath.Abs(im.ArtifactRoot)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(root, filepath.Clean(p))
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	if rel == "." {
		rel = ""
	}
	clean, err := artifact.CleanPath(filepath.ToSlash(rel))
	return clean, err == nil
}

// prefixMap moves artifact paths of an MLflow experiment (from its
// location, e.g. "3") to the Lode experiment it was imported into (e.g.
// "7"), so that each Lode experiment's files stay under its own location.
type prefixMap struct{ from, to string }

// lodeRel is where a file at MLflow's relative path rel goes in Lode's
// store: under the mapped experiment location when rel lies in one, else
// at the same relative path.
func (im *Importer) lodeRel(rel string) string {
	best := -1
	for i, m := range im.prefixes {
		if (rel == m.from || strings.HasPrefix(rel, m.from+"/")) && (best < 0 || len(m.from) > len(im.prefixes[best].from)) {
			best = i
		}
	}
	if best < 0 {
		return rel
	}
	m := im.prefixes[best]
	return path.Join(m.to, strings.TrimPrefix(rel, m.from))
}

func (im *Importer) addPrefix(mlflowLocation, lodeLocation string) {
	from, ok := im.sourceRel(mlflowLocation)
	if !ok || from == "" {
		return
	}
	rest, ok := strings.CutPrefix(lodeLocation, proxyScheme)
	if !ok {
		return
	}
	to, err := artifact.CleanPath(strings.TrimLeft(rest, "/"))
	if err != nil || to == "" {
		return
	}
	im.prefixes = append(im.prefixes, prefixMap{from, to})
}

// rewrite maps a URI that points into MLflow's artifact root to Lode's
// proxy URI for the same files; others come back unchanged.
func (im *Importer) rewrite(uri string) string {
	rel, ok := im.sourceRel(uri)
	if !ok {
		return uri
	}
	return proxyScheme + "/" + im.lodeRel(rel)
}

// copyFor copies the files under an MLflow URI to the Lode URI they were
// mapped to; URIs outside the root (or a run without artifacts) copy
// nothing.
func (im *Importer) copyFor(ctx context.Context, mlflowURI, lodeURI string) error {
	if im.ArtifactRoot == "" || im.Artifacts == nil {
		return nil
	}
	src, ok := im.sourceRel(mlflowURI)
	if !ok {
		return nil
	}
	rest, ok := strings.CutPrefix(lodeURI, proxyScheme)
	if !ok {
		return nil
	}
	dst, err := artifact.CleanPath(strings.TrimLeft(rest, "/"))
	if err != nil {
		return nil
	}
	// A version's files are usually its logged model's, copied already.
	im.mu.Lock()
	if im.copied == nil {
		im.copied = map[[2]string]bool{}
	}
	done := im.copied[[2]string{src, dst}]
	im.copied[[2]string{src, dst}] = true
	im.mu.Unlock()
	if done {
		return nil
	}
	return im.copyTree(ctx, src, dst)
}

// copyTree copies the file or directory at src (relative to MLflow's
// root) to dst in Lode's store. A file Lode already has with the same size
// is left alone: that is what makes a repeated import copy nothing, and
// one after new uploads copy only those.
func (im *Importer) copyTree(ctx context.Context, src, dst string) error {
	local := filepath.Join(im.ArtifactRoot, filepath.FromSlash(src))
	info, err := os.Lstat(local)
	if os.IsNotExist(err) {
		return nil // MLflow creates a run's folder only when something is logged
	} else if err != nil {
		return err
	}
	if info.Mode().IsRegular() {
		have := map[string]int64{}
		if dir := path.Dir(dst); dst != "" {
			if dir == "." {
				dir = ""
			}
			have = im.sizes(ctx, dir)
		}
		return im.copyFile(ctx, local, dst, info.Size(), have)
	}
	if !info.IsDir() {
		im.warnf("skipped %s: not a regular file or folder", local)
		return nil
	}
	entries, err := os.ReadDir(local)
	if err != nil {
		return err
	}
	have := im.sizes(ctx, dst)
	for _, e := range entries {
		s, d := path.Join(src, e.Name()), path.Join(dst, e.Name())
		if _, err := artifact.CleanPath(d); err != nil {
			im.warnf("skipped %s: not a valid artifact path", filepath.Join(local, e.Name()))
			continue
		}
		switch {
		case e.IsDir():
			if err := im.copyTree(ctx, s, d); err != nil {
				return err
			}
		case e.Type().IsRegular():
			fi, err := e.Info()
			if err != nil {
				return err
			}
			if err := im.copyFile(ctx, filepath.Join(local, e.Name()), d, fi.Size(), have); err != nil {
				return err
			}
		default:
			im.warnf("skipped %s: not a regular file or folder", filepath.Join(local, e.Name()))
		}
	}
	return nil
}

// sizes lists what Lode's store has in dir: file name -> size.
func (im *Importer) sizes(ctx context.Context, dir string) map[string]int64 {
	have := map[string]int64{}
	list, err := im.Artifacts.List(ctx, dir)
	if err != nil {
		return have
	}
	for _, f := range list {
		if !f.IsDir {
			have[f.Path] = f.Size
		}
	}
	return have
}

func (im *Importer) copyFile(ctx context.Context, local, dst string, size int64, have map[string]int64) error {
	if n, ok := have[dst]; ok && n == size {
		im.tally(func(s *Stats) { s.FilesSkipped++ })
		return nil
	}
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := im.Artifacts.Put(ctx, dst, f); err != nil {
		return fmt.Errorf("copy %s: %w", local, err)
	}
	im.tally(func(s *Stats) {
		s.Files++
		s.Bytes += size
	})
	im.progress(false)
	return nil
}

// countFiles counts the files under MLflow's artifact root, for the
// progress display's total.
func countFiles(root string) int64 {
	var n int64
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}
