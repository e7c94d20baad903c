package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/tracking"
)

// Limits, as MLflow's.
const (
	MaxAliasLength    = 255
	MaxTagKeyLength   = 250
	MaxTagValueLength = 100000
	DefaultMaxResults = 100
	MaxResults        = 1000
	// MaxVersionResults bounds a page of model-versions/search.
	MaxVersionResults = 200000
)

// Service is the registry API: it validates requests as MLflow does, checks
// that version sources are safe and resolves them, then calls the Store.
type Service struct {
	Store    Store
	Tracking *tracking.Service // resolves runs:/ and models:/ sources
	// ArtifactScheme is the URI scheme of the artifact proxy
	// ("mlflow-artifacts:"), and ArtifactRoot the local directory it serves;
	// a local source path inside ArtifactRoot becomes a proxy URI.
	ArtifactScheme string
	ArtifactRoot   string
	// Artifacts, when set, is read for each new version's MLmodel file to
	// fill the model library.
	Artifacts artifact.Store
	Now       func() time.Time
	// Readable restricts searches to the models their caller may read
	// (nil: no restriction).
	Readable lode.ReadableFunc
	// CheckSource, when set, refuses a new version whose files its
	// caller may not read: location is where the source resolved to, runID
	// and modelID the run and logged model it names, if any.
	CheckSource func(ctx context.Context, location, runID, modelID string) error
}

