package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/sources/ssh/sshtest"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "logviewer.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustMain(t *testing.T, args ...string) *Main {
	t.Helper()
	m := NewMain()
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMainServesAndShutsDownCleanly(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logPath, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "[[host]]\nname = \"local\"\nfiles = [\""+dir+"/*.log\"]\n")
	m := mustMain(t, "-config", cfg, "-listen", "127.0.0.1:0")

	resp, err := http.Get(m.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok":true`) {
		t.Fatalf("/healthz: %d %s", resp.StatusCode, body)
	}

	q := url.Values{"host": {"local"}, "file": {logPath}}
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(m.URL(), "http")+"/ws?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, data, err := conn.ReadMessage(); err != nil || !strings.Contains(string(data), `"type":"hello"`) {
		t.Fatalf("first frame %s, %v", data, err)
	}

	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-closed:
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("browser got %v, want a 1001 close frame", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no close frame after shutdown")
	}
	if _, err := http.Get(m.URL() + "/healthz"); err == nil {
		t.Fatal("server still answers after Close")
	}
}

func TestMainBadConfigNamesFileLineKey(t *testing.T) {
	cfg := writeConfig(t, "replay = 10\nreplai = 5\n[[host]]\nname = \"local\"\nfiles = [\"/tmp/*.log\"]\n")
	err := NewMain().ParseFlags([]string{"-config", cfg})
	if err == nil || !strings.Contains(err.Error(), cfg+":2") || !strings.Contains(err.Error(), "replai") {
		t.Fatalf("got %v, want an error naming %s:2 and the key", err, cfg)
	}
}

func TestMainBusyPortFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := writeConfig(t, "[[host]]\nname = \"local\"\nfiles = [\"/tmp/*.log\"]\n")
	m := NewMain()
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.ParseFlags([]string{"-config", cfg, "-listen", ln.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("got %v, want a listen error", err)
	}
}

func TestShippedConfigRuns(t *testing.T) {
	m := mustMain(t, "-config", "logviewer.toml", "-listen", "127.0.0.1:0")
	defer m.Close()
	resp, err := http.Get(m.URL() + "/api/files?host=local")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/api/files on the shipped config: %d", resp.StatusCode)
	}
}

// TestMainFollowsRemoteHost runs the whole program on a config with a remote
// [[host]] reached through a real sshd on loopback.
func TestMainFollowsRemoteHost(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "remote.log")
	if err := os.WriteFile(logPath, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(`replay = 10
[[host]]
name = "web-1"
address = %q
user = %q
identity_files = [%q]
known_hosts = %q
files = [%q]
`, srv.Addr, srv.User, srv.Identity, srv.KnownHosts, dir+"/*.log"))
	t.Setenv("SSH_AUTH_SOCK", "")
	m := mustMain(t, "-config", cfg, "-listen", "127.0.0.1:0")
	defer m.Close()

	resp, err := http.Get(m.URL() + "/api/files?host=web-1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), logPath) {
		t.Fatalf("/api/files?host=web-1: %d %s", resp.StatusCode, body)
	}

	q := url.Values{"host": {"web-1"}, "file": {logPath}}
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(m.URL(), "http")+"/ws?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var texts []string
	appended := false
	for len(texts) < 3 {
		var m struct {
			Type  string
			Lines []struct{ Text string }
		}
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("after %q: %v", texts, err)
		}
		for _, l := range m.Lines {
			texts = append(texts, l.Text)
		}
		if len(texts) == 2 && !appended {
			appended = true
			f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(f, "three")
			f.Close()
		}
	}
	if strings.Join(texts, ",") != "one,two,three" {
		t.Fatalf("remote lines %q, want one,two,three", texts)
	}
}

// TestRaisesFileLimitAndClosesIdleConnections: the process raises its own
// soft RLIMIT_NOFILE to the hard limit (a 1,024 limit stopped the server
// accepting at about 250 logs), and idle keep-alive connections are closed.
func TestRaisesFileLimitAndClosesIdleConnections(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max <= 64 {
		t.Skipf("hard limit %d leaves nothing to raise", lim.Max)
	}
	low := lim
	low.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })

	dir := t.TempDir()
	cfg := writeConfig(t, "[[host]]\nname = \"local\"\nfiles = [\""+dir+"/*.log\"]\n")
	m := NewMain()
	m.Logger = slog.New(slog.DiscardHandler)
	m.IdleTimeout = 100 * time.Millisecond
	if err := m.ParseFlags([]string{"-config", cfg, "-listen", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var now syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil || now.Cur != lim.Max {
		t.Fatalf("soft limit %d after Run, want the hard limit %d (%v)", now.Cur, lim.Max, err)
	}

	c, err := net.Dial("tcp", m.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("an idle keep-alive connection was not closed by the server: %v", err)
	}
}
