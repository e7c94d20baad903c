package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/lode-ml/lode/tune"
	"github.com/lode-ml/lode/tune/tunetest"
)

func TestStudies(t *testing.T) {
	tunetest.Run(t, func(t *testing.T) tune.Store {
		return open(t, filepath.Join(t.TempDir(), "lode.db"))
	})
}