func (s *Service) now() int64 {
	if s.Now != nil {
		return s.Now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// ValidateName applies MLflow's rule for registered model names.
func ValidateName(name string) error {
	if strings.TrimSpace(name) == "" {
		return lode.Invalid(lode.MsgMissing, "name")
	}
	if strings.ContainsAny(name, "/:") {
		return lode.Errorf(lode.EInvalid, "Invalid model name '%s'. Names cannot contain '/' or ':'.", name)
	}
	// "*" stands for every model in a permission grant: a model of that
	// name would make its creator the manager of all of them.
	if name == "*" {
		return lode.Errorf(lode.EInvalid, "Invalid model name '*': it stands for every model in permissions.")
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return lode.Errorf(lode.EInvalid, "Invalid model name %q. Names cannot contain control characters.", name)
	}
	return nil
}

var (
	aliasPattern        = regexp.MustCompile(`^[\w\-]*$`)
	aliasVersionPattern = regexp.MustCompile(`^[vV]\d+$`)
)

// ValidateAlias applies MLflow's alias rules: word characters and dashes,
// at most 255 characters, and not the reserved "latest" or "v<number>".
func ValidateAlias(alias string) error {
	switch {
	case alias == "":
		return lode.Invalid(lode.MsgMissing, "alias")
	case len(alias) > MaxAliasLength:
		return lode.Errorf(lode.EInvalid, "'alias' exceeds the maximum length of %d characters", MaxAliasLength)
	case !aliasPattern.MatchString(alias):
		return lode.Errorf(lode.EInvalid, "Invalid alias name: '%s'. Names may only contain alphanumerics, underscores (_), and dashes (-).", alias)
	case aliasVersionPattern.MatchString(alias):
		return lode.Invalid(lode.MsgVersionAlias, alias)
	case strings.EqualFold(alias, "latest"):
		return lode.Errorf(lode.EInvalid, "'%s' alias name (case insensitive) is reserved.", alias)
	}
	return nil
}

// CanonicalStage maps a stage, in any case, to MLflow's spelling.
func CanonicalStage(stage string) (string, error) {
	for _, s := range []string{StageNone, StageStaging, StageProduction, StageArchived} {
		if strings.EqualFold(stage, s) {
			return s, nil
		}
	}
	return "", lode.Errorf(lode.EInvalid, "Invalid Model Version stage: %s. Value must be one of %s, %s, %s, %s.", stage, StageNone, StageStaging, StageProduction, StageArchived)
}

func validateVersion(v string) error {
	if v == "" {
		return lode.Invalid(lode.MsgMissing, "version")
	}
	// Any integer: as in MLflow, a version below 1 is one that does not
	// exist.
	if _, err := strconv.ParseInt(v, 10, 64); err != nil {
		return lode.Invalid(lode.MsgNotInteger, "version", v)
	}
	return nil
}

func validateTag(t tracking.Tag) error {
	if t.Key == "" {
		return lode.Invalid(lode.MsgMissing, "key")
	}
	if len(t.Key) > MaxTagKeyLength {
		return lode.Errorf(lode.EInvalid, "'key' exceeds the maximum length of %d characters", MaxTagKeyLength)
	}
	if len(t.Value) > MaxTagValueLength {
		return lode.Errorf(lode.EInvalid, "'value' exceeds the maximum length of %d characters", MaxTagValueLength)
	}
	return nil
}

// CreateModel registers a new model name.
func (s *Service) CreateModel(ctx context.Context, name, description string, tags []tracking.Tag) (*Model, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	for _, t := range tags {
		if err := validateTag(t); err != nil {
			return nil, err
		}
	}
	now := s.now()
	return s.Store.CreateModel(ctx, Model{Name: name, Description: description, Tags: tags, CreationTime: now, LastUpdateTime: now})
}

// GetModel returns a registered model with its aliases and latest versions.
func (s *Service) GetModel(ctx context.Context, name string) (*Model, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	return s.Store.GetModel(ctx, name)
}

// RenameModel renames a model, keeping its versions and aliases.
func (s *Service) RenameModel(ctx context.Context, name, newName string) (*Model, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if newName == "" {
		return nil, lode.Invalid(lode.MsgMissing, "new_name")
	}
	if err := ValidateName(newName); err != nil {
		return nil, err
	}
	return s.Store.RenameModel(ctx, name, newName, s.now())
}

// UpdateModel changes a model's description.
func (s *Service) UpdateModel(ctx context.Context, name, description string) (*Model, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	return s.Store.UpdateModel(ctx, name, description, s.now())
}

// DeleteModel deletes a model and all its versions.
func (s *Service) DeleteModel(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	return s.Store.DeleteModel(ctx, name)
}

// SetModelTag sets a tag on a registered model.
func (s *Service) SetModelTag(ctx context.Context, name string, t tracking.Tag) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := validateTag(t); err != nil {
		return err
	}
	return s.Store.SetModelTag(ctx, name, t)
}

// DeleteModelTag removes a tag from a registered model.
func (s *Service) DeleteModelTag(ctx context.Context, name, key string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	return s.Store.DeleteModelTag(ctx, name, key)
}

// SetAlias points alias at a version of the model.
func (s *Service) SetAlias(ctx context.Context, name, alias, version string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ValidateAlias(alias); err != nil {
		return err
	}
	if err := validateVersion(version); err != nil {
		return err
	}
	if _, err := s.Store.GetVersion(ctx, name, version); err != nil {
		return err
	}
	return s.Store.SetAlias(ctx, name, alias, version)
}

// DeleteAlias removes an alias.
func (s *Service) DeleteAlias(ctx context.Context, name, alias string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ValidateAlias(alias); err != nil {
		return err
	}
	return s.Store.DeleteAlias(ctx, name, alias)
}

// GetVersionByAlias resolves an alias to its version.
func (s *Service) GetVersionByAlias(ctx context.Context, name, alias string) (*Version, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if alias == "" {
		return nil, lode.Invalid(lode.MsgMissing, "alias")
	}
	if strings.EqualFold(alias, "latest") {
		// The reserved alias names the highest version, as in MLflow.
		vs, err := s.LatestVersions(ctx, name, nil)
		if err != nil {
			return nil, err
		}
		var latest *Version
		for _, v := range vs {
			if n, _ := strconv.Atoi(v.Version); latest == nil || n > mustAtoi(latest.Version) {
				latest = v
			}
		}
		if latest == nil {
			return nil, lode.Errorf(lode.ENotFound, "Latest version not found for model %s.", name)
		}
		return latest, nil
	}
	return s.Store.GetVersionByAlias(ctx, name, alias)
}

// CreateVersionRequest holds the fields of model-versions/create.
type CreateVersionRequest struct {
	Name, Source, RunID, RunLink, Description, ModelID string
	Tags                                               []tracking.Tag
}

// CreateVersion registers a new version of a model from a safe source.
//
// As in MLflow 3, the run a version comes from need not exist: a runs:/
// source naming an unknown run is recorded unresolved (its storage
// location empty; the client resolves runs:/ when it downloads, with its
// own rights), and so is a run_id no run has. A runs:/ source's run_id, if
// given, must be the run it names. A version from a logged model (model_id,
// or a models:/m-... source) takes the model's source run when no run_id
// is given, and is added to the model's mlflow.modelVersions tag.
func (s *Service) CreateVersion(ctx context.Context, r CreateVersionRequest) (*Version, error) {
	if err := ValidateName(r.Name); err != nil {
		return nil, err
	}
	if r.Source == "" {
		return nil, lode.Invalid(lode.MsgMissing, "source")
	}
	for _, t := range r.Tags {
		if err := validateTag(t); err != nil {
			return nil, err
		}
	}
	location, sourceRun, err := s.resolveSource(ctx, r.Source)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(r.Source, "runs:/") && r.RunID != "" && r.RunID != sourceRun {
		return nil, lode.Errorf(lode.EInvalid, "Invalid model version source: '%s'. The run_id request parameter must identify the resource that contains the source.", artifact.RedactLocation(r.Source))
	}
	if id, ok := strings.CutPrefix(r.Source, "models:/"); ok && r.ModelID == "" {
		r.ModelID = strings.Trim(id, "/") // resolveSource checked that it names a logged model
	}
	var lm *tracking.LoggedModel
	if r.ModelID != "" {
		if lm, err = s.Tracking.GetLoggedModel(ctx, r.ModelID); err != nil {
			return nil, s.missing(ctx, err, "", r.ModelID)
		}
	}
	if r.RunID == "" {
		r.RunID = sourceRun
	}
	if r.RunID == "" && lm != nil {
		r.RunID = lm.SourceRunID
	}
	if r.RunID != "" && r.RunID != sourceRun {
		// MLflow records a run_id without looking the run up; Lode
		// still refuses one that is no run id at all.
		if _, err := s.Tracking.GetRun(ctx, r.RunID); err != nil && lode.ErrorCode(err) != lode.ENotFound {
			return nil, err
		}
	}
	if s.CheckSource != nil {
		if err := s.CheckSource(ctx, location, r.RunID, r.ModelID); err != nil {
			return nil, err
		}
	}
	now := s.now()
	v, err := s.Store.CreateVersion(ctx, Version{
		Name: r.Name, Source: r.Source, StorageLocation: location, RunID: r.RunID, RunLink: r.RunLink,
		Description: r.Description, ModelID: r.ModelID, Tags: r.Tags, CurrentStage: StageNone,
		Status: StatusReady, CreationTime: now, LastUpdateTime: now, Library: s.describe(ctx, location),
	})
	if err != nil {
		return nil, err
	}
	if lm != nil {
		if err := s.Tracking.SetLoggedModelTags(ctx, lm.ModelID, []tracking.Tag{modelVersionsTag(lm, v)}); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// missing is err, the run or logged model a source names not being found,
// for a caller who could have read it had it existed; others get
// CheckSource's refusal, as for an existing one they may not read, so that
// a refused registration tells nobody what exists.
func (s *Service) missing(ctx context.Context, err error, runID, modelID string) error {
	if lode.ErrorCode(err) != lode.ENotFound || s.CheckSource == nil {
		return err
	}
	if cerr := s.CheckSource(ctx, "", runID, modelID); cerr != nil {
		return cerr
	}
	return err
}

// ModelVersionsTag is the logged-model tag that lists the registered
// versions made from the model, as MLflow 3 keeps it: a JSON list of
// {"name": ..., "version": ...}.
const ModelVersionsTag = "mlflow.modelVersions"

// modelVersionsTag is lm's mlflow.modelVersions tag with v added, as
// MLflow's server writes it: Python's json.dumps of a list of {"name": str,
// "version": int}, v appended unless listed already (the fluent client then
// appends the same version again with a string number, as it does against
// MLflow). The entries already there are kept as they were written. The
// tag is read, changed and written, as in MLflow: two versions registered
// at once from one model may leave one of them out.
func modelVersionsTag(lm *tracking.LoggedModel, v *Version) tracking.Tag {
	number, _ := strconv.ParseInt(v.Version, 10, 64)
	entry := fmt.Sprintf(`{"name": %s, "version": %d}`, lode.PythonJSONString(v.Name), number)
	value := "[" + entry + "]"
	for _, t := range lm.Tags {
		if t.Key != ModelVersionsTag {
			continue
		}
		var old []struct {
			Name    *string     `json:"name"`
			Version json.Number `json:"version"`
		}
		if json.Unmarshal([]byte(t.Value), &old) != nil || len(old) == 0 {
			break // not a list (MLflow fails here): the list starts again
		}
		for _, e := range old {
			if e.Name != nil && *e.Name == v.Name && e.Version.String() == strconv.FormatInt(number, 10) {
				return t
			}
		}
		value = strings.TrimSuffix(strings.TrimRight(t.Value, " \t\r\n"), "]") + ", " + entry + "]"
	}
	return tracking.Tag{Key: ModelVersionsTag, Value: value}
}

// describe reads the MLmodel file under a version's storage location, when
// the artifact proxy holds it, for the model library. A model without a
// readable MLmodel is still registered, with no library description.
func (s *Service) describe(ctx context.Context, location string) Library {
	return Describe(ctx, s.Artifacts, s.ArtifactScheme, location)
}

// Describe is the model library's description of the model version whose
// files are at location, read from its MLmodel file in arts when location
// starts with scheme (the artifact proxy's, "mlflow-artifacts:"): flavors
// and signature columns. Anything unreadable describes nothing (-1
// columns).
func Describe(ctx context.Context, arts artifact.Store, scheme, location string) Library {
	lib := Library{InputColumns: -1, OutputColumns: -1}
	rest, ok := strings.CutPrefix(location, scheme)
	if arts == nil || scheme == "" || !ok {
		return lib
	}
	dir, err := artifact.CleanPath(strings.TrimLeft(rest, "/"))
	if err != nil {
		return lib
	}
	rc, _, err := arts.Open(ctx, path.Join(dir, "MLmodel"))
	if err != nil {
		return lib
	}
	defer rc.Close()
	m, err := mlmodel.Parse(rc)
	if err != nil {
		return lib
	}
	lib.Flavors = m.FlavorNames()
	if in, ok := m.Inputs(); ok {
		lib.InputColumns, lib.InputTypes, lib.SignatureInputs = in.Columns, in.Types, in.JSON
	}
	if out, ok := m.Outputs(); ok {
		lib.OutputColumns, lib.OutputTypes, lib.SignatureOutputs = out.Columns, out.Types, out.JSON
	}
	return lib
}

// SearchLibrary finds model versions by name, tags, flavor and signature.
func (s *Service) SearchLibrary(ctx context.Context, q LibraryQuery) ([]*Version, error) {
	if q.MaxResults == 0 {
		q.MaxResults = DefaultMaxResults
	}
	if q.MaxResults < 0 || q.MaxResults > MaxResults {
		return nil, lode.Errorf(lode.EInvalid, "max_results must be between 1 and %d", MaxResults)
	}
	if q.InputColumns < 0 || q.OutputColumns < 0 {
		return nil, lode.Errorf(lode.EInvalid, "column counts must not be negative")
	}
	if q.InputType != "" {
		q.InputType = mlmodel.NormalizeType(q.InputType)
	}
	if q.OutputType != "" {
		q.OutputType = mlmodel.NormalizeType(q.OutputType)
	}
	var err error
	if q.Models, err = s.Readable.Readable(ctx, "registered_model"); err != nil {
		return nil, err
	}
	return s.Store.SearchLibrary(ctx, q)
}

// resolveSource checks a model-version source and returns where its files
// are, and the run it names (for runs:/ sources; a run that does not exist
// gives no location, see CreateVersion). Accepted: runs:/<run>/<path>,
// models:/<logged model id>, the artifact proxy's own URIs, object-store URIs
// and local paths inside the artifact root; all without traversal in any
// encoding. Local paths elsewhere, file: URIs and network URIs are refused,
// and so is a source whose files, in the artifact proxy's store, are
// reached through a symlink that leads outside it (when the store can
// tell: artifact.Checker), so that such a version is refused when it is
// registered, not only when it is downloaded.
func (s *Service) resolveSource(ctx context.Context, source string) (location, runID string, err error) {
	location, runID, err = s.locateSource(ctx, source)
	if err != nil {
		return "", "", err
	}
	if err := s.checkInsideStore(ctx, source, location); err != nil {
		return "", "", err
	}
	return location, runID, nil
}

// checkInsideStore checks, when location is in the artifact proxy's store
// and the store is an artifact.Checker, that its path resolves inside the
// store.
func (s *Service) checkInsideStore(ctx context.Context, source, location string) error {
	checker, ok := s.Artifacts.(artifact.Checker)
	rest, proxied := strings.CutPrefix(location, s.ArtifactScheme)
	if !ok || s.ArtifactScheme == "" || !proxied {
		return nil
	}
	if strings.HasPrefix(rest, "//") {
		// mlflow-artifacts://host/path: the path after the authority.
		_, rest, _ = strings.Cut(rest[2:], "/")
	}
	p, err := artifact.CleanPath(strings.TrimLeft(rest, "/"))
	if err != nil {
		return lode.Errorf(lode.EInvalid, "Invalid model version source '%s': its location %s is not a safe artifact path.", artifact.RedactLocation(source), location)
	}
	if err := checker.CheckPath(ctx, p); err != nil {
		if lode.ErrorCode(err) == lode.EInvalid {
			return lode.Errorf(lode.EInvalid, "Invalid model version source '%s': %s", artifact.RedactLocation(source), lode.ErrorMessage(err))
		}
		return err
	}
	return nil
}

// locateSource is resolveSource without the store's check.
func (s *Service) locateSource(ctx context.Context, source string) (location, runID string, err error) {
	refuse := func(why string) (string, string, error) {
		return "", "", lode.Errorf(lode.EInvalid, "Invalid model version source '%s': %s.", artifact.RedactLocation(source), why)
	}
	if strings.ContainsAny(source, "\x00\\#") || strings.Contains(strings.ToLower(source), "%23") {
		return refuse("it contains a NUL, a backslash or a fragment")
	}
	switch {
	case strings.HasPrefix(source, "runs:/"):
		rest := strings.TrimLeft(strings.TrimPrefix(source, "runs:/"), "/")
		id, p, _ := strings.Cut(rest, "/")
		if id == "" {
			return refuse("a runs:/ source needs a run id")
		}
		clean, err := artifact.CleanPath(p)
		if err != nil {
			return refuse("its path is not a safe artifact path")
		}
		run, err := s.Tracking.GetRun(ctx, id)
		if lode.ErrorCode(err) == lode.ENotFound {
			// Accepted as MLflow accepts it, and left unresolved: no
			// location, so nothing in the server reads files for it.
			return "", id, nil
		}
		if err != nil {
			return "", "", err
		}
		if clean == "" {
			return run.Info.ArtifactURI, id, nil
		}
		return tracking.JoinURI(run.Info.ArtifactURI, clean), id, nil
	case strings.HasPrefix(source, "models:/"):
		id := strings.Trim(strings.TrimPrefix(source, "models:/"), "/")
		if !strings.HasPrefix(id, "m-") || strings.ContainsAny(id, "/%.") {
			return refuse("a models:/ source must name a logged model (models:/m-...)")
		}
		m, err := s.Tracking.GetLoggedModel(ctx, id)
		if err != nil {
			return "", "", s.missing(ctx, err, "", id)
		}
		return m.ArtifactURI, m.SourceRunID, nil
	case filepath.IsAbs(source):
		if s.ArtifactRoot == "" || strings.Contains(source, "%") {
			return refuse("local paths are only accepted inside the artifact root")
		}
		for _, seg := range strings.Split(source, "/") {
			if seg == ".." {
				return refuse("'..' is not allowed")
			}
		}
		root, err := filepath.Abs(s.ArtifactRoot)
		if err != nil {
			return "", "", lode.Internal(err, "Could not resolve the artifact root.")
		}
		rel, err := filepath.Rel(root, filepath.Clean(source))
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			return refuse("local paths are only accepted inside the artifact root")
		}
		clean, err := artifact.CleanPath(filepath.ToSlash(rel))
		if err != nil {
			return refuse("its path is not a safe artifact path")
		}
		return s.ArtifactScheme + "/" + clean, "", nil
	}
	if err := artifact.ValidateLocation(source); err != nil {
		return "", "", lode.Errorf(lode.EInvalid, "Invalid model version source '%s': %s", artifact.RedactLocation(source), lode.ErrorMessage(err))
	}
	return source, "", nil
}

// GetVersion returns one version.
func (s *Service) GetVersion(ctx context.Context, name, version string) (*Version, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := validateVersion(version); err != nil {
		return nil, err
	}
	return s.Store.GetVersion(ctx, name, version)
}

// UpdateVersion changes a version's description.
func (s *Service) UpdateVersion(ctx context.Context, name, version, description string) (*Version, error) {
	if _, err := s.GetVersion(ctx, name, version); err != nil {
		return nil, err
	}
	return s.Store.UpdateVersion(ctx, name, version, description, s.now())
}

// TransitionStage moves a version to another stage.
func (s *Service) TransitionStage(ctx context.Context, name, version, stage string, archiveOthers bool) (*Version, error) {
	st, err := CanonicalStage(stage)
	if err != nil {
		return nil, err
	}
	if _, err := s.GetVersion(ctx, name, version); err != nil {
		return nil, err
	}
	active := st == StageStaging || st == StageProduction
	if archiveOthers && !active {
		return nil, lode.Errorf(lode.EInvalid, "Model version transition cannot archive existing model versions because '%s' is not an Active stage. Valid stages are %s, %s.", st, StageStaging, StageProduction)
	}
	archive := archiveOthers && active
	return s.Store.TransitionStage(ctx, name, version, st, archive, s.now())
}

// DeleteVersion deletes a version; aliases pointing at it go too.
func (s *Service) DeleteVersion(ctx context.Context, name, version string) error {
	if _, err := s.GetVersion(ctx, name, version); err != nil {
		return err
	}
	return s.Store.DeleteVersion(ctx, name, version)
}

// DownloadURI returns where a version's files are.
func (s *Service) DownloadURI(ctx context.Context, name, version string) (string, error) {
	v, err := s.GetVersion(ctx, name, version)
	if err != nil {
		return "", err
	}
	// As in MLflow, a runs:/ source is answered as given (the client resolves
	// it); other sources resolve to where the files are.
	if v.StorageLocation != "" && !strings.HasPrefix(v.Source, "runs:/") {
		return v.StorageLocation, nil
	}
	return v.Source, nil
}

// LatestVersions returns the newest version per stage.
func (s *Service) LatestVersions(ctx context.Context, name string, stages []string) ([]*Version, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	canon := make([]string, 0, len(stages))
	for _, st := range stages {
		c, err := CanonicalStage(st)
		if err != nil {
			return nil, err
		}
		canon = append(canon, c)
	}
	if _, err := s.Store.GetModel(ctx, name); err != nil {
		return nil, err
	}
	return s.Store.LatestVersions(ctx, name, canon)
}

// SetVersionTag sets a tag on a version.
func (s *Service) SetVersionTag(ctx context.Context, name, version string, t tracking.Tag) error {
	if err := validateTag(t); err != nil {
		return err
	}
	if _, err := s.GetVersion(ctx, name, version); err != nil {
		return err
	}
	return s.Store.SetVersionTag(ctx, name, version, t)
}

// DeleteVersionTag removes a tag from a version.
func (s *Service) DeleteVersionTag(ctx context.Context, name, version, key string) error {
	if _, err := s.GetVersion(ctx, name, version); err != nil {
		return err
	}
	return s.Store.DeleteVersionTag(ctx, name, version, key)
}

// orderBy parses "<key> [ASC|DESC]" clauses against the allowed keys;
// badKey is the error for a key not allowed.
func orderBy(clauses []string, allowed map[string]string, badKey func(key string) error) ([]tracking.OrderBy, error) {
	var out []tracking.OrderBy
	for _, c := range clauses {
		f := strings.Fields(c)
		if len(f) == 0 || len(f) > 2 {
			return nil, lode.Errorf(lode.EInvalid, "Invalid order_by clause '%s'.", c)
		}
		key, ok := allowed[strings.TrimPrefix(f[0], "attribute.")]
		if !ok {
			return nil, badKey(f[0])
		}
		asc := true
		if len(f) == 2 {
			switch strings.ToUpper(f[1]) {
			case "ASC":
			case "DESC":
				asc = false
			default:
				return nil, lode.Errorf(lode.EInvalid, "Invalid order_by clause '%s'.", c)
			}
		}
		out = append(out, tracking.OrderBy{KeyType: tracking.KeyAttribute, Key: key, Asc: asc})
	}
	return out, nil
}

func query(filter string, parse func(string) ([]tracking.Comparison, error), order []string, allowed map[string]string, badKey func(string) error, maxResults, def, limit int, token string) (Query, error) {
	q := Query{MaxResults: maxResults, PageToken: token}
	if q.MaxResults == 0 {
		q.MaxResults = def
	}
	if q.MaxResults < 0 || q.MaxResults > limit {
		return q, lode.Errorf(lode.EInvalid, "Invalid value for request parameter max_results. It must be at most %d, but got value %d", limit, maxResults)
	}
	var err error
	if q.Filter, err = parse(filter); err != nil {
		return q, err
	}
	q.OrderBy, err = orderBy(order, allowed, badKey)
	return q, err
}

// SearchModels searches registered models.
func (s *Service) SearchModels(ctx context.Context, filter string, order []string, maxResults int, token string) ([]*Model, string, error) {
	q, err := query(filter, tracking.ParseRegisteredModelFilter, order, map[string]string{
		"name": "name", "timestamp": "last_update_time", "last_updated_timestamp": "last_update_time",
		"creation_timestamp": "creation_time",
	}, func(key string) error {
		return lode.Invalid(lode.MsgOrderByKey, key, lode.PySet("timestamp", "name")) // the keys MLflow names
	}, maxResults, DefaultMaxResults, MaxResults, token)
	if err != nil {
		return nil, "", err
	}
	if q.Models, err = s.Readable.Readable(ctx, "registered_model"); err != nil {
		return nil, "", err
	}
	return s.Store.SearchModels(ctx, q)
}

// SearchVersions searches model versions.
func (s *Service) SearchVersions(ctx context.Context, filter string, order []string, maxResults int, token string) ([]*Version, string, error) {
	q, err := query(filter, tracking.ParseModelVersionFilter, order, map[string]string{
		"name": "name", "version_number": "version", "creation_timestamp": "creation_time",
		"last_updated_timestamp": "last_update_time", "timestamp": "last_update_time",
	}, func(key string) error {
		return lode.Invalid(lode.MsgAttributeKey, key, lode.PySet("name", "version_number", "creation_timestamp", "last_updated_timestamp"))
	}, maxResults, 10000, MaxVersionResults, token)
	if err != nil {
		return nil, "", err
	}
	if q.Models, err = s.Readable.Readable(ctx, "registered_model"); err != nil {
		return nil, "", err
	}
	return s.Store.SearchVersions(ctx, q)
}

// String renders a version as name/version, for messages.
func (v *Version) String() string { return fmt.Sprintf("%s/%s", v.Name, v.Version) }

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
