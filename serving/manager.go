package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
)

// Resolved is what a model URI names at one moment.
type Resolved struct {
	// Model is the registered model's name ("" for runs and folders).
	Model string
	// Version is the registry version ("1" for runs and folders).
	Version string
	// Location is where the files are: an artifact URI or a local folder.
	Location string
}

// Source resolves model URIs and brings their files to a local folder.
type Source interface {
	// Resolve returns what ref names now: for an alias, its current
	// version. Errors: ENotFound for unknown models, versions or aliases.
	Resolve(ctx context.Context, ref Ref) (Resolved, error)
	// Fetch returns a local folder holding the model's files (MLmodel at
	// its top), downloading them first when needed.
	Fetch(ctx context.Context, r Resolved) (string, error)
}

// Deployment is a served model: a name and the URI it serves. A deployment
// of models:/name@alias follows the alias.
type Deployment struct {
	Name     string `json:"name"`
	ModelURI string `json:"model_uri"`
	// Runtime forces a runtime: "onnx" or "python" ("" picks: ONNX for
	// models with an onnx flavor, Python for other pyfunc models).
	Runtime string `json:"runtime,omitempty"`
	// Workers is how many requests run at once (Python worker
	// processes; concurrent ONNX runs). 0: the runtime's default.
	Workers int `json:"workers,omitempty"`
	// MaxQueue is how many requests may wait beyond those running (0:
	// 8 per worker for Python models, 64 per concurrent run for ONNX).
	MaxQueue int `json:"max_queue,omitempty"`
	// TimeoutMillis bounds each request (0: 30 s).
	TimeoutMillis int64 `json:"timeout_ms,omitempty"`
	// CreationTime is when it was created (ms since the epoch).
	CreationTime int64 `json:"creation_timestamp,omitempty"`
}

// DeploymentStatus is a deployment with what it serves now.
type DeploymentStatus struct {
	Deployment
	// State of the deployment: LOADING until a first version is
	// available, AVAILABLE, or FAILED when no version could be loaded.
	State State `json:"state"`
	// Model and Version being served.
	Model   string `json:"model,omitempty"`
	Version string `json:"version,omitempty"`
	// RuntimeName is the runtime serving it ("onnxruntime" or "python").
	RuntimeName string `json:"runtime_name,omitempty"`
	// Loading is a version being loaded to replace the current one.
	Loading string `json:"loading_version,omitempty"`
	// Error is the last load failure, if any.
	Error    string `json:"error,omitempty"`
	LoadedAt int64  `json:"loaded_timestamp,omitempty"`
}

// DeploymentStore keeps deployments across restarts.
type DeploymentStore interface {
	PutDeployment(ctx context.Context, d Deployment) error
	DeleteDeployment(ctx context.Context, name string) error
	ListDeployments(ctx context.Context) ([]Deployment, error)
}

// Manager serves deployments: it loads each one's model, follows aliases,
// swaps versions with no request dropped, and answers the protocols as a
// Catalog.
type Manager struct {
	Runtimes []Runtime
	Source   Source
	// Store persists deployments; nil keeps them in memory (lode serve).
	Store  DeploymentStore
	Logger *slog.Logger
	// Poll is how often aliases are re-resolved (default 5 s).
	Poll time.Duration

	mu   sync.RWMutex
	deps map[string]*deployment

	// storeMu serializes the changes that go to Store (Create, Delete)
	// with syncStore, so that a sync never sees in deps a deployment the
	// store does not have yet, or still has one Delete is removing.
	storeMu sync.Mutex
	badURIs map[string]string // stored deployments not served: name → URI, logged once

	stop   chan struct{}
	ctx    context.Context // cancelled by Close: stops loads under way
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type deployment struct {
	spec Deployment
	ref  Ref
	cur  atomic.Pointer[Endpoint]

	loadMu  sync.Mutex // one load at a time
	mu      sync.Mutex // guards the fields below
	pending bool       // a background load is running
	again   bool       // and should run once more
	key     string     // the Resolved the current endpoint came from
	loading string
	lastErr string
	failed  bool
	closed  bool
}

var deploymentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (m *Manager) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

// Start loads the stored deployments and starts following aliases. Loads
// run in the background; Ready reports when they are done.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.deps == nil {
		m.deps = map[string]*deployment{}
	}
	m.stop = make(chan struct{})
	m.initCtx()
	m.mu.Unlock()
	if err := m.syncStore(ctx); err != nil {
		return err
	}
	poll := m.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	stop := m.stop
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				m.mu.RLock()
				ctx := m.ctx
				m.mu.RUnlock()
				if err := m.syncStore(ctx); err != nil && ctx.Err() == nil {
					m.log().Warn("reading deployments from the store failed", "err", err)
				}
				m.Refresh()
			}
		}
	}()
	return nil
}

