package ssh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	xssh "golang.org/x/crypto/ssh"

	"github.com/logviewer/logviewer/sources/internal/history"
	"github.com/logviewer/logviewer/sources/internal/rotation"
	"github.com/logviewer/logviewer/tailer"
)

// History over SSH: the same reader as the local source's
// (sources/internal/history), given a rotation.FS over SFTP. SFTP names no
// inode, and a position's file identity must be the inode the follower
// gives the ring's lines (the script's `ls -iL /dev/fd/3`), so that the
// boundary between the ring and the history is exact. So the inode numbers
// of the live file and its rotated siblings come from a short script run
// the same way as the follower's (remoteCommand: `exec /bin/sh -s`, the
// program on stdin, every path in it a single-quoted sh word), which runs
// `ls -id` on each: lstat's inode, the one the follower's fstat sees for a
// regular file.
//
// Path rules, as locally: the path must pass Check; the directory read is
// the one the path resolves to on the host (SFTP realpath, every symlink
// followed), and the resolved path must match a glob; a sibling is opened
// only when lstat says it is a regular file (not a symlink) before and
// after it is opened, the opened handle is a regular file, and realpath of
// its name is the name itself (no symlink in the directories either).

var (
	_ tailer.HistorySource = (*Source)(nil)
	_ tailer.FileOpener    = (*Source)(nil)
)

// History implements tailer.HistorySource.
func (s *Source) History(ctx context.Context, p string) (tailer.History, error) {
	real, err := s.resolveAllowed(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", p, err)
	}
	fsys := &remoteFS{src: s, base: path.Base(real)}
	return history.New(fsys, path.Dir(real), path.Base(real), s.opts.MaxLineBytes), nil
}

// OpenFile implements tailer.FileOpener: path must pass Check, and what it
// resolves to must be a regular file the globs allow (as Follow requires).
func (s *Source) OpenFile(ctx context.Context, p string) (io.ReadSeekCloser, tailer.FileInfo, error) {
	real, err := s.resolveAllowed(ctx, p)
	if err != nil {
		return nil, tailer.FileInfo{}, fmt.Errorf("open %s: %w", p, err)
	}
	c, err := s.getConn(ctx)
	if err != nil {
		return nil, tailer.FileInfo{}, fmt.Errorf("open %s on %s: %w", p, s.name, err)
	}
	f, err := openChecked(c, real)
	if err != nil {
		return nil, tailer.FileInfo{}, fmt.Errorf("open %s on %s: %w", p, s.name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, tailer.FileInfo{}, err
	}
	return f, tailer.FileInfo{Path: p, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// resolveAllowed checks p and returns the path it resolves to on the host,
// which must be a regular file that a glob allows.
func (s *Source) resolveAllowed(ctx context.Context, p string) (string, error) {
	if err := s.Check(ctx, p); err != nil {
		return "", err
	}
	c, err := s.getConn(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.name, err)
	}
	defer c.guard(ctx, s.opts.CloseGrace)()
	real, err := c.sftp.RealPath(p)
	if err != nil {
		return "", fmt.Errorf("%s on %s: %w", p, s.name, tailer.ErrNotListed)
	}
	if !(&follower{src: s, path: p}).matchesReal(c, real) {
		return "", fmt.Errorf("%s on %s resolves to %s, outside the host's files: %w", p, s.name, real, tailer.ErrNotListed)
	}
	fi, err := c.sftp.Lstat(real)
	if err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s on %s: %w", p, s.name, tailer.ErrNotListed)
	}
	return real, nil
}

// openChecked opens name (absolute, resolved) over SFTP as a regular file
// reached through no symlink (see sftpFS.Open), and checks that realpath
// gives the name itself: no directory on the way was swapped for a symlink.
func openChecked(c *conn, name string) (*sftp.File, error) {
	rf, err := sftpFS{c.sftp}.Open(name)
	if err != nil {
		return nil, err
	}
	f := rf.(*sftp.File)
	if real, err := c.sftp.RealPath(name); err != nil || real != name {
		f.Close()
		if err != nil {
			return nil, err
		}
		return nil, &rotation.RefusedError{Path: name, Reason: "it resolves to " + real + " (a symlink)"}
	}
	return f, nil
}

// remoteFS is the rotation.FS of one History: SFTP for listing and reading,
// and inode numbers from the inode script for the files named base or
// base.* / base-* (the chain's candidates; other entries have Ino 0).
type remoteFS struct {
	src  *Source
	base string
}

// fsTimeout bounds one FS call (rotation.FS has no context): an SFTP
// request, or the inode script, on a host that stopped answering.
const fsTimeout = 30 * time.Second

func (r *remoteFS) conn() (*conn, context.Context, func(), error) {
	ctx, cancel := context.WithTimeout(r.src.ctx, fsTimeout)
	c, err := r.src.getConn(ctx)
	if err != nil {
		cancel()
		return nil, nil, nil, fmt.Errorf("%s: %w", r.src.name, err)
	}
	unguard := c.guard(ctx, r.src.opts.CloseGrace)
	return c, ctx, func() { unguard(); cancel() }, nil
}

func (r *remoteFS) candidate(name string) bool {
	return name == r.base || strings.HasPrefix(name, r.base+".") || strings.HasPrefix(name, r.base+"-")
}

// ReadDir implements rotation.FS.
func (r *remoteFS) ReadDir(dir string) ([]rotation.Entry, error) {
	c, ctx, done, err := r.conn()
	if err != nil {
		return nil, err
	}
	defer done()
	entries, err := sftpFS{c.sftp}.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Mode.IsRegular() && r.candidate(e.Name) {
			names = append(names, path.Join(dir, e.Name))
		}
	}
	inos, err := r.src.inodes(ctx, c, names)
	if err != nil {
		return nil, err
	}
	out := entries[:0]
	for _, e := range entries {
		if e.Mode.IsRegular() && r.candidate(e.Name) {
			ino := inos[path.Join(dir, e.Name)]
			if ino == 0 {
				continue // gone meanwhile, or not a regular file now
			}
			e.Ino = ino
		}
		out = append(out, e)
	}
	return out, nil
}

