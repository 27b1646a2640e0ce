package ascii

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// firstTrue is the index of the first byte of b for which f is true, or -1:
// what a mask's lowest flagged byte must be.
func firstTrue(b [8]byte, f func(c byte) bool) int {
	for i, c := range b {
		if f(c) {
			return i
		}
	}
	return -1
}

// TestWordTestsAgreeWithBytes checks every word test against a byte loop
// on words built to put the interesting bytes next to each other (where a
// borrow between bytes would show) and on random words.
func TestWordTestsAgreeWithBytes(t *testing.T) {
	interesting := []byte{0, 1, 0x08, 0x09, 0x1b, 0x1f, 0x20, 0x21, '"', '\\', 0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xe2, 0xfe, 0xff, 'a'}
	r := rand.New(rand.NewPCG(1, 2))
	check := func(b [8]byte) {
		t.Helper()
		w := Word(string(b[:]))
		for i, c := range b {
			if byte(w>>(8*i)) != c {
				t.Fatalf("Word(%q) byte %d = %#x", b, i, byte(w>>(8*i)))
			}
		}
		test := func(name string, m uint64, f func(c byte) bool) {
			t.Helper()
			first := firstTrue(b, f)
			if (m != 0) != (first >= 0) {
				t.Fatalf("%s(%q) = %#x: flags %v, want %v", name, b, m, m != 0, first >= 0)
			}
			if lowest := bits.TrailingZeros64(m) >> 3; m != 0 && lowest != first {
				t.Fatalf("%s(%q): lowest flagged byte %d, want %d", name, b, lowest, first)
			}
			if m&^highs != 0 {
				t.Fatalf("%s(%q) = %#x: not a mask of high bits", name, b, m)
			}
		}
		test("High", High(w), func(c byte) bool { return c >= 0x80 })
		for _, n := range []byte{1, 0x20, 0x7f, 0x80} {
			test(fmt.Sprintf("Below %#x", n), Below(w, n), func(c byte) bool { return c < n })
		}
		for _, c := range []byte{0, '"', '\\', 0x7f, 0xff} {
			test(fmt.Sprintf("Equal %#x", c), Equal(w, c), func(x byte) bool { return x == c })
		}
		// What the escaping loop asks: several at once.
		test("any", High(w)|Below(w, 0x20)|Equal(w, '"')|Equal(w, '\\'), func(c byte) bool {
			return c >= 0x80 || c < 0x20 || c == '"' || c == '\\'
		})
	}
	for range 200000 {
		var b [8]byte
		for i := range b {
			if r.IntN(2) == 0 {
				b[i] = interesting[r.IntN(len(interesting))]
			} else {
				b[i] = byte(r.Uint32())
			}
		}
		check(b)
	}
	for _, x := range interesting { // each alone among plain letters, at each place
		for i := range 8 {
			b := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
			b[i] = x
			check(b)
		}
	}
}
