package main

// What the team service refuses, through the whole program: each case runs
// against a fresh Main (sign-in limits count per client address, and every
// request here comes from 127.0.0.1).

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRefusals(t *testing.T) {
	logs := t.TempDir()
	appLog := filepath.Join(logs, "app.log")
	mustWrite(t, appLog, "one\n", 0o644)
	hash := cheapHash(t, "right")
	cfg := func(mode string) string {
		return fmt.Sprintf(`[auth]
mode = %q
trusted_proxies = ["127.0.0.2/32"]
secret_file = %q
[[user]]
name = "alice"
password = %q
[[host]]
name = "local"
files = [%q]
`, mode, filepath.Join(t.TempDir(), "secret"), hash, logs+"/*.log")
	}
	jsonCT := map[string]string{"Content-Type": "application/json"}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	login := func(user, pw string) string { return fmt.Sprintf(`{"user":%q,"password":%q}`, user, pw) }
	shareBody := fmt.Sprintf(`{"host":"local","file":%q,"ttl":"1h"}`, appLog)

	type exchange struct {
		code   int
		header http.Header
		body   string
	}
	cases := []struct {
		name   string
		mode   string
		signIn bool // send alice's session cookie
		method string
		path   string
		header map[string]string
		body   string
		want   int
		// check may make more requests with do (same Main and cookie).
		check func(t *testing.T, got exchange, do func(method, path, body string, h map[string]string) exchange)
	}{
		{
			name: "6th bad password from one address is rate limited", mode: "users",
			method: "POST", path: "/api/login", header: jsonCT, body: login("alice", "wrong"), want: 401,
			check: func(t *testing.T, _ exchange, do func(string, string, string, map[string]string) exchange) {
				for i := 2; i <= 5; i++ {
					if got := do("POST", "/api/login", login("alice", "wrong"), jsonCT); got.code != 401 {
						t.Fatalf("bad password #%d: %d, want 401", i, got.code)
					}
				}
				got := do("POST", "/api/login", login("alice", "wrong"), jsonCT)
				if got.code != 429 {
					t.Fatalf("bad password #6: %d %s, want 429", got.code, got.body)
				}
				if s, err := strconv.Atoi(got.header.Get("Retry-After")); err != nil || s < 1 {
					t.Fatalf("Retry-After %q, want whole seconds ≥ 1", got.header.Get("Retry-After"))
				}
				// Even the right password waits: the limit is on trying.
				if got := do("POST", "/api/login", login("alice", "right"), jsonCT); got.code != 429 {
					t.Fatalf("right password while limited: %d, want 429", got.code)
				}
			},
		},
		{
			name: "unknown user: 401 with the wrong password's answer", mode: "users",
			method: "POST", path: "/api/login", header: jsonCT, body: login("mallory", "right"), want: 401,
			check: func(t *testing.T, got exchange, do func(string, string, string, map[string]string) exchange) {
				wrong := do("POST", "/api/login", login("alice", "wrong"), jsonCT)
				if wrong.code != 401 || wrong.body != got.body {
					t.Fatalf("unknown user %d %q, wrong password %d %q: want the same 401", got.code, got.body, wrong.code, wrong.body)
				}
			},
		},
		{
			name: "forged proxy header from an untrusted address", mode: "proxy",
			method: "GET", path: "/api/me", header: map[string]string{"Remote-User": "admin", "Remote-Groups": "ops"}, want: 401,
		},
		{
			name: "forged proxy header on /ws from an untrusted address", mode: "proxy",
			method: "GET", path: "/ws?host=local&file=" + appLog, header: map[string]string{"Remote-User": "admin"}, want: 401,
		},
		{
			name: "wrong Host", mode: "users", signIn: true,
			method: "GET", path: "/api/me", header: map[string]string{"Host": "evil.example"}, want: 421,
		},
		{
			name: "wrong Host for the page", mode: "users",
			method: "GET", path: "/", header: map[string]string{"Host": "evil.example:8080"}, want: 421,
		},
		{
			name: "cross-origin POST /api/login", mode: "users",
			method: "POST", path: "/api/login", header: with(jsonCT, "Origin", "http://evil.example"), body: login("alice", "right"), want: 403,
			check: func(t *testing.T, got exchange, _ func(string, string, string, map[string]string) exchange) {
				if got.header.Get("Set-Cookie") != "" {
					t.Fatal("a refused cross-origin sign-in set a cookie")
				}
			},
		},
		{
			name: "cross-origin POST /api/share", mode: "users", signIn: true,
			method: "POST", path: "/api/share", header: with(jsonCT, "Origin", "http://evil.example"), body: shareBody, want: 403,
			check: func(t *testing.T, _ exchange, do func(string, string, string, map[string]string) exchange) {
				// The same request from the page's own origin is served.
				if got := do("POST", "/api/share", shareBody, jsonCT); got.code != 200 || !strings.Contains(got.body, "?share=") {
					t.Fatalf("same-origin share: %d %s, want 200 with a link", got.code, got.body)
				}
			},
		},
		{
			name: "form POST /api/login", mode: "users",
			method: "POST", path: "/api/login", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: "user=alice&password=right", want: 415,
		},
		{
			name: "form POST /api/share", mode: "users", signIn: true,
			method: "POST", path: "/api/share", header: map[string]string{"Content-Type": "text/plain"}, body: shareBody, want: 415,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := teamMain(t, cfg(tc.mode))
			c := noRedirect(&http.Client{Timeout: 15 * time.Second})
			var cookie string
			do := func(method, path, body string, h map[string]string) exchange {
				t.Helper()
				if cookie != "" {
					h = with(h, "Cookie", cookie)
				}
				code, header, b := send(t, c, newReq(t, method, m.URL()+path, body, h))
				return exchange{code, header, b}
			}
			if tc.signIn {
				got := do("POST", "/api/login", login("alice", "right"), jsonCT)
				ck := (&http.Response{Header: got.header}).Cookies()
				if got.code != 204 || len(ck) != 1 {
					t.Fatalf("sign-in: %d %s", got.code, got.body)
				}
				cookie = ck[0].Name + "=" + ck[0].Value
			}
			got := do(tc.method, tc.path, tc.body, tc.header)
			if got.code != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, got.code, got.body, tc.want)
			}
			if tc.check != nil {
				tc.check(t, got, do)
			}
		})
	}
}

