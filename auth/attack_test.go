package auth

// Attacks on the auth package's own pieces: sign-in limits, password
// timing, sessions, share links and access rules. Each was a real fault
// once, or guards against one.

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func attackHash(t testing.TB, pw string, cost int) []byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestAttackLoginLimitConcurrentBurst: the limit is "five failures, then one
// per 12 s". Twenty guesses sent at once must not all be checked: Wait and
// Fail are separate steps with a bcrypt comparison between them, so every
// concurrent attempt passes Wait before any has failed.
func TestAttackLoginLimitConcurrentBurst(t *testing.T) {
	signer := NewSigner(make([]byte, 32))
	a := New(Options{
		Mode: ModeUsers, Sessions: NewSessions(signer, time.Hour),
		Users: NewUsers([]User{{Name: "alice", Hash: attackHash(t, "right", 10)}}),
	})
	const n = 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	checked := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _, err := a.Login("203.0.113.9", "alice", "guess")
			if errors.Is(err, ErrBadLogin) {
				mu.Lock()
				checked++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if checked > 5 {
		t.Fatalf("%d of %d concurrent guesses were checked against the password; the limit allows 5", checked, n)
	}
}

// TestAttackLoginLimitSerial: serial guesses are limited per address and per
// name; a right password is refused while limited (regression).
func TestAttackLoginLimitSerial(t *testing.T) {
	now := t0
	signer := NewSigner(make([]byte, 32))
	a := New(Options{
		Mode: ModeUsers, Sessions: NewSessions(signer, time.Hour),
		Users: NewUsers([]User{{Name: "alice", Hash: attackHash(t, "right", bcrypt.MinCost)}}),
		Now:   func() time.Time { return now },
	})
	for i := range 5 {
		if _, _, err := a.Login("198.51.100.1", "alice", "guess"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	// Another address, same name: the name is limited too.
	if _, _, err := a.Login("198.51.100.2", "alice", "right"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("same name from another address: %v, want rate limited", err)
	}
	// Another name, same address: the address is limited.
	if _, _, err := a.Login("198.51.100.1", "bob", "x"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("other name from the same address: %v, want rate limited", err)
	}
	now = now.Add(13 * time.Second)
	if _, _, err := a.Login("198.51.100.1", "alice", "right"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

// TestAttackMixedCostsTellNamesApart: an unknown name is compared against a
// dummy hash of the highest cost among the users. A user whose hash has a
// lower cost (an older hash, a hand-made one) answers measurably faster than
// an unknown name, so the time tells that name exists.
func TestAttackMixedCostsTellNamesApart(t *testing.T) {
	u := NewUsers([]User{
		{Name: "old", Hash: attackHash(t, "x", bcrypt.MinCost)}, // cost 4
		{Name: "new", Hash: attackHash(t, "y", 11)},
	})
	timeOf := func(name string) time.Duration {
		best := time.Hour
		for range 3 {
			t0 := time.Now()
			u.Check(name, "wrong")
			best = min(best, time.Since(t0))
		}
		return best
	}
	known, unknown := timeOf("old"), timeOf("nobody")
	if unknown > 8*known {
		t.Fatalf("wrong password for an existing user: %v; for an unknown name: %v: the time tells names apart", known, unknown)
	}
}

// TestAttackLogoutSurvivesRestart: logout used to revoke the session in
// memory only, so a copy of the cookie (stolen, or left in another browser)
// was valid again after a restart until it expired. Revocations are now kept
// in a file (KeepRevocations; a cluster keeps them in its shared bucket).
func TestAttackLogoutSurvivesRestart(t *testing.T) {
	key := make([]byte, 32)
	path := filepath.Join(t.TempDir(), "revoked")
	s1 := NewSessions(NewSigner(key), 12*time.Hour)
	if _, err := KeepRevocations(path, s1, t0); err != nil {
		t.Fatal(err)
	}
	cookie, id := s1.Issue(Identity{User: "alice", Via: ViaSession}, t0)
	if err := s1.Revoke(id.Session, id.Expires, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Check(cookie, t0.Add(time.Minute)); err == nil {
		t.Fatal("revoked cookie accepted by the same process")
	}
	s2 := NewSessions(NewSigner(key), 12*time.Hour) // the restarted server
	if _, err := KeepRevocations(path, s2, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Check(cookie, t0.Add(time.Minute)); err == nil {
		t.Fatalf("a logged-out cookie is accepted again after a restart: %+v", got)
	}
}

// TestAttackRemovedUserKeepsSession: removing a [[user]] (or changing their
// groups) and restarting does not end their sessions: the cookie carries the
// user and groups and is never checked against the configured users.
func TestAttackRemovedUserKeepsSession(t *testing.T) {
	key := make([]byte, 32)
	before := New(Options{Mode: ModeUsers, Sessions: NewSessions(NewSigner(key), 12*time.Hour),
		Users: NewUsers([]User{{Name: "mallory", Hash: attackHash(t, "pw", bcrypt.MinCost), Groups: []string{"ops"}}})})
	cookie, _, err := before.Login("192.0.2.1", "mallory", "pw")
	if err != nil {
		t.Fatal(err)
	}
	// The admin removes mallory and restarts with the same secret_file.
	after := New(Options{Mode: ModeUsers, Sessions: NewSessions(NewSigner(key), 12*time.Hour),
		Users: NewUsers([]User{{Name: "alice", Hash: attackHash(t, "pw", bcrypt.MinCost)}})})
	r := httptest.NewRequest("GET", "/api/me", nil)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: cookie})
	if id, _ := after.Identify(r); id != nil {
		t.Fatalf("a removed user is still signed in: %+v", id)
	}
}

// TestAttackTokenNameCollision: a rule for a machine token names the user
// "token:ci". A person whose name comes from a proxy or an OIDC provider can
// be called "token:ci" too, and then gets the token's access (with every
// scope, since only tokens are limited by scope).
func TestAttackTokenNameCollision(t *testing.T) {
	rules := NewRules([]Rule{{Users: []string{"token:ci"}, Hosts: []string{"prod-db"}}})
	for _, via := range []string{ViaProxy, ViaOIDC} {
		if rules.Host(&Identity{User: "token:ci", Via: via}, "prod-db") {
			t.Errorf("a %s user named \"token:ci\" sees what the token may see", via)
		}
	}
	if !rules.Host(&Identity{User: "token:ci", Via: ViaToken, Scopes: []string{"read"}}, "prod-db") {
		t.Error("the token itself lost its access")
	}
}

// TestAttackShareOutlivesLoweredMaxTTL: share_max_ttl is lowered (say from
// 7d to 1h) after links were made; the old links keep their 7 days.
func TestAttackShareOutlivesLoweredMaxTTL(t *testing.T) {
	key := make([]byte, 32)
	old := NewShares(NewSigner(key), 7*24*time.Hour)
	tok, _ := old.Make(Share{Host: "h", File: "/f"}, 0, t0)
	now := NewShares(NewSigner(key), time.Hour)
	if _, err := now.Check(tok, t0.Add(2*time.Hour)); err == nil {
		t.Fatal("a link made under share_max_ttl=7d is still valid 2h later under share_max_ttl=1h")
	}
}

// TestAttackSignedTokensKeepTheirPurpose: a share token is not a session
// cookie and the other way round; oversized and truncated tokens are refused
// without panicking (regression).
func TestAttackSignedTokensKeepTheirPurpose(t *testing.T) {
	key := make([]byte, 32)
	signer := NewSigner(key)
	sessions := NewSessions(signer, time.Hour)
	shares := NewShares(signer, time.Hour)
	cookie, _ := sessions.Issue(Identity{User: "alice", Via: ViaSession}, t0)
	tok, _ := shares.Make(Share{Host: "h", File: "/f", By: "alice"}, time.Minute, t0)
	if _, err := sessions.Check(tok, t0); err == nil {
		t.Fatal("a share token passed as a session cookie")
	}
	if _, err := shares.Check(cookie, t0); err == nil {
		t.Fatal("a session cookie passed as a share token")
	}
	for _, bad := range []string{"", ".", "..", tok[:len(tok)/2], tok + "." + tok, string(make([]byte, 10<<10)), "e30.", "e30"} {
		if _, err := shares.Check(bad, t0); err == nil {
			t.Errorf("share token %.40q accepted", bad)
		}
		if _, err := sessions.Check(bad, t0); err == nil {
			t.Errorf("cookie %.40q accepted", bad)
		}
	}
}

// TestAttackClientIPFromUntrustedPeer: X-Forwarded-For from a peer that is
// not a trusted proxy never changes the client address, however it is
// spelled (regression).
func TestAttackClientIPFromUntrustedPeer(t *testing.T) {
	a := New(Options{Mode: ModeUsers, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}})
	for _, xff := range []string{"10.0.0.1", "1.2.3.4", "1.2.3.4, 10.0.0.1", "::1", "garbage", ""} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "192.0.2.7:4444"
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Real-IP", "5.6.7.8")
		if got := a.ClientIP(r); got != "192.0.2.7" {
			t.Errorf("XFF %q from an untrusted peer: ClientIP %s", xff, got)
		}
	}
}
