package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

// The run page's artifact browser: the run's artifact tree, read from the
// server's own artifact store (the mlflow-artifacts proxy), previews of its
// files, and summaries of the models (MLmodel files) logged in it. Every
// path a client sends goes through artifact.CleanPath and is joined under
// the run's own root, so it cannot name anything outside that folder.

// Bounds on what the browser reads, so that a huge run cannot make a page
// slow or large.
const (
	artifactTreeBudget  = 400       // entries listed up front; deeper folders load when opened
	artifactTreeDepth   = 6         // folders opened up front, at most this deep
	artifactDirMax      = 1000      // entries shown of one folder
	artifactModelChecks = 100       // unlisted top-level folders checked for an MLmodel file
	previewTextBytes    = 100 << 10 // text shown of a file
	previewJSONBytes    = 1 << 20   // JSON files up to this size are pretty-printed
	previewCSVRows      = 100       // data rows shown of a CSV file
	previewCSVBytes     = 1 << 20   // bytes read of a CSV file
	artifactSniffBytes  = 8 << 10   // bytes read to tell text from binary
)

func init() {
	funcs["artifactSize"] = artifactSizeText
}

// artifactSizeText shows a size in bytes, KB, MB or GB (powers of 1024).
func artifactSizeText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, []string{"KB", "MB", "GB", "TB"}[i])
}

// artifactRoot returns where a run's artifacts are in s.Artifacts, as a
// clean store path, from the run's artifact URI. It mirrors the proxy's
// mapping (mlflowapi): mlflow-artifacts:/a/b (or mlflow-artifacts://host/a/b)
// is the store path a/b. ok is false when the artifacts are elsewhere (an
// object store the client writes directly) or the server has no store.
func (s *Server) artifactRoot(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, mlflowapi.ArtifactScheme)
	if !ok || s.Artifacts == nil {
		return "", false
	}
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[i:]
		} else {
			rest = ""
		}
	}
	root, err := artifact.CleanPath(strings.Trim(rest, "/"))
	if err != nil || root == "" {
		// The store's root itself is never a run's folder: refuse it rather
		// than show every run's artifacts.
		return "", false
	}
	return root, true
}

// artifactParam reads and cleans the artifact path of a request's query
// (parameter name): "" is the run's root. An escaping path is an
// EInvalid error (a 400). The query is parsed strictly: r.URL.Query
// drops a pair holding a ';' ("path=..;/x") without a word, which would
// answer another request than the one sent.
func artifactParam(r *http.Request, name string) (string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", lode.Errorf(lode.EInvalid, "Invalid query string: %v", err)
	}
	return artifact.CleanPath(q.Get(name))
}

// artifactEntry is one file or folder of a run's artifact tree.
type artifactEntry struct {
	Path     string // relative to the run's artifact root
	Name     string
	IsDir    bool
	Size     int64
	Href     string // the run page with this entry selected
	Loaded   bool   // Children were listed (else they load when the folder opens)
	Open     bool   // shown open: it holds the selected entry
	Selected bool
	More     int              // > 0: a line saying this many more entries of the folder are not shown
	Model    bool             // a folder holding an MLmodel file
	Children []*artifactEntry // of a loaded folder
}

// artifactTree lists dir (relative to root) and, breadth first, the folders
// under it while budget entries remain and they are at most artifactTreeDepth
// deep. Folders on the way to selected are always listed, so that the
// selected entry shows in the tree.
func (s *Server) artifactTree(ctx context.Context, runID, root, dir, selected string) ([]*artifactEntry, error) {
	top, err := s.artifactDir(ctx, runID, root, dir)
	if err != nil {
		return nil, err
	}
	budget := artifactTreeBudget - len(top)
	for _, e := range top {
		e.Selected = e.Path == selected
	}
	queue := []*artifactEntry{}
	for _, e := range top {
		if e.IsDir {
			queue = append(queue, e)
		}
	}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		onPath := selected == e.Path || strings.HasPrefix(selected, e.Path+"/")
		depth := strings.Count(e.Path, "/") - strings.Count(dir, "/")
		if !onPath && (budget <= 0 || depth >= artifactTreeDepth) {
			continue
		}
		kids, err := s.artifactDir(ctx, runID, root, e.Path)
		if err != nil {
			return nil, err
		}
		e.Children, e.Loaded = kids, true
		e.Open = onPath && selected != e.Path
		for _, k := range kids {
			k.Selected = k.Path == selected
		}
		budget -= len(kids)
		for _, k := range kids {
			if k.IsDir {
				queue = append(queue, k)
			}
			if !k.IsDir && k.Name == "MLmodel" {
				e.Model = true
			}
		}
	}
	// Models are logged in top-level folders most of the time: those the
	// budget left unlisted are still checked for an MLmodel file, so that
	// a big folder listed first does not hide a model.
	checked := 0
	for _, e := range top {
		if e.IsDir && !e.Loaded && checked < artifactModelChecks {
			checked++
			if rc, _, err := s.Artifacts.Open(ctx, path.Join(root, e.Path, "MLmodel")); err == nil {
				rc.Close()
				e.Model = true
			}
		}
	}
	return top, nil
}

