package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lode-ml/lode"
)

// Tracker is what the job service needs of experiment tracking: a run per
// job whose status follows the job's, and the job's logs and resource
// usage recorded on it.
type Tracker interface {
	// CreateRun creates a run in SCHEDULED state, with tags and params,
	// and returns its id; an empty name gets a generated one.
	CreateRun(ctx context.Context, experimentID, name string, tags, params map[string]string) (string, error)
	// SetRunStatus sets a run's status (RUNNING, FINISHED, FAILED, KILLED).
	// startMs, when not 0, moves the run's start time to when its job
	// started (the run was created at submission); endMs is 0 for a run
	// that has not ended.
	SetRunStatus(ctx context.Context, runID, status string, startMs, endMs int64) error
	// LogMetrics logs metrics at one step and time.
	LogMetrics(ctx context.Context, runID string, ms, step int64, metrics map[string]float64) error
	// PutArtifact stores a file under the run's artifacts.
	PutArtifact(ctx context.Context, runID, path string, open func() (io.ReadCloser, error)) error
}

// Usage is a replica's resource use at one moment.
type Usage struct {
	CPUSeconds     float64
	RSSBytes       int64
	GPUUtilization float64
	GPUMemoryBytes int64
}

// Sampler is implemented by executors that can measure their replicas.
type Sampler interface {
	SampleUsage(h Handle) (Usage, error)
}

// ExitRecorder is implemented by executors that keep the exit code of a
// replica that ended while the server was down.
type ExitRecorder interface {
	RecordedExit(id string) (code int, ok bool, err error)
}

// Service runs jobs: it admits them, schedules them on the nodes with the
// policy, starts their replicas through the executor, follows them to the
// end, retries failures, and keeps the store and the job's run current.
type Service struct {
	Store   Store
	Exec    Executor
	Tracker Tracker
	// Nodes reports the capacity jobs run on.
	Nodes  []Node
	Policy Policy
	// TrackingURI is given to jobs as MLFLOW_TRACKING_URI.
	TrackingURI string
	// TrackingCertPath, when set, is given to jobs as
	// MLFLOW_TRACKING_SERVER_CERT_PATH: the certificate an https
	// TrackingURI is verified with.
	TrackingCertPath string
	// FreePort returns a free TCP port for a distributed job's rendezvous.
	FreePort func() (int, error)
	// Snapshot copies a job's working directory at submission, so the job
	// runs the code it was submitted with; it returns the copy's path.
	Snapshot func(ctx context.Context, src, jobID string) (string, error)
	// Credentials, when set, gives each attempt its own credentials before
	// it starts and takes them back when it ends.
	Credentials Credentials
	// Readable restricts listings to the jobs of the experiments their
	// caller may read (nil: no restriction).
	Readable lode.ReadableFunc
	Logger   *slog.Logger
	// Tick is how often the queue is looked at without an event (1 s);
	// SampleEvery how often running jobs' usage is logged (10 s).
	Tick        time.Duration
	SampleEvery time.Duration
	// RetryBackoff is the wait before the first retry (1 s), doubled per
	// attempt up to a minute.
	RetryBackoff time.Duration
	Now          func() time.Time

	mu      sync.Mutex
	active  map[string]*tracked
	wake    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
	started bool
}

// Credentials are what an attempt of a job calls back to the server
// with: Issue returns environment variables for its replicas (a token in
// MLFLOW_TRACKING_TOKEN that acts for the job's submitter), Revoke makes
// them worthless once the attempt has ended.
type Credentials interface {
	Issue(ctx context.Context, j *Job) (map[string]string, error)
	Revoke(ctx context.Context, j *Job)
}

// tracked is a job the service is responsible for, with what only memory
// holds: its replicas' handles and when it may be retried.
type tracked struct {
	job       *Job
	handles   []Handle
	notBefore time.Time
	cancel    bool
	// waiting is why the job, queued, has not started (Job.Waiting).
	waiting string
}

