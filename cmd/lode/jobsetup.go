package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/artifact"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/localexec"
	"github.com/lode-ml/lode/tracking"
)

// localNode describes this machine for the scheduler: the flags when set,
// else what the machine has (CPUs, MemTotal, GPUs listed by nvidia-smi).
func localNode(cpus float64, memory string, gpus int) (jobs.Node, error) {
	milli := int64(cpus * 1000)
	if cpus <= 0 {
		milli = int64(runtime.NumCPU()) * 1000
	}
	var mem int64
	if memory != "" {
		m, err := parseMemory(memory)
		if err != nil {
			return jobs.Node{}, fmt.Errorf("--job-memory: %w", err)
		}
		mem = m
	} else {
		mem = memTotal()
	}
	var ids []string
	switch {
	case gpus >= 0:
		for i := 0; i < gpus; i++ {
			ids = append(ids, strconv.Itoa(i))
		}
	default:
		if smi, err := exec.LookPath("nvidia-smi"); err == nil {
			out, err := exec.Command(smi, "--query-gpu=index,uuid", "--format=csv,noheader").Output()
			if err == nil {
				ids, err = jobs.ParseNvidiaSMI(string(out))
			}
			if err != nil {
				return jobs.Node{}, fmt.Errorf("nvidia-smi: %w (start with --job-gpus 0 to run jobs without GPUs)", err)
			}
		}
	}
	n := jobs.Node{Name: "local", Addr: "127.0.0.1", Capacity: jobs.Resources{MilliCPU: milli, MemoryBytes: mem, GPUs: len(ids)}, GPUIDs: ids}
	return n, nil
}

// memTotal is the machine's memory from /proc/meminfo (16 GiB if unknown).
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 16 << 30
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
				return kb << 10
			}
		}
	}
	return 16 << 30
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// snapshotter copies a job's working directory under root/<job id>/code
// (regular files and directories; .git and symlinks are left out), bounded
// in size, so the job runs the code as it was when submitted. The paths in
// skip (the server's own data: the job folder holding root, artifacts,
// caches, the database) are left out too: a job submitted from the folder
// the server was started in must not copy the server's data, least of all
// its own snapshot into itself.
func snapshotter(root string, maxBytes int64, skip ...string) func(ctx context.Context, src, id string) (string, error) {
	skipped := map[string]bool{}
	for _, p := range append(skip, root) {
		if p == "" {
			continue // not a path: filepath.Abs would make it the current directory
		}
		if abs, err := filepath.Abs(p); err == nil {
			skipped[abs] = true
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				skipped[real] = true
			}
		}
	}
	return func(ctx context.Context, src, id string) (string, error) {
		if !filepath.IsAbs(src) {
			return "", lode.Errorf(lode.EInvalid, "work_dir must be an absolute path on the server's machine, got '%s'", src)
		}
		st, err := os.Stat(src)
		if err != nil || !st.IsDir() {
			return "", lode.Errorf(lode.EInvalid, "work_dir '%s' is not a directory on the server's machine", src)
		}
		dst := filepath.Join(root, id, "code")
		var total int64
		err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if skipped[p] && rel != "." {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if d.Name() == ".git" && rel != "." {
					return filepath.SkipDir
				}
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if total += info.Size(); total > maxBytes {
				return lode.Errorf(lode.ETooLarge, "work_dir '%s' holds more than %d bytes; make it smaller or raise --max-job-snapshot-bytes", src, maxBytes)
			}
			return copyFile(p, filepath.Join(dst, rel), info.Mode().Perm())
		})
		if err != nil {
			os.RemoveAll(filepath.Join(root, id))
			if lode.ErrorCode(err) != lode.EInternal {
				return "", err
			}
			return "", lode.Internal(err, "cannot snapshot the job's working directory")
		}
		return dst, nil
	}
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// pythonEnvRunner is how the server's jobs get their Python environments
// (MLflow Projects with a python_env): this binary's `env exec`, with the
// server's base interpreter and environment cache, so jobs and served
// models share environments.
func pythonEnvRunner(python, cache string) ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find the lode binary to run jobs' Python environments: %w", err)
	}
	if p, err := exec.LookPath(python); err == nil {
		python = p // jobs have a smaller PATH than the server
	}
	if abs, err := filepath.Abs(python); err == nil && strings.ContainsRune(python, filepath.Separator) {
		python = abs
	}
	cache, err = filepath.Abs(cache)
	if err != nil {
		return nil, err
	}
	return []string{self, "env", "exec", "--python", python, "--cache", cache}, nil
}

// startJobs starts the job service: jobs run as local processes on this
// machine, each with a run in this server's tracking store (reached at
// target), their code snapshotted under --job-dir.
func startJobs(ctx context.Context, c serverConfig, db jobs.Store, dbPath string, tr *tracking.Service, arts artifact.Store, target trackingTarget,
	creds jobs.Credentials, readable lode.ReadableFunc, logger *slog.Logger) (*jobs.Service, error) {
	node, err := localNode(c.jobCPUs, c.jobMemory, c.jobGPUs)
	if err != nil {
		return nil, err
	}
	jobDir, err := filepath.Abs(c.jobDir)
	if err != nil {
		return nil, err
	}
	runner, err := pythonEnvRunner(c.rt.python, c.rt.envCache)
	if err != nil {
		return nil, err
	}
	svc := &jobs.Service{
		Store: db, Exec: localexec.New(localexec.Options{BaseDir: filepath.Join(jobDir, "runs"), Logger: logger, PythonEnvRunner: runner}),
		Tracker:          &jobTracker{tracking: tr, artifacts: arts},
		Nodes:            []jobs.Node{node},
		TrackingURI:      target.uri,
		TrackingCertPath: target.certPath,
		FreePort:         freePort,
		Snapshot: snapshotter(filepath.Join(jobDir, "snapshots"), c.maxSnapshotBytes,
			append([]string{c.dataDir, jobDir, c.artifactsDest, c.modelCache, c.rt.envCache}, sqliteFiles(dbPath)...)...),
		Credentials: creds,
		Readable:    readable,
		Logger:      logger,
	}
	if err := svc.Start(ctx); err != nil {
		return nil, fmt.Errorf("start jobs: %w", err)
	}
	logger.Info("jobs run here", "cpus", float64(node.Capacity.MilliCPU)/1000, "memory_bytes", node.Capacity.MemoryBytes, "gpus", node.GPUIDs)
	return svc, nil
}
