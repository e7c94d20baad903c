package main

// The -auth mode (bench/run.sh -auth, make bench-auth): what signing in
// costs on the fast paths. Three Lode servers, each fresh and on its own
// SQLite file — one without authentication, one called with HTTP Basic,
// one with a bearer token — take turns at the same loads in every round
// (the order rotating), so that what the machine's other work does to one
// falls on all three alike and each database grows the same. Then MLflow's
// own basic-auth server, called with Basic, gets the same rounds.
//
// The requests come from a user who is no admin and owns the experiments:
// admins skip the permission checks on both servers, and the point is to
// pay for them.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// benchUser is the user, no admin, the requests come from.
const benchUser = "bench"

// authDefaults sets the -auth mode's defaults of the flags not given: a
// smaller search experiment, because MLflow's is filled through its REST
// API at some 25 runs/s.
func authDefaults(c *config) {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	def := func(name string, apply func()) {
		if !set[name] {
			apply()
		}
	}
	def("runs", func() { c.runs = 1000 })
	def("duration", func() { c.duration = 10 * time.Second })
	def("search-requests", func() { c.searchReqs = 300 })
	def("search-time", func() { c.searchTime = 15 * time.Second })
	def("section", func() { c.section = "auth" })
	def("command", func() { c.command = "`make bench-auth` (runs `bench/run.sh -auth`)" })
}

// authTarget is one server as one kind of caller sees it.
type authTarget struct {
	name  string // in the logs, and its server's directory
	label string // in the report
	srv   *server
	cl    *client // sends the benchmark user's credentials
	w     *writers
	exp   string  // the search experiment
	pop   *result // filling the search experiment
	// popOpen: it was filled before authentication was turned on.
	popOpen bool
	rounds  []*result
	cpu     []cpuUse // during each measured phase
}

func runAuth(ctx context.Context, c config) (int, error) {
	if c.lodeStore != "" || c.mlflowStore != "" || c.mlflowSeed != "" || c.afterPopulate != "" {
		return 1, errors.New("-auth runs on SQLite files in the workdir only: no -lode-store, -mlflow-store, -mlflow-seed or -after-populate")
	}
	if c.rounds < 1 || c.mlflowRounds < 1 {
		return 1, errors.New("-rounds and -mlflow-rounds must be at least 1")
	}
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
	load0 := loadAvg()
	var targets []*authTarget
	versions := map[string]string{}
	for _, s := range c.servers {
		var ts []*authTarget
		switch s {
		case "lode":
			ts, err = authLode(ctx, c)
		case "mlflow":
			ts, err = authMLflow(ctx, c)
		default:
			return 1, fmt.Errorf("unknown server %q", s)
		}
		if err != nil {
			return 1, fmt.Errorf("%s: %w", s, err)
		}
		versions[s] = version(c, s)
		targets = append(targets, ts...)
	}
	md := authReport(c, targets, versions, load0, loadAvg())
	if err := publish(c, md); err != nil {
		return 1, err
	}
	return 0, nil
}

// authLode measures Lode without authentication, with Basic and with a
// token: three servers at once, each fresh.
func authLode(ctx context.Context, c config) ([]*authTarget, error) {
	adminPW, userPW := newSecret(), newSecret()
	open := &authTarget{name: "lode-open", label: "Lode, no auth"}
	basic := &authTarget{name: "lode-basic", label: "Lode, Basic"}
	token := &authTarget{name: "lode-token", label: "Lode, token"}
	ts := []*authTarget{open, basic, token}
	for _, t := range ts {
		// No user: authentication off (an inherited $LODE_ADMIN_USER
		// would turn it on).
		spec := serverSpec{name: t.name, kind: "lode", env: []string{"LODE_ADMIN_USER="}}
		if t != open {
			spec.args = []string{"--admin-user", "admin"}
			spec.env = append(spec.env, "LODE_ADMIN_PASSWORD="+adminPW)
		}
		logf("%s: starting", t.name)
		s, err := start(c, spec)
		if err != nil {
			return nil, err
		}
		defer s.stop()
		t.srv = s
		if _, err := s.waitHealthy(ctx, c.startTimeout); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		t.cl = newClient(s.base, max(c.clients, c.populateConc))
	}
	for _, t := range []*authTarget{basic, token} {
		if err := addUser(ctx, t.cl, adminPW, userPW); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		t.cl.authz = basicAuth(benchUser, userPW)
	}
	body, _ := json.Marshal(map[string]any{"name": "trackingbench", "expires_in_days": 1})
	var tok struct {
		Secret string `json:"secret"`
	}
	if err := token.cl.post(ctx, "/api/2.0/lode/tokens/create", body, &tok); err != nil {
		return nil, fmt.Errorf("%s: tokens/create: %w", token.name, err)
	}
	if tok.Secret == "" {
		return nil, fmt.Errorf("%s: tokens/create: no secret", token.name)
	}
	token.cl.authz = "Bearer " + tok.Secret
	for _, t := range ts {
		var err error
		if t.w, err = newWriters(ctx, c, t.cl, "bench-log-batch"); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		t.pop = &result{name: t.name}
		if t.exp, err = populate(ctx, c, t.cl, t.pop); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		logf("%s: populated %d runs in %v (%d retried errors)", t.name, c.runs, t.pop.populate.Round(time.Millisecond), t.pop.populateErrs)
	}
	return ts, authRounds(ctx, c, ts, c.rounds)
}

