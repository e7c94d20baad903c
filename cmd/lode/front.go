package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/lode-ml/lode/gate"
)

// frontFlags configure the front door (package gate) of `lode server` and
// `lode serve`: host and origin checks, TLS, timeouts and limits.
type frontFlags struct {
	allowedHosts      string
	corsOrigins       string
	tlsCert           string
	tlsKey            string
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	maxInflight       int
	// h2c: the server also takes HTTP/2 without TLS (Optuna's gRPC
	// storage clients); set by the command, not a flag of its own.
	h2c bool
}

func (f *frontFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.allowedHosts, "allowed-hosts", "", "comma-separated Host header values this server answers to besides localhost, 127.0.0.1, [::1] and its own address: host (any port), host:port, *.domain[:port], or * for any (unsafe: allows DNS rebinding) (default: $LODE_ALLOWED_HOSTS)")
	fs.StringVar(&f.corsOrigins, "cors-allowed-origins", "", "comma-separated browser origins of other sites that may call the API (CORS) and make state-changing requests: scheme://host[:port], scheme://*.domain[:port], or * for any (default: $LODE_CORS_ALLOWED_ORIGINS)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (with its chain) to serve HTTPS with; needs --tls-key")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.DurationVar(&f.readHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send a request's headers")
	fs.DurationVar(&f.readTimeout, "read-timeout", 60*time.Second, "how long a request body may stall: each read must get data within this (uploads that keep flowing are not cut)")
	fs.DurationVar(&f.writeTimeout, "write-timeout", 60*time.Second, "how long each write of an answer may wait for the client to take it (streams that keep flowing are not cut)")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 2*time.Minute, "how long a kept-alive connection may wait for its next request")
	fs.IntVar(&f.maxInflight, "max-inflight-requests", 1024, "requests handled at once; beyond it the server answers 503 with Retry-After (0: no cap)")
}

// gate builds the front door of a server listening at addr; refusals on
// paths under apiPrefixes are MLflow JSON errors.
func (f *frontFlags) gate(addr net.Addr, logger *slog.Logger, apiPrefixes ...string) (*gate.Gate, error) {
	hosts, origins := f.allowedHosts, f.corsOrigins
	if hosts == "" {
		hosts = os.Getenv("LODE_ALLOWED_HOSTS")
	}
	if origins == "" {
		origins = os.Getenv("LODE_CORS_ALLOWED_ORIGINS")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", f.readHeaderTimeout}, {"read-timeout", f.readTimeout}, {"write-timeout", f.writeTimeout}, {"idle-timeout", f.idleTimeout}} {
		if d.v <= 0 {
			return nil, fmt.Errorf("--%s must be positive, got %v", d.name, d.v)
		}
	}
	if f.maxInflight < 0 {
		return nil, fmt.Errorf("--max-inflight-requests must be 0 (no cap) or more, got %d", f.maxInflight)
	}
	g, err := gate.New(gate.Config{
		AllowedHosts:       splitList(hosts),
		CORSAllowedOrigins: splitList(origins),
		APIPrefixes:        apiPrefixes,
		TLSCertFile:        f.tlsCert,
		TLSKeyFile:         f.tlsKey,
		ReadHeaderTimeout:  f.readHeaderTimeout,
		ReadTimeout:        f.readTimeout,
		WriteTimeout:       f.writeTimeout,
		IdleTimeout:        f.idleTimeout,
		MaxInflight:        f.maxInflight,
		UnencryptedHTTP2:   f.h2c,
		Logger:             logger,
	}, addr)
	if err != nil {
		return nil, err
	}
	for _, h := range splitList(hosts) {
		if strings.TrimSpace(h) == "*" {
			logger.Warn("--allowed-hosts '*' turns the Host check off: a web page can reach this server through DNS rebinding")
		}
	}
	for _, o := range splitList(origins) {
		if strings.TrimSpace(o) == "*" {
			logger.Warn("--cors-allowed-origins '*' lets any web site make requests to this server from its users' browsers")
		}
	}
	return g, nil
}

// splitList splits a comma-separated flag into its trimmed, non-empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
