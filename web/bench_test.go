package web

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
		spec filterSpec
	}{
		{"substring", filterSpec{Text: "ERROR", Case: true}},
		{"substring-fold", filterSpec{Text: "error"}},
		{"substring-invert", filterSpec{Text: "ERROR", Case: true, Invert: true}},
		{"regex", filterSpec{Text: `ERROR.*time(out)?`, Regex: true, Case: true}},
		{"regex-fold", filterSpec{Text: `error.*time(out)?`, Regex: true}}, // the UI's default: case-insensitive
		{"regex-anchored", filterSpec{Text: `^2024-11-19T10:00:00\.0000`, Regex: true, Case: true}},
		{"regex-fold-literal", filterSpec{Text: "timeout", Regex: true}}, // a plain word typed with regex on
	} {
		b.Run(c.name, func(b *testing.B) {
			f, err := c.spec.compile()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			kept := 0
			for b.Loop() {
				for i := range lines {
					if f.keep(&lines[i]) {
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

// BenchmarkAppendLines encodes one lines frame (a full batch of 2000, a
// typical live batch of 64, and a single line).
func BenchmarkAppendLines(b *testing.B) {
	for _, n := range []int{1, 64, 2000} {
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			lines := benchLines(n)
			buf := appendLines(nil, lines, false)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = appendLines(buf[:0], lines, false)
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkAppendString is the JSON string escaping of one line's text.
func BenchmarkAppendString(b *testing.B) {
	for _, c := range []struct{ name, text string }{
		{"ascii", benchLines(1)[0].Text},
		{"quotes", `{"level":"info","msg":"request \"done\"","path":"/api/items","status":200,"took":"12ms"}`},
		{"utf8", "größe ✓ größe ✓ größe ✓ größe ✓ größe ✓ größe ✓ größe ✓ größe ✓ größe ✓ größe ✓"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var buf []byte
			b.SetBytes(int64(len(c.text)))
			b.ReportAllocs()
			for b.Loop() {
				buf = appendString(buf[:0], c.text)
			}
		})
	}
}

// BenchmarkRoomFrame is the work a room does once per frame, shared by every
// viewer at the same cursor with the same filter: read from the ring, filter,
// encode.
func BenchmarkRoomFrame(b *testing.B) {
	l := tailer.NewLog("local", "/x.log", 1000, 8<<20)
	lines := benchLines(2000)
	for i := range lines {
		lines[i].Seq = 0
	}
	l.Lines(lines)
	first, next := l.Bounds()
	for _, c := range []struct {
		name string
		spec filterSpec
	}{
		{"nofilter", filterSpec{}},
		{"substring", filterSpec{Text: "id=0000", Case: true}},
		{"regex", filterSpec{Text: `status=2\d\d`, Regex: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, err := c.spec.compile()
			if err != nil {
				b.Fatal(err)
			}
			srv := &Server{opts: Options{MaxBatch: defaultMaxBatch, MaxFrameBytes: defaultMaxFrameBytes}}
			r := newRoom(srv, l)
			v := &viewer{filter: f}
			b.ReportAllocs()
			for b.Loop() {
				v.cursor = first
				if fr := r.frame(v, next); fr.next != next {
					b.Fatalf("frame ends at %d, want %d", fr.next, next)
				}
			}
			b.ReportMetric(float64(b.N)*float64(next-first)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
