package e2e

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/sources/sourcetest"
)

// ---- sign-in servers --------------------------------------------------------------

// Passwords of the test users. alice (group ops) sees everything; bob
// (group dev) sees only what bobRules gives him.
const (
	alicePassword = "correct horse battery staple"
	bobPassword   = "hunter2 but longer"
)

// The users are hashed once for the package: bcrypt at cost 12 takes
// seconds under the race detector, and auth.NewUsers hashes a dummy too.
var testUsersOnce = sync.OnceValues(func() (*auth.Users, error) {
	var (
		wg     sync.WaitGroup
		hashes [2]string
		errs   [2]error
	)
	for i, pw := range []string{alicePassword, bobPassword} {
		wg.Go(func() { hashes[i], errs[i] = auth.HashPassword(pw) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return auth.NewUsers([]auth.User{
		{Name: "alice", Hash: []byte(hashes[0]), Groups: []string{"ops"}},
		{Name: "bob", Hash: []byte(hashes[1]), Groups: []string{"dev"}},
	}), nil
})

// newAuth returns an Authenticator in mode "users" with alice and bob,
// sessions of an hour and share links of at most maxTTL, and its Shares
// (to sign links directly).
func newAuth(t *testing.T, maxTTL time.Duration) (*auth.Authenticator, *auth.Shares) {
	t.Helper()
	users, err := testUsersOnce()
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	signer := auth.NewSigner(key)
	shares := auth.NewShares(signer, maxTTL)
	return auth.New(auth.Options{
		Mode:     auth.ModeUsers,
		Users:    users,
		Sessions: auth.NewSessions(signer, time.Hour),
		Shares:   shares,
	}), shares
}

// authServer starts a server with sign-in over the hosts local and web-1:
// alice (ops) sees everything, bob only web-1's app.log.
func authServer(t *testing.T, o serverOpts) (*Server, *auth.Shares) {
	t.Helper()
	o.dir = t.TempDir()
	o.hosts = []string{"local", "web-1"}
	var shares *auth.Shares
	o.auth, shares = newAuth(t, 7*24*time.Hour)
	o.rules = auth.NewRules([]auth.Rule{
		{Groups: []string{"ops"}, Hosts: []string{"*"}},
		{Users: []string{"bob"}, Hosts: []string{"web-*"}, Files: []string{filepath.Join(o.dir, "web-1", "app.log")}},
	})
	return startServer(t, o), shares
}

// ---- the page's identity ------------------------------------------------------------

const (
	signinShownJS = `!document.getElementById('gate').hidden && !document.getElementById('signin').hidden && document.activeElement !== null`
	endedShownJS  = `!document.getElementById('gate').hidden && !document.getElementById('ended').hidden`
	liveJS        = `document.getElementById('gate').hidden && document.getElementById('conn').dataset.state === 'live'`
)

// navigate loads u without waiting for anything in particular.
func (p *Page) navigate(u string) {
	p.t.Helper()
	p.do(chromedp.Navigate(u))
}

// signIn fills in the sign-in form, as a user does, and submits it.
func (p *Page) signIn(user, password string) {
	p.t.Helper()
	p.waitFor(signinShownJS, "the sign-in form")
	eval[bool](p, `(document.getElementById('user').value = '', document.getElementById('password').value = '', true)`)
	p.typeInto("#user", user)
	p.typeInto("#password", password)
	p.click("#signin-btn")
}

// tab opens another tab in p's browser context (same cookies and storage).
func (p *Page) tab(width, height int) *Page {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	q := &Page{t: p.t, ctx: ctx}
	p.t.Cleanup(func() {
		cancel()
		q.mu.Lock()
		defer q.mu.Unlock()
		if len(q.errors) > 0 {
			p.t.Errorf("the second tab reported errors:\n%s", strings.Join(q.errors, "\n"))
		}
	})
	q.do(chromedp.EmulateViewport(int64(width), int64(height)))
	if err := chromedp.Listen(ctx, q.event); err != nil {
		p.t.Fatal(err)
	}
	go q.console(chromedp.Console(ctx))
	return q
}

func text(p *Page, id string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`document.getElementById(%s).textContent`, jsString(id)))
}

// visible reports whether the element with this id takes space on the page.
func visible(p *Page, id string) bool {
	p.t.Helper()
	return eval[bool](p, fmt.Sprintf(`(() => { const e = document.getElementById(%s); return e !== null && e.getClientRects().length > 0; })()`, jsString(id)))
}

// ---- tests ---------------------------------------------------------------------------

// TestSignInShowsOnlyAllowedHostsAndFiles: a page opened without a session
// shows the sign-in form (accessible labels) instead of the log; a wrong
// password is an inline error; signing in continues to exactly the view in
// the URL, and the signed-in user sees only the hosts and files the access
// rules give them (others are 404 through the API too).
func TestSignInShowsOnlyAllowedHostsAndFiles(t *testing.T) {
	s, _ := authServer(t, serverOpts{})
	app := s.path("web-1", "app.log")
	sourcetest.Append(t, app, "INFO one\nERROR two\nINFO three\n")
	sourcetest.Append(t, s.path("web-1", "private.log"), "private\n")
	sourcetest.Append(t, s.path("local", "secret.log"), "secret\n")

	p := newPage(t, 1280, 800)
	view := url.Values{"host": {"web-1"}, "file": {app}, "q": {"ERROR"}}.Encode()
	p.navigate(s.URL(view))
	p.waitFor(signinShownJS, "the sign-in form")
	type form struct{ User, Password, Focus string }
	labels := eval[form](p, `({
		User: document.getElementById('user').labels[0].textContent,
		Password: document.getElementById('password').labels[0].textContent,
		Focus: document.activeElement.id,
	})`)
	if labels != (form{User: "User name", Password: "Password", Focus: "user"}) {
		t.Errorf("sign-in form: %+v, want labelled user name and password fields, the user name focused", labels)
	}
	if f := eval[fetched](p, fetchJS("api/hosts")); f.Status != 401 || f.jsonError() == "" {
		t.Errorf("GET api/hosts before signing in: %d %.200q, want 401 with a reason", f.Status, f.Body)
	}
	if n := eval[int](p, `document.querySelectorAll('#lines .ln').length`); n != 0 {
		t.Errorf("%d log lines on the page before signing in", n)
	}

	// A wrong password: an inline error, still the form.
	p.signIn("bob", "not the password")
	p.waitFor(`!document.getElementById('signin-error').hidden`, "the sign-in error")
	if msg := text(p, "signin-error"); msg != "Wrong user name or password." {
		t.Errorf("sign-in error %q", msg)
	}
	if inv := eval[string](p, `document.getElementById('password').getAttribute('aria-invalid') || ''`); inv != "true" {
		t.Errorf("password aria-invalid=%q after a wrong password", inv)
	}
	if !eval[bool](p, signinShownJS) {
		t.Fatalf("the sign-in form went away after a wrong password")
	}

	p.signIn("bob", bobPassword)
	p.waitFor(liveJS, "the view after signing in")
	p.waitFor(fmt.Sprintf(`JSON.stringify(%s) === '["ERROR two"]'`, shownJS), "the filtered view of the URL")
	if v, _ := url.ParseQuery(strings.TrimPrefix(eval[string](p, `location.search`), "?")); v.Get("host") != "web-1" || v.Get("file") != app || v.Get("q") != "ERROR" {
		t.Errorf("page URL after signing in: %v, want the view it was opened with", v)
	}
	if got := text(p, "who-name"); got != "bob" || !visible(p, "signout") || !visible(p, "share") {
		t.Errorf("header shows user %q, sign-out %v, share %v: want bob, both buttons", got, visible(p, "signout"), visible(p, "share"))
	}

	// Only what the rules give bob.
	if hosts := eval[[]string](p, `[...document.getElementById('host').options].map(o => o.value).filter(Boolean)`); !slices.Equal(hosts, []string{"web-1"}) {
		t.Errorf("host choices %q, want only web-1", hosts)
	}
	p.click("#file")
	p.waitFor(`document.querySelectorAll('#file-list [role=option]').length > 0`, "the file list")
	if files := eval[[]string](p, `[...document.querySelectorAll('#file-list [role=option] .opt-name')].map(o => o.textContent)`); !slices.Equal(files, []string{app}) {
		t.Errorf("file choices %q, want only %s", files, app)
	}
	for _, u := range []string{
		"api/files?host=local",
		"ws?" + url.Values{"host": {"local"}, "file": {s.path("local", "secret.log")}}.Encode(),
		"ws?" + url.Values{"host": {"web-1"}, "file": {s.path("web-1", "private.log")}}.Encode(),
	} {
		if f := eval[fetched](p, fetchJS(u)); f.Status != 404 {
			t.Errorf("bob GET %s: %d %.200q, want 404", u, f.Status, f.Body)
		}
	}
	s.stop()
}

// TestShareLinkShowsOneLogToAnyone: a signed-in user makes a link in the
// Share dialog; opened in a browser with no cookie it shows that one log
// live under a banner, without pickers or sign-in. The same token opens no
// other file (404), and an altered token shows why on a page of its own.
func TestShareLinkShowsOneLogToAnyone(t *testing.T) {
	s, _ := authServer(t, serverOpts{})
	app := s.path("web-1", "app.log")
	sourcetest.Append(t, app, "GET /a 200\nPOST /x 204\nGET /b 500\n")
	sourcetest.Append(t, s.path("web-1", "private.log"), "private\n")

	p := newPage(t, 1280, 800)
	p.navigate(s.URL(url.Values{"host": {"web-1"}, "file": {app}, "q": {"GET"}}.Encode()))
	p.signIn("alice", alicePassword)
	p.waitFor(fmt.Sprintf(`JSON.stringify(%s) === '["GET /a 200","GET /b 500"]'`, shownJS), "the filtered log")

	p.click("#share")
	p.waitFor(`document.getElementById('share-dlg').open`, "the share dialog")
	p.click(`#share-dlg input[value="1d"]`)
	p.click("#share-make")
	p.waitFor(`!document.getElementById('share-out').hidden`, "the link")
	link := eval[string](p, `document.getElementById('share-url').value`)
	if !strings.HasPrefix(link, s.URL("share=")) {
		t.Fatalf("share link %q, want %s…", link, s.URL("share="))
	}
	exp := text(p, "share-exp")
	if !strings.HasPrefix(exp, "Expires ") {
		t.Errorf("share dialog says %q, want the expiry", exp)
	}
	p.click("#share-copy")
	p.waitFor(`document.getElementById('share-copy').textContent === 'Copied'`, "the link copied")
	token := strings.TrimPrefix(link, s.URL("share="))

	// Someone with no account.
	q := newPage(t, 1024, 700)
	q.navigate(link)
	q.waitFor(liveJS, "the shared view live")
	q.waitFor(fmt.Sprintf(`JSON.stringify(%s) === '["GET /a 200","GET /b 500"]'`, shownJS), "the shared log, with the shared filter")
	if f := eval[string](q, `document.getElementById('filter').value`); f != "GET" {
		t.Errorf("shared view's filter box says %q, want the shared filter", f)
	}
	banner := text(q, "banner")
	if want := fmt.Sprintf("Shared view of %s on web-1, read-only, expires ", app); !strings.HasPrefix(banner, want) {
		t.Errorf("banner %q, want %q…", banner, want)
	}
	for _, id := range []string{"host", "file", "share", "signout", "who"} {
		if visible(q, id) {
			t.Errorf("#%s is shown in a shared view", id)
		}
	}
	sourcetest.Append(t, app, "POST /y 201\nGET /c 201\n")
	q.waitFor(fmt.Sprintf(`JSON.stringify(%s) === '["GET /a 200","GET /b 500","GET /c 201"]'`, shownJS), "a new line, live and filtered")
	if got := eval[string](q, `location.search`); got != "?share="+token {
		t.Errorf("shared page URL %q, want the link's", got)
	}
	// The viewer may drop the filter, and the page's URL keeps that view.
	q.do(chromedp.Focus(chromedp.CSS("#filter")), pressKeys("\u001b"))
	all := `JSON.stringify(` + shownJS + `) === '["GET /a 200","POST /x 204","GET /b 500","POST /y 201","GET /c 201"]'`
	q.waitFor(all, "every line once the filter is cleared")
	q.waitFor(`location.search === `+jsString("?share="+token+"&q="), "the URL saying: no filter")
	q.do(chromedp.Reload())
	q.waitFor(liveJS+" && "+all, "every line after a reload")

	// The same token for another file or host: not found.
	for _, u := range []string{
		"ws?" + url.Values{"share": {token}, "host": {"web-1"}, "file": {s.path("web-1", "private.log")}}.Encode(),
		"api/files?" + url.Values{"share": {token}, "host": {"local"}}.Encode(),
	} {
		if f := eval[fetched](q, fetchJS(u)); f.Status != 404 {
			t.Errorf("GET %s: %d %.200q, want 404", u, f.Status, f.Body)
		}
	}
	ws := eval[wsResult](q, wsJS(strings.Replace(s.URL(""), "http:", "ws:", 1)+"ws?"+url.Values{"share": {token}, "host": {"web-1"}, "file": {s.path("web-1", "private.log")}}.Encode()))
	if strings.Contains(ws.First, `"hello"`) {
		t.Errorf("the token opened another file: %.200q", ws.First)
	}

	// An altered token: a page saying so, no sign-in form, no retrying.
	bad := []byte(token)
	bad[len(bad)/3] ^= 1
	r := newPage(t, 1024, 700)
	r.navigate(s.URL("share=" + url.QueryEscape(string(bad))))
	r.waitFor(endedShownJS, "the page saying the link does not work")
	if title, msg := text(r, "ended-title"), text(r, "ended-msg"); title != "This share link does not work" || !strings.Contains(msg, "This share link is not valid") {
		t.Errorf("altered link: %q / %q", title, msg)
	}
	if n := eval[int](r, `document.querySelectorAll('#lines .ln').length`); n != 0 {
		t.Errorf("%d lines shown for an altered link", n)
	}
	s.stop()
}

// TestShareLinkExpires: a shared view ends when its link expires (the
// server closes the WebSocket): a page says why, and nothing reconnects;
// opening the link again shows the server's reason.
func TestShareLinkExpires(t *testing.T) {
	s, shares := authServer(t, serverOpts{})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "line 1\n")
	token, exp := shares.Make(auth.Share{Host: "local", File: app, By: "alice"}, 4*time.Second, time.Now())

	p := newPage(t, 1024, 700)
	p.navigate(s.URL("share=" + token))
	p.waitFor(liveJS+" && "+lastVisibleIs("line 1"), "the shared view live")
	if time.Now().After(exp) {
		t.Fatalf("the page took until after the link's expiry to show it")
	}
	p.waitForWithin(endedShownJS, "the page saying the link expired", time.Until(exp)+waitTimeout)
	if title, msg := text(p, "ended-title"), text(p, "ended-msg"); title != "This share link has expired" || !strings.Contains(msg, "ask whoever shared it for a new one") {
		t.Errorf("after expiry: %q / %q", title, msg)
	}
	if conn := text(p, "conn-text"); strings.Contains(conn, "reconnecting") {
		t.Errorf("status %q after the link expired, want no reconnecting", conn)
	}

	p.navigate(s.URL("share=" + token))
	p.waitFor(endedShownJS, "the page saying the link expired, on opening it again")
	if msg := text(p, "ended-msg"); msg != "This share link has expired: ask for a new one." {
		t.Errorf("opening an expired link: %q, want the server's reason", msg)
	}
	if f := eval[fetched](p, fetchJS("ws?share="+url.QueryEscape(token))); f.Status != 401 {
		t.Errorf("GET ws with an expired link: %d %.200q, want 401", f.Status, f.Body)
	}
	s.stop()
}

