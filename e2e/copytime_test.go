package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// grantClipboard lets the page read and write the clipboard (as a person
// allows a site to), so a test can read back what it copied.
func (p *Page) grantClipboard(origin string) {
	p.t.Helper()
	c := chromedp.FromContext(p.ctx)
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := cdp.Call(p.ctx, c.Browser, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted,
			Origin: origin, BrowserContextID: c.BrowserContextID,
		})
		if err != nil {
			p.t.Fatalf("grant %s: %v", name, err)
		}
	}
}

// TestCopyHeldLines (issue 14 item 7): "Copy" puts every line the view
// holds on the clipboard, not just the rendered rows: 5,000 lines read back
// through the page; with a selection, the selected events whole.
func TestCopyHeldLines(t *testing.T) {
	s := startServer(t, serverOpts{replay: 5000})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 5000)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.grantClipboard(strings.TrimSuffix(s.URL(""), "/"))
	p.waitFor(`document.getElementById('held').textContent === '5,000 lines'`, "5,000 lines held")
	if got := eval[string](p, `document.getElementById('copy').getAttribute('aria-label')`); got != "Copy 5,000 lines" {
		t.Errorf("the copy button says %q", got)
	}
	if n := eval[int](p, `document.querySelectorAll('#lines .ln').length`); n >= 5000 {
		t.Fatalf("%d rows rendered: the test wants a view that renders only some", n)
	}
	p.click("#copy")
	p.waitFor(`document.getElementById('toast').textContent === '5,000 lines copied'`, "copied")
	text := eval[string](p, `navigator.clipboard.readText()`)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 5000 || lines[0] != "line 1" || lines[4999] != "line 5000" {
		t.Fatalf("the clipboard holds %d lines (%q … %q), want line 1 … line 5000", len(lines), first(lines), last(lines))
	}

	// A selection: its events whole, a folded stack included.
	sourcetest.Append(t, app, "2026-11-28T08:00:00Z ERROR boom\njava.lang.IllegalStateException: x\n"+strings.Repeat("\tat a.B.c(B.java:1)\n", 10)+"2026-11-28T08:00:01Z INFO after\n")
	p.waitFor(`document.querySelector('#lines .ev') !== null`, "the folded event")
	eval[bool](p, `(() => { const e = [...document.querySelectorAll('#lines .ln')].find(e => e.textContent.includes('ERROR boom')); const r = document.createRange(); r.selectNodeContents(e.querySelector('.tx')); getSelection().removeAllRanges(); getSelection().addRange(r); return true; })()`)
	p.click("#copy")
	p.waitFor(`document.getElementById('toast').textContent === '12 lines copied (the selected events)'`, "the selection copied")
	got := eval[string](p, `navigator.clipboard.readText()`)
	if want := "2026-11-28T08:00:00Z ERROR boom\njava.lang.IllegalStateException: x\n" + strings.Repeat("\tat a.B.c(B.java:1)\n", 10); got != want {
		t.Errorf("the selection copied %q, want the ERROR event whole", got)
	}
}

// TestTimeColumnAndMarkNow (issue 14 item 6): the time column shows a
// line's own time (else its arrival), "t" again shows relative times, and
// "mark now" puts a divider after the last line; the text size control
// changes the log's font.
func TestTimeColumnAndMarkNow(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "2026-11-28T08:00:00.250Z INFO own time\nno time of its own\n")
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(`document.getElementById('held').textContent === '2 lines'`, "the log")
	p.key("t")
	p.waitFor(`document.querySelectorAll('#lines .ln .tm').length === 2`, "the time column")
	own := eval[string](p, `(() => { const d = new Date(Date.UTC(2026, 10, 28, 8, 0, 0, 250)), q = (n, w = 2) => String(n).padStart(w, '0'); return q(d.getHours()) + ':' + q(d.getMinutes()) + ':' + q(d.getSeconds()) + '.' + q(d.getMilliseconds(), 3); })()`)
	cells := eval[[]string](p, `[...document.querySelectorAll('#lines .ln .tm')].map(e => e.textContent)`)
	if cells[0] != own {
		t.Errorf("the line's own time shows as %q, want %q (local time)", cells[0], own)
	}
	if !strings.HasPrefix(eval[string](p, `document.querySelectorAll('#lines .ln .tm')[1].title`), "Arrived at ") {
		t.Errorf("a line without a time of its own does not show its arrival")
	}
	p.key("t")
	p.waitFor(`[...document.querySelectorAll('#lines .ln .tm')].every(e => / ago$/.test(e.textContent))`, "relative times")
	if got := eval[string](p, `document.querySelectorAll('#lines .ln .tm')[1].textContent`); !strings.HasSuffix(got, " s ago") {
		t.Errorf("a line that just arrived is %q", got)
	}
	p.key("t")
	p.waitFor(`document.querySelectorAll('#lines .ln .tm').length === 0`, "no time column")

	p.click("#mark-now")
	p.waitFor(`document.querySelector('#lines .ln:last-child').classList.contains('local')`, "the divider after the last line")
	if got := eval[string](p, `document.querySelector('#lines .ln.local').textContent`); !strings.HasPrefix(got, "✎ marked ") {
		t.Errorf("the divider says %q", got)
	}
	sourcetest.Append(t, app, "after the mark\n")
	p.waitFor(lastVisibleIs("after the mark"), "a line below the mark")

	size := func() float64 {
		return eval[float64](p, `parseFloat(getComputedStyle(document.querySelector('#lines .ln:not(.sp)')).fontSize)`)
	}
	before := size()
	p.click("#font")
	p.waitFor(fmt.Sprintf(`parseFloat(getComputedStyle(document.querySelector('#lines .ln:not(.sp)')).fontSize) > %v`, before), "larger text")
	p.do(chromedp.Reload())
	p.waitFor(`document.querySelector('#lines .ln:not(.sp)') !== null`, "the log again")
	if after := size(); after <= before {
		t.Errorf("text size %vpx after a reload, want the larger one kept (was %vpx)", after, before)
	}
}
