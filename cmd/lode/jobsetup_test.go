package main

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lode-ml/lode"
)

func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if rel, _ := filepath.Rel(root, p); rel != "." {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// A job submitted from the folder the server runs in copies the user's
// files, not the server's data, and never its own snapshot into itself.
func TestSnapshotLeavesServerDataOut(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"train.py":                            "print(1)\n",
		"pkg/util.py":                         "x = 1\n",
		".git/HEAD":                           "ref: refs/heads/main\n",
		"lode-data/lode.db":                   "not copied",
		"lode-data/artifacts/0/a.txt":         "not copied",
		"lode-data/jobs/runs/x/0.log":         "not copied",
		"lode-data/serving/envs/k/bin/python": "not copied",
	})
	os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	data := filepath.Join(src, "lode-data")
	snap := snapshotter(filepath.Join(data, "jobs", "snapshots"), 1<<20,
		filepath.Join(data, "jobs"), filepath.Join(data, "artifacts"), filepath.Join(data, "serving", "envs"), filepath.Join(data, "lode.db"))
	dst, err := snap(context.Background(), src, "job1")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(listTree(t, dst), " ")
	if want := "lode-data lode-data/serving pkg pkg/util.py train.py"; got != want {
		t.Fatalf("snapshot holds %q, want %q", got, want)
	}
	// Twice from the same folder: the first snapshot is not copied either.
	if dst2, err := snap(context.Background(), src, "job2"); err != nil || strings.Join(listTree(t, dst2), " ") != got {
		t.Fatalf("second snapshot: %v %v", listTree(t, dst2), err)
	}

	small := snapshotter(filepath.Join(t.TempDir(), "snapshots"), 5)
	if _, err := small(context.Background(), src, "job3"); lode.ErrorCode(err) != lode.ETooLarge {
		t.Fatalf("oversized work dir: %v", err)
	}
	if _, err := small(context.Background(), "relative/dir", "job4"); lode.ErrorCode(err) != lode.EInvalid {
		t.Fatalf("relative work dir: %v", err)
	}
}

// The server finds its GPUs with nvidia-smi on PATH (here a script
// printing what nvidia-smi prints on a two-GPU machine); --job-gpus
// overrides it, and a broken driver is an error rather than no GPUs.
func TestLocalNodeGPUs(t *testing.T) {
	bin := t.TempDir()
	smi := filepath.Join(bin, "nvidia-smi")
	write := func(script string) {
		t.Helper()
		if err := os.WriteFile(smi, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("printf '0, GPU-6b0d4b9a\\n1, GPU-7c1e5cab\\n'\n")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	n, err := localNode(1.5, "2Gi", -1)
	if err != nil {
		t.Fatal(err)
	}
	if n.Capacity.GPUs != 2 || strings.Join(n.GPUIDs, ",") != "0,1" || n.Capacity.MilliCPU != 1500 || n.Capacity.MemoryBytes != 2<<30 {
		t.Fatalf("node %+v", n)
	}
	if n, err := localNode(0, "", 0); err != nil || n.Capacity.GPUs != 0 || n.Capacity.MilliCPU <= 0 || n.Capacity.MemoryBytes <= 0 {
		t.Fatalf("--job-gpus 0: %+v %v", n, err)
	}
	write("echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"\n")
	if _, err := localNode(0, "", -1); err == nil || !strings.Contains(err.Error(), "nvidia-smi") {
		t.Fatalf("broken driver: %v", err)
	}
}
