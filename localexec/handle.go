package localexec

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"time"
)

// proc is what both kinds of Handle share: the process group a replica's
// wrapper leads, and how to end it.
type proc struct {
	e *Executor
	procID
	id       string
	exitPath string
}

// ID encodes the wrapper's pid and start time, and the replica (see
// procID).
func (p *proc) ID() string { return p.id }

// Kill ends the replica's process group: SIGTERM and SIGCONT, then SIGKILL
// after the grace period. It returns once no process of the group is left
// (or SIGKILL failed to end them), so it may block for the grace period;
// it is a no-op once the group is gone. Calling it after Wait ends whatever
// the replica left running in the background.
func (p *proc) Kill() error { return p.e.killGroup(p.procID) }

func (e *Executor) killGroup(p procID) error {
	n, err := groupLive(p)
	if err != nil || n == 0 {
		return err
	}
	e.log.Info("killing job replica", "job", p.jobID, "attempt", p.attempt, "rank", p.rank, "pgid", p.pid, "processes", n)
	if err := signalGroup(p.pid, sigTerm); err != nil {
		return fmt.Errorf("localexec: killing replica %s: %w", p.key(), err)
	}
	_ = signalGroup(p.pid, sigCont)
	if gone, err := waitGroupGone(p, e.grace); gone || err != nil {
		return err
	}
	e.log.Warn("job replica outlived SIGTERM, sending SIGKILL", "job", p.jobID, "attempt", p.attempt, "rank", p.rank, "pgid", p.pid, "grace", e.grace)
	if err := signalGroup(p.pid, sigKill); err != nil {
		return fmt.Errorf("localexec: killing replica %s: %w", p.key(), err)
	}
	if gone, err := waitGroupGone(p, killWait); gone || err != nil {
		return err
	}
	return fmt.Errorf("localexec: replica %s (process group %d) still runs after SIGKILL", p.key(), p.pid)
}

// groupLive counts the processes of p's group that have not exited
// (zombies, which wait only to be reaped, do not count); 0 when the group's
// number now belongs to another process's group.
func groupLive(p procID) (int, error) {
	if groupGone(p.pid) {
		return 0, nil // the common case when a job ends: skip the scan
	}
	members, err := listGroup(p.pid)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range members {
		if m.pid == p.pid && m.start != p.start {
			return 0, nil
		}
		if !m.zombie {
			n++
		}
	}
	return n, nil
}

func waitGroupGone(p procID, d time.Duration) (bool, error) {
	deadline := time.Now().Add(d)
	for {
		n, err := groupLive(p)
		if err != nil || n == 0 {
			return n == 0, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procAlive reports whether pid runs and is the process that started at
// start (not a zombie, not a later process that reused the pid).
func procAlive(pid int, start uint64) (bool, error) {
	info, ok, err := readProc(pid)
	if err != nil || !ok {
		return false, err
	}
	return !info.zombie && info.start == start, nil
}

// child is a replica this Executor started: a goroutine reaps it as soon as
// it exits (and then ends), so Wait can give up with its context.
type child struct {
	proc
	r    replica
	cmd  *exec.Cmd
	done chan struct{} // closed once reaped (or once a start failed)
	code int
	err  error
}

func (c *child) reap() {
	err := c.cmd.Wait()
	if ps := c.cmd.ProcessState; ps != nil {
		c.code, c.err = exitCode(ps), nil
	} else {
		c.code, c.err = -1, fmt.Errorf("localexec: waiting for replica %s: %w", c.r.key(), err)
	}
	c.e.release(c)
	close(c.done)
	c.e.log.Info("job replica exited", "job", c.r.jobID, "attempt", c.r.attempt, "rank", c.r.rank, "pid", c.pid, "exit_code", c.code)
}

// Wait returns the replica's exit code: its exit status, or 128+n when
// killed by signal n. When ctx ends first it returns ctx's error; the
// replica runs on.
func (c *child) Wait(ctx context.Context) (int, error) {
	select {
	case <-c.done:
		return c.code, c.err
	default:
	}
	select {
	case <-c.done:
		return c.code, c.err
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// adopted is a replica started before a restart: not this process's child,
// so it is polled, and its exit code read from the exit file.
type adopted struct {
	proc
	mu    sync.Mutex
	ended bool
	code  int
	err   error
}

// Wait polls until the replica's wrapper has exited and returns the exit
// code it recorded, or ErrExitUnknown when it recorded none (killed by
// SIGKILL). When ctx ends first it returns ctx's error.
func (a *adopted) Wait(ctx context.Context) (int, error) {
	t := time.NewTicker(a.e.poll)
	defer t.Stop()
	for {
		if code, ok, err := a.check(); ok {
			return code, err
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-t.C:
		}
	}
}

func (a *adopted) check() (code int, ended bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return a.code, true, a.err
	}
	alive, err := procAlive(a.pid, a.start)
	if err != nil {
		return -1, true, fmt.Errorf("localexec: watching replica %s: %w", a.key(), err)
	}
	if alive {
		return 0, false, nil
	}
	code, ok, err := readExitFile(a.exitPath)
	switch {
	case err != nil:
		return -1, true, err
	case !ok:
		a.code, a.err = -1, fmt.Errorf("replica %s (pid %d): %w", a.key(), a.pid, ErrExitUnknown)
	default:
		a.code, a.err = code, nil
	}
	a.ended = true
	a.e.log.Info("adopted job replica exited", "job", a.jobID, "attempt", a.attempt, "rank", a.rank, "pid", a.pid, "exit_code", a.code, "err", a.err)
	return a.code, true, a.err
}
