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
// Waking. inotify, through fsnotify, wakes the follower (see watches in
// watch.go): one watcher for the process, one watch per inode through a
// /proc/self/fd/N name (shared by every follower of that inode), one
// goroutine handing its events out. It wakes the follower on every write,
// and on a rename or an unlink of the inode (then the path is compared with
// it at once); a poll of the path, every Options.Poll while the file is
// written to and every few seconds once it is quiet, catches what the watch
// cannot (a symlink on the path pointed elsewhere), and wakes the follower
// where no watch could be added. A file written to faster than a write per
// half millisecond is read on a 1 ms clock instead of on every write (see
// Pacing).
//
// nxadm/tail, which the design card names, was used first for the lines
// and then for its inotify tracker only; neither is left. Its tailing lost
// lines (on rename rotation it may reopen before reading what was appended
// to the old file, nxadm/tail#73, #85; it detects truncation by comparing
// sizes, so a truncation followed quickly by a larger write is missed,
// #78), and its tracker needs a forwarding goroutine per watched file (its
// channels are unbuffered and served by one goroutine for the process):
// fsnotify, which it wraps, serves 1,000 quiet files with one goroutine in
// all, about 4 KB less per followed file (bench scenario 5).
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
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/logviewer/logviewer/sources/internal/follow"
	"github.com/logviewer/logviewer/sources/internal/rotation"
	"github.com/logviewer/logviewer/tailer"
)

// Source follows files on this machine that match its globs.
type Source struct {
	globs   []string // as configured ("~/" expanded, cleaned)
	real    []string // the same, absolute, each with its directory part before the first wildcard resolved through symlinks (at New)
	maxLine int
	poll    time.Duration
	watches *watches  // inotify wake-ups, one watch per inode
	bufs    sync.Pool // *[]byte of readChunk bytes, for reading
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
	s := &Source{maxLine: opts.MaxLineBytes, poll: opts.Poll, watches: &inodeWatches}
	s.bufs.New = func() any { b := make([]byte, readChunk); return &b }
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
	w := &follower{src: s, path: path}
	w.core.Init(sink, s.maxLine)
	return w.run(ctx, n)
}

// follower follows one path through any number of files (inodes). What was
// delivered, the checks against truncation, the markers and the rotated
// copies are the shared core's (sources/internal/follow); the follower reads
// the bytes (pread on the inode it holds, from core.Split.Off()) and notices
// when the path names another file.
type follower struct {
	src  *Source
	path string
	core follow.Core

	f    *os.File // the inode being followed (core.Ino)
	dev  uint64
	real string // f's path, every symlink resolved, when it was opened

	gone  bool // the path was removed; say so when it is back
	moved bool // the path was rotated; say so when the new file is followed
}

// readChunk is how much is read at once: large enough that reading costs
// little per line (one pread for thousands of lines). The buffers are the
// Source's, shared: a follower holds one only while it reads, so a thousand
// quiet files do not hold a thousand of them.
const readChunk = 256 << 10

// errRotated ends one inode: the path now names another file, or none.
var errRotated = errors.New("rotated")

func (w *follower) run(ctx context.Context, n int) error {
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
			w.core.Mark(tailer.MarkRotated, "file re-created: following it from its start")
		case w.moved:
			w.core.Mark(tailer.MarkRotated, "file rotated: following the new file from its start")
		}
		w.gone, w.moved = false, false
		w.reset(start)
		w.core.Sink.State(tailer.State{Code: tailer.StateFollowing})
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
			w.dev, w.core.Ino = identity(st)
			return nil
		}
		st := tailer.State{Code: tailer.StateWaiting, Msg: w.path + " does not exist yet"}
		var refused *rotation.RefusedError
		switch {
		case errors.As(err, &refused):
			st = tailer.State{Code: tailer.StateError, Msg: fmt.Sprintf("not following %s: %s; waiting for it to be a regular file of the configured ones", w.path, refused.Reason)}
		case !errors.Is(err, fs.ErrNotExist):
			st = tailer.State{Code: tailer.StateError, Msg: fmt.Sprintf("cannot follow %s: %v; retrying", w.path, err)}
		}
		if st.Msg != said {
			said = st.Msg
			w.core.Sink.State(st)
		}
		if err := follow.Sleep(ctx, w.src.poll); err != nil {
			return err
		}
	}
}

// reset starts reading f at off, a line start.
func (w *follower) reset(off int64) {
	_ = w.core.Reset(w.f, off) // a short read leaves nothing to check: the file just shrank, which the next read notices
	w.core.Seen = max(off, w.size())
}

