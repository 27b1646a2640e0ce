package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
)

// TestOfflineBannerAndRetryNow (issue 14 item 4): the server dies and within
// a second a banner over the log says so, announced (role=alert), with
// "Retry now"; the source chip stops saying "following"; a server that
// comes back at once is reconnected to within 2 s; when the retries have
// slowed down, "Retry now" reconnects at once.
func TestOfflineBannerAndRetryNow(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 10)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(`document.getElementById('conn').dataset.state === 'live' && document.getElementById('source-text').textContent === 'following'`, "following")
	if !eval[bool](p, `document.getElementById('offline').hidden && document.getElementById('conn').disabled`) {
		t.Errorf("connected, yet the offline banner shows or the connection button is focusable")
	}

	// A restart: back within 2 s (the first retries are fast).
	t0 := time.Now()
	s.restart()
	p.waitForWithin(`document.getElementById('conn').dataset.state !== 'live' || !document.getElementById('offline').hidden`, "the loss noticed", 2*time.Second)
	p.waitForWithin(`document.getElementById('conn').dataset.state === 'live' && document.getElementById('offline').hidden`, "connected again", 3*time.Second)
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("reconnecting after a restart took %s, want ≤ 2 s", d)
	} else {
		t.Logf("reconnected %s after the restart", d.Round(time.Millisecond))
	}

	// The server dies: the banner within a second.
	t0 = time.Now()
	s.stop()
	p.waitForWithin(`!document.getElementById('offline').hidden`, "the offline banner", time.Second)
	if d := time.Since(t0); d > time.Second {
		t.Errorf("the offline banner came %s after the server died, want ≤ 1 s", d)
	} else {
		t.Logf("offline banner %s after the server died", d.Round(time.Millisecond))
	}
	msg := eval[string](p, `document.getElementById('offline-text').textContent`)
	if !strings.Contains(msg, "Connection to the server lost") || eval[string](p, `document.getElementById('offline-text').getAttribute('role')`) != "alert" {
		t.Errorf("banner %q is not an alert saying the connection was lost", msg)
	}
	if src := eval[string](p, `document.getElementById('source-text').textContent`); strings.Contains(src, "following") {
		t.Errorf("disconnected, the source chip says %q", src)
	}
	// Let the retries slow down (each fails), then ask by hand.
	p.waitFor(`/reconnecting in ([3-9]|10)s/.test(document.getElementById('conn-text').textContent)`, "the retries to slow down")
	p.waitFor(`!document.getElementById('retry').hidden`, "Retry now")
	ln, err := listenAgain(s)
	if err != nil {
		t.Fatal(err)
	}
	s.serve(ln)
	t0 = time.Now()
	p.click("#retry")
	p.waitForWithin(`document.getElementById('conn').dataset.state === 'live' && document.getElementById('offline').hidden`, "Retry now to reconnect", 2*time.Second)
	t.Logf("Retry now reconnected in %s", time.Since(t0).Round(time.Millisecond))
	p.waitFor(`document.getElementById('source-text').textContent === 'following'`, "following again")
	appendLines(t, app, "line", 11, 11)
	p.waitFor(lastVisibleIs("line 11"), "live lines again")
}

