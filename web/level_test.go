package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestLevelFilter: level= in the URL and "level" in a filter message keep
// only lines of those levels, together with the text filter; a bad level is
// refused with its reason (HTTP 400, or an error frame).
func TestLevelFilter(t *testing.T) {
	e := newEnv(t, envOpts{replay: 100})
	app := e.path("app.log")
	appendLines(t, app, "INFO order", 1, 3)
	appendLines(t, app, "ERROR order", 1, 2)
	appendLines(t, app, "ERROR payment", 1, 2)
	appendLines(t, app, "GET /x 503 order", 1, 1)

	c := e.dial(t, query(app, "level", "error", "q", "order"), nil)
	c.nextType("hello")
	got := texts(c.lines(3))
	if strings.Join(got, "|") != "ERROR order 1|ERROR order 2|GET /x 503 order 1" {
		t.Fatalf("level=error&q=order sent %q", got)
	}
	c.send(map[string]any{"type": "filter", "text": "", "level": "info"})
	c.nextType("reset")
	if got := texts(c.lines(3)); strings.Join(got, "|") != "INFO order 1|INFO order 2|INFO order 3" {
		t.Fatalf("level info sent %q", got)
	}
	c.send(map[string]any{"type": "filter", "text": "", "level": "loud"})
	if m := c.nextType("error"); m.Code != "bad_filter" || !strings.Contains(m.Msg, `unknown level "loud"`) {
		t.Fatalf("a bad level was answered %+v", m)
	}

	code, body := httpGet(t, e.url+"/ws?"+query(app, "level", "loud").Encode())
	if code != http.StatusBadRequest || !strings.Contains(string(body), "unknown level") {
		t.Fatalf("level=loud: HTTP %d %s", code, body)
	}
}
