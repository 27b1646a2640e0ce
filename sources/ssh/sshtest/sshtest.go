// Package sshtest starts a real OpenSSH sshd (or Dropbear) on a loopback port
// for tests, with a temporary host key and an authorized client key, and
// provides a TCP proxy whose connections a test can cut.
//
// The server runs as the current user. When a tool it needs is not
// installed the test is skipped, unless the environment has CI=true: then it
// fails, so that a CI machine without openssh-server (dropbear-bin, busybox,
// fish...) cannot pass by skipping.
//
// Another login shell, BusyBox tools and Dropbear's fixed
// ~/.ssh/authorized_keys are had without touching the machine: the server
// then runs as root in a private mount namespace, in which a copy of
// /etc/passwd gives root that shell and the server's Dir as home (see
// Config.Shell, Config.Bind).
package sshtest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skeema/knownhosts"
	xssh "golang.org/x/crypto/ssh"

	"github.com/logviewer/logviewer/sources/ssh"
)

// SSHD is where Debian's openssh-server installs the daemon.
const SSHD = "/usr/sbin/sshd"

// Config tunes a Server.
type Config struct {
	// MaxSessions is sshd's MaxSessions (default 10, OpenSSH's default,
	// written out explicitly).
	MaxSessions int
	// LogLevel is sshd's LogLevel (default VERBOSE; DEBUG1 shows forwarding).
	LogLevel string
	// Extra is appended to sshd_config.
	Extra string
	// Shell, when set, is the login shell of the user who logs in. The
	// server then runs in a private mount namespace (see Namespace).
	Shell string
	// Bind, when set, lists files bound over others in that namespace:
	// target path -> source path (see BusyBox).
	Bind map[string]string
}

// Server is a running sshd.
type Server struct {
	Addr       string // 127.0.0.1:port
	Host       string // 127.0.0.1
	Port       int
	User       string           // the current user, who may log in
	Identity   string           // private key file of an authorized client key
	KnownHosts string           // known_hosts file holding this server's ed25519 key (only)
	HostKey    xssh.PublicKey   // the ed25519 host key
	HostKeys   []xssh.PublicKey // every host key the server has (ed25519, ECDSA)
	Dir        string           // holds the keys, sshd_config and pid file

	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
}

// namespaced reports whether cfg needs the private mount namespace.
func (cfg Config) namespaced() bool { return cfg.Shell != "" || len(cfg.Bind) > 0 }

// Require skips tb when sshd is missing, or fails it when CI=true.
func Require(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(SSHD); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is missing (%v): CI must install openssh-server", SSHD, err)
		}
		tb.Skipf("%s is missing (%v): install openssh-server to run the SSH tests", SSHD, err)
	}
}

// Start starts an sshd with the default Config; it stops when tb ends.
func Start(tb testing.TB) *Server { return StartWith(tb, Config{}) }

// StartWith starts an sshd; it stops when tb ends.
func StartWith(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	Require(tb)
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 10
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "VERBOSE"
	}
	if cfg.namespaced() {
		RequireNamespace(tb)
	}
	if os.Geteuid() == 0 {
		// sshd refuses to start without its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			tb.Fatalf("create /run/sshd: %v", err)
		}
	}
	s := newServer(tb)
	dir := s.Dir

	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	// Two host key types, while KnownHosts holds only the ed25519 one: a client
	// that picks ECDSA first reports a false mismatch (golang/go#29286).
	writeKey(tb, filepath.Join(dir, "host_ed25519"), edKey)
	writeKey(tb, filepath.Join(dir, "host_ecdsa"), ecKey)
	if s.HostKey, err = xssh.NewPublicKey(edPub); err != nil {
		tb.Fatal(err)
	}
	ecPub, err := xssh.NewPublicKey(&ecKey.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	s.HostKeys = []xssh.PublicKey{s.HostKey, ecPub}
	writeFile(tb, filepath.Join(dir, "authorized_keys"), s.clientKey(tb))

	s.listen(tb, "sshd", func(port int) error { return s.start(tb, cfg, port) })
	return s
}

// newServer makes the Server's directory; the current user logs in.
func newServer(tb testing.TB) *Server {
	tb.Helper()
	u, err := user.Current()
	if err != nil {
		tb.Fatal(err)
	}
	return &Server{Host: "127.0.0.1", User: u.Username, Dir: tb.TempDir()}
}

