package artifact

import (
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lode-ml/lode"
)

var cleanPathGood = []struct {
	in, want string
}{
	{"", ""},
	{"a", "a"},
	{"a/", "a"},
	{"a//", "a"},
	{"a/b/c.txt", "a/b/c.txt"},
	{"a//b", "a/b"},
	{"a///b//", "a/b"},
	{"model/MLmodel", "model/MLmodel"},
	{"model/data/model.pth", "model/data/model.pth"},
	{"file with spaces.txt", "file with spaces.txt"},
	{"ünïcödé/数据.csv", "ünïcödé/数据.csv"},
	{"emoji 😀.png", "emoji 😀.png"},
	{".hidden", ".hidden"},
	{"a/.b", "a/.b"},
	{"..a", "..a"},
	{"a..", "a.."},
	{"a..b/c", "a..b/c"},
	{"...a", "...a"},
	{"~/x", "~/x"},
	{"$HOME/x", "$HOME/x"},
	{"2024-01-01T10:00:00/x", "2024-01-01T10:00:00/x"},
	{"a/b:c", "a/b:c"},
	{"1:2", "1:2"},
	{"a+b&c=d", "a+b&c=d"},
	{"a b/ c", "a b/ c"},
	// Percent signs that do not decode to anything dangerous are kept
	// literally, never decoded.
	{"a%20b.txt", "a%20b.txt"},
	{"100%.txt", "100%.txt"},
	{"50%25", "50%25"},
	{"a%41", "a%41"},
	{"%C3%A9.txt", "%C3%A9.txt"},
	{"a%zz", "a%zz"},
	{"a%", "a%"},
	{"%", "%"},
	{"a%2", "a%2"},
	{"%u12", "%u12"},
	{strings.Repeat("a", MaxSegmentLen), strings.Repeat("a", MaxSegmentLen)},
}

// cleanPathBad collects traversal payloads, many from MLflow's path traversal
// advisories, as they would reach CleanPath after the router decoded the URL
// once.
var cleanPathBad = []string{
	// Plain traversal (CVE-2023-1177, CVE-2023-2356, MLflow's own tests).
	"..",
	"../",
	"../path",
	"../../path",
	"./../path",
	"path/../to/file",
	"path/../../to/file",
	"a/..",
	"a/b/../../..",
	"../../../../../../../../etc/passwd",
	"a/../b",
	// Absolute paths.
	"/",
	"//",
	"/path",
	"/etc/passwd",
	"///etc/passwd",
	"//server/share/x",
	// Backslashes (CVE-2023-2780).
	`..\..\..\etc\passwd`,
	`\..\..\filename`,
	`a\b`,
	`\\?\C:\Windows`,
	`a/..\..\b`,
	// Windows drives, drive-relative paths (CVE-2023-6753, MLflow PR 10330).
	"C:",
	"C:../path",
	"C:path/to/file",
	"c:/windows/win.ini",
	`C:\Windows`,
	"z:..",
	// URIs, scheme confusion (CVE-2024-3573 and the file: source bypasses).
	"file:///etc/passwd",
	"file:/etc/passwd",
	"file://localhost/etc/passwd",
	"FILE:etc/passwd",
	"mlflow-artifacts:/x",
	"s3://bucket/key",
	"http://evil/x",
	// Fragments (CVE-2023-6909), query strings (CVE-2024-1483), path
	// parameters.
	"#/../../etc/passwd",
	"a#b",
	"a/#",
	"?/../../../etc/",
	"a?b=c",
	"..;/etc/passwd",
	"a;x=y/b",
	"a/..;/..;/etc",
	"a;",
	// Encoded traversal (CVE-2023-6831, CVE-2023-6015, MLflow PR 10650).
	"%2e%2e%2fetc",
	"%2E%2E%2Fetc",
	"%2e%2e/etc",
	"..%2fetc",
	"..%2F..%2Fetc%2Fpasswd",
	"%2e%2e",
	"%2e",
	"a/%2e/b",
	"a%2fb",
	"a%2Fb",
	"a%5cb",
	"..%5c..%5cetc",
	"%3b",
	"%23",
	"%3f",
	// Double and deeper encoding (CVE-2024-1560).
	"%252e%252e%252fetc",
	"%252E%252E%252F%252E%252E%252Fetc",
	"..%252f..%252fetc",
	"..%255c..%255cetc",
	"%25252e%25252e%25252fetc",
	"%2525252e%2525252e",
	"a%252fb",
	"%%32%65%%32%65/etc",
	"%%32%65",
	"%2%65",
	"%25%32%65",
	// Overlong UTF-8 and IIS %u escapes.
	"..%c0%af..%c0%afetc",
	"%c0%ae%c0%ae/etc",
	"%e0%80%ae%e0%80%ae/",
	"%u002e%u002e/etc",
	"%u2215",
	"%U002E",
	// NUL and control characters, raw and encoded.
	"a\x00b",
	"passwd\x00.txt",
	"passwd%00.txt",
	"..%00/",
	"a%0ab",
	"a%0d%0ab",
	"a\nb",
	"a\rb",
	"a\tb",
	"a\x7fb",
	"a%7fb",
	"a\u0085b",
	"a\u009bb",
	// Dots-only and space-only segments.
	".",
	"./",
	"./a",
	"a/./b",
	"a/.",
	"...",
	"....//....//etc",
	". .",
	".. ",
	" ..",
	" ",
	"a/ /b",
	// Unicode look-alikes.
	"..\u2215..\u2215etc\u2215passwd",
	"\uff0e\uff0e/etc",
	".\uff0e/etc",
	"\u2025/etc",
	"\u2024\u2024/etc",
	"\u2026",
	"a\uff0fb",
	"a\uff3cb",
	"a\u2044b",
	"a\ufe68b",
	"a\u202eb",
	"a\u2066b",
	// Invalid UTF-8.
	"\xff",
	"a\xc0\xafb",
	"\xc0\xae\xc0\xae/etc",
	// Too long.
	strings.Repeat("a", MaxSegmentLen+1),
	strings.Repeat("a/", MaxPathLen/2+1),
}

