package cluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/logviewer/logviewer/cluster"
)

// TestFailoverThreeKills: on a three-node JetStream cluster, the instance
// holding the log is killed (its NATS connection dropped at once, nothing
// given back) three times in a row while a writer appends 10k lines/s.
// After each kill a new instance with viewers joins. Every viewer on a
// surviving instance gets every line once and in order; the time from
// the kill to the first line written after it reaching a survivor is
// reported.
func TestFailoverThreeKills(t *testing.T) {
	nodes := startNATSCluster(t)
	natsURL := urls(nodes)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	w := newWriter(t, file)
	var ins []*instance
	var vs []*viewer
	join := func(name string) {
		in := startInstance(t, dir, natsURL, name)
		ins = append(ins, in)
		for range 2 {
			v := dialViewer(t, in, file, "")
			vs = append(vs, v)
		}
	}
	for i := 1; i <= 3; i++ {
		join(fmt.Sprintf("lv-%d", i))
	}
	w.write(t, 1, 1)
	for _, v := range vs {
		v.waitLine(t, 0, 15*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	replicas, err := cluster.StreamReplicas(ctx, ins[0].app.Cluster)
	cancel()
	if err != nil || replicas != 3 {
		t.Fatalf("the lines stream has %d replicas (%v), want 3 on a three-node cluster", replicas, err)
	}
	written, stop := w.run(10000)
	var resumes []time.Duration
	for round := 1; round <= 3; round++ {
		eventually(t, 5*time.Second, "a holder", func() bool { return holderOf(ins...) != nil })
		h := holderOf(ins...)
		at := written() + 2000 // let it publish for a while (0.2 s)
		eventually(t, 5*time.Second, "lines written", func() bool { return written() >= at })
		killedAt, firstAfter := time.Now(), written()
		h.kill()
		ins = slices.DeleteFunc(ins, func(in *instance) bool { return in == h })
		vs = slices.DeleteFunc(vs, func(v *viewer) bool { return v.name == h.name })
		var slowest time.Duration
		for _, v := range vs {
			v.waitLine(t, firstAfter, 30*time.Second)
			v.mu.Lock()
			slowest = max(slowest, v.arrivals[firstAfter].Sub(killedAt))
			v.mu.Unlock()
		}
		resumes = append(resumes, slowest)
		t.Logf("kill %d of %s: lines resumed on every surviving viewer after %v (lease TTL %v)", round, h.name, slowest.Round(time.Millisecond), leaseTTL)
		join(fmt.Sprintf("lv-%d", 3+round))
	}
	total, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		v.waitLine(t, total-1, 30*time.Second)
	}
	for _, v := range vs {
		v.check(t, total)
	}
	eventually(t, 5*time.Second, "one tail", func() bool { return active(ins...) == 1 })
	t.Logf("%d lines, %d viewers on %d surviving instances; resume after kill: %v", total, len(vs), len(ins), resumes)
}
