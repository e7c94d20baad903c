//go:build unix

package pyfunc

import (
	"errors"
	"os"
	"syscall"
)

// signalGroup sends sig to the process group a worker leads.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if p == nil {
		return nil
	}
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// killGroup kills a process group outright.
func killGroup(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }

// termGroup asks a process group to stop.
func termGroup(p *os.Process) error { return signalGroup(p, syscall.SIGTERM) }