// view is the job as the service answers it: a copy, with why it waits.
func (t *tracked) view() *Job {
	j := clone(t.job)
	if j.State == Queued {
		j.Waiting = t.waiting
	}
	return j
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runNameTag is the run tag MLflow keeps a run's name in.
const runNameTag = "mlflow.runName"

// Submit validates a job, refuses one that can never fit, creates its run
// and queues it.
func (s *Service) Submit(ctx context.Context, spec Spec) (*Job, error) {
	named := strings.TrimSpace(spec.Name) != "" // before validate gives it a default
	if err := s.validate(&spec); err != nil {
		return nil, err
	}
	probe := Pending{JobID: "probe", Queue: spec.Queue, Resources: spec.Resources, Replicas: spec.Replicas}
	if d := Schedule(s.Nodes, nil, []Pending{probe}, s.Policy); len(d.Refuse) > 0 {
		return nil, lode.Errorf(lode.EInvalid, "job can never run here: %s", d.Refuse[0].Reason)
	}
	now := s.now().UnixMilli()
	id := newID()
	if spec.WorkDir != "" && s.Snapshot != nil {
		dir, err := s.Snapshot(ctx, spec.WorkDir, id)
		if err != nil {
			return nil, err
		}
		spec.WorkDir = dir
	}
	j := &Job{ID: id, Spec: spec, State: Queued, Submitted: now,
		History: []Transition{{State: Queued, Time: now, Reason: "submitted"}}}
	if s.Tracker != nil {
		tags := map[string]string{"lode.job.id": j.ID, "mlflow.source.type": "JOB", "mlflow.source.name": spec.Command}
		if spec.User != "" {
			tags["mlflow.user"] = spec.User
		}
		for k, v := range spec.Tags {
			tags[k] = v
		}
		if spec.Owner != "" {
			// The run (its user_id comes from this tag) is its owner's,
			// whatever the job's user or tags say.
			tags["mlflow.user"] = spec.Owner
		}
		// The run is named by its mlflow.runName tag, else by the name the
		// submitter gave the job; a job named by default (its command's
		// first word) leaves its run to get a generated name, as MLflow
		// names a run created without one, rather than every run of a
		// command sharing "python".
		runName := ""
		if named && tags[runNameTag] == "" {
			runName = spec.Name
		}
		runID, err := s.Tracker.CreateRun(ctx, spec.ExperimentID, runName, tags, spec.Params)
		if err != nil {
			return nil, err
		}
		j.RunID = runID
	}
	if err := s.Store.CreateJob(ctx, j); err != nil {
		return nil, err
	}
	out := clone(j)
	s.mu.Lock()
	if s.active == nil {
		s.active = map[string]*tracked{}
	}
	s.active[j.ID] = &tracked{job: j}
	s.mu.Unlock()
	s.poke()
	return out, nil
}

func (s *Service) validate(spec *Spec) error {
	if strings.TrimSpace(spec.Command) == "" {
		return lode.Errorf(lode.EInvalid, "a job needs a command")
	}
	if spec.Replicas == 0 {
		spec.Replicas = 1
	}
	if spec.Queue == "" {
		spec.Queue = DefaultQueue
	}
	if spec.ExperimentID == "" {
		spec.ExperimentID = "0"
	}
	if spec.Name == "" {
		spec.Name = firstWord(spec.Command)
	}
	switch {
	case spec.Replicas < 1 || spec.Replicas > 1024:
		return lode.Errorf(lode.EInvalid, "replicas must be between 1 and 1024, got %d", spec.Replicas)
	case spec.Resources.MilliCPU < 0 || spec.Resources.MemoryBytes < 0 || spec.Resources.GPUs < 0:
		return lode.Errorf(lode.EInvalid, "resources must not be negative")
	case spec.MaxRetries < 0 || spec.MaxRetries > 100:
		return lode.Errorf(lode.EInvalid, "max_retries must be between 0 and 100, got %d", spec.MaxRetries)
	case spec.Timeout < 0:
		return lode.Errorf(lode.EInvalid, "timeout must not be negative")
	case len(spec.Command) > 64<<10:
		return lode.Errorf(lode.EInvalid, "command longer than 64 KiB")
	}
	for k := range spec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return lode.Errorf(lode.EInvalid, "invalid environment variable name '%s'", k)
		}
	}
	if e := spec.PythonEnv; e != nil {
		lines := append(append([]string{e.Python}, e.BuildDependencies...), e.Dependencies...)
		if len(lines) > 1000 {
			return lode.Errorf(lode.EInvalid, "python_env has more than 1000 dependencies")
		}
		for i, l := range lines {
			switch {
			case len(l) > 4096:
				return lode.Errorf(lode.EInvalid, "python_env: a dependency longer than 4 KiB")
			case strings.ContainsAny(l, "\n\r\x00"):
				return lode.Errorf(lode.EInvalid, "python_env: a dependency holds a line break: %q", l)
			case i > 0 && strings.TrimSpace(l) == "":
				return lode.Errorf(lode.EInvalid, "python_env: an empty dependency")
			}
		}
	}
	return nil
}

