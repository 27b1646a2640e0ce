package follow

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/logviewer/logviewer/tailer"
)

// TestSplitter feeds random text in random pieces, with random batch limits,
// and checks the lines, their offsets and the bytes used against a plain
// split of the whole text cleaned with tailer.Clean.
func TestSplitter(t *testing.T) {
	const max = 20
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "bc", "\n", "\r\n", "é", "\xff", strings.Repeat("x", 19), strings.Repeat("y", 21), strings.Repeat("z", 300), "\t", "\x00"}
	for round := range 300 {
		var b strings.Builder
		for range rng.IntN(60) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		text := b.String()
		var s Splitter
		s.Init(max)
		s.Reset(0, nil)
		var got []tailer.Line
		off := 0
		for off < len(text) {
			n := 1 + rng.IntN(min(len(text)-off, 64))
			chunk := []byte(text[off : off+n])
			for len(chunk) > 0 {
				var lines []tailer.Line
				var used int
				lines, used = s.Feed(nil, chunk, 7, 1+rng.IntN(3))
				if used <= 0 || used > len(chunk) {
					t.Fatalf("round %d: feed used %d of %d bytes", round, used, len(chunk))
				}
				got = append(got, lines...)
				chunk = chunk[used:]
				off += used
			}
		}
		if s.Off() != int64(off) {
			t.Fatalf("round %d: Off %d after %d bytes", round, s.Off(), off)
		}
		got = s.Flush(got, 7)

		var want []tailer.Line
		at := 0
		for _, l := range strings.SplitAfter(text, "\n") {
			if l == "" {
				continue
			}
			at += len(l)
			want = append(want, tailer.Line{File: 7, Offset: int64(at), Text: tailer.Clean(strings.TrimSuffix(l, "\n"), max)})
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %q: got %d lines %+v, want %d %+v", round, text, len(got), got, len(want), want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("round %d: %q: line %d is %+v, want %+v", round, text, i, got[i], want[i])
			}
		}
	}
}

// TestSplitterMatchesClean: however a stream is chunked, the splitter gives
// the lines tailer.Clean would give for the whole lines, with exact offsets,
// while keeping only about max bytes of a line in memory.
func TestSplitterMatchesClean(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "é", "\xff", "\r", "\x00", "\t", "\x1b[1m", "€", "😀", "xyz", " ", "\r\n", "\n", "\n"}
	for round := range 300 {
		var b strings.Builder
		for range rng.IntN(400) {
			p := pieces[rng.IntN(len(pieces))]
			if rng.IntN(50) == 0 {
				p = strings.Repeat(p, 100)
			}
			b.WriteString(p)
		}
		stream := b.String()
		limit := 80 + rng.IntN(40)
		if round%3 == 0 {
			limit = 1 + rng.IntN(8)
		}
		var want []string
		var wantEnds []int64
		off := int64(0)
		for rest := stream; ; {
			i := strings.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			want = append(want, tailer.Clean(rest[:i], limit))
			off += int64(i + 1)
			wantEnds = append(wantEnds, 100+off)
			rest = rest[i+1:]
		}
		var s Splitter
		s.Init(limit)
		s.Reset(100, nil)
		var got []string
		var ends []int64
		for rest := []byte(stream); len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(30))
			lines, _ := s.Feed(nil, rest[:n], 0, n+1)
			for _, l := range lines {
				got, ends = append(got, l.Text), append(ends, l.Offset)
			}
			rest = rest[n:]
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(ends) != fmt.Sprint(wantEnds) {
			t.Fatalf("round %d (max %d) stream %q:\n got %q %v\nwant %q %v", round, limit, stream, got, ends, want, wantEnds)
		}
		if len(s.part) > limit+5 {
			t.Fatalf("kept %d bytes of a line, max %d", len(s.part), limit)
		}
		if last := strings.LastIndexByte(stream, '\n'); last >= 0 {
			k := stream[max(0, last+1-KnownLen) : last+1]
			if string(s.Known()) != k || s.End() != 100+int64(last+1) {
				t.Fatalf("round %d: known %q at %d, want %q at %d", round, s.Known(), s.End(), k, 100+last+1)
			}
		}
	}
}
