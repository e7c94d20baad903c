package gate

import (
	"net"
	"testing"
)

func TestParseHostRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want hostRule
		bad  bool
	}{
		{in: "*", want: hostRule{any: true}},
		{in: "lode.example.com", want: hostRule{host: "lode.example.com"}},
		{in: " Lode.Example.COM. ", want: hostRule{host: "lode.example.com"}},
		{in: "lode.example.com:8443", want: hostRule{host: "lode.example.com", port: "8443"}},
		{in: "lode.example.com:*", want: hostRule{host: "lode.example.com"}},
		{in: "*.example.com", want: hostRule{suffix: ".example.com"}},
		{in: "*.example.com:443", want: hostRule{suffix: ".example.com", port: "443"}},
		{in: "10.0.0.7", want: hostRule{host: "10.0.0.7"}},
		{in: "[::1]:5000", want: hostRule{host: "::1", port: "5000"}},
		{in: "[0:0::1]", want: hostRule{host: "::1"}},
		{in: "fd00::7", want: hostRule{host: "fd00::7"}},
		{in: "", bad: true},
		{in: "http://lode.example.com", bad: true},
		{in: "lode.example.com/path", bad: true},
		{in: "*example.com", bad: true},
		{in: "*.com", bad: true},
		{in: "lode*.example.com", bad: true},
		{in: "lode.example.com:port", bad: true},
		{in: "lode.example.com:123456", bad: true},
		{in: "[::1", bad: true},
		{in: "[nothost]:80", bad: true},
		{in: "a..b", bad: true},
		{in: "lode example", bad: true},
	} {
		got, err := parseHostRule(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseHostRule(%q) = %+v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseHostRule(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestHostListAllows(t *testing.T) {
	loopback := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	named := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 5000}
	wildcard := &net.TCPAddr{IP: net.IPv4zero, Port: 5000}
	list := func(addr net.Addr, extra ...string) *hostList {
		var l hostList
		l.rules, l.anyIP = defaultHostRules(addr)
		for _, e := range extra {
			r, err := parseHostRule(e)
			if err != nil {
				t.Fatal(err)
			}
			l.rules = append(l.rules, r)
		}
		return &l
	}
	for _, tc := range []struct {
		name string
		l    *hostList
		host string
		want bool
	}{
		{"localhost on the port", list(loopback), "localhost:5000", true},
		{"localhost on another port (a proxy on this machine)", list(loopback), "localhost:8080", true},
		{"LOCALHOST with a trailing dot", list(loopback), "LOCALHOST.:5000", true},
		{"127.0.0.1", list(loopback), "127.0.0.1:5000", true},
		{"[::1]", list(loopback), "[::1]:5000", true},
		{"[::1] without port", list(loopback), "[::1]", true},
		{"IPv4-mapped loopback", list(loopback), "[::ffff:127.0.0.1]:5000", true},
		{"rebinding name", list(loopback), "attacker.example:5000", false},
		{"rebinding name without port", list(loopback), "attacker.example", false},
		{"localhost as a subdomain", list(loopback), "localhost.attacker.example:5000", false},
		{"empty Host (HTTP/1.0)", list(loopback), "", false},
		{"unbracketed IPv6", list(loopback), "::1", false},
		{"port star", list(loopback), "localhost:*", false},
		{"another IP when bound to loopback", list(loopback), "192.0.2.10:5000", false},
		{"the bound address with its port", list(named), "192.0.2.10:5000", true},
		{"the bound address on another port", list(named), "192.0.2.10:6000", false},
		{"wildcard bind: any IP literal", list(wildcard), "192.0.2.99:5000", true},
		{"wildcard bind: any IPv6 literal", list(wildcard), "[2001:db8::1]:5000", true},
		{"wildcard bind: names still checked", list(wildcard), "attacker.example:5000", false},
		{"wildcard bind: a name that looks like an IP", list(wildcard), "10.attacker.example:5000", false},
		{"added name on any port", list(loopback, "lode.example.com"), "lode.example.com:443", true},
		{"added name without port", list(loopback, "lode.example.com"), "lode.example.com", true},
		{"added name with port: same", list(loopback, "lode.example.com:8443"), "lode.example.com:8443", true},
		{"added name with port: other", list(loopback, "lode.example.com:8443"), "lode.example.com:443", false},
		{"added name with port 80: no port in Host", list(loopback, "lode.example.com:80"), "lode.example.com", true},
		{"wildcard domain: subdomain", list(loopback, "*.example.com"), "lode.example.com", true},
		{"wildcard domain: deeper", list(loopback, "*.example.com"), "a.b.example.com:5000", true},
		{"wildcard domain: the domain itself", list(loopback, "*.example.com"), "example.com", false},
		{"wildcard domain: suffix trick", list(loopback, "*.example.com"), "evilexample.com", false},
		{"star allows anything", list(loopback, "*"), "attacker.example:5000", true},
	} {
		if got := tc.l.allows(tc.host, "80"); got != tc.want {
			t.Errorf("%s: allows(%q) = %v, want %v", tc.name, tc.host, got, tc.want)
		}
	}
}

func TestOriginRules(t *testing.T) {
	for _, tc := range []struct {
		rule, origin string
		want         bool
	}{
		{"https://app.example.com", "https://app.example.com", true},
		{"https://app.example.com", "https://app.example.com:443", true},
		{"https://app.example.com", "http://app.example.com", false},
		{"https://app.example.com", "https://app.example.com:8443", false},
		{"https://app.example.com/", "https://APP.example.com", true},
		{"http://localhost:3000", "http://localhost:3000", true},
		{"http://localhost:3000", "http://localhost:3001", false},
		{"https://*.example.com", "https://a.example.com", true},
		{"https://*.example.com", "https://example.com", false},
		{"https://*.example.com", "https://a.example.com.evil.example", false},
		{"*", "https://anything.example", true},
		{"https://app.example.com", "null", false},
	} {
		r, err := parseOriginRule(tc.rule)
		if err != nil {
			t.Fatalf("parseOriginRule(%q): %v", tc.rule, err)
		}
		o, ok := parseOrigin(tc.origin)
		if got := (ok || r.any) && r.matches(o); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.rule, tc.origin, got, tc.want)
		}
	}
	for _, bad := range []string{"", "app.example.com", "ftp://app.example.com", "https://", "https://a.example.com/path",
		"https://*.com", "https://app.example.com:*", "https://*example.com"} {
		if _, err := parseOriginRule(bad); err == nil {
			t.Errorf("parseOriginRule(%q): no error", bad)
		}
	}
}
