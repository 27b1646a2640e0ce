package ssh

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/sftp"
	xssh "golang.org/x/crypto/ssh"
)

// openTimeout bounds the wait for the answer to "open": a regular file opens
// at once, so only a FIFO or device swapped in after the script's test (or a
// hung file system) can take longer; the follower then retries, and the
// script's test refuses what is there now.
const openTimeout = 10 * time.Second

// readyTimeout bounds the wait for the script's first words: the login
// shell runs its startup files first (bash reads ~/.bashrc for sshd), which
// can take seconds on a loaded host. Past it the follower retries.
const readyTimeout = 30 * time.Second

// remoteCommand is the command of every follow session. sshd hands it to
// the login shell of the remote user, which may be sh, bash, dash, zsh,
// BusyBox sh, fish, csh or tcsh: each quotes and expands differently (fish
// reads \' and \\ inside single quotes, csh expands ! and $ inside them).
// So the command holds nothing any of them treats specially: no quote, no
// backslash, no $, no !, no newline, only words that every shell passes to
// exec unchanged. The program itself, with the path in it, is then read by
// that /bin/sh from stdin (see tailScript): no login shell ever parses a
// file name, and its quoting does not matter.
const remoteCommand = "exec /bin/sh -s"

// tailScript is the POSIX sh program that follows path on the remote host.
// logviewer writes it to the session's stdin; /bin/sh reads it from there as
// a single { } group, so it has read all of it before it runs any of it and
// reads nothing more as program text. What logviewer writes after it are
// commands, read by the script's own `read`, one line each, and only once the
// script said it is ready, so that none of them is read as program text.
// The path is a single-quoted sh word in the text: for /bin/sh, which is a
// POSIX shell on every host, nothing inside single quotes is special.
//
// First the script prints ready (the line after which its output begins:
// whatever the login shell's startup files printed before is skipped), then
// "logviewer:ready INTERVAL", or "logviewer:need WHAT" when a tool it needs
// is missing or refuses the options used (and it exits). GNU tail takes a
// fractional -s; BusyBox tail takes whole seconds only, so the interval is
// rounded up to one then.
//
// Then it reads commands "open|hold|tail START NONCE". For each it stops the
// running tail (and waits for it), prints NONCE on a line of its own, so
// that logviewer knows where the answer begins (whatever came before was the
// old tail's), and then:
//
//   - open: closes fd 3; answers "logviewer:missing", "logviewer:notfile" or
//     "logviewer:unreadable" when the path (after symlinks) is not there, not
//     a regular file or not readable. Otherwise a background subshell opens
//     the path on its own fd 3 and answers "logviewer:held NAME", NAME being
//     the name the kernel gives the opened file right then (every symlink
//     resolved; hex, as a file name may hold any byte but NUL), or missing
//     or unreadable, when the path changed meanwhile. Opening a FIFO for
//     reading blocks until a writer comes: should one be swapped in after
//     the test, only that subshell blocks, logviewer gives up waiting for
//     its answer, and the script, still reading commands, kills it.
//   - hold: takes the file over from the subshell: when the inode the
//     subshell holds is a regular file (a fixed inode now: no swap can
//     change it), the script opens it on its own fd 3 through
//     /proc/SUBSHELL/fd/3, which cannot block, ends the subshell and answers
//     "logviewer:open PID INODE" (PID being the script's), else
//     "logviewer:notfile" (or "logviewer:lost" when the subshell is gone).
//   - tail: starts `tail -s INTERVAL -c +START -f /dev/fd/3`, which follows
//     the inode on fd 3 (never the path) and writes its bytes unchanged to
//     stdout. GNU tail does not use inotify for a symlink such as /dev/fd/3:
//     it looks at the file every INTERVAL seconds (an fstat), and reads
//     without pausing while data keeps coming.
//
// logviewer decides whether what was opened is one of the host's files
// (NAME must match a glob: it is taken at once, as a rotation may rename the
// file a moment later), where to start (the last lines, a resume offset, 0
// after a truncation), and when the path names another file, over SFTP,
// through /proc/PID/fd/3, which names the inode the script holds whatever
// happens to the path.
//
// When stdin ends, because logviewer closed the session or the connection
// dropped, the script kills the tail and the subshell it started, by PID,
// and exits. It never signals its process group: Dropbear does not give a
// session a group of its own, so that would reach the connection itself.
//
// Remote requirements: /bin/sh (POSIX: dash, bash, BusyBox ash...), tail
// with -c +N, -f and -s, ls with -i and -L, sleep, readlink, od, tr, and
// Linux's /proc.
func tailScript(path string, interval time.Duration, ready string) string {
	iv := max(interval, time.Millisecond)
	secs := strconv.FormatFloat(iv.Seconds(), 'f', 3, 64)
	whole := strconv.Itoa(max(1, int(math.Ceil(iv.Seconds()))))
	var b strings.Builder
	b.WriteString("{\n")
	b.WriteString("LC_ALL=C; export LC_ALL; set -f\n")
	b.WriteString("p=" + shellQuote(path) + "\n")
	b.WriteString("echo " + ready + "\n")
	b.WriteString(`need() { echo logviewer:need $*; exit 1; }
[ -d /proc/$$/fd ] || need /proc: Linux procfs is not mounted
for x in tail ls sleep readlink od tr; do command -v $x >/dev/null 2>&1 || need $x: not found; done
`)
	b.WriteString("iv=" + secs + "\n")
	b.WriteString(`if e=$(tail -s $iv -c +1 /dev/null 2>&1); then :
elif tail -s ` + whole + ` -c +1 /dev/null >/dev/null 2>&1; then iv=` + whole + `
else need tail: $e
fi
set -- $(ls -iL /dev/null 2>&1)
case $1 in ''|*[!0-9]*) need ls -iL: $*;; esac
echo logviewer:ready $iv
t=; n=
stop() { if [ -n "$t" ]; then kill $t 2>/dev/null; wait $t 2>/dev/null; t=; fi; }
drop() { if [ -n "$n" ]; then kill $n 2>/dev/null; wait $n 2>/dev/null; n=; fi; }
while read c s m; do
stop
echo "$m"
case $c in
open) drop; exec 3<&-
if [ ! -e "$p" ]; then echo logviewer:missing
elif [ ! -f "$p" ]; then echo logviewer:notfile
elif [ ! -r "$p" ]; then echo logviewer:unreadable
else
( if { command exec 3<"$p"; } 2>/dev/null; then echo "logviewer:held $(readlink /proc/self/fd/3 | od -An -tx1 | tr -d ' \n')"; exec sleep 2147483647 >/dev/null 2>&1
elif [ -e "$p" ]; then echo logviewer:unreadable; else echo logviewer:missing; fi ) &
n=$!
fi;;
hold) if [ -z "$n" ] || [ ! -e /proc/$n/fd/3 ]; then echo logviewer:lost
elif [ -f /proc/$n/fd/3 ] && { command exec 3</proc/$n/fd/3; } 2>/dev/null; then
set -- $(ls -iL /dev/fd/3); echo "logviewer:open $$ $1"
else echo logviewer:notfile
fi; drop;;
tail) tail -s $iv -c "+$s" -f /dev/fd/3 & t=$!;;
*) break;;
esac
done
stop; drop; exit 0
}
`)
	return b.String()
}