// TestSignOutEndsViewsAndSignInResumes: signing out in one tab ends the
// views of every tab of that session (the server closes them with 4001)
// and shows the sign-in form; signing in again resumes the same log where
// it was, with the lines written meanwhile and none twice.
func TestSignOutEndsViewsAndSignInResumes(t *testing.T) {
	// A replay of 30: a view that started afresh after signing in again
	// would show only the last 30 lines, not everything since line 21.
	s, _ := authServer(t, serverOpts{replay: 30})
	app := s.path("local", "app.log")
	appendLines(t, app, "line", 1, 50)
	view := s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode())

	p := newPage(t, 1280, 800)
	p.navigate(view)
	p.signIn("alice", alicePassword)
	p.waitFor(lastVisibleIs("line 50"), "line 50")

	other := p.tab(1024, 700) // same browser, same session
	other.navigate(view)
	other.waitFor(liveJS+" && "+lastVisibleIs("line 50"), "the second tab, signed in by the cookie")
	if got := text(other, "who-name"); got != "alice" {
		t.Errorf("second tab signed in as %q", got)
	}

	other.click("#signout")
	other.waitFor(signinShownJS, "the sign-in form in the tab that signed out")
	p.waitFor(signinShownJS, "the sign-in form in the other tab")
	if why := text(p, "signin-why"); !strings.Contains(why, "signed out") {
		t.Errorf("the other tab says %q, want that it was signed out", why)
	}
	if state := eval[string](p, `document.getElementById('conn').dataset.state`); state == "live" || state == "reconnecting" {
		t.Errorf("the ended view's status is %q", state)
	}
	if f := eval[fetched](other, fetchJS("api/hosts")); f.Status != 401 {
		t.Errorf("GET api/hosts after signing out: %d, want 401", f.Status)
	}
	appendLines(t, app, "line", 51, 80) // written while signed out

	p.signIn("alice", alicePassword)
	p.waitFor(liveJS+" && "+lastVisibleIs("line 80"), "line 80 after signing in again")
	lines, specials := p.allLines()
	if want := numbered("line", 21, 80); !slices.Equal(lines, want) {
		t.Errorf("after signing in again the view holds %d lines, want line 21…line 80 once each: %s", len(lines), diff(lines, want))
	}
	if len(specials) != 0 {
		t.Errorf("notes shown: %q, want none (the view resumed where it was)", specials)
	}
	s.stop()
}

