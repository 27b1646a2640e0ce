package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// pickFile chooses host, then file from the searchable file dropdown, as a
// user does: the host <select>, then typing part of the name and clicking
// the option.
func pickFile(t *testing.T, p *Page, host, name string) {
	t.Helper()
	p.do(chromedp.SetValue(chromedp.CSS("#host"), host))
	eval[bool](p, `document.getElementById('host').dispatchEvent(new Event('change', {bubbles: true}))`)
	p.waitFor(`document.activeElement.id === 'file' && !document.getElementById('file-list').hidden && document.querySelector('#file-list [role=option]') !== null`, "the file list to open")
	p.typeInto("#file", strings.TrimSuffix(name, ".log"))
	opt := fmt.Sprintf(`[...document.querySelectorAll('#file-list [role=option]')].find(o => o.textContent.includes(%s))`, jsString(name))
	p.waitFor(fmt.Sprintf(`document.querySelectorAll('#file-list [role=option]').length === 1 && %s !== undefined`, opt), "the list narrowed to "+name)
	p.click("#file-list [role=option]")
}

func TestPickHostAndFileThenFollowLive(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100, hosts: []string{"local", "web-1"}})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 300)
	sourcetest.Append(t, s.path("local", "other.log"), "other\n")
	sourcetest.Append(t, s.path("web-1", "web.log"), "web\n")

	p := newPage(t, 1280, 800)
	p.open(s.URL(""))
	if got := eval[string](p, `document.getElementById('empty').textContent`); !strings.Contains(got, "Choose a host") {
		t.Errorf("before a host is chosen the view says %q", got)
	}

	p.do(chromedp.SetValue(chromedp.CSS("#host"), "local"))
	eval[bool](p, `document.getElementById('host').dispatchEvent(new Event('change', {bubbles: true}))`)
	p.waitFor(`document.querySelectorAll('#file-list [role=option]').length === 2`, "both files of host local listed")
	meta := eval[[]string](p, `[...document.querySelectorAll('#file-list .opt-meta')].map(e => e.textContent)`)
	for _, m := range meta {
		if !regexp.MustCompile(`^\d+(\.\d)? (B|KB) · \d+s ago$`).MatchString(m) {
			t.Errorf("file option details %q, want size and age", m)
		}
	}
	p.typeInto("#file", "app")
	p.waitFor(`document.querySelectorAll('#file-list [role=option]').length === 1`, "typing narrows the file list")
	p.click("#file-list [role=option]")

	// The last 100 lines (the replay), the newest at the bottom.
	p.waitFor(lastVisibleIs("line 300"), "line 300 at the bottom")
	p.waitFor(`document.getElementById('held').textContent === '100 lines'`, "100 lines held")
	if got := eval[string](p, `document.querySelector('#lines .ln:not(.sp) .tx').textContent`); got != "line 201" {
		t.Errorf("first line shown %q, want line 201", got)
	}
	p.waitFor(`document.getElementById('conn').dataset.state === 'live' && document.getElementById('source-text').textContent === 'following'`, "status: connected, following")

	// New lines appear live, and the view follows them.
	appendLines(t, app, "line", 301, 320)
	p.waitFor(lastVisibleIs("line 320"), "live line 320 at the bottom")
	appendLines(t, app, "line", 321, 321)
	p.waitFor(lastVisibleIs("line 321"), "live line 321 at the bottom")

	q := eval[string](p, `location.search`)
	v, _ := url.ParseQuery(strings.TrimPrefix(q, "?"))
	if v.Get("host") != "local" || v.Get("file") != app {
		t.Errorf("page URL %q does not name host and file", q)
	}
	s.stop()
}