// TestNoAuthOffLoopback: auth.mode "none" on a listen address others can
// reach refuses to start, naming auth.mode; insecure_no_auth = true (for a
// proxy in front that authenticates) starts it.
func TestNoAuthOffLoopback(t *testing.T) {
	for _, tc := range []struct {
		name, auth string
		wantErr    bool
	}{
		{"mode none", "", true},
		{"mode none with insecure_no_auth", "[auth]\ninsecure_no_auth = true\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fmt.Sprintf("state_dir = %q\n%s[[host]]\nname = \"local\"\nfiles = [\"/tmp/*.log\"]\n", t.TempDir(), tc.auth)
			m := NewMain()
			m.Logger = slog.New(slog.DiscardHandler)
			if err := m.ParseFlags([]string{"-config", writeConfig(t, cfg), "-listen", "0.0.0.0:0"}); err != nil {
				t.Fatal(err)
			}
			err := m.Run()
			if tc.wantErr {
				if err == nil {
					m.Close()
					t.Fatal("started on 0.0.0.0 with auth.mode \"none\"")
				}
				if !strings.Contains(err.Error(), "auth.mode") || !strings.Contains(err.Error(), "insecure_no_auth") {
					t.Fatalf("error %q should name auth.mode and the way out (insecure_no_auth)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("with insecure_no_auth: %v", err)
			}
			defer m.Close()
			_, port, err := net.SplitHostPort(m.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			code, _, body := send(t, &http.Client{Timeout: 10 * time.Second}, newReq(t, "GET", "http://127.0.0.1:"+port+"/api/me", "", nil))
			if code != 200 || decode[me](t, body).Via != "none" {
				t.Fatalf("/api/me on the insecure listen: %d %s", code, body)
			}
		})
	}
}
