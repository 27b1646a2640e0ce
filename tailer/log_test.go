package tailer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func lines(prefix string, n int) []Line {
	out := make([]Line, n)
	for i := range out {
		out[i] = Line{Text: fmt.Sprintf("%s %d", prefix, i+1), Offset: int64(i + 1), File: 7}
	}
	return out
}

func TestLogNumbersAndReads(t *testing.T) {
	l := NewLog("h", "/p", 10, 1<<20)
	l.Lines(lines("a", 5))
	first, next := l.Bounds()
	if first != 1 || next != 6 {
		t.Fatalf("bounds %d,%d want 1,6", first, next)
	}
	got, f := l.Read(nil, 2, 2)
	if f != 1 || len(got) != 2 || got[0].Seq != 2 || got[1].Text != "a 3" {
		t.Fatalf("Read(2,2) = %+v first %d", got, f)
	}
	if got, _ := l.Read(nil, 6, 10); len(got) != 0 {
		t.Fatalf("read past the end: %+v", got)
	}
}

func TestLogKeepsMinLinesAndHonoursBudget(t *testing.T) {
	// Budget for ~20 lines of 20 bytes; min 10.
	l := NewLog("h", "/p", 10, 20*(20+lineOverhead))
	l.Lines(lines(strings.Repeat("x", 16), 100))
	n, bytes := l.Stats()
	first, next := l.Bounds()
	if n < 10 || n > 20 || bytes > 20*(20+lineOverhead) || next != 101 || first != next-uint64(n) {
		t.Fatalf("held %d lines, %d bytes, bounds %d..%d", n, bytes, first, next)
	}
	// Reading from before the first seq reports where the ring starts (a gap).
	got, f := l.Read(nil, 1, 5)
	if f != first || got[0].Seq != first {
		t.Fatalf("Read(1) = first line %d, first %d; want %d", got[0].Seq, f, first)
	}
	// A huge line still leaves minLines in the ring.
	l.Lines([]Line{{Text: strings.Repeat("y", 10000)}})
	if n, _ := l.Stats(); n < 10 {
		t.Fatalf("held %d lines after a big one, want at least 10", n)
	}
}

func TestLogGrowsWithinBudget(t *testing.T) {
	l := NewLog("h", "/p", 2, 1<<20)
	l.Lines(lines("a", 5000))
	if n, _ := l.Stats(); n != 5000 {
		t.Fatalf("held %d lines; the budget fits all 5000", n)
	}
}

func TestStartFor(t *testing.T) {
	l := NewLog("h", "/p", 100, 1<<20)
	l.Lines(lines("a", 10))
	l.Lines([]Line{{Text: "rotated", Mark: MarkRotated}})
	l.Lines(lines("b", 10))
	if s := l.StartFor(5, nil); s != 17 {
		t.Fatalf("StartFor(5) = %d, want 17", s)
	}
	if s := l.StartFor(100, nil); s != 1 {
		t.Fatalf("StartFor(100) = %d, want 1", s)
	}
	onlyA := func(x *Line) bool { return strings.HasPrefix(x.Text, "a ") }
	// The last 3 kept: a 10, the marker (markers always count), nothing from b.
	if s := l.StartFor(3, onlyA); s != 9 {
		t.Fatalf("StartFor(3, a) = %d, want 9 (a 9, a 10, marker)", s)
	}
}

func TestAfterFindsFilePosition(t *testing.T) {
	l := NewLog("h", "/p", 100, 1<<20)
	l.Lines(lines("a", 10)) // offsets 1..10 in file 7
	if seq, r := l.after(Position{7, 4}); r != found || seq != 5 {
		t.Fatalf("After(7,4) = %d,%v want 5,Found", seq, r)
	}
	if _, r := l.after(Position{8, 4}); r != gone {
		t.Fatalf("After on another file = %v, want Gone", r)
	}
	if _, r := l.after(Position{7, 99}); r != notYet {
		t.Fatalf("After past the end = %v, want NotYet (the source may still read it)", r)
	}
	if _, r := l.after(Position{7, 0}); r != gone {
		t.Fatalf("After before the first line = %v, want Gone", r)
	}
	empty := NewLog("h", "/p", 10, 1<<20)
	if _, r := empty.after(Position{7, 4}); r != notYet {
		t.Fatalf("After on an empty log = %v, want NotYet", r)
	}
}

