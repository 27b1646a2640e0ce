// Package filter selects lines: the one place where a viewer's filter (a
// substring or a regular expression, case-sensitive or not, inverted or not)
// is parsed, bounded and matched. Live rooms use it today; history scans and
// anything else that selects lines use the same code.
//
// A filter has a cost bound: its text is at most MaxTextLen bytes, and a
// regular expression whose compiled program would exceed MaxProgram
// instructions is refused before it is compiled (so compiling is cheap too),
// which bounds the work per byte of a line.
package filter

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/logviewer/logviewer/tailer"
)

// Bounds on what a filter may cost.
const (
	// MaxTextLen bounds a filter's text: a regular expression this long is
	// already absurd.
	MaxTextLen = 1024
	// MaxProgram bounds a regular expression's compiled size. Matching costs
	// at most about this many steps per byte of a line (Go's regexp runs in
	// linear time, but the factor is the program's size: about 4 µs per
	// byte at this bound); ordinary filters are tens of instructions, a
	// 50-word alternation a few hundred.
	MaxProgram = 1000
	// MaxContext bounds the lines of context around each match: enough to
	// read a match in its place, small enough that a filter still narrows.
	MaxContext = 20
)

// Filter selects the lines a viewer is sent. The nil *Filter passes all.
// Markers always pass: a viewer must see that the file rotated.
type Filter struct {
	key     string // identifies equal filters, so their frames can be shared
	text    string
	re      *regexp.Regexp
	fold    bool // case-insensitive substring
	invert  bool
	levels  map[string]bool // nil: every level; else only these (see Level)
	context int             // lines shown before and after each kept event (grep -C)
}

// Spec is a filter as a client states it.
type Spec struct {
	Text   string `json:"text"`
	Regex  bool   `json:"regex"`
	Case   bool   `json:"case"` // case-sensitive
	Invert bool   `json:"invert"`
	// Level keeps only lines of these levels: comma-separated names of
	// Level's results ("error", "warn,error"); "" keeps every level. It
	// composes with the text: a line must pass both.
	Level string `json:"level,omitempty"`
	// Context is how many lines around each kept event are shown too (as
	// grep -C does), 0 to MaxContext. It applies only with a text or level.
	Context int `json:"context,omitempty"`
}

// Errors a client may be told about.
var (
	ErrTooLong    = fmt.Errorf("filter is longer than %d bytes", MaxTextLen)
	ErrTooComplex = fmt.Errorf("regular expression is too complex (it would compile to more than %d steps); simplify it, e.g. fewer or smaller {n,m} repeats", MaxProgram)
)

// Compile turns a spec into a filter; an empty text and level yield nil
// (everything).
func Compile(fs Spec) (*Filter, error) {
	if fs.Context < 0 || fs.Context > MaxContext {
		return nil, fmt.Errorf("context of %d lines: want 0 to %d", fs.Context, MaxContext)
	}
	levels, err := parseLevels(fs.Level)
	if err != nil {
		return nil, err
	}
	f, err := compileText(fs)
	if err != nil {
		return nil, err
	}
	if levels != nil {
		if f == nil {
			f = &Filter{}
		}
		f.levels = levels
		f.key += "|level=" + fs.Level
	}
	if f != nil && fs.Context > 0 {
		f.context = fs.Context
		f.key += fmt.Sprintf("|context=%d", fs.Context)
	}
	return f, nil
}

// Context returns how many lines around each kept event are shown too.
func (f *Filter) Context() int {
	if f == nil {
		return 0
	}
	return f.context
}

func compileText(fs Spec) (*Filter, error) {
	if fs.Text == "" {
		return nil, nil
	}
	if len(fs.Text) > MaxTextLen {
		return nil, ErrTooLong
	}
	if !utf8.ValidString(fs.Text) {
		return nil, errors.New("filter is not valid UTF-8")
	}
	f := &Filter{text: fs.Text, invert: fs.Invert, key: fmt.Sprintf("%t|%t|%t|%s", fs.Regex, fs.Case, fs.Invert, fs.Text)}
	if !fs.Regex {
		f.fold = !fs.Case
		return f, nil
	}
	flags := syntax.Perl
	if !fs.Case {
		flags |= syntax.FoldCase
	}
	parsed, err := syntax.Parse(fs.Text, flags)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("bad regular expression %q: %s", fs.Text, se.Code)
		}
		return nil, fmt.Errorf("bad regular expression %q: %v", fs.Text, err)
	}
	// Bound the size before Simplify expands repeats (x{0,999} becomes 999
	// copies of x): the estimate is what the expansion would produce.
	if size(parsed, MaxProgram+1) > MaxProgram {
		return nil, ErrTooComplex
	}
	// A regex that is only a literal ("timeout", "disk full") matches
	// exactly where the substring search does, which is far faster under
	// (?i): Go's regexp loses its literal scan when folding case.
	if lit, ok := literal(fs.Text); ok {
		f.text, f.fold = lit, !fs.Case
		return f, nil
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil || len(prog.Inst) > MaxProgram {
		return nil, ErrTooComplex
	}
	expr := fs.Text
	if !fs.Case {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression %q: %v", fs.Text, err)
	}
	f.re = re
	return f, nil
}

// size estimates the number of instructions re compiles to, stopping once it
// exceeds limit (so a nested repeat cannot overflow the count).
func size(re *syntax.Regexp, limit int) int {
	n := 1
	switch re.Op {
	case syntax.OpLiteral:
		n = len(re.Rune)
	case syntax.OpRepeat:
		sub := size(re.Sub[0], limit)
		times := max(re.Min, re.Max, 1)
		if sub > 0 && times > limit/sub {
			return limit + 1
		}
		n = sub*times + times
	default:
		for _, s := range re.Sub {
			n += size(s, limit)
			if n > limit {
				return limit + 1
			}
		}
	}
	return min(n, limit+1)
}

// Keep reports whether the viewer is sent l.
func (f *Filter) Keep(l *tailer.Line) bool {
	if f == nil || l.Mark != "" {
		return true
	}
	if f.levels != nil && !f.levels[Level(l.Text)] {
		return false
	}
	return f.text == "" && f.re == nil || f.match(l.Text) != f.invert
}

// KeepTagged is Keep for a line shown with a tag (a merged view's host):
// the filter matches the tag too, as if it were written before the text.
func (f *Filter) KeepTagged(l *tailer.Line, tag string) bool {
	if f == nil || l.Mark != "" {
		return true
	}
	if f.levels != nil && !f.levels[Level(l.Text)] {
		return false
	}
	return f.text == "" && f.re == nil || (f.match(tag) || f.match(l.Text)) != f.invert
}

func (f *Filter) match(s string) bool {
	switch {
	case f.re != nil:
		return f.re.MatchString(s)
	case f.fold:
		return containsFold(s, f.text)
	}
	return strings.Contains(s, f.text)
}

// KeepFunc returns Keep as a func, or nil (every line) for the nil Filter.
func (f *Filter) KeepFunc() func(*tailer.Line) bool {
	if f == nil {
		return nil
	}
	return f.Keep
}

// Key identifies equal filters ("" for none), so their results can be shared.
func (f *Filter) Key() string {
	if f == nil {
		return ""
	}
	return f.key
}

// Regexp reports whether matching runs a regular expression (not a
// substring search).
func (f *Filter) Regexp() bool { return f != nil && f.re != nil }

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
