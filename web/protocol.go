package web

import (
	"encoding/json"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/logviewer/logviewer/filter"
	"github.com/logviewer/logviewer/internal/ascii"
	"github.com/logviewer/logviewer/tailer"
)

// ProtocolVersion is sent in every hello; it changes when a message changes
// incompatibly. The messages are documented in README.md.
const ProtocolVersion = 1

type helloMsg struct {
	Type    string       `json:"type"` // "hello"
	V       int          `json:"v"`
	Log     string       `json:"log"`
	Host    string       `json:"host"`
	File    string       `json:"file"`
	First   uint64       `json:"first"`
	Last    uint64       `json:"last"`
	Replay  int          `json:"replay_lines"`
	Resumed bool         `json:"resumed"`
	State   tailer.State `json:"state"`
	FromAt  string       `json:"from_at,omitempty"` // from= older than the ring: the line to page back to (history.go)
}

type statusMsg struct {
	Type  string       `json:"type"` // "status"
	State tailer.State `json:"state"`
}

type gapMsg struct {
	Type string `json:"type"` // "gap"
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

type errorMsg struct {
	Type string `json:"type"` // "error"
	Code string `json:"code"`
	Msg  string `json:"msg"`
}

type resetMsg struct {
	Type   string `json:"type"` // "reset"
	Reason string `json:"reason"`
}

// clientMsg is any message a browser sends.
type clientMsg struct {
	Type   string  `json:"type"` // "filter", "resume" or "older"
	Since  *uint64 `json:"since"`
	Before string  `json:"before"` // older: a position ("" : before the ring)
	N      int     `json:"n"`      // older: how many lines
	filter.Spec
}

// specOf reads a filter from a view's URL parameters (/ws, /api/download):
// q, re, case, inv and level.
func specOf(q url.Values) filter.Spec {
	spec := filter.Spec{Text: q.Get("q"), Regex: q.Get("re") == "1", Case: q.Get("case") == "1", Invert: q.Get("inv") == "1", Level: q.Get("level")}
	if c := q.Get("context"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil {
			n = -1 // refused by Compile, with the bounds
		}
		spec.Context = n
	}
	return spec
}

func encode(v any) []byte {
	b, _ := json.Marshal(v) // only our own message types: cannot fail
	return b
}

// appendLines encodes a lines frame. at names the position just past the
// frame's last file line (for resuming on a new Log after a restart);
// first_at that of its first file line (where an older request starts,
// see history.go).
func appendLines(b []byte, lines []tailer.Line, replay bool) []byte {
	return appendLinesCtx(b, lines, nil, replay)
}

// appendLinesCtx is appendLines where ctx[i] marks lines[i] as context
// around a match ("ctx":true), not a match (ctx nil: none is).
func appendLinesCtx(b []byte, lines []tailer.Line, ctx []bool, replay bool) []byte {
	b = append(b, `{"type":"lines","lines":[`...)
	var at, first tailer.Position
	held := false
	for i := range lines {
		l := &lines[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLine(b, l, "")
		if ctx != nil && ctx[i] {
			b = append(b[:len(b)-1], `,"ctx":true}`...)
		}
		if p, ok := l.Pos(); ok {
			at = p
			if !held {
				first, held = p, true
			}
		}
	}
	b = append(b, ']')
	if held {
		b = append(b, `,"at":"`...)
		b = at.AppendText(b)
		b = append(b, `","first_at":"`...)
		b = first.AppendText(b)
		b = append(b, '"')
	}
	if replay {
		b = append(b, `,"replay":true`...)
	}
	return append(b, '}')
}

// appendLine encodes one line of a lines frame; host is set in merged views.
func appendLine(b []byte, l *tailer.Line, host string) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, l.Seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, l.Time, 10)
	if host != "" {
		b = append(b, `,"host":`...)
		b = appendString(b, host)
	}
	if p, ok := l.Pos(); ok {
		// The line's place in the file: a link to it (at=) outlives this
		// process and this ring.
		b = append(b, `,"pos":"`...)
		b = p.AppendText(b)
		b = append(b, '"')
	}
	b = append(b, `,"text":`...)
	b = appendString(b, l.Text)
	if l.Mark != "" {
		b = append(b, `,"mark":`...)
		b = appendString(b, l.Mark)
	} else if filter.Continues(l.Text) {
		b = append(b, `,"cont":true`...) // a line of the event before (filter.Continues)
	}
	return append(b, '}')
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. s is valid UTF-8 (tailer.Clean).
// U+2028 and U+2029 are escaped too, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while they are printable ASCII without a
		// quote or backslash; from a word with anything else, slowBytes
		// are looked at one by one (specials tend to come together, as
		// the quotes of a JSON line or the letters of a word in Greek).
		for i+8 <= len(s) {
			w := ascii.Word(s[i:])
			if ascii.High(w)|ascii.Below(w, 0x20)|ascii.Equal(w, '"')|ascii.Equal(w, '\\') != 0 {
				break
			}
			i += 8
		}
		for end := min(i+slowBytes, len(s)); i < end; {
			c := s[i]
			if c < utf8.RuneSelf {
				if c >= 0x20 && c != '"' && c != '\\' {
					i++
					continue
				}
				b = append(b, s[start:i]...)
				switch c {
				case '"', '\\':
					b = append(b, '\\', c)
				case '\n':
					b = append(b, '\\', 'n')
				case '\t':
					b = append(b, '\\', 't')
				case '\r':
					b = append(b, '\\', 'r')
				default:
					b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
				}
				i++
				start = i
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				start = i + 1
			case r == '\u2028' || r == '\u2029':
				b = append(b, s[start:i]...)
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
				start = i + size
			}
			i += size
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// slowBytes is how many bytes appendString looks at one by one after a
// word of eight held a byte to escape or a multi-byte character.
const slowBytes = 32
