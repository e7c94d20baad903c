//go:build unix

package localexec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The ps(1) reading of processes, for Unix systems without Linux's /proc.
// It is built on Linux too, where procps' ps takes the same options, so
// that it is tested.

// psFormat asks for pid, pgid, state, RSS in KiB, CPU time and start time;
// lstart, five words, comes last.
const psFormat = "pid=,pgid=,stat=,rss=,time=,lstart="

// psProcs runs ps with args (-p PID or -A) and parses its lines.
func psProcs(args ...string) ([]procInfo, error) {
	cmd := exec.Command("ps", append(args, "-o", psFormat)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(bytes.TrimSpace(out)) == 0 {
			return nil, nil // -p of a process that is gone
		}
		return nil, fmt.Errorf("localexec: ps: %w", err)
	}
	var procs []procInfo
	for line := range strings.Lines(string(out)) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		p, err := parsePSLine(line)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	return procs, nil
}

func parsePSLine(line string) (procInfo, error) {
	f := strings.Fields(line)
	bad := func() (procInfo, error) { return procInfo{}, fmt.Errorf("localexec: cannot parse ps line %q", line) }
	if len(f) != 10 {
		return bad()
	}
	pid, err1 := strconv.Atoi(f[0])
	pgid, err2 := strconv.Atoi(f[1])
	rss, err3 := strconv.ParseInt(f[3], 10, 64)
	cpu, err4 := parseCPUTime(f[4])
	start, err5 := time.Parse("Mon Jan 2 15:04:05 2006", strings.Join(f[5:], " "))
	if errors.Join(err1, err2, err3, err4, err5) != nil {
		return bad()
	}
	return procInfo{
		pid:        pid,
		pgid:       pgid,
		start:      uint64(start.Unix()),
		zombie:     strings.HasPrefix(f[2], "Z"),
		cpuSeconds: cpu,
		rssBytes:   rss << 10,
	}, nil
}

// parseCPUTime parses ps's time: [DD-]HH:MM:SS (procps) or [H:]M:SS.ss (BSD).
func parseCPUTime(s string) (float64, error) {
	days := 0.0
	if d, rest, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, err
		}
		days, s = float64(n), rest
	}
	secs := 0.0
	for part := range strings.SplitSeq(s, ":") {
		n, err := strconv.ParseFloat(part, 64)
		if err != nil {
			return 0, err
		}
		secs = secs*60 + n
	}
	return days*86400 + secs, nil
}