func TestFilterNarrowsAndHighlights(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, strings.Join([]string{
		"INFO user alice logged in",
		"ERROR disk full on /dev/sda1",
		"WARN slow request took 1234ms",
		"error: lowercase failure",
		"DEBUG cache hit ratio 0.93",
	}, "\n")+"\n")
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(lastVisibleIs("DEBUG cache hit ratio 0.93"), "all five lines")

	want := func(what string, lines []string, marks []string) {
		t.Helper()
		cond := fmt.Sprintf(`JSON.stringify(%s) === %s`, shownJS, jsString(jsonList(lines)))
		p.waitFor(cond, what)
		got := eval[[]string](p, `[...document.querySelectorAll('#lines mark')].map(m => m.textContent)`)
		if !slices.Equal(got, marks) {
			t.Errorf("%s: highlighted %q, want %q", what, got, marks)
		}
	}

	p.key("/")
	if id := eval[string](p, `document.activeElement.id`); id != "filter" {
		t.Fatalf("'/' focused %q, want the filter", id)
	}
	p.typeInto("#filter", "error")
	want("substring, any case", []string{"ERROR disk full on /dev/sda1", "error: lowercase failure"}, []string{"ERROR", "error"})

	p.click("#case")
	want("case-sensitive", []string{"error: lowercase failure"}, []string{"error"})
	p.click("#case")

	eval[string](p, `document.getElementById('filter').value = ''`)
	p.typeInto("#filter", `^(WARN|INFO) \w+`)
	p.click("#re")
	want("regex", []string{"INFO user alice logged in", "WARN slow request took 1234ms"}, []string{"INFO user", "WARN slow"})

	p.click("#inv")
	want("inverted regex", []string{"ERROR disk full on /dev/sda1", "error: lowercase failure", "DEBUG cache hit ratio 0.93"}, nil)
	p.click("#inv")
	want("regex again", []string{"INFO user alice logged in", "WARN slow request took 1234ms"}, []string{"INFO user", "WARN slow"})

	// A bad regex: a readable error, the view keeps the last good filter.
	p.typeInto("#filter", "(")
	p.waitFor(`!document.getElementById('filter-error').hidden`, "the filter error")
	msg := eval[string](p, `document.getElementById('filter-error').textContent`)
	if !strings.Contains(msg, "Bad regular expression") || !strings.Contains(msg, "missing closing )") {
		t.Errorf("filter error %q, want a readable reason", msg)
	}
	if inv := eval[string](p, `document.getElementById('filter').getAttribute('aria-invalid')`); inv != "true" {
		t.Errorf("filter input aria-invalid=%q", inv)
	}
	want("after a bad regex", []string{"INFO user alice logged in", "WARN slow request took 1234ms"}, []string{"INFO user", "WARN slow"})

	// Esc in the filter clears it: everything again, no error.
	p.do(chromedp.Focus(chromedp.CSS("#filter")), pressKeys("\u001b"))
	want("cleared", []string{"INFO user alice logged in", "ERROR disk full on /dev/sda1", "WARN slow request took 1234ms", "error: lowercase failure", "DEBUG cache hit ratio 0.93"}, nil)
	p.waitFor(`document.getElementById('filter-error').hidden && !location.search.includes('q=')`, "error gone and filter out of the URL")

	// Level tints.
	lv := eval[[]string](p, `[...document.querySelectorAll('#lines .ln')].map(e => e.className)`)
	for i, cls := range []string{"l-i", "l-e", "l-w", "l-e", "l-d"} {
		if i >= len(lv) || !strings.Contains(lv[i], cls) {
			t.Errorf("line %d has classes %q, want %s", i, lv, cls)
		}
	}
	s.stop()
}

func jsonList(ss []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", s) // Go and JSON quoting agree for these ASCII lines
	}
	b.WriteByte(']')
	return b.String()
}

func TestShareLinkRestoresView(t *testing.T) {
	s := startServer(t, serverOpts{hosts: []string{"local", "web-1"}})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "GET /a 200\nGET /b 500\nPOST /c 200\nget /d 503\n")
	sourcetest.Append(t, s.path("local", "b.log"), "b\n")

	p := newPage(t, 1280, 800)
	p.open(s.URL(""))
	pickFile(t, p, "local", "app.log")
	p.waitFor(lastVisibleIs("get /d 503"), "the file's lines")
	p.typeInto("#filter", `GET /\w 5\d\d`)
	p.click("#re")
	p.click("#case")
	p.waitFor(fmt.Sprintf(`JSON.stringify(%s) === '["GET /b 500"]'`, shownJS), "the filtered view")
	link := eval[string](p, `location.href`)
	for _, want := range []string{"host=local", "file=" + url.QueryEscape(app), "q=GET", "re=1", "case=1"} {
		if !strings.Contains(link, want) {
			t.Errorf("URL %s lacks %s", link, want)
		}
	}

	// A fresh browser context (no shared storage) opening the link.
	q := newPage(t, 1024, 700)
	q.open(link)
	q.waitFor(fmt.Sprintf(`JSON.stringify(%s) === '["GET /b 500"]'`, shownJS), "the same filtered view")
	type view struct {
		Host, File, Filter, Re, Case, Inv, Mark string
	}
	got := eval[view](q, `({
		Host: document.getElementById('host').value, File: document.getElementById('file').value,
		Filter: document.getElementById('filter').value,
		Re: document.getElementById('re').getAttribute('aria-pressed'),
		Case: document.getElementById('case').getAttribute('aria-pressed'),
		Inv: document.getElementById('inv').getAttribute('aria-pressed'),
		Mark: document.querySelector('#lines mark').textContent,
	})`)
	want := view{Host: "local", File: app, Filter: `GET /\w 5\d\d`, Re: "true", Case: "true", Inv: "false", Mark: "GET /b 500"}
	if got != want {
		t.Errorf("shared link shows %+v, want %+v", got, want)
	}
	sourcetest.Append(t, app, "GET /e 502\nGET /f 200\n")
	q.waitFor(fmt.Sprintf(`JSON.stringify(%s) === '["GET /b 500","GET /e 502"]'`, shownJS), "live lines filtered the same way")
	s.stop()
}