// authMLflow measures `mlflow server` without authentication, then
// `mlflow server --app-name basic-auth` with its default settings on the
// same database. The search experiment is filled before authentication is
// on: through the basic-auth app every request pays a scrypt hash (its
// credentials cache is off by default), a few requests a second on 2
// cores, so filling it would take most of an hour.
func authMLflow(ctx context.Context, c config) ([]*authTarget, error) {
	open := &authTarget{name: "mlflow-open", label: "MLflow, no auth"}
	t := &authTarget{name: "mlflow-auth", label: "MLflow basic-auth"}
	logf("%s: starting without authentication", t.name)
	s, err := start(c, serverSpec{name: t.name, kind: "mlflow"})
	if err != nil {
		return nil, err
	}
	if _, err := s.waitHealthy(ctx, c.startTimeout); err != nil {
		s.stop()
		return nil, err
	}
	open.srv, open.cl, open.pop = s, newClient(s.base, max(c.clients, c.populateConc)), &result{name: open.name}
	open.exp, err = populate(ctx, c, open.cl, open.pop)
	if err == nil {
		logf("%s: populated %d runs in %v (%d retried errors)", open.name, c.runs, open.pop.populate.Round(time.Millisecond), open.pop.populateErrs)
		open.w, err = newWriters(ctx, c, open.cl, "bench-log-batch-open")
	}
	if err == nil {
		err = authRounds(ctx, c, []*authTarget{open}, c.mlflowRounds)
	}
	s.stop()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", open.name, err)
	}
	t.exp, t.pop, t.popOpen = open.exp, open.pop, true

	adminPW, userPW := newSecret(), newSecret()
	dir := filepath.Join(c.workdir, t.name)
	ini := filepath.Join(dir, "basic_auth.ini")
	// MLflow's own basic_auth.ini with the admin's password and the
	// database in the scratch directory; everything else is its default
	// (default_permission READ, auth_cache_ttl_seconds 0).
	conf := fmt.Sprintf("[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///%s\nadmin_username = admin\nadmin_password = %s\n",
		filepath.Join(dir, "basic_auth.db"), adminPW)
	if err := os.WriteFile(ini, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logf("%s: starting with --app-name basic-auth", t.name)
	s, err = start(c, serverSpec{name: t.name, kind: "mlflow", keep: true,
		args: []string{"--app-name", "basic-auth"},
		env: []string{"MLFLOW_AUTH_CONFIG_PATH=" + ini, "MLFLOW_FLASK_SERVER_SECRET_KEY=" + newSecret(),
			"MLFLOW_AUTH_ADMIN_PASSWORD=" + adminPW}})
	if err != nil {
		return nil, err
	}
	defer s.stop()
	t.srv = s
	if _, err := s.waitHealthy(ctx, c.startTimeout); err != nil {
		return nil, err
	}
	t.cl = newClient(s.base, max(c.clients, c.populateConc))
	if err := addUser(ctx, t.cl, adminPW, userPW); err != nil {
		return nil, err
	}
	// The user owns the search experiment, as on Lode, where they made it.
	admin := *t.cl
	admin.authz = basicAuth("admin", adminPW)
	body, _ := json.Marshal(map[string]string{"username": benchUser, "resource_type": "experiment", "resource_id": t.exp, "permission": "MANAGE"})
	if err := admin.post(ctx, "/api/3.0/mlflow/users/permissions/grant", body, nil); err != nil {
		return nil, fmt.Errorf("users/permissions/grant: %w", err)
	}
	t.cl.authz = basicAuth(benchUser, userPW)
	if t.w, err = newWriters(ctx, c, t.cl, "bench-log-batch"); err != nil {
		return nil, err
	}
	return []*authTarget{open, t}, authRounds(ctx, c, []*authTarget{t}, c.mlflowRounds)
}

