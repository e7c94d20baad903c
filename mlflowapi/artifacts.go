package mlflowapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/auth"
)

type wFileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

func fileInfoOut(f artifact.FileInfo, name string) wFileInfo {
	out := wFileInfo{Path: name, IsDir: f.IsDir}
	// MLflow's protobuf JSON leaves out a zero file_size.
	if !f.IsDir && f.Size > 0 {
		size := f.Size
		out.FileSize = &size
	}
	return out
}

// artifactPath turns the escaped URL path after the proxy prefix into a
// clean artifact path, refusing anything that could leave the root.
func artifactPath(escaped string) (string, error) {
	p, err := url.PathUnescape(strings.TrimPrefix(escaped, "/"))
	if err != nil {
		return "", lode.Errorf(lode.EInvalid, "Invalid artifact path: bad percent-encoding.")
	}
	return artifact.CleanPath(p)
}

// serveArtifacts is the mlflow-artifacts proxy: PUT uploads, GET downloads
// (or, at the prefix itself, lists ?path=), DELETE removes.
func (s *Server) serveArtifacts(w http.ResponseWriter, r *http.Request, rest string) {
	if s.Artifacts == nil {
		s.writeError(w, r, lode.Errorf(lode.EEndpointNotFound, "The artifact proxy is disabled on this server."))
		return
	}
	ctx := r.Context()
	if rest == "" || rest == "/" {
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, "GET")
			return
		}
		q, err := query(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp, err := s.listProxied(ctx, q.Get("path"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	p, err := artifactPath(rest)
	if err == nil && p == "" {
		err = lode.Errorf(lode.EInvalid, "Invalid artifact path: it names the artifact root.")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.download(w, r, p)
	case http.MethodPut:
		body := io.Reader(r.Body)
		if s.MaxArtifactBytes > 0 {
			// A declared length over the limit is refused before anything
			// is written; a body without one is cut at the limit, and the
			// store drops what it had written.
			if r.ContentLength > s.MaxArtifactBytes {
				s.writeError(w, r, s.artifactTooLarge())
				return
			}
			body = http.MaxBytesReader(w, r.Body, s.MaxArtifactBytes)
		}
		if err := s.Artifacts.Put(ctx, p, body); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				err = s.artifactTooLarge()
			}
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, empty{})
	case http.MethodDelete:
		if err := s.Artifacts.Delete(ctx, p); err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, empty{})
	default:
		methodNotAllowed(w, r, "GET", "HEAD", "PUT", "DELETE")
	}
}

// artifactTooLarge is the error of an upload over MaxArtifactBytes: 413,
// not the 429 MLflow gives REQUEST_LIMIT_EXCEEDED, which its client
// retries.
func (s *Server) artifactTooLarge() error {
	return lode.Errorf(lode.ETooLarge, "Artifact exceeds the upload limit of %d bytes (lode server --max-artifact-bytes).", s.MaxArtifactBytes)
}

func (s *Server) listProxied(ctx context.Context, dir string) (any, error) {
	clean, err := artifact.CleanPath(dir)
	if err != nil {
		return nil, err
	}
	if err := s.Guard.CheckArtifact(ctx, clean, auth.NeedRead); err != nil {
		return nil, err
	}
	files, err := s.Artifacts.List(ctx, clean)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return empty{}, nil // MLflow's protobuf JSON leaves out an empty list
	}
	out := make([]wFileInfo, len(files))
	for i, f := range files {
		out[i] = fileInfoOut(f, path.Base(f.Path))
	}
	return map[string]any{"files": out}, nil
}

// safeTypes are served with their own content type; everything else is an
// octet stream, so an uploaded HTML or SVG file never runs in a browser.
var safeTypes = map[string]string{
	".txt": "text/plain; charset=utf-8", ".log": "text/plain; charset=utf-8",
	".json": "application/json", ".yaml": "text/plain; charset=utf-8", ".yml": "text/plain; charset=utf-8",
	".csv": "text/plain; charset=utf-8", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".gif": "image/gif",
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, p string) {
	// Whatever route led here, the path is checked as the proxy checks it:
	// a run's artifact location may point into another experiment's tree.
	if err := s.Guard.CheckArtifact(r.Context(), p, auth.NeedRead); err != nil {
		s.writeError(w, r, err)
		return
	}
	rc, size, err := s.Artifacts.Open(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer rc.Close()
	ctype, ok := safeTypes[strings.ToLower(path.Ext(p))]
	if !ok {
		ctype = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", "attachment; filename=\""+strings.ReplaceAll(path.Base(p), "\"", "")+"\"")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	io.Copy(w, rc)
}

// listRunArtifacts is artifacts/list: the files under a run's artifact
// root, with paths relative to that root.
func (s *Server) listRunArtifacts(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		runRef
		Path      string `json:"path"`
		PageToken string `json:"page_token"`
	}
	if err := s.decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	run, err := s.Tracking.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.listUnder(ctx, run.Info.ArtifactURI, req.Path)
}

// listUnder lists dir (relative, client-supplied) under the artifact root
// named by rootURI.
func (s *Server) listUnder(ctx context.Context, rootURI, dir string) (any, error) {
	out, err := s.listUnderFiles(ctx, rootURI, dir)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{"root_uri": rootURI}
	if len(out) > 0 {
		resp["files"] = out
	}
	return resp, nil
}

// listUnderFiles is listUnder's files, with paths relative to the root.
func (s *Server) listUnderFiles(ctx context.Context, rootURI, dir string) ([]wFileInfo, error) {
	rel, err := artifact.CleanPath(dir)
	if err != nil {
		// MLflow's text, which scripts match on; it does not say why.
		return nil, lode.Invalid(lode.MsgInvalidPath)
	}
	root, ok := proxiedPath(rootURI)
	if !ok || s.Artifacts == nil {
		return nil, lode.Errorf(lode.EInvalid, "Artifacts at '%s' are not served by this server; only %s URIs are.", rootURI, ArtifactScheme)
	}
	root, err = artifact.CleanPath(root)
	if err != nil {
		return nil, err
	}
	if err := s.Guard.CheckArtifact(ctx, path.Join(root, rel), auth.NeedRead); err != nil {
		return nil, err
	}
	files, err := s.Artifacts.List(ctx, path.Join(root, rel))
	if err != nil {
		return nil, err
	}
	out := make([]wFileInfo, 0, len(files))
	for _, f := range files {
		name := strings.TrimPrefix(strings.TrimPrefix(f.Path, root), "/")
		out = append(out, fileInfoOut(f, name))
	}
	return out, nil
}
