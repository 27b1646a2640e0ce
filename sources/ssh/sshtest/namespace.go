package sshtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// require skips tb when the program is not installed, or fails it when
// CI=true (CI installs every one of them: see .ci/run).
func require(tb testing.TB, prog, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is missing (%v): CI must install %s", prog, err, pkg)
		}
		tb.Skipf("%s is missing (%v): install %s to run this test", prog, err, pkg)
	}
	return p
}

// RequireNamespace skips tb (or fails it when CI=true) unless the test runs
// as root with unshare and mount at hand: what a server with another login
// shell or bound tools needs.
func RequireNamespace(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("the test needs root (for a private mount namespace): CI runs as root")
		}
		tb.Skipf("the test needs root (for a private mount namespace)")
	}
	require(tb, "unshare", "util-linux")
	require(tb, "mount", "mount")
	if out, err := exec.Command("unshare", "--mount", "--propagation", "private", "true").CombinedOutput(); err != nil {
		// Root without CAP_SYS_ADMIN: an unprivileged container, say.
		if os.Getenv("CI") == "true" {
			tb.Fatalf("unshare --mount failed (%v: %s): CI must allow mount namespaces", err, out)
		}
		tb.Skipf("unshare --mount failed (%v: %s)", err, out)
	}
}

// RequireShell returns the path of a login shell, skipping tb (or failing it
// when CI=true) when it is not installed.
func RequireShell(tb testing.TB, name, pkg string) string {
	tb.Helper()
	return require(tb, name, pkg)
}

// BusyBox returns Config.Bind entries that make sh (/bin/sh and what it
// links to), tail, stat, ls, sleep, cat and head BusyBox's, as on Alpine.
func BusyBox(tb testing.TB) map[string]string {
	tb.Helper()
	bb := require(tb, "busybox", "busybox")
	binds := map[string]string{}
	for _, tool := range []string{"/bin/sh", "tail", "stat", "ls", "sleep", "cat", "head"} {
		p := tool
		if !filepath.IsAbs(p) {
			var err error
			if p, err = exec.LookPath(tool); err != nil {
				continue // not there to replace
			}
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			tb.Fatal(err)
		}
		binds[real] = bb
	}
	return binds
}

// namespace wraps argv so that it runs in a private mount namespace where
// root's passwd entry has dir as home and cfg.Shell (default: root's own)
// as shell, /etc/shells lists that shell (Dropbear refuses others), and
// cfg.Bind is applied. Nothing outside the namespace changes.
func namespace(tb testing.TB, dir string, cfg Config, argv []string) []string {
	tb.Helper()
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	found := false
	for _, line := range strings.Split(strings.TrimSuffix(string(passwd), "\n"), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[2] == "0" && !found {
			found = true
			f[5] = dir
			if cfg.Shell != "" {
				f[6] = cfg.Shell
			}
			cfg.Shell = f[6]
			line = strings.Join(f, ":")
		}
		out = append(out, line)
	}
	if !found {
		tb.Fatal("/etc/passwd has no entry for uid 0")
	}
	fakePasswd := filepath.Join(dir, "passwd")
	writeFile(tb, fakePasswd, strings.Join(out, "\n")+"\n")
	if err := os.Chmod(fakePasswd, 0o644); err != nil {
		tb.Fatal(err)
	}
	shells, _ := os.ReadFile("/etc/shells")
	fakeShells := filepath.Join(dir, "shells")
	writeFile(tb, fakeShells, strings.TrimSuffix(string(shells), "\n")+"\n"+cfg.Shell+"\n")
	if err := os.Chmod(fakeShells, 0o644); err != nil {
		tb.Fatal(err)
	}
	binds := []string{fakePasswd, "/etc/passwd", fakeShells, "/etc/shells"}
	targets := make([]string, 0, len(cfg.Bind))
	for t := range cfg.Bind {
		targets = append(targets, t)
	}
	slices.Sort(targets)
	for _, t := range targets {
		binds = append(binds, cfg.Bind[t], t)
	}
	// The setup runs in the sh of the real system, before any bind.
	const setup = `n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind "$1" "$2" || exit 1; shift 2; n=$((n-1)); done; exec "$@"`
	wrapped := []string{"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", setup, "sshtest-ns", strconv.Itoa(len(binds) / 2)}
	wrapped = append(wrapped, binds...)
	return append(wrapped, argv...)
}
