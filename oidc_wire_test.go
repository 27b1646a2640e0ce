package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// oidcConfig writes a config in auth mode "oidc" behind
// https://logs.example.com/team/ (TLS ends at a proxy) and returns its path.
func oidcConfig(t *testing.T, issuer, clientID, secret string, secretMode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "oidc-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), secretMode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secretFile, secretMode); err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, `public_url = "https://logs.example.com/team/"
state_dir = "`+filepath.Join(dir, "state")+`"
[auth]
mode = "oidc"
oidc_issuer = "`+issuer+`"
oidc_client_id = "`+clientID+`"
oidc_client_secret_file = "`+secretFile+`"
[[host]]
name = "local"
files = ["`+dir+`/*.log"]
`)
}

func runMain(t *testing.T, cfg string) (*Main, error) {
	t.Helper()
	m := NewMain()
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.ParseFlags([]string{"-config", cfg, "-listen", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, nil
}

// TestMainOIDCWiring: the [auth] oidc_* keys become a working sign-in:
// the callback registered at the provider is public_url +
// "auth/oidc/callback", the client secret comes from its file, and the
// whole flow through Main ends in a session with via "oidc". The server
// starts while the issuer is unreachable (sign-in answers 503), and a
// secret file readable by others is refused at start.
func TestMainOIDCWiring(t *testing.T) {
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	c := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string, cookie *http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	cookieOf := func(resp *http.Response, name string) *http.Cookie {
		for _, ck := range resp.Cookies() {
			if ck.Name == name {
				return ck
			}
		}
		t.Fatalf("%s: HTTP %d without cookie %s", resp.Request.URL, resp.StatusCode, name)
		return nil
	}

	m, err := runMain(t, oidcConfig(t, idp.Issuer(), idp.ClientID, idp.ClientSecret, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	resp := get(m.URL()+"/auth/oidc/login", nil)
	authURL, err := resp.Location()
	if err != nil || !strings.HasPrefix(authURL.String(), idp.AuthorizationEndpoint()) ||
		authURL.Query().Get("redirect_uri") != "https://logs.example.com/team/auth/oidc/callback" {
		t.Fatalf("login: HTTP %d to %v, want the provider with redirect_uri under public_url", resp.StatusCode, authURL)
	}
	state := cookieOf(resp, "lv_oidc")
	if !state.Secure || state.Path != "/team/auth/oidc/" {
		t.Fatalf("state cookie %+v: want Secure (public_url is https) under /team/auth/oidc/", state)
	}
	callback, err := get(authURL.String(), nil).Location()
	if err != nil {
		t.Fatal(err)
	}
	// The proxy at logs.example.com would pass the callback on to us.
	resp = get(m.URL()+"/auth/oidc/callback?"+callback.RawQuery, &http.Cookie{Name: state.Name, Value: state.Value})
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/team/" {
		t.Fatalf("callback: HTTP %d to %v, want 303 to /team/ (the client secret from its file must have been accepted)", resp.StatusCode, loc)
	}
	session := cookieOf(resp, "lv_session")
	req, _ := http.NewRequest("GET", m.URL()+"/api/me", nil)
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	meResp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var me struct{ User, Via string }
	_ = json.NewDecoder(meResp.Body).Decode(&me)
	meResp.Body.Close()
	if meResp.StatusCode != 200 || me.User != mockoidc.DefaultUser().PreferredUsername || me.Via != "oidc" {
		t.Fatalf("/api/me: %d %+v, want the provider's user via oidc", meResp.StatusCode, me)
	}

	t.Run("issuer unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "http://" + ln.Addr().String() + "/oidc"
		ln.Close()
		m, err := runMain(t, oidcConfig(t, down, "logviewer", "s3cret", 0o600))
		if err != nil {
			t.Fatalf("the server must start while the issuer is unreachable: %v", err)
		}
		if resp := get(m.URL()+"/auth/oidc/login", nil); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("login: HTTP %d, want 503", resp.StatusCode)
		}
	})
	t.Run("secret readable by others", func(t *testing.T) {
		_, err := runMain(t, oidcConfig(t, idp.Issuer(), idp.ClientID, "s3cret", 0o644))
		if err == nil || !strings.Contains(err.Error(), "readable by others") || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("Run: %v, want refused for the file's mode, without the secret", err)
		}
	})
}
