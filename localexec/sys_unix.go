//go:build unix

package localexec

import (
	"errors"
	"os"
	"syscall"
)

const supported = true

type signal int

const (
	sigTerm signal = iota
	sigKill
	sigCont
)

var signals = [...]syscall.Signal{sigTerm: syscall.SIGTERM, sigKill: syscall.SIGKILL, sigCont: syscall.SIGCONT}

// sysProcAttr puts the wrapper in a process group of its own. There is
// deliberately no parent-death signal: jobs outlive a Lode restart.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// signalGroup signals every process of group pgid; a group that is gone is
// no error.
func signalGroup(pgid int, s signal) error {
	err := syscall.Kill(-pgid, signals[s])
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// exitCode is the shells' exit code: the exit status, or 128+n for a
// process killed by signal n.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// groupGone reports, without reading /proc, that no process is left in
// group pgid (not even a zombie).
func groupGone(pgid int) bool { return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) }
