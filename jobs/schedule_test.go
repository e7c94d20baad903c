package jobs

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const gib = int64(1) << 30

// node is a test node with cores, memory in GiB and GPUs "0".."gpus-1".
func node(name string, cores int, memGiB int64, gpus int) Node {
	var ids []string
	for i := range gpus {
		ids = append(ids, strconv.Itoa(i))
	}
	return LocalNode(name, cores, memGiB*gib, ids)
}

// res is what one replica asks for: cores, GiB of memory, GPUs.
func res(cores float64, memGiB int64, gpus int) Resources {
	return Resources{MilliCPU: int64(cores * 1000), MemoryBytes: memGiB * gib, GPUs: gpus}
}

type pendOpt func(*Pending)

func prio(p int) pendOpt     { return func(j *Pending) { j.Priority = p } }
func queue(q string) pendOpt { return func(j *Pending) { j.Queue = q } }
func user(u string) pendOpt  { return func(j *Pending) { j.User = u } }
func replicas(n int) pendOpt { return func(j *Pending) { j.Replicas = n } }

// pend is a queued job with one replica, submitted at t.
func pend(id string, t int64, r Resources, opts ...pendOpt) Pending {
	j := Pending{JobID: id, Resources: r, Replicas: 1, Submitted: t}
	for _, o := range opts {
		o(&j)
	}
	return j
}

// on is one running replica's placement.
func on(node string, gpuIDs ...string) ReplicaPlacement {
	return ReplicaPlacement{Node: node, GPUIDs: gpuIDs}
}

// alloc is a running job in queue q.
func alloc(id, q string, r Resources, rps ...ReplicaPlacement) Allocation {
	return Allocation{JobID: id, Queue: q, Resources: r, Placement: Placement{Replicas: rps}}
}

// render writes a decision as lines: "job node(gpus) node ..." for a start,
// "job refused: reason" for a refusal.
func render(d Decision) []string {
	out := []string{}
	for _, a := range d.Start {
		parts := []string{a.JobID}
		for _, r := range a.Placement.Replicas {
			p := r.Node
			if len(r.GPUIDs) > 0 {
				p += "(" + strings.Join(r.GPUIDs, ",") + ")"
			}
			parts = append(parts, p)
		}
		out = append(out, strings.Join(parts, " "))
	}
	for _, r := range d.Refuse {
		out = append(out, r.JobID+" refused: "+r.Reason)
	}
	return out
}

type scheduleCase struct {
	name    string
	nodes   []Node
	running []Allocation
	queued  []Pending
	policy  Policy
	want    []string
}

func runCases(t *testing.T, cases []scheduleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := render(Schedule(c.nodes, c.running, c.queued, c.policy))
			want := c.want
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
		})
	}
}

func TestSchedulePriorities(t *testing.T) {
	runCases(t, []scheduleCase{{
		name:   "higher priority first even when submitted later",
		nodes:  []Node{node("a", 2, 8, 0)},
		queued: []Pending{pend("low", 1, res(2, 1, 0)), pend("high", 2, res(2, 1, 0), prio(5))},
		want:   []string{"high a"},
	}, {
		name:  "start order follows priority",
		nodes: []Node{node("a", 4, 8, 0)},
		queued: []Pending{
			pend("p1", 1, res(1, 0, 0), prio(1)),
			pend("p3", 2, res(1, 0, 0), prio(3)),
			pend("p2", 3, res(1, 0, 0), prio(2)),
			pend("pneg", 0, res(1, 0, 0), prio(-1)),
		},
		want: []string{"p3 a", "p2 a", "p1 a", "pneg a"},
	}, {
		name:    "priority beats fair share",
		nodes:   []Node{node("a", 4, 8, 0)},
		running: []Allocation{alloc("r", "busy", res(3, 0, 0), on("a"))},
		queued:  []Pending{pend("idle", 1, res(1, 0, 0), queue("idle")), pend("busy", 2, res(1, 0, 0), queue("busy"), prio(1))},
		want:    []string{"busy a"},
	}})
}

func TestScheduleFIFOWithinQueue(t *testing.T) {
	runCases(t, []scheduleCase{{
		name:   "earliest submitted first",
		nodes:  []Node{node("a", 2, 8, 0)},
		queued: []Pending{pend("j3", 3, res(1, 0, 0)), pend("j1", 1, res(1, 0, 0)), pend("j2", 2, res(1, 0, 0))},
		want:   []string{"j1 a", "j2 a"},
	}, {
		name:   "same submission time: JobID",
		nodes:  []Node{node("a", 2, 8, 0)},
		queued: []Pending{pend("c", 5, res(1, 0, 0)), pend("b", 5, res(1, 0, 0)), pend("a", 5, res(1, 0, 0))},
		want:   []string{"a a", "b a"},
	}, {
		name:   "empty queue is the default queue",
		nodes:  []Node{node("a", 4, 8, 0)},
		queued: []Pending{pend("d2", 2, res(1, 0, 0), queue("default")), pend("d1", 1, res(1, 0, 0)), pend("d3", 3, res(1, 0, 0))},
		want:   []string{"d1 a", "d2 a", "d3 a"},
	}})
}

