package pyfunc

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	lode "github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

// Supervision timings.
const (
	stopGrace    = 5 * time.Second // SIGTERM to SIGKILL on Close
	minBackoff   = 100 * time.Millisecond
	maxBackoff   = 10 * time.Second
	healthyAfter = 10 * time.Second // a worker up this long restarts without delay
)

// modelConfig is what a model's workers are started with.
type modelConfig struct {
	name    string // for messages: "name version N"
	dir     string // the model's folder
	workDir string // the workers' working directory, removed on Close
	python  string
	script  string
	env     []string // the workers' whole environment
	workers int
	timeout time.Duration
	info    serving.Info
	binary  map[string]bool
	log     *slog.Logger
}

// model is a loaded python_function model: a pool of worker processes,
// each supervised by a goroutine that feeds it one request at a time and
// restarts it when it dies.
type model struct {
	cfg            modelConfig
	python, mlflow string

	reqs      chan *request // taken by idle workers
	ctx       context.Context
	cancel    context.CancelFunc // Close
	wg        sync.WaitGroup
	closeOnce sync.Once

	failing atomic.Int32 // workers that failed to restart since last ready
	mu      sync.Mutex
	lastErr error
	procs   map[*proc]struct{} // running workers
}

type request struct {
	ctx   context.Context
	ct    string
	body  []byte
	reply chan result // buffered: a worker never blocks on it
}

type result struct {
	out *serving.Output
	err error
}

var _ serving.Model = (*model)(nil)

// startModel starts cfg.workers workers at once and returns when all have
// loaded the model, or with the first failure (after stopping the rest).
func startModel(ctx context.Context, cfg modelConfig) (*model, error) {
	// Workers run in a scratch folder: what a model (or mlflow, which may
	// create ./mlruns) writes there stays out of the model's folder.
	work, err := os.MkdirTemp("", "lode-pyfunc-")
	if err != nil {
		return nil, lode.Internal(err, "cannot create the Python workers' folder")
	}
	cfg.workDir = work
	m := &model{cfg: cfg, reqs: make(chan *request), procs: map[*proc]struct{}{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	type started struct {
		p   *proc
		err error
	}
	ch := make(chan started, cfg.workers)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range cfg.workers {
		go func() {
			p, err := spawn(sctx, &m.cfg)
			ch <- started{p, err}
		}()
	}
	var procs []*proc
	var firstErr error
	for range cfg.workers {
		s := <-ch
		if s.err != nil {
			if firstErr == nil {
				firstErr = s.err
				cancel() // stop the others' loading
			}
			continue
		}
		procs = append(procs, s.p)
	}
	if firstErr != nil {
		for _, p := range procs {
			p.stop(0)
		}
		m.cancel()
		os.RemoveAll(work)
		return nil, firstErr
	}
	m.python, m.mlflow = procs[0].python, procs[0].mlflow
	for _, p := range procs {
		m.track(p, true)
		m.wg.Add(1)
		go m.supervise(p)
	}
	return m, nil
}

// Info describes the model from its signature.
func (m *model) Info() serving.Info { return m.cfg.info }

// Predict hands the request to the next idle worker and waits for its
// answer. If ctx ends first, the request fails with DEADLINE_EXCEEDED and
// the worker running it, if any, is killed and restarted.
func (m *model) Predict(ctx context.Context, in *serving.Input) (*serving.Output, error) {
	body, ct, err := encodeInput(in, m.cfg.binary)
	if err != nil {
		return nil, err
	}
	if m.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.cfg.timeout)
		defer cancel()
	}
	if m.ctx.Err() != nil {
		return nil, lode.Errorf(lode.EUnavailable, "model %s is closed", m.cfg.name)
	}
	if n := m.failing.Load(); int(n) >= m.cfg.workers {
		m.mu.Lock()
		err := m.lastErr
		m.mu.Unlock()
		return nil, lode.Errorf(lode.EUnavailable, "model %s has no running worker: %s", m.cfg.name, lode.ErrorMessage(err))
	}
	req := &request{ctx: ctx, ct: ct, body: body, reply: make(chan result, 1)}
	select {
	case m.reqs <- req:
	case <-ctx.Done():
		return nil, ctxError(ctx, "waiting for a free model worker")
	case <-m.ctx.Done():
		return nil, lode.Errorf(lode.EUnavailable, "model %s is closed", m.cfg.name)
	}
	select {
	case r := <-req.reply:
		return r.out, r.err
	case <-ctx.Done():
		return nil, ctxError(ctx, "the model was predicting")
	}
}

