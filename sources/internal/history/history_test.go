package history

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logviewer/logviewer/filter"
	"github.com/logviewer/logviewer/sources/internal/rotation"
	"github.com/logviewer/logviewer/tailer"
)

// fixture writes numbered lines L000001… into a chain of files, oldest
// first, and returns the directory and the number of lines.
func fixture(t *testing.T, names []string, per int) (string, int) {
	t.Helper()
	dir := t.TempDir()
	n := 0
	for i := len(names) - 1; i >= 0; i-- {
		var b bytes.Buffer
		for range per {
			n++
			fmt.Fprintf(&b, "%s L%06d %s\n", fixtureTime(n).Format("2006-01-02T15:04:05Z"), n, strings.Repeat("x", n%50))
		}
		data := b.Bytes()
		if strings.HasSuffix(names[i], ".gz") {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(data)
			zw.Close()
			data = z.Bytes()
		}
		if err := os.WriteFile(filepath.Join(dir, names[i]), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, n
}

// pageAll pages back from the live end with n lines a request and returns
// the numbers of the lines seen, newest first.
func pageAll(t *testing.T, r *Reader, n int, keep *filter.Filter, budget int64) []int {
	t.Helper()
	var got []int
	before := tailer.Position{}
	for req := 0; ; req++ {
		if req > 100000 {
			t.Fatal("no end")
		}
		page, err := r.Older(context.Background(), tailer.OlderRequest{Before: before, N: n, Budget: budget, Keep: keep.KeepFunc(), Key: keep.Key()})
		if err != nil {
			t.Fatalf("request %d (before %v): %v", req, before, err)
		}
		if len(page.Lines) > n {
			t.Fatalf("got %d lines, asked for %d", len(page.Lines), n)
		}
		for i := len(page.Lines) - 1; i >= 0; i-- {
			var k int
			fmt.Sscanf(page.Lines[i].Text[21:], "L%06d", &k)
			got = append(got, k)
			if page.Lines[i].Time == 0 {
				t.Fatalf("line %q: no time", page.Lines[i].Text)
			}
		}
		if !page.More {
			return got
		}
		before = page.Next
	}
}

func TestOlderChain(t *testing.T) {
	names := []string{"app.log", "app.log.1", "app.log.2.gz", "app.log.3.gz", "app.log-20261126", "app.log-20261125.gz"}
	dir, total := fixture(t, names, 997)
	// Not part of the chain: other names, and a symlink to a file outside.
	os.WriteFile(filepath.Join(dir, "app.log.bak"), []byte("2026-11-28T08:00:00Z L999999 bak\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.log-error.log"), []byte("2026-11-28T08:00:00Z L999998 other\n"), 0o644)
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("2026-11-28T08:00:00Z L999997 secret\n"), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "app.log.4")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		n      int
		window int
		budget int64
	}{
		{"n=500", 500, 4 << 20, 0},
		{"n=7 small window", 7, 4096, 0},
		{"n=1", 1, 1 << 20, 0},
		{"small budget", 50, 8192, 10000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := windowBytes
			windowBytes = tc.window
			defer func() { windowBytes = old }()
			r := New(rotation.OS{}, dir, "app.log", 1000)
			defer r.Close()
			got := pageAll(t, r, tc.n, nil, tc.budget)
			if len(got) != total {
				t.Fatalf("got %d lines, want %d", len(got), total)
			}
			for i, k := range got {
				if k != total-i {
					t.Fatalf("line %d of the page-back is L%06d, want L%06d", i, k, total-i)
				}
			}
		})
	}
	t.Run("filter", func(t *testing.T) {
		f, err := filter.Compile(filter.Spec{Text: `L\d*7 `, Regex: true})
		if err != nil {
			t.Fatal(err)
		}
		old := windowBytes
		windowBytes = 4096
		defer func() { windowBytes = old }()
		r := New(rotation.OS{}, dir, "app.log", 1000)
		defer r.Close()
		got := pageAll(t, r, 13, f, 20000)
		var want []int
		for k := total; k > 0; k-- {
			if k%10 == 7 {
				want = append(want, k)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %d matches, want %d\n%v", len(got), len(want), got[:min(20, len(got))])
		}
	})
}