func TestScheduleFairShare(t *testing.T) {
	ab := []Pending{
		pend("a1", 1, res(1, 0, 0), queue("A")), pend("a2", 2, res(1, 0, 0), queue("A")),
		pend("a3", 3, res(1, 0, 0), queue("A")), pend("a4", 4, res(1, 0, 0), queue("A")),
		pend("b1", 5, res(1, 0, 0), queue("B")), pend("b2", 6, res(1, 0, 0), queue("B")),
		pend("b3", 7, res(1, 0, 0), queue("B")), pend("b4", 8, res(1, 0, 0), queue("B")),
	}
	users := []Pending{
		pend("u1", 1, res(1, 0, 0), user("u")), pend("u2", 2, res(1, 0, 0), user("u")),
		pend("v1", 3, res(1, 0, 0), user("v")), pend("v2", 4, res(1, 0, 0), user("v")),
	}
	runCases(t, []scheduleCase{{
		name:   "two queues alternate",
		nodes:  []Node{node("n", 4, 8, 0)},
		queued: ab,
		want:   []string{"a1 n", "b1 n", "a2 n", "b2 n"},
	}, {
		name:   "alternation continues while everything fits",
		nodes:  []Node{node("n", 8, 8, 0)},
		queued: ab,
		want:   []string{"a1 n", "b1 n", "a2 n", "b2 n", "a3 n", "b3 n", "a4 n", "b4 n"},
	}, {
		name:    "running usage counts: the queue holding less goes first",
		nodes:   []Node{node("n", 4, 8, 0)},
		running: []Allocation{alloc("ra", "A", res(2, 0, 0), on("n"))},
		queued:  ab,
		want:    []string{"b1 n", "b2 n"},
	}, {
		name:  "dominant share: GPUs count, not just cores",
		nodes: []Node{node("n", 5, 8, 4)},
		running: []Allocation{
			alloc("ra", "A", res(1, 0, 2), on("n", "0", "1")), // cores 0.2, GPUs 0.5
			alloc("rb", "B", res(2, 0, 0), on("n")),           // cores 0.4
		},
		queued: []Pending{pend("a1", 1, res(2, 0, 0), queue("A")), pend("b1", 2, res(2, 0, 0), queue("B"))},
		want:   []string{"b1 n"},
	}, {
		name:   "equal shares: the earlier submitted head goes first",
		nodes:  []Node{node("n", 1, 8, 0)},
		queued: []Pending{pend("a1", 2, res(1, 0, 0), queue("A")), pend("b1", 1, res(1, 0, 0), queue("B"))},
		want:   []string{"b1 n"},
	}, {
		name:   "by queue, one queue: users are first come, first served",
		nodes:  []Node{node("n", 4, 8, 0)},
		queued: users,
		want:   []string{"u1 n", "u2 n", "v1 n", "v2 n"},
	}, {
		name:   "by user: users alternate",
		nodes:  []Node{node("n", 4, 8, 0)},
		queued: users,
		policy: Policy{ShareBy: ShareByUser},
		want:   []string{"u1 n", "v1 n", "u2 n", "v2 n"},
	}, {
		name:    "by user: running usage is counted by user",
		nodes:   []Node{node("n", 4, 8, 0)},
		running: []Allocation{{JobID: "r", Queue: "x", User: "u", Resources: res(2, 0, 0), Placement: Placement{Replicas: []ReplicaPlacement{on("n")}}}},
		queued:  users,
		policy:  Policy{ShareBy: ShareByUser},
		want:    []string{"v1 n", "v2 n"},
	}, {
		name:   "no fair share: first come, first served across queues",
		nodes:  []Node{node("n", 4, 8, 0)},
		queued: ab,
		policy: Policy{NoFairShare: true},
		want:   []string{"a1 n", "a2 n", "a3 n", "a4 n"},
	}, {
		name:  "a gang counts all its replicas toward its queue's share",
		nodes: []Node{node("n", 8, 8, 0)},
		queued: []Pending{
			pend("a1", 1, res(1, 0, 0), queue("A"), replicas(3)), pend("a2", 2, res(1, 0, 0), queue("A")),
			pend("b1", 3, res(1, 0, 0), queue("B")), pend("b2", 4, res(1, 0, 0), queue("B")),
			pend("b3", 5, res(1, 0, 0), queue("B")),
		},
		want: []string{"a1 n n n", "b1 n", "b2 n", "b3 n", "a2 n"},
	}})
}

func TestScheduleGang(t *testing.T) {
	runCases(t, []scheduleCase{{
		name:    "two replicas when only one fits: nothing starts",
		nodes:   []Node{node("a", 2, 8, 0), node("b", 2, 8, 0)},
		running: []Allocation{alloc("r", "q", res(2, 0, 0), on("b"))},
		queued:  []Pending{pend("g", 1, res(2, 0, 0), replicas(2))},
		want:    nil,
	}, {
		name:   "replicas share a node when it has room",
		nodes:  []Node{node("a", 4, 8, 0), node("b", 4, 8, 0)},
		queued: []Pending{pend("g", 1, res(2, 1, 0), replicas(2))},
		want:   []string{"g a a"},
	}, {
		name:   "replicas spread over nodes",
		nodes:  []Node{node("b", 2, 8, 1), node("a", 2, 8, 1)},
		queued: []Pending{pend("g", 1, res(2, 1, 1), replicas(2))},
		want:   []string{"g a(0) b(0)"},
	}, {
		name:   "first fit in node name order",
		nodes:  []Node{node("b", 4, 8, 0), node("a", 3, 8, 0), node("c", 8, 8, 0)},
		queued: []Pending{pend("g", 1, res(2, 0, 0), replicas(4))},
		want:   []string{"g a b b c"},
	}, {
		name:    "fits around running jobs",
		nodes:   []Node{node("a", 4, 8, 0), node("b", 4, 8, 0)},
		running: []Allocation{alloc("r", "q", res(3, 0, 0), on("a"), on("b"))},
		queued:  []Pending{pend("g", 1, res(1, 0, 0), replicas(2)), pend("g2", 2, res(1, 0, 0), replicas(2))},
		want:    []string{"g a b"},
	}})
}

