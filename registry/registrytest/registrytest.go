// Package registrytest is the behavioural test suite every registry.Store
// implementation runs (sqlite now, postgres later):
//
//	func TestRegistry(t *testing.T) {
//		registrytest.Run(t, func(t *testing.T) registrytest.Stores {
//			db := open a fresh, empty database ...
//			t.Cleanup(func() { db.Close() })
//			return registrytest.Stores{Registry: db, Tracking: db}
//		})
//	}
//
// The suite follows MLflow's model registry semantics (its SQLAlchemy
// store, mlflow/store/model_registry/sqlalchemy_store.py). It drives the
// stores through registry.Service, whose tracking.Service resolves runs:/
// and models:/ sources, where MLflow's behaviour is the service's
// (validation, stage names, alias rules, source safety), and calls the
// Store directly where the contract is the store's own (uniqueness,
// numbering, cascades, atomicity of a failed rename).
package registrytest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

// Stores is what the suite needs: the registry under test and a tracking
// store (runs and logged models) for the sources it resolves. A database
// that implements both passes itself twice.
type Stores struct {
	Registry registry.Store
	Tracking tracking.Store
}

// Run runs the whole suite; every subtest opens fresh, empty stores with
// open, which registers its own cleanup. Subtests run in parallel (up to
// go test's -parallel), so open must be safe to call concurrently and the
// stores it returns must be independent of each other.
func Run(t *testing.T, open func(t *testing.T) Stores) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Models", modelTests},
		{"Versions", versionTests},
		{"Stages", stageTests},
		{"Aliases", aliasTests},
		{"Sources", sourceTests},
		{"SearchModels", searchModelTests},
		{"SearchVersions", searchVersionTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(newEnv(t, open(t)))
				})
			}
		})
	}
}

// test is one subtest of the suite.
type test struct {
	name string
	fn   func(e *env)
}

// ArtifactScheme is the artifact proxy scheme the suite's Service uses.
const ArtifactScheme = "mlflow-artifacts:"

// clockBase is the first time the suite's clock gives.
const clockBase = 1_700_000_000_000

// env is what a subtest works with: fresh stores, a registry Service over
// them whose clock advances one millisecond at each reading, its artifact
// root (a fresh temporary directory), and helpers that fail the test on
// unexpected errors.
type env struct {
	*testing.T
	ctx   context.Context
	store registry.Store
	svc   *registry.Service
	track *tracking.Service
	root  string
	exp   string // experiment for runs and logged models, made on first use
}

func newEnv(t *testing.T, s Stores) *env {
	var mu sync.Mutex
	ms := int64(clockBase)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		ms++
		return time.UnixMilli(ms)
	}
	root := t.TempDir()
	track := &tracking.Service{Store: s.Tracking, Now: now}
	return &env{
		T: t, ctx: context.Background(), store: s.Registry, track: track, root: root,
		svc: &registry.Service{
			Store: s.Registry, Tracking: track,
			ArtifactScheme: ArtifactScheme, ArtifactRoot: root, Now: now,
		},
	}
}

