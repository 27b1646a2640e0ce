package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

const javaLog = `2026-11-28T08:00:00Z INFO started
2026-11-28T08:00:01Z ERROR request failed
java.lang.IllegalStateException: no session
	at com.example.Session.get(Session.java:12)
	at com.example.Handler.serve(Handler.java:40)
Caused by: java.io.IOException: disk full
	... 2 more
2026-11-28T08:00:02Z INFO next request
2026-11-28T08:00:03Z WARN slow
`

// TestFilterKeepsWholeEvents (issue 14 item 1): a filter or a level keeps
// or drops an event as a whole: the ERROR line's exception and stack come
// with it, and continuation lines are flagged cont.
func TestFilterKeepsWholeEvents(t *testing.T) {
	e := newEnv(t, envOpts{replay: 100})
	app := e.path("app.log")
	sourcetest.Append(t, app, javaLog)
	want := "2026-11-28T08:00:01Z ERROR request failed|java.lang.IllegalStateException: no session|\tat com.example.Session.get(Session.java:12)|\tat com.example.Handler.serve(Handler.java:40)|Caused by: java.io.IOException: disk full|\t... 2 more"
	for _, q := range [][]string{{"q", "ERROR"}, {"level", "error"}, {"q", "disk full"}} {
		c := e.dial(t, query(app, q...), nil)
		c.nextType("hello")
		m := c.nextType("lines")
		var got []string
		for _, l := range m.Lines {
			got = append(got, l.Text)
		}
		if strings.Join(got, "|") != want {
			t.Errorf("%s=%s sent %q, want the ERROR line's whole event", q[0], q[1], got)
		}
	}
	// Unfiltered, continuation lines say so.
	c := e.dial(t, query(app), nil)
	c.nextType("hello")
	var conts []bool
	for len(conts) < 9 {
		m := c.nextType("lines")
		for _, l := range m.Lines {
			conts = append(conts, l.Cont)
		}
	}
	if got := conts; !(got[0] == false && got[1] == false && got[2] && got[3] && got[4] && got[5] && got[6] && !got[7] && !got[8]) {
		t.Errorf("cont flags %v", got)
	}
}

// TestDownloadKeepsWholeEvents: a filtered download keeps whole events too.
func TestDownloadKeepsWholeEvents(t *testing.T) {
	e := newEnv(t, envOpts{replay: 100})
	app := e.path("app.log")
	sourcetest.Append(t, app, javaLog)
	for _, q := range []string{"q=ERROR", "level=error", "q=disk+full"} {
		code, body := httpGet(t, e.url+"/api/download?host=local&file="+app+"&"+q)
		want := "2026-11-28T08:00:01Z ERROR request failed\njava.lang.IllegalStateException: no session\n\tat com.example.Session.get(Session.java:12)\n\tat com.example.Handler.serve(Handler.java:40)\nCaused by: java.io.IOException: disk full\n\t... 2 more\n"
		if code != 200 || string(body) != want {
			t.Errorf("download %s: %d %q, want the ERROR event whole", q, code, body)
		}
	}
	code, body := httpGet(t, e.url+"/api/download?host=local&file="+app+"&q=INFO")
	if code != 200 || string(body) != "2026-11-28T08:00:00Z INFO started\n2026-11-28T08:00:02Z INFO next request\n" {
		t.Errorf("download q=INFO: %d %q", code, body)
	}
}

// TestContextAroundMatches (issue 14 item 3): context=N sends N lines
// before and after each kept event, flagged ctx, never twice; a bad N is
// refused with the bounds.
func TestContextAroundMatches(t *testing.T) {
	e := newEnv(t, envOpts{replay: 100})
	app := e.path("app.log")
	appendLines(t, app, "line", 1, 30) // line 10 and line 13 match "line 1[03]$"-ish below
	c := e.dial(t, query(app, "q", `^line (10|13|30)$`, "re", "1", "context", "2"), nil)
	c.nextType("hello")
	var got []string
	for len(got) < 11 {
		m := c.nextType("lines")
		for _, l := range m.Lines {
			tag := ""
			if l.Ctx {
				tag = "~"
			}
			got = append(got, tag+l.Text)
		}
	}
	want := "~line 8|~line 9|line 10|~line 11|~line 12|line 13|~line 14|~line 15|~line 28|~line 29|line 30"
	if strings.Join(got, "|") != want {
		t.Errorf("context=2 sent %q, want %q", strings.Join(got, "|"), want)
	}
	// Live: the lines after a match come as context as they arrive.
	appendLines(t, app, "line", 31, 40)
	var live []string
	for len(live) < 2 {
		m := c.nextType("lines")
		for _, l := range m.Lines {
			live = append(live, fmt.Sprintf("%s/%v", l.Text, l.Ctx))
		}
	}
	if strings.Join(live, "|") != "line 31/true|line 32/true" {
		t.Errorf("live context after line 30: %q", live)
	}
	code, body := httpGet(t, e.url+"/ws?"+query(app, "q", "x", "context", "99").Encode())
	if code != 400 || !strings.Contains(string(body), "want 0 to 20") {
		t.Errorf("context=99: %d %s", code, body)
	}
	c.send(map[string]any{"type": "filter", "text": "x", "context": -1})
	if m := c.nextType("error"); m.Code != "bad_filter" || !strings.Contains(m.Msg, "want 0 to 20") {
		t.Errorf("context -1: %+v", m)
	}
}
