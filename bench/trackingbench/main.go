// Command trackingbench compares Lode with MLflow's own tracking server on
// the same machine, one server at a time: log-batch throughput, search_runs
// latency, startup time and memory. It starts each server itself (so it can
// time the start and read the memory of the whole process tree), talks to it
// only on 127.0.0.1, bounds every phase in time and stops the server before
// the next one starts.
//
// It is meant to be run through bench/run.sh (`make bench`), which builds Lode
// and this program and cleans up the process groups recorded in
// <workdir>/pgids if this program dies.
//
// Only the standard library is used, so the root go.mod gains nothing.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	lodeBin       string
	mlflowBin     string
	servers       []string
	workdir       string
	clients       int
	batch         int
	duration      time.Duration
	runs          int
	populateConc  int
	searchReqs    int
	searchWarmup  int
	searchTime    time.Duration
	settle        time.Duration
	startTimeout  time.Duration
	doc           string
	out           string
	strict        bool
	mlflowVersion string

	// For other stores (bench/pg.sh): empty means SQLite in the workdir.
	lodeStore       string
	mlflowStore     string
	mlflowWorkers   int    // mlflow server --workers; 0: its default
	mlflowSeed      string // shell command that fills MLflow's search experiment instead of its REST API
	afterPopulate   string // shell command run after populating, for each server
	populateTimeout time.Duration
	section         string // names the doc section's markers; empty: the SQLite one
	storeLabel      string
	command         string

	// -auth (auth.go): what authentication costs.
	auth         bool
	rounds       int
	mlflowRounds int
}