func TestPauseHoldsViewResumeShowsAll(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 50)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(lastVisibleIs("line 50"), "line 50")

	p.key(" ") // space pauses
	p.waitFor(`document.getElementById('pause').getAttribute('aria-pressed') === 'true' && !document.getElementById('pending').hidden`, "paused")
	before := eval[[]string](p, visibleJS)
	top := eval[float64](p, `document.getElementById('log').scrollTop`)

	for i := 0; i < 4; i++ {
		appendLines(t, app, "line", 51+i*50, 100+i*50)
		p.waitFor(fmt.Sprintf(`document.getElementById('pending').textContent === '%d new lines'`, 50*(i+1)), fmt.Sprintf("%d new lines counted", 50*(i+1)))
	}
	if got := eval[[]string](p, visibleJS); !slices.Equal(got, before) {
		t.Errorf("paused view changed: %q → %q", before[len(before)-1], got[len(got)-1])
	}
	if got := eval[float64](p, `document.getElementById('log').scrollTop`); got != top {
		t.Errorf("paused view scrolled from %v to %v", top, got)
	}
	pill := eval[string](p, `document.getElementById('pill').textContent`)
	if !strings.Contains(pill, "200 new lines") {
		t.Errorf("pill says %q", pill)
	}

	p.click("#pill") // resume
	p.waitFor(lastVisibleIs("line 250"), "line 250 after resuming")
	p.waitFor(`document.getElementById('pending').hidden && document.getElementById('held').textContent === '250 lines'`, "250 lines held")
	lines, _ := p.allLines()
	if want := numbered("line", 1, 250); !slices.Equal(lines, want) {
		t.Errorf("after resume the view holds %d lines %q…, want line 1…line 250", len(lines), head(lines))
	}
	s.stop()
}

func head(ss []string) []string { return ss[:min(len(ss), 5)] }

func TestServerRestartResumesWithoutLossOrDuplicates(t *testing.T) {
	s := startServer(t, serverOpts{replay: 1000})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 100)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(lastVisibleIs("line 100"), "line 100")
	appendLines(t, app, "line", 101, 150)
	p.waitFor(lastVisibleIs("line 150"), "line 150")

	s.stop()
	p.waitFor(`['reconnecting', 'connecting'].includes(document.getElementById('conn').dataset.state) && /reconnecting/.test(document.getElementById('conn-text').textContent)`, "the page to show it is reconnecting")
	appendLines(t, app, "line", 151, 180) // written while the server is down
	s.restart()
	p.waitFor(`document.getElementById('conn').dataset.state === 'live'`, "reconnected")
	appendLines(t, app, "line", 181, 200)
	p.waitFor(lastVisibleIs("line 200"), "line 200 after the restart")

	lines, specials := p.allLines()
	if want := numbered("line", 1, 200); !slices.Equal(lines, want) {
		t.Errorf("after the restart the view holds %d lines, want line 1…line 200 once each; dups/holes: %s", len(lines), diff(lines, want))
	}
	if len(specials) != 1 || !strings.Contains(specials[0], "server restarted") {
		t.Errorf("notes shown: %q, want one saying the server restarted", specials)
	}
	s.stop()
}

// diff describes duplicates and missing lines.
func diff(got, want []string) string {
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	var out []string
	for _, w := range want {
		switch count[w] {
		case 0:
			out = append(out, "missing "+w)
		case 1:
		default:
			out = append(out, fmt.Sprintf("%s ×%d", w, count[w]))
		}
	}
	return strings.Join(head(out), ", ")
}

