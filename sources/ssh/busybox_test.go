package ssh_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/sources/ssh"
	"github.com/logviewer/logviewer/sources/ssh/sshtest"
	"github.com/logviewer/logviewer/tailer"
)

// TestContractBusyBox runs the Source contract suite against a host whose
// login shell, /bin/sh, tail, stat, ls and sleep are BusyBox's (as on
// Alpine). BusyBox tail takes whole seconds for -s, so the host is given
// the interval it will really have.
func TestContractBusyBox(t *testing.T) {
	binds := sshtest.BusyBox(t)
	srv := sshtest.StartWith(t, sshtest.Config{Shell: "/bin/sh", Bind: binds})
	t.Run("ToolsAreBusyBox", func(t *testing.T) {
		bb, _ := exec.LookPath("busybox")
		bbInfo, err := os.Stat(bb)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "app.log")
		sourcetest.Append(t, path, "one\n")
		src := mustNew(t, srv.Entry("busybox", filepath.Join(dir, "*.log")), nil, busyBoxOptions())
		sink, stop := follow(t, src, path, 1)
		waitTexts(t, sink, "one")
		found := map[string]bool{}
		for pid, comm := range processes(t, dir) {
			if comm != "sh" && comm != "tail" {
				continue
			}
			// exe names the bound path; its inode is BusyBox's.
			exe, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
			if err != nil {
				continue
			}
			found[comm] = true
			if !os.SameFile(exe, bbInfo) {
				t.Errorf("remote %s (pid %d) is not BusyBox", comm, pid)
			}
		}
		if !found["tail"] || !found["sh"] {
			t.Errorf("found %v, want the script's sh and tail", found)
		}
		stop()
	})
	sourcetest.Run(t, sourcetest.Harness{
		New: func(tb testing.TB, globs []string, maxLine int) tailer.Source {
			opts := busyBoxOptions()
			opts.MaxLineBytes = maxLine
			return mustNew(tb, srv.Entry("busybox", globs...), nil, opts)
		},
		// The torture waits for each change of file to be noticed before
		// the next; a tail that looks once a second needs longer than the
		// default 3 s for every kind of change to happen.
		TortureLines: 240000,
	})
}

func busyBoxOptions() ssh.Options {
	opts := testOptions()
	opts.TailInterval = time.Second
	return opts
}

// TestToolRefused: a host whose tail refuses the options used is reported
// at once, naming the tool, and Follow gives up (it does not wait for the
// tail to stall).
func TestToolRefused(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "tail")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"tail: invalid option -- 's'\" >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	real, err := exec.LookPath("tail")
	if err != nil {
		t.Fatal(err)
	}
	if real, err = filepath.EvalSymlinks(real); err != nil {
		t.Fatal(err)
	}
	srv := sshtest.StartWith(t, sshtest.Config{Bind: map[string]string{real: fake}})
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(t, path, "one\n")
	src := mustNew(t, srv.Entry("oldtail", filepath.Join(dir, "*.log")), nil, testOptions())
	sink := sourcetest.NewSink()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err = src.Follow(ctx, path, 1, sink)
	took := time.Since(start)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Follow returned %v, want an error that ends it", err)
	}
	st := lastState(sink)
	if st.Code != tailer.StateError || !strings.Contains(st.Msg, "tail: invalid option") {
		t.Errorf("state %+v, want an error naming tail", st)
	}
	if took > 5*time.Second {
		t.Errorf("took %s to say so", took)
	}
	t.Logf("%s: %q", took.Round(time.Millisecond), st.Msg)
}
