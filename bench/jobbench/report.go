package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"
)

// dist summarises durations; all in milliseconds.
type dist struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

func summarize(d []time.Duration) dist {
	if len(d) == 0 {
		return dist{}
	}
	d = slices.Clone(d)
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return dist{N: len(d), P50: ms(quantile(d, 0.50)), P90: ms(quantile(d, 0.90)), P99: ms(quantile(d, 0.99)),
		Max: ms(d[len(d)-1]), Mean: ms(sum / time.Duration(len(d)))}
}

// quantile of sorted durations, nearest rank.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// series is one measured series in the report.
type series struct {
	Jobs     int     `json:"jobs"`
	Latency  dist    `json:"latency"`          // process start − sent
	WallS    float64 `json:"wall_s,omitempty"` // first sent → last ended (bursts)
	JobsPerS float64 `json:"jobs_per_s,omitempty"`
	// SubmitS: first submit sent → last submit answered (Lode bursts).
	SubmitS float64 `json:"submit_s,omitempty"`
}

func newSeries(r *run, burst bool) *series {
	if r == nil {
		return nil
	}
	lat := make([]time.Duration, len(r.Samples))
	var lastAnswer time.Time
	for i, s := range r.Samples {
		lat[i] = s.latency()
		if s.Answered.After(lastAnswer) {
			lastAnswer = s.Answered
		}
	}
	s := &series{Jobs: len(r.Samples), Latency: summarize(lat)}
	if burst {
		wall := r.End.Sub(r.Start)
		s.WallS = wall.Seconds()
		s.JobsPerS = float64(len(r.Samples)) / wall.Seconds()
		if !lastAnswer.IsZero() {
			s.SubmitS = lastAnswer.Sub(r.Start).Seconds()
		}
	}
	return s
}

// phase is one step of a Lode job's way from submit to end, from the
// client's clock and the job's history (whose times are whole
// milliseconds).
type phase struct {
	Name string `json:"name"`
	Dist dist   `json:"dist"`
}

// breakdown splits the one-at-a-time jobs' time into the steps the job's
// history shows.
func breakdown(r *run) []phase {
	if r == nil {
		return nil
	}
	type step struct {
		name string
		d    func(s sample) time.Duration
	}
	msT := func(v int64) time.Time { return time.UnixMilli(v) }
	steps := []step{
		{"sent → jobs/submit answered", func(s sample) time.Duration { return s.Answered.Sub(s.Sent) }},
		{"sent → SCHEDULED recorded", func(s sample) time.Duration { return msT(s.Job.at("SCHEDULED")).Sub(s.Sent) }},
		{"SCHEDULED → RUNNING recorded (the process is forked)", func(s sample) time.Duration {
			return msT(s.Job.at("RUNNING")).Sub(msT(s.Job.at("SCHEDULED")))
		}},
		{"RUNNING recorded → process started (the job's shells start)", func(s sample) time.Duration {
			return s.Started.Sub(msT(s.Job.at("RUNNING")))
		}},
		{"RUNNING → SUCCEEDED recorded (the job ends, its log is stored)", func(s sample) time.Duration {
			return msT(s.Job.at("SUCCEEDED")).Sub(msT(s.Job.at("RUNNING")))
		}},
	}
	var out []phase
	for _, st := range steps {
		d := make([]time.Duration, 0, len(r.Samples))
		for _, s := range r.Samples {
			if s.Job != nil {
				d = append(d, st.d(s))
			}
		}
		out = append(out, phase{st.name, summarize(d)})
	}
	return out
}