// artifactDir lists one folder of a run's artifacts: folders first, then files,
// each by name.
func (s *Server) artifactDir(ctx context.Context, runID, root, dir string) ([]*artifactEntry, error) {
	files, err := s.Artifacts.List(ctx, path.Join(root, dir))
	if err != nil {
		return nil, err
	}
	out := make([]*artifactEntry, 0, len(files))
	for _, f := range files {
		rel := strings.TrimPrefix(strings.TrimPrefix(f.Path, root), "/")
		if rel == "" || rel == f.Path && root != "" {
			continue // not under root: never expected of a Store, never shown
		}
		out = append(out, &artifactEntry{Path: rel, Name: path.Base(rel), IsDir: f.IsDir, Size: f.Size, Href: runArtifactHref(runID, rel)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].IsDir != out[j].IsDir {
			return out[i].IsDir
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > artifactDirMax {
		// A folder of many thousand files would make a page too big to
		// read: the rest are named by the API (artifacts/list) and the CLI.
		out = append(out[:artifactDirMax], &artifactEntry{More: len(out) - artifactDirMax})
	}
	return out, nil
}

// runArtifactHref is the run page with an artifact selected.
func runArtifactHref(runID, rel string) string {
	return "/runs/" + runID + "?artifact=" + url.QueryEscape(rel)
}

// rawArtifactHref is the endpoint that serves an artifact's bytes.
func rawArtifactHref(runID, rel string) string {
	return "/runs/" + runID + "/artifact?path=" + url.QueryEscape(rel)
}

// loggedModelFolders returns the folders of a listed tree (and the root, as "")
// that hold an MLmodel file.
func loggedModelFolders(top []*artifactEntry) []string {
	var out []string
	var walk func(es []*artifactEntry)
	walk = func(es []*artifactEntry) {
		for _, e := range es {
			if e.Model {
				out = append(out, e.Path)
			}
			walk(e.Children)
		}
	}
	for _, e := range top {
		if !e.IsDir && e.Name == "MLmodel" {
			out = append(out, "")
		}
	}
	walk(top)
	return out
}

// artifactPreview is what the preview pane shows of one entry.
type artifactPreview struct {
	Path      string
	Name      string
	Kind      string // dir, text, json, csv, image, binary, missing, error
	Size      int64
	RawHref   string // the file's bytes (an image's src)
	Download  string // the file's bytes as an attachment
	Text      string
	Truncated bool
	Note      string // e.g. "not valid JSON: shown as text"
	Rows      [][]string
	MoreRows  bool
	Entries   []*artifactEntry    // of a folder
	Model     *loggedModelSummary // of a folder (or an MLmodel file) holding a model
}

// IsFile reports whether the preview is of a file (which can be downloaded).
func (p *artifactPreview) IsFile() bool {
	switch p.Kind {
	case "dir", "missing", "error":
		return false
	}
	return true
}

// artifactImageTypes are the images previewed inline, with the Content-Type they
// are served with.
var artifactImageTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".svg": "image/svg+xml",
}

// artifactTextTypes are served as text (never as HTML or script: everything that
// is not an image or listed here is an octet stream).
var artifactTextTypes = map[string]string{
	".json": "application/json", ".txt": "text/plain; charset=utf-8", ".log": "text/plain; charset=utf-8",
	".csv": "text/csv; charset=utf-8", ".tsv": "text/tab-separated-values; charset=utf-8",
	".yaml": "text/plain; charset=utf-8", ".yml": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8",
}

// previewArtifact reads what the preview pane shows of rel, under the run's root.
func (s *Server) previewArtifact(ctx context.Context, run *tracking.Run, root, rel string) (*artifactPreview, error) {
	raw := rawArtifactHref(run.Info.RunID, rel)
	p := &artifactPreview{Path: rel, Name: path.Base(rel), RawHref: raw, Download: raw + "&download=1"}
	if rel == "" {
		p.Name = "artifacts"
	}
	full := path.Join(root, rel)
	var rc io.ReadCloser
	var err error
	if rel != "" {
		rc, p.Size, err = s.Artifacts.Open(ctx, full)
	}
	if rel == "" || err != nil {
		// A folder (localfs refuses to open one, object stores find
		// nothing): list it instead.
		if rel != "" && !artifactErrIs(err, lode.EInvalid) && !artifactErrIs(err, lode.ENotFound) {
			return nil, err
		}
		entries, lerr := s.artifactDir(ctx, run.Info.RunID, root, rel)
		if lerr != nil {
			return nil, lerr
		}
		if len(entries) == 0 && rel != "" && artifactErrIs(err, lode.ENotFound) {
			p.Kind = "missing"
			return p, nil
		}
		p.Kind, p.Entries = "dir", entries
		for _, e := range entries {
			if !e.IsDir && e.Name == "MLmodel" {
				p.Model = s.loggedModel(ctx, run, root, rel)
			}
		}
		return p, nil
	}
	defer rc.Close()
	ext := strings.ToLower(path.Ext(rel))
	switch {
	case artifactImageTypes[ext] != "":
		p.Kind = "image"
	case ext == ".json":
		p.Kind = "json"
		if p.Size > previewJSONBytes {
			p.Note = "Too large to pretty-print: the start is shown as text."
			return p, previewText(p, rc)
		}
		b, err := io.ReadAll(io.LimitReader(rc, previewJSONBytes+1))
		if err != nil {
			return nil, lode.Internal(err, "cannot read the artifact")
		}
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			p.Kind, p.Note = "text", "Not valid JSON: shown as text."
			return p, previewText(p, bytes.NewReader(b))
		}
		return p, previewText(p, &out)
	case ext == ".csv" || ext == ".tsv":
		p.Kind = "csv"
		return p, previewCSV(p, rc, ext == ".tsv")
	default:
		// Text or binary, by content: logs, requirements.txt, MLmodel,
		// conda.yaml and extension-less files are text.
		head := make([]byte, artifactSniffBytes)
		n, err := io.ReadFull(rc, head)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, lode.Internal(err, "cannot read the artifact")
		}
		head = head[:n]
		if !artifactLooksLikeText(head, int64(n) < p.Size) {
			p.Kind = "binary"
			return p, nil
		}
		p.Kind = "text"
		if err := previewText(p, io.MultiReader(bytes.NewReader(head), rc)); err != nil {
			return nil, err
		}
		if p.Name == "MLmodel" {
			p.Model = s.loggedModel(ctx, run, root, path.Dir(rel))
		}
	}
	return p, nil
}

