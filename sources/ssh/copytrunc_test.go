package ssh

import (
	"bytes"
	"strings"
	"testing"
)

// TestOldPart: which of tail's bytes after a truncation are the old
// content's, for each way tail can go on after it.
func TestOldPart(t *testing.T) {
	old := "L1 old\nL2 old\n"
	for _, tc := range []struct {
		name      string
		delivered int64
		raw, live string
		want      int
	}{
		{"NothingWrittenSince", 0, old, "", len(old)},
		{"NewContentNotSentYet", 0, old, "N1 new\nN2 new\n", len(old)},
		{"TailWentBackTo0", 0, old + "N1 new\nN2 new\n", "N1 new\nN2 new\nN3 new\n", len(old)},
		{"TailWentBackTo0MidLine", 0, old + "N1 new\nN2 n", "N1 new\nN2 new\n", len(old)},
		{"AllNew", 0, "N1 new\n", "N1 new\nN2 new\n", 0},
		{"OldLinePartial", 0, "L1 old\nL2 o" + "N1 new\n", "N1 new\n", len(old) - 3},
		// The file grew past tail's offset before tail looked: tail read
		// the new content at the same offsets.
		{"SameOffsets", 100, old + "X3 new\nX4 new\n", strings.Repeat("n", 100+len(old)) + "X3 new\nX4 new\n", len(old)},
		{"SameOffsetsPartLine", 100, old + "X3 new\nX4 new\n", strings.Repeat("n", 100+len(old)+3) + "new\nX4 new\n", len(old) + len("X3 new\n")},
		// Not enough of the file to match what tail sent: all old.
		{"LiveShorterThanSent", 0, old + "N1 new\nN2 new\n", "N1 new\n", len(old + "N1 new\nN2 new\n")},
		// The file's first line at the end of an old line that more old
		// lines follow is no start of it.
		{"HeadInsideOldLine", 0, "xN1 new\nL2 old\n", "N1 new\n", len("xN1 new\nL2 old\n")},
		{"Unrelated", 0, old, "something else entirely\n", len(old)},
		// Each line could begin the new content: the work stays bounded.
		{"RepetitiveLines", 0, strings.Repeat("a\n", 100000) + "b\n", strings.Repeat("a\n", 100000) + "c\n", 200002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oldPart([]byte(tc.raw), tc.delivered, bytes.NewReader([]byte(tc.live)), int64(len(tc.live)))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("oldPart = %d (%q), want %d (%q)", got, tc.raw[:got], tc.want, tc.raw[:tc.want])
			}
		})
	}
}