func TestChangedIsClosedOnAppendAndState(t *testing.T) {
	l := NewLog("h", "/p", 10, 1<<20)
	ch := l.Changed()
	l.Lines(lines("a", 1))
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed by Lines")
	}
	ch = l.Changed()
	l.State(State{Code: StateFollowing})
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed by State")
	}
	if l.Status().Code != StateFollowing {
		t.Fatal("state not recorded")
	}
}

// Watch tells each watcher, on the writer's goroutine and with the Log
// unlocked, how many lines came (0 for a state), until it is stopped.
func TestWatchCallsBackAfterEachChange(t *testing.T) {
	l := NewLog("h", "/p", 10, 1<<20)
	var a, b []int
	stopA := l.Watch(func(n int) {
		a = append(a, n)
		_, next := l.Bounds() // the Log is not locked during the call
		if n > 0 && next == 1 {
			t.Error("called before the lines were added")
		}
	})
	stopB := l.Watch(func(n int) { b = append(b, n) })
	l.Lines(lines("a", 3))
	l.State(State{Code: StateFollowing})
	l.Lines(nil) // nothing added: no call
	stopA()
	stopA() // twice is harmless
	l.Append([]Line{{Seq: 4, Text: "x"}, {Seq: 5, Text: "y"}})
	l.Append([]Line{{Seq: 5, Text: "y"}}) // a redelivery adds nothing: no call
	stopB()
	l.Lines(lines("b", 1))
	if fmt.Sprint(a) != "[3 0]" {
		t.Errorf("first watcher got %v, want [3 0]", a)
	}
	if fmt.Sprint(b) != "[3 0 2]" {
		t.Errorf("second watcher got %v, want [3 0 2]", b)
	}
}

// FuzzNeedsFix checks the eight-bytes-at-a-time test of whether a line
// needs cleaning against its definition, byte by byte.
func FuzzNeedsFix(f *testing.F) {
	long := strings.Repeat("abcdefgh", 12)
	for _, at := range []int{0, 7, 8, 15, 33, 40, 90} {
		for _, x := range []string{"\x00", "\x1f", "\t", "\x1b", "\x7f", "é", "\xff", "\xe2\x80"} {
			f.Add(long[:at] + x + long[at:])
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := !utf8.ValidString(s)
		for i := 0; i < len(s); i++ {
			if c := s[i]; (c < 0x20 && c != '\t' && c != 0x1b) || c == 0x7f {
				want = true
			}
		}
		if got := needsFix(s); got != want {
			t.Fatalf("needsFix(%q) = %v, want %v", s, got, want)
		}
	})
}

