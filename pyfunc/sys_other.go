//go:build !unix

package pyfunc

import (
	"os"
	"syscall"
)

// sysProcAttr has nothing to set here; a worker exits when its input
// closes as Lode dies.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) error {
	if p == nil {
		return nil
	}
	return p.Kill()
}

// termGroup cannot ask politely without signals: it kills.
func termGroup(p *os.Process) error { return killGroup(p) }