// syncStore makes the served deployments those of the store: it starts
// the ones another server created, and stops the ones another server
// deleted or replaced (same name, other spec). Start runs it first, then
// every Poll, so the servers sharing a database serve the same
// deployments within a Poll of a change.
func (m *Manager) syncStore(ctx context.Context) error {
	if m.Store == nil {
		return nil
	}
	m.storeMu.Lock()
	defer m.storeMu.Unlock()
	stored, err := m.Store.ListDeployments(ctx)
	if err != nil {
		return err
	}
	want := make(map[string]Deployment, len(stored))
	for _, d := range stored {
		want[d.Name] = d
	}
	var added, removed []*deployment
	m.mu.Lock()
	if m.ctx != nil && m.ctx.Err() != nil { // closed meanwhile
		m.mu.Unlock()
		return nil
	}
	if m.deps == nil {
		m.deps = map[string]*deployment{}
	}
	if m.badURIs == nil {
		m.badURIs = map[string]string{}
	}
	for name, dep := range m.deps {
		if d, ok := want[name]; !ok || d != dep.spec {
			delete(m.deps, name)
			removed = append(removed, dep)
		}
	}
	for name, d := range want {
		if _, ok := m.deps[name]; ok {
			continue
		}
		ref, err := ParseModelURI(d.ModelURI)
		if err != nil {
			if m.badURIs[name] != d.ModelURI {
				m.badURIs[name] = d.ModelURI
				m.log().Error("stored deployment has a bad model URI", "deployment", name, "err", err)
			}
			continue
		}
		dep := &deployment{spec: d, ref: ref}
		m.deps[name] = dep
		added = append(added, dep)
	}
	for name := range m.badURIs {
		if _, ok := want[name]; !ok {
			delete(m.badURIs, name)
		}
	}
	m.mu.Unlock()
	for _, dep := range removed {
		m.log().Info("deployment removed from the store", "deployment", dep.spec.Name)
		m.closeDeployment(dep)
	}
	for _, dep := range added {
		m.goLoad(dep)
	}
	return nil
}

// closeDeployment stops serving a deployment taken out of deps: requests
// in flight finish on it first.
func (m *Manager) closeDeployment(dep *deployment) {
	dep.mu.Lock()
	dep.closed = true
	dep.mu.Unlock()
	if ep := dep.cur.Swap(nil); ep != nil {
		go m.retire(ep)
	}
}

// Refresh re-resolves every deployment now and starts loading those whose
// alias has moved.
func (m *Manager) Refresh() {
	m.mu.RLock()
	deps := make([]*deployment, 0, len(m.deps))
	for _, d := range m.deps {
		deps = append(deps, d)
	}
	m.mu.RUnlock()
	for _, d := range deps {
		if d.ref.Follows() || d.cur.Load() == nil {
			m.goLoad(d)
		}
	}
}

// Create adds a deployment and starts loading it. The model must resolve
// now; loading continues in the background (see Get for its state).
func (m *Manager) Create(ctx context.Context, d Deployment) (*DeploymentStatus, error) {
	if !deploymentName.MatchString(d.Name) {
		return nil, lode.Errorf(lode.EInvalid, "invalid deployment name '%s': use letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)", d.Name)
	}
	switch d.Runtime {
	case "", "onnx", "python":
	default:
		return nil, lode.Errorf(lode.EInvalid, "invalid runtime '%s': want onnx or python", d.Runtime)
	}
	if d.Workers < 0 || d.Workers > 256 || d.MaxQueue < 0 || d.MaxQueue > 1<<20 || d.TimeoutMillis < 0 {
		return nil, lode.Errorf(lode.EInvalid, "invalid deployment limits: workers must be 0..256, max_queue 0..1048576 and timeout_ms >= 0")
	}
	ref, err := ParseModelURI(d.ModelURI)
	if err != nil {
		return nil, err
	}
	if _, err := m.Source.Resolve(ctx, ref); err != nil {
		return nil, err
	}
	if d.CreationTime == 0 {
		d.CreationTime = time.Now().UnixMilli()
	}
	dep := &deployment{spec: d, ref: ref}
	m.storeMu.Lock()
	defer m.storeMu.Unlock()
	m.mu.Lock()
	if m.deps == nil {
		m.deps = map[string]*deployment{}
	}
	if _, ok := m.deps[d.Name]; ok {
		m.mu.Unlock()
		return nil, lode.Errorf(lode.EExists, "deployment '%s' already exists", d.Name)
	}
	m.deps[d.Name] = dep
	m.mu.Unlock()
	if m.Store != nil {
		if err := m.Store.PutDeployment(ctx, d); err != nil {
			m.mu.Lock()
			delete(m.deps, d.Name)
			m.mu.Unlock()
			return nil, err
		}
	}
	m.goLoad(dep)
	st := dep.status()
	return &st, nil
}

