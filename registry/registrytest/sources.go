package registrytest

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

var sourceTests = []test{
	{"RunsURI", testRunsSource},
	{"ModelsURI", testModelsSource},
	{"UnknownRunOrModel", testUnknownSourceRun},
	{"ModelVersionsTag", testModelVersionsTag},
	{"Accepted", testAcceptedSources},
	{"Refused", testRefusedSources},
}

// joinURI is what MLflow's append_to_uri_path gives for a run's artifact
// URI and a path below it.
func joinURI(base, p string) string {
	return strings.TrimRight(base, "/") + "/" + p
}

func testRunsSource(e *env) {
	e.createModel("m")
	run := e.newRun()
	id, uri := run.Info.RunID, run.Info.ArtifactURI
	for _, c := range []struct{ source, want string }{
		{"runs:/" + id + "/model", joinURI(uri, "model")},
		{"runs:/" + id + "/a/b/c", joinURI(uri, "a/b/c")},
		{"runs:/" + id + "/a//b/", joinURI(uri, "a/b")},
		{"runs:/" + id, uri},
		{"runs:/" + id + "/", uri},
		{"runs:/" + id + "/name with space", joinURI(uri, "name with space")},
	} {
		v := e.createVersionFrom(registry.CreateVersionRequest{Name: "m", Source: c.source})
		if v.Source != c.source {
			e.Errorf("source %q stored as %q", c.source, v.Source)
		}
		if v.StorageLocation != c.want {
			e.Errorf("source %q: storage location %q, want %q", c.source, v.StorageLocation, c.want)
		}
		if v.RunID != id {
			e.Errorf("source %q: run id %q, want %q", c.source, v.RunID, id)
		}
		got := e.getVersion("m", v.Version)
		if got.StorageLocation != c.want || got.RunID != id || got.Source != c.source {
			e.Errorf("source %q: stored %+v", c.source, got)
		}
		uri, err := e.svc.DownloadURI(e.ctx, "m", v.Version)
		e.must(err, "DownloadURI")
		// MLflow answers get-download-uri with a runs:/ source as given;
		// the client resolves it.
		if uri != c.source {
			e.Errorf("source %q: download URI %q, want the source", c.source, uri)
		}
	}
	// The versions are found by their run.
	if vs := e.walkVersions(fmt.Sprintf("run_id = '%s'", id), nil, 100); len(vs) != 6 {
		e.Errorf("versions of run %s: %v, want 6", id, versionKeys(vs))
	}
	// An explicit run_id with a non-runs:/ source is checked and kept.
	v := e.createVersionFrom(registry.CreateVersionRequest{Name: "m", Source: "s3://b/k", RunID: id})
	if v.RunID != id || v.StorageLocation != "s3://b/k" {
		e.Errorf("s3 source with run id: run id %q storage location %q", v.RunID, v.StorageLocation)
	}
}

func testModelsSource(e *env) {
	e.createModel("m")
	run := e.newRun()
	lm := e.newLoggedModel(run.Info.RunID)
	if !strings.HasPrefix(lm.ModelID, "m-") {
		e.Fatalf("logged model id %q does not start with m-", lm.ModelID)
	}
	v := e.createVersionFrom(registry.CreateVersionRequest{Name: "m", Source: "models:/" + lm.ModelID, ModelID: lm.ModelID})
	if v.Source != "models:/"+lm.ModelID || v.StorageLocation != lm.ArtifactURI {
		e.Errorf("models:/ source: source %q storage location %q, want the logged model's artifact URI %q", v.Source, v.StorageLocation, lm.ArtifactURI)
	}
	if v.RunID != run.Info.RunID {
		e.Errorf("models:/ source: run id %q, want the logged model's source run %q", v.RunID, run.Info.RunID)
	}
	if v.ModelID != lm.ModelID {
		e.Errorf("model id %q, want %q", v.ModelID, lm.ModelID)
	}
	// A logged model without a source run gives no run id.
	lm2 := e.newLoggedModel("")
	v = e.createVersionFrom(registry.CreateVersionRequest{Name: "m", Source: "models:/" + lm2.ModelID})
	if v.RunID != "" || v.StorageLocation != lm2.ArtifactURI {
		e.Errorf("models:/ source without a run: run id %q storage location %q", v.RunID, v.StorageLocation)
	}
	// Traversal and anything that is not a logged model id are refused.
	for _, bad := range []string{"models:/" + lm.ModelID + "/../x", "models:/m-..", "models:/m-%2e%2e", "models:/"} {
		_, err := e.svc.CreateVersion(e.ctx, registry.CreateVersionRequest{Name: "m", Source: bad})
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("CreateVersion from %q", bad))
	}
	if got := e.versionNumbers("m"); !slices.Equal(got, []string{"1", "2"}) {
		e.Errorf("versions after refused models:/ sources: %v", got)
	}
}

