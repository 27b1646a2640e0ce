package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
)

const timeout = 15 * time.Second

// follow runs Follow in the background; stop cancels it and checks that it
// returned context.Canceled in time. It also runs when the test ends.
func follow(t *testing.T, src tailer.Source, path string, n int) (*sourcetest.Sink, func()) {
	t.Helper()
	sink := sourcetest.NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Follow(ctx, path, n, sink) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Follow returned %v after cancel, want context.Canceled", err)
			}
		case <-time.After(timeout):
			t.Errorf("Follow did not return within %s of cancel", timeout)
		}
	}
	t.Cleanup(stop)
	return sink, stop
}

// waitTexts waits until the sink's non-marker lines are exactly want.
func waitTexts(t *testing.T, sink *sourcetest.Sink, want ...string) {
	t.Helper()
	sink.WaitFor(t, timeout, fmt.Sprintf("%d lines ending %q", len(want), want[len(want)-1]), func(ls []tailer.Line, _ []tailer.State) bool {
		var got []string
		for _, l := range ls {
			if l.Mark == "" {
				got = append(got, l.Text)
			}
		}
		return strings.Join(got, "\n") == strings.Join(want, "\n")
	})
}

// lastState returns the newest state the sink got.
func lastState(sink *sourcetest.Sink) tailer.State {
	_, states := sink.Snapshot()
	if len(states) == 0 {
		return tailer.State{}
	}
	return states[len(states)-1]
}

// processes returns the pids (and names) of processes whose command line
// contains marker or that hold a file under marker open (marker being a unique
// directory): what `pgrep -f marker` finds, and more.
func processes(t testing.TB, marker string) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	pids := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		hit := strings.Contains(string(cmdline), marker)
		if !hit {
			fds, _ := os.ReadDir(filepath.Join("/proc", e.Name(), "fd"))
			for _, fd := range fds {
				if target, err := os.Readlink(filepath.Join("/proc", e.Name(), "fd", fd.Name())); err == nil && strings.HasPrefix(target, marker) {
					hit = true
					break
				}
			}
		}
		if hit {
			comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
			pids[pid] = strings.TrimSpace(string(comm))
		}
	}
	return pids
}

// waitExit waits, with pidfds rather than polling, until every pid has exited.
func waitExit(t testing.TB, pids []int, within time.Duration) {
	t.Helper()
	var fds []unix.PollFd
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // already gone
		}
		defer unix.Close(fd)
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	deadline := time.Now().Add(within)
	for len(fds) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%d remote process(es) still running %s after Follow returned", len(fds), within)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
		if n <= 0 {
			continue
		}
		var rest []unix.PollFd
		for _, f := range fds {
			if f.Revents == 0 {
				rest = append(rest, unix.PollFd{Fd: f.Fd, Events: unix.POLLIN})
			}
		}
		fds = rest
	}
}
