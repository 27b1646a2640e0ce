package filter

import (
	"fmt"
	"testing"

	"github.com/logviewer/logviewer/tailer"
)

// benchLines returns n lines of about 100 bytes, numbered from seq 1.
func benchLines(n int) []tailer.Line {
	lines := make([]tailer.Line, n)
	for i := range lines {
		lines[i] = tailer.Line{
			Seq: uint64(i + 1), Time: 1732000000000, File: 1, Offset: int64(i+1) * 100,
			Text: fmt.Sprintf("2024-11-19T10:00:00.%06dZ INFO request id=%08d path=/api/items status=200 took=12ms", i, i),
		}
	}
	return lines
}

// BenchmarkFilterKeep is the per-line cost of a viewer's filter. One line
// in 16 matches, as when someone looks for an error in a busy log.
func BenchmarkFilterKeep(b *testing.B) {
	lines := benchLines(1024)
	for i := range lines {
		if i%16 == 0 {
			lines[i].Text += " ERROR upstream timeout"
		}
	}
	for _, c := range []struct {
		name string
		spec Spec
	}{
		{"substring", Spec{Text: "ERROR", Case: true}},
		{"substring-fold", Spec{Text: "error"}},
		{"substring-invert", Spec{Text: "ERROR", Case: true, Invert: true}},
		{"regex", Spec{Text: `ERROR.*time(out)?`, Regex: true, Case: true}},
		{"regex-fold", Spec{Text: `error.*time(out)?`, Regex: true}}, // the UI's default: case-insensitive
		{"regex-anchored", Spec{Text: `^2024-11-19T10:00:00\.0000`, Regex: true, Case: true}},
		{"regex-fold-literal", Spec{Text: "timeout", Regex: true}}, // a plain word typed with regex on
	} {
		b.Run(c.name, func(b *testing.B) {
			f, err := Compile(c.spec)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			kept := 0
			for b.Loop() {
				for i := range lines {
					if f.Keep(&lines[i]) {
						kept++
					}
				}
			}
			b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
			if kept == 0 {
				b.Fatal("nothing kept")
			}
		})
	}
}
