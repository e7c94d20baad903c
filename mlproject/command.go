package mlproject

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	lode "github.com/lode-ml/lode"
)

// Parameter types MLflow gives meaning to. Any other type name (MLflow's
// own examples use "int") is accepted and, as in MLflow, treated as a
// string.
const (
	TypeString = "string"
	TypeFloat  = "float"
	TypePath   = "path"
	TypeURI    = "uri"
)

// Parameter is a parameter an entry point declares.
type Parameter struct {
	Name string
	Type string // "string" when the MLproject file gives none
	// Default is the default as MLflow sees it: str() of the value PyYAML
	// reads, so `default: 0.10` is "0.1" and `default: yes` is "True".
	Default    string
	HasDefault bool // false: the parameter is required
}

// EntryPoint is an entry point: declared in MLproject, or a script run by
// its extension (Implicit).
type EntryPoint struct {
	Name       string
	Parameters []Parameter // in declaration order
	// Template is the command with {parameter} placeholders, Python
	// str.format syntax ({{ and }} are literal braces). An implicit entry
	// point's is the finished command.
	Template string
	Implicit bool
}

// Param is one name=value parameter.
type Param struct {
	Key, Value string
}

// ParseParams reads `-P name=value` arguments as `mlflow run` does: split
// at the first "=", the order kept; an argument with no "=" or a name
// given twice is an error (EInvalid).
func ParseParams(args []string) ([]Param, error) {
	out := make([]Param, 0, len(args))
	seen := map[string]bool{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, lode.Errorf(lode.EInvalid, "invalid format for -P parameter: '%s'. Use -P name=value.", a)
		}
		if seen[k] {
			return nil, lode.Errorf(lode.EInvalid, "repeated parameter: '%s'", k)
		}
		seen[k] = true
		out = append(out, Param{k, v})
	}
	return out, nil
}

func parseEntryPoint(file string, ep pair) (*EntryPoint, error) {
	what := "entry point " + strconv.Quote(ep.key)
	fields, err := mapping(file, ep.val, what)
	if err != nil {
		return nil, err
	}
	e := &EntryPoint{Name: ep.key}
	hasCommand := false
	for _, f := range fields {
		switch f.key {
		case "command":
			if f.val.Kind != yaml.ScalarNode || isNull(f.val) {
				return nil, errAt(file, f.val, "%s: command must be a string", what)
			}
			e.Template, hasCommand = f.val.Value, true
		case "parameters":
			params, err := mapping(file, f.val, what+": parameters")
			if err != nil {
				return nil, err
			}
			for _, pp := range params {
				p, err := parseParameter(file, what, pp)
				if err != nil {
					return nil, err
				}
				e.Parameters = append(e.Parameters, p)
			}
		}
	}
	if !hasCommand {
		return nil, errAt(file, ep.keyNode, "%s has no command", what)
	}
	return e, nil
}

// parseParameter reads `name: type` or `name: {type: t, default: v}`.
func parseParameter(file, what string, pp pair) (Parameter, error) {
	p := Parameter{Name: pp.key, Type: TypeString}
	v := pp.val
	if v.Kind == yaml.ScalarNode {
		// MLflow takes a string as the type; YAML null makes the type None,
		// which MLflow treats as a string.
		if t, null, err := pyStr(v); err == nil && !null {
			p.Type = t
		}
		return p, nil
	}
	fields, err := mapping(file, v, what+": parameter "+strconv.Quote(pp.key))
	if err != nil {
		return p, err
	}
	for _, f := range fields {
		switch f.key {
		case "type":
			t, null, err := pyStr(f.val)
			if err != nil {
				return p, errAt(file, f.val, "%s: parameter %q: type: %v", what, pp.key, err)
			}
			if !null {
				p.Type = t
			}
		case "default":
			d, null, err := pyStr(f.val)
			if err != nil {
				return p, errAt(file, f.val, "%s: parameter %q: default: %v", what, pp.key, err)
			}
			p.Default, p.HasDefault = d, !null
		}
	}
	return p, nil
}

