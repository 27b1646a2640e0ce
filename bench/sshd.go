package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"

	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/logviewer/logviewer/sources/ssh/sshtest"
)

// sshdPath is where Debian's openssh-server installs the daemon.
const sshdPath = "/usr/sbin/sshd"

// sshd is a real OpenSSH server on a loopback port, with a fresh host key and
// one authorized client key, serving this machine's files as the current
// user: a "remote" host for scenario 6.
type sshd struct {
	p          *proc
	addr       string
	user       string
	identity   string
	knownHosts string
}

func startSSHD(ctx context.Context, dir string) (*sshd, error) {
	if _, err := os.Stat(sshdPath); err != nil {
		return nil, fmt.Errorf("%s is missing (install openssh-server)", sshdPath)
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		_ = os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	}
	hostPub, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	clientPub, clientKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	s := &sshd{user: u.Username, identity: filepath.Join(dir, "id_ed25519"), knownHosts: filepath.Join(dir, "known_hosts")}
	hostKeyFile := filepath.Join(dir, "ssh_host_ed25519_key")
	if err := writeKey(hostKeyFile, hostKey); err != nil {
		return nil, err
	}
	if err := writeKey(s.identity, clientKey); err != nil {
		return nil, err
	}
	cpub, err := xssh.NewPublicKey(clientPub)
	if err != nil {
		return nil, err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, xssh.MarshalAuthorizedKey(cpub), 0o600); err != nil {
		return nil, err
	}
	hpub, err := xssh.NewPublicKey(hostPub)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		conf := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(conf, []byte(sshtest.SSHDConfig(s.addr, dir, []string{hostKeyFile}, 10, "INFO", "")), 0o600); err != nil {
			return nil, err
		}
		s.p, err = startProc("sshd", dir, sshdPath, "-D", "-e", "-f", conf)
		if err != nil {
			return nil, err
		}
		err = waitLine(ctx, s.p, "Server listening on", 20*time.Second)
		if err == nil {
			break
		}
		s.p.stop()
		if attempt == 4 || !strings.Contains(err.Error(), "Address already in use") {
			return nil, err
		}
	}
	line := fmt.Sprintf("[127.0.0.1]:%s %s", s.addr[strings.LastIndexByte(s.addr, ':')+1:], xssh.MarshalAuthorizedKey(hpub))
	if err := os.WriteFile(s.knownHosts, []byte(line), 0o600); err != nil {
		s.p.stop()
		return nil, err
	}
	return s, nil
}

func writeKey(path string, key ed25519.PrivateKey) error {
	block, err := xssh.MarshalPrivateKey(key, "")
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

// waitLine waits until p prints a line containing s on its standard error.
func waitLine(ctx context.Context, p *proc, s string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, s) {
				return nil
			}
		case <-p.done:
			return p.exited()
		case <-deadline:
			return fmt.Errorf("%s did not say %q within %s: %s", p.name, s, timeout, p.tail())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sshConfig is lvConfig with the files of dir served by a "remote" host
// reached through s.
func sshConfig(dir string, s *sshd) string {
	return fmt.Sprintf(`listen = "127.0.0.1:0"
replay = 1000
buffer = "8MiB"
idle_stop = "5m"
max_line_bytes = 65536

[[host]]
name = "remote"
address = %q
user = %q
identity_files = [%q]
known_hosts = %q
files = [%q]
`, s.addr, s.user, s.identity, s.knownHosts, filepath.Join(dir, "*.log"))
}

// sshSystem is logviewer following a file through sshd on loopback. Its CPU
// and RSS are logviewer's alone (sshd and the remote tail are not counted).
type sshSystem struct {
	*lvSystem
	d     *sshd
	proxy *delayProxy // nil: direct
}

func (s *sshSystem) name() string { return "logviewer over ssh" }

func (s *sshSystem) stop() {
	if s.lvSystem != nil {
		s.lvSystem.stop()
	}
	if s.proxy != nil {
		s.proxy.close()
	}
	s.d.p.stop()
}

// startSSHSystem starts sshd and logviewer following through it; with rtt
// > 0, through a delayProxy that adds rtt to every round trip.
func startSSHSystem(ctx context.Context, bin, dir string, rtt time.Duration) (system, error) {
	d, err := startSSHD(ctx, dir)
	if err != nil {
		return nil, err
	}
	s := &sshSystem{d: d}
	if rtt > 0 {
		if s.proxy, err = startDelayProxy(d.addr, rtt); err != nil {
			d.p.stop()
			return nil, err
		}
		// The host key is known under the proxy's address too.
		known, err := os.ReadFile(d.knownHosts)
		if err == nil {
			_, port, _ := net.SplitHostPort(s.proxy.addr())
			line := "[127.0.0.1]:" + port + string(known[strings.IndexByte(string(known), ' '):])
			err = os.WriteFile(d.knownHosts, append(known, line...), 0o600)
		}
		if err != nil {
			s.stop()
			return nil, err
		}
		via := *d
		via.addr = s.proxy.addr()
		d = &via
	}
	if s.lvSystem, err = startLogviewerWith(ctx, bin, dir, sshConfig(dir, d), "remote"); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}
