package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/mlflowapi"
)

// osExit ends lode with a job's exit code (submit --follow).
var osExit = os.Exit

// jobPoll is how often a job's state is looked at while waiting on it.
const jobPoll = 250 * time.Millisecond

func newJobCmd() *cobra.Command {
	o := &modelsOpts{command: "lode job"}
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Run commands as jobs on a Lode server",
		Long: `Run commands as jobs on a ` + "`lode server`" + `: the server queues them, starts
them when the CPUs, memory and GPUs they ask for are free (all replicas of a
distributed job together), records each as a run in an experiment, keeps
their logs, and retries the ones that fail when asked to.

A job goes QUEUED → SCHEDULED → RUNNING → SUCCEEDED, FAILED or CANCELLED;
a failed job with retries left goes back to QUEUED.

The server is --tracking-uri, else $MLFLOW_TRACKING_URI, else ` + defaultTrackingURI + `.
Every command prints readable text, or JSON with --json.`,
		Example: `  lode job submit --cpus 2 --memory 4Gi -- python train.py --epochs 10
  lode job submit -f --gpus 1 -- 'python train.py | tee train.log'
  lode job list --state RUNNING --state QUEUED
  lode job show 3f2a...
  lode job logs -f 3f2a...
  lode job cancel 3f2a...`,
	}
	cmd.PersistentFlags().StringVar(&o.trackingURI, "tracking-uri", "", "Lode server URL")
	cmd.PersistentFlags().BoolVar(&o.json, "json", false, "print JSON")
	cmd.AddCommand(newJobSubmitCmd(o), newJobListCmd(o), newJobShowCmd(o), newJobLogsCmd(o), newJobCancelCmd(o))
	return cmd
}

