package localexec

import (
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	line := "4242 (a) b (c)) S 1 4240 4240 0 -1 4194304 100 0 0 0 150 50 7 3 20 0 1 0 987654 12345678 256 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	p, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	want := procInfo{pid: 4242, pgid: 4240, start: 987654, cpuSeconds: 2.1, rssBytes: 256 * pageSize}
	if p != want {
		t.Errorf("parseStat: %+v, want %+v", p, want)
	}
	if p, _ := parseStat(strings.Replace(line, ") S ", ") Z ", 1)); !p.zombie {
		t.Error("zombie not seen")
	}
	for _, bad := range []string{"", "12 (x", "12 (x) S 1 2"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) took it", bad)
		}
	}
}
