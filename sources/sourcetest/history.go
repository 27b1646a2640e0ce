package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logviewer/logviewer/tailer"
)

// This file tests a Source's history (tailer.HistorySource) the way a
// viewer uses it: a Follow delivers the live lines (the ring) while the real
// logrotate rotates the file; then the history is paged back from the
// oldest line the viewer holds, and must give every line before it exactly
// once, in order, through the rotated and compressed files, with the very
// positions the follower gave the same lines. Local and SSH sources run it:
//
//	sourcetest.RunHistoryLogrotate(t, sourcetest.HistoryRun{New: …, Directives: …})

// StampedLine is the text of test line n: its own time (10 ms apart), its
// number, and padding of n%40 bytes so that files differ in length.
func StampedLine(n int) string {
	ts := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * 10 * time.Millisecond)
	return fmt.Sprintf("%s n=%07d %s", ts.Format("2006-01-02T15:04:05.000Z"), n, strings.Repeat("p", n%40))
}

// StampedNumber returns the number of a StampedLine, or 0.
func StampedNumber(s string) int {
	i := strings.Index(s, " n=")
	if i < 0 || len(s) < i+10 {
		return 0
	}
	n, err := strconv.Atoi(s[i+3 : i+10])
	if err != nil || s != StampedLine(n) {
		return 0
	}
	return n
}

// AppendStamped appends lines from..to (StampedLine) to path in one write.
func AppendStamped(tb testing.TB, path string, from, to int) {
	tb.Helper()
	var b strings.Builder
	for n := from; n <= to; n++ {
		b.WriteString(StampedLine(n))
		b.WriteByte('\n')
	}
	Append(tb, path, b.String())
}

// PageBack asks h for older lines from before (text: the text of the line
// there, or "") n at a time until More is false, and returns them oldest
// first, with the pages in the order they came.
func PageBack(tb testing.TB, ctx context.Context, h tailer.History, before tailer.Position, text string, n int) ([]tailer.Line, []tailer.OlderPage) {
	tb.Helper()
	var out []tailer.Line
	var pages []tailer.OlderPage
	for req := 0; ; req++ {
		if req > 100000 {
			tb.Fatal("older never ends")
		}
		page, err := h.Older(ctx, tailer.OlderRequest{Before: before, BeforeText: text, N: n})
		if err != nil {
			tb.Fatalf("older request %d before %v: %v", req, before, err)
		}
		if len(page.Lines) > n {
			tb.Fatalf("%d lines for n=%d", len(page.Lines), n)
		}
		pages = append(pages, page)
		out = append(append([]tailer.Line(nil), page.Lines...), out...)
		if !page.More {
			return out, pages
		}
		if page.Next == before {
			tb.Fatalf("request %d: next %v is where it started", req, page.Next)
		}
		before, text = page.Next, ""
	}
}

// CheckNumbered fails tb unless lines are StampedLines 1..total in order,
// each once.
func CheckNumbered(tb testing.TB, what string, lines []tailer.Line, total int) {
	tb.Helper()
	for i, l := range lines {
		if n := StampedNumber(l.Text); n != i+1 {
			tb.Fatalf("%s: line %d is %.60q, want n=%d (a hole, a duplicate or a stranger)", what, i, l.Text, i+1)
		}
	}
	if len(lines) != total {
		tb.Fatalf("%s: %d lines, want %d", what, len(lines), total)
	}
}

// HistoryRun is one history test with the real logrotate.
type HistoryRun struct {
	// New returns the Source under test, for files matching globs; it must
	// implement tailer.HistorySource.
	New        func(tb testing.TB, globs []string) tailer.Source
	Directives []string      // logrotate's ("create", "compress", …)
	Rotations  int           // logrotate runs
	Every      time.Duration // pause before each run after the first (dateext names have whole seconds)
	PerFile    int           // lines written before the first run and after each (default 2000)
	Timeout    time.Duration // for each wait (default 15s)
}

