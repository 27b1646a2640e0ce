package tailer_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/logviewer/logviewer/tailer"
)

// benchLines returns n lines of about 100 bytes, as a log writer makes them.
func benchLines(n int) []tailer.Line {
	lines := make([]tailer.Line, n)
	for i := range lines {
		text := fmt.Sprintf("2024-11-19T10:00:00.%06dZ INFO request id=%08d path=/api/items status=200 took=12ms", i, i)
		lines[i] = tailer.Line{Time: 1732000000000, File: 1, Offset: int64(i * 100), Text: text}
	}
	return lines
}

// BenchmarkLogLines appends batches to a full ring (8 MiB, the default
// buffer), so every append also drops the oldest lines: the steady state of
// a busy log.
func BenchmarkLogLines(b *testing.B) {
	for _, batch := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l := tailer.NewLog("local", "/x.log", 1000, 8<<20)
			lines := benchLines(batch)
			for range (8<<20)/(100*batch) + 1 {
				l.Lines(lines)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				l.Lines(lines)
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkLogRead reads one frame's worth (2000 lines, the default batch)
// from a full ring into a reused slice, as a room does for each frame.
func BenchmarkLogRead(b *testing.B) {
	l := tailer.NewLog("local", "/x.log", 1000, 8<<20)
	lines := benchLines(1024)
	for range 100 {
		l.Lines(lines)
	}
	first, _ := l.Bounds()
	dst := make([]tailer.Line, 0, 2000)
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = l.Read(dst[:0], first+1000, 2000)
	}
	b.ReportMetric(float64(b.N*2000)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkClean is the per-line cost of making a line safe to show.
func BenchmarkClean(b *testing.B) {
	for _, c := range []struct{ name, text string }{
		{"ascii", benchLines(1)[0].Text},
		{"utf8", strings.Repeat("größe ✓ ", 12)},
		{"control", strings.Repeat("a\x01b", 33)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.text)))
			b.ReportAllocs()
			for b.Loop() {
				_ = tailer.Clean(c.text, 65536)
			}
		})
	}
}
