package main

import (
	"context"
	"fmt"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/postgres"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/serving"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
	"github.com/lode-ml/lode/tune"
)

// metadataStore is what the server keeps in its database: SQLite on one
// machine, PostgreSQL for a team (several servers may share one).
type metadataStore interface {
	tracking.Store
	registry.Store
	jobs.Store
	serving.DeploymentStore
	auth.Store
	tune.Store
	SchemaVersion(ctx context.Context) (int, error)
	Close() error
}

var (
	_ metadataStore = (*sqlite.DB)(nil)
	_ metadataStore = (*postgres.DB)(nil)
)

// openMetadata opens (and migrates) the store uri names. path is the
// SQLite file ("" for PostgreSQL), which job snapshots must leave out.
func openMetadata(ctx context.Context, uri, defaultArtifactRoot, synchronous string) (metadataStore, string, error) {
	if postgres.IsURI(uri) {
		dsn, err := postgres.DSNFromURI(uri)
		if err != nil {
			return nil, "", fmt.Errorf("--backend-store-uri: %w", err)
		}
		db, err := postgres.Open(ctx, dsn, postgres.Options{DefaultArtifactRoot: defaultArtifactRoot})
		if err != nil {
			return nil, "", fmt.Errorf("open %s: %w", redactURI(uri), err)
		}
		return db, "", nil
	}
	path, err := sqlite.PathFromURI(uri)
	if err != nil {
		return nil, "", fmt.Errorf("--backend-store-uri: %w", err)
	}
	db, err := sqlite.Open(ctx, path, sqlite.Options{DefaultArtifactRoot: defaultArtifactRoot, Synchronous: synchronous})
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", path, err)
	}
	return db, path, nil
}

// sqliteFiles are a SQLite database's files (none for "").
func sqliteFiles(path string) []string {
	if path == "" {
		return nil
	}
	return []string{path, path + "-wal", path + "-shm"}
}
