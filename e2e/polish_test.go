package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// TestPolish (issue 14 item 9): on a phone every control of the header is
// at least 40 px both ways and the header takes less than the 159 px it
// did; the page has an <h1>; a paused view's pill does not cover the last
// line and the status bar fits; wrapped lines hang; hovering an ERROR line
// keeps its tint.
func TestPolish(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	long := "2026-11-28T08:00:00Z INFO " + strings.Repeat("a long line that wraps ", 20)
	sourcetest.Append(t, app, sampleLog()+long+"\n")
	u := s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode())

	m := newPage(t, 390, 844)
	m.open(u)
	m.waitFor(`document.getElementById('held').textContent === '34 lines'`, "the log on a phone")
	small := eval[[]string](m, `[...document.querySelectorAll('header button, header select, header input, header a, #retry')].filter(e => {
		const r = e.getBoundingClientRect();
		return r.width > 0 && (r.height < 40 || r.width < 40);
	}).map(e => (e.id || e.className) + ' ' + Math.round(e.getBoundingClientRect().width) + '×' + Math.round(e.getBoundingClientRect().height))`)
	if len(small) > 0 {
		t.Errorf("touch targets under 40 px on a phone: %q", small)
	}
	if h := eval[float64](m, `document.querySelector('header').offsetHeight`); h >= 159 {
		t.Errorf("the phone header takes %v px, want less than 159", h)
	} else {
		t.Logf("phone header: %v px of 844", h)
	}
	if got := eval[string](m, `document.querySelector('h1') ? document.querySelector('h1').textContent.trim() : ''`); got != "logviewer" {
		t.Errorf("<h1> %q", got)
	}
	// Paused at the bottom: the pill is below the last line; the status bar fits.
	m.click("#pause")
	m.waitFor(`!document.getElementById('pill').hidden`, "the pill")
	appendLines(t, app, "new", 1, 1234)
	m.waitFor(`document.getElementById('pending').textContent === '1,234 new lines'`, "pending lines counted")
	gap := eval[float64](m, `(() => {
		const lines = [...document.querySelectorAll('#lines .ln')], l = lines[lines.length - 1].getBoundingClientRect();
		return document.getElementById('pill').getBoundingClientRect().top - l.bottom;
	})()`)
	if gap < 0 {
		t.Errorf("the paused pill covers the last line by %.0f px", -gap)
	}
	cut := eval[[]string](m, `[...document.querySelectorAll('footer > *')].filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > innerWidth + 1; }).map(e => e.id || e.className)`)
	if len(cut) > 0 {
		t.Errorf("paused on a phone, the status bar cuts off %q", cut)
	}

	p := newPage(t, 1280, 800)
	p.open(u)
	p.waitFor(lastVisibleIs("new 1234"), "the log")
	sourcetest.Append(t, app, "2026-11-28T08:00:02Z ERROR an error line\n"+long+"\n")
	p.waitFor(lastVisibleIs(long), "the long line")
	// Hover an ERROR line: it keeps its tint.
	type box struct{ X, Y float64 }
	errLine := `[...document.querySelectorAll('#lines .ln.l-e')][0]`
	p.waitFor(errLine+` !== undefined`, "an ERROR line")
	eval[bool](p, `(`+errLine+`.scrollIntoView({block: 'center'}), true)`)
	before := eval[string](p, `getComputedStyle(`+errLine+`).backgroundColor`)
	b := eval[box](p, `(() => { const r = `+errLine+`.getBoundingClientRect(); return {X: r.left + 200, Y: r.top + r.height / 2}; })()`)
	p.do(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, b.X, b.Y))
	p.waitFor(errLine+`.matches(':hover')`, "hovering the ERROR line")
	if after := eval[string](p, `getComputedStyle(`+errLine+`).backgroundColor`); after != before {
		t.Errorf("hovering an ERROR line changed its tint from %s to %s", before, after)
	}
	// Wrapped, a long line's continuation rows hang to the right of its start.
	p.key("w")
	longLine := fmt.Sprintf(`[...document.querySelectorAll('#lines .ln')].find(e => e.textContent.startsWith(%s))`, jsString(long[:40]))
	p.waitFor(longLine+` !== undefined`, "the long line")
	indent := eval[[]float64](p, `(() => { const t = `+longLine+`.querySelector('.tx'), r = document.createRange(); r.selectNodeContents(t); const rs = [...r.getClientRects()]; return [rs[0].left, rs[rs.length - 1].left, rs.length]; })()`)
	if indent[2] < 2 || indent[1] <= indent[0] {
		t.Errorf("a wrapped line's rows start at x=%v (first) and x=%v (last), %v rows: want a hanging indent", indent[0], indent[1], indent[2])
	}
}