// testUnknownSourceRun checks what MLflow 3 accepts: a runs:/ source or a
// run_id naming a run that does not exist is recorded (the source
// unresolved, answered as given by get-download-uri), and found by run_id
// afterwards; a logged model that does not exist is refused.
func testUnknownSourceRun(e *env) {
	e.createModel("m")
	missing := tracking.NewID() // well-formed, never created
	source := "runs:/" + missing + "/model"
	for i, r := range []registry.CreateVersionRequest{
		{Name: "m", Source: source},
		{Name: "m", Source: source, RunID: missing},
		{Name: "m", Source: "s3://b/k", RunID: missing},
	} {
		v, err := e.svc.CreateVersion(e.ctx, r)
		if err != nil {
			e.Errorf("CreateVersion(%+v): %v", r, err)
			continue
		}
		want := ""
		if r.Source == "s3://b/k" {
			want = "s3://b/k"
		}
		if v.Version != strconv.Itoa(i+1) || v.Source != r.Source || v.RunID != missing || v.StorageLocation != want {
			e.Errorf("CreateVersion(%+v) = version %s source %q run %q storage location %q, want storage location %q", r, v.Version, v.Source, v.RunID, v.StorageLocation, want)
		}
		uri, err := e.svc.DownloadURI(e.ctx, "m", v.Version)
		e.must(err, "DownloadURI")
		if uri != r.Source {
			e.Errorf("download URI of %+v: %q, want the source", r, uri)
		}
	}
	if vs := e.walkVersions(fmt.Sprintf("run_id = '%s'", missing), nil, 100); len(vs) != 3 {
		e.Errorf("versions of the missing run: %v, want 3", versionKeys(vs))
	}
	if vs := e.walkVersions(fmt.Sprintf("source_path = '%s'", source), nil, 100); len(vs) != 2 {
		e.Errorf("versions with source %s: %v, want 2", source, versionKeys(vs))
	}
	if got, err := e.svc.LatestVersions(e.ctx, "m", nil); err != nil || len(got) != 1 || got[0].Version != "3" {
		e.Errorf("latest versions: %v, %v; want version 3", versionKeys(got), err)
	}

	// A runs:/ source's run_id must be the run it names, existing or not.
	other := e.newRun().Info.RunID
	for _, r := range []registry.CreateVersionRequest{
		{Name: "m", Source: source, RunID: other},
		{Name: "m", Source: "runs:/" + other + "/model", RunID: missing},
	} {
		_, err := e.svc.CreateVersion(e.ctx, r)
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("CreateVersion(%+v)", r))
	}
	// Refused: a logged model that does not exist, and what is no run id
	// (MLflow's form: a letter or digit, then word characters and dashes).
	lm := "m-" + missing
	for _, r := range []registry.CreateVersionRequest{
		{Name: "m", Source: "models:/" + lm},
		{Name: "m", Source: "s3://b/k", ModelID: lm},
		{Name: "m", Source: "s3://b/k", ModelID: lm, RunID: other},
	} {
		_, err := e.svc.CreateVersion(e.ctx, r)
		e.wantCode(err, lode.ENotFound, fmt.Sprintf("CreateVersion(%+v)", r))
	}
	for _, r := range []registry.CreateVersionRequest{
		{Name: "m", Source: "runs:/not%20a%20run/model"},
		{Name: "m", Source: "s3://b/k", RunID: "not a run"},
		{Name: "m", Source: "s3://b/k", RunID: "x'y"},
	} {
		_, err := e.svc.CreateVersion(e.ctx, r)
		e.wantCode(err, lode.EInvalid, fmt.Sprintf("CreateVersion(%+v)", r))
	}
	// Refused requests take no number.
	if v := e.createVersion("m"); v.Version != "4" {
		e.Errorf("version after refused sources: %s, want 4", v.Version)
	}
}

