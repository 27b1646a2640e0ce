package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/logviewer/logviewer/sources/internal/rotation"
	"github.com/logviewer/logviewer/tailer"
)

// Follow implements tailer.Source. It keeps following through rotations,
// truncations and lost connections until ctx ends; it returns another error
// only when the path cannot be followed at all (not one of the host's files,
// not a regular file, not readable) or the Source was closed.
func (s *Source) Follow(ctx context.Context, path string, n int, sink tailer.Sink) error {
	w := &follower{src: s, path: path, n: n, sink: sink}
	w.sp.max = s.opts.MaxLineBytes
	return w.run(ctx)
}

type startMode int

const (
	startLastN  startMode = iota // the first file: from its last n lines
	startFresh                   // a new file after a rotation: from its start
	startResume                  // the same file again: from the delivered offset
)

// errFollow ends Follow: retrying cannot help.
type errFollow struct{ err error }

func (e *errFollow) Error() string { return e.err.Error() }
func (e *errFollow) Unwrap() error { return e.err }

// follower follows one path through any number of inodes and connections.
type follower struct {
	src  *Source
	path string
	n    int
	sink tailer.Sink

	mode         startMode
	outsideTries int // opens in a row that resolved outside the globs
	ino          uint64
	delivered    int64  // offset just past the last line delivered from ino
	known        []byte // the up to knownLen bytes of ino that end at delivered
	lost         error  // why the connection was lost, until following again
	fails        int    // failures in a row that were not a lost connection
	state        tailer.State
	checked      bool      // the path was checked against the globs
	gone         bool      // the path was removed; say so when it is back
	sameAs       [2]string // a realpath and readlink pair known to name one file

	sp     splitter
	batch  []tailer.Line
	bend   int64  // offset just past the batch
	bknown []byte // the bytes that end at bend
	raw    []byte // tail's bytes from delivered on, as sent (about rawMax at most)
	rawGap bool   // raw gave up on an over-long line and starts after delivered
	seen   int64  // the largest size the inode was seen to have since delivered was set
	head0  []byte // the inode's first bytes, read while nothing of it was delivered

	await     []byte    // the nonce line after which the script's answer comes, until seen
	carry     []byte    // the end of the bytes skipped so far, which may begin the nonce
	lastData  time.Time // when bytes last came from the current tail
	waitSince time.Time // since when undelivered bytes wait in the file
	partialAt int64     // file size at which only a partial line waits
	stalls    int       // restarts of a tail that sent nothing, in a row
}