// Close stops the workers (SIGTERM, then SIGKILL after a grace period)
// and returns once they have exited.
func (m *model) Close() error {
	m.cancel()
	m.wg.Wait()
	m.closeOnce.Do(func() { os.RemoveAll(m.cfg.workDir) })
	return nil
}

// pids lists the running workers' process ids.
func (m *model) pids() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var pids []int
	for p := range m.procs {
		pids = append(pids, p.pid)
	}
	return pids
}

func (m *model) track(p *proc, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if on {
		m.procs[p] = struct{}{}
	} else {
		delete(m.procs, p)
	}
}

// why a worker stopped serving.
type stopReason int

const (
	closing stopReason = iota // the model is closing
	crashed                   // the process died or misbehaved
	killed                    // Lode killed it over a request's context
)

// supervise serves requests with p and its successors until Close.
func (m *model) supervise(p *proc) {
	defer m.wg.Done()
	var delay time.Duration
	for {
		up := time.Now()
		why := m.serve(p)
		p.stop(stopGrace)
		m.track(p, false)
		if why == closing || m.ctx.Err() != nil {
			return
		}
		switch {
		case why == killed:
			delay = 0
		case time.Since(up) > healthyAfter || delay == 0:
			delay = minBackoff
		default:
			delay = min(2*delay, maxBackoff)
		}
		if why == crashed {
			p.log.Warn("python worker exited; restarting it", "status", exitStatus(p.exitErr), "in", delay)
		} else {
			p.log.Info("python worker killed as its request ended; restarting it")
		}
		if p = m.restart(&delay); p == nil {
			return
		}
	}
}

// restart starts a replacement worker after delay, retrying with a
// growing delay until one loads the model or the model closes.
func (m *model) restart(delay *time.Duration) *proc {
	failed := false
	defer func() {
		if failed {
			m.failing.Add(-1)
		}
	}()
	for {
		t := time.NewTimer(*delay)
		select {
		case <-t.C:
		case <-m.ctx.Done():
			t.Stop()
			return nil
		}
		p, err := spawn(m.ctx, &m.cfg)
		if err == nil {
			m.track(p, true)
			p.log.Info("python worker restarted")
			return p
		}
		if m.ctx.Err() != nil {
			return nil
		}
		m.mu.Lock()
		m.lastErr = err
		m.mu.Unlock()
		if !failed {
			failed = true
			m.failing.Add(1)
		}
		*delay = min(max(2**delay, minBackoff), maxBackoff)
		m.cfg.log.Error("cannot restart python worker", "err", lode.ErrorMessage(err), "retry_in", *delay)
	}
}

// serve feeds p requests until it dies, a request's context kills it, or
// the model closes.
func (m *model) serve(p *proc) stopReason {
	var seq uint64
	for {
		select {
		case <-m.ctx.Done():
			return closing
		case f, ok := <-p.frames:
			if ok {
				p.log.Error("python worker sent an unrequested frame; restarting it", "type", f.Type)
			}
			return crashed
		case req := <-m.reqs:
			seq++
			res, why, alive := m.handle(p, req, seq)
			req.reply <- res
			if !alive {
				return why
			}
		}
	}
}

