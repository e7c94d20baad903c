package postgres_test

import (
	"testing"

	"github.com/lode-ml/lode/tune"
	"github.com/lode-ml/lode/tune/tunetest"
)

func TestStudies(t *testing.T) {
	cluster.Require(t)
	tunetest.Run(t, func(t *testing.T) tune.Store {
		return open(t, newDSN(t))
	})
}
