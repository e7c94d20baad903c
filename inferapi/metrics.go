package inferapi

import (
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lode-ml/lode/serving"
)

// durationBuckets run from 100µs to 10s, three to a decade.
var durationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// metrics are the per-request serving metrics.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, cat serving.Catalog, log *slog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lode_serving_requests_total",
			Help: "Inference requests served, by model, version, protocol and HTTP status code.",
		}, []string{"model", "version", "protocol", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lode_serving_request_duration_seconds",
			Help:    "Time to serve an inference request, from its arrival to the end of the response.",
			Buckets: durationBuckets,
		}, []string{"model", "version", "protocol"}),
	}
	if reg == nil {
		return m
	}
	m.requests = register(reg, m.requests, log)
	m.duration = register(reg, m.duration, log)
	register[prometheus.Collector](reg, newCatalogCollector(cat), log)
	return m
}

// register registers c, or returns the equal collector already there (a
// second handler over the same registry shares the first one's).
func register[C prometheus.Collector](reg prometheus.Registerer, c C, log *slog.Logger) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		log.Warn("serving metrics not registered", "err", err)
	}
	return c
}

func (m *metrics) observe(model, version, protocol string, status int, d time.Duration) {
	m.requests.WithLabelValues(model, version, protocol, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(model, version, protocol).Observe(d.Seconds())
}

// catalogCollector reports, at scrape time, the admission state and load
// time of the version each served model answers with by default.
type catalogCollector struct {
	cat                   serving.Catalog
	queue, inflight, load *prometheus.Desc
}

func newCatalogCollector(cat serving.Catalog) *catalogCollector {
	labels := []string{"model", "version"}
	return &catalogCollector{
		cat:      cat,
		queue:    prometheus.NewDesc("lode_serving_queue_depth", "Requests waiting for a model's admission slot.", labels, nil),
		inflight: prometheus.NewDesc("lode_serving_inflight_requests", "Requests a model is running.", labels, nil),
		load:     prometheus.NewDesc("lode_serving_model_load_seconds", "How long loading and warming the model took.", labels, nil),
	}
}

func (c *catalogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queue
	ch <- c.inflight
	ch <- c.load
}

func (c *catalogCollector) Collect(ch chan<- prometheus.Metric) {
	if c.cat == nil {
		return
	}
	seen := map[string]bool{}
	for _, name := range c.cat.Names() {
		if seen[name] {
			continue
		}
		seen[name] = true
		ep, release, err := c.cat.Lookup(name, "", "")
		if err != nil || ep == nil {
			continue
		}
		l := ep.Limiter()
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(l.Waiting()), name, ep.Version)
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(l.Running()), name, ep.Version)
		ch <- prometheus.MustNewConstMetric(c.load, prometheus.GaugeValue, ep.LoadTime.Seconds(), name, ep.Version)
		if release != nil {
			release()
		}
	}
}