// TestBasePathSignInAndFollow: under a base path (behind a proxy at
// /logs/) the page signs in, follows a log and makes share links, and
// every request it makes stays under the base path.
func TestBasePathSignInAndFollow(t *testing.T) {
	s, _ := authServer(t, serverOpts{basePath: "/logs"})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "line 1\n")

	p := newPage(t, 1280, 800)
	p.navigate(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.signIn("alice", alicePassword)
	p.waitFor(liveJS+" && "+lastVisibleIs("line 1"), "the log under /logs/")
	sourcetest.Append(t, app, "line 2\n")
	p.waitFor(lastVisibleIs("line 2"), "a live line under /logs/")

	p.click("#share")
	p.click("#share-make")
	p.waitFor(`!document.getElementById('share-out').hidden`, "the link")
	if link := eval[string](p, `document.getElementById('share-url').value`); !strings.HasPrefix(link, s.URL("share=")) {
		t.Errorf("share link %q, want %s…", link, s.URL("share="))
	}
	for _, path := range s.requested() {
		if !strings.HasPrefix(path, "/logs/") {
			t.Errorf("the page requested %s, outside the base path", path)
		}
	}
	s.stop()
}

// TestNoSignInInModeNone: with auth mode "none" (the default) there is no
// sign-in, no user, no Sign out and no Share button.
func TestNoSignInInModeNone(t *testing.T) {
	s := startServer(t, serverOpts{})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "line 1\n")
	p := newPage(t, 1024, 700)
	p.open(s.URL(url.Values{"host": {"local"}, "file": {app}}.Encode()))
	p.waitFor(liveJS+" && "+lastVisibleIs("line 1"), "the log")
	for _, id := range []string{"gate", "share", "signout", "who", "banner"} {
		if visible(p, id) {
			t.Errorf("#%s is shown in auth mode none", id)
		}
	}
	s.stop()
}