func TestScheduleGPUs(t *testing.T) {
	runCases(t, []scheduleCase{{
		name:    "lowest free IDs, held ones skipped",
		nodes:   []Node{node("a", 8, 8, 4)},
		running: []Allocation{alloc("r", "q", res(1, 0, 2), on("a", "0", "2"))},
		queued:  []Pending{pend("j", 1, res(1, 0, 2))},
		want:    []string{"j a(1,3)"},
	}, {
		name:   "each GPU goes to one replica",
		nodes:  []Node{node("a", 8, 8, 2), node("b", 8, 8, 2)},
		queued: []Pending{pend("j1", 1, res(1, 0, 1)), pend("j2", 2, res(1, 0, 1)), pend("g", 3, res(1, 0, 1), replicas(2)), pend("j3", 4, res(1, 0, 1))},
		want:   []string{"j1 a(0)", "j2 a(1)", "g b(0) b(1)"},
	}, {
		name:   "IDs in numeric order",
		nodes:  []Node{LocalNode("a", 8, 8*gib, []string{"10", "2", "9", "1"})},
		queued: []Pending{pend("j", 1, res(1, 0, 3))},
		want:   []string{"j a(1,2,9)"},
	}, {
		name:   "a node without GPUIDs gets 0..n-1",
		nodes:  []Node{{Name: "a", Capacity: Resources{MilliCPU: 4000, MemoryBytes: gib, GPUs: 2}}},
		queued: []Pending{pend("j", 1, res(1, 0, 2))},
		want:   []string{"j a(0,1)"},
	}, {
		name:   "GPUIDs win over a disagreeing count",
		nodes:  []Node{{Name: "a", Capacity: Resources{MilliCPU: 4000, MemoryBytes: gib, GPUs: 1}, GPUIDs: []string{"0", "1", "1"}}},
		queued: []Pending{pend("j", 1, res(1, 0, 2))},
		want:   []string{"j a(0,1)"},
	}, {
		name:    "a running GPU count without IDs still holds GPUs",
		nodes:   []Node{node("a", 8, 8, 2)},
		running: []Allocation{alloc("r", "q", res(1, 0, 1), on("a"))},
		queued:  []Pending{pend("two", 1, res(1, 0, 2)), pend("one", 2, res(1, 0, 1))},
		policy:  Policy{Reservations: -1},
		want:    nil,
	}, {
		name:   "CPU-only jobs get no GPUs and leave them free",
		nodes:  []Node{node("a", 8, 8, 1)},
		queued: []Pending{pend("cpu", 1, res(4, 0, 0)), pend("gpu", 2, res(1, 0, 1))},
		want:   []string{"cpu a", "gpu a(0)"},
	}})
}

