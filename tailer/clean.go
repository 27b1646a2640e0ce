package tailer

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/logviewer/logviewer/internal/ascii"
)

// Clean makes a line safe to show: at most max bytes (a longer line is cut at
// a character boundary and says how much was cut), valid UTF-8 (bad bytes
// become U+FFFD), and no control characters other than tab and ESC (which
// starts ANSI colour sequences): the rest become their visible Unicode
// "control picture", so a NUL shows as ␀ instead of breaking the page.
func Clean(s string, max int) string {
	s = strings.TrimSuffix(s, "\r")
	if max > 0 && len(s) > max {
		return Cut(s, int64(len(s)), max)
	}
	return clean(s)
}

// Cut is Clean for a line too long to keep whole: head is its start (more
// than max bytes, or all of it) and total its length in bytes without a final
// CR. The result is what Clean gives for the whole line.
func Cut(head string, total int64, max int) string {
	end := min(max, len(head))
	for end > 0 && end < len(head) && !utf8.RuneStart(head[end]) {
		end--
	}
	return clean(head[:end]) + " … [" + strconv.FormatInt(total-int64(end), 10) + " more bytes cut]"
}

// clean replaces invalid UTF-8 and control characters.
func clean(s string) string {
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
	return s
}

func needsFix(s string) bool {
	for i := 0; i < len(s); {
		// Eight bytes at a time while they are plain printable ASCII; from
		// a word with anything else (a tab, ESC, a multi-byte character),
		// 32 bytes are looked at one by one.
		for i+8 <= len(s) {
			w := ascii.Word(s[i:])
			if ascii.High(w)|ascii.Below(w, 0x20)|ascii.Equal(w, 0x7f) != 0 {
				break
			}
			i += 8
		}
		for end := min(i+32, len(s)); i < end; i++ {
			c := s[i]
			if c >= utf8.RuneSelf {
				return hasBad(s[i:])
			}
			if (c < 0x20 && c != '\t' && c != 0x1b) || c == 0x7f {
				return true
			}
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