// followInode follows w.f until the path names another file (errRotated) or
// ctx ends.
func (w *follower) followInode(ctx context.Context) error {
	wk := w.src.watches.subscribe(w.f, w.dev, w.core.Ino)
	defer func() {
		if wk != nil {
			wk.stop()
		}
	}()
	// The path is compared with the inode every poll while the file is
	// written to, and every quietCheck (5 s) once it is quiet and watched: then
	// the watch itself wakes the follower when the inode is renamed or
	// unlinked (and the path is checked at once), so a quiet file costs a
	// wake-up every few seconds, not four a second.
	interval := w.src.poll
	tick := time.NewTicker(interval)
	defer tick.Stop()
	every := func(d time.Duration) {
		if d != interval {
			interval = d
			tick.Reset(d)
		}
	}
	var pace pacer
	defer pace.stop()
	active, woke := false, false
	for {
		n, err := w.readAvailable(ctx)
		if err != nil {
			return err
		}
		var wake <-chan struct{}
		if wk != nil {
			wake = wk.C
		}
		if woke && n == 0 && w.pathMoved() {
			// A wake-up without bytes: renamed, unlinked, or its
			// attributes changed.
			return w.rotatedAway(ctx, wake)
		}
		woke = false
		switch pace.after(n, time.Now()) {
		case paceBusy: // writes come faster than BusyClock: read on a clock
			wk.stop()
			wk, wake = nil, nil
		case paceIdle: // quiet again: back to a wake-up per write
			wk = w.src.watches.subscribe(w.f, w.dev, w.core.Ino)
			continue // read what came while no watch was held
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			active, woke = true, true
			every(w.src.poll)
		case <-pace.C():
			active = true
		case <-tick.C:
			if w.pathMoved() {
				return w.rotatedAway(ctx, wake)
			}
			if !active && wk != nil && wk.live {
				every(quietCheck(w.src.poll))
			}
			active = false
		}
	}
}

// quietCheck is how often the path of a quiet, watched file is compared
// with the inode followed: a safety net for what the watch does not see (a
// symlink on the path pointed elsewhere).
func quietCheck(poll time.Duration) time.Duration { return max(20*poll, 5*time.Second) }

// Pacing. A wake-up per write gives the lowest latency, and costs a chain
// of goroutine hand-offs and syscalls per write (fsnotify's reader, the
// dispatcher, a pread, the Log, the room and a WebSocket write):
// at 20k lines/s written a line or two at a time, about 10k of each per
// second. So a follower whose reads keep finding new bytes within busyGap of
// each other (busyRuns times in a row) drops its watch and reads every
// BusyClock instead, until a read finds nothing idleRuns times in a row;
// then it takes the watch again (and reads once more, for what was written
// in between). A quiet log is read at once on each write; a busy one at most
// 1/BusyClock times a second, each read taking all that came.
//
// BusyClock trades a busy log's latency for CPU: every batch wakes a
// thread or two, which costs 25-40 µs of CPU each on a small VM. Measured
// on the 2-core bench machine (README, "Benchmarks"): 1 ms gave 5.0-5.7
// CPU-s per million lines at 20k lines/s and 1.2 / 4.1 ms latency (p50 /
// p99) at 10k lines/s to 100 viewers; 2 ms gave 4.0-4.6 CPU-s and 1.5 /
// 4.5 ms; 5 ms gave 2.5-3.2 CPU-s and 3.4 / 7.2 ms, past the latency
// target. 2 ms is imperceptible on a page and a fifth less CPU.
const (
	busyGap  = 500 * time.Microsecond
	busyRuns = 3
	idleRuns = 2
)

// BusyClock is how often a busy file is read (see Pacing); the benchmark
// measures what waking this often costs on its machine (rows 4c and 4d).
const BusyClock = 2 * time.Millisecond

// pacer decides between wake-ups and reading on a clock (see Pacing).
type pacer struct {
	t     *time.Ticker // while busy
	last  time.Time    // when a read last found bytes
	quick int          // reads in a row that found bytes within busyGap of the previous
	empty int          // reads in a row that found nothing, while busy
}

type paceChange int

const (
	paceSame paceChange = iota
	paceBusy
	paceIdle
)

// after records a read that found n bytes at now and says whether to change.
func (p *pacer) after(n int64, now time.Time) paceChange {
	if p.t != nil {
		if n > 0 {
			p.empty = 0
			return paceSame
		}
		if p.empty++; p.empty < idleRuns {
			return paceSame
		}
		p.stop()
		return paceIdle
	}
	if n == 0 {
		return paceSame
	}
	if now.Sub(p.last) < busyGap {
		p.quick++
	} else {
		p.quick = 0
	}
	p.last = now
	if p.quick < busyRuns {
		return paceSame
	}
	p.quick, p.empty = 0, 0
	p.t = time.NewTicker(BusyClock)
	return paceBusy
}

