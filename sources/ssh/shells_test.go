package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/sources/ssh/sshtest"
	"github.com/logviewer/logviewer/tailer"
)

// hostileNames are file names that are code in one shell or another: POSIX
// quoting, fish's \' and \\ inside single quotes, csh's ! and $ inside them,
// command substitution of every kind, a newline, a leading dash.
func hostileNames(token string) []string {
	return []string{
		`x\'(touch ` + token + `-fish)\'y.log`,
		`x\\'(touch ` + token + `-fish2)\\'y.log`,
		"$(touch " + token + "-sh); x.log",
		"`touch " + token + "-bq`.log",
		"'; touch " + token + "-q; '.log",
		`"; touch ` + token + `-dq; ".log`,
		"!touch " + token + "-bang.log",
		"!!.log",
		"$HOME $0 ${x}.log",
		"a b\tc.log",
		"semi;colon & amp | pipe > gt < lt.log",
		"new\nline.log",
		"trail\n.log",
		"-dash.log",
		`back\slash\.log`,
		"~tilde {a,b} [x] *star?.log",
		"%1 ^caret #hash.log",
	}
}

// TestLoginShells follows files with hostile names on a host whose login
// shell is each of bash, dash, fish, tcsh, csh and BusyBox sh (and zsh when
// installed), under OpenSSH, and fish and tcsh under Dropbear: every file is
// followed, and no name runs a command.
func TestLoginShells(t *testing.T) {
	shells := []struct{ name, pkg string }{
		{"bash", "bash"}, {"dash", "dash"}, {"fish", "fish"}, {"tcsh", "tcsh"}, {"csh", "tcsh"}, {"zsh", ""},
	}
	for _, sh := range shells {
		t.Run(sh.name, func(t *testing.T) {
			var path string
			if sh.pkg == "" {
				p, err := exec.LookPath(sh.name)
				if err != nil {
					t.Skipf("%s is not installed (CI does not install it)", sh.name)
				}
				path = p
			} else {
				path = sshtest.RequireShell(t, sh.name, sh.pkg)
			}
			srv := sshtest.StartWith(t, sshtest.Config{Shell: path})
			followHostile(t, srv)
		})
	}
	t.Run("busybox", func(t *testing.T) {
		srv := sshtest.StartWith(t, sshtest.Config{Shell: "/bin/sh", Bind: sshtest.BusyBox(t)})
		followHostile(t, srv)
	})
	// Dropbear runs the command (and its SFTP server) through the login
	// shell as well.
	for _, sh := range []string{"fish", "tcsh"} {
		t.Run("dropbear-"+sh, func(t *testing.T) {
			path := sshtest.RequireShell(t, sh, sh)
			srv := sshtest.StartDropbear(t, sshtest.Config{Shell: path})
			followHostile(t, srv)
		})
	}
}

// followHostile follows every hostile name on srv, appends to each and sees
// the line arrive, then checks that no command ran.
func followHostile(t *testing.T, srv *sshtest.Server) {
	t.Helper()
	start := time.Now()
	dir := t.TempDir()
	token := fmt.Sprintf("pwned-%d", time.Now().UnixNano())
	names := hostileNames(token)
	for i, n := range names {
		sourcetest.Append(t, filepath.Join(dir, n), fmt.Sprintf("hello %d\n", i))
	}
	src := mustNew(t, srv.Entry("shell", filepath.Join(dir, "*.log")), nil, testOptions())
	for i, n := range names {
		path := filepath.Join(dir, n)
		sink, stop := follow(t, src, path, 1)
		waitTexts(t, sink, fmt.Sprintf("hello %d", i))
		sourcetest.Append(t, path, "more\n")
		waitTexts(t, sink, fmt.Sprintf("hello %d", i), "more")
		stop()
	}
	home, _ := os.UserHomeDir()
	for _, d := range []string{dir, srv.Dir, home, "/", "/tmp"} {
		matches, _ := filepath.Glob(filepath.Join(d, token+"*"))
		if len(matches) > 0 {
			t.Errorf("a file name ran a command: %q exists", matches)
		}
	}
	t.Logf("%d hostile names followed in %s", len(names), time.Since(start).Round(time.Millisecond))
}

// TestLoginShellRefused: a login shell that cannot run the command (here
// nologin) is reported at once, naming the shell, and Follow gives up.
func TestLoginShellRefused(t *testing.T) {
	nologin := sshtest.RequireShell(t, "nologin", "login")
	srv := sshtest.StartWith(t, sshtest.Config{Shell: nologin})
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(t, path, "one\n")
	src := mustNew(t, srv.Entry("nologin", filepath.Join(dir, "*.log")), nil, testOptions())
	sink := sourcetest.NewSink()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := src.Follow(ctx, path, 1, sink)
	took := time.Since(start)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Follow returned %v, want an error that ends it", err)
	}
	st := lastState(sink)
	if st.Code != tailer.StateError || !strings.Contains(st.Msg, nologin) || !strings.Contains(st.Msg, "login shell") {
		t.Errorf("state %+v, want an error naming the login shell %s", st, nologin)
	}
	if took > 5*time.Second {
		t.Errorf("took %s to say so", took)
	}
	if texts := sink.Texts(); len(texts) > 0 {
		t.Errorf("lines delivered: %q", texts)
	}
	t.Logf("%s: %q", took.Round(time.Millisecond), st.Msg)
}
