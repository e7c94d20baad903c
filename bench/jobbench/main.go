// Command jobbench is the load generator of the job launch-overhead
// benchmark (bench/jobs.sh, docs/benchmarks.md). It starts no server: it
// talks to a Lode server already running on this machine over its REST
// API, and measures how long a job takes from its submit request to its
// process running, against the floor of starting the same commands with
// `xargs -P` on the same machine.
//
//	jobbench freeport                  print a free 127.0.0.1 port
//	jobbench wait -url URL [-pid PID]  wait until the server answers
//	jobbench run -url URL [flags]      measure, print the tables
//
// run measures, in this order:
//
//  1. a few unmeasured jobs through each, to warm up both;
//  2. one at a time: -one jobs, each submitted once the last has ended, so
//     that a job's latency is the server's alone, not queueing behind
//     other jobs; the same commands through xargs, one at a time;
//  3. a burst: -jobs jobs submitted back to back by -submitters clients,
//     and its wall time from the first submit sent to the last job
//     SUCCEEDED; the same commands handed to xargs all at once, and its
//     wall time until xargs exited.
//
// Each job is a one-line shell command that reports when it started (see
// stamps.go for why it is the one it is). Jobs ask -cpus CPUs each and the
// server should be started with --job-cpus = -parallel × -cpus, so that at
// most -parallel jobs run at once under Lode, as under `xargs -P
// <parallel>`.
//
// Only the standard library is used, so the root go.mod gains nothing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: jobbench freeport|wait|run [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "freeport":
		err = freePort()
	case "wait":
		err = waitCmd(ctx, args)
	case "run":
		err = runCmd(ctx, args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "jobbench:", err)
		os.Exit(1)
	}
}

func freePort() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nil
}

