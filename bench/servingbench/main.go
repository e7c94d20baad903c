// Command servingbench is the load generator of the serving benchmark
// (bench/serving.sh, `make bench`). It measures one model server at a time,
// already started by the script, and appends the figures to a results file;
// a last call prints them as a Markdown table.
//
//	servingbench freeport                      print a free 127.0.0.1 port
//	servingbench wait -url URL [-pid PID]      wait until GET URL answers 200
//	servingbench run -name NAME -url URL -proto mlflow|v2 -request FILE -results FILE
//	servingbench ceiling -results FILE         an in-process constant handler
//	servingbench report -results FILE [-out FILE]
//
// run first checks the server's prediction for the benchmark's row against
// the one in the request file, then loads it closed-loop: -concurrency
// clients, each sending its next request as soon as the last one is answered,
// for -warmup unmeasured and -duration measured. With -open-loop F it then
// sends requests at a fixed rate, F times the closed-loop rate, and measures
// their latency from the time each was queued for a client. -open-rate R
// runs only that open loop, at R requests/s.
//
// Only the standard library is used, so the root go.mod gains nothing.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: servingbench freeport|wait|run|ceiling|report [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "freeport":
		err = freePort()
	case "wait":
		err = waitCmd(ctx, args)
	case "run", "ceiling":
		err = runCmd(ctx, cmd, args)
	case "report":
		err = reportCmd(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "servingbench:", err)
		os.Exit(1)
	}
}

func freePort() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nil
}

