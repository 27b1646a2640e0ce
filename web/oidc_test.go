package web_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
	"github.com/logviewer/logviewer/web"
)

// oidcEnv is a server in auth mode "oidc" under /logs, signing in through
// an in-process provider (mockoidc) on loopback. Access rules: group "dev"
// sees only app.log on host "web"; group "ops" sees everything.
type oidcEnv struct {
	url    string // server root (no base path)
	base   string // url + "/logs"
	dirWeb string
	dirDB  string
	idp    *mockoidc.MockOIDC
}

func newOIDCEnv(t *testing.T) *oidcEnv {
	t.Helper()
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	e := &oidcEnv{dirWeb: t.TempDir(), dirDB: t.TempDir(), idp: idp}
	reg := tailer.NewRegistry(map[string]tailer.Source{
		"web": local.New([]string{filepath.Join(e.dirWeb, "*.log")}, local.Options{Poll: 50 * time.Millisecond}),
		"db":  local.New([]string{filepath.Join(e.dirDB, "*.log")}, local.Options{Poll: 50 * time.Millisecond}),
	}, tailer.Options{Replay: 100, Buffer: 1 << 20, IdleStop: time.Minute})
	sourcetest.Append(t, filepath.Join(e.dirWeb, "app.log"), "app line\n")
	sourcetest.Append(t, filepath.Join(e.dirWeb, "secret.log"), "secret line\n")
	sourcetest.Append(t, filepath.Join(e.dirDB, "db.log"), "db line\n")

	// Listen first: public_url (and so the callback URL) names the port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()
	e.base = e.url + "/logs"
	publicURL := e.base + "/"
	signer := auth.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	a := auth.New(auth.Options{
		Mode:     auth.ModeOIDC,
		Sessions: auth.NewSessions(signer, time.Hour),
		Shares:   auth.NewShares(signer, time.Hour),
		OIDC: auth.NewOIDC(auth.OIDCOptions{
			Issuer: idp.Issuer(), ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
			RedirectURL: auth.OIDCRedirectURL(publicURL),
		}, signer),
	})
	rules := auth.NewRules([]auth.Rule{
		{Groups: []string{"ops"}, Hosts: []string{"*"}},
		{Groups: []string{"dev"}, Hosts: []string{"web"}, Files: []string{filepath.Join(e.dirWeb, "app*.log")}},
	})
	srv := web.New(reg, web.Options{Replay: 100, Auth: a, Rules: rules, PublicURL: publicURL, BasePath: "/logs"})
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		reg.Close()
	})
	return e
}