func TestScheduleRefusals(t *testing.T) {
	nodes := []Node{node("a", 4, 16, 2), node("b", 8, 8, 0)}
	cases := []struct {
		name string
		job  Pending
		want string
	}{
		{"zero replicas", pend("j", 1, res(1, 0, 0), replicas(0)), "replicas must be at least 1, got 0"},
		{"negative replicas", pend("j", 1, res(1, 0, 0), replicas(-2)), "replicas must be at least 1, got -2"},
		{"negative resources", pend("j", 1, Resources{MilliCPU: -1000, GPUs: -1}), "resources must not be negative: milli_cpu -1000, gpus -1"},
		{"GPUs per replica", pend("j", 1, res(1, 1, 4)), "needs 4 GPUs per replica but the largest node has 2"},
		{"cores per replica", pend("j", 1, res(16, 1, 0)), "needs 16 cores per replica but the largest node has 8 cores"},
		{"fractional cores", pend("j", 1, res(8.5, 0, 0)), "needs 8.5 cores per replica but the largest node has 8 cores"},
		{"memory per replica", pend("j", 1, res(1, 32, 0)), "needs 32 GiB of memory per replica but the largest node has 16 GiB"},
		{"memory in MiB", pend("j", 1, Resources{MemoryBytes: 17*gib + 512<<20}), "needs 17.5 GiB of memory per replica but the largest node has 16 GiB"},
		{"several short", pend("j", 1, res(16, 32, 3)),
			"needs 16 cores per replica but the largest node has 8 cores; needs 32 GiB of memory per replica but the largest node has 16 GiB; needs 3 GPUs per replica but the largest node has 2"},
		{"no node has it all", pend("j", 1, res(5, 1, 1)), "needs 5 cores, 1 GiB of memory and 1 GPU per replica but no single node has all of that"},
		{"gang: GPUs together", pend("j", 1, res(1, 0, 2), replicas(3)), "needs 3 replicas of 2 GPUs but the nodes together hold only 2"},
		{"gang: cores together", pend("j", 1, res(2, 0, 0), replicas(7)), "needs 7 replicas of 2 cores but the nodes together hold only 12 cores"},
		{"gang: memory together", pend("j", 1, res(0, 5, 0), replicas(5)), "needs 5 replicas of 5 GiB of memory but the nodes together hold only 24 GiB"},
		{"gang: fragmented", pend("j", 1, res(3, 0, 0), replicas(4)), "needs 4 replicas of 3 cores but at most 3 fit on these nodes at once"},
		{"gang: fragmented over two dimensions", pend("j", 1, res(4, 8, 0), replicas(3)), "needs 3 replicas of 4 cores and 8 GiB of memory but at most 2 fit on these nodes at once"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Schedule(nodes, nil, []Pending{c.job}, Policy{})
			want := Decision{Refuse: []Refusal{{JobID: "j", Reason: c.want}}}
			if !reflect.DeepEqual(d, want) {
				t.Errorf("got %+v\nwant %+v", d, want)
			}
		})
	}

	runCases(t, []scheduleCase{{
		name:    "a busy cluster refuses nothing that fits when empty",
		nodes:   nodes,
		running: []Allocation{alloc("r", "q", res(4, 16, 2), on("a")), alloc("r2", "q", res(8, 8, 0), on("b"))},
		queued:  []Pending{pend("big", 1, res(4, 16, 2)), pend("gang", 2, res(4, 8, 0), replicas(2))},
		want:    nil,
	}, {
		name:   "refusals do not block, and come highest priority first",
		nodes:  nodes,
		queued: []Pending{pend("ok", 1, res(1, 0, 0)), pend("x", 2, res(100, 0, 0)), pend("y", 3, res(100, 0, 0), prio(1))},
		want: []string{"ok a",
			"y refused: needs 100 cores per replica but the largest node has 8 cores",
			"x refused: needs 100 cores per replica but the largest node has 8 cores"},
	}})
}

func TestScheduleBackfill(t *testing.T) {
	runCases(t, []scheduleCase{{
		name:    "blocked: the small job would take the head's core",
		nodes:   []Node{node("a", 4, 8, 0)},
		running: []Allocation{alloc("r", "q", res(3, 0, 0), on("a"))},
		queued:  []Pending{pend("head", 1, res(4, 0, 0)), pend("small", 2, res(1, 0, 0))},
		want:    nil,
	}, {
		name:    "allowed: on a node the head does not need",
		nodes:   []Node{node("a", 4, 8, 0), node("b", 2, 8, 0)},
		running: []Allocation{alloc("r", "q", res(3, 0, 0), on("a"))},
		queued:  []Pending{pend("head", 1, res(4, 0, 0)), pend("small", 2, res(1, 0, 0)), pend("small2", 3, res(1, 0, 0)), pend("small3", 4, res(1, 0, 0))},
		want:    []string{"small b", "small2 b"},
	}, {
		name:    "allowed: into what the head cannot use on its own node",
		nodes:   []Node{node("a", 8, 8, 2)},
		running: []Allocation{alloc("r", "q", res(2, 0, 2), on("a", "0", "1"))},
		queued:  []Pending{pend("head", 1, res(4, 0, 2)), pend("cpu4", 2, res(4, 0, 0)), pend("cpu1", 3, res(1, 0, 0))},
		want:    []string{"cpu4 a"},
	}, {
		name:    "no backfill: the pass ends at the head",
		nodes:   []Node{node("a", 8, 8, 2)},
		running: []Allocation{alloc("r", "q", res(2, 0, 2), on("a", "0", "1"))},
		queued:  []Pending{pend("head", 1, res(4, 0, 2)), pend("cpu4", 2, res(4, 0, 0)), pend("low", 0, res(1, 0, 0), prio(-1))},
		policy:  Policy{NoBackfill: true},
		want:    nil,
	}, {
		name:   "jobs started ahead of the head count as running",
		nodes:  []Node{node("a", 4, 8, 0)},
		queued: []Pending{pend("first", 1, res(3, 0, 0)), pend("head", 2, res(4, 0, 0)), pend("small", 3, res(1, 0, 0))},
		want:   []string{"first a"},
	}, {
		name:    "a gang head reserves all its nodes",
		nodes:   []Node{node("a", 2, 8, 0), node("b", 2, 8, 0), node("c", 1, 8, 0)},
		running: []Allocation{alloc("r", "q", res(2, 0, 0), on("b"))},
		queued:  []Pending{pend("gang", 1, res(2, 0, 0), replicas(2)), pend("s1", 2, res(1, 0, 0)), pend("s2", 3, res(1, 0, 0))},
		want:    []string{"s1 c"},
	}, {
		name:    "one reservation by default: the second blocked job may be passed",
		nodes:   []Node{node("a", 4, 8, 0), node("b", 4, 8, 0)},
		running: []Allocation{alloc("r1", "q", res(3, 0, 0), on("a")), alloc("r2", "q", res(3, 0, 0), on("b"))},
		queued:  []Pending{pend("h1", 1, res(4, 0, 0)), pend("h2", 2, res(4, 0, 0)), pend("s", 3, res(1, 0, 0))},
		want:    []string{"s b"},
	}, {
		name:    "reservations for every blocked job",
		nodes:   []Node{node("a", 4, 8, 0), node("b", 4, 8, 0)},
		running: []Allocation{alloc("r1", "q", res(3, 0, 0), on("a")), alloc("r2", "q", res(3, 0, 0), on("b"))},
		queued:  []Pending{pend("h1", 1, res(4, 0, 0)), pend("h2", 2, res(4, 0, 0)), pend("s", 3, res(1, 0, 0))},
		policy:  Policy{Reservations: -1},
		want:    nil,
	}, {
		name:    "two reservations",
		nodes:   []Node{node("a", 4, 8, 0), node("b", 4, 8, 0), node("c", 4, 8, 0)},
		running: []Allocation{alloc("r1", "q", res(3, 0, 0), on("a"), on("b"), on("c"))},
		queued:  []Pending{pend("h1", 1, res(4, 0, 0)), pend("h2", 2, res(4, 0, 0)), pend("h3", 3, res(4, 0, 0)), pend("s", 4, res(1, 0, 0))},
		policy:  Policy{Reservations: 2},
		want:    []string{"s c"},
	}, {
		name:    "backfill reaches lower priorities",
		nodes:   []Node{node("a", 4, 8, 1), node("b", 4, 8, 0)},
		running: []Allocation{alloc("r", "q", res(1, 0, 1), on("a", "0"))},
		queued:  []Pending{pend("gpu", 1, res(1, 0, 1), prio(9)), pend("low", 2, res(4, 0, 0), prio(-5)), pend("mid", 3, res(2, 0, 0))},
		want:    []string{"mid a", "low b"},
	}, {
		name:    "the reservation takes memory into account",
		nodes:   []Node{node("a", 8, 16, 0)},
		running: []Allocation{alloc("r", "q", res(8, 4, 0), on("a"))},
		queued:  []Pending{pend("head", 1, res(1, 16, 0)), pend("mem", 2, res(0, 1, 0))},
		want:    nil,
	}})
}