func (w *follower) run(ctx context.Context) error {
	if !w.src.connected() {
		w.setState(tailer.StateConnecting, "connecting to "+w.src.ep.String())
	}
	for {
		c, err := w.connection(ctx)
		if err != nil {
			return err
		}
		start := time.Now()
		err = w.session(ctx, c)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fe *errFollow
		switch {
		case errors.As(err, &fe):
			w.setState(tailer.StateError, fe.Error())
			return fe.err
		case errors.Is(err, ErrClosed):
			return err
		case !c.check():
			// The connection is gone: connection() waits for a new one.
			w.lost = c.cause()
			w.setState(tailer.StateReconnecting, "connection lost: "+describe(w.lost)+"; reconnecting")
			w.src.log.Info("follow: connection lost", "path", w.path, "err", w.lost)
			continue
		}
		// The connection is fine but the remote side failed (the script
		// ended, SFTP refused...): retry this file on its own, backing off.
		if time.Since(start) > time.Minute {
			w.fails = 0
		}
		w.fails++
		wait := w.src.backoff(w.fails)
		w.src.log.Warn("follow failed", "path", w.path, "err", err, "retry", wait)
		w.setState(tailer.StateError, fmt.Sprintf("%s; retrying in %s", describe(err), roundDuration(wait)))
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// connection returns a live connection, waiting (and saying so) while the
// host cannot be reached.
func (w *follower) connection(ctx context.Context) (*conn, error) {
	for {
		c, err := w.src.getConn(ctx)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var re *retryError
		if !errors.As(err, &re) {
			if errors.Is(err, ErrClosed) {
				return nil, err
			}
			continue // the dial we waited for failed; the next call says until when
		}
		wait := time.Until(re.at)
		code, msg := tailer.StateReconnecting, describe(re.err)
		switch {
		case fatal(re.err):
			code = tailer.StateError
		case w.lost != nil && errors.Is(re.err, w.lost):
			msg = "connection lost: " + describe(w.lost)
		case w.lost != nil:
			msg = "connection lost: " + describe(w.lost) + "; reconnect failed: " + msg
		}
		w.setState(code, fmt.Sprintf("%s; reconnecting in %s", msg, roundDuration(max(wait, 0))))
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (s *Source) connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) > 0
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (w *follower) setState(code, msg string) {
	st := tailer.State{Code: code, Msg: msg}
	if st != w.state {
		w.state = st
		w.sink.State(st)
	}
}

// session is one run of the remote script (see tailScript).
type session struct {
	stdin   io.WriteCloser
	events  chan event
	hint    chan struct{} // something was said on stderr: check the file now
	free    chan []byte   // read buffers, handed back after use
	done    chan struct{}
	errDone chan struct{} // closed when stderr has ended
	exited  chan struct{} // closed when the session ended; then exitErr is set
	exitErr error
	wg      sync.WaitGroup

	mu      sync.Mutex
	lastErr string // the last line written on stderr
}

// event is a chunk of stdout, or its end (buf nil).
type event struct {
	buf []byte
	err error
}

// session runs the remote script on c and follows the path with it, through
// any number of files, until the connection or the script fails, or ctx ends.
func (w *follower) session(ctx context.Context, c *conn) error {
	defer c.guard(ctx, w.src.opts.CloseGrace)()
	if !w.checked {
		if !w.src.matches(w.path, c.home) {
			return &errFollow{fmt.Errorf("%s on %s: %w", w.path, w.src.name, tailer.ErrNotListed)}
		}
		w.checked = true
	}
	if err := w.waitFile(ctx, c); err != nil {
		return err
	}
	c, sess, err := w.src.openSession(ctx, c)
	if err != nil {
		return err
	}
	defer w.src.releaseSession(c)
	defer c.guard(ctx, w.src.opts.CloseGrace)() // c may be another connection now
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	stderr, err3 := sess.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		sess.Close()
		return err
	}
	if err := sess.Start(remoteCommand); err != nil {
		sess.Close()
		return fmt.Errorf("start the remote script: %w", err)
	}
	rs := &session{stdin: stdin, events: make(chan event), hint: make(chan struct{}, 1), free: make(chan []byte, 4),
		done: make(chan struct{}), errDone: make(chan struct{}), exited: make(chan struct{})}
	for range cap(rs.free) {
		rs.free <- make([]byte, 32<<10)
	}
	rs.wg.Add(3)
	go func() { defer rs.wg.Done(); rs.readStdout(stdout) }()
	go func() { defer rs.wg.Done(); defer close(rs.errDone); rs.readStderr(stderr, w) }()
	go func() { defer rs.wg.Done(); rs.exitErr = sess.Wait(); close(rs.exited) }()
	defer func() {
		// End the script (it kills its tail when stdin ends) and wait
		// until sshd reports that it exited.
		close(rs.done)
		stdin.Close()
		t := time.NewTimer(w.src.opts.CloseGrace)
		select {
		case <-rs.exited:
		case <-t.C:
			c.close(fmt.Errorf("the remote script did not end within %s", w.src.opts.CloseGrace))
			<-rs.exited
		}
		t.Stop()
		sess.Close()
		rs.wg.Wait()
	}()

	if err := w.ready(ctx, c, rs); err != nil {
		return err
	}
	answer, err := w.command(ctx, rs, "open", 0)
	for err == nil {
		var pid int
		var ino uint64
		if pid, ino, err = w.opened(ctx, c, answer); err != nil {
			break
		}
		if pid == 0 { // it was missing and is back
			answer, err = w.command(ctx, rs, "open", 0)
			continue
		}
		// Until the path names another file, or none.
		answer, err = w.followInode(ctx, rs, c.sftp, pid, ino)
	}
	return err
}

// maxOutsideTries is how often a file that resolved outside the globs is
// opened again before the path is refused (see opened).
const maxOutsideTries = 3

// opened reads the script's answer to "open". It returns pid 0 when the file
// did not exist (and now does). What the script holds is followed only when
// it resolves to one of the host's files (see allowed).
func (w *follower) opened(ctx context.Context, c *conn, answer string) (pid int, ino uint64, err error) {
	if pid, ino, ok := parseOpen(answer); ok {
		err := w.allowed(c, pid, openedName(answer))
		var fe *errFollow
		switch {
		case errors.Is(err, errDeleted):
			return 0, 0, w.waitFile(ctx, c)
		case errors.As(err, &fe) && w.outsideTries < maxOutsideTries:
			// A rotation may have renamed the file between its opening
			// and the kernel naming it (app.log → app.log.1): open the
			// path again. A symlink that stays outside is refused after a
			// few tries.
			w.outsideTries++
			return 0, 0, nil
		case err == nil:
			w.outsideTries = 0
		}
		return pid, ino, err
	}
	switch answer {
	case "logviewer:missing":
		return 0, 0, w.waitFile(ctx, c)
	case "logviewer:unreadable":
		return 0, 0, &errFollow{fmt.Errorf("%s on %s cannot be read (permission denied)", w.path, w.src.name)}
	case "logviewer:notfile":
		return 0, 0, &errFollow{fmt.Errorf("%s on %s is not a regular file", w.path, w.src.name)}
	case "logviewer:lost":
		return 0, 0, errors.New("the remote process that opened the file ended before the script took it over")
	}
	return 0, 0, fmt.Errorf("unexpected answer from the remote script: %.200q", answer)
}

// parseOpen reads "logviewer:open PID INODE [NAME]".
func parseOpen(answer string) (pid int, ino uint64, ok bool) {
	f := strings.Fields(answer)
	if len(f) < 3 || len(f) > 4 || f[0] != "logviewer:open" {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(f[1])
	ino, err2 := strconv.ParseUint(f[2], 10, 64)
	return pid, ino, err1 == nil && err2 == nil && pid > 0
}

// followInode follows the inode the script holds on fd 3 until the path
// names another file or none; it returns the script's answer to the "open"
// that it sent then.
func (w *follower) followInode(ctx context.Context, rs *session, sc *sftp.Client, pid int, ino uint64) (string, error) {
	proc := fmt.Sprintf("/proc/%d/fd/3", pid)
	rf, err := sc.Open(proc)
	if err != nil {
		return "", fmt.Errorf("open %s over SFTP: %w", proc, err)
	}
	defer rf.Close()
	fi, err := rf.Stat()
	if err != nil {
		return "", err
	}
	start, err := w.startAt(sc, rf, fi.Size(), ino)
	if err != nil {
		return "", err
	}
	w.src.log.Debug("follow: tail starts", "path", w.path, "pid", pid, "inode", ino, "size", fi.Size(), "start", start)
	if err := w.restart(rs, rf, start); err != nil {
		return "", err
	}
	w.setState(tailer.StateFollowing, "")
	return w.consume(ctx, rs, sc, rf, proc)
}

// command sends a command to the script and, for "open", returns its
// one-line answer. What came before the command's nonce line was the
// previous tail's and is skipped. An "open" is two exchanges: a background
// process opens the file ("held"), then the script takes it over ("hold"),
// so that a FIFO swapped in cannot block the script (see tailScript).
func (w *follower) command(ctx context.Context, rs *session, cmd string, start int64) (string, error) {
	nonce, err := newNonce()
	if err != nil {
		return "", err
	}
	w.expect(nonce)
	if _, err := fmt.Fprintf(rs.stdin, "%s %d %s\n", cmd, start+1, nonce); err != nil {
		return "", fmt.Errorf("write to the remote script: %w", err)
	}
	switch cmd {
	case "open":
		answer, err := w.answer(ctx, rs, openTimeout)
		if errors.Is(err, errNoAnswer) {
			return "", fmt.Errorf("opening %s on %s did not finish within %s (a FIFO or device put in its place?)", w.path, w.src.name, openTimeout)
		}
		name, held := strings.CutPrefix(answer, "logviewer:held ")
		if err != nil || !held {
			return answer, err
		}
		// The answer to "open" is the script's "logviewer:open PID INODE"
		// with the name the file had when it was opened.
		answer, err = w.command(ctx, rs, "hold", 0)
		if _, _, ok := parseOpen(answer); ok && err == nil {
			answer += " " + name
		}
		return answer, err
	case "hold":
		return w.answer(ctx, rs, openTimeout)
	}
	return "", nil
}

// newNonce returns a line no file and no shell startup file will print.
func newNonce() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "logviewer:" + hex.EncodeToString(b[:]), nil
}

// expect makes the line nonce the start of the next answer.
func (w *follower) expect(nonce string) {
	w.await = append(w.await[:0], nonce+"\n"...)
	w.carry = nil
}

// errNoAnswer: the script did not answer in time.
var errNoAnswer = errors.New("no answer from the remote script")

// errEnded: the script ended before it answered.
var errEnded = errors.New("the remote script ended")

// answer returns the line that follows the awaited nonce line, waiting at
// most within for it.
func (w *follower) answer(ctx context.Context, rs *session, within time.Duration) (string, error) {
	t := time.NewTimer(within)
	defer t.Stop()
	var answer []byte
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-t.C:
			return "", errNoAnswer
		case ev := <-rs.events:
			if ev.buf == nil {
				return "", fmt.Errorf("%w: %v%s", errEnded, ev.err, rs.stderrNote())
			}
			answer = append(answer, w.skip(ev.buf)...)
			rs.free <- ev.buf[:cap(ev.buf)]
			if i := bytes.IndexByte(answer, '\n'); i >= 0 {
				return string(answer[:i]), nil
			}
			if len(answer) > 4096 {
				return "", fmt.Errorf("unexpected answer from the remote script: %.100q", answer)
			}
		}
	}
}

