//go:build unix && !linux

package pyfunc

import "syscall"

// sysProcAttr puts a child in its own process group. Without Linux's
// parent-death signal, a worker exits when its input closes as Lode dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
