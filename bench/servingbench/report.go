package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
)

// labels name the targets bench/serving.sh measures, in the table's order.
var labels = []struct{ name, label string }{
	{"ceiling", "ceiling: Go net/http, constant answer"},
	{"lode-onnx", "Lode, ONNX Runtime in-process"},
	{"lode-pyfunc", "Lode, pyfunc Python workers"},
	{"mlserver", "MLServer"},
	{"mlflow", "`mlflow models serve`"},
}

// The targets for Lode's ONNX path.
const (
	wantVsMLflow   = 30.0
	wantVsMLServer = 5.0
	wantOpenP99ms  = 5.0
)

func reportCmd(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	results := fs.String("results", "", "JSON-lines file that run and ceiling appended to")
	out := fs.String("out", "", "also write the Markdown to this file")
	fs.Parse(args)
	rs, err := readResults(*results)
	if err != nil {
		return err
	}
	md := report(rs)
	fmt.Print(md)
	if *out != "" {
		return os.WriteFile(*out, []byte(md), 0o644)
	}
	return nil
}

// readResults reads the results file; a target measured twice keeps its
// last figures.
func readResults(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []result
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rs = slices.DeleteFunc(rs, func(o result) bool { return o.Name == r.Name })
		rs = append(rs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	rank := func(name string) int {
		for i, l := range labels {
			if l.name == name {
				return i
			}
		}
		return len(labels)
	}
	slices.SortStableFunc(rs, func(a, b result) int { return rank(a.Name) - rank(b.Name) })
	return rs, nil
}

func label(name string) string {
	for _, l := range labels {
		if l.name == name {
			return l.label
		}
	}
	return name
}

// report renders the results as Markdown: the table, Lode ONNX's ratios
// and the targets.
func report(rs []result) string {
	var b strings.Builder
	if len(rs) == 0 {
		return "no results\n"
	}
	r0 := rs[0]
	fmt.Fprintf(&b, "Closed loop: %d concurrent keep-alive clients, %.0f s warm-up then %.0f s measured per target, "+
		"one row per request; %d CPUs, shared by the load generator and the server.\n\n",
		r0.Concurrency, r0.Warmup, r0.Duration, r0.CPUs)
	var onnx *result
	for i := range rs {
		if rs[i].Name == "lode-onnx" {
			onnx = &rs[i]
		}
	}
	b.WriteString("| target | setup | requests/s | p50 (ms) | p99 (ms) | errors | Lode ONNX × |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		ratio := ""
		if onnx != nil && r.Name != "lode-onnx" && r.Closed.RPS > 0 {
			ratio = fmt.Sprintf("%.1f×", onnx.Closed.RPS/r.Closed.RPS)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %.2f | %d | %s |\n", label(r.Name), r.Setup,
			thousands(r.Closed.RPS), r.Closed.P50ms, r.Closed.P99ms, r.Closed.Errors, ratio)
	}
	for _, r := range rs {
		if r.Closed.Errors > 0 {
			fmt.Fprintf(&b, "\n%s: %d errors, the first: %s\n", label(r.Name), r.Closed.Errors, r.Closed.FirstError)
		}
	}
	if onnx == nil {
		return b.String()
	}

	b.WriteString("\nTargets for Lode's ONNX path:\n\n")
	for _, c := range []struct {
		name string
		want float64
	}{{"mlflow", wantVsMLflow}, {"mlserver", wantVsMLServer}} {
		for _, r := range rs {
			if r.Name == c.name && r.Closed.RPS > 0 {
				x := onnx.Closed.RPS / r.Closed.RPS
				fmt.Fprintf(&b, "- throughput ≥ %.0f× %s: %.1f× %s\n", c.want, label(c.name), x, mark(x >= c.want))
			}
		}
	}
	if o := onnx.Open; o != nil {
		fmt.Fprintf(&b, "- p99 < %.0f ms at half of its saturation rate (open loop, %s requests/s for %.0f s, "+
			"up to %d in flight): p50 %.2f ms, p99 %.2f ms, errors %d %s\n",
			wantOpenP99ms, thousands(o.Rate), onnx.Duration, onnx.OpenClients, o.P50ms, o.P99ms, o.Errors,
			mark(o.P99ms < wantOpenP99ms && o.Errors == 0))
		fmt.Fprintf(&b, "  (the load generator's dispatcher was late by p50 %.2f ms, p99 %.2f ms, not counted)\n",
			o.LagP50ms, o.LagP99ms)
		if onnx.ServerP99ms > 0 {
			fmt.Fprintf(&b, "  (inside Lode, by its own latency histogram: p99 ≤ %g ms %s)\n", onnx.ServerP99ms, mark(onnx.ServerP99ms < wantOpenP99ms))
		}
		if o.Errors > 0 {
			fmt.Fprintf(&b, "  (first error: %s)\n", o.FirstError)
		}
	}
	return b.String()
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// thousands formats a rate as an integer with thousands separators.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