// skip drops what comes before the awaited nonce line and returns what
// follows it (nothing while it has not come).
func (w *follower) skip(buf []byte) []byte {
	if len(w.await) == 0 {
		return buf
	}
	data := append(w.carry, buf...)
	i := bytes.Index(data, w.await)
	if i < 0 {
		keep := min(len(data), len(w.await)-1)
		w.carry = append([]byte(nil), data[len(data)-keep:]...)
		return nil
	}
	rest := data[i+len(w.await):]
	w.await, w.carry = w.await[:0], nil
	return rest
}

// restart has the script (re)start tail at off on the inode it holds.
func (w *follower) restart(rs *session, rf *sftp.File, off int64) error {
	if err := w.setDelivered(rf, off); err != nil {
		return err
	}
	w.lastData, w.waitSince = time.Now(), time.Time{}
	_, err := w.command(context.Background(), rs, "tail", off)
	return err
}

// waitFile waits, saying so, until the path exists. It refuses at once a
// path that is not a regular file or resolves outside the host's files
// (the script and allowed check again when it is opened).
func (w *follower) waitFile(ctx context.Context, c *conn) error {
	sc := c.sftp
	for waiting := false; ; {
		fi, err := sc.Stat(w.path)
		if err == nil {
			if !fi.Mode().IsRegular() {
				return &errFollow{fmt.Errorf("%s on %s is not a regular file", w.path, w.src.name)}
			}
			if real, err := sc.RealPath(w.path); err == nil && !w.matchesReal(c, real) {
				return w.outside(real)
			}
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if !waiting {
			waiting = true
			w.setState(tailer.StateWaiting, w.path+" does not exist; waiting for it")
		}
		if err := sleep(ctx, w.src.opts.Poll); err != nil {
			return err
		}
	}
}

// startAt decides where on inode ino (size bytes, read through rf) to start,
// putting a marker in the stream when lines may have been missed. When the
// file was replaced or truncated while disconnected, the rest of the old
// content is delivered from the sibling that holds it (the renamed file, or
// a copytruncate's copy), if there is one.
func (w *follower) startAt(sc *sftp.Client, rf *sftp.File, size int64, ino uint64) (int64, error) {
	mode, lost := w.mode, w.lost
	w.mode, w.lost = startResume, nil
	switch mode {
	case startLastN:
		w.ino = ino
		// Lines beyond MaxLineBytes are cut anyway: do not read back more
		// than n of them could fill.
		return tailer.LastLines(rf, size, w.n, int64(w.n+1)*int64(w.src.opts.MaxLineBytes+1)+64<<10)
	case startFresh:
		w.ino = ino
		if w.gone {
			w.gone = false
			w.mark(tailer.MarkRotated, "file re-created: following it from its start")
		}
		return 0, nil
	}
	if ino != w.ino {
		text := "file replaced while disconnected: following the new file from its start"
		if name, err := w.fromCopy(sc, nil, w.head0); err == nil {
			text = "file replaced while disconnected: the rest of the old file was read from " + name + "; following the new file from its start"
		} else {
			w.markSkipped(err)
		}
		w.ino = ino
		w.mark(tailer.MarkRotated, text)
		return 0, nil
	}
	ok := size >= w.delivered
	if ok && len(w.known) > 0 {
		var err error
		if ok, err = holds(rf, w.delivered-int64(len(w.known)), w.known); err != nil {
			return 0, err
		}
	}
	if !ok {
		text := "file truncated while disconnected: following it from its start"
		if name, err := w.fromCopy(sc, nil, w.head0); err == nil {
			text = "file truncated while disconnected: the rest of its old content was read from the rotated copy " + name + "; following it from its start"
		} else {
			w.markSkipped(err)
		}
		w.mark(tailer.MarkTruncated, text)
		return 0, nil
	}
	if lost != nil {
		w.mark(tailer.MarkResumed, "reconnected: resuming without loss")
	}
	return w.delivered, nil
}

// setDelivered starts at off, reading the bytes before it for verification.
func (w *follower) setDelivered(rf *sftp.File, off int64) error {
	w.batch, w.partialAt = w.batch[:0], 0
	w.raw, w.rawGap, w.head0 = w.raw[:0], false, w.head0[:0]
	w.delivered, w.seen = off, off
	k := min(off, knownLen)
	w.known = w.known[:0]
	if k > 0 {
		buf := make([]byte, k)
		if n, err := rf.ReadAt(buf, off-k); n < len(buf) {
			return fmt.Errorf("read back %s: %w", w.path, orUnexpectedEOF(err))
		}
		w.known = append(w.known, buf...)
	}
	w.sp.reset(off, w.known)
	return nil
}

func orUnexpectedEOF(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// holds reports whether r holds want at off.
func holds(r io.ReaderAt, off int64, want []byte) (bool, error) {
	if off < 0 {
		return false, nil
	}
	got := make([]byte, len(want))
	n, err := r.ReadAt(got, off)
	if n < len(got) {
		if err != nil && err != io.EOF {
			return false, err
		}
		return false, nil
	}
	return bytes.Equal(got, want), nil
}

// consume delivers the tail's bytes in verified batches, and checks the path
// every Poll. A truncation restarts the tail on the same inode. When the path
// names another file or none, it returns the answer to the "open" it sent.
func (w *follower) consume(ctx context.Context, rs *session, sc *sftp.Client, rf *sftp.File, proc string) (string, error) {
	tick := time.NewTicker(w.src.opts.Poll)
	defer tick.Stop()
	var pending *event
	for {
		var ev event
		if pending != nil {
			ev, pending = *pending, nil
		} else {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-tick.C:
				if answer, err := w.check(ctx, rs, sc, rf, proc); answer != "" || err != nil {
					return answer, err
				}
				continue
			case <-rs.hint:
				if answer, err := w.check(ctx, rs, sc, rf, proc); answer != "" || err != nil {
					return answer, err
				}
				continue
			case ev = <-rs.events:
			}
		}
		if ev.buf == nil {
			return "", fmt.Errorf("the remote script ended: %v%s", ev.err, rs.stderrNote())
		}
		w.feed(rs, ev.buf)
		// Take whatever else has arrived into the same batch.
	more:
		for len(w.batch) < 4096 && len(w.raw) < rawMax {
			select {
			case ev := <-rs.events:
				if ev.buf == nil {
					pending = &ev
					break more
				}
				w.feed(rs, ev.buf)
			default:
				break more
			}
		}
		if len(w.batch) == 0 {
			continue
		}
		ok, err := w.verify(rf)
		if err != nil {
			w.batch = w.batch[:0] // unverified: read again after a reconnect
			return "", err
		}
		if !ok {
			// Rewritten behind tail's back: what tail sent is not what the
			// file holds at those offsets.
			if err := w.truncated(rs, sc, rf); err != nil {
				return "", err
			}
			continue
		}
		w.commit()
	}
}

// truncated handles a file that no longer holds what tail sent, or is
// shorter than what was delivered, and follows the same inode again from its
// start.
//
// When the file still holds the bytes just before the delivered offset, it
// was rewritten (or cut) after it: what tail sent that it still holds is
// delivered and tail goes on from there. Otherwise it was truncated: what
// tail sent before it noticed is the old content (see oldPart), read before
// the truncation, and is delivered; the rest of the old content comes from
// the copy a copytruncate rotation made, when one is found; a skipped marker
// says how many bytes were seen in the file and never read.
func (w *follower) truncated(rs *session, sc *sftp.Client, rf *sftp.File) error {
	raw := append([]byte(nil), w.raw...)
	if w.rawGap {
		raw = nil
	}
	w.raw, w.rawGap, w.batch = w.raw[:0], false, w.batch[:0]
	w.sp.reset(w.delivered, w.known)
	fi, err := rf.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if w.delivered > 0 && size >= w.delivered {
		ok, err := holds(rf, w.delivered-int64(len(w.known)), w.known)
		if err != nil {
			return err
		}
		if ok {
			now := make([]byte, min(int64(len(raw)), size-w.delivered))
			n, err := rf.ReadAt(now, w.delivered)
			if n < len(now) && err != nil && err != io.EOF {
				return err
			}
			same := 0
			for same < n && raw[same] == now[same] {
				same++
			}
			w.push(raw[:same])
			w.mark(tailer.MarkTruncated, fmt.Sprintf("file rewritten after offset %d: following it from there", w.delivered))
			return w.restart(rs, rf, w.delivered)
		}
	}
	q, err := oldPart(raw, w.delivered, rf, size)
	if err != nil {
		return err
	}
	old := raw[:q]
	w.seen = max(w.seen, w.delivered+int64(len(old)))
	lead := old // the first bytes of the old content, when nothing was delivered
	if len(lead) == 0 {
		lead = w.head0
	}
	name, err := w.fromCopy(sc, old, lead)
	if err == nil {
		if w.seen > w.delivered {
			w.mark(tailer.MarkSkipped, fmt.Sprintf("%d bytes written after the rotated copy %s was made and before the file was truncated were never read; they are on no disk", w.seen-w.delivered, name))
		}
		w.mark(tailer.MarkTruncated, "file truncated: the rest of its old content was read from the rotated copy "+name+"; following it from its start")
	} else {
		w.push(old) // a line begun before the truncation is counted as skipped
		w.markSkipped(err)
		w.mark(tailer.MarkTruncated, "file truncated: following it from its start")
	}
	return w.restart(rs, rf, 0)
}

// fromCopy delivers the old content after the delivered offset from the
// sibling that holds it (see findCopy), then the bytes of more (what tail
// sent of the old content from the delivered offset on) that go past the
// copy's end, if they continue it; else a last line without newline in the
// copy (which nobody will finish). It returns the copy's name.
//
// The copy is found by the bytes just before the delivered offset or, when
// nothing was delivered, by the old content's first bytes, lead (what tail
// sent of it, or what was read of it).
func (w *follower) fromCopy(sc *sftp.Client, more, lead []byte) (string, error) {
	start, off, known := w.delivered, w.delivered, w.known
	if start == 0 {
		lead = lead[:min(len(lead), knownLen)]
		off, known = int64(len(lead)), lead
	} else {
		lead = nil
	}
	c, err := w.findCopy(sc, off, known)
	if err != nil {
		return "", err
	}
	defer c.Close()
	name := path.Base(c.Path)
	w.sp.reset(w.delivered, w.known)
	w.batch = w.batch[:0]
	w.push(lead)
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		w.push(buf[:n])
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			w.mark(tailer.MarkSkipped, fmt.Sprintf("reading the rotated copy %s failed after %d bytes: %v", name, off, err))
			break
		}
	}
	recent := w.sp.recent
	if k := off - start; k <= int64(len(more)) {
		n := min(int64(len(recent)), k)
		if bytes.Equal(recent[int64(len(recent))-n:], more[k-n:k]) {
			w.push(more[k:])
			return name, nil
		}
	}
	w.sp.flush(w.add)
	w.bend, w.bknown = w.sp.knownEnd, append(w.bknown[:0], w.sp.known...)
	if len(w.batch) > 0 {
		w.commit()
	}
	return name, nil
}

