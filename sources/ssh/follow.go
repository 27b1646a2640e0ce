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

	"github.com/logviewer/logviewer/sources/internal/follow"
	"github.com/logviewer/logviewer/tailer"
)

// Follow implements tailer.Source. It keeps following through rotations,
// truncations and lost connections until ctx ends; it returns another error
// only when the path cannot be followed at all (not one of the host's files,
// not a regular file, not readable) or the Source was closed.
func (s *Source) Follow(ctx context.Context, path string, n int, sink tailer.Sink) error {
	w := &follower{src: s, path: path, n: n}
	w.core.Init(sink, s.opts.MaxLineBytes)
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
// What was delivered, the checks against truncation, the markers and the
// rotated copies are the shared core's (sources/internal/follow); the
// follower runs the remote tail, feeds its bytes to the core, has them
// verified over SFTP before they are committed, and notices when the path
// names another file.
type follower struct {
	src  *Source
	path string
	n    int
	core follow.Core // core.Ino: the inode followed

	mode         startMode
	outsideTries int   // opens in a row that resolved outside the globs
	lost         error // why the connection was lost, until following again
	fails        int   // failures in a row that were not a lost connection
	state        tailer.State
	checked      bool      // the path was checked against the globs
	gone         bool      // the path was removed; say so when it is back
	sameAs       [2]string // a realpath and readlink pair known to name one file

	proofs  []*proof       // batches being verified, oldest first (see consume)
	proving sync.WaitGroup // their goroutines

	raw    tailBytes // tail's bytes from the delivered offset on, as sent (about rawLimit at most)
	rawGap bool      // raw gave up on an over-long line and starts after the delivered offset
	head0  []byte    // the inode's first bytes, read while nothing of it was delivered

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
		if err := follow.Sleep(ctx, wait); err != nil {
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
		if err := follow.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (s *Source) connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) > 0
}

func (w *follower) setState(code, msg string) {
	st := tailer.State{Code: code, Msg: msg}
	if st != w.state {
		w.state = st
		w.core.Sink.State(st)
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
	start, err := w.startAt(ctx, sc, rf, fi.Size(), ino)
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
			w.setState(tailer.StateWaiting, w.path+" does not exist yet")
		}
		if err := follow.Sleep(ctx, w.src.opts.Poll); err != nil {
			return err
		}
	}
}

// startAt decides where on inode ino (size bytes, read through rf) to start,
// putting a marker in the stream when lines may have been missed. When the
// file was replaced or truncated while disconnected, the rest of the old
// content is delivered from the sibling that holds it (the renamed file, or
// a copytruncate's copy), if there is one.
func (w *follower) startAt(ctx context.Context, sc *sftp.Client, rf *sftp.File, size int64, ino uint64) (int64, error) {
	mode, lost := w.mode, w.lost
	w.mode, w.lost = startResume, nil
	switch mode {
	case startLastN:
		w.core.Ino = ino
		// Lines beyond MaxLineBytes are cut anyway: do not read back more
		// than n of them could fill.
		return tailer.LastLines(rf, size, w.n, int64(w.n+1)*int64(w.src.opts.MaxLineBytes+1)+64<<10)
	case startFresh:
		w.core.Ino = ino
		if w.gone {
			w.gone = false
			w.core.Mark(tailer.MarkRotated, "file re-created: following it from its start")
		}
		return 0, nil
	}
	if ino != w.core.Ino {
		text := "file replaced while disconnected: following the new file from its start"
		if name, err := w.fromCopy(ctx, sc, nil, w.head0); err == nil {
			text = "file replaced while disconnected: the rest of the old file was read from " + name + "; following the new file from its start"
		} else {
			w.core.MarkSkipped(err)
		}
		w.core.Ino = ino
		w.core.Mark(tailer.MarkRotated, text)
		return 0, nil
	}
	ok := size >= w.core.Delivered()
	if ok {
		var err error
		if ok, err = w.core.Holds(rf); err != nil {
			return 0, err
		}
	}
	if !ok {
		text := "file truncated while disconnected: following it from its start"
		if name, err := w.fromCopy(ctx, sc, nil, w.head0); err == nil {
			text = "file truncated while disconnected: the rest of its old content was read from the rotated copy " + name + "; following it from its start"
		} else {
			w.core.MarkSkipped(err)
		}
		w.core.Mark(tailer.MarkTruncated, text)
		return 0, nil
	}
	if lost != nil {
		w.core.Mark(tailer.MarkResumed, "reconnected: resuming without loss")
	}
	return w.core.Delivered(), nil
}

