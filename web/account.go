package web

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/gate"
	"github.com/lode-ml/lode/mlflowapi"
)

// DefaultSessionTTL is how long a sign-in to the UI lasts.
const DefaultSessionTTL = 12 * time.Hour

func init() {
	pageRoutes = append(pageRoutes, func(s *Server) []route {
		return []route{
			{"GET /login", s.loginPage, mlflowapi.PublicRule()},
			{"POST /login", s.login, mlflowapi.PublicRule()},
			{"POST /logout", s.logout, mlflowapi.PublicRule()},
			{"GET /account", s.account, mlflowapi.SignedInRule()},
			{"GET /admin", s.admin, mlflowapi.AdminRule()},
		}
	})
}

type loginData struct {
	Next, Username, Error string
}

// safeNext is where to go after signing in: a path on this server, never
// another site (an open redirect would make the sign-in page a phishing
// tool). Browsers read a backslash as a slash and drop tabs and newlines,
// and http.Redirect cleans the path it is given, so a check of the raw
// string is not enough ("/a/../\evil.example" becomes "/\evil.example",
// which is https://evil.example/): backslashes and control characters,
// plain or percent-encoded, are refused, and the path is cleaned here, so
// that what is checked is what the browser gets.
func safeNext(next string) string {
	const home = "/experiments"
	if next == "" || next[0] != '/' || badInPath(next) {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || badInPath(u.Path) {
		return home
	}
	// The escaped path is cleaned: decoding first would turn an encoded
	// slash into a real one.
	p := path.Clean(u.EscapedPath())
	if strings.HasSuffix(u.EscapedPath(), "/") && p != "/" {
		p += "/" // as http.Redirect keeps it
	}
	// The sign-in page leading back to itself would be a loop; the
	// server routes by the decoded path.
	lp := path.Clean(u.Path)
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || lp == "/login" || strings.HasPrefix(lp, "/login/") {
		return home
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}

// badInPath reports a backslash or a control character.
func badInPath(s string) bool {
	for _, r := range s {
		if r == '\\' || r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return true
		}
	}
	return false
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.Auth == nil {
		http.Redirect(w, r, "/experiments", http.StatusSeeOther)
		return
	}
	s.render(w, r, "login", "Sign in", "", loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

// maxLoginForm bounds a sign-in form's body.
const maxLoginForm = 16 << 10

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.Auth == nil {
		http.Redirect(w, r, "/experiments", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, lode.Errorf(lode.EBadRequest, "Could not read the sign-in form."))
		return
	}
	d := loginData{Next: safeNext(r.PostForm.Get("next")), Username: r.PostForm.Get("username")}
	ctx := r.Context()
	u, err := s.Auth.Login(ctx, d.Username, r.PostForm.Get("password"), gate.ClientAddr(r))
	if err != nil {
		code := lode.ErrorCode(err)
		if code != lode.EUnauthenticated && code != lode.EOverloaded {
			s.fail(w, r, err)
			return
		}
		d.Error = lode.ErrorMessage(err)
		s.renderStatus(w, r, mlflowapi.HTTPStatus(code), "login", "Sign in", "", d)
		return
	}
	// A session this browser had (signing in as someone else) ends: its
	// cookie is about to be replaced, and a session nobody holds should
	// not live on.
	if old := auth.FromContext(ctx); old.Token != nil && old.Token.Kind == auth.TokenSession {
		if err := s.Auth.RevokeToken(ctx, old, old.Token.ID); err != nil && lode.ErrorCode(err) != lode.ENotFound {
			s.fail(w, r, err)
			return
		}
	}
	ttl := s.SessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	secret, _, err := s.Auth.CreateToken(ctx, u, "web session", auth.TokenSession, ttl, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: secret, Path: "/", MaxAge: int(ttl.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.SecureCookies})
	s.Logger.Info("signed in", "user", u.Username, "remote", gate.ClientAddr(r))
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

// logout ends the session (the gate has checked its CSRF token).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(auth.SessionCookie); err == nil && s.Auth != nil {
		if err := s.Auth.RevokeSecret(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.SecureCookies})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type tokenRow struct {
	ID, Name, User, Kind, JobID string
	Created, Expires, LastUsed  int64
}

// tokenTable is a list of tokens as the account and admin pages show it;
// Users adds the column of whose each is (the admin page's).
type tokenTable struct {
	Rows  []tokenRow
	Users bool
}

type accountData struct {
	Open     bool
	Username string
	Admin    bool
	Tokens   tokenTable
}

func (s *Server) tokenRows(r *http.Request, userID int64) ([]tokenRow, error) {
	ctx := r.Context()
	ts, err := s.Auth.Store.ListTokens(ctx, userID, auth.TokenAPI, auth.TokenJob)
	if err != nil {
		return nil, err
	}
	out := make([]tokenRow, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenRow{ID: t.ID, Name: t.Name, User: t.Username, Kind: string(t.Kind), JobID: t.JobID,
			Created: t.CreatedMs, Expires: t.ExpiresMs, LastUsed: t.LastUsedMs})
	}
	return out, nil
}

// account is the signed-in user's page: their password and their tokens.
func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	id := auth.FromContext(r.Context())
	if s.Auth == nil || id.User == nil {
		s.render(w, r, "account", "Account", "", accountData{Open: true})
		return
	}
	tokens, err := s.tokenRows(r, id.User.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "account", "Account", "", accountData{Username: id.User.Username, Admin: id.User.IsAdmin, Tokens: tokenTable{Rows: tokens}})
}

