package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
)

// call makes one request of the site without a browser and without
// following redirects: the session cookie (when not "") and the headers
// given go with it.
func (s *site) call(t *testing.T, method, path, session, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		if strings.Contains(body, "=") && !strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if session != "" {
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: session})
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// signIn posts the sign-in form as a browser would and returns the
// session cookie it sets.
func (s *site) signIn(t *testing.T, user, password string) *http.Cookie {
	t.Helper()
	form := url.Values{"username": {user}, "password": {password}, "next": {"/experiments"}}.Encode()
	res, body := s.call(t, "POST", "/login", "", form, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d\n%s", user, res.StatusCode, body)
	}
	for _, c := range res.Cookies() {
		if c.Name == auth.SessionCookie && c.Value != "" {
			return c
		}
	}
	t.Fatalf("sign in as %s set no session cookie: %v", user, res.Header["Set-Cookie"])
	return nil
}

// signIn fills in the sign-in page the tab shows and submits it.
func (b *browser) signIn(t *testing.T, user, password string) {
	t.Helper()
	b.run(t, chromedp.WaitVisible(`form.login input[name="username"]`),
		chromedp.SetValue(`form.login input[name="username"]`, user),
		chromedp.SetValue(`form.login input[name="password"]`, password),
		chromedp.Click(`form.login button[type="submit"]`))
}

// signedIn waits until the tab has left the sign-in page.
func (b *browser) signedIn(t *testing.T) {
	t.Helper()
	b.waitFor(t, "the page after signing in", `location.pathname !== "/login" && document.readyState === "complete" && !!document.getElementById("user-name")`)
}

// cookie returns the site's session cookie as the browser keeps it, or
// nil.
func (b *browser) cookie(t *testing.T) *network.Cookie {
	t.Helper()
	var cs []*network.Cookie
	b.run(t, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cs, err = network.GetCookies().WithURLs([]string{b.site.URL}).Do(ctx)
		return err
	}))
	for _, c := range cs {
		if c.Name == auth.SessionCookie {
			return c
		}
	}
	return nil
}

// reloadsAfter runs actions that end in the page loading again (a change
// made, then location.reload()) and waits until the new page is complete
// and cond holds in it: the old page, still shown for a moment, does not
// count.
func (b *browser) reloadsAfter(t *testing.T, what, cond string, actions ...chromedp.Action) {
	t.Helper()
	var ignored any
	b.eval(t, `window.lodeOldPage = true`, &ignored)
	b.run(t, actions...)
	b.waitFor(t, what, `!window.lodeOldPage && document.readyState === "complete" && (`+cond+`)`)
}

// forgive drops the errors the tab logged that contain s: those a test
// caused on purpose.
func (b *browser) forgive(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.errors[:0]
	for _, e := range b.errors {
		if !strings.Contains(e, s) {
			kept = append(kept, e)
		}
	}
	b.errors = kept
}

