package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Each part of the server's data goes to its flag, else under --data-dir,
// else under $LODE_DATA_DIR, else under ./lode-data.
func TestPlaceData(t *testing.T) {
	t.Setenv(dataDirEnv, "")
	c := serverConfig{}
	if err := c.placeData(); err != nil {
		t.Fatal(err)
	}
	want := serverConfig{dataDir: "./lode-data", backendStoreURI: "sqlite:///lode-data/lode.db", artifactsDest: "lode-data/artifacts",
		jobDir: "lode-data/jobs", modelCache: "lode-data/serving/models", rt: runtimeFlags{envCache: "lode-data/serving/envs"}}
	if placed(c) != placed(want) {
		t.Errorf("defaults: %v, want %v", placed(c), placed(want))
	}

	t.Setenv(dataDirEnv, "/srv/from-env")
	c = serverConfig{artifactsDest: "s3://bucket/prefix", jobDir: "/scratch/jobs"}
	if err := c.placeData(); err != nil {
		t.Fatal(err)
	}
	want = serverConfig{dataDir: "/srv/from-env", backendStoreURI: "sqlite:////srv/from-env/lode.db", artifactsDest: "s3://bucket/prefix",
		jobDir: "/scratch/jobs", modelCache: "/srv/from-env/serving/models", rt: runtimeFlags{envCache: "/srv/from-env/serving/envs"}}
	if placed(c) != placed(want) {
		t.Errorf("$%s and two flags: %v, want %v", dataDirEnv, placed(c), placed(want))
	}

	c = serverConfig{dataDir: "data", backendStoreURI: "postgresql://db/lode", modelCache: "/m", rt: runtimeFlags{envCache: "/e"}}
	if err := c.placeData(); err != nil {
		t.Fatal(err)
	}
	want = serverConfig{dataDir: "data", backendStoreURI: "postgresql://db/lode", artifactsDest: "data/artifacts",
		jobDir: "data/jobs", modelCache: "/m", rt: runtimeFlags{envCache: "/e"}}
	if placed(c) != placed(want) {
		t.Errorf("--data-dir beats $%s: %v, want %v", dataDirEnv, placed(c), placed(want))
	}

	if err := (&serverConfig{dataDir: "what?"}).placeData(); err == nil || !strings.Contains(err.Error(), "--backend-store-uri") {
		t.Errorf("a data dir with '?': %v", err)
	}
}

// placed is where c puts each part of the server's data.
func placed(c serverConfig) [6]string {
	return [6]string{c.dataDir, c.backendStoreURI, c.artifactsDest, c.jobDir, c.modelCache, c.rt.envCache}
}

// A server started with --data-dir in one folder writes nothing in the
// folder it runs in: its database, artifacts, a job's snapshot, log and
// Python environment, and a deployed model's files all land under the
// data directory.
func TestDataDirHoldsEverything(t *testing.T) {
	cwd := t.TempDir()
	data := filepath.Join(t.TempDir(), "data")
	s := startServerIn(t, cwd, "--data-dir", data, "--access-log=false", "--deployment-poll", "100ms", "--job-cpus", "1", "--job-gpus", "0")

	// A run with an artifact, then the model the serving tests use.
	registerHalfPlusTwo(t, s)
	s.must("POST", "/api/2.0/lode/deployments/create", map[string]any{"name": "hpt", "model_uri": "models:/hpt/1", "runtime": "onnx"})

	// A job with a Python environment (a bare one: no package to fetch).
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "job.sh"), []byte("echo \"in $VIRTUAL_ENV\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sub := s.must("POST", "/api/2.0/lode/jobs/submit", map[string]any{
		"name": "env", "command": "sh job.sh", "work_dir": work, "python_env": map[string]any{"dependencies": []string{}},
	})
	id, _ := get(sub, "job", "id").(string)
	waitJob(t, s, id, "SUCCEEDED")
	_, logs, _ := s.getBytes("/api/2.0/lode/jobs/logs?id=" + id)
	if !strings.Contains(string(logs), "in "+filepath.Join(data, "serving", "envs")) {
		t.Errorf("the job's environment is not under the data directory:\n%s", logs)
	}

	// The deployment's files are fetched whether ONNX Runtime loads or not.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, _ := get(s.must("GET", "/api/2.0/lode/deployments/get?name=hpt", nil), "deployment", "state").(string)
		if st != "LOADING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment still loading\n%s", s.log)
		}
	}

	if got := listAll(t, cwd); len(got) != 0 {
		t.Errorf("the server wrote in its working directory: %v", got)
	}
	for _, want := range []string{"lode.db", "artifacts/0", "jobs/snapshots/" + id + "/code/job.sh", "jobs/runs/" + id, "serving/models", "serving/envs"} {
		if _, err := os.Stat(filepath.Join(data, want)); err != nil {
			t.Errorf("%s is not in the data directory: %v\n%v", want, err, listAll(t, data))
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(data, "serving", "models")); len(entries) == 0 {
		t.Errorf("no model fetched into serving/models: %v", listAll(t, data))
	}
}

// listAll lists every path under dir, relative to it.
func listAll(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}
