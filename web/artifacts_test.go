package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chromedp/chromedp"

	"github.com/lode-ml/lode/tracking"
)

func TestArtifactRoot(t *testing.T) {
	s := &Server{}
	if _, ok := s.artifactRoot("mlflow-artifacts:/1/abc/artifacts"); ok {
		t.Error("a server without a store serves no artifacts")
	}
	s = runTestUI(newSite(t))
	for uri, want := range map[string]string{
		"mlflow-artifacts:/1/abc/artifacts":            "1/abc/artifacts",
		"mlflow-artifacts://host:5000/1/abc/artifacts": "1/abc/artifacts",
		"mlflow-artifacts:/1//abc/artifacts/":          "1/abc/artifacts",
		"mlflow-artifacts:/":                           "", // the store's root is nobody's folder
		"mlflow-artifacts:/1/../../etc":                "",
		"mlflow-artifacts:/1/%2e%2e/x":                 "",
		"s3://bucket/1/abc/artifacts":                  "",
		"file:///etc":                                  "",
		"/etc/passwd":                                  "",
	} {
		got, ok := s.artifactRoot(uri)
		if got != want || ok != (want != "") {
			t.Errorf("artifactRoot(%q) = %q, %v; want %q", uri, got, ok, want)
		}
	}
}

// runTestUI returns a UI server over a site's services, to call its methods.
func runTestUI(s *site) *Server {
	return &Server{Tracking: s.Tracking, Registry: s.Registry, Artifacts: s.Artifacts}
}

func TestArtifactPreviewHelpers(t *testing.T) {
	// Text is cut at 100 KB, never inside a character.
	long := strings.Repeat("é", previewTextBytes) // 2 bytes each
	long = "x" + long                             // so that the cut falls inside one
	p := &artifactPreview{}
	if err := previewText(p, strings.NewReader(long)); err != nil {
		t.Fatal(err)
	}
	if !p.Truncated || len(p.Text) > previewTextBytes || !utf8.ValidString(p.Text) || strings.ContainsRune(p.Text, utf8.RuneError) {
		t.Errorf("cut text: %d bytes, truncated %v, valid %v", len(p.Text), p.Truncated, utf8.ValidString(p.Text))
	}
	p = &artifactPreview{}
	previewText(p, strings.NewReader("short"))
	if p.Truncated || p.Text != "short" {
		t.Errorf("short text: %+v", p)
	}

	// CSV: the header and 100 rows; ragged rows and stray quotes are read.
	var csv strings.Builder
	csv.WriteString("a,b\n")
	for i := 0; i < 120; i++ {
		csv.WriteString("1,x\"y\n")
	}
	p = &artifactPreview{}
	if err := previewCSV(p, strings.NewReader(csv.String()), false); err != nil {
		t.Fatal(err)
	}
	if len(p.Rows) != previewCSVRows+1 || !p.MoreRows {
		t.Errorf("CSV preview: %d rows, more %v", len(p.Rows), p.MoreRows)
	}
	p = &artifactPreview{}
	previewCSV(p, strings.NewReader("a\tb\n1\t2\n3\n"), true)
	if len(p.Rows) != 3 || p.Rows[1][1] != "2" || p.MoreRows {
		t.Errorf("TSV preview: %q", p.Rows)
	}

	for in, want := range map[string]bool{"plain\n": true, "héllo": true, "a\x00b": false, "\xff\xfe": false} {
		if got := artifactLooksLikeText([]byte(in), false); got != want {
			t.Errorf("looksLikeText(%q) = %v", in, got)
		}
	}
	// A character cut at the end of what was sniffed is still text.
	if !artifactLooksLikeText([]byte("ab\xc3"), true) {
		t.Error("a cut character made text binary")
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KB", 5 << 20: "5.0 MB"} {
		if got := artifactSizeText(n); got != want {
			t.Errorf("artifactSizeText(%d) = %q, want %q", n, got, want)
		}
	}
}

