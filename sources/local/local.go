// Package local follows files on this machine.
//
// Reading. The bytes are read here, with pread(2) in chunks of 256 KiB from
// the inode the follower holds, and cut into lines that keep at most
// MaxLineBytes of an over-long line (its head; the rest is counted, never
// held), so a file with no newline cannot grow the process. Reading lines
// through nxadm/tail was both slower (about 0.85M lines/s in BenchmarkFollow
// against 3–6M now) and unbounded: it returns whole lines only, so an
// unterminated line was buffered whole (50 × 1 MiB: 22 → 268 MB of RSS).
//
// Waking. nxadm/tail, the watcher the design card names, stays the source of
// wake-ups: it already runs the process's one inotify instance, and keeping
// it means one watcher for the whole program rather than a second one here.
// Its shared tracker watches the held inode through a /proc/self/fd/N name
// (one watch per inode, shared by the Source's followers of it) and wakes
// the follower on every write; a poll of the path, every Options.Poll,
// catches what the watch cannot (the path naming another file), and wakes the
// follower where no watch could be added. nxadm/tail never chooses a file or
// an offset: it lost lines when it did (on rename rotation it may reopen
// before reading what was appended to the old file, nxadm/tail#73, #85; it
// detects truncation by comparing sizes, so a truncation followed quickly by
// a larger write is missed, #78).
//
// A supervisor here owns every change of file:
//
//   - opening: the path is opened with O_PATH (never blocking, never running a
//     device's open), and what it resolves to, through every symlink, must be
//     a regular file that the globs allow; only then is that inode opened for
//     reading. This holds at the first open and at every re-open after a
//     rotation: a path swapped for a symlink to a file outside the globs, a
//     FIFO or a device is refused (StateError) and polled until it is a file
//     that may be followed again;
//   - rotation and removal: the path is stat'ed against the held inode; when
//     they differ, the old inode is read on until it has been quiet for a
//     poll interval (an application writes to it until it reopens the path)
//     before the new file is followed from its start;
//   - truncation: after each chunk is read, the bytes just before the last
//     delivered offset are read back and compared with what was delivered; a
//     mismatch (or a file shorter than what was read) means the file was
//     truncated. The chunk is still delivered when the file no longer holds
//     it (it was read before the truncation). Then the copy that a
//     copytruncate rotation made (app.log.1, app.log-DATE, plain or gzip;
//     see sources/internal/rotation) is looked for by the delivered bytes, and
//     the rest of the old content is delivered from it before the file is
//     followed again from its start. Where no copy is found, a "skipped"
//     marker says how many bytes were never read.
//
// Paths under /proc make this Linux-only.
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/nxadm/tail/watch"

	"github.com/logviewer/logviewer/sources/internal/rotation"
	"github.com/logviewer/logviewer/tailer"
)

// Source follows files on this machine that match its globs.
type Source struct {
	globs   []string // as configured ("~/" expanded, cleaned)
	real    []string // the same, absolute, each with its directory part before the first wildcard resolved through symlinks (at New)
	maxLine int
	poll    time.Duration
	watches *watches // inotify wake-ups, one watch per inode
}

var _ tailer.Source = (*Source)(nil)

// Options tune a Source.
type Options struct {
	MaxLineBytes int           // longer lines are cut (default 65536)
	Poll         time.Duration // how often the path is checked for rotation (default 250ms)
}

// New returns a Source for the files matching globs ("~/" is the home directory).
//
// Which files may be followed: a path must match a glob, and what it
// resolves to through every symlink, in any component, must be a regular
// file whose resolved path matches a glob too. The part of each glob before
// its first wildcard (/var/log/app in /var/log/app/*.log) is taken as
// configured: it is resolved through symlinks once, here, and the resolved
// path of a file may match either form. So a directory symlink that an
// administrator made stays usable, while a symlink that a writer of the log
// directory makes later cannot lead outside the globs.
func New(globs []string, opts Options) *Source {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 64 << 10
	}
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	home, _ := os.UserHomeDir()
	s := &Source{maxLine: opts.MaxLineBytes, poll: opts.Poll, watches: &watches{}}
	for _, g := range globs {
		if strings.HasPrefix(g, "~/") && home != "" {
			g = filepath.Join(home, g[2:])
		}
		g = filepath.Clean(g)
		s.globs = append(s.globs, g)
		s.real = append(s.real, resolveGlob(g))
	}
	return s
}

