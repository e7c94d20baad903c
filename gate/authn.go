package gate

import (
	"crypto/subtle"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/mlflowapi"
)

// CSRFHeader carries a signed-in page's CSRF token on its API calls; forms
// carry it in the field csrf_token.
const CSRFHeader = "X-CSRF-Token"

// Authn finds out who sends each request and puts the identity in its
// context (auth.FromContext), for the routes' rules to judge: HTTP Basic
// (a username and password, as the mlflow client sends them), a bearer
// token (MLFLOW_TRACKING_TOKEN, a job's token), or the web UI's session
// cookie, whose changes must also carry the session's CSRF token. A
// request with none is anonymous; one with credentials that do not hold
// is refused at once (401), not served as anonymous.
type Authn struct {
	// Auth checks credentials; nil means the server runs open, and every
	// request may do everything.
	Auth *auth.Service
	// APIPrefixes are the paths whose refusals are MLflow JSON errors.
	APIPrefixes []string
	Logger      *slog.Logger
}

// Handler wraps next.
func (a *Authn) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Auth == nil {
			next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), auth.OpenIdentity)))
			return
		}
		id, err := a.identify(w, r)
		if err != nil {
			a.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), id)))
	})
}

func (a *Authn) identify(w http.ResponseWriter, r *http.Request) (*auth.Identity, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(strings.TrimSpace(h), " ")
		switch strings.ToLower(scheme) {
		case "basic":
			user, pass, ok := r.BasicAuth()
			if !ok {
				return nil, lode.Errorf(lode.EUnauthenticated, "Malformed Basic credentials.")
			}
			u, err := a.Auth.Login(ctx, user, pass, ClientAddr(r))
			if err != nil {
				return nil, err
			}
			return &auth.Identity{User: u, Basic: true}, nil
		case "bearer":
			return a.Auth.Authenticate(ctx, strings.TrimSpace(cred))
		}
		return nil, lode.Errorf(lode.EUnauthenticated, "Unsupported authorization scheme '%s': use Basic or Bearer.", printable(scheme))
	}
	c, err := r.Cookie(auth.SessionCookie)
	if err != nil || c.Value == "" {
		return &auth.Identity{}, nil
	}
	id, err := a.Auth.Authenticate(ctx, c.Value)
	if err != nil || id.Token.Kind != auth.TokenSession {
		if lode.ErrorCode(err) != lode.EUnauthenticated && err != nil {
			return nil, err
		}
		// An ended session: the visitor is anonymous again (and the UI
		// sends them to sign in); the stale cookie goes.
		http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		return &auth.Identity{}, nil
	}
	if stateChanging(r.Method) && !validCSRF(r, c.Value) {
		return nil, lode.Errorf(lode.EPermission, "Missing or invalid CSRF token: reload the page and try again.")
	}
	return id, nil
}

// validCSRF checks the CSRF token of a cookie-authenticated change: the
// header, or the form field of a form post.
func validCSRF(r *http.Request, session string) bool {
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
			got = r.PostFormValue("csrf_token")
		}
	}
	want := auth.CSRFToken(session)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// refuse answers a request whose credentials do not hold.
func (a *Authn) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code := lode.ErrorCode(err)
	msg := lode.ErrorMessage(err)
	if mlflowapi.HTTPStatus(code) >= 500 {
		if a.Logger != nil {
			a.Logger.Error("authentication failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	} else if a.Logger != nil {
		a.Logger.Warn("refused credentials", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "why", msg)
	}
	if code == lode.EUnauthenticated {
		mlflowapi.Challenge(w, r)
	}
	answer(w, code, msg, onAPI(a.APIPrefixes, r.URL.Path))
}

// ClientAddr is the address a request came from, for throttling failed
// sign-ins and for logs: the peer's (a header a client sets could name
// anyone).
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