// runTestFetch returns a response's status, headers and body.
func runTestFetch(t *testing.T, s *site, path string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

func TestRunArtifactEndpoints(t *testing.T) {
	s := newSite(t)
	f := newRunFixture(t, s)
	ctx := context.Background()
	run := "/runs/" + f.ID
	q := func(p string) string { return url.QueryEscape(p) }

	// Previews, as fragments.
	for _, c := range []struct {
		path string
		want []string
	}{
		{"train.log", []string{`data-kind="text"`, "epoch 1 loss 2.0", "&lt;script&gt;alert(1)&lt;/script&gt;", "Download"}},
		{"metrics/summary.json", []string{`data-kind="json"`, "{\n  &#34;best&#34;: {\n    &#34;loss&#34;: 0.11,"}},
		{"data/predictions.csv", []string{`data-kind="csv"`, "<th>sepal_length</th><th>species</th>", "<td>kind-99</td>", "Only the first 100 rows"}},
		{"plots/confusion.png", []string{`data-kind="image"`, `<img src="/runs/` + f.ID + `/artifact?path=plots%2Fconfusion.png"`}},
		{"plots/curve.svg", []string{`data-kind="image"`}},
		{"model/model.pkl", []string{`data-kind="binary"`, "No preview"}},
		{"model", []string{`data-kind="dir"`, "python_function", "sklearn", "mlflow.sklearn", "3.11.9",
			"conda: conda.yaml, virtualenv: python_env.yaml", "sepal length (cm)", "(optional)", "tensor int64 (-1)",
			"iris-classifier v1", "2.16.2", "MLmodel"}},
		{"model/MLmodel", []string{`data-kind="text"`, "loader_module: mlflow.sklearn", `class="card logged-model"`}},
		{"", []string{`data-kind="dir"`, "train.log", "plots/"}},
		{"nothing/here.txt", []string{`data-kind="missing"`}},
	} {
		code, h, body := runTestFetch(t, s, run+"/preview?path="+q(c.path))
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Errorf("preview %q: %d %s\n%s", c.path, code, h.Get("Content-Type"), body)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("preview %q lacks %q:\n%s", c.path, w, body)
			}
		}
	}
	if _, _, body := runTestFetch(t, s, run+"/preview?path=data/predictions.csv"); strings.Count(body, "<tr>") != 101 || strings.Contains(body, "kind-100<") {
		t.Errorf("CSV preview: %d rows, want a header and 100", strings.Count(body, "<tr>"))
	}

	// Files: images inline with their type; SVG (it may hold script) and
	// everything else as attachments; all nosniff and sandboxed.
	for _, c := range []struct{ path, ctype, disposition string }{
		{"plots/confusion.png", "image/png", "inline"},
		{"plots/curve.svg", "image/svg+xml", "attachment"},
		{"train.log", "text/plain; charset=utf-8", "attachment"},
		{"metrics/summary.json", "application/json", "attachment"},
		{"model/model.pkl", "application/octet-stream", "attachment"},
		{"model/MLmodel", "application/octet-stream", "attachment"},
	} {
		code, h, body := runTestFetch(t, s, run+"/artifact?path="+q(c.path))
		if code != 200 || h.Get("Content-Type") != c.ctype || !strings.HasPrefix(h.Get("Content-Disposition"), c.disposition+";") ||
			h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("file %s: %d %q %q %q %q", c.path, code, h.Get("Content-Type"), h.Get("Content-Disposition"),
				h.Get("X-Content-Type-Options"), h.Get("Content-Security-Policy"))
		}
		if c.path == "plots/confusion.png" && !bytes.Equal([]byte(body), testPNG(t)) {
			t.Error("the PNG's bytes differ")
		}
	}
	if _, h, _ := runTestFetch(t, s, run+"/artifact?path=plots/confusion.png&download=1"); !strings.HasPrefix(h.Get("Content-Disposition"), "attachment;") {
		t.Errorf("download=1: %q", h.Get("Content-Disposition"))
	}
	if code, _, _ := runTestFetch(t, s, run+"/artifact?path=model"); code != 404 {
		t.Errorf("a folder as a file: %d, want 404", code)
	}
	if code, _, _ := runTestFetch(t, s, run+"/artifact?path="); code != 400 {
		t.Errorf("no path: %d, want 400", code)
	}
	// A folder's listing, for folders loaded when opened.
	if code, _, body := runTestFetch(t, s, run+"/artifacts?path=deep/a/b/c/d/e/f"); code != 200 || !strings.Contains(body, `data-path="deep/a/b/c/d/e/f/g/leaf.txt"`) {
		t.Errorf("folder listing: %d\n%s", code, body)
	}

	// A folder of many files shows the first thousand.
	for i := 0; i < artifactDirMax+3; i++ {
		if err := s.Artifacts.Put(ctx, fmt.Sprintf("%s/many/f%04d.txt", f.Root, i), strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, body := runTestFetch(t, s, run+"/artifacts?path=many"); code != 200 || strings.Count(body, `class="art file`) != artifactDirMax || !strings.Contains(body, "… and 3 more") {
		t.Errorf("a folder of %d files: %d, %d shown", artifactDirMax+3, code, strings.Count(body, `class="art file`))
	}
	// (the model, in a folder the big one left unlisted, is still found)
	if code, body := s.get(t, run); code != 200 || !strings.Contains(body, "… and 3 more") || !strings.Contains(body, `id="models"`) {
		t.Errorf("the page with a folder of %d files: %d", artifactDirMax+3, code)
	}

	// Paths that leave the run's folder, in every spelling, are refused
	// (400 or 404) by every endpoint, and never show a file outside it.
	other, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: f.ExpID})
	if err != nil {
		t.Fatal(err)
	}
	otherRoot := strings.TrimPrefix(other.Info.ArtifactURI, "mlflow-artifacts:/")
	for p, b := range map[string]string{otherRoot + "/secret.txt": "SECRET-OTHER-RUN", "secret.txt": "SECRET-STORE-ROOT"} {
		if err := s.Artifacts.Put(ctx, p, strings.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	escapes := []string{
		"../../" + other.Info.RunID + "/artifacts/secret.txt",
		"../../../secret.txt",
		"model/../../../../secret.txt",
		"/secret.txt",
		"/" + f.Root + "/train.log",
		"%2e%2e/%2e%2e/%2e%2e/secret.txt",
		"..%2f..%2f..%2fsecret.txt",
		"%252e%252e%252f%252e%252e%252f%252e%252e%252fsecret.txt",
		"..\\..\\..\\secret.txt",
		"C:/secret.txt",
		"file:///etc/passwd",
		"model/..",
		"．．/．．/．．/secret.txt",
		"train.log\x00.png",
	}
	for _, p := range escapes {
		for _, endpoint := range []string{"/artifact?path=", "/preview?path=", "/artifacts?path=", "?artifact="} {
			code, _, body := runTestFetch(t, s, run+endpoint+q(p))
			if code != 400 && code != 404 {
				t.Errorf("%s%s: %d, want 400 or 404", endpoint, p, code)
			}
			if strings.Contains(body, "SECRET") || strings.Contains(body, "root:") {
				t.Errorf("%s%s showed a file outside the run:\n%s", endpoint, p, body)
			}
		}
	}
	// A ';' in the query is refused with its pair, not dropped (which
	// would answer for the run's root instead).
	for _, endpoint := range []string{"/artifact?path=", "/preview?path=", "/artifacts?path=", "?artifact="} {
		for _, raw := range []string{"..;/..;/..;/secret.txt", "train.log;x", "model&x=1;2"} {
			if code, _, body := runTestFetch(t, s, run+endpoint+raw); code != 400 || strings.Contains(body, "SECRET") {
				t.Errorf("%s%s: %d, want 400", endpoint, raw, code)
			}
		}
	}
	// Ids that are no run.
	for _, p := range []string{"/runs/nope/artifact?path=train.log", "/runs/" + strings.Repeat("a", 32) + "/preview?path=x"} {
		if code, _, _ := runTestFetch(t, s, p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}

	// A run whose artifacts are in an object store is not browsed here.
	exp, err := s.Tracking.CreateExperiment(ctx, "in-s3", "s3://bucket/in-s3", nil)
	if err != nil {
		t.Fatal(err)
	}
	s3run, err := s.Tracking.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: exp})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := s.get(t, "/runs/"+s3run.Info.RunID); code != 200 || !strings.Contains(body, `id="artifacts-elsewhere"`) || !strings.Contains(body, "s3://bucket/in-s3/"+s3run.Info.RunID+"/artifacts") {
		t.Errorf("a run with artifacts in S3: %d\n%s", code, body)
	}
	if code, _, _ := runTestFetch(t, s, "/runs/"+s3run.Info.RunID+"/artifact?path=x.txt"); code != 404 {
		t.Errorf("a file of a run in S3: %d, want 404", code)
	}
}