// TestRateCountsOnlyLiveLinesAndResets (issue 14 item 5): opening a log
// nobody watched sends its backlog as replay, which the rate does not count;
// live lines count; another log starts from zero.
func TestRateCountsOnlyLiveLinesAndResets(t *testing.T) {
	s := startServer(t, serverOpts{replay: 500})
	app := s.path("local", "app.log")
	other := s.path("local", "other.log")
	appendLines(t, app, "old", 1, 500)
	sourcetest.Append(t, other, "other 1\n")
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(`document.getElementById('held').textContent === '500 lines'`, "the backlog")
	// Two rate ticks after the backlog arrived: it would show by now.
	eval[bool](p, `(window.__t0 = Date.now(), true)`)
	p.waitFor(`Date.now() - window.__t0 > 2100`, "two ticks of the rate")
	if got := eval[string](p, `document.getElementById('spark').title + ' | ' + document.getElementById('rate').textContent`); got != "lines per second over the last minute (peak 0/s) | 0/s" {
		t.Errorf("after opening a 500-line backlog the rate says %q: the backlog counted as traffic", got)
	}
	for i := 1; i <= 5; i++ {
		appendLines(t, app, fmt.Sprintf("live%d", i), 1, 40)
	}
	p.waitFor(`document.getElementById('held').textContent === '700 lines'`, "live lines")
	p.waitFor(`/peak [1-9]/.test(document.getElementById('spark').title)`, "the live lines counted")

	// Another log: the rate starts over.
	pickFile(t, p, "local", "other.log")
	p.waitFor(lastVisibleIs("other 1"), "the other log")
	if got := eval[string](p, `document.getElementById('rate').textContent`); got != "0/s" {
		t.Errorf("the other log's rate starts at %q", got)
	}
	eval[bool](p, `(window.__t0 = Date.now(), true)`)
	p.waitFor(`Date.now() - window.__t0 > 1100`, "a tick of the rate")
	if got := eval[string](p, `document.getElementById('spark').title`); !strings.Contains(got, "peak 0/s") {
		t.Errorf("the other log's sparkline kept the first log's traffic: %q", got)
	}
}

// levelLog is a log with a known number of lines of each level.
var levelLog = strings.Join([]string{
	"2026-11-28T08:00:00Z INFO start",
	"2026-11-28T08:00:01Z ERROR db: gone",
	"2026-11-28T08:00:02Z WARN slow",
	`{"level":"error","msg":"webhook failed"}`,
	"2026-11-28T08:00:03Z DEBUG cache",
	`127.0.0.1 - - [28/Nov/2026:08:00:04 +0000] "GET /api HTTP/1.1" 503 12`,
	`127.0.0.1 - - [28/Nov/2026:08:00:05 +0000] "POST /login HTTP/1.1" 404 0`,
	`127.0.0.1 - - [28/Nov/2026:08:00:06 +0000] "GET / HTTP/1.1" 200 512`,
	"--- FAIL: TestPayments (0.02s)",
	"2026-11-28T08:00:07Z INFO order 1 created",
	"2026-11-28T08:00:08Z ERROR order 2 failed",
	"2026-11-28T08:00:09Z TRACE cache hit",
	"plain text",
}, "\n") + "\n"

// TestLevelChipsCountAndFilter (issue 14 item 2): the chips count the
// lines of each level held; one click shows only that level (server-side:
// the URL says level=, a fresh page of the URL shows the same), composed
// with the text filter; HTTP 5xx/4xx and FAIL lines are tinted.
func TestLevelChipsCountAndFilter(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, levelLog)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(`document.getElementById('held').textContent === '13 lines'`, "the log")
	counts := `[...document.querySelectorAll('#levels .lv')].map(b => b.dataset.level + '=' + b.querySelector('b').textContent).join(' ')`
	if got := eval[string](p, counts); got != "error=5 warn=2 info=2 debug=2 other=2" {
		t.Errorf("level chips %q, want error=5 warn=2 info=2 debug=2 other=2", got)
	}
	tint := func(text string) string {
		return eval[string](p, fmt.Sprintf(`[...document.querySelectorAll('#lines .ln')].find(e => e.textContent.includes(%s)).className`, jsString(text)))
	}
	for text, want := range map[string]string{`"GET /api HTTP/1.1" 503`: "l-e", `"POST /login HTTP/1.1" 404`: "l-w", "--- FAIL": "l-e", "ERROR db": "l-e"} {
		if got := tint(text); !strings.Contains(got, want) {
			t.Errorf("line %q has classes %q, want %s", text, got, want)
		}
	}
	appendLines(t, app, "2026-11-28T08:01:00Z ERROR live", 1, 2)
	p.waitFor(`document.querySelector('#levels [data-level=error] b').textContent === '7'`, "live lines counted")

	p.click(`#levels [data-level=error]`)
	p.waitFor(`new URLSearchParams(location.search).get('level') === 'error'`, "level=error in the URL")
	p.waitFor(`document.getElementById('held').textContent.startsWith('7 matches')`, "only the errors")
	if got := eval[string](p, counts); got != "error=7 warn=0 info=0 debug=0 other=0" {
		t.Errorf("with the error level the chips say %q", got)
	}
	if got := eval[string](p, `document.querySelector('#levels [data-level=error]').getAttribute('aria-pressed')`); got != "true" {
		t.Errorf("the error chip is not pressed: %q", got)
	}
	p.typeInto("#filter", "order")
	p.waitFor(`document.getElementById('held').textContent.startsWith('1 match ')`, "errors about orders")
	if got := eval[[]string](p, shownJS); len(got) != 1 || got[0] != "2026-11-28T08:00:08Z ERROR order 2 failed" {
		t.Errorf("level error + text order shows %q", got)
	}
	// The URL reproduces it.
	q := newPage(t, 1024, 700)
	q.open(eval[string](p, `location.href`))
	q.waitFor(`document.getElementById('held').textContent.startsWith('1 match ')`, "the same view from the URL")
	if got := eval[string](q, `document.querySelector('#levels [data-level=error]').getAttribute('aria-pressed')`); got != "true" {
		t.Errorf("the URL's level is not shown pressed: %q", got)
	}
	// Click again: every level.
	p.click(`#levels [data-level=error]`)
	p.waitFor(`!new URLSearchParams(location.search).has('level') && document.getElementById('held').textContent.startsWith('2 matches')`, "every level of order lines")
}

