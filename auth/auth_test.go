package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var t0 = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

func TestSignerRefusesAlteredTokens(t *testing.T) {
	s := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	tok := s.Sign("share", map[string]string{"f": "/a.log"})
	var v map[string]string
	if err := s.Verify("share", tok, &v); err != nil || v["f"] != "/a.log" {
		t.Fatalf("round trip: %v %v", v, err)
	}
	p, m, _ := strings.Cut(tok, ".")
	other := s.Sign("share", map[string]string{"f": "/etc/shadow"})
	op, _, _ := strings.Cut(other, ".")
	for name, bad := range map[string]string{
		"payload swapped": op + "." + m,
		"mac cut":         p + "." + m[:len(m)-2],
		"no dot":          p + m,
		"empty":           "",
		"huge":            strings.Repeat("a", 10000) + "." + m,
	} {
		if err := s.Verify("share", bad, &v); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := s.Verify("session", tok, &v); !errors.Is(err, ErrInvalid) {
		t.Error("a share token passed as a session")
	}
	if err := NewSigner([]byte("another key, another key, 32 b!")).Verify("share", tok, &v); !errors.Is(err, ErrInvalid) {
		t.Error("a token signed with another key passed")
	}
}

func TestSessionsExpireAndRevoke(t *testing.T) {
	s := NewSessions(NewSigner(make([]byte, 32)), time.Hour)
	c, id := s.Issue(Identity{User: "alice", Groups: []string{"ops"}, Via: ViaSession}, t0)
	got, err := s.Check(c, t0.Add(59*time.Minute))
	if err != nil || got.User != "alice" || got.Groups[0] != "ops" || got.Session != id.Session || !got.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("check: %+v %v", got, err)
	}
	if _, err := s.Check(c, t0.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("after the TTL: %v", err)
	}
	s.Revoke(id.Session, id.Expires, t0)
	if _, err := s.Check(c, t0.Add(time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("after logout: %v", err)
	}
}

func TestSharesBoundedAndExpire(t *testing.T) {
	sh := NewShares(NewSigner(make([]byte, 32)), 24*time.Hour)
	tok, exp := sh.Make(Share{Host: "web-1", File: "/a.log", By: "alice"}, 30*24*time.Hour, t0)
	if !exp.Equal(t0.Add(24 * time.Hour)) {
		t.Fatalf("a 30-day link expires %v, want clamped to the maximum", exp)
	}
	id, err := sh.Check(tok, t0.Add(time.Hour))
	if err != nil || id.Via != ViaShare || id.Share.File != "/a.log" {
		t.Fatalf("check: %+v %v", id, err)
	}
	if _, err := sh.Check(tok, exp); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v", err)
	}
}

func TestUsersSameAnswerForUnknownNames(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost) // HashPassword's cost 12 takes seconds under -race
	u := NewUsers([]User{{Name: "alice", Hash: h, Groups: []string{"ops"}}})
	if id := u.Check("alice", "s3cret"); id == nil || id.User != "alice" {
		t.Fatal("right password refused")
	}
	if u.Check("alice", "wrong") != nil || u.Check("bob", "s3cret") != nil || u.Check("", "") != nil {
		t.Fatal("wrong credentials accepted")
	}
	// The unknown name is compared against a hash of the same cost: bcrypt's
	// cost is the time.
	if c, err := bcrypt.Cost(u.dummy); err != nil || c != bcrypt.MinCost {
		t.Fatalf("dummy hash cost %d (%v), want the users' (%d)", c, err, bcrypt.MinCost)
	}
	if hp, err := HashPassword("x"); err != nil || bcrypt.CompareHashAndPassword([]byte(hp), []byte("x")) != nil {
		t.Fatalf("HashPassword: %v", err)
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(5, 12*time.Second)
	for i := range 5 {
		if w := l.Take("k", t0); w != 0 {
			t.Fatalf("attempt %d must wait %v", i+1, w)
		}
	}
	w := l.Take("k", t0)
	if w <= 0 || w > 12*time.Second {
		t.Fatalf("after 5 attempts: wait %v, want up to 12s", w)
	}
	if l.Take("other", t0) != 0 {
		t.Fatal("the wait spills to another key")
	}
	l.Refund("k", t0) // the last attempt succeeded
	if l.Take("k", t0) != 0 {
		t.Fatal("a refunded attempt was not given back")
	}
	if l.Take("k", t0.Add(w)) != 0 {
		t.Fatal("the wait does not end")
	}
}

