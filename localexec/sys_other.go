//go:build !unix

package localexec

import (
	"errors"
	"os"
	"syscall"
)

// Local jobs need process groups and signals.
const supported = false

type signal int

const (
	sigTerm signal = iota
	sigKill
	sigCont
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func signalGroup(int, signal) error { return errors.ErrUnsupported }

func exitCode(ps *os.ProcessState) int { return ps.ExitCode() }

func readProc(int) (procInfo, bool, error) { return procInfo{}, false, errors.ErrUnsupported }

func listGroup(int) ([]procInfo, error) { return nil, errors.ErrUnsupported }

func groupGone(int) bool { return false }
