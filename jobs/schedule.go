package jobs

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Allocation is a job that holds resources now (scheduled or running).
type Allocation struct {
	JobID     string
	Queue     string
	User      string
	Priority  int
	Resources Resources // per replica
	Placement Placement
}

// Pending is a queued job waiting for resources.
type Pending struct {
	JobID     string
	Queue     string
	User      string
	Priority  int
	Resources Resources // per replica
	Replicas  int
	Submitted int64 // ms since the epoch; earlier first among equals
}

// Assignment starts a pending job on a placement.
type Assignment struct {
	JobID     string
	Placement Placement
}

// Refusal rejects a job that can never run on these nodes.
type Refusal struct {
	JobID  string
	Reason string
}

// Decision is what one scheduling pass decides.
type Decision struct {
	// Start lists the jobs to start, in the order the pass chose them.
	Start []Assignment
	// Refuse lists the jobs that can never run, highest priority first.
	Refuse []Refusal
	// Wait lists the jobs that stay queued, in the order the pass took
	// them (the line), each with why it waits.
	Wait []Wait
}

// Wait is a queued job that this pass did not start, and why.
type Wait struct {
	JobID  string
	Reason string
}

// ShareKey is what fair share is divided between.
type ShareKey int

// Fair-share keys. The zero value shares between queues.
const (
	ShareByQueue ShareKey = iota
	ShareByUser
)

// Policy holds the scheduler's knobs. The zero value is the default: fair
// share between queues, backfill on, one reservation per pass.
type Policy struct {
	// NoFairShare orders jobs of equal priority strictly first come, first
	// served instead of by fair share.
	NoFairShare bool
	// ShareBy picks the fair-share key: queue (default) or user.
	ShareBy ShareKey
	// NoBackfill ends a pass at the first job that does not fit, so no
	// job ever starts ahead of a higher-ranked one.
	NoBackfill bool
	// Reservations is how many blocked jobs per pass reserve the resources
	// they will need: 0 means 1 (the head of the line, EASY-style), a
	// negative number means every blocked job (conservative backfill).
	Reservations int
}

// DefaultQueue is the queue of a job that names none.
const DefaultQueue = "default"