// Load loads a deployment synchronously (lode serve uses it to start only
// once its model answers).
func (m *Manager) Load(ctx context.Context, name string) error {
	dep, err := m.get(name)
	if err != nil {
		return err
	}
	return m.load(ctx, dep)
}

// Delete removes a deployment; requests in flight finish first.
func (m *Manager) Delete(ctx context.Context, name string) error {
	m.storeMu.Lock()
	defer m.storeMu.Unlock()
	m.mu.Lock()
	dep, ok := m.deps[name]
	if ok {
		delete(m.deps, name)
	}
	m.mu.Unlock()
	if !ok {
		return lode.Errorf(lode.ENotFound, "deployment '%s' does not exist", name)
	}
	if m.Store != nil {
		if err := m.Store.DeleteDeployment(ctx, name); err != nil {
			return err
		}
	}
	m.closeDeployment(dep)
	return nil
}

// Get returns one deployment's status.
func (m *Manager) Get(name string) (*DeploymentStatus, error) {
	dep, err := m.get(name)
	if err != nil {
		return nil, err
	}
	st := dep.status()
	return &st, nil
}

// List returns every deployment's status, by name.
func (m *Manager) List() []DeploymentStatus {
	m.mu.RLock()
	out := make([]DeploymentStatus, 0, len(m.deps))
	for _, d := range m.deps {
		out = append(out, d.status())
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops following aliases and closes every model once its requests
// in flight have finished (or ctx ends).
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.stop != nil {
		close(m.stop)
		m.stop = nil
	}
	deps := m.deps
	m.deps = map[string]*deployment{}
	if m.cancel != nil {
		m.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
	var errs []error
	for _, d := range deps {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		d.loadMu.Lock() // wait for a load in progress
		if ep := d.cur.Swap(nil); ep != nil {
			errs = append(errs, ep.Close(ctx))
		}
		d.loadMu.Unlock()
	}
	return errors.Join(errs...)
}

// initCtx sets up the context loads run under; m.mu must be held.
func (m *Manager) initCtx() {
	if m.ctx == nil {
		m.ctx, m.cancel = context.WithCancel(context.Background())
	}
}

func (m *Manager) get(name string) (*deployment, error) {
	m.mu.RLock()
	dep, ok := m.deps[name]
	m.mu.RUnlock()
	if !ok {
		return nil, lode.Errorf(lode.ENotFound, "model '%s' is not served", name)
	}
	return dep, nil
}

func (m *Manager) goLoad(dep *deployment) {
	dep.mu.Lock()
	if dep.pending {
		// A load is under way: have it look again when done, so a move
		// of the alias during a load is not missed.
		dep.again = true
		dep.mu.Unlock()
		return
	}
	dep.pending = true
	dep.mu.Unlock()
	m.mu.Lock()
	m.initCtx()
	base := m.ctx
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			ctx, cancel := context.WithTimeout(base, 30*time.Minute)
			if err := m.load(ctx, dep); err != nil {
				m.log().Error("deployment load failed", "deployment", dep.spec.Name, "model_uri", dep.spec.ModelURI, "err", err)
			}
			cancel()
			dep.mu.Lock()
			if !dep.again || base.Err() != nil {
				dep.pending, dep.again = false, false
				dep.mu.Unlock()
				return
			}
			dep.again = false
			dep.mu.Unlock()
		}
	}()
}