// shellQuote quotes s for a POSIX shell: inside single quotes nothing is
// special, and a single quote itself is written as '\” (close, escaped
// quote, reopen). Only /bin/sh reads what it quotes (see remoteCommand):
// fish and csh would not.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// quoteIfNeeded quotes s for a shell only when it holds characters a shell
// would treat specially; it is used in messages that suggest a command.
func quoteIfNeeded(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@%+=,") == "" {
		return s
	}
	return shellQuote(s)
}

// loginShell returns the login shell of user as the remote /etc/passwd
// gives it (read over SFTP, so that no shell is involved), or "" when it
// cannot tell.
func loginShell(sc *sftp.Client, user string) string {
	f, err := sc.Open("/etc/passwd")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(io.LimitReader(f, 4<<20))
	for s.Scan() {
		if fields := strings.Split(s.Text(), ":"); len(fields) == 7 && fields[0] == user {
			return fields[6]
		}
	}
	return ""
}

// ready sends the script and reads its first line: ready, or the tool it
// lacks. When the session ends without a word of the script's, the login
// shell did not run remoteCommand: that is said, naming the shell, and
// retrying cannot help. When the script is only slow to speak (startup
// files of a loaded host), the follower retries.
func (w *follower) ready(ctx context.Context, c *conn, rs *session) error {
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	w.expect(nonce)
	if _, err := io.WriteString(rs.stdin, tailScript(w.path, w.src.opts.TailInterval, nonce)); err != nil {
		return fmt.Errorf("write the remote script: %w", err)
	}
	answer, err := w.answer(ctx, rs, readyTimeout)
	switch {
	case errors.Is(err, errEnded) || errors.Is(err, errNoAnswer):
		return w.noScript(c, rs, err)
	case err != nil:
		return err
	case strings.HasPrefix(answer, "logviewer:need "):
		return &errFollow{fmt.Errorf("cannot follow files on %s: the remote %s", w.src.name, strings.TrimPrefix(answer, "logviewer:need "))}
	case !strings.HasPrefix(answer, "logviewer:ready "):
		return fmt.Errorf("unexpected answer from the remote script: %.200q", answer)
	}
	if iv := strings.TrimPrefix(answer, "logviewer:ready "); iv != strconv.FormatFloat(max(w.src.opts.TailInterval, time.Millisecond).Seconds(), 'f', 3, 64) {
		w.src.log.Debug("the remote tail takes whole seconds only (BusyBox?)", "interval", iv)
	}
	return nil
}