// unreachable is a remote host that cannot be reached: listing fails, and
// the host reports the error as its state.
type unreachable struct{ tailer.Source }

const unreachableMsg = "dial tcp 10.9.9.9:22: connect: connection refused"

func (unreachable) List(context.Context) ([]tailer.FileInfo, error) {
	return nil, errors.New(unreachableMsg)
}

func (unreachable) HostState() tailer.State {
	return tailer.State{Code: tailer.StateError, Msg: unreachableMsg}
}

func (unreachable) Reconnects() uint64 { return 0 }

// TestUnreachableHostSaysSoOnce (issue 14 item 4): a host that cannot be
// reached is marked in the host list (its error in the option's title) and,
// chosen, the main area says why, once, instead of "Choose a file"; the
// connection status is not an error (no view was refused).
func TestUnreachableHostSaysSoOnce(t *testing.T) {
	s := startServer(t, serverOpts{hosts: []string{"local", "web-9"}, wrap: func(h string, src tailer.Source) tailer.Source {
		if h == "web-9" {
			return unreachable{src}
		}
		return src
	}})
	p := newPage(t, 1280, 800)
	p.open(s.URL(""))
	opt := `[...document.querySelectorAll('#host option')].find(o => o.value === 'web-9')`
	if got := eval[string](p, opt+`.textContent + ' | ' + `+opt+`.title`); got != "web-9 — unreachable | web-9: "+unreachableMsg {
		t.Errorf("host option %q", got)
	}
	p.do(chromedp.SetValue(chromedp.CSS("#host"), "web-9"))
	eval[bool](p, `document.getElementById('host').dispatchEvent(new Event('change', {bubbles: true}))`)
	p.waitFor(`document.getElementById('empty').textContent.startsWith('Host web-9 cannot be reached: ')`, "the main area saying why")
	if n := eval[int](p, fmt.Sprintf(`document.body.innerText.split(%s).length - 1`, jsString(unreachableMsg))); n != 1 {
		t.Errorf("the error is shown %d times on the page, want once", n)
	}
	if st := eval[string](p, `document.getElementById('conn').dataset.state`); st == "error" {
		t.Errorf("the connection status says error for a host that was only chosen")
	}
}

// TestSparklineCountsErrors (issue 14 item 2): live error lines are counted
// apart in the sparkline (its title says how many; bars in the error colour).
func TestSparklineCountsErrors(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "2026-11-28T08:00:00Z ERROR old, replayed\n")
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(`document.getElementById('held').textContent === '1 line'`, "the replay")
	sourcetest.Append(t, app, "2026-11-28T08:00:01Z ERROR a\n2026-11-28T08:00:02Z INFO b\n2026-11-28T08:00:03Z ERROR c\njava.lang.IllegalStateException: x\n")
	p.waitFor(`/; 2 errors \(in red\)$/.test(document.getElementById('spark').title)`, "two live errors counted (not the replayed one, not the stack line)")
}
