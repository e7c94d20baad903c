package gate

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// hostRule is one entry of the host allow-list.
type hostRule struct {
	any    bool   // "*": every host
	suffix string // "*.example.com" keeps ".example.com"
	host   string // a lower-case name, or an IP address in netip's form
	port   string // "" matches any port
}

// hostList decides which Host headers (and Origin hosts) name this server.
type hostList struct {
	rules []hostRule
	// anyIP allows every IP-literal host: set when the server listens on
	// all addresses, so that it answers at each of the machine's addresses
	// and at those a NAT or port mapping forwards to it. A browser sends an
	// IP-literal Host only for a URL that names the IP itself, which DNS
	// rebinding cannot produce.
	anyIP bool
}

// parseHostRule reads an --allowed-hosts entry: host, host:port, [v6],
// [v6]:port, *.domain[:port] or *. A port of "*" means any port.
func parseHostRule(s string) (hostRule, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return hostRule{any: true}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return hostRule{host: a.Unmap().String()}, nil // an IPv6 address without brackets
	}
	host, port, ok := splitHostPort(s)
	if port == "*" {
		port = ""
	} else if !ok {
		return hostRule{}, fmt.Errorf("invalid allowed host %q: want host, host:port, *.domain or *", s)
	}
	if rest, wild := strings.CutPrefix(host, "*."); wild {
		name, ok := normalName(rest)
		if !ok || !strings.Contains(name, ".") {
			return hostRule{}, fmt.Errorf("invalid allowed host %q: a wildcard must be *.domain.tld", s)
		}
		return hostRule{suffix: "." + name, port: port}, nil
	}
	if h, ok := normalHost(host); ok {
		return hostRule{host: h, port: port}, nil
	}
	return hostRule{}, fmt.Errorf("invalid allowed host %q: want host, host:port, *.domain or *", s)
}

// allows reports whether a Host header value (or an Origin's host) names
// this server; defaultPort is the port a value without one means.
func (l *hostList) allows(hostport, defaultPort string) bool {
	host, port, ok := splitHostPort(hostport)
	if !ok || port == "*" {
		return false
	}
	if port == "" {
		port = defaultPort
	}
	h, ok := normalHost(host)
	if !ok {
		return false
	}
	if l.anyIP {
		if _, err := netip.ParseAddr(h); err == nil {
			return true
		}
	}
	for _, r := range l.rules {
		if r.port != "" && r.port != port {
			continue
		}
		switch {
		case r.any:
			return true
		case r.suffix != "":
			if strings.HasSuffix(h, r.suffix) {
				return true
			}
		case r.host == h:
			return true
		}
	}
	return false
}

// splitHostPort splits host[:port] or [v6][:port]; ok is false for a
// malformed value (an unbracketed IPv6 address, a bad port, an empty host).
// The port may be "*" for allow-list entries.
func splitHostPort(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := s[1:end], s[end+1:]
		if _, err := netip.ParseAddr(host); err != nil || strings.Contains(host, "%") {
			return "", "", false
		}
		if rest == "" {
			return host, "", true
		}
		port, ok := strings.CutPrefix(rest, ":")
		return host, port, ok && validPort(port)
	}
	host, port, hasPort := strings.Cut(s, ":")
	if host == "" || strings.Contains(port, ":") {
		return "", "", false
	}
	if !hasPort {
		return host, "", true
	}
	return host, port, validPort(port)
}

func validPort(p string) bool {
	if p == "*" {
		return true
	}
	if p == "" || len(p) > 5 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// normalHost returns an IP address in canonical form, or a name in lower
// case without its trailing dot; ok is false for anything else.
func normalHost(h string) (string, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", false
		}
		return a.Unmap().String(), true
	}
	return normalName(h)
}

// normalName checks a DNS name (letters, digits, '-', '_' and dots) and
// lower-cases it.
func normalName(h string) (string, bool) {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.Contains(h, "..") {
		return "", false
	}
	for _, c := range h {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", false
		}
	}
	return h, true
}

// defaultHostRules are the hosts allowed whatever --allowed-hosts says: the
// loopback names on any port (a browser sends them only for a page on this
// machine, never through DNS rebinding), and the listening address with its
// port, which the server's own jobs use. A wildcard listening address
// allows every IP-literal host instead.
func defaultHostRules(addr net.Addr) (rules []hostRule, anyIP bool) {
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		rules = append(rules, hostRule{host: h})
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return rules, false
	}
	if tcp.IP.IsUnspecified() {
		return rules, true
	}
	if a, ok := netip.AddrFromSlice(tcp.IP); ok {
		rules = append(rules, hostRule{host: a.Unmap().String(), port: fmt.Sprint(tcp.Port)})
	}
	return rules, false
}

// originRule is one entry of --cors-allowed-origins.
type originRule struct {
	any    bool
	scheme string
	suffix string // "https://*.example.com" keeps ".example.com"
	host   string
	port   string // always set: the scheme's default when the entry has none
}

// parseOriginRule reads a --cors-allowed-origins entry: *, an exact origin
// (scheme://host[:port]) or scheme://*.domain[:port].
func parseOriginRule(s string) (originRule, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return originRule{any: true}, nil
	}
	bad := fmt.Errorf("invalid allowed origin %q: want scheme://host[:port], scheme://*.domain[:port] or *", s)
	scheme, hostport, ok := strings.Cut(s, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "http" && scheme != "https") {
		return originRule{}, bad
	}
	hostport = strings.TrimSuffix(hostport, "/")
	host, port, ok := splitHostPort(hostport)
	if !ok || port == "*" {
		return originRule{}, bad
	}
	if port == "" {
		port = schemePort(scheme)
	}
	if rest, wild := strings.CutPrefix(host, "*."); wild {
		name, ok := normalName(rest)
		if !ok || !strings.Contains(name, ".") {
			return originRule{}, bad
		}
		return originRule{scheme: scheme, suffix: "." + name, port: port}, nil
	}
	h, ok := normalHost(host)
	if !ok {
		return originRule{}, bad
	}
	return originRule{scheme: scheme, host: h, port: port}, nil
}

// parsedOrigin is an Origin header broken into its parts.
type parsedOrigin struct {
	scheme, host, port string
}

// parseOrigin reads an Origin header; ok is false for "null" and anything
// that is not an http(s) origin.
func parseOrigin(s string) (parsedOrigin, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return parsedOrigin{}, false
	}
	host, port, ok := splitHostPort(u.Host)
	if !ok || port == "*" {
		return parsedOrigin{}, false
	}
	if port == "" {
		port = schemePort(u.Scheme)
	}
	h, ok := normalHost(host)
	if !ok {
		return parsedOrigin{}, false
	}
	return parsedOrigin{scheme: u.Scheme, host: h, port: port}, true
}

// hostPort is the origin's host and port as a Host header would carry them.
func (o parsedOrigin) hostPort() string {
	return net.JoinHostPort(o.host, o.port)
}

func (r originRule) matches(o parsedOrigin) bool {
	switch {
	case r.any:
		return true
	case r.scheme != o.scheme || r.port != o.port:
		return false
	case r.suffix != "":
		return strings.HasSuffix(o.host, r.suffix)
	}
	return r.host == o.host
}

func schemePort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}
