package web

import (
	"encoding/json"
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

func TestContainsFold(t *testing.T) {
	for _, tt := range []struct {
		s, sub string
		want   bool
	}{
		{"ERROR disk", "error", true},
		{"an Error here", "eRROR", true},
		{"warning", "error", false},
		{"e", "error", false},
		{"xxE", "e", true},
		{"ÄRGER", "ärger", true},
		{"abc", "", true},
	} {
		if got := containsFold(tt.s, tt.sub); got != tt.want {
			t.Errorf("containsFold(%q, %q) = %v", tt.s, tt.sub, got)
		}
	}
}

func TestFilterSpec(t *testing.T) {
	line := func(s string) *tailer.Line { return &tailer.Line{Text: s} }
	f, err := filterSpec{Text: "err", Invert: true}.compile()
	if err != nil || f.keep(line("an ERR")) || !f.keep(line("ok")) || !f.keep(&tailer.Line{Text: "err", Mark: "rotated"}) {
		t.Fatalf("invert filter wrong (err %v)", err)
	}
	if _, err := (filterSpec{Text: "a(", Regex: true}).compile(); err == nil {
		t.Fatal("bad regex accepted")
	}
	if f, _ := (filterSpec{}).compile(); f != nil || !f.keep(line("x")) {
		t.Fatal("empty filter should pass everything")
	}
}

func TestLiteralRegexUsesSubstringSearch(t *testing.T) {
	for _, tt := range []struct {
		expr string
		lit  bool
	}{
		{"timeout", true},
		{"disk full", true},
		{`a\.b`, true},
		{"a.b", false},
		{"err|warn", false},
		{"(?i)x", false},
		{"^start", false},
	} {
		f, err := filterSpec{Text: tt.expr, Regex: true}.compile()
		if err != nil {
			t.Fatal(err)
		}
		if (f.re == nil) != tt.lit {
			t.Errorf("%q: literal %v, want %v", tt.expr, f.re == nil, tt.lit)
		}
	}
	// Same answers either way, case-insensitive by default.
	f, _ := filterSpec{Text: `a\.b`, Regex: true}.compile()
	for line, want := range map[string]bool{"xA.Bx": true, "axb": false, "a.b": true} {
		if got := f.keep(&tailer.Line{Text: line}); got != want {
			t.Errorf("%q on %q = %v, want %v", `a\.b`, line, got, want)
		}
	}
	f, _ = filterSpec{Text: "Disk", Regex: true, Case: true}.compile()
	if f.keep(&tailer.Line{Text: "disk"}) || !f.keep(&tailer.Line{Text: "Disk"}) {
		t.Error("a case-sensitive literal regex must keep case")
	}
}