func TestClean(t *testing.T) {
	for _, tt := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 100, "plain"},
		{"crlf\r", 100, "crlf"},
		{"tab\tesc\x1b[1m", 100, "tab\tesc\x1b[1m"},
		{"nul\x00bell\x07del\x7f", 100, "nul␀bell␇del␡"},
		{"bad \xff\xfe", 100, "bad \ufffd\ufffd"},
		{"ünïcødé", 100, "ünïcødé"},
		{strings.Repeat("a", 12), 10, "aaaaaaaaaa … [2 more bytes cut]"},
		{"aaaaaaaaé", 10, "aaaaaaaaé"},
		{"aaaaaaaaaé", 10, "aaaaaaaaa … [2 more bytes cut]"}, // never split a character
	} {
		if got := Clean(tt.in, tt.max); got != tt.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestListing(t *testing.T) {
	var l Listing
	now := time.Now()
	l.Add("a", FileInfo{Path: "/link-to-a", ModTime: now}, true)
	l.Add("b", FileInfo{Path: "/b", ModTime: now.Add(time.Minute)}, false)
	l.Add("a", FileInfo{Path: "/a", ModTime: now}, false)
	l.Add("a", FileInfo{Path: "/another-link", ModTime: now}, true)
	l.Add(nil, FileInfo{Path: "/unknown", ModTime: now.Add(-time.Minute)}, false)
	var got []string
	for _, f := range l.Files() {
		got = append(got, f.Path)
	}
	if strings.Join(got, " ") != "/b /a /unknown" {
		t.Fatalf("Files() = %q, want newest first, one per file, real names preferred", got)
	}
	var empty Listing
	if f := empty.Files(); f == nil || len(f) != 0 {
		t.Fatalf("empty listing = %#v, want an empty slice (JSON [])", f)
	}
}

func TestPositionRoundTrip(t *testing.T) {
	for _, p := range []Position{{0, 0}, {7, 4}, {^uint64(0), 1<<63 - 1}} {
		got, err := ParsePosition(p.String())
		if err != nil || got != p {
			t.Errorf("%v → %q → %v, %v", p, p.String(), got, err)
		}
	}
	for _, s := range []string{"", "7", "7:", ":4", "x:4", "7:-1", "7:4:5", "-7:4"} {
		if _, err := ParsePosition(s); err == nil {
			t.Errorf("ParsePosition(%q) accepted", s)
		}
	}
}

// TestSeekWaitsForAFreshLog: Seek waits until the source has read as far as
// the position, and gives up when the ring has moved past it.
func TestSeekWaitsForAFreshLog(t *testing.T) {
	l := NewLog("h", "/f", 10, 1<<20)
	done := make(chan uint64)
	go func() {
		seq, ok := l.Seek(context.Background(), Position{7, 20})
		if !ok {
			seq = 0
		}
		done <- seq
	}()
	l.Lines([]Line{{File: 7, Offset: 10, Text: "a"}})
	l.Lines([]Line{{File: 7, Offset: 20, Text: "b"}, {File: 7, Offset: 30, Text: "c"}})
	if seq := <-done; seq != 3 {
		t.Fatalf("Seek = %d, want 3 (the line after offset 20)", seq)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := l.Seek(ctx, Position{7, 99}); ok {
		t.Fatal("Seek past the newest line succeeded with a cancelled context")
	}
	if _, ok := l.Seek(context.Background(), Position{8, 20}); ok {
		t.Fatal("Seek to another file succeeded")
	}
}

func TestAppendKeepsSeqs(t *testing.T) {
	l := NewLog("h", "/f", 4, 1<<20)
	l.Append([]Line{{Seq: 10, Text: "a"}, {Seq: 11, Text: "b"}})
	if first, next := l.Bounds(); first != 10 || next != 12 {
		t.Fatalf("bounds = %d, %d; want 10, 12", first, next)
	}
	// A redelivery is dropped; the new line after it is kept.
	l.Append([]Line{{Seq: 11, Text: "b"}, {Seq: 12, Text: "c"}})
	got, _ := l.Read(nil, 0, 10)
	if len(got) != 3 || got[2].Seq != 12 || got[2].Text != "c" {
		t.Fatalf("after redelivery: %+v", got)
	}
	// A jump empties the ring: a reader at 13 learns of a gap [13, 20).
	l.Append([]Line{{Seq: 20, Text: "z"}})
	got, first := l.Read(nil, 13, 10)
	if first != 20 || len(got) != 1 || got[0].Seq != 20 {
		t.Fatalf("after jump: first %d, %+v", first, got)
	}
	// Lines appended by number still wrap the ring like Lines does.
	for s := uint64(21); s < 40; s++ {
		l.Append([]Line{{Seq: s, Text: "x"}})
	}
	got, first = l.Read(nil, 0, 100)
	if got[len(got)-1].Seq != 39 || first != got[0].Seq || uint64(len(got)) != 40-first {
		t.Fatalf("after wrap: first %d, %d lines", first, len(got))
	}
}
