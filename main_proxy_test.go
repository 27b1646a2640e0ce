package main

// logviewer behind a real nginx on a sub-path, nginx doing basic auth and
// asserting the user (auth.mode = "proxy"), with the map and location
// blocks taken from deploy/nginx.conf so that the shipped example is what
// is tested.

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

const nginxBin = "/usr/sbin/nginx"

// requireNginx skips t when nginx is missing, or fails it when CI=true
// (CI must install Debian's nginx package).
func requireNginx(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(nginxBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (%v): CI must install the nginx package", nginxBin, err)
		}
		t.Skipf("nginx not installed: %v", err)
	}
}

// nginxBlock returns the block of src that starts with head, through its
// closing brace.
func nginxBlock(t *testing.T, src, head string) string {
	t.Helper()
	i := strings.Index(src, head)
	if i < 0 {
		t.Fatalf("deploy/nginx.conf has no %q", head)
	}
	depth := 0
	for j := i; j < len(src); j++ {
		switch src[j] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return src[i : j+1]
			}
		}
	}
	t.Fatalf("deploy/nginx.conf: %q is not closed", head)
	return ""
}

// startNginx runs nginx in the foreground in a temp prefix, listening on
// addr; it returns once nginx listens. server is the body of the server
// block; httpExtra goes in the http block.
//
// Readiness: nginx writes its pid file after it has bound and started
// listening on every socket (ngx_init_cycle, then ngx_create_pidfile), so
// the test waits for that file to be written (inotify), not for time.
// (Handing nginx a socket we bound, through the NGINX variable of its
// binary upgrade, crashes nginx 1.22 with master_process off.)
func startNginx(t *testing.T, addr, httpExtra, server string) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp", "run"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`worker_processes 1;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path       %[1]s/tmp/proxy;
    fastcgi_temp_path     %[1]s/tmp/fastcgi;
    uwsgi_temp_path       %[1]s/tmp/uwsgi;
    scgi_temp_path        %[1]s/tmp/scgi;
%[2]s
    server {
        listen %[3]s;
%[4]s
    }
}
`, dir, httpExtra, addr, server)
	mustWrite(t, filepath.Join(dir, "nginx.conf"), conf, 0o644)

	runDir := filepath.Join(dir, "run")
	ino, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	events := os.NewFile(uintptr(ino), "inotify") // non-blocking: read deadlines work
	defer events.Close()
	if _, err := unix.InotifyAddWatch(ino, runDir, unix.IN_CLOSE_WRITE); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(nginxBin, "-p", dir, "-c", "nginx.conf",
		"-g", "daemon off; master_process off; pid "+runDir+"/nginx.pid; error_log stderr;")
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // nginx: fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("nginx said:\n%s\nconfig:\n%s", stderr.String(), conf)
		}
	})

	// Anything written in runDir is the pid file.
	_ = events.SetReadDeadline(time.Now().Add(15 * time.Second))
	var buf [4096]byte
	if _, err := events.Read(buf[:]); err != nil {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("nginx exited before it listened: %v", err)
		default:
		}
		t.Fatalf("nginx did not write its pid file: %v", err)
	}
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// htpasswdSHA is an htpasswd line in nginx's {SHA} scheme (base64 of
// sha1): made here without openssl or apache2-utils. Fine for a test; a
// real file should use bcrypt (htpasswd -B) or apr1.
func htpasswdSHA(user, pw string) string {
	sum := sha1.Sum([]byte(pw))
	return user + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
}

// TestBehindNginx: nginx on a sub-path does basic auth and asserts the
// user and groups; logviewer trusts only nginx's upstream address.
func TestBehindNginx(t *testing.T) {
	requireNginx(t)
	example, err := os.ReadFile("deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}

	// Two hosts; alice (group dev) may see local's app logs only; bob (ops)
	// everything.
	logs, other := t.TempDir(), t.TempDir()
	appLog, dbLog, secretLog := filepath.Join(logs, "app.log"), filepath.Join(logs, "db.log"), filepath.Join(other, "secret.log")
	for _, p := range []string{appLog, dbLog, secretLog} {
		mustWrite(t, p, "first\n", 0o644)
	}
	nginxAddr := freeAddr(t)
	front := "http://" + nginxAddr
	m := teamMain(t, fmt.Sprintf(`public_url = %q