func TestRules(t *testing.T) {
	alice := &Identity{User: "alice", Groups: []string{"ops"}}
	bob := &Identity{User: "bob", Groups: []string{"dev"}}
	if !(*Rules)(nil).File(alice, "db-1", "/x") || !NewRules(nil).Host(bob, "anything") {
		t.Fatal("no rules: everyone sees everything")
	}
	marksOnly := &Identity{Via: ViaToken, User: "token:ci", Scopes: []string{"marks"}}
	reader := &Identity{Via: ViaToken, User: "token:r", Scopes: []string{"read"}}
	if NewRules(nil).Host(marksOnly, "h") || NewRules(nil).File(marksOnly, "h", "/x") || !NewRules(nil).File(reader, "h", "/x") {
		t.Fatal("a token reads logs only with the read scope")
	}
	r := NewRules([]Rule{
		{Groups: []string{"ops"}, Hosts: []string{"*"}},
		{Groups: []string{"dev"}, Hosts: []string{"web-*"}, Files: []string{"/srv/app/log/*"}},
		{Users: []string{"bob"}, Hosts: []string{"db-1"}, Files: []string{"/var/log/postgresql/*.log"}},
	})
	for _, tt := range []struct {
		id         *Identity
		host, file string
		host0, ok  bool
	}{
		{alice, "db-1", "/etc/x", true, true},
		{bob, "web-01", "/srv/app/log/a.log", true, true},
		{bob, "web-01", "/var/log/syslog", true, false},
		{bob, "db-1", "/var/log/postgresql/main.log", true, true},
		{bob, "db-2", "/var/log/postgresql/main.log", false, false},
		{&Identity{User: "eve"}, "web-01", "/srv/app/log/a.log", false, false},
		{nil, "web-01", "/srv/app/log/a.log", false, false},
		{&Identity{Via: ViaShare, Share: &Share{Host: "web-01", File: "/srv/app/log/a.log"}}, "web-01", "/srv/app/log/a.log", true, true},
		{&Identity{Via: ViaShare, Share: &Share{Host: "web-01", File: "/srv/app/log/a.log"}}, "web-01", "/srv/app/log/b.log", true, false},
		{&Identity{Via: ViaShare, Share: &Share{Host: "web-01", File: "/srv/app/log/a.log"}}, "web-02", "/srv/app/log/a.log", false, false},
		{&Identity{Via: ViaToken, User: "token:ci", Scopes: []string{"marks"}}, "db-1", "/etc/x", false, false},
	} {
		if h, f := r.Host(tt.id, tt.host), r.File(tt.id, tt.host, tt.file); h != tt.host0 || f != tt.ok {
			t.Errorf("%+v on %s %s: host %v file %v, want %v %v", tt.id, tt.host, tt.file, h, f, tt.host0, tt.ok)
		}
	}
}

