package ssh

import (
	"strconv"
	"strings"
	"time"
)

// tailScript is the POSIX sh program that follows one file (one inode) on the
// remote host. It is sent as the session's command, with the path as its only
// argument ($1), so the path is data to the script and never code:
//
//  1. open the path on fd 3 and print "logviewer:open PID INODE" (or
//     "logviewer:missing", "logviewer:unreadable" or "logviewer:notfile",
//     and exit);
//  2. read the 1-based start byte from stdin (logviewer reads the last lines
//     and checks a resume offset itself, over SFTP, through /proc/PID/fd/3,
//     which names this very inode whatever happens to the path);
//  3. run `tail -s INTERVAL -c +START -f /dev/fd/3`, which follows that
//     inode (never the path) and writes its bytes unchanged to stdout. GNU
//     tail does not use inotify for a symlink such as /dev/fd/3, so it
//     checks the file every INTERVAL ($2) seconds, which costs an fstat;
//     while data keeps coming it reads without pausing;
//  4. wait for stdin to end, which happens when logviewer closes the session
//     or the connection drops, and then kill its process group (sshd starts
//     every session in a new one), so no tail outlives its viewer even when
//     the log is quiet. If tail ends by itself the group is killed too, so
//     that logviewer sees the session end.
//
// The text has no single quote, backslash, "!" or newline, so that it can be
// single-quoted for any login shell that sshd runs it with.
const tailScript = `LC_ALL=C; export LC_ALL; p=$1; ` +
	`{ command exec 3<"$p"; } 2>/dev/null || { if [ -e "$p" ]; then echo logviewer:unreadable; else echo logviewer:missing; fi; exit 0; }; ` +
	`[ -f /dev/fd/3 ] || { echo logviewer:notfile; exit 0; }; ` +
	`i=$(stat -L -c %i /dev/fd/3) || exit 1; ` +
	`echo "logviewer:open $$ $i"; ` +
	`read s || exit 0; [ "$s" -ge 1 ] 2>/dev/null || exit 1; ` +
	`( tail -s "$2" -c "+$s" -f /dev/fd/3; kill 0 ) & ` +
	`cat >/dev/null; kill 0`

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