// previewText sets p.Text to the first previewTextBytes of r, cut at a
// character boundary.
func previewText(p *artifactPreview, r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, previewTextBytes+1))
	if err != nil {
		return lode.Internal(err, "cannot read the artifact")
	}
	if len(b) > previewTextBytes {
		b, p.Truncated = b[:previewTextBytes], true
		// Drop a character cut in two at the end.
		for i := 0; i < 3 && len(b) > 0; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size > 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	p.Text = strings.ToValidUTF8(string(b), "\uFFFD")
	return nil
}

// artifactLooksLikeText reports whether the start of a file is UTF-8 text without
// NULs; more says the file goes on (its last character may be cut).
func artifactLooksLikeText(b []byte, more bool) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	if more {
		// Allow a character cut at the end of what was read.
		for i := 0; i < 3 && len(b) > 0 && !utf8.Valid(b); i++ {
			b = b[:len(b)-1]
		}
	}
	return utf8.Valid(b)
}

// previewCSV sets p.Rows to the header and the first previewCSVRows rows.
func previewCSV(p *artifactPreview, r io.Reader, tabs bool) error {
	cr := csv.NewReader(io.LimitReader(r, previewCSVBytes))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = false
	if tabs {
		cr.Comma = '\t'
	}
	for len(p.Rows) <= previewCSVRows {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) || errors.Is(err, io.ErrUnexpectedEOF) {
				// A malformed (or cut) file: show what parsed.
				p.Note = "The file could not be read as CSV past line " + strconv.Itoa(len(p.Rows)) + "."
				return nil
			}
			return lode.Internal(err, "cannot read the artifact")
		}
		p.Rows = append(p.Rows, rec)
	}
	p.MoreRows = true
	return nil
}