// resolveGlob makes g absolute and resolves its directory part before the
// first wildcard through symlinks.
func resolveGlob(g string) string {
	abs, err := filepath.Abs(g)
	if err != nil {
		return g
	}
	dir := filepath.Dir(abs)
	for hasMeta(dir) {
		dir = filepath.Dir(dir)
	}
	rest := strings.TrimPrefix(abs[len(dir):], "/")
	r, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return abs
	}
	return filepath.Join(escapeMeta(r), rest)
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

func escapeMeta(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// List expands the globs. A path is listed only if what it resolves to,
// through every symlink in any component, is a regular file that the globs
// allow; a file reachable by two listed names is listed once. Newest first.
func (s *Source) List(ctx context.Context) ([]tailer.FileInfo, error) {
	var l tailer.Listing
	for _, g := range s.globs {
		matches, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("glob %q: %w", g, err)
		}
		for _, m := range matches {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			fi, link, ok := s.allowed(m)
			if !ok {
				continue
			}
			var key any
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				key = [2]uint64{st.Dev, st.Ino}
			}
			l.Add(key, tailer.FileInfo{Path: m, Size: fi.Size(), ModTime: fi.ModTime()}, link)
		}
	}
	return l.Files(), nil
}

// allowed stats a glob match: what it resolves to, through every symlink in
// any component, must be a regular file whose path the globs allow. link
// says whether the name went through a symlink.
func (s *Source) allowed(path string) (fs.FileInfo, bool, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil || !s.allows(real) {
		return nil, false, false
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false, false
	}
	return fi, real != path, true
}

// allows reports whether a fully resolved path matches a glob.
func (s *Source) allows(real string) bool {
	if s.matches(real) {
		return true
	}
	for _, g := range s.real {
		if ok, _ := filepath.Match(g, real); ok {
			return true
		}
	}
	return false
}

// Check implements tailer.Source.
func (s *Source) Check(ctx context.Context, path string) error {
	if !s.matches(path) {
		return fmt.Errorf("%s: %w", path, tailer.ErrNotListed)
	}
	if _, _, ok := s.allowed(path); !ok {
		return fmt.Errorf("%s: %w", path, tailer.ErrNotListed)
	}
	return nil
}

func (s *Source) matches(path string) bool {
	for _, g := range s.globs {
		if ok, _ := filepath.Match(g, path); ok {
			return true
		}
	}
	return false
}

// open opens path for reading if it may be followed: never blocking, and
// only a regular file that the globs allow once every symlink is resolved.
func (s *Source) open(path string) (*os.File, string, error) {
	f, real, err := rotation.OpenRegular(path)
	if err != nil {
		return nil, "", err
	}
	if !s.allows(real) {
		f.Close()
		return nil, "", &rotation.RefusedError{Path: path, Reason: "it resolves to " + real + ", which is not one of the configured files"}
	}
	return f, real, nil
}

// Follow implements tailer.Source.
func (s *Source) Follow(ctx context.Context, path string, n int, sink tailer.Sink) error {
	w := &follower{src: s, path: path, sink: sink}
	w.split.init(s.maxLine)
	return w.run(ctx, n)
}

// follower follows one path through any number of files (inodes).
type follower struct {
	src  *Source
	path string
	sink tailer.Sink

	f    *os.File // the inode being followed
	dev  uint64
	ino  uint64
	real string // f's path, every symlink resolved, when it was opened

	pos       int64  // the next byte of f to read
	delivered int64  // offset just past the last line delivered from f
	known     []byte // the up to knownLen bytes of f that end at delivered
	tail      []byte // the up to knownLen bytes of f that end at pos
	seen      int64  // the largest size f was seen to have since its last truncation
	split     splitter

	buf   []byte        // read buffer, readChunk bytes
	lines []tailer.Line // scratch for one delivery
	check []byte        // scratch for holds

	gone  bool // the path was removed; say so when it is back
	moved bool // the path was rotated; say so when the new file is followed
}