func TestRunArtifactBrowser(t *testing.T) {
	s := newSite(t)
	f := newRunFixture(t, s)
	b := newBrowser(t, s)
	b.visit(t, "/runs/"+f.ID)
	b.waitFor(t, "the charts", `!!document.body.dataset.chartsDrawn`)

	// clickArtifact opens the folders on the way (as a user does), then
	// selects the entry and waits for its preview.
	clickArtifact := func(p string) {
		t.Helper()
		b.eval(t, `(() => { document.querySelectorAll("#artifact-tree details").forEach((d) => {
			if (`+runTestJS(p)+`.startsWith(d.dataset.dir + "/")) d.open = true; }); return true; })()`, nil)
		b.run(t, chromedp.Click(`#artifact-tree a.art[data-path=`+runTestJS(p)+`]`, chromedp.ByQuery))
		b.waitFor(t, "the preview of "+p, `(document.querySelector("#artifact-preview .preview-body") || {}).dataset?.path === `+runTestJS(p))
		if got := runTestQuery(t, b).Get("artifact"); got != p {
			t.Errorf("URL after selecting %s: artifact=%q", p, got)
		}
	}

	clickArtifact("train.log")
	if got := b.text(t, "#preview-text"); !strings.Contains(got, "epoch 2 loss 1.5 <script>alert(1)</script>") {
		t.Errorf("text preview: %q", got)
	}
	clickArtifact("metrics/summary.json")
	if got := b.text(t, "#preview-text"); !strings.Contains(got, "\"best\": {\n    \"loss\": 0.11") {
		t.Errorf("JSON preview: %q", got)
	}
	clickArtifact("data/predictions.csv")
	var rows int
	b.eval(t, `document.querySelectorAll("#preview-table tbody tr").length`, &rows)
	if rows != 100 {
		t.Errorf("CSV preview: %d rows, want 100", rows)
	}
	for p, width := range map[string]int{"plots/confusion.png": 40, "plots/curve.svg": 60} {
		clickArtifact(p)
		b.waitFor(t, "the image "+p, `(() => { const i = document.querySelector("#artifact-preview img"); return !!i && i.complete && i.naturalWidth > 0; })()`)
		var w int
		b.eval(t, `document.querySelector("#artifact-preview img").naturalWidth`, &w)
		if w != width {
			t.Errorf("%s shows %d px wide, want %d", p, w, width)
		}
	}
	// The model's folder: its MLmodel summary, registered version included.
	clickArtifact("model")
	if got := b.text(t, "#artifact-preview .logged-model"); !strings.Contains(got, "python_function") ||
		!strings.Contains(got, "mlflow.sklearn") || !strings.Contains(got, "iris-classifier v1") || !strings.Contains(got, "sepal length (cm)") {
		t.Errorf("model summary: %q", got)
	}
	b.screenshot(t, "run-artifacts")

	// A folder deeper than the page listed loads when opened.
	var lazy bool
	b.eval(t, `!!document.querySelector('details[data-dir="deep/a/b/c/d/e/f"][data-lazy]')`, &lazy)
	if !lazy {
		t.Error("the deep folder was listed up front")
	}
	clickArtifact("deep/a/b/c/d/e/f")
	b.waitFor(t, "the deep folder's listing", `!!document.querySelector('#artifact-tree a.art[data-path="deep/a/b/c/d/e/f/g"]')`)
	clickArtifact("deep/a/b/c/d/e/f/g/leaf.txt")
	if got := b.text(t, "#preview-text"); got != "found me\n" && got != "found me" {
		t.Errorf("deep file: %q", got)
	}

	// The URL is the view: a shared link opens the tree at the file.
	b.visit(t, "/runs/"+f.ID+"?artifact="+url.QueryEscape("deep/a/b/c/d/e/f/g/leaf.txt"))
	if got := b.text(t, "#preview-text"); !strings.Contains(got, "found me") {
		t.Errorf("preview from the URL: %q", got)
	}
	var visible bool
	b.eval(t, `(() => { const a = document.querySelector('#artifact-tree a.art.selected'); return !!a && a.dataset.path === "deep/a/b/c/d/e/f/g/leaf.txt" && a.offsetParent !== null; })()`, &visible)
	if !visible {
		t.Error("the selected file is not shown selected in the tree")
	}
	b.noErrors(t)
}

// runTestJS quotes s for JavaScript (and CSS attribute selectors).
func runTestJS(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
