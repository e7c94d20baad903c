package mlflowapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/tracking"
)

// Access says who may call a route.
type Access uint8

// The kinds of access a route asks for.
const (
	// Public routes answer anyone, signed in or not (health, version,
	// static files, the login page).
	Public Access = iota + 1
	// SignedIn routes answer any signed-in user; what they return is
	// filtered to what the user may read (searches, listings).
	SignedIn
	// AdminOnly routes answer admins only.
	AdminOnly
	// SelfOrAdmin routes answer the user the request names (Params) and
	// admins.
	SelfOrAdmin
	// OnResource routes need a permission (Need) on the resource the
	// request names (Target, Params).
	OnResource
)

// Target is the kind of resource an OnResource route's parameter names.
type Target uint8

// The targets. Runs, logged models and artifacts take their experiment's
// permission, jobs their experiment's (and let their owner through where
// Rule.Owner says so), model versions their registered model's.
const (
	TargetExperiment Target = iota + 1
	// TargetExperimentName is an experiment named by its name.
	TargetExperimentName
	TargetRun
	TargetLoggedModel
	TargetModel
	TargetDeployment
	TargetJob
	// TargetArtifact is a path under the artifact proxy: its first segment
	// is the experiment id (anything else falls to the default permission).
	TargetArtifact
	// TargetGrant is the resource a permission API call names with the
	// parameters resource_type and resource_id (Params are their names).
	TargetGrant
)

// Rule is what a route asks of its caller. Every route has one: the
// permission matrix test walks them all.
type Rule struct {
	Access Access
	Target Target
	Need   auth.Need
	// Params name the request parameter that holds the resource (or, for
	// SelfOrAdmin, the username), tried in order: a path wildcard as
	// "{name}", else a query parameter (GET) or a field of the JSON body.
	Params []string
	// Owner lets the submitter of a job through as well.
	Owner bool
	// Each: the parameter is repeated (a query list) and every resource
	// it names needs the permission.
	Each bool
}

// Rule constructors, for route tables that read as sentences.

// PublicRule lets anyone call a route.
func PublicRule() Rule { return Rule{Access: Public} }

// SignedInRule lets any signed-in user call a route.
func SignedInRule() Rule { return Rule{Access: SignedIn} }

// AdminRule lets admins only call a route.
func AdminRule() Rule { return Rule{Access: AdminOnly} }

// SelfRule lets the user named by param, and admins, call a route.
func SelfRule(param string) Rule { return Rule{Access: SelfOrAdmin, Params: []string{param}} }

// On asks for need on the target the request's params name.
func On(t Target, need auth.Need, params ...string) Rule {
	return Rule{Access: OnResource, Target: t, Need: need, Params: params}
}

// Each makes a rule apply to every value of its repeated parameter.
func Each(r Rule) Rule {
	r.Each = true
	return r
}

// runRule asks for need on the run a request names (run_id, or MLflow's
// older run_uuid).
func runRule(need auth.Need) Rule { return On(TargetRun, need, "run_id", "run_uuid") }

// modelRule asks for need on the registered model a request names.
func modelRule(need auth.Need) Rule { return On(TargetModel, need, "name") }

// Finder finds what a resource's permission comes from.
type Finder interface {
	// RunExperiment returns the experiment of a run.
	RunExperiment(ctx context.Context, runID string) (string, error)
	// LoggedModelExperiment returns the experiment of a logged model.
	LoggedModelExperiment(ctx context.Context, modelID string) (string, error)
	// ExperimentID returns the id of the experiment with a name.
	ExperimentID(ctx context.Context, name string) (string, error)
	// JobOwner returns the experiment and the submitter of a job.
	JobOwner(ctx context.Context, jobID string) (experiment, owner string, err error)
}

// ServiceFinder is the Finder of a server's own stores: runs and logged
// models from its tracking service, jobs from its jobs store.
type ServiceFinder struct {
	Tracking *tracking.Service
	Jobs     jobs.Store
}

func (f ServiceFinder) RunExperiment(ctx context.Context, runID string) (string, error) {
	return f.Tracking.RunExperiment(ctx, runID)
}

func (f ServiceFinder) LoggedModelExperiment(ctx context.Context, id string) (string, error) {
	return f.Tracking.LoggedModelExperiment(ctx, id)
}

