package serving

import (
	"net/url"
	"strings"

	"github.com/lode-ml/lode"
)

// RefKind says what a model URI points at.
type RefKind int

// The kinds of model URI Lode serves.
const (
	// RefRegistry is models:/name/version, models:/name@alias or
	// models:/name/stage (including "latest").
	RefRegistry RefKind = iota + 1
	// RefRun is runs:/run-id/path.
	RefRun
	// RefLocal is a folder holding an MLmodel file.
	RefLocal
)

// Ref is a parsed model URI.
type Ref struct {
	URI  string
	Kind RefKind
	// Registry models: Name and exactly one of Version, Alias, Stage.
	Name, Version, Alias, Stage string
	// Runs: the run and the artifact path of the model in it.
	RunID, Path string
	// Local folders.
	Dir string
}

// Follows reports whether the URI names a moving target (an alias, a
// stage or latest) whose version may change while it is served.
func (r Ref) Follows() bool { return r.Kind == RefRegistry && r.Version == "" }

// ParseModelURI parses the model URIs `lode serve -m` and deployments take:
// models:/name/N, models:/name@alias, models:/name/Stage, models:/name/latest,
// runs:/run-id/path, or a local folder (a path, or file:///path).
func ParseModelURI(uri string) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, lode.Errorf(lode.EInvalid, "invalid model URI '%s': %s (want models:/name/version, models:/name@alias, runs:/run-id/path or a local folder)", uri, why)
	}
	r := Ref{URI: uri}
	switch {
	case uri == "":
		return bad("empty")
	case strings.HasPrefix(uri, "models:"):
		rest := strings.TrimLeft(strings.TrimPrefix(uri, "models:"), "/")
		r.Kind = RefRegistry
		if name, alias, ok := strings.Cut(rest, "@"); ok {
			if name == "" || alias == "" || strings.Contains(alias, "/") {
				return bad("expected models:/name@alias")
			}
			r.Name, r.Alias = name, alias
			return r, nil
		}
		name, ver, ok := strings.Cut(rest, "/")
		if !ok || name == "" || ver == "" || strings.Contains(ver, "/") {
			return bad("expected models:/name/version")
		}
		r.Name = name
		if isDigits(ver) {
			r.Version = ver
		} else {
			r.Stage = ver
		}
		return r, nil
	case strings.HasPrefix(uri, "runs:"):
		rest := strings.TrimLeft(strings.TrimPrefix(uri, "runs:"), "/")
		id, p, _ := strings.Cut(rest, "/")
		if id == "" {
			return bad("expected runs:/run-id/path")
		}
		r.Kind, r.RunID, r.Path = RefRun, id, strings.Trim(p, "/")
		return r, nil
	case strings.HasPrefix(uri, "file:"):
		u, err := url.Parse(uri)
		if err != nil || (u.Host != "" && u.Host != "localhost") || u.Path == "" {
			return bad("expected file:///absolute/path")
		}
		r.Kind, r.Dir = RefLocal, u.Path
		return r, nil
	case strings.Contains(uri, "://"):
		return bad("unsupported scheme")
	}
	r.Kind, r.Dir = RefLocal, uri
	return r, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
