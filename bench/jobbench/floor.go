package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// The floor: the same commands, each run by /bin/sh -c as Lode's jobs are,
// started by `xargs -P <parallelism>` on the same machine. It is what
// starting processes costs here with no job system at all: no HTTP, no
// database, no scheduler, no log files.
//
// A line's latency runs from the moment the benchmark starts writing it to
// xargs' standard input (a pipe xargs is blocked reading) to the time the
// command reports, just as a Lode job's runs from the moment its submit
// request starts. NUL-separated input (-0) hands each command to `sh -c`
// verbatim, with no quote processing; -n 1 runs one command per process.

type xargs struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	start  time.Time
}

// startXargs starts `xargs -0 -n 1 -P parallel /bin/sh -c` with env added to
// this process's environment.
func startXargs(parallel int, env []string) (*xargs, error) {
	x := &xargs{}
	x.cmd = exec.Command("xargs", "-0", "-n", "1", "-P", strconv.Itoa(parallel), "/bin/sh", "-c")
	x.cmd.Env = append(os.Environ(), env...)
	x.cmd.Stdout = os.Stderr
	x.cmd.Stderr = &x.stderr
	var err error
	if x.stdin, err = x.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := x.cmd.Start(); err != nil {
		return nil, fmt.Errorf("xargs: %w", err)
	}
	x.start = time.Now()
	return x, nil
}

// hand gives xargs one command and returns when it began to.
func (x *xargs) hand(command string) (time.Time, error) {
	t := time.Now()
	_, err := io.WriteString(x.stdin, command+"\x00")
	return t, err
}

// finish closes xargs' input and waits for it and every command it ran to
// end; it returns the moment xargs exited.
func (x *xargs) finish() (time.Time, error) {
	x.stdin.Close()
	err := x.cmd.Wait()
	end := time.Now()
	if err != nil {
		return end, fmt.Errorf("xargs: %w: %s", err, bytes.TrimSpace(x.stderr.Bytes()))
	}
	return end, nil
}

// kill ends xargs should the benchmark give up; its commands end by
// themselves within a moment.
func (x *xargs) kill() {
	if x.cmd.ProcessState == nil {
		x.cmd.Process.Kill()
		x.cmd.Wait()
	}
}