// waitCmd polls GET -url until it answers 200, failing early when the
// process -pid is gone.
func waitCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	url := fs.String("url", "", "URL to poll")
	pid := fs.Int("pid", 0, "fail when this process has exited")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	fs.Parse(args)
	cl := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(*timeout)
	for {
		if resp, err := cl.Get(*url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if *pid > 0 && syscall.Kill(*pid, 0) != nil {
			return fmt.Errorf("process %d exited before %s answered", *pid, *url)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v", *url, *timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// benchRequest is the request file bench/servingmodel.py writes: one row of
// the wine features and scikit-learn's prediction for it.
type benchRequest struct {
	Columns    []string    `json:"columns"`
	Data       [][]float64 `json:"data"`
	Prediction float64     `json:"prediction"`
}

// body encodes the request in a protocol: MLflow scoring's dataframe_split,
// or KServe V2 with one FP64 input per column.
func (r *benchRequest) body(proto string) ([]byte, error) {
	switch proto {
	case "mlflow":
		return json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": r.Columns, "data": r.Data}})
	case "v2":
		type tensor struct {
			Name     string    `json:"name"`
			Shape    []int     `json:"shape"`
			Datatype string    `json:"datatype"`
			Data     []float64 `json:"data"`
		}
		var in []tensor
		for i, c := range r.Columns {
			col := make([]float64, len(r.Data))
			for j, row := range r.Data {
				col[j] = row[i]
			}
			in = append(in, tensor{Name: c, Shape: []int{len(r.Data), 1}, Datatype: "FP64", Data: col})
		}
		return json.Marshal(map[string]any{"inputs": in})
	}
	return nil, fmt.Errorf("unknown protocol %q (mlflow or v2)", proto)
}

// prediction reads the first predicted value from an answer: MLflow's
// {"predictions": [...]} (a list of values or of records) or V2's
// {"outputs": [{"data": [...]}]}.
func prediction(proto string, b []byte) (float64, error) {
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, err
	}
	var x any
	if proto == "v2" {
		if outs, ok := v["outputs"].([]any); ok && len(outs) > 0 {
			if o, ok := outs[0].(map[string]any); ok {
				x = o["data"]
			}
		}
	} else {
		x = v["predictions"]
	}
	if f, ok := firstNumber(x); ok {
		return f, nil
	}
	return 0, fmt.Errorf("no prediction in %.200s", b)
}

func firstNumber(x any) (float64, bool) {
	switch x := x.(type) {
	case float64:
		return x, true
	case []any:
		if len(x) > 0 {
			return firstNumber(x[0])
		}
	case map[string]any:
		if len(x) == 1 {
			for _, v := range x {
				return firstNumber(v)
			}
		}
	}
	return 0, false
}

// target is what run measures: a URL and the body to POST to it.
type target struct {
	url  string
	body []byte
}

// post sends the target's request once and returns the answer's body; any
// status but 200 is an error.
func (t target) post(ctx context.Context, cl *http.Client) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(t.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %.200s", resp.Status, b)
	}
	return b, nil
}

// result is one target's line of the results file.
type result struct {
	Name        string   `json:"name"`
	Setup       string   `json:"setup,omitempty"`
	Concurrency int      `json:"concurrency"`
	Warmup      float64  `json:"warmup_s"`
	Duration    float64  `json:"duration_s"`
	CPUs        int      `json:"cpus"`
	Prediction  *float64 `json:"prediction,omitempty"`
	Closed      stats    `json:"closed_loop"`
	Open        *stats   `json:"open_loop,omitempty"`
	OpenClients int      `json:"open_loop_clients,omitempty"`
	// ServerP99ms bounds the open loop's p99 as the server itself
	// measured it (its latency histogram's bucket), when it has one.
	ServerP99ms float64 `json:"server_p99_at_most_ms,omitempty"`
}

func runCmd(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	name := fs.String("name", cmd, "target's name in the results (lode-onnx, lode-pyfunc, mlflow, mlserver, ceiling or any)")
	setup := fs.String("setup", "", "how the server runs, for the table")
	url := fs.String("url", "", "URL to POST to (run)")
	proto := fs.String("proto", "mlflow", "request protocol: mlflow (POST /invocations, dataframe_split) or v2 (KServe V2 infer)")
	reqFile := fs.String("request", "", "request file written by bench/servingmodel.py (run)")
	tol := fs.Float64("tolerance", 1e-5, "largest accepted difference from scikit-learn's prediction")
	results := fs.String("results", "", "append the result to this JSON-lines file")
	conc := fs.Int("concurrency", 8, "closed-loop clients")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured load before each measurement")
	dur := fs.Duration("duration", 10*time.Second, "measured load per target")
	openAt := fs.Float64("open-loop", 0, "also run at this fraction of the closed-loop rate, open loop (0: don't)")
	openRate := fs.Float64("open-rate", 0, "run only the open loop, at this many requests/s (for exploring; the table wants the closed loop)")
	openClients := fs.Int("open-loop-clients", 64, "most requests in flight in the open-loop test")
	metricsURL := fs.String("server-metrics", "", "Lode's /metrics: also report the open loop's p99 as the server measured it")
	fs.Parse(args)
	if *conc < 1 || *dur <= 0 {
		return errors.New("need -concurrency ≥ 1 and -duration > 0")
	}

	res := result{Name: *name, Setup: *setup, Concurrency: *conc, Warmup: warmup.Seconds(), Duration: dur.Seconds(), CPUs: numCPU()}
	var t target
	if cmd == "ceiling" {
		srv, err := startCeiling()
		if err != nil {
			return err
		}
		defer srv.Close()
		t = target{url: "http://" + srv.Addr + "/invocations", body: []byte(`{"inputs": [0]}`)}
	} else {
		if *url == "" || *reqFile == "" {
			return errors.New("run needs -url and -request")
		}
		b, err := os.ReadFile(*reqFile)
		if err != nil {
			return err
		}
		var br benchRequest
		if err := json.Unmarshal(b, &br); err != nil {
			return fmt.Errorf("%s: %w", *reqFile, err)
		}
		body, err := br.body(*proto)
		if err != nil {
			return err
		}
		t = target{url: *url, body: body}
		// The same answer as scikit-learn's, before any timing.
		ans, err := t.post(ctx, &http.Client{Timeout: 30 * time.Second})
		if err != nil {
			return fmt.Errorf("%s: %w", *name, err)
		}
		p, err := prediction(*proto, ans)
		if err != nil {
			return fmt.Errorf("%s: %w", *name, err)
		}
		if math.Abs(p-br.Prediction) > *tol {
			return fmt.Errorf("%s predicts %v, want %v (±%g)", *name, p, br.Prediction, *tol)
		}
		res.Prediction = &p
		fmt.Fprintf(os.Stderr, "servingbench: %s predicts %.7g (scikit-learn: %.7g)\n", *name, p, br.Prediction)
	}

	rate := *openRate
	if rate <= 0 {
		res.Closed = closedLoop(ctx, t, *conc, *warmup, *dur)
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "servingbench: %s closed loop, %d clients: %s\n", *name, *conc, res.Closed)
		rate = *openAt * res.Closed.RPS
	}
	if rate > 0 {
		var before histogram
		if *metricsURL != "" {
			var err error
			if before, err = scrapeHistogram(ctx, *metricsURL); err != nil {
				return fmt.Errorf("%s: %w", *metricsURL, err)
			}
		}
		o := openLoop(ctx, t, rate, *openClients, *warmup, *dur)
		if err := ctx.Err(); err != nil {
			return err
		}
		res.Open, res.OpenClients = &o, *openClients
		fmt.Fprintf(os.Stderr, "servingbench: %s open loop at %.0f/s: %s\n", *name, rate, o)
		if *metricsURL != "" {
			after, err := scrapeHistogram(ctx, *metricsURL)
			if err != nil {
				return fmt.Errorf("%s: %w", *metricsURL, err)
			}
			res.ServerP99ms = quantileBound(before, after, 0.99)
			fmt.Fprintf(os.Stderr, "servingbench: %s open loop, p99 inside the server ≤ %g ms\n", *name, res.ServerP99ms)
		}
	}
	if *results != "" {
		return appendResult(*results, res)
	}
	return nil
}

// startCeiling serves a constant JSON answer on a free port: the most a Go
// HTTP server and this load generator manage together on this machine.
func startCeiling() (*http.Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	answer := []byte(`{"predictions": [0.0]}`)
	srv := &http.Server{Addr: l.Addr().String(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.Write(answer)
	})}
	go srv.Serve(l)
	return srv, nil
}

func appendResult(path string, r result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