// load resolves the deployment's URI and, when it names something other
// than what is served, loads it, warms it, switches traffic to it and
// retires the old version once its requests have drained.
func (m *Manager) load(ctx context.Context, dep *deployment) error {
	dep.loadMu.Lock()
	defer dep.loadMu.Unlock()
	res, err := m.Source.Resolve(ctx, dep.ref)
	if err != nil {
		dep.setErr(err, dep.cur.Load() == nil)
		return err
	}
	key := res.Model + "\x00" + res.Version + "\x00" + res.Location
	dep.mu.Lock()
	same, closed := dep.key == key && dep.cur.Load() != nil, dep.closed
	if !same && !closed {
		dep.loading = res.Version
	}
	dep.mu.Unlock()
	if same || closed {
		return nil
	}
	start := time.Now()
	ep, err := m.open(ctx, dep.spec, res)
	dep.mu.Lock()
	dep.loading = ""
	dep.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("load %s version %s: %w", dep.spec.ModelURI, res.Version, err)
		dep.setErr(err, dep.cur.Load() == nil)
		return err
	}
	ep.LoadTime = time.Since(start)
	dep.mu.Lock()
	if dep.closed {
		dep.mu.Unlock()
		m.retire(ep)
		return nil
	}
	old := dep.cur.Swap(ep)
	dep.key, dep.lastErr, dep.failed = key, "", false
	dep.mu.Unlock()
	if old != nil {
		m.log().Info("switched deployment to a new version", "deployment", dep.spec.Name, "from", old.Version, "to", ep.Version, "load_seconds", ep.LoadTime.Seconds())
		go m.retire(old)
	} else {
		m.log().Info("deployment ready", "deployment", dep.spec.Name, "model", res.Model, "version", res.Version, "runtime", ep.Info().Runtime, "load_seconds", ep.LoadTime.Seconds())
	}
	return nil
}

// open fetches, loads and warms one model version.
func (m *Manager) open(ctx context.Context, d Deployment, res Resolved) (*Endpoint, error) {
	dir, err := m.Source.Fetch(ctx, res)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "MLmodel"))
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "no MLmodel file in the model's folder")
	}
	mm, err := mlmodel.Parse(f)
	f.Close()
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "%v", err)
	}
	rt, err := m.pick(d.Runtime, mm)
	if err != nil {
		return nil, err
	}
	sig, err := SignatureOf(mm)
	if err != nil {
		return nil, lode.Errorf(lode.EInvalid, "MLmodel %v", err)
	}
	workers := d.Workers
	model, err := rt.Load(ctx, dir, mm, LoadOptions{Name: d.Name, Version: res.Version, Workers: workers, Logger: m.log()})
	if err != nil {
		return nil, err
	}
	concurrency := workers
	if concurrency == 0 {
		concurrency = runtime.GOMAXPROCS(0)
		if rt.Name() == "python" {
			concurrency = 2
		}
	}
	// Queues are bounded by how long they take to drain: Python requests
	// take milliseconds each, ONNX ones tens of microseconds, so an ONNX
	// model may queue deeper before overload is declared.
	queue := d.MaxQueue
	if queue == 0 {
		queue = 8 * concurrency
		if rt.Name() != "python" {
			queue = 64 * concurrency
		}
	}
	ep := NewEndpoint(d.Name, res.Version, model, EndpointOptions{
		Concurrency: concurrency, Queue: queue,
		Timeout:   time.Duration(d.TimeoutMillis) * time.Millisecond,
		Signature: sig,
	})
	ep.Model, ep.Source = res.Model, res.Location
	warm(ctx, ep)
	return ep, nil
}

func (m *Manager) pick(want string, mm *mlmodel.Model) (Runtime, error) {
	if want == "" {
		return Pick(m.Runtimes, mm)
	}
	name := map[string]string{"onnx": "onnxruntime", "python": "python"}[want]
	for _, r := range m.Runtimes {
		if r.Name() == name {
			if !r.Supports(mm) {
				return nil, lode.Errorf(lode.EInvalid, "runtime %s cannot serve a model with flavors %v", want, mm.FlavorNames())
			}
			return r, nil
		}
	}
	return nil, lode.Errorf(lode.EInvalid, "runtime %s is not available on this server", want)
}

