package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/logviewer/logviewer/tailer"
)

// Harness describes the Source under test.
type Harness struct {
	// New returns a Source that serves the files matching globs, cutting
	// lines longer than maxLine bytes. The files live on this machine (a
	// remote Source reaches them through a server on loopback).
	New func(tb testing.TB, globs []string, maxLine int) tailer.Source
	// Timeout bounds every wait for an event (default 15s).
	Timeout time.Duration
	// Ignore lists goroutines that outlive a Follow by design (a shared
	// connection, say) for the leak check.
	Ignore []goleak.Option
	// TortureLines is how many lines the torture test writes (0: 60000) at
	// TortureRate lines/s (0: 20000).
	TortureLines, TortureRate int
}

// Run runs the contract suite against h's Source.
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 15 * time.Second
	}
	s := &suite{h: h}
	t.Run("LastN", s.lastN)
	t.Run("LastNMoreThanFile", s.lastNMoreThanFile)
	t.Run("EmptyFileThenAppend", s.emptyFile)
	t.Run("PartialLines", s.partialLines)
	t.Run("RenameRotation", s.renameRotation)
	t.Run("CopyTruncate", s.copyTruncate)
	t.Run("TruncateThenLargerWrite", s.truncateRefill)
	t.Run("DeleteRecreate", s.deleteRecreate)
	t.Run("LongAndBadLines", s.longAndBad)
	t.Run("List", s.list)
	t.Run("ListRefusesOutside", s.listRefusesOutside)
	t.Run("Cancel", s.cancel)
	t.Run("Torture", s.torture)
}

type suite struct{ h Harness }

// follow starts Follow in the background; the returned stop cancels it and
// checks that it returned context.Canceled in time.
func (s *suite) follow(t *testing.T, src tailer.Source, path string, n int) (*Sink, func()) {
	t.Helper()
	sink := NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Follow(ctx, path, n, sink) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Follow returned %v after cancel, want context.Canceled", err)
				}
			case <-time.After(s.h.Timeout):
				t.Errorf("Follow did not return within %s of cancel", s.h.Timeout)
			}
		})
	}
	t.Cleanup(stop)
	return sink, stop
}

func (s *suite) source(t *testing.T, dir string, maxLine int) tailer.Source {
	return s.h.New(t, []string{filepath.Join(dir, "*.log")}, maxLine)
}

// Append appends text to the file at path, creating it if needed.
func Append(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

func lines(text string) []string { return strings.Split(strings.TrimSuffix(text, "\n"), "\n") }

// waitExactly waits for the non-marker texts to equal want, failing at once
// on a text that is not a prefix of want.
func (s *suite) waitExactly(t *testing.T, sink *Sink, want []string) {
	t.Helper()
	var got []string
	sink.WaitFor(t, s.h.Timeout, fmt.Sprintf("%d lines ending %q", len(want), want[len(want)-1]), func(ls []tailer.Line, _ []tailer.State) bool {
		got = got[:0]
		for _, l := range ls {
			if l.Mark == "" {
				got = append(got, l.Text)
			}
		}
		if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
			return true // fail below
		}
		return len(got) == len(want)
	})
	if !slices.Equal(got, want) {
		t.Fatalf("got %d lines, want %d; first difference: %s", len(got), len(want), firstDiff(got, want))
	}
}

func (s *suite) lastN(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, numbered("line", 1, 10)+"par")
	sink, _ := s.follow(t, s.source(t, dir, 0), path, 3)
	s.waitExactly(t, sink, []string{"line 8", "line 9", "line 10"})
	Append(t, path, "tial\nline 12\n")
	s.waitExactly(t, sink, []string{"line 8", "line 9", "line 10", "partial", "line 12"})
	got, _ := sink.Snapshot()
	for i := 1; i < len(got); i++ {
		if got[i].Offset <= got[i-1].Offset || got[i].File != got[0].File {
			t.Fatalf("offsets not increasing within one file: %+v", got)
		}
	}
	if last := got[len(got)-1]; last.Offset != int64(len(numbered("line", 1, 10)+"partial\nline 12\n")) {
		t.Errorf("last offset %d, want the file size", last.Offset)
	}
}

func (s *suite) lastNMoreThanFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, numbered("line", 1, 5))
	sink, _ := s.follow(t, s.source(t, dir, 0), path, 100)
	s.waitExactly(t, sink, lines(numbered("line", 1, 5)))
}

func (s *suite) emptyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, "")
	sink, _ := s.follow(t, s.source(t, dir, 0), path, 10)
	sink.WaitState(t, s.h.Timeout, tailer.StateFollowing)
	Append(t, path, numbered("line", 1, 3))
	s.waitExactly(t, sink, lines(numbered("line", 1, 3)))
}

