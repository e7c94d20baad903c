package mlflowapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
)

// The client speaks the same wire forms the server writes; these names let
// callers outside the package use them.
type (
	// RegisteredModel is a registered model as the API sends it.
	RegisteredModel = wRegisteredModel
	// ModelVersion is a model version as the API sends it.
	ModelVersion = wModelVersion
	// ModelAlias is one alias of a registered model.
	ModelAlias = wAlias
	// Tag is a key and a value.
	Tag = wTag
	// FileInfo is one entry of an artifact listing; Path is relative to the
	// listed directory.
	FileInfo = wFileInfo
)

// ArtifactFile is one file found by ListArtifactTree.
type ArtifactFile struct {
	Rel  string // slash-separated path relative to the listed directory; safe to join under a local directory
	Path string // full artifact path on the server, for OpenArtifact
	Size *int64 // size from the listing, nil when the listing gave none
}

// maxTreeDepth bounds the directory nesting ListArtifactTree follows, so a
// server that lists a directory inside itself cannot make it loop forever.
const maxTreeDepth = 64

// maxJSONResponse bounds a JSON answer the client reads.
const maxJSONResponse = 256 << 20

// Client calls an MLflow-compatible server's model registry REST API and
// its mlflow-artifacts proxy. Errors the server reports come back as
// *lode.Error with the server's error_code and message.
type Client struct {
	BaseURL string       // the tracking URI, e.g. http://127.0.0.1:5000; a path prefix is kept
	HTTP    *http.Client // nil: http.DefaultClient
	// Authorization, when set, is sent with every request (ClientFromEnv
	// sets it from the mlflow client's variables).
	Authorization string
}

// redactURL hides the password of a tracking URI's userinfo
// (http://user:password@host) for messages; a URI that does not parse
// keeps only what precedes "://".
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if scheme, _, ok := strings.Cut(raw, "://"); ok {
			return scheme + "://..."
		}
		return "(unparsable)"
	}
	return u.Redacted()
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) url(p string, q url.Values) string {
	u := strings.TrimRight(c.BaseURL, "/") + p
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// send makes one request and returns the response when its status is 2xx;
// otherwise it reads the error body and returns it as an error.
func (c *Client) send(ctx context.Context, method, p string, q url.Values, body io.Reader, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(p, q), body)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue quotes the URL, password and all
		}
		return nil, fmt.Errorf("invalid tracking URI %q: %v", redactURL(c.BaseURL), err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	if c.Authorization != "" {
		req.Header.Set("Authorization", c.Authorization)
	}
	res, err := c.httpClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach the tracking server at %s: %w", redactURL(c.BaseURL), err)
	}
	if res.StatusCode/100 == 2 {
		return res, nil
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return nil, responseError(method, p, res.StatusCode, data)
}

// responseError turns a failed answer into an error: the server's own
// {"error_code", "message"} when it sent one, else a code for the status.
func responseError(method, p string, status int, body []byte) error {
	var e struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Code != "" {
		return &lode.Error{Code: e.Code, Message: e.Message}
	}
	snippet := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.TrimSpace(string(body)))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	msg := fmt.Sprintf("HTTP %d from %s %s", status, method, p)
	if snippet != "" {
		msg += ": " + snippet
	}
	return &lode.Error{Code: statusCode(status), Message: msg}
}

// statusCode maps an HTTP status to the error code MLflow uses for it.
func statusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return lode.EBadRequest
	case http.StatusUnauthorized:
		return lode.EUnauthenticated
	case http.StatusForbidden:
		return lode.EPermission
	case http.StatusNotFound:
		return lode.EEndpointNotFound
	case http.StatusRequestEntityTooLarge:
		return lode.ETooLarge
	case http.StatusNotImplemented:
		return lode.ENotImplemented
	case http.StatusServiceUnavailable:
		return "TEMPORARILY_UNAVAILABLE"
	}
	return lode.EInternal
}

// call makes an API call under /api/2.0/mlflow/: GET with q as the query
// string, other methods with in as the JSON body. out receives the answer.
func (c *Client) call(ctx context.Context, method, endpoint string, q url.Values, in, out any) error {
	return c.callPath(ctx, method, "/api/2.0/mlflow/"+endpoint, q, in, out)
}

// callPath is call for a full API path.
func (c *Client) callPath(ctx context.Context, method, p string, q url.Values, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	res, err := c.send(ctx, method, p, q, body, ctype)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxJSONResponse))
	if err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", method, p, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("malformed answer to %s %s: %v", method, p, err)
	}
	return nil
}