// must fails the test now if err is not nil.
func (e *env) must(err error, what string) {
	e.Helper()
	if err != nil {
		e.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// wantCode checks that err is a *lode.Error with the given code.
func (e *env) wantCode(err error, code, what string) {
	e.Helper()
	if err == nil {
		e.Errorf("%s: no error, want %s", what, code)
		return
	}
	if got := lode.ErrorCode(err); got != code {
		e.Errorf("%s: error code %s (%v), want %s", what, got, err, code)
	}
}

// experiment returns the id of the suite's experiment, creating it first.
func (e *env) experiment() string {
	e.Helper()
	if e.exp == "" {
		id, err := e.track.CreateExperiment(e.ctx, "registrytest", "", nil)
		e.must(err, "CreateExperiment")
		e.exp = id
	}
	return e.exp
}

// newRun creates a run and returns it.
func (e *env) newRun() *tracking.Run {
	e.Helper()
	r, err := e.track.CreateRun(e.ctx, tracking.CreateRunRequest{ExperimentID: e.experiment()})
	e.must(err, "CreateRun")
	if r.Info.RunID == "" || r.Info.ArtifactURI == "" {
		e.Fatalf("CreateRun returned %+v: no run id or artifact URI", r.Info)
	}
	return r
}

// newLoggedModel creates a logged model from run runID.
func (e *env) newLoggedModel(runID string) *tracking.LoggedModel {
	e.Helper()
	m, err := e.track.CreateLoggedModel(e.ctx, tracking.CreateLoggedModelRequest{
		ExperimentID: e.experiment(), Name: "lm", SourceRunID: runID,
	})
	e.must(err, "CreateLoggedModel")
	return m
}

// createModel registers a model through the service.
func (e *env) createModel(name string, tags ...tracking.Tag) *registry.Model {
	e.Helper()
	m, err := e.svc.CreateModel(e.ctx, name, "", tags)
	e.must(err, "CreateModel "+name)
	return m
}

// createVersion registers a version of name from an s3 source.
func (e *env) createVersion(name string, tags ...tracking.Tag) *registry.Version {
	e.Helper()
	return e.createVersionFrom(registry.CreateVersionRequest{Name: name, Source: "s3://bucket/" + name, Tags: tags})
}

func (e *env) createVersionFrom(r registry.CreateVersionRequest) *registry.Version {
	e.Helper()
	v, err := e.svc.CreateVersion(e.ctx, r)
	e.must(err, fmt.Sprintf("CreateVersion %s from %q", r.Name, r.Source))
	return v
}

func (e *env) getModel(name string) *registry.Model {
	e.Helper()
	m, err := e.svc.GetModel(e.ctx, name)
	e.must(err, "GetModel "+name)
	return m
}

func (e *env) getVersion(name, version string) *registry.Version {
	e.Helper()
	v, err := e.svc.GetVersion(e.ctx, name, version)
	e.must(err, "GetVersion "+name+"/"+version)
	return v
}

func (e *env) transition(name, version, stage string, archive bool) *registry.Version {
	e.Helper()
	v, err := e.svc.TransitionStage(e.ctx, name, version, stage, archive)
	e.must(err, fmt.Sprintf("TransitionStage %s/%s to %s", name, version, stage))
	return v
}

// versionNumbers lists the version numbers of name that a search finds,
// in ascending numeric order.
func (e *env) versionNumbers(name string) []string {
	e.Helper()
	vs := e.walkVersions(fmt.Sprintf("name = '%s'", name), nil, 1000)
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Version
	}
	sort.Slice(out, func(i, j int) bool { return atoi(out[i]) < atoi(out[j]) })
	return out
}

// walkModels returns every page of a search_registered_models request,
// failing the test if a page is too long or a token repeats.
func (e *env) walkModels(filter string, order []string, pageSize int) []*registry.Model {
	e.Helper()
	var all []*registry.Model
	token := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			e.Fatalf("SearchModels: more than 1000 pages")
		}
		ms, next, err := e.svc.SearchModels(e.ctx, filter, order, pageSize, token)
		e.must(err, fmt.Sprintf("SearchModels filter=%q order_by=%q", filter, order))
		if len(ms) > pageSize {
			e.Fatalf("SearchModels page of %d models, max_results %d", len(ms), pageSize)
		}
		all = append(all, ms...)
		if next == "" {
			return all
		}
		if next == token {
			e.Fatalf("SearchModels: page token %q repeats", next)
		}
		token = next
	}
}

// walkVersions is walkModels for search_model_versions.
func (e *env) walkVersions(filter string, order []string, pageSize int) []*registry.Version {
	e.Helper()
	var all []*registry.Version
	token := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			e.Fatalf("SearchVersions: more than 1000 pages")
		}
		vs, next, err := e.svc.SearchVersions(e.ctx, filter, order, pageSize, token)
		e.must(err, fmt.Sprintf("SearchVersions filter=%q order_by=%q", filter, order))
		if len(vs) > pageSize {
			e.Fatalf("SearchVersions page of %d versions, max_results %d", len(vs), pageSize)
		}
		all = append(all, vs...)
		if next == "" {
			return all
		}
		if next == token {
			e.Fatalf("SearchVersions: page token %q repeats", next)
		}
		token = next
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func modelNames(ms []*registry.Model) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// versionKeys names versions as "name/version".
func versionKeys(vs []*registry.Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name + "/" + v.Version
	}
	return out
}

// stageOf maps the versions to their stage, by version number.
func stageOf(vs []*registry.Version) map[string]string {
	out := map[string]string{}
	for _, v := range vs {
		out[v.Version] = v.CurrentStage
	}
	return out
}

// latestByStage maps stages to the version numbers of vs.
func latestByStage(vs []*registry.Version) map[string]string {
	out := map[string]string{}
	for _, v := range vs {
		out[v.CurrentStage] = v.Version
	}
	return out
}

// sameSet reports whether a and b hold the same strings, ignoring order.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(x, y)
}

// dupes returns the strings that occur more than once in s.
func dupes(s []string) []string {
	seen := map[string]int{}
	var out []string
	for _, x := range s {
		seen[x]++
		if seen[x] == 2 {
			out = append(out, x)
		}
	}
	return out
}

func tagValue(tags []tracking.Tag, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// tagMap turns tags into a map, reporting duplicated keys as an error.
func (e *env) tagMap(tags []tracking.Tag, what string) map[string]string {
	e.Helper()
	out := map[string]string{}
	for _, t := range tags {
		if _, ok := out[t.Key]; ok {
			e.Errorf("%s: tag %q appears twice", what, t.Key)
		}
		out[t.Key] = t.Value
	}
	return out
}

// aliasMap turns a model's aliases into a map alias -> version.
func aliasMap(as []registry.Alias) map[string]string {
	out := map[string]string{}
	for _, a := range as {
		out[a.Alias] = a.Version
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
