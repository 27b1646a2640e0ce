// Package e2e drives the browser UI in a real headless Chromium against a real
// server (tailer registry, local source, web server on a loopback port).
//
// One Chromium runs for the whole package; each test gets its own browser
// context (fresh storage) and tab. Without Chromium the tests skip, unless
// CI=true, where they fail.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/marks"
	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/tailer"
	"github.com/logviewer/logviewer/web"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

const (
	testTimeout = 60 * time.Second // a whole test, browser included
	waitTimeout = 20 * time.Second // one condition on the page

	rebindName = "evil.example" // the browser resolves it to 127.0.0.1
)

// ---- the browser -------------------------------------------------------------

var browser struct {
	once    sync.Once
	ctx     context.Context // a chromedp context owning the browser process
	cancel  func()
	dataDir string
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	if browser.dataDir != "" {
		_ = os.RemoveAll(browser.dataDir)
	}
	os.Exit(code)
}

// chromiumPath finds the browser: $LOGVIEWER_CHROMIUM, then the usual names.
func chromiumPath() (string, error) {
	if p := os.Getenv("LOGVIEWER_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found (install Debian's chromium package, or set LOGVIEWER_CHROMIUM)")
}

// startBrowser starts the shared Chromium once. It is not bound to any one
// test's context: TestMain ends it.
func startBrowser() (context.Context, error) {
	browser.once.Do(func() {
		path, err := chromiumPath()
		if err != nil {
			browser.err = err
			return
		}
		dir, err := os.MkdirTemp("", "logviewer-e2e-chromium-")
		if err != nil {
			browser.err = err
			return
		}
		browser.dataDir = dir
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.UserDataDir(dir),
			chromedp.Flag("headless", true),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("no-first-run", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-smooth-scrolling", true), // a wheel moves the view at once
			chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
			// A name that resolves to the test server, as an attacker's name
			// does after DNS rebinding; no other name is affected.
			chromedp.Flag("host-resolver-rules", "MAP "+rebindName+" 127.0.0.1"),
			chromedp.WindowSize(1280, 800),
		)
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		// The first Do on bctx starts the browser and ties it to bctx (a
		// derived context would end it when cancelled); the allocator bounds
		// the start with its own timeout.
		if err := chromedp.Do(bctx); err != nil {
			bcancel()
			acancel()
			browser.err = fmt.Errorf("start %s: %w", path, err)
			return
		}
		browser.ctx = bctx
		browser.cancel = func() { bcancel(); acancel() }
	})
	return browser.ctx, browser.err
}

// Page is one tab in its own browser context (storage is not shared).
type Page struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string // exceptions and CSP violations reported by the page
}

// newPage opens a tab of the given size in a fresh browser context. Without
// Chromium it skips the test, or fails it when CI=true.
func newPage(t *testing.T, width, height int) *Page {
	t.Helper()
	bctx, err := startBrowser()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need Chromium: %v", err)
		}
		t.Skipf("skipping browser test: %v", err)
	}
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	ctx, tcancel := context.WithTimeout(ctx, testTimeout)
	p := &Page{t: t, ctx: ctx}
	t.Cleanup(func() {
		tcancel()
		cancel()
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.errors) > 0 {
			t.Errorf("the page reported errors:\n%s", strings.Join(p.errors, "\n"))
		}
	})
	p.do(chromedp.EmulateViewport(int64(width), int64(height)))
	if err := chromedp.Listen(ctx, p.event); err != nil {
		t.Fatal(err)
	}
	go p.console(chromedp.Console(ctx)) // subscribed before the page loads
	return p
}

// event records JavaScript dialogs: the UI never opens one, so a dialog
// means log text ran as script (alert(1)).
func (p *Page) event(ev any) {
	if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
		p.mu.Lock()
		p.errors = append(p.errors, fmt.Sprintf("a JavaScript %s dialog opened: %q", d.Type, d.Message))
		p.mu.Unlock()
	}
}