func newJobSubmitCmd(o *modelsOpts) *cobra.Command {
	var (
		spec    jobs.Spec
		jf      jobFlags
		workdir string
		follow  bool
	)
	cmd := &cobra.Command{
		Use:   "submit [flags] -- COMMAND [ARG...]",
		Short: "Submit a command to run as a job",
		Long: `Submit a command to run as a job. The command runs under /bin/sh -c: one
argument is taken as a shell command line as it is (pipes, &&, $VARS work);
several are quoted so that each reaches the program as the word it is.
Flags go before the command; "--" ends them.

The job runs in --workdir (default: the current directory), sent to the
server as an absolute path: the server snapshots that directory when the job
is submitted, so later edits do not change what runs. With the local
executor the directory must exist on the server's machine — submitting from
another machine needs a --workdir that is there.

--memory takes a number with a unit: K, M, G, T are powers of 1000, Ki,
Mi, Gi, Ti powers of 1024 (as Kubernetes reads them); a trailing B is
allowed (512Mi, 2G, 1.5GiB). A number without a unit is bytes, and must be
at least 1048576 (1 MiB): --memory 5 is refused, not taken as 5 bytes.

The job gets MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and MLFLOW_EXPERIMENT_ID, so
mlflow calls in it log to the job's run; a distributed job (--replicas N) gets
MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, TF_CONFIG and a
hostfile (LODE_HOSTFILE), and CUDA_VISIBLE_DEVICES names each replica's GPUs.

With --follow, the log of rank 0 is printed as it is written until the job
ends, and lode exits with the job's exit code (1 when it ended without one).
Interrupting only stops following: the job keeps running.`,
		Example: `  lode job submit -- python train.py --lr 0.01
  lode job submit --name train --cpus 4 --memory 8Gi --gpus 1 -f -- python train.py
  lode job submit --replicas 2 --gpus 1 -- python ddp.py   # init_process_group(init_method="env://")
  lode job submit --env EPOCHS=5 --retries 2 --timeout 2h -- 'python train.py --epochs $EPOCHS'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if follow && o.json {
				return errors.New("--follow and --json do not go together")
			}
			if err := jf.apply(&spec); err != nil {
				return err
			}
			if workdir == "" {
				wd, err := os.Getwd()
				if err != nil {
					return fmt.Errorf("cannot find the current directory (give --workdir): %w", err)
				}
				workdir = wd
			}
			abs, err := filepath.Abs(workdir)
			if err != nil {
				return fmt.Errorf("--workdir %s: %w", workdir, err)
			}
			spec.WorkDir = abs
			spec.Command = commandLine(args)
			spec.User = currentUser()
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			j, err := c.SubmitJob(ctx, spec)
			if err != nil {
				return err
			}
			if !follow {
				return o.output(cmd, map[string]any{"job": j}, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "Submitted job %s (%s) to queue %s.\nFollow its log: lode job logs -f %s\n", j.ID, j.Spec.Name, j.Spec.Queue, j.ID)
					return err
				})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "lode: submitted job %s (%s)\n", j.ID, j.Spec.Name)
			return followToEnd(cmd, c, j.ID)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVar(&spec.Name, "name", "", "job name (default: the command's first word)")
	jf.register(f, &spec, "e")
	f.StringVar(&spec.ExperimentID, "experiment-id", "", "experiment the job's run is created in (default 0)")
	f.StringVar(&workdir, "workdir", "", "directory the job runs in, on the server's machine (default: the current directory)")
	f.BoolVarP(&follow, "follow", "f", false, "print rank 0's log until the job ends, then exit with its exit code")
	return cmd
}

// jobFlags are the flags `lode job submit` and `lode run` share: what a job
// asks for and how it is run.
type jobFlags struct {
	cpus    float64
	memory  string
	timeout time.Duration
	env     []string
}

// register adds the flags; envShort is --env's one-letter name ("" for
// none: -e is the entry point in `lode run`, as in `mlflow run`).
func (jf *jobFlags) register(f *pflag.FlagSet, spec *jobs.Spec, envShort string) {
	f.Float64Var(&jf.cpus, "cpus", 0, "CPU cores per replica, e.g. 0.5 or 4")
	f.StringVar(&jf.memory, "memory", "", "memory per replica, with K/M/G/T (×1000) or Ki/Mi/Gi/Ti (×1024), e.g. 512Mi, 2G (no unit: bytes, at least 1 MiB)")
	f.IntVar(&spec.Resources.GPUs, "gpus", 0, "whole GPUs per replica")
	f.IntVar(&spec.Replicas, "replicas", 1, "replicas of a distributed job; all start together or none do")
	f.IntVar(&spec.Priority, "priority", 0, "higher runs first")
	f.StringVar(&spec.Queue, "queue", "", "queue, for fair sharing between teams (default \"default\")")
	f.IntVar(&spec.MaxRetries, "retries", 0, "times a failed job is run again")
	f.DurationVar(&jf.timeout, "timeout", 0, "limit of each attempt, e.g. 90m (0: none)")
	f.StringArrayVarP(&jf.env, "env", envShort, nil, "environment variable NAME=VALUE (repeatable)")
}

// apply checks the flags and puts them in spec.
func (jf *jobFlags) apply(spec *jobs.Spec) error {
	if math.IsNaN(jf.cpus) || jf.cpus < 0 || jf.cpus > 1e12 {
		return fmt.Errorf("--cpus must be a number of cores, 0 or more, got %v", jf.cpus)
	}
	spec.Resources.MilliCPU = int64(math.Round(jf.cpus * 1000))
	if jf.memory != "" {
		m, err := parseMemory(jf.memory)
		if err != nil {
			return fmt.Errorf("--memory: %w", err)
		}
		spec.Resources.MemoryBytes = m
	}
	if jf.timeout < 0 {
		return fmt.Errorf("--timeout must not be negative, got %s", jf.timeout)
	}
	spec.Timeout = jf.timeout
	for _, kv := range jf.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--env %q: want NAME=VALUE", kv)
		}
		if spec.Env == nil {
			spec.Env = map[string]string{}
		}
		spec.Env[k] = v
	}
	return nil
}

// followToEnd prints rank 0's log until the job ends, then ends lode with
// the job's exit code.
func followToEnd(cmd *cobra.Command, c *mlflowapi.Client, id string) error {
	end, err := followJob(cmd.Context(), c, id, 0, cmd.OutOrStdout(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if code := jobExitCode(end); code != 0 {
		osExit(code)
	}
	return nil
}

func newJobListCmd(o *modelsOpts) *cobra.Command {
	var (
		q          jobs.Query
		states     []string
		maxResults int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Long: `List jobs, newest first. --state (repeatable, or comma-separated) keeps the
jobs in those states: QUEUED, SCHEDULED, RUNNING, SUCCEEDED, FAILED,
CANCELLED.`,
		Example: `  lode job list
  lode job list --state running,queued
  lode job list --queue research --max-results 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxResults < 0 {
				return fmt.Errorf("--max-results must be 0 (all) or more, got %d", maxResults)
			}
			for _, s := range states {
				q.States = append(q.States, jobs.State(strings.ToUpper(strings.TrimSpace(s))))
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			out := []*jobs.Job{}
			for {
				q.MaxResults = 100
				if maxResults > 0 && maxResults-len(out) < q.MaxResults {
					q.MaxResults = maxResults - len(out)
				}
				page, next, err := c.ListJobs(cmd.Context(), q)
				if err != nil {
					return err
				}
				out = append(out, page...)
				if next == "" || next == q.PageToken || (maxResults > 0 && len(out) >= maxResults) {
					break
				}
				q.PageToken = next
			}
			return o.output(cmd, map[string]any{"jobs": out}, func(w io.Writer) error {
				if len(out) == 0 {
					_, err := fmt.Fprintln(w, "No jobs.")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSTATE\tEXIT\tQUEUE\tUSER\tSUBMITTED\tREASON")
				for _, j := range out {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, oneLine(j.Spec.Name, 30), j.State, exitText(j.ExitCode),
						j.Spec.Queue, orDash(j.Spec.User), fmtTime(j.Submitted), orDash(oneLine(j.Reason, 60)))
				}
				return tw.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&states, "state", nil, "only jobs in this state (repeatable)")
	f.StringVar(&q.Queue, "queue", "", "only jobs of this queue")
	f.StringVar(&q.User, "user", "", "only jobs of this user")
	f.IntVar(&maxResults, "max-results", 100, "show at most this many jobs (0: all)")
	return cmd
}

func newJobShowCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a job: what it runs, where, its state and history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			j, err := c.GetJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.output(cmd, map[string]any{"job": j}, func(w io.Writer) error { return jobDetail(w, j) })
		},
	}
}

