package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
	"github.com/logviewer/logviewer/web"
)

// authEnv is a server in auth mode "users" with two hosts and access rules:
// alice (ops) sees everything, bob (dev) only app logs on "web".
type authEnv struct {
	url      string
	dirWeb   string
	dirDB    string
	reg      *tailer.Registry
	shares   *auth.Shares
	sessions *auth.Sessions
}

func newAuthEnv(t *testing.T, sessionTTL time.Duration) *authEnv {
	t.Helper()
	e := &authEnv{dirWeb: t.TempDir(), dirDB: t.TempDir()}
	e.reg = tailer.NewRegistry(map[string]tailer.Source{
		"web": local.New([]string{filepath.Join(e.dirWeb, "*.log")}, local.Options{Poll: 50 * time.Millisecond}),
		"db":  local.New([]string{filepath.Join(e.dirDB, "*.log")}, local.Options{Poll: 50 * time.Millisecond}),
	}, tailer.Options{Replay: 100, Buffer: 1 << 20, IdleStop: time.Minute})
	hash := func(pw string) []byte {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	signer := auth.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	e.shares = auth.NewShares(signer, time.Hour)
	e.sessions = auth.NewSessions(signer, sessionTTL)
	a := auth.New(auth.Options{
		Mode:     auth.ModeUsers,
		Sessions: e.sessions,
		Shares:   e.shares,
		Users: auth.NewUsers([]auth.User{
			{Name: "alice", Hash: hash("alice-pw"), Groups: []string{"ops"}},
			{Name: "bob", Hash: hash("bob-pw"), Groups: []string{"dev"}},
		}),
	})
	rules := auth.NewRules([]auth.Rule{
		{Groups: []string{"ops"}, Hosts: []string{"*"}},
		{Groups: []string{"dev"}, Hosts: []string{"web"}, Files: []string{filepath.Join(e.dirWeb, "app*.log")}},
	})
	srv := web.New(e.reg, web.Options{Replay: 100, Auth: a, Rules: rules})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		e.reg.Close()
	})
	e.url = hs.URL
	return e
}

// browser is an HTTP client with a cookie jar, sending the page's Origin.
type browser struct {
	t   *testing.T
	e   *authEnv
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *authEnv) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, jar: jar, c: &http.Client{Jar: jar, Timeout: timeout}}
}

func (b *browser) do(method, path string, body any, header http.Header) (*http.Response, string) {
	b.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, b.e.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Origin", b.e.url)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp, buf.String()
}

func (b *browser) login(user, pw string) *http.Response {
	b.t.Helper()
	resp, body := b.do("POST", "/api/login", map[string]string{"user": user, "password": pw}, nil)
	if user != "" && pw != "" && resp.StatusCode != 204 && strings.HasSuffix(pw, "-pw") {
		b.t.Fatalf("login %s: %d %s", user, resp.StatusCode, body)
	}
	return resp
}

func (b *browser) dial(q url.Values) (*websocket.Conn, error) {
	u, _ := url.Parse(b.e.url)
	h := http.Header{"Origin": {b.e.url}}
	for _, c := range b.jar.Cookies(u) {
		h.Add("Cookie", c.String())
	}
	conn, resp, err := (&websocket.Dialer{HandshakeTimeout: timeout}).Dial("ws"+strings.TrimPrefix(b.e.url, "http")+"/ws?"+q.Encode(), h)
	if err != nil && resp != nil {
		var body struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return nil, &httpErr{resp.StatusCode, body.Error}
	}
	return conn, err
}

func readHello(t *testing.T, conn *websocket.Conn) msg {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	var m msg
	if err := conn.ReadJSON(&m); err != nil || m.Type != "hello" {
		t.Fatalf("first frame %+v, %v", m, err)
	}
	return m
}

