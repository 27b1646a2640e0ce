package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/logviewer/logviewer/marks"
	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
)

// rooted serves a directory as if it were the root: every host of a fleet
// then has "/app.log", each with its own content (as web/fleet_test.go).
type rooted struct {
	src *local.Source
	dir string
}

var _ tailer.Source = rooted{}

func (r rooted) List(ctx context.Context) ([]tailer.FileInfo, error) {
	files, err := r.src.List(ctx)
	for i := range files {
		files[i].Path = strings.TrimPrefix(files[i].Path, r.dir)
	}
	return files, err
}
func (r rooted) Check(ctx context.Context, p string) error { return r.src.Check(ctx, r.dir+p) }
func (r rooted) Follow(ctx context.Context, p string, n int, sink tailer.Sink) error {
	return r.src.Follow(ctx, r.dir+p, n, sink)
}

// History reads a file's history, as the local source does (the page pages
// back in a group's view too).
func (r rooted) History(ctx context.Context, p string) (tailer.History, error) {
	return r.src.History(ctx, r.dir+p)
}

// fleetServer serves group "web" of web-01 and web-02, each with its own
// /app.log, and keeps deploy marks.
func fleetServer(t *testing.T) *Server {
	t.Helper()
	st, err := marks.Open("")
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, serverOpts{
		replay: 100, hosts: []string{"web-01", "web-02"}, rooted: true, marks: st,
		groups: map[string][]string{"web": {"web-01", "web-02"}},
	})
}

// hostLinesJS evaluates to the texts of the lines of host drawn now.
func hostLinesJS(host string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#lines .ln[data-host=%s] .tx')].map(e => e.textContent)`, jsString(host))
}

// chipJS is an expression for host's chip.
func chipJS(host string) string {
	return fmt.Sprintf(`document.querySelector('#chips .chip[data-host=%s]')`, jsString(host))
}

// openGroupView opens the page at query and waits for both hosts' chips to
// say following.
func openGroupView(t *testing.T, p *Page, s *Server, query string) {
	t.Helper()
	p.open(s.URL(query))
	p.waitFor(chipJS("web-01")+` !== null && `+chipJS("web-01")+`.dataset.state === 'following' && `+chipJS("web-02")+`.dataset.state === 'following'`, "both hosts' chips following")
}

