package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
)

// dataDirEnv names the data directory when --data-dir is not given.
const dataDirEnv = "LODE_DATA_DIR"

// defaultDataDir is the data directory when neither --data-dir nor
// $LODE_DATA_DIR names one.
const defaultDataDir = "./lode-data"

// The server's data, under its data directory unless a flag puts a part
// elsewhere.
const (
	dataDB         = "lode.db"
	dataArtifacts  = "artifacts"
	dataJobs       = "jobs"
	dataModelCache = "serving/models"
	dataEnvCache   = "serving/envs"
)

// registerDataDir adds --data-dir to f.
func registerDataDir(f *pflag.FlagSet, dir *string) {
	f.StringVar(dir, "data-dir", "", "where the server's data lives, but for the parts their own flags put elsewhere: "+
		dataDB+" (SQLite), "+dataArtifacts+"/, "+dataJobs+"/ (job snapshots and logs), "+dataModelCache+"/, "+dataEnvCache+"/ "+
		"(default $"+dataDirEnv+", else "+defaultDataDir+")")
}

// resolveDataDir is the data directory: the flag, else $LODE_DATA_DIR,
// else ./lode-data.
func resolveDataDir(flag string) string {
	if flag != "" {
		return flag
	}
	if d := os.Getenv(dataDirEnv); d != "" {
		return d
	}
	return defaultDataDir
}

// inDataDir is where part lives under dir.
func inDataDir(dir, part string) string {
	return filepath.Join(dir, filepath.FromSlash(part))
}

// sqliteURIIn is the SQLite URI of the database under dir.
func sqliteURIIn(dir string) (string, error) {
	p := inDataDir(dir, dataDB)
	if strings.ContainsRune(p, '?') {
		// A SQLite URI ends its path at '?'.
		return "", fmt.Errorf("--data-dir %q: a path with '?' cannot hold the database (give --backend-store-uri)", dir)
	}
	return "sqlite:///" + filepath.ToSlash(p), nil
}

// orInDataDir is path, else part under dir.
func orInDataDir(path, dir, part string) string {
	if path != "" {
		return path
	}
	return inDataDir(dir, part)
}