// simulate runs passes over a workload: before each pass finish retires
// running jobs and arrive adds queued ones; it returns the pass each job
// started in.
func simulate(t *testing.T, nodes []Node, queued []Pending, policy Policy, passes int,
	finish func(pass int, running []Allocation) []Allocation,
	arrive func(pass int) []Pending,
) map[string]int {
	t.Helper()
	started := map[string]int{}
	var running []Allocation
	for pass := range passes {
		running = finish(pass, running)
		queued = append(queued, arrive(pass)...)
		d := Schedule(nodes, running, queued, policy)
		checkDecision(t, nodes, running, queued, d)
		for _, a := range d.Start {
			started[a.JobID] = pass
			i := slices.IndexFunc(queued, func(p Pending) bool { return p.JobID == a.JobID })
			p := queued[i]
			running = append(running, Allocation{JobID: p.JobID, Queue: p.Queue, User: p.User, Priority: p.Priority, Resources: p.Resources, Placement: a.Placement})
			queued = slices.Delete(queued, i, i+1)
		}
		for _, r := range d.Refuse {
			queued = slices.DeleteFunc(queued, func(p Pending) bool { return p.JobID == r.JobID })
		}
	}
	return started
}

func TestScheduleNoStarvation(t *testing.T) {
	// Each pass the oldest running job ends and a new one-core job arrives;
	// without a reservation the freed core would always go to a newcomer.
	oldestEnds := func(_ int, running []Allocation) []Allocation {
		if len(running) == 0 {
			return running
		}
		return running[1:]
	}
	cases := []struct {
		name    string
		nodes   []Node
		big     Pending
		smallQ  string
		policy  Policy
		maxPass int
	}{
		{name: "same queue", nodes: []Node{node("a", 4, 8, 0)}, big: pend("big", 10, res(4, 0, 0)), maxPass: 5},
		{name: "small jobs in another queue", nodes: []Node{node("a", 4, 8, 0)}, big: pend("big", 10, res(4, 0, 0), queue("X")), smallQ: "Y", maxPass: 5},
		{name: "reservations for all", nodes: []Node{node("a", 4, 8, 0)}, big: pend("big", 10, res(4, 0, 0)), policy: Policy{Reservations: -1}, maxPass: 5},
		{name: "by user", nodes: []Node{node("a", 4, 8, 0)}, big: pend("big", 10, res(4, 0, 0), user("u")), policy: Policy{ShareBy: ShareByUser}, maxPass: 5},
		{name: "gang over two nodes", nodes: []Node{node("a", 2, 8, 0), node("b", 2, 8, 0)}, big: pend("big", 10, res(2, 0, 0), replicas(2)), maxPass: 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var first []Pending
			for i := range 4 {
				first = append(first, pend(fmt.Sprintf("s%02d", i), int64(i), res(1, 0, 0), queue(c.smallQ)))
			}
			first = append(first, c.big)
			started := simulate(t, c.nodes, first, c.policy, 30, oldestEnds, func(pass int) []Pending {
				return []Pending{pend(fmt.Sprintf("n%02d", pass), int64(100+pass), res(1, 0, 0), queue(c.smallQ), user("w"))}
			})
			p, ok := started["big"]
			if !ok || p > c.maxPass {
				t.Fatalf("big job started in pass %d (ok=%v), want by pass %d; starts: %v", p, ok, c.maxPass, started)
			}
			for id, sp := range started {
				if strings.HasPrefix(id, "n") && sp < p {
					t.Errorf("%s started in pass %d, before the big job (pass %d)", id, sp, p)
				}
			}
		})
	}
}

