package history

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/logviewer/logviewer/filter"
	"github.com/logviewer/logviewer/sources/internal/rotation"
	"github.com/logviewer/logviewer/tailer"
)

// benchFile writes lines lines of about 100 bytes as name (gzip when it ends
// in .gz) and returns the uncompressed size.
func benchFile(b *testing.B, dir, name string, lines int) int64 {
	b.Helper()
	var buf bytes.Buffer
	for n := 1; n <= lines; n++ {
		fmt.Fprintf(&buf, "2026-11-28T08:00:00.%03dZ INFO request %09d served in 12ms path=/api/v1/items/%d status=200\n", n%1000, n, n%977)
	}
	size := int64(buf.Len())
	data := buf.Bytes()
	if filepath.Ext(name) == ".gz" {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		b.Fatal(err)
	}
	return size
}

// benchPageBack pages back through the whole chain, n lines a request, and
// reports lines/s, MB/s and the peak heap.
func benchPageBack(b *testing.B, name string, lines, n int, f *filter.Filter) {
	dir := b.TempDir()
	benchFile(b, dir, "app.log", 0)
	size := benchFile(b, dir, name, lines)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	var slowest time.Duration
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}()
	b.ResetTimer()
	got := 0
	for range b.N {
		r := New(rotation.OS{}, dir, "app.log", 64<<10)
		before := tailer.Position{}
		for {
			t0 := time.Now()
			p, err := r.Older(context.Background(), tailer.OlderRequest{Before: before, N: n, Keep: f.KeepFunc(), Key: f.Key()})
			slowest = max(slowest, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			got += len(p.Lines)
			if !p.More {
				break
			}
			before = p.Next
		}
		r.Close()
	}
	b.StopTimer()
	close(stop)
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(got)/sec, "lines/s")
	b.ReportMetric(float64(size)*float64(b.N)/sec/1e6, "MB/s")
	b.ReportMetric(float64(peak-min(peak, base.HeapInuse))/(1<<20), "heap-growth-MiB")
	b.ReportMetric(float64(slowest.Milliseconds()), "slowest-request-ms")
}

func BenchmarkOlderPlain(b *testing.B) { benchPageBack(b, "app.log.1", 1_000_000, 500, nil) }
func BenchmarkOlderGzip(b *testing.B)  { benchPageBack(b, "app.log.1.gz", 1_000_000, 500, nil) }
func BenchmarkSearchPlain(b *testing.B) {
	f, _ := filter.Compile(filter.Spec{Text: "request 0000123"})
	benchPageBack(b, "app.log.1", 1_000_000, 500, f)
}
func BenchmarkSearchGzip(b *testing.B) {
	f, _ := filter.Compile(filter.Spec{Text: "request 0000123"})
	benchPageBack(b, "app.log.1.gz", 1_000_000, 500, f)
}