func TestLogTextIsNeverHTML(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	evil := []string{
		`<script>alert(1)</script>`,
		`<img src=x onerror="window.__xss=1">`,
		`ERROR <b>bold</b> &amp; <a href="javascript:window.__xss=2">x</a>`,
		"\x1b[31m<img src=y onerror=\"window.__xss=3\">\x1b[0m",
		`{"msg":"<img src=z onerror=window.__xss=4>","level":"warn"}`,
	}
	sourcetest.Append(t, app, strings.Join(evil, "\n")+"\n")
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	shown := []string{evil[0], evil[1], evil[2], `<img src=y onerror="window.__xss=3">`, evil[4]}
	check := func(what string) {
		t.Helper()
		p.waitFor(fmt.Sprintf(`JSON.stringify(%s) === %s`, shownJS, jsString(jsonList(shown))), what+": the lines as text")
		n := eval[int](p, `document.querySelectorAll('#lines script, #lines img, #lines b, #lines a, #lines [onerror]').length`)
		if n != 0 {
			t.Errorf("%s: %d elements made from log text", what, n)
		}
		if xss := eval[bool](p, `window.__xss !== undefined`); xss {
			t.Errorf("%s: a log line ran script (window.__xss=%v)", what, eval[any](p, `window.__xss`))
		}
	}
	check("plain")

	// Through the highlighting path (a filter that matches inside the markup).
	p.typeInto("#filter", "src")
	shown = []string{evil[1], `<img src=y onerror="window.__xss=3">`, evil[4]}
	check("highlighted")
	if n := eval[int](p, `document.querySelectorAll('#lines mark').length`); n != 3 {
		t.Errorf("%d marks, want 3", n)
	}
	// Through the JSON pretty-printer.
	p.click("#json")
	shown = []string{evil[1], `<img src=y onerror="window.__xss=3">`, "{\n  \"msg\": \"<img src=z onerror=window.__xss=4>\",\n  \"level\": \"warn\"\n}"}
	check("pretty JSON")
	s.stop()
}

// TestANSIEscapesNeverHideText: escape sequences are dropped and colours
// kept, and no sequence hides the text after it: an OSC (window title,
// hyperlink) that never ends, or one ended by BEL, which the server shows
// as ␇ (tailer.Clean) before the page sees it.
func TestANSIEscapesNeverHideText(t *testing.T) {
	const esc, bel = "\x1b", "\x07"
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	lines := []struct{ name, raw, shown string }{
		{"unterminated OSC, then text", esc + "]0;build 42 done", "build 42 done"},
		{"unterminated OSC, then CSI", "before " + esc + "]2;half " + esc + "[32mgreen" + esc + "[0m after", "before half green after"},
		{"unterminated OSC at the end", "tail " + esc + "]0;", "tail "},
		{"OSC ended by BEL", "start " + esc + "]0;my title" + bel + "end", "start end"},
		{"OSC ended by ST", esc + "]8;;https://example.com/" + esc + "\\a link" + esc + "]8;;" + esc + "\\ done", "a link done"},
		{"CSI colours", esc + "[31mred" + esc + "[0m plain " + esc + "[1;38;5;208mbold orange" + esc + "[0m", "red plain bold orange"},
		{"BEL outside an OSC", "bell " + bel + " rings", "bell \u2407 rings"},
	}
	var raw strings.Builder
	for _, l := range lines {
		raw.WriteString(l.raw + "\n")
	}
	sourcetest.Append(t, app, raw.String())
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(fmt.Sprintf(`%s.length === %d`, shownJS, len(lines)), "every line")
	got := eval[[]string](p, shownJS)
	for i, l := range lines {
		if got[i] != l.shown {
			t.Errorf("%s: shown %q, want %q", l.name, got[i], l.shown)
		}
	}

	// The colours are kept: [text, classes, inline colour] of each styled
	// run. A 256-colour one is made readable on the theme's background:
	// orange 208 (255,135,0) is 2.2:1 on white, darkened to 4.5:1 in the
	// light theme, and used as written in the dark one (8.6:1).
	styled := eval[[][]string](p, `[...document.querySelectorAll('#lines .ln:not(.sp) .tx span')].map(e => [e.textContent, e.className, e.style.color])`)
	wantStyled := [][]string{{"green", "a-f2", ""}, {"red", "a-f1", ""}, {"bold orange", "a-b", "rgb(179, 95, 0)"}}
	if fmt.Sprint(styled) != fmt.Sprint(wantStyled) {
		t.Errorf("light theme: styled runs %q, want %q", styled, wantStyled)
	}
	p.click("#theme")
	p.waitFor(`document.documentElement.dataset.theme === 'dark'`, "the dark theme")
	styled = eval[[][]string](p, `[...document.querySelectorAll('#lines .ln:not(.sp) .tx span')].map(e => [e.textContent, e.className, e.style.color])`)
	wantStyled[2][2] = "rgb(255, 135, 0)"
	if fmt.Sprint(styled) != fmt.Sprint(wantStyled) {
		t.Errorf("dark theme: styled runs %q, want %q", styled, wantStyled)
	}
	s.stop()
}