func TestScheduleEdgeCases(t *testing.T) {
	runCases(t, []scheduleCase{{
		name:   "no nodes: nothing decided",
		queued: []Pending{pend("j", 1, res(1, 0, 0)), pend("bad", 1, res(1, 0, 0), replicas(0))},
		want:   nil,
	}, {
		name:  "nothing queued",
		nodes: []Node{node("a", 4, 8, 0)},
		want:  nil,
	}, {
		name:   "a job asking for nothing starts",
		nodes:  []Node{node("a", 0, 0, 0)},
		queued: []Pending{pend("zero", 1, Resources{}, replicas(3)), pend("one", 2, res(1, 0, 0))},
		want:   []string{"zero a a a", "one refused: needs 1 core per replica but the largest node has 0 cores"},
	}, {
		name:    "replicas on unknown nodes are ignored",
		nodes:   []Node{node("a", 2, 8, 0)},
		running: []Allocation{alloc("r", "q", res(2, 0, 0), on("gone"))},
		queued:  []Pending{pend("j", 1, res(2, 0, 0))},
		want:    []string{"j a"},
	}, {
		name:    "an over-committed node takes nothing",
		nodes:   []Node{node("a", 2, 8, 0), node("b", 2, 8, 0)},
		running: []Allocation{alloc("r", "q", res(3, 0, 0), on("a"))},
		queued:  []Pending{pend("zero", 1, Resources{})},
		want:    []string{"zero b"},
	}, {
		name:   "negative node capacity counts as zero",
		nodes:  []Node{{Name: "a", Capacity: Resources{MilliCPU: -4000, MemoryBytes: gib}}},
		queued: []Pending{pend("j", 1, Resources{MemoryBytes: gib})},
		want:   []string{"j a"},
	}, {
		name:   "a node name given twice is one node",
		nodes:  []Node{node("a", 2, 8, 0), node("a", 4, 8, 0)},
		queued: []Pending{pend("j", 1, res(1, 0, 0), replicas(3))},
		want:   []string{"j refused: needs 3 replicas of 1 core but the nodes together hold only 2 cores"},
	}})
	if d := Schedule(nil, nil, nil, Policy{}); d.Start != nil || d.Refuse != nil {
		t.Errorf("Schedule(nil...) = %+v, want the zero Decision", d)
	}
}

// checkDecision checks what must hold for any decision: no node is over
// committed, no GPU is handed out twice or is not the node's, every start
// is a queued job with all its replicas and the GPUs it asked for, and no
// job is both started and refused, or started twice.
func checkDecision(t *testing.T, nodes []Node, running []Allocation, queued []Pending, d Decision) {
	t.Helper()
	capacity := map[string]Resources{}
	gpus := map[string][]string{}
	for _, n := range nodes {
		capacity[n.Name] = n.Capacity
		gpus[n.Name] = n.GPUIDs
	}
	used := map[string]Resources{}
	held := map[string]string{}
	take := func(job string, r Resources, rp ReplicaPlacement, started bool) {
		used[rp.Node] = used[rp.Node].Add(r)
		for _, id := range rp.GPUIDs {
			key := rp.Node + "/" + id
			if other, ok := held[key]; ok {
				t.Errorf("GPU %s given to %s and %s", key, other, job)
			}
			held[key] = job
			if started && !slices.Contains(gpus[rp.Node], id) {
				t.Errorf("%s got GPU %s that node %s does not have", job, id, rp.Node)
			}
		}
	}
	for _, a := range running {
		for _, rp := range a.Placement.Replicas {
			take(a.JobID, a.Resources, rp, false)
		}
	}
	byID := map[string]Pending{}
	for _, p := range queued {
		byID[p.JobID] = p
	}
	seen := map[string]bool{}
	for _, a := range d.Start {
		p, ok := byID[a.JobID]
		if !ok {
			t.Fatalf("started %s, which is not queued", a.JobID)
		}
		if seen[a.JobID] {
			t.Errorf("%s started twice", a.JobID)
		}
		seen[a.JobID] = true
		if len(a.Placement.Replicas) != p.Replicas {
			t.Errorf("%s: %d replicas placed, want %d", a.JobID, len(a.Placement.Replicas), p.Replicas)
		}
		for _, rp := range a.Placement.Replicas {
			if _, ok := capacity[rp.Node]; !ok {
				t.Errorf("%s placed on unknown node %q", a.JobID, rp.Node)
			}
			if len(rp.GPUIDs) != p.Resources.GPUs {
				t.Errorf("%s: %d GPUs on %s, want %d", a.JobID, len(rp.GPUIDs), rp.Node, p.Resources.GPUs)
			}
			take(a.JobID, p.Resources, rp, true)
		}
	}
	for _, r := range d.Refuse {
		if seen[r.JobID] {
			t.Errorf("%s both started and refused", r.JobID)
		}
		if r.Reason == "" {
			t.Errorf("%s refused without a reason", r.JobID)
		}
	}
	for name, u := range used {
		if c := capacity[name]; !u.Fits(c) {
			t.Errorf("node %s over committed: %+v used of %+v", name, u, c)
		}
	}
}

