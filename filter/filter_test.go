package filter

import (
	"regexp/syntax"
	"strings"
	"testing"

	"github.com/logviewer/logviewer/tailer"
)

func line(s string) *tailer.Line { return &tailer.Line{Text: s} }

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

func TestSpec(t *testing.T) {
	f, err := Compile(Spec{Text: "err", Invert: true})
	if err != nil || f.Keep(line("an ERR")) || !f.Keep(line("ok")) || !f.Keep(&tailer.Line{Text: "err", Mark: "rotated"}) {
		t.Fatalf("invert filter wrong (err %v)", err)
	}
	if _, err := Compile(Spec{Text: "a(", Regex: true}); err == nil {
		t.Fatal("bad regex accepted")
	}
	if f, _ := Compile(Spec{}); f != nil || !f.Keep(line("x")) || f.KeepFunc() != nil || f.Key() != "" {
		t.Fatal("empty filter should pass everything")
	}
	if _, err := Compile(Spec{Text: strings.Repeat("a", MaxTextLen+1)}); err != ErrTooLong {
		t.Fatalf("over-long filter: %v", err)
	}
	if _, err := Compile(Spec{Text: "\xff"}); err == nil {
		t.Fatal("invalid UTF-8 accepted")
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
		f, err := Compile(Spec{Text: tt.expr, Regex: true})
		if err != nil {
			t.Fatal(err)
		}
		if f.Regexp() == tt.lit {
			t.Errorf("%q: literal %v, want %v", tt.expr, !f.Regexp(), tt.lit)
		}
	}
	// Same answers either way, case-insensitive by default.
	f, _ := Compile(Spec{Text: `a\.b`, Regex: true})
	for line, want := range map[string]bool{"xA.Bx": true, "axb": false, "a.b": true} {
		if got := f.Keep(&tailer.Line{Text: line}); got != want {
			t.Errorf("%q on %q = %v, want %v", `a\.b`, line, got, want)
		}
	}
	f, _ = Compile(Spec{Text: "Disk", Regex: true, Case: true})
	if f.Keep(&tailer.Line{Text: "disk"}) || !f.Keep(&tailer.Line{Text: "Disk"}) {
		t.Error("a case-sensitive literal regex must keep case")
	}
}

// TestCostlyRegexRefused: the filter that stalled a log for 10 s (issue 8:
// `.{0,999}` 127 times, 1,020 bytes) and its relatives are refused with a
// reason, while ordinary filters, long alternations included, pass.
func TestCostlyRegexRefused(t *testing.T) {
	for _, expr := range []string{
		strings.Repeat(".{0,999}", 127),
		"(a{30}){30}(b{30}){30}(c{30}){30}",
		"[a-z]{1000}[0-9]{1000}",
		`(\w+\s*){500}`,
	} {
		for _, cs := range []bool{false, true} {
			if _, err := Compile(Spec{Text: expr, Regex: true, Case: cs}); err != ErrTooComplex {
				t.Errorf("%.40q (case %v): %v, want ErrTooComplex", expr, cs, err)
			}
		}
	}
	words := make([]string, 50)
	for i := range words {
		words[i] = "word" + strings.Repeat("x", i%7)
	}
	for _, expr := range []string{
		`ERROR.*time(out)?`,
		`status=5\d\d`,
		`^\d{4}-\d{2}-\d{2}T`,
		strings.Join(words, "|"),
		`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`,
	} {
		if _, err := Compile(Spec{Text: expr, Regex: true}); err != nil {
			t.Errorf("%q refused: %v", expr, err)
		}
	}
}

// FuzzCompile: whatever the text, Compile returns quickly with either an
// error or a filter whose program is within MaxProgram, and matching works.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"err", "a(", `.{0,999}.{0,999}`, "(a|b)*c", `\pL+`, "(?i)x{2,}", "[[:alpha:]]{30}", "x**"} {
		f.Add(s, true, false)
	}
	f.Fuzz(func(t *testing.T, text string, regex, cs bool) {
		flt, err := Compile(Spec{Text: text, Regex: regex, Case: cs})
		if err != nil || flt == nil {
			return
		}
		if flt.re != nil {
			flags := syntax.Perl
			if !cs {
				flags |= syntax.FoldCase
			}
			re, err := syntax.Parse(text, flags)
			if err != nil {
				t.Fatalf("accepted %q that does not parse: %v", text, err)
			}
			prog, err := syntax.Compile(re.Simplify())
			if err != nil || len(prog.Inst) > MaxProgram {
				t.Fatalf("accepted %q: %d instructions (limit %d), %v", text, len(prog.Inst), MaxProgram, err)
			}
		}
		flt.Keep(line(strings.Repeat("ab1 ", 64)))
	})
}

func TestLevel(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"2026-11-28T08:00:00Z ERROR db: gone", LevelError},
		{"2026-11-28T08:00:00Z FATAL x", LevelError},
		{`{"level":"warn","msg":"x"}`, LevelWarn},
		{"level=debug msg=x", LevelDebug},
		{"[notice] x", LevelInfo},
		{"E1128 08:00:00.000000 1 x.go:1] boom", LevelError},
		{"2026-11-28 INFO started", LevelInfo},
		{"TRACE cache hit", LevelDebug},
		{"ERRORS are counted here", LevelOther},
		{`127.0.0.1 - - [28/Nov/2026:08:00:00 +0000] "GET /x HTTP/1.1" 503 12`, LevelError},
		{`127.0.0.1 - - [28/Nov/2026:08:00:00 +0000] "POST /login HTTP/1.1" 404 0`, LevelWarn},
		{`127.0.0.1 - - [28/Nov/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 512`, LevelOther},
		{"--- FAIL: TestX (0.01s)", LevelError},
		{"✗ build step 3", LevelError},
		{"\tat com.example.Foo.bar(Foo.java:12)", LevelOther},
		{"\x1b[31mERROR\x1b[0m red", LevelError},
		{"plain line", LevelOther},
	} {
		if got := Level(c.text); got != c.want {
			t.Errorf("Level(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestLevelFilterComposesWithText(t *testing.T) {
	lines := []string{"INFO a order", "ERROR b order", "ERROR c payment", "WARN d order", "plain order"}
	for _, c := range []struct {
		spec Spec
		want []string
	}{
		{Spec{Level: "error"}, []string{"ERROR b order", "ERROR c payment"}},
		{Spec{Level: "error", Text: "order"}, []string{"ERROR b order"}},
		{Spec{Level: "warn,other"}, []string{"WARN d order", "plain order"}},
		{Spec{Level: "error", Text: "order", Invert: true}, []string{"ERROR c payment"}},
	} {
		f, err := Compile(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range lines {
			if f.Keep(&tailer.Line{Text: s}) {
				got = append(got, s)
			}
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%+v kept %q, want %q", c.spec, got, c.want)
		}
		if !f.Keep(&tailer.Line{Text: "x", Mark: "rotated"}) {
			t.Errorf("%+v dropped a marker", c.spec)
		}
	}
	for _, bad := range []string{"errors", "error,", strings.Repeat("error,", 20)} {
		if _, err := Compile(Spec{Level: bad}); err == nil {
			t.Errorf("level %q accepted", bad)
		}
	}
	a, _ := Compile(Spec{Text: "x", Level: "error"})
	b, _ := Compile(Spec{Text: "x"})
	if a.Key() == b.Key() {
		t.Errorf("a level filter shares its key with the text alone")
	}
}