// knownLen is how many delivered bytes are kept to recognise the file (and
// its rotated copy) later: several lines' worth, so that the run of bytes
// holds timestamps or sequence numbers, not only padding that every file of
// the same log has at the same offsets.
const knownLen = 1024

// maxBatch bounds the lines handed to the sink at once (and the scratch
// they take): a chunk of empty lines would otherwise be 256Ki Lines.
const maxBatch = 8192

// readChunk is how much is read at once: large enough that reading costs
// little per line (one pread for thousands of lines), small enough to keep
// per follower.
const readChunk = 256 << 10

// rotateLinger bounds how long a rotated-away file is read on while it
// still grows (its writer has not reopened the path yet).
const rotateLinger = 5 * time.Second

// errRotated ends one inode: the path now names another file, or none.
var errRotated = errors.New("rotated")

func (w *follower) run(ctx context.Context, n int) error {
	w.buf = make([]byte, readChunk)
	first := true
	for {
		if err := w.open(ctx); err != nil {
			return err
		}
		start := int64(0)
		if first {
			var err error
			if start, err = w.lastLines(n); err != nil {
				w.f.Close()
				return fmt.Errorf("read %s: %w", w.path, err)
			}
		}
		first = false
		switch {
		case w.gone:
			w.mark(tailer.MarkRotated, "file re-created: following it from its start")
		case w.moved:
			w.mark(tailer.MarkRotated, "file rotated: following the new file from its start")
		}
		w.gone, w.moved = false, false
		w.reset(start)
		w.sink.State(tailer.State{Code: tailer.StateFollowing})
		err := w.followInode(ctx)
		w.f.Close()
		if !errors.Is(err, errRotated) {
			return err
		}
	}
}

// open opens the path, waiting (and saying so) while it does not exist or
// is not a file that may be followed.
func (w *follower) open(ctx context.Context) error {
	said := ""
	for {
		f, real, err := w.src.open(w.path)
		if err == nil {
			st, err := f.Stat()
			if err != nil {
				f.Close()
				return err
			}
			w.f, w.real = f, real
			w.dev, w.ino = identity(st)
			return nil
		}
		st := tailer.State{Code: tailer.StateWaiting, Msg: w.path + " does not exist; waiting for it"}
		var refused *rotation.RefusedError
		switch {
		case errors.As(err, &refused):
			st = tailer.State{Code: tailer.StateError, Msg: fmt.Sprintf("not following %s: %s; waiting for it to be a regular file of the configured ones", w.path, refused.Reason)}
		case !errors.Is(err, fs.ErrNotExist):
			st = tailer.State{Code: tailer.StateError, Msg: fmt.Sprintf("cannot follow %s: %v; retrying", w.path, err)}
		}
		if st.Msg != said {
			said = st.Msg
			w.sink.State(st)
		}
		if err := sleep(ctx, w.src.poll); err != nil {
			return err
		}
	}
}

// sleep waits for d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reset starts reading f at off, a line start.
func (w *follower) reset(off int64) {
	w.pos, w.delivered = off, off
	w.known = w.known[:0]
	if k := min(off, knownLen); k > 0 {
		buf := make([]byte, k)
		if n, _ := w.f.ReadAt(buf, off-k); n == len(buf) {
			w.known = append(w.known, buf...)
		}
	}
	w.tail = append(w.tail[:0], w.known...)
	w.seen = max(off, w.size())
	w.split.reset()
}

// followInode follows w.f until the path names another file (errRotated) or
// ctx ends.
func (w *follower) followInode(ctx context.Context) error {
	wk := w.src.watches.subscribe(w.f, w.dev, w.ino)
	defer wk.stop()
	tick := time.NewTicker(w.src.poll)
	defer tick.Stop()
	for {
		if err := w.readAvailable(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wk.C:
		case <-tick.C:
			if w.pathMoved() {
				return w.rotatedAway(ctx, wk)
			}
		}
	}
}

