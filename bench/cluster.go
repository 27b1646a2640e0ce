package main

// Scenario "cluster" (issue 16): logviewer instances sharing tails through
// NATS JetStream, against one instance alone. Everything runs in this
// process (one embedded nats-server with JetStream on loopback, three
// instances wired by app as main wires them, each on its own port, and the
// viewers, spread over the instances), and the single node is the same
// in-process wiring without [cluster], so the two differ only in the
// cluster: the holder's publish to the stream and every instance's
// consumer. Rows:
//
//   c1–c4  burst throughput (lines written as fast as the writer can, until
//          every viewer has every line) to 1 and to 100 viewers
//   c5–c6  latency write → viewer, p50 / p99, at 10k lines/s to 100 viewers
//   c7–c8  publish batch sizes: lines per stream message at 10k lines/s
//          and in a burst

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/logviewer/logviewer/app"
	"github.com/logviewer/logviewer/config"
)

// clusterSystem is a NATS server and logviewer instances in this process.
type clusterSystem struct {
	ns  *server.Server
	ins []*inprocSystem
}

func startClusterSystem(dir string, instances int) (*clusterSystem, error) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true})
	if err != nil {
		return nil, err
	}
	ns.Start()
	s := &clusterSystem{ns: ns}
	if !ns.ReadyForConnections(10 * time.Second) {
		s.stop()
		return nil, fmt.Errorf("nats-server not ready")
	}
	for i := 1; i <= instances; i++ {
		cfg := lvConfig(dir) + fmt.Sprintf("\n[cluster]\nnats_url = %q\nname = \"lvbench\"\ninstance = \"lv-%d\"\n", ns.ClientURL(), i)
		cfg = fmt.Sprintf("state_dir = %q\n", filepath.Join(dir, fmt.Sprintf("state-%d", i))) + cfg
		c, err := config.Parse(fmt.Sprintf("lv-%d.toml", i), []byte(cfg))
		if err != nil {
			s.stop()
			return nil, err
		}
		a, err := app.New(c, app.Options{})
		if err != nil {
			s.stop()
			return nil, err
		}
		ln, err := net.Listen("tcp", c.Listen)
		if err != nil {
			a.Close()
			s.stop()
			return nil, err
		}
		hs := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		s.ins = append(s.ins, &inprocSystem{url: "http://" + ln.Addr().String(), hs: hs, app: a})
	}
	return s, nil
}

func (s *clusterSystem) name() string {
	return fmt.Sprintf("logviewer cluster (%d instances, in-process)", len(s.ins))
}
func (s *clusterSystem) pid() int { return os.Getpid() }

// dial spreads the viewers over the instances.
func (s *clusterSystem) dial(ctx context.Context, file string, t *track, i int, small bool) (*websocket.Conn, error) {
	return dialLogviewer(ctx, s.ins[i%len(s.ins)].url, "local", file, t, i, readBufSize(small))
}

