package cluster_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"
)

// TestSharedSecretAndMarks: a session and a share link made on one
// instance work on the others (one signing key, kept in KV), and a deploy
// mark posted on one instance reaches viewers of the log on every instance
// exactly once, and is listed by all.
func TestSharedSecretAndMarks(t *testing.T) {
	n := startNATS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	w := newWriter(t, file)
	authCfg := aliceConfig(t)
	a := startInstance(t, dir, n.url(), "lv-1", authCfg)
	b := startInstance(t, dir, n.url(), "lv-2", authCfg)

	// Sign in on a, use the session on b.
	cookie := signIn(t, a)
	if got := getMe(t, b, cookie); got != http.StatusOK {
		t.Fatalf("a's session on b: %d", got)
	}

	// A share link made on a opens the log on b.
	resp := post(t, a.url+"/api/share", cookie, fmt.Sprintf(`{"host":"local","file":%q}`, file))
	var share struct{ URL string }
	if err := json.NewDecoder(resp.Body).Decode(&share); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("share on a: %s %v", resp.Status, err)
	}
	_, token, _ := strings.Cut(share.URL, "share=")
	w.write(t, 1, 1)
	conn, hr, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b.url, "http")+"/ws?share="+url.QueryEscape(token), nil)
	if err != nil {
		t.Fatalf("a's share link on b: %v", err)
	}
	hr.Body.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello frame
	if err := conn.ReadJSON(&hello); err != nil || hello.Type != "hello" {
		t.Fatalf("a's share link on b: %+v %v", hello, err)
	}
	conn.Close()

	// A mark posted on a reaches viewers on a and b once.
	hdr := http.Header{"Cookie": {cookie}}
	va := dialHeader(t, a, file, hdr)
	vb := dialHeader(t, b, file, hdr)
	va.waitLine(t, 0, 10*time.Second)
	vb.waitLine(t, 0, 10*time.Second)
	resp = post(t, a.url+"/api/marks", cookie, `{"text":"deploy v2","hosts":["local"]}`)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("mark on a: %s %s", resp.Status, body)
	}
	w.write(t, 100, 1000)
	for _, v := range []*viewer{va, vb} {
		v.waitLine(t, w.n-1, 10*time.Second)
		v.waitFor(t, 5*time.Second, "the mark", func(v *viewer) bool { return len(v.marks) > 0 })
		v.check(t, w.n)
		v.mu.Lock()
		if len(v.marks) != 1 || v.marks[0] != "deploy v2" {
			t.Errorf("viewer on %s: marks %q, want [deploy v2]", v.name, v.marks)
		}
		v.mu.Unlock()
	}
	req, _ := http.NewRequest("GET", b.url+"/api/marks?host=local", nil)
	req.Header.Set("Cookie", cookie)
	list, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(list.Body)
	list.Body.Close()
	if !strings.Contains(string(body), "deploy v2") {
		t.Errorf("marks listed on b: %s %s", list.Status, body)
	}
}

func post(t *testing.T, u, cookie, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", u, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// aliceConfig is the [auth] of a cluster whose one user, alice, signs in
// with "pw".
func aliceConfig(t *testing.T) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("[auth]\nmode = \"users\"\n[[user]]\nname = \"alice\"\npassword = %q\n", hash)
}

// signIn signs alice in on in and returns her session cookie ("name=value").
func signIn(t *testing.T, in *instance) string {
	t.Helper()
	resp := post(t, in.url+"/api/login", "", `{"user":"alice","password":"pw"}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login on %s: %s", in.name, resp.Status)
	}
	var cookie string
	for _, c := range resp.Cookies() {
		cookie = c.Name + "=" + c.Value
	}
	return cookie
}

// getMe is GET /api/me on in with cookie: its status.
func getMe(t *testing.T, in *instance, cookie string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", in.url+"/api/me", nil)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLogoutEndsTheSessionEverywhere: signing out on one instance ends the
// session on every instance: its open views there are closed with 4001
// ("signed out") and its cookie is refused there. Before, only the instance
// that received the logout knew of it.
func TestLogoutEndsTheSessionEverywhere(t *testing.T) {
	n := startNATS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	w := newWriter(t, file)
	w.write(t, 1, 1)
	authCfg := aliceConfig(t)
	a := startInstance(t, dir, n.url(), "lv-1", authCfg)
	b := startInstance(t, dir, n.url(), "lv-2", authCfg)
	cookie := signIn(t, a)
	me := func(in *instance) int { return getMe(t, in, cookie) }
	if got := me(b); got != http.StatusOK {
		t.Fatalf("a's session on b: %d", got)
	}
	u := "ws" + strings.TrimPrefix(b.url, "http") + "/ws?host=local&file=" + url.QueryEscape(file)
	conn, hr, err := websocket.DefaultDialer.Dial(u, http.Header{"Cookie": {cookie}})
	if err != nil {
		t.Fatalf("a view on b: %v", err)
	}
	hr.Body.Close()
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello frame
	if err := conn.ReadJSON(&hello); err != nil || hello.Type != "hello" {
		t.Fatalf("a view on b: %+v %v", hello, err)
	}

	if resp := post(t, a.url+"/api/logout", cookie, `{}`); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout on a: %s", resp.Status)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err = conn.ReadMessage(); err != nil {
			break
		}
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 {
		t.Fatalf("b's view of the signed-out session ended with %v, want close code 4001", err)
	}
	if got := me(b); got != http.StatusUnauthorized {
		t.Fatalf("the signed-out cookie on b: %d, want 401", got)
	}
	c := startInstance(t, dir, n.url(), "lv-3", authCfg) // started after the logout
	if got := me(c); got != http.StatusUnauthorized {
		t.Fatalf("the signed-out cookie on an instance started later: %d, want 401", got)
	}
}
