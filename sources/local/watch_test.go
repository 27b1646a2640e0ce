package local

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchesLifecycle: a watch wakes its subscriber on a write; with no
// inode left to watch the watcher (and its goroutine) is closed after
// closeAfter, and a later subscription opens a new one that works too.
func TestWatchesLifecycle(t *testing.T) {
	old := closeAfter
	closeAfter = 10 * time.Millisecond
	defer func() { closeAfter = old }()
	var ws watches
	path := filepath.Join(t.TempDir(), "a.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	dev, ino := identity(st)
	woken := func(wk *waker) {
		t.Helper()
		if _, err := f.WriteString("x\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wk.C:
		case <-time.After(10 * time.Second):
			t.Fatal("a write did not wake the subscriber")
		}
	}
	for round := range 2 {
		a := ws.subscribe(f, dev, ino)
		b := ws.subscribe(f, dev, ino)
		if !a.live || !b.live {
			t.Fatal("no inotify watch")
		}
		ws.mu.Lock()
		n := len(ws.m)
		ws.mu.Unlock()
		if n != 1 {
			t.Fatalf("round %d: %d watches for one inode", round, n)
		}
		woken(a)
		woken(b)
		a.stop()
		woken(b)
		b.stop()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ws.mu.Lock()
			closed := ws.w == nil
			ws.mu.Unlock()
			if closed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the watcher stayed open with nothing to watch", round)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