func newJobLogsCmd(o *modelsOpts) *cobra.Command {
	var (
		follow        bool
		rank, attempt int
	)
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a job's log (stdout and stderr of one replica)",
		Long: `Print the log of one replica of a job: stdout and stderr as written,
interleaved. --rank picks the replica of a distributed job (default 0),
--attempt an earlier attempt of a retried job (default the latest).

With -f the log is printed as it is written until the job ends, following
it into its retries when no --attempt is given; interrupting only stops
following.`,
		Example: `  lode job logs 3f2a...
  lode job logs -f 3f2a...
  lode job logs --rank 1 --attempt 2 3f2a...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rank < 0 || attempt < 0 {
				return errors.New("--rank and --attempt must not be negative")
			}
			if follow && o.json {
				return errors.New("--follow and --json do not go together")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx, id := cmd.Context(), args[0]
			switch {
			case follow && attempt == 0:
				_, err := followJob(ctx, c, id, rank, cmd.OutOrStdout(), cmd.ErrOrStderr())
				return err
			case follow:
				return stillRunning(ctx, id, c.JobLogs(ctx, id, attempt, rank, 0, true, cmd.OutOrStdout()))
			case o.json:
				var b strings.Builder
				if err := c.JobLogs(ctx, id, attempt, rank, 0, false, &b); err != nil {
					return err
				}
				return o.output(cmd, map[string]any{"id": id, "attempt": attempt, "rank": rank, "log": b.String()}, nil)
			}
			return c.JobLogs(ctx, id, attempt, rank, 0, false, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "print the log as it is written until the job ends")
	f.IntVar(&rank, "rank", 0, "replica of a distributed job")
	f.IntVar(&attempt, "attempt", 0, "attempt of a retried job (0: the latest)")
	return cmd
}

func newJobCancelCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a job",
		Long: `Cancel a job. A queued job is cancelled at once; a running one when its
processes have stopped (SIGTERM to each replica's process group, then
SIGKILL after a grace period).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			j, err := c.CancelJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.output(cmd, map[string]any{"job": j}, func(w io.Writer) error {
				if j.State == jobs.Cancelled {
					_, err := fmt.Fprintf(w, "Cancelled job %s.\n", j.ID)
					return err
				}
				_, err := fmt.Fprintf(w, "Cancelling job %s (it was %s): its processes are being stopped.\n", j.ID, j.State)
				return err
			})
		},
	}
}

