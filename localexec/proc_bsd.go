//go:build unix && !linux

package localexec

import "strconv"

// readProc asks ps about pid; ok is false when there is no such process.
// The start time is in whole seconds.
func readProc(pid int) (procInfo, bool, error) {
	procs, err := psProcs("-p", strconv.Itoa(pid))
	if err != nil || len(procs) == 0 {
		return procInfo{}, false, err
	}
	return procs[0], true, nil
}

// listGroup lists the processes, zombies included, of process group pgid.
func listGroup(pgid int) ([]procInfo, error) {
	procs, err := psProcs("-A")
	if err != nil {
		return nil, err
	}
	var out []procInfo
	for _, p := range procs {
		if p.pgid == pgid {
			out = append(out, p)
		}
	}
	return out, nil
}