// setDelivered starts at off, reading the bytes before it for verification.
func (w *follower) setDelivered(rf *sftp.File, off int64) error {
	w.partialAt = 0
	w.raw.reset()
	w.rawGap, w.head0 = false, w.head0[:0]
	if err := w.core.Reset(rf, off); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	return nil
}

// consume delivers the tail's bytes in verified batches, and checks the path
// every Poll. A truncation restarts the tail on the same inode. When the path
// names another file or none, it returns the answer to the "open" it sent.
//
// Verifying a batch reads the file back over SFTP: a round trip. Batches
// are verified in the background, up to maxProofs at once, while the tail's
// next bytes are read, and committed in order as their checks come back; so
// throughput does not fall with the round-trip time until maxProofs batches
// are in flight. The periodic check of the file and the path runs beside
// them; before anything that moves the delivered offset otherwise (a
// truncation, a rotation, a restart), every batch in flight is settled
// first (see settleAll).
func (w *follower) consume(ctx context.Context, rs *session, sc *sftp.Client, rf *sftp.File, proc string) (string, error) {
	tick := time.NewTicker(w.src.opts.Poll)
	defer tick.Stop()
	defer w.dropProofs()
	var pending *event
	for {
		var ev event
		if pending != nil {
			ev, pending = *pending, nil
		} else {
			var head <-chan struct{}
			if len(w.proofs) > 0 {
				head = w.proofs[0].done
			}
			events := rs.events
			if len(w.proofs) >= maxProofs || (len(w.proofs) > 0 && w.raw.len() >= rawLimit) {
				events = nil // wait for a check: the remote tail waits meanwhile
			}
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
			case <-head:
				if _, err := w.settle(ctx, rs, sc, rf, false); err != nil {
					return "", err
				}
				w.maybeProve(rf)
				continue
			case ev = <-events:
			}
		}
		if ev.buf == nil {
			// Batches in flight are dropped: after a reconnect they are
			// read again from the delivered offset.
			return "", fmt.Errorf("the remote script ended: %v%s", ev.err, rs.stderrNote())
		}
		w.feed(rs, ev.buf)
		// Take whatever else has arrived into the same batch.
	more:
		for w.core.Pending() < 4096 && w.raw.len() < rawLimit {
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
		w.maybeProve(rf)
	}
}

// Bounds on what is in flight: at most maxProofs batches are being
// verified, holding at most about rawLimit bytes of the tail's (raw). At a
// round-trip time R, throughput is at most rawLimit/R (50 ms: 80 MB/s), and
// the SSH channel's window (2 MiB in x/crypto/ssh) bounds it too. Batches
// are what arrived together (often one 32 KiB read of the tail's output):
// making them larger while others are in flight was measured slower, both
// on loopback and at 50 ms.
const (
	maxProofs = 256
	rawLimit  = 4 << 20
)

// proof is the verification of one batch, running in the background.
type proof struct {
	b    *follow.Batch
	done chan struct{} // closed when ok and err are set
	ok   bool
	err  error
}

// maybeProve cuts the pending lines, if any, into a batch to verify.
func (w *follower) maybeProve(rf *sftp.File) {
	if w.core.Pending() > 0 {
		w.prove(rf)
	}
}