func TestCleanPathGood(t *testing.T) {
	for _, tc := range cleanPathGood {
		got, err := CleanPath(tc.in)
		if err != nil {
			t.Errorf("CleanPath(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("CleanPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
		checkCleanPath(t, tc.in, got)
	}
}

func TestCleanPathBad(t *testing.T) {
	for _, in := range cleanPathBad {
		got, err := CleanPath(in)
		if err == nil {
			t.Errorf("CleanPath(%q) = %q, want an error", in, got)
			continue
		}
		if code := lode.ErrorCode(err); code != lode.EInvalid {
			t.Errorf("CleanPath(%q): code %s, want %s", in, code, lode.EInvalid)
		}
		if msg := lode.ErrorMessage(err); strings.ContainsAny(msg, "\x00\n\r") {
			t.Errorf("CleanPath(%q): message %q has control characters", in, msg)
		}
	}
}

func TestCleanPathMessageIsShort(t *testing.T) {
	in := strings.Repeat("é", 400) + "/.."
	_, err := CleanPath(in)
	if err == nil {
		t.Fatal("no error")
	}
	if msg := lode.ErrorMessage(err); len(msg) > 300 {
		t.Errorf("message is %d bytes long", len(msg))
	}
}

// checkCleanPath asserts the properties of an accepted path.
func checkCleanPath(t *testing.T, in, clean string) {
	t.Helper()
	const root = "/srv/artifacts"
	joined := path.Join(root, clean)
	if joined != root && !strings.HasPrefix(joined, root+"/") {
		t.Fatalf("CleanPath(%q) = %q escapes: joined %q", in, clean, joined)
	}
	if path.Join(root, clean) != root+"/"+clean && clean != "" {
		t.Fatalf("CleanPath(%q) = %q is not clean: path.Join changes it", in, clean)
	}
	if strings.HasPrefix(clean, "/") || strings.HasSuffix(clean, "/") || strings.Contains(clean, "//") {
		t.Fatalf("CleanPath(%q) = %q has a leading, trailing or double slash", in, clean)
	}
	if strings.ContainsAny(clean, "\\\x00?#;") {
		t.Fatalf("CleanPath(%q) = %q has a forbidden character", in, clean)
	}
	// No decoding depth reveals a dot segment.
	for s := clean; ; {
		for _, seg := range strings.Split(s, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("CleanPath(%q) = %q decodes to %q, which has a %q segment", in, clean, s, seg)
			}
		}
		d, changed := percentDecode(s)
		if !changed {
			break
		}
		s = d
	}
	if clean != "" && runtime.GOOS != "windows" && !filepath.IsLocal(filepath.FromSlash(clean)) {
		t.Fatalf("CleanPath(%q) = %q is not local", in, clean)
	}
	again, err := CleanPath(clean)
	if err != nil || again != clean {
		t.Fatalf("CleanPath(CleanPath(%q)) = %q, %v; want %q", in, again, err, clean)
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, tc := range cleanPathGood {
		f.Add(tc.in)
	}
	for _, in := range cleanPathBad {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		clean, err := CleanPath(in)
		if err != nil {
			if code := lode.ErrorCode(err); code != lode.EInvalid {
				t.Fatalf("CleanPath(%q): code %s", in, code)
			}
			return
		}
		checkCleanPath(t, in, clean)
	})
}

func TestPercentDecode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"%41", "A"},
		{"%4", "%4"},
		{"%", "%"},
		{"%zz%41", "%zzA"},
		{"%%41", "%A"},
		{"%252e", "%2e"},
		{"a%2Fb", "a/b"},
	} {
		if got, _ := percentDecode(tc.in); got != tc.want {
			t.Errorf("percentDecode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

var locationGood = []string{
	"mlflow-artifacts:/",
	"mlflow-artifacts:/1",
	"mlflow-artifacts:/1/",
	"mlflow-artifacts:/team-a/exp 1",
	"mlflow-artifacts:///1/abc",
	"mlflow-artifacts://",
	"MLflow-Artifacts:/1",
	"s3://bucket",
	"s3://bucket/",
	"s3://my-bucket/path/to/exp",
	"s3://my.bucket_1/a%20b",
	"S3://Bucket/x",
	"s3://bucket/dir with space/x",
	"gs://bucket/x",
	"wasbs://container@account.blob.core.windows.net/path",
	"abfss://fs@acct.dfs.core.windows.net/p",
	"r2://bucket@acct.r2.cloudflarestorage.com/x",
	"b2://bucket@s3.us-west-004.backblazeb2.com/x",
	"hdfs://namenode:8020/mlflow",
	"hdfs:///mlflow",
	"hdfs:/mlflow",
	"viewfs://cluster/x",
	"dbfs:/databricks/mlflow-tracking/1",
	"dbfs://profile@databricks/x",
}

var locationBad = []string{
	"",
	// Local paths, absolute and relative (CVE-2023-1177).
	"/",
	"/etc",
	"/etc/",
	"/tmp/mlruns",
	"mlruns",
	"./mlruns",
	"../mlruns",
	"~/mlruns",
	".",
	"..",
	`C:\mlruns`,
	"C:/mlruns",
	"c:mlruns",
	`\\server\share\mlruns`,
	// file: URIs.
	"file:///etc",
	"file:/etc",
	"FILE:///etc",
	"file://localhost/etc/",
	"file:C:/x",
	"file:mlruns",
	// Fragments (CVE-2023-6909) and query strings (CVE-2024-1483).
	"http:///#/../../../../../etc/",
	"s3://bucket/#/../../etc",
	"mlflow-artifacts:/#/../../etc",
	"mlflow-artifacts:/x#y",
	"http://localhost:5000/api/2.0/mlflow-artifacts/artifacts/?/../../../../etc/",
	"mlflow-artifacts:/x?/../../etc",
	"s3://b/k?x=1",
	"s3://b?x",
	// Path parameters.
	"s3://bucket/;/../../etc",
	"mlflow-artifacts:/a;b",
	"s3://bucket;x/y",
	// Traversal in the path, plain and encoded (CVE-2023-6831, CVE-2024-1560).
	"s3://bucket/../x",
	"s3://bucket/a/../../x",
	"s3://bucket/./x",
	"s3://bucket//x",
	"mlflow-artifacts:/../../etc",
	"mlflow-artifacts:/..",
	"mlflow-artifacts:/%2e%2e/%2e%2e/etc",
	"mlflow-artifacts:/%252e%252e%252fetc",
	"mlflow-artifacts:/..%2f..%2fetc",
	"gs://b/..%2f..%2f",
	"hdfs:///../etc",
	"hdfs:////etc",
	"dbfs:/../x",
	"s3://bucket/a%00b",
	"s3://bucket/a%2fb",
	// Traversal or junk in the authority.
	"s3://../x",
	"s3://..",
	"s3://./x",
	"s3://a..b/x",
	"s3://%2e%2e/x",
	"s3://bu%63ket/x",
	"s3://user:pass@bucket/x",
	"s3://a@b@c/x",
	"s3://@bucket/x",
	"s3://bucket:abc/x",
	"s3://bucket:/x",
	"hdfs://host:99999999/x",
	"s3://bucket name/x",
	"s3://[::1]/x",
	// Backslashes, control characters, spaces.
	`s3://bucket\..\x`,
	`mlflow-artifacts:/..\..\etc`,
	`s3://bucket/a\b`,
	"s3://bucket/a\x00b",
	"s3://b/a\nb",
	"s3://b/a\x7fb",
	" s3://b/x",
	"s3://b/x ",
	"s3://b/x\n",
	"\xff",
	"s3://b/\xc0\xaf",
	// Missing or forbidden authority.
	"s3:///x",
	"s3:/bucket/x",
	"s3:bucket/x",
	"s3:",
	"gs://",
	"wasbs:///x",
	"mlflow-artifacts://evil.com/x",
	"mlflow-artifacts://localhost:5000/x",
	"mlflow-artifacts:x",
	"mlflow-artifacts:",
	// Other schemes.
	"http://example.com/x",
	"https://example.com/x",
	"ftp://example.com/x",
	"sftp://example.com/x",
	"runs:/abc/artifacts",
	"models:/m/1",
	"javascript:alert(1)",
	"unknown://x/y",
	"1s3://b/x",
	":s3://b",
	// Too long.
	"s3://b/" + strings.Repeat("a/", MaxLocationLen/2),
}

func TestValidateLocationGood(t *testing.T) {
	for _, uri := range locationGood {
		if err := ValidateLocation(uri); err != nil {
			t.Errorf("ValidateLocation(%q): %v", uri, err)
		}
	}
}

func TestValidateLocationBad(t *testing.T) {
	for _, uri := range locationBad {
		err := ValidateLocation(uri)
		if err == nil {
			t.Errorf("ValidateLocation(%q) = nil, want an error", uri)
			continue
		}
		if code := lode.ErrorCode(err); code != lode.EInvalid {
			t.Errorf("ValidateLocation(%q): code %s, want %s", uri, code, lode.EInvalid)
		}
	}
}

func TestValidateLocationMessages(t *testing.T) {
	for _, tc := range []struct{ uri, want string }{
		{"/etc", "local paths are not allowed"},
		{"file:///etc", "file: URIs"},
		{"http://x/y", "mlflow-artifacts:, s3:"},
		{"s3://b/../x", "not a safe relative path"},
		{"mlflow-artifacts://h/x", "must not name a host"},
		{"s3://b/x#y", "fragments"},
		{"s3://b/x?y", "query strings"},
	} {
		err := ValidateLocation(tc.uri)
		if err == nil || !strings.Contains(lode.ErrorMessage(err), tc.want) {
			t.Errorf("ValidateLocation(%q) = %v, want a message containing %q", tc.uri, err, tc.want)
		}
	}
}

// TestValidateLocationHidesPasswords: a refused location with credentials
// is never quoted back with its secret.
func TestValidateLocationHidesPasswords(t *testing.T) {
	for _, uri := range []string{
		"s3://AKIAEXAMPLE:SECRET@bucket/x",
		"s3://AKIAEXAMPLE:SECRET@bucket/x?y#z",
		"gs://u:SE/CRET@bucket/x",
		"hdfs://u:SECRET@host:notaport/x",
		"http://u:SECRET@host/x",
		"s3://u:SECRET@bucket/../x",
	} {
		err := ValidateLocation(uri)
		if err == nil || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "CRET") {
			t.Errorf("ValidateLocation(%q) = %v, want an error that hides the password", uri, err)
		}
	}
	for in, want := range map[string]string{
		"s3://k:pw@b/x":                 "s3://k:xxxxx@b/x",
		"s3://k:p/w@b/x":                "s3://k:xxxxx@b/x",
		"wasbs://container@acct.host/x": "wasbs://container@acct.host/x",
		"s3://b/x?a=1@2":                "s3://b/x?a=1@2",
		"mlflow-artifacts:/0/x":         "mlflow-artifacts:/0/x",
		"/local/path":                   "/local/path",
	} {
		if got := RedactLocation(in); got != want {
			t.Errorf("RedactLocation(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzValidateLocation(f *testing.F) {
	for _, uri := range locationGood {
		f.Add(uri)
	}
	for _, uri := range locationBad {
		f.Add(uri)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		err := ValidateLocation(uri)
		if err != nil {
			if code := lode.ErrorCode(err); code != lode.EInvalid {
				t.Fatalf("ValidateLocation(%q): code %s", uri, code)
			}
			return
		}
		if strings.ContainsAny(uri, "\\\x00?#;") {
			t.Fatalf("ValidateLocation(%q) accepted a forbidden character", uri)
		}
		_, rest, _ := strings.Cut(uri, ":")
		rest = strings.TrimPrefix(rest, "//")
		for s := rest; ; {
			for _, seg := range strings.Split(s, "/") {
				if seg == ".." {
					t.Fatalf("ValidateLocation(%q) accepted a '..' segment (in %q)", uri, s)
				}
			}
			d, changed := percentDecode(s)
			if !changed {
				break
			}
			s = d
		}
	})
}