[auth]
mode = "proxy"
trusted_proxies = ["127.0.0.2/32"]
secret_file = %q

[[host]]
name = "local"
files = [%q]
[[host]]
name = "secret"
files = [%q]

[[access]]
groups = ["dev"]
hosts = ["local"]
files = [%q]
[[access]]
groups = ["ops"]
hosts = ["*"]
`, front+"/logs/", filepath.Join(t.TempDir(), "secret"), logs+"/*.log", other+"/*.log", logs+"/app*.log"))
	if m.Config.BasePath != "/logs" {
		t.Fatalf("base_path %q, want /logs derived from public_url", m.Config.BasePath)
	}
	app := m.ln.Addr().String()

	nginxDir := t.TempDir()
	htpasswd := filepath.Join(nginxDir, "htpasswd")
	mustWrite(t, htpasswd, htpasswdSHA("alice", "alice-pw")+htpasswdSHA("bob", "bob-pw")+htpasswdSHA("carol", "carol-pw"), 0o644)
	location := func(head string) string {
		b := nginxBlock(t, string(example), head)
		b = strings.ReplaceAll(b, "127.0.0.1:8080", app)
		return strings.ReplaceAll(b, "/etc/nginx/logviewer.htpasswd", htpasswd)
	}
	startNginx(t, nginxAddr, nginxBlock(t, string(example), "map $remote_user $logviewer_groups"),
		location("location = /logs ")+"\n"+location("location /logs/ "))

	c := noRedirect(&http.Client{Timeout: 15 * time.Second})
	as := func(user string) map[string]string {
		if user == "" {
			return nil
		}
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+user+"-pw"))}
	}
	get := func(t *testing.T, user, path string, extra ...string) (int, http.Header, string) {
		t.Helper()
		h := as(user)
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return send(t, c, newReq(t, "GET", front+path, "", h))
	}

	t.Run("no basic auth is refused by nginx", func(t *testing.T) {
		code, h, _ := get(t, "", "/logs/api/me")
		if code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("got %d, WWW-Authenticate %q; want nginx's 401 asking for Basic", code, h.Get("WWW-Authenticate"))
		}
		code, _, _ = send(t, c, newReq(t, "GET", front+"/logs/api/me", "", map[string]string{
			"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:wrong"))}))
		if code != 401 {
			t.Fatalf("a wrong password: %d, want 401", code)
		}
	})

	t.Run("me is the nginx user via proxy", func(t *testing.T) {
		for _, tc := range []struct {
			user   string
			groups []string
		}{{"alice", []string{"dev"}}, {"bob", []string{"ops", "dev"}}, {"carol", []string{}}} {
			// What the browser claims under the proxy's header names is
			// replaced by nginx.
			code, _, body := get(t, tc.user, "/logs/api/me", "Remote-User", "admin", "Remote-Groups", "ops")
			if code != 200 {
				t.Fatalf("%s: %d %s", tc.user, code, body)
			}
			got := decode[me](t, body)
			if got.User != tc.user || got.Via != "proxy" || !slices.Equal(got.Groups, tc.groups) {
				t.Fatalf("%s: /api/me %+v, want user %s via proxy groups %q", tc.user, got, tc.user, tc.groups)
			}
		}
	})

	t.Run("hosts and files follow the access rules", func(t *testing.T) {
		hosts := func(user string) []string {
			code, _, body := get(t, user, "/logs/api/hosts")
			if code != 200 {
				t.Fatalf("%s: /api/hosts %d %s", user, code, body)
			}
			var names []string
			for _, h := range decode[[]struct{ Name string }](t, body) {
				names = append(names, h.Name)
			}
			return names
		}
		files := func(user, host string) (int, []string) {
			code, _, body := get(t, user, "/logs/api/files?host="+host)
			if code != 200 {
				return code, nil
			}
			var paths []string
			for _, f := range decode[struct{ Files []struct{ Path string } }](t, body).Files {
				paths = append(paths, f.Path)
			}
			slices.Sort(paths)
			return code, paths
		}
		if got := hosts("alice"); !slices.Equal(got, []string{"local"}) {
			t.Errorf("alice's hosts %q, want [local]", got)
		}
		if got := hosts("bob"); !slices.Equal(got, []string{"local", "secret"}) {
			t.Errorf("bob's hosts %q, want [local secret]", got)
		}
		if got := hosts("carol"); len(got) != 0 {
			t.Errorf("carol (no group) sees hosts %q, want none", got)
		}
		if code, got := files("alice", "local"); code != 200 || !slices.Equal(got, []string{appLog}) {
			t.Errorf("alice's files on local: %d %q, want only %s", code, got, appLog)
		}
		if code, _ := files("alice", "secret"); code != 404 {
			t.Errorf("alice's files on secret: %d, want 404 (not 403: it does not exist for her)", code)
		}
		if code, got := files("bob", "local"); code != 200 || !slices.Equal(got, []string{appLog, dbLog}) {
			t.Errorf("bob's files on local: %d %q, want both", code, got)
		}
	})

	t.Run("websocket through nginx", func(t *testing.T) {
		q := url.Values{"host": {"local"}, "file": {appLog}}
		h := http.Header{}
		h.Set("Authorization", as("alice")["Authorization"])
		h.Set("Origin", front) // as a browser on the page would send it
		conn, resp, err := websocket.DefaultDialer.Dial("ws://"+nginxAddr+"/logs/ws?"+q.Encode(), h)
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("dial through nginx: %v (HTTP %d)", err, status)
		}
		defer conn.Close()
		waitHello(t, conn, appLog)
		waitLine(t, conn, "first")
		appendLine(t, appLog, "live through nginx")
		waitLine(t, conn, "live through nginx")

		// A file the rules hide is refused before the upgrade.
		q = url.Values{"host": {"local"}, "file": {dbLog}}
		_, resp, err = websocket.DefaultDialer.Dial("ws://"+nginxAddr+"/logs/ws?"+q.Encode(), h)
		if err == nil || resp == nil || resp.StatusCode != 404 {
			t.Fatalf("alice opening db.log: %v, want 404", err)
		}
	})

	t.Run("a forged header straight to logviewer is refused", func(t *testing.T) {
		// From 127.0.0.1, which is not in trusted_proxies.
		for _, path := range []string{"/logs/api/me", "/logs/api/hosts", "/logs/ws?host=local&file=" + url.QueryEscape(appLog)} {
			code, _, body := send(t, c, newReq(t, "GET", "http://"+app+path, "", map[string]string{"Remote-User": "admin", "Remote-Groups": "ops"}))
			if code != 401 {
				t.Fatalf("GET %s with a forged Remote-User from an untrusted address: %d %s, want 401", path, code, body)
			}
		}
	})

	t.Run("the page under /logs/", func(t *testing.T) {
		code, h, _ := get(t, "alice", "/logs")
		if code != 301 || h.Get("Location") == "" {
			t.Fatalf("/logs: %d Location %q, want a redirect", code, h.Get("Location"))
		}
		loc, err := url.Parse(front + "/logs")
		if err != nil {
			t.Fatal(err)
		}
		if loc, err = loc.Parse(h.Get("Location")); err != nil || loc.Path != "/logs/" {
			t.Fatalf("/logs redirects to %q, want /logs/", h.Get("Location"))
		}
		// logviewer's own redirect, for a proxy that passes /logs on.
		if code, h, _ := send(t, c, newReq(t, "GET", "http://"+app+"/logs", "", nil)); code != 301 || h.Get("Location") != "/logs/" {
			t.Fatalf("logviewer's /logs: %d Location %q, want 301 to /logs/", code, h.Get("Location"))
		}
		code, _, body := get(t, "alice", loc.Path)
		if code != 200 || !strings.Contains(body, `src="app.js"`) {
			t.Fatalf("/logs/: %d, want the page (%.200s)", code, body)
		}
		// Its assets are relative, so they resolve under the prefix.
		for _, asset := range []string{"app.js", "style.css", "conn.js"} {
			if code, _, _ := get(t, "alice", "/logs/"+asset); code != 200 {
				t.Errorf("/logs/%s: %d", asset, code)
			}
		}
	})
}

// TestProxyOriginIsPublicURL: behind a proxy the page's origin is
// public_url's, whatever the request looks like when it reaches logviewer:
// nginx's usual `proxy_set_header Host $host` drops the port, and a proxy
// that ends TLS passes plain http. A browser's WebSocket (and POST) from the
// page must still be accepted, and another origin still refused. The proxy
// is played by connections from 127.0.0.2, the trusted address.
func TestProxyOriginIsPublicURL(t *testing.T) {
	logs := t.TempDir()
	appLog := filepath.Join(logs, "app.log")
	mustWrite(t, appLog, "first\n", 0o644)
	fromProxy := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name, publicURL, host, origin string
	}{
		{"Host without the port", "http://127.0.0.1:8088/logs/", "127.0.0.1", "http://127.0.0.1:8088"},
		{"TLS ended at the proxy", "https://logs.example.com/logs/", "logs.example.com", "https://logs.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := teamMain(t, fmt.Sprintf(`public_url = %q