// TestOIDCModeOffersProviderLink: in auth mode "oidc" (the 401 says so) the
// page offers a link to the identity provider, not a password form, that
// comes back to this very view, under the base path.
func TestOIDCModeOffersProviderLink(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	a := auth.New(auth.Options{Mode: auth.ModeOIDC, Sessions: auth.NewSessions(auth.NewSigner(key), time.Hour)})
	s := startServer(t, serverOpts{auth: a, basePath: "/logs"})
	app := s.path("local", "app.log")
	sourcetest.Append(t, app, "line 1\n")
	view := url.Values{"host": {"local"}, "file": {app}}.Encode()

	p := newPage(t, 1024, 700)
	p.navigate(s.URL(view))
	// The 401 says the mode: the link shows at once, no password form.
	p.waitFor(`!document.getElementById('oidc').hidden && document.getElementById('signin-fields').hidden`, "the identity provider link")
	want := s.URL("") + "auth/oidc/login?next=" + url.QueryEscape("/logs/?"+view)
	if href := eval[string](p, `document.getElementById('oidc').href`); href != want {
		t.Errorf("identity provider link %s, want %s", href, want)
	}
	if n := eval[int](p, `document.querySelectorAll('#lines .ln').length`); n != 0 {
		t.Errorf("%d log lines shown without signing in", n)
	}
	s.stop()
}

