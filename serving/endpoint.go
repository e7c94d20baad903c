package serving

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lode-ml/lode"
)

// Endpoint is one loaded model version as requests see it: the model
// behind its signature check, admission control and timeout. Requests
// hold a reference while they use it; once it is retired (its
// deployment moved to another version) it closes the model after the last
// request in flight has finished.
type Endpoint struct {
	// Name is the served model's name (the deployment's name).
	Name string
	// Version is the model version it serves ("1" for a folder).
	Version string
	// Model is the registered model name, "" when not from the registry.
	Model string
	// Source is where the model was loaded from.
	Source string
	// LoadTime is how long loading and warming took.
	LoadTime time.Duration
	// LoadedAt is when it became ready.
	LoadedAt time.Time

	model   Model
	info    Info
	sig     *Signature
	limiter *Limiter
	timeout time.Duration

	mu      sync.Mutex
	refs    int
	retired bool
	drained chan struct{}
}

// EndpointOptions bound how an endpoint admits requests.
type EndpointOptions struct {
	// Concurrency is how many requests run at once (default 1).
	Concurrency int
	// Queue is how many more may wait (default 8 × Concurrency).
	Queue int
	// Timeout bounds each request, waiting included (default 30s).
	Timeout time.Duration
	// Signature is the model's MLflow signature, checked before the model
	// sees a request (nil: check against what the runtime reports).
	Signature *Signature
}

// NewEndpoint wraps a loaded model.
func NewEndpoint(name, version string, m Model, o EndpointOptions) *Endpoint {
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.Queue == 0 {
		o.Queue = 8 * o.Concurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	return &Endpoint{
		Name: name, Version: version, LoadedAt: time.Now(),
		model: m, info: m.Info(), sig: o.Signature,
		limiter: NewLimiter(o.Concurrency, o.Queue), timeout: o.Timeout,
		drained: make(chan struct{}),
	}
}

// Info describes the model.
func (e *Endpoint) Info() Info { return e.info }

// Signature is the model's MLflow signature, nil when it has none.
func (e *Endpoint) Signature() *Signature { return e.sig }

// Limiter is the endpoint's admission control (for metrics).
func (e *Endpoint) Limiter() *Limiter { return e.limiter }

// Predict checks in against the signature, waits for a slot and runs the
// model, all within the endpoint's timeout.
func (e *Endpoint) Predict(ctx context.Context, in *Input) (*Output, error) {
	if err := CheckInput(e.sig, e.info, in); err != nil {
		return nil, err
	}
	in = conform(e.sig, in)
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	release, err := e.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	out, err := e.model.Predict(ctx, in)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && lode.ErrorCode(err) == lode.EInternal {
		return nil, lode.Errorf(lode.EDeadline, "model %s version %s did not answer within %s", e.Name, e.Version, e.timeout)
	}
	return out, err
}

// acquire takes a reference; false once the endpoint is retired.
func (e *Endpoint) acquire() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.retired {
		return false
	}
	e.refs++
	return true
}

func (e *Endpoint) release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refs--
	if e.retired && e.refs == 0 {
		close(e.drained)
	}
}

// Acquire takes a reference for one request, for callers that found the
// endpoint without a Catalog; ok is false once it is retired.
func (e *Endpoint) Acquire() (release func(), ok bool) {
	if !e.acquire() {
		return nil, false
	}
	return e.release, true
}

// Retire stops new requests from taking the endpoint and returns a channel
// closed when those in flight have finished.
func (e *Endpoint) Retire() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.retired {
		e.retired = true
		if e.refs == 0 {
			close(e.drained)
		}
	}
	return e.drained
}

// Close retires the endpoint, waits for requests in flight (up to ctx)
// and closes the model.
func (e *Endpoint) Close(ctx context.Context) error {
	select {
	case <-e.Retire():
	case <-ctx.Done():
	}
	return e.model.Close()
}

// State is a served version's lifecycle state, as TF Serving names them.
type State string

// The states of a served model version.
const (
	StateLoading   State = "LOADING"
	StateAvailable State = "AVAILABLE"
	StateUnloading State = "UNLOADING"
	StateFailed    State = "FAILED"
)

// VersionStatus is one version of a served model and its state.
type VersionStatus struct {
	Version string
	State   State
	Error   string
}

// Catalog is what the protocols see of the server: the models it serves.
type Catalog interface {
	// Lookup finds the endpoint for a model, optionally at a version or
	// a label (a registry alias). The caller must call release when its
	// request is done. Errors: ENotFound for unknown models or versions,
	// EUnavailable while a model is still loading.
	Lookup(name, version, label string) (ep *Endpoint, release func(), err error)
	// Status lists the versions of a model and their states.
	Status(name string) ([]VersionStatus, error)
	// Names lists the served models.
	Names() []string
	// Ready reports whether every served model has a version available.
	Ready() bool
}