// Schedule decides, in one pass, which queued jobs start where and which
// can never run. It is pure and deterministic: the order of nodes, running
// and queued does not matter, and nothing outside its arguments is read.
//
// Capacity. A node's GPUs are its GPUIDs (or "0".."n-1" when it lists none
// and Capacity.GPUs is n); a GPU is held by at most one replica. What is
// free on a node is its capacity less the per-replica resources of every
// running replica placed there, and its GPUs less those running replicas
// hold. With no nodes at all Schedule decides nothing: capacity is unknown,
// not zero.
//
// Refusal. A job is refused when it is invalid (fewer than one replica,
// negative resources) or when its replicas could not all be placed even on
// the empty cluster; the reason names what is short.
//
// Order. Higher Priority first. Among equal priority the next job comes
// from the fair-share group (queue, or user with ShareByUser) whose
// dominant share is lowest, where a group's dominant share is the largest
// of held/total over cores, memory and GPUs, counting its running replicas
// and those this pass has started, and total is the sum of the nodes'
// capacities (a dimension with a zero total is skipped). Ties go to the
// group whose next job was submitted first, then the lower JobID. Within a
// group jobs go first come, first served (Submitted, then JobID). With
// NoFairShare all jobs of a priority form one group.
//
// Placement. Replicas are gang-scheduled: all of a job's replicas are
// placed in the pass or none is. Each replica goes to the first node, by
// name, where it fits; several replicas may share a node. GPUs are handed
// out lowest ID first (numerically when the IDs are numbers), rank 0 first.
//
// Backfill. The first job that does not fit now (the head of the line)
// reserves: it is placed, with the same first-fit rule, on the cluster as
// it will be once every running job ends — full capacity, less earlier
// reservations and backfilled jobs — and that target is withheld. A job
// ranked after it may then start only where it fits both in what is free
// now and in what is left of the node once the reservations and the jobs
// started since the first reservation are subtracted from its capacity.
// So a backfilled job only ever uses resources the reserved job could not
// use anyway: once the jobs that were running or started ahead of it end,
// it fits, however many small jobs arrived behind it (only higher-ranked
// work, a higher priority or a queue under its share, can go first).
// Without runtime estimates this is the rule that cannot delay it.
// Policy.Reservations lets more blocked jobs reserve, and NoBackfill turns
// backfill off.
func Schedule(nodes []Node, running []Allocation, queued []Pending, opts Policy) Decision {
	var d Decision
	ns := prepareNodes(nodes)
	if len(ns) == 0 {
		return d
	}
	var total Resources
	for _, n := range ns {
		total = total.Add(n.capacity)
	}
	usage := applyRunning(ns, running, opts.ShareBy)

	jobs := slices.Clone(queued)
	slices.SortFunc(jobs, comparePending)
	var eligible []Pending
	for _, p := range jobs {
		if reason := refusal(ns, p); reason != "" {
			d.Refuse = append(d.Refuse, Refusal{JobID: p.JobID, Reason: reason})
			continue
		}
		eligible = append(eligible, p)
	}

	reservationsLeft := opts.Reservations
	if reservationsLeft == 0 {
		reservationsLeft = 1
	}
	reserving := false
	reservedFor := "" // the first job that reserved, which backfill may not delay
	wait := func(p Pending, reason string) {
		if n := len(d.Wait); n > 0 {
			reason += fmt.Sprintf("; %d queued ahead of it", n)
		}
		d.Wait = append(d.Wait, Wait{JobID: p.JobID, Reason: reason})
	}
	for len(eligible) > 0 {
		// One priority level at a time; eligible is sorted by priority.
		end := 1
		for end < len(eligible) && eligible[end].Priority == eligible[0].Priority {
			end++
		}
		level := eligible[:end]
		eligible = eligible[end:]

		groups := map[string][]Pending{}
		for _, p := range level {
			k := ""
			if !opts.NoFairShare {
				k = shareKey(opts.ShareBy, p.Queue, p.User)
			}
			groups[k] = append(groups[k], p)
		}
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		slices.Sort(keys)

		for {
			g, ok := pickGroup(keys, groups, usage, total)
			if !ok {
				break
			}
			p := groups[g][0]
			groups[g] = groups[g][1:]

			if idx := fit(ns, p.Resources, p.Replicas, startLimit); idx != nil {
				d.Start = append(d.Start, Assignment{JobID: p.JobID, Placement: commitStart(ns, idx, p.Resources, reserving)})
				usage[g] = usage[g].Add(p.Resources.Scale(p.Replicas))
				continue
			}
			if fit(ns, p.Resources, p.Replicas, freeLimit) != nil {
				wait(p, "what it needs is free, but held for job "+reservedFor+", ahead of it in line")
			} else {
				wait(p, shortage(ns, p))
			}
			if opts.NoBackfill {
				// The rest of the line waits behind it, in pick order.
				behind := "behind job " + p.JobID + " (backfill is off)"
				for {
					g, ok := pickGroup(keys, groups, usage, total)
					if !ok {
						break
					}
					wait(groups[g][0], behind)
					groups[g] = groups[g][1:]
				}
				for _, q := range eligible {
					wait(q, behind)
				}
				return d
			}
			if reservationsLeft != 0 {
				if idx := fit(ns, p.Resources, p.Replicas, roomLimit); idx != nil {
					for _, i := range idx {
						ns[i].room = ns[i].room.Sub(p.Resources)
					}
					if !reserving {
						reservedFor = p.JobID
					}
					reserving = true
					if reservationsLeft > 0 {
						reservationsLeft--
					}
				}
			}
		}
	}
	return d
}

