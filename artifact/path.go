package artifact

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/lode-ml/lode"
)

// Limits on what CleanPath and ValidateLocation accept.
const (
	// MaxPathLen is the longest artifact path, in bytes, as received. It is
	// S3's limit on a key, which the path will be part of.
	MaxPathLen = 1024
	// MaxSegmentLen is the longest segment (file or directory name) of an
	// artifact path, in bytes: NAME_MAX on common file systems.
	MaxSegmentLen = 255
	// MaxLocationLen is the longest experiment artifact location, in bytes:
	// MLflow's default MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH.
	MaxLocationLen = 2048
)

// CleanPath validates p, a relative artifact path sent by a client (as it is
// after the HTTP router has decoded the URL path or query once), and returns
// its clean form: slash-separated segments, no leading or trailing slash,
// and "" for the root.
//
// Normalised (accepted and cleaned): empty segments ("a//b" becomes "a/b")
// and trailing slashes ("a/" becomes "a").
//
// Rejected with lode.EInvalid, as traversal or ambiguity, wherever they
// appear:
//   - a leading "/" (absolute path, including "/" alone and "//host/share");
//   - a first segment that looks like a Windows drive or a URI scheme
//     ("C:", "c:..", "file:", "s3:");
//   - "." and ".." segments, and any segment made only of dots and spaces
//     ("...", ". .", ".. "), also when spelt with look-alike dots such as
//     U+FF0E or U+2025;
//   - backslashes and look-alikes of "/" or "\" (U+2215, U+FF0F, U+FF3C, ...);
//   - NUL and every other control character (C0, DEL, C1) and bidirectional
//     control characters;
//   - "?", "#" and ";" (query, fragment and path parameters, "..;/");
//   - percent-escapes that decode to ".", "/", "\", ";", "#", "?" or a
//     control character ("%2e%2e%2f", "..%2f", "%5c"), at any depth of
//     decoding: the path is percent-decoded again and again until it no
//     longer changes, and every decoded form must pass all the checks above
//     ("%252e%252e%252f", "%%32%65", "%c0%af" are rejected); "%u002e"-style
//     escapes are rejected outright;
//   - invalid UTF-8, paths longer than MaxPathLen and segments longer than
//     MaxSegmentLen bytes.
//
// Other percent signs are kept literally: the returned path is never
// decoded further, so "a%20b.txt" names a file called "a%20b.txt".
//
// Every path CleanPath accepts stays under any root it is joined to with
// path.Join or filepath.Join, and contains no ".." segment.
func CleanPath(p string) (string, error) {
	if len(p) > MaxPathLen {
		return "", lode.Errorf(lode.EInvalid, "Invalid artifact path: longer than %d bytes.", MaxPathLen)
	}
	for s := p; ; {
		if reason := checkPathForm(s); reason != "" {
			return "", invalidPath(p, reason)
		}
		d, changed := percentDecode(s)
		if !changed {
			break
		}
		s = d
	}
	segs := strings.Split(p, "/")
	kept := segs[:0]
	for _, seg := range segs {
		if seg == "" {
			continue
		}
		if len(seg) > MaxSegmentLen {
			return "", invalidPath(p, fmt.Sprintf("a segment is longer than %d bytes", MaxSegmentLen))
		}
		kept = append(kept, seg)
	}
	return strings.Join(kept, "/"), nil
}

func invalidPath(p, reason string) error {
	return lode.Errorf(lode.EInvalid, "Invalid artifact path %s: %s.", quoteShort(p), reason)
}

// quoteShort quotes s for an error message, escaping control characters and
// shortening it so a hostile input cannot flood the message.
func quoteShort(s string) string {
	const max = 128
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q...", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

// checkPathForm checks one decoding level of a relative artifact path and
// returns why it is rejected, or "".
func checkPathForm(s string) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	if strings.HasPrefix(s, "/") {
		return "must be relative (it starts with '/')"
	}
	first, _, _ := strings.Cut(s, "/")
	if looksLikeScheme(first) {
		return "must not start with a drive letter or a URI scheme"
	}
	for i, r := range s {
		if reason := badRune(r); reason != "" {
			return reason
		}
		if r == '%' {
			if reason := badEscape(s[i:]); reason != "" {
				return reason
			}
		}
	}
	for _, seg := range strings.Split(s, "/") {
		if seg != "" && strings.Trim(foldDots(seg), ". ") == "" {
			return "'.', '..' and segments made only of dots or spaces are not allowed"
		}
	}
	return ""
}

