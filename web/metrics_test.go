package web_test

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func scrape(t *testing.T, u string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(u + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: HTTP %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil || len(f.Metric) == 0 {
		t.Fatalf("no metric %s", name)
	}
	m := f.Metric[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("%s is neither counter nor gauge", name)
	return 0
}

// TestMetricsMoveWhenLinesFlow: /metrics parses with the Prometheus text
// parser, and the counters move when lines flow to a viewer.
func TestMetricsMoveWhenLinesFlow(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.path("app.log")
	appendLines(t, p, "a", 1, 10)
	before := scrape(t, e.url)
	for _, name := range []string{"logviewer_viewers", "logviewer_logs_open", "logviewer_lines_in_total", "logviewer_lines_out_total", "logviewer_bytes_out_total", "logviewer_gaps_total", "logviewer_frames_dropped_total", "logviewer_filter_rejections_total", "logviewer_login_failures_total", "go_goroutines", "process_resident_memory_bytes"} {
		value(t, before, name)
	}
	c := e.dial(t, query(p), nil)
	c.nextType("hello")
	c.lines(10)
	appendLines(t, p, "b", 11, 15)
	c.lines(5)
	c.send(map[string]any{"type": "filter", "text": strings.Repeat("(x{30}){30}", 3), "regex": true})
	c.nextType("error")
	after := scrape(t, e.url)
	for name, want := range map[string]float64{
		"logviewer_viewers":                 1,
		"logviewer_logs_open":               1,
		"logviewer_lines_in_total":          15,
		"logviewer_lines_out_total":         15,
		"logviewer_filter_rejections_total": 1,
	} {
		if got := value(t, after, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if value(t, after, "logviewer_bytes_out_total") <= 15*3 {
		t.Error("bytes_out did not move")
	}
}
