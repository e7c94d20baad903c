package localexec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// architecture Go supports.
const clockTicks = 100

var pageSize = int64(os.Getpagesize())

// readProc reads /proc/<pid>/stat; ok is false when there is no such
// process.
func readProc(pid int) (procInfo, bool, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return procInfo{}, false, nil
	}
	if err != nil {
		return procInfo{}, false, err
	}
	info, err := parseStat(string(b))
	return info, err == nil, err
}

// parseStat parses a /proc/<pid>/stat line (proc(5)). The command name, in
// parentheses, may hold spaces and parentheses: fields are counted from
// the last ')'.
func parseStat(s string) (procInfo, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procInfo{}, fmt.Errorf("localexec: cannot parse /proc stat %q", s)
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3, state
	if len(f) < 22 {
		return procInfo{}, fmt.Errorf("localexec: cannot parse /proc stat %q", s)
	}
	num := func(field int) uint64 {
		n, _ := strconv.ParseUint(f[field-3], 10, 64)
		return n
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return procInfo{}, fmt.Errorf("localexec: cannot parse /proc stat %q", s)
	}
	pgid, _ := strconv.Atoi(f[5-3])
	ticks := num(14) + num(15) + num(16) + num(17) // utime stime cutime cstime
	return procInfo{
		pid:        pid,
		pgid:       pgid,
		start:      num(22),
		zombie:     f[0] == "Z" || f[0] == "X",
		cpuSeconds: float64(ticks) / clockTicks,
		rssBytes:   int64(num(24)) * pageSize,
	}, nil
}

// listGroup lists the processes, zombies included, of process group pgid.
func listGroup(pgid int) ([]procInfo, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var out []procInfo
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		info, ok, err := readProc(pid)
		if err != nil || !ok || info.pgid != pgid {
			continue // gone, or unreadable
		}
		out = append(out, info)
	}
	return out, nil
}
