package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// topLineJS evaluates to the text of the first server line wholly in the
// viewport and its distance from the log's top edge, in CSS pixels.
const topLineJS = `(() => {
	const box = document.getElementById('log').getBoundingClientRect();
	for (const e of document.querySelectorAll('#lines .ln:not(.sp)')) {
		const r = e.getBoundingClientRect();
		if (r.top >= box.top - 1) return {Text: e.querySelector('.tx').textContent, Y: r.top - box.top};
	}
	return {Text: '', Y: 0};
})()`

type topLine struct {
	Text string
	Y    float64
}

// TestScrollBackLoadsOlderLinesAbove: the ring holds the last 100 lines of
// a 1,000-line file; scrolling to the top asks for older lines, which appear
// above without moving the line that was at the top, until the first line
// of the file: every line exactly once, in order.
func TestScrollBackLoadsOlderLinesAbove(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 1000)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(lastVisibleIs("line 1000"), "line 1000")
	p.waitFor(`document.getElementById('held').textContent === '100 lines'`, "the replay")
	p.waitFor(`!document.getElementById('older').hidden && document.getElementById('older-text').textContent === 'Scroll up for older lines'`, "the history bar")

	// At the top, the wheel turned up asks for older lines.
	p.key("g") // the top of what is held: nothing asked yet
	before := eval[topLine](p, topLineJS)
	if before.Text != "line 901" {
		t.Fatalf("top line %q before paging back, want line 901", before.Text)
	}
	p.wheelUp()
	p.waitFor(`document.getElementById('held').textContent === '600 lines'`, "500 older lines")
	after := eval[topLine](p, `(() => {
		const e = [...document.querySelectorAll('#lines .ln .tx')].find(e => e.textContent === 'line 901');
		if (!e) return {Text: '', Y: 0};
		return {Text: e.textContent, Y: e.getBoundingClientRect().top - document.getElementById('log').getBoundingClientRect().top};
	})()`)
	if after.Text != "line 901" || after.Y < before.Y-2 || after.Y > before.Y+2 {
		t.Errorf("the view jumped: line 901 was %.0f px below the top, now %q at %.0f px", before.Y, after.Text, after.Y)
	}

	// On to the beginning of the file.
	for i := 0; i < 5 && eval[string](p, `document.getElementById('older-text').textContent`) != "The beginning of the log"; i++ {
		p.key("g")
		p.wheelUp()
		p.waitFor(`document.getElementById('older').dataset.state !== 'busy'`, "the older request to end")
	}
	p.waitFor(`document.getElementById('older-text').textContent === 'The beginning of the log'`, "the beginning of the log")
	lines, _ := p.allLines()
	if want := numbered("line", 1, 1000); !slices.Equal(lines, want) {
		t.Fatalf("after paging back the view holds %d lines (first %q, last %q), want line 1 … line 1000 once each", len(lines), first(lines), last(lines))
	}
	// Live lines still arrive below.
	appendLines(t, app, "line", 1001, 1001)
	p.waitFor(lastVisibleIs("line 1001"), "a live line after paging back")
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// TestSearchBackShowsProgressAndKeepsSearching: with a filter, older means
// older matching lines; the bar says how much was searched and in which
// file, and "Keep searching" goes on until every match is there once.
func TestSearchBackShowsProgressAndKeepsSearching(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	var b strings.Builder
	for i := 1; i <= 4000; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "needle %d\n", i)
		} else {
			fmt.Fprintf(&b, "hay %d\n", i)
		}
	}
	sourcetest.Append(t, app, b.String())
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}, "q": {"needle"}}.Encode()))
	p.waitFor(lastVisibleIs("needle 4000"), "the last match")
	p.waitFor(`document.getElementById('held').textContent.startsWith('50 matches in the last 100 lines held')`, "the count says what was searched")
	p.waitFor(`!document.getElementById('older-more').hidden && document.getElementById('older-more').textContent === 'Search older lines'`, "a button to search older lines")
	p.key("g") // the top of what is held: the bar with the button
	p.click("#older-more")
	p.waitFor(`/^Searched [\d.]+ K?B back into app\.log: [\d,]+ older matches$/.test(document.getElementById('older-text').textContent)`, "progress: scanned and file")
	p.waitFor(`!document.getElementById('older-more').hidden && document.getElementById('older-more').textContent === 'Keep searching'`, "keep searching")
	for i := 0; i < 10; i++ {
		p.waitFor(`document.getElementById('older').dataset.state !== 'busy'`, "the search back to pause")
		if strings.HasPrefix(eval[string](p, `document.getElementById('older-text').textContent`), "Searched the whole history") {
			break
		}
		p.key("g")
		p.waitFor(`document.getElementById('older').dataset.state !== 'busy'`, "the search back to pause")
		// (Scrolled to the top, the page may already have asked by itself.)
		eval[bool](p, `(() => { const b = document.getElementById('older-more'); if (!b.hidden) b.click(); return true; })()`)
	}
	p.waitFor(`document.getElementById('older-text').textContent.startsWith('Searched the whole history')`, "the whole history searched")
	lines, _ := p.allLines()
	var want []string
	for i := 2; i <= 4000; i += 2 {
		want = append(want, fmt.Sprintf("needle %d", i))
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("search back holds %d lines (first %q, last %q), want the 2,000 needles once each", len(lines), first(lines), last(lines))
	}
}

