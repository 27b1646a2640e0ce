package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

const oidcTimeout = 20 * time.Second

// mustMockOIDC runs an in-process provider on loopback.
func mustMockOIDC(tb testing.TB) *mockoidc.MockOIDC {
	tb.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = m.Shutdown() })
	return m
}

func mustOIDC(tb testing.TB, m *mockoidc.MockOIDC, o OIDCOptions) *OIDC {
	tb.Helper()
	o.Issuer, o.ClientID, o.ClientSecret = m.Issuer(), m.ClientID, m.ClientSecret
	o.RedirectURL = "http://127.0.0.1:1/logs/auth/oidc/callback" // never reached: authorize answers with its Location
	return NewOIDC(o, NewSigner([]byte(strings.Repeat("k", 32))))
}

// authorize visits the provider's authorization URL as a browser would and
// returns the callback's query (code and state).
func authorize(tb testing.TB, authURL string) url.Values {
	tb.Helper()
	c := &http.Client{Timeout: oidcTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		tb.Fatalf("authorize: HTTP %d, Location %v", resp.StatusCode, err)
	}
	return loc.Query()
}

// signIn runs a whole sign-in against the mock provider.
func signIn(tb testing.TB, o *OIDC) (Identity, string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), oidcTimeout)
	defer cancel()
	authURL, cookie, err := o.Begin(ctx, "/logs/")
	if err != nil {
		tb.Fatal(err)
	}
	return o.Finish(ctx, cookie, authorize(tb, authURL))
}

// claimsUser is a provider user whose ID token and userinfo carry the
// given extra claims.
type claimsUser struct {
	sub             string
	token, userinfo map[string]any
}

func (u claimsUser) ID() string { return u.sub }

func (u claimsUser) Userinfo([]string) ([]byte, error) {
	m := map[string]any{"sub": u.sub}
	for k, v := range u.userinfo {
		m[k] = v
	}
	return json.Marshal(m)
}

func (u claimsUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return extraClaims{base, u.token}, nil
}

type extraClaims struct {
	*mockoidc.IDTokenClaims
	extra map[string]any
}

func (c extraClaims) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(c.IDTokenClaims)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range c.extra {
		m[k] = v
	}
	return json.Marshal(m)
}

