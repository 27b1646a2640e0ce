package cluster

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/logviewer/logviewer/tailer"
)

func TestBatchRoundTrip(t *testing.T) {
	in := []tailer.Line{
		{Time: 1795867510546, File: 1234567, Offset: 100, Text: "first ☃ line"},
		{Time: 1795867510547, Offset: -1, Mark: "deploy", Text: "deploy v2"},
		{Time: -5, File: 0, Offset: 0, Text: ""},
	}
	b := appendLines(nil, in)
	out, err := decodeLines(nil, b, 41, len(in))
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		want := in[i]
		want.Seq = 41 + uint64(i)
		if out[i] != want {
			t.Errorf("line %d: %+v, want %+v", i, out[i], want)
		}
	}
	if _, err := decodeLines(nil, b[:len(b)-1], 1, len(in)); err == nil {
		t.Error("a cut batch decoded")
	}
	if _, err := decodeLines(nil, b, 1, len(in)-1); err == nil {
		t.Error("a batch with a line too many decoded")
	}
}

func TestFitCutsWhatNATSCannotCarry(t *testing.T) {
	c := &Cluster{maxPayload: 8192}
	short := tailer.Line{Text: "short"}
	if got := c.fit(short); got != short {
		t.Errorf("a short line changed: %+v", got)
	}
	long := tailer.Line{Text: strings.Repeat("☃", 10000)}
	got := c.fit(long)
	if len(got.Text) > 8192-4096 || !utf8.ValidString(got.Text) || !strings.Contains(got.Text, "more bytes cut: NATS max_payload") {
		t.Errorf("long line cut to %d bytes, valid %v: …%s", len(got.Text), utf8.ValidString(got.Text), got.Text[len(got.Text)-60:])
	}
}
