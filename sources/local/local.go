// Package local follows files on this machine with github.com/nxadm/tail.
//
// nxadm/tail reads lines and wakes on inotify events, but it can lose lines:
// on rename rotation it may reopen before reading what was appended to the old
// file (nxadm/tail#73, #85), and it detects truncation by comparing sizes, so a
// truncation followed quickly by a larger write is missed (#78). This package
// therefore hands nxadm/tail one inode at a time, through its own
// /proc/self/fd/N name so the library never switches files by itself, and a
// supervisor here owns every change of file:
//
//   - rotation and removal: the path is stat'ed against the open inode; when
//     they differ, the rest of the old inode is read here before the new file
//     is followed from its start;
//   - truncation: before a batch of lines is delivered, the bytes just before
//     and at the end of the batch are read back from the inode and compared
//     with what was delivered; a mismatch means the file was rewritten, so the
//     batch is dropped and the file is followed again from its start.
//
// Paths under /proc make this Linux-only in its lossless form.
package local

import (
	"bufio"
	"bytes"
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

	"github.com/nxadm/tail"
	"github.com/nxadm/tail/watch"

	"github.com/logviewer/logviewer/tailer"
)

// Source follows files on this machine that match its globs.
type Source struct {
	globs   []string
	maxLine int
	poll    time.Duration
}

var _ tailer.Source = (*Source)(nil)

// Options tune a Source.
type Options struct {
	MaxLineBytes int           // longer lines are cut (default 65536)
	Poll         time.Duration // how often the path is checked for rotation (default 250ms)
}

// New returns a Source for the files matching globs ("~/" is the home directory).
func New(globs []string, opts Options) *Source {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 64 << 10
	}
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	home, _ := os.UserHomeDir()
	var gs []string
	for _, g := range globs {
		if strings.HasPrefix(g, "~/") && home != "" {
			g = filepath.Join(home, g[2:])
		}
		gs = append(gs, filepath.Clean(g))
	}
	return &Source{globs: gs, maxLine: opts.MaxLineBytes, poll: opts.Poll}
}

// List expands the globs. A symlink is listed only if its target also matches
// a glob; a file reachable by two listed names is listed once. Newest first.
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

// allowed stats a glob match: regular files only, and a symlink only when the
// file it resolves to matches a glob too.
func (s *Source) allowed(path string) (fs.FileInfo, bool, bool) {
	lfi, err := os.Lstat(path)
	if err != nil {
		return nil, false, false
	}
	link := lfi.Mode()&fs.ModeSymlink != 0
	if link {
		real, err := filepath.EvalSymlinks(path)
		if err != nil || !s.matches(real) {
			return nil, false, false
		}
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false, false
	}
	return fi, link, true
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

// Follow implements tailer.Source.
func (s *Source) Follow(ctx context.Context, path string, n int, sink tailer.Sink) error {
	f := &follower{src: s, path: path, sink: sink}
	return f.run(ctx, n)
}

// follower follows one path through any number of files (inodes).
type follower struct {
	src  *Source
	path string
	sink tailer.Sink

	f         *os.File // the inode being followed
	ino       uint64
	delivered int64  // offset just past the last line delivered from f
	known     []byte // the up to knownLen bytes of f that end at delivered
	check     []byte // scratch for holds
	batch     []tailer.Line
	gone      bool // the path was removed; say so when it is back
}

const knownLen = 64

// A batch is delivered when it holds maxBatch lines or no more line came for
// linger: nxadm/tail hands lines over one at a time, and each batch costs two
// reads of the file to check it, so batches of one line would double the cost
// of a busy file for one millisecond of latency saved.
const (
	maxBatch = 4096
	linger   = time.Millisecond
)

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
		if w.gone {
			w.gone = false
			w.mark(tailer.MarkRotated, "file re-created: following it from its start")
		}
		w.setDelivered(start)
		w.sink.State(tailer.State{Code: tailer.StateFollowing})
		err := w.followInode(ctx)
		w.f.Close()
		if !errors.Is(err, errRotated) {
			return err
		}
	}
}