// rotatedAway reads the rest of w.f once the path names another file, or
// none: until it has not grown for a poll interval (its writer may still
// append until it reopens the path), for at most rotateLinger; then a last
// line without newline is delivered too (nobody will finish it).
func (w *follower) rotatedAway(ctx context.Context, wk *waker) error {
	deadline := time.Now().Add(rotateLinger)
	grew := time.Now()
	quiet := time.NewTimer(w.src.poll)
	defer quiet.Stop()
	for {
		before := w.pos
		if err := w.readAvailable(ctx); err != nil {
			return err
		}
		now := time.Now()
		if w.pos != before {
			grew = now
		}
		if now.Sub(grew) >= w.src.poll || now.After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wk.C:
		case <-quiet.C:
			quiet.Reset(w.src.poll)
		}
	}
	w.flushPartial()
	if _, err := os.Stat(w.path); err != nil {
		w.gone = true
		w.mark(tailer.MarkRemoved, "file removed: waiting for it to come back")
	} else {
		w.moved = true
	}
	return errRotated
}

// readAvailable reads and delivers the lines f holds past pos, chunk by
// chunk, checking after each read that f still holds what was delivered.
func (w *follower) readAvailable(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err // a writer faster than the reader must not hold off a cancel
		}
		n, err := w.f.ReadAt(w.buf, w.pos)
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", w.path, err)
		}
		if n == 0 {
			size := w.size()
			if size >= w.pos {
				w.seen = max(w.seen, size)
				return nil
			}
			w.truncated(ctx, nil)
			continue
		}
		chunk := w.buf[:n]
		if !w.holds(w.delivered-int64(len(w.known)), w.known) {
			w.truncated(ctx, chunk)
			continue
		}
		w.commit(chunk)
		if n < len(w.buf) {
			return nil
		}
	}
}

// commit delivers the lines of chunk (read at pos), in batches of at most
// maxBatch lines, and moves past it.
func (w *follower) commit(chunk []byte) {
	for len(chunk) > 0 {
		var used int
		w.lines, used = w.split.feed(w.lines[:0], chunk, w.pos, w.ino, maxBatch)
		w.commitBatch(chunk[:used])
		chunk = chunk[used:]
	}
}

// commitBatch delivers w.lines, split from b (read at pos), and moves past b.
func (w *follower) commitBatch(chunk []byte) {
	w.deliver(w.lines)
	if e := w.split.end; e >= 0 {
		if j := int(e - w.pos); j >= knownLen {
			w.known = append(w.known[:0], chunk[j-knownLen:j]...)
		} else {
			w.known = keepLast(append(append(w.known[:0], w.tail...), chunk[:j]...))
		}
		w.delivered = e
	}
	if len(chunk) >= knownLen {
		w.tail = append(w.tail[:0], chunk[len(chunk)-knownLen:]...)
	} else {
		w.tail = keepLast(append(w.tail, chunk...))
	}
	w.pos += int64(len(chunk))
	w.seen = max(w.seen, w.pos)
}

func keepLast(b []byte) []byte {
	if len(b) > knownLen {
		b = b[:copy(b, b[len(b)-knownLen:])]
	}
	return b
}

// truncated handles a truncation of f noticed after delivering up to
// w.delivered, with chunk the bytes just read at w.pos (nil if none).
//
// The chunk was read before or after the truncation. If f no longer holds
// it, it was read before: it is old content, and its lines are delivered.
// Then the rest of the old content is looked for in the copy that a
// copytruncate rotation made, and delivered from it; where there is none,
// a marker says how many bytes were never read. Then f is read again from
// its start.
func (w *follower) truncated(ctx context.Context, chunk []byte) {
	if chunk != nil && !w.holds(w.pos, chunk) {
		w.commit(chunk)
	} // else the chunk is the new content, read again from 0 below
	end, from, err := w.fromCopy(ctx)
	if ctx.Err() != nil {
		return // the caller returns ctx.Err()
	}
	switch {
	case err == nil:
		if w.seen > end {
			w.mark(tailer.MarkSkipped, fmt.Sprintf("%d bytes written after the rotated copy %s was made and before the file was truncated were never read; they are on no disk", w.seen-end, filepath.Base(from)))
		}
		w.mark(tailer.MarkTruncated, fmt.Sprintf("file truncated: the rest of its old content was read from the rotated copy %s; following it from its start", filepath.Base(from)))
	default:
		// A line begun before the truncation cannot be finished: it is
		// counted with what was skipped rather than shown as a fragment.
		w.split.reset()
		if skipped := w.seen - w.delivered; skipped > 0 {
			why := "no rotated copy of them was found"
			if !errors.Is(err, rotation.ErrNotFound) {
				why = err.Error()
			}
			w.mark(tailer.MarkSkipped, fmt.Sprintf("%d bytes were truncated before they were read (%s)", skipped, why))
		}
		w.mark(tailer.MarkTruncated, "file truncated: following it from its start")
	}
	w.reset(0)
}

