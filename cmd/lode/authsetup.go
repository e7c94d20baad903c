package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/jobs"
	"github.com/lode-ml/lode/web"
)

// authFlags configure who may use `lode server`.
type authFlags struct {
	on                bool
	adminUser         string
	insecureNoAuth    bool
	defaultPermission string
	cacheTTL          time.Duration
	sessionTTL        time.Duration
	jobTokenTTL       time.Duration
	allowUserCode     bool
	secureCookies     bool
}

func (f *authFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.on, "auth", false, "require signing in (on by itself once users exist, or with --admin-user); with no user yet, an admin named admin is created with a password printed once")
	fs.StringVar(&f.adminUser, "admin-user", "", "create this admin user if it does not exist, with the password in $LODE_ADMIN_PASSWORD or one generated and printed once; turns authentication on (default: $LODE_ADMIN_USER)")
	fs.BoolVar(&f.insecureNoAuth, "insecure-no-auth", false, "serve without authentication even on a non-loopback address (only behind something that authenticates every request itself): anyone who reaches the server can run commands on this machine")
	fs.StringVar(&f.defaultPermission, "auth-default-permission", "READ", "permission of a signed-in user on what nothing grants them: READ, USE, EDIT, MANAGE or NO_PERMISSIONS")
	fs.DurationVar(&f.cacheTTL, "auth-cache-ttl", auth.DefaultCacheTTL, "how long a verified password, a token or a user's grants are reused (0: not at all, every request reads them and hashes its password); changes made through another server sharing the database apply within this")
	fs.DurationVar(&f.sessionTTL, "session-ttl", web.DefaultSessionTTL, "how long a sign-in to the web UI lasts")
	fs.DurationVar(&f.jobTokenTTL, "job-token-ttl", 7*24*time.Hour, "longest life of the token each job attempt gets in MLFLOW_TRACKING_TOKEN (an attempt with a timeout gets that plus an hour); it is revoked when the attempt ends")
	fs.BoolVar(&f.secureCookies, "secure-cookies", false, "mark the web UI's session cookie Secure (sent over https only): on by itself with --tls-cert; set it when a proxy in front of Lode serves https")
	fs.BoolVar(&f.allowUserCode, "allow-user-code", false, "let users (not only admins) run code on this machine: submit jobs (EDIT on the job's experiment) and deploy models that run Python (EDIT on the model); their code runs as this server's OS user and can do whatever the server can, so give it only to people you would make admins")
}

// isLoopback reports whether host names only this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// setupAuth decides how the server authenticates and returns the service
// that does it, or nil when it runs open: with no user and no request for
// authentication, on a loopback address only (the one-person laptop). A
// server reachable from other machines refuses to start open unless told
// to with --insecure-no-auth. The first admin comes from --admin-user (or
// $LODE_ADMIN_USER) and $LODE_ADMIN_PASSWORD, or gets a generated password
// printed once to stderr, never a fixed one.
func setupAuth(ctx context.Context, f authFlags, store auth.Store, host string, stderr io.Writer, logger *slog.Logger) (*auth.Service, error) {
	// The admin's password serves once, to create the admin. Out of the
	// environment, it is not handed on to the processes the server starts
	// (their environments are allow-listed anyway). It still shows in
	// /proc/<pid>/environ, to this OS user and root: Unsetenv changes the
	// process's copy, not the block the kernel keeps from its start.
	// Changing the admin's password after the first start makes that copy
	// worthless.
	adminPassword := os.Getenv("LODE_ADMIN_PASSWORD")
	os.Unsetenv("LODE_ADMIN_PASSWORD")
	def, err := auth.ParsePermission(strings.ToUpper(f.defaultPermission))
	if err != nil || def == auth.Deny {
		return nil, fmt.Errorf("--auth-default-permission %q: want READ, USE, EDIT, MANAGE or NO_PERMISSIONS", f.defaultPermission)
	}
	if f.cacheTTL < 0 || f.sessionTTL <= 0 || f.jobTokenTTL <= 0 || f.jobTokenTTL > auth.MaxTokenTTL {
		return nil, fmt.Errorf("--auth-cache-ttl must not be negative, --session-ttl and --job-token-ttl must be positive (at most %v)", auth.MaxTokenTTL)
	}
	n, err := store.CountUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("read users: %s", lode.ErrorMessage(err))
	}
	admin := f.adminUser
	if admin == "" {
		admin = os.Getenv("LODE_ADMIN_USER")
	}
	if f.insecureNoAuth {
		if n > 0 {
			logger.Warn("--insecure-no-auth: authentication is off although users exist; every request may do anything", "users", n)
		} else {
			logger.Warn("--insecure-no-auth: authentication is off; every request may do anything, run commands included")
		}
		return nil, nil
	}
	if n == 0 && admin == "" && !f.on {
		if !isLoopback(host) {
			return nil, fmt.Errorf("refusing to listen on %s without authentication: anyone who can reach it could run commands on this machine. "+
				"Create an admin with --admin-user NAME (password from $LODE_ADMIN_PASSWORD, or generated and printed once), "+
				"or pass --insecure-no-auth if something in front of Lode authenticates every request", host)
		}
		logger.Info("authentication is off: no users, and the server listens on loopback only (--admin-user NAME turns it on)")
		return nil, nil
	}
	ttl := f.cacheTTL
	if ttl == 0 {
		ttl = -1 // the service's "no caching"
	}
	svc := &auth.Service{Store: store, Default: def, CacheTTL: ttl, Logger: logger}
	if admin == "" && n == 0 {
		admin = "admin"
	}
	if admin != "" {
		if err := bootstrapAdmin(ctx, svc, admin, adminPassword, stderr, logger); err != nil {
			return nil, err
		}
	}
	logger.Info("authentication is on", "default_permission", def)
	if f.allowUserCode {
		logger.Warn("--allow-user-code: users who may edit an experiment or a model run code as this server's OS user (jobs, Python models), and can so make themselves admins")
	}
	return svc, nil
}

