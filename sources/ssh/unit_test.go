package ssh

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShellQuote runs quoted words through /bin/sh and gets them back intact.
func TestShellQuote(t *testing.T) {
	for _, s := range []string{"plain", "a b", "it's", `"`, "$(touch x)", "`x`", "\\", "new\nline", "'", "''", "!", "*", "-n", "%i"} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh printed %q (%v) for %q", out, err, s)
		}
	}
}

func TestResolve(t *testing.T) {
	home := t.TempDir()
	cfgFile := filepath.Join(home, "ssh_config")
	if err := os.WriteFile(cfgFile, []byte(`Host web
  HostName web-1.internal
  User deploy
  Port 2222
  IdentityFile ~/.ssh/web_%r
  ProxyJump admin@gate:2200,inner
  ServerAliveInterval 7
  ConnectTimeout 3

Host gate
  HostName gate.example.com

Host inner
  HostName 10.0.0.9

Host *
  UserKnownHostsFile ~/.ssh/kh_%h
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadSSHConfig([]string{cfgFile}, home)
	all := []Host{
		{Name: "bastion", Address: "bastion.example.com", User: "ops", Files: []string{"/x"}},
		{Name: "db", Address: "db:2022", Jump: "bastion", Files: []string{"/x"}},
		{Name: "alias", SSHAlias: "web", Files: []string{"/x"}},
		{Name: "alias-override", SSHAlias: "web", User: "alice", Address: "10.1.1.1", Jump: "bastion", Files: []string{"/x"}},
		{Name: "v6", Address: "::1", Files: []string{"/x"}},
		{Name: "loop1", Address: "a", Jump: "loop2", Files: []string{"/x"}},
		{Name: "loop2", Address: "b", Jump: "loop1", Files: []string{"/x"}},
	}
	chain := func(e *endpoint) string {
		var parts []string
		for ; e != nil; e = e.jump {
			parts = append(parts, e.String())
		}
		return strings.Join(parts, " via ")
	}
	for _, tc := range []struct{ host, want string }{
		{"db", "X@db:2022 via ops@bastion.example.com:22"},
		{"alias", "deploy@web-1.internal:2222 via X@10.0.0.9:22 via admin@gate.example.com:2200"},
		{"alias-override", "alice@10.1.1.1:22 via ops@bastion.example.com:22"},
		{"v6", "X@[::1]:22"},
	} {
		var h Host
		for _, x := range all {
			if x.Name == tc.host {
				h = x
			}
		}
		e, err := resolve(h, all, cfg, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		if got := strings.ReplaceAll(chain(e), currentUser(t)+"@", "X@"); got != tc.want {
			t.Errorf("%s: %s, want %s (X: the current user)", tc.host, got, tc.want)
		}
	}
	e, err := resolve(all[2], all, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.identities[0] != filepath.Join(home, ".ssh/web_deploy") || e.keepalive != 7*time.Second || e.connect != 3*time.Second ||
		e.knownHosts != filepath.Join(home, ".ssh/kh_web-1.internal") {
		t.Errorf("alias: identities %q keepalive %s connect %s known_hosts %s", e.identities, e.keepalive, e.connect, e.knownHosts)
	}
	if _, err := resolve(all[5], all, cfg, nil); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("jump loop: %v", err)
	}
}

func currentUser(t *testing.T) string {
	e := &endpoint{}
	if err := e.defaults(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return e.user
}
