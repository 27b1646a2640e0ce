package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// TestRefusedViewShowsReasonAndStartsNoTail: a view the server refuses
// shows the server's reason (found by the page's plain-HTTP probe of the
// WebSocket URL), and neither the WebSocket attempt nor the probe starts a
// tail.
func TestRefusedViewShowsReasonAndStartsNoTail(t *testing.T) {
	s := startServer(t, serverOpts{})
	dir := s.hosts["local"]
	sourcetest.Append(t, s.path("local", "app.log"), "line 1\n")
	sourcetest.Append(t, s.path("local", "notes.txt"), "not a log\n") // exists, but not one of the host's *.log

	for _, c := range []struct {
		name, file, reason string
	}{
		{"not listed", s.path("local", "notes.txt"), "is not one of the files host local serves"},
		{"outside the tree", "/etc/passwd", "is not one of the files host local serves"},
		{"traversal", dir + "/../local/app.log", `must not contain ".."`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPage(t, 1024, 700)
			p.open(s.URL(url.Values{"host": {"local"}, "file": {c.file}}.Encode()))
			p.waitFor(`document.getElementById('conn').dataset.state === 'error'`, "the view refused")
			msg := eval[string](p, `document.getElementById('empty').hidden ? '' : document.getElementById('empty').textContent`)
			if !strings.Contains(msg, c.reason) {
				t.Errorf("the page says %q, want the server's reason (%q)", msg, c.reason)
			}
			if n := s.active(); n != 0 {
				t.Errorf("%d logs tailed after a refused view, want none", n)
			}
		})
	}

	// A host that goes away under a live view (removed from the config,
	// server restarted): the view says why it stopped.
	t.Run("host removed", func(t *testing.T) {
		app := s.path("local", "app.log")
		p := newPage(t, 1024, 700)
		p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
		p.waitFor(lastVisibleIs("line 1"), "the live view")
		delete(s.hosts, "local")
		s.hosts["other"] = dir
		s.restart()
		p.waitFor(`document.getElementById('conn').dataset.state === 'error'`, "the view refused")
		p.waitFor(`[...document.querySelectorAll('#lines .ln.gap')].some(e => e.textContent.includes('no host named "local"'))`, "the reason in the log")
		if title := eval[string](p, `document.getElementById('conn').title`); !strings.Contains(title, `no host named "local"`) {
			t.Errorf("status detail %q, want the server's reason", title)
		}
		if n := s.active(); n != 0 {
			t.Errorf("%d logs tailed after a refused view, want none", n)
		}
	})
	s.stop()
}

// TestPlainGetOnWSStartsNoTail: the WebSocket URL of a view the server
// allows, fetched without an upgrade (as the page's probe, a link preview
// or a crawler does), is answered with a reason and starts no tail.
func TestPlainGetOnWSStartsNoTail(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "line 1\n")
	p := newPage(t, 1024, 700)
	p.open(s.URL(""))
	f := eval[fetched](p, fetchJS("ws?"+url.Values{"host": {"local"}, "file": {app}}.Encode()))
	if f.Status != 400 && f.Status != 426 || !strings.Contains(strings.ToLower(f.jsonError()), "upgrade") {
		t.Errorf("plain GET /ws: %d %s %.200q, want 400 (or 426) with a JSON reason about the upgrade", f.Status, f.Type, f.Body)
	}
	if n := s.active(); n != 0 {
		t.Errorf("%d logs tailed after a plain GET, want none", n)
	}
	s.stop()
}

// TestBlockedWebSocketIsNotARefusal: behind a proxy that does not pass
// WebSocket upgrades (nginx without "proxy_set_header Upgrade"), the server
// sees the WebSocket handshake as a plain GET of a view it would allow. The
// page must not call that view refused: it says the WebSocket failed, keeps
// retrying, and follows the log once upgrades get through.
func TestBlockedWebSocketIsNotARefusal(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "line 1\n")
	proxy, upgrades := startProxy(t, s.addr)

	p := newPage(t, 1024, 700)
	p.open(proxy + "?" + url.Values{"host": {"local"}, "file": {app}}.Encode())
	p.waitFor(`document.getElementById('conn').dataset.state === 'reconnecting' && /WebSocket/.test(document.getElementById('conn').title)`,
		"the page retrying, saying the WebSocket failed")
	if n := s.active(); n != 0 {
		t.Errorf("%d logs tailed while no WebSocket got through, want none", n)
	}
	upgrades.Store(true)
	p.click("#conn") // retry now
	p.waitFor(lastVisibleIs("line 1"), "the log once the WebSocket gets through")
	s.stop()
}

// startProxy serves a reverse proxy to addr on another loopback port and
// returns its URL. It keeps the Host header, and passes WebSocket upgrades
// only once the returned flag is set: until then the server sees each
// handshake as a plain GET, and the browser gets the server's answer to it.
func startProxy(t *testing.T, addr string) (string, *atomic.Bool) {
	t.Helper()
	upgrades := new(atomic.Bool)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(&url.URL{Scheme: "http", Host: addr})
		r.Out.Host = r.In.Host
	}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !upgrades.Load() {
			r = r.Clone(r.Context())
			r.Header.Del("Upgrade")
			r.Header.Del("Connection")
		}
		rp.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/", upgrades
}
