package web

import (
	"context"
	"net/http"
	"slices"

	"github.com/logviewer/logviewer/auth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, on a registry of their own
// (never the global one, so two Servers in one process do not collide).
// Counters on hot paths are plain prometheus.Counters: an atomic add each.
type metrics struct {
	reg *prometheus.Registry

	linesOut       prometheus.Counter
	bytesOut       prometheus.Counter
	framesOut      prometheus.Counter
	gaps           prometheus.Counter
	framesDropped  prometheus.Counter
	filterRejected prometheus.Counter
	loginFailures  prometheus.Counter
	viewersRefused *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "logviewer", Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	m.linesOut = counter("lines_out_total", "Lines sent to viewers (a line sent to two viewers counts twice).")
	m.bytesOut = counter("bytes_out_total", "Bytes of frames queued to viewers.")
	m.framesOut = counter("frames_out_total", "Frames queued to viewers.")
	m.gaps = counter("gaps_total", "Gap frames: a viewer fell behind further than the ring reaches.")
	m.framesDropped = counter("frames_dropped_total", "Frames the WebSocket layer dropped (should stay 0: flow control keeps its buffer from filling).")
	m.filterRejected = counter("filter_rejections_total", "Filters refused (bad or too costly regex, too long).")
	m.loginFailures = counter("login_failures_total", "Failed or rate-limited sign-ins.")
	m.viewersRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "logviewer", Name: "viewers_refused_total", Help: "WebSocket views refused, by reason."}, []string{"reason"})
	m.reg.MustRegister(m.viewersRefused)

	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "logviewer", Name: name, Help: help}, f))
	}
	gauge("viewers", "Connected viewers (WebSockets).", func() float64 { return float64(s.Viewers()) })
	gauge("logs_open", "Logs followed now (one tail each, whoever watches).", func() float64 { return float64(s.raw.Stats().Logs) })
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "logviewer", Name: "lines_in_total", Help: "Lines read from followed files (markers included)."},
		func() float64 { return float64(s.raw.Stats().LinesIn) }))
	m.reg.MustRegister(&hostCollector{s: s})
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// hostCollector reports remote hosts by connection state and their
// reconnects, read at scrape time.
type hostCollector struct{ s *Server }

var (
	hostsDesc      = prometheus.NewDesc("logviewer_ssh_hosts", "Remote hosts by the state of their SSH connection.", []string{"state"}, nil)
	reconnectsDesc = prometheus.NewDesc("logviewer_ssh_reconnects_total", "SSH connections re-established after the host was lost.", []string{"host"}, nil)
)

func (c *hostCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- hostsDesc
	ch <- reconnectsDesc
}

func (c *hostCollector) Collect(ch chan<- prometheus.Metric) {
	byState := map[string]int{}
	for _, h := range c.s.raw.Hosts(context.Background()) {
		if !h.Remote || h.State == nil {
			continue
		}
		byState[h.State.Code]++
		ch <- prometheus.MustNewConstMetric(reconnectsDesc, prometheus.CounterValue, float64(h.Reconnects), h.Name)
	}
	for st, n := range byState {
		ch <- prometheus.MustNewConstMetric(hostsDesc, prometheus.GaugeValue, float64(n), st)
	}
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	// The metrics cover the whole server (every host's name and state): not
	// for a share link's visitor, nor a token without the read scope.
	if id := auth.FromContext(r.Context()); !s.opts.MetricsPublic && id != nil && (id.Via == auth.ViaShare || (id.Via == auth.ViaToken && !slices.Contains(id.Scopes, "read"))) {
		s.httpError(w, http.StatusForbidden, "metrics are not part of a shared view or of this token's scope")
		return
	}
	promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}
