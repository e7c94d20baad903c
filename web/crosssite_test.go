package web

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode"
)

// A page of another site that the user visits posts a form to the
// server's API, as a cross-site request forgery would: the real browser
// marks it cross-site, the front door refuses it before the API sees it,
// and nothing is created. (The UI's own POSTs, in the other browser tests,
// go through the same front door.)
func TestCrossSiteFormIsRefused(t *testing.T) {
	s := newSite(t)
	target := s.URL + "/ajax-api/2.0/mlflow/experiments/create"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="POST" action="%s"><input name="name" value="csrf-form"></form>
<script>document.forms[0].submit()</script>`, html.EscapeString(target))
	}))
	t.Cleanup(evil.Close)
	// localhost is another site than 127.0.0.1 to the browser.
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	b := newBrowser(t, s)
	b.run(t, chromedp.Navigate(evilURL+"/"))
	b.waitFor(t, "the form's answer", `location.href.startsWith(`+fmt.Sprintf("%q", target)+`) && document.readyState === "complete"`)
	var body string
	b.eval(t, `document.body.innerText`, &body)
	if !strings.Contains(body, "PERMISSION_DENIED") || !strings.Contains(body, "Cross-origin request blocked") {
		t.Errorf("the cross-site form got %q, want the front door's refusal", body)
	}
	if _, err := s.Tracking.GetExperimentByName(context.Background(), "csrf-form"); lode.ErrorCode(err) != lode.ENotFound {
		t.Errorf("the cross-site form created an experiment: %v", err)
	}
}