// TestSignInRateLimitShowsWait: after too many failed sign-ins the server
// answers 429 with Retry-After; the form says so inline and keeps its
// button off, counting down, until the wait is over.
func TestSignInRateLimitShowsWait(t *testing.T) {
	// No users: every sign-in fails, each after one bcrypt check at the
	// default cost (a quarter of the cost-12 hashes the others use).
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	signer := auth.NewSigner(key)
	a := auth.New(auth.Options{Mode: auth.ModeUsers, Users: auth.NewUsers(nil), Sessions: auth.NewSessions(signer, time.Hour)})
	s := startServer(t, serverOpts{auth: a})
	p := newPage(t, 1024, 700)
	p.navigate(s.URL(""))
	p.waitFor(signinShownJS, "the sign-in form")
	// Seven failures at once, straight from the page: more than the
	// limiter's burst of five, so that the time the bcrypt checks take
	// (seconds under -race) cannot refill it.
	codes := eval[[]int](p, `Promise.all([1, 2, 3, 4, 5, 6, 7].map(() => fetch('api/login', {
		method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({user: 'mallory', password: 'guess'}),
	}).then(r => r.status)))`)
	if slices.ContainsFunc(codes, func(c int) bool { return c != 401 && c != 429 }) {
		t.Fatalf("wrong sign-ins answered %v, want 401 or 429 each", codes)
	}
	// A machine slow enough to refill the limiter meanwhile gets a 401 or
	// two more before the 429.
	answered := `!document.getElementById('signin-error').hidden && (!document.getElementById('signin-btn').disabled || document.getElementById('signin-btn').textContent.startsWith('Try again'))`
	var msg string
	for range 3 {
		p.signIn("mallory", "guess again")
		p.waitFor(answered, "the sign-in answered")
		if msg = text(p, "signin-error"); msg != "Wrong user name or password." {
			break
		}
	}
	if !strings.Contains(msg, "Too many failed sign-ins") {
		t.Errorf("after the limit the form says %q", msg)
	}
	type btn struct {
		Disabled bool
		Text     string
	}
	b := eval[btn](p, `({Disabled: document.getElementById('signin-btn').disabled, Text: document.getElementById('signin-btn').textContent})`)
	if !b.Disabled || !regexp.MustCompile(`^Try again in \d+s$`).MatchString(b.Text) {
		t.Errorf("sign-in button %+v, want it off with the wait counting down", b)
	}
	s.stop()
}