// RunHistoryLogrotate writes PerFile lines, follows the file with replay
// 100, and has logrotate rotate it Rotations times, PerFile more lines after
// each run, waiting for the follower to deliver each batch. Then:
//
//   - from the first line the follower delivered (now in a rotated, maybe
//     compressed file), the history pages back to the first line ever
//     written, and with the delivered lines makes every line exactly once,
//     in order;
//   - a new History, from the end of the live file, pages back through every
//     file: every line once, in order, and every file of the chain named;
//     the lines of the live file and of the newest rotated one (plain, with
//     delaycompress) have the positions the follower gave them.
func RunHistoryLogrotate(t *testing.T, r HistoryRun) {
	bin := RequireLogrotate(t)
	if r.PerFile == 0 {
		r.PerFile = 2000
	}
	if r.Timeout == 0 {
		r.Timeout = 15 * time.Second
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	lr := NewLogrotate(t, bin, path, r.Directives...)
	AppendStamped(t, path, 1, r.PerFile)
	src := r.New(t, []string{filepath.Join(dir, "*.log")})
	hs, ok := src.(tailer.HistorySource)
	if !ok {
		t.Fatalf("%T is not a tailer.HistorySource", src)
	}
	sink := NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Follow(ctx, path, 100, sink) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Follow returned %v, want context.Canceled", err)
			}
		case <-time.After(r.Timeout):
			t.Errorf("Follow did not return within %s of cancel", r.Timeout)
		}
	}()
	waitLine := func(n int) {
		want := StampedLine(n)
		sink.WaitFor(t, r.Timeout, fmt.Sprintf("line %d", n), func(ls []tailer.Line, _ []tailer.State) bool {
			return len(ls) > 0 && ls[len(ls)-1].Text == want
		})
	}
	waitLine(r.PerFile)
	total := r.PerFile
	for i := range r.Rotations {
		if i > 0 && r.Every > 0 {
			time.Sleep(r.Every) // logrotate's dateext names have whole seconds: not a synchronisation
		}
		lr.Rotate(t)
		AppendStamped(t, path, total+1, total+r.PerFile)
		total += r.PerFile
		waitLine(total)
	}
	if n := len(Siblings(t, path)); n != r.Rotations+1 {
		t.Fatalf("%d files, want %d", n, r.Rotations+1)
	}
	got, _ := sink.Snapshot()
	var held []tailer.Line
	for _, l := range got {
		if l.Mark == "" {
			held = append(held, l)
		}
	}
	if len(held) == 0 || StampedNumber(held[0].Text) != r.PerFile-99 {
		t.Fatalf("the follower's first line is not n=%d (replay 100): %d lines", r.PerFile-99, len(held))
	}

	hctx, hcancel := context.WithTimeout(context.Background(), 10*r.Timeout)
	defer hcancel()
	h, err := hs.History(hctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Pin(hctx, held[:8]); err != nil {
		t.Fatal(err)
	}
	first, _ := held[0].Pos()
	start := time.Now()
	older, pages := PageBack(t, hctx, h, first, held[0].Text, 500)
	CheckNumbered(t, "older lines and the delivered ones", append(older, held...), total)
	t.Logf("paged back %d lines in %d pages (%s) from the follower's first line", len(older), len(pages), time.Since(start).Round(time.Millisecond))

	h2, err := hs.History(hctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	start = time.Now()
	all, pages := PageBack(t, hctx, h2, tailer.Position{}, "", 700)
	CheckNumbered(t, "history from the live end", all, total)
	t.Logf("paged back all %d lines in %d pages (%s)", len(all), len(pages), time.Since(start).Round(time.Millisecond))
	// The live file and the newest rotated one (plain: delaycompress) are
	// the inodes the follower read; a compressed file is a new inode.
	same := 0
	for _, l := range held {
		if n := StampedNumber(l.Text); n > total-2*r.PerFile {
			if got, want := posOf(all[n-1]), posOf(l); got != want {
				t.Fatalf("line %d: history position %v, the follower's %v", n, got, want)
			}
			same++
		}
	}
	if same != 2*r.PerFile {
		t.Fatalf("%d lines compared with the follower's positions, want %d", same, 2*r.PerFile)
	}
	files := map[string]bool{}
	for _, p := range pages {
		files[p.File] = true
	}
	if len(files) != r.Rotations+1 {
		t.Errorf("pages name files %v, want %d files", files, r.Rotations+1)
	}
}

func posOf(l tailer.Line) tailer.Position {
	p, _ := l.Pos()
	return p
}
