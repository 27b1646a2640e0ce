package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogoutOutlivesRestart: a copy of a cookie that was signed out (left
// in another browser, or stolen) stays refused after the server restarts
// with the same state_dir (and so the same signing key). Before, the
// revocation was kept in memory only and the copy worked again.
func TestLogoutOutlivesRestart(t *testing.T) {
	state := t.TempDir()
	cfg := fmt.Sprintf(`state_dir = %q
[auth]
mode = "users"
[[user]]
name = "alice"
password = %q
[[host]]
name = "local"
files = ["/nonexistent/*.log"]
`, state, cheapHash(t, "pw"))
	jsonCT := map[string]string{"Content-Type": "application/json"}
	c := noRedirect(&http.Client{Timeout: 15 * time.Second})

	m := teamMain(t, cfg)
	code, header, body := send(t, c, newReq(t, "POST", m.URL()+"/api/login", `{"user":"alice","password":"pw"}`, jsonCT))
	if code != http.StatusNoContent {
		t.Fatalf("login: %d %s", code, body)
	}
	cookie := strings.SplitN(header.Get("Set-Cookie"), ";", 2)[0]
	me := func(m *Main) int {
		code, _, _ := send(t, c, newReq(t, "GET", m.URL()+"/api/me", "", map[string]string{"Cookie": cookie}))
		return code
	}
	if got := me(m); got != http.StatusOK {
		t.Fatalf("/api/me with the new session: %d", got)
	}
	if code, _, body := send(t, c, newReq(t, "POST", m.URL()+"/api/logout", "{}", map[string]string{"Content-Type": "application/json", "Cookie": cookie})); code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", code, body)
	}
	if got := me(m); got != http.StatusUnauthorized {
		t.Fatalf("/api/me with the signed-out cookie: %d, want 401", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m2 := teamMain(t, cfg) // the same state_dir: the same key, the same revocations
	if got := me(m2); got != http.StatusUnauthorized {
		t.Fatalf("/api/me with the signed-out cookie after a restart: %d, want 401", got)
	}
	b, err := os.ReadFile(filepath.Join(state, "revoked"))
	if err != nil || len(strings.Fields(string(b))) != 2 {
		t.Fatalf("state_dir/revoked holds %q (%v), want one session and its expiry", b, err)
	}
}