// addUser creates the benchmark user as the admin.
func addUser(ctx context.Context, cl *client, adminPW, userPW string) error {
	admin := *cl
	admin.authz = basicAuth("admin", adminPW)
	body, _ := json.Marshal(map[string]string{"username": benchUser, "password": userPW})
	if err := admin.post(ctx, "/api/2.0/mlflow/users/create", body, nil); err != nil {
		return fmt.Errorf("users/create: %w", err)
	}
	return nil
}

// authRounds runs rounds of load on the targets: the log-batch load on
// each in turn, each round starting with the next target; then the
// searches, interleaved request by request, so that each target's figures
// come from the same moments.
func authRounds(ctx context.Context, c config, ts []*authTarget, rounds int) error {
	srvs := make([]*server, len(ts))
	for i, t := range ts {
		srvs[i] = t.srv
	}
	for i := 0; i < rounds; i++ {
		order := append(slices.Clone(ts[i%len(ts):]), ts[:i%len(ts)]...)
		for _, t := range order {
			r := &result{name: t.name, searchMatching: t.pop.searchMatching}
			t.rounds = append(t.rounds, r)
			m := markCPU(srvs)
			if err := t.w.load(ctx, c, t.cl, r); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			u := m.since(srvs)
			t.cpu = append(t.cpu, u)
			logf("%s: round %d: log-batch %.1f calls/s, p50 %v, p95 %v (%d errors); other processes %.2f cores, iowait %.2f",
				t.name, i+1, r.callsPerSec(), r.batchP50.Round(time.Microsecond), r.batchP95.Round(time.Microsecond), r.batchErrs, u.others, u.iowait)
		}
		m := markCPU(srvs)
		if err := searchInterleaved(ctx, c, order); err != nil {
			return err
		}
		u := m.since(srvs)
		for _, t := range order {
			r := t.rounds[len(t.rounds)-1]
			t.cpu = append(t.cpu, u)
			logf("%s: round %d: search p50 %v, p95 %v over %d requests; other processes %.2f cores, iowait %.2f",
				t.name, i+1, r.searchP50.Round(time.Microsecond), r.searchP95.Round(time.Microsecond), r.searchN, u.others, u.iowait)
		}
	}
	return nil
}

// searchInterleaved measures the search on each target, taking turns
// request by request: c.searchWarmup unmeasured rounds, then up to
// c.searchReqs measured (at least 10, at most c.searchTime of each
// target's time).
func searchInterleaved(ctx context.Context, c config, ts []*authTarget) error {
	lats := make([][]time.Duration, len(ts))
	var spent time.Duration
	for i := 0; i < c.searchWarmup+c.searchReqs; i++ {
		if i > c.searchWarmup+10 && spent > c.searchTime*time.Duration(len(ts)) {
			break
		}
		for j, t := range ts {
			d, err := searchOnce(ctx, t.cl, searchBody(t.exp), t.pop.searchMatching)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if i >= c.searchWarmup {
				lats[j] = append(lats[j], d)
				spent += d
			}
		}
	}
	for j, t := range ts {
		t.rounds[len(t.rounds)-1].setSearch(lats[j])
	}
	return nil
}