func (s *clusterSystem) stop() {
	for _, in := range s.ins {
		in.stop()
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// published returns the batches and lines the instances have published.
func (s *clusterSystem) published() (batches, lines uint64) {
	for _, in := range s.ins {
		b, l := in.app.Catalog.PublishStats()
		batches, lines = batches+b, lines+l
	}
	return batches, lines
}

// clusterEnv is env with the cluster (instances > 0) or one in-process
// instance (0) as the system.
func (b *bench) clusterEnv(instances, viewers int) (*env, *clusterSystem, error) {
	kind := "single"
	if instances > 0 {
		kind = "cluster"
	}
	dir, err := b.newDir(kind)
	if err != nil {
		return nil, nil, err
	}
	e := &env{dir: dir, file: filepath.Join(dir, "app.log")}
	if e.w, err = newWriter(e.file); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	var cs *clusterSystem
	if instances > 0 {
		cs, err = startClusterSystem(dir, instances)
		e.sys = cs
	} else {
		e.sys, err = startInproc(dir)
	}
	if err != nil {
		e.sys = nil
		e.close()
		return nil, nil, err
	}
	e.g, e.conns, _, err = connectAll(b.ctx, e.sys, func(int) string { return e.file }, viewers, false, 64)
	if err != nil {
		e.close()
		return nil, nil, err
	}
	return e, cs, nil
}

// clusterBurst writes n lines as fast as it can and returns lines/s until
// every viewer had them, and whether any was lost.
func (b *bench) clusterBurst(e *env, n int) (float64, string, error) {
	// One line first: the tail runs and every viewer follows.
	if err := e.w.write(1); err != nil {
		return 0, "", err
	}
	if _, ok := e.g.wait(b.ctx, e.w.last, 10*time.Second); !ok {
		return 0, "the first line did not reach every viewer in 10s", nil
	}
	start := time.Now()
	if _, err := e.w.burst(b.ctx, n, time.Minute); err != nil {
		return 0, "", err
	}
	_, ok := e.g.wait(b.ctx, e.w.last, 60*time.Second)
	el := time.Since(start)
	if !ok || e.g.faults() > 0 {
		return 0, fmt.Sprintf("lines lost or late: %d faults, %d lines missing; %s", e.g.faults(), e.g.behind(e.w.last), e.g.firstErr()), nil
	}
	return float64(n) / el.Seconds(), "", nil
}

func fmtLines(v float64) string { return fmt.Sprintf("%.1f lines", v) }

// scenarioCluster is scenario "cluster".
func (b *bench) scenarioCluster() error {
	const instances = 3
	n := 300_000
	if b.o.smoke {
		n = 30_000
	}
	viewers := []int{1, 100}
	if b.o.smoke {
		viewers = []int{1, 6}
	}
	latRate := 10000.0
	rows := map[string]*row{}
	for i, v := range viewers {
		rows[fmt.Sprintf("single/%d", v)] = b.t.row(fmt.Sprintf("c%d", 2*i+1), fmt.Sprintf("burst of %s lines to %d viewer%s, one instance (lines/s)", human(float64(n)), v, plural(v)), fmtRate)
		rows[fmt.Sprintf("cluster/%d", v)] = b.t.row(fmt.Sprintf("c%d", 2*i+2), fmt.Sprintf("burst of %s lines to %d viewer%s, cluster of %d instances (lines/s)", human(float64(n)), v, plural(v), instances), fmtRate)
	}
	lv := viewers[len(viewers)-1]
	latSingle := b.t.row("c5", fmt.Sprintf("latency write→viewer p50 / p99 at %s lines/s, %d viewers, one instance", human(latRate), lv), fmtMS)
	latCluster := b.t.row("c6", fmt.Sprintf("latency write→viewer p50 / p99 at %s lines/s, %d viewers, cluster of %d instances", human(latRate), lv, instances), fmtMS)
	batchPaced := b.t.row("c7", fmt.Sprintf("publish batch size at %s lines/s (lines per stream message)", human(latRate)), fmtLines)
	batchBurst := b.t.row("c8", "publish batch size in a burst (lines per stream message)", fmtLines)
	note := fmt.Sprintf("in-process: one nats-server (JetStream, file store) and %d instances in the bench's process, viewers spread over them; the single node is the same in-process wiring without [cluster]", instances)
	for _, r := range []*row{rows[fmt.Sprintf("cluster/%d", lv)], latCluster} {
		r.note(note)
	}
	batchPaced.note("batches are as large as what the holder's ring has when the previous publish is acknowledged (at most 64 KiB); no timer holds lines back")
	for run := 1; run <= b.o.runs; run++ {
		for _, v := range viewers {
			for _, inst := range []int{0, instances} {
				kind := "single"
				if inst > 0 {
					kind = "cluster"
				}
				b.logf("cluster. burst of %d lines to %d viewers, %s, run %d/%d", n, v, kind, run, b.o.runs)
				e, cs, err := b.clusterEnv(inst, v)
				if err != nil {
					return err
				}
				var b0, l0 uint64
				if cs != nil {
					b0, l0 = cs.published()
				}
				rate, why, err := b.clusterBurst(e, n)
				if cs != nil && v == viewers[0] {
					b1, l1 := cs.published()
					if b1 > b0 {
						batchBurst.ours = append(batchBurst.ours, float64(l1-l0)/float64(b1-b0))
					}
				}
				e.close()
				if err != nil {
					return err
				}
				r := rows[fmt.Sprintf("%s/%d", kind, v)]
				if why != "" {
					b.logf("  %s", why)
					r.note(why)
					b.smokeCheck(fmt.Sprintf("cluster scenario, %s burst to %d viewers", kind, v), true, why)
					continue
				}
				b.logf("  %s lines/s", human(rate))
				r.ours = append(r.ours, rate)
			}
		}
		for _, inst := range []int{0, instances} {
			e, cs, err := b.clusterEnv(inst, lv)
			if err != nil {
				return err
			}
			b.logf("cluster. latency at %s lines/s to %d viewers, %d instances, run %d/%d", human(latRate), lv, max(inst, 1), run, b.o.runs)
			var b0, l0 uint64
			if cs != nil {
				// Warm: the tail runs and the viewers follow.
				if err := e.w.write(1); err != nil {
					e.close()
					return err
				}
				e.g.wait(b.ctx, e.w.last, 10*time.Second)
				b0, l0 = cs.published()
			}
			lat, err := b.measureLatency(e, latRate)
			if cs != nil {
				b1, l1 := cs.published()
				if b1 > b0 {
					batchPaced.ours = append(batchPaced.ours, float64(l1-l0)/float64(b1-b0))
				}
			}
			e.close()
			if err != nil {
				return err
			}
			b.logf("  p50 %.1f ms, p99 %.1f ms, max %.1f ms %s", lat.p50, lat.p99, lat.max, lat.note)
			b.smokeCheck("cluster scenario latency", lat.lost, lat.note)
			r := latSingle
			if inst > 0 {
				r = latCluster
			}
			r.ours2, r.ours = append(r.ours2, lat.p50), append(r.ours, lat.p99)
			r.note(lat.note)
		}
	}
	return nil
}