// prove cuts the pending lines into a batch and verifies it in the
// background (see consume).
func (w *follower) prove(rf *sftp.File) {
	p := &proof{b: w.core.Cut(), done: make(chan struct{})}
	w.proofs = append(w.proofs, p)
	w.proving.Add(1)
	go func() {
		defer w.proving.Done()
		defer close(p.done)
		p.ok, p.err = follow.VerifyBatch(rf, p.b)
	}()
}

// settle commits the batches at the head of those in flight whose checks
// have come back (all of them, waiting, if wait is set). A batch the file no
// longer holds means it was rewritten behind tail's back: every batch in
// flight is dropped and the truncation handled (see truncated); an error of
// the check drops them and is returned (they are read again after a
// reconnect).
//
// handled says that a batch failed and the truncation was handled: the
// delivered offset and the tail were reset.
func (w *follower) settle(ctx context.Context, rs *session, sc *sftp.Client, rf *sftp.File, wait bool) (handled bool, err error) {
	for len(w.proofs) > 0 {
		p := w.proofs[0]
		if wait {
			<-p.done
		} else {
			select {
			case <-p.done:
			default:
				return false, nil
			}
		}
		if p.err != nil || !p.ok {
			w.dropProofs()
			if p.err != nil {
				return false, p.err
			}
			return true, w.truncated(ctx, rs, sc, rf)
		}
		w.proofs = w.proofs[1:]
		w.commit(p.b)
	}
	return false, nil
}

// settleAll settles every batch in flight, waiting for their checks: before
// anything that moves the delivered offset otherwise.
func (w *follower) settleAll(ctx context.Context, rs *session, sc *sftp.Client, rf *sftp.File) (handled bool, err error) {
	return w.settle(ctx, rs, sc, rf, true)
}