type adminUser struct {
	ID       int64
	Username string
	Admin    bool
	Created  int64
	Roles    []string
	Grants   []grantView
}

// grantView is a grant as the admin page shows it: an experiment's name
// beside its id, which is all the grant holds.
type grantView struct {
	auth.RolePermission
	Name string
}

type adminData struct {
	Self    string
	Users   []adminUser
	Roles   []*auth.Role
	Tokens  tokenTable
	Default string
	Types   []auth.ResourceType
	Levels  []auth.Permission
}

// admin is the admins' page: users, their grants, roles and every token.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	if s.Auth == nil {
		s.fail(w, r, lode.Errorf(lode.ENotFound, "This server runs without authentication: there are no users to manage."))
		return
	}
	ctx := r.Context()
	us, err := s.Auth.Store.ListUsers(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := adminData{Self: auth.FromContext(ctx).Name(), Default: string(s.Auth.DefaultPermission()),
		Types:  []auth.ResourceType{auth.Experiment, auth.RegisteredModel, auth.Deployment},
		Levels: []auth.Permission{auth.Read, auth.Use, auth.Edit, auth.Manage, auth.Deny}}
	names := map[string]string{}
	for _, u := range us {
		au := adminUser{ID: u.ID, Username: u.Username, Admin: u.IsAdmin, Created: u.CreatedMs}
		rs, err := s.Auth.Store.ListUserRoles(ctx, u.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, role := range rs {
			if role.Name == auth.OwnRoleName(u.ID) {
				for _, g := range role.Permissions {
					au.Grants = append(au.Grants, grantView{g, s.experimentName(ctx, g, names)})
				}
			} else {
				au.Roles = append(au.Roles, role.Name)
			}
		}
		d.Users = append(d.Users, au)
	}
	all, err := s.Auth.Store.ListRoles(ctx, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, role := range all {
		if !auth.IsOwnRoleName(role.Name) {
			d.Roles = append(d.Roles, role)
		}
	}
	d.Tokens.Users = true
	if d.Tokens.Rows, err = s.tokenRows(r, 0); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "admin", "Admin", "admin", d)
}

// experimentName is the name of the experiment a grant names ("" for
// other grants, and for an experiment that is gone), looked up once per
// page in names.
func (s *Server) experimentName(ctx context.Context, g auth.RolePermission, names map[string]string) string {
	if g.Type != auth.Experiment || g.Pattern == auth.Wildcard {
		return ""
	}
	name, ok := names[g.Pattern]
	if !ok {
		if e, err := s.Tracking.GetExperiment(ctx, g.Pattern); err == nil {
			name = e.Name
		}
		names[g.Pattern] = name
	}
	return name
}