func TestIdentifyAndClientIP(t *testing.T) {
	signer := NewSigner(make([]byte, 32))
	shares := NewShares(signer, time.Hour)
	now := t0
	a := New(Options{
		Mode: ModeProxy, Shares: shares, Tokens: NewTokens([]Token{{Name: "ci", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Scopes: []string{"marks"}}}),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, ProxyUserHeader: "Remote-User", ProxyGroupsHeader: "Remote-Groups",
		Now: func() time.Time { return now },
	})
	req := func(remote string, h map[string]string, query string) *http.Request {
		r := httptest.NewRequest("GET", "/api/me"+query, nil)
		r.RemoteAddr = remote
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return r
	}
	id, err := a.Identify(req("127.0.0.2:5000", map[string]string{"Remote-User": "alice", "Remote-Groups": "ops, dev"}, ""))
	if err != nil || id == nil || id.User != "alice" || len(id.Groups) != 2 || id.Via != ViaProxy {
		t.Fatalf("trusted proxy: %+v %v", id, err)
	}
	if id, _ := a.Identify(req("127.0.0.1:5000", map[string]string{"Remote-User": "admin"}, "")); id != nil {
		t.Fatalf("a forged header from an untrusted address was believed: %+v", id)
	}
	if id, _ := a.Identify(req("127.0.0.1:5000", map[string]string{"Authorization": "Bearer test"}, "")); id == nil || !id.Can("marks") || id.Can("read") {
		t.Fatalf("token: %+v", id)
	}
	if _, err := a.Identify(req("127.0.0.1:5000", map[string]string{"Authorization": "Bearer nope"}, "")); !errors.Is(err, ErrBadToken) {
		t.Fatalf("bad token: %v", err)
	}
	// Basic auth forwarded by a proxy is not a token: the mode decides.
	if id, err := a.Identify(req("127.0.0.2:5000", map[string]string{"Authorization": "Basic YWxpY2U6eA==", "Remote-User": "alice"}, "")); err != nil || id == nil || id.User != "alice" {
		t.Fatalf("basic auth through the proxy: %+v %v", id, err)
	}
	tok, _ := shares.Make(Share{Host: "h", File: "/f"}, time.Minute, now)
	if id, err := a.Identify(req("127.0.0.1:1", nil, "?share="+tok)); err != nil || id.Share == nil {
		t.Fatalf("share: %+v %v", id, err)
	}
	if _, err := a.Identify(req("127.0.0.1:1", nil, "?share="+tok+"x")); !errors.Is(err, ErrBadShare) {
		t.Fatalf("altered share: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := a.Identify(req("127.0.0.1:1", nil, "?share="+tok)); !errors.Is(err, ErrOldShare) {
		t.Fatalf("expired share: %v", err)
	}
	for _, tt := range []struct{ remote, xff, want string }{
		{"10.1.1.1:1", "", "10.1.1.1"},
		{"10.1.1.1:1", "1.2.3.4", "10.1.1.1"},            // not a trusted proxy: its header is ignored
		{"127.0.0.2:1", "1.2.3.4", "1.2.3.4"},            // what the proxy saw
		{"127.0.0.2:1", "6.6.6.6, 1.2.3.4", "1.2.3.4"},   // the client may forge what comes before
		{"127.0.0.2:1", "1.2.3.4, 127.0.0.2", "1.2.3.4"}, // trusted hops skipped
		{"[::ffff:127.0.0.2]:1", "junk", "127.0.0.2"},    // unparsable: the proxy itself
	} {
		r := req(tt.remote, map[string]string{"X-Forwarded-For": tt.xff}, "")
		if got := a.ClientIP(r); got != tt.want {
			t.Errorf("ClientIP(%s, XFF %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}

func TestLoadSecret(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state", "secret")
	k1, err := LoadSecret(p)
	if err != nil || len(k1) != secretLen {
		t.Fatalf("create: %v", err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadSecret(p)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("reload gave another key: %v", err)
	}
	_ = os.Chmod(p, 0o644)
	if _, err := LoadSecret(p); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("a world-readable key was accepted: %v", err)
	}
}

// TestKeepRevocations: the file keeps what is in force, drops what expired
// (it is rewritten at each start) and lines a crash cut short, and appends
// each new logout.
func TestKeepRevocations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "revoked")
	body := fmt.Sprintf("old %d\nlive %d\ncut-sh", t0.Add(-time.Hour).Unix(), t0.Add(time.Hour).Unix())
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewSessions(NewSigner(make([]byte, 32)), 12*time.Hour)
	bad, err := KeepRevocations(path, s, t0)
	if err != nil || fmt.Sprint(bad) != "[3]" {
		t.Fatalf("KeepRevocations = %v, %v; want line 3 unreadable", bad, err)
	}
	if s.Insert("live", t0.Add(time.Hour), t0) {
		t.Error("a revocation from the file was not loaded")
	}
	if !s.Insert("old", t0.Add(time.Hour), t0) {
		t.Error("an expired revocation was loaded")
	}
	if err := s.Revoke("new", t0.Add(2*time.Hour), t0); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	want := fmt.Sprintf("live %d\nnew %d\n", t0.Add(time.Hour).Unix(), t0.Add(2*time.Hour).Unix())
	if err != nil || string(b) != want {
		t.Fatalf("file holds %q (%v), want %q", b, err, want)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v (%v), want 0600", info.Mode(), err)
	}
}

// TestRevocationsPruned: revocations that expired are dropped, at most a
// minute late, and one loaded twice is news only once.
func TestRevocationsPruned(t *testing.T) {
	s := NewSessions(NewSigner(make([]byte, 32)), 12*time.Hour)
	if !s.Insert("a", t0.Add(time.Second), t0) || s.Insert("a", t0.Add(time.Second), t0) {
		t.Fatal("a new revocation must be news once")
	}
	for i := range 1000 {
		s.Insert(fmt.Sprint("k", i), t0.Add(time.Hour), t0)
	}
	s.Insert("b", t0.Add(3*time.Hour), t0.Add(2*time.Hour)) // a minute and more later: a, k… expired
	s.mu.Lock()
	n := len(s.revoked)
	s.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d revocations held, want only b's", n)
	}
}