// nodeState is a node during a pass.
type nodeState struct {
	name     string
	capacity Resources
	gpuIDs   []string // all, sorted
	// free is what is free now; free.GPUs never exceeds len(freeGPUs).
	free     Resources
	freeGPUs []string // sorted
	// room is what a job may still use on the node without delaying the
	// reservations: capacity less reservations and backfilled jobs.
	room Resources
}

func prepareNodes(nodes []Node) []*nodeState {
	var ns []*nodeState
	for _, n := range nodes {
		s := &nodeState{name: n.Name, capacity: nonNegative(n.Capacity)}
		if len(n.GPUIDs) > 0 {
			s.gpuIDs = slices.Clone(n.GPUIDs)
			slices.SortFunc(s.gpuIDs, compareGPUIDs)
			s.gpuIDs = slices.Compact(s.gpuIDs)
		} else {
			for i := range s.capacity.GPUs {
				s.gpuIDs = append(s.gpuIDs, strconv.Itoa(i))
			}
		}
		s.capacity.GPUs = len(s.gpuIDs)
		ns = append(ns, s)
	}
	// By name; for a name given twice, the first in a total order wins, so
	// the input order never matters.
	slices.SortFunc(ns, func(a, b *nodeState) int {
		return cmp.Or(
			cmp.Compare(a.name, b.name),
			compareResources(a.capacity, b.capacity),
			slices.Compare(a.gpuIDs, b.gpuIDs),
		)
	})
	ns = slices.CompactFunc(ns, func(a, b *nodeState) bool { return a.name == b.name })
	for _, s := range ns {
		s.free = s.capacity
		s.freeGPUs = slices.Clone(s.gpuIDs)
		s.room = s.capacity
	}
	return ns
}

// applyRunning takes running replicas off their nodes and returns what each
// fair-share group holds on these nodes.
func applyRunning(ns []*nodeState, running []Allocation, by ShareKey) map[string]Resources {
	byName := map[string]*nodeState{}
	for _, n := range ns {
		byName[n.name] = n
	}
	usage := map[string]Resources{}
	gpusHeld := map[*nodeState]int{}
	for _, a := range running {
		r := nonNegative(a.Resources)
		k := shareKey(by, a.Queue, a.User)
		for _, rp := range a.Placement.Replicas {
			n := byName[rp.Node]
			if n == nil {
				continue
			}
			n.free = n.free.Sub(r)
			gpusHeld[n] += max(r.GPUs, len(rp.GPUIDs))
			n.freeGPUs = slices.DeleteFunc(n.freeGPUs, func(id string) bool { return slices.Contains(rp.GPUIDs, id) })
			usage[k] = usage[k].Add(r)
		}
	}
	for _, n := range ns {
		n.free.GPUs = min(len(n.freeGPUs), n.capacity.GPUs-gpusHeld[n])
	}
	return usage
}

func shareKey(by ShareKey, queue, user string) string {
	if by == ShareByUser {
		return "user:" + user
	}
	if queue == "" {
		queue = DefaultQueue
	}
	return "queue:" + queue
}

// pickGroup returns the key of the non-empty group that goes next; ok is
// false when every group is done.
func pickGroup(keys []string, groups map[string][]Pending, usage map[string]Resources, total Resources) (key string, ok bool) {
	best, found := "", false
	var bestShare float64
	for _, k := range keys {
		q := groups[k]
		if len(q) == 0 {
			continue
		}
		s := dominantShare(usage[k], total)
		if !found {
			best, bestShare, found = k, s, true
			continue
		}
		b := groups[best][0]
		if c := cmp.Or(cmp.Compare(s, bestShare), cmp.Compare(q[0].Submitted, b.Submitted), cmp.Compare(q[0].JobID, b.JobID)); c < 0 {
			best, bestShare = k, s
		}
	}
	return best, found
}

// dominantShare is the largest of held/total over the dimensions the
// cluster has.
func dominantShare(held, total Resources) float64 {
	var s float64
	if total.MilliCPU > 0 {
		s = max(s, float64(held.MilliCPU)/float64(total.MilliCPU))
	}
	if total.MemoryBytes > 0 {
		s = max(s, float64(held.MemoryBytes)/float64(total.MemoryBytes))
	}
	if total.GPUs > 0 {
		s = max(s, float64(held.GPUs)/float64(total.GPUs))
	}
	return s
}