// clientKey makes s.Identity and returns its authorized_keys line.
func (s *Server) clientKey(tb testing.TB) string {
	tb.Helper()
	_, clientKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	s.Identity = filepath.Join(s.Dir, "id_ed25519")
	writeKey(tb, s.Identity, clientKey)
	signer, err := xssh.NewSignerFromKey(clientKey)
	if err != nil {
		tb.Fatal(err)
	}
	return string(xssh.MarshalAuthorizedKey(signer.PublicKey()))
}

// listen starts the server on a free port (another one when the port was
// taken meanwhile) and writes KnownHosts.
func (s *Server) listen(tb testing.TB, what string, start func(port int) error) {
	tb.Helper()
	for attempt := 0; ; attempt++ {
		err := start(freePort(tb))
		if err == nil {
			break
		}
		if attempt == 4 || !strings.Contains(err.Error(), "Address already in use") {
			tb.Fatalf("start %s: %v", what, err)
		}
	}
	s.KnownHosts = filepath.Join(s.Dir, "known_hosts")
	writeFile(tb, s.KnownHosts, knownhosts.Line([]string{s.Addr}, s.HostKey)+"\n")
}

// SSHDConfig is the sshd_config of a test server listening on addr, with its
// pid file and authorized_keys in dir: public-key login only, the current
// user (root too) allowed, the SFTP subsystem in-process. extra is appended.
// The benchmark uses it as well.
func SSHDConfig(addr, dir string, hostKeys []string, maxSessions int, logLevel, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ListenAddress %s\n", addr)
	for _, k := range hostKeys {
		fmt.Fprintf(&b, "HostKey %s\n", k)
	}
	fmt.Fprintf(&b, `PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
MaxSessions %d
MaxStartups 200
LogLevel %s
Subsystem sftp internal-sftp
%s
`, filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"), maxSessions, logLevel, extra)
	return b.String()
}

func (s *Server) start(tb testing.TB, cfg Config, port int) error {
	tb.Helper()
	s.Port = port
	s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
	s.logs.Reset()
	conf := filepath.Join(s.Dir, "sshd_config")
	writeFile(tb, conf, SSHDConfig(s.Addr, s.Dir, []string{filepath.Join(s.Dir, "host_ed25519"), filepath.Join(s.Dir, "host_ecdsa")},
		cfg.MaxSessions, cfg.LogLevel, cfg.Extra))

	return s.run(tb, cfg, []string{SSHD, "-D", "-e", "-f", conf}, "Server listening on")
}

// run starts argv (in the private namespace that cfg asks for) and waits
// until its stderr holds ready.
func (s *Server) run(tb testing.TB, cfg Config, argv []string, ready string) error {
	tb.Helper()
	name := filepath.Base(argv[0])
	if cfg.namespaced() {
		argv = namespace(tb, s.Dir, cfg, argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	// Its own process group, so that Stop also ends every session it forked.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	started := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		announced := false
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if !announced && strings.Contains(sc.Text(), ready) {
				announced = true
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-exited:
		_ = cmd.Wait()
		return fmt.Errorf("%s exited: %s", name, s.Logs())
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return fmt.Errorf("%s did not announce it was listening within 15s: %s", name, s.Logs())
	}
	s.cmd = cmd
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		<-exited
		if tb.Failed() {
			tb.Logf("%s %s log:\n%s", name, s.Addr, s.Logs())
		}
	})
	return nil
}

// Logs returns what sshd wrote so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// Entry returns a [[host]] entry that reaches this server as s.User with
// s.Identity and s.KnownHosts.
func (s *Server) Entry(name string, files ...string) ssh.Host {
	return ssh.Host{
		Name:          name,
		Address:       s.Addr,
		User:          s.User,
		IdentityFiles: []string{s.Identity},
		KnownHosts:    s.KnownHosts,
		Files:         files,
	}
}

// KnownHostsLine returns the known_hosts line for this server's ed25519 key
// under addr (which may be another address, a proxy's say).
func (s *Server) KnownHostsLine(addr string) string {
	return knownhosts.Line([]string{addr}, s.HostKey)
}

func writeKey(tb testing.TB, path string, key any) {
	tb.Helper()
	block, err := xssh.MarshalPrivateKey(key, "")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func writeFile(tb testing.TB, path, text string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// WriteFile writes text to a new file under tb's temp dir and returns its path.
func WriteFile(tb testing.TB, name, text string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	writeFile(tb, p, text)
	return p
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