// handle runs one request on p. alive is false when p must not be used
// again, and why says why.
func (m *model) handle(p *proc, req *request, id uint64) (res result, why stopReason, alive bool) {
	if err := req.ctx.Err(); err != nil {
		return result{err: ctxError(req.ctx, "waiting for a free model worker")}, 0, true
	}
	stop := context.AfterFunc(req.ctx, p.kill)
	werr := writeFrame(p.stdin, header{Type: "predict", ID: id, ContentType: req.ct}, req.body)
	var f frame
	var ok bool
	if werr == nil {
		select {
		case f, ok = <-p.frames:
		case <-m.ctx.Done():
			stop()
			return result{err: lode.Errorf(lode.EUnavailable, "model %s is closing", m.cfg.name)}, closing, false
		}
	}
	if !stop() {
		// The context ended and p was killed: whatever it answered is moot.
		return result{err: ctxError(req.ctx, "the model was predicting")}, killed, false
	}
	if werr != nil || !ok {
		select {
		case <-p.exited:
		case <-time.After(2 * time.Second):
		}
		status := "still running"
		select {
		case <-p.exited:
			status = exitStatus(p.exitErr)
		default:
		}
		return result{err: lode.Errorf(lode.EUnavailable, "model worker exited while predicting (%s); it is being restarted", status)}, crashed, false
	}
	if f.ID != id {
		p.log.Error("python worker answered another request", "want", id, "got", f.ID)
		return result{err: lode.Errorf(lode.EInternal, "model worker answered out of turn")}, crashed, false
	}
	switch f.Type {
	case "result":
		return result{out: &serving.Output{Predictions: predictions(f.body, f.Unwrapped)}}, 0, true
	case "error":
		err := workerError(f.header)
		p.log.Info("prediction failed", "code", lode.ErrorCode(err), "err", truncate(f.Message, 2000), "traceback", f.Traceback)
		return result{err: err}, 0, true
	}
	p.log.Error("python worker sent an unknown frame", "type", f.Type)
	return result{err: lode.Errorf(lode.EInternal, "model worker sent an unknown answer")}, crashed, false
}

// predictions is the value under "predictions" in MLflow's answer, or the
// whole answer when MLflow did not wrap it (unified LLM inputs).
func predictions(body []byte, unwrapped bool) json.RawMessage {
	body = bytes.TrimSpace(body)
	if unwrapped {
		return body
	}
	// predictions_to_json writes exactly this; slicing keeps the value as
	// MLflow wrote it (NaN included) without parsing it.
	const prefix = `{"predictions": `
	if bytes.HasPrefix(body, []byte(prefix)) && bytes.HasSuffix(body, []byte("}")) {
		return bytes.TrimSpace(body[len(prefix) : len(body)-1])
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(body, &v); err == nil {
		if p, ok := v["predictions"]; ok {
			return p
		}
	}
	return body
}

// workerError turns a worker's error answer into Lode's error, keeping
// MLflow's error code (Lode's codes are MLflow's) or, for a code Lode does
// not know, the one for its HTTP status.
func workerError(h header) error {
	code := h.Code
	switch code {
	case lode.EInvalid, lode.ENotFound, lode.EExists, lode.EInternal, lode.EPermission,
		lode.EUnauthenticated, lode.EBadRequest, lode.EInvalidState, lode.ENotImplemented,
		lode.ETooLarge, lode.EEndpointNotFound, lode.EUnavailable, lode.EOverloaded, lode.EDeadline:
	default:
		switch {
		case h.Status == 401:
			code = lode.EUnauthenticated
		case h.Status == 403:
			code = lode.EPermission
		case h.Status == 404:
			code = lode.ENotFound
		case h.Status == 429:
			code = lode.EOverloaded
		case h.Status == 503:
			code = lode.EUnavailable
		case h.Status == 504:
			code = lode.EDeadline
		case h.Status >= 400 && h.Status < 500:
			code = lode.EBadRequest
		default:
			code = lode.EInternal
		}
	}
	return lode.Errorf(code, "%s", h.Message)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
