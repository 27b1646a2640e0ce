package cluster_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logviewer/logviewer/app"
	"github.com/logviewer/logviewer/config"
)

// TestNATSRestart: NATS stops while a writer appends 10k lines/s and
// comes back (same port, same store) a second later: every viewer is told
// with a status frame, then gets every line once and in order.
func TestNATSRestart(t *testing.T) {
	n := startNATS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	w := newWriter(t, file)
	ins := []*instance{startInstance(t, dir, n.url(), "lv-1"), startInstance(t, dir, n.url(), "lv-2")}
	var vs []*viewer
	for i := range 4 {
		vs = append(vs, dialViewer(t, ins[i%2], file, ""))
	}
	w.write(t, 1, 1)
	for _, v := range vs {
		v.waitLine(t, 0, 10*time.Second)
	}
	written, stop := w.run(10000)
	eventually(t, 5*time.Second, "lines written", func() bool { return written() > 3000 })
	n.stop()
	down := time.Now()
	for _, v := range vs {
		v.waitFor(t, 10*time.Second, "status reconnecting", func(v *viewer) bool { return slices.Contains(v.states, "reconnecting") })
	}
	t.Logf("viewers told NATS is unreachable after %v", time.Since(down).Round(time.Millisecond))
	eventually(t, 5*time.Second, "lines written while NATS is down", func() bool { return time.Since(down) > 1500*time.Millisecond })
	n.start(t)
	up, firstAfter := time.Now(), written()
	for _, v := range vs {
		v.waitLine(t, firstAfter, 20*time.Second)
	}
	t.Logf("lines resumed %v after NATS came back", time.Since(up).Round(time.Millisecond))
	total, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		v.waitLine(t, total-1, 15*time.Second)
		v.check(t, total)
		v.mu.Lock()
		if last := v.states[len(v.states)-1]; last != "following" {
			t.Errorf("viewer on %s: state %q after NATS came back (states %v)", v.name, last, v.states)
		}
		v.mu.Unlock()
	}
}

// TestRefusesToStartWithoutNATS: an instance that cannot reach NATS does
// not start (no silent local-only mode), and says why.
func TestRefusesToStartWithoutNATS(t *testing.T) {
	dir := t.TempDir()
	url := fmt.Sprintf("nats://127.0.0.1:%d", freePort(t)) // nothing listens there
	c, err := config.Parse("lv.toml", []byte(clusterConfig(dir, url, "lv-1")))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(c, app.Options{})
	if err == nil {
		a.Close()
		t.Fatal("started without NATS")
	}
	if !strings.Contains(err.Error(), "NATS") || !strings.Contains(err.Error(), url) {
		t.Errorf("error %q does not say NATS at %s is unreachable", err, url)
	}
}

// TestNATSNodeLoss: one node of a three-node JetStream cluster goes away
// while a writer appends 10k lines/s (its clients move to the others, and
// the stream and buckets, replicated on all three, elect new leaders where
// it led): every viewer gets every line once and in order.
func TestNATSNodeLoss(t *testing.T) {
	nodes := startNATSCluster(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	w := newWriter(t, file)
	ins := []*instance{startInstance(t, dir, urls(nodes), "lv-1"), startInstance(t, dir, urls(nodes), "lv-2")}
	var vs []*viewer
	for i := range 4 {
		vs = append(vs, dialViewer(t, ins[i%2], file, ""))
	}
	w.write(t, 1, 1)
	for _, v := range vs {
		v.waitLine(t, 0, 15*time.Second)
	}
	written, stop := w.run(10000)
	eventually(t, 5*time.Second, "lines written", func() bool { return written() > 5000 })
	lost := time.Now()
	nodes[0].stop()
	firstAfter := written()
	for _, v := range vs {
		v.waitLine(t, firstAfter, 20*time.Second)
	}
	t.Logf("a NATS node lost: lines flowing again on every viewer after %v", time.Since(lost).Round(time.Millisecond))
	eventually(t, 10*time.Second, "lines written", func() bool { return written() > firstAfter+10000 })
	total, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		v.waitLine(t, total-1, 20*time.Second)
		v.check(t, total)
	}
}
