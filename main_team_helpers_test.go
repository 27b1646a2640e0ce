package main

// Helpers for the team-service tests (main_proxy_test.go, main_tls_test.go,
// main_refusals_test.go, commands_test.go): the whole program on a free
// loopback port with a config the test writes, and a WebSocket viewer.

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"
)

// teamMain runs the program on 127.0.0.1:0 with the config body (and a
// temporary state_dir unless it names one), closed at the end.
func teamMain(t *testing.T, body string) *Main {
	t.Helper()
	if !strings.Contains(body, "state_dir") { // nothing of a test's in ~/.local/state
		body = fmt.Sprintf("state_dir = %q\n", t.TempDir()) + body
	}
	m := NewMain()
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.ParseFlags([]string{"-config", writeConfig(t, body), "-listen", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// cheapHash is a bcrypt hash at the lowest cost: the config accepts any
// bcrypt hash, and cost 12 (what hash-password makes) takes ~0.3 s a check.
func cheapHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// send does req with client and returns the status, headers and body.
func send(t *testing.T, c *http.Client, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: body: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func newReq(t *testing.T, method, url, body string, header map[string]string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return req
}

// noRedirect is a client that shows redirects instead of following them.
func noRedirect(c *http.Client) *http.Client {
	cp := *c
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// me is GET /api/me's answer.
type me struct {
	User   string   `json:"user"`
	Groups []string `json:"groups"`
	Via    string   `json:"via"`
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	return v
}

// frame is one server message on /ws.
type frame struct {
	Type  string `json:"type"`
	Host  string `json:"host"`
	File  string `json:"file"`
	Lines []struct {
		Text string `json:"text"`
	} `json:"lines"`
}

// waitHello reads the first frame and fails unless it is hello for file.
func waitHello(t *testing.T, c *websocket.Conn, file string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var f frame
	if err := c.ReadJSON(&f); err != nil {
		t.Fatalf("waiting for hello: %v", err)
	}
	if f.Type != "hello" || f.File != file {
		t.Fatalf("first frame %+v, want hello for %s", f, file)
	}
}

// waitLine reads frames until a line with text want arrives.
func waitLine(t *testing.T, c *websocket.Conn, want string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var seen []string
	for {
		var f frame
		if err := c.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for line %q (saw %q): %v", want, seen, err)
		}
		for _, l := range f.Lines {
			if l.Text == want {
				return
			}
			seen = append(seen, l.Text)
		}
	}
}

func appendLine(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}