// looksLikeScheme reports whether seg starts with "x:" where x is a URI
// scheme (RFC 3986: a letter, then letters, digits, '+', '-' or '.'). A
// Windows drive ("C:") is a one-letter scheme.
func looksLikeScheme(seg string) bool {
	i := strings.IndexByte(seg, ':')
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		c := seg[j]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// badRune returns why r may not appear in an artifact path, or "".
func badRune(r rune) string {
	switch {
	case r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f:
		return "control characters are not allowed"
	case r == '\\':
		return "backslashes are not allowed"
	case r == '?' || r == '#' || r == ';':
		return "'?', '#' and ';' are not allowed"
	case isBidiControl(r):
		return "bidirectional control characters are not allowed"
	case isSlashLookalike(r):
		return "characters that look like '/' or '\\' are not allowed"
	}
	return ""
}

func isBidiControl(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f ||
		0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069
}

func isSlashLookalike(r rune) bool {
	switch r {
	case 0x2044, // FRACTION SLASH
		0x2215, // DIVISION SLASH
		0x2216, // SET MINUS
		0x29f5, // REVERSE SOLIDUS OPERATOR
		0x29f8, // BIG SOLIDUS
		0x29f9, // BIG REVERSE SOLIDUS
		0xfe68, // SMALL REVERSE SOLIDUS
		0xff0f, // FULLWIDTH SOLIDUS
		0xff3c: // FULLWIDTH REVERSE SOLIDUS
		return true
	}
	return false
}

// foldDots replaces the characters whose compatibility form is made of full
// stops with those full stops, so that "．．" or "‥" count as "..".
func foldDots(seg string) string {
	if !strings.ContainsFunc(seg, func(r rune) bool { return r >= utf8.RuneSelf }) {
		return seg
	}
	return strings.NewReplacer(
		"\uff0e", ".", // FULLWIDTH FULL STOP
		"\ufe52", ".", // SMALL FULL STOP
		"\u2024", ".", // ONE DOT LEADER
		"\u2025", "..", // TWO DOT LEADER
		"\u2026", "...", // HORIZONTAL ELLIPSIS
	).Replace(seg)
}

// badEscape checks the percent-escape at the start of s (s[0] == '%').
func badEscape(s string) string {
	if len(s) >= 6 && (s[1] == 'u' || s[1] == 'U') &&
		isHex(s[2]) && isHex(s[3]) && isHex(s[4]) && isHex(s[5]) {
		return "%u escapes are not allowed"
	}
	if len(s) < 3 || !isHex(s[1]) || !isHex(s[2]) {
		return "" // a literal '%'
	}
	b := unhex(s[1])<<4 | unhex(s[2])
	if b < 0x20 || b == 0x7f || strings.IndexByte("./\\;#?", b) >= 0 {
		return "percent-encoded '.', '/', '\\', ';', '#', '?' and control characters are not allowed"
	}
	return ""
}

// percentDecode decodes the valid %XX escapes of s, leaving any other '%'
// as it is (as Python's urllib.parse.unquote does), and reports whether it
// changed anything. Each change shortens s, so repeated decoding ends.
func percentDecode(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			changed = true
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), changed
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// authority says whether a location scheme takes an authority ("//bucket",
// "//host:port", "//container@account.host") before its path.
type authority int

const (
	authorityRequired  authority = iota // s3://bucket/key
	authorityOptional                   // hdfs:///path or hdfs://host:port/path
	authorityForbidden                  // mlflow-artifacts:/path
)

// locationSchemes are the schemes an experiment's artifact_location may use.
//
// Left out on purpose: "file" and scheme-less local paths (the server would
// read and write its own disk: CVE-2023-1177 and its successors); "runs" and
// "models" (MLflow rejects them as locations); "http", "https", "ftp" and
// "sftp" (MLflow refuses these host-addressed schemes by default,
// GHSA-mr9f-g8qf-4w4j, and the query/fragment tricks of CVE-2023-6909 and
// CVE-2024-1483 were made with http URIs). "mlflow-artifacts" must not name
// a host: "mlflow-artifacts:/path" is the server's own proxied store, while
// "mlflow-artifacts://host/path" would send clients elsewhere.
var locationSchemes = []struct {
	scheme    string
	authority authority
}{
	{"mlflow-artifacts", authorityForbidden},
	{"s3", authorityRequired},
	{"gs", authorityRequired},
	{"wasbs", authorityRequired},
	{"abfss", authorityRequired},
	{"r2", authorityRequired},
	{"b2", authorityRequired},
	{"dbfs", authorityOptional},
	{"hdfs", authorityOptional},
	{"viewfs", authorityOptional},
}

func lookupLocationScheme(scheme string) (authority, bool) {
	for _, s := range locationSchemes {
		if s.scheme == scheme {
			return s.authority, true
		}
	}
	return 0, false
}

func locationSchemeNames() []string {
	names := make([]string, len(locationSchemes))
	for i, s := range locationSchemes {
		names[i] = s.scheme + ":"
	}
	return names
}

// ValidateLocation validates uri, an experiment's artifact_location as a
// client sends it on create_experiment. It returns a lode.EInvalid error
// saying what is wrong, or nil.
//
// Accepted: "scheme:/path" or "scheme://authority/path" with a scheme of the
// table locationSchemes (mlflow-artifacts, s3, gs, wasbs, abfss, r2, b2,
// dbfs, hdfs, viewfs; case-insensitive), where the path part passes
// CleanPath and the authority is a plain [userinfo@]host[:port].
//
// Rejected: the empty string; local paths, absolute or relative, and
// Windows paths ("/etc", "mlruns", "C:\x", "C:/x"); "file:" URIs; other
// schemes; "mlflow-artifacts://host/..."; query strings, fragments and ";"
// parameters anywhere; backslashes, control characters and leading or
// trailing spaces; ".." and percent-encoded traversal in the path or the
// authority; credentials ("user:password@"); locations longer than
// MaxLocationLen bytes.
func ValidateLocation(uri string) error {
	if uri == "" {
		return invalidLocation(uri, "must not be empty")
	}
	if len(uri) > MaxLocationLen {
		return lode.Errorf(lode.EInvalid, "Invalid artifact_location: longer than %d bytes.", MaxLocationLen)
	}
	if !utf8.ValidString(uri) {
		return invalidLocation(uri, "not valid UTF-8")
	}
	if strings.TrimSpace(uri) != uri {
		return invalidLocation(uri, "leading or trailing spaces are not allowed")
	}
	for _, r := range uri {
		if r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f {
			return invalidLocation(uri, "control characters are not allowed")
		}
		switch r {
		case '\\':
			return invalidLocation(uri, "backslashes are not allowed")
		case '?':
			return invalidLocation(uri, "query strings are not allowed")
		case '#':
			return invalidLocation(uri, "fragments are not allowed")
		case ';':
			return invalidLocation(uri, "';' parameters are not allowed")
		}
	}

	colon := strings.IndexByte(uri, ':')
	if colon <= 0 || !looksLikeScheme(uri[:colon+1]) {
		return invalidLocation(uri, "must be a URI such as mlflow-artifacts:/path or s3://bucket/path; local paths are not allowed")
	}
	scheme := strings.ToLower(uri[:colon])
	rest := uri[colon+1:]
	if len(scheme) == 1 {
		return invalidLocation(uri, "local paths are not allowed")
	}
	if scheme == "file" {
		return invalidLocation(uri, "file: URIs (local paths) are not allowed")
	}
	auth, ok := lookupLocationScheme(scheme)
	if !ok {
		return invalidLocation(uri, fmt.Sprintf("the scheme %q is not supported; use one of %s", scheme, strings.Join(locationSchemeNames(), ", ")))
	}

	var host, p string
	hasAuthority := strings.HasPrefix(rest, "//")
	if hasAuthority {
		host, p, _ = strings.Cut(rest[2:], "/")
	} else {
		if !strings.HasPrefix(rest, "/") {
			return invalidLocation(uri, fmt.Sprintf("must start with %s:/", scheme))
		}
		p = rest[1:]
	}
	switch auth {
	case authorityRequired:
		if host == "" {
			return invalidLocation(uri, fmt.Sprintf("must name a bucket or container: %s://name/path", scheme))
		}
	case authorityForbidden:
		if host != "" {
			return invalidLocation(uri, fmt.Sprintf("must not name a host: use %s:/path", scheme))
		}
	}
	if host != "" {
		if reason := checkAuthority(host); reason != "" {
			return invalidLocation(uri, reason)
		}
	}
	if _, err := CleanPath(p); err != nil {
		return invalidLocation(uri, "its path is not a safe relative path ("+lode.ErrorMessage(err)+")")
	}
	return nil
}

func invalidLocation(uri, reason string) error {
	return lode.Errorf(lode.EInvalid, "Invalid artifact_location %s: %s.", quoteShort(RedactLocation(uri)), reason)
}

// RedactLocation hides the password of a URI's userinfo
// ("s3://key:secret@bucket/x" becomes "s3://key:xxxxx@bucket/x"), so that
// a message quoting a refused location or source never repeats a secret.
func RedactLocation(uri string) string {
	i := strings.Index(uri, "://")
	if i < 0 {
		return uri
	}
	rest := uri[i+3:]
	// The userinfo ends at the last '@' before any query or fragment: a
	// password may hold an unescaped '/', and hiding too much is better
	// than too little.
	span := rest
	if j := strings.IndexAny(span, "?#"); j >= 0 {
		span = span[:j]
	}
	at := strings.LastIndexByte(span, '@')
	if at < 0 {
		return uri
	}
	user, _, hasPassword := strings.Cut(span[:at], ":")
	if !hasPassword {
		return uri
	}
	return uri[:i+3] + user + ":xxxxx" + rest[at:]
}

// checkAuthority checks "[userinfo@]host[:port]" and returns why it is
// rejected, or "".
func checkAuthority(a string) string {
	userinfo, hostport, hasUser := strings.Cut(a, "@")
	if !hasUser {
		hostport, userinfo = userinfo, ""
	}
	if hasUser && (userinfo == "" || !isNameChars(userinfo)) {
		return "the part before '@' must be a plain name (no credentials)"
	}
	host, port, hasPort := strings.Cut(hostport, ":")
	if host == "" || !isNameChars(host) {
		return "the host, bucket or container name has characters that are not allowed"
	}
	if hasPort {
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "the port must be a number"
		}
	}
	for _, name := range []string{userinfo, host} {
		if name == "." || strings.Contains(name, "..") {
			return "'..' is not allowed in the host, bucket or container name"
		}
	}
	return ""
}

// isNameChars reports whether s has only letters, digits, '.', '-' and '_'.
func isNameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