func TestOlderSkipsTheBeforeLine(t *testing.T) {
	dir, _ := fixture(t, []string{"app.log", "app.log.1.gz"}, 10)
	r := New(rotation.OS{}, dir, "app.log", 1000)
	defer r.Close()
	p1, err := r.Older(context.Background(), tailer.OlderRequest{N: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(p1.Lines) != 3 || !strings.Contains(p1.Lines[2].Text, "L000020") || !strings.Contains(p1.Lines[0].Text, "L000018") {
		t.Fatalf("first page: %v", p1.Lines)
	}
	// Before the position of L000019: L000018 and older.
	p2, err := r.Older(context.Background(), tailer.OlderRequest{Before: tailer.Position{File: p1.Lines[1].File, Offset: p1.Lines[1].Offset}, N: 12})
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Lines) != 12 || !strings.Contains(p2.Lines[11].Text, "L000018") || !strings.Contains(p2.Lines[0].Text, "L000007") {
		t.Fatalf("second page: %d lines, %v … %v", len(p2.Lines), p2.Lines[0].Text, p2.Lines[len(p2.Lines)-1].Text)
	}
	if p2.File != "app.log.1.gz" || !p2.More {
		t.Fatalf("file %q more %v", p2.File, p2.More)
	}
	_, err = r.Older(context.Background(), tailer.OlderRequest{Before: tailer.Position{File: 12345678, Offset: 10}, N: 1})
	if !errors.Is(err, tailer.ErrPositionGone) {
		t.Fatalf("unknown file: %v", err)
	}
}

func TestOlderLongLines(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("y", 600<<10)
	content := "first\n" + long + "\nlast\n"
	os.WriteFile(filepath.Join(dir, "app.log"), []byte(content), 0o644)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(content))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "app.log.1.gz"), z.Bytes(), 0o644)
	r := New(rotation.OS{}, dir, "app.log", 1000)
	defer r.Close()
	p, err := r.Older(context.Background(), tailer.OlderRequest{N: 100})
	if err != nil {
		t.Fatal(err)
	}
	want := tailer.Cut(long, int64(len(long)), 1000)
	if len(p.Lines) != 6 || p.Lines[0].Text != "first" || p.Lines[1].Text != want || p.Lines[4].Text != want || p.Lines[5].Text != "last" || p.More {
		t.Fatalf("%d lines, more %v", len(p.Lines), p.More)
	}
}

// The live file's unfinished last line is not history (the follower has not
// delivered it); a rotated file's last line without newline is (nobody will
// finish it).
func TestOlderUnfinishedLines(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.log.1"), []byte("a\nb"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.log"), []byte("c\nd\npart"), 0o644)
	r := New(rotation.OS{}, dir, "app.log", 1000)
	defer r.Close()
	p, err := r.Older(context.Background(), tailer.OlderRequest{N: 10})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, l := range p.Lines {
		texts = append(texts, l.Text)
	}
	if fmt.Sprint(texts) != "[a b c d]" || p.More {
		t.Fatalf("%q more %v", texts, p.More)
	}
	if p.Lines[1].Offset != 3 || p.Lines[3].Offset != 4 {
		t.Fatalf("offsets %+v", p.Lines)
	}
}

func TestFind(t *testing.T) {
	names := []string{"app.log", "app.log.1", "app.log.2.gz", "app.log-20261126"}
	dir, total := fixture(t, names, 997)
	r := New(rotation.OS{}, dir, "app.log", 1000)
	defer r.Close()
	at := func(n int) int64 { return fixtureTime(n).UnixMilli() }
	for _, n := range []int{1, 2, 500, 997, 998, 1500, 1994, 1995, 2990, 2991, 3500, total} {
		ln, ok, err := r.Find(context.Background(), at(n))
		if err != nil || !ok {
			t.Fatalf("n=%d: %v %v", n, ok, err)
		}
		if want := fmt.Sprintf("L%06d", n); !strings.Contains(ln.Text, want) {
			t.Fatalf("Find(time of %d) = %q", n, ln.Text)
		}
		// The position is the line's: older before it ends with n-1.
		p, err := r.Older(context.Background(), tailer.OlderRequest{Before: tailer.Position{File: ln.File, Offset: ln.Offset}, N: 1})
		if err != nil {
			t.Fatal(err)
		}
		if n > 1 && !strings.Contains(p.Lines[0].Text, fmt.Sprintf("L%06d", n-1)) {
			t.Fatalf("before %d: %q", n, p.Lines[0].Text)
		}
	}
	if _, ok, _ := r.Find(context.Background(), at(total)+1000); ok {
		t.Fatal("found a line after the last")
	}
	ln, ok, _ := r.Find(context.Background(), 0)
	if !ok || !strings.Contains(ln.Text, "L000001") {
		t.Fatalf("Find(0) = %q %v", ln.Text, ok)
	}
}

