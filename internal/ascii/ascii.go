// Package ascii looks at text eight bytes at a time, for the loops that
// must find the rare byte needing work (a control character, a quote, a
// byte of a multi-byte character) in lines that are mostly plain ASCII:
// cleaning a line to show it and escaping it for JSON.
//
// Each function returns a mask with the high bit of each flagged byte set;
// OR them to ask several questions at once. A mask is 0 exactly when no
// byte qualifies, and its lowest flagged byte is always a true one; bytes
// above it may be flagged falsely (a borrow), so a caller that wants more
// than "any?" looks at the bytes themselves.
package ascii

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// Word returns the first eight bytes of s (at least eight) as a
// little-endian word; the compiler makes it a single load.
func Word(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// High flags the bytes of w that are 0x80 or above (part of a multi-byte
// UTF-8 character, or not UTF-8).
func High(w uint64) uint64 { return w & highs }

// Below flags the bytes of w below n (n at most 128).
func Below(w uint64, n byte) uint64 { return (w - ones*uint64(n)) &^ w & highs }

// Equal flags the bytes of w equal to c.
func Equal(w uint64, c byte) uint64 {
	x := w ^ ones*uint64(c)
	return (x - ones) &^ x & highs
}
