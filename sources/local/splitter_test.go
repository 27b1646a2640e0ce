package local

import (
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
		var s splitter
		s.init(max)
		var got []tailer.Line
		off := 0
		for off < len(text) {
			n := 1 + rng.IntN(min(len(text)-off, 64))
			chunk := []byte(text[off : off+n])
			for len(chunk) > 0 {
				var lines []tailer.Line
				var used int
				lines, used = s.feed(nil, chunk, int64(off), 7, 1+rng.IntN(3))
				if used <= 0 || used > len(chunk) {
					t.Fatalf("round %d: feed used %d of %d bytes", round, used, len(chunk))
				}
				got = append(got, lines...)
				chunk = chunk[used:]
				off += used
			}
		}
		s.flush(nil, int64(off), 7)
		got = append(got, s.flushed...)

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
