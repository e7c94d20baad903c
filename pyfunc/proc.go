package pyfunc

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	lode "github.com/lode-ml/lode"
	"github.com/lode-ml/lode/pyenv"
)

// Frames between Lode and a worker: a 4-byte big-endian header length, a
// 4-byte big-endian body length, a JSON header, the body.
const (
	maxHeader = 16 << 20
	maxBody   = 1 << 30
)

// header is a frame's header. Lode sends "predict"; a worker answers
// "ready" or "error" once loaded, then "result" or "error" per request.
type header struct {
	Type        string `json:"type"`
	ID          uint64 `json:"id,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	// Answers.
	Status    int    `json:"status,omitempty"`
	Code      string `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
	Traceback string `json:"traceback,omitempty"`
	Unwrapped bool   `json:"unwrapped,omitempty"`
	Python    string `json:"python,omitempty"`
	MLflow    string `json:"mlflow,omitempty"`
}

type frame struct {
	header
	body []byte
}

func writeFrame(w io.Writer, h header, body []byte) error {
	hb, err := json.Marshal(h)
	if err != nil {
		return err
	}
	buf := make([]byte, 8, 8+len(hb))
	binary.BigEndian.PutUint32(buf[0:4], uint32(len(hb)))
	binary.BigEndian.PutUint32(buf[4:8], uint32(len(body)))
	if _, err := w.Write(append(buf, hb...)); err != nil {
		return err
	}
	if len(body) > 0 {
		_, err = w.Write(body)
	}
	return err
}

func readFrame(r io.Reader) (frame, error) {
	var prefix [8]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return frame{}, err
	}
	hl, bl := binary.BigEndian.Uint32(prefix[0:4]), binary.BigEndian.Uint32(prefix[4:8])
	if hl > maxHeader || bl > maxBody {
		return frame{}, fmt.Errorf("frame too large (header %d, body %d bytes)", hl, bl)
	}
	buf := make([]byte, int(hl)+int(bl))
	if _, err := io.ReadFull(r, buf); err != nil {
		return frame{}, noEOF(err)
	}
	var f frame
	if err := json.Unmarshal(buf[:hl], &f.header); err != nil {
		return frame{}, fmt.Errorf("bad frame header: %w", err)
	}
	f.body = buf[hl:]
	return f, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// proc is one worker process.
type proc struct {
	cmd    *exec.Cmd
	pid    int
	stdin  *os.File
	frames chan frame // what the worker sends; closed when its output ends
	log    *slog.Logger

	abandon     chan struct{} // closed when no one reads frames any more
	abandonOnce sync.Once
	exited      chan struct{} // closed once the process has exited
	exitErr     error         // why, once exited is closed
	done        chan struct{} // closed once its pipes are drained and closed

	stderrMu   sync.Mutex
	stderrTail pyenv.LineTail

	python, mlflow string // from its ready frame
}

// spawn starts a worker and waits until it has loaded the model.
func spawn(ctx context.Context, c *modelConfig) (*proc, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, lode.Internal(err, "cannot start a Python worker")
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, lode.Internal(err, "cannot start a Python worker")
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, lode.Internal(err, "cannot start a Python worker")
	}
	cmd := exec.Command(c.python, c.script, c.dir)
	cmd.Dir = c.workDir
	cmd.Env = append(slices.Clip(c.env), "PYTHONUNBUFFERED=1", "PYTHONIOENCODING=utf-8")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, lode.Errorf(lode.EInvalidState, "cannot start Python worker %s: %v", c.python, err)
	}
	p := &proc{
		cmd:        cmd,
		pid:        cmd.Process.Pid,
		stdin:      inW,
		frames:     make(chan frame, 1),
		abandon:    make(chan struct{}),
		exited:     make(chan struct{}),
		done:       make(chan struct{}),
		stderrTail: pyenv.LineTail{Max: 20},
	}
	p.log = c.log.With("pid", p.pid)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); p.readFrames(outR) }()
	go func() { defer readers.Done(); p.forwardStderr(errR) }()
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
		killGroup(cmd.Process) // whatever the worker started
		t := time.AfterFunc(2*time.Second, func() {
			// Something outside the group holds the pipes: stop reading.
			outR.Close()
			errR.Close()
		})
		readers.Wait()
		t.Stop()
		outR.Close()
		errR.Close()
		inW.Close()
		close(p.done)
	}()

	select {
	case f, ok := <-p.frames:
		switch {
		case !ok:
			p.stop(0)
			return nil, lode.Errorf(lode.EInvalidState, "the Python worker for model %s exited before loading it (%s)%s",
				c.name, exitStatus(p.exitErr), p.stderrLines())
		case f.Type == "error":
			p.stop(0)
			c.log.Debug("python worker failed to load the model", "traceback", f.Traceback)
			return nil, lode.Errorf(lode.EInvalidState, "cannot load model %s in Python: %s", c.name, f.Message)
		case f.Type != "ready":
			p.stop(0)
			return nil, lode.Errorf(lode.EInternal, "the Python worker for model %s sent %q before it was ready", c.name, f.Type)
		}
		p.python, p.mlflow = f.Python, f.MLflow
		return p, nil
	case <-ctx.Done():
		p.stop(0)
		return nil, ctxError(ctx, "loading the model")
	}
}

// readFrames passes the worker's frames on until its output ends.
func (p *proc) readFrames(r io.Reader) {
	defer close(p.frames)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		f, err := readFrame(br)
		if err != nil {
			if err != io.EOF && !errors.Is(err, os.ErrClosed) {
				p.log.Warn("python worker sent a broken frame; stopping it", "err", err)
				killGroup(p.cmd.Process)
			}
			return
		}
		select {
		case p.frames <- f:
		case <-p.abandon:
			return
		}
	}
}

// forwardStderr logs what the worker writes to stderr, line by line, and
// keeps the last lines for error messages.
func (p *proc) forwardStderr(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			s := strings.TrimRight(string(line), "\r\n")
			if strings.TrimSpace(s) != "" {
				p.stderrMu.Lock()
				p.stderrTail.Add(s)
				p.stderrMu.Unlock()
				p.log.Info("python: " + s)
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (p *proc) stderrLines() string {
	p.stderrMu.Lock()
	defer p.stderrMu.Unlock()
	if p.stderrTail.Len() == 0 {
		return ""
	}
	return ":\n" + p.stderrTail.String()
}

// kill stops the worker at once.
func (p *proc) kill() { killGroup(p.cmd.Process) }

// stop ends the worker: its input closes and it is asked to terminate,
// then killed after grace; stop returns once it has exited and its pipes
// are closed.
func (p *proc) stop(grace time.Duration) {
	p.abandonOnce.Do(func() { close(p.abandon) })
	select {
	case <-p.exited:
	default:
		if grace > 0 {
			p.stdin.Close()
			termGroup(p.cmd.Process)
			t := time.NewTimer(grace)
			select {
			case <-p.exited:
			case <-t.C:
				p.log.Warn("python worker did not stop in time; killing it", "grace", grace)
			}
			t.Stop()
		}
		p.kill()
	}
	<-p.done
}

// exitStatus describes how a process ended.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	return err.Error()
}

// ctxError is the error for a context that ended while doing what.
func ctxError(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return lode.Errorf(lode.EDeadline, "deadline exceeded while %s", what)
	}
	return lode.Errorf(lode.EDeadline, "request canceled while %s", what)
}