// push feeds b, the bytes that follow those fed so far, to the splitter and
// delivers the whole lines in it; a last line without newline stays in the
// splitter.
func (w *follower) push(b []byte) {
	for len(b) > 0 {
		n := min(len(b), 64<<10)
		w.sp.feed(b[:n], w.add)
		w.bend, w.bknown = w.sp.knownEnd, append(w.bknown[:0], w.sp.known...)
		if len(w.batch) >= 1024 {
			w.commit()
		}
		b = b[n:]
	}
	if len(w.batch) > 0 {
		w.commit()
	}
}

// markSkipped says how many bytes the inode was seen to hold past the
// delivered offset that cannot be delivered, with the reason err.
func (w *follower) markSkipped(err error) {
	if w.seen <= w.delivered {
		return
	}
	why := "no rotated copy of them was found"
	if !errors.Is(err, rotation.ErrNotFound) {
		why = err.Error()
	}
	w.mark(tailer.MarkSkipped, fmt.Sprintf("%d bytes were truncated before they were read (%s)", w.seen-w.delivered, why))
}

// feed hands a chunk of the tail's bytes to the splitter.
func (w *follower) feed(rs *session, buf []byte) {
	if data := w.skip(buf); len(data) > 0 {
		w.lastData, w.stalls = time.Now(), 0
		w.sp.feed(data, w.add)
		if !w.rawGap {
			w.raw = append(w.raw, data...)
			if len(w.raw) > 2*rawMax { // one line longer than that: give up
				w.raw, w.rawGap = w.raw[:0], true
			}
		}
		w.bend = w.sp.knownEnd
		w.bknown = append(w.bknown[:0], w.sp.known...)
	}
	rs.free <- buf[:cap(buf)]
}

