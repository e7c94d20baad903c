package mlproject

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	lode "github.com/lode-ml/lode"
)

// MaxFileSize bounds the MLproject and python_env.yaml files this package
// reads.
const MaxFileSize = 1 << 20

// readBounded reads r, refusing more than MaxFileSize bytes.
func readBounded(r io.Reader, file string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, lode.Internal(err, "cannot read "+file)
	}
	if len(b) > MaxFileSize {
		return nil, lode.Errorf(lode.EInvalid, "%s is larger than %d bytes", file, MaxFileSize)
	}
	return b, nil
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses one YAML document, returning its root node, or nil for
// an empty document. Syntax errors read "file:line: message".
func parseYAML(b []byte, file string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err, file)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errAt(file, &extra, "expected a single YAML document, found more")
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(err, file)
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return deref(doc.Content[0]), nil
	}
	return deref(&doc), nil
}

func yamlError(err error, file string) error {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		return lode.Errorf(lode.EInvalid, "%s:%s: invalid YAML: %s", file, m[1], m[2])
	}
	return lode.Errorf(lode.EInvalid, "%s: invalid YAML: %s", file, strings.TrimPrefix(msg, "yaml: "))
}

// errAt returns an EInvalid error located at node n of file.
func errAt(file string, n *yaml.Node, format string, args ...any) error {
	if n != nil && n.Line > 0 {
		return lode.Errorf(lode.EInvalid, "%s:%d: %s", file, n.Line, fmt.Sprintf(format, args...))
	}
	return lode.Errorf(lode.EInvalid, "%s: %s", file, fmt.Sprintf(format, args...))
}

// deref follows aliases to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// pair is one key: value entry of a YAML mapping.
type pair struct {
	key     string
	keyNode *yaml.Node
	val     *yaml.Node
}

// mapping returns the entries of mapping node n, in the order PyYAML's
// dict would hold them, merge keys (<<: *anchor) applied. A null node is
// an empty mapping. Duplicate keys are refused (PyYAML would keep the last
// silently).
func mapping(file string, n *yaml.Node, what string) ([]pair, error) {
	return mappingDepth(file, n, what, 0)
}

func mappingDepth(file string, n *yaml.Node, what string, depth int) ([]pair, error) {
	n = deref(n)
	if n == nil || isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, errAt(file, n, "%s must be a mapping", what)
	}
	if depth > 20 {
		return nil, errAt(file, n, "%s: merge keys nest too deep", what)
	}
	var merged, own []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(file, k, "%s: keys must be scalars", what)
		}
		if k.Value == "<<" && (plain(k) || k.ShortTag() == "!!merge") {
			// As PyYAML 6.0.4's flatten_mapping: merged entries, in
			// order, come before the mapping's own, and then the dict
			// keeps the last value set, so the mapping's own keys win, and
			// of several merged mappings the last (YAML's spec says the
			// first; older PyYAML agreed).
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, src := range sources {
				src = deref(src)
				if src.Kind != yaml.MappingNode {
					return nil, errAt(file, src, "%s: << must merge a mapping", what)
				}
				ps, err := mappingDepth(file, src, what, depth+1)
				if err != nil {
					return nil, err
				}
				merged = append(merged, ps...)
			}
			continue
		}
		if seen[k.Value] {
			return nil, errAt(file, k, "%s: duplicate key %q", what, k.Value)
		}
		seen[k.Value] = true
		own = append(own, pair{key: k.Value, keyNode: k, val: v})
	}
	if merged == nil {
		return own, nil
	}
	// A dict keeps a key where it was first set and the value set last.
	var out []pair
	at := map[string]int{}
	for _, p := range append(merged, own...) {
		if i, ok := at[p.key]; ok {
			out[i] = p
			continue
		}
		at[p.key] = len(out)
		out = append(out, p)
	}
	return out, nil
}

// YAML 1.1 implicit types, as PyYAML's SafeLoader resolves plain scalars
// (MLflow reads MLproject and python_env.yaml with yaml.safe_load).
var (
	reBool  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	reInt   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	reFloat = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	reNull  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
)

// scalarKind is what PyYAML would construct from a scalar node.
type scalarKind int

const (
	kindStr scalarKind = iota
	kindNull
	kindBool
	kindInt
	kindFloat
)

// plain reports whether n is a plain (unquoted, untagged) scalar, the only
// kind YAML resolves implicitly.
func plain(n *yaml.Node) bool {
	return n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0
}

func resolveKind(n *yaml.Node) scalarKind {
	if n.Kind != yaml.ScalarNode {
		return kindStr
	}
	if !plain(n) {
		if n.Style&yaml.TaggedStyle != 0 && n.ShortTag() == "!!null" {
			return kindNull
		}
		return kindStr
	}
	v := n.Value
	switch {
	case reBool.MatchString(v):
		return kindBool
	case reFloat.MatchString(v):
		return kindFloat
	case reInt.MatchString(v):
		return kindInt
	case reNull.MatchString(v):
		return kindNull
	}
	return kindStr
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && resolveKind(n) == kindNull)
}