func TestHundredThousandLinesStayResponsive(t *testing.T) {
	const total = 100010 // the page keeps the last 100,000
	s := startServer(t, serverOpts{replay: 1000, buffer: 64 << 20})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 10)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(lastVisibleIs("line 10"), "line 10")

	start := time.Now()
	for i := 11; i <= total; i += 10000 {
		appendLines(t, app, "line", i, min(i+9999, total))
	}
	p.waitForWithin(lastVisibleIs(fmt.Sprintf("line %d", total)), "the last of 100k lines", 40*time.Second)
	t.Logf("100k lines shown in %v", time.Since(start).Round(time.Millisecond))
	p.waitFor(`document.getElementById('held').textContent === '100,000 lines'`, "100,000 lines held")
	if got := eval[string](p, `document.getElementById('trimmed').textContent`); !strings.HasPrefix(got, "10 earlier lines were dropped") {
		t.Errorf("trim notice %q", got)
	}

	nodes := eval[int](p, `document.querySelectorAll('#lines .ln').length`)
	if nodes > 1000 {
		t.Errorf("%d line nodes in the DOM for %d lines, want a bounded number (≤1000)", nodes, total)
	}
	// Input gets an answer quickly: a jump to the top renders the oldest line held…
	t0 := time.Now()
	p.key("g")
	p.waitForWithin(`(() => { const v = `+visibleJS+`; return v.length > 0 && v[0] === 'line 11'; })()`, "the top after 'g'", 3*time.Second)
	// …and a filter typed now narrows the view.
	p.typeInto("#filter", "line 99999")
	p.waitForWithin(fmt.Sprintf(`JSON.stringify(%s) === '["line 99999"]'`, shownJS), "the filtered view", 5*time.Second)
	if d := time.Since(t0); d > 8*time.Second {
		t.Errorf("the page took %v to answer", d)
	}
	if nodes := eval[int](p, `document.querySelectorAll('#lines .ln').length`); nodes > 1000 {
		t.Errorf("%d line nodes after scrolling", nodes)
	}
	s.stop()
}

func TestLinkToLine(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 500) // the log starts with the last 100: seq 1 is line 401
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(lastVisibleIs("line 500"), "line 500")
	appendLines(t, app, "line", 501, 900)
	p.waitFor(lastVisibleIs("line 900"), "line 900")

	// Scroll up to line 650 (seq 250) and click its margin.
	p.key("g")
	eval[bool](p, `(document.getElementById('log').scrollTop = document.querySelectorAll('#lines .chunk')[2].offsetTop, true)`)
	p.waitFor(`document.querySelector('#lines [data-seq="250"]') !== null`, "line 650 rendered")
	p.click(`#lines [data-seq="250"] .gut`)
	p.waitFor(`/[?&]at=\d+%3A\d+/.test(location.search)`, "the line's place in the file in the URL")
	link := eval[string](p, `location.href`)
	if got := eval[string](p, `document.querySelector('#lines .target .tx').textContent`); got != "line 650" {
		t.Errorf("marked line %q, want line 650", got)
	}

	// Line 650 is older than the replay (the last 100 lines): the link must
	// fetch it (from the file's history), and show it in the middle of the view.
	q := newPage(t, 1024, 600)
	q.open(link)
	q.waitFor(`document.querySelector('#lines .target') !== null`, "the linked line marked")
	if got := eval[string](q, `document.querySelector('#lines .target .tx').textContent`); got != "line 650" {
		t.Errorf("linked line %q, want line 650", got)
	}
	q.waitFor(`(() => { const r = document.querySelector('#lines .target').getBoundingClientRect(), b = document.getElementById('log').getBoundingClientRect(); return r.top >= b.top && r.bottom <= b.bottom; })()`, "the linked line in view")
	if !strings.Contains(eval[string](q, `location.search`), "at=") {
		t.Errorf("the page dropped the line from its URL")
	}
	// The lines before it and after it are there too.
	if got := eval[string](q, `(() => { const t = document.querySelector('#lines .target'); return t.previousElementSibling.querySelector('.tx').textContent + '|' + t.nextElementSibling.querySelector('.tx').textContent; })()`); got != "line 649|line 651" {
		t.Errorf("around the linked line: %q, want line 649|line 651", got)
	}
	s.stop()
}