// oidcBrowser has a cookie jar and follows no redirect by itself, so each
// hop can be checked.
type oidcBrowser struct {
	t   *testing.T
	e   *oidcEnv
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *oidcEnv) browser(t *testing.T) *oidcBrowser {
	jar, _ := cookiejar.New(nil)
	return &oidcBrowser{t: t, e: e, jar: jar, c: &http.Client{
		Jar: jar, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// get fetches u (absolute, or a path under the base path) and returns the
// response with its body read.
func (b *oidcBrowser) get(u string, header http.Header) (*http.Response, string) {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.e.base + u
	}
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// redirected checks resp is a redirect and returns where to.
func (b *oidcBrowser) redirected(resp *http.Response, body string) *url.URL {
	b.t.Helper()
	loc, err := resp.Location()
	if resp.StatusCode/100 != 3 || err != nil {
		b.t.Fatalf("%s: HTTP %d %s, want a redirect", resp.Request.URL, resp.StatusCode, body)
	}
	return loc
}

// begin starts a sign-in and returns the provider's URL.
func (b *oidcBrowser) begin(next string) *url.URL {
	b.t.Helper()
	path := "/auth/oidc/login"
	if next != "" {
		path += "?next=" + url.QueryEscape(next)
	}
	return b.redirected(b.get(path, nil))
}

// provider visits the provider, which signs the queued user in at once,
// and returns the callback URL it sends the browser to.
func (b *oidcBrowser) provider(authURL *url.URL) *url.URL {
	b.t.Helper()
	return b.redirected(b.get(authURL.String(), nil))
}

// signIn runs the whole flow and returns where the callback sends the
// browser.
func (b *oidcBrowser) signIn(next string) *url.URL {
	b.t.Helper()
	return b.redirected(b.get(b.provider(b.begin(next)).String(), nil))
}

func (b *oidcBrowser) me() (int, map[string]any) {
	b.t.Helper()
	resp, body := b.get("/api/me", nil)
	var out map[string]any
	_ = json.Unmarshal([]byte(body), &out)
	return resp.StatusCode, out
}

func (b *oidcBrowser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.e.base + "/auth/oidc/callback")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func setCookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func jsonError(body string) string {
	var e struct{ Error string }
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error
}

// TestOIDCSignIn: login → provider → callback → session cookie; /api/me
// then shows the provider's user and groups with via "oidc". Each hop is
// checked: PKCE S256, state and nonce in the provider URL; the state cookie
// HttpOnly, SameSite=Lax, under the base path, for 10 minutes, and spent
// by the callback; the session cookie as a password sign-in sets it.
func TestOIDCSignIn(t *testing.T) {
	e := newOIDCEnv(t)
	e.idp.QueueUser(&mockoidc.MockUser{Subject: "u-1", PreferredUsername: "bob", Email: "bob@example.com", Groups: []string{"dev", "qa"}})
	b := e.browser(t)
	if code, _ := b.me(); code != http.StatusUnauthorized {
		t.Fatalf("/api/me before sign-in: %d, want 401", code)
	}

	resp, body := b.get("/auth/oidc/login?next="+url.QueryEscape("/logs/?host=web"), nil)
	authURL := b.redirected(resp, body)
	q := authURL.Query()
	if !strings.HasPrefix(authURL.String(), e.idp.AuthorizationEndpoint()) || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("redirect_uri") != e.base+"/auth/oidc/callback" || q.Get("client_id") != e.idp.ClientID {
		t.Fatalf("provider URL %s: want the authorization endpoint with PKCE S256, state, nonce, client id and the callback under public_url", authURL)
	}
	st := setCookieOf(resp, auth.OIDCStateCookie)
	if st == nil || !st.HttpOnly || st.SameSite != http.SameSiteLaxMode || st.Path != "/logs/auth/oidc/" || st.MaxAge != 600 || st.Secure {
		t.Fatalf("state cookie %+v: want HttpOnly, SameSite=Lax, Path /logs/auth/oidc/, Max-Age 600 (not Secure over http)", st)
	}

	callback := b.provider(authURL)
	if callback.Path != "/logs/auth/oidc/callback" {
		t.Fatalf("provider sent the browser to %s", callback)
	}
	resp, body = b.get(callback.String(), nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: HTTP %d %s, want 303", resp.StatusCode, body)
	}
	if loc := b.redirected(resp, body); loc.String() != e.base+"/?host=web" {
		t.Fatalf("callback sends the browser to %s, want next (/logs/?host=web)", loc)
	}
	sess := setCookieOf(resp, auth.CookieName)
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/logs/" || sess.MaxAge != 3600 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, Path /logs/, Max-Age = the session TTL", sess)
	}
	if c := setCookieOf(resp, auth.OIDCStateCookie); c == nil || c.MaxAge >= 0 || b.cookie(auth.OIDCStateCookie) != nil {
		t.Fatalf("state cookie not spent by the callback: %+v", c)
	}

	code, me := b.me()
	if code != 200 || me["user"] != "bob" || me["via"] != "oidc" || me["mode"] != "oidc" || !slices.Equal(anyStrings(me["groups"]), []string{"dev", "qa"}) {
		t.Fatalf("/api/me after sign-in: %d %v, want bob in [dev qa] via oidc", code, me)
	}

	// Signing out ends it like any session.
	req, _ := http.NewRequest("POST", e.base+"/api/logout", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", e.url)
	if resp, err := b.c.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %v %v", resp, err)
	}
	if code, _ := b.me(); code != http.StatusUnauthorized {
		t.Fatalf("/api/me after logout: %d, want 401", code)
	}
}

func anyStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestOIDCGroupsMapToAccessRules: the groups claim is what [[access]]
// matches: a "dev" user sees only host web and its app.log; the other file
// and host do not exist for it (404 on /api/files and /ws); an "ops" user
// sees everything.
func TestOIDCGroupsMapToAccessRules(t *testing.T) {
	e := newOIDCEnv(t)
	e.idp.QueueUser(&mockoidc.MockUser{Subject: "u-dev", PreferredUsername: "dee", Groups: []string{"dev"}})
	e.idp.QueueUser(&mockoidc.MockUser{Subject: "u-ops", PreferredUsername: "otto", Groups: []string{"ops"}})
	dev, ops := e.browser(t), e.browser(t)
	dev.signIn("")
	ops.signIn("")

	hosts := func(b *oidcBrowser) []string {
		resp, body := b.get("/api/hosts", nil)
		var hs []struct{ Name string }
		if err := json.Unmarshal([]byte(body), &hs); err != nil || resp.StatusCode != 200 {
			t.Fatalf("/api/hosts: %d %s", resp.StatusCode, body)
		}
		var out []string
		for _, h := range hs {
			out = append(out, h.Name)
		}
		slices.Sort(out)
		return out
	}
	files := func(b *oidcBrowser, host string) (int, []string) {
		resp, body := b.get("/api/files?host="+host, nil)
		var fs struct{ Files []struct{ Path string } }
		_ = json.Unmarshal([]byte(body), &fs)
		var out []string
		for _, f := range fs.Files {
			out = append(out, filepath.Base(f.Path))
		}
		slices.Sort(out)
		return resp.StatusCode, out
	}
	// A plain GET of /ws checks the view without opening it: 400 "allowed,
	// but needs an upgrade" when it may be seen, 404 when not.
	view := func(b *oidcBrowser, host, file string) (int, string) {
		resp, body := b.get("/ws?"+url.Values{"host": {host}, "file": {file}}.Encode(), nil)
		return resp.StatusCode, jsonError(body)
	}
	app, secret, db := filepath.Join(e.dirWeb, "app.log"), filepath.Join(e.dirWeb, "secret.log"), filepath.Join(e.dirDB, "db.log")

	if got := hosts(dev); !slices.Equal(got, []string{"web"}) {
		t.Errorf("dev's hosts: %v, want [web]", got)
	}
	if code, got := files(dev, "web"); code != 200 || !slices.Equal(got, []string{"app.log"}) {
		t.Errorf("dev's files on web: %d %v, want [app.log]", code, got)
	}
	if code, _ := files(dev, "db"); code != http.StatusNotFound {
		t.Errorf("dev's files on db: %d, want 404", code)
	}
	if code, reason := view(dev, "web", app); code != http.StatusBadRequest || !strings.Contains(reason, "allowed") {
		t.Errorf("dev viewing app.log: %d %q, want allowed", code, reason)
	}
	for _, v := range [][2]string{{"web", secret}, {"db", db}} {
		if code, reason := view(dev, v[0], v[1]); code != http.StatusNotFound {
			t.Errorf("dev viewing %s on %s: %d %q, want 404", v[1], v[0], code, reason)
		}
	}

	if got := hosts(ops); !slices.Equal(got, []string{"db", "web"}) {
		t.Errorf("ops's hosts: %v, want [db web]", got)
	}
	if code, got := files(ops, "web"); code != 200 || !slices.Equal(got, []string{"app.log", "secret.log"}) {
		t.Errorf("ops's files on web: %d %v", code, got)
	}
	if code, reason := view(ops, "db", db); code != http.StatusBadRequest || !strings.Contains(reason, "allowed") {
		t.Errorf("ops viewing db.log: %d %q, want allowed", code, reason)
	}
}

// TestOIDCCallbackRefused: a callback that does not belong to this
// browser's sign-in is refused with the reason and signs nobody in:
// altered state parameter or cookie, no cookie, an ID token with another
// nonce, a replayed callback, a provider error. A browser gets a page, an
// API client JSON.
func TestOIDCCallbackRefused(t *testing.T) {
	e := newOIDCEnv(t)
	for _, tt := range []struct {
		name string
		// callback returns the callback URL to visit, doing to the browser
		// what the case needs.
		callback func(b *oidcBrowser) string
		code     int
		reason   string
	}{
		{"altered state", func(b *oidcBrowser) string {
			cb := b.provider(b.begin(""))
			q := cb.Query()
			q.Set("state", q.Get("state")+"x")
			cb.RawQuery = q.Encode()
			return cb.String()
		}, http.StatusBadRequest, "state parameter does not match"},
		{"altered cookie", func(b *oidcBrowser) string {
			cb := b.provider(b.begin(""))
			c := b.cookie(auth.OIDCStateCookie)
			c.Value = strings.Replace(c.Value, ".", "x.", 1)
			b.jar.SetCookies(cb, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/logs/auth/oidc/"}})
			return cb.String()
		}, http.StatusBadRequest, "altered"},
		{"no cookie", func(b *oidcBrowser) string {
			cb := b.provider(b.begin(""))
			b.jar.SetCookies(cb, []*http.Cookie{{Name: auth.OIDCStateCookie, Path: "/logs/auth/oidc/", MaxAge: -1}})
			return cb.String()
		}, http.StatusBadRequest, "missing"},
		{"wrong nonce", func(b *oidcBrowser) string {
			authURL := b.begin("")
			q := authURL.Query()
			q.Set("nonce", "chosen-by-an-attacker")
			authURL.RawQuery = q.Encode()
			return b.provider(authURL).String()
		}, http.StatusUnauthorized, "nonce"},
		{"replayed callback", func(b *oidcBrowser) string {
			cb := b.provider(b.begin(""))
			state := b.cookie(auth.OIDCStateCookie)
			b.redirected(b.get(cb.String(), nil))
			if code, _ := b.me(); code != 200 {
				t.Fatalf("first callback did not sign in: %d", code)
			}
			// Replayed with the state cookie put back, from a browser
			// without the session.
			jar, _ := cookiejar.New(nil)
			jar.SetCookies(cb, []*http.Cookie{{Name: state.Name, Value: state.Value, Path: "/logs/auth/oidc/"}})
			b.jar, b.c.Jar = jar, jar
			return cb.String()
		}, http.StatusBadRequest, "already completed"},
		{"provider error", func(b *oidcBrowser) string {
			state := b.begin("").Query().Get("state")
			return e.base + "/auth/oidc/callback?" + url.Values{"state": {state}, "error": {"access_denied"}, "error_description": {"<b>no</b>"}}.Encode()
		}, http.StatusUnauthorized, "access_denied: <b>no</b>"},
		{"no code", func(b *oidcBrowser) string {
			return e.base + "/auth/oidc/callback?state=" + url.QueryEscape(b.begin("").Query().Get("state"))
		}, http.StatusUnauthorized, "no code"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser(t)
			cb := tt.callback(b)
			resp, body := b.get(cb, nil)
			if resp.StatusCode != tt.code || !strings.Contains(jsonError(body), tt.reason) {
				t.Fatalf("callback: HTTP %d %s, want %d saying %q", resp.StatusCode, body, tt.code, tt.reason)
			}
			if setCookieOf(resp, auth.CookieName) != nil {
				t.Fatal("a refused callback set a session cookie")
			}
			if code, _ := b.me(); code != http.StatusUnauthorized {
				t.Fatalf("/api/me after a refused callback: %d, want 401", code)
			}
		})
	}

	t.Run("page for a browser", func(t *testing.T) {
		b := e.browser(t)
		state := b.begin("").Query().Get("state")
		resp, body := b.get(e.base+"/auth/oidc/callback?"+url.Values{"state": {state}, "error": {"access_denied"}, "error_description": {"<script>x</script>"}}.Encode(),
			http.Header{"Accept": {"text/html,application/xhtml+xml"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "access_denied: &lt;script&gt;x&lt;/script&gt;") || strings.Contains(body, "<script>") ||
			!strings.Contains(body, `href="/logs/auth/oidc/login"`) {
			t.Fatalf("HTTP %d %s: %s, want a 401 page with the escaped reason and a way to sign in again", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
}

// TestOIDCOpenRedirectRefused: ?next= leads only to a path under the base
// path; anything else (another site, a scheme-relative URL, a path that
// climbs out) is ignored and the sign-in ends at the page.
func TestOIDCOpenRedirectRefused(t *testing.T) {
	e := newOIDCEnv(t)
	for _, tt := range []struct{ next, want string }{
		{"https://evil.example/", "/logs/"},
		{"//evil.example/", "/logs/"},
		{"/\\evil.example/", "/logs/"},
		{"/%2F/evil.example/", "/logs/"},
		{"https:/evil.example/", "/logs/"},
		{"javascript:alert(1)", "/logs/"},
		{"/logs/../evil", "/logs/"},
		{"/logs/%2e%2e/evil", "/logs/"},
		{"/logsevil/", "/logs/"},
		{"/other/", "/logs/"},
		{"logs/", "/logs/"},
		{"/logs", "/logs"},
		{"/logs/?host=web&file=%2Fa.log", "/logs/?host=web&file=%2Fa.log"},
	} {
		t.Run(tt.next, func(t *testing.T) {
			b := e.browser(t)
			if loc := b.signIn(tt.next); loc.String() != e.url+tt.want {
				t.Fatalf("next=%q ends at %s, want %s", tt.next, loc, e.url+tt.want)
			}
		})
	}
}

// TestOIDCProviderUnavailable: the server runs while the provider cannot
// be discovered; sign-in answers 503 with the reason, and works as soon as
// the provider is back (discovery is retried).
func TestOIDCProviderUnavailable(t *testing.T) {
	e := newOIDCEnv(t)
	e.idp.QueueError(&mockoidc.ServerError{Code: http.StatusServiceUnavailable, Error: "temporarily_unavailable"})
	b := e.browser(t)
	resp, body := b.get("/auth/oidc/login", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(jsonError(body), "discovery at "+e.idp.Issuer()) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("login while the provider is down: HTTP %d %s, want 503 naming the issuer, with Retry-After", resp.StatusCode, body)
	}
	if setCookieOf(resp, auth.OIDCStateCookie) != nil {
		t.Fatal("a failed login set a state cookie")
	}
	if loc := b.signIn(""); loc.String() != e.base+"/" {
		t.Fatalf("sign-in once the provider is back ends at %s", loc)
	}
	if code, me := b.me(); code != 200 || me["via"] != "oidc" {
		t.Fatalf("/api/me: %d %v", code, me)
	}
}

// TestOIDCNotEnabled: in another mode the OIDC routes say so (404) and
// sign nobody in.
func TestOIDCNotEnabled(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, p := range []string{"/auth/oidc/login", "/auth/oidc/callback?code=x&state=y"} {
		code, body := httpGet(t, e.url+p)
		if code != http.StatusNotFound || !strings.Contains(jsonError(string(body)), "not enabled") {
			t.Errorf("%s in mode none: %d %s, want 404 not enabled", p, code, body)
		}
	}
}
