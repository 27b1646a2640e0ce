package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// javaEvents is a Java log: two errors with stack traces (one long), and
// ordinary lines between them.
func javaEvents() string {
	var b strings.Builder
	b.WriteString("2026-11-28T08:00:00Z INFO started\n")
	b.WriteString("2026-11-28T08:00:01Z ERROR request failed\n")
	b.WriteString("java.lang.IllegalStateException: no session\n")
	b.WriteString("\tat com.example.Session.get(Session.java:12)\n")
	b.WriteString("\tat com.example.Handler.serve(Handler.java:40)\n")
	b.WriteString("2026-11-28T08:00:02Z INFO next request\n")
	b.WriteString("2026-11-28T08:00:03Z ERROR payment failed\n")
	b.WriteString("java.io.IOException: disk full\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "\tat com.example.Pay.step%d(Pay.java:%d)\n", i, 100+i)
	}
	b.WriteString("Caused by: java.lang.RuntimeException: quota\n")
	b.WriteString("\t... 40 more\n")
	b.WriteString("2026-11-28T08:00:04Z WARN slow\n")
	return b.String()
}

// TestStackTracesAreEvents (issue 14 item 1): a Java log filtered by ERROR
// shows the whole events (exception and stack, from the server); the stack's
// lines take the ERROR tint; the level chips count events, not lines; a
// long stack is folded to its first line with a count, and unfolds on a
// click.
func TestStackTracesAreEvents(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, javaEvents())
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(`document.getElementById('held').textContent === '51 lines'`, "the log")
	counts := `[...document.querySelectorAll('#levels .lv')].map(b => b.dataset.level + '=' + b.querySelector('b').textContent).join(' ')`
	if got := eval[string](p, counts); got != "error=2 warn=1 info=2 debug=0 other=0" {
		t.Errorf("level chips %q: want the 2 errors counted once each, their stacks not as lines", got)
	}
	// The short stack is shown whole and tinted as its ERROR.
	cls := eval[string](p, `[...document.querySelectorAll('#lines .ln')].find(e => e.textContent.includes('Session.get')).className`)
	if !strings.Contains(cls, "l-e") || !strings.Contains(cls, "cont") {
		t.Errorf("a stack line of the ERROR has classes %q, want the error tint", cls)
	}
	// The long one is folded: its first line with a count.
	p.waitFor(`document.querySelector('#lines .ev') !== null && document.querySelector('#lines .ev').textContent === '▸ 43 more lines'`, "the long event folded with a count")
	if n := eval[int](p, `[...document.querySelectorAll('#lines .ln .tx')].filter(e => e.textContent.includes('Pay.step')).length`); n != 0 {
		t.Errorf("the folded event shows %d of its stack lines", n)
	}
	p.click("#lines .ev")
	p.waitFor(`[...document.querySelectorAll('#lines .ln .tx')].filter(e => e.textContent.includes('Pay.step')).length === 40`, "the unfolded stack")
	if got := eval[string](p, `document.querySelector('#lines .ev').getAttribute('aria-expanded')`); got != "true" {
		t.Errorf("the unfolded event's button says aria-expanded=%s", got)
	}

	// Filtered by ERROR: both errors with their whole stacks, nothing else.
	p.typeInto("#filter", "ERROR")
	p.waitFor(`document.getElementById('held').textContent.startsWith('2 matches')`, "two matching events")
	p.waitFor(`document.querySelector('#lines .ev') !== null`, "the long event folded again")
	p.click("#lines .ev")
	p.waitFor(`document.querySelector('#lines .ev').getAttribute('aria-expanded') === 'true'`, "unfolded")
	lines, _ := p.allLines()
	if len(lines) != 4+44 || lines[0] != "2026-11-28T08:00:01Z ERROR request failed" || lines[1] != "java.lang.IllegalStateException: no session" ||
		lines[4] != "2026-11-28T08:00:03Z ERROR payment failed" || lines[len(lines)-1] != "\t... 40 more" {
		t.Errorf("ERROR shows %d lines %q…%q, want the two error events whole (48 lines)", len(lines), head(lines), last(lines))
	}
	// A line of a stack matches too: its event comes whole.
	eval[bool](p, `(document.getElementById('filter').value = '', true)`)
	p.typeInto("#filter", "disk full")
	p.waitFor(`document.getElementById('held').textContent.startsWith('1 match ')`, "the event of a matching stack line")
	if got := eval[string](p, `document.querySelector('#lines .ln:not(.sp) .tx').textContent`); got != "2026-11-28T08:00:03Z ERROR payment failed" {
		t.Errorf("the event of the matching stack line starts with %q", got)
	}
}

// TestContextAroundMatchesInThePage (issue 14 item 3): ±N lines around
// each match, from the server, dimmed, with a divider where lines were left
// out; the URL keeps context=N.
func TestContextAroundMatchesInThePage(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 30)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}, "q": {`^line (10|13|30)$`}, "re": {"1"}}.Encode()))
	p.waitFor(`document.getElementById('held').textContent.startsWith('3 matches')`, "three matches")
	p.do(chromedp.SetValue(chromedp.CSS("#ctx"), "2"))
	eval[bool](p, `document.getElementById('ctx').dispatchEvent(new Event('change', {bubbles: true}))`)
	p.waitFor(`new URLSearchParams(location.search).get('context') === '2'`, "context=2 in the URL")
	p.waitFor(`document.querySelectorAll('#lines .ln.sp.sep').length === 1`, "a divider between the stretches")
	type row struct {
		Text string
		Ctx  bool
		Sep  bool
	}
	rows := eval[[]row](p, `[...document.querySelectorAll('#lines .ln')].map(e => ({Text: e.querySelector('.tx').textContent, Ctx: e.classList.contains('ctx'), Sep: e.classList.contains('sep')}))`)
	var got []string
	for _, r := range rows {
		switch {
		case r.Sep:
			got = append(got, "⋯")
		case r.Ctx:
			got = append(got, "~"+r.Text)
		default:
			got = append(got, r.Text)
		}
	}
	want := "~line 8|~line 9|line 10|~line 11|~line 12|line 13|~line 14|~line 15|⋯|~line 28|~line 29|line 30"
	if strings.Join(got, "|") != want {
		t.Errorf("context ±2 shows %q, want %q", strings.Join(got, "|"), want)
	}
	if got := eval[string](p, `document.getElementById('held').textContent`); !strings.HasPrefix(got, "3 matches") {
		t.Errorf("with context the count says %q, want 3 matches (context is not a match)", got)
	}
	// The link reproduces it.
	q := newPage(t, 1024, 700)
	q.open(eval[string](p, `location.href`))
	q.waitFor(`document.querySelectorAll('#lines .ln.ctx').length === 8 && document.getElementById('ctx').value === '2'`, "the same context from the URL")
}