// randomWorkload makes a small random cluster, running jobs placed by an
// earlier pass, and a queue.
func randomWorkload(rng *rand.Rand) ([]Node, []Allocation, []Pending) {
	var nodes []Node
	for i := range 1 + rng.IntN(4) {
		nodes = append(nodes, node(fmt.Sprintf("n%d", i), 1+rng.IntN(8), int64(1+rng.IntN(16)), rng.IntN(5)))
	}
	job := func(id string) Pending {
		return Pending{
			JobID:     id,
			Queue:     []string{"", "A", "B"}[rng.IntN(3)],
			User:      []string{"u", "v"}[rng.IntN(2)],
			Priority:  rng.IntN(3),
			Resources: Resources{MilliCPU: int64(rng.IntN(5)) * 500, MemoryBytes: int64(rng.IntN(6)) * gib, GPUs: rng.IntN(3)},
			Replicas:  1 + rng.IntN(3),
			Submitted: int64(rng.IntN(20)),
		}
	}
	var earlier []Pending
	for i := range rng.IntN(8) {
		earlier = append(earlier, job(fmt.Sprintf("r%d", i)))
	}
	var running []Allocation
	for _, a := range Schedule(nodes, nil, earlier, Policy{}).Start {
		i := slices.IndexFunc(earlier, func(p Pending) bool { return p.JobID == a.JobID })
		p := earlier[i]
		running = append(running, Allocation{JobID: p.JobID, Queue: p.Queue, User: p.User, Priority: p.Priority, Resources: p.Resources, Placement: a.Placement})
	}
	var queued []Pending
	for i := range rng.IntN(12) {
		queued = append(queued, job(fmt.Sprintf("q%02d", i)))
	}
	if rng.IntN(10) == 0 {
		queued = append(queued, Pending{JobID: "bad", Replicas: rng.IntN(2) - 1})
	}
	return nodes, running, queued
}

var policies = []Policy{
	{},
	{ShareBy: ShareByUser},
	{NoFairShare: true},
	{NoBackfill: true},
	{Reservations: -1},
}

func TestScheduleInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		nodes, running, queued := randomWorkload(rng)
		for _, pol := range policies {
			d := Schedule(nodes, running, queued, pol)
			checkDecision(t, nodes, running, queued, d)
			// Refused exactly when it would not start alone on the empty
			// cluster.
			refused := map[string]bool{}
			for _, r := range d.Refuse {
				refused[r.JobID] = true
			}
			for _, p := range queued {
				alone := Schedule(nodes, nil, []Pending{p}, pol)
				if refused[p.JobID] == (len(alone.Start) == 1) {
					t.Fatalf("workload %d: %s refused=%v but alone it decides %+v", i, p.JobID, refused[p.JobID], alone)
				}
			}
			if t.Failed() {
				t.Fatalf("workload %d, policy %+v: nodes %+v running %+v queued %+v", i, pol, nodes, running, queued)
			}
		}
	}
}

func TestScheduleEventuallyRunsEverything(t *testing.T) {
	// With no new arrivals and one running job ending per pass, every job
	// that is not refused starts.
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		nodes, _, queued := randomWorkload(rng)
		for _, pol := range policies {
			started := simulate(t, nodes, slices.Clone(queued), pol, 200,
				func(_ int, running []Allocation) []Allocation {
					if len(running) == 0 {
						return running
					}
					k := rng.IntN(len(running))
					return slices.Delete(slices.Clone(running), k, k+1)
				},
				func(int) []Pending { return nil })
			refused := map[string]bool{}
			for _, r := range Schedule(nodes, nil, queued, pol).Refuse {
				refused[r.JobID] = true
			}
			for _, p := range queued {
				if _, ok := started[p.JobID]; !ok && !refused[p.JobID] {
					t.Fatalf("workload %d, policy %+v: %s never started", i, pol, p.JobID)
				}
			}
		}
	}
}

func TestScheduleDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 300 {
		nodes, running, queued := randomWorkload(rng)
		for _, pol := range policies {
			want := Schedule(nodes, running, queued, pol)
			for range 20 {
				n := slices.Clone(nodes)
				for j := range n {
					n[j].GPUIDs = slices.Clone(n[j].GPUIDs)
					rng.Shuffle(len(n[j].GPUIDs), func(a, b int) { n[j].GPUIDs[a], n[j].GPUIDs[b] = n[j].GPUIDs[b], n[j].GPUIDs[a] })
				}
				r, q := slices.Clone(running), slices.Clone(queued)
				rng.Shuffle(len(n), func(a, b int) { n[a], n[b] = n[b], n[a] })
				rng.Shuffle(len(r), func(a, b int) { r[a], r[b] = r[b], r[a] })
				rng.Shuffle(len(q), func(a, b int) { q[a], q[b] = q[b], q[a] })
				if got := Schedule(n, r, q, pol); !reflect.DeepEqual(got, want) {
					t.Fatalf("workload %d, policy %+v: shuffled input decides\n%v\nnot\n%v", i, pol, render(got), render(want))
				}
			}
		}
	}
}