// loggedModelSummary describes a logged model: an MLmodel file's flavors,
// signature and python_function loader, and the registry's versions made
// from it.
type loggedModelSummary struct {
	Path          string // the model's folder, relative to the run's root
	Href          string
	Flavors       []loggedModelFlavor
	PyFunc        []labeledValue // the python_function flavor's loader, Python and environment
	Inputs        []loggedModelColumn
	Outputs       []loggedModelColumn
	HasSignature  bool
	MLflowVersion string
	Created       string
	ModelUUID     string
	SizeBytes     int64
	Versions      []*registry.Version
	Error         string
}

type labeledValue struct{ Key, Value string }

type loggedModelFlavor struct {
	Name   string
	Fields []labeledValue
}

type loggedModelColumn struct {
	Name     string
	Type     string
	Required bool
}

// loggedModel reads the MLmodel file in folder dir (relative to the run's
// root). A file that cannot be read or parsed gives a summary with Error.
func (s *Server) loggedModel(ctx context.Context, run *tracking.Run, root, dir string) *loggedModelSummary {
	if dir == "." {
		dir = ""
	}
	m := &loggedModelSummary{Path: dir, Href: runArtifactHref(run.Info.RunID, dir)}
	rc, _, err := s.Artifacts.Open(ctx, path.Join(root, dir, "MLmodel"))
	if err != nil {
		m.Error = "Cannot read the MLmodel file: " + lode.ErrorMessage(err)
		return m
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, mlmodel.MaxSize+1))
	if err != nil {
		m.Error = "Cannot read the MLmodel file."
		return m
	}
	model, err := mlmodel.Parse(bytes.NewReader(b))
	if err != nil {
		m.Error = err.Error()
		return m
	}
	// Fields mlmodel does not keep.
	var extra struct {
		MLflowVersion  string `yaml:"mlflow_version"`
		ModelSizeBytes int64  `yaml:"model_size_bytes"`
	}
	yaml.Unmarshal(b, &extra)
	m.MLflowVersion, m.SizeBytes = extra.MLflowVersion, extra.ModelSizeBytes
	m.Created, m.ModelUUID = model.UTCTimeCreated, model.ModelUUID
	for _, name := range model.FlavorNames() {
		f := loggedModelFlavor{Name: name}
		conf := model.Flavors[name]
		keys := make([]string, 0, len(conf))
		for k := range conf {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f.Fields = append(f.Fields, labeledValue{k, flavorValue(conf[k])})
		}
		m.Flavors = append(m.Flavors, f)
	}
	if pf, ok := model.Flavors["python_function"]; ok {
		for _, k := range []struct{ key, label string }{
			{"loader_module", "Loader"}, {"python_model", "Python model"}, {"python_version", "Python"},
			{"env", "Environment"}, {"data", "Data"}, {"model_path", "Model path"}, {"code", "Code"},
		} {
			if v, ok := pf[k.key]; ok && v != nil {
				m.PyFunc = append(m.PyFunc, labeledValue{k.label, flavorValue(v)})
			}
		}
	}
	if model.Signature != nil {
		m.Inputs = loggedModelColumns(model.Signature.Inputs)
		m.Outputs = loggedModelColumns(model.Signature.Outputs)
		m.HasSignature = len(m.Inputs)+len(m.Outputs) > 0
	}
	m.Versions = s.loggedModelVersions(ctx, run, dir)
	return m
}