// Stat implements rotation.FS (lstat semantics).
func (r *remoteFS) Stat(name string) (rotation.Entry, error) {
	c, ctx, done, err := r.conn()
	if err != nil {
		return rotation.Entry{}, err
	}
	defer done()
	e, err := sftpFS{c.sftp}.Stat(name)
	if err != nil || !e.Mode.IsRegular() || !r.candidate(e.Name) {
		return e, err
	}
	inos, err := r.src.inodes(ctx, c, []string{name})
	if err != nil {
		return rotation.Entry{}, err
	}
	if e.Ino = inos[name]; e.Ino == 0 {
		return rotation.Entry{}, fmt.Errorf("stat %s: %w", name, fs.ErrNotExist)
	}
	return e, nil
}

// Open implements rotation.FS.
func (r *remoteFS) Open(name string) (rotation.File, error) {
	c, _, done, err := r.conn()
	if err != nil {
		return nil, err
	}
	defer done()
	f, err := openChecked(c, name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// inodeServer is a session running inodeScript, shared by the host's
// histories (one exchange at a time) and closed after histIdle unused: an
// exec session costs about 100 ms to start on OpenSSH, more than most
// history requests take otherwise.
type inodeServer struct {
	mu    sync.Mutex
	c     *conn
	sess  *xssh.Session
	stdin io.WriteCloser
	out   *bufio.Reader
	gen   int // counts sessions, so that an idle timer closes only its own
	idle  *time.Timer
}

// histIdle is how long an unused inode session stays open.
const histIdle = 30 * time.Second

// maxInodeLine bounds a line of the inode script's output (and of what the
// login shell prints before it).
const maxInodeLine = 4096

// inodes returns the inode number of each of names (absolute paths) as
// lstat gives it on the host; a name that is missing, or not a regular file,
// is left out. It asks the host's inode session, starting one on c (or
// another connection) when there is none.
func (s *Source) inodes(ctx context.Context, c *conn, names []string) (map[string]uint64, error) {
	out := make(map[string]uint64, len(names))
	if len(names) == 0 {
		return out, nil
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "/") || strings.ContainsAny(n, "\n\x00") {
			return nil, fmt.Errorf("%.200q on %s: a file name with a newline is not supported", n, s.name)
		}
	}
	is := &s.inodeSrv
	is.mu.Lock()
	defer is.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if is.sess == nil {
			if err := s.startInodes(ctx, c); err != nil {
				return nil, err
			}
		}
		err := is.ask(ctx, names, out)
		if err == nil {
			gen := is.gen
			if is.idle != nil {
				is.idle.Stop()
			}
			is.idle = time.AfterFunc(histIdle, func() {
				is.mu.Lock()
				defer is.mu.Unlock()
				if is.gen == gen && is.sess != nil {
					s.stopInodes()
				}
			})
			return out, nil
		}
		s.stopInodes()
		// A session that ended (idle on the server, a new connection) is
		// started again once.
		if ctx.Err() != nil || attempt == 1 {
			return nil, fmt.Errorf("the inode script on %s: %w", s.name, err)
		}
	}
}