// followJob prints the log of rank of a job to w as it is written, through
// the job's retries, until the job ends, and returns the job as it ended.
// Changes of the job's state are noted on status.
func followJob(ctx context.Context, c *mlflowapi.Client, id string, rank int, w, status io.Writer) (*jobs.Job, error) {
	attempt := 0 // the attempt whose log is being printed
	var offset int64
	// read prints the attempt's log from offset on: following it while it
	// runs, else what is left of it.
	read := func(follow bool) (int64, error) {
		cw := &countWriter{w: w}
		err := c.JobLogs(ctx, id, attempt, rank, offset, follow, cw)
		offset += cw.n
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return cw.n, ctx.Err()
		case lode.ErrorCode(err) == lode.ENotFound || lode.ErrorCode(err) == lode.EInvalidState:
			// Not written yet, or the job moved on meanwhile.
		default:
			return cw.n, err
		}
		return cw.n, nil
	}
	lastNote := ""
	for {
		j, err := c.GetJob(ctx, id)
		if err != nil {
			return nil, stillRunning(ctx, id, err)
		}
		note := string(j.State)
		if j.Reason != "" {
			note += " (" + j.Reason + ")"
		}
		// Waits are noted as they begin; the end after the last of the log.
		if note != lastNote && j.State != jobs.Running && !j.State.Final() {
			fmt.Fprintf(status, "lode: job %s %s\n", id, note)
		}
		lastNote = note
		var got int64
		if attempt > 0 && j.Attempt != attempt {
			// The attempt printed so far has ended: print what is left.
			if got, err = read(false); err != nil {
				return nil, stillRunning(ctx, id, err)
			}
		}
		if j.Attempt != attempt && j.Attempt > 0 && j.State != jobs.Scheduled {
			if attempt > 0 {
				fmt.Fprintf(status, "lode: job %s attempt %d\n", id, j.Attempt)
			}
			attempt, offset = j.Attempt, 0
		}
		if attempt == j.Attempt && attempt > 0 && j.State != jobs.Scheduled {
			// Running: follow it. Queued again for a retry, or ended: the
			// attempt's log is complete; print the rest.
			n, err := read(j.State == jobs.Running)
			if err != nil {
				return nil, stillRunning(ctx, id, err)
			}
			got += n
		}
		if j.State.Final() {
			fmt.Fprintf(status, "lode: job %s %s\n", id, note)
			return j, nil
		}
		if got == 0 {
			select {
			case <-ctx.Done():
				return nil, stillRunning(ctx, id, ctx.Err())
			case <-time.After(jobPoll):
			}
		}
	}
}

// stillRunning turns an interruption of following into a note that the job
// goes on.
func stillRunning(ctx context.Context, id string, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("stopped following job %s; it goes on (lode job cancel %s stops it)", id, id)
	}
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// jobExitCode is the status lode exits with after following a job: 0 when
// it succeeded, its exit code when it has one (1 when that does not fit a
// process status), else 1.
func jobExitCode(j *jobs.Job) int {
	if j.State == jobs.Succeeded {
		return 0
	}
	if j.ExitCode != nil && *j.ExitCode > 0 && *j.ExitCode < 256 {
		return *j.ExitCode
	}
	return 1
}

// commandLine makes the shell command of a job from its arguments: one is a
// command line as it is, several are quoted word by word.
func commandLine(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = shellQuote(a)
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for /bin/sh when it holds anything but safe
// characters.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%^", r)
	}
	if strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// memoryUnits are --memory's units, lower-cased, without a trailing "b".
var memoryUnits = map[string]float64{
	"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
	"ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40,
}

// minBareMemory is the least amount of memory a number without a unit
// may ask for: below it, "--memory 5" is surely 5 GiB mistyped, not 5
// bytes, and is refused rather than taken at its word.
const minBareMemory = 1 << 20

// parseMemory reads an amount of memory: bytes, or a number with a unit:
// K, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024), case
// aside, with an optional trailing B ("512Mi", "2G", "1.5GiB", "100B").
// A number without any unit is bytes, and must be 0 or at least a MiB.
func parseMemory(s string) (int64, error) {
	n, err := parseMemoryBytes(s)
	if err != nil {
		return 0, err
	}
	t := strings.TrimSpace(s)
	if bare := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }) < 0; bare && n > 0 && n < minBareMemory {
		return 0, fmt.Errorf("%q has no unit and would be %d bytes: did you mean %sGi (or %sG)?", s, n, t, t)
	}
	return n, nil
}

func parseMemoryBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%q is not an amount of memory (e.g. 512Mi, 2G)", s)
	}
	if u, ok := strings.CutSuffix(unit, "b"); ok {
		unit = u
	}
	mult, ok := memoryUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (use K, M, G, T or Ki, Mi, Gi, Ti)", s, strings.TrimSpace(t[i:]))
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || (mult > 1 && n > math.MaxInt64/int64(mult)) {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return n * int64(mult), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an amount of memory (e.g. 512Mi, 2G)", s)
	}
	v := math.Round(f * mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

// formatMemory writes bytes with a binary unit.
func formatMemory(b int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b >= u.size {
			v := math.Round(float64(b)/float64(u.size)*100) / 100
			return strconv.FormatFloat(v, 'f', -1, 64) + " " + u.name
		}
	}
	return strconv.FormatInt(b, 10) + " B"
}

func resourcesText(r jobs.Resources) string {
	var parts []string
	if r.MilliCPU > 0 {
		parts = append(parts, strconv.FormatFloat(float64(r.MilliCPU)/1000, 'f', -1, 64)+" CPUs")
	}
	if r.MemoryBytes > 0 {
		parts = append(parts, formatMemory(r.MemoryBytes)+" memory")
	}
	if r.GPUs > 0 {
		parts = append(parts, strconv.Itoa(r.GPUs)+" GPUs")
	}
	if len(parts) == 0 {
		return "none asked"
	}
	return strings.Join(parts, ", ")
}

func exitText(code *int) string {
	if code == nil {
		return "-"
	}
	return strconv.Itoa(*code)
}

// jobDetail writes everything about one job.
func jobDetail(w io.Writer, j *jobs.Job) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	sp := j.Spec
	state := string(j.State)
	if j.Reason != "" {
		state += " (" + j.Reason + ")"
	}
	timeout := "none"
	if sp.Timeout > 0 {
		timeout = sp.Timeout.String() + " per attempt"
	}
	fmt.Fprintf(tw, "ID:\t%s\n", j.ID)
	fmt.Fprintf(tw, "Name:\t%s\n", sp.Name)
	fmt.Fprintf(tw, "State:\t%s\n", state)
	if j.Waiting != "" {
		fmt.Fprintf(tw, "Waiting:\t%s\n", j.Waiting)
	}
	fmt.Fprintf(tw, "Command:\t%s\n", sp.Command)
	fmt.Fprintf(tw, "Work dir:\t%s\n", orDash(sp.WorkDir))
	fmt.Fprintf(tw, "Resources:\t%s per replica, %d replica(s)\n", resourcesText(sp.Resources), max(sp.Replicas, 1))
	fmt.Fprintf(tw, "Queue:\t%s\n", sp.Queue)
	fmt.Fprintf(tw, "Priority:\t%d\n", sp.Priority)
	fmt.Fprintf(tw, "User:\t%s\n", orDash(sp.User))
	fmt.Fprintf(tw, "Attempt:\t%d of at most %d\n", j.Attempt, sp.MaxRetries+1)
	fmt.Fprintf(tw, "Timeout:\t%s\n", timeout)
	fmt.Fprintf(tw, "Experiment:\t%s\n", orDash(sp.ExperimentID))
	fmt.Fprintf(tw, "Run:\t%s\n", orDash(j.RunID))
	fmt.Fprintf(tw, "Exit code:\t%s\n", exitText(j.ExitCode))
	fmt.Fprintf(tw, "Submitted:\t%s\n", fmtTime(j.Submitted))
	if j.Placement != nil && len(j.Placement.Replicas) > 0 {
		for i, r := range j.Placement.Replicas {
			label := ""
			if i == 0 {
				label = "Placement:"
			}
			where := r.Node
			if len(r.GPUIDs) > 0 {
				where += " (GPUs " + strings.Join(r.GPUIDs, ",") + ")"
			}
			fmt.Fprintf(tw, "%s\trank %d on %s\n", label, i, where)
		}
	} else {
		fmt.Fprintf(tw, "Placement:\t-\n")
	}
	writeMap := func(title string, m map[string]string) {
		if len(m) == 0 {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			label := ""
			if i == 0 {
				label = title
			}
			fmt.Fprintf(tw, "%s\t%s=%s\n", label, k, m[k])
		}
	}
	writeMap("Env:", sp.Env)
	writeMap("Tags:", sp.Tags)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nHistory:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tSTATE\tREASON")
	for _, h := range j.History {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", fmtTime(h.Time), h.State, orDash(h.Reason))
	}
	return tw.Flush()
}
