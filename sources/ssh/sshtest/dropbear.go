package sshtest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	xssh "golang.org/x/crypto/ssh"
)

// SFTPServer is the program Dropbear runs for the sftp subsystem (compiled
// in; Debian's openssh-sftp-server provides it).
const SFTPServer = "/usr/lib/sftp-server"

// RequireDropbear skips tb when Dropbear, dropbearkey or the SFTP server it
// runs is missing, or fails it when CI=true.
func RequireDropbear(tb testing.TB) {
	tb.Helper()
	require(tb, "dropbear", "dropbear-bin")
	require(tb, "dropbearkey", "dropbear-bin")
	if _, err := os.Stat(SFTPServer); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is missing (%v): CI must install openssh-sftp-server", SFTPServer, err)
		}
		tb.Skipf("%s is missing (%v): install openssh-sftp-server for Dropbear's SFTP", SFTPServer, err)
	}
	RequireNamespace(tb)
}

// StartDropbear starts a Dropbear server that lets root in with s.Identity;
// it stops when tb ends. Dropbear reads only ~/.ssh/authorized_keys, so it
// always runs in the private namespace, where root's home is s.Dir.
// cfg.Shell and cfg.Bind apply as for sshd; the sshd-only fields are
// ignored.
func StartDropbear(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	RequireDropbear(tb)
	s := newServer(tb)
	if s.User != "root" {
		tb.Skipf("Dropbear tests run as root (user %s)", s.User)
	}
	key := filepath.Join(s.Dir, "dropbear_ed25519")
	if out, err := exec.Command("dropbearkey", "-t", "ed25519", "-f", key).CombinedOutput(); err != nil {
		tb.Fatalf("dropbearkey: %v: %s", err, out)
	}
	out, err := exec.Command("dropbearkey", "-y", "-f", key).Output()
	if err != nil {
		tb.Fatalf("dropbearkey -y: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if pub, _, _, _, err := xssh.ParseAuthorizedKey([]byte(line)); err == nil {
			s.HostKey = pub
			break
		}
	}
	if s.HostKey == nil {
		tb.Fatalf("no public key in the output of dropbearkey -y: %s", out)
	}
	s.HostKeys = []xssh.PublicKey{s.HostKey}
	sshDir := filepath.Join(s.Dir, ".ssh")
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	writeFile(tb, filepath.Join(sshDir, "authorized_keys"), s.clientKey(tb))
	// Make the namespace even for the default shell: home must be s.Dir.
	if cfg.Shell == "" {
		cfg.Shell = "/bin/bash"
	}
	s.listen(tb, "dropbear", func(port int) error {
		s.Port = port
		s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
		s.logs.Reset()
		// -F foreground, -E log to stderr, -s no passwords, -j -k no
		// forwarding; it logs "Not backgrounding" once it listens.
		return s.run(tb, cfg, []string{"dropbear", "-F", "-E", "-s", "-j", "-k", "-r", key, "-p", s.Addr}, "Not backgrounding")
	})
	return s
}
