package web_test

import (
	"testing"
)

// TestFirstViewerGetsBacklogAsReplay: the viewer that opens a log (nobody
// watched it, so the source reads the file's last lines only now) is sent
// that opening backlog marked replay, as every later viewer is; the lines
// written afterwards are live. Before, the first viewer counted the whole
// backlog as live traffic (issue 14 item 5).
func TestFirstViewerGetsBacklogAsReplay(t *testing.T) {
	e := newEnv(t, envOpts{replay: 200})
	app := e.path("app.log")
	appendLines(t, app, "old", 1, 500)
	c := e.dial(t, query(app), nil)
	c.nextType("hello") // nobody had opened the log: this viewer starts it
	n := 0
	for n < 200 {
		m := c.next()
		if m.Type != "lines" {
			continue
		}
		if !m.Replay {
			t.Fatalf("a frame of the opening backlog (lines %q…) is not marked replay", m.Lines[0].Text)
		}
		n += len(m.Lines)
	}
	if n != 200 {
		t.Fatalf("backlog of %d lines, want the last 200", n)
	}
	appendLines(t, app, "new", 1, 3)
	got := 0
	for got < 3 {
		m := c.next()
		if m.Type != "lines" {
			continue
		}
		if m.Replay {
			t.Fatalf("live lines %q marked replay", m.Lines[0].Text)
		}
		got += len(m.Lines)
	}

	// A second viewer is sent the same backlog as replay (as before).
	d := e.dial(t, query(app), nil)
	d.nextType("hello")
	if m := d.nextType("lines"); !m.Replay {
		t.Fatalf("the second viewer's first frame is not replay")
	}
}
