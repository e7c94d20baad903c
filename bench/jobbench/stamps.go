package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// How a job tells the benchmark it started.
//
// Every job, under Lode and under xargs alike, is the same one-line shell
// command, run by /bin/sh -c:
//
//	date +'TAG %s%N' 1<>'DIR/stamps'
//
// `date` reads the wall clock (CLOCK_REALTIME, the clock Go's time.Now
// reads too, so the two compare on one machine) as the first thing the
// job's own process does, and writes "TAG <ns since the epoch>" into a
// FIFO the benchmark reads. That is as close to "the job's process
// started" as a shell command gets: the time it reports is after the
// fork and exec of the job's shell and of `date` itself (about 2 ms on a
// 2-core VM), and that cost is the same in the floor, so it cancels out of
// the difference. Nothing else is in the way: no polling of files (whose
// mtimes are only as fine as the kernel's tick), no log to parse.
//
// The FIFO is opened read-write (1<>) rather than for writing: such an open
// never blocks, so a job cannot hang waiting for a reader should the
// benchmark be gone. Each line is one write(2) well under PIPE_BUF, so
// lines from concurrent jobs never interleave.

// probeCommand is the job's command for a tag.
func probeCommand(tag, fifo string) string {
	return "date +'" + tag + " %s%N' 1<>'" + fifo + "'"
}

// checkPath refuses a path the probe's single quotes could not hold.
func checkPath(p string) error {
	if strings.ContainsAny(p, "'\n\x00") {
		return fmt.Errorf("path %q has a quote or a newline; pick another -dir", p)
	}
	return nil
}

// stamps reads the FIFO and hands each tag's time to whoever waits for it.
type stamps struct {
	path string
	f    *os.File

	mu      sync.Mutex
	got     map[string]time.Time
	waiters map[string]chan time.Time
	bad     []string // lines that were not "TAG NS"
	done    chan struct{}
	err     error // why reading stopped, once done is closed
}

// openStamps makes the FIFO dir/stamps and starts reading it.
func openStamps(dir string) (*stamps, error) {
	p := dir + "/stamps"
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		return nil, fmt.Errorf("mkfifo %s: %w", p, err)
	}
	// Read-write, so that the reader never sees end-of-file between jobs
	// (when no job holds the FIFO open), and the open does not block.
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	s := &stamps{path: p, f: f, got: map[string]time.Time{}, waiters: map[string]chan time.Time{}, done: make(chan struct{})}
	go s.read()
	return s, nil
}

func (s *stamps) read() {
	defer close(s.done)
	sc := bufio.NewScanner(s.f)
	for sc.Scan() {
		tag, at, ok := parseStamp(sc.Text())
		s.mu.Lock()
		switch {
		case !ok:
			s.bad = append(s.bad, sc.Text())
		case s.waiters[tag] != nil:
			s.waiters[tag] <- at // buffered, never blocks
			delete(s.waiters, tag)
		default:
			s.got[tag] = at
		}
		s.mu.Unlock()
	}
	s.err = sc.Err()
}

// parseStamp reads a line "TAG NS".
func parseStamp(line string) (tag string, at time.Time, ok bool) {
	tag, ns, found := strings.Cut(strings.TrimSpace(line), " ")
	if !found || tag == "" {
		return "", time.Time{}, false
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil || n <= 0 {
		return "", time.Time{}, false
	}
	return tag, time.Unix(0, n), true
}

// wait returns the time the job tagged tag reported, waiting until
// deadline for it.
func (s *stamps) wait(ctx context.Context, tag string, deadline time.Time) (time.Time, error) {
	s.mu.Lock()
	if at, ok := s.got[tag]; ok {
		delete(s.got, tag)
		s.mu.Unlock()
		return at, nil
	}
	ch := make(chan time.Time, 1)
	s.waiters[tag] = ch
	s.mu.Unlock()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case at := <-ch:
		return at, nil
	case <-t.C:
	case <-ctx.Done():
	case <-s.done:
	}
	s.mu.Lock()
	delete(s.waiters, tag)
	bad := s.bad
	s.mu.Unlock()
	select { // it may have come in the meantime
	case at := <-ch:
		return at, nil
	default:
	}
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	err := fmt.Errorf("no start reported by job %s", tag)
	if len(bad) > 0 {
		err = fmt.Errorf("%w (unreadable lines in the FIFO, first: %q)", err, bad[0])
	}
	return time.Time{}, err
}

// close stops reading and removes the FIFO.
func (s *stamps) close() error {
	err := s.f.Close()
	<-s.done
	return errors.Join(err, os.Remove(s.path))
}
