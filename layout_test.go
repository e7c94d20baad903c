package lode_test

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Domain packages hold types and rules only: no transport, no database.
// An adapter may import the domain, never the reverse (DESIGN.md).
func TestDomainPackagesStayPure(t *testing.T) {
	forbidden := []string{"net/http", "database/sql", "github.com/mattn/go-sqlite3",
		"github.com/lode-ml/lode/sqlite", "github.com/lode-ml/lode/mlflowapi", "github.com/lode-ml/lode/localfs",
		"github.com/lode-ml/lode/onnx", "github.com/lode-ml/lode/pyfunc", "github.com/lode-ml/lode/inferapi", "github.com/yalue/onnxruntime_go", "github.com/lode-ml/lode/localexec", "github.com/lode-ml/lode/pyenv",
		"github.com/lode-ml/lode/postgres", "github.com/jackc/pgx/v5", "github.com/lode-ml/lode/s3store", "github.com/aws/aws-sdk-go-v2/service/s3", "github.com/lode-ml/lode/web"}
	for _, pkg := range []string{"github.com/lode-ml/lode", "github.com/lode-ml/lode/tracking", "github.com/lode-ml/lode/artifact",
		"github.com/lode-ml/lode/registry", "github.com/lode-ml/lode/serving", "github.com/lode-ml/lode/jobs", "github.com/lode-ml/lode/tune"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		for _, f := range forbidden {
			if deps[f] {
				t.Errorf("%s depends on %s", pkg, f)
			}
		}
	}
}

// Every package says what it is in a package comment.
func TestPackagesHaveDocComments(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range strings.Fields(string(out)) {
		pkgs, err := parser.ParseDir(token.NewFileSet(), dir, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range pkgs {
			if strings.HasSuffix(name, "_test") {
				continue
			}
			documented := false
			for _, f := range p.Files {
				if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
					documented = true
				}
			}
			if !documented {
				t.Errorf("package %s in %s has no package comment", name, filepath.Base(dir))
			}
		}
	}
}