// testModelVersionsTag checks the mlflow.modelVersions tag a version from a
// logged model adds to it, byte for byte as MLflow's server writes it.
func testModelVersionsTag(e *env) {
	e.createModel("m")
	e.createModel("ü-model")
	run := e.newRun()
	lm := e.newLoggedModel(run.Info.RunID)
	tag := func() string {
		e.Helper()
		got, err := e.track.GetLoggedModel(e.ctx, lm.ModelID)
		e.must(err, "GetLoggedModel")
		for _, t := range got.Tags {
			if t.Key == registry.ModelVersionsTag {
				return t.Value
			}
		}
		return ""
	}
	v := e.createVersionFrom(registry.CreateVersionRequest{Name: "m", Source: "models:/" + lm.ModelID, ModelID: lm.ModelID})
	if v.ModelID != lm.ModelID || v.RunID != run.Info.RunID {
		e.Errorf("version from a logged model: model id %q run id %q", v.ModelID, v.RunID)
	}
	if got, want := tag(), `[{"name": "m", "version": 1}]`; got != want {
		e.Errorf("tag after version 1: %s, want %s", got, want)
	}
	// model_id with another source: the model's run is taken, and the
	// version added to the tag.
	v = e.createVersionFrom(registry.CreateVersionRequest{Name: "m", Source: "s3://b/k", ModelID: lm.ModelID})
	if v.RunID != run.Info.RunID || v.ModelID != lm.ModelID {
		e.Errorf("s3 source with model_id: run id %q model id %q", v.RunID, v.ModelID)
	}
	// A models:/ source without model_id names the model all the same.
	v = e.createVersionFrom(registry.CreateVersionRequest{Name: "ü-model", Source: "models:/" + lm.ModelID})
	if v.ModelID != lm.ModelID {
		e.Errorf("models:/ source without model_id: model id %q", v.ModelID)
	}
	want := `[{"name": "m", "version": 1}, {"name": "m", "version": 2}, {"name": "\u00fc-model", "version": 1}]`
	if got := tag(); got != want {
		e.Errorf("tag after three versions: %s, want %s", got, want)
	}
	// The fluent client appends a string version; the next version is
	// appended after it, and a version already listed is not listed again.
	fluent := `[{"name": "m", "version": 1}, {"name": "m", "version": "1"}]`
	e.must(e.track.SetLoggedModelTags(e.ctx, lm.ModelID, []tracking.Tag{{Key: registry.ModelVersionsTag, Value: fluent}}), "SetLoggedModelTags")
	e.createVersionFrom(registry.CreateVersionRequest{Name: "m", Source: "s3://b/k", ModelID: lm.ModelID})
	if got, want := tag(), `[{"name": "m", "version": 1}, {"name": "m", "version": "1"}, {"name": "m", "version": 3}]`; got != want {
		e.Errorf("tag after the client's entry: %s, want %s", got, want)
	}
	e.must(e.track.SetLoggedModelTags(e.ctx, lm.ModelID, []tracking.Tag{{Key: registry.ModelVersionsTag, Value: "not json"}}), "SetLoggedModelTags")
	e.createVersionFrom(registry.CreateVersionRequest{Name: "m", Source: "s3://b/k", ModelID: lm.ModelID})
	if got, want := tag(), `[{"name": "m", "version": 4}]`; got != want {
		e.Errorf("tag after a value that is no list: %s, want %s", got, want)
	}
	// Versions without a logged model leave it alone.
	e.createVersionFrom(registry.CreateVersionRequest{Name: "m", Source: "runs:/" + run.Info.RunID + "/model"})
	if got, want := tag(), `[{"name": "m", "version": 4}]`; got != want {
		e.Errorf("tag after a version from a run: %s, want %s", got, want)
	}
}