func pageQuery(t *testing.T, p *Page) url.Values {
	t.Helper()
	v, err := url.ParseQuery(strings.TrimPrefix(eval[string](p, `location.search`), "?"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGroupPickerAndMergedViewLive(t *testing.T) {
	s := fleetServer(t)
	appendLines(t, s.path("web-01", "app.log"), "one", 1, 3)
	appendLines(t, s.path("web-02", "app.log"), "two", 1, 3)
	sourcetest.Append(t, s.path("web-01", "only.log"), "only on web-01\n")

	p := newPage(t, 1280, 800)
	p.open(s.URL(""))

	// The picker offers the group, apart from the hosts, with its health.
	type opt struct{ Text, Value, Group, Title string }
	grp := eval[opt](p, `(() => { const o = document.querySelector('#host optgroup option.grp'); return o && {Text: o.textContent, Value: o.value, Group: o.parentElement.label, Title: o.title}; })()`)
	if grp.Value != "group:web" || !strings.Contains(grp.Text, "web (2 hosts, 2 healthy)") || !strings.HasPrefix(grp.Group, "Groups") || !strings.Contains(grp.Title, "web-01, web-02") {
		t.Errorf("group option %+v, want group:web with its members and health, in the Groups section", grp)
	}
	if hosts := eval[[]string](p, `[...document.querySelectorAll('#host optgroup[label=Hosts] option')].map(o => o.value)`); !slices.Equal(hosts, []string{"web-01", "web-02"}) {
		t.Errorf("host options %q, want web-01 and web-02 in their own section", hosts)
	}

	// Picking the group lists the union of its members' files.
	p.do(chromedp.SetValue(chromedp.CSS("#host"), "group:web"))
	eval[bool](p, `document.getElementById('host').dispatchEvent(new Event('change', {bubbles: true}))`)
	p.waitFor(`document.querySelectorAll('#file-list [role=option]').length === 2`, "the group's two files listed")
	type item struct{ Name, Meta, Title string }
	items := eval[[]item](p, `[...document.querySelectorAll('#file-list [role=option]')].map(o => ({Name: o.querySelector('.opt-name').textContent, Meta: o.querySelector('.opt-meta').textContent, Title: o.title}))`)
	got := map[string]item{}
	for _, it := range items {
		got[it.Name] = it
	}
	if it := got["/app.log"]; !strings.HasPrefix(it.Meta, "on 2/2 hosts · ") || !strings.Contains(it.Title, "every host") {
		t.Errorf("/app.log shows %+v, want on 2/2 hosts", it)
	}
	if it := got["/only.log"]; !strings.HasPrefix(it.Meta, "on 1/2 hosts · ") || it.Title != "Missing on web-02" {
		t.Errorf("/only.log shows %+v, want on 1/2 hosts, missing on web-02", it)
	}
	if lbl := text(p, "host-lbl"); lbl != "Group" {
		t.Errorf("the picker's label says %q once a group is chosen, want Group", lbl)
	}

	p.typeInto("#file", "app")
	p.waitFor(`document.querySelectorAll('#file-list [role=option]').length === 1`, "typing narrows the file list")
	p.click("#file-list [role=option]")

	// The merged view: every line tagged with its host, both hosts live.
	p.waitFor(`JSON.stringify(`+hostLinesJS("web-01")+`) === '["one 1","one 2","one 3"]' && JSON.stringify(`+hostLinesJS("web-02")+`) === '["two 1","two 2","two 3"]'`, "the replay of both hosts")
	appendLines(t, s.path("web-02", "app.log"), "two", 4, 4)
	p.waitFor(lastVisibleIs("two 4"), "a live line of web-02")
	appendLines(t, s.path("web-01", "app.log"), "one", 4, 4)
	p.waitFor(lastVisibleIs("one 4"), "a live line of web-01")
	tags := eval[[]string](p, `[...document.querySelectorAll('#lines .ln:not(.sp)')].map(e => e.firstElementChild.nextElementSibling.className + '=' + e.querySelector('.ht').textContent + '|' + e.dataset.host)`)
	for _, tag := range tags {
		cls, rest, _ := strings.Cut(tag, "=")
		name, host, _ := strings.Cut(rest, "|")
		if !regexp.MustCompile(`^ht hc\d$`).MatchString(cls) || name != host {
			t.Errorf("line tag %q, want a coloured tag with the line's host first", tag)
		}
	}
	// One colour per host, the same on every line of it.
	colours := eval[map[string][]string](p, `(() => { const m = {}; for (const e of document.querySelectorAll('#lines .ht')) { (m[e.textContent] ||= []); if (!m[e.textContent].includes(e.className)) m[e.textContent].push(e.className); } return m; })()`)
	for h, cs := range colours {
		if len(cs) != 1 {
			t.Errorf("host %s is drawn in %d colours (%q), want one", h, len(cs), cs)
		}
	}

	// Each palette colour is readable on its tag in both themes.
	for _, theme := range []string{"light", "dark"} {
		ratios := eval[[]float64](p, fmt.Sprintf(`(() => {
			document.documentElement.dataset.theme = %s;
			const rgb = (s) => s.match(/[\d.]+/g).slice(0, 3).map(Number);
			const lum = (c) => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
			const out = [];
			for (let i = 0; i < 10; i++) {
				const e = document.createElement('span');
				e.className = 'ht hc' + i;
				e.textContent = 'web-01';
				document.getElementById('lines').append(e);
				const cs = getComputedStyle(e);
				const [a, b] = [lum(rgb(cs.color)), lum(rgb(cs.backgroundColor))].sort((x, y) => y - x);
				out.push((a + 0.05) / (b + 0.05));
				e.remove();
			}
			return out;
		})()`, jsString(theme)))
		for i, r := range ratios {
			if r < 4.5 {
				t.Errorf("%s theme: host colour hc%d has contrast %.2f:1, want at least 4.5:1", theme, i, r)
			}
		}
	}

	// A chip per host, following, with its lines/s.
	p.waitFor(chipJS("web-01")+`.dataset.state === 'following' && `+chipJS("web-02")+`.dataset.state === 'following'`, "both chips following")
	if r := eval[string](p, chipJS("web-01")+`.querySelector('.crate').textContent`); !regexp.MustCompile(`^[\d.]+/s$`).MatchString(r) {
		t.Errorf("web-01's chip rate %q, want N/s", r)
	}
	if src := text(p, "source-text"); src != "2/2 hosts following" {
		t.Errorf("status bar source %q, want 2/2 hosts following", src)
	}
	q := pageQuery(t, p)
	if q.Get("group") != "web" || q.Get("file") != "/app.log" || q.Has("host") {
		t.Errorf("page URL %v, want group=web&file=/app.log", q)
	}
}

func TestGroupChipsHideSoloAndSharedURL(t *testing.T) {
	s := fleetServer(t)
	appendLines(t, s.path("web-01", "app.log"), "one", 1, 3)
	appendLines(t, s.path("web-02", "app.log"), "two", 1, 3)

	p := newPage(t, 1280, 800)
	openGroupView(t, p, s, "group=web&file=/app.log")
	p.waitFor(`document.querySelectorAll('#lines .ln:not(.sp)').length === 6`, "the six lines of both hosts")

	// Click hides a host's lines (held, not drawn), and says so in the URL.
	p.click(`#chips .chip[data-host="web-02"] .chip-main`)
	p.waitFor(hostLinesJS("web-02")+`.length === 0 && `+hostLinesJS("web-01")+`.length === 3`, "web-02's lines hidden")
	if q := pageQuery(t, p); q.Get("hide") != "web-02" {
		t.Errorf("after hiding web-02 the URL is %v, want hide=web-02", q)
	}
	if pressed := eval[string](p, chipJS("web-02")+`.querySelector('.chip-main').getAttribute('aria-pressed')`); pressed != "false" {
		t.Errorf("web-02's chip aria-pressed=%s while hidden", pressed)
	}
	// A line of the hidden host arrives and is held, not shown; one of the other host shows.
	appendLines(t, s.path("web-02", "app.log"), "two", 4, 4)
	appendLines(t, s.path("web-01", "app.log"), "one", 4, 4)
	p.waitFor(lastVisibleIs("one 4"), "web-01's live line")
	if n := eval[int](p, hostLinesJS("web-02")+`.length`); n != 0 {
		t.Errorf("%d lines of hidden web-02 drawn", n)
	}
	p.waitFor(`document.getElementById('held').textContent === '8 lines'`, "web-02's new line held while hidden")

	// The shared URL, opened in a fresh browser context, shows the same view.
	shared := eval[string](p, `location.href`)
	p2 := newPage(t, 1280, 800)
	p2.open(shared)
	p2.waitFor(hostLinesJS("web-01")+`.length === 4 && `+chipJS("web-02")+` !== null && `+chipJS("web-02")+`.classList.contains('off')`, "the shared view: web-01's lines, web-02 hidden")
	if n := eval[int](p2, hostLinesJS("web-02")+`.length`); n != 0 {
		t.Errorf("the shared view draws %d lines of hidden web-02", n)
	}
	if v, f := eval[string](p2, `document.getElementById('host').value`), eval[string](p2, `document.getElementById('file').value`); v != "group:web" || f != "/app.log" {
		t.Errorf("the shared view picked %q, %q; want group:web, /app.log", v, f)
	}
	p2.waitFor(`document.getElementById('held').textContent === '8 lines'`, "the shared view holds both hosts' lines")

	// Clicking again shows web-02's lines, including the one that came while hidden.
	p.click(`#chips .chip[data-host="web-02"] .chip-main`)
	p.waitFor(`JSON.stringify(`+hostLinesJS("web-02")+`) === '["two 1","two 2","two 3","two 4"]'`, "web-02's lines shown again")
	if q := pageQuery(t, p); q.Has("hide") || q.Has("solo") {
		t.Errorf("every host shown, yet the URL is %v", q)
	}

	// Solo by its button: only that host.
	p.click(`#chips .chip[data-host="web-02"] .chip-solo`)
	p.waitFor(hostLinesJS("web-01")+`.length === 0 && `+hostLinesJS("web-02")+`.length === 4`, "only web-02 shown")
	if q := pageQuery(t, p); q.Get("solo") != "web-02" || q.Has("hide") {
		t.Errorf("solo web-02, URL %v", q)
	}
	if lbl := eval[string](p, chipJS("web-02")+`.querySelector('.chip-solo').getAttribute('aria-label')`); !strings.Contains(lbl, "Show every host") {
		t.Errorf("the solo button of the soloed host is labelled %q", lbl)
	}
	// Solo by double-click on the other chip.
	p.do(chromedp.DoubleClick(chromedp.CSS(`#chips .chip[data-host="web-01"] .chip-main`)))
	p.waitFor(hostLinesJS("web-01")+`.length === 4 && `+hostLinesJS("web-02")+`.length === 0`, "double-click: only web-01 shown")
	if q := pageQuery(t, p); q.Get("solo") != "web-01" {
		t.Errorf("double-clicked web-01, URL %v", q)
	}
	// "Show all hosts" undoes it.
	p.click(`#chips .chips-all`)
	p.waitFor(hostLinesJS("web-01")+`.length === 4 && `+hostLinesJS("web-02")+`.length === 4`, "every host shown again")

	// The server's filter matches the host too; the view starts over with what matches.
	p.typeInto("#filter", "web-02")
	p.waitFor(hostLinesJS("web-01")+`.length === 0 && JSON.stringify(`+hostLinesJS("web-02")+`) === '["two 1","two 2","two 3","two 4"]'`, "filtered to web-02's lines")
	appendLines(t, s.path("web-02", "app.log"), "two", 5, 5)
	appendLines(t, s.path("web-01", "app.log"), "one", 5, 5)
	p.waitFor(lastVisibleIs("two 5"), "web-02's live line through the filter")
	if q := pageQuery(t, p); q.Get("q") != "web-02" || q.Get("group") != "web" {
		t.Errorf("filtered group view, URL %v", q)
	}
}

// postMark posts a deploy mark as a CI job does and returns its id.
func postMark(t *testing.T, s *Server, body string) string {
	t.Helper()
	r, err := http.Post(s.URL("")+"api/marks", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var out struct{ ID, Error string }
	if err := json.NewDecoder(r.Body).Decode(&out); err != nil || r.StatusCode != http.StatusOK || out.ID == "" {
		t.Fatalf("POST /api/marks: %d %+v %v", r.StatusCode, out, err)
	}
	return out.ID
}

func TestDeployMarkDividerLiveAndOpenedAt(t *testing.T) {
	s := fleetServer(t)
	appendLines(t, s.path("web-01", "app.log"), "before one", 1, 40)
	appendLines(t, s.path("web-02", "app.log"), "before two", 1, 40)

	p := newPage(t, 1280, 800)
	openGroupView(t, p, s, "group=web&file=/app.log")
	p.waitFor(lastVisibleIs("before two 40")+` || `+lastVisibleIs("before one 40"), "the replay")

	id := postMark(t, s, `{"text":"deploy v1.2.3","group":"web"}`)
	divider := `[...document.querySelectorAll('#lines .ln.deploy')]`
	p.waitFor(divider+`.length === 1 && /^⚑ deploy v1\.2\.3 · by anonymous · \d\d:\d\d:\d\d$/.test(`+divider+`[0].textContent)`, "the mark as one divider, with who posted it")
	if full := eval[bool](p, `(() => { const d = document.querySelector('#lines .ln.deploy'), l = document.getElementById('log'); return d.getBoundingClientRect().width >= l.clientWidth - 2; })()`); !full {
		t.Error("the deploy divider does not span the view")
	}
	appendLines(t, s.path("web-01", "app.log"), "after one", 1, 40)
	appendLines(t, s.path("web-02", "app.log"), "after two", 1, 40)
	p.waitFor(`[...document.querySelectorAll('#lines .ln:not(.sp) .tx')].filter(e => e.textContent.startsWith('after')).length === 80`, "the lines after the mark")

	// A view opened at the mark starts there: the divider at the top, not following.
	p2 := newPage(t, 1280, 800)
	openGroupView(t, p2, s, "group=web&file=/app.log&from=mark:"+url.QueryEscape(id))
	p2.waitFor(`(() => { const d = document.querySelector('#lines .ln.deploy'); if (!d) return false; const l = document.getElementById('log').getBoundingClientRect(), r = d.getBoundingClientRect(); return r.top >= l.top - 1 && r.top < l.top + 20; })()`, "the divider at the top of the view")
	if n := eval[int](p2, `[...document.querySelectorAll('#lines .ln:not(.sp) .tx')].filter(e => e.textContent.startsWith('before')).length`); n != 0 {
		t.Errorf("the view opened at the mark shows %d lines from before it", n)
	}
	if eval[bool](p2, lastVisibleIs("after two 40")+` || `+lastVisibleIs("after one 40")) {
		t.Error("the view opened at the mark scrolled to the bottom")
	}
	if q := pageQuery(t, p2); q.Get("from") != "mark:"+id {
		t.Errorf("the page URL %v lost from=mark:%s", q, id)
	}
}

func TestMergedViewReconnectResumesByVector(t *testing.T) {
	s := fleetServer(t)
	appendLines(t, s.path("web-01", "app.log"), "one", 1, 20)
	appendLines(t, s.path("web-02", "app.log"), "two", 1, 20)

	p := newPage(t, 1280, 800)
	// Keep the page's WebSockets within reach, to cut one as a network does.
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
			const WS = window.WebSocket;
			window.__ws = []; window.__wsURLs = [];
			window.WebSocket = function (u, p) { const ws = new WS(u, p); window.__ws.push(ws); window.__wsURLs.push(String(u)); return ws; };
			window.WebSocket.prototype = WS.prototype;
			Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
		})()`})
		return err
	}))
	openGroupView(t, p, s, "group=web&file=/app.log")
	p.waitFor(`document.querySelectorAll('#lines .ln:not(.sp)').length === 40`, "both hosts' 20 lines")

	eval[bool](p, `(window.__ws[window.__ws.length - 1].close(), true)`)
	appendLines(t, s.path("web-01", "app.log"), "one", 21, 30)
	appendLines(t, s.path("web-02", "app.log"), "two", 21, 25)
	p.waitFor(`window.__wsURLs.length === 2 && document.getElementById('conn').dataset.state === 'live'`, "the view reconnected")
	u, err := url.Parse(eval[string](p, `window.__wsURLs[1]`))
	if err != nil {
		t.Fatal(err)
	}
	since := strings.Split(u.Query().Get("since"), ",")
	slices.Sort(since)
	if !slices.Equal(since, []string{"web-01:20", "web-02:20"}) || len(strings.Split(u.Query().Get("log"), ",")) != 2 {
		t.Errorf("reconnected with %s, want since=web-01:20,web-02:20 and both logs", u.RawQuery)
	}
	p.waitFor(`document.querySelectorAll('#lines .ln:not(.sp)').length >= 55`, "the lines written while cut off")
	appendLines(t, s.path("web-02", "app.log"), "two", 26, 26)
	p.waitFor(lastVisibleIs("two 26"), "a live line after the reconnect")

	lines, specials := p.allLines()
	for _, h := range []struct {
		prefix string
		n      int
	}{{"one", 30}, {"two", 26}} {
		var got []string
		for _, l := range lines {
			if strings.HasPrefix(l, h.prefix+" ") {
				got = append(got, l)
			}
		}
		if want := numbered(h.prefix, 1, h.n); !slices.Equal(got, want) {
			t.Errorf("%s lines after the reconnect: %s", h.prefix, diff(got, want))
		}
	}
	if len(specials) != 0 {
		t.Errorf("the resumed view noted %q, want nothing (it resumed exactly)", specials)
	}
}

// cuttable wraps a host's source so that a test can report the host's
// state as a remote source does when its connection drops and comes back.
type cuttable struct {
	tailer.Source
	mu    sync.Mutex
	sinks []tailer.Sink
}

// lockedSink passes a Source's calls on one at a time with the test's.
type lockedSink struct {
	c    *cuttable
	sink tailer.Sink
}

func (l lockedSink) Lines(lines []tailer.Line) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	l.sink.Lines(lines)
}

func (l lockedSink) State(s tailer.State) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	l.sink.State(s)
}

func (c *cuttable) Follow(ctx context.Context, p string, n int, sink tailer.Sink) error {
	c.mu.Lock()
	c.sinks = append(c.sinks, sink)
	c.mu.Unlock()
	return c.Source.Follow(ctx, p, n, lockedSink{c, sink})
}

// state reports s to every log the host follows.
func (c *cuttable) state(s tailer.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sink := range c.sinks {
		sink.State(s)
	}
}

func TestGroupChipShowsEachHostsState(t *testing.T) {
	st, err := marks.Open("")
	if err != nil {
		t.Fatal(err)
	}
	cut := map[string]*cuttable{}
	s := startServer(t, serverOpts{
		replay: 100, hosts: []string{"web-01", "web-02"}, rooted: true, marks: st,
		groups: map[string][]string{"web": {"web-01", "web-02"}},
		wrap: func(h string, src tailer.Source) tailer.Source {
			cut[h] = &cuttable{Source: src}
			return cut[h]
		},
	})
	appendLines(t, s.path("web-01", "app.log"), "one", 1, 3)
	appendLines(t, s.path("web-02", "app.log"), "two", 1, 3)
	sourcetest.Append(t, s.path("web-01", "only.log"), "only on web-01\n")

	p := newPage(t, 1280, 800)
	openGroupView(t, p, s, "group=web&file=/app.log")
	// web-02's connection drops: its chip says so, with the reason; web-01 flows on.
	cut["web-02"].state(tailer.State{Code: tailer.StateReconnecting, Msg: "ssh: connection reset by peer"})
	p.waitFor(chipJS("web-02")+`.dataset.state === 'reconnecting'`, "web-02's chip reconnecting")
	type chip struct{ Text, Title, Border, Dot string }
	look := func(h string) chip {
		return eval[chip](p, `(() => { const c = `+chipJS(h)+`; return {Text: c.querySelector('.cst').textContent, Title: c.querySelector('.chip-main').title, Border: getComputedStyle(c).borderTopStyle + ' ' + getComputedStyle(c).borderTopColor, Dot: getComputedStyle(c.querySelector('.dot')).backgroundColor}; })()`)
	}
	down, up := look("web-02"), look("web-01")
	if down.Text != "reconnecting" || !strings.Contains(down.Title, "ssh: connection reset by peer") {
		t.Errorf("web-02's chip %+v, want it to say reconnecting, with the reason as its title", down)
	}
	if down.Border == up.Border || down.Dot == up.Dot {
		t.Errorf("a reconnecting chip (%+v) looks like a following one (%+v)", down, up)
	}
	if src := text(p, "source-text"); src != "1/2 hosts following · 1 host reconnecting" {
		t.Errorf("status bar source %q while web-02 reconnects", src)
	}
	appendLines(t, s.path("web-01", "app.log"), "one", 4, 4)
	p.waitFor(lastVisibleIs("one 4"), "web-01's lines flow while web-02 reconnects")
	cut["web-02"].state(tailer.State{Code: tailer.StateFollowing})
	p.waitFor(chipJS("web-02")+`.dataset.state === 'following' && `+chipJS("web-02")+`.querySelector('.cst').hidden`, "web-02's chip following again")

	// A member without the file: its chip is an error, saying why.
	p.open(s.URL("group=web&file=/only.log"))
	p.waitFor(chipJS("web-02")+` !== null && `+chipJS("web-02")+`.dataset.state === 'error'`, "web-02's chip: error")
	if e := look("web-02"); e.Text != "error" || !strings.Contains(e.Title, "not one of this host's files") || e.Border == up.Border {
		t.Errorf("web-02's chip %+v, want a distinct error with the reason", e)
	}
	p.waitFor(`JSON.stringify(`+hostLinesJS("web-01")+`) === '["only on web-01"]'`, "web-01's line of /only.log")
}
