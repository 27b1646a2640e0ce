package main

// HTTPS and WSS served directly (tls_cert/tls_key), a certificate renewed
// in place and reloaded (Main.Reload, and SIGHUP to the real binary)
// without dropping viewers, and Secure session cookies under https.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testCA signs the server certificates the tests make; clients trust it.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "logviewer test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a new key and a certificate for 127.0.0.1 and localhost
// with serial to certFile and keyFile (PEM), as a renewal would.
func (ca *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})), 0o600)
	mustWrite(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
}

func (ca *testCA) tlsConfig() *tls.Config { return &tls.Config{RootCAs: ca.pool} }

// client is an HTTPS client trusting ca, with no connection reuse: every
// request is a new handshake.
func (ca *testCA) client() *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.tlsConfig(), DisableKeepAlives: true}}
}

// serial is the serial of the certificate a new TLS connection to addr gets.
func (ca *testCA) serial(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, ca.tlsConfig())
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// dialWSS opens a viewer of file on host local over wss.
func (ca *testCA) dialWSS(t *testing.T, base, file string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: ca.tlsConfig(), HandshakeTimeout: 10 * time.Second}
	q := url.Values{"host": {"local"}, "file": {file}}
	conn, resp, err := d.Dial("wss"+strings.TrimPrefix(base, "https")+"/ws?"+q.Encode(), nil)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("wss: %v (HTTP %d)", err, code)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// tlsFixture is a log directory and certificate paths, serial 1 written.
type tlsFixture struct {
	ca                  *testCA
	dir, log, cert, key string
	tls, host, cfg      string // the top-level TLS keys, the [[host]], both
}

func newTLSFixture(t *testing.T) *tlsFixture {
	t.Helper()
	f := &tlsFixture{ca: newTestCA(t), dir: t.TempDir()}
	tlsDir := t.TempDir()
	f.log, f.cert, f.key = filepath.Join(f.dir, "app.log"), filepath.Join(tlsDir, "tls.crt"), filepath.Join(tlsDir, "tls.key")
	mustWrite(t, f.log, "before\n", 0o644)
	f.ca.issue(t, 1, f.cert, f.key)
	f.tls = fmt.Sprintf("tls_cert = %q\ntls_key = %q\n", f.cert, f.key)
	f.host = fmt.Sprintf("[[host]]\nname = \"local\"\nfiles = [%q]\n", f.dir+"/*.log")
	f.cfg = f.tls + f.host
	return f
}

// TestTLSReloadKeepsViewers: the page and /ws over https and wss; a renewed
// certificate written in place and Reload: new connections get it, a
// viewer connected before keeps its connection and its lines.
func TestTLSReloadKeepsViewers(t *testing.T) {
	f := newTLSFixture(t)
	m := teamMain(t, f.cfg)
	base := m.URL()
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("URL %s, want https", base)
	}
	addr := m.ln.Addr().String()
	c := f.ca.client()

	code, _, body := send(t, c, newReq(t, "GET", base+"/", "", nil))
	if code != 200 || !strings.Contains(body, `src="app.js"`) {
		t.Fatalf("page over https: %d %.200s", code, body)
	}
	// Plain http on the TLS port is not served.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain http answered 200 on the https port")
		}
	}

	viewer := f.ca.dialWSS(t, base, f.log)
	waitHello(t, viewer, f.log)
	waitLine(t, viewer, "before")
	if got := viewer.UnderlyingConn().(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 1 {
		t.Fatalf("viewer's certificate serial %d, want 1", got)
	}

	f.ca.issue(t, 2, f.cert, f.key)
	if got := f.ca.serial(t, addr); got != 1 {
		t.Fatalf("serial %d before Reload, want 1 (the file is read only on reload)", got)
	}
	if err := m.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := f.ca.serial(t, addr); got != 2 {
		t.Fatalf("a new connection after Reload got serial %d, want 2", got)
	}
	appendLine(t, f.log, "after reload")
	waitLine(t, viewer, "after reload")
	// And a new viewer, over the new certificate.
	v2 := f.ca.dialWSS(t, base, f.log)
	waitHello(t, v2, f.log)
	waitLine(t, v2, "after reload")

	// A broken renewal (key of another certificate) is refused and the
	// server keeps the certificate it has.
	other := newTestCA(t)
	other.issue(t, 3, filepath.Join(t.TempDir(), "x.crt"), f.key)
	if err := m.Reload(); err == nil || !strings.Contains(err.Error(), "tls_cert") {
		t.Fatalf("Reload with a key that does not match: %v, want an error naming tls_cert", err)
	}
	if got := f.ca.serial(t, addr); got != 2 {
		t.Fatalf("after a failed reload serial %d, want 2 still", got)
	}
}