// Invocation is an entry point resolved against its parameters.
type Invocation struct {
	// Command is the shell command line. MLflow runs it with `bash -c`,
	// in the project folder, after activating the environment.
	Command string
	// Params are the declared parameters, in declaration order, with
	// defaults filled in and path parameters made absolute: the values the
	// command received, unquoted.
	Params []Param
	// Extra are the parameters the entry point does not declare, in the
	// order given, unquoted. The command ends with them as --key value.
	Extra []Param
	// LogParams are the run params MLflow logs for this invocation:
	// declared then extra, keys and values shell-quoted as in the command
	// (MLflow logs its sanitised values, so "a b" is logged as 'a b'), and
	// path parameters as given rather than resolved.
	LogParams []Param
}

// Command resolves the entry point against params (as given with -P, in
// order) and builds its command as MLflow's compute_command does:
//
//   - every declared parameter without a default must be given, else one
//     error names all that are missing;
//   - {name} in the template takes the parameter's value shell-quoted
//     (shlex.quote); parameters not declared are appended as --key value,
//     key and value quoted, in the order given;
//   - float values must parse as a Python float (Lode only: MLflow's
//     documentation says it validates floats, its code does not);
//   - uri values must have a URI scheme;
//   - path values that are local (no scheme, or file:// without a host)
//     must exist and become absolute paths, relative ones resolved
//     against baseDir ("" means the current directory; MLflow resolves
//     them against the directory `mlflow run` was started in, not the
//     project). MLflow downloads remote path values; Lode refuses them
//     (ENotImplemented).
//
// Errors are EInvalid unless noted. A template field other than a plain
// {name} ({0}, {a.b}, {a!r}, {a:>5}) is refused; MLflow would apply
// Python's formatting to it.
func (e *EntryPoint) Command(params []Param, baseDir string) (*Invocation, error) {
	given := map[string]string{}
	for _, p := range params {
		if _, dup := given[p.Key]; dup {
			return nil, lode.Errorf(lode.EInvalid, "repeated parameter: '%s'", p.Key)
		}
		given[p.Key] = p.Value
	}
	var missing []string
	for _, p := range e.Parameters {
		if _, ok := given[p.Name]; !ok && !p.HasDefault {
			missing = append(missing, "'"+p.Name+"'")
		}
	}
	if len(missing) > 0 {
		return nil, lode.Errorf(lode.EInvalid, "no value given for missing parameters: %s", strings.Join(missing, ", "))
	}
	inv := &Invocation{}
	quoted := map[string]string{}
	declared := map[string]bool{}
	for _, p := range e.Parameters {
		declared[p.Name] = true
		v, ok := given[p.Name]
		if !ok {
			v = p.Default
		}
		logged := v
		var err error
		switch p.Type {
		case TypeFloat:
			if !pyFloatValid(v) {
				err = lode.Errorf(lode.EInvalid, "parameter %s must be a number (type float), got %q", p.Name, v)
			}
		case TypeURI:
			if uriScheme(v) == "" {
				err = lode.Errorf(lode.EInvalid, "expected URI for parameter %s but got %s", p.Name, v)
			}
		case TypePath:
			v, err = resolvePath(p.Name, v, baseDir)
		}
		if err != nil {
			return nil, err
		}
		quoted[p.Name] = Quote(v)
		inv.Params = append(inv.Params, Param{p.Name, v})
		inv.LogParams = append(inv.LogParams, Param{p.Name, Quote(logged)})
	}
	for _, p := range params {
		if !declared[p.Key] {
			inv.Extra = append(inv.Extra, p)
			inv.LogParams = append(inv.LogParams, Param{Quote(p.Key), Quote(p.Value)})
		}
	}
	cmd := e.Template
	if !e.Implicit {
		var err error
		if cmd, err = format(e.Name, e.Template, quoted); err != nil {
			return nil, err
		}
	}
	var b strings.Builder
	b.WriteString(cmd)
	for _, p := range inv.Extra {
		b.WriteString(" --" + Quote(p.Key) + " " + Quote(p.Value))
	}
	inv.Command = b.String()
	return inv, nil
}

