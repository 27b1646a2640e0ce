package cluster_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(runChild(cfg))
	}
	goleak.VerifyTestMain(m,
		// The process's one inotify watcher outlives its last watch by 30 s (see local.watches).
		goleak.IgnoreAnyFunction("github.com/logviewer/logviewer/sources/local.(*watches).dispatch"),
		goleak.IgnoreAnyFunction("github.com/fsnotify/fsnotify.(*Watcher).readEvents"),
	)
}

// TestOneTailManyViewers: three instances, viewers on each, one writer at
// 10k lines/s: one tail in the whole cluster, and every viewer gets every
// line once, in order, with the same seqs and log id everywhere.
func TestOneTailManyViewers(t *testing.T) {
	n := startNATS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	w := newWriter(t, file)
	ins := []*instance{startInstance(t, dir, n.url(), "lv-1"), startInstance(t, dir, n.url(), "lv-2"), startInstance(t, dir, n.url(), "lv-3")}
	var vs []*viewer
	for i := 0; i < 6; i++ {
		vs = append(vs, dialViewer(t, ins[i%3], file, ""))
	}
	w.write(t, 1, 1)
	for _, v := range vs {
		v.waitLine(t, 0, 10*time.Second)
	}
	w.write(t, 10000, 10000)
	// A browser that reconnects to another instance with log and since
	// continues exactly after its last line, while lines keep coming.
	written, stop := w.run(10000)
	eventually(t, 5*time.Second, "more lines written", func() bool { return written() > 12000 })
	vs[0] = dialResume(t, ins[1], file, vs[0])
	vs[1] = dialResume(t, ins[2], file, vs[1])
	eventually(t, 5*time.Second, "more lines written", func() bool { return written() > 20000 })
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs[:2] {
		if _, _, resumed := v.snapshot(); !resumed {
			t.Errorf("viewer that reconnected to %s: hello.resumed is false", v.name)
		}
	}
	for _, v := range vs {
		v.waitLine(t, w.n-1, 15*time.Second)
	}
	if got := active(ins...); got != 1 {
		t.Errorf("%d tails running in the cluster, want 1", got)
	}
	logID, lastSeq, _ := vs[0].snapshot()
	for _, v := range vs {
		v.check(t, w.n)
		if id, seq, _ := v.snapshot(); id != logID || seq != lastSeq {
			t.Errorf("viewer on %s: log id %q, last seq %d; on %s: %q, %d", v.name, id, seq, vs[0].name, logID, lastSeq)
		}
	}
	_ = os.Remove(file)
}

// TestReplayOnEveryInstance: the lines already in a file when its log is
// first opened are published too, and a viewer on any instance gets them
// as replay, as on one node.
func TestReplayOnEveryInstance(t *testing.T) {
	n := startNATS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	w := newWriter(t, file)
	w.write(t, 50, 100000)
	a := startInstance(t, dir, n.url(), "lv-1")
	b := startInstance(t, dir, n.url(), "lv-2")
	for _, in := range []*instance{a, b} {
		v := dialViewer(t, in, file, "")
		v.waitLine(t, 49, 10*time.Second)
		v.check(t, 50)
		v.mu.Lock()
		if v.first != 0 || v.replayed != 50 {
			t.Errorf("viewer on %s: first line %d, %d lines as replay; want 0 and 50", v.name, v.first, v.replayed)
		}
		v.mu.Unlock()
	}
}