// fromCopy delivers the old content after w.delivered from the copy that a
// rotation made of f (see rotation.FindCopy), and returns the offset its end
// stands for and the copy's path. Its lines carry the copy's identity (where
// they now are) and their offsets in its content, which are the offsets
// they had in f.
func (w *follower) fromCopy(ctx context.Context) (int64, string, error) {
	if w.real == "" || len(w.known) == 0 {
		return 0, "", rotation.ErrNotFound
	}
	c, err := rotation.FindCopy(rotation.OS{}, filepath.Dir(w.real), filepath.Base(w.real), w.delivered, w.known)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	ino := c.Entry.Ino
	w.split.reset()
	off := w.delivered
	for {
		n, rerr := io.ReadFull(c, w.buf)
		if rerr == nil && ctx.Err() != nil {
			rerr = ctx.Err()
		}
		for b := w.buf[:n]; len(b) > 0; {
			var used int
			w.lines, used = w.split.feed(w.lines[:0], b, off, ino, maxBatch)
			w.deliver(w.lines)
			b = b[used:]
			off += int64(used)
		}
		if rerr != nil && ctx.Err() != nil {
			return off, c.Path, ctx.Err()
		}
		if rerr != nil {
			w.split.flush(w.lines[:0], off, ino)
			w.deliver(w.split.flushed)
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				return off, c.Path, nil
			}
			w.mark(tailer.MarkSkipped, fmt.Sprintf("reading the rotated copy %s failed after %d bytes: %v", filepath.Base(c.Path), off, rerr))
			return off, c.Path, nil
		}
	}
}

// flushPartial delivers a last line without newline, read up to w.pos.
func (w *follower) flushPartial() {
	w.split.flush(w.lines[:0], w.pos, w.ino)
	w.deliver(w.split.flushed)
}

func (w *follower) deliver(lines []tailer.Line) {
	if len(lines) == 0 {
		return
	}
	now := time.Now().UnixMilli()
	for i := range lines {
		lines[i].Time = now
	}
	w.sink.Lines(lines)
}

// holds reports whether f holds want at off (nothing is always held).
func (w *follower) holds(off int64, want []byte) bool {
	if len(want) == 0 {
		return true
	}
	if off < 0 {
		return false
	}
	if cap(w.check) < len(want) {
		w.check = make([]byte, len(want))
	}
	got := w.check[:len(want)]
	n, _ := w.f.ReadAt(got, off)
	return n == len(want) && bytes.Equal(got, want)
}

func (w *follower) mark(kind, text string) {
	w.sink.Lines([]tailer.Line{{Time: time.Now().UnixMilli(), File: w.ino, Offset: -1, Text: text, Mark: kind}})
}

// pathMoved reports whether the path no longer names the inode being followed.
func (w *follower) pathMoved() bool {
	st, err := os.Stat(w.path)
	if err != nil {
		return true
	}
	dev, ino := identity(st)
	return dev != w.dev || ino != w.ino
}

func (w *follower) size() int64 {
	st, err := w.f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

func identity(fi fs.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Dev, st.Ino
	}
	return 0, 0
}

// lastLines returns where the last n complete lines of w.f begin, reading
// back no more than n such lines of the maximum length could take.
func (w *follower) lastLines(n int) (int64, error) {
	st, err := w.f.Stat()
	if err != nil {
		return 0, err
	}
	return tailer.LastLines(w.f, st.Size(), n, int64(n+1)*int64(w.src.maxLine+1)+64<<10)
}

