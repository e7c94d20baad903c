package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"strconv"
	"time"
)

// formatMillis shows a Unix time in milliseconds as a UTC date and time.
func formatMillis(ms int64) string {
	if ms <= 0 {
		return "–"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05")
}

// ago shows how long before now a time in milliseconds was.
func ago(ms int64) string {
	if ms <= 0 {
		return "–"
	}
	d := time.Since(time.UnixMilli(ms))
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// durationMillis shows the time between two millisecond times; an open
// end is now.
func durationMillis(start, end int64) string {
	if start <= 0 {
		return "–"
	}
	if end <= 0 {
		end = time.Now().UnixMilli()
	}
	d := time.Duration(end-start) * time.Millisecond
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days %d h", int(d.Hours())/24, int(d.Hours())%24)
}

// shorten cuts s to n runes with an ellipsis.
func shorten(n int, s string) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// formatNumber shows a metric value compactly: up to 6 significant digits.
func formatNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "∞"
	case math.IsInf(v, -1):
		return "-∞"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// withQuery returns u with the query parameters given as key, value pairs
// set (an empty value removes the key): links that change one part of a
// view's state and keep the rest.
func withQuery(u *url.URL, kv ...string) string {
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	out := url.URL{Path: u.Path, RawQuery: q.Encode()}
	return out.String()
}

// toJSON embeds a value in a page for its script (a <script
// type="application/json"> block; html/template escapes it there).
func toJSON(v any) (template.JS, error) {
	b, err := json.Marshal(v)
	return template.JS(b), err
}
