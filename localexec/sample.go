package localexec

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/lode-ml/lode/jobs"
)

// procInfo is one process as /proc (or ps) shows it.
type procInfo struct {
	pid, pgid int
	// start is the process's start time, in a unit of the platform's
	// choosing (clock ticks since boot on Linux): only compared.
	start  uint64
	zombie bool
	// cpuSeconds is user and system time, its reaped children's included.
	cpuSeconds float64
	rssBytes   int64
}

// Usage is what a replica's process group uses at one moment.
type Usage struct {
	// Processes counts the group's live processes.
	Processes int
	// CPUSeconds is user plus system CPU time of the group's processes,
	// including their children that have exited and been reaped. It can
	// drop when a process that reaped others leaves the group: report the
	// largest sample.
	CPUSeconds float64
	// RSSBytes sums the resident memory of the group's processes (shared
	// pages count once per process).
	RSSBytes int64
	// GPUs counts the GPUs the group's processes use; the figures below
	// are 0 when there are none or nvidia-smi is missing.
	GPUs int
	// GPUMemoryBytes sums the GPU memory of the group's processes.
	GPUMemoryBytes int64
	// GPUUtilization is the mean utilization, in percent, of those GPUs
	// (whole GPUs: the scheduler assigns them exclusively).
	GPUUtilization float64
}

// nvidiaSMITimeout bounds one nvidia-smi run.
const nvidiaSMITimeout = 5 * time.Second

// Sample measures a replica's process group (h is a Handle from Start or
// Adopt, of this or another Executor). It returns ErrNotRunning when no
// process of the group is left. GPU figures come from nvidia-smi when it
// is present; if it fails, they are left 0 and the failure is logged.
// Processes in another PID namespace than nvidia-smi's report are not
// matched.
func (e *Executor) Sample(h jobs.Handle) (Usage, error) {
	p, err := parseID(h.ID())
	if err != nil {
		return Usage{}, err
	}
	members, err := listGroup(p.pid)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	pids := map[int]bool{}
	for _, m := range members {
		if m.pid == p.pid && m.start != p.start {
			return Usage{}, ErrNotRunning // the group's number is another's now
		}
		u.CPUSeconds += m.cpuSeconds
		if !m.zombie {
			u.Processes++
			u.RSSBytes += m.rssBytes
			pids[m.pid] = true
		}
	}
	if u.Processes == 0 {
		return Usage{}, ErrNotRunning
	}
	if smi := e.nvidiaSMIPath(); smi != "" {
		if err := sampleGPUs(smi, pids, &u); err != nil {
			e.log.Debug("cannot sample GPU use", "job", p.jobID, "attempt", p.attempt, "rank", p.rank, "err", err)
		}
	}
	return u, nil
}

func (e *Executor) nvidiaSMIPath() string {
	switch e.nvidiaSMI {
	case "-":
		return ""
	case "":
		path, err := exec.LookPath("nvidia-smi")
		if err != nil {
			return ""
		}
		return path
	default:
		return e.nvidiaSMI
	}
}

func runNvidiaSMI(smi string, query string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), nvidiaSMITimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, smi, query, "--format=csv,noheader,nounits").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("nvidia-smi %s: %w", query, err)
	}
	return string(out), nil
}

// sampleGPUs adds the GPU use of the processes pids to u.
func sampleGPUs(smi string, pids map[int]bool, u *Usage) error {
	apps, err := runNvidiaSMI(smi, "--query-compute-apps=pid,gpu_uuid,used_memory")
	if err != nil {
		return err
	}
	mem, gpus := parseComputeApps(apps, pids)
	if len(gpus) == 0 {
		return nil
	}
	util, err := runNvidiaSMI(smi, "--query-gpu=uuid,utilization.gpu")
	if err != nil {
		return err
	}
	u.GPUs, u.GPUMemoryBytes = len(gpus), mem
	u.GPUUtilization = meanUtilization(util, gpus)
	return nil
}

// parseComputeApps reads "pid, gpu_uuid, used_memory [MiB]" lines: the
// memory the processes pids use and the GPUs they use it on. Values
// nvidia-smi cannot give ("[N/A]") count as 0.
func parseComputeApps(out string, pids map[int]bool) (memBytes int64, gpus map[string]bool) {
	gpus = map[string]bool{}
	for line := range strings.Lines(out) {
		f := csvFields(line)
		if len(f) != 3 {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil || !pids[pid] {
			continue
		}
		gpus[f[1]] = true
		if mib, err := strconv.ParseInt(f[2], 10, 64); err == nil {
			memBytes += mib << 20
		}
	}
	return memBytes, gpus
}

// meanUtilization reads "uuid, utilization.gpu [%]" lines and averages the
// utilization of gpus over those that report one.
func meanUtilization(out string, gpus map[string]bool) float64 {
	sum, n := 0.0, 0
	for line := range strings.Lines(out) {
		f := csvFields(line)
		if len(f) != 2 || !gpus[f[0]] {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func csvFields(line string) []string {
	f := strings.Split(strings.TrimSpace(line), ",")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f
}

// SampleUsage implements jobs.Sampler.
func (e *Executor) SampleUsage(h jobs.Handle) (jobs.Usage, error) {
	u, err := e.Sample(h)
	if err != nil {
		return jobs.Usage{}, err
	}
	return jobs.Usage{CPUSeconds: u.CPUSeconds, RSSBytes: u.RSSBytes, GPUUtilization: u.GPUUtilization, GPUMemoryBytes: u.GPUMemoryBytes}, nil
}