// noScript says why the script never spoke (err: it ended, or did not
// answer in time).
func (w *follower) noScript(c *conn, rs *session, err error) error {
	if errors.Is(err, errEnded) {
		// Wait briefly for the exit status and the rest of stderr.
		expired := make(chan struct{})
		t := time.AfterFunc(w.src.opts.CloseGrace, func() { close(expired) })
		defer t.Stop()
		for _, ch := range []chan struct{}{rs.exited, rs.errDone} {
			select {
			case <-ch:
			case <-expired:
			}
		}
		var exit *xssh.ExitError
		select {
		case <-rs.exited:
			if rs.exitErr != nil && !errors.As(rs.exitErr, &exit) {
				return err // no exit status: the connection went away
			}
		default:
			return err
		}
	}
	shell := loginShell(c.sftp, w.src.ep.user)
	if shell == "" {
		shell = "unknown"
	}
	if errors.Is(err, errNoAnswer) {
		return fmt.Errorf("the login shell of %s on %s (%s) has not run %q within %s%s", w.src.ep.user, w.src.name, shell, remoteCommand, readyTimeout, rs.stderrNote())
	}
	return &errFollow{fmt.Errorf("the login shell of %s on %s (%s) did not run %q%s", w.src.ep.user, w.src.name, shell, remoteCommand, rs.stderrNote())}
}

// errDeleted: the file was removed between its opening and the check.
var errDeleted = errors.New("file removed")

// allowed checks that what the script holds is one of the host's files,
// before any of its bytes is read: name is the name the kernel gave the
// held file as it was opened (every symlink and directory resolved), hex
// encoded; without one, /proc/PID/fd/3 is read now, over SFTP.
func (w *follower) allowed(c *conn, pid int, name string) error {
	var real string
	if name != "" {
		b, err := hex.DecodeString(name)
		if err != nil || len(b) == 0 || b[len(b)-1] != '\n' {
			return fmt.Errorf("unexpected name from the remote script: %.200q", name)
		}
		real = string(b[:len(b)-1]) // readlink ends it with a newline
	} else {
		proc := fmt.Sprintf("/proc/%d/fd/3", pid)
		var err error
		if real, err = c.sftp.ReadLink(proc); err != nil {
			return fmt.Errorf("readlink %s: %w", proc, err)
		}
	}
	if w.matchesReal(c, real) {
		return nil
	}
	if name, ok := strings.CutSuffix(real, " (deleted)"); ok && w.matchesReal(c, name) {
		return errDeleted
	}
	return w.outside(real)
}

// matchesReal reports whether real, a path with every symlink resolved,
// matches a glob: as written, or with the glob's directory part before its
// first wildcard resolved through symlinks on the host, as sources/local
// does (/var/log/app/*.log may name a directory that is a symlink; a
// symlink inside it that leads elsewhere does not match).
func (w *follower) matchesReal(c *conn, real string) bool {
	if w.src.matches(real, c.home) {
		return true
	}
	for _, g := range w.src.globs {
		dir, rest := splitGlob(expandRemoteHome(g, c.home))
		r, err := c.sftp.RealPath(dir)
		if err != nil || r == dir {
			continue
		}
		if ok, _ := path.Match(path.Join(r, rest), real); ok {
			return true
		}
	}
	return false
}

// splitGlob splits an absolute glob before its first component with a
// wildcard (before its last component when it has none).
func splitGlob(g string) (dir, rest string) {
	parts := strings.Split(g, "/")
	i := len(parts) - 1
	for j, p := range parts {
		if hasMeta(p) {
			i = j
			break
		}
	}
	return "/" + path.Join(parts[:i]...), path.Join(parts[i:]...)
}

// outside refuses a path that resolves to real, outside the host's files.
func (w *follower) outside(real string) error {
	return &errFollow{fmt.Errorf("%s on %s resolves to %s, which is not one of the host's files", w.path, w.src.name, real)}
}

// openedName returns the NAME of an answer "logviewer:open PID INODE NAME",
// or "".
func openedName(answer string) string {
	if f := strings.Fields(answer); len(f) == 4 {
		return f[3]
	}
	return ""
}
