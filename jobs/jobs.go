// Package jobs is Lode's job system without its transports or stores: what
// a job is, the states it moves through, the scheduling policy that decides
// which queued jobs run where (pure and deterministic), and the Executor
// interface that local processes (localexec) and, later, Kubernetes
// implement.
package jobs

import (
	"context"
	"io"
	"strconv"
	"time"
)

// State is a job's lifecycle state.
type State string

// The states of a job. Queued → Scheduled → Running → one of the three
// final states; a job may also be cancelled or fail from Queued or
// Scheduled. A job retried after a failure goes back to Queued.
const (
	Queued    State = "QUEUED"
	Scheduled State = "SCHEDULED"
	Running   State = "RUNNING"
	Succeeded State = "SUCCEEDED"
	Failed    State = "FAILED"
	Cancelled State = "CANCELLED"
)

// Final reports whether s is a final state.
func (s State) Final() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Resources is what one replica of a job asks for, or what a node has.
type Resources struct {
	// MilliCPU is CPU in thousandths of a core (1500 = 1.5 cores).
	MilliCPU int64 `json:"milli_cpu"`
	// MemoryBytes is memory in bytes.
	MemoryBytes int64 `json:"memory_bytes"`
	// GPUs is a count of whole GPUs, assigned exclusively.
	GPUs int `json:"gpus"`
}

// Fits reports whether r fits within free.
func (r Resources) Fits(free Resources) bool {
	return r.MilliCPU <= free.MilliCPU && r.MemoryBytes <= free.MemoryBytes && r.GPUs <= free.GPUs
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU + o.MilliCPU, MemoryBytes: r.MemoryBytes + o.MemoryBytes, GPUs: r.GPUs + o.GPUs}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU - o.MilliCPU, MemoryBytes: r.MemoryBytes - o.MemoryBytes, GPUs: r.GPUs - o.GPUs}
}

// Scale returns r × n (a job's total over its replicas).
func (r Resources) Scale(n int) Resources {
	return Resources{MilliCPU: r.MilliCPU * int64(n), MemoryBytes: r.MemoryBytes * int64(n), GPUs: r.GPUs * n}
}