func (f ServiceFinder) ExperimentID(ctx context.Context, name string) (string, error) {
	e, err := f.Tracking.GetExperimentByName(ctx, name)
	if err != nil {
		return "", err
	}
	return e.ID, nil
}

func (f ServiceFinder) JobOwner(ctx context.Context, id string) (string, string, error) {
	j, err := f.Jobs.GetJob(ctx, id)
	if err != nil {
		return "", "", err
	}
	return j.Spec.Experiment(), j.Spec.Owner, nil
}

var _ Finder = ServiceFinder{}

// Guard decides whether a request may be served: who sent it is in its
// context (see gate), what it needs is its route's Rule.
type Guard struct {
	// Auth decides; nil means the server runs open: everything is allowed.
	Auth *auth.Service
	Find Finder
	// MaxBodyBytes bounds a JSON body read for the resource it names.
	MaxBodyBytes int64

	mu   sync.Mutex
	runs map[string]string // run id → experiment id: runs never move
}

// Open reports whether the server runs without authentication.
func (g *Guard) Open() bool { return g == nil || g.Auth == nil }

// maxRunCache bounds the run → experiment cache; a full one is emptied.
const maxRunCache = 100000

func (g *Guard) runExperiment(ctx context.Context, runID string) (string, error) {
	g.mu.Lock()
	exp, ok := g.runs[runID]
	g.mu.Unlock()
	if ok {
		return exp, nil
	}
	exp, err := g.Find.RunExperiment(ctx, runID)
	if err != nil {
		return "", err
	}
	g.mu.Lock()
	if g.runs == nil || len(g.runs) >= maxRunCache {
		g.runs = map[string]string{}
	}
	g.runs[runID] = exp
	g.mu.Unlock()
	return exp, nil
}

// Check returns nil when the request may be served under rule; else an
// error with EUnauthenticated (nobody signed in) or EPermission. It may
// read a JSON body to find the resource; the body is then put back for
// the handler.
func (g *Guard) Check(r *http.Request, rule Rule) error {
	if g.Open() || rule.Access == Public {
		return nil
	}
	ctx := r.Context()
	id := auth.FromContext(ctx)
	if id.Admin() {
		return nil
	}
	if id.Anonymous() {
		return auth.ErrUnauthenticated
	}
	switch rule.Access {
	case SignedIn:
		return nil
	case AdminOnly:
		return auth.Denied("only admins may do this.")
	case SelfOrAdmin:
		name, err := param(r, rule.Params, g.MaxBodyBytes)
		if err != nil {
			return err
		}
		if name != id.Name() {
			return auth.Denied("user '%s' may only do this for themselves.", id.Name())
		}
		return nil
	case OnResource:
		if rule.Target == TargetGrant {
			vals, err := params(r, rule.Params, g.MaxBodyBytes)
			if err != nil {
				return err
			}
			t, rid := vals[rule.Params[0]], vals[rule.Params[1]]
			if t == "" || rid == "" {
				return nil // the handler says what is missing
			}
			rt, err := auth.ParseResourceType(t)
			if err != nil {
				return nil // the handler says what is wrong
			}
			if rid == auth.Wildcard {
				// A grant on every resource of a type is for admins and the
				// workspace's managers to make, whatever else the caller
				// manages (as in MLflow 3).
				ok, err := g.Auth.ManagesWorkspace(ctx, id)
				if err != nil || ok {
					return err
				}
				return auth.Denied("only admins and workspace managers may grant or revoke on every %s ('*').", strings.ReplaceAll(string(rt), "_", " "))
			}
			if rt == auth.Experiment {
				c, ok := CanonicalExperimentID(rid)
				if !ok {
					return nil // the handler refuses it
				}
				rid = c
			}
			return g.Auth.Check(ctx, id, rt, rid, rule.Need)
		}
		if rule.Target == TargetArtifact {
			return g.CheckArtifact(ctx, artifactRequestPath(r), artifactNeed(r.Method))
		}
		if rule.Each {
			vs, err := queryValues(r.URL.Query(), rule.Params[0])
			if err != nil {
				return err
			}
			for _, v := range vs {
				if err := g.CheckTarget(ctx, rule.Target, v, rule.Need, rule.Owner); err != nil {
					return err
				}
			}
			return nil
		}
		v, err := param(r, rule.Params, g.MaxBodyBytes)
		if err != nil {
			return err
		}
		return g.CheckTarget(ctx, rule.Target, v, rule.Need, rule.Owner)
	}
	return auth.Denied("this route has no permission rule.")
}