// Signing in, the session cookie, the user menu, the UI's changes with
// their CSRF token, and signing out.
func TestSignInAndOut(t *testing.T) {
	s := newAuthSite(t, siteOptions{})
	ctx := context.Background()
	if _, err := s.Tracking.CreateExperiment(ctx, "wine", "", nil); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)

	// A visitor who has not signed in is sent to the sign-in page, which
	// remembers the page asked for.
	b.visit(t, "/experiments?q=wine")
	var loc string
	b.eval(t, `location.pathname + location.search`, &loc)
	if loc != "/login?next="+url.QueryEscape("/experiments?q=wine") {
		t.Fatalf("signed out, /experiments led to %q", loc)
	}
	var navLinks, menus int
	b.eval(t, `document.querySelectorAll("header.top nav a").length`, &navLinks)
	b.eval(t, `document.querySelectorAll("#user-name, #sign-out").length`, &menus)
	if navLinks != 0 || menus != 0 {
		t.Errorf("the sign-in page shows %d navigation links and %d user menu items, want none", navLinks, menus)
	}
	b.screenshot(t, "login")

	// A wrong password: the page says so, and keeps the username.
	b.signIn(t, "alice", "not her password at all")
	b.waitFor(t, "the sign-in error", `!!document.querySelector("form.login .error-message")`)
	if got := b.text(t, "form.login .error-message"); !strings.Contains(got, "Invalid username or password") {
		t.Errorf("sign-in error: %q", got)
	}
	var kept, next string
	b.eval(t, `document.querySelector('form.login input[name="username"]').value`, &kept)
	b.eval(t, `document.querySelector('form.login input[name="next"]').value`, &next)
	if kept != "alice" || next != "/experiments?q=wine" {
		t.Errorf("after a wrong password the form holds username %q, next %q", kept, next)
	}
	b.screenshot(t, "login-error")
	// The 401 that page came with is logged by Chromium as a failed load.
	b.forgive("status of 401")
	form := url.Values{"username": {"alice"}, "password": {"wrong"}, "next": {"/experiments"}}.Encode()
	res, body := s.call(t, "POST", "/login", "", form, nil)
	if res.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(body, "Invalid username or password") || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("a wrong password: %d, cookie %q\n%s", res.StatusCode, res.Header.Get("Set-Cookie"), body)
	}
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("the refused sign-in's headers: %v", res.Header)
	}

	// The right one leads back to the page asked for; the user menu names
	// who is signed in, with no Admin link for a user who is not one.
	b.signIn(t, "alice", alicePassword)
	b.signedIn(t)
	b.eval(t, `location.pathname + location.search`, &loc)
	if loc != "/experiments?q=wine" {
		t.Errorf("after signing in: %q, want the page asked for", loc)
	}
	if got := b.text(t, "#user-name"); got != "alice" {
		t.Errorf("user menu: %q", got)
	}
	var adminLinks int
	b.eval(t, `document.querySelectorAll('a[href="/admin"]').length`, &adminLinks)
	if adminLinks != 0 {
		t.Errorf("a user who is no admin sees %d Admin links", adminLinks)
	}

	// The session cookie: out of scripts' reach, not sent by other sites'
	// subrequests, and not Secure on plain http (it would not come back).
	c := b.cookie(t)
	if c == nil {
		t.Fatal("no session cookie after signing in")
	}
	if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Secure || c.Path != "/" {
		t.Errorf("session cookie: HttpOnly %v, SameSite %q, Secure %v, Path %q", c.HTTPOnly, c.SameSite, c.Secure, c.Path)
	}
	var scriptSees bool
	b.eval(t, `document.cookie.includes("lode_session")`, &scriptSees)
	if scriptSees {
		t.Error("the page's scripts can read the session cookie")
	}

	// The page's changes carry the CSRF token: create, rename and delete
	// an experiment with the page's buttons. Alice created it, so she
	// manages it.
	b.visit(t, "/experiments")
	b.answer("alice-exp")
	b.run(t, chromedp.Click("#new-experiment"))
	b.waitFor(t, "the new experiment's runs page", `/^\/experiments\/\d+$/.test(location.pathname) && document.readyState === "complete"`)
	b.visit(t, "/experiments")
	b.answer("alice-renamed")
	b.reloadsAfter(t, "the renamed experiment", `!!document.querySelector('tr[data-name="alice-renamed"]')`,
		chromedp.Click(`tr[data-name="alice-exp"] button.rename`))
	b.reloadsAfter(t, "the deleted experiment to leave the list", `!document.querySelector('tr[data-name="alice-renamed"]')`,
		chromedp.Click(`tr[data-name="alice-renamed"] button.delete`))
	e, err := s.Tracking.GetExperimentByName(ctx, "alice-renamed")
	if err != nil || e.LifecycleStage != "deleted" {
		t.Fatalf("the experiment after the page's delete: %+v, %v", e, err)
	}
	b.noErrors(t)

	// Signing out ends the session on the server: the old cookie no longer
	// signs anyone in.
	old := c.Value
	b.run(t, chromedp.Click("#sign-out"))
	b.waitFor(t, "the sign-in page after signing out", `location.pathname === "/login" && document.readyState === "complete"`)
	if c := b.cookie(t); c != nil {
		t.Errorf("the session cookie outlived signing out: %+v", c)
	}
	if _, err := s.Auth.Authenticate(ctx, old); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Errorf("the ended session still authenticates: %v", err)
	}
	if res, _ := s.call(t, "GET", "/experiments", old, "", nil); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Errorf("the old cookie after signing out: %d to %q, want the sign-in page", res.StatusCode, res.Header.Get("Location"))
	}
	b.visit(t, "/experiments")
	b.eval(t, `location.pathname`, &loc)
	if loc != "/login" {
		t.Errorf("after signing out /experiments shows %q", loc)
	}
	b.noErrors(t)
}