// flavorValue shows a flavor setting on one line: maps as "k: v, ...", lists
// joined by commas.
func flavorValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + flavorValue(v[k])
		}
		return strings.Join(parts, ", ")
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = flavorValue(x)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// loggedModelColumns reads one side of a signature (MLflow's column-spec or
// tensor-spec JSON) as columns to list.
func loggedModelColumns(text string) []loggedModelColumn {
	if text == "" {
		return nil
	}
	var cols []struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		Required   *bool  `json:"required"`
		TensorSpec *struct {
			DType string `json:"dtype"`
			Shape []int  `json:"shape"`
		} `json:"tensor-spec"`
	}
	if err := json.Unmarshal([]byte(text), &cols); err != nil {
		return []loggedModelColumn{{Name: "(unreadable signature)", Type: text}}
	}
	out := make([]loggedModelColumn, len(cols))
	for i, c := range cols {
		col := loggedModelColumn{Name: c.Name, Type: c.Type, Required: c.Required == nil || *c.Required}
		if c.TensorSpec != nil {
			dims := make([]string, len(c.TensorSpec.Shape))
			for j, d := range c.TensorSpec.Shape {
				dims[j] = strconv.Itoa(d)
			}
			col.Type = fmt.Sprintf("tensor %s (%s)", c.TensorSpec.DType, strings.Join(dims, ", "))
		}
		out[i] = col
	}
	return out
}

// runModelVersions returns the registry's versions made from a run.
func (s *Server) runModelVersions(ctx context.Context, runID string) []*registry.Version {
	if s.Registry == nil {
		return nil
	}
	// runID is checked to be an id (hex) before this: it is safe to quote.
	vs, _, err := s.Registry.SearchVersions(ctx, "run_id = '"+runID+"'", []string{"name ASC", "version_number DESC"}, 200, "")
	if err != nil {
		s.Logger.Warn("cannot list a run's model versions", "run", runID, "err", err)
		return nil
	}
	return vs
}

// loggedModelVersions returns the run's registered versions whose source is the
// model in folder dir: runs:/<run>/<dir>, or the folder's own URI.
func (s *Server) loggedModelVersions(ctx context.Context, run *tracking.Run, dir string) []*registry.Version {
	var out []*registry.Version
	folderURI := run.Info.ArtifactURI
	if dir != "" {
		folderURI = tracking.JoinURI(run.Info.ArtifactURI, dir)
	}
	for _, v := range s.runModelVersions(ctx, run.Info.RunID) {
		src := strings.TrimRight(v.Source, "/")
		if src == strings.TrimRight("runs:/"+run.Info.RunID+"/"+dir, "/") ||
			strings.TrimRight(v.StorageLocation, "/") == strings.TrimRight(folderURI, "/") {
			out = append(out, v)
		}
	}
	return out
}

// serveArtifact writes an artifact's bytes with a type a browser cannot run:
// raster images inline; SVG (which may hold script), and everything else,
// as an attachment; every response nosniff and sandboxed by its CSP, so
// that even a file opened on its own runs nothing.
func (s *Server) serveArtifact(w http.ResponseWriter, r *http.Request, root, rel string, download bool) {
	rc, size, err := s.Artifacts.Open(r.Context(), path.Join(root, rel))
	if err != nil {
		if artifactErrIs(err, lode.EInvalid) {
			// localfs names a folder this way: there is no file here.
			err = notFound("no artifact file '%s'", rel)
		}
		s.runFragmentError(w, err)
		return
	}
	defer rc.Close()
	ext := strings.ToLower(path.Ext(rel))
	ctype, inline := artifactImageTypes[ext], true
	if ext == ".svg" || ctype == "" {
		inline = false
	}
	if ctype == "" {
		ctype = artifactTextTypes[ext]
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	disposition := "attachment"
	if inline && !download {
		disposition = "inline"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox")
	if cd := mime.FormatMediaType(disposition, map[string]string{"filename": path.Base(rel)}); cd != "" {
		h.Set("Content-Disposition", cd)
	} else {
		h.Set("Content-Disposition", disposition)
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, rc)
	}
}

func artifactErrIs(err error, code string) bool {
	return err != nil && lode.ErrorCode(err) == code
}