// CheckTarget checks the caller's need on one resource. A resource that
// does not exist is left to the handler to report (404) when the caller
// may do what they ask to any resource of its kind that nothing names;
// else it is refused like one they may not touch. Either way the refusal
// says the same, naming the resource as the request did (not, say, the
// experiment a run belongs to), so that ids and names are no oracle.
func (g *Guard) CheckTarget(ctx context.Context, t Target, v string, need auth.Need, owner bool) error {
	if g.Open() {
		return nil
	}
	id := auth.FromContext(ctx)
	err := g.checkTarget(ctx, id, t, v, need, owner)
	if lode.ErrorCode(err) == lode.EPermission {
		if v == "" && t == TargetExperiment {
			v = tracking.DefaultExperimentID
		}
		return auth.Denied("user '%s' may not %s %s '%s'.", id.Name(), need, targetNouns[t], v)
	}
	return err
}

// targetNouns name the targets in refusals.
var targetNouns = map[Target]string{
	TargetExperiment: "experiment", TargetExperimentName: "the experiment named", TargetRun: "run",
	TargetLoggedModel: "logged model", TargetModel: "registered model", TargetDeployment: "deployment", TargetJob: "job",
}

func (g *Guard) checkTarget(ctx context.Context, id *auth.Identity, t Target, v string, need auth.Need, owner bool) error {
	if v == "" {
		if t != TargetExperiment {
			return g.missing(ctx, id, t, need)
		}
		// Requests without an experiment use the Default one.
		v = tracking.DefaultExperimentID
	}
	var exp string
	var err error
	switch t {
	case TargetExperiment:
		exp = v
	case TargetExperimentName:
		exp, err = g.Find.ExperimentID(ctx, v)
	case TargetRun:
		exp, err = g.runExperiment(ctx, v)
	case TargetLoggedModel:
		exp, err = g.Find.LoggedModelExperiment(ctx, v)
	case TargetModel:
		return g.Auth.Check(ctx, id, auth.RegisteredModel, v, need)
	case TargetDeployment:
		return g.Auth.Check(ctx, id, auth.Deployment, v, need)
	case TargetJob:
		var who string
		if exp, who, err = g.Find.JobOwner(ctx, v); err == nil && owner && who != "" && who == id.Name() {
			return nil
		}
	default:
		return auth.Denied("unknown resource.")
	}
	if err != nil {
		if c := lode.ErrorCode(err); c == lode.ENotFound || c == lode.EInvalid {
			return g.missing(ctx, id, t, need)
		}
		return err
	}
	// The store reads "01" as experiment 1; grants name it "1".
	c, ok := CanonicalExperimentID(exp)
	if !ok {
		return g.missing(ctx, id, t, need)
	}
	return g.Auth.Check(ctx, id, auth.Experiment, c, need)
}

// CanonicalExperimentID returns an experiment id in the one form grants
// and the store agree on ("01" and "+1" are experiment 1 to the store, so
// they must be to the guard); ok is false for what is no experiment id.
func CanonicalExperimentID(v string) (string, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return "", false
	}
	return strconv.FormatInt(n, 10), true
}

// missing decides for a resource that does not exist (or is not named),
// by the wildcard grants and the default alone.
func (g *Guard) missing(ctx context.Context, id *auth.Identity, t Target, need auth.Need) error {
	rt := auth.Experiment
	switch t {
	case TargetModel:
		rt = auth.RegisteredModel
	case TargetDeployment:
		rt = auth.Deployment
	}
	return g.Auth.CheckUnnamed(ctx, id, rt, need)
}

// CheckArtifact checks the caller's need on an artifact path of the proxy,
// by the experiment its first segment names, as MLflow's proxy does; a
// path outside every experiment's folder ("01/..." is not experiment 1's
// folder, "1/..." is) gets the wildcard grants and the default only.
func (g *Guard) CheckArtifact(ctx context.Context, p string, need auth.Need) error {
	if g.Open() {
		return nil
	}
	id := auth.FromContext(ctx)
	first, _, _ := strings.Cut(strings.TrimLeft(p, "/"), "/")
	if c, ok := CanonicalExperimentID(first); ok && c == first {
		return g.Auth.Check(ctx, id, auth.Experiment, first, need)
	}
	return g.Auth.CheckUnnamed(ctx, id, auth.Experiment, need)
}