// fixtureTime is the time line n of a fixture carries: one line a second.
func fixtureTime(n int) time.Time {
	return time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
}

// TestOlderEvents: with KeepEvent, a page back through a filter judges whole
// events, as a live view does: an old ERROR line comes with its stack
// trace, an inverted filter leaves the whole event out, and a match in a
// stack frame brings its ERROR line. Events are never split between pages,
// in a plain file and in a compressed one.
func TestOlderEvents(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	for i := 1; i <= 60; i++ {
		ts := fixtureTime(i).Format("2006-01-02T15:04:05Z")
		if i%10 == 3 {
			fmt.Fprintf(&b, "%s ERROR boom %d\n\tat pkg.Work(Work.java:%d)\n\tat pkg.Main(Main.java:9)\n", ts, i, i)
			continue
		}
		fmt.Fprintf(&b, "%s INFO fine %d\n", ts, i)
	}
	data := b.Bytes()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "app.log.1.gz"), z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.log"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	page := func(f *filter.Filter, n int) []string {
		t.Helper()
		old := windowBytes
		windowBytes = 512 // several windows for the compressed file
		defer func() { windowBytes = old }()
		r := New(rotation.OS{}, dir, "app.log", 1000)
		defer r.Close()
		var got []string
		before := tailer.Position{}
		for req := 0; ; req++ {
			if req > 10000 {
				t.Fatal("no end")
			}
			p, err := r.Older(context.Background(), tailer.OlderRequest{Before: before, N: n, Keep: f.KeepFunc(), Key: f.Key(), KeepEvent: f.KeepEvent, Continues: filter.Continues})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Lines) > 0 && filter.Continues(p.Lines[0].Text) {
				t.Fatalf("a page starts inside an event: %q", p.Lines[0].Text)
			}
			var texts []string
			for _, l := range p.Lines {
				texts = append(texts, strings.TrimPrefix(l.Text, "\t"))
			}
			got = append(texts, got...) // oldest first
			if !p.More {
				return got
			}
			before = p.Next
		}
	}
	compile := func(spec filter.Spec) *filter.Filter {
		f, err := filter.Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	count := func(lines []string, sub string) int {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, sub) {
				n++
			}
		}
		return n
	}
	for _, n := range []int{1, 4, 500} {
		got := page(compile(filter.Spec{Text: "ERROR"}), n)
		if len(got) != 2*6*3 || count(got, "ERROR boom") != 12 || count(got, "at pkg.Work") != 12 {
			t.Fatalf("n=%d, text ERROR: %d lines, want 12 events of 3 (both files):\n%s", n, len(got), strings.Join(got, "\n"))
		}
		if got[0] != fixtureTime(3).Format("2006-01-02T15:04:05Z")+" ERROR boom 3" || got[1] != "at pkg.Work(Work.java:3)" || got[2] != "at pkg.Main(Main.java:9)" {
			t.Fatalf("n=%d: the first event is %q, want the ERROR line and its two frames in order", n, got[:3])
		}
	}
	if got := page(compile(filter.Spec{Level: "error"}), 2); len(got) != 36 || count(got, "INFO") != 0 {
		t.Fatalf("level error: %d lines (%d INFO), want 36 and none", len(got), count(got, "INFO"))
	}
	if got := page(compile(filter.Spec{Text: "Work.java:23)"}), 3); len(got) != 6 || count(got, "ERROR boom 23") != 2 {
		t.Fatalf("a match in a frame: %q, want the event of line 23 from each file, its ERROR line included", got)
	}
	if got := page(compile(filter.Spec{Text: "ERROR", Invert: true}), 5); len(got) != 2*54 || count(got, "at pkg") != 0 {
		t.Fatalf("inverted: %d lines (%d frames), want the 108 INFO lines and no frame of a left-out event", len(got), count(got, "at pkg"))
	}
}
