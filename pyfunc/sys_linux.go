package pyfunc

import "syscall"

// sysProcAttr puts a child in its own process group (so it and whatever it
// starts can be signalled together, and a terminal's Ctrl-C reaches only
// Lode) and has the kernel kill it if Lode dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