// startLimit is what a job may use on a node to start now.
func startLimit(n *nodeState) Resources { return minResources(n.free, n.room) }

// freeLimit is what is free on a node now, reservations aside.
func freeLimit(n *nodeState) Resources { return n.free }

// roomLimit is what a reservation may claim on a node.
func roomLimit(n *nodeState) Resources { return n.room }

// fit places replicas of req first-fit over ns, within limit, and returns
// the node index of each replica, or nil when they do not all fit.
func fit(ns []*nodeState, req Resources, replicas int, limit func(*nodeState) Resources) []int {
	left := make([]Resources, len(ns))
	for i, n := range ns {
		left[i] = limit(n)
	}
	idx := make([]int, 0, replicas)
	for range replicas {
		i := slices.IndexFunc(left, req.Fits)
		if i < 0 {
			return nil
		}
		left[i] = left[i].Sub(req)
		idx = append(idx, i)
	}
	return idx
}

// commitStart takes a started job's replicas off their nodes and hands out
// GPUs, lowest free IDs first.
func commitStart(ns []*nodeState, idx []int, req Resources, reserving bool) Placement {
	pl := Placement{Replicas: make([]ReplicaPlacement, 0, len(idx))}
	for _, i := range idx {
		n := ns[i]
		rp := ReplicaPlacement{Node: n.name}
		if req.GPUs > 0 {
			rp.GPUIDs = slices.Clone(n.freeGPUs[:req.GPUs])
			n.freeGPUs = slices.Delete(n.freeGPUs, 0, req.GPUs)
		}
		n.free = n.free.Sub(req)
		if reserving {
			n.room = n.room.Sub(req)
		}
		pl.Replicas = append(pl.Replicas, rp)
	}
	return pl
}

// refusal says why p can never run on ns, or "" when it can.
func refusal(ns []*nodeState, p Pending) string {
	if p.Replicas < 1 {
		return fmt.Sprintf("replicas must be at least 1, got %d", p.Replicas)
	}
	r := p.Resources
	var neg []string
	if r.MilliCPU < 0 {
		neg = append(neg, fmt.Sprintf("milli_cpu %d", r.MilliCPU))
	}
	if r.MemoryBytes < 0 {
		neg = append(neg, fmt.Sprintf("memory_bytes %d", r.MemoryBytes))
	}
	if r.GPUs < 0 {
		neg = append(neg, fmt.Sprintf("gpus %d", r.GPUs))
	}
	if len(neg) > 0 {
		return "resources must not be negative: " + strings.Join(neg, ", ")
	}

	// One replica on the largest node.
	var largest Resources
	fitsSomewhere := false
	for _, n := range ns {
		largest = maxResources(largest, n.capacity)
		fitsSomewhere = fitsSomewhere || r.Fits(n.capacity)
	}
	if !fitsSomewhere {
		var short []string
		if r.MilliCPU > largest.MilliCPU {
			short = append(short, fmt.Sprintf("needs %s per replica but the largest node has %s", formatCores(r.MilliCPU), formatCores(largest.MilliCPU)))
		}
		if r.MemoryBytes > largest.MemoryBytes {
			short = append(short, fmt.Sprintf("needs %s of memory per replica but the largest node has %s", formatBytes(r.MemoryBytes), formatBytes(largest.MemoryBytes)))
		}
		if r.GPUs > largest.GPUs {
			short = append(short, fmt.Sprintf("needs %s per replica but the largest node has %d", formatGPUs(r.GPUs), largest.GPUs))
		}
		if len(short) == 0 {
			return fmt.Sprintf("needs %s per replica but no single node has all of that", describe(r))
		}
		return strings.Join(short, "; ")
	}

	// All replicas on the empty cluster. Replicas are alike, so counting
	// how many fit on each node on its own is exact.
	n := p.Replicas
	count := 0
	var total Resources
	for _, s := range ns {
		count += min(n, replicasFitting(r, s.capacity, n))
		total = total.Add(s.capacity)
	}
	if count >= n {
		return ""
	}
	var short []string
	if r.MilliCPU > 0 && int64(n) > total.MilliCPU/r.MilliCPU {
		short = append(short, fmt.Sprintf("needs %d replicas of %s but the nodes together hold only %s", n, formatCores(r.MilliCPU), formatCores(total.MilliCPU)))
	}
	if r.MemoryBytes > 0 && int64(n) > total.MemoryBytes/r.MemoryBytes {
		short = append(short, fmt.Sprintf("needs %d replicas of %s of memory but the nodes together hold only %s", n, formatBytes(r.MemoryBytes), formatBytes(total.MemoryBytes)))
	}
	if r.GPUs > 0 && n > total.GPUs/r.GPUs {
		short = append(short, fmt.Sprintf("needs %d replicas of %s but the nodes together hold only %d", n, formatGPUs(r.GPUs), total.GPUs))
	}
	if len(short) == 0 {
		return fmt.Sprintf("needs %d replicas of %s but at most %d fit on these nodes at once", n, describe(r), count)
	}
	return strings.Join(short, "; ")
}

