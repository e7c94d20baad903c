package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium to drive: $LODE_CHROMIUM, else chromium (or
// chrome) on PATH. Without one the browser tests skip, unless
// LODE_REQUIRE_CHROMIUM is set (as `make test` sets it).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LODE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LODE_REQUIRE_CHROMIUM") != "" {
		t.Fatal("no Chromium found (install Debian's chromium, or set LODE_CHROMIUM)")
	}
	t.Skip("no Chromium on PATH and LODE_REQUIRE_CHROMIUM unset")
	return ""
}

// browser is a headless Chromium tab that records every console error,
// uncaught exception and failed load, so that a test can assert a page
// had none.
type browser struct {
	ctx    context.Context
	site   *site
	mu     sync.Mutex
	errors []string
	// dialog answers prompt() (and accepts confirm()) when set.
	dialog string
}

func newBrowser(t *testing.T, s *site) *browser {
	t.Helper()
	// Chromium's helper processes may still write to their profile for a
	// moment after it exits: the profile is removed at the end, leniently.
	profile, err := os.MkdirTemp("", "lode-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	b := &browser{ctx: ctx, site: s}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				b.record("console.error: " + strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			b.record("exception: " + msg)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError {
				b.record("log: " + ev.Entry.Text + " " + ev.Entry.URL)
			}
		case *page.EventJavascriptDialogOpening:
			go func() {
				b.mu.Lock()
				answer := b.dialog
				b.mu.Unlock()
				c := chromedp.FromContext(ctx)
				page.HandleJavaScriptDialog(true).WithPromptText(answer).Do(cdp.WithExecutor(ctx, c.Target))
			}()
		}
	})
	if err := chromedp.Run(ctx, cdplog.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return b
}

func (b *browser) record(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, msg)
}

// answer sets what the next prompt() gets.
func (b *browser) answer(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dialog = s
}

// run runs actions in the tab, failing the test on error.
func (b *browser) run(t *testing.T, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		t.Fatalf("browser: %v\nerrors so far: %v", err, b.errors)
	}
}

// visit loads a page of the site and waits until it is ready.
func (b *browser) visit(t *testing.T, path string) {
	t.Helper()
	b.run(t, chromedp.Navigate(b.site.URL+path), chromedp.WaitReady("body"))
}

// noErrors fails the test if the tab logged any error so far.
func (b *browser) noErrors(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		t.Errorf("the page logged errors:\n  %s", strings.Join(b.errors, "\n  "))
		b.errors = nil
	}
}

// screenshot saves the whole page as NAME.png in $LODE_SCREENSHOTS (make
// test sets it to test-output/screenshots), else in the test's temp dir.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("LODE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var png []byte
	b.run(t, chromedp.FullScreenshot(&png, 100)) // quality 100 gives a PNG
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// text returns the text of the first element matching sel.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	var s string
	b.run(t, chromedp.Text(sel, &s, chromedp.NodeVisible))
	return s
}

// eval evaluates JavaScript in the page into out.
func (b *browser) eval(t *testing.T, js string, out any) {
	t.Helper()
	b.run(t, chromedp.Evaluate(js, out))
}

// canvasDrawn reports whether every canvas matching sel has pixels that
// are not transparent: a chart was drawn, not only laid out.
func (b *browser) canvasDrawn(t *testing.T, sel string) bool {
	t.Helper()
	var ok bool
	b.eval(t, fmt.Sprintf(`(() => {
		const cs = [...document.querySelectorAll(%q)];
		return cs.length > 0 && cs.every((c) => {
			const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
			return false;
		});
	})()`, sel), &ok)
	return ok
}

// waitFor polls a JavaScript condition until it is true.
func (b *browser) waitFor(t *testing.T, what, js string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ok bool
		if err := chromedp.Run(b.ctx, chromedp.Evaluate(js, &ok)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\nerrors: %v", what, b.errors)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