// TestShareLinkKeepsLevelAndContext: a link made from a view filtered by
// level, with context, opens with that same view for someone with no
// account: the level chip pressed, the context chosen, and the lines the
// maker saw. Before, the link kept only the filter's text.
func TestShareLinkKeepsLevelAndContext(t *testing.T) {
	s, _ := authServer(t, serverOpts{})
	app := s.path("web-1", "app.log")
	sourcetest.Append(t, app, "a INFO start\nb INFO before\nc ERROR broke\nd INFO after\ne INFO end\n")
	want := `JSON.stringify(` + shownJS + `) === '["b INFO before","c ERROR broke","d INFO after"]'`

	p := newPage(t, 1280, 800)
	p.navigate(s.URL(url.Values{"host": {"web-1"}, "file": {app}, "level": {"error"}, "context": {"1"}}.Encode()))
	p.signIn("alice", alicePassword)
	p.waitFor(want, "the error line with one line of context")
	p.click("#share")
	p.waitFor(`document.getElementById('share-dlg').open`, "the share dialog")
	if what := text(p, "share-what"); !strings.Contains(what, "showing only error lines, with 1 line of context") {
		t.Errorf("the share dialog says %q, want it to name the level and context", what)
	}
	p.click("#share-make")
	p.waitFor(`!document.getElementById('share-out').hidden`, "the link")
	link := eval[string](p, `document.getElementById('share-url').value`)

	q := newPage(t, 1024, 700)
	q.navigate(link)
	q.waitFor(liveJS, "the shared view live")
	q.waitFor(want, "the shared view: the same lines")
	if pressed := eval[string](q, `document.querySelector('#levels [data-level=error]').getAttribute('aria-pressed')`); pressed != "true" {
		t.Errorf("the error chip in the shared view: aria-pressed %q, want true", pressed)
	}
	if c := eval[string](q, `document.getElementById('ctx').value`); c != "1" {
		t.Errorf("the shared view's context says %q, want 1", c)
	}
	s.stop()
}