func firstWord(cmd string) string {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return "job"
	}
	w := f[0]
	if i := strings.LastIndexByte(w, '/'); i >= 0 {
		w = w[i+1:]
	}
	return w
}

func clone(j *Job) *Job {
	b, _ := json.Marshal(j)
	var c Job
	json.Unmarshal(b, &c)
	return &c
}

// Get returns a job.
func (s *Service) Get(ctx context.Context, id string) (*Job, error) {
	s.mu.Lock()
	if t, ok := s.active[id]; ok {
		j := t.view()
		s.mu.Unlock()
		return j, nil
	}
	s.mu.Unlock()
	return s.Store.GetJob(ctx, id)
}

// List lists jobs, newest first.
func (s *Service) List(ctx context.Context, q Query) ([]*Job, string, error) {
	var err error
	if q.Experiments, err = s.Readable.Readable(ctx, "experiment"); err != nil {
		return nil, "", err
	}
	js, next, err := s.Store.ListJobs(ctx, q)
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	for _, j := range js {
		if t, ok := s.active[j.ID]; ok && j.State == Queued && t.job.State == Queued {
			j.Waiting = t.waiting
		}
	}
	s.mu.Unlock()
	return js, next, nil
}

// Cancel cancels a job: a queued one at once, a running one by killing its
// replicas (the job ends CANCELLED when they are gone).
func (s *Service) Cancel(ctx context.Context, id string) (*Job, error) {
	s.mu.Lock()
	t, ok := s.active[id]
	if !ok {
		s.mu.Unlock()
		j, err := s.Store.GetJob(ctx, id)
		if err != nil {
			return nil, err
		}
		return j, lode.Errorf(lode.EInvalidState, "job %s has already ended (%s)", id, j.State)
	}
	t.cancel = true
	if t.job.State == Queued {
		s.finishLocked(ctx, t, Cancelled, "cancelled while queued", nil)
		j := clone(t.job)
		s.mu.Unlock()
		return j, nil
	}
	handles := append([]Handle(nil), t.handles...)
	j := clone(t.job)
	s.mu.Unlock()
	for _, h := range handles {
		go h.Kill()
	}
	return j, nil
}

// Start recovers jobs a previous server left active and starts the
// scheduling loop.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("jobs: service already started")
	}
	s.started = true
	if s.active == nil {
		s.active = map[string]*tracked{}
	}
	s.wake = make(chan struct{}, 1)
	s.stop = make(chan struct{})
	stop := s.stop
	s.mu.Unlock()
	js, err := s.Store.ActiveJobs(ctx)
	if err != nil {
		return err
	}
	for _, j := range js {
		s.recover(ctx, j)
	}
	tick := s.Tick
	if tick <= 0 {
		tick = time.Second
	}
	s.wg.Add(1)
	go s.loop(tick, stop)
	if _, ok := s.Exec.(Sampler); ok && s.Tracker != nil {
		s.wg.Add(1)
		go s.sampleLoop(stop)
	}
	return nil
}

