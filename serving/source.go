package serving

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/registry"
)

// StoreSource resolves model URIs against the server's own registry and
// copies model files out of its artifact store into a local cache (model
// versions are immutable, so a copy is fetched once).
type StoreSource struct {
	Registry *registry.Service
	// RunArtifactURI returns a run's artifact URI (for runs:/ URIs).
	RunArtifactURI func(ctx context.Context, runID string) (string, error)
	// Artifacts is the artifact store; Scheme is the URI prefix of the
	// locations it holds ("mlflow-artifacts:").
	Artifacts artifact.Store
	Scheme    string
	// CacheDir keeps the copies.
	CacheDir string
}

// Resolve implements Source. Local folders are refused: a deployment
// created over the API must not load files from anywhere on the server's
// disk.
func (s *StoreSource) Resolve(ctx context.Context, ref Ref) (Resolved, error) {
	switch ref.Kind {
	case RefRegistry:
		v, err := ResolveVersion(ctx, s.Registry, ref)
		if err != nil {
			return Resolved{}, err
		}
		loc := v.StorageLocation
		if loc == "" && strings.HasPrefix(v.Source, "runs:/") {
			// Registered while its run did not exist, so nobody's right to
			// read that run was checked (registry.Service.CreateVersion):
			// the server does not load it, even once a run of that id exists.
			return Resolved{}, lode.Errorf(lode.EInvalid, "version %s of model '%s' was registered from %s while that run did not exist; the server does not deploy it: register a new version from the run", v.Version, v.Name, v.Source)
		}
		if loc == "" || strings.HasPrefix(loc, "runs:/") {
			loc = v.Source
		}
		if strings.HasPrefix(loc, "runs:/") {
			run, err := ParseModelURI(loc)
			if err != nil {
				return Resolved{}, err
			}
			if loc, err = s.runLocation(ctx, run); err != nil {
				return Resolved{}, err
			}
		}
		return Resolved{Model: v.Name, Version: v.Version, Location: loc}, nil
	case RefRun:
		loc, err := s.runLocation(ctx, ref)
		if err != nil {
			return Resolved{}, err
		}
		return Resolved{Version: "1", Location: loc}, nil
	}
	return Resolved{}, lode.Errorf(lode.EInvalid, "the server deploys registered models (models:/...) and runs (runs:/...), not local folders: %s", ref.URI)
}

func (s *StoreSource) runLocation(ctx context.Context, ref Ref) (string, error) {
	if s.RunArtifactURI == nil {
		return "", lode.Errorf(lode.EInvalid, "runs:/ URIs are not supported here")
	}
	base, err := s.RunArtifactURI(ctx, ref.RunID)
	if err != nil {
		return "", err
	}
	if ref.Path == "" {
		return base, nil
	}
	return strings.TrimRight(base, "/") + "/" + ref.Path, nil
}

// ResolveVersion finds the registry version a models:/ reference names.
func ResolveVersion(ctx context.Context, reg *registry.Service, ref Ref) (*registry.Version, error) {
	switch {
	case ref.Version != "":
		return reg.GetVersion(ctx, ref.Name, ref.Version)
	case ref.Alias != "":
		return reg.GetVersionByAlias(ctx, ref.Name, ref.Alias)
	}
	var stages []string
	if !strings.EqualFold(ref.Stage, "latest") {
		stages = []string{ref.Stage}
	}
	vs, err := reg.LatestVersions(ctx, ref.Name, stages)
	if err != nil {
		return nil, err
	}
	var best *registry.Version
	for _, v := range vs {
		if best == nil || versionNumber(v.Version) > versionNumber(best.Version) {
			best = v
		}
	}
	if best == nil {
		return nil, lode.Errorf(lode.ENotFound, "model '%s' has no version in stage '%s'", ref.Name, ref.Stage)
	}
	return best, nil
}

func versionNumber(v string) int64 {
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// Fetch implements Source.
func (s *StoreSource) Fetch(ctx context.Context, r Resolved) (string, error) {
	rest, ok := strings.CutPrefix(r.Location, s.Scheme)
	if s.Scheme == "" || s.Artifacts == nil || !ok {
		return "", lode.Errorf(lode.EInvalid, "model files at '%s' are outside this server's artifact store", r.Location)
	}
	dir, err := artifact.CleanPath(strings.TrimLeft(rest, "/"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(r.Location))
	dst := filepath.Join(s.CacheDir, hex.EncodeToString(sum[:12]))
	if _, err := os.Stat(filepath.Join(dst, "MLmodel")); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(s.CacheDir, 0o755); err != nil {
		return "", lode.Internal(err, "cannot create the model cache")
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := dst + ".tmp-" + hex.EncodeToString(rnd[:])
	if err := s.copyTree(ctx, dir, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if _, err := os.Stat(filepath.Join(tmp, "MLmodel")); err != nil {
		os.RemoveAll(tmp)
		return "", lode.Errorf(lode.EInvalid, "no MLmodel file at '%s'", r.Location)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(filepath.Join(dst, "MLmodel")); serr == nil {
			return dst, nil // another load fetched it first
		}
		return "", lode.Internal(err, "cannot store the model in the cache")
	}
	return dst, nil
}

// copyTree copies the artifact directory dir into the local folder dst.
// Paths come from the store's listing and are checked again on the way
// down, so nothing is written outside dst.
func (s *StoreSource) copyTree(ctx context.Context, dir, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return lode.Internal(err, "cannot create the model cache")
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return lode.Internal(err, "cannot open the model cache")
	}
	defer root.Close()
	var walk func(d string) error
	walk = func(d string) error {
		entries, err := s.Artifacts.List(ctx, d)
		if err != nil {
			return err
		}
		for _, e := range entries {
			rel := strings.TrimPrefix(strings.TrimPrefix(e.Path, dir), "/")
			if rel == "" || path.Clean(rel) != rel || strings.HasPrefix(rel, "../") {
				return lode.Errorf(lode.EInvalid, "unexpected artifact path '%s'", e.Path)
			}
			if e.IsDir {
				if err := root.MkdirAll(filepath.FromSlash(rel), 0o755); err != nil {
					return lode.Internal(err, "cannot write the model cache")
				}
				if err := walk(e.Path); err != nil {
					return err
				}
				continue
			}
			if err := s.copyFile(ctx, root, e.Path, rel); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(dir)
}

func (s *StoreSource) copyFile(ctx context.Context, root *os.Root, src, rel string) error {
	rc, _, err := s.Artifacts.Open(ctx, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	if d := path.Dir(rel); d != "." {
		if err := root.MkdirAll(filepath.FromSlash(d), 0o755); err != nil {
			return lode.Internal(err, "cannot write the model cache")
		}
	}
	f, err := root.OpenFile(filepath.FromSlash(rel), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return lode.Internal(err, "cannot write the model cache")
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		var le *lode.Error
		if errors.As(err, &le) {
			return err
		}
		return lode.Internal(err, "cannot copy model files")
	}
	if err := f.Close(); err != nil {
		return lode.Internal(err, "cannot write the model cache")
	}
	return nil
}