func TestScreenshots(t *testing.T) {
	srv, err := os.MkdirTemp("", "srv") // a short path looks better in the picture
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(srv) }) // srv, not dir: dir may name docs/ below
	s := startServer(t, serverOpts{hosts: []string{"local", "web-1", "db-1"}, dir: srv})
	var dir string
	app := s.path("local", "api.log")
	sourcetest.Append(t, app, sampleLog())
	for _, name := range []string{"worker.log", "nginx-access.log", "nginx-error.log", "postgres.log", "auth.log", "cron.log"} {
		sourcetest.Append(t, s.path("local", name), "x\n")
	}
	p := newPage(t, 1440, 900)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(`document.getElementById('held').textContent === '33 lines'`, "the sample log")
	p.typeInto("#filter", "order")
	p.waitFor(`document.querySelectorAll('#lines mark').length > 3`, "highlights")
	p.click("#json")
	p.waitFor(`document.querySelector('#lines .j-k') !== null`, "pretty JSON")
	p.waitFor(`document.getElementById('rate').textContent !== ''`, "the rate")
	p.do(chromedp.Blur(chromedp.CSS("#filter")))
	dir = t.TempDir()
	if keep := os.Getenv("LOGVIEWER_SCREENSHOT_DIR"); keep != "" { // to look at them after the test, or docs/
		if !filepath.IsAbs(keep) {
			keep = filepath.Join("..", keep) // go test runs in e2e/; the path is from the module root
		}
		dir = keep
	}
	p.screenshot(filepath.Join(dir, "screenshot.png"))
	if out := os.Getenv("LOGVIEWER_SCREENSHOT"); out != "" {
		if !filepath.IsAbs(out) {
			out = filepath.Join("..", out) // go test runs in e2e/; the path is from the module root
		}
		p.screenshot(out)
		t.Logf("wrote %s", out)
	}

	// Dark theme, remembered across a reload.
	p.click("#theme")
	p.do(chromedp.Reload())
	p.waitFor(`document.documentElement.dataset.theme === 'dark' && document.querySelector('#lines .ln') !== null`, "the dark theme after a reload")
	p.screenshot(filepath.Join(dir, "screenshot-dark.png"))

	// A phone: nothing wider than the screen, the file list usable.
	m := newPage(t, 390, 844)
	m.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	m.waitFor(`document.querySelector('#lines .ln') !== null`, "lines on a phone")
	m.screenshot(filepath.Join(dir, "screenshot-phone.png"))
	m.click("#file")
	m.waitFor(`document.querySelectorAll('#file-list [role=option]').length === 7`, "the file list on a phone")
	m.screenshot(filepath.Join(t.TempDir(), "phone-files.png"))
	wide := eval[[]string](m, `[...document.querySelectorAll('header *, footer *, #file-list')].filter(e => {
		const r = e.getBoundingClientRect();
		return r.width > 0 && (r.left < -1 || r.right > innerWidth + 1);
	}).map(e => e.id || e.className || e.tagName)`)
	if len(wide) > 0 || eval[bool](m, `document.documentElement.scrollWidth > innerWidth`) {
		t.Errorf("at 390px wide these overflow the screen: %q", wide)
	}
	m.typeInto("#file", "nginx err")
	m.waitFor(`document.querySelectorAll('#file-list [role=option]').length === 1`, "narrowing by two words")
	m.click("#file-list [role=option]")
	m.waitFor(`document.getElementById('file').value.endsWith('/nginx-error.log') && location.search.includes('nginx-error.log')`, "the picked file")
	t.Logf("screenshots in %s", dir)
	s.stop()
}

