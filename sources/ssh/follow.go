package ssh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"

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

	mode      startMode
	ino       uint64
	delivered int64  // offset just past the last line delivered from ino
	known     []byte // the up to knownLen bytes of ino that end at delivered
	lost      error  // why the connection was lost, until the next segment starts
	fails     int    // failures in a row that were not a lost connection
	state     tailer.State
	checked   bool // the path was checked against the globs

	sp     splitter
	batch  []tailer.Line
	bend   int64  // offset just past the batch
	bknown []byte // the bytes that end at bend
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
		err = w.segment(ctx, c)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fe *errFollow
		switch {
		case err == nil:
			w.fails = 0
			continue
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
		// The connection is fine but the remote side failed (tail ended,
		// SFTP refused...): retry this file on its own, backing off.
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

// session is one run of the remote tail script on one inode.
type session struct {
	events chan event
	hint   chan struct{} // tail said something on stderr: check the file now
	free   chan []byte
	done   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	lastErr string // last line tail or sh wrote on stderr
}

type eventKind int

const (
	evOpen eventKind = iota
	evMissing
	evUnreadable
	evNotFile
	evChunk
	evEnd
)

type event struct {
	kind eventKind
	pid  int
	ino  uint64
	buf  []byte
	err  error
}

// segment follows one inode until it is rotated away or truncated (nil), the
// connection or the remote side fails (an error), or ctx ends.
func (w *follower) segment(ctx context.Context, c *conn) (err error) {
	release := c.guard(ctx, w.src.opts.CloseGrace)
	defer release()
	if !w.checked {
		if !w.src.matches(w.path, c.home) {
			return &errFollow{fmt.Errorf("%s on %s: %w", w.path, w.src.name, tailer.ErrNotListed)}
		}
		w.checked = true
	}
	if err := w.waitFile(ctx, c.sftp); err != nil {
		return err
	}
	c, sess, err := w.src.openSession(ctx, c)
	if err != nil {
		return err
	}
	defer w.src.releaseSession(c)
	defer c.guard(ctx, w.src.opts.CloseGrace)() // c may be another connection now
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return err
	}
	stderr, err := sess.StderrPipe()
	if err != nil {
		sess.Close()
		return err
	}
	if err := sess.Start(tailCommand(w.path, w.src.opts.TailInterval)); err != nil {
		sess.Close()
		return fmt.Errorf("start remote tail: %w", err)
	}
	rs := &session{events: make(chan event), hint: make(chan struct{}, 1), free: make(chan []byte, 4), done: make(chan struct{})}
	for range cap(rs.free) {
		rs.free <- make([]byte, 32<<10)
	}
	exited := make(chan error, 1)
	rs.wg.Add(3)
	go func() { defer rs.wg.Done(); rs.readStdout(stdout) }()
	go func() { defer rs.wg.Done(); rs.readStderr(stderr, w) }()
	go func() { defer rs.wg.Done(); exited <- sess.Wait() }()
	defer func() {
		// End the remote script (it kills its process group when stdin
		// ends) and wait until sshd reports that it exited.
		close(rs.done)
		stdin.Close()
		t := time.NewTimer(w.src.opts.CloseGrace)
		select {
		case <-exited:
		case <-t.C:
			c.close(fmt.Errorf("remote tail did not end within %s", w.src.opts.CloseGrace))
			<-exited
		}
		t.Stop()
		sess.Close()
		rs.wg.Wait()
	}()

	// The script's first line: the inode it opened, or why it did not.
	var ev event
	select {
	case <-ctx.Done():
		return ctx.Err()
	case ev = <-rs.events:
	}
	switch ev.kind {
	case evOpen:
	case evMissing:
		return nil // waitFile waits for it on the next round
	case evUnreadable:
		return &errFollow{fmt.Errorf("%s on %s cannot be read (permission denied)", w.path, w.src.name)}
	case evNotFile:
		return &errFollow{fmt.Errorf("%s on %s is not a regular file", w.path, w.src.name)}
	default:
		return fmt.Errorf("remote tail ended before it started: %v%s", ev.err, rs.stderrNote())
	}
	rf, err := c.sftp.Open(fmt.Sprintf("/proc/%d/fd/3", ev.pid))
	if err != nil {
		return fmt.Errorf("open /proc/%d/fd/3 over SFTP: %w", ev.pid, err)
	}
	defer rf.Close()
	fi, err := rf.Stat()
	if err != nil {
		return err
	}
	start, err := w.startAt(rf, fi.Size(), ev.ino)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdin, "%d\n", start+1); err != nil {
		return err
	}
	if err := w.setDelivered(rf, start); err != nil {
		return err
	}
	w.setState(tailer.StateFollowing, "")
	return w.consume(ctx, c, rs, rf, ev.pid)
}