// Spec is what a user submits.
type Spec struct {
	Name string `json:"name"`
	// Command is run by /bin/sh -c in WorkDir.
	Command string            `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	// WorkDir is the snapshot of the code the job was submitted with.
	WorkDir   string    `json:"work_dir,omitempty"`
	Resources Resources `json:"resources"`
	// Replicas > 1 makes a distributed job: all replicas start together
	// or none do (gang scheduling).
	Replicas int `json:"replicas"`
	// Priority: higher runs first.
	Priority int `json:"priority"`
	// Queue groups jobs for fair sharing ("default" when empty).
	Queue string `json:"queue"`
	// User is who the job says it is for, shown in listings and used for
	// fair sharing; without authentication it is whatever the submitter
	// wrote.
	User string `json:"user,omitempty"`
	// Owner is the signed-in user who submitted the job, set by the server
	// only when it authenticates (never from a request): the job's
	// permissions (cancelling it, seeing its env values) and the token
	// each attempt gets are theirs. A job submitted while the server ran
	// open has none, and runs without a token once authentication is on:
	// its user is a name anyone could have written.
	Owner string `json:"owner,omitempty"`
	// MaxRetries is how many times a failed job is run again.
	MaxRetries int `json:"max_retries"`
	// Timeout bounds each attempt (0: none).
	Timeout time.Duration `json:"timeout_ns,omitempty"`
	// ExperimentID is where the job's run is created.
	ExperimentID string `json:"experiment_id,omitempty"`
	// Tags are set on the job's run (MLflow Projects record their source,
	// entry point and commit this way).
	Tags map[string]string `json:"tags,omitempty"`
	// Params are logged on the job's run when it is created (an MLflow
	// Project's entry point parameters).
	Params map[string]string `json:"params,omitempty"`
	// PythonEnv, when set, is the Python virtual environment the job runs
	// in: the executor builds it (or finds it built) before the command
	// starts, and the command finds its python and pip first on PATH.
	PythonEnv *PythonEnv `json:"python_env,omitempty"`
}

// Experiment is the id of the experiment the job's run belongs to ("0",
// the Default experiment, when the spec names none).
func (s Spec) Experiment() string {
	if s.ExperimentID == "" {
		return "0"
	}
	// The tracking store reads "01" as experiment 1: so do the job's
	// listing scope and its permission.
	if n, err := strconv.ParseInt(s.ExperimentID, 10, 64); err == nil && n >= 0 {
		return strconv.FormatInt(n, 10)
	}
	return s.ExperimentID
}

// PythonEnv is a virtual environment as MLflow's python_env.yaml
// describes one. Requirement lines may name files (-r requirements.txt),
// relative to the job's working directory.
type PythonEnv struct {
	// Python is the version asked for ("3.11"); the executor's
	// interpreter is used, with a warning when it differs.
	Python            string   `json:"python,omitempty"`
	BuildDependencies []string `json:"build_dependencies,omitempty"`
	Dependencies      []string `json:"dependencies,omitempty"`
}

// Transition is one state change, with when and why.
type Transition struct {
	State  State  `json:"state"`
	Time   int64  `json:"timestamp_ms"`
	Reason string `json:"reason,omitempty"`
}

// Job is a submitted job and where it stands.
type Job struct {
	ID      string       `json:"id"`
	Spec    Spec         `json:"spec"`
	State   State        `json:"state"`
	Reason  string       `json:"reason,omitempty"`
	History []Transition `json:"history"`
	// Attempt counts runs, from 1.
	Attempt int `json:"attempt"`
	// RunID is the tracking run the job logs to.
	RunID string `json:"run_id,omitempty"`
	// Placement is where the current attempt runs.
	Placement *Placement `json:"placement,omitempty"`
	ExitCode  *int       `json:"exit_code,omitempty"`
	Submitted int64      `json:"submitted_ms"`
	// Handles are the executor's IDs of the current attempt's replicas,
	// by rank, so a restarted server can re-adopt them.
	Handles []string `json:"handles,omitempty"`
	// Waiting says why a queued job has not started, as the scheduler's
	// last pass saw it (short of GPUs, behind other jobs, waiting to
	// retry). The service fills it in when it answers; it is not stored.
	Waiting string `json:"waiting,omitempty"`
}

// Node is a machine jobs run on, with what it has.
type Node struct {
	Name string
	// Addr is how replicas on other nodes reach this one (the rendezvous
	// address); "" means 127.0.0.1.
	Addr     string
	Capacity Resources
	// GPUIDs name the node's GPUs (as CUDA_VISIBLE_DEVICES takes them);
	// len(GPUIDs) == Capacity.GPUs.
	GPUIDs []string
}

// Placement is where each replica of a job runs.
type Placement struct {
	Replicas []ReplicaPlacement `json:"replicas"`
}

// ReplicaPlacement is one replica's node and GPUs.
type ReplicaPlacement struct {
	Node   string   `json:"node"`
	GPUIDs []string `json:"gpu_ids,omitempty"`
}

// Launch is one replica of a job attempt handed to an Executor.
type Launch struct {
	JobID   string
	Attempt int
	Rank    int
	Spec    Spec
	Node    string
	GPUIDs  []string
	// Env is the whole environment the process gets on top of Spec.Env:
	// tracking, rendezvous and device variables.
	Env map[string]string
	// Hostfile, for a distributed job, lists the replicas' hosts with
	// their slots as Horovod and MPI read it ("127.0.0.1 slots=2"); the
	// executor writes it to a file named by LODE_HOSTFILE.
	Hostfile string
}

// Handle is a started replica.
type Handle interface {
	// ID identifies the process to the executor across restarts (for the
	// local executor: pid and start time).
	ID() string
	// Wait blocks until the replica exits and returns its exit code; an
	// error means the exit could not be observed.
	Wait(ctx context.Context) (int, error)
	// Kill ends the replica and everything it started.
	Kill() error
}

// Executor starts replicas. A Kubernetes executor implements it too;
// nothing in the scheduler assumes local processes.
type Executor interface {
	Start(ctx context.Context, l Launch) (Handle, error)
	// Adopt reattaches to a replica started before a restart, by the ID its
	// Handle reported; ok is false when it no longer runs.
	Adopt(ctx context.Context, id string) (h Handle, ok bool, err error)
	// Logs opens a replica's stdout and stderr, interleaved, from offset.
	Logs(jobID string, attempt, rank int, offset int64) (io.ReadCloser, error)
}

// allowed lists the moves between states.
var allowed = map[State][]State{
	Queued:    {Scheduled, Cancelled, Failed},
	Scheduled: {Running, Queued, Cancelled, Failed},
	Running:   {Succeeded, Failed, Cancelled, Queued},
}

// CanMove reports whether a job may go from one state to another. Running
// and Scheduled may go back to Queued (a retry, or a replica that could
// not start); final states are final.
func CanMove(from, to State) bool {
	for _, s := range allowed[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Move records a state change with its time (ms) and reason, or refuses
// one CanMove does not allow.
func (j *Job) Move(to State, now int64, reason string) error {
	if !CanMove(j.State, to) {
		return &MoveError{From: j.State, To: to}
	}
	j.State, j.Reason = to, reason
	j.History = append(j.History, Transition{State: to, Time: now, Reason: reason})
	return nil
}

// MoveError is a refused state change.
type MoveError struct{ From, To State }

func (e *MoveError) Error() string {
	return "job cannot go from " + string(e.From) + " to " + string(e.To)
}