// console records uncaught exceptions and Content Security Policy violations;
// failed connections while a server restarts are expected and ignored.
func (p *Page) console(msgs iter.Seq2[chromedp.ConsoleMessage, error]) {
	for m, err := range msgs {
		if err != nil {
			return
		}
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || (m.Type == chromedp.ConsoleError && m.Source == "") {
			p.mu.Lock()
			p.errors = append(p.errors, m.String())
			p.mu.Unlock()
		}
	}
}

func (p *Page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

// open loads url and waits for the app to have asked for its hosts.
func (p *Page) open(url string) {
	p.t.Helper()
	p.do(chromedp.Navigate(url))
	p.waitFor(`document.querySelector('#host option') !== null && document.querySelector('#host').options[0].textContent !== 'Loading…'`, "the host list")
}

// eval evaluates a JavaScript expression into T.
func eval[T any](p *Page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is truthy, for at most waitTimeout.
func (p *Page) waitFor(cond, what string) {
	p.t.Helper()
	p.waitForWithin(cond, what, waitTimeout)
}

func (p *Page) waitForWithin(cond, what string, d time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		p.t.Fatalf("waiting for %s (%s): %v\npage status: %s", what, cond, err, p.status())
	}
}

// status describes what the page shows, for failure messages.
func (p *Page) status() string {
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[
		'url=' + location.search,
		'conn=' + document.getElementById('conn').textContent.trim(),
		'source=' + document.getElementById('source').textContent.trim(),
		'held=' + document.getElementById('held').textContent,
		'pending=' + document.getElementById('pending').textContent,
		'error=' + document.getElementById('filter-error').textContent,
		'empty=' + (document.getElementById('empty').hidden ? '' : document.getElementById('empty').textContent),
		'last lines=' + JSON.stringify([...document.querySelectorAll('#lines .ln')].slice(-3).map(e => e.textContent)),
	].join(' | ')`))
	if err != nil {
		return err.Error()
	}
	return s
}

func (p *Page) click(sel string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// typeInto focuses sel and types text as key presses.
func (p *Page) typeInto(sel, text string) {
	p.t.Helper()
	p.do(chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible))
}

// key presses keys with the log view focused (page shortcuts).
func (p *Page) key(keys string) {
	p.t.Helper()
	p.do(chromedp.Focus(chromedp.CSS("#log")), pressKeys(keys))
}

// pressKeys types keys as a keyboard does: one keyDown carrying the text,
// then keyUp. (chromedp.KeyEvent sends the text in a separate char event,
// which a keydown handler's preventDefault cannot stop, unlike in a real
// browser.)
func pressKeys(keys string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, r := range keys {
			var down, up input.DispatchKeyEventParams
			for _, k := range kb.Encode(r) {
				switch k.Type {
				case kb.KeyDown:
					down = *k
				case kb.KeyChar:
					down.Text, down.UnmodifiedText = k.Text, k.UnmodifiedText
				case kb.KeyUp:
					up = *k
				}
			}
			for _, ev := range []input.DispatchKeyEventParams{down, up} {
				if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, ev); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029 || r == '<':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// shownJS evaluates to the texts of the line nodes in the DOM (server lines
// only, not markers or notes), in order.
const shownJS = `[...document.querySelectorAll('#lines .ln:not(.sp)')].map(e => e.querySelector('.tx').textContent)`

// visibleJS evaluates to the texts of the lines inside the log's viewport.
const visibleJS = `(() => {
	const box = document.getElementById('log').getBoundingClientRect();
	return [...document.querySelectorAll('#lines .ln:not(.sp)')].filter(e => {
		const r = e.getBoundingClientRect();
		return r.bottom > box.top + 1 && r.top < box.bottom - 1;
	}).map(e => e.querySelector('.tx').textContent);
})()`

// lastVisibleIs is a condition: the last line in the viewport has this text.
func lastVisibleIs(text string) string {
	return fmt.Sprintf(`(() => { const v = %s; return v.length > 0 && v[v.length-1] === %s; })()`, visibleJS, jsString(text))
}

// allLines scrolls the (virtualised) view from top to bottom and returns the
// text of every server line it rendered, in order; markers and notes are
// returned separately. It leaves the view following the bottom.
func (p *Page) allLines() (lines, specials []string) {
	p.t.Helper()
	p.key("g")
	type result struct {
		Lines    []string `json:"lines"`
		Specials []string `json:"specials"`
	}
	r := eval[result](p, `(async () => {
		const log = document.getElementById('log');
		const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
		const seen = new Map();
		await frame();
		for (let guard = 0; guard < 100000; guard++) {
			for (const e of document.querySelectorAll('#lines .ln')) {
				seen.set(Number(e.dataset.n), [e.classList.contains('sp'), e.querySelector('.tx').textContent]);
			}
			if (log.scrollTop + log.clientHeight >= log.scrollHeight - 1) break;
			log.scrollTop += Math.max(50, log.clientHeight * 0.8);
			await frame();
		}
		const out = { lines: [], specials: [] };
		for (const [, [sp, text]] of [...seen].sort((a, b) => a[0] - b[0])) (sp ? out.specials : out.lines).push(text);
		return out;
	})()`)
	p.key("G")
	return r.Lines, r.Specials
}

// screenshot saves a PNG of the viewport.
func (p *Page) screenshot(path string) {
	p.t.Helper()
	b, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// ---- requests from the page ----------------------------------------------------

// fetched is what fetchJS resolves to: status 0 when the fetch itself failed.
type fetched struct {
	Status int
	Type   string
	Body   string
}

// fetchJS is an expression: a plain GET of u from the page, as its scripts
// (or an attacker's, on the same origin) can make.
func fetchJS(u string) string {
	return fmt.Sprintf(`fetch(%s, {cache: 'no-store'}).then(
		async (r) => ({Status: r.status, Type: r.headers.get('content-type') || '', Body: await r.text()}),
		(e) => ({Status: 0, Type: '', Body: String(e)}))`, jsString(u))
}

// jsonError is the reason in a {"error": …} body, or "" when there is none.
func (f fetched) jsonError() string {
	var e struct{ Error string }
	if !strings.Contains(f.Type, "json") || json.Unmarshal([]byte(f.Body), &e) != nil {
		return ""
	}
	return e.Error
}

// wsResult is what wsJS resolves to: the first message (the server's hello),
// or the close code of a WebSocket that never got one (-1: neither came).
type wsResult struct {
	First string
	Code  int
}

// wsJS is an expression: open a WebSocket to u from the page and wait for
// its first message or its close, whichever comes first.
func wsJS(u string) string {
	return fmt.Sprintf(`new Promise((resolve) => {
		const ws = new WebSocket(%s);
		const done = (r) => { clearTimeout(t); ws.onmessage = ws.onclose = null; ws.close(); resolve(r); };
		const t = setTimeout(() => done({First: '', Code: -1}), 15000);
		ws.onmessage = (e) => done({First: String(e.data), Code: 0});
		ws.onclose = (e) => done({First: '', Code: e.code});
	})`, jsString(u))
}

// ---- the server ----------------------------------------------------------------

// Server is logviewer's web server over a registry of local hosts, on a
// fixed loopback address so that it can be restarted in place.
type Server struct {
	t     *testing.T
	dir   string
	hosts map[string]string // host name → directory of its *.log files
	opts  serverOpts
	addr  string

	reg  *tailer.Registry
	web  *web.Server
	http *http.Server
	done chan struct{}

	mu    sync.Mutex
	paths []string // every request's path, as the server got it
}

type serverOpts struct {
	replay int
	buffer int64
	hosts  []string // host names; default: "local"
	dir    string   // holds a directory per host; default: t.TempDir()

	auth     *auth.Authenticator // nil: auth mode "none"
	rules    *auth.Rules
	basePath string // "/logs": the page is at /logs/

	groups map[string][]string // group name → member hosts
	// rooted serves each host's directory as "/": every host has
	// "/app.log" (see rooted), as a fleet's hosts do.
	rooted bool
	marks  *marks.Store // deploy marks (nil: none kept)
	// wrap, when set, wraps each host's source (to inject states).
	wrap func(host string, src tailer.Source) tailer.Source
}

func startServer(t *testing.T, o serverOpts) *Server {
	t.Helper()
	if o.replay == 0 {
		o.replay = 1000
	}
	if o.buffer == 0 {
		o.buffer = 8 << 20
	}
	if len(o.hosts) == 0 {
		o.hosts = []string{"local"}
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	s := &Server{t: t, dir: o.dir, hosts: map[string]string{}, opts: o}
	for _, h := range o.hosts {
		d := filepath.Join(s.dir, h)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		s.hosts[h] = d
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *Server) serve(ln net.Listener) {
	sources := map[string]tailer.Source{}
	for h, d := range s.hosts {
		var src tailer.Source = local.New([]string{filepath.Join(d, "*.log")}, local.Options{Poll: 50 * time.Millisecond})
		if s.opts.rooted {
			src = rooted{src: src.(*local.Source), dir: d}
		}
		if s.opts.wrap != nil {
			src = s.opts.wrap(h, src)
		}
		sources[h] = src
	}
	topts := tailer.Options{Replay: s.opts.replay, Buffer: s.opts.buffer, IdleStop: time.Minute, Groups: s.opts.groups}
	if st := s.opts.marks; st != nil {
		topts.Marks = func(host, path string) []tailer.Line {
			var lines []tailer.Line
			for _, m := range st.List(func(m *marks.Mark) bool { return m.Applies(host, path) }) {
				lines = append(lines, web.MarkLine(m))
			}
			return lines
		}
	}
	s.reg = tailer.NewRegistry(sources, topts)
	s.web = web.New(s.reg, web.Options{Replay: s.opts.replay, Auth: s.opts.auth, Rules: s.opts.rules, BasePath: s.opts.basePath, Marks: s.opts.marks})
	h := s.web.Handler()
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
	s.http = &http.Server{Handler: record, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	go func(h *http.Server, done chan struct{}) {
		defer close(done)
		if err := h.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.t.Errorf("serve: %v", err)
		}
	}(s.http, s.done)
}

// stop closes the web server (close frames to browsers), the HTTP server and
// the registry. It may be called more than once.
func (s *Server) stop() {
	if s.http == nil {
		return
	}
	s.web.Close()
	_ = s.http.Close()
	<-s.done
	s.reg.Close()
	s.http = nil
}

// restart starts a new registry and web server on the same address.
func (s *Server) restart() {
	s.t.Helper()
	s.stop()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// requested returns the path of every request the server got so far.
func (s *Server) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.paths)
}

// URL returns the page URL (under the base path) with the given query ("" for none).
func (s *Server) URL(query string) string {
	u := "http://" + s.addr + s.opts.basePath + "/"
	if query != "" {
		u += "?" + query
	}
	return u
}

// URLAs returns the page URL reached under another name for the server's
// address (localhost, or rebindName), with the given query ("" for none).
func (s *Server) URLAs(name, query string) string {
	_, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	u := "http://" + net.JoinHostPort(name, port) + "/"
	if query != "" {
		u += "?" + query
	}
	return u
}

// active is how many logs the server is tailing.
func (s *Server) active() int { return s.reg.Active() }

// path names a log file of a host.
func (s *Server) path(host, name string) string { return filepath.Join(s.hosts[host], name) }

func appendLines(t *testing.T, path, prefix string, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	sourcetest.Append(t, path, b.String())
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

// listenAgain listens on the stopped server's address again.
func listenAgain(s *Server) (net.Listener, error) {
	return net.Listen("tcp", s.addr)
}

// wheelUp turns the mouse wheel up over the log view, as a person does.
func (p *Page) wheelUp() {
	p.t.Helper()
	type pt struct{ X, Y float64 }
	c := eval[pt](p, `(() => { const r = document.getElementById('log').getBoundingClientRect(); return {X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`)
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseWheel, X: c.X, Y: c.Y, DeltaX: 0.001, DeltaY: -300})
		return err
	}))
}
