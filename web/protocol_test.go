package web

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/logviewer/logviewer/tailer"
)

// FuzzAppendString checks the hand-written JSON string encoder against
// encoding/json: whatever the text, the frame parses back to it.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "\x00\x1f\t\n\r", "é ü \u2028 \u2029", "\xff bad", "<script>"} {
		f.Add(s)
	}
	// Long enough for the eight-bytes-at-a-time path, with what must be
	// escaped at and across word boundaries and after a slow stretch.
	long := strings.Repeat("abcdefgh", 12)
	for _, at := range []int{0, 7, 8, 15, 33, 40, 90} {
		for _, x := range []string{`"`, `\`, "\x00", "\x1f", "\t", "\x7f", "é", "\u2028", "\u2029", "\xff", "\xe2\x80"} {
			f.Add(long[:at] + x + long[at:])
		}
	}
	f.Add(strings.Repeat(`{"k":"v"}`, 20))
	f.Fuzz(func(t *testing.T, s string) {
		b := appendLines(nil, []tailer.Line{{Seq: 1, Time: 2, File: 3, Offset: 4, Text: s}}, true)
		var m struct {
			Type   string
			At     string
			Replay bool
			Lines  []struct {
				Seq  uint64
				Text string
			}
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("frame for %q is not JSON: %v\n%s", s, err, b)
		}
		want := s
		if !utf8.ValidString(s) {
			want = string([]rune(s)) // invalid bytes become U+FFFD, as in encoding/json
		}
		if len(m.Lines) != 1 || m.Lines[0].Text != want || m.At != "3:4" || !m.Replay || m.Type != "lines" {
			t.Fatalf("round trip of %q gave %+v", s, m)
		}
	})
}