func (w *follower) add(text string, end int64) {
	w.batch = append(w.batch, tailer.Line{File: w.ino, Offset: end, Text: text})
}

// verify checks that the inode still holds what was delivered before the
// batch and, at its end, the batch's last bytes.
func (w *follower) verify(rf *sftp.File) (bool, error) {
	from := w.delivered - int64(len(w.known))
	if span := w.bend - from; span <= 64<<10 {
		buf := make([]byte, span)
		n, err := rf.ReadAt(buf, from)
		if n < len(buf) {
			if err != nil && err != io.EOF {
				return false, err
			}
			return false, nil
		}
		return bytes.HasPrefix(buf, w.known) && bytes.HasSuffix(buf, w.bknown), nil
	}
	if ok, err := holds(rf, from, w.known); !ok || err != nil {
		return false, err
	}
	return holds(rf, w.bend-int64(len(w.bknown)), w.bknown)
}

// commit hands the batch to the sink.
func (w *follower) commit() {
	now := time.Now().UnixMilli()
	for i := range w.batch {
		w.batch[i].Time = now
	}
	w.sink.Lines(w.batch)
	w.batch = w.batch[:0]
	if k := w.bend - w.delivered; k <= int64(len(w.raw)) && !w.rawGap {
		w.raw = w.raw[:copy(w.raw, w.raw[k:])]
		if cap(w.raw) > 4*rawMax/8 && len(w.raw) < rawMax/16 {
			w.raw = append([]byte(nil), w.raw...) // give back a large buffer
		}
	} else {
		w.raw = w.raw[:0]
		w.rawGap = w.sp.off != w.bend // raw starts at delivered again only between lines
	}
	w.delivered = w.bend
	w.known = append(w.known[:0], w.bknown...)
}

