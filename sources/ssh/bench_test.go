package ssh_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/ssh/sshtest"
	"github.com/logviewer/logviewer/tailer"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// countSink counts lines and closes reached when want lines arrived.
type countSink struct {
	n       atomic.Int64
	want    int64
	once    sync.Once
	reached chan struct{}
	states  chan tailer.State
}

func (s *countSink) Lines(ls []tailer.Line) {
	for _, l := range ls {
		if l.Mark == "" && s.n.Add(1) == s.want {
			s.once.Do(func() { close(s.reached) })
		}
	}
}

func (s *countSink) State(st tailer.State) {
	select {
	case s.states <- st:
	default:
	}
}

// BenchmarkFollowThroughput measures lines/s from a remote file through one
// SSH session to a sink: b.N lines of 100 bytes are appended at once to a
// followed file, and the clock stops when the sink has them all.
func BenchmarkFollowThroughput(b *testing.B) {
	srv := sshtest.Start(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(b, path, "")
	src := mustNew(b, srv.Entry("bench", filepath.Join(dir, "*.log")), nil, testOptions())
	sink := &countSink{want: int64(b.N), reached: make(chan struct{}), states: make(chan tailer.State, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Follow(ctx, path, 0, sink) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			b.Errorf("Follow: %v", err)
		}
	}()
	for st := range sink.states {
		if st.Code == tailer.StateFollowing {
			break
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	pad := strings.Repeat("x", 90)
	b.ResetTimer()
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range b.N {
		fmt.Fprintf(w, "%08d %s\n", i, pad)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	select {
	case <-sink.reached:
	case <-time.After(time.Minute):
		b.Fatalf("only %d of %d lines arrived within a minute", sink.n.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
