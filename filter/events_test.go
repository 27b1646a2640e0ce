package filter

import (
	"testing"

	"github.com/logviewer/logviewer/tailer"
)

func TestContinues(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{
		{"\tat com.example.Foo.bar(Foo.java:12)", true},
		{"Caused by: java.io.IOException: disk full", true},
		{"\t... 12 more", true},
		{"... 12 more", true},
		{"java.lang.IllegalStateException: boom", true},
		{"Traceback (most recent call last):", true},
		{`  File "app.py", line 3, in <module>`, true},
		{"ValueError: bad value", true},
		{"goroutine 7 [running]:", true},
		{"main.main()", true},
		{"net/http.(*conn).serve(0xc000123456)", true},
		{"\t/usr/local/go/src/net/http/server.go:2009 +0x8f", true},
		{"created by net/http.(*Server).Serve in goroutine 1", true},
		{"", true},
		{"2026-11-28T08:00:00Z ERROR boom", false},
		{"ERROR boom", false},
		{"[error] boom", false},
		{`{"level":"error"}`, false},
		{"panic: boom", false},
		{"plain text line", false},
		{"server: listening", false},
	} {
		if got := Continues(c.text); got != c.want {
			t.Errorf("Continues(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

func TestKeepEvent(t *testing.T) {
	ev := func(s ...string) []tailer.Line {
		var ls []tailer.Line
		for _, x := range s {
			ls = append(ls, tailer.Line{Text: x})
		}
		return ls
	}
	java := ev("2026-11-28T08:00:00Z ERROR request failed", "java.lang.IllegalStateException: no session", "\tat com.example.A.b(A.java:1)")
	for _, c := range []struct {
		spec Spec
		want bool
	}{
		{Spec{Text: "ERROR"}, true},
		{Spec{Text: "IllegalState"}, true},
		{Spec{Text: "IllegalState", Invert: true}, false},
		{Spec{Level: "error"}, true},
		{Spec{Level: "warn"}, false},
		{Spec{Level: "error", Text: "A.java"}, true},
		{Spec{Text: "nothing"}, false},
	} {
		f, err := Compile(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.KeepEvent(java); got != c.want {
			t.Errorf("%+v: KeepEvent = %v, want %v", c.spec, got, c.want)
		}
	}
}

func BenchmarkContinues(b *testing.B) {
	for _, text := range []string{
		"2026-11-28T08:00:00Z INFO http: GET /healthz 200 0.3ms",
		"line 12 of a quiet log with nothing to find in it",
		"L000000000042 T000001234567890 xxxxxxxxxxxxxxxxxxxx",
		"\tat com.example.Session.get(Session.java:12)",
		"java.lang.IllegalStateException: no session",
	} {
		b.Run(text[:8], func(b *testing.B) {
			for b.Loop() {
				Continues(text)
			}
		})
	}
}

// TestKeepEventTagged: in a merged view an event is kept when the filter
// matches its host's tag or any of its lines, and its level is its first
// line's.
func TestKeepEventTagged(t *testing.T) {
	ev := []tailer.Line{{Text: "2026-11-28 ERROR boom"}, {Text: "\tat pkg.Work(Work.java:3)"}}
	for _, tc := range []struct {
		spec Spec
		tag  string
		want bool
	}{
		{Spec{Text: "web-2"}, "web-2", true},
		{Spec{Text: "web-2"}, "web-1", false},
		{Spec{Text: "Work.java"}, "web-1", true},
		{Spec{Text: "Work.java", Invert: true}, "web-1", false},
		{Spec{Text: "web-2", Level: "info"}, "web-2", false},
		{Spec{Level: "error"}, "web-1", true},
	} {
		f, err := Compile(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.KeepEventTagged(ev, tc.tag); got != tc.want {
			t.Errorf("%+v on %s: %v, want %v", tc.spec, tc.tag, got, tc.want)
		}
	}
}
