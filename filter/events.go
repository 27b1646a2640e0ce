package filter

import (
	"regexp"
	"strings"

	"github.com/logviewer/logviewer/tailer"
)

// Events: one record of a log may take many lines, as a stack trace does.
// A line that does not start like a new record but continues the one
// before (see Continues) belongs to the event of the line that started it:
// filters keep or drop whole events, levels are the first line's, and the
// page shows an event as one unit.

// MaxEventLines bounds how far a filter looks ahead into an event's lines
// (a longer run of continuation lines is judged in parts). It is the
// tailer's, which history scans use too.
const MaxEventLines = tailer.MaxEventLines

var (
	// java.lang.IllegalStateException: …, com.example.Foo$Bar
	reJavaClass = regexp.MustCompile(`^(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?::\s|:?$)`)
	// ValueError: …, KeyboardInterrupt
	rePyError = regexp.MustCompile(`^[A-Z]\w*(?:Error|Exception|Warning|Interrupt|Exit)(?::\s|$)`)
	// Go: main.main(), net/http.(*conn).serve(0xc000…), created by …
	reGoFrame = regexp.MustCompile(`^(?:[\w.-]+/)*[\w.-]+\.[\w.()*\[\]]+\(.*\)$`)
)

// Continues reports whether a line continues the event of the line before
// it rather than starting a record of its own: an empty line, an indented
// line (a stack frame, "\tat …", Python's "  File …"), "Caused by:",
// "Traceback (most recent call last):", "... 12 more", an exception's class
// line, Go's "goroutine 7 [running]:" and its frames. A line that starts
// with a timestamp or a level is never one.
func Continues(text string) bool {
	if text == "" {
		return true
	}
	switch c := text[0]; {
	case c == ' ' || c == '\t':
		return true
	case c >= '0' && c <= '9', c == '[', c == '{', c == '<':
		return false // a timestamp, [level], JSON, <priority>: a record
	}
	switch {
	case strings.HasPrefix(text, "Caused by:"), strings.HasPrefix(text, "Suppressed:"),
		strings.HasPrefix(text, "Traceback (most recent call last):"),
		strings.HasPrefix(text, "During handling of the above exception"),
		strings.HasPrefix(text, "The above exception was the direct cause"),
		strings.HasPrefix(text, "... ") && strings.HasSuffix(text, " more"),
		strings.HasPrefix(text, "goroutine ") && strings.Contains(text, " ["),
		strings.HasPrefix(text, "created by "):
		return true
	}
	if len(text) > 300 {
		return false
	}
	// The patterns left all start with a dotted name (a class, a Go
	// function) or an exception's name: most lines are rejected here,
	// without a regular expression.
	tok := text
	if i := strings.IndexByte(tok, ' '); i >= 0 {
		tok = tok[:i]
	}
	if strings.IndexByte(tok, '.') >= 0 {
		return reJavaClass.MatchString(text) || reGoFrame.MatchString(text)
	}
	named := false // the token may hold one of the names below
	for i := 0; i < len(tok) && !named; i++ {
		named = tok[i] == 'E' || tok[i] == 'W' || tok[i] == 'I'
	}
	if !named {
		return false
	}
	for _, w := range []string{"Error", "Exception", "Warning", "Interrupt", "Exit"} {
		if strings.Contains(tok, w) {
			return rePyError.MatchString(text)
		}
	}
	return false
}

// KeepEvent reports whether the event whose lines are ls (its first line
// first, then the continuation lines seen so far) is kept: its first line's
// level passes the level filter, and the text filter matches any of its
// lines (inverted: none of them).
func (f *Filter) KeepEvent(ls []tailer.Line) bool {
	if f == nil || len(ls) == 0 || ls[0].Mark != "" {
		return true
	}
	if f.levels != nil && !f.levels[Level(ls[0].Text)] {
		return false
	}
	if f.text == "" && f.re == nil {
		return true
	}
	return f.MatchAny(ls) != f.invert
}

// KeepEventTagged is KeepEvent for an event of a merged view, whose text
// filter may also match the tag its lines are shown with (the host).
func (f *Filter) KeepEventTagged(ls []tailer.Line, tag string) bool {
	if f == nil || f.text == "" && f.re == nil || len(ls) == 0 || ls[0].Mark != "" {
		return f.KeepEvent(ls)
	}
	if f.levels != nil && !f.levels[Level(ls[0].Text)] {
		return false
	}
	return (f.match(tag) || f.MatchAny(ls)) != f.invert
}

// MatchAny reports whether the text filter matches any of ls (markers
// aside); false for a filter without text.
func (f *Filter) MatchAny(ls []tailer.Line) bool {
	if f == nil || f.text == "" && f.re == nil {
		return false
	}
	for i := range ls {
		if ls[i].Mark == "" && f.match(ls[i].Text) {
			return true
		}
	}
	return false
}