[auth]
mode = "proxy"
trusted_proxies = ["127.0.0.2/32"]
secret_file = %q
[[host]]
name = "local"
files = [%q]
`, tc.publicURL, filepath.Join(t.TempDir(), "secret"), logs+"/*.log"))
			app := m.ln.Addr().String()
			q := url.Values{"host": {"local"}, "file": {appLog}}
			dial := func(origin string) (*websocket.Conn, int, error) {
				d := websocket.Dialer{NetDial: func(network, _ string) (net.Conn, error) { return fromProxy.Dial(network, app) }, HandshakeTimeout: 10 * time.Second}
				h := http.Header{"Remote-User": {"alice"}, "Origin": {origin}}
				conn, resp, err := d.Dial("ws://"+tc.host+"/logs/ws?"+q.Encode(), h)
				code := 0
				if resp != nil {
					code = resp.StatusCode
				}
				return conn, code, err
			}
			conn, code, err := dial(tc.origin)
			if err != nil {
				t.Fatalf("WebSocket from the page's origin %s through the proxy: %v (HTTP %d)", tc.origin, err, code)
			}
			defer conn.Close()
			waitHello(t, conn, appLog)

			if _, code, err := dial("http://evil.example"); err == nil || code != 403 {
				t.Fatalf("WebSocket from another origin: %v (HTTP %d), want 403", err, code)
			}

			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return fromProxy.DialContext(ctx, network, app)
			}}}
			share := func(origin string) int {
				code, _, _ := send(t, c, newReq(t, "POST", "http://"+tc.host+"/logs/api/share", `{"host":"local","file":"`+appLog+`","ttl":"1h"}`,
					map[string]string{"Remote-User": "alice", "Origin": origin, "Content-Type": "application/json"}))
				return code
			}
			if code := share(tc.origin); code != 200 {
				t.Fatalf("POST /api/share from the page's origin: %d, want 200", code)
			}
			if code := share("http://evil.example"); code != 403 {
				t.Fatalf("POST /api/share from another origin: %d, want 403", code)
			}
		})
	}
}