// sampleLog is a realistic log for the screenshots: levels, ANSI colours,
// JSON lines, a long line.
func sampleLog() string {
	const esc = "\x1b"
	// Earlier traffic first, so that the followed bottom shows the variety.
	var lines []string
	users := []string{"alice", "bob", "carol", "dave"}
	for i := 0; i < 18; i++ {
		ts := fmt.Sprintf("2026-11-21T09:13:%02d.%03dZ", 40+i, (i*337)%1000)
		switch i % 4 {
		case 0:
			lines = append(lines, fmt.Sprintf("%s INFO  http: POST /api/v1/orders 201 %dms user=%s order=%d", ts, 30+i, users[i%4], 8790+i))
		case 1:
			lines = append(lines, fmt.Sprintf("%s DEBUG orders: reserved %d items for order %d in warehouse eu-west-%d", ts, 1+i%4, 8789+i, 1+i%3))
		case 2:
			lines = append(lines, fmt.Sprintf("%s INFO  http: GET /api/v1/orders/%d 200 %dms user=%s", ts, 8788+i, 4+i%7, users[(i+1)%4]))
		case 3:
			lines = append(lines, fmt.Sprintf("%s INFO  http: GET /healthz 200 0.3ms", ts))
		}
	}
	lines = append(lines,
		"2026-11-21T09:14:01.004Z INFO  server: listening on 127.0.0.1:8080 (version 1.4.2)",
		"2026-11-21T09:14:01.118Z DEBUG db: pool opened size=10 idle=2 dsn=postgres://app@db-1/app",
		"2026-11-21T09:14:02.245Z INFO  http: GET /healthz 200 0.4ms",
		"2026-11-21T09:14:02.871Z INFO  http: POST /api/v1/orders 201 42ms user=alice order=8812",
		`{"time":"2026-11-21T09:14:03.020Z","level":"info","msg":"order created","order_id":8812,"items":3,"total":129.9,"paid":true}`,
		"2026-11-21T09:14:03.377Z WARN  http: POST /api/v1/orders 429 1ms user=bob: rate limit exceeded (limit=20/min)",
		esc+"[32m2026-11-21T09:14:03.901Z"+esc+"[0m "+esc+"[1;34mworker"+esc+"[0m: job "+esc+"[33mreindex-orders"+esc+"[0m finished in "+esc+"[1m2.31s"+esc+"[0m",
		"2026-11-21T09:14:04.456Z ERROR payments: charge failed for order 8813: card_declined (code=51, retry=false)",
		"2026-11-21T09:14:04.457Z ERROR payments:   at PaymentService.charge (payments/service.go:214)",
		`{"time":"2026-11-21T09:14:05.002Z","level":"error","msg":"webhook delivery failed","order_id":8813,"attempt":3,"error":"context deadline exceeded"}`,
		"2026-11-21T09:14:05.530Z INFO  http: GET /api/v1/orders/8812 200 6ms user=alice",
		esc+"[38;5;245m2026-11-21T09:14:06.004Z"+esc+"[0m "+esc+"[38;2;255;140;0mTRACE"+esc+"[0m cache: orders:8812 hit (ttl 287s)",
		"2026-11-21T09:14:06.610Z FATAL db: connection to db-1:5432 lost: server closed the connection unexpectedly; reconnecting with backoff 1s, 2s, 4s … up to 30s before giving up",
		"2026-11-21T09:14:07.250Z INFO  db: reconnected after 1.02s",
		"2026-11-21T09:14:07.912Z INFO  http: GET /api/v1/orders?page=2 200 18ms",
	)
	return strings.Join(lines, "\n") + "\n"
}

func TestAutoscrollStopsWhenScrolledUpAndWraps(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 300)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(lastVisibleIs("line 300"), "line 300")

	wheel := func(dy float64) {
		t.Helper()
		p.do(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseWheel, 640, 400, func(m *input.DispatchMouseEventParams) { m.DeltaX, m.DeltaY = 0.01, dy }))
	}
	// Scrolling up stops following: new lines do not move the view, a pill counts them.
	wheel(-600)
	p.waitFor(`(() => { const v = `+visibleJS+`; return v.length > 0 && v[v.length-1] !== 'line 300'; })()`, "the view scrolled up")
	before := eval[[]string](p, visibleJS)
	appendLines(t, app, "line", 301, 350)
	p.waitFor(`document.getElementById('pill').textContent === '↓ 50 new lines'`, "the new-lines pill")
	if got := eval[[]string](p, visibleJS); !slices.Equal(got, before) {
		t.Errorf("the view moved while scrolled up: %q… became %q…", head(before), head(got))
	}
	// Scrolling back to the bottom follows again.
	wheel(100000)
	p.waitFor(lastVisibleIs("line 350")+` && document.getElementById('pill').hidden`, "back at the bottom")
	appendLines(t, app, "line", 351, 360)
	p.waitFor(lastVisibleIs("line 360"), "following again")

	// Wrap: a long line takes several rows, and the choice is remembered.
	long := "long " + strings.Repeat("abcdefghij ", 40)
	sourcetest.Append(t, app, long+"\n")
	p.waitFor(lastVisibleIs(long), "the long line")
	rows := `(() => { const l = [...document.querySelectorAll('#lines .ln')].pop(); return Math.round(l.getBoundingClientRect().height / parseFloat(getComputedStyle(l).lineHeight)); })()`
	if n := eval[int](p, rows); n != 1 {
		t.Errorf("unwrapped long line takes %d rows", n)
	}
	p.key("w")
	p.waitFor(rows+` > 1`, "the long line wrapped")
	p.waitFor(lastVisibleIs(long), "still at the bottom after wrapping")
	if got := eval[string](p, `localStorage.getItem('logviewer.wrap')`); got != "1" {
		t.Errorf("wrap remembered as %q", got)
	}
	s.stop()
}

