package pyenv

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	lode "github.com/lode-ml/lode"
)

func TestSplitOption(t *testing.T) {
	for line, want := range map[string][2]string{
		"-r a.txt":             {"-r", "a.txt"},
		"-ra.txt":              {"-r", "a.txt"},
		"--requirement=a.txt":  {"--requirement", "a.txt"},
		"--constraint  c.txt":  {"--constraint", "c.txt"},
		"numpy==2":             {"", "numpy==2"},
		"--no-binary=:all:":    {"--no-binary", ":all:"},
		"--pre":                {"--pre", ""},
		"-e git+https://x/y#e": {"-e", "git+https://x/y#e"},
	} {
		if opt, arg := splitOption(line); opt != want[0] || arg != want[1] {
			t.Errorf("splitOption(%q) = %q, %q", line, opt, arg)
		}
	}
}

func TestAddAndKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("requirements.txt", "scikit-learn==1.7.2\n-c sub/cons.txt\n")
	write("sub/cons.txt", "numpy<3\n")
	s := &Spec{Source: "python_env.yaml", Dir: dir}
	if err := s.Add(dir, []string{"mlflow==3.17.2  # pinned", "", "-r requirements.txt"}, false); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Reqs, []string{"mlflow==3.17.2", "scikit-learn==1.7.2"}) || !slices.Equal(s.Cons, []string{"numpy<3"}) {
		t.Fatalf("spec %+v", s)
	}
	bare := &Spec{}
	if bare.Key("3.11.2") == s.Key("3.11.2") || bare.Key("3.11.2") != (&Spec{Source: "x"}).Key("3.11.2") {
		t.Fatal("the key must follow what is installed, and only that")
	}
	if err := s.Add(dir, []string{"-r missing.txt"}, false); lode.ErrorCode(err) != lode.EInvalidState {
		t.Fatalf("missing file: %v", err)
	}
}

func TestEnviron(t *testing.T) {
	got := Environ("/envs/abc", []string{"PATH=/usr/bin", "VIRTUAL_ENV=/old", "PYTHONHOME=/x", "HOME=/h"})
	want := []string{"PATH=/envs/abc/bin" + string(os.PathListSeparator) + "/usr/bin", "HOME=/h", "VIRTUAL_ENV=/envs/abc"}
	if !slices.Equal(got, want) {
		t.Fatalf("Environ = %q", got)
	}
	if got := Environ("/e", nil); !slices.Equal(got, []string{"PATH=/e/bin", "VIRTUAL_ENV=/e"}) {
		t.Fatalf("Environ without PATH = %q", got)
	}
	if MajorMinor("3.11.7") != "3.11" || MajorMinor("3") != "3" {
		t.Fatal("MajorMinor")
	}
}