func main() {
	var c config
	var servers string
	flag.StringVar(&c.lodeBin, "lode", "bin/lode", "Lode binary")
	flag.StringVar(&c.mlflowBin, "mlflow", ".venv/mlflow3/bin/mlflow", "mlflow executable (its venv's python is used for the version)")
	flag.StringVar(&servers, "servers", "lode,mlflow", "servers to measure, comma-separated (lode, mlflow)")
	flag.StringVar(&c.workdir, "workdir", "", "scratch directory for databases, artifacts, logs (default: a new temp dir)")
	flag.IntVar(&c.clients, "clients", 8, "concurrent log-batch clients, each with its own run")
	flag.IntVar(&c.batch, "batch", 1000, "metrics per log-batch call")
	flag.DurationVar(&c.duration, "duration", 15*time.Second, "log-batch phase duration per server")
	flag.IntVar(&c.runs, "runs", 10000, "runs in the search experiment")
	flag.IntVar(&c.populateConc, "populate-concurrency", 16, "concurrent clients populating the search experiment")
	flag.IntVar(&c.searchReqs, "search-requests", 50, "measured search requests")
	flag.IntVar(&c.searchWarmup, "search-warmup", 3, "unmeasured search requests first")
	flag.DurationVar(&c.searchTime, "search-time", 90*time.Second, "stop measuring searches after this long (at least 10 are measured)")
	flag.DurationVar(&c.settle, "settle", 3*time.Second, "wait before reading idle memory")
	flag.DurationVar(&c.startTimeout, "start-timeout", 120*time.Second, "how long a server may take to answer /health")
	flag.StringVar(&c.doc, "doc", "", "Markdown file whose results section to replace (e.g. docs/benchmarks.md)")
	flag.StringVar(&c.out, "out", "", "also write the results section to this file")
	flag.BoolVar(&c.strict, "strict", false, "exit 3 when a target is missed")
	flag.StringVar(&c.lodeStore, "lode-store", "", "Lode's --backend-store-uri (default: SQLite in the workdir)")
	flag.StringVar(&c.mlflowStore, "mlflow-store", "", "MLflow's --backend-store-uri (default: SQLite in the workdir)")
	flag.IntVar(&c.mlflowWorkers, "mlflow-workers", 0, "mlflow server --workers (0: MLflow's default)")
	flag.StringVar(&c.mlflowSeed, "mlflow-seed", "", "shell command that fills MLflow's search experiment instead of populating it through the REST API; "+
		"env BENCH_BASE_URL, BENCH_EXPERIMENT_ID, BENCH_RUNS")
	flag.StringVar(&c.afterPopulate, "after-populate", "", "shell command run after the search experiment is filled, for each server (env BENCH_SERVER too)")
	flag.DurationVar(&c.populateTimeout, "populate-timeout", 8*time.Minute, "limit for filling the search experiment")
	flag.StringVar(&c.section, "section", "", "doc section to replace: <!-- trackingbench-SECTION:begin --> (default: <!-- trackingbench:begin -->)")
	flag.StringVar(&c.storeLabel, "store-label", "SQLite", "the metadata store, as the report names it")
	flag.StringVar(&c.command, "command", "`make bench` (runs `bench/run.sh`)", "the command, as the report names it")
	flag.BoolVar(&c.auth, "auth", false, "measure what authentication costs instead (bench/run.sh -auth): Lode without auth, with HTTP Basic and with a token, "+
		"against mlflow server --app-name basic-auth; other defaults: -runs 1000 -duration 10s -search-requests 300 -search-time 15s -section auth")
	flag.IntVar(&c.rounds, "rounds", 5, "with -auth: rounds of log-batch and search load on each Lode server; the report gives medians")
	flag.IntVar(&c.mlflowRounds, "mlflow-rounds", 2, "with -auth: rounds on each MLflow server")
	flag.Parse()
	c.servers = strings.Split(servers, ",")
	if c.auth {
		authDefaults(&c)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runner := run
	if c.auth {
		runner = runAuth
	}
	code, err := runner(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trackingbench:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// result holds one server's figures.
type result struct {
	name           string
	version        string
	startup        time.Duration
	rssIdleKB      int64
	pssIdleKB      int64
	rssAfterKB     int64
	pssAfterKB     int64
	procs          int
	jobIdleKB      int64 // RSS of MLflow's job runner (huey) processes, part of rssIdleKB
	jobAfterKB     int64
	batchCalls     int64
	batchErrs      int64
	batchElapsed   time.Duration
	batchP50       time.Duration // latency of one call (-auth)
	batchP95       time.Duration
	populate       time.Duration
	populateErrs   int64
	searchP50      time.Duration
	searchP95      time.Duration
	searchP99      time.Duration
	seeded         bool // populated by -mlflow-seed, not through the REST API
	searchMean     time.Duration
	searchN        int
	searchMatching int
}

func (r *result) callsPerSec() float64 {
	return float64(r.batchCalls) / r.batchElapsed.Seconds()
}

func run(ctx context.Context, c config) (int, error) {
	if c.workdir == "" {
		d, err := os.MkdirTemp("", "lode-bench-")
		if err != nil {
			return 1, err
		}
		defer os.RemoveAll(d)
		c.workdir = d
	}
	var err error
	if c.workdir, err = filepath.Abs(c.workdir); err != nil {
		return 1, err
	}
	results := map[string]*result{}
	for _, s := range c.servers {
		var r *result
		switch s {
		case "lode":
			r, err = benchServer(ctx, c, "lode")
		case "mlflow":
			r, err = benchServer(ctx, c, "mlflow")
		default:
			return 1, fmt.Errorf("unknown server %q", s)
		}
		if err != nil {
			return 1, fmt.Errorf("%s: %w", s, err)
		}
		results[s] = r
	}
	md, missed := report(c, results)
	if err := publish(c, md); err != nil {
		return 1, err
	}
	if missed && c.strict {
		return 3, nil
	}
	return 0, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// ---------------------------------------------------------------- servers

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type server struct {
	name    string
	base    string
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	exitErr error
	log     string
}

// publish prints a report and writes it where c says: -out, and its
// section of -doc.
func publish(c config, md string) error {
	fmt.Println()
	fmt.Println(md)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if c.doc != "" {
		if err := updateDoc(c.doc, c.section, md); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "updated %s\n", c.doc)
	}
	return nil
}

func startServer(c config, name string) (*server, error) {
	return start(c, serverSpec{name: name, kind: name})
}

// serverSpec says how to start a server.
type serverSpec struct {
	name string   // its directory under the workdir and its name in the logs
	kind string   // "lode" or "mlflow"
	args []string // more arguments
	env  []string // more environment
	// keep starts it again on the files of an earlier start (a restart
	// with other options); else its directory starts empty.
	keep bool
}

func start(c config, spec serverSpec) (*server, error) {
	name := spec.name
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.workdir, name)
	if !spec.keep {
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := strconv.Itoa(port)
	var cmd *exec.Cmd
	switch spec.kind {
	case "lode":
		store := c.lodeStore
		if store == "" {
			store = "sqlite:///" + filepath.Join(dir, "lode.db")
		}
		cmd = exec.Command(c.lodeBin, append([]string{"server", "--host", "127.0.0.1", "--port", p,
			"--backend-store-uri", store,
			"--artifacts-destination", filepath.Join(dir, "art")}, spec.args...)...)
		cmd.Env = append(os.Environ(), spec.env...)
	case "mlflow":
		// MLflow's default configuration: no --workers (uvicorn, 4 workers
		// in mlflow 3.x), default server options.
		store := c.mlflowStore
		if store == "" {
			store = "sqlite:///" + filepath.Join(dir, "mlflow.db")
		}
		args := []string{"server", "--host", "127.0.0.1", "--port", p,
			"--backend-store-uri", store,
			"--artifacts-destination", filepath.Join(dir, "art2"), "--serve-artifacts"}
		if c.mlflowWorkers > 0 {
			args = append(args, "--workers", strconv.Itoa(c.mlflowWorkers))
		}
		cmd = exec.Command(c.mlflowBin, append(args, spec.args...)...)
		// Keep all traffic on this machine: no usage telemetry.
		cmd.Env = append(append(os.Environ(), "MLFLOW_DISABLE_TELEMETRY=true", "DO_NOT_TRACK=true"), spec.env...)
	default:
		return nil, fmt.Errorf("unknown server kind %q", spec.kind)
	}
	logPath := filepath.Join(dir, "server.log")
	lf, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644) // a restart's log follows the first's
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Pdeathsig is per thread; keep the starting goroutine on its thread.
	runtime.LockOSThread()
	s := &server{name: name, base: "http://127.0.0.1:" + p, cmd: cmd, exited: make(chan struct{}), log: logPath}
	s.started = time.Now()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		lf.Close()
		return nil, err
	}
	// Let bench/run.sh kill the group should this program die.
	if f, err := os.OpenFile(filepath.Join(c.workdir, "pgids"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintln(f, cmd.Process.Pid)
		f.Close()
	}
	go func() {
		s.exitErr = cmd.Wait()
		lf.Close()
		close(s.exited)
	}()
	return s, nil
}

// stop sends SIGTERM to the server's process group, then SIGKILL.
func (s *server) stop() {
	pg := s.cmd.Process.Pid
	_ = syscall.Kill(-pg, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-pg, syscall.SIGKILL) // stragglers (workers) too
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// waitHealthy polls GET /health and returns the time from process start to
// the first 200.
func (s *server) waitHealthy(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	cl := &http.Client{Timeout: time.Second}
	deadline := s.started.Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return 0, fmt.Errorf("server exited before becoming healthy (%v); log:\n%s", s.exitErr, s.logTail())
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		resp, err := cl.Get(s.base + "/health")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(s.started), nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("not healthy after %v; log:\n%s", timeout, s.logTail())
}

// ---------------------------------------------------------------- memory

type treeMem struct {
	rss, pss int64 // kB, summed over the tree
	jobRSS   int64 // kB, MLflow's job runner and its huey consumers
	procs    int
}

// childrenMap maps each process id to its children's, from /proc/*/stat.
func childrenMap() map[int][]int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	return children
}

// treeMemory sums VmRSS and Pss (kB) over pid and all its descendants.
func treeMemory(pid int) (m treeMem) {
	children := childrenMap()
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		r, ok := statusKB(fmt.Sprintf("/proc/%d/status", p), "VmRSS:")
		if !ok {
			continue
		}
		m.procs++
		m.rss += r
		if v, ok := statusKB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss:"); ok {
			m.pss += v
		}
		if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); err == nil &&
			(bytes.Contains(cl, []byte("_job_runner")) || bytes.Contains(cl, []byte("huey"))) {
			m.jobRSS += r
		}
		queue = append(queue, children[p]...)
	}
	return m
}

