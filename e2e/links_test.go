package e2e

import (
	"net/url"
	"strings"
	"testing"
)

// TestLineLinkSurvivesRestart (issue 14 item 8): a line's link names its
// place in the file (at=), not the process's seq: after a server restart it
// opens the same line, whether the new ring holds it or only the file's
// history does.
func TestLineLinkSurvivesRestart(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 500)
	p := newPage(t, 1280, 800)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(lastVisibleIs("line 500"), "line 500")
	p.click(`#lines .ln:not(.sp):nth-last-child(5) .gut`) // a line near the bottom
	p.waitFor(`new URLSearchParams(location.search).has('at')`, "at= in the URL")
	linked := eval[string](p, `document.querySelector('#lines .target .tx').textContent`)
	link := eval[string](p, `location.href`)
	if q := eval[string](p, `location.search`); strings.Contains(q, "line=") || strings.Contains(q, "log=") {
		t.Errorf("the link %s names a seq or a log session", q)
	}
	// An older line, which the ring will not hold after the restart.
	p.key("g")
	p.wheelUp()
	p.waitFor(`document.getElementById('held').textContent === '500 lines'`, "older lines")
	p.key("g")
	old := eval[string](p, `(() => { const e = [...document.querySelectorAll('#lines .ln')].find(e => e.querySelector('.tx').textContent === 'line 42'); e.querySelector('.gut').click(); return location.href; })()`)

	s.restart()
	for _, c := range []struct{ url, want string }{{link, linked}, {old, "line 42"}} {
		q := newPage(t, 1024, 700)
		q.open(c.url)
		q.waitFor(`document.querySelector('#lines .target') !== null`, "the linked line marked: "+c.want)
		if got := eval[string](q, `document.querySelector('#lines .target .tx').textContent`); got != c.want {
			t.Errorf("after a restart the link opens %q, want %q", got, c.want)
		}
		q.waitFor(`(() => { const r = document.querySelector('#lines .target').getBoundingClientRect(), b = document.getElementById('log').getBoundingClientRect(); return r.top >= b.top && r.bottom <= b.bottom; })()`, "the linked line in view")
		if n := eval[int](q, `document.querySelectorAll('#lines .ln.gap').length`); n != 0 {
			t.Errorf("the link's view has %d warnings", n)
		}
	}
}

// TestBadShareLinkKeepsItsURL (issue 14 item 8): a link to a host or a file
// the server does not have keeps its parameters and says what is wrong, for
// good: no silent rewrite, no reconnect countdown.
func TestBadShareLinkKeepsItsURL(t *testing.T) {
	s := startServer(t, serverOpts{hosts: []string{"local", "web-2"}})
	sourcetest := s.path("local", "app.log")
	appendLines(t, sourcetest, "line", 1, 3)
	for _, c := range []struct {
		name  string
		query url.Values
		want  string
	}{
		{"unknown host", url.Values{"host": {"web-1"}, "file": {"/srv/app.log"}, "q": {"boom"}}, "This link names a host “web-1”, but the server has no host of that name: it may have been renamed or removed."},
		{"unknown file", url.Values{"host": {"local"}, "file": {s.path("local", "gone.log")}, "q": {"boom"}}, "is not one of the files host local serves: it may have been renamed, rotated away or removed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPage(t, 1024, 700)
			u := s.URL(c.query.Encode())
			p.open(u)
			p.waitFor(`!document.getElementById('empty').hidden && document.getElementById('empty').textContent.includes(`+jsString(c.want)+`)`, "the reason")
			if got := eval[string](p, `location.search`); !sameQuery(got, c.query) {
				t.Errorf("the page rewrote its URL's query %s to %s", c.query.Encode(), got)
			}
			conn := eval[string](p, `document.getElementById('conn-text').textContent`)
			if strings.Contains(conn, "reconnecting") {
				t.Errorf("the bad link counts down to a reconnect: %q", conn)
			}
			if !eval[bool](p, `document.getElementById('toast').hidden`) {
				t.Errorf("the reason is a passing toast, not a lasting message")
			}
		})
	}
}

// sameQuery reports whether a location.search holds exactly the parameters q.
func sameQuery(search string, q url.Values) bool {
	got, err := url.ParseQuery(strings.TrimPrefix(search, "?"))
	return err == nil && got.Encode() == q.Encode()
}
