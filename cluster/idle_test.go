package cluster_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/logviewer/logviewer/cluster"
)

// TestIdleStopClusterWide: the holder keeps the tail while a viewer on
// another instance watches, though its own viewers left; the tail stops
// idle_stop (2s) after the last viewer in the cluster left, and the lease
// is given back.
func TestIdleStopClusterWide(t *testing.T) {
	n := startNATS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	w := newWriter(t, file)
	a := startInstance(t, dir, n.url(), "lv-1")
	b := startInstance(t, dir, n.url(), "lv-2")
	va := dialViewer(t, a, file, "")
	w.write(t, 1, 1)
	va.waitLine(t, 0, 10*time.Second)
	vb := dialViewer(t, b, file, "")
	vb.waitLine(t, 0, 10*time.Second)
	if a.app.Catalog.Holding() != 1 {
		t.Fatal("a, with the first viewer, does not hold the log")
	}
	va.close()
	// Longer than idle_stop: a's tail goes on for b's viewer.
	left := time.Now()
	eventually(t, 5*time.Second, "idle_stop passed", func() bool { return time.Since(left) > 3*time.Second })
	w.write(t, 10, 1000)
	vb.waitLine(t, w.n-1, 10*time.Second)
	if got := active(a, b); got != 1 {
		t.Fatalf("%d tails while b has a viewer, want 1", got)
	}
	vb.close()
	left = time.Now()
	eventually(t, 10*time.Second, "no tail", func() bool { return active(a, b) == 0 })
	if d := time.Since(left); d < 2*time.Second {
		t.Errorf("the tail stopped %v after the last viewer left, before idle_stop (2s)", d)
	} else {
		t.Logf("the tail stopped %v after the last viewer in the cluster left (idle_stop 2s)", d.Round(time.Millisecond))
	}
	eventually(t, 5*time.Second, "the lease given back", func() bool { return a.app.Catalog.Holding() == 0 })
	if _, err := leaseOf(t, a, file); err == nil {
		t.Error("the lease is still in the bucket")
	}
}

func leaseOf(t *testing.T, in *instance, file string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return cluster.Lease(ctx, in.app.Cluster, cluster.LogID("local", file))
}
