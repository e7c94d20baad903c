//go:build !unix

package pyenv

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) error {
	if p == nil {
		return nil
	}
	return p.Kill()
}

// tryLockFile reports that no file lock is to be had; the in-process lock
// stands alone.
func tryLockFile(*os.File) (bool, error) { return false, os.ErrInvalid }

func unlockFile(*os.File) {}