// startInodes starts the inode session (s.inodeSrv.mu held).
func (s *Source) startInodes(ctx context.Context, c *conn) error {
	is := &s.inodeSrv
	c, sess, err := s.openSession(ctx, c)
	if err != nil {
		return err
	}
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	if err := errors.Join(err1, err2); err != nil {
		sess.Close()
		s.releaseSession(c)
		return err
	}
	if err := sess.Start(remoteCommand); err != nil {
		sess.Close()
		s.releaseSession(c)
		return fmt.Errorf("start the inode script: %w", err)
	}
	is.c, is.sess, is.stdin, is.out = c, sess, stdin, bufio.NewReaderSize(stdout, maxInodeLine)
	is.gen++
	nonce, err := newNonce()
	if err == nil {
		_, err = io.WriteString(stdin, inodeScript(nonce))
	}
	if err == nil {
		err = is.until(ctx, nonce, nil)
	}
	if err != nil {
		s.stopInodes()
		return fmt.Errorf("start the inode script on %s: %w", s.name, err)
	}
	return nil
}

// stopInodes ends the inode session (s.inodeSrv.mu held): the script ends
// when its stdin does.
func (s *Source) stopInodes() {
	is := &s.inodeSrv
	if is.sess == nil {
		return
	}
	is.stdin.Close()
	is.sess.Close()
	s.releaseSession(is.c)
	is.c, is.sess, is.stdin, is.out = nil, nil, nil, nil
	if is.idle != nil {
		is.idle.Stop()
		is.idle = nil
	}
}

// ask sends names and a nonce, and reads an inode for each name.
func (is *inodeServer) ask(ctx context.Context, names []string, out map[string]uint64) error {
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte('\n')
	}
	b.WriteString(nonce + "\n")
	if _, err := io.WriteString(is.stdin, b.String()); err != nil {
		return err
	}
	k := 0
	err = is.until(ctx, nonce, func(line string) error {
		ino, perr := strconv.ParseUint(strings.TrimPrefix(line, "logviewer:ino "), 10, 64)
		if perr != nil || !strings.HasPrefix(line, "logviewer:ino ") || k == len(names) {
			return fmt.Errorf("unexpected answer %.100q", line)
		}
		if ino != 0 {
			out[names[k]] = ino
		}
		k++
		return nil
	})
	if err == nil && k != len(names) {
		err = fmt.Errorf("%d answers for %d names", k, len(names))
	}
	return err
}

// until reads lines up to the line nonce, passing each to fn (nil: they are
// skipped). ctx ending closes the session, which ends the read.
func (is *inodeServer) until(ctx context.Context, nonce string, fn func(string) error) error {
	ctx, cancel := context.WithTimeout(ctx, fsTimeout)
	defer cancel()
	sess := is.sess
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	for {
		line, err := is.out.ReadSlice('\n')
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		text := strings.TrimSuffix(string(line), "\n")
		if text == nonce {
			return nil
		}
		if fn != nil {
			if err := fn(text); err != nil {
				return err
			}
		}
	}
}

// inodeScript is the POSIX sh program of the inode session. It prints the
// line nonce (whatever the login shell's startup files printed comes
// before it), then reads lines: a path (absolute), for which it prints
// "logviewer:ino N", N being the inode number lstat gives (0 when it is
// missing or not a regular file), or a nonce (logviewer:…), which it prints
// back to end an answer. A path is only ever data: read by `read -r` and
// used as "$p", never parsed as program text. ls -i is what the follower's
// script uses too (GNU and BusyBox alike); -d keeps ls from listing a
// directory put in a file's place; the path starts with / so ls never takes
// it for an option.
func inodeScript(nonce string) string {
	return `{
LC_ALL=C; export LC_ALL; set -f
echo ` + nonce + `
while IFS= read -r p; do
case $p in
logviewer:*) echo "$p";;
*) if [ -f "$p" ] && [ ! -h "$p" ]; then set -- $(ls -id "$p" 2>/dev/null)
case $1 in ''|*[!0-9]*) echo logviewer:ino 0;; *) echo "logviewer:ino $1";; esac
else echo logviewer:ino 0; fi;;
esac
done
exit 0
}
`
}