// format substitutes {name} fields as Python's str.format(**values) does
// for plain names; {{ and }} are literal braces.
func format(entry, tmpl string, values map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch c {
		case '{':
			if i+1 < len(tmpl) && tmpl[i+1] == '{' {
				b.WriteByte('{')
				i++
				continue
			}
			end := strings.IndexByte(tmpl[i+1:], '}')
			if end < 0 {
				return "", lode.Errorf(lode.EInvalid, "entry point %s: command has a single '{'; write {{ for a literal brace", entry)
			}
			field := tmpl[i+1 : i+1+end]
			if field == "" || strings.ContainsAny(field, "{.[!:") || isDigits(field) {
				return "", lode.Errorf(lode.EInvalid, "entry point %s: command field {%s} is not supported; use {parameter_name}, and {{ }} for literal braces", entry, field)
			}
			v, ok := values[field]
			if !ok {
				return "", lode.Errorf(lode.EInvalid, "entry point %s: command uses {%s}, which is not a declared parameter", entry, field)
			}
			b.WriteString(v)
			i += end + 1
		case '}':
			if i+1 < len(tmpl) && tmpl[i+1] == '}' {
				b.WriteByte('}')
				i++
				continue
			}
			return "", lode.Errorf(lode.EInvalid, "entry point %s: command has a single '}'; write }} for a literal brace", entry)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// Quote quotes s for a POSIX shell as Python's shlex.quote does: unchanged
// when made only of safe characters, else in single quotes.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// pyFloatValid reports whether Python's float(s) accepts s: surrounding
// whitespace, underscores between digits, inf/infinity/nan in any case;
// not hexadecimal.
func pyFloatValid(s string) bool {
	s = strings.TrimSpace(s)
	t := strings.TrimLeft(s, "+-")
	if len(s)-len(t) > 1 || t == "" {
		return false
	}
	switch strings.ToLower(t) {
	case "inf", "infinity", "nan":
		return true
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9', c == '.', c == 'e', c == 'E', c == '+', c == '-':
		case c == '_':
			if i == 0 || i == len(t)-1 || !isDigit(t[i-1]) || !isDigit(t[i+1]) {
				return false
			}
		default:
			return false
		}
	}
	_, err := strconv.ParseFloat(strings.ReplaceAll(t, "_", ""), 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// uriScheme returns the scheme Python's urllib.parse.urlparse finds in s,
// lower-cased, or "".
func uriScheme(s string) string {
	s = strings.TrimLeft(s, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	s = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(s)
	i := strings.IndexByte(s, ':')
	if i <= 0 || !isASCIILetter(s[0]) {
		return ""
	}
	for j := 0; j < i; j++ {
		c := s[j]
		if !isASCIILetter(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return ""
		}
	}
	return strings.ToLower(s[:i])
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// localPath returns the local path s names, as MLflow's
// get_local_path_or_none does (percent-escapes decoded), or ok false for
// a URI that is not local.
func localPath(s string) (path string, ok bool) {
	scheme := uriScheme(s)
	switch scheme {
	case "":
		return unquote(s), true
	case "file":
		rest := s[strings.IndexByte(s, ':')+1:]
		rest = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(rest)
		if strings.HasPrefix(rest, "//") {
			host := rest[2:]
			if i := strings.IndexAny(host, "/?#"); i >= 0 {
				host, rest = host[:i], host[i:]
			} else {
				rest = ""
			}
			if host != "" {
				return "", false
			}
		}
		if i := strings.IndexAny(rest, "?#"); i >= 0 {
			rest = rest[:i]
		}
		return unquote(rest), true
	}
	return "", false
}

// unquote decodes %XX escapes as Python's urllib.parse.unquote does,
// leaving malformed ones as they are.
func unquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			if h, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(h))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(b)
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// resolvePath resolves a path parameter's value as MLflow does for local
// files; remote URIs are refused.
func resolvePath(name, v, baseDir string) (string, error) {
	local, ok := localPath(v)
	if !ok {
		return "", lode.Errorf(lode.ENotImplemented,
			"parameter %s: %s is a remote URI; Lode does not download path parameters, so download it and pass a local path", name, v)
	}
	if local != "" && !filepath.IsAbs(local) {
		base := baseDir
		if base == "" {
			wd, err := os.Getwd()
			if err != nil {
				return "", lode.Internal(err, "cannot find the current directory")
			}
			base = wd
		}
		local = filepath.Join(base, local)
	}
	if local == "" {
		return "", lode.Errorf(lode.EInvalid, "got value %s for parameter %s, but no such file or directory was found", v, name)
	}
	if _, err := os.Stat(local); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", lode.Errorf(lode.EInvalid, "got value %s for parameter %s, but no such file or directory was found", v, name)
		}
		return "", lode.Errorf(lode.EInvalid, "parameter %s: %v", name, err)
	}
	abs, err := filepath.Abs(local)
	if err != nil {
		return "", lode.Errorf(lode.EInvalid, "parameter %s: %v", name, err)
	}
	return abs, nil
}
