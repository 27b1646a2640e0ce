package local_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/tailer"
)

// countSink counts the lines of the file it receives and closes done at want.
type countSink struct {
	n     atomic.Int64
	want  int64
	done  chan struct{}
	ready chan struct{}
}

func (c *countSink) Lines(ls []tailer.Line) {
	k := int64(0)
	for _, l := range ls {
		if l.Mark == "" {
			k++
		}
	}
	if n := c.n.Add(k); n >= c.want && n-k < c.want {
		close(c.done)
	}
}

func (c *countSink) State(st tailer.State) {
	if st.Code == tailer.StateFollowing {
		select {
		case <-c.ready:
		default:
			close(c.ready)
		}
	}
}

// BenchmarkFollow measures how fast a followed file's new lines reach the
// sink: 200,000 lines of 90 bytes are appended in one write to a followed
// file, and the time until the last arrives is measured.
func BenchmarkFollow(b *testing.B) {
	const lines = 200_000
	var sb strings.Builder
	for i := range lines {
		fmt.Fprintf(&sb, "2026-11-28T09:40:00.%06dZ INFO request served path=/api/items status=200 n=%07d\n", i%1000000, i)
	}
	block := []byte(sb.String())
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		dir := b.TempDir()
		src := local.New([]string{filepath.Join(dir, "*.log")}, local.Options{Poll: 50 * time.Millisecond})
		path := filepath.Join(dir, "app.log")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		sink := &countSink{want: lines, done: make(chan struct{}), ready: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		ended := make(chan error, 1)
		go func() { ended <- src.Follow(ctx, path, 0, sink) }()
		<-sink.ready
		b.StartTimer()
		start := time.Now()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
		f.Close()
		select {
		case <-sink.done:
		case <-time.After(time.Minute):
			b.Fatalf("only %d of %d lines arrived", sink.n.Load(), lines)
		}
		total += time.Since(start)
		b.StopTimer()
		cancel()
		<-ended
		b.StartTimer()
	}
	b.ReportMetric(float64(lines)*float64(b.N)/total.Seconds(), "lines/s")
	b.SetBytes(int64(len(block)))
}
