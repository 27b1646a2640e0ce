package sourcetest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logviewer/logviewer/tailer"
)

// RunHardening runs the tests of what a Source must refuse and survive
// (issues 8 and 9): symlinks swapped in for a followed file, FIFOs and
// devices, directory symlinks that leave a multi-level glob, an unterminated
// line of 50 MiB, and a copytruncate that truncates lines before they were
// read (which must come from the rotated copy, or be reported as skipped).
// It is separate from Run so that a Source can adopt it when it is ready.
func RunHardening(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 15 * time.Second
	}
	s := &suite{h: h}
	t.Run("SymlinkSwappedIn", s.symlinkSwappedIn)
	t.Run("SymlinkSwapRace", s.symlinkSwapRace)
	t.Run("FIFOAtPath", s.fifoAtPath)
	t.Run("FIFOSwappedIn", s.fifoSwappedIn)
	t.Run("DeviceRefused", s.deviceRefused)
	t.Run("DirSymlinkEscape", s.dirSymlinkEscape)
	t.Run("LongUnterminatedLine", s.longUnterminated)
	t.Run("TruncatedReadFromCopy", func(t *testing.T) { s.truncatedBehind(t, "plain") })
	t.Run("TruncatedReadFromGzipCopy", func(t *testing.T) { s.truncatedBehind(t, "gzip") })
	t.Run("TruncatedNoCopySaysSkipped", func(t *testing.T) { s.truncatedBehind(t, "none") })
}

const secret = "SECRET-must-never-be-shown"

// noSecret fails t if any line sink received holds the secret.
func noSecret(t *testing.T, sink *Sink) {
	t.Helper()
	lines, _ := sink.Snapshot()
	for _, l := range lines {
		if strings.Contains(l.Text, "SECRET") {
			t.Fatalf("a line from outside the globs reached the sink: %.100q", l.Text)
		}
	}
}

// waitError waits for a StateError state after the first `after` states.
func waitError(t *testing.T, sink *Sink, timeout time.Duration, after int) tailer.State {
	t.Helper()
	var got tailer.State
	sink.WaitFor(t, timeout, "an error state", func(_ []tailer.Line, states []tailer.State) bool {
		for _, st := range states[min(after, len(states)):] {
			if st.Code == tailer.StateError {
				got = st
				return true
			}
		}
		return false
	})
	return got
}

func numStates(sink *Sink) int { _, st := sink.Snapshot(); return len(st) }

