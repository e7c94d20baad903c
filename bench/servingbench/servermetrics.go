package main

import (
	"bufio"
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// histogram is the cumulative bucket counts of Lode's request-latency
// histogram (lode_serving_request_duration_seconds), summed over its
// series, by upper bound in seconds.
type histogram map[float64]float64

// scrapeHistogram reads Lode's /metrics.
func scrapeHistogram(ctx context.Context, url string) (histogram, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	h := histogram{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "lode_serving_request_duration_seconds_bucket{") {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.LastIndexByte(line, ' ')
		if i < 0 || j < 0 {
			continue
		}
		le := line[i+4:]
		le = le[:strings.IndexByte(le, '"')]
		bound := math.Inf(1)
		if le != "+Inf" {
			if bound, err = strconv.ParseFloat(le, 64); err != nil {
				continue
			}
		}
		n, err := strconv.ParseFloat(line[j+1:], 64)
		if err != nil {
			continue
		}
		h[bound] += n
	}
	return h, sc.Err()
}

// quantileBound is the upper bound, in milliseconds, of the bucket holding
// quantile q of the requests counted between two scrapes: the server's own
// latency for q is at most that.
func quantileBound(before, after histogram, q float64) float64 {
	total := after[math.Inf(1)] - before[math.Inf(1)]
	if total <= 0 {
		return 0
	}
	best := math.Inf(1)
	for bound, n := range after {
		if (n-before[bound])/total >= q && bound < best {
			best = bound
		}
	}
	return best * 1000
}