// shortage says what a job that does not fit now waits for: the
// resources no node has enough of free, or, when each is free somewhere,
// room for one replica (or all of a gang's) at once.
func shortage(ns []*nodeState, p Pending) string {
	var most Resources // the most of each resource free on one node
	for _, n := range ns {
		most = maxResources(most, n.free)
	}
	r := p.Resources
	var short []string
	if r.GPUs > most.GPUs {
		short = append(short, fmt.Sprintf("GPUs (needs %d per replica, at most %d free on a node)", r.GPUs, most.GPUs))
	}
	if r.MilliCPU > most.MilliCPU {
		short = append(short, fmt.Sprintf("CPU (needs %s per replica, at most %s free on a node)", formatCores(r.MilliCPU), formatCores(most.MilliCPU)))
	}
	if r.MemoryBytes > most.MemoryBytes {
		short = append(short, fmt.Sprintf("memory (needs %s per replica, at most %s free on a node)", formatBytes(r.MemoryBytes), formatBytes(most.MemoryBytes)))
	}
	switch {
	case len(short) > 0:
		return "waiting for " + strings.Join(short, " and ")
	case p.Replicas > 1:
		return fmt.Sprintf("waiting for room for all %d replicas at once (%s each)", p.Replicas, describe(r))
	}
	return "waiting for a node with " + describe(r) + " free at once"
}

// replicasFitting is how many replicas of r fit in capacity, at most limit.
func replicasFitting(r, capacity Resources, limit int) int {
	c := int64(limit)
	if r.MilliCPU > 0 {
		c = min(c, capacity.MilliCPU/r.MilliCPU)
	}
	if r.MemoryBytes > 0 {
		c = min(c, capacity.MemoryBytes/r.MemoryBytes)
	}
	if r.GPUs > 0 {
		c = min(c, int64(capacity.GPUs/r.GPUs))
	}
	return int(c)
}

// comparePending orders queued jobs: higher priority, then earlier
// submitted, then JobID; the rest only makes the order total.
func comparePending(a, b Pending) int {
	return cmp.Or(
		cmp.Compare(b.Priority, a.Priority),
		cmp.Compare(a.Submitted, b.Submitted),
		cmp.Compare(a.JobID, b.JobID),
		cmp.Compare(a.Queue, b.Queue),
		cmp.Compare(a.User, b.User),
		cmp.Compare(a.Replicas, b.Replicas),
		compareResources(a.Resources, b.Resources),
	)
}

func compareResources(a, b Resources) int {
	return cmp.Or(
		cmp.Compare(a.MilliCPU, b.MilliCPU),
		cmp.Compare(a.MemoryBytes, b.MemoryBytes),
		cmp.Compare(a.GPUs, b.GPUs),
	)
}

