package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/jobs/jobstest"
)

func TestJobs(t *testing.T) {
	jobstest.Run(t, func(t *testing.T) jobs.Store {
		return open(t, filepath.Join(t.TempDir(), "lode.db"))
	})
}