func (s *suite) partialLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, "")
	sink, _ := s.follow(t, s.source(t, dir, 0), path, 10)
	sink.WaitState(t, s.h.Timeout, tailer.StateFollowing)
	Append(t, path, "hel")
	Append(t, path, "lo\nwor")
	s.waitExactly(t, sink, []string{"hello"})
	Append(t, path, "ld\r\n")
	s.waitExactly(t, sink, []string{"hello", "world"})
}

func (s *suite) renameRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, numbered("old", 1, 5))
	sink, _ := s.follow(t, s.source(t, dir, 0), path, 5)
	s.waitExactly(t, sink, lines(numbered("old", 1, 5)))
	// Lines appended just before the rename must not be lost (nxadm/tail#73).
	Append(t, path, numbered("old", 6, 8))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	Append(t, path, numbered("new", 1, 3))
	s.waitExactly(t, sink, append(lines(numbered("old", 1, 8)), lines(numbered("new", 1, 3))...))
	// Markers sit between the old file's lines and the new file's, and the
	// last says the new file is followed (a "removed" may come first when the
	// rename was seen before the new file existed).
	got, _ := sink.Snapshot()
	oldEnd := slices.IndexFunc(got, func(l tailer.Line) bool { return l.Text == "old 8" })
	newStart := slices.IndexFunc(got, func(l tailer.Line) bool { return l.Text == "new 1" })
	between := got[oldEnd+1 : newStart]
	if len(between) == 0 || between[len(between)-1].Mark != tailer.MarkRotated {
		t.Fatalf("want a %q marker right before the new file's lines; got %+v", tailer.MarkRotated, between)
	}
	for _, l := range between {
		if l.Mark == "" {
			t.Fatalf("a file line %q between the old file's end and the new file's start", l.Text)
		}
	}
}

func (s *suite) copyTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, numbered("before", 1, 50))
	sink, _ := s.follow(t, s.source(t, dir, 0), path, 50)
	s.waitExactly(t, sink, lines(numbered("before", 1, 50)))
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	sink.WaitFor(t, s.h.Timeout, "truncated marker", func(ls []tailer.Line, _ []tailer.State) bool {
		return slices.ContainsFunc(ls, func(l tailer.Line) bool { return l.Mark == tailer.MarkTruncated })
	})
	Append(t, path, numbered("after", 1, 3))
	s.waitExactly(t, sink, append(lines(numbered("before", 1, 50)), lines(numbered("after", 1, 3))...))
}

// truncateRefill truncates and at once writes more than the file held, which
// size-based truncation detection misses (nxadm/tail#78).
func (s *suite) truncateRefill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, numbered("a", 1, 3))
	sink, _ := s.follow(t, s.source(t, dir, 0), path, 3)
	s.waitExactly(t, sink, lines(numbered("a", 1, 3)))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	refill := numbered("refilled line number", 1, 200)
	if _, err := f.WriteString(refill); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s.waitExactly(t, sink, append(lines(numbered("a", 1, 3)), lines(refill)...))
	if !slices.Contains(sink.Marks(), tailer.MarkTruncated) {
		t.Errorf("no truncated marker; marks %q", sink.Marks())
	}
}

func (s *suite) deleteRecreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, numbered("first", 1, 3))
	sink, _ := s.follow(t, s.source(t, dir, 0), path, 3)
	s.waitExactly(t, sink, lines(numbered("first", 1, 3)))
	Append(t, path, "first 4\n")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	sink.WaitFor(t, s.h.Timeout, "removed marker", func(ls []tailer.Line, _ []tailer.State) bool {
		return slices.ContainsFunc(ls, func(l tailer.Line) bool { return l.Mark == tailer.MarkRemoved })
	})
	Append(t, path, numbered("second", 1, 2))
	s.waitExactly(t, sink, append(lines(numbered("first", 1, 4)), lines(numbered("second", 1, 2))...))
	if marks := sink.Marks(); !slices.Equal(marks, []string{tailer.MarkRemoved, tailer.MarkRotated}) {
		t.Errorf("marks %q, want removed then rotated (re-created)", marks)
	}
}