// TestSIGHUPReloadsCertificate builds the real binary, runs it, renews the
// certificate and sends SIGHUP, which main() turns into Reload.
func TestSIGHUPReloadsCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	f := newTLSFixture(t)
	bin := filepath.Join(t.TempDir(), "logviewer")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := writeConfig(t, fmt.Sprintf("state_dir = %q\n", t.TempDir())+f.cfg)
	cmd := exec.Command(bin, "-config", cfg, "-listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	var said []string
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	// waitFor returns the first line of stderr containing s.
	waitFor := func(s string) string {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("logviewer ended without saying %q; it said:\n%s", s, strings.Join(said, "\n"))
				}
				said = append(said, l)
				if strings.Contains(l, s) {
					return l
				}
			case <-timeout:
				t.Fatalf("logviewer did not say %q; it said:\n%s", s, strings.Join(said, "\n"))
			}
		}
	}
	serving := waitFor(" on https://")
	base := serving[strings.LastIndex(serving, " on ")+len(" on "):]
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}

	viewer := f.ca.dialWSS(t, base, f.log)
	waitHello(t, viewer, f.log)
	if got := f.ca.serial(t, u.Host); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	f.ca.issue(t, 2, f.cert, f.key)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("reloaded on SIGHUP")
	if got := f.ca.serial(t, u.Host); got != 2 {
		t.Fatalf("serial %d after SIGHUP, want 2", got)
	}
	appendLine(t, f.log, "after SIGHUP")
	waitLine(t, viewer, "after SIGHUP")

	// SIGTERM: a going-away close frame for the viewer, and exit status 0.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = viewer.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		if _, _, err := viewer.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("viewer got %v at SIGTERM, want a 1001 close", err)
			}
			break
		}
	}
	for range lines { // to EOF, so that Wait does not race the reader
	}
	exited = true
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0", err)
	}
}

// TestSessionCookieAttributes: signing in over https sets HttpOnly,
// SameSite=Lax, Secure and the base path; over plain http on loopback
// (no https public_url) the cookie cannot be Secure, or the browser would
// never send it back.
func TestSessionCookieAttributes(t *testing.T) {
	f := newTLSFixture(t)
	users := fmt.Sprintf(`base_path = "/logs"
[auth]
mode = "users"
secret_file = %q
[[user]]
name = "alice"
password = %q
`, filepath.Join(t.TempDir(), "secret"), cheapHash(t, "correct horse"))
	login := `{"user":"alice","password":"correct horse"}`

	for _, tc := range []struct {
		name   string
		cfg    string
		client *http.Client
		secure bool
	}{
		{"https", f.tls + users + f.host, f.ca.client(), true},
		{"http on loopback", users + f.host, &http.Client{Timeout: 15 * time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := teamMain(t, tc.cfg)
			resp, err := tc.client.Do(newReq(t, "POST", m.URL()+"/api/login", login, map[string]string{"Content-Type": "application/json"}))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 204 {
				t.Fatalf("login: %d", resp.StatusCode)
			}
			raw := resp.Header.Get("Set-Cookie")
			cookies := resp.Cookies()
			if len(cookies) != 1 || cookies[0].Name != "lv_session" {
				t.Fatalf("Set-Cookie %q, want one lv_session", raw)
			}
			ck := cookies[0]
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/logs/" || ck.Secure != tc.secure || ck.MaxAge <= 0 {
				t.Fatalf("Set-Cookie %q: want HttpOnly, SameSite=Lax, Path=/logs/, Max-Age > 0, Secure=%v", raw, tc.secure)
			}
			code, _, body := send(t, tc.client, newReq(t, "GET", m.URL()+"/api/me", "", map[string]string{"Cookie": ck.Name + "=" + ck.Value}))
			if got := decode[me](t, body); code != 200 || got.User != "alice" || got.Via != "password" {
				t.Fatalf("/api/me with the cookie: %d %s", code, body)
			}
		})
	}
}