// open opens the path, waiting (and saying so) while it does not exist.
func (w *follower) open(ctx context.Context) error {
	waiting := false
	for {
		f, err := os.Open(w.path)
		if err == nil {
			st, err := f.Stat()
			if err != nil {
				f.Close()
				return err
			}
			if !st.Mode().IsRegular() {
				f.Close()
				return fmt.Errorf("%s is not a regular file", w.path)
			}
			w.f, w.ino = f, inode(st)
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if !waiting {
			waiting = true
			w.sink.State(tailer.State{Code: tailer.StateWaiting, Msg: w.path + " does not exist; waiting for it"})
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

func (w *follower) setDelivered(off int64) {
	w.delivered = off
	k := min(off, knownLen)
	w.known = w.known[:0]
	if k > 0 {
		buf := make([]byte, k)
		if _, err := w.f.ReadAt(buf, off-k); err == nil {
			w.known = append(w.known, buf...)
		}
	}
}

type outcome int

const (
	ended outcome = iota // the library's tail stopped by itself
	rotated
	truncated
	cancelled
	stalled // complete lines wait in the file but the library is not reading them
)

// followInode follows w.f until the path names another file (errRotated) or
// ctx ends. Truncation restarts the tail on the same inode from offset 0.
func (w *follower) followInode(ctx context.Context) error {
	for {
		t, name, fd, err := w.startTail()
		if err != nil {
			return err
		}
		out := w.consume(ctx, t)
		stopTail(t, name, fd)
		switch out {
		case cancelled:
			return ctx.Err()
		case truncated:
			w.mark(tailer.MarkTruncated, "file truncated: following it from its start")
			w.setDelivered(0)
			continue
		case stalled:
			continue
		case ended:
			if !w.pathMoved() {
				if w.size() < w.delivered {
					w.mark(tailer.MarkTruncated, "file truncated: following it from its start")
					w.setDelivered(0)
				}
				// Same file: pick up where we were, after a pause so that a
				// tail that keeps failing does not spin.
				if err := sleep(ctx, w.src.poll); err != nil {
					return err
				}
				continue
			}
		}
		// Rotated or removed: read what is left of this inode, then move on.
		if err := w.drain(); err != nil {
			return err
		}
		if _, err := os.Stat(w.path); err != nil {
			w.gone = true
			w.mark(tailer.MarkRemoved, "file removed: waiting for it to come back")
		} else {
			w.mark(tailer.MarkRotated, "file rotated: following the new file from its start")
		}
		return errRotated
	}
}

// startTail starts nxadm/tail on a private duplicate of w.f at w.delivered.
func (w *follower) startTail() (*tail.Tail, string, int, error) {
	fd, err := syscall.Dup(int(w.f.Fd()))
	if err != nil {
		return nil, "", -1, fmt.Errorf("dup: %w", err)
	}
	name := fmt.Sprintf("/proc/self/fd/%d", fd)
	initWatch()
	t, err := tail.TailFile(name, tail.Config{
		Follow:        true,
		MustExist:     true,
		CompleteLines: true,
		// Pipe only skips the Tell (an lseek) the library makes before
		// every line and then discards; it changes nothing else.
		Pipe:     true,
		Location: &tail.SeekInfo{Offset: w.delivered, Whence: io.SeekStart},
		Logger:   tail.DiscardingLogger,
	})
	if err != nil {
		syscall.Close(fd)
		return nil, "", -1, fmt.Errorf("tail %s: %w", w.path, err)
	}
	return t, name, fd, nil
}

// stopTail stops t and closes its fd only once the library's inotify watch on
// name is gone, so that no later tail can be handed a watch that is about to be
// removed (nxadm/tail shares one watcher per process, keyed by name).
func stopTail(t *tail.Tail, name string, fd int) {
	_ = t.Stop()
	for range t.Lines {
	}
	deadline := time.Now().Add(5 * time.Second)
	for watch.Events(name) != nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // the library gives no event for this
	}
	syscall.Close(fd)
}

var watchOnce sync.Once

// initWatch starts nxadm/tail's shared watcher, so that watch.Events may be called.
func initWatch() {
	watchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "logviewer-watch")
		if err != nil {
			return
		}
		defer os.RemoveAll(dir)
		_ = watch.Watch(dir)
		_ = watch.RemoveWatch(dir)
	})
}

// consume delivers t's lines in verified batches and watches the path.
//
// It also watches the library: nxadm/tail adds its inotify watch only after
// reading to the end of the file, so a line written in between wakes nothing
// until the next write. When complete lines wait in the file and none arrived
// for a poll interval, the tail is restarted where it was.
func (w *follower) consume(ctx context.Context, t *tail.Tail) outcome {
	tick := time.NewTicker(w.src.poll)
	defer tick.Stop()
	wait := time.NewTimer(linger)
	defer wait.Stop()
	progress := time.Now()
	for {
		select {
		case <-ctx.Done():
			return cancelled
		case now := <-tick.C:
			if w.pathMoved() {
				return rotated
			}
			size := w.size()
			if size < w.delivered {
				return truncated
			}
			if size > w.delivered && now.Sub(progress) >= w.src.poll && w.lineWaiting(size) {
				return stalled
			}
		case ln, ok := <-t.Lines:
			if !ok {
				return ended
			}
			progress = time.Now()
			end := w.add(ln, w.delivered)
			wait.Reset(linger)
		collect:
			for len(w.batch) < maxBatch {
				select {
				case ln, ok = <-t.Lines:
					if !ok {
						break collect
					}
					end = w.add(ln, end)
				case <-wait.C:
					break collect
				case <-ctx.Done():
					return cancelled
				}
			}
			wait.Stop()
			if !w.verify(end) {
				w.batch = w.batch[:0]
				return truncated
			}
			w.commit(end)
			if !ok {
				return ended
			}
		}
	}
}