// swapIn renames a new name (symlink, FIFO or file made by mk at a temporary
// name) over path, as `mv -T` does.
func swapIn(t testing.TB, path string, mk func(tmp string) error) {
	t.Helper()
	tmp := path + ".tmp" + strconv.Itoa(int(time.Now().UnixNano()%1e9))
	if err := mk(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func regularFile(text string) func(string) error {
	return func(tmp string) error { return os.WriteFile(tmp, []byte(text), 0o644) }
}

func symlinkTo(target string) func(string) error {
	return func(tmp string) error { return os.Symlink(target, tmp) }
}

func fifo(tmp string) error { return syscall.Mkfifo(tmp, 0o644) }

// symlinkSwappedIn: the followed file is replaced by a symlink to a file
// outside the globs; the Source must refuse it (an error state), not read a
// byte of it, and follow the path again once it is a regular file.
func (s *suite) symlinkSwappedIn(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "rot.log")
	Append(t, filepath.Join(outside, "secret"), secret+" 1\n")
	Append(t, path, "ok 1\n")
	sink, stop := s.follow(t, s.source(t, dir, 0), path, 10)
	s.waitExactly(t, sink, []string{"ok 1"})
	before := numStates(sink)
	swapIn(t, path, symlinkTo(filepath.Join(outside, "secret")))
	st := waitError(t, sink, s.h.Timeout, before)
	Append(t, filepath.Join(outside, "secret"), secret+" 2\n")
	swapIn(t, path, regularFile("ok 2\n"))
	s.waitExactly(t, sink, []string{"ok 1", "ok 2"})
	stop()
	noSecret(t, sink)
	t.Logf("refused with: %s", st.Msg)
}

// symlinkSwapRace swaps a symlink to an outside file and a regular file over
// the followed path in a tight loop while one viewer follows it and many
// fresh follows start: no byte from outside may ever reach a sink.
func (s *suite) symlinkSwapRace(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "rot.log")
	Append(t, filepath.Join(outside, "secret"), strings.Repeat(secret+"\n", 1000))
	Append(t, path, "ok 0\n")
	src := s.source(t, dir, 0)
	main, _ := s.follow(t, src, path, 10)
	main.WaitTexts(t, s.h.Timeout, 1)

	// Swap for a second (at most 3000 times), with a fresh follow started
	// every 10 swaps: each opens the path at once, whatever it is then.
	const maxSwaps, freshEvery = 3000, 10
	var sinks []*Sink
	stopFresh := func() {}
	swaps := 0
	for end := time.Now().Add(time.Second); swaps < maxSwaps && time.Now().Before(end); {
		swaps++
		if swaps%freshEvery == 0 {
			stopFresh()
			var sink *Sink
			sink, stopFresh = s.follow(t, src, path, 5)
			sinks = append(sinks, sink)
		}
		swapIn(t, path, symlinkTo(filepath.Join(outside, "secret")))
		swapIn(t, path, regularFile(fmt.Sprintf("ok %d\n", swaps)))
	}
	stopFresh()
	main.WaitFor(t, s.h.Timeout, "the last file's line", func(ls []tailer.Line, _ []tailer.State) bool {
		return slices.ContainsFunc(ls, func(l tailer.Line) bool { return l.Text == fmt.Sprintf("ok %d", swaps) })
	})
	noSecret(t, main)
	for _, sink := range sinks {
		noSecret(t, sink)
	}
	opened := 0
	for _, sink := range sinks {
		opened += len(sink.Texts())
	}
	t.Logf("%d swaps; the viewer saw %d of the regular files; %d fresh follows read %d lines", swaps, len(main.Texts()), len(sinks), opened)
}

// fifoAtPath: a FIFO matching the globs is neither listed nor accepted by
// Check, and following it reports an error and ends promptly on cancel
// (opening a FIFO for reading blocks until a writer comes).
func (s *suite) fifoAtPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pipe.log")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	src := s.source(t, dir, 0)
	if err := src.Check(context.Background(), path); !errors.Is(err, tailer.ErrNotListed) {
		t.Errorf("Check(FIFO) = %v, want ErrNotListed", err)
	}
	if files, err := src.List(context.Background()); err != nil || len(files) != 0 {
		t.Errorf("List = %v, %v; want no file", files, err)
	}
	sink, stop := s.follow(t, src, path, 10)
	waitError(t, sink, s.h.Timeout, 0)
	stopPromptly(t, stop)
}

// stopPromptly cancels a follow and fails t unless it returned within 2s.
func stopPromptly(t *testing.T, stop func()) {
	t.Helper()
	start := time.Now()
	stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Follow took %s to return after cancel", d)
	}
}

// fifoSwappedIn: a FIFO renamed over the followed file is refused, the
// Source keeps polling, follows a regular file renamed back, and returns
// promptly on cancel while the FIFO is there.
func (s *suite) fifoSwappedIn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, "one\n")
	sink, stop := s.follow(t, s.source(t, dir, 0), path, 10)
	s.waitExactly(t, sink, []string{"one"})
	before := numStates(sink)
	swapIn(t, path, fifo)
	waitError(t, sink, s.h.Timeout, before)
	swapIn(t, path, regularFile("two\n"))
	s.waitExactly(t, sink, []string{"one", "two"})
	before = numStates(sink)
	swapIn(t, path, fifo)
	waitError(t, sink, s.h.Timeout, before)
	stopPromptly(t, stop)
}