func testAcceptedSources(e *env) {
	e.createModel("m")
	for _, c := range []struct{ source, want string }{
		{filepath.Join(e.root, "models", "m1"), ArtifactScheme + "/models/m1"},
		{e.root + "/a//b/", ArtifactScheme + "/a/b"},
		{e.root + "/x.txt", ArtifactScheme + "/x.txt"},
		{"mlflow-artifacts:/a/b", "mlflow-artifacts:/a/b"},
		{"s3://bucket/key", "s3://bucket/key"},
		{"s3://bucket/dir/model", "s3://bucket/dir/model"},
		{"gs://bucket/key", "gs://bucket/key"},
	} {
		v, err := e.svc.CreateVersion(e.ctx, registry.CreateVersionRequest{Name: "m", Source: c.source})
		if err != nil {
			e.Errorf("CreateVersion from %q: %v", c.source, err)
			continue
		}
		if v.Source != c.source || v.StorageLocation != c.want || v.RunID != "" {
			e.Errorf("source %q: stored source %q storage location %q run id %q; want storage location %q",
				c.source, v.Source, v.StorageLocation, v.RunID, c.want)
		}
	}
}

// testRefusedSources checks that every unsafe source is refused with
// INVALID_PARAMETER_VALUE before anything is stored.
func testRefusedSources(e *env) {
	e.createModel("m")
	id := e.newRun().Info.RunID
	root := e.root
	outside := filepath.Join(filepath.Dir(root), "outside", "model")
	bad := []string{
		"file:///etc/passwd",
		"file:/etc/passwd",
		"FILE:///etc/passwd",
		"/etc/passwd",
		"//etc/passwd",
		outside,
		root + "-sibling/model",
		root,
		root + "/../x",
		root + "/a/../../x",
		root + "/a/%2e%2e/%2e%2e/x",
		"relative/path",
		"./model",
		"../model",
		"runs:/" + id + "/../../x",
		"runs:/" + id + "/a/../../../x",
		"runs:/" + id + "/%2e%2e/x",
		"runs:/" + id + "/%2E%2E/x",
		"runs:/" + id + "/a%2f..%2f..%2fx",
		"runs:/" + id + "/a%252e%252e/b",
		"runs:/" + id + "/..%252f..%252fx",
		"runs:/" + id + "/x?y=1",
		"runs:/" + id + "/x;y",
		"runs:/",
		"runs://",
		"mlflow-artifacts:/../x",
		"mlflow-artifacts:/a/../../x",
		"mlflow-artifacts:/%2e%2e/x",
		"mlflow-artifacts://evil.example/x",
		"s3://b/../k",
		"s3://b/a/%2e%2e/%2e%2e/k",
		"s3://../k",
		"s3:///k",
		"s3://user:pass@b/k",
		"http://169.254.169.254/latest",
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"https://internal.example/x",
		"ftp://host/x",
		"runs:/" + id + "/model\x00.txt",
		"s3://b/k\x00",
		root + "/x\x00y",
		"runs:/" + id + "\\..\\..\\x",
		"s3://b/k\\..\\x",
		"C:\\Windows\\x",
		root + "\\..\\x",
		"runs:/" + id + "/model#frag",
		"s3://b/k#frag",
		root + "/x#y",
		"runs:/" + id + "/model%23frag",
		"s3://b/k%23x",
		root + "/x%23y",
		"s3://b/k%2523x",
		"",
	}
	for _, src := range bad {
		v, err := e.svc.CreateVersion(e.ctx, registry.CreateVersionRequest{Name: "m", Source: src})
		if err == nil {
			e.Errorf("CreateVersion from %q: accepted as %s with storage location %q, want %s", src, v, v.StorageLocation, lode.EInvalid)
			continue
		}
		if c := lode.ErrorCode(err); c != lode.EInvalid {
			e.Errorf("CreateVersion from %q: %v, want %s", src, err, lode.EInvalid)
		}
	}
	// Nothing was created, and no version number was used up.
	if vs := e.walkVersions("", nil, 1000); len(vs) != 0 {
		e.Errorf("refused sources created versions: %v", versionKeys(vs))
		for _, v := range vs {
			e.Logf("  %s: source %q storage location %q", v, v.Source, v.StorageLocation)
		}
	}
	if m := e.getModel("m"); len(m.LatestVersions) != 0 {
		e.Errorf("model has latest versions after refused sources: %v", versionKeys(m.LatestVersions))
	}
	if v := e.createVersion("m"); v.Version != "1" {
		e.Errorf("first version after refused sources: %s, want 1", v.Version)
	}
}