// dropProofs waits for the checks in flight to end and forgets their
// batches: what was fed is fed again from the delivered offset.
func (w *follower) dropProofs() {
	w.proving.Wait()
	if len(w.proofs) > 0 {
		w.proofs = w.proofs[:0]
		w.core.Restart()
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
func (w *follower) truncated(ctx context.Context, rs *session, sc *sftp.Client, rf *sftp.File) error {
	raw := append([]byte(nil), w.raw.bytes()...)
	if w.rawGap {
		raw = nil
	}
	w.raw.reset()
	w.rawGap = false
	w.core.Restart()
	delivered := w.core.Delivered()
	fi, err := rf.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if delivered > 0 && size >= delivered {
		ok, err := w.core.Holds(rf)
		if err != nil {
			return err
		}
		if ok {
			now := make([]byte, min(int64(len(raw)), size-delivered))
			n, err := rf.ReadAt(now, delivered)
			if n < len(now) && err != nil && err != io.EOF {
				return err
			}
			same := 0
			for same < n && raw[same] == now[same] {
				same++
			}
			w.core.Push(raw[:same])
			w.core.Mark(tailer.MarkTruncated, fmt.Sprintf("file rewritten after offset %d: following it from there", delivered))
			return w.restart(rs, rf, w.core.Delivered())
		}
	}
	q, err := oldPart(raw, delivered, rf, size)
	if err != nil {
		return err
	}
	old := raw[:q]
	w.core.Seen = max(w.core.Seen, delivered+int64(len(old)))
	lead := old // the first bytes of the old content, when nothing was delivered
	if len(lead) == 0 {
		lead = w.head0
	}
	name, err := w.fromCopy(ctx, sc, old, lead)
	if err == nil {
		if w.core.Seen > w.core.Delivered() {
			w.core.Mark(tailer.MarkSkipped, fmt.Sprintf("%d bytes written after the rotated copy %s was made and before the file was truncated were never read; they are on no disk", w.core.Seen-w.core.Delivered(), name))
		}
		w.core.Mark(tailer.MarkTruncated, "file truncated: the rest of its old content was read from the rotated copy "+name+"; following it from its start")
	} else {
		w.core.Push(old) // a line begun before the truncation is counted as skipped
		w.core.MarkSkipped(err)
		w.core.Mark(tailer.MarkTruncated, "file truncated: following it from its start")
	}
	return w.restart(rs, rf, 0)
}

// fromCopy delivers the old content after the delivered offset from the
// copy a rotation made of the file the path resolves to (see
// follow.Core.FromCopy, which says what more and lead are), and returns the
// copy's name.
func (w *follower) fromCopy(ctx context.Context, sc *sftp.Client, more, lead []byte) (string, error) {
	p := w.path
	if real, err := sc.RealPath(w.path); err == nil {
		p = real
	}
	name, err := w.core.FromCopy(ctx, sftpFS{sc}, path.Dir(p), path.Base(p), lead, more)
	if err != nil {
		return "", fmt.Errorf("find the rotated copy of %s: %w", w.path, err)
	}
	return name, nil
}

// feed hands a chunk of the tail's bytes to the core, as pending lines.
func (w *follower) feed(rs *session, buf []byte) {
	if data := w.skip(buf); len(data) > 0 {
		w.lastData, w.stalls = time.Now(), 0
		w.core.Feed(data, len(data)+1)
		if !w.rawGap {
			w.raw.add(data)
			if w.core.Split.Off()-w.core.Split.End() > 2*rawMax { // one line longer than that: give up
				w.raw.reset()
				w.rawGap = true
			}
		}
	}
	rs.free <- buf[:cap(buf)]
}

// commit hands b (verified) to the sink, and keeps in raw only what tail
// sent past it.
func (w *follower) commit(b *follow.Batch) {
	from := w.core.Delivered()
	w.core.CommitBatch(b)
	if k := w.core.Delivered() - from; k <= int64(w.raw.len()) && !w.rawGap {
		w.raw.drop(int(k))
	} else {
		w.raw.reset()
		w.rawGap = w.core.Split.Off() != w.core.Delivered() // raw starts at delivered again only between lines
	}
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
	if len(w.core.Known()) > 0 {
		// A truncation that the file has already outgrown again shows
		// only here while tail is silent (BusyBox's sleeps a second).
		wg.Add(1)
		go func() { defer wg.Done(); held, errKnown = w.core.Holds(rf) }()
	}
	wg.Wait()
	delivered := w.core.Delivered()
	if errSize == nil && held {
		w.core.Seen = max(w.core.Seen, size)
		if delivered == 0 && int64(len(w.head0)) < min(size, follow.KnownLen) {
			// Nothing delivered yet: keep the first bytes, which find
			// the copy if the file is truncated before tail sends any.
			if cap(w.head0) < follow.KnownLen {
				w.head0 = make([]byte, follow.KnownLen)
			}
			w.head0 = w.head0[:follow.KnownLen]
			n, _ := rf.ReadAt(w.head0, 0)
			w.head0 = w.head0[:n]
		}
	}
	switch {
	case errSize != nil:
		return "", errSize
	case errKnown != nil:
		return "", errKnown
	case size < delivered || !held:
		if handled, err := w.settleAll(ctx, rs, sc, rf); handled || err != nil {
			return "", err
		}
		return "", w.truncated(ctx, rs, sc, rf)
	case errLink != nil:
		return "", fmt.Errorf("readlink %s: %w", proc, errLink)
	case errReal != nil && !errors.Is(errReal, os.ErrNotExist):
		return "", errReal
	case errReal == nil && (real == link || [2]string{real, link} == w.sameAs):
		return "", w.stalled(ctx, rs, sc, rf, size)
	}
	if handled, err := w.settleAll(ctx, rs, sc, rf); handled || err != nil {
		return "", err
	}
	delivered = w.core.Delivered()
	answer, err := w.command(ctx, rs, "open", 0)
	if err != nil {
		return "", err
	}
	if _, ino, ok := parseOpen(answer); ok && ino == w.core.Ino && errReal == nil {
		// Still the same file under another name (a bind mount, say).
		w.sameAs = [2]string{real, link}
		return "", w.restart(rs, rf, delivered)
	}
	// Rotated or removed: read what is left of the old inode, then move on.
	if err := w.drain(ctx, sc, rf); err != nil {
		return "", err
	}
	if answer == "logviewer:missing" {
		w.gone = true
		w.core.Mark(tailer.MarkRemoved, "file removed: waiting for it to come back")
	} else {
		w.core.Mark(tailer.MarkRotated, "file rotated: following the new file from its start")
	}
	w.mode = startFresh
	return answer, nil
}

// stalled restarts a tail that has sent nothing for a while although a
// complete line waits in the file (it may have died: the script does not
// watch it).
func (w *follower) stalled(ctx context.Context, rs *session, sc *sftp.Client, rf *sftp.File, size int64) error {
	delivered := w.core.Delivered()
	if size <= delivered || size == w.partialAt {
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
	buf := make([]byte, min(size-delivered, 64<<10))
	n, err := rf.ReadAt(buf, delivered)
	if n < len(buf) && err != nil && err != io.EOF {
		return err
	}
	if bytes.IndexByte(buf[:n], '\n') < 0 && size-delivered <= 64<<10 {
		w.partialAt = size // only a partial line waits
		return nil
	}
	w.stalls++
	if w.stalls > 3 {
		return fmt.Errorf("the remote tail sends nothing although lines wait%s", rs.stderrNote())
	}
	if handled, err := w.settleAll(ctx, rs, sc, rf); handled || err != nil {
		return err
	}
	w.src.log.Warn("remote tail sent nothing although lines wait; restarting it", "path", w.path, "delivered", w.core.Delivered(), "size", size)
	return w.restart(rs, rf, w.core.Delivered())
}

// drain reads the rest of the inode from the delivered offset over SFTP (see
// follow.Core.Drain): the tail's bytes not yet verified are read again.
func (w *follower) drain(ctx context.Context, sc *sftp.Client, rf *sftp.File) error {
	w.core.Restart()
	w.raw.reset()
	w.rawGap = false
	buf := make([]byte, 64<<10)
	read := func() (int64, error) {
		var read int64
		for {
			n, err := rf.ReadAt(buf, w.core.Split.Off())
			w.core.Push(buf[:n])
			read += int64(n)
			if err != nil && err != io.EOF {
				return read, fmt.Errorf("read %s: %w", w.path, err)
			}
			if n < len(buf) {
				return read, nil
			}
		}
	}
	// The writer has moved on once the path names a file with something in
	// it (see follow.Core.Drain).
	moved := func() bool {
		fi, err := sc.Stat(w.path)
		return err != nil || fi.Size() > 0
	}
	return w.core.Drain(ctx, read, w.src.opts.Poll, nil, moved)
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

// tailBytes holds the tail's bytes from the delivered offset on: added at
// the end as they come, dropped from the start as batches are committed
// (without moving the rest each time).
type tailBytes struct {
	b     []byte
	start int
}

func (t *tailBytes) bytes() []byte { return t.b[t.start:] }
func (t *tailBytes) len() int      { return len(t.b) - t.start }
func (t *tailBytes) add(p []byte)  { t.b = append(t.b, p...) }

func (t *tailBytes) reset() {
	t.b, t.start = t.b[:0], 0
	if cap(t.b) > rawLimit {
		t.b = nil // give back what a long line took
	}
}

// drop forgets the first k bytes.
func (t *tailBytes) drop(k int) {
	t.start += k
	switch {
	case t.start >= len(t.b):
		t.reset()
	case t.start > len(t.b)/2:
		t.b = t.b[:copy(t.b, t.b[t.start:])]
		t.start = 0
	}
}