// deviceRefused: a symlink to /dev/zero is not listed and not followed, even
// with a glob that names /dev/zero itself (it is not a regular file).
func (s *suite) deviceRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zero.log")
	if err := os.Symlink("/dev/zero", path); err != nil {
		t.Fatal(err)
	}
	for _, globs := range [][]string{{filepath.Join(dir, "*.log")}, {filepath.Join(dir, "*.log"), "/dev/zero"}} {
		src := s.h.New(t, globs, 0)
		if err := src.Check(context.Background(), path); !errors.Is(err, tailer.ErrNotListed) {
			t.Errorf("globs %q: Check(symlink to /dev/zero) = %v, want ErrNotListed", globs, err)
		}
		if files, err := src.List(context.Background()); err != nil || len(files) != 0 {
			t.Errorf("globs %q: List = %v, %v; want no file", globs, files, err)
		}
		sink, stop := s.follow(t, src, path, 10)
		waitError(t, sink, s.h.Timeout, 0)
		stopPromptly(t, stop)
		if texts := sink.Texts(); len(texts) != 0 {
			t.Errorf("globs %q: read %d lines from /dev/zero", globs, len(texts))
		}
	}
}

// dirSymlinkEscape: with a glob of two levels (dir/*/*.log), a directory
// symlink inside dir that points outside must not make outside files
// listable, checkable or followable; one that points inside stays usable.
func (s *suite) dirSymlinkEscape(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	Append(t, filepath.Join(outside, "x.log"), secret+"\n")
	if err := os.Mkdir(filepath.Join(dir, "good"), 0o755); err != nil {
		t.Fatal(err)
	}
	Append(t, filepath.Join(dir, "good", "x.log"), "good\n")
	if err := os.Symlink(outside, filepath.Join(dir, "evil.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "good"), filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	src := s.h.New(t, []string{filepath.Join(dir, "*", "*.log")}, 0)
	files, err := src.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, strings.TrimPrefix(f.Path, dir+"/"))
	}
	if !slices.Equal(got, []string{"good/x.log"}) {
		t.Errorf("List = %q, want only good/x.log (evil.log/x.log resolves outside; alias/x.log is good/x.log again)", got)
	}
	evil := filepath.Join(dir, "evil.log", "x.log")
	if err := src.Check(context.Background(), evil); !errors.Is(err, tailer.ErrNotListed) {
		t.Errorf("Check(%s) = %v, want ErrNotListed", evil, err)
	}
	if err := src.Check(context.Background(), filepath.Join(dir, "alias", "x.log")); err != nil {
		t.Errorf("Check(alias/x.log) = %v, want it allowed (it resolves inside)", err)
	}
	sink, stop := s.follow(t, src, evil, 10)
	waitError(t, sink, s.h.Timeout, 0)
	stopPromptly(t, stop)
	noSecret(t, sink)

	// A directory that is swapped for a symlink to outside while its file
	// is followed.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	followed := filepath.Join(dir, "sub", "x.log")
	Append(t, followed, "sub 1\n")
	sink, stop = s.follow(t, src, followed, 10)
	s.waitExactly(t, sink, []string{"sub 1"})
	before := numStates(sink)
	if err := os.Rename(filepath.Join(dir, "sub"), filepath.Join(dir, "sub.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	waitError(t, sink, s.h.Timeout, before)
	stopPromptly(t, stop)
	noSecret(t, sink)
}

// longUnterminated: 50 MiB without a newline must not be held: the line is
// delivered cut once it ends, and the heap never grows by anything like its
// size meanwhile.
func (s *suite) longUnterminated(t *testing.T) {
	const size = 50 << 20
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, "")
	sink, stop := s.follow(t, s.source(t, dir, 1000), path, 10)
	sink.WaitState(t, s.h.Timeout, tailer.StateFollowing)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	sampled := make(chan struct{})
	quit := make(chan struct{})
	go func() { // sample the heap while the line is written and read
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("A"), 1<<20)
	for range size >> 20 {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteString("\nafter\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sink.WaitTexts(t, 2*s.h.Timeout, 2)
	close(quit)
	<-sampled
	stop()
	got := sink.Texts()
	if want := strings.Repeat("A", 1000) + " … [" + strconv.Itoa(size-1000) + " more bytes cut]"; got[0] != want {
		t.Errorf("the long line was delivered as %.60q… (%d bytes), want its first 1000 bytes and the count of the rest", got[0], len(got[0]))
	}
	if got[1] != "after" {
		t.Errorf("the line after it: %q", got[1])
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("heap grew by at most %.1f MiB while a %d MiB line was read", float64(grew)/(1<<20), size>>20)
	if grew > size/2 {
		t.Errorf("the heap grew by %.1f MiB while a %d MiB line without newline was read: the line is being held", float64(grew)/(1<<20), size>>20)
	}
}

var skippedBytes = regexp.MustCompile(`\d+`)

// truncatedBehind: the file holds 2 MiB of lines when it is followed from
// its start; while the Source delivers its first lines, the file is copied
// (as `copy`: "plain" to app.log.1, "gzip" to app.log.1.gz, "none": no copy)
// and truncated, and new lines are written. With a copy, every old line must
// arrive from it, in order, then the new lines; without, the old lines
// delivered must be followed by a skipped marker that says how many bytes
// were not read, then the new lines.
func (s *suite) truncatedBehind(t *testing.T, copy string) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	old := numbered("old line, padded to look like a log line with some detail", 1, 25000)
	Append(t, path, old)
	g := NewGate()
	blocked := g.Hold()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.source(t, dir, 0).Follow(ctx, path, 1<<20, g) }()
	defer func() {
		g.Release() // a test that failed while holding the Source
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Follow returned %v, want context.Canceled", err)
		}
	}()
	select {
	case <-blocked:
	case <-time.After(s.h.Timeout):
		g.Release()
		t.Fatal("no lines delivered")
	}
	switch copy {
	case "plain":
		if err := os.WriteFile(path+".1", []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
	case "gzip":
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(old))
		zw.Close()
		if err := os.WriteFile(path+".1.gz", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	Append(t, path, numbered("new", 1, 3))
	g.Release()

	newLines := lines(numbered("new", 1, 3))
	g.WaitFor(t, s.h.Timeout, "the new lines", func(ls []tailer.Line, _ []tailer.State) bool {
		return len(ls) > 0 && ls[len(ls)-1].Text == newLines[len(newLines)-1]
	})
	texts := g.Texts()
	oldLines := lines(old)
	if copy != "none" {
		if want := append(slices.Clone(oldLines), newLines...); !slices.Equal(texts, want) {
			t.Fatalf("got %d lines, want all %d old ones then the new ones; first difference: %s", len(texts), len(want), firstDiff(texts, want))
		}
		if n := g.MarkCount(tailer.MarkSkipped); n != 0 {
			t.Errorf("%d skipped markers, though every old line was read from the copy", n)
		}
		if g.MarkCount(tailer.MarkTruncated) != 1 {
			t.Errorf("marks %q, want one truncated", g.Marks())
		}
		return
	}
	got := len(texts) - len(newLines)
	if got <= 0 || got >= len(oldLines) || !slices.Equal(texts[:got], oldLines[:got]) || !slices.Equal(texts[got:], newLines) {
		t.Fatalf("got %d lines; want a prefix of the old lines, then the new ones", len(texts))
	}
	all, _ := g.Snapshot()
	i := slices.IndexFunc(all, func(l tailer.Line) bool { return l.Mark == tailer.MarkSkipped })
	if i < 0 {
		t.Fatalf("no skipped marker; marks %q", g.Marks())
	}
	read := int64(len(strings.Join(oldLines[:got], "\n")) + 1)
	n, _ := strconv.ParseInt(skippedBytes.FindString(all[i].Text), 10, 64)
	if read+n != int64(len(old)) {
		t.Errorf("skipped marker %q: %d bytes read + %d skipped, want the %d bytes the file held", all[i].Text, read, n, len(old))
	}
}