// TestTimePickerAndSharedFromURL: picking a time starts the view at the
// first line at or after it (found in the history when older than the
// ring), puts from= in the URL, and that URL opened elsewhere shows the same
// view.
func TestTimePickerAndSharedFromURL(t *testing.T) {
	s := startServer(t, serverOpts{replay: 50})
	app := s.path("local", "app.log")
	var b strings.Builder
	base := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 600; i++ {
		fmt.Fprintf(&b, "%s INFO event %d\n", base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i)
	}
	sourcetest.Append(t, app, b.String())
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(`document.querySelector('#lines .ln:not(.sp)') !== null`, "the replay")

	// 08:03:20 UTC is line 200, far older than the ring (the last 50).
	at := base.Add(200 * time.Second)
	local := eval[string](p, fmt.Sprintf(`(() => { const d = new Date(%d), p = (n) => String(n).padStart(2, '0'); return d.getFullYear() + '-' + p(d.getMonth()+1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()); })()`, at.UnixMilli()))
	eval[bool](p, fmt.Sprintf(`(() => { const i = document.getElementById('from'); i.value = %s; i.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, jsString(local)))
	p.waitFor(`new URLSearchParams(location.search).get('from') === '2026-11-28T08:03:20Z'`, "from= in the URL")
	want := at.Format(time.RFC3339) + " INFO event 200"
	p.waitFor(fmt.Sprintf(`document.querySelector('#lines .target .tx') !== null && document.querySelector('#lines .target .tx').textContent === %s`, jsString(want)), "the line at the time marked")
	p.waitFor(fmt.Sprintf(`(%s).Text === %s`, topLineJS, jsString(want)), "the line at the time at the top of the view")
	if got := eval[string](p, `document.getElementById('from').value`); got != local {
		t.Errorf("the picker shows %q, want %q", got, local)
	}

	// The URL, opened in a fresh browser context, shows the same view.
	u := eval[string](p, `location.href`)
	q := newPage(t, 1024, 700)
	q.open(u)
	q.waitFor(fmt.Sprintf(`document.querySelector('#lines .target .tx') !== null && document.querySelector('#lines .target .tx').textContent === %s`, jsString(want)), "the shared URL's line marked")
	q.waitFor(fmt.Sprintf(`(%s).Text === %s`, topLineJS, jsString(want)), "the shared URL's line at the top")
	// …and still follows: a new line arrives below.
	sourcetest.Append(t, app, "2026-11-28T09:00:00Z INFO after\n")
	q.waitFor(`document.getElementById('pill').textContent === '↓ 1 new line'`, "a live line below")

	// Clearing the time goes back to the latest lines.
	p.click("#from-clear")
	p.waitFor(`!new URLSearchParams(location.search).has('from') && document.getElementById('from').value === ''`, "from= gone")
	p.waitFor(lastVisibleIs("2026-11-28T09:00:00Z INFO after"), "the latest lines")
}

// TestDownloadButtonFetchesTheView: the Download button points at
// /api/download for the view, with its filter (text and level) when set, and
// what it fetches is the file, or its matching lines.
func TestDownloadButtonFetchesTheView(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "INFO a order\nERROR b order\nERROR c payment\nWARN d order\n")
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(`document.getElementById('held').textContent === '4 lines'`, "the log")
	p.waitFor(`!document.getElementById('download').hidden`, "the Download button")
	get := func(what string) fetched {
		t.Helper()
		href := eval[string](p, `document.getElementById('download').href`)
		f := eval[fetched](p, fetchJS(href))
		if f.Status != http.StatusOK {
			t.Fatalf("%s: GET %s: %d %s", what, href, f.Status, f.Body)
		}
		return f
	}
	if f := get("unfiltered"); f.Body != "INFO a order\nERROR b order\nERROR c payment\nWARN d order\n" {
		t.Errorf("download of the whole file got %q", f.Body)
	}
	if name := eval[string](p, `document.getElementById('download').getAttribute('download')`); name != "app.log" {
		t.Errorf("download name %q", name)
	}
	p.typeInto("#filter", "order")
	p.waitFor(`document.getElementById('held').textContent.startsWith('3 matches')`, "the filter")
	if f := get("filtered"); f.Body != "INFO a order\nERROR b order\nWARN d order\n" {
		t.Errorf("download with q=order got %q", f.Body)
	}
	p.click(`#levels [data-level=error]`)
	p.waitFor(`document.getElementById('held').textContent.startsWith('1 match ')`, "the level filter")
	if f := get("filtered by level"); f.Body != "ERROR b order\n" {
		t.Errorf("download with q=order&level=error got %q", f.Body)
	}
	if name := eval[string](p, `document.getElementById('download').getAttribute('download')`); name != "app.log.filtered.txt" {
		t.Errorf("filtered download name %q", name)
	}
}

// TestMergedViewScrollsBack: a group's merged view pages back too: older
// lines of every host, merged by their own time, each once, up to the
// first line of each file.
func TestMergedViewScrollsBack(t *testing.T) {
	s := fleetServer(t) // replay 100
	base := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	var one, two strings.Builder
	var want []string
	for i := 0; i < 600; i++ {
		ts := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		line := fmt.Sprintf("%s INFO event %d", ts, i)
		if i%2 == 0 {
			one.WriteString(line + "\n")
		} else {
			two.WriteString(line + "\n")
		}
		want = append(want, line)
	}
	sourcetest.Append(t, s.path("web-01", "app.log"), one.String())
	sourcetest.Append(t, s.path("web-02", "app.log"), two.String())
	p := newPage(t, 1280, 800)
	openGroupView(t, p, s, "group=web&file=/app.log")
	p.waitFor(`!document.getElementById('older').hidden && document.getElementById('older-text').textContent === 'Scroll up for older lines'`, "the history bar")
	for i := 0; i < 20 && eval[string](p, `document.getElementById('older-text').textContent`) != "The beginning of the log"; i++ {
		p.key("g")
		p.wheelUp()
		p.waitFor(`document.getElementById('older').dataset.state !== 'busy'`, "the older request to end")
	}
	p.waitFor(`document.getElementById('older-text').textContent === 'The beginning of the log'`, "the beginning of both files")
	lines, _ := p.allLines()
	for i := range lines {
		lines[i] = strings.TrimPrefix(strings.TrimPrefix(lines[i], "web-01"), "web-02")
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("the merged view holds %d lines (first %q, last %q), want the 600 of both hosts once each, in time order", len(lines), first(lines), last(lines))
	}
}