// openShared opens the view of a share token with b, up to its hello; the
// connection is closed at the end of the test.
func (b *browser) openShared(t *testing.T, token string) *websocket.Conn {
	t.Helper()
	conn, err := b.dial(url.Values{"share": {token}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	readHello(t, conn)
	return conn
}

func TestSignInAndAccessRules(t *testing.T) {
	e := newAuthEnv(t, time.Hour)
	app, other, dbLog := filepath.Join(e.dirWeb, "app.log"), filepath.Join(e.dirWeb, "other.log"), filepath.Join(e.dirDB, "pg.log")
	for _, p := range []string{app, other, dbLog} {
		sourcetest.Append(t, p, "x\n")
	}
	b := e.browser(t)
	if resp, body := b.do("GET", "/api/hosts", nil, nil); resp.StatusCode != 401 || !strings.Contains(body, "sign in") {
		t.Fatalf("hosts before sign-in: %d %s", resp.StatusCode, body)
	}
	if _, err := b.dial(url.Values{"host": {"web"}, "file": {app}}); !isHTTP(err, 401, "sign in") {
		t.Fatalf("/ws before sign-in: %v", err)
	}
	if resp, _ := b.do("GET", "/", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("the page must load for the sign-in form: %d", resp.StatusCode)
	}
	// Wrong password and unknown user: the same answer.
	r1, body1 := b.do("POST", "/api/login", map[string]string{"user": "bob", "password": "nope"}, nil)
	r2, body2 := b.do("POST", "/api/login", map[string]string{"user": "mallory", "password": "nope"}, nil)
	if r1.StatusCode != 401 || r2.StatusCode != 401 || body1 != body2 {
		t.Fatalf("wrong password %d %q, unknown user %d %q: want the same 401", r1.StatusCode, body1, r2.StatusCode, body2)
	}
	resp := b.login("bob", "bob-pw")
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == auth.CookieName {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.MaxAge != 3600 {
		t.Fatalf("session cookie %+v", ck)
	}
	_, me := b.do("GET", "/api/me", nil, nil)
	if !strings.Contains(me, `"user":"bob"`) || !strings.Contains(me, `"via":"password"`) {
		t.Fatalf("/api/me: %s", me)
	}
	_, hosts := b.do("GET", "/api/hosts", nil, nil)
	if !strings.Contains(hosts, `"web"`) || strings.Contains(hosts, `"db"`) {
		t.Fatalf("bob's hosts: %s", hosts)
	}
	_, files := b.do("GET", "/api/files?host=web", nil, nil)
	if !strings.Contains(files, "app.log") || strings.Contains(files, "other.log") {
		t.Fatalf("bob's files: %s", files)
	}
	if resp, _ := b.do("GET", "/api/files?host=db", nil, nil); resp.StatusCode != 404 {
		t.Fatalf("a host bob may not see: %d, want 404 as for a host that does not exist", resp.StatusCode)
	}
	for _, q := range []url.Values{{"host": {"web"}, "file": {other}}, {"host": {"db"}, "file": {dbLog}}} {
		if _, err := b.dial(q); !isHTTP(err, 404, "") {
			t.Fatalf("/ws %v for bob: %v, want 404", q, err)
		}
	}
	conn, err := b.dial(url.Values{"host": {"web"}, "file": {app}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	readHello(t, conn)

	alice := e.browser(t)
	alice.login("alice", "alice-pw")
	_, hosts = alice.do("GET", "/api/hosts", nil, nil)
	if !strings.Contains(hosts, `"db"`) {
		t.Fatalf("alice's hosts: %s", hosts)
	}

	// Logout ends the session and its open views.
	if resp, _ := b.do("POST", "/api/logout", map[string]string{}, nil); resp.StatusCode != 204 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	closedWith(t, conn, 4001)
	if resp, _ := b.do("GET", "/api/me", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("after logout /api/me: %d", resp.StatusCode)
	}
}

func closedWith(t *testing.T, conn *websocket.Conn, code int) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("view ended with %v, want close code %d", err, code)
		}
		return
	}
}

// TestSessionExpiryEndsTheView: a WebSocket does not outlive its session.
func TestSessionExpiryEndsTheView(t *testing.T) {
	// Expiry is kept in whole seconds: a 2 s session lasts 1 to 2 s.
	e := newAuthEnv(t, 2*time.Second)
	app := filepath.Join(e.dirWeb, "app.log")
	sourcetest.Append(t, app, "x\n")
	b := e.browser(t)
	b.login("bob", "bob-pw")
	conn, err := b.dial(url.Values{"host": {"web"}, "file": {app}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closedWith(t, conn, 4001)
}

func TestShareLinks(t *testing.T) {
	e := newAuthEnv(t, time.Hour)
	app, app2 := filepath.Join(e.dirWeb, "app.log"), filepath.Join(e.dirWeb, "app2.log")
	sourcetest.Append(t, app, "one\ntwo ERROR\n")
	sourcetest.Append(t, app2, "y\n")
	bob := e.browser(t)
	bob.login("bob", "bob-pw")
	if resp, body := bob.do("POST", "/api/share", map[string]any{"host": "db", "file": "/x.log"}, nil); resp.StatusCode != 404 {
		t.Fatalf("sharing a log bob may not see: %d %s", resp.StatusCode, body)
	}
	if resp, _ := bob.do("POST", "/api/share", map[string]any{"host": "web", "file": app, "ttl": "30d"}, nil); resp.StatusCode != 400 {
		t.Fatalf("a ttl over share_max_ttl: %d, want 400", resp.StatusCode)
	}
	resp, body := bob.do("POST", "/api/share", map[string]any{"host": "web", "file": app, "q": "error", "ttl": "30m"}, nil)
	var out struct{ URL, Expires string }
	if err := json.Unmarshal([]byte(body), &out); resp.StatusCode != 200 || err != nil || !strings.Contains(out.URL, "?share=") {
		t.Fatalf("share: %d %s", resp.StatusCode, body)
	}
	if exp, err := time.Parse(time.RFC3339, out.Expires); err != nil || time.Until(exp) > 31*time.Minute || time.Until(exp) < 29*time.Minute {
		t.Fatalf("expires %q", out.Expires)
	}
	u, _ := url.Parse(out.URL)
	token := u.Query().Get("share")

	// A fresh client with nothing but the token sees that one log, filtered.
	anon := e.browser(t)
	if resp, _ := anon.do("GET", "/api/hosts", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	conn := anon.openShared(t, token)
	var m msg
	err := conn.ReadJSON(&m)
	for err == nil && m.Type == "status" {
		m = msg{}
		err = conn.ReadJSON(&m)
	}
	if err != nil || m.Type != "lines" || len(m.Lines) != 1 || m.Lines[0].Text != "two ERROR" {
		t.Fatalf("shared view's first lines %+v %v: want the filtered line", m, err)
	}
	_, me := anon.do("GET", "/api/me?share="+url.QueryEscape(token), nil, nil)
	if !strings.Contains(me, `"via":"share"`) || !strings.Contains(me, app) {
		t.Fatalf("/api/me with the token: %s", me)
	}
	for _, q := range []url.Values{
		{"share": {token}, "host": {"web"}, "file": {app2}},
		{"share": {token}, "host": {"db"}, "file": {app}},
	} {
		if _, err := anon.dial(q); !isHTTP(err, 404, "") {
			t.Fatalf("another log with the token %v: %v, want 404", q, err)
		}
	}
	if resp, _ := anon.do("GET", "/api/files?host=web&share="+url.QueryEscape(token), nil, nil); resp.StatusCode != 200 {
		t.Fatalf("files with the token: %d", resp.StatusCode)
	}
	if resp, _ := anon.do("POST", "/api/share?share="+url.QueryEscape(token), map[string]any{"host": "web", "file": app}, nil); resp.StatusCode != 403 {
		t.Fatalf("a shared view making a share link: %d, want 403", resp.StatusCode)
	}
	// Altered and expired tokens: 401 with a reason.
	if _, err := anon.dial(url.Values{"share": {token[:len(token)-3] + "AAA"}}); !isHTTP(err, 401, "not valid") {
		t.Fatalf("altered token: %v", err)
	}
	old, _ := e.shares.Make(auth.Share{Host: "web", File: app}, time.Minute, time.Now().Add(-time.Hour))
	if _, err := anon.dial(url.Values{"share": {old}}); !isHTTP(err, 401, "expired") {
		t.Fatalf("expired token: %v", err)
	}
}

// TestStateChangesNeedTheRightOriginAndJSON: login, logout and share are
// refused cross-origin (403) and as form posts (415); sign-in is
// rate-limited per address and name (429 with Retry-After).
func TestStateChangesNeedTheRightOriginAndJSON(t *testing.T) {
	e := newAuthEnv(t, time.Hour)
	b := e.browser(t)
	for _, path := range []string{"/api/login", "/api/logout", "/api/share"} {
		if resp, _ := b.do("POST", path, map[string]string{}, http.Header{"Origin": {"http://evil.example"}}); resp.StatusCode != 403 {
			t.Errorf("cross-origin POST %s: %d, want 403", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", e.url+"/api/login", strings.NewReader("user=bob&password=bob-pw"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("form login: %d, want 415", resp.StatusCode)
	}
	var last *http.Response
	for i := range 6 {
		last, _ = b.do("POST", "/api/login", map[string]string{"user": "bob", "password": "guess"}, nil)
		if i < 5 && last.StatusCode != 401 {
			t.Fatalf("attempt %d: %d, want 401", i+1, last.StatusCode)
		}
	}
	if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
		t.Fatalf("6th bad password: %d Retry-After %q, want 429 with Retry-After", last.StatusCode, last.Header.Get("Retry-After"))
	}
	// The right password is refused too while the address is limited.
	if resp, _ := b.do("POST", "/api/login", map[string]string{"user": "alice", "password": "alice-pw"}, nil); resp.StatusCode != 429 {
		t.Fatalf("while limited: %d, want 429", resp.StatusCode)
	}
}

// TestShareLinkCarriesLevelAndContext: a share link keeps the whole filter
// of the view it was made from, its level and context included (before,
// only the text was kept, so a colleague saw every level); a level the
// view would refuse is refused when the link is made.
func TestShareLinkCarriesLevelAndContext(t *testing.T) {
	e := newAuthEnv(t, time.Hour)
	app := filepath.Join(e.dirWeb, "app.log")
	sourcetest.Append(t, app, "a INFO start\nb INFO before\nc ERROR broke\nd INFO after\ne INFO end\n")
	bob := e.browser(t)
	bob.login("bob", "bob-pw")
	if resp, body := bob.do("POST", "/api/share", map[string]any{"host": "web", "file": app, "level": "fatal"}, nil); resp.StatusCode != 400 || !strings.Contains(body, "level") {
		t.Fatalf("an unknown level: %d %s, want 400 naming the level", resp.StatusCode, body)
	}
	if resp, body := bob.do("POST", "/api/share", map[string]any{"host": "web", "file": app, "level": "error", "context": 99}, nil); resp.StatusCode != 400 {
		t.Fatalf("context 99: %d %s, want 400", resp.StatusCode, body)
	}
	resp, body := bob.do("POST", "/api/share", map[string]any{"host": "web", "file": app, "level": "error", "context": 1, "ttl": "30m"}, nil)
	var out struct{ URL string }
	if err := json.Unmarshal([]byte(body), &out); resp.StatusCode != 200 || err != nil {
		t.Fatalf("share: %d %s", resp.StatusCode, body)
	}
	u, _ := url.Parse(out.URL)
	token := u.Query().Get("share")

	anon := e.browser(t)
	_, me := anon.do("GET", "/api/me?share="+url.QueryEscape(token), nil, nil)
	if !strings.Contains(me, `"level":"error"`) || !strings.Contains(me, `"context":1`) {
		t.Fatalf("/api/me with the token does not name the shared level and context: %s", me)
	}
	conn := anon.openShared(t, token)
	var got []string
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(got) < 3 {
		var m msg
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		for _, l := range m.Lines {
			got = append(got, l.Text)
		}
	}
	if want := []string{"b INFO before", "c ERROR broke", "d INFO after"}; !slices.Equal(got, want) {
		t.Fatalf("the shared view shows %q, want the error line with one line of context: %q", got, want)
	}
}
