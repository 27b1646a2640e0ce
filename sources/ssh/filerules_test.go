package ssh_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/sources/ssh/sshtest"
	"github.com/logviewer/logviewer/tailer"
)

// followEnds runs Follow until it returns on its own (within timeout) and
// returns the sink, how long it ran and its error.
func followEnds(t *testing.T, src tailer.Source, path string) (*sourcetest.Sink, time.Duration, error) {
	t.Helper()
	sink := sourcetest.NewSink()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := src.Follow(ctx, path, 10, sink)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Follow of %s did not end within %s; states %+v", path, timeout, lastState(sink))
	}
	return sink, time.Since(start), err
}

// noSecret fails when a delivered line holds secret.
func noSecret(t *testing.T, sink *sourcetest.Sink, secret string) {
	t.Helper()
	for _, text := range sink.Texts() {
		if strings.Contains(text, secret) {
			t.Errorf("a byte of a file outside the globs was delivered: %q", text)
		}
	}
}

// TestSymlinkSwappedOutside: the followed file is replaced by a symlink to a
// file outside the host's globs. Follow stops with an error saying so, and
// not one byte of the outside file is delivered.
func TestSymlinkSwappedOutside(t *testing.T) {
	srv := sshtest.Start(t)
	dir, outside := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	secret := filepath.Join(outside, "secret.log")
	sourcetest.Append(t, path, "one\n")
	sourcetest.Append(t, secret, "SECRET 1\nSECRET 2\n")
	src := mustNew(t, srv.Entry("web", filepath.Join(dir, "*.log")), nil, testOptions())
	sink := sourcetest.NewSink()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Follow(ctx, path, 10, sink) }()
	waitTexts(t, sink, "one")
	// rename(2) over the path: the name never stops existing.
	tmp := filepath.Join(dir, "swap.tmp")
	if err := os.Symlink(secret, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	sourcetest.Append(t, secret, "SECRET 3\n")
	err := <-done
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Follow returned %v, want it to refuse the outside file", err)
	}
	st := lastState(sink)
	if st.Code != tailer.StateError || !strings.Contains(st.Msg, secret) || !strings.Contains(st.Msg, "not one of the host's files") {
		t.Errorf("state %+v, want an error naming %s", st, secret)
	}
	noSecret(t, sink, "SECRET")
}

// TestSymlinkOutsideAtStart: a followed name that is already a symlink to a
// file outside the globs is refused before anything is read.
func TestSymlinkOutsideAtStart(t *testing.T) {
	srv := sshtest.Start(t)
	dir, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret.log")
	sourcetest.Append(t, secret, "SECRET\n")
	path := filepath.Join(dir, "app.log")
	if err := os.Symlink(secret, path); err != nil {
		t.Fatal(err)
	}
	src := mustNew(t, srv.Entry("web", filepath.Join(dir, "*.log")), nil, testOptions())
	sink, _, err := followEnds(t, src, path)
	if err == nil || !strings.Contains(err.Error(), "not one of the host's files") {
		t.Errorf("Follow returned %v, want a refusal", err)
	}
	noSecret(t, sink, "SECRET")
}

// TestDirectorySymlinkEscapes: with the glob /logs/*/*.log, a directory
// symlink /logs/evil -> /elsewhere makes /logs/evil/x.log match the glob by
// name but not once resolved: refused, nothing delivered. A real
// directory beside it is followed as usual.
func TestDirectorySymlinkEscapes(t *testing.T) {
	srv := sshtest.Start(t)
	logs, elsewhere := t.TempDir(), t.TempDir()
	sourcetest.Append(t, filepath.Join(elsewhere, "x.log"), "SECRET\n")
	if err := os.Symlink(elsewhere, filepath.Join(logs, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(logs, "ok"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(logs, "ok", "a.log")
	sourcetest.Append(t, good, "fine\n")
	src := mustNew(t, srv.Entry("web", filepath.Join(logs, "*", "*.log")), nil, testOptions())

	sink, _, err := followEnds(t, src, filepath.Join(logs, "evil", "x.log"))
	if err == nil || !strings.Contains(err.Error(), "not one of the host's files") {
		t.Errorf("Follow returned %v, want a refusal", err)
	}
	noSecret(t, sink, "SECRET")

	sink, stop := follow(t, src, good, 10)
	waitTexts(t, sink, "fine")
	stop()
}

// TestFIFORefused: a FIFO at the path is refused at once; nothing hangs.
func TestFIFORefused(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	src := mustNew(t, srv.Entry("web", filepath.Join(dir, "*.log")), nil, testOptions())
	sink, took, err := followEnds(t, src, path)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Follow returned %v, want a refusal", err)
	}
	if st := lastState(sink); st.Code != tailer.StateError {
		t.Errorf("state %+v, want error", st)
	}
	if took > 5*time.Second {
		t.Errorf("took %s", took)
	}
}

// TestFIFOSwappedIn: the followed file is replaced by a FIFO while followed:
// the new open is refused (the script tests before it opens, and a FIFO
// swapped in after that test would block only a background opener).
func TestFIFOSwappedIn(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(t, path, "one\n")
	src := mustNew(t, srv.Entry("web", filepath.Join(dir, "*.log")), nil, testOptions())
	sink := sourcetest.NewSink()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Follow(ctx, path, 10, sink) }()
	waitTexts(t, sink, "one")
	tmp := filepath.Join(dir, "fifo.tmp")
	if err := syscall.Mkfifo(tmp, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Follow returned %v, want a refusal", err)
	}
	if procs := processes(t, dir); len(procs) > 0 {
		waitExit(t, keys(procs), 5*time.Second)
	}
}

func keys(m map[int]string) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestGlobDirectoryIsSymlink: the directory a glob names may itself be a
// symlink (as in sources/local): /srv/logs/*.log with /srv/logs -> /data
// follows /srv/logs/app.log, which resolves to /data/app.log.
func TestGlobDirectoryIsSymlink(t *testing.T) {
	srv := sshtest.Start(t)
	data, base := t.TempDir(), t.TempDir()
	link := filepath.Join(base, "logs")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	sourcetest.Append(t, filepath.Join(data, "app.log"), "one\n")
	src := mustNew(t, srv.Entry("web", filepath.Join(link, "*.log")), nil, testOptions())
	path := filepath.Join(link, "app.log")
	sink, stop := follow(t, src, path, 10)
	waitTexts(t, sink, "one")
	sourcetest.Append(t, path, "two\n")
	waitTexts(t, sink, "one", "two")
	stop()
}