// report is everything jobbench prints.
type report struct {
	Server     string    `json:"server_version,omitempty"`
	CPUs       int       `json:"cpus"`
	Parallel   int       `json:"parallel"`
	MilliCPU   int64     `json:"milli_cpu_per_job"`
	Submitters int       `json:"submitters"`
	Command    string    `json:"command"`
	LodeOne    *series   `json:"lode_one_at_a_time,omitempty"`
	FloorOne   *series   `json:"floor_one_at_a_time,omitempty"`
	LodeBurst  *series   `json:"lode_burst,omitempty"`
	FloorBurst *series   `json:"floor_burst,omitempty"`
	Breakdown  []phase   `json:"lode_one_at_a_time_breakdown,omitempty"`
	TargetMs   float64   `json:"target_p50_over_floor_ms"`
	When       time.Time `json:"when"`
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

// signed prints a difference with its sign.
func signed(v float64) string { return fmt.Sprintf("%+.1f", v) }

// ratio prints a/b with two significant digits, or "–" when b is 0.
func ratio(a, b float64) string {
	switch r := a / b; {
	case b == 0:
		return "–"
	case r >= 10:
		return fmt.Sprintf("%.0f×", r)
	default:
		return fmt.Sprintf("%.2g×", r)
	}
}

// write prints the report as Markdown tables.
func (r *report) write(w io.Writer) {
	floor := fmt.Sprintf("floor: `xargs -P %d`", r.Parallel)
	fmt.Fprintf(w, "Lode %s, %d CPUs here. At most %d jobs run at once: each asks for %.3g CPU of the server's `--job-cpus %d`, and xargs runs with -P %d. %d submitting client(s).\n",
		r.Server, r.CPUs, r.Parallel, float64(r.MilliCPU)/1000, r.Parallel, r.Parallel, r.Submitters)
	fmt.Fprintf(w, "Each job: `/bin/sh -c \"%s\"`.\n", r.Command)
	if r.LodeOne != nil || r.FloorOne != nil {
		n := 0
		if r.LodeOne != nil {
			n = r.LodeOne.Jobs
		} else {
			n = r.FloorOne.Jobs
		}
		fmt.Fprintf(w, "\nOne at a time (%d jobs, each submitted once the last has ended): launch latency = process started − submit sent, ms\n\n", n)
		fmt.Fprintln(w, "| | p50 | p90 | p99 | max | mean |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
		row := func(name string, d dist) {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", name, f1(d.P50), f1(d.P90), f1(d.P99), f1(d.Max), f1(d.Mean))
		}
		if r.LodeOne != nil {
			row("Lode", r.LodeOne.Latency)
		}
		if r.FloorOne != nil {
			row(floor, r.FloorOne.Latency)
		}
		if r.LodeOne != nil && r.FloorOne != nil {
			l, f := r.LodeOne.Latency, r.FloorOne.Latency
			fmt.Fprintf(w, "| Lode − floor | %s | %s | %s | %s | %s |\n",
				signed(l.P50-f.P50), signed(l.P90-f.P90), signed(l.P99-f.P99), signed(l.Max-f.Max), signed(l.Mean-f.Mean))
			fmt.Fprintf(w, "| Lode / floor | %s | %s | %s | %s | %s |\n",
				ratio(l.P50, f.P50), ratio(l.P90, f.P90), ratio(l.P99, f.P99), ratio(l.Max, f.Max), ratio(l.Mean, f.Mean))
			over := l.P50 - f.P50
			mark := "✓"
			if over >= r.TargetMs {
				mark = fmt.Sprintf("✗ (missed by %.1f ms)", over-r.TargetMs)
			}
			fmt.Fprintf(w, "\nTarget: p50 less than %.0f ms over the floor: %.1f ms %s\n", r.TargetMs, over, mark)
		}
	}
	if len(r.Breakdown) > 0 {
		fmt.Fprintln(w, "\nWhere a Lode job's time goes, one at a time (the history's times are whole milliseconds), ms:")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| step | p50 | p90 | p99 |")
		fmt.Fprintln(w, "|---|---:|---:|---:|")
		for _, p := range r.Breakdown {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", p.Name, f1(p.Dist.P50), f1(p.Dist.P90), f1(p.Dist.P99))
		}
	}
	if r.LodeBurst != nil || r.FloorBurst != nil {
		n := 0
		if r.LodeBurst != nil {
			n = r.LodeBurst.Jobs
		} else {
			n = r.FloorBurst.Jobs
		}
		fmt.Fprintf(w, "\nBurst of %d (all submitted back to back): wall = first submit sent → last job ended\n\n", n)
		fmt.Fprintln(w, "| | wall (s) | jobs/s | all submitted (s) | latency p50 (ms) | p99 (ms) | max (ms) |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		row := func(name string, s *series) {
			sub := "–"
			if s.SubmitS > 0 {
				sub = fmt.Sprintf("%.2f", s.SubmitS)
			}
			fmt.Fprintf(w, "| %s | %.2f | %.0f | %s | %s | %s | %s |\n", name, s.WallS, s.JobsPerS, sub,
				f1(s.Latency.P50), f1(s.Latency.P99), f1(s.Latency.Max))
		}
		if r.LodeBurst != nil {
			row("Lode", r.LodeBurst)
		}
		if r.FloorBurst != nil {
			row(floor, r.FloorBurst)
		}
		if r.LodeBurst != nil && r.FloorBurst != nil {
			l, f := r.LodeBurst, r.FloorBurst
			fmt.Fprintf(w, "| Lode / floor | %s | %s | | | | |\n", ratio(l.WallS, f.WallS), ratio(l.JobsPerS, f.JobsPerS))
			fmt.Fprintf(w, "\nOver the floor: %.2f ms of wall time per job ((Lode − floor) / %d).\n",
				(l.WallS-f.WallS)*1000/float64(n), n)
		}
		fmt.Fprintf(w, "\nA burst's latency is mostly queueing behind the %d jobs that run at once, so it is not compared:\n"+
			"xargs is handed every line at once and its lines wait in its queue, while Lode's jobs\n"+
			"wait to be submitted when submitting is slower than running them.\n", r.Parallel)
	}
}

// rawSample is one job's times in the -samples file, in nanoseconds since
// the epoch (the history's in milliseconds), for analysis elsewhere.
type rawSample struct {
	Series     string       `json:"series"`
	Tag        string       `json:"tag"`
	JobID      string       `json:"job_id,omitempty"`
	SentNs     int64        `json:"sent_ns"`
	AnsweredNs int64        `json:"answered_ns,omitempty"`
	StartedNs  int64        `json:"started_ns"`
	History    []transition `json:"history,omitempty"`
}

func rawSamples(series string, r *run) []rawSample {
	out := make([]rawSample, 0, len(r.Samples))
	for _, s := range r.Samples {
		x := rawSample{Series: series, Tag: s.Tag, JobID: s.JobID, SentNs: s.Sent.UnixNano(), StartedNs: s.Started.UnixNano()}
		if !s.Answered.IsZero() {
			x.AnsweredNs = s.Answered.UnixNano()
		}
		if s.Job != nil {
			x.History = s.Job.History
		}
		out = append(out, x)
	}
	return out
}

func writeSamples(name string, raw []rawSample) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	e := json.NewEncoder(f)
	for _, x := range raw {
		if err := e.Encode(x); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