// waitFile waits, saying so, until the path exists.
func (w *follower) waitFile(ctx context.Context, sc *sftp.Client) error {
	for waiting := false; ; {
		fi, err := sc.Stat(w.path)
		if err == nil {
			if !fi.Mode().IsRegular() {
				return &errFollow{fmt.Errorf("%s on %s is not a regular file", w.path, w.src.name)}
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
// putting a marker in the stream when lines may have been missed.
func (w *follower) startAt(rf *sftp.File, size int64, ino uint64) (int64, error) {
	mode, lost := w.mode, w.lost
	w.mode, w.lost = startResume, nil
	switch mode {
	case startLastN:
		w.ino = ino
		return lastLines(rf, size, w.n)
	case startFresh:
		w.ino = ino
		return 0, nil
	}
	if ino != w.ino {
		w.ino = ino
		w.mark(tailer.MarkRotated, "file replaced while disconnected: following the new file from its start")
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
		w.mark(tailer.MarkTruncated, "file truncated while disconnected: following it from its start")
		return 0, nil
	}
	if lost != nil {
		w.mark(tailer.MarkResumed, "reconnected: resuming without loss")
	}
	return w.delivered, nil
}

// setDelivered starts at off, reading the bytes before it for verification.
func (w *follower) setDelivered(rf *sftp.File, off int64) error {
	w.delivered = off
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
// every Poll.
func (w *follower) consume(ctx context.Context, c *conn, rs *session, rf *sftp.File, pid int) error {
	tick := time.NewTicker(w.src.opts.Poll)
	defer tick.Stop()
	proc := fmt.Sprintf("/proc/%d/fd/3", pid)
	var pending *event
	for {
		var ev event
		if pending != nil {
			ev, pending = *pending, nil
		} else {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
				if done, err := w.check(c.sftp, rf, proc); done || err != nil {
					return err
				}
				continue
			case <-rs.hint:
				if done, err := w.check(c.sftp, rf, proc); done || err != nil {
					return err
				}
				continue
			case ev = <-rs.events:
			}
		}
		if ev.kind != evChunk {
			return fmt.Errorf("remote tail ended: %v%s", ev.err, rs.stderrNote())
		}
		w.feed(rs, ev.buf)
		// Take whatever else has arrived into the same batch.
	more:
		for len(w.batch) < 4096 {
			select {
			case ev := <-rs.events:
				if ev.kind != evChunk {
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
			return err
		}
		if !ok {
			// Rewritten behind tail's back: what tail sent is not what the
			// file holds at those offsets.
			w.batch = w.batch[:0]
			w.mark(tailer.MarkTruncated, "file truncated: following it from its start")
			w.mode = startFresh
			return nil
		}
		w.commit()
	}
}

func (w *follower) feed(rs *session, buf []byte) {
	w.sp.feed(buf, w.add)
	w.bend = w.sp.knownEnd
	w.bknown = append(w.bknown[:0], w.sp.known...)
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
	w.delivered = w.bend
	w.known = append(w.known[:0], w.bknown...)
}

// check looks at the path and the inode: truncated below what was delivered,
// or the path now names another file or none. It returns true when the
// segment is over.
func (w *follower) check(sc *sftp.Client, rf *sftp.File, proc string) (bool, error) {
	var wg sync.WaitGroup
	var size int64
	var link, real string
	var errSize, errLink, errReal error
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
	wg.Wait()
	if errSize != nil {
		return true, errSize
	}
	if size < w.delivered {
		w.mark(tailer.MarkTruncated, "file truncated: following it from its start")
		w.mode = startFresh
		return true, nil
	}
	if errLink != nil {
		return true, fmt.Errorf("readlink %s: %w", proc, errLink)
	}
	if errReal == nil && real == link {
		return false, nil
	}
	if errReal != nil && !errors.Is(errReal, os.ErrNotExist) {
		return true, errReal
	}
	// Rotated or removed: read what is left of this inode, then move on.
	if err := w.drain(rf); err != nil {
		return true, err
	}
	if _, err := sc.Stat(w.path); errors.Is(err, os.ErrNotExist) {
		w.mark(tailer.MarkRemoved, "file removed: waiting for it to come back")
	} else {
		w.mark(tailer.MarkRotated, "file rotated: following the new file from its start")
	}
	w.mode = startFresh
	return true, nil
}

// drain reads the rest of the inode from the delivered offset, including a
// last line without newline (nobody will finish it: the file was rotated).
func (w *follower) drain(rf *sftp.File) error {
	w.sp.reset(w.delivered, w.known)
	buf := make([]byte, 64<<10)
	for off := w.delivered; ; {
		n, err := rf.ReadAt(buf, off)
		if n > 0 {
			w.sp.feed(buf[:n], w.add)
			off += int64(n)
			w.bend, w.bknown = w.sp.knownEnd, append(w.bknown[:0], w.sp.known...)
			if len(w.batch) >= 1024 {
				w.commit()
			}
		}
		if err == io.EOF || (err == nil && n == 0) {
			w.sp.flush(w.add)
			w.bend, w.bknown = w.sp.knownEnd, append(w.bknown[:0], w.sp.known...)
			if len(w.batch) > 0 {
				w.commit()
			}
			return nil
		}
		if err != nil {
			w.batch = w.batch[:0]
			return fmt.Errorf("read %s: %w", w.path, err)
		}
	}
}

func (w *follower) mark(kind, text string) {
	w.sink.Lines([]tailer.Line{{Time: time.Now().UnixMilli(), File: w.ino, Offset: -1, Text: text, Mark: kind}})
}

// readStdout reads the script's first line, then tail's bytes.
func (rs *session) readStdout(r io.Reader) {
	send := func(ev event) bool {
		select {
		case rs.events <- ev:
			return true
		case <-rs.done:
			return false
		}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	// A login shell may print something first (a .bashrc that echoes):
	// skip anything before the script's own line.
	for skipped := 0; ; {
		line, err := br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			send(event{kind: evEnd, err: err})
			return
		}
		skipped += len(line)
		if skipped > 1<<20 {
			send(event{kind: evEnd, err: errors.New("the remote command printed no header")})
			return
		}
		text := strings.TrimSuffix(string(line), "\n")
		switch {
		case strings.HasPrefix(text, "logviewer:open "):
			f := strings.Fields(text)
			if len(f) != 3 {
				f = []string{"", "", ""}
			}
			pid, err1 := strconv.Atoi(f[1])
			ino, err2 := strconv.ParseUint(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				send(event{kind: evEnd, err: fmt.Errorf("bad header %q", text)})
				return
			}
			if !send(event{kind: evOpen, pid: pid, ino: ino}) {
				return
			}
		case text == "logviewer:missing":
			send(event{kind: evMissing})
			return
		case text == "logviewer:unreadable":
			send(event{kind: evUnreadable})
			return
		case text == "logviewer:notfile":
			send(event{kind: evNotFile})
			return
		default:
			continue
		}
		break
	}
	for {
		var buf []byte
		select {
		case buf = <-rs.free:
		case <-rs.done:
			return
		}
		n, err := br.Read(buf)
		if n > 0 {
			if !send(event{kind: evChunk, buf: buf[:n]}) {
				return
			}
		} else {
			rs.free <- buf
		}
		if err != nil {
			send(event{kind: evEnd, err: err})
			return
		}
	}
}

// readStderr keeps the last line of the remote stderr for error messages,
// and asks for an immediate check when tail reports something about the file.
func (rs *session) readStderr(r io.Reader, w *follower) {
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			text := strings.TrimSpace(string(line))
			w.src.log.Debug("remote stderr", "path", w.path, "text", text)
			rs.mu.Lock()
			rs.lastErr = text
			rs.mu.Unlock()
			select {
			case rs.hint <- struct{}{}:
			default:
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
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
