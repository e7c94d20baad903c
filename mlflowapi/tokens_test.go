package mlflowapi

import (
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
)

// A token made with an API token lives no longer than it; an expired
// parent makes nothing (a lifetime of 0 would mean "never").
func TestChildTokenTTL(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	clock := func() time.Time { return now }
	in := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	const day = 24 * time.Hour
	for _, c := range []struct {
		name   string
		parent *auth.Token
		ask    time.Duration
		want   time.Duration
	}{
		{"basic", nil, 0, 0},
		{"session", &auth.Token{Kind: auth.TokenSession, ExpiresMs: in(time.Hour)}, 0, 0},
		{"api forever", &auth.Token{Kind: auth.TokenAPI}, 0, 0},
		{"api forever, asked 90 days", &auth.Token{Kind: auth.TokenAPI}, 90 * day, 90 * day},
		{"shorter than the parent", &auth.Token{Kind: auth.TokenAPI, ExpiresMs: in(2 * day)}, day, day},
		{"longer than the parent", &auth.Token{Kind: auth.TokenAPI, ExpiresMs: in(2 * day)}, 90 * day, 2 * day},
		{"never, from a parent that expires", &auth.Token{Kind: auth.TokenAPI, ExpiresMs: in(time.Hour)}, 0, time.Hour},
	} {
		got, err := childTokenTTL(c.parent, c.ask, clock)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
	for _, exp := range []int64{in(0), in(-time.Second)} {
		if got, err := childTokenTTL(&auth.Token{Kind: auth.TokenAPI, ExpiresMs: exp}, 0, clock); lode.ErrorCode(err) != lode.EUnauthenticated {
			t.Errorf("an expired parent: %v %v, want UNAUTHENTICATED", got, err)
		}
	}
}