// check looks at the inode and the path. No longer holding what was
// delivered (truncated, maybe refilled since): see truncated. The path names
// another file or none: the script opens the path again at once (so that the
// new file is held before it can be rotated away too), the rest of the old
// inode is read, and the answer to "open" is returned. The tail stopped
// sending what the file holds: it restarts where it was.
func (w *follower) check(ctx context.Context, rs *session, sc *sftp.Client, rf *sftp.File, proc string) (string, error) {
	var wg sync.WaitGroup
	var size int64
	var link, real string
	var errSize, errLink, errReal, errKnown error
	held := true
	wg.Add(3)
	go func() {
		defer wg.Done()
		fi, err := rf.Stat()
		if err == nil {
			size = fi.Size()
		}
		errSize = err
	}()
	go func() { defer wg.Done(); link, errLink = sc.ReadLink(proc) }()
	go func() { defer wg.Done(); real, errReal = sc.RealPath(w.path) }()
	if known := w.known; len(known) > 0 {
		// A truncation that the file has already outgrown again shows
		// only here while tail is silent (BusyBox's sleeps a second).
		from := w.delivered - int64(len(known))
		wg.Add(1)
		go func() { defer wg.Done(); held, errKnown = holds(rf, from, known) }()
	}
	wg.Wait()
	if errSize == nil && held {
		w.seen = max(w.seen, size)
		if w.delivered == 0 && int64(len(w.head0)) < min(size, knownLen) {
			// Nothing delivered yet: keep the first bytes, which find
			// the copy if the file is truncated before tail sends any.
			if cap(w.head0) < knownLen {
				w.head0 = make([]byte, knownLen)
			}
			w.head0 = w.head0[:knownLen]
			n, _ := rf.ReadAt(w.head0, 0)
			w.head0 = w.head0[:n]
		}
	}
	switch {
	case errSize != nil:
		return "", errSize
	case errKnown != nil:
		return "", errKnown
	case size < w.delivered || !held:
		return "", w.truncated(rs, sc, rf)
	case errLink != nil:
		return "", fmt.Errorf("readlink %s: %w", proc, errLink)
	case errReal != nil && !errors.Is(errReal, os.ErrNotExist):
		return "", errReal
	case errReal == nil && (real == link || [2]string{real, link} == w.sameAs):
		return "", w.stalled(rs, rf, size)
	}
	answer, err := w.command(ctx, rs, "open", 0)
	if err != nil {
		return "", err
	}
	if _, ino, ok := parseOpen(answer); ok && ino == w.ino && errReal == nil {
		// Still the same file under another name (a bind mount, say).
		w.sameAs = [2]string{real, link}
		return "", w.restart(rs, rf, w.delivered)
	}
	// Rotated or removed: read what is left of the old inode, then move on.
	if err := w.drain(ctx, rf); err != nil {
		return "", err
	}
	if answer == "logviewer:missing" {
		w.gone = true
		w.mark(tailer.MarkRemoved, "file removed: waiting for it to come back")
	} else {
		w.mark(tailer.MarkRotated, "file rotated: following the new file from its start")
	}
	w.mode = startFresh
	return answer, nil
}