// warm runs one request through a tensor model so the first user request
// does not pay for lazy initialisation. Models it cannot build an input
// for are left cold.
func warm(ctx context.Context, ep *Endpoint) {
	info := ep.Info()
	if info.Tabular || len(info.Inputs) == 0 {
		return
	}
	in := &Input{}
	for _, s := range info.Inputs {
		t := Tensor{Name: s.Name, DType: s.DType}
		for _, d := range s.Shape {
			if d < 0 {
				d = 1
			}
			t.Shape = append(t.Shape, d)
		}
		n := Elements(t.Shape)
		if n > 1<<16 {
			return
		}
		switch s.DType {
		case FP32:
			t.Data = make([]float32, n)
		case FP64:
			t.Data = make([]float64, n)
		case Int64:
			t.Data = make([]int64, n)
		case Int32:
			t.Data = make([]int32, n)
		default:
			return
		}
		in.Tensors = append(in.Tensors, t)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _ = ep.model.Predict(wctx, in)
}

func (m *Manager) retire(ep *Endpoint) {
	<-ep.Retire()
	if err := ep.model.Close(); err != nil {
		m.log().Warn("closing a retired model version", "deployment", ep.Name, "version", ep.Version, "err", err)
	}
}

func (d *deployment) setErr(err error, failed bool) {
	d.mu.Lock()
	d.lastErr = lode.ErrorMessage(err)
	if lode.ErrorCode(err) == lode.EInternal {
		d.lastErr = err.Error()
	}
	d.failed = failed
	d.mu.Unlock()
}

func (d *deployment) status() DeploymentStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := DeploymentStatus{Deployment: d.spec, State: StateLoading, Loading: d.loading, Error: d.lastErr}
	if ep := d.cur.Load(); ep != nil {
		st.State, st.Model, st.Version, st.RuntimeName = StateAvailable, ep.Model, ep.Version, ep.Info().Runtime
		st.LoadedAt = ep.LoadedAt.UnixMilli()
		if st.Loading == ep.Version {
			st.Loading = ""
		}
	} else if d.failed {
		st.State = StateFailed
	}
	return st
}

// Lookup implements Catalog.
func (m *Manager) Lookup(name, version, label string) (*Endpoint, func(), error) {
	dep, err := m.get(name)
	if err != nil {
		return nil, nil, err
	}
	if label != "" {
		if dep.ref.Kind != RefRegistry {
			return nil, nil, lode.Errorf(lode.ENotFound, "model '%s' has no labels: it is not served from the registry", name)
		}
		res, err := m.Source.Resolve(context.Background(), Ref{Kind: RefRegistry, Name: dep.ref.Name, Alias: label})
		if err != nil {
			return nil, nil, lode.Errorf(lode.ENotFound, "label '%s' of model '%s' does not exist", label, name)
		}
		version = res.Version
	}
	for {
		ep := dep.cur.Load()
		if ep == nil {
			st := dep.status()
			if st.State == StateFailed {
				return nil, nil, lode.Errorf(lode.EUnavailable, "model '%s' failed to load: %s", name, st.Error)
			}
			return nil, nil, lode.Errorf(lode.EUnavailable, "model '%s' is loading", name)
		}
		if version != "" && version != ep.Version {
			return m.lookupVersion(name, dep, version)
		}
		if release, ok := ep.Acquire(); ok {
			return ep, release, nil
		}
		// Retired between Load and Acquire: the new version is in place.
	}
}

// lookupVersion finds another deployment of the same registered model that
// serves the asked version.
func (m *Manager) lookupVersion(name string, dep *deployment, version string) (*Endpoint, func(), error) {
	model := dep.ref.Name
	m.mu.RLock()
	var others []*deployment
	for _, d := range m.deps {
		if d != dep && model != "" && d.ref.Kind == RefRegistry && d.ref.Name == model {
			others = append(others, d)
		}
	}
	m.mu.RUnlock()
	for _, d := range others {
		if ep := d.cur.Load(); ep != nil && ep.Version == version {
			if release, ok := ep.Acquire(); ok {
				return ep, release, nil
			}
		}
	}
	return nil, nil, lode.Errorf(lode.ENotFound, "version %s of model '%s' is not served", version, name)
}

// Status implements Catalog.
func (m *Manager) Status(name string) ([]VersionStatus, error) {
	dep, err := m.get(name)
	if err != nil {
		return nil, err
	}
	st := dep.status()
	var out []VersionStatus
	if st.Version != "" {
		out = append(out, VersionStatus{Version: st.Version, State: StateAvailable})
	}
	if st.Loading != "" {
		out = append(out, VersionStatus{Version: st.Loading, State: StateLoading})
	}
	if len(out) == 0 {
		s := st.State
		out = append(out, VersionStatus{Version: "", State: s, Error: st.Error})
	}
	return out, nil
}

// Names implements Catalog.
func (m *Manager) Names() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.deps))
	for n := range m.deps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Ready implements Catalog: every deployment has a version available.
func (m *Manager) Ready() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, d := range m.deps {
		if d.cur.Load() == nil {
			return false
		}
	}
	return true
}
