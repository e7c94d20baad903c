package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The client speaks the jobs REST API (docs/jobs.md) with net/http and
// encoding/json only, so the root go.mod gains nothing and the benchmark
// sees exactly what any other client sees.

// submitReq is the body of POST jobs/submit; only the fields the benchmark
// sets.
type submitReq struct {
	Name      string            `json:"name"`
	Command   string            `json:"command"`
	Env       map[string]string `json:"env,omitempty"`
	WorkDir   string            `json:"work_dir,omitempty"`
	Resources struct {
		MilliCPU int64 `json:"milli_cpu"`
	} `json:"resources"`
	// TimeoutSeconds bounds each job, so that nothing the benchmark
	// submitted can run on for long should the benchmark itself die.
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty"`
}

// transition is one entry of a job's history.
type transition struct {
	State  string `json:"state"`
	TimeMs int64  `json:"timestamp_ms"`
	Reason string `json:"reason,omitempty"`
}

// job is what the benchmark reads of a job.
type job struct {
	ID       string       `json:"id"`
	State    string       `json:"state"`
	Reason   string       `json:"reason"`
	History  []transition `json:"history"`
	ExitCode *int         `json:"exit_code"`
}

// final reports whether the job has ended.
func (j *job) final() bool {
	return j.State == "SUCCEEDED" || j.State == "FAILED" || j.State == "CANCELLED"
}

// at returns the time (ms) the job last entered state, 0 if never.
func (j *job) at(state string) int64 {
	for i := len(j.History) - 1; i >= 0; i-- {
		if j.History[i].State == state {
			return j.History[i].TimeMs
		}
	}
	return 0
}

// apiError is the server's MLflow-style error answer.
type apiError struct {
	Status  int
	Code    string `json:"error_code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

type client struct {
	base string // http://127.0.0.1:PORT/api/2.0/lode/
	hc   *http.Client
}

func newClient(server string, conns int) *client {
	return &client{
		base: strings.TrimRight(server, "/") + "/api/2.0/lode/",
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			// Keep-alive connections for every submitter, so that no
			// submission pays for a TCP handshake the floor does not.
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		}},
	}
}

// do sends one request and decodes a 200 answer into out.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return e
	}
	return json.Unmarshal(b, out)
}

func (c *client) submit(ctx context.Context, r *submitReq) (*job, error) {
	var out struct {
		Job *job `json:"job"`
	}
	if err := c.do(ctx, http.MethodPost, "jobs/submit", r, &out); err != nil {
		return nil, err
	}
	if out.Job == nil || out.Job.ID == "" {
		return nil, fmt.Errorf("jobs/submit answered no job")
	}
	return out.Job, nil
}

func (c *client) get(ctx context.Context, id string) (*job, error) {
	var out struct {
		Job *job `json:"job"`
	}
	if err := c.do(ctx, http.MethodGet, "jobs/get?id="+url.QueryEscape(id), nil, &out); err != nil {
		return nil, err
	}
	if out.Job == nil {
		return nil, fmt.Errorf("jobs/get answered no job")
	}
	return out.Job, nil
}

// list returns one page of jobs in the given states, newest first.
func (c *client) list(ctx context.Context, states []string, max int, token string) ([]*job, string, error) {
	q := url.Values{}
	for _, s := range states {
		q.Add("state", s)
	}
	q.Set("max_results", strconv.Itoa(max))
	if token != "" {
		q.Set("page_token", token)
	}
	var out struct {
		Jobs []*job `json:"jobs"`
		Next string `json:"next_page_token"`
	}
	if err := c.do(ctx, http.MethodGet, "jobs/list?"+q.Encode(), nil, &out); err != nil {
		return nil, "", err
	}
	return out.Jobs, out.Next, nil
}

// waitEnded polls jobs/get until the job has ended, every poll, for at most
// limit.
func (c *client) waitEnded(ctx context.Context, id string, poll, limit time.Duration) (*job, error) {
	deadline := time.Now().Add(limit)
	for {
		j, err := c.get(ctx, id)
		if err != nil {
			return nil, err
		}
		if j.final() {
			return j, nil
		}
		if time.Now().After(deadline) {
			return j, fmt.Errorf("job %s still %s after %v", id, j.State, limit)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}
