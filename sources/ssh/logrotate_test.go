package ssh_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/sources/ssh/sshtest"
	"github.com/logviewer/logviewer/tailer"
)

// rotationRun is one rotation test with the real logrotate on this machine,
// followed over a real sshd on loopback: a writer appends rate lines/s while
// logrotate -f rotates the file `rotations` times, one every `every`.
type rotationRun struct {
	directives []string
	reopen     bool // the writer reopens the path after each rotation (create mode)
	behind     bool // the follower is held at a delivery while logrotate runs
	rotations  int
	every      time.Duration
	rate       int
	busybox    bool // the host's sh and tail are BusyBox's
}

func (r rotationRun) run(t *testing.T) sourcetest.RotationReport {
	bin := sourcetest.RequireLogrotate(t)
	var srv *sshtest.Server
	opts := testOptions()
	if r.busybox {
		srv = sshtest.StartWith(t, sshtest.Config{Shell: "/bin/sh", Bind: sshtest.BusyBox(t)})
		opts = busyBoxOptions()
	} else {
		srv = sshtest.Start(t)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(t, path, "")
	lr := sourcetest.NewLogrotate(t, bin, path, r.directives...)
	src := mustNew(t, srv.Entry("test", filepath.Join(dir, "*.log")), nil, opts)

	sink := sourcetest.NewGate()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Follow(ctx, path, 0, sink) }()
	defer func() {
		sink.Release()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Follow returned %v, want context.Canceled", err)
			}
		case <-time.After(timeout):
			t.Errorf("Follow did not return within %s of cancel", timeout)
		}
	}()
	sink.WaitState(t, timeout, tailer.StateFollowing)

	w := sourcetest.StartWriter(t, path, r.rate)
	tick := time.NewTicker(r.every)
	for range r.rotations {
		<-tick.C
		if r.behind {
			select {
			case <-sink.Hold():
			case <-time.After(timeout):
				t.Fatalf("the follower delivered nothing for %s", timeout)
			}
		}
		lr.Rotate(t)
		sink.Release()
		if r.reopen {
			w.Reopen(t)
		}
	}
	tick.Stop()
	<-time.After(r.every / 2) // a last stretch of writing into the newest file
	w.Stop(t)
	rep := sourcetest.CheckRotated(t, sink.Sink, path, w, 2*timeout)
	if float64(rep.Written) < float64(r.rate)*r.every.Seconds()*float64(r.rotations)/2 {
		t.Fatalf("the writer wrote only %d lines", rep.Written)
	}
	if got := len(sourcetest.Siblings(t, path)); got < r.rotations+1 {
		t.Fatalf("logrotate left %d files, want %d rotations and the live file", got, r.rotations)
	}
	lines, _ := sink.Snapshot()
	for _, l := range lines {
		if l.Mark == tailer.MarkSkipped && !strings.Contains(l.Text, " bytes ") {
			t.Errorf("a skipped marker that does not say how many bytes: %q", l.Text)
		}
	}
	return rep
}

// TestLogrotateCopyTruncate: a writer holding one O_APPEND descriptor writes
// 5,000 lines/s while logrotate copytruncate (copy to app.log.1, then
// truncate; compress, delaycompress) rotates nine times, one a second. Every
// line on disk at the end (the live file, app.log.1, app.log.N.gz
// decompressed) must have reached the viewer exactly once and in order; only
// lines written between a copy and its truncate, on no disk, may be missing.
func TestLogrotateCopyTruncate(t *testing.T) {
	rep := rotationRun{
		directives: []string{"copytruncate", "rotate 30", "compress", "delaycompress"},
		rotations:  9, every: time.Second, rate: 5000,
	}.run(t)
	if rep.Marks[tailer.MarkTruncated] < 9 {
		t.Errorf("marks %v: want a truncated marker for each of the 9 rotations", rep.Marks)
	}
}

