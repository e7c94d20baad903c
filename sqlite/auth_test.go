package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/auth/authtest"
)

func TestAuth(t *testing.T) {
	authtest.Run(t, func(t *testing.T) auth.Store {
		return open(t, filepath.Join(t.TempDir(), "lode.db"))
	})
}