// SearchRegisteredModels returns one page of registered models matching
// filter (MLflow's filter syntax, "" for all) and the next page's token
// ("" on the last page). maxResults 0 lets the server choose the page size.
func (c *Client) SearchRegisteredModels(ctx context.Context, filter string, maxResults int, pageToken string) ([]RegisteredModel, string, error) {
	q := url.Values{}
	setNonEmpty(q, "filter", filter)
	if maxResults > 0 {
		q.Set("max_results", strconv.Itoa(maxResults))
	}
	setNonEmpty(q, "page_token", pageToken)
	var out struct {
		Models []RegisteredModel `json:"registered_models"`
		Next   string            `json:"next_page_token"`
	}
	if err := c.call(ctx, http.MethodGet, "registered-models/search", q, nil, &out); err != nil {
		return nil, "", err
	}
	return out.Models, out.Next, nil
}

// GetRegisteredModel returns one registered model.
func (c *Client) GetRegisteredModel(ctx context.Context, name string) (*RegisteredModel, error) {
	var out struct {
		Model RegisteredModel `json:"registered_model"`
	}
	if err := c.call(ctx, http.MethodGet, "registered-models/get", url.Values{"name": {name}}, nil, &out); err != nil {
		return nil, err
	}
	return &out.Model, nil
}

// CreateRegisteredModel creates a registered model.
func (c *Client) CreateRegisteredModel(ctx context.Context, name, description string) (*RegisteredModel, error) {
	var out struct {
		Model RegisteredModel `json:"registered_model"`
	}
	in := map[string]any{"name": name}
	if description != "" {
		in["description"] = description
	}
	if err := c.call(ctx, http.MethodPost, "registered-models/create", nil, in, &out); err != nil {
		return nil, err
	}
	return &out.Model, nil
}

// SearchModelVersions returns one page of model versions matching filter,
// ordered by orderBy clauses ("version_number DESC", ...), and the next
// page's token.
func (c *Client) SearchModelVersions(ctx context.Context, filter string, orderBy []string, maxResults int, pageToken string) ([]ModelVersion, string, error) {
	q := url.Values{}
	setNonEmpty(q, "filter", filter)
	for _, o := range orderBy {
		q.Add("order_by", o)
	}
	if maxResults > 0 {
		q.Set("max_results", strconv.Itoa(maxResults))
	}
	setNonEmpty(q, "page_token", pageToken)
	var out struct {
		Versions []ModelVersion `json:"model_versions"`
		Next     string         `json:"next_page_token"`
	}
	if err := c.call(ctx, http.MethodGet, "model-versions/search", q, nil, &out); err != nil {
		return nil, "", err
	}
	return out.Versions, out.Next, nil
}

// CreateModelVersion registers a new version of a model from source
// (runs:/<run id>/<path>, an mlflow-artifacts: URI, ...).
func (c *Client) CreateModelVersion(ctx context.Context, name, source, runID string) (*ModelVersion, error) {
	var out struct {
		Version ModelVersion `json:"model_version"`
	}
	in := map[string]any{"name": name, "source": source}
	if runID != "" {
		in["run_id"] = runID
	}
	if err := c.call(ctx, http.MethodPost, "model-versions/create", nil, in, &out); err != nil {
		return nil, err
	}
	return &out.Version, nil
}

// GetModelVersion returns one version of a model.
func (c *Client) GetModelVersion(ctx context.Context, name, version string) (*ModelVersion, error) {
	var out struct {
		Version ModelVersion `json:"model_version"`
	}
	if err := c.call(ctx, http.MethodGet, "model-versions/get", url.Values{"name": {name}, "version": {version}}, nil, &out); err != nil {
		return nil, err
	}
	return &out.Version, nil
}

// GetModelVersionByAlias returns the version an alias points to.
func (c *Client) GetModelVersionByAlias(ctx context.Context, name, alias string) (*ModelVersion, error) {
	var out struct {
		Version ModelVersion `json:"model_version"`
	}
	if err := c.call(ctx, http.MethodGet, "registered-models/alias", url.Values{"name": {name}, "alias": {alias}}, nil, &out); err != nil {
		return nil, err
	}
	return &out.Version, nil
}

// GetLatestVersions returns the newest version of each stage (of stages,
// or of every stage when stages is empty).
func (c *Client) GetLatestVersions(ctx context.Context, name string, stages []string) ([]ModelVersion, error) {
	var out struct {
		Versions []ModelVersion `json:"model_versions"`
	}
	in := map[string]any{"name": name}
	if len(stages) > 0 {
		in["stages"] = stages
	}
	if err := c.call(ctx, http.MethodPost, "registered-models/get-latest-versions", nil, in, &out); err != nil {
		return nil, err
	}
	return out.Versions, nil
}