// A change that comes with the session cookie needs the session's CSRF
// token: a page of another site cannot make the browser send it.
func TestSessionChangesNeedCSRFToken(t *testing.T) {
	s := newAuthSite(t, siteOptions{})
	c := s.signIn(t, "alice", alicePassword)
	create := `{"name": "csrf-test"}`
	const path = "/ajax-api/2.0/mlflow/experiments/create"
	for _, h := range []map[string]string{nil, {"X-CSRF-Token": "not-the-token"}, {"X-CSRF-Token": auth.CSRFToken("lode_someone_else")}} {
		res, body := s.call(t, "POST", path, c.Value, create, h)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "PERMISSION_DENIED") || !strings.Contains(body, "CSRF") {
			t.Errorf("create with the cookie and CSRF header %v: %d\n%s", h, res.StatusCode, body)
		}
	}
	// Reading needs no token.
	if res, body := s.call(t, "GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=10", c.Value, "", nil); res.StatusCode != 200 {
		t.Errorf("search with the cookie: %d\n%s", res.StatusCode, body)
	}
	if _, err := s.Tracking.GetExperimentByName(context.Background(), "csrf-test"); lode.ErrorCode(err) != lode.ENotFound {
		t.Fatalf("a change without the CSRF token was made: %v", err)
	}
	res, body := s.call(t, "POST", path, c.Value, create, map[string]string{"X-CSRF-Token": auth.CSRFToken(c.Value)})
	if res.StatusCode != 200 {
		t.Fatalf("create with the CSRF token: %d\n%s", res.StatusCode, body)
	}
	// Signing out is a change too: without the form's token it is refused
	// and the session lives on.
	if res, _ := s.call(t, "POST", "/logout", c.Value, "csrf_token=wrong", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign out without the CSRF token: %d", res.StatusCode)
	}
	if _, err := s.Auth.Authenticate(context.Background(), c.Value); err != nil {
		t.Errorf("a refused sign-out ended the session: %v", err)
	}
	if res, _ := s.call(t, "POST", "/logout", c.Value, "csrf_token="+url.QueryEscape(auth.CSRFToken(c.Value)), nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("sign out with the CSRF token: %d", res.StatusCode)
	}
	if _, err := s.Auth.Authenticate(context.Background(), c.Value); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Errorf("the session after signing out: %v", err)
	}
}

// On a server that speaks TLS the session cookie is Secure, and so is
// the one that ends it.
func TestSessionCookieSecure(t *testing.T) {
	for _, secure := range []bool{false, true} {
		s := newAuthSite(t, siteOptions{SecureCookies: secure})
		c := s.signIn(t, "alice", alicePassword)
		if c.Secure != secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("SecureCookies %v: cookie Secure %v, HttpOnly %v, SameSite %v", secure, c.Secure, c.HttpOnly, c.SameSite)
		}
		res, _ := s.call(t, "POST", "/logout", c.Value, "csrf_token="+url.QueryEscape(auth.CSRFToken(c.Value)), nil)
		var ended *http.Cookie
		for _, rc := range res.Cookies() {
			if rc.Name == auth.SessionCookie {
				ended = rc
			}
		}
		if ended == nil || ended.MaxAge >= 0 || ended.Secure != secure {
			t.Errorf("SecureCookies %v: sign-out cookie %+v", secure, ended)
		}
	}
}