func (w *follower) add(ln *tail.Line, end int64) int64 {
	if ln.Err != nil {
		return end
	}
	end += int64(len(ln.Text)) + 1
	w.batch = append(w.batch, tailer.Line{File: w.ino, Offset: end, Text: ln.Text})
	return end
}

// verify checks that the inode still holds what was delivered and, at end,
// the batch's last line: otherwise the file was truncated and rewritten.
func (w *follower) verify(end int64) bool {
	if len(w.known) > 0 && !w.holds(w.delivered-int64(len(w.known)), w.known) {
		return false
	}
	if len(w.batch) == 0 {
		return true
	}
	last := w.batch[len(w.batch)-1].Text + "\n"
	if len(last) > knownLen {
		last = last[len(last)-knownLen:]
	}
	return w.holds(end-int64(len(last)), []byte(last))
}

// lineWaiting reports whether a complete line waits beyond w.delivered: a
// newline within the next 64 KiB, or more than that much data (then a
// restart is cheaper than finding out).
func (w *follower) lineWaiting(size int64) bool {
	if size-w.delivered > 64<<10 {
		return true
	}
	buf := make([]byte, size-w.delivered)
	n, _ := w.f.ReadAt(buf, w.delivered)
	return bytes.IndexByte(buf[:n], '\n') >= 0
}

func (w *follower) holds(off int64, want []byte) bool {
	if off < 0 {
		return false
	}
	if cap(w.check) < len(want) {
		w.check = make([]byte, knownLen)
	}
	got := w.check[:len(want)]
	n, _ := w.f.ReadAt(got, off)
	return n == len(want) && bytes.Equal(got, want)
}

// commit hands the batch to the sink and remembers its end.
func (w *follower) commit(end int64) {
	if len(w.batch) == 0 {
		return
	}
	w.remember()
	now := time.Now().UnixMilli()
	for i := range w.batch {
		w.batch[i].Time = now
		w.batch[i].Text = tailer.Clean(w.batch[i].Text, w.src.maxLine)
	}
	w.sink.Lines(w.batch)
	w.batch = w.batch[:0]
	w.delivered = end
}

// remember sets w.known to the last knownLen bytes of what was delivered
// through the end of the batch (before the lines are cleaned).
func (w *follower) remember() {
	var tail []byte
	for i := len(w.batch) - 1; i >= 0 && len(tail) < knownLen; i-- {
		tail = append(append([]byte(w.batch[i].Text), '\n'), tail...)
	}
	if len(tail) < knownLen {
		tail = append(append([]byte(nil), w.known...), tail...)
	}
	if len(tail) > knownLen {
		tail = tail[len(tail)-knownLen:]
	}
	w.known = append(w.known[:0], tail...)
}

// drain reads the rest of w.f from w.delivered, including a last line that
// has no newline (nobody will finish it: the file was rotated away).
func (w *follower) drain() error {
	r := bufio.NewReaderSize(io.NewSectionReader(w.f, w.delivered, 1<<62), 64<<10)
	end := w.delivered
	for {
		text, err := r.ReadString('\n')
		if len(text) > 0 {
			end += int64(len(text))
			w.batch = append(w.batch, tailer.Line{File: w.ino, Offset: end, Text: strings.TrimSuffix(text, "\n")})
			if len(w.batch) == 1024 {
				w.commit(end)
			}
		}
		if err == io.EOF {
			w.commit(end)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", w.path, err)
		}
	}
}

func (w *follower) mark(kind, text string) {
	w.sink.Lines([]tailer.Line{{Time: time.Now().UnixMilli(), File: w.ino, Offset: -1, Text: text, Mark: kind}})
}

// pathMoved reports whether the path no longer names the inode being followed.
func (w *follower) pathMoved() bool {
	st, err := os.Stat(w.path)
	return err != nil || inode(st) != w.ino
}

func (w *follower) size() int64 {
	st, err := w.f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
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