// bootstrapAdmin creates the admin named name unless they exist, with
// password pw, or a generated one when it is empty.
func bootstrapAdmin(ctx context.Context, svc *auth.Service, name, pw string, stderr io.Writer, logger *slog.Logger) error {
	u, err := svc.Store.GetUser(ctx, name)
	if err == nil {
		if !u.IsAdmin {
			logger.Warn("the --admin-user exists and is not an admin; it is left as it is", "user", name)
		}
		return nil
	}
	if lode.ErrorCode(err) != lode.ENotFound {
		return err
	}
	generated := false
	if pw == "" {
		var b [18]byte
		rand.Read(b[:])
		pw, generated = base64.RawURLEncoding.EncodeToString(b[:]), true
	}
	if _, err := svc.CreateUser(ctx, name, pw, true); err != nil {
		if lode.ErrorCode(err) == lode.EExists {
			return nil // another server made it at the same moment
		}
		return fmt.Errorf("create the admin user %q: %s", name, lode.ErrorMessage(err))
	}
	logger.Info("created the admin user", "user", name, "password_from", map[bool]string{true: "generated (printed once)", false: "$LODE_ADMIN_PASSWORD"}[generated])
	if generated {
		// Printed to the terminal, not logged: log lines are kept and
		// shipped; this is shown once and never again.
		fmt.Fprintf(stderr, "\n  Lode created the admin user %q. Its password, shown only this once:\n\n      %s\n\n  Sign in at /login and change it on the account page.\n\n", name, pw)
	}
	return nil
}

// jobCredentials gives each attempt of a job a token of its submitter's,
// revoked when the attempt ends: the mlflow calls inside the job work,
// and a token that leaks from it is worth little.
type jobCredentials struct {
	auth   *auth.Service
	ttl    time.Duration
	logger *slog.Logger
}

func (c *jobCredentials) Issue(ctx context.Context, j *jobs.Job) (map[string]string, error) {
	if j.Spec.Owner == "" {
		// Submitted while the server ran open (its user is a name anyone
		// could have written): it runs without a token, and its calls are
		// anonymous.
		c.logger.Warn("a job without an owner runs without a token", "job", j.ID, "user", j.Spec.User)
		return nil, nil
	}
	u, err := c.auth.Store.GetUser(ctx, j.Spec.Owner)
	if err != nil {
		return nil, fmt.Errorf("its owner %q: %s", j.Spec.Owner, lode.ErrorMessage(err))
	}
	ttl := c.ttl
	if j.Spec.Timeout > 0 && j.Spec.Timeout+time.Hour < ttl {
		ttl = j.Spec.Timeout + time.Hour
	}
	secret, _, err := c.auth.CreateToken(ctx, u, fmt.Sprintf("job %s attempt %d", j.ID, j.Attempt), auth.TokenJob, ttl, j.ID)
	if err != nil {
		return nil, err
	}
	return map[string]string{"MLFLOW_TRACKING_TOKEN": secret}, nil
}

func (c *jobCredentials) Revoke(ctx context.Context, j *jobs.Job) {
	if err := c.auth.RevokeJobTokens(context.WithoutCancel(ctx), j.ID); err != nil {
		c.logger.Warn("cannot revoke a job's token", "job", j.ID, "err", err)
	}
}

// sweepTokens deletes expired tokens now and then until ctx ends.
func sweepTokens(ctx context.Context, svc *auth.Service, logger *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := svc.Sweep(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("cannot delete expired tokens", "err", err)
		} else if n > 0 {
			logger.Info("deleted expired tokens", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
