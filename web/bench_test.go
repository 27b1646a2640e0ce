package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/logviewer/logviewer/filter"
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
		spec filter.Spec
	}{
		{"nofilter", filter.Spec{}},
		{"substring", filter.Spec{Text: "id=0000", Case: true}},
		{"regex", filter.Spec{Text: `status=2\d\d`, Regex: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, err := filter.Compile(c.spec)
			if err != nil {
				b.Fatal(err)
			}
			srv := &Server{opts: Options{MaxBatch: defaultMaxBatch, MaxFrameBytes: defaultMaxFrameBytes}}
			r := newRoom(srv, l)
			v := &viewer{filter: f}
			b.ReportAllocs()
			for b.Loop() {
				v.cursor = first
				if fr := r.frame(v, next, time.Now().Add(time.Hour)); fr.next != next {
					b.Fatalf("frame ends at %d, want %d", fr.next, next)
				}
			}
			b.ReportMetric(float64(b.N)*float64(next-first)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
