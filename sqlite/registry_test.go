package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/lode-ml/lode/registry/registrytest"
)

func TestRegistry(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registrytest.Stores {
		db := open(t, filepath.Join(t.TempDir(), "lode.db"))
		return registrytest.Stores{Registry: db, Tracking: db}
	})
}