// TestOIDCIdentityFromClaims: the user name falls back from
// preferred_username to email to sub; groups come from the configured
// claim as a list or a single string, from the userinfo endpoint when the
// ID token has none, and too many to fit a session cookie are refused.
func TestOIDCIdentityFromClaims(t *testing.T) {
	many := make([]string, 300)
	for i := range many {
		many[i] = fmt.Sprintf("a-rather-long-group-name-%03d", i)
	}
	for _, tt := range []struct {
		name   string
		claim  string
		user   mockoidc.User
		want   Identity
		refuse string
	}{
		{name: "preferred_username and list", user: &mockoidc.MockUser{Subject: "s1", PreferredUsername: "bob", Email: "b@x", Groups: []string{"dev", "ops"}},
			want: Identity{User: "bob", Groups: []string{"dev", "ops"}, Via: ViaOIDC}},
		{name: "email", user: &mockoidc.MockUser{Subject: "s2", Email: "carol@example.com"},
			want: Identity{User: "carol@example.com", Via: ViaOIDC}},
		{name: "sub", user: &mockoidc.MockUser{Subject: "s3"},
			want: Identity{User: "s3", Via: ViaOIDC}},
		{name: "single string in a custom claim", claim: "roles", user: claimsUser{sub: "s4", token: map[string]any{"preferred_username": "dan", "roles": "dev"}},
			want: Identity{User: "dan", Groups: []string{"dev"}, Via: ViaOIDC}},
		{name: "nested claim", claim: "realm_access.roles", user: claimsUser{sub: "s5", token: map[string]any{"realm_access": map[string]any{"roles": []any{"dev", 7, "", "dev", "qa"}}}},
			want: Identity{User: "s5", Groups: []string{"dev", "qa"}, Via: ViaOIDC}},
		{name: "groups from userinfo", user: claimsUser{sub: "s6", userinfo: map[string]any{"groups": []string{"ops"}}},
			want: Identity{User: "s6", Groups: []string{"ops"}, Via: ViaOIDC}},
		{name: "userinfo of another subject ignored", user: claimsUser{sub: "s7", userinfo: map[string]any{"sub": "other", "groups": []string{"ops"}}},
			want: Identity{User: "s7", Via: ViaOIDC}},
		{name: "too many groups", user: &mockoidc.MockUser{Subject: "s8", Groups: many}, refuse: "too many to keep in a session cookie"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := mustMockOIDC(t)
			o := mustOIDC(t, m, OIDCOptions{GroupsClaim: tt.claim})
			m.QueueUser(tt.user)
			id, next, err := signIn(t, o)
			if tt.refuse != "" {
				if !errors.Is(err, ErrOIDCToken) || !strings.Contains(err.Error(), tt.refuse) {
					t.Fatalf("err %v, want ErrOIDCToken saying %q", err, tt.refuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.User != tt.want.User || !slices.Equal(id.Groups, tt.want.Groups) || id.Via != ViaOIDC || next != "/logs/" {
				t.Fatalf("got %+v next %q, want %+v next /logs/", id, next, tt.want)
			}
		})
	}
}

// TestOIDCStateChecks: a callback is accepted only with this server's
// unexpired, unaltered state cookie whose state equals the state parameter,
// once; an ID token whose nonce is not the sign-in's is refused.
func TestOIDCStateChecks(t *testing.T) {
	m := mustMockOIDC(t)
	now := time.Now()
	clock := func() time.Time { return now }
	o := mustOIDC(t, m, OIDCOptions{Now: func() time.Time { return clock() }})
	ctx, cancel := context.WithTimeout(context.Background(), oidcTimeout)
	defer cancel()
	begin := func() (string, string) {
		authURL, cookie, err := o.Begin(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		return authURL, cookie
	}

	authURL, cookie := begin()
	u, _ := url.Parse(authURL)
	aq := u.Query()
	if aq.Get("code_challenge_method") != "S256" || aq.Get("code_challenge") == "" || aq.Get("nonce") == "" || aq.Get("state") == "" || aq.Get("code_verifier") != "" {
		t.Fatalf("authorization URL lacks PKCE S256, nonce or state, or leaks the verifier: %s", authURL)
	}
	q := authorize(t, authURL)
	other := NewOIDC(o.o, NewSigner([]byte(strings.Repeat("x", 32))))
	for _, tt := range []struct {
		name   string
		o      *OIDC
		cookie string
		q      url.Values
		want   string
	}{
		{"no cookie", o, "", q, "missing"},
		{"altered cookie", o, cookie[:len(cookie)-2] + "AA", q, "altered"},
		{"another server's cookie", other, cookie, q, "altered"},
		{"altered state", o, cookie, url.Values{"state": {q.Get("state") + "x"}, "code": {q.Get("code")}}, "does not match"},
		{"no state", o, cookie, url.Values{"code": {q.Get("code")}}, "does not match"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := tt.o.Finish(ctx, tt.cookie, tt.q); !errors.Is(err, ErrOIDCState) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want ErrOIDCState saying %q", err, tt.want)
			}
		})
	}
	if _, _, err := o.Finish(ctx, cookie, q); err != nil {
		t.Fatalf("the genuine callback after refused ones: %v", err)
	}
	if _, _, err := o.Finish(ctx, cookie, q); !errors.Is(err, ErrOIDCState) || !strings.Contains(err.Error(), "already completed") {
		t.Fatalf("replayed callback: %v, want ErrOIDCState (already completed)", err)
	}

	t.Run("expired", func(t *testing.T) {
		authURL, cookie := begin()
		q := authorize(t, authURL)
		later := now.Add(OIDCStateTTL + time.Second)
		clock = func() time.Time { return later }
		defer func() { clock = func() time.Time { return now } }()
		if _, _, err := o.Finish(ctx, cookie, q); !errors.Is(err, ErrOIDCState) || !strings.Contains(err.Error(), "longer than") {
			t.Fatalf("err %v, want ErrOIDCState (expired)", err)
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		authURL, cookie := begin()
		u, _ := url.Parse(authURL)
		aq := u.Query()
		aq.Set("nonce", "chosen-by-an-attacker")
		u.RawQuery = aq.Encode()
		if _, _, err := o.Finish(ctx, cookie, authorize(t, u.String())); !errors.Is(err, ErrOIDCToken) || !strings.Contains(err.Error(), "nonce") {
			t.Fatalf("err %v, want ErrOIDCToken (nonce)", err)
		}
	})
	t.Run("provider error", func(t *testing.T) {
		authURL, cookie := begin()
		u, _ := url.Parse(authURL)
		q := url.Values{"state": {u.Query().Get("state")}, "error": {"access_denied"}, "error_description": {"user said no"}}
		if _, _, err := o.Finish(ctx, cookie, q); !errors.Is(err, ErrOIDCDenied) || !strings.Contains(err.Error(), "access_denied: user said no") {
			t.Fatalf("err %v, want ErrOIDCDenied with the provider's reason", err)
		}
	})
	t.Run("code refused", func(t *testing.T) {
		authURL, cookie := begin()
		q := authorize(t, authURL)
		q.Set("code", "not-a-code")
		_, _, err := o.Finish(ctx, cookie, q)
		if !errors.Is(err, ErrOIDCToken) || !strings.Contains(err.Error(), "invalid_grant") || strings.Contains(err.Error(), "not-a-code") {
			t.Fatalf("err %v, want ErrOIDCToken naming invalid_grant and not echoing the code", err)
		}
	})
}

// TestOIDCDiscoveryRetried: an issuer that fails discovery makes Begin
// answer ErrOIDCUnavailable (the server still starts), and the next sign-in
// tries again; one that is not listening fails at once.
func TestOIDCDiscoveryRetried(t *testing.T) {
	m := mustMockOIDC(t)
	o := mustOIDC(t, m, OIDCOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), oidcTimeout)
	defer cancel()
	m.QueueError(&mockoidc.ServerError{Code: http.StatusServiceUnavailable, Error: "temporarily_unavailable", Description: "down for maintenance"})
	if _, _, err := o.Begin(ctx, ""); !errors.Is(err, ErrOIDCUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("discovery while the provider answers 503: %v, want ErrOIDCUnavailable", err)
	}
	if _, _, err := o.Begin(ctx, ""); err != nil {
		t.Fatalf("discovery once the provider is back: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	down := NewOIDC(OIDCOptions{Issuer: "http://" + addr + "/oidc", ClientID: "x"}, NewSigner([]byte(strings.Repeat("k", 32))))
	if _, _, err := down.Begin(ctx, ""); !errors.Is(err, ErrOIDCUnavailable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("issuer not listening: %v, want ErrOIDCUnavailable naming it", err)
	}
}

func TestOIDCRedirectURL(t *testing.T) {
	for _, pub := range []string{"https://ops.example.com/logs/", "https://ops.example.com/logs"} {
		if got := OIDCRedirectURL(pub); got != "https://ops.example.com/logs/auth/oidc/callback" {
			t.Errorf("OIDCRedirectURL(%q) = %q", pub, got)
		}
	}
}

func TestOIDCLoadClientSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if s, err := LoadClientSecret(write("ok", "  s3cret\n", 0o600)); s != "s3cret" || err != nil {
		t.Errorf("0600 file: %q %v, want the trimmed secret", s, err)
	}
	if s, err := LoadClientSecret(""); s != "" || err != nil {
		t.Errorf("no file (public client): %q %v", s, err)
	}
	if _, err := LoadClientSecret(write("open", "s3cret", 0o644)); err == nil || !strings.Contains(err.Error(), "readable by others") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("0644 file: %v, want refused without showing the secret", err)
	}
	if _, err := LoadClientSecret(write("empty", "\n", 0o600)); err == nil {
		t.Error("empty file accepted")
	}
	if _, err := LoadClientSecret(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}