// stalled restarts a tail that has sent nothing for a while although a
// complete line waits in the file (it may have died: the script does not
// watch it).
func (w *follower) stalled(rs *session, rf *sftp.File, size int64) error {
	if size <= w.delivered || size == w.partialAt {
		w.waitSince = time.Time{}
		return nil
	}
	if w.waitSince.IsZero() || w.lastData.After(w.waitSince) {
		w.waitSince = time.Now() // bytes wait; see whether they come
		return nil
	}
	if time.Since(w.waitSince) < 2*max(w.src.opts.Poll, w.src.opts.TailInterval) {
		return nil
	}
	buf := make([]byte, min(size-w.delivered, 64<<10))
	n, err := rf.ReadAt(buf, w.delivered)
	if n < len(buf) && err != nil && err != io.EOF {
		return err
	}
	if bytes.IndexByte(buf[:n], '\n') < 0 && size-w.delivered <= 64<<10 {
		w.partialAt = size // only a partial line waits
		return nil
	}
	w.stalls++
	if w.stalls > 3 {
		return fmt.Errorf("the remote tail sends nothing although lines wait%s", rs.stderrNote())
	}
	w.src.log.Warn("remote tail sent nothing although lines wait; restarting it", "path", w.path, "delivered", w.delivered, "size", size)
	return w.restart(rs, rf, w.delivered)
}

