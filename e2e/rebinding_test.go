package e2e

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// TestDNSRebindingRefused: a page of another site whose name has come to
// resolve to 127.0.0.1 (DNS rebinding) is same-origin with whatever answers
// there. The server must refuse every request whose Host is not one of its
// own names, so that such a page can neither read logs, list files, nor
// start a tail.
func TestDNSRebindingRefused(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	const secret = "secret line 1"
	sourcetest.Append(t, app, secret+"\n")
	q := url.Values{"host": {"local"}, "file": {app}}.Encode()
	evil := s.URLAs(rebindName, "")

	p := newPage(t, 1024, 700)
	p.do(chromedp.Navigate(s.URLAs(rebindName, q)))
	if got := eval[int](p, `performance.getEntriesByType('navigation')[0].responseStatus`); got != 421 {
		t.Errorf("the page at %s answered %d, want 421 Misdirected Request", evil, got)
	}
	if eval[bool](p, `document.getElementById('lines') !== null`) {
		t.Errorf("the app was served to %s", evil)
	}

	// What a script on that origin can reach.
	for _, path := range []string{"api/hosts", "api/files?host=local", "ws?" + q} {
		f := eval[fetched](p, fetchJS(evil+path))
		if f.Status != 421 || f.jsonError() == "" {
			t.Errorf("GET %s%s: %d %s %.200q, want 421 with a JSON reason", evil, path, f.Status, f.Type, f.Body)
		}
		if strings.Contains(f.Body, app) || strings.Contains(f.Body, secret) {
			t.Errorf("GET %s%s gave away the log: %.200q", evil, path, f.Body)
		}
	}
	ws := eval[wsResult](p, wsJS(strings.Replace(evil, "http:", "ws:", 1)+"ws?"+q))
	if ws.First != "" || ws.Code == -1 {
		t.Errorf("a WebSocket from %s was not refused: first message %.200q, close code %d", evil, ws.First, ws.Code)
	}

	if text := eval[string](p, `document.documentElement.textContent`); strings.Contains(text, secret) {
		t.Errorf("the log line reached the page at %s", evil)
	}
	if n := s.active(); n != 0 {
		t.Errorf("%d logs tailed after requests from %s, want none", n, evil)
	}
	s.stop()
}

// TestLoopbackNamesServeTheLog is the control for TestDNSRebindingRefused:
// the same page, API and WebSocket work under the server's own names.
func TestLoopbackNamesServeTheLog(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "line 1\n")
	q := url.Values{"host": {"local"}, "file": {app}}.Encode()
	for _, name := range []string{"127.0.0.1", "localhost"} {
		t.Run(name, func(t *testing.T) {
			base := s.URLAs(name, "")
			p := newPage(t, 1024, 700)
			p.open(s.URLAs(name, q))
			p.waitFor(lastVisibleIs("line 1"), "the log line")
			if f := eval[fetched](p, fetchJS(base+"api/files?host=local")); f.Status != 200 || !strings.Contains(f.Body, app) {
				t.Errorf("GET %sapi/files: %d %.200q, want 200 listing %s", base, f.Status, f.Body, app)
			}
			ws := eval[wsResult](p, wsJS(strings.Replace(base, "http:", "ws:", 1)+"ws?"+q))
			if !strings.Contains(ws.First, `"type":"hello"`) {
				t.Errorf("WebSocket via %s: first message %.200q, close code %d, want a hello", name, ws.First, ws.Code)
			}
		})
	}
	s.stop()
}