// The account page: a new password (the current one needed), and a token
// shown once, used by a client, and revoked.
func TestAccountPage(t *testing.T) {
	s := newAuthSite(t, siteOptions{})
	ctx := context.Background()
	b := newBrowser(t, s)
	b.visit(t, "/account")
	b.signIn(t, "alice", alicePassword)
	b.signedIn(t)
	var loc string
	b.eval(t, `location.pathname`, &loc)
	if loc != "/account" {
		t.Fatalf("signing in from /account led to %q", loc)
	}
	if got := b.text(t, "#account-user"); got != "alice" {
		t.Errorf("account page user: %q", got)
	}

	// A wrong current password changes nothing.
	const newPassword = "alice's new long password"
	b.run(t, chromedp.SetValue(`#password-form input[name="current"]`, "not her password"),
		chromedp.SetValue(`#password-form input[name="new"]`, newPassword),
		chromedp.Click(`#password-form button[type="submit"]`))
	b.waitFor(t, "the error toast", `!document.getElementById("toast").hidden && document.getElementById("toast").className === "error"`)
	if got := b.text(t, "#toast"); !strings.Contains(got, "Current password does not match") {
		t.Errorf("wrong current password: toast %q", got)
	}
	if _, err := s.Auth.Login(ctx, "alice", alicePassword, "test"); err != nil {
		t.Fatalf("a refused change changed the password: %v", err)
	}
	b.forgive("status of 400")
	// The right one changes it; this session goes on.
	b.run(t, chromedp.SetValue(`#password-form input[name="current"]`, alicePassword),
		chromedp.SetValue(`#password-form input[name="new"]`, newPassword),
		chromedp.Click(`#password-form button[type="submit"]`))
	b.waitFor(t, "the password changed toast", `document.getElementById("toast").textContent.startsWith("Password changed")`)
	if _, err := s.Auth.Login(ctx, "alice", newPassword, "test"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if _, err := s.Auth.Login(ctx, "alice", alicePassword, "test"); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Errorf("the old password after the change: %v", err)
	}
	b.visit(t, "/account")
	b.eval(t, `location.pathname`, &loc)
	if loc != "/account" {
		t.Fatalf("after changing the password the session ended: %q", loc)
	}

	// A token: its secret is shown once.
	b.run(t, chromedp.SetValue(`#token-form input[name="name"]`, "laptop"),
		chromedp.SetValue(`#token-form select[name="days"]`, "30"),
		chromedp.Click(`#token-form button[type="submit"]`))
	b.waitFor(t, "the new token's secret", `!document.getElementById("new-token").hidden`)
	secret := strings.TrimSpace(b.text(t, "#new-token-secret"))
	if !auth.LooksLikeToken(secret) {
		t.Fatalf("new token secret %q", secret)
	}
	if got := b.text(t, "table.tokens tbody tr"); !strings.Contains(got, "laptop") || !strings.Contains(got, "api") {
		t.Errorf("the new token's row: %q", got)
	}
	var noTokensShown bool
	b.eval(t, `!document.querySelector(".no-tokens").hidden`, &noTokensShown)
	if noTokensShown {
		t.Error(`"No tokens." is shown under the new token`)
	}
	b.screenshot(t, "account-new-token")
	b.visit(t, "/account")
	var html string
	b.eval(t, `document.documentElement.outerHTML`, &html)
	if strings.Contains(html, secret) {
		t.Error("the token's secret is shown again")
	}
	if got := b.text(t, "table.tokens tbody"); !strings.Contains(got, "laptop") || !strings.Contains(got, "api") {
		t.Errorf("tokens table: %q", got)
	}
	b.screenshot(t, "account")

	// A client uses it as alice.
	bearer := map[string]string{"Authorization": "Bearer " + secret}
	if res, body := s.call(t, "GET", "/api/2.0/mlflow/users/get?username=alice", "", "", bearer); res.StatusCode != 200 || !strings.Contains(body, `"alice"`) {
		t.Errorf("alice's token reading alice: %d\n%s", res.StatusCode, body)
	}
	if res, body := s.call(t, "GET", "/api/2.0/mlflow/users/get?username=admin", "", "", bearer); res.StatusCode != http.StatusForbidden {
		t.Errorf("alice's token reading admin: %d\n%s", res.StatusCode, body)
	}
	if res, body := s.call(t, "POST", "/api/2.0/mlflow/experiments/create", "", `{"name": "by-token"}`, bearer); res.StatusCode != 200 {
		t.Errorf("alice's token creating an experiment (no CSRF token needed): %d\n%s", res.StatusCode, body)
	}

	// Revoked, it stops working at once.
	b.reloadsAfter(t, "the revoked token to leave the table", `!document.querySelector("table.tokens tbody tr") && !document.querySelector(".no-tokens").hidden`,
		chromedp.Click(`table.tokens button.revoke`))
	if res, body := s.call(t, "GET", "/api/2.0/mlflow/users/get?username=alice", "", "", bearer); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the revoked token: %d\n%s", res.StatusCode, body)
	}
	b.noErrors(t)
}

