package tailer

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Clean makes a line safe to show: at most max bytes (a longer line is cut at
// a character boundary and says how much was cut), valid UTF-8 (bad bytes
// become U+FFFD), and no control characters other than tab and ESC (which
// starts ANSI colour sequences): the rest become their visible Unicode
// "control picture", so a NUL shows as ␀ instead of breaking the page.
func Clean(s string, max int) string {
	s = strings.TrimSuffix(s, "\r")
	cut := 0
	if max > 0 && len(s) > max {
		end := max
		for end > 0 && !utf8.RuneStart(s[end]) {
			end--
		}
		cut = len(s) - end
		s = s[:end]
	}
	if needsFix(s) {
		var b strings.Builder
		b.Grow(len(s) + 8)
		for i := 0; i < len(s); {
			c := s[i]
			if c < utf8.RuneSelf {
				switch {
				case c == '\t' || c == 0x1b:
					b.WriteByte(c)
				case c < 0x20:
					b.WriteRune(0x2400 + rune(c))
				case c == 0x7f:
					b.WriteRune(0x2421)
				default:
					b.WriteByte(c)
				}
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
		}
		s = b.String()
	}
	if cut > 0 {
		s += " … [" + strconv.Itoa(cut) + " more bytes cut]"
	}
	return s
}

func needsFix(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return hasBad(s[i:])
		}
		if (c < 0x20 && c != '\t' && c != 0x1b) || c == 0x7f {
			return true
		}
	}
	return false
}

// hasBad reports invalid UTF-8 or an ASCII control character in s.
func hasBad(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t' && c != 0x1b) || c == 0x7f {
			return true
		}
	}
	return false
}
