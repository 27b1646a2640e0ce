package ssh

import (
	"strconv"
	"strings"
	"time"
)

// tailScript is the POSIX sh program that follows one path on the remote
// host. It is sent as the session's command with the path as its first
// argument ($1), so the path is data to the script and never code. It reads
// commands "open|tail START NONCE" from stdin; for each it stops the running
// tail (and waits for it), prints NONCE on a line of its own, so that
// logviewer knows where the answer begins (whatever came before was the old
// tail's), and then:
//
//   - open: opens the path on fd 3 and prints "logviewer:open PID INODE", or
//     "logviewer:missing", "logviewer:unreadable" or "logviewer:notfile";
//   - tail: starts `tail -s INTERVAL -c +START -f /dev/fd/3`, which follows
//     the inode on fd 3 (never the path) and writes its bytes unchanged to
//     stdout. GNU tail does not use inotify for a symlink such as /dev/fd/3:
//     it looks at the file every INTERVAL ($2) seconds (an fstat), and reads
//     without pausing while data keeps coming.
//
// logviewer decides where to start (the last lines, a resume offset, 0 after
// a truncation) and when the path names another file, over SFTP, through
// /proc/PID/fd/3, which names the inode the script holds whatever happens to
// the path. When stdin ends, because logviewer closed the session or the
// connection dropped, the script kills its process group (sshd starts every
// session in a new one), so no tail outlives its viewer even when the log is
// quiet.
//
// The text has no single quote, backslash or newline, so that it can be
// single-quoted for the POSIX-like login shells (sh, bash, dash, ksh, zsh) and
// fish that sshd may run it with; csh and tcsh would expand the "!" of $!.
const tailScript = `LC_ALL=C; export LC_ALL; p=$1; t=; ` +
	`while read c s m; do ` +
	`if [ -n "$t" ]; then kill "$t" 2>/dev/null; wait "$t" 2>/dev/null; t=; fi; ` +
	`echo "$m"; ` +
	`case $c in ` +
	`open) exec 3<&-; ` +
	`if { command exec 3<"$p"; } 2>/dev/null; then ` +
	`if [ -f /dev/fd/3 ]; then echo "logviewer:open $$ $(stat -L -c %i /dev/fd/3)"; else echo logviewer:notfile; fi; ` +
	`elif [ -e "$p" ]; then echo logviewer:unreadable; else echo logviewer:missing; fi;; ` +
	`tail) tail -s "$2" -c "+$s" -f /dev/fd/3 & t=$!;; ` +
	`*) break;; ` +
	`esac; done; kill 0`

// tailCommand is the command line for following path: the login shell runs
// /bin/sh with the script, the path as a single-quoted argument and tail's
// sleep interval. The word "logviewer-tail" is $0, which names the process in ps.
func tailCommand(path string, interval time.Duration) string {
	secs := strconv.FormatFloat(max(interval, time.Millisecond).Seconds(), 'f', 3, 64)
	return "exec /bin/sh -c " + shellQuote(tailScript) + " logviewer-tail " + shellQuote(path) + " " + secs
}

// shellQuote quotes s for a POSIX shell: inside single quotes nothing is
// special, and a single quote itself is written as '\” (close, escaped
// quote, reopen).
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