// waker is one follower's subscription to the wake-ups of an inode: a
// value on C (at most one pending) after each inotify event.
type waker struct {
	C    chan struct{}
	stop func()
}

// watches shares one nxadm/tail inotify watch per inode among a Source's
// followers. One per inode is not only thrifty: inotify gives two names of
// one inode the same watch, and fsnotify (under nxadm/tail) then reports its
// events under the newest name only and removes the watch for both when
// either is removed, so a second follower of a file would silently fall
// back to polling.
type watches struct {
	mu sync.Mutex
	m  map[[2]uint64]*inodeWatch
}

// inodeWatch is the watch of one inode. Its name is /proc/self/fd/N of a
// descriptor of its own, so the name (the tracker's key) stays this watch's
// for as long as the watch lives, and the watch follows the inode wherever
// it is renamed.
type inodeWatch struct {
	f    *os.File
	name string
	done chan struct{} // closed when the forwarding goroutine has ended

	mu   sync.Mutex
	subs map[chan struct{}]bool
}

// subscribe returns wake-ups for f's inode (dev, ino). Without a watch
// (inotify limits), C never fires and the follower's poll wakes it.
func (ws *watches) subscribe(f *os.File, dev, ino uint64) *waker {
	c := make(chan struct{}, 1)
	key := [2]uint64{dev, ino}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	iw := ws.m[key]
	if iw == nil {
		iw = startWatch(f)
		if iw == nil {
			return &waker{C: c, stop: func() {}}
		}
		if ws.m == nil {
			ws.m = map[[2]uint64]*inodeWatch{}
		}
		ws.m[key] = iw
	}
	iw.mu.Lock()
	iw.subs[c] = true
	iw.mu.Unlock()
	return &waker{C: c, stop: func() {
		ws.mu.Lock()
		defer ws.mu.Unlock()
		iw.mu.Lock()
		delete(iw.subs, c)
		last := len(iw.subs) == 0
		iw.mu.Unlock()
		if last {
			// Under ws.mu, so that no new watch of this inode is added
			// while this one is being removed (see watches).
			delete(ws.m, key)
			iw.stop()
		}
	}}
}

func startWatch(f *os.File) *inodeWatch {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil
	}
	syscall.CloseOnExec(fd)
	iw := &inodeWatch{f: os.NewFile(uintptr(fd), f.Name()), name: "/proc/self/fd/" + strconv.Itoa(fd), subs: map[chan struct{}]bool{}}
	if err := watch.Watch(iw.name); err != nil {
		iw.f.Close()
		return nil
	}
	events := watch.Events(iw.name)
	if events == nil {
		_ = watch.RemoveWatch(iw.name)
		iw.f.Close()
		return nil
	}
	iw.done = make(chan struct{})
	go func() {
		defer close(iw.done)
		// Always receive at once: the tracker hands the events of every
		// watch in the process over from one goroutine.
		for range events {
			iw.mu.Lock()
			for c := range iw.subs {
				select {
				case c <- struct{}{}:
				default:
				}
			}
			iw.mu.Unlock()
		}
	}()
	return iw
}

// stop removes the watch (the tracker then closes the events channel, which
// ends the forwarding goroutine) and then closes the descriptor.
func (iw *inodeWatch) stop() {
	_ = watch.RemoveWatch(iw.name)
	<-iw.done
	iw.f.Close()
}

// splitter cuts a stream of bytes into cleaned lines, holding at most keep
// bytes of a line that is not finished yet: an over-long line keeps its head
// and a count of the rest.
type splitter struct {
	max  int
	keep int    // max plus room to cut at a character boundary and drop a CR
	part []byte // the start of the unfinished line (all of it, or its first keep bytes)
	n    int64  // the unfinished line's length so far
	cr   bool   // its last byte so far is a CR

	end     int64         // after feed: the offset just past its last complete line, or -1
	flushed []tailer.Line // after flush: the lines it made
	ends    []int         // scratch: newline positions in a chunk
}

func (s *splitter) init(max int) {
	s.max = max
	s.keep = max + utf8.UTFMax + 1
}