// SetRegisteredModelAlias points alias at version of the model.
func (c *Client) SetRegisteredModelAlias(ctx context.Context, name, alias, version string) error {
	return c.call(ctx, http.MethodPost, "registered-models/alias", nil,
		map[string]string{"name": name, "alias": alias, "version": version}, nil)
}

// DeleteRegisteredModelAlias removes an alias of the model.
func (c *Client) DeleteRegisteredModelAlias(ctx context.Context, name, alias string) error {
	return c.call(ctx, http.MethodDelete, "registered-models/alias", nil,
		map[string]string{"name": name, "alias": alias}, nil)
}

// GetModelVersionDownloadURI returns the artifact URI of a version's files.
func (c *Client) GetModelVersionDownloadURI(ctx context.Context, name, version string) (string, error) {
	var out struct {
		URI string `json:"artifact_uri"`
	}
	if err := c.call(ctx, http.MethodGet, "model-versions/get-download-uri", url.Values{"name": {name}, "version": {version}}, nil, &out); err != nil {
		return "", err
	}
	if out.URI == "" {
		return "", lode.Errorf(lode.EInternal, "The server gave no artifact_uri for model %s version %s.", name, version)
	}
	return c.ResolveRunsURI(ctx, out.URI)
}

// ResolveRunsURI turns runs:/<run id>/<path>, which MLflow's
// get-download-uri answers as given, into the run's artifact URI plus path,
// as the mlflow client does; other URIs are returned unchanged.
func (c *Client) ResolveRunsURI(ctx context.Context, uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "runs:/")
	if !ok {
		return uri, nil
	}
	id, p, _ := strings.Cut(strings.TrimLeft(rest, "/"), "/")
	var out struct {
		Run struct {
			Info struct {
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := c.call(ctx, http.MethodGet, "runs/get", url.Values{"run_id": {id}}, nil, &out); err != nil {
		return "", err
	}
	base := strings.TrimRight(out.Run.Info.ArtifactURI, "/")
	if p = strings.Trim(p, "/"); p == "" {
		return base, nil
	}
	return base + "/" + p, nil
}

func setNonEmpty(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// ProxiedArtifactPath returns the artifact-proxy path of an
// mlflow-artifacts URI: "mlflow-artifacts:/a/b" and
// "mlflow-artifacts://host:port/a/b" are the path "a/b". Other schemes,
// the proxy's root and unsafe paths are refused.
func ProxiedArtifactPath(uri string) (string, error) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || !strings.EqualFold(scheme+":", ArtifactScheme) {
		return "", lode.Errorf(lode.EInvalid, "Artifacts at '%s' are not served through the server's artifact proxy; only %s URIs can be downloaded.", uri, ArtifactScheme)
	}
	if strings.HasPrefix(rest, "//") {
		// An authority names the server; the client's tracking URI is used.
		_, after, found := strings.Cut(rest[2:], "/")
		if !found {
			after = ""
		}
		rest = after
	}
	p, err := artifact.CleanPath(strings.TrimLeft(rest, "/"))
	if err != nil {
		return "", lode.Errorf(lode.EInvalid, "Invalid artifact URI '%s': %s", uri, lode.ErrorMessage(err))
	}
	if p == "" {
		return "", lode.Errorf(lode.EInvalid, "Invalid artifact URI '%s': it names the root of the artifact store.", uri)
	}
	return p, nil
}

// artifactURL is the proxy URL path of an artifact path, each segment
// escaped.
func artifactURL(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/api/2.0/mlflow-artifacts/artifacts/" + strings.Join(segs, "/")
}

// ListArtifacts lists one directory of the artifact proxy ("" for its
// root). Names in the answer are relative to dir, as the server sent them.
func (c *Client) ListArtifacts(ctx context.Context, dir string) ([]FileInfo, error) {
	q := url.Values{}
	setNonEmpty(q, "path", dir)
	res, err := c.send(ctx, http.MethodGet, "/api/2.0/mlflow-artifacts/artifacts", q, nil, "")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxJSONResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the listing of %q: %w", dir, err)
	}
	var out struct {
		Files []FileInfo `json:"files"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("malformed listing of %q: %v", dir, err)
	}
	return out.Files, nil
}

// OpenArtifact downloads one file of the artifact proxy. It returns the
// body, to be closed, and its length (-1 when the server did not say).
func (c *Client) OpenArtifact(ctx context.Context, p string) (io.ReadCloser, int64, error) {
	if p == "" {
		return nil, 0, lode.Errorf(lode.EInvalid, "Invalid artifact path: it names the artifact root.")
	}
	res, err := c.send(ctx, http.MethodGet, artifactURL(p), nil, nil, "")
	if err != nil {
		return nil, 0, err
	}
	return res.Body, res.ContentLength, nil
}

// UploadArtifact stores one file through the artifact proxy.
func (c *Client) UploadArtifact(ctx context.Context, p string, body io.Reader) error {
	res, err := c.send(ctx, http.MethodPut, artifactURL(p), nil, body, "application/octet-stream")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return res.Body.Close()
}

// SafeRelPath checks a name from an artifact listing before it is joined
// under a local directory: it must be a clean relative slash path with no
// "." or ".." segment, no empty segment, no backslash, no control
// character, no drive letter and no leading slash. It returns why not, or "".
func SafeRelPath(name string) string {
	switch {
	case name == "":
		return "it is empty"
	case strings.HasPrefix(name, "/"):
		return "it is absolute"
	case strings.Contains(name, `\`):
		return "it contains a backslash"
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "it contains a control character"
	}
	for i, seg := range strings.Split(name, "/") {
		switch {
		case seg == "":
			return "it has an empty segment"
		case seg == "." || seg == "..":
			return "it has a '" + seg + "' segment"
		case i == 0 && len(seg) >= 2 && seg[1] == ':' && (seg[0]|0x20 >= 'a' && seg[0]|0x20 <= 'z'):
			return "it starts with a drive letter"
		}
	}
	if clean, err := artifact.CleanPath(name); err != nil || clean != name {
		return "it is not a safe artifact path"
	}
	return ""
}

// ListArtifactTree lists every file under dir, recursively, with paths
// relative to dir. It refuses the whole tree, before anything is
// downloaded, when any listed name could escape a local directory it is
// joined to. A dir that lists nothing but is itself a file comes back as
// that one file, named by its base name.
func (c *Client) ListArtifactTree(ctx context.Context, dir string) ([]ArtifactFile, error) {
	join := func(a, b string) string {
		if a == "" {
			return b
		}
		if b == "" {
			return a
		}
		return a + "/" + b
	}
	var files []ArtifactFile
	rootEntries := 0
	var walk func(rel string, depth int) error
	walk = func(rel string, depth int) error {
		full := join(dir, rel)
		if depth > maxTreeDepth {
			return fmt.Errorf("artifact directory %q is nested more than %d levels deep", full, maxTreeDepth)
		}
		entries, err := c.ListArtifacts(ctx, full)
		if err != nil {
			return err
		}
		if depth == 0 {
			rootEntries = len(entries)
		}
		for _, e := range entries {
			if why := SafeRelPath(e.Path); why != "" {
				return fmt.Errorf("refusing the artifact listing of %q: the name %q would escape the download directory (%s)", full, e.Path, why)
			}
			child := join(rel, e.Path)
			if e.IsDir {
				if err := walk(child, depth+1); err != nil {
					return err
				}
				continue
			}
			files = append(files, ArtifactFile{Rel: child, Path: join(dir, child), Size: e.FileSize})
		}
		return nil
	}
	if err := walk("", 0); err != nil {
		return nil, err
	}
	if rootEntries == 0 && dir != "" {
		// Maybe dir is a file: the proxy lists nothing under a file.
		rc, _, err := c.OpenArtifact(ctx, dir)
		if err != nil {
			if lode.ErrorCode(err) == lode.ENotFound {
				return nil, nil
			}
			return nil, err
		}
		rc.Close()
		files = append(files, ArtifactFile{Rel: path.Base(dir), Path: dir})
	}
	return files, nil
}

// LibraryVersion is a model version with its model library description.
type LibraryVersion = wLibraryVersion

// SearchLibrary queries Lode's model library
// (GET /api/2.0/lode/model-library/search); q holds its parameters.
func (c *Client) SearchLibrary(ctx context.Context, q url.Values) ([]LibraryVersion, error) {
	var out struct {
		ModelVersions []LibraryVersion `json:"model_versions"`
	}
	if err := c.callPath(ctx, http.MethodGet, "/api/2.0/lode/model-library/search", q, nil, &out); err != nil {
		return nil, err
	}
	return out.ModelVersions, nil
}

// ExperimentIDByName returns the id of the experiment named name; the error
// is ENotFound when there is none.
func (c *Client) ExperimentIDByName(ctx context.Context, name string) (string, error) {
	var out struct {
		Experiment struct {
			ID string `json:"experiment_id"`
		} `json:"experiment"`
	}
	err := c.call(ctx, http.MethodGet, "experiments/get-by-name", url.Values{"experiment_name": {name}}, nil, &out)
	return out.Experiment.ID, err
}

// CreateExperiment creates an experiment and returns its id.
func (c *Client) CreateExperiment(ctx context.Context, name string) (string, error) {
	var out struct {
		ID string `json:"experiment_id"`
	}
	err := c.call(ctx, http.MethodPost, "experiments/create", nil, map[string]string{"name": name}, &out)
	return out.ID, err
}