// recover re-adopts the replicas of a job that was running when the last
// server stopped, or ends it with the reason it cannot be followed.
func (s *Service) recover(ctx context.Context, j *Job) {
	t := &tracked{job: j}
	s.mu.Lock()
	s.active[j.ID] = t
	s.mu.Unlock()
	switch j.State {
	case Queued:
		return
	case Scheduled:
		// Replicas may or may not have started: kill what did and queue
		// the job again.
		for _, id := range j.Handles {
			if h, ok, _ := s.Exec.Adopt(ctx, id); ok {
				h.Kill()
			}
		}
		s.mu.Lock()
		j.Handles, j.Placement = nil, nil
		s.moveLocked(ctx, t, Queued, "requeued after a server restart before it started")
		s.mu.Unlock()
		return
	}
	var handles []Handle
	lost := 0
	for _, id := range j.Handles {
		h, ok, err := s.Exec.Adopt(ctx, id)
		if err != nil || !ok {
			lost++
			continue
		}
		handles = append(handles, h)
	}
	if lost == 0 && len(handles) == len(j.Handles) && len(handles) > 0 {
		s.log().Info("re-adopted running job", "job", j.ID, "replicas", len(handles))
		t.handles = handles
		s.wg.Add(1)
		go s.watch(t, handles)
		return
	}
	// Some replica is gone: its recorded exit code says how it ended.
	codes := make([]int, 0, len(j.Handles))
	if rec, ok := s.Exec.(ExitRecorder); ok && len(handles) == 0 {
		for _, id := range j.Handles {
			if c, ok, err := rec.RecordedExit(id); err == nil && ok {
				codes = append(codes, c)
			}
		}
	}
	for _, h := range handles {
		h.Kill()
	}
	s.uploadLogs(ctx, j)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(codes) == len(j.Handles) && len(codes) > 0 {
		s.endAttemptLocked(ctx, t, codes, false, "")
		return
	}
	s.finishLocked(ctx, t, Failed, "lost: its processes were gone after a server restart and no exit code was recorded", nil)
}