// waitCmd polls GET -url/health until it answers 200, failing early when
// the process -pid is gone.
func waitCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	server := fs.String("url", "", "the Lode server, http://127.0.0.1:PORT")
	pid := fs.Int("pid", 0, "fail when this process has exited")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	fs.Parse(args)
	cl := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(*timeout)
	u := strings.TrimRight(*server, "/") + "/health"
	for {
		if resp, err := cl.Get(u); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if *pid > 0 && syscall.Kill(*pid, 0) != nil {
			return fmt.Errorf("process %d exited before %s answered", *pid, u)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v", u, *timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// envFlags collects repeated -env KEY=VALUE flags.
type envFlags map[string]string

func (e envFlags) String() string { return fmt.Sprint(map[string]string(e)) }

func (e envFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	e[k] = val
	return nil
}

func (e envFlags) list() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// checkLoopback refuses a server elsewhere: the jobs report their start
// through a FIFO on this machine, and their clock must be this one.
func checkLoopback(server string) error {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-url %q: want http://127.0.0.1:PORT", server)
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url %q: the server must run on this machine, on a loopback address", server)
	}
	return nil
}

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	server := fs.String("url", "", "the Lode server, http://127.0.0.1:PORT (required)")
	nBurst := fs.Int("jobs", 1000, "jobs in the burst (0: no burst)")
	nOne := fs.Int("one", -1, "jobs one at a time (0: none; default: as many as -jobs)")
	warmup := fs.Int("warmup", 10, "unmeasured jobs through each first")
	parallel := fs.Int("parallel", runtime.NumCPU(), "jobs running at once: xargs -P, and what the server's --job-cpus allows")
	cpus := fs.Float64("cpus", 1, "CPUs each job asks for (resources.milli_cpu / 1000)")
	submitters := fs.Int("submitters", 1, "concurrent clients submitting the burst")
	floor := fs.Bool("floor", true, "measure the xargs floor too")
	dir := fs.String("dir", "", "folder for the FIFO the jobs report to (default: a new temporary one, removed at the end)")
	workDir := fs.String("workdir", "", "submit jobs with this work_dir, so that the server snapshots it (default: none)")
	jobTimeout := fs.Duration("job-timeout", time.Minute, "bound on each job, and on each wait for one")
	poll := fs.Duration("poll", 2*time.Millisecond, "one at a time: how often jobs/get is polled for the job's end")
	settle := fs.Duration("settle", 2*time.Millisecond, "floor one at a time: pause after a command reported, so that it has exited")
	asJSON := fs.Bool("json", false, "print the figures as JSON instead of tables")
	samplesOut := fs.String("samples", "", "also write every measured job's times to this file, one JSON object a line")
	env := envFlags{}
	fs.Var(env, "env", "KEY=VALUE set for every job and for xargs (repeatable)")
	fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *nOne < 0 {
		*nOne = *nBurst
	}
	switch {
	case *server == "":
		return fmt.Errorf("-url is required")
	case *parallel < 1 || *submitters < 1 || *nBurst < 0 || *warmup < 0:
		return fmt.Errorf("-parallel and -submitters must be at least 1, -jobs and -warmup not negative")
	case *cpus < 0 || math.IsNaN(*cpus):
		return fmt.Errorf("-cpus must not be negative")
	}
	if err := checkLoopback(*server); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "jobbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	st, err := openStamps(*dir)
	if err != nil {
		return err
	}
	defer st.close()

	c := &config{client: newClient(*server, *submitters), stamps: st, milliCPU: int64(math.Round(*cpus * 1000)),
		env: env, workDir: *workDir, jobTimeout: *jobTimeout, poll: *poll, submitters: *submitters}
	if _, _, err := c.client.list(ctx, nil, 1, ""); err != nil {
		return fmt.Errorf("the server's jobs API: %w", err)
	}
	rep := &report{Server: serverVersion(*server), CPUs: runtime.NumCPU(), Parallel: *parallel, MilliCPU: c.milliCPU,
		Submitters: *submitters, Command: probeCommand("TAG", "DIR/stamps"), TargetMs: 20, When: time.Now().UTC()}
	xenv := env.list()
	var raw []rawSample
	keep := func(series string, r *run) {
		if r != nil && *samplesOut != "" {
			raw = append(raw, rawSamples(series, r)...)
		}
	}

	step := func(what string, f func() error) error {
		t := time.Now()
		fmt.Fprintf(os.Stderr, "jobbench: %s ...\n", what)
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		fmt.Fprintf(os.Stderr, "jobbench: %s: %.1f s\n", what, time.Since(t).Seconds())
		return nil
	}
	if *warmup > 0 {
		if err := step(fmt.Sprintf("warm-up, %d jobs through each", *warmup), func() error {
			if _, err := lodeOneAtATime(ctx, c, "lw", *warmup); err != nil {
				return err
			}
			if *floor {
				_, err := floorOneAtATime(ctx, c, "fw", *warmup, *parallel, xenv, *settle)
				return err
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if *nOne > 0 {
		if err := step(fmt.Sprintf("Lode, %d jobs one at a time", *nOne), func() error {
			r, err := lodeOneAtATime(ctx, c, "lo", *nOne)
			keep("lode_one_at_a_time", r)
			if err == nil {
				rep.LodeOne, rep.Breakdown = newSeries(r, false), breakdown(r)
			}
			return err
		}); err != nil {
			return err
		}
		if *floor {
			if err := step(fmt.Sprintf("floor, %d commands one at a time", *nOne), func() error {
				r, err := floorOneAtATime(ctx, c, "fo", *nOne, *parallel, xenv, *settle)
				keep("floor_one_at_a_time", r)
				rep.FloorOne = newSeries(r, false)
				return err
			}); err != nil {
				return err
			}
		}
	}
	if *nBurst > 0 {
		if err := step(fmt.Sprintf("Lode, a burst of %d jobs", *nBurst), func() error {
			r, err := lodeBurst(ctx, c, "lb", *nBurst)
			keep("lode_burst", r)
			rep.LodeBurst = newSeries(r, true)
			return err
		}); err != nil {
			return err
		}
		if *floor {
			if err := step(fmt.Sprintf("floor, a burst of %d commands", *nBurst), func() error {
				r, err := floorBurst(ctx, c, "fb", *nBurst, *parallel, xenv)
				keep("floor_burst", r)
				rep.FloorBurst = newSeries(r, true)
				return err
			}); err != nil {
				return err
			}
		}
	}
	if *samplesOut != "" {
		if err := writeSamples(*samplesOut, raw); err != nil {
			return err
		}
	}
	if *asJSON {
		e := json.NewEncoder(os.Stdout)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}
	rep.write(os.Stdout)
	return nil
}

// serverVersion is GET /version's answer, or "" if there is none.
func serverVersion(server string) string {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(strings.TrimRight(server, "/") + "/version")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return strings.TrimSpace(string(b))
}