// compareGPUIDs orders GPU IDs numerically when both are numbers ("2"
// before "10"), otherwise as strings, numbers first.
func compareGPUIDs(a, b string) int {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	switch {
	case errA == nil && errB == nil:
		return cmp.Or(cmp.Compare(x, y), cmp.Compare(a, b))
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

func nonNegative(r Resources) Resources {
	return Resources{MilliCPU: max(r.MilliCPU, 0), MemoryBytes: max(r.MemoryBytes, 0), GPUs: max(r.GPUs, 0)}
}

func minResources(a, b Resources) Resources {
	return Resources{MilliCPU: min(a.MilliCPU, b.MilliCPU), MemoryBytes: min(a.MemoryBytes, b.MemoryBytes), GPUs: min(a.GPUs, b.GPUs)}
}

func maxResources(a, b Resources) Resources {
	return Resources{MilliCPU: max(a.MilliCPU, b.MilliCPU), MemoryBytes: max(a.MemoryBytes, b.MemoryBytes), GPUs: max(a.GPUs, b.GPUs)}
}

func formatCores(milli int64) string {
	if milli == 1000 {
		return "1 core"
	}
	return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64) + " cores"
}

func formatBytes(b int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if b >= u.size {
			v := math.Round(float64(b)/float64(u.size)*100) / 100
			return strconv.FormatFloat(v, 'f', -1, 64) + " " + u.name
		}
	}
	return fmt.Sprintf("%d B", b)
}

func formatGPUs(n int) string {
	if n == 1 {
		return "1 GPU"
	}
	return fmt.Sprintf("%d GPUs", n)
}

// describe lists what one replica asks for, e.g. "2 cores, 8 GiB of memory
// and 1 GPU".
func describe(r Resources) string {
	var parts []string
	if r.MilliCPU > 0 {
		parts = append(parts, formatCores(r.MilliCPU))
	}
	if r.MemoryBytes > 0 {
		parts = append(parts, formatBytes(r.MemoryBytes)+" of memory")
	}
	if r.GPUs > 0 {
		parts = append(parts, formatGPUs(r.GPUs))
	}
	switch len(parts) {
	case 0:
		return "nothing"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// LocalNode describes a machine from what it reports (or what a test or
// config declares): cpus whole cores, memBytes of memory and the GPUs
// gpuIDs names.
func LocalNode(name string, cpus int, memBytes int64, gpuIDs []string) Node {
	return Node{
		Name:     name,
		Capacity: Resources{MilliCPU: int64(cpus) * 1000, MemoryBytes: memBytes, GPUs: len(gpuIDs)},
		GPUIDs:   slices.Clone(gpuIDs),
	}
}

// ParseNvidiaSMI reads the output of
//
//	nvidia-smi --query-gpu=index,uuid --format=csv,noheader
//
// and returns the GPUs' indices, lowest first. Empty output means no GPUs;
// a line that does not start with an index (nvidia-smi printing an error
// instead) is an error.
func ParseNvidiaSMI(out string) ([]string, error) {
	var ids []string
	seen := map[int]bool{}
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		field, _, _ := strings.Cut(line, ",")
		i, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || i < 0 {
			return nil, fmt.Errorf("nvidia-smi: unexpected line %q", line)
		}
		if seen[i] {
			return nil, fmt.Errorf("nvidia-smi: GPU index %d listed twice", i)
		}
		seen[i] = true
		ids = append(ids, strconv.Itoa(i))
	}
	slices.SortFunc(ids, compareGPUIDs)
	return ids, nil
}

// CUDAVisibleDevices is the CUDA_VISIBLE_DEVICES value for a replica's
// GPUs. It is "" for a replica without GPUs: set it anyway, since an empty
// value hides every GPU from the process.
func CUDAVisibleDevices(ids []string) string { return strings.Join(ids, ",") }