// Close stops the loop; running jobs keep running (a restarted server
// re-adopts them).
func (s *Service) Close() {
	s.mu.Lock()
	if s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) loop(tick time.Duration, stop <-chan struct{}) {
	defer s.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		s.pass()
		select {
		case <-stop:
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// pass runs the policy once and starts what it decides.
func (s *Service) pass() {
	ctx := context.Background()
	s.mu.Lock()
	var running []Allocation
	var queued []Pending
	now := s.now()
	for _, t := range s.active {
		j := t.job
		switch j.State {
		case Scheduled, Running:
			if j.Placement != nil {
				running = append(running, Allocation{JobID: j.ID, Queue: j.Spec.Queue, User: j.Spec.User,
					Priority: j.Spec.Priority, Resources: j.Spec.Resources, Placement: *j.Placement})
			}
		case Queued:
			if now.Before(t.notBefore) {
				t.waiting = "waiting to retry after a failed attempt, from " + t.notBefore.UTC().Format(time.TimeOnly) + " UTC"
				continue
			}
			if len(s.Nodes) == 0 {
				t.waiting = "waiting for a node: this server has none to run jobs on"
			}
			queued = append(queued, Pending{JobID: j.ID, Queue: j.Spec.Queue, User: j.Spec.User, Priority: j.Spec.Priority,
				Resources: j.Spec.Resources, Replicas: j.Spec.Replicas, Submitted: j.Submitted})
		}
	}
	if len(queued) == 0 {
		s.mu.Unlock()
		return
	}
	d := Schedule(s.Nodes, running, queued, s.Policy)
	for _, w := range d.Wait {
		if t := s.active[w.JobID]; t != nil {
			t.waiting = w.Reason
		}
	}
	for _, r := range d.Refuse {
		if t := s.active[r.JobID]; t != nil {
			s.finishLocked(ctx, t, Failed, "can never run here: "+r.Reason, nil)
		}
	}
	var starts []*tracked
	for _, a := range d.Start {
		t := s.active[a.JobID]
		if t == nil {
			continue
		}
		p := a.Placement
		t.waiting = ""
		t.job.Placement = &p
		t.job.Attempt++
		s.moveLocked(ctx, t, Scheduled, fmt.Sprintf("attempt %d placed on %s", t.job.Attempt, placementText(p)))
		starts = append(starts, t)
	}
	s.mu.Unlock()
	for _, t := range starts {
		s.launch(ctx, t)
	}
}

func placementText(p Placement) string {
	parts := make([]string, len(p.Replicas))
	for i, r := range p.Replicas {
		parts[i] = r.Node
		if len(r.GPUIDs) > 0 {
			parts[i] += " (GPUs " + strings.Join(r.GPUIDs, ",") + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// launch starts every replica of a scheduled job, or none: a replica that
// fails to start kills those already started and fails the attempt.
func (s *Service) launch(ctx context.Context, t *tracked) {
	s.mu.Lock()
	j := clone(t.job)
	s.mu.Unlock()
	env, hostfile, err := s.replicaEnv(j)
	if err == nil && s.Credentials != nil {
		var creds map[string]string
		if creds, err = s.Credentials.Issue(ctx, j); err != nil {
			err = fmt.Errorf("credentials: %w", err)
		}
		for _, e := range env {
			for k, v := range creds {
				e[k] = v
			}
		}
	}
	var handles []Handle
	if err == nil {
		for rank := range j.Placement.Replicas {
			var h Handle
			h, err = s.Exec.Start(ctx, s.launchFor(j, rank, env[rank], hostfile))
			if err != nil {
				err = fmt.Errorf("replica %d: %w", rank, err)
				break
			}
			handles = append(handles, h)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		for _, h := range handles {
			go h.Kill()
		}
		if s.Credentials != nil {
			s.Credentials.Revoke(ctx, j)
		}
		s.log().Error("job failed to start", "job", j.ID, "err", err)
		s.finishLocked(ctx, t, Failed, "could not start: "+err.Error(), nil)
		return
	}
	t.handles = handles
	t.job.Handles = make([]string, len(handles))
	for i, h := range handles {
		t.job.Handles[i] = h.ID()
	}
	s.moveLocked(ctx, t, Running, fmt.Sprintf("attempt %d started", t.job.Attempt))
	if s.Tracker != nil && t.job.RunID != "" {
		// The run's duration counts from its job's first start, not from
		// the submission that created it; a retry keeps that start.
		var start int64
		if h := t.job.History; t.job.Attempt == 1 && len(h) > 0 && h[len(h)-1].State == Running {
			start = h[len(h)-1].Time
		}
		if err := s.Tracker.SetRunStatus(ctx, t.job.RunID, "RUNNING", start, 0); err != nil {
			s.log().Warn("cannot mark the job's run running", "job", j.ID, "run", j.RunID, "err", err)
		}
	}
	if t.cancel {
		for _, h := range handles {
			go h.Kill()
		}
	}
	s.wg.Add(1)
	go s.watch(t, handles)
}

func (s *Service) launchFor(j *Job, rank int, env map[string]string, hostfile string) Launch {
	r := j.Placement.Replicas[rank]
	return Launch{JobID: j.ID, Attempt: j.Attempt, Rank: rank, Spec: j.Spec, Node: r.Node, GPUIDs: r.GPUIDs, Env: env, Hostfile: hostfile}
}

// replicaEnv is each replica's environment: tracking, devices and, for a
// distributed job, the rendezvous of torch.distributed, TensorFlow and
// Horovod/MPI.
func (s *Service) replicaEnv(j *Job) ([]map[string]string, string, error) {
	n := len(j.Placement.Replicas)
	out := make([]map[string]string, n)
	addr := func(node string) string {
		for _, nd := range s.Nodes {
			if nd.Name == node && nd.Addr != "" {
				return nd.Addr
			}
		}
		return "127.0.0.1"
	}
	var ports []int
	if n > 1 {
		if s.FreePort == nil {
			return nil, "", errors.New("no way to pick rendezvous ports")
		}
		for i := 0; i < n; i++ {
			p, err := s.FreePort()
			if err != nil {
				return nil, "", err
			}
			ports = append(ports, p)
		}
	}
	localRank := map[string]int{}
	workers := make([]string, n)
	for i, r := range j.Placement.Replicas {
		if n > 1 {
			workers[i] = addr(r.Node) + ":" + strconv.Itoa(ports[i])
		}
	}
	hosts := map[string]int{}
	var hostOrder []string
	for _, r := range j.Placement.Replicas {
		a := addr(r.Node)
		if hosts[a] == 0 {
			hostOrder = append(hostOrder, a)
		}
		hosts[a]++
	}
	var hostfile strings.Builder
	for _, h := range hostOrder {
		fmt.Fprintf(&hostfile, "%s slots=%d\n", h, hosts[h])
	}
	for i, r := range j.Placement.Replicas {
		env := map[string]string{
			"LODE_JOB_ID":          j.ID,
			"LODE_JOB_ATTEMPT":     strconv.Itoa(j.Attempt),
			"CUDA_VISIBLE_DEVICES": CUDAVisibleDevices(r.GPUIDs),
			"CUDA_DEVICE_ORDER":    "PCI_BUS_ID",
		}
		if j.RunID != "" {
			env["MLFLOW_RUN_ID"] = j.RunID
			env["MLFLOW_EXPERIMENT_ID"] = j.Spec.ExperimentID
		}
		if s.TrackingURI != "" {
			env["MLFLOW_TRACKING_URI"] = s.TrackingURI
		}
		if s.TrackingCertPath != "" {
			env["MLFLOW_TRACKING_SERVER_CERT_PATH"] = s.TrackingCertPath
		}
		if n > 1 {
			tfConfig, _ := json.Marshal(map[string]any{
				"cluster": map[string]any{"worker": workers},
				"task":    map[string]any{"type": "worker", "index": i},
			})
			env["MASTER_ADDR"] = addr(j.Placement.Replicas[0].Node)
			env["MASTER_PORT"] = strconv.Itoa(ports[0])
			env["WORLD_SIZE"] = strconv.Itoa(n)
			env["RANK"] = strconv.Itoa(i)
			env["LOCAL_RANK"] = strconv.Itoa(localRank[r.Node])
			env["LOCAL_WORLD_SIZE"] = strconv.Itoa(hosts[addr(r.Node)])
			env["TF_CONFIG"] = string(tfConfig)
		}
		localRank[r.Node]++
		out[i] = env
	}
	if n == 1 {
		return out, "", nil
	}
	return out, hostfile.String(), nil
}

// watch waits for an attempt's replicas. When one fails the others are
// killed (a distributed job cannot go on without a rank); a timeout kills
// them all. A replica's exit does not end it: whatever it left running in
// the background is killed too, and the attempt ends only once every
// process of it is gone, so its resources are free when the scheduler
// reuses them. When the service stops, watch returns and the replicas run
// on, for the next server to re-adopt.
func (s *Service) watch(t *tracked, handles []Handle) {
	defer s.wg.Done()
	s.mu.Lock()
	timeout := t.job.Spec.Timeout
	stop := s.stop
	s.mu.Unlock()
	if stop == nil {
		return // closed meanwhile: the next server re-adopts the replicas
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var timer <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(timeout)
		defer tm.Stop()
		timer = tm.C
	}
	type exit struct {
		rank, code int
		err        error
	}
	exits := make(chan exit, len(handles))
	for i, h := range handles {
		go func() {
			c, err := h.Wait(ctx)
			if ctx.Err() == nil {
				h.Kill() // what the replica left behind
			}
			exits <- exit{i, c, err}
		}()
	}
	codes := make([]int, len(handles))
	timedOut, killing := false, false
	var kills sync.WaitGroup
	killAll := func() {
		if killing {
			return
		}
		killing = true
		for _, h := range handles {
			kills.Add(1)
			go func() {
				defer kills.Done()
				h.Kill()
			}()
		}
	}
	// The first replica to fail on its own (not one killed for it) gives
	// the attempt its exit code and reason.
	failRank, failCode := -1, 0
	for left := len(handles); left > 0; {
		select {
		case e := <-exits:
			left--
			code := e.code
			if e.err != nil && code == 0 {
				code = -1
			}
			codes[e.rank] = code
			if code != 0 {
				if failRank < 0 && !killing {
					failRank, failCode = e.rank, code
				}
				killAll()
			}
		case <-timer:
			timedOut = true
			killAll()
		case <-stop:
			return
		}
	}
	kills.Wait()
	// The logs are copied to the run before the lock is taken: the copy
	// is I/O, and submissions and other jobs' ends wait on the lock.
	s.mu.Lock()
	ended := clone(t.job)
	s.mu.Unlock()
	s.uploadLogs(ctx, ended)
	s.mu.Lock()
	defer s.mu.Unlock()
	why := ""
	switch {
	case timedOut:
		why = fmt.Sprintf("timed out after %s", timeout)
	case failRank >= 0 && len(handles) > 1:
		why = fmt.Sprintf("rank %d exited with code %d", failRank, failCode)
	}
	if failRank >= 0 {
		// Put the first failure first: its code is the attempt's.
		codes = append([]int{failCode}, codes...)
	}
	s.endAttemptLocked(ctx, t, codes, t.cancel, why)
	s.poke()
}

// endAttemptLocked decides how an attempt ended: success, cancellation,
// a retry, or failure. The caller has stored the attempt's logs.
func (s *Service) endAttemptLocked(ctx context.Context, t *tracked, codes []int, cancelled bool, why string) {
	j := t.job
	worst := 0
	for _, c := range codes {
		if c != 0 && worst == 0 {
			worst = c
		}
	}
	t.handles = nil
	if s.Credentials != nil {
		s.Credentials.Revoke(ctx, j)
	}
	code := worst
	switch {
	case cancelled:
		s.finishLocked(ctx, t, Cancelled, "cancelled", &code)
	case worst == 0 && why == "":
		s.finishLocked(ctx, t, Succeeded, "all replicas exited 0", &code)
	default:
		if why == "" {
			why = fmt.Sprintf("exit code %d", worst)
		}
		if j.Attempt <= j.Spec.MaxRetries {
			backoff := s.RetryBackoff
			if backoff <= 0 {
				backoff = time.Second
			}
			backoff <<= min(j.Attempt-1, 6)
			backoff = min(backoff, time.Minute)
			t.notBefore = s.now().Add(backoff)
			j.ExitCode, j.Placement, j.Handles = &code, nil, nil
			s.moveLocked(ctx, t, Queued, fmt.Sprintf("attempt %d failed (%s); retry %d of %d in %s", j.Attempt, why, j.Attempt, j.Spec.MaxRetries, backoff))
			return
		}
		s.finishLocked(ctx, t, Failed, why, &code)
	}
}

// uploadLogs stores the attempt's replica logs as run artifacts.
func (s *Service) uploadLogs(ctx context.Context, j *Job) {
	if s.Tracker == nil || j.RunID == "" || j.Placement == nil {
		return
	}
	for rank := range j.Placement.Replicas {
		rank := rank
		p := fmt.Sprintf("lode-logs/attempt-%d/rank-%d.log", j.Attempt, rank)
		err := s.Tracker.PutArtifact(ctx, j.RunID, p, func() (io.ReadCloser, error) {
			return s.Exec.Logs(j.ID, j.Attempt, rank, 0)
		})
		if err != nil {
			s.log().Warn("cannot store a job's log on its run", "job", j.ID, "rank", rank, "err", err)
		}
	}
}

// moveLocked changes a job's state and stores it; s.mu is held.
func (s *Service) moveLocked(ctx context.Context, t *tracked, to State, reason string) {
	if err := t.job.Move(to, s.now().UnixMilli(), reason); err != nil {
		s.log().Error("job state", "job", t.job.ID, "err", err)
		return
	}
	if err := s.Store.UpdateJob(ctx, t.job); err != nil {
		s.log().Error("cannot store a job's state", "job", t.job.ID, "state", to, "err", err)
	}
	s.log().Info("job "+strings.ToLower(string(to)), "job", t.job.ID, "reason", reason)
}

// finishLocked ends a job in a final state and ends its run.
func (s *Service) finishLocked(ctx context.Context, t *tracked, to State, reason string, code *int) {
	t.job.ExitCode = code
	s.moveLocked(ctx, t, to, reason)
	delete(s.active, t.job.ID)
	if s.Tracker != nil && t.job.RunID != "" {
		status := map[State]string{Succeeded: "FINISHED", Failed: "FAILED", Cancelled: "KILLED"}[to]
		if err := s.Tracker.SetRunStatus(ctx, t.job.RunID, status, 0, s.now().UnixMilli()); err != nil {
			s.log().Warn("cannot end the job's run", "job", t.job.ID, "run", t.job.RunID, "err", err)
		}
	}
}

// sampleLoop logs running jobs' resource use as system metrics on their
// runs, as MLflow's system metrics are named.
func (s *Service) sampleLoop(stop <-chan struct{}) {
	defer s.wg.Done()
	every := s.SampleEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	sampler := s.Exec.(Sampler)
	tk := time.NewTicker(every)
	defer tk.Stop()
	steps := map[string]int64{}
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		type sample struct {
			runID   string
			handles []Handle
		}
		var due []sample
		s.mu.Lock()
		for _, t := range s.active {
			if t.job.State == Running && t.job.RunID != "" && len(t.handles) > 0 {
				due = append(due, sample{t.job.RunID, append([]Handle(nil), t.handles...)})
			}
		}
		s.mu.Unlock()
		sort.Slice(due, func(a, b int) bool { return due[a].runID < due[b].runID })
		for _, sm := range due {
			var u Usage
			for _, h := range sm.handles {
				x, err := sampler.SampleUsage(h)
				if err != nil {
					continue
				}
				u.CPUSeconds += x.CPUSeconds
				u.RSSBytes += x.RSSBytes
				u.GPUMemoryBytes += x.GPUMemoryBytes
				u.GPUUtilization += x.GPUUtilization / float64(len(sm.handles))
			}
			m := map[string]float64{
				"system/cpu_seconds":          u.CPUSeconds,
				"system/memory_rss_megabytes": float64(u.RSSBytes) / (1 << 20),
			}
			if u.GPUMemoryBytes > 0 || u.GPUUtilization > 0 {
				m["system/gpu_utilization_percentage"] = u.GPUUtilization
				m["system/gpu_memory_usage_megabytes"] = float64(u.GPUMemoryBytes) / (1 << 20)
			}
			step := steps[sm.runID]
			steps[sm.runID]++
			if err := s.Tracker.LogMetrics(context.Background(), sm.runID, s.now().UnixMilli(), step, m); err != nil {
				s.log().Debug("cannot log system metrics", "run", sm.runID, "err", err)
			}
		}
	}
}

// Follower is implemented by executors that can stream a replica's log
// while it runs.
type Follower interface {
	Follow(ctx context.Context, jobID string, attempt, rank int, offset int64, w io.Writer) error
}

// Logs writes a replica's log from offset to w: of attempt (0: the
// latest) and rank. With follow, it keeps writing until the replica ends.
func (s *Service) Logs(ctx context.Context, id string, attempt, rank int, offset int64, follow bool, w io.Writer) error {
	j, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if attempt <= 0 {
		attempt = j.Attempt
	}
	switch {
	case attempt == 0:
		return lode.Errorf(lode.EInvalidState, "job %s has not started yet", id)
	case attempt > j.Attempt:
		return lode.Errorf(lode.EInvalid, "job %s has had %d attempts", id, j.Attempt)
	case rank < 0 || rank >= max(j.Spec.Replicas, 1):
		return lode.Errorf(lode.EInvalid, "job %s has ranks 0 to %d", id, max(j.Spec.Replicas, 1)-1)
	case offset < 0:
		return lode.Errorf(lode.EInvalid, "offset must not be negative")
	}
	if f, ok := s.Exec.(Follower); ok && follow {
		return f.Follow(ctx, id, attempt, rank, offset, w)
	}
	rc, err := s.Exec.Logs(id, attempt, rank, offset)
	if err != nil {
		return lode.Errorf(lode.ENotFound, "no log for job %s attempt %d rank %d", id, attempt, rank)
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}