func (s *splitter) reset() {
	s.part, s.n, s.cr, s.end = s.part[:0], 0, false, -1
}

// feed appends to lines the lines that chunk (the stream's bytes from
// offset off) completes, at most limit of them, and returns how many bytes of
// chunk it used: all of them, or up to the newline of the limit-th line.
// Whole lines that need no cut share one string per run, so a line kept by
// the Log holds no more memory than its neighbours.
func (s *splitter) feed(lines []tailer.Line, chunk []byte, off int64, file uint64, limit int) ([]tailer.Line, int) {
	s.end = -1
	s.ends = s.ends[:0]
	for i := 0; len(s.ends) < limit; {
		j := bytes.IndexByte(chunk[i:], '\n')
		if j < 0 {
			break
		}
		s.ends = append(s.ends, i+j)
		i += j + 1
	}
	ends := s.ends
	if len(ends) == 0 {
		s.grow(chunk)
		return lines, len(chunk)
	}
	if len(ends) == limit {
		chunk = chunk[:ends[len(ends)-1]+1]
	}
	start := 0
	if s.n > 0 {
		nl := ends[0]
		lines = append(lines, tailer.Line{File: file, Offset: off + int64(nl) + 1, Text: s.finish(chunk[:nl])})
		ends = ends[1:]
		start = nl + 1
	}
	run := start // the first line of the current run of short lines
	var str string
	runStr := func(upto int) { // lines in chunk[run:upto] are all short
		if upto > run {
			str = string(chunk[run:upto])
		}
	}
	first := len(lines)
	i := start
	for _, nl := range ends {
		if nl-i > s.max+1 { // needs cutting: do not share the run's string
			runStr(i)
			lines = s.runLines(lines, first, str, run, off, file)
			lines = append(lines, tailer.Line{File: file, Offset: off + int64(nl) + 1, Text: s.cut(chunk[i:nl])})
			run, first = nl+1, len(lines)
		} else {
			lines = append(lines, tailer.Line{File: file, Offset: off + int64(nl) + 1})
		}
		i = nl + 1
	}
	runStr(i)
	lines = s.runLines(lines, first, str, run, off, file)
	s.end = off + int64(i)
	s.grow(chunk[i:])
	return lines, len(chunk)
}

// runLines fills in the texts of lines[first:], which are the lines of str,
// a copy of the chunk's bytes from run on.
func (s *splitter) runLines(lines []tailer.Line, first int, str string, run int, off int64, file uint64) []tailer.Line {
	at := 0
	for k := first; k < len(lines); k++ {
		nl := int(lines[k].Offset-off) - 1 - run
		lines[k].Text = tailer.Clean(str[at:nl], s.max)
		at = nl + 1
	}
	return lines
}

// cut makes the text of a whole line longer than max+1 bytes.
func (s *splitter) cut(line []byte) string {
	total := int64(len(line))
	if line[len(line)-1] == '\r' {
		total--
	}
	return tailer.Cut(string(line[:min(len(line), s.keep)]), total, s.max)
}

// grow adds b to the unfinished line.
func (s *splitter) grow(b []byte) {
	if len(b) == 0 {
		return
	}
	if room := s.keep - len(s.part); room > 0 {
		s.part = append(s.part, b[:min(room, len(b))]...)
	}
	s.n += int64(len(b))
	s.cr = b[len(b)-1] == '\r'
}

// finish ends the unfinished line with rest (the bytes before its newline).
func (s *splitter) finish(rest []byte) string {
	s.grow(rest)
	var text string
	if s.n <= int64(s.keep) {
		text = tailer.Clean(string(s.part), s.max)
	} else {
		total := s.n
		if s.cr {
			total--
		}
		text = tailer.Cut(string(s.part), total, s.max)
	}
	s.reset()
	return text
}

// flush sets s.flushed to lines plus the unfinished line, if any, as a line
// of its own ending at end.
func (s *splitter) flush(lines []tailer.Line, end int64, file uint64) {
	if s.n > 0 {
		lines = append(lines, tailer.Line{File: file, Offset: end, Text: s.finish(nil)})
	}
	s.flushed = lines
}