func TestRotationShowsMarkerAndState(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	appendLines(t, app, "old", 1, 5)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(lastVisibleIs("old 5"), "old 5")

	// Rotate so that the path never goes missing: keep the old inode as
	// app.log.1, then move a new file over app.log.
	appendLines(t, app+".new", "new", 1, 2)
	if err := os.Link(app, app+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(app+".new", app); err != nil {
		t.Fatal(err)
	}
	p.waitFor(lastVisibleIs("new 2"), "the new file's lines")
	p.waitFor(`document.getElementById('source-text').textContent === 'following · rotated'`, "the source state says rotated")
	rows := eval[[]string](p, `[...document.querySelectorAll('#lines .ln')].map(e => (e.classList.contains('marker') ? 'marker: ' : '') + e.querySelector('.tx').textContent.replace(/ · [\d:.]+$/, ''))`)
	want := []string{"old 1", "old 2", "old 3", "old 4", "old 5", "marker: ⟳ file rotated: following the new file from its start", "new 1", "new 2"}
	if !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
	s.stop()
}

func TestGapShownWhenTheViewFallsBehind(t *testing.T) {
	// A ring of 100 lines, and a page too busy to read its socket while 20 MB
	// of lines arrive: the server's flow control leaves this viewer behind
	// and tells it what it missed. Every line is either shown or counted.
	const total = 20001
	s := startServer(t, serverOpts{replay: 100, buffer: 64 << 10})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 10)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(lastVisibleIs("line 10"), "line 10")

	eval[bool](p, `(setTimeout(() => { const t = performance.now(); while (performance.now() - t < 2500) {} }, 0), true)`)
	pad := strings.Repeat("x", 1000)
	var b strings.Builder
	for i := 11; i < total; i++ {
		fmt.Fprintf(&b, "line %d %s\n", i, pad)
	}
	sourcetest.Append(t, app, b.String())
	appendLines(t, app, "line", total, total)
	p.waitFor(lastVisibleIs(fmt.Sprintf("line %d", total)), "the last line")

	type counts struct{ Held, Skipped string }
	c := eval[counts](p, `({Held: document.getElementById('held').textContent, Skipped: document.getElementById('skipped').hidden ? '' : document.getElementById('skipped').textContent})`)
	num := func(s string) int {
		n := 0
		for _, r := range s {
			if r >= '0' && r <= '9' {
				n = n*10 + int(r-'0')
			} else if r != ',' {
				break
			}
		}
		return n
	}
	held, skipped := num(c.Held), num(c.Skipped)
	if skipped == 0 || held+skipped != total {
		t.Fatalf("status shows %q held and %q skipped: want lines skipped, and held+skipped = %d (no line lost silently)", c.Held, c.Skipped, total)
	}
	// The status links to the gap row.
	p.click("#skipped")
	p.waitFor(`(() => { const g = document.querySelector('#lines .ln.gap.target'); if (!g) return false; const r = g.getBoundingClientRect(), b = document.getElementById('log').getBoundingClientRect(); return r.top >= b.top && r.bottom <= b.bottom; })()`, "the gap row in view")
	row := eval[string](p, `document.querySelector('#lines .ln.gap.target').textContent`)
	if !regexp.MustCompile(`^⚠ [\d,]+ lines skipped: this view fell behind`).MatchString(row) {
		t.Errorf("gap row %q", row)
	}
	s.stop()
}

// TestThemeFollowsSystem: with no remembered choice the page takes the
// system's colour scheme, before the first paint and when it changes.
func TestThemeFollowsSystem(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "one\n")
	p := newPage(t, 1000, 600)
	scheme := func(v string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}},
			})
			return err
		})
	}
	p.do(scheme("dark"))
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(`document.documentElement.dataset.theme === 'dark' && getComputedStyle(document.body).backgroundColor === 'rgb(13, 17, 23)'`,
		"the dark theme from the system setting")
	p.do(scheme("light"))
	p.waitFor(`document.documentElement.dataset.theme === 'light' && getComputedStyle(document.body).backgroundColor !== 'rgb(13, 17, 23)'`,
		"the light theme once the system switches")
}
