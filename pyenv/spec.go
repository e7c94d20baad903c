// Package pyenv builds Python virtual environments with pip and caches
// them by what they hold: the base interpreter's version and every
// requirement, constraint and local file pip is asked to install. Served
// Python models (pyfunc) and jobs that run MLflow Projects (lode run) both
// run in environments built here, and share the cache.
package pyenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	lode "github.com/lode-ml/lode"
)

// Spec is what an environment is built from: a python_env.yaml (or a
// requirements.txt, or a conda.yaml's pip section) with the -r and -c files
// it names read in.
type Spec struct {
	Source string   // the file it came from, for messages
	Python string   // the Python version asked for, if known
	Build  []string // build dependencies (pip, setuptools, wheel), installed first
	Reqs   []string // requirement and option lines
	Cons   []string // constraint lines
	Files  []string // "path sha256" of local files the requirements name
	Dir    string   // the folder relative paths in the requirements start from
}

// maxIncludeDepth bounds nested -r/-c files.
const maxIncludeDepth = 10

// CleanLines trims lines and drops blank ones and comments.
func CleanLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if l = stripComment(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// stripComment removes a pip comment (a # at the start or after a space)
// and surrounding space.
func stripComment(l string) string {
	l = strings.TrimSpace(l)
	if strings.HasPrefix(l, "#") {
		return ""
	}
	if i := strings.Index(l, " #"); i >= 0 {
		l = l[:i]
	}
	if i := strings.Index(l, "\t#"); i >= 0 {
		l = l[:i]
	}
	return strings.TrimSpace(l)
}

// Add reads requirement lines found in folder base, as pip reads them:
// -r and -c files are read in (relative to base), other lines kept;
// constraint says the lines are constraints. Local wheels and archives
// the lines name are hashed into the environment's key. Errors are
// EInvalidState: the files are the model's or project's, not the request's.
func (s *Spec) Add(base string, lines []string, constraint bool) error {
	return s.add(base, lines, constraint, 0)
}

func (s *Spec) add(base string, lines []string, constraint bool, depth int) error {
	if depth > maxIncludeDepth {
		return lode.Errorf(lode.EInvalidState, "requirement files include each other more than %d deep", maxIncludeDepth)
	}
	for _, l := range CleanLines(lines) {
		opt, arg := splitOption(l)
		switch opt {
		case "-r", "--requirement", "-c", "--constraint":
			path := arg
			if !filepath.IsAbs(path) {
				path = filepath.Join(base, filepath.FromSlash(path))
			}
			sub, err := readRequirementsFile(path)
			if err != nil {
				return lode.Errorf(lode.EInvalidState, "cannot read the requirements of %s: %v", s.Source, err)
			}
			isCons := constraint || opt == "-c" || opt == "--constraint"
			if err := s.add(filepath.Dir(path), sub, isCons, depth+1); err != nil {
				return err
			}
			continue
		}
		if constraint {
			s.Cons = append(s.Cons, l)
		} else {
			s.Reqs = append(s.Reqs, l)
		}
		if opt == "" || opt == "-e" || opt == "--editable" {
			s.hashLocalFile(base, l, arg)
		}
	}
	return nil
}

// splitOption splits "-r file", "--requirement=file" or "-rfile" into the
// option and its argument; a requirement line has no option.
func splitOption(l string) (opt, arg string) {
	if !strings.HasPrefix(l, "-") {
		return "", l
	}
	if i := strings.IndexAny(l, " \t="); i >= 0 {
		return l[:i], strings.TrimSpace(l[i+1:])
	}
	if len(l) > 2 && l[1] != '-' {
		return l[:2], strings.TrimSpace(l[2:]) // -rfile
	}
	return l, ""
}

// hashLocalFile records the content of a local wheel or archive a
// requirement names, so an environment is rebuilt when it changes.
func (s *Spec) hashLocalFile(base, line, arg string) {
	p := arg
	if p == "" {
		p = line
	}
	if !strings.ContainsAny(p, `/\`) && !strings.HasSuffix(p, ".whl") && !strings.HasSuffix(p, ".tar.gz") && !strings.HasSuffix(p, ".zip") {
		return
	}
	p = strings.TrimPrefix(p, "file://")
	for _, cand := range []string{p, filepath.Join(base, p), filepath.Join(s.Dir, p)} {
		f, err := os.Open(cand)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err == nil && st.Mode().IsRegular() {
			h := sha256.New()
			if _, err := io.Copy(h, f); err == nil {
				s.Files = append(s.Files, p+" "+hex.EncodeToString(h.Sum(nil)))
			}
		}
		f.Close()
		return
	}
}

// readRequirementsFile returns a file's logical lines, continuations
// joined.
func readRequirementsFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		if strings.HasSuffix(l, `\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`))
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	return lines, nil
}

// Key names the environment: a hash of the base interpreter's version and
// everything pip is asked to install, in any order.
func (s *Spec) Key(baseVersion string) string {
	h := sha256.New()
	fmt.Fprintf(h, "lode python env 1\npython %s\n", baseVersion)
	for _, part := range []struct {
		tag   string
		lines []string
	}{{"build", s.Build}, {"req", s.Reqs}, {"con", s.Cons}, {"file", s.Files}} {
		lines := slices.Clone(part.lines)
		slices.Sort(lines)
		for _, l := range lines {
			fmt.Fprintf(h, "%s %s\n", part.tag, l)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