// CheckSource checks that the caller of a model-version create may read
// the files it registers (registry.Service.CheckSource): the run and the
// logged model it names, and the artifact path it resolved to.
func (g *Guard) CheckSource(ctx context.Context, location, runID, modelID string) error {
	if g.Open() {
		return nil
	}
	if runID != "" {
		if err := g.CheckTarget(ctx, TargetRun, runID, auth.NeedRead, false); err != nil {
			return err
		}
	}
	if modelID != "" {
		if err := g.CheckTarget(ctx, TargetLoggedModel, modelID, auth.NeedRead, false); err != nil {
			return err
		}
	}
	if p, ok := proxiedPath(location); ok {
		return g.CheckArtifact(ctx, p, auth.NeedRead)
	}
	return nil
}

// Readable is the scope of a kind of resource the caller in ctx may read;
// domain services call it for their searches (lode.ReadableFunc).
func (g *Guard) Readable(ctx context.Context, kind string) (lode.Scope, error) {
	if g.Open() {
		return lode.Scope{}, nil
	}
	return g.Auth.Readable(ctx, auth.FromContext(ctx), auth.ResourceType(kind))
}

// artifactNeed is what a method does to an artifact.
func artifactNeed(method string) auth.Need {
	switch method {
	case http.MethodGet, http.MethodHead:
		return auth.NeedRead
	case http.MethodDelete:
		return auth.NeedDelete
	}
	return auth.NeedUpdate
}

// artifactRequestPath is the artifact path a proxy request names: the
// URL path after the proxy prefix, or the ?path= of a listing.
func artifactRequestPath(r *http.Request) string {
	raw := r.URL.EscapedPath()
	for _, prefix := range artifactProxyPrefixes {
		if rest, ok := strings.CutPrefix(raw, prefix); ok {
			if rest == "" || rest == "/" {
				return r.URL.Query().Get("path")
			}
			p, _ := artifactPath(rest)
			return p
		}
	}
	return ""
}

// param returns the first of names the request carries.
func param(r *http.Request, names []string, maxBody int64) (string, error) {
	vals, err := params(r, names, maxBody)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if v := vals[n]; v != "" {
			return v, nil
		}
	}
	return "", nil
}

// params reads the named parameters of a request: path wildcards
// ("{name}"), then the query string of a GET or a body-less request, else
// the top-level fields of its JSON body (read, and put back).
//
// It finds them as the handler's decode will: encoding/json matches a
// name to a struct field case-insensitively and the last of several
// wins, and decodeQuery goes through encoding/json too. So a request that
// names a parameter twice, in any case, is refused: else the guard would
// judge one resource and the handler act on another.
func params(r *http.Request, names []string, maxBody int64) (map[string]string, error) {
	out := make(map[string]string, len(names))
	var fields []string
	for _, n := range names {
		if w, ok := strings.CutPrefix(n, "{"); ok {
			out[n] = r.PathValue(strings.TrimSuffix(w, "}"))
		} else {
			fields = append(fields, n)
		}
	}
	if len(fields) == 0 {
		return out, nil
	}
	if fromQuery(r) || r.Body == nil || r.Body == http.NoBody {
		q := r.URL.Query()
		for _, f := range fields {
			vs, err := queryValues(q, f)
			if err != nil {
				return nil, err
			}
			if len(vs) > 1 {
				return nil, duplicate(f)
			}
			if len(vs) == 1 {
				out[f] = vs[0]
			}
		}
		return out, nil
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	// Read at once into a buffer of the announced size: a log-batch body
	// is large, and growing one by doubling copies it several times.
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, maxBody)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1))
	r.Body.Close()
	body := buf.Bytes()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, lode.Errorf(lode.EBadRequest, "Could not read the request body: %v", err)
	}
	if int64(len(body)) > maxBody {
		return nil, lode.Errorf(lode.ETooLarge, "Request body exceeds the limit of %d bytes.", maxBody)
	}
	if err := jsonFields(body, fields, out); err != nil {
		return nil, err
	}
	return out, nil
}

// queryValues returns the values of the query parameter that decodeQuery
// would decode into the field name: the one key equal to it under
// encoding/json's case folding.
func queryValues(q url.Values, name string) ([]string, error) {
	var out []string
	found := false
	for k, vs := range q {
		if strings.EqualFold(k, name) {
			if found {
				return nil, duplicate(name)
			}
			found, out = true, vs
		}
	}
	return out, nil
}