func (s *suite) longAndBad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, "")
	sink, _ := s.follow(t, s.source(t, dir, 100), path, 10)
	sink.WaitState(t, s.h.Timeout, tailer.StateFollowing)
	long := strings.Repeat("x", 250_000)
	Append(t, path, long+"\nbad \xff\xfe bytes \x00 nul \x1b[31mred\x1b[0m\tend\nafter\n")
	sink.WaitTexts(t, s.h.Timeout, 3)
	got := sink.Texts()
	if !strings.HasPrefix(got[0], strings.Repeat("x", 100)+" … [") || !strings.Contains(got[0], "249900 more bytes cut") {
		t.Errorf("long line not cut with a marker: %.200q", got[0])
	}
	if want := "bad \ufffd\ufffd bytes ␀ nul \x1b[31mred\x1b[0m\tend"; got[1] != want {
		t.Errorf("cleaned line %q, want %q", got[1], want)
	}
	if got[2] != "after" {
		t.Errorf("line after a long one: %q", got[2])
	}
}

func (s *suite) list(t *testing.T) {
	dir := t.TempDir()
	src := s.source(t, dir, 0)
	old := time.Now().Add(-time.Hour)
	for i, name := range []string{"a.log", "b.log", "c.txt"} {
		p := filepath.Join(dir, name)
		Append(t, p, strings.Repeat("z", i+1))
		if err := os.Chtimes(p, old.Add(time.Duration(i)*time.Minute), old.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want ...string) {
		t.Helper()
		files, err := src.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range files {
			got = append(got, filepath.Base(f.Path))
			if f.ModTime.IsZero() || f.Size <= 0 {
				t.Errorf("%s: size %d mtime %v", f.Path, f.Size, f.ModTime)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("List = %q, want %q (newest first)", got, want)
		}
	}
	check("b.log", "a.log")
	Append(t, filepath.Join(dir, "d.log"), "new\n")
	check("d.log", "b.log", "a.log")
}

// listRefusesOutside: a symlink that matches the glob but resolves outside it
// is not listed, and so can never be followed.
func (s *suite) listRefusesOutside(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	Append(t, filepath.Join(outside, "secret.log"), "secret\n")
	Append(t, filepath.Join(dir, "ok.log"), "ok\n")
	if err := os.Symlink(filepath.Join(outside, "secret.log"), filepath.Join(dir, "escape.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "ok.log"), filepath.Join(dir, "inside.log")); err != nil {
		t.Fatal(err)
	}
	files, err := s.source(t, dir, 0).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f.Path))
	}
	if slices.Contains(got, "escape.log") || !slices.Contains(got, "ok.log") || len(got) != 1 {
		t.Errorf("List = %q: want only ok.log (escape.log resolves outside; inside.log is ok.log again)", got)
	}
}

func (s *suite) cancel(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, numbered("line", 1, 3))
	src := s.source(t, dir, 0)
	// Warm up whatever a Source shares between follows (connections, watchers).
	warm, stopWarm := s.follow(t, src, path, 1)
	warm.WaitTexts(t, s.h.Timeout, 1)
	stopWarm()
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, s.h.Ignore...)
	for i := range 3 {
		sink, stop := s.follow(t, src, path, 1)
		sink.WaitTexts(t, s.h.Timeout, 1)
		Append(t, path, fmt.Sprintf("more %d\n", i))
		sink.WaitTexts(t, s.h.Timeout, 2)
		stop()
	}
	// A follow that is waiting for its file to appear ends too.
	sink, stop := s.follow(t, src, filepath.Join(dir, "missing.log"), 1)
	sink.WaitState(t, s.h.Timeout, tailer.StateWaiting)
	stop()
	if err := goleak.Find(opts...); err != nil {
		t.Fatalf("goroutines left after Follow returned: %v", err)
	}
}

