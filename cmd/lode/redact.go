package main

import (
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/lode-ml/lode"
)

// Credentials in the URIs the commands take (database URIs, git URLs,
// tracking URIs) are kept out of every log line, message and run tag.

const redacted = "xxxxx"

// secretQueryKey matches query parameters that carry a secret (libpq's
// password and sslpassword, tokens, keys).
var secretQueryKey = regexp.MustCompile(`(?i)(password|secret|token|credential|signature|(^|_)key$)`)

// redactURI hides the secrets of uri for logs, messages and tags: the
// password of its userinfo; for http(s) URLs a user name given without a
// password too, since git hosts read that as a token
// (https://TOKEN@host/repo); and the values of query parameters such as
// password=, sslpassword= or token=. A URI that does not parse has
// everything between "://" and its last '@' hidden, and such parameters
// too. Strings without "://" (paths, scp-like git addresses such as
// git@host:repo) are returned as they are.
func redactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	u, err := url.Parse(uri)
	if err != nil {
		if i := strings.LastIndexByte(rest, '@'); i >= 0 {
			rest = redacted + rest[i:]
		}
		if i := strings.IndexByte(rest, '?'); i >= 0 {
			rest = rest[:i+1] + redactQuery(rest[i+1:])
		}
		return scheme + "://" + rest
	}
	if u.User != nil {
		_, hasPassword := u.User.Password()
		switch {
		case hasPassword:
			u.User = url.UserPassword(u.User.Username(), redacted)
		case isHTTP(u.Scheme):
			u.User = url.User(redacted)
		}
	}
	u.RawQuery = redactQuery(u.RawQuery)
	return u.String()
}

// redactQuery hides the values of secret-looking parameters of a raw
// query string ("k=v&k=v").
func redactQuery(q string) string {
	if q == "" {
		return q
	}
	pairs := strings.Split(q, "&")
	for j, p := range pairs {
		k, _, hasValue := strings.Cut(p, "=")
		name := k
		if d, err := url.QueryUnescape(k); err == nil {
			name = d
		}
		if hasValue && secretQueryKey.MatchString(name) {
			pairs[j] = k + "=" + redacted
		}
	}
	return strings.Join(pairs, "&")
}

func isHTTP(scheme string) bool {
	s := strings.ToLower(scheme)
	return s == "http" || s == "https" || strings.HasSuffix(s, "+http") || strings.HasSuffix(s, "+https")
}

// redactIn hides the secrets of uri wherever they appear in msg (a tool's
// output that may quote the URI, in full or in part).
func redactIn(msg, uri string) string {
	if r := redactURI(uri); r != uri {
		msg = strings.ReplaceAll(msg, uri, r)
	}
	for _, s := range uriSecrets(uri) {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	return msg
}

// uriSecrets returns the secret parts of uri that redactURI hides, in
// the forms they may be quoted in (as written, and percent-decoded).
func uriSecrets(uri string) []string {
	var out []string
	add := func(s string) {
		if s != "" && s != redacted {
			out = append(out, s)
			if d, err := url.PathUnescape(s); err == nil && d != s {
				out = append(out, d)
			}
		}
	}
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return nil
	}
	if authority, _, _ := strings.Cut(rest, "/"); strings.Contains(authority, "@") {
		userinfo := authority[:strings.LastIndexByte(authority, '@')]
		user, password, hasPassword := strings.Cut(userinfo, ":")
		switch scheme, _, _ := strings.Cut(uri, "://"); {
		case hasPassword:
			add(password)
		case isHTTP(scheme):
			add(user)
		}
	}
	if _, q, ok := strings.Cut(rest, "?"); ok {
		for _, p := range strings.Split(q, "&") {
			k, v, _ := strings.Cut(p, "=")
			if secretQueryKey.MatchString(k) {
				add(v)
			}
		}
	}
	return out
}

// redactErr returns err with the secrets of uri hidden from its message
// (git quotes the URL it failed to fetch). A *lode.Error keeps its code.
func redactErr(err error, uri string) error {
	msg := err.Error()
	var le *lode.Error
	if errors.As(err, &le) {
		msg = lode.ErrorMessage(err)
		if le.Err != nil {
			msg += ": " + le.Err.Error()
		}
	}
	safe := redactIn(msg, uri)
	if safe == msg {
		return err
	}
	if le != nil {
		return &lode.Error{Code: le.Code, Message: safe}
	}
	return errors.New(safe)
}