// drain reads the rest of the inode from the delivered offset: until it has
// not grown for a poll interval (its writer may append until it reopens the
// path), for at most rotateLinger; then a last line without newline too
// (nobody will finish it: the file was rotated).
func (w *follower) drain(ctx context.Context, rf *sftp.File) error {
	w.sp.reset(w.delivered, w.known)
	w.batch = w.batch[:0]
	w.raw, w.rawGap = w.raw[:0], false
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(rotateLinger)
	for off := w.delivered; ; {
		n, err := rf.ReadAt(buf, off)
		w.push(buf[:n])
		off += int64(n)
		if err != nil && err != io.EOF {
			w.batch = w.batch[:0]
			return fmt.Errorf("read %s: %w", w.path, err)
		}
		if n == len(buf) {
			continue
		}
		// At its end. Its writer may append until it reopens the path:
		// read on while it grows.
		if time.Now().Before(deadline) {
			if err := sleep(ctx, w.src.opts.Poll); err != nil {
				return err
			}
			if fi, err := rf.Stat(); err == nil && fi.Size() > off {
				continue
			}
		}
		w.sp.flush(w.add)
		w.bend, w.bknown = w.sp.knownEnd, append(w.bknown[:0], w.sp.known...)
		if len(w.batch) > 0 {
			w.commit()
		}
		return nil
	}
}

// rotateLinger bounds how long a rotated-away file is read on while it
// still grows.
const rotateLinger = 5 * time.Second

func (w *follower) mark(kind, text string) {
	w.sink.Lines([]tailer.Line{{Time: time.Now().UnixMilli(), File: w.ino, Offset: -1, Text: text, Mark: kind}})
}

// readStdout passes the script's stdout on in chunks.
func (rs *session) readStdout(r io.Reader) {
	send := func(ev event) bool {
		select {
		case rs.events <- ev:
			return true
		case <-rs.done:
			return false
		}
	}
	for {
		var buf []byte
		select {
		case buf = <-rs.free:
		case <-rs.done:
			return
		}
		n, err := r.Read(buf)
		if n > 0 {
			if !send(event{buf: buf[:n]}) {
				return
			}
		} else {
			rs.free <- buf
		}
		if err != nil {
			send(event{err: err})
			return
		}
	}
}

// readStderr keeps the last line of the remote stderr for error messages,
// and asks for an immediate check when something is said there (GNU tail
// says "file truncated").
func (rs *session) readStderr(r io.Reader, w *follower) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			text := strings.TrimSpace(string(buf[:n]))
			if i := strings.LastIndexByte(text, '\n'); i >= 0 {
				text = text[i+1:]
			}
			w.src.log.Debug("remote stderr", "path", w.path, "text", text)
			rs.mu.Lock()
			rs.lastErr = text
			rs.mu.Unlock()
			select {
			case rs.hint <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

func (rs *session) stderrNote() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.lastErr == "" {
		return ""
	}
	return " (" + rs.lastErr + ")"
}