// torture appends numbered lines at TortureRate lines/s while the file is
// renamed away, truncated in place, and deleted and re-created, over and over.
// Every line must arrive exactly once and in order, except lines written
// before a truncation that had not been read when it happened.
//
// The writer never waits, but it makes the next change of file only once the
// Source has reported the last one (each yields a rotated or truncated
// marker): two renames within one poll of the path would make any follower
// skip the file in between, which is a limit of polling, not a lost line.
func (s *suite) torture(t *testing.T) {
	total, rate := s.h.TortureLines, s.h.TortureRate
	if total == 0 {
		total = 60000
	}
	if rate == 0 {
		rate = 20000
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	Append(t, path, "")
	sink, _ := s.follow(t, s.source(t, dir, 0), path, 0)
	sink.WaitState(t, s.h.Timeout, tailer.StateFollowing)

	type window struct{ from, to int } // seqs that may be lost: [from, to]
	var mayLose []window
	var opCounts [3]int
	pad := strings.Repeat("p", 80)
	opEvery := total / 12
	start := time.Now()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	lastOp := 0
	for seq := 1; seq <= total; {
		b.Reset()
		for end := min(seq+20, total+1); seq < end; seq++ {
			fmt.Fprintf(&b, "L%08d %s\n", seq, pad)
		}
		if _, err := f.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
		written := seq - 1
		noticed := sink.MarkCount(tailer.MarkRotated, tailer.MarkTruncated) >= opCounts[0]+opCounts[1]+opCounts[2]
		if written/opEvery != lastOp/opEvery && written < total && noticed {
			// The kinds take turns, so that a slow Source (one that makes
			// the writer skip turns) still meets every kind.
			op := (opCounts[0] + opCounts[1] + opCounts[2]) % 3
			opCounts[op]++
			switch op {
			case 0: // logrotate's default: rename, create a new file
				f.Close()
				if err := os.Rename(path, fmt.Sprintf("%s.%d", path, written)); err != nil {
					t.Fatal(err)
				}
				f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			case 1: // copytruncate: the writer keeps its O_APPEND descriptor
				mayLose = append(mayLose, window{lastOp + 1, written})
				err = os.Truncate(path, 0)
			case 2: // delete and re-create
				f.Close()
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			lastOp = written
		}
		// Pace the writer to the target rate.
		if ahead := time.Until(start.Add(time.Duration(written) * time.Second / time.Duration(rate))); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	f.Close()
	elapsed := time.Since(start)
	achieved := float64(total) / elapsed.Seconds()
	t.Logf("wrote %d lines in %s (%.0f lines/s); renames %d, truncations %d, delete+create %d",
		total, elapsed.Round(time.Millisecond), achieved, opCounts[0], opCounts[1], opCounts[2])
	if achieved < 10000 {
		t.Fatalf("the writer managed only %.0f lines/s; the test wants at least 10000", achieved)
	}
	if opCounts[0] == 0 || opCounts[1] == 0 || opCounts[2] == 0 {
		t.Fatalf("the Source noticed changes of file too slowly for every kind to happen: %v", opCounts)
	}
	last := fmt.Sprintf("L%08d %s", total, pad)
	sink.WaitFor(t, 4*s.h.Timeout, "the last line", func(ls []tailer.Line, _ []tailer.State) bool {
		for i := len(ls) - 1; i >= 0 && i >= len(ls)-3; i-- {
			if ls[i].Text == last {
				return true
			}
		}
		return false
	})
	got := sink.Texts()
	seen := make([]bool, total+1)
	prev := 0
	for _, text := range got {
		n, err := strconv.Atoi(strings.TrimPrefix(strings.Fields(text)[0], "L"))
		if err != nil || n < 1 || n > total || !strings.HasSuffix(text, pad) {
			t.Fatalf("garbled line %.120q", text)
		}
		if n <= prev {
			t.Fatalf("line %d arrived after line %d: duplicate or out of order", n, prev)
		}
		prev = n
		seen[n] = true
	}
	lost, excused := 0, 0
	for n := 1; n <= total; n++ {
		if seen[n] {
			continue
		}
		if slices.ContainsFunc(mayLose, func(w window) bool { return n >= w.from && n <= w.to }) {
			excused++
			continue
		}
		lost++
		if lost <= 5 {
			t.Errorf("line %d was lost", n)
		}
	}
	if lost > 0 {
		t.Fatalf("%d lines lost (%d more were written before a truncation and not read in time, which is allowed)", lost, excused)
	}
	// Within a truncation's window only a tail can be missing: the lines not
	// yet read when the file was cut. A hole followed by received lines would
	// be a real loss.
	for _, w := range mayLose {
		for n := w.from; n < w.to; n++ {
			if !seen[n] && seen[n+1] {
				t.Fatalf("line %d is missing but line %d, written after it and before the truncation, arrived", n, n+1)
			}
		}
	}
	marks := sink.Marks()
	t.Logf("received %d lines; %d written before a truncation were not read in time; marks: %d rotated, %d truncated, %d removed",
		len(got), excused, count(marks, tailer.MarkRotated), count(marks, tailer.MarkTruncated), count(marks, tailer.MarkRemoved))
	if count(marks, tailer.MarkRotated) < opCounts[0] || count(marks, tailer.MarkTruncated) < 1 {
		t.Errorf("markers %q do not show every rotation (%d renames) and a truncation", marks, opCounts[0])
	}
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("line %d is %q, want %q", i, got[i], want[i])
		}
	}
	if len(got) > len(want) {
		return fmt.Sprintf("extra line %q", got[len(want)])
	}
	return fmt.Sprintf("missing line %q", want[len(got)])
}