func basicAuth(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// newSecret returns 24 random URL-safe characters: a password either
// server accepts.
func newSecret() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ---------------------------------------------------------------- load

// userHZ is the unit of the CPU times in /proc: 100 on every Linux
// architecture Go runs on.
const userHZ = 100

// cpuMark is where the machine's CPU counters stood at a moment.
type cpuMark struct {
	at                  time.Time
	busy, iowait, steal int64 // all CPUs, from /proc/stat
	server, loadgen     int64 // the servers' process trees, this program
}

// cpuUse is the CPU other processes used during a phase, in cores: what
// the machine spent less what the servers and the load generator did.
type cpuUse struct {
	others, iowait, steal float64
}

func markCPU(srvs []*server) cpuMark {
	m := cpuMark{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		var v [8]int64
		for i := 1; i < len(f) && i <= 8; i++ {
			v[i-1], _ = strconv.ParseInt(f[i], 10, 64)
		}
		m.busy = v[0] + v[1] + v[2] + v[5] + v[6]
		m.iowait, m.steal = v[4], v[7]
	}
	children := childrenMap()
	for _, s := range srvs {
		m.server += treeCPU(s.cmd.Process.Pid, children)
	}
	m.loadgen = procCPU("self")
	return m
}

func (m cpuMark) since(srvs []*server) cpuUse {
	n := markCPU(srvs)
	secs := n.at.Sub(m.at).Seconds() * userHZ
	if secs <= 0 {
		return cpuUse{}
	}
	others := float64((n.busy-m.busy)-(n.server-m.server)-(n.loadgen-m.loadgen)) / secs
	return cpuUse{others: max(others, 0), iowait: float64(n.iowait-m.iowait) / secs, steal: float64(n.steal-m.steal) / secs}
}

// procCPU is a process's user and system time (/proc/PID/stat).
func procCPU(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // state ppid ... utime(11) stime(12)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// treeCPU sums procCPU over pid and its descendants.
func treeCPU(pid int, children map[int][]int) int64 {
	var sum int64
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		sum += procCPU(strconv.Itoa(p))
		queue = append(queue, children[p]...)
	}
	return sum
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ---------------------------------------------------------------- report

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// authFigure is one row of the report.
type authFigure struct {
	name   string
	get    func(*result) float64
	format func(float64) string
	// faster: higher is better (a rate); else lower is (a latency).
	faster bool
}

func authReport(c config, ts []*authTarget, versions map[string]string, load0, load1 string) string {
	var b strings.Builder
	beginMark, endMark := marks(c.section)
	fmt.Fprintf(&b, "%s\n", beginMark)
	fmt.Fprintf(&b, "### Results of %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Command: %s. Machine: %d cores (%s), %s, Linux. ", c.command, runtime.NumCPU(), cpuModel(), memTotal())
	if v, ok := versions["lode"]; ok {
		fmt.Fprintf(&b, "Lode %s. ", v)
	}
	if v, ok := versions["mlflow"]; ok {
		fmt.Fprintf(&b, "MLflow %s, default options (uvicorn), basic-auth with its default settings (`auth_cache_ttl_seconds = 0`). ", v)
	}
	fmt.Fprintf(&b, "All on SQLite, client on the same machine. "+
		"With authentication, every request comes from `%s`, a user who is no admin and owns the experiments (MANAGE).\n\n", benchUser)
	var rounds []string
	if _, ok := versions["lode"]; ok {
		rounds = append(rounds, fmt.Sprintf("%d rounds on each Lode server (their log-batch turns rotating, their searches taking turns request by request)", c.rounds))
	}
	if _, ok := versions["mlflow"]; ok {
		rounds = append(rounds, fmt.Sprintf("%d on each MLflow server", c.mlflowRounds))
	}
	fmt.Fprintf(&b, "Workloads, %s: (a) %d clients, each its own run, POST `runs/log-batch` with %d metrics per call for %v; "+
		"(b) `runs/search` over %d runs (3 metrics, 3 params each), filter `metrics.m > 0.5`, order_by `metrics.m DESC`, max_results 100: "+
		"up to %d sequential requests to each server (or %v of them) after %d warm-up. "+
		"Figures are medians over the rounds, the rounds' range in brackets.\n\n",
		strings.Join(rounds, ", "), c.clients, c.batch, c.duration, c.runs, c.searchReqs, c.searchTime, c.searchWarmup)

	figs := []authFigure{
		{"(a) log-batch calls/s", func(r *result) float64 { return r.callsPerSec() }, func(x float64) string { return fmt.Sprintf("%.1f", x) }, true},
		{"(a) log-batch p50", func(r *result) float64 { return float64(r.batchP50) }, durStr, false},
		{"(a) log-batch p95", func(r *result) float64 { return float64(r.batchP95) }, durStr, false},
		{"(b) search p50", func(r *result) float64 { return float64(r.searchP50) }, durStr, false},
		{"(b) search p95", func(r *result) float64 { return float64(r.searchP95) }, durStr, false},
	}
	values := func(t *authTarget, f authFigure) []float64 {
		var xs []float64
		for _, r := range t.rounds {
			xs = append(xs, f.get(r))
		}
		return xs
	}
	b.WriteString("| server, caller |")
	for _, f := range figs {
		fmt.Fprintf(&b, " %s |", f.name)
	}
	fmt.Fprintf(&b, " filling the search experiment (%d clients) |\n|---|%s---:|\n", c.populateConc, strings.Repeat("---:|", len(figs)))
	for _, t := range ts {
		fmt.Fprintf(&b, "| %s |", t.label)
		for _, f := range figs {
			xs := values(t, f)
			fmt.Fprintf(&b, " %s (%s–%s) |", f.format(median(xs)), f.format(slices.Min(xs)), f.format(slices.Max(xs)))
		}
		if t.popOpen {
			b.WriteString(" (filled without auth) |\n")
		} else {
			fmt.Fprintf(&b, " %s (%.0f runs/s) |\n", fmtDur(t.pop.populate), float64(c.runs)/t.pop.populate.Seconds())
		}
	}
	b.WriteString("\n")

	byName := map[string]*authTarget{}
	for _, t := range ts {
		byName[t.name] = t
	}
	// compare writes a table of one column per pair: the median of the
	// rounds' ratios (a round's figure against the same round's of the
	// other), each round's in brackets.
	type pair struct {
		label     string
		of, to    *authTarget
		asPercent bool // the cost, in %; else how many times better of is
	}
	compare := func(intro string, pairs []pair) {
		var ps []pair
		for _, p := range pairs {
			if p.of != nil && p.to != nil {
				ps = append(ps, p)
			}
		}
		if len(ps) == 0 {
			return
		}
		b.WriteString(intro + "\n\n| figure |")
		for _, p := range ps {
			fmt.Fprintf(&b, " %s |", p.label)
		}
		fmt.Fprintf(&b, "\n|---|%s\n", strings.Repeat("---:|", len(ps)))
		for _, f := range figs {
			fmt.Fprintf(&b, "| %s |", f.name)
			for _, p := range ps {
				var xs []float64
				var each []string
				for i := range min(len(p.of.rounds), len(p.to.rounds)) {
					a, o := f.get(p.of.rounds[i]), f.get(p.to.rounds[i])
					var x float64
					switch {
					case p.asPercent && f.faster:
						x = o/a - 1 // the growth of the time per call
					case p.asPercent:
						x = a/o - 1
					case f.faster:
						x = a / o
					default:
						x = o / a
					}
					xs = append(xs, x)
					if p.asPercent {
						each = append(each, pct(x))
					} else {
						each = append(each, times(x))
					}
				}
				if p.asPercent {
					fmt.Fprintf(&b, " %s (%s) |", pct(median(xs)), strings.Join(each, ", "))
				} else {
					fmt.Fprintf(&b, " %s (%s) |", times(median(xs)), strings.Join(each, ", "))
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	mlflow := byName["mlflow-auth"]
	compare("Lode with authentication against MLflow's basic-auth server, both called with credentials: "+
		"Lode/MLflow for calls/s, MLflow/Lode for latencies, so higher is better for Lode.", []pair{
		{"Lode Basic vs MLflow basic-auth", byName["lode-basic"], mlflow, false},
		{"Lode token vs MLflow basic-auth", byName["lode-token"], mlflow, false},
	})
	compare("What authentication costs: each figure with it against the same round's without, + for slower "+
		"(for calls/s, the growth of the time per call). Lode's three servers took turns in every round; "+
		"MLflow's rounds without auth ran before it restarted with the basic-auth app.", []pair{
		{"Lode Basic vs no auth", byName["lode-basic"], byName["lode-open"], true},
		{"Lode token vs no auth", byName["lode-token"], byName["lode-open"], true},
		{"MLflow basic-auth vs no auth", mlflow, byName["mlflow-open"], true},
	})

	var others, iowait, steal []float64
	for _, t := range ts {
		for _, u := range t.cpu {
			others, iowait, steal = append(others, u.others), append(iowait, u.iowait), append(steal, u.steal)
		}
	}
	fmt.Fprintf(&b, "Load: other processes on the machine (CPU time from `/proc/stat`, less the servers' and the load generator's) used a median of %.2f cores (%.2f–%.2f) of the %d during the measured phases",
		median(others), slices.Min(others), slices.Max(others), runtime.NumCPU())
	fmt.Fprintf(&b, "; CPUs idle waiting for the disk: a median of %.2f (%.2f–%.2f)", median(iowait), slices.Min(iowait), slices.Max(iowait))
	if s := median(steal); s >= 0.01 {
		fmt.Fprintf(&b, ", and the hypervisor took %.2f cores (steal)", s)
	}
	fmt.Fprintf(&b, "; load average (1, 5, 15 min) %s at the start, %s at the end.\n", load0, load1)
	fmt.Fprintf(&b, "%s\n", endMark)
	return b.String()
}

func times(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f×", x)
	}
	return fmt.Sprintf("%.1f×", x)
}

func durStr(x float64) string { return fmtDur(time.Duration(x)) }

func pct(x float64) string {
	s := fmt.Sprintf("%+.1f %%", 100*x)
	return strings.Replace(s, "-", "−", 1)
}
