package web

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/logviewer/logviewer/tailer"
)

// maxFilterLen bounds a filter's text (a regex this long is already absurd).
const maxFilterLen = 1024

// filter selects the lines a viewer is sent. The zero filter (nil) passes all.
// Markers always pass: a viewer must see that the file rotated.
type filter struct {
	key    string // identifies equal filters, so their frames can be shared
	text   string
	re     *regexp.Regexp
	fold   bool // case-insensitive substring
	invert bool
}

// filterSpec is a filter as the client states it.
type filterSpec struct {
	Text   string `json:"text"`
	Regex  bool   `json:"regex"`
	Case   bool   `json:"case"` // case-sensitive
	Invert bool   `json:"invert"`
}

var errFilterTooLong = fmt.Errorf("filter is longer than %d bytes", maxFilterLen)

// compile turns a spec into a filter; an empty text yields nil (everything).
func (fs filterSpec) compile() (*filter, error) {
	if fs.Text == "" {
		return nil, nil
	}
	if len(fs.Text) > maxFilterLen {
		return nil, errFilterTooLong
	}
	if !utf8.ValidString(fs.Text) {
		return nil, errors.New("filter is not valid UTF-8")
	}
	f := &filter{text: fs.Text, invert: fs.Invert, key: fmt.Sprintf("%t|%t|%t|%s", fs.Regex, fs.Case, fs.Invert, fs.Text)}
	if fs.Regex {
		expr := fs.Text
		if !fs.Case {
			expr = "(?i)" + expr
		}
		// A regex that is only a literal ("timeout", "disk full") matches
		// exactly where the substring search does, which is far faster under
		// (?i): Go's regexp loses its literal scan when folding case.
		if lit, ok := literal(fs.Text); ok {
			f.text, f.fold = lit, !fs.Case
			return f, nil
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			var se *syntax.Error
			if errors.As(err, &se) {
				return nil, fmt.Errorf("bad regular expression %q: %s", fs.Text, se.Code)
			}
			return nil, fmt.Errorf("bad regular expression %q: %v", fs.Text, err)
		}
		f.re = re
		return f, nil
	}
	f.fold = !fs.Case
	return f, nil
}

// keep reports whether the viewer is sent l.
func (f *filter) keep(l *tailer.Line) bool {
	if f == nil || l.Mark != "" {
		return true
	}
	var m bool
	switch {
	case f.re != nil:
		m = f.re.MatchString(l.Text)
	case f.fold:
		m = containsFold(l.Text, f.text)
	default:
		m = strings.Contains(l.Text, f.text)
	}
	return m != f.invert
}

// literal returns the text a regular expression matches when it has no
// operators at all.
func literal(expr string) (string, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", false
	}
	re = re.Simplify()
	if re.Op != syntax.OpLiteral || re.Flags&syntax.FoldCase != 0 {
		return "", false
	}
	return string(re.Rune), true
}

func (f *filter) cacheKey() string {
	if f == nil {
		return ""
	}
	return f.key
}

// containsFold reports whether substr is in s, ignoring case, without
// allocating. ASCII needles use a fast first-byte scan.
func containsFold(s, substr string) bool {
	n := len(substr)
	if n == 0 {
		return true
	}
	if n > len(s) {
		return false
	}
	c := substr[0]
	if c >= utf8.RuneSelf || !isASCII(substr) {
		return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
	}
	lo, up := lower(c), upper(c)
	for i := 0; i+n <= len(s); i++ {
		if b := s[i]; b != lo && b != up {
			// Jump to the next byte that could start a match.
			j := indexEither(s[i+1:len(s)-n+1], lo, up)
			if j < 0 {
				return false
			}
			i += j
			continue
		}
		if asciiEqualFold(s[i:i+n], substr) {
			return true
		}
	}
	return false
}

func indexEither(s string, a, b byte) int {
	ia := strings.IndexByte(s, a)
	if a == b {
		return ia
	}
	ib := strings.IndexByte(s, b)
	switch {
	case ia < 0:
		return ib
	case ib < 0:
		return ia
	}
	return min(ia, ib)
}

func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(b); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
