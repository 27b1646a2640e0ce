package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
)

func TestContract(t *testing.T) {
	sourcetest.Run(t, harness())
}

// TestHardening runs the tests of what a Source must refuse and survive
// (symlinks, FIFOs, devices, 50 MiB lines, truncation behind the reader).
func TestHardening(t *testing.T) {
	sourcetest.RunHardening(t, harness())
}

func harness() sourcetest.Harness {
	return sourcetest.Harness{
		New: func(tb testing.TB, globs []string, maxLine int) tailer.Source {
			return local.New(globs, local.Options{MaxLineBytes: maxLine, Poll: 50 * time.Millisecond})
		},
		// The process's one inotify watcher outlives its last watch by 30 s (see local.watches).
		Ignore: []goleak.Option{
			goleak.IgnoreTopFunction("github.com/logviewer/logviewer/sources/local.(*watches).dispatch"),
			goleak.IgnoreTopFunction("github.com/fsnotify/fsnotify.(*Watcher).readEvents"),
		},
	}
}

// TestSharedInodeWakesEveryFollower: two follows of one file (one through a
// symlink) are both woken by inotify, well before their 30s poll, and stay
// so after the other one ends. inotify gives both names one watch, which a
// watch per follower would lose for all but one.
func TestSharedInodeWakesEveryFollower(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	link := filepath.Join(dir, "link.log")
	sourcetest.Append(t, path, "")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	src := local.New([]string{filepath.Join(dir, "*.log")}, local.Options{Poll: 30 * time.Second})
	follow := func(p string) (*sourcetest.Sink, func()) {
		sink := sourcetest.NewSink()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- src.Follow(ctx, p, 0, sink) }()
		stop := func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Follow(%s) = %v, want context.Canceled", p, err)
			}
		}
		sink.WaitState(t, 5*time.Second, tailer.StateFollowing)
		return sink, stop
	}
	a, stopA := follow(path)
	b, stopB := follow(link)
	defer stopB()
	sourcetest.Append(t, path, "one\n")
	a.WaitTexts(t, 5*time.Second, 1)
	b.WaitTexts(t, 5*time.Second, 1)
	stopA()
	sourcetest.Append(t, path, "two\n")
	b.WaitTexts(t, 5*time.Second, 2)
	if got := b.Texts(); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("got %q", got)
	}
}

// TestGlobThroughConfiguredSymlink: the directory a glob names may itself be
// a symlink (as /var/log may be): its files are listed and followed, while a
// symlink inside it that leads elsewhere is still refused.
func TestGlobThroughConfiguredSymlink(t *testing.T) {
	base, outside := t.TempDir(), t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(base, "logs")); err != nil {
		t.Fatal(err)
	}
	sourcetest.Append(t, filepath.Join(real, "a.log"), "a\n")
	sourcetest.Append(t, filepath.Join(outside, "b.log"), "SECRET\n")
	if err := os.Symlink(filepath.Join(outside, "b.log"), filepath.Join(real, "b.log")); err != nil {
		t.Fatal(err)
	}
	src := local.New([]string{filepath.Join(base, "logs", "*.log")}, local.Options{Poll: 50 * time.Millisecond})
	files, err := src.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path != filepath.Join(base, "logs", "a.log") {
		t.Fatalf("List = %+v, want only logs/a.log", files)
	}
	if err := src.Check(context.Background(), filepath.Join(base, "logs", "b.log")); !errors.Is(err, tailer.ErrNotListed) {
		t.Errorf("Check(logs/b.log) = %v, want ErrNotListed", err)
	}
	sink := sourcetest.NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Follow(ctx, files[0].Path, 10, sink) }()
	sink.WaitTexts(t, 5*time.Second, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Follow = %v", err)
	}
	if got := sink.Texts(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("got %q", got)
	}
}