// C fires every BusyClock while busy; nil otherwise.
func (p *pacer) C() <-chan time.Time {
	if p.t == nil {
		return nil
	}
	return p.t.C
}

func (p *pacer) stop() {
	if p.t != nil {
		p.t.Stop()
		p.t = nil
	}
}

// rotatedAway reads the rest of w.f once the path names another file, or
// none (see follow.Core.Drain). wake says the file may have grown (nil:
// the drain reads on its own clock).
func (w *follower) rotatedAway(ctx context.Context, wake <-chan struct{}) error {
	read := func() (int64, error) { return w.readAvailable(ctx) }
	// The writer has moved on once the path names a file with something in
	// it; a path that names nothing (removed, not rotated) says nothing.
	moved := func() bool {
		st, err := os.Stat(w.path)
		return err != nil || st.Size() > 0
	}
	if err := w.core.Drain(ctx, read, w.src.poll, wake, moved); err != nil {
		return err
	}
	if _, err := os.Stat(w.path); err != nil {
		w.gone = true
		w.core.Mark(tailer.MarkRemoved, "file removed: waiting for it to come back")
	} else {
		w.moved = true
	}
	return errRotated
}

// readAvailable reads and delivers the lines f holds past what was read,
// chunk by chunk, checking before each chunk is delivered that f still
// holds what was delivered. It returns how many bytes it read.
func (w *follower) readAvailable(ctx context.Context) (int64, error) {
	bp := w.src.bufs.Get().(*[]byte)
	defer w.src.bufs.Put(bp)
	buf := *bp
	var read int64
	for {
		if err := ctx.Err(); err != nil {
			return read, err // a writer faster than the reader must not hold off a cancel
		}
		pos := w.core.Split.Off()
		n, err := w.f.ReadAt(buf, pos)
		if err != nil && err != io.EOF {
			return read, fmt.Errorf("read %s: %w", w.path, err)
		}
		read += int64(n)
		if n == 0 {
			size := w.size()
			if size >= pos {
				w.core.Seen = max(w.core.Seen, size)
				return read, nil
			}
			w.truncated(ctx, pos, nil)
			continue
		}
		chunk := buf[:n]
		if ok, _ := w.core.Holds(w.f); !ok {
			w.truncated(ctx, pos, chunk)
			continue
		}
		w.core.Push(chunk)
		if n < len(buf) {
			return read, nil
		}
	}
}

// truncated handles a truncation of f noticed after delivering up to
// core.Delivered(), with chunk the bytes just read at pos (nil if none).
//
// The chunk was read before or after the truncation. If f no longer holds
// it, it was read before: it is old content, and its lines are delivered.
// Then the rest of the old content is looked for in the copy that a
// copytruncate rotation made, and delivered from it; where there is none,
// a marker says how many bytes were never read. Then f is read again from
// its start.
func (w *follower) truncated(ctx context.Context, pos int64, chunk []byte) {
	if chunk != nil {
		if held, _ := follow.Holds(w.f, pos, chunk); !held {
			w.core.Push(chunk)
		} // else the chunk is the new content, read again from 0 below
	}
	name, err := "", rotation.ErrNotFound
	if w.real != "" {
		name, err = w.core.FromCopy(ctx, rotation.OS{}, filepath.Dir(w.real), filepath.Base(w.real), nil, nil)
	}
	if ctx.Err() != nil {
		return // the caller returns ctx.Err()
	}
	switch {
	case err == nil:
		if w.core.Seen > w.core.Delivered() {
			w.core.Mark(tailer.MarkSkipped, fmt.Sprintf("%d bytes written after the rotated copy %s was made and before the file was truncated were never read; they are on no disk", w.core.Seen-w.core.Delivered(), name))
		}
		w.core.Mark(tailer.MarkTruncated, fmt.Sprintf("file truncated: the rest of its old content was read from the rotated copy %s; following it from its start", name))
	default:
		// A line begun before the truncation cannot be finished: it is
		// counted with what was skipped rather than shown as a fragment.
		w.core.Split.Drop()
		w.core.MarkSkipped(err)
		w.core.Mark(tailer.MarkTruncated, "file truncated: following it from its start")
	}
	w.reset(0)
}

// pathMoved reports whether the path no longer names the inode being followed.
func (w *follower) pathMoved() bool {
	st, err := os.Stat(w.path)
	if err != nil {
		return true
	}
	dev, ino := identity(st)
	return dev != w.dev || ino != w.core.Ino
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