// truthy is Python's truth value of the object PyYAML builds from n.
func truthy(n *yaml.Node) bool {
	n = deref(n)
	if n == nil {
		return false
	}
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) > 0
	}
	s, null, err := pyStr(n)
	if err != nil || null {
		return err != nil // an unrepresentable value is something
	}
	switch resolveKind(n) {
	case kindBool:
		return s == "True"
	case kindInt:
		return s != "0"
	case kindFloat:
		return s != "0.0" && s != "-0.0"
	}
	return s != ""
}

// pyStr returns str(v) for the Python value v that PyYAML builds from
// scalar node n: "0.10" becomes "0.1", "yes" becomes "True", "0x1A"
// becomes "26", as MLflow sees them. null reports a YAML null.
// Timestamps are left as written (a date reads the same either way).
func pyStr(n *yaml.Node) (s string, null bool, err error) {
	n = deref(n)
	if n == nil {
		return "", true, nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", false, fmt.Errorf("expected a single value, not a %s", kindName(n))
	}
	switch resolveKind(n) {
	case kindNull:
		return "", true, nil
	case kindBool:
		switch strings.ToLower(n.Value) {
		case "yes", "true", "on":
			return "True", false, nil
		}
		return "False", false, nil
	case kindInt:
		s, err := pyInt(n.Value)
		return s, false, err
	case kindFloat:
		f, err := pyFloat(n.Value)
		if err != nil {
			return "", false, err
		}
		return formatPyFloat(f), false, nil
	}
	return n.Value, false, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// pyInt mirrors PyYAML's construct_yaml_int.
func pyInt(text string) (string, error) {
	v := strings.ReplaceAll(text, "_", "")
	neg := false
	if v != "" && (v[0] == '-' || v[0] == '+') {
		neg = v[0] == '-'
		v = v[1:]
	}
	n := new(big.Int)
	ok := true
	switch {
	case v == "0":
	case strings.HasPrefix(v, "0b"):
		_, ok = n.SetString(v[2:], 2)
	case strings.HasPrefix(v, "0x"):
		_, ok = n.SetString(v[2:], 16)
	case strings.HasPrefix(v, "0"):
		_, ok = n.SetString(v[1:], 8)
	case strings.Contains(v, ":"):
		base := big.NewInt(1)
		parts := strings.Split(v, ":")
		for i := len(parts) - 1; i >= 0; i-- {
			d, ok2 := new(big.Int).SetString(parts[i], 10)
			if !ok2 {
				ok = false
				break
			}
			n.Add(n, d.Mul(d, base))
			base = new(big.Int).Mul(base, big.NewInt(60))
		}
	default:
		_, ok = n.SetString(v, 10)
	}
	if !ok {
		return "", fmt.Errorf("invalid integer %q", text)
	}
	if neg {
		n.Neg(n)
	}
	return n.String(), nil
}

// pyFloat mirrors PyYAML's construct_yaml_float.
func pyFloat(text string) (float64, error) {
	v := strings.ToLower(strings.ReplaceAll(text, "_", ""))
	sign := 1.0
	if v != "" && (v[0] == '-' || v[0] == '+') {
		if v[0] == '-' {
			sign = -1
		}
		v = v[1:]
	}
	switch {
	case v == ".inf":
		return sign * math.Inf(1), nil
	case v == ".nan":
		return math.NaN(), nil
	case strings.Contains(v, ":"):
		parts := strings.Split(v, ":")
		val, base := 0.0, 1.0
		for i := len(parts) - 1; i >= 0; i-- {
			d, err := strconv.ParseFloat(parts[i], 64)
			if err != nil {
				return 0, fmt.Errorf("invalid float %q", text)
			}
			val += d * base
			base *= 60
		}
		return sign * val, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("invalid float %q", text)
	}
	return sign * f, nil
}

// formatPyFloat formats f as Python's repr(float) (and so str) does: the
// shortest digits that round-trip, in exponent form when the decimal point
// would sit more than 16 places right or 4 places left of the digits.
func formatPyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	sign := ""
	if math.Signbit(f) {
		sign = "-"
		f = -f
	}
	if f == 0 {
		return sign + "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1
	if decpt <= -4 || decpt > 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es = "-"
			exp = -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	switch {
	case decpt <= 0:
		return sign + "0." + strings.Repeat("0", -decpt) + digits
	case decpt >= len(digits):
		return sign + digits + strings.Repeat("0", decpt-len(digits)) + ".0"
	}
	return sign + digits[:decpt] + "." + digits[decpt:]
}