// The admin page: a user created, granted READ then EDIT on an experiment,
// made admin and not, the grant revoked, the user deleted. A user who is
// not an admin cannot see it.
func TestAdminPage(t *testing.T) {
	s := newAuthSite(t, siteOptions{})
	ctx := context.Background()
	expID, err := s.Tracking.CreateExperiment(ctx, "shared", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)
	b.visit(t, "/admin")
	b.signIn(t, "admin", adminPassword)
	b.signedIn(t)
	if got := b.text(t, "header.top nav a.active"); got != "Admin" {
		t.Errorf("the admin page's active navigation item: %q", got)
	}

	const bobPassword = "bob's long password"
	b.reloadsAfter(t, "bob's row", `!!document.querySelector('#users tr[data-user="bob"]')`,
		chromedp.SetValue(`#user-form input[name="username"]`, "bob"),
		chromedp.SetValue(`#user-form input[name="password"]`, bobPassword),
		chromedp.Click(`#user-form button[type="submit"]`))
	if _, err := s.Auth.Login(ctx, "bob", bobPassword, "test"); err != nil {
		t.Fatalf("bob signing in: %v", err)
	}
	bob, err := s.Auth.User(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	perm := func() auth.Permission {
		t.Helper()
		u, err := s.Auth.User(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Auth.Permission(ctx, &auth.Identity{User: u}, auth.Experiment, expID)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// An experiment is granted by its id or its name.
	grant := func(level, experiment string) {
		t.Helper()
		row := `#users tr[data-user="bob"] `
		b.reloadsAfter(t, "bob's "+level+" grant", fmt.Sprintf(`[...document.querySelectorAll('#users tr[data-user="bob"] .grant')].map((e) => e.textContent).join("|").includes("experiment shared (%s): %s")`, expID, level),
			chromedp.SetValue(row+`select.g-type`, "experiment"),
			chromedp.SetValue(row+`input.g-id`, experiment),
			chromedp.SetValue(row+`select.g-perm`, level),
			chromedp.Click(row+`button.grant-btn`))
	}
	grant("READ", "shared")
	if p := perm(); p != auth.Read {
		t.Errorf("bob after the READ grant: %s", p)
	}
	grant("EDIT", expID)
	if p := perm(); p != auth.Edit {
		t.Errorf("bob after the EDIT grant: %s", p)
	}
	var pills int
	b.eval(t, `document.querySelectorAll('#users tr[data-user="bob"] .grant').length`, &pills)
	if pills != 1 {
		t.Errorf("bob has %d grants on the page after a grant replaced another, want 1", pills)
	}
	if _, _, err := s.Auth.CreateToken(ctx, bob, "bob's ci", auth.TokenAPI, 0, ""); err != nil {
		t.Fatal(err)
	}
	b.visit(t, "/admin")
	b.screenshot(t, "admin")

	// Admin, then not.
	toggle := `#users tr[data-user="bob"] input.admin-toggle`
	for _, want := range []bool{true, false} {
		b.reloadsAfter(t, "the admin toggle to stick", fmt.Sprintf(`document.querySelector(%q).checked === %v`, toggle, want),
			chromedp.Click(toggle))
		if u, err := s.Auth.User(ctx, "bob"); err != nil || u.IsAdmin != want {
			t.Errorf("bob's admin flag: %+v, %v; want %v", u, err, want)
		}
	}
	var disabled bool
	b.eval(t, `document.querySelector('#users tr[data-user="admin"] input.admin-toggle').disabled`, &disabled)
	if !disabled {
		t.Error("an admin may take away their own admin flag on the page")
	}

	// The grant revoked: bob is back to the default.
	b.reloadsAfter(t, "bob's grant to go", `!document.querySelector('#users tr[data-user="bob"] .grant')`,
		chromedp.Click(`#users tr[data-user="bob"] .grant button.ungrant`))
	if p := perm(); p != auth.Read {
		t.Errorf("bob after the revoke: %s, want the default READ", p)
	}

	// Deleted, with his tokens.
	b.reloadsAfter(t, "bob's row to go", `!document.querySelector('#users tr[data-user="bob"]')`,
		chromedp.Click(`#users tr[data-user="bob"] button.delete-user`))
	if _, err := s.Auth.User(ctx, "bob"); lode.ErrorCode(err) != lode.ENotFound {
		t.Errorf("bob after deletion: %v", err)
	}
	var tokenRows int
	b.eval(t, `[...document.querySelectorAll("table.tokens tbody tr")].filter((r) => r.textContent.includes("bob")).length`, &tokenRows)
	if tokenRows != 0 {
		t.Errorf("bob's tokens outlived him on the admin page: %d", tokenRows)
	}
	b.noErrors(t)

	// Signing in as someone else while signed in: the sign-in form carries
	// the CSRF token the session's changes need, and the session it
	// replaces ends.
	adminSession := b.cookie(t).Value
	b.visit(t, "/login")
	if got := b.text(t, "form.login .signed-in"); !strings.Contains(got, "admin") {
		t.Errorf("the sign-in page of a signed-in user says %q", got)
	}
	b.signIn(t, "alice", alicePassword)
	b.signedIn(t)
	if got := b.text(t, "#user-name"); got != "alice" {
		t.Errorf("after switching accounts the user menu says %q", got)
	}
	if _, err := s.Auth.Authenticate(ctx, adminSession); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Errorf("the session replaced by a new sign-in: %v", err)
	}

	// Alice is no admin: no Admin link, and /admin is refused.
	var adminLinks int
	b.eval(t, `document.querySelectorAll('a[href="/admin"]').length`, &adminLinks)
	if adminLinks != 0 {
		t.Errorf("alice sees %d Admin links", adminLinks)
	}
	b.visit(t, "/admin")
	if got := b.text(t, "main"); !strings.Contains(got, "403") || !strings.Contains(got, "only admins") {
		t.Errorf("alice's /admin: %q", got)
	}
	b.forgive("status of 403")
	c := s.signIn(t, "alice", alicePassword)
	if res, _ := s.call(t, "GET", "/admin", c.Value, "", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("alice's /admin: %d, want 403", res.StatusCode)
	}
	b.noErrors(t)
}

// With NO_PERMISSIONS by default, a user sees only the experiments they
// were granted.
func TestNoPermissionsByDefault(t *testing.T) {
	s := newAuthSite(t, siteOptions{Default: auth.NoPermissions})
	ctx := context.Background()
	secretID, err := s.Tracking.CreateExperiment(ctx, "secret-exp", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	sharedID, err := s.Tracking.CreateExperiment(ctx, "shared-exp", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Auth.Grant(ctx, "alice", auth.Experiment, sharedID, auth.Read, false); err != nil {
		t.Fatal(err)
	}
	alice := s.signIn(t, "alice", alicePassword).Value
	res, body := s.call(t, "GET", "/experiments", alice, "", nil)
	if res.StatusCode != 200 || !strings.Contains(body, "shared-exp") || strings.Contains(body, "secret-exp") || strings.Contains(body, ">Default<") {
		t.Errorf("alice's experiments: %d\n%s", res.StatusCode, body)
	}
	if res, _ := s.call(t, "GET", "/experiments/"+sharedID, alice, "", nil); res.StatusCode != 200 {
		t.Errorf("alice's granted experiment: %d", res.StatusCode)
	}
	if res, body := s.call(t, "GET", "/experiments/"+secretID, alice, "", nil); res.StatusCode != http.StatusForbidden || strings.Contains(body, "secret-exp") {
		t.Errorf("an experiment alice may not read: %d\n%s", res.StatusCode, body)
	}
	admin := s.signIn(t, "admin", adminPassword).Value
	if res, body := s.call(t, "GET", "/experiments", admin, "", nil); res.StatusCode != 200 || !strings.Contains(body, "secret-exp") || !strings.Contains(body, "shared-exp") {
		t.Errorf("the admin's experiments: %d\n%s", res.StatusCode, body)
	}
}

// A page whose session ended (signed out in another tab, expired) gets
// 401 from the API: the browser must not answer it with its own password
// dialog, which would then send that password with every request, past
// signing out; the page sends its user to sign in again, and back.
func TestEndedSessionSignsInAgain(t *testing.T) {
	s := newAuthSite(t, siteOptions{})
	b := newBrowser(t, s)
	var mu sync.Mutex
	var prompts []string
	chromedp.ListenTarget(b.ctx, func(ev any) {
		c := chromedp.FromContext(b.ctx)
		switch ev := ev.(type) {
		case *fetch.EventRequestPaused:
			go fetch.ContinueRequest(ev.RequestID).Do(cdp.WithExecutor(b.ctx, c.Target))
		case *fetch.EventAuthRequired:
			mu.Lock()
			prompts = append(prompts, ev.Request.URL)
			mu.Unlock()
			go fetch.ContinueWithAuth(ev.RequestID, &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}).
				Do(cdp.WithExecutor(b.ctx, c.Target))
		}
	})
	b.run(t, fetch.Enable().WithHandleAuthRequests(true))
	b.visit(t, "/experiments?view=all")
	b.signIn(t, "alice", alicePassword)
	b.signedIn(t)
	if err := s.Auth.RevokeSecret(context.Background(), b.cookie(t).Value); err != nil {
		t.Fatal(err)
	}
	b.answer("after-the-session")
	b.run(t, chromedp.Click("#new-experiment"))
	b.waitFor(t, "the page to answer", `(location.pathname === "/login" && document.readyState === "complete") || !document.getElementById("toast").hidden`)
	mu.Lock()
	if len(prompts) > 0 {
		t.Errorf("the browser asked for a password for %v", prompts)
	}
	mu.Unlock()
	var loc string
	b.eval(t, `location.pathname + location.search`, &loc)
	if loc != "/login?next="+url.QueryEscape("/experiments?view=all") {
		t.Errorf("the page whose session ended went to %q", loc)
	}
	b.forgive("status of 401")
	b.noErrors(t)

	// Clients are asked for Basic credentials (the mlflow client sends
	// them when asked); a browser's scripts are not.
	for _, c := range []struct {
		mode  string
		basic bool
	}{{"", true}, {"navigate", true}, {"cors", false}, {"same-origin", false}} {
		res, _ := s.call(t, "GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=1", "", "", map[string]string{"Sec-Fetch-Mode": c.mode})
		got := strings.Join(res.Header.Values("WWW-Authenticate"), ", ")
		if res.StatusCode != http.StatusUnauthorized || strings.Contains(got, "Basic") != c.basic || !strings.Contains(got, "Bearer") {
			t.Errorf("anonymous, Sec-Fetch-Mode %q: %d, WWW-Authenticate %q", c.mode, res.StatusCode, got)
		}
	}
}

// After signing in, the browser goes to a path on this server and never
// to another site, whatever next says: the attacks browsers turn into
// another host (backslashes, doubled slashes, paths that clean into one,
// control characters they drop), plain or percent-encoded, and loops
// back to the sign-in page.
func TestSafeNext(t *testing.T) {
	const home = "/experiments"
	for _, c := range []struct{ next, want string }{
		{"/experiments?q=wine", "/experiments?q=wine"},
		{"/runs/abc/artifacts?path=a%2Fb", "/runs/abc/artifacts?path=a%2Fb"},
		{"/models/a%2Fb", "/models/a%2Fb"},
		{"/experiments/1/", "/experiments/1/"},
		{"/a/./b/../c", "/a/c"},
		{"/a/../experiments", "/experiments"},
		{"/x//y", "/x/y"},
		{"/", "/"},
		{"/#frag", "/"},
		{"", home},
		{"experiments", home},
		{"https://evil.example/", home},
		{"http:/evil.example", home},
		{"javascript:alert(1)", home},
		{"//evil.example", home},
		{"///evil.example", "/evil.example"},
		{"/\\evil.example", home},
		{"\\\\evil.example", home},
		{"/a/../\\evil.example", home},
		{"/a/..\\evil.example", home},
		{"/x/..%2f\\evil.example", home},
		{"/%5Cevil.example", home},
		{"/%5cevil.example", home},
		{"/a/../%5Cevil.example", home},
		{"/%5C%5Cevil.example", home},
		{"/a/../%2F%2Fevil.example", "/%2F%2Fevil.example"},
		{"/a/..//evil.example", "/evil.example"},
		{"/a/../../..//evil.example", "/evil.example"},
		{"/.//evil.example", "/evil.example"},
		{"/\t/evil.example", home},
		{"/\n/evil.example", home},
		{"/\r\nSet-Cookie: x=y", home},
		{"/%09/evil.example", home},
		{"/%0d%0aSet-Cookie:%20x=y", home},
		{"/\x00", home},
		{"/\u0085/evil.example", home},
		{"/x?\n", home},
		{"/login", home},
		{"/login?next=/experiments", home},
		{"/login/", home},
		{"/a/../login", home},
		{"/%6Cogin", home},
		{"//login", home},
		{"/logins", "/logins"},
		{"/%", home},
	} {
		if got := safeNext(c.next); got != c.want {
			t.Errorf("safeNext(%q) = %q, want %q", c.next, got, c.want)
		}
		if got := safeNext(c.next); strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t") || !strings.HasPrefix(got, "/") {
			t.Errorf("safeNext(%q) = %q leaves this server", c.next, got)
		}
	}
}

// The sign-in form's next is where the browser goes, cleaned as safeNext
// cleans it: Location never names another host.
func TestSignInRedirectStaysHere(t *testing.T) {
	s := newAuthSite(t, siteOptions{})
	for next, want := range map[string]string{
		"/a/../\\evil.example":      "/experiments",
		"/x/..%2f\\evil.example":    "/experiments",
		"//evil.example":            "/experiments",
		"/%5Cevil.example":          "/experiments",
		"/a/..//evil.example":       "/evil.example",
		"/experiments/0?view=table": "/experiments/0?view=table",
	} {
		form := url.Values{"username": {"alice"}, "password": {alicePassword}, "next": {next}}.Encode()
		res, body := s.call(t, "POST", "/login", "", form, nil)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
			t.Errorf("sign in with next=%q: %d Location %q, want 303 %q\n%.300s", next, res.StatusCode, res.Header.Get("Location"), want, body)
		}
	}
	// The sign-in page carries the cleaned next into its form.
	res, body := s.call(t, "GET", "/login?next="+url.QueryEscape("/a/../\\evil.example"), "", "", nil)
	if res.StatusCode != http.StatusOK || strings.Contains(body, "evil.example") {
		t.Errorf("GET /login with a hostile next: %d, the page still holds it", res.StatusCode)
	}
}
