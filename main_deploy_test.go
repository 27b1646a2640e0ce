package main

// deploy/logviewer.service is a unit systemd accepts, with the hardening it
// promises. (deploy/nginx.conf is run by TestBehindNginx.)

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("deploy/logviewer.service")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(unit), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{
		"DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=read-only", "PrivateTmp=yes",
		"NoNewPrivileges=yes", "CapabilityBoundingSet=", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter=@system-service", "ReadOnlyPaths=/var/log", "StateDirectory=logviewer",
		"ExecReload=/bin/kill -HUP $MAINPID",
	} {
		if !lines[want] {
			t.Errorf("deploy/logviewer.service lacks %q", want)
		}
	}
	// The process raises RLIMIT_NOFILE at start: a filter that denies
	// setrlimit would kill it with SIGSYS.
	for l := range lines {
		if strings.HasPrefix(l, "SystemCallFilter=~") && strings.Contains(l, "@resources") {
			t.Errorf("%q denies setrlimit, which the process calls at start", l)
		}
		if strings.HasPrefix(l, "LimitNOFILE=") {
			lines["LimitNOFILE"] = true
		}
	}
	if !lines["LimitNOFILE"] {
		t.Error("deploy/logviewer.service sets no LimitNOFILE")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("systemd-analyze is missing (%v): CI must install the systemd package", err)
		}
		t.Skipf("no systemd-analyze: %v", err)
	}
	// verify checks that ExecStart exists: point it at one that does.
	p := filepath.Join(t.TempDir(), "logviewer.service")
	mustWrite(t, p, strings.ReplaceAll(string(unit), "/usr/local/bin/logviewer", "/bin/true"), 0o644)
	out, err := exec.Command(analyze, "verify", p).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