func TestParseNvidiaSMI(t *testing.T) {
	cases := []struct {
		name    string
		out     string
		want    []string
		wantErr bool
	}{
		{name: "empty", out: "", want: nil},
		{name: "two GPUs", out: "0, GPU-6b0d4b9a-1c1e-2f3a-8b4c-0a1b2c3d4e5f\n1, GPU-7c1e5cab-2d2f-3a4b-9c5d-1b2c3d4e5f60\n", want: []string{"0", "1"}},
		{name: "CRLF, blank lines, out of order", out: "\r\n1, GPU-b\r\n0, GPU-a\r\n\r\n", want: []string{"0", "1"}},
		{name: "numeric order", out: "10, GPU-k\n2, GPU-c\n", want: []string{"2", "10"}},
		{name: "index only", out: "3\n", want: []string{"3"}},
		{name: "driver error", out: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", wantErr: true},
		{name: "no devices", out: "No devices were found\n", wantErr: true},
		{name: "negative index", out: "-1, GPU-x\n", wantErr: true},
		{name: "duplicate index", out: "0, GPU-a\n0, GPU-b\n", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseNvidiaSMI(c.out)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestCUDAVisibleDevices(t *testing.T) {
	for _, c := range []struct {
		ids  []string
		want string
	}{{nil, ""}, {[]string{"0"}, "0"}, {[]string{"1", "3"}, "1,3"}} {
		if got := CUDAVisibleDevices(c.ids); got != c.want {
			t.Errorf("CUDAVisibleDevices(%q) = %q, want %q", c.ids, got, c.want)
		}
	}
}

func TestLocalNode(t *testing.T) {
	ids := []string{"0", "1"}
	n := LocalNode("box", 16, 64*gib, ids)
	want := Node{Name: "box", Capacity: Resources{MilliCPU: 16000, MemoryBytes: 64 * gib, GPUs: 2}, GPUIDs: []string{"0", "1"}}
	if !reflect.DeepEqual(n, want) {
		t.Fatalf("got %+v, want %+v", n, want)
	}
	ids[0] = "x"
	if n.GPUIDs[0] != "0" {
		t.Error("LocalNode kept the caller's slice")
	}
}

// Every queued job that does not start is told why, in the line's order.
func TestScheduleWaitReasons(t *testing.T) {
	waits := func(d Decision) []string {
		var out []string
		for _, w := range d.Wait {
			out = append(out, w.JobID+": "+w.Reason)
		}
		return out
	}
	nodes := []Node{node("a", 4, 16, 2)}
	busy := []Allocation{alloc("r", "", res(3, 4, 2), on("a", "0", "1"))}
	cases := []struct {
		name   string
		opts   Policy
		queued []Pending
		want   []string
	}{
		{
			name:   "short of GPUs and CPU",
			queued: []Pending{pend("g", 1, res(2, 1, 1))},
			want:   []string{"g: waiting for GPUs (needs 1 per replica, at most 0 free on a node) and CPU (needs 2 cores per replica, at most 1 core free on a node)"},
		},
		{
			name: "the head of the line reserves; a job that fits what is free waits behind it",
			queued: []Pending{
				pend("big", 1, res(4, 1, 0)),
				pend("small", 2, res(1, 1, 0)),
				pend("mem", 3, res(0, 13, 0)),
			},
			want: []string{
				"big: waiting for CPU (needs 4 cores per replica, at most 1 core free on a node)",
				"small: what it needs is free, but held for job big, ahead of it in line; 1 queued ahead of it",
				"mem: waiting for memory (needs 13 GiB per replica, at most 12 GiB free on a node); 2 queued ahead of it",
			},
		},
		{
			name:   "without backfill the rest of the line waits behind the first",
			opts:   Policy{NoBackfill: true},
			queued: []Pending{pend("big", 1, res(4, 1, 0)), pend("small", 2, res(1, 1, 0)), pend("low", 0, res(1, 1, 0), prio(-1))},
			want: []string{
				"big: waiting for CPU (needs 4 cores per replica, at most 1 core free on a node)",
				"small: behind job big (backfill is off); 1 queued ahead of it",
				"low: behind job big (backfill is off); 2 queued ahead of it",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Schedule(nodes, busy, c.queued, c.opts)
			if len(d.Start) != 0 || !reflect.DeepEqual(waits(d), c.want) {
				t.Errorf("started %v, waits:\n%s\nwant:\n%s", render(d), strings.Join(waits(d), "\n"), strings.Join(c.want, "\n"))
			}
		})
	}

	// A gang whose replicas each fit somewhere but not all at once.
	two := []Node{node("a", 2, 8, 0), node("b", 2, 8, 0)}
	d := Schedule(two, []Allocation{alloc("r", "", res(1, 1, 0), on("a"))}, []Pending{pend("gang", 1, res(2, 1, 0), replicas(2))}, Policy{})
	if got := waits(d); len(got) != 1 || got[0] != "gang: waiting for room for all 2 replicas at once (2 cores and 1 GiB of memory each)" {
		t.Errorf("gang waits: %v", got)
	}
	// A job that starts is not waiting.
	d = Schedule(nodes, nil, []Pending{pend("ok", 1, res(1, 1, 0))}, Policy{})
	if len(d.Start) != 1 || len(d.Wait) != 0 {
		t.Errorf("a job that fits: %v, waits %v", render(d), waits(d))
	}
}