// stableMemory samples the tree every second until the process count and
// RSS have held (±2 %) for 3 samples, or limit passes: mlflow server goes on
// spawning processes (its job runner's consumers) after /health answers.
func stableMemory(ctx context.Context, pid int, limit time.Duration) treeMem {
	deadline := time.Now().Add(limit)
	var last []treeMem
	for {
		m := treeMemory(pid)
		last = append(last, m)
		if n := len(last); n >= 3 {
			a, b := last[n-3], last[n-1]
			if a.procs == b.procs && last[n-2].procs == b.procs &&
				float64(abs(b.rss-a.rss)) <= 0.02*float64(b.rss) {
				return m
			}
		}
		if time.Now().After(deadline) || sleep(ctx, time.Second) != nil {
			return m
		}
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// treeNames lists the processes of pid's tree as "pid:name(rss MiB)".
func treeNames(pid int) string {
	var out []string
	children := childrenMap()
	var walk func(int)
	walk = func(p int) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if err != nil {
			return
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		name := filepath.Base(args[0])
	args:
		for _, a := range args[1:] {
			switch {
			case strings.Contains(a, "multiprocessing.spawn"):
				name += " worker"
			case strings.Contains(a, "resource_tracker"):
				name += " resource_tracker"
			case strings.Contains(a, "uvicorn") || strings.Contains(a, "huey") || strings.Contains(a, "mlflow"):
				name += " " + filepath.Base(a)
			default:
				continue
			}
			break args
		}
		rss, _ := statusKB(fmt.Sprintf("/proc/%d/status", p), "VmRSS:")
		out = append(out, fmt.Sprintf("%d:%s(%d MiB)", p, name, rss>>10))
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	return strings.Join(out, ", ")
}

func statusKB(path, field string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field) {
			fs := strings.Fields(line[len(field):])
			if len(fs) > 0 {
				v, err := strconv.ParseInt(fs[0], 10, 64)
				return v, err == nil
			}
		}
	}
	return 0, false
}

// ---------------------------------------------------------------- client

type client struct {
	base string
	http *http.Client
	// authz is the Authorization header sent with every request (-auth).
	authz string
}

func newClient(base string, conns int) *client {
	tr := &http.Transport{
		Proxy:               nil, // 127.0.0.1 only, whatever the environment says
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	return &client{base: base, http: &http.Client{Transport: tr, Timeout: 120 * time.Second}}
}

type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

func (c *client) post(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.authz != "" {
		req.Header.Set("Authorization", c.authz)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		if len(b) > 300 {
			b = b[:300]
		}
		return &apiError{resp.StatusCode, string(b)}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *client) createExperiment(ctx context.Context, name string) (string, error) {
	body, _ := json.Marshal(map[string]string{"name": name})
	var out struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := c.post(ctx, "/api/2.0/mlflow/experiments/create", body, &out); err != nil {
		return "", err
	}
	if out.ExperimentID == "" {
		return "", errors.New("experiments/create: no experiment_id")
	}
	return out.ExperimentID, nil
}

func (c *client) createRun(ctx context.Context, exp, name string, start int64) (string, error) {
	body, _ := json.Marshal(map[string]any{"experiment_id": exp, "run_name": name, "start_time": start})
	var out struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := c.post(ctx, "/api/2.0/mlflow/runs/create", body, &out); err != nil {
		return "", err
	}
	if out.Run.Info.RunID == "" {
		return "", errors.New("runs/create: no run_id")
	}
	return out.Run.Info.RunID, nil
}

// batchBody builds a log-batch body of n metrics: 100 keys (fewer if n is
// smaller) times n/keys steps starting at step0.
func batchBody(buf []byte, runID string, n, step0 int, ts int64, r *rand.Rand) []byte {
	keys := min(n, 100)
	buf = append(buf[:0], `{"run_id":"`...)
	buf = append(buf, runID...)
	buf = append(buf, `","metrics":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"key":"metric_`...)
		buf = strconv.AppendInt(buf, int64(i%keys), 10)
		buf = append(buf, `","value":`...)
		buf = strconv.AppendFloat(buf, r.Float64(), 'g', -1, 64)
		buf = append(buf, `,"timestamp":`...)
		buf = strconv.AppendInt(buf, ts, 10)
		buf = append(buf, `,"step":`...)
		buf = strconv.AppendInt(buf, int64(step0+i/keys), 10)
		buf = append(buf, '}')
	}
	return append(buf, `]}`...)
}

// ---------------------------------------------------------------- phases

func benchServer(ctx context.Context, c config, name string) (*result, error) {
	r := &result{name: name, version: version(c, name)}
	logf("%s %s: starting", name, r.version)
	s, err := startServer(c, name)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	if r.startup, err = s.waitHealthy(ctx, c.startTimeout); err != nil {
		return nil, err
	}
	logf("%s: healthy after %v", name, r.startup.Round(time.Millisecond))

	if err := sleep(ctx, c.settle); err != nil {
		return nil, err
	}
	m := stableMemory(ctx, s.cmd.Process.Pid, 60*time.Second)
	r.rssIdleKB, r.pssIdleKB, r.procs, r.jobIdleKB = m.rss, m.pss, m.procs, m.jobRSS
	logf("%s: idle memory: RSS %d MiB, PSS %d MiB over %d processes: %s", name, r.rssIdleKB>>10, r.pssIdleKB>>10, r.procs, treeNames(s.cmd.Process.Pid))

	cl := newClient(s.base, max(c.clients, c.populateConc))
	if err := logBatchPhase(ctx, c, cl, r); err != nil {
		return nil, err
	}
	logf("%s: log-batch: %d calls (%d errors) in %v = %.1f calls/s, %.0f metrics/s",
		name, r.batchCalls, r.batchErrs, r.batchElapsed.Round(time.Millisecond), r.callsPerSec(), r.callsPerSec()*float64(c.batch))

	exp, err := populate(ctx, c, cl, r)
	if err != nil {
		return nil, err
	}
	logf("%s: populated %d runs in %v (%d retried errors)", name, c.runs, r.populate.Round(time.Millisecond), r.populateErrs)
	if c.afterPopulate != "" {
		if err := hook(ctx, c.afterPopulate, s.base, name, exp, c.runs); err != nil {
			return nil, fmt.Errorf("-after-populate: %w", err)
		}
	}

	if err := searchPhase(ctx, c, cl, exp, r); err != nil {
		return nil, err
	}
	logf("%s: search: p50 %v, p95 %v over %d requests", name, r.searchP50, r.searchP95, r.searchN)

	cl.http.CloseIdleConnections()
	if err := sleep(ctx, c.settle); err != nil {
		return nil, err
	}
	m = treeMemory(s.cmd.Process.Pid)
	r.rssAfterKB, r.pssAfterKB, r.jobAfterKB = m.rss, m.pss, m.jobRSS
	logf("%s: memory after load: RSS %d MiB, PSS %d MiB", name, r.rssAfterKB>>10, r.pssAfterKB>>10)
	select {
	case <-s.exited:
		return nil, fmt.Errorf("server exited during the benchmark (%v); log:\n%s", s.exitErr, s.logTail())
	default:
	}
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func version(c config, name string) string {
	var out []byte
	var err error
	switch name {
	case "lode":
		out, err = exec.Command(c.lodeBin, "version").Output() // "lode 0.1.0 (go…)"
		if err == nil {
			if f := strings.Fields(string(out)); len(f) >= 2 {
				return f[1]
			}
		}
	case "mlflow":
		// The installed distribution's version, without importing mlflow
		// (which takes seconds).
		py := filepath.Join(filepath.Dir(c.mlflowBin), "python")
		out, err = exec.Command(py, "-c", "import importlib.metadata as m; print(m.version('mlflow'))").Output()
	}
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "?"
	}
	return f[len(f)-1]
}

// logBatchPhase: c.clients goroutines, each with its own run, post log-batch
// calls of c.batch metrics back to back for c.duration.
func logBatchPhase(ctx context.Context, c config, cl *client, r *result) error {
	w, err := newWriters(ctx, c, cl, "bench-log-batch")
	if err != nil {
		return err
	}
	return w.load(ctx, c, cl, r)
}

// writers are the runs of the log-batch load, one per client, and the
// step each goes on from.
type writers struct {
	runs  []string
	steps []int
	loads int
}

// newWriters creates an experiment with a run per client and sends one
// unmeasured call for each, all at once: connections and caches warm.
func newWriters(ctx context.Context, c config, cl *client, experiment string) (*writers, error) {
	exp, err := cl.createExperiment(ctx, experiment)
	if err != nil {
		return nil, err
	}
	w := &writers{runs: make([]string, c.clients), steps: make([]int, c.clients)}
	for i := range w.runs {
		if w.runs[i], err = cl.createRun(ctx, exp, fmt.Sprintf("writer-%d", i), time.Now().UnixMilli()); err != nil {
			return nil, err
		}
		w.steps[i] = 1000 // past the warm-up call's steps
	}
	warm := make(chan error, len(w.runs))
	for i, id := range w.runs {
		go func() {
			body := batchBody(nil, id, c.batch, 0, time.Now().UnixMilli(), rand.New(rand.NewPCG(uint64(i), 0)))
			warm <- cl.post(ctx, "/api/2.0/mlflow/runs/log-batch", body, nil)
		}()
	}
	for range w.runs {
		if err := <-warm; err != nil {
			return nil, fmt.Errorf("log-batch: %w", err)
		}
	}
	return w, nil
}

// load posts log-batch calls from every writer back to back for
// c.duration; a later load goes on from the steps this one reached.
func (w *writers) load(ctx context.Context, c config, cl *client, r *result) error {
	var calls, errs atomic.Int64
	var firstErr atomic.Value
	pctx, cancel := context.WithTimeout(ctx, c.duration+2*time.Minute) // hard stop for stuck calls
	defer cancel()
	deadline := time.Now().Add(c.duration)
	start := time.Now()
	lats := make([][]time.Duration, len(w.runs))
	w.loads++
	var wg sync.WaitGroup
	for i, id := range w.runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(i), uint64(w.loads)))
			var buf []byte
			for time.Now().Before(deadline) {
				buf = batchBody(buf, id, c.batch, w.steps[i], time.Now().UnixMilli(), rnd)
				w.steps[i] += max(c.batch/100, 1)
				st := time.Now()
				if err := cl.post(pctx, "/api/2.0/mlflow/runs/log-batch", buf, nil); err != nil {
					if pctx.Err() != nil {
						return
					}
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lats[i] = append(lats[i], time.Since(st))
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	r.batchElapsed = time.Since(start)
	r.batchCalls, r.batchErrs = calls.Load(), errs.Load()
	all := slices.Concat(lats...)
	slices.Sort(all)
	r.batchP50, r.batchP95 = percentile(all, 50), percentile(all, 95)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if e := firstErr.Load(); e != nil {
		logf("%s: log-batch: %d failed calls, first: %v", r.name, r.batchErrs, e)
	}
	if r.batchCalls == 0 {
		return errors.New("log-batch: no call succeeded")
	}
	return nil
}

// populate creates the search experiment: c.runs runs, each with metrics
// m, loss, acc and params lr, batch_size, optimizer, through runs/create and
// one log-batch per run, from c.populateConc concurrent clients. Calls that
// fail (e.g. MLflow's "database is locked") are retried, up to 5 times.
func populate(ctx context.Context, c config, cl *client, r *result) (string, error) {
	exp, err := cl.createExperiment(ctx, "bench-search")
	if err != nil {
		return "", err
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, c.populateTimeout)
	if r.name == "mlflow" && c.mlflowSeed != "" {
		defer cancel()
		if err := hook(pctx, c.mlflowSeed, cl.base, r.name, exp, c.runs); err != nil {
			return "", fmt.Errorf("-mlflow-seed: %w", err)
		}
		r.populate, r.seeded = time.Since(start), true
		r.searchMatching = matching(c.runs)
		return exp, nil
	}
	defer cancel()
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	retry := func(f func() error) error {
		var err error
		for try := 0; try < 5; try++ {
			if err = f(); err == nil || pctx.Err() != nil {
				return err
			}
			errs.Add(1)
			time.Sleep(time.Duration(50<<try) * time.Millisecond)
		}
		return err
	}
	base := time.Now().UnixMilli() - int64(c.runs)*1000
	for w := 0; w < c.populateConc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= c.runs {
					return
				}
				if i > 0 && i%2000 == 0 {
					logf("%s: populating: %d runs in %v", r.name, i, time.Since(start).Round(time.Second))
				}
				rnd := rand.New(rand.NewPCG(uint64(i), 2))
				var id string
				err := retry(func() (err error) {
					id, err = cl.createRun(pctx, exp, fmt.Sprintf("run-%05d", i), base+int64(i)*1000)
					return err
				})
				if err == nil {
					body, _ := json.Marshal(map[string]any{
						"run_id": id,
						"metrics": []map[string]any{
							{"key": "m", "value": rnd.Float64(), "timestamp": base, "step": 0},
							{"key": "loss", "value": rnd.Float64(), "timestamp": base, "step": 0},
							{"key": "acc", "value": rnd.Float64(), "timestamp": base, "step": 0},
						},
						"params": []map[string]string{
							{"key": "lr", "value": strconv.FormatFloat(rnd.Float64()/100, 'g', 3, 64)},
							{"key": "batch_size", "value": strconv.Itoa(1 << rnd.IntN(8))},
							{"key": "optimizer", "value": []string{"adam", "sgd", "adamw"}[rnd.IntN(3)]},
						},
					})
					err = retry(func() error { return cl.post(pctx, "/api/2.0/mlflow/runs/log-batch", body, nil) })
				}
				if err != nil {
					mu.Lock()
					if failed == nil {
						failed = fmt.Errorf("populating run %d: %w", i, err)
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	r.populate = time.Since(start)
	r.populateErrs = errs.Load()
	if failed != nil {
		return "", failed
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	r.searchMatching = matching(c.runs)
	return exp, nil
}

// matching counts the runs whose m value passes the search's filter.
func matching(runs int) int {
	n := 0
	for i := 0; i < runs; i++ {
		if rand.New(rand.NewPCG(uint64(i), 2)).Float64() > 0.5 {
			n++
		}
	}
	return n
}

// hook runs a -mlflow-seed or -after-populate command with /bin/sh, its
// output going to ours.
func hook(ctx context.Context, command, base, name, exp string, runs int) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), "BENCH_SERVER="+name, "BENCH_EXPERIMENT_ID="+exp, "BENCH_RUNS="+strconv.Itoa(runs))
	cmd.Env = append(cmd.Env, "BENCH_BASE_URL="+base)
	return cmd.Run()
}

type searchResp struct {
	Runs []struct {
		Info struct {
			RunID string `json:"run_id"`
		} `json:"info"`
		Data struct {
			Metrics []struct {
				Key   string  `json:"key"`
				Value float64 `json:"value"`
			} `json:"metrics"`
		} `json:"data"`
	} `json:"runs"`
	NextPageToken string `json:"next_page_token"`
}

// searchPhase: sequential POST runs/search with filter metrics.m > 0.5,
// order_by metrics.m DESC, max_results 100; checks each answer.
func searchPhase(ctx context.Context, c config, cl *client, exp string, r *result) error {
	body := searchBody(exp)
	var lat []time.Duration
	var measuring time.Time
	for i := 0; i < c.searchWarmup+c.searchReqs; i++ {
		if i == c.searchWarmup {
			measuring = time.Now()
		} else if i > c.searchWarmup && len(lat) >= 10 && time.Since(measuring) > c.searchTime {
			break
		}
		d, err := searchOnce(ctx, cl, body, r.searchMatching)
		if err != nil {
			return err
		}
		if i >= c.searchWarmup {
			lat = append(lat, d)
		}
	}
	r.setSearch(lat)
	return nil
}

func searchBody(exp string) []byte {
	body, _ := json.Marshal(map[string]any{
		"experiment_ids": []string{exp},
		"filter":         "metrics.m > 0.5",
		"order_by":       []string{"metrics.m DESC"},
		"max_results":    100,
	})
	return body
}

// searchOnce sends one search and checks its answer: min(100, matching)
// runs, all with m > 0.5, in descending order.
func searchOnce(ctx context.Context, cl *client, body []byte, matching int) (time.Duration, error) {
	want := min(100, matching)
	var out searchResp
	st := time.Now()
	err := cl.post(ctx, "/api/2.0/mlflow/runs/search", body, &out)
	d := time.Since(st)
	if err != nil {
		return 0, fmt.Errorf("search: %w", err)
	}
	if len(out.Runs) != want {
		return 0, fmt.Errorf("search returned %d runs, want %d", len(out.Runs), want)
	}
	prev := 2.0
	for _, run := range out.Runs {
		m := -1.0
		for _, x := range run.Data.Metrics {
			if x.Key == "m" {
				m = x.Value
			}
		}
		if m <= 0.5 || m > prev {
			return 0, fmt.Errorf("search: run %s has m=%v after %v: not filtered/ordered", run.Info.RunID, m, prev)
		}
		prev = m
	}
	return d, nil
}

// setSearch sets the search figures from the latencies measured.
func (r *result) setSearch(lat []time.Duration) {
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	r.searchP50 = percentile(lat, 50)
	r.searchP95 = percentile(lat, 95)
	r.searchP99 = percentile(lat, 99)
	if len(lat) > 0 {
		r.searchMean = sum / time.Duration(len(lat))
	}
	r.searchN = len(lat)
}

// percentile by nearest rank over sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := (p*len(sorted) + 99) / 100
	return sorted[max(k, 1)-1]
}

// ---------------------------------------------------------------- report

// marks delimit the doc section a run rewrites: <!-- trackingbench:begin -->
// for the SQLite run, <!-- trackingbench-SECTION:begin --> for -section.
func marks(section string) (begin, end string) {
	name := "trackingbench"
	if section != "" {
		name += "-" + section
	}
	return "<!-- " + name + ":begin -->", "<!-- " + name + ":end -->"
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}

func fmtMiB(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

func report(c config, res map[string]*result) (string, bool) {
	var b strings.Builder
	l, m := res["lode"], res["mlflow"]
	cpu := cpuModel()
	beginMark, endMark := marks(c.section)
	fmt.Fprintf(&b, "%s\n", beginMark)
	fmt.Fprintf(&b, "### Results of %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Command: %s. Machine: %d cores (%s), %s, Linux. ", c.command, runtime.NumCPU(), cpu, memTotal())
	if m != nil && c.mlflowWorkers > 0 {
		jobs := ""
		if v := os.Getenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION"); v != "" {
			jobs = ", `MLFLOW_SERVER_ENABLE_JOB_EXECUTION=" + v + "`"
		}
		fmt.Fprintf(&b, "MLflow %s (`mlflow server --workers %d`%s: %d processes in its tree). ", m.version, c.mlflowWorkers, jobs, m.procs)
	} else if m != nil {
		fmt.Fprintf(&b, "MLflow %s (`mlflow server`, default options: uvicorn, %d processes in its tree). ", m.version, m.procs)
	}
	if l != nil {
		fmt.Fprintf(&b, "Lode %s. ", l.version)
	}
	fmt.Fprintf(&b, "Both on %s, one server at a time, client on the same machine.\n\n", c.storeLabel)
	fmt.Fprintf(&b, "Workloads: (a) %d clients, each its own run, POST `runs/log-batch` with %d metrics per call for %v; "+
		"(b) `runs/search` over %d runs in one experiment (3 metrics, 3 params each), filter `metrics.m > 0.5`, "+
		"order_by `metrics.m DESC`, max_results 100: up to %d sequential requests (or %v of them) after %d warm-up; "+
		"(c) memory summed over the server's whole process tree (RSS; PSS in brackets), once idle after startup "+
		"(%v after the first healthy `GET /health`, then until the process count and RSS hold for 3 s) and %v after the load; "+
		"startup = process start to first `GET /health` 200 on a fresh database.\n\n",
		c.clients, c.batch, c.duration, c.runs, c.searchReqs, c.searchTime, c.searchWarmup, c.settle, c.settle)

	cell := func(r *result, f func(*result) string) string {
		if r == nil {
			return "—"
		}
		return f(r)
	}
	missed := false
	fmt.Fprintf(&b, "| figure | Lode | MLflow | ratio | target |\n|---|---:|---:|---:|---|\n")
	row := func(name string, f func(*result) string, rat, target string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", name, cell(l, f), cell(m, f), rat, target)
	}
	get := func(r *result, f func(*result) float64) float64 {
		if r == nil {
			return 0
		}
		return f(r)
	}
	cps := func(r *result) float64 { return r.callsPerSec() }
	row("(a) log-batch calls/s", func(r *result) string { return fmt.Sprintf("%.1f", r.callsPerSec()) },
		ratioStr(get(l, cps), get(m, cps), 20, &missed), "Lode/MLflow ≥ 20×")
	row("(a) metrics/s", func(r *result) string { return fmt.Sprintf("%.0f", r.callsPerSec()*float64(c.batch)) }, "", "")
	row("(a) failed calls", func(r *result) string { return fmt.Sprint(r.batchErrs) }, "", "")
	p50 := func(r *result) float64 { return float64(r.searchP50) }
	p95 := func(r *result) float64 { return float64(r.searchP95) }
	row("(b) search requests measured", func(r *result) string { return fmt.Sprint(r.searchN) }, "", "")
	row("(b) search p50", func(r *result) string { return fmtDur(r.searchP50) },
		ratioStr(get(m, p50), get(l, p50), 10, &missed), "MLflow/Lode ≥ 10×")
	row("(b) search p95", func(r *result) string { return fmtDur(r.searchP95) },
		ratioStr(get(m, p95), get(l, p95), 10, &missed), "MLflow/Lode ≥ 10×")
	if c.section != "" {
		p99 := func(r *result) float64 { return float64(r.searchP99) }
		row("(b) search p99", func(r *result) string { return fmtDur(r.searchP99) },
			ratioStr(get(m, p99), get(l, p99), 10, &missed), "MLflow/Lode ≥ 10×")
	}
	popRatio := ratioStr(get(m, func(r *result) float64 { return float64(r.populate) }), get(l, func(r *result) float64 { return float64(r.populate) }), 0, nil)
	if m != nil && m.seeded {
		popRatio = "—"
	}
	row(fmt.Sprintf("(b) populating the %d runs", c.runs), func(r *result) string {
		if r.seeded {
			return fmt.Sprintf("%s (SQL, not REST)", fmtDur(r.populate))
		}
		return fmt.Sprintf("%s (%.0f runs/s)", fmtDur(r.populate), float64(c.runs)/r.populate.Seconds())
	}, popRatio, "")
	idle := func(r *result) float64 { return float64(r.rssIdleKB) }
	after := func(r *result) float64 { return float64(r.rssAfterKB) }
	row("(c) idle memory after startup", func(r *result) string {
		return fmt.Sprintf("%s (%s)", fmtMiB(r.rssIdleKB), fmtMiB(r.pssIdleKB))
	}, ratioStr(get(m, idle), get(l, idle), 5, &missed), "MLflow/Lode ≥ 5×")
	row("(c) idle memory after the load", func(r *result) string {
		return fmt.Sprintf("%s (%s)", fmtMiB(r.rssAfterKB), fmtMiB(r.pssAfterKB))
	}, ratioStr(get(m, after), get(l, after), 5, &missed), "MLflow/Lode ≥ 5×")
	if m != nil && m.jobIdleKB > 0 {
		noJob := func(r *result) float64 { return float64(r.rssAfterKB - r.jobAfterKB) }
		row("(c) … after the load, without MLflow's job runner", func(r *result) string {
			return fmtMiB(r.rssAfterKB - r.jobAfterKB)
		}, ratioStr(get(m, noJob), get(l, noJob), 0, nil), "")
	}
	st := func(r *result) float64 { return float64(r.startup) }
	row("(c) start to healthy", func(r *result) string { return fmtDur(r.startup) },
		ratioStr(get(m, st), get(l, st), 0, nil), "")
	fmt.Fprintf(&b, "\nRatios are Lode/MLflow for throughput and MLflow/Lode for latency, memory and time, so higher is better for Lode everywhere. ")
	fmt.Fprintf(&b, "The client shares the %d cores with the server, and other jobs may share the machine: compare figures within one run.\n", runtime.NumCPU())
	fmt.Fprintf(&b, "%s\n", endMark)
	return b.String(), missed
}

// ratioStr formats num/den; target > 0 adds ✓/✗ and records a miss.
func ratioStr(num, den, target float64, missed *bool) string {
	if num == 0 || den == 0 {
		return "—"
	}
	x := num / den
	s := fmt.Sprintf("%.1f×", x)
	if x >= 100 {
		s = fmt.Sprintf("%.0f×", x)
	}
	if target > 0 {
		if x >= target {
			s += " ✓"
		} else {
			s += " ✗"
			*missed = true
		}
	}
	return s
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.IndexByte(line, ':'); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return "?"
}

func memTotal() string {
	if kb, ok := statusKB("/proc/meminfo", "MemTotal:"); ok {
		return fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
	}
	return "? RAM"
}

// updateDoc replaces the section between the markers in path, or appends it.
func updateDoc(path, name, section string) error {
	beginMark, endMark := marks(name)
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i >= 0 && j > i {
		s = s[:i] + strings.TrimRight(section, "\n") + s[j+len(endMark):]
	} else {
		if s != "" && !strings.HasSuffix(s, "\n\n") {
			s = strings.TrimRight(s, "\n") + "\n\n"
		}
		s += section
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
