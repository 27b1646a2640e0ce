package local_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
)

// rotationRun is one rotation test with the real logrotate: a writer appends
// rate lines/s while logrotate -f rotates the file `rotations` times, one
// every `every`.
type rotationRun struct {
	directives []string
	reopen     bool // the writer reopens the path after each rotation (create mode)
	behind     bool // the follower is held at a delivery while every other logrotate run (the 1st, 3rd…) runs
	rotations  int
	every      time.Duration
	rate       int
}

func (r rotationRun) run(t *testing.T) sourcetest.RotationReport {
	bin := sourcetest.RequireLogrotate(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(t, path, "")
	lr := sourcetest.NewLogrotate(t, bin, path, r.directives...)
	src := local.New([]string{filepath.Join(dir, "*.log")}, local.Options{Poll: 50 * time.Millisecond})

	sink := sourcetest.NewGate()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Follow(ctx, path, 0, sink) }()
	defer func() {
		sink.Release() // a test that failed while holding the follower
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Follow returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Follow did not return after cancel")
		}
	}()
	sink.WaitState(t, 10*time.Second, tailer.StateFollowing)

	w := sourcetest.StartWriter(t, path, r.rate)
	tick := time.NewTicker(r.every)
	for i := range r.rotations {
		<-tick.C
		if r.behind && i%2 == 0 {
			select {
			case <-sink.Hold():
			case <-time.After(10 * time.Second):
				t.Fatal("the follower delivered nothing for 10s")
			}
		}
		lr.Rotate(t)
		sink.Release()
		if r.reopen {
			w.Reopen(t)
		}
	}
	tick.Stop()
	time.Sleep(r.every / 2) // a last stretch of writing into the newest file
	w.Stop(t)
	rep := sourcetest.CheckRotated(t, sink.Sink, path, w, 30*time.Second)
	if float64(rep.Written) < float64(r.rate)*r.every.Seconds()*float64(r.rotations)/2 {
		t.Fatalf("the writer wrote only %d lines", rep.Written)
	}
	if got := len(sourcetest.Siblings(t, path)); got < r.rotations+1 {
		t.Fatalf("logrotate left %d files, want %d rotations and the live file", got, r.rotations)
	}
	return rep
}

// TestLogrotateCopyTruncate: a writer holding one O_APPEND descriptor writes
// 5,000 lines/s while logrotate copytruncate rotates (copy to app.log.1, then
// truncate) nine times, once a second. Every line on disk at the end, in the
// live file and every copy (app.log.1 plain, app.log.N.gz), must have reached
// the sink exactly once and in order; only lines written between a copy and
// its truncate, which are on no disk, may be missing.
//
// For five of the nine runs the follower is held at a delivery while
// logrotate runs (a slow reader, made certain), so that the truncation cuts
// lines it has not read: those must be read on from the copy, and the
// truncated markers say so. The other four let the follower race the
// truncation as it will.
func TestLogrotateCopyTruncate(t *testing.T) {
	rep := rotationRun{
		directives: []string{"copytruncate", "rotate 30", "compress", "delaycompress"},
		behind:     true, rotations: 9, every: time.Second, rate: 5000,
	}.run(t)
	if rep.Marks[tailer.MarkTruncated] < 9 {
		t.Errorf("marks %v: want a truncated marker for each of the 9 rotations", rep.Marks)
	}
	if rep.FromCopy < 5 {
		t.Errorf("%d truncations were read on from the copy, want at least the 5 where the follower was held", rep.FromCopy)
	}
}

// TestLogrotateCreateCompress: logrotate's default rotation (rename, create a
// new file) with compress and delaycompress; the writer reopens the path after
// each run, as an application told to by postrotate. Every line is on disk,
// and none may be missing.
func TestLogrotateCreateCompress(t *testing.T) {
	rep := rotationRun{
		directives: []string{"create", "rotate 30", "compress", "delaycompress"},
		reopen:     true, rotations: 5, every: 700 * time.Millisecond, rate: 5000,
	}.run(t)
	if rep.NoDisk != 0 || rep.Marks[tailer.MarkRotated] < 5 {
		t.Errorf("%d lines on no disk (want 0), marks %v (want 5 rotated)", rep.NoDisk, rep.Marks)
	}
}

// TestLogrotateCreateDateext: rename rotation to dated names
// (app.log-20261128-094512), several in one minute.
func TestLogrotateCreateDateext(t *testing.T) {
	rep := rotationRun{
		directives: []string{"create", "rotate 30", "dateext", "dateformat -%Y%m%d-%H%M%S"},
		reopen:     true, rotations: 4, every: 1100 * time.Millisecond, rate: 5000,
	}.run(t)
	if rep.NoDisk != 0 || rep.Marks[tailer.MarkRotated] < 4 {
		t.Errorf("%d lines on no disk (want 0), marks %v (want 4 rotated)", rep.NoDisk, rep.Marks)
	}
}