// TestLogrotateCopyTruncateBehind: the same, with the follower held at a
// delivery while each copytruncate runs, so that every truncation cuts lines
// it has not read (some sent by tail and waiting in the connection, the rest
// not read at all): they must come from tail's bytes and from the copy
// (app.log.1), and the truncated markers must say so.
func TestLogrotateCopyTruncateBehind(t *testing.T) {
	rep := rotationRun{
		directives: []string{"copytruncate", "rotate 30", "compress", "delaycompress"},
		behind:     true, rotations: 6, every: 700 * time.Millisecond, rate: 5000,
	}.run(t)
	if rep.FromCopy < 6 {
		t.Errorf("%d of 6 truncations were read on from the copy; marks %v", rep.FromCopy, rep.Marks)
	}
}

// TestLogrotateCopyTruncateBusyBox: TestLogrotateCopyTruncate on a host whose
// sh and tail are BusyBox's (tail -s in whole seconds).
func TestLogrotateCopyTruncateBusyBox(t *testing.T) {
	rep := rotationRun{
		directives: []string{"copytruncate", "rotate 30", "compress", "delaycompress"},
		rotations:  6, every: time.Second, rate: 5000, busybox: true,
	}.run(t)
	if rep.Marks[tailer.MarkTruncated] < 6 {
		t.Errorf("marks %v: want a truncated marker for each of the 6 rotations", rep.Marks)
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

// TestRotatedWhileDisconnected: lines written while the host could not be
// reached, and then rotated away (copied and truncated, the copy maybe
// compressed at once, or renamed), are read from the sibling that holds them
// after the reconnect, and the marker names it.
func TestRotatedWhileDisconnected(t *testing.T) {
	srv := sshtest.Start(t)
	copyTo := func(t *testing.T, from, to string, compress bool) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if compress {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			if _, err := zw.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			data = b.Bytes()
		}
		if err := os.WriteFile(to, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		rotate func(t *testing.T, path string)
		mark   string
		from   string
	}{
		{"CopyTruncate", func(t *testing.T, path string) {
			copyTo(t, path, path+".1", false)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, tailer.MarkTruncated, "app.log.1"},
		{"CopyTruncateCompress", func(t *testing.T, path string) {
			copyTo(t, path, path+".1.gz", true)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, tailer.MarkTruncated, "app.log.1.gz"},
		{"Renamed", func(t *testing.T, path string) {
			if err := os.Rename(path, path+"-20261128"); err != nil {
				t.Fatal(err)
			}
		}, tailer.MarkRotated, "app.log-20261128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := sshtest.NewProxy(t, srv.Addr)
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			sourcetest.Append(t, path, "before 1\nbefore 2\n")
			h := srv.Entry("web", filepath.Join(dir, "*.log"))
			h.Address = proxy.Addr
			h.KnownHosts = sshtest.WriteFile(t, "known_hosts", srv.KnownHostsLine(proxy.Addr)+"\n")
			src := mustNew(t, h, nil, testOptions())
			sink, _ := follow(t, src, path, 5)
			waitTexts(t, sink, "before 1", "before 2")
			proxy.Refuse(true)
			proxy.Cut()
			sink.WaitState(t, timeout, tailer.StateReconnecting)
			sourcetest.Append(t, path, "during 1\nduring 2\n")
			tc.rotate(t, path)
			sourcetest.Append(t, path, "after\n")
			proxy.Refuse(false)
			waitTexts(t, sink, "before 1", "before 2", "during 1", "during 2", "after")
			lines, _ := sink.Snapshot()
			var marks []tailer.Line
			for _, l := range lines {
				if l.Mark != "" {
					marks = append(marks, l)
				}
			}
			if len(marks) != 1 || marks[0].Mark != tc.mark || !strings.Contains(marks[0].Text, tc.from) {
				t.Errorf("marks %+v, want one %q that names %s", marks, tc.mark, tc.from)
			}
		})
	}
}