func duplicate(name string) error {
	return lode.Errorf(lode.EInvalid, "Duplicate parameter '%s' in the request: name it once.", name)
}

// jsonFields sets out[name] for each of names among the top-level fields
// of a JSON object (strings and numbers, as text; "" for anything else).
// It matches keys as encoding/json matches them to a struct's fields
// (escapes undone, case folded), and refuses a body that names one twice.
// It reads the whole body, since a second key could come last, in one
// pass that allocates nothing for what it skips: a log-batch body is
// large. A body that is no valid JSON object leaves out alone: the
// handler's decode refuses it before acting on anything.
func jsonFields(body []byte, names []string, out map[string]string) error {
	s := jscan{b: body}
	s.space()
	if s.peek() == '"' {
		// Older clients send the body as a JSON string holding the object.
		var inner string
		if json.Unmarshal(body, &inner) != nil {
			return nil
		}
		return jsonFields([]byte(inner), names, out)
	}
	if !s.eat('{') {
		return nil
	}
	for {
		s.space()
		key, ok := s.str()
		if !ok {
			return nil // the end, or no JSON
		}
		s.space()
		if !s.eat(':') {
			return nil
		}
		s.space()
		name := matchKey(key, names)
		if name == "" {
			if !s.skip() {
				return nil
			}
		} else {
			if _, dup := out[name]; dup {
				return duplicate(name)
			}
			v, ok := s.scalar()
			if !ok {
				return nil
			}
			out[name] = v
		}
		s.space()
		if !s.eat(',') {
			return nil
		}
	}
}

// matchKey returns the one of names that the quoted JSON key decodes to,
// as encoding/json folds names (bytes.EqualFold), or "".
func matchKey(quoted []byte, names []string) string {
	key := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(key, '\\') >= 0 {
		var k string
		if json.Unmarshal(quoted, &k) != nil {
			return ""
		}
		key = []byte(k)
	}
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return n
		}
	}
	return ""
}

// jscan reads JSON text that encoding/json will have validated before the
// handler acts on it: it need not validate, only find what the decoder
// finds in valid text.
type jscan struct {
	b []byte
	i int
}

func (s *jscan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jscan) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

func (s *jscan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads a string and returns it quoted, as it stands in the text.
func (s *jscan) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	end, ok := strEnd(s.b, s.i+1)
	if !ok {
		return nil, false
	}
	q := s.b[s.i:end]
	s.i = end
	return q, true
}

// strEnd returns where the string whose text starts at i ends, past its
// closing quote.
func strEnd(b []byte, i int) (int, bool) {
	for i < len(b) {
		switch b[i] {
		case '"':
			return i + 1, true
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return 0, false
}

// scalar reads a value: a string's text, a number's literal (as
// json.Number, and so jstr, keep it), "" for anything else.
func (s *jscan) scalar() (string, bool) {
	switch c := s.peek(); {
	case c == '"':
		q, ok := s.str()
		if !ok {
			return "", false
		}
		if bytes.IndexByte(q, '\\') < 0 {
			return string(q[1 : len(q)-1]), true
		}
		var v string
		if json.Unmarshal(q, &v) != nil {
			return "", false
		}
		return v, true
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		ok := s.skip()
		return string(s.b[start:s.i]), ok
	}
	return "", s.skip()
}

// plain marks the bytes skip passes over inside a value: all but quotes,
// brackets and braces.
var plain = func() (t [256]bool) {
	for c := range t {
		t[c] = !strings.ContainsRune(`"{}[]`, rune(c))
	}
	return t
}()

// skip moves past one value.
func (s *jscan) skip() bool {
	b, i := s.b, s.i
	depth := 0
	for i < len(b) {
		if depth > 0 && plain[b[i]] {
			i++
			continue
		}
		switch b[i] {
		case '"':
			end, ok := strEnd(b, i+1)
			if !ok {
				return false
			}
			i = end
			if depth == 0 {
				s.i = i
				return true
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				s.i = i
				return true // the end of the enclosing object
			}
			depth--
			if depth == 0 {
				s.i = i + 1
				return true
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				s.i = i
				return true // the end of a literal
			}
		}
		i++
	}
	s.i = i
	return depth == 0
}

// errNoRule is a route registered without a rule: a programming error the
// permission test catches.
var errNoRule = errors.New("mlflowapi: a route needs a permission rule")
