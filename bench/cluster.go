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
//   c1–c4  the highest rate at which every viewer gets every line, once and
//          in order, to 1 and to 100 viewers (doubling from 25k lines/s,
//          then two bisections; each trial a fresh system)
//   c5–c6  latency write → viewer, p50 / p99, at 10k lines/s to 100 viewers
//   c7–c8  publish batch sizes: lines per stream message at 10k lines/s
//          and at the cluster's highest rate
//   c9     failover: three logviewer processes (the real binary), the
//          holder killed with SIGKILL at 10k lines/s; the time until the
//          viewers on the others have the next line

import (
	"context"
	"encoding/json"
	"errors"
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

// clusterTrial writes rate lines/s for d into a fresh system and reports
// whether every viewer got every line, once and in order, within 2s of the
// writer's stop; why says what went wrong. batches and lines are what the
// cluster published during the trial (0 for one instance).
func (b *bench) clusterTrial(instances, viewers int, rate float64, d time.Duration) (ok bool, why string, batches, lines uint64, err error) {
	e, cs, err := b.clusterEnv(instances, viewers)
	if err != nil {
		return false, "", 0, 0, err
	}
	defer e.close()
	// One line first: the tail runs and every viewer follows.
	if err := e.w.write(1); err != nil {
		return false, "", 0, 0, err
	}
	if _, ok := e.g.wait(b.ctx, e.w.last, 10*time.Second); !ok {
		return false, "the first line did not reach every viewer in 10s", 0, 0, nil
	}
	var b0, l0 uint64
	if cs != nil {
		b0, l0 = cs.published()
	}
	if _, err := e.w.paced(b.ctx, rate, d); err != nil {
		return false, "", 0, 0, err
	}
	_, done := e.g.wait(b.ctx, e.w.last, 2*time.Second)
	if cs != nil {
		b1, l1 := cs.published()
		batches, lines = b1-b0, l1-l0
	}
	if f := e.g.faults(); f > 0 || !done {
		return false, fmt.Sprintf("%d faults, %d lines missing 2s after the writer stopped: %s", f, e.g.behind(e.w.last), e.g.firstErr()), batches, lines, nil
	}
	return true, "", batches, lines, nil
}

// clusterSustained finds the highest rate at which every viewer gets every
// line: doubling from 25k lines/s until a trial fails, then two bisections.
// It also returns the lines per published batch at that rate.
func (b *bench) clusterSustained(instances, viewers int) (rate, perBatch float64, why string, err error) {
	lo, hi := 0.0, 0.0
	for r := 25000.0; r <= 3_200_000; r *= 2 {
		ok, w, bt, ln, err := b.clusterTrial(instances, viewers, r, b.o.dur)
		if err != nil {
			return 0, 0, "", err
		}
		b.logf("  %s lines/s: %v %s", human(r), ok, w)
		if !ok {
			hi, why = r, w
			break
		}
		lo = r
		if bt > 0 {
			perBatch = float64(ln) / float64(bt)
		}
	}
	for i := 0; i < 2 && hi > 0 && lo > 0; i++ {
		mid := roundRate((lo + hi) / 2)
		ok, w, bt, ln, err := b.clusterTrial(instances, viewers, mid, b.o.dur)
		if err != nil {
			return 0, 0, "", err
		}
		b.logf("  %s lines/s: %v %s", human(mid), ok, w)
		if ok {
			lo = mid
			if bt > 0 {
				perBatch = float64(ln) / float64(bt)
			}
		} else {
			hi, why = mid, w
		}
	}
	if hi > 0 {
		why = fmt.Sprintf("at %s lines/s: %s", human(hi), why)
	}
	return lo, perBatch, why, nil
}

func fmtLines(v float64) string { return fmt.Sprintf("%.1f lines", v) }

// scenarioCluster is scenario "cluster".
func (b *bench) scenarioCluster() error {
	const instances = 3
	viewers := []int{1, 100}
	if b.o.smoke {
		viewers = []int{1, 6}
	}
	latRate := 10000.0
	rows := map[string]*row{}
	for i, v := range viewers {
		rows[fmt.Sprintf("single/%d", v)] = b.t.row(fmt.Sprintf("c%d", 2*i+1), fmt.Sprintf("max sustained to %d viewer%s, no loss, one instance (lines/s)", v, plural(v)), fmtRate)
		rows[fmt.Sprintf("cluster/%d", v)] = b.t.row(fmt.Sprintf("c%d", 2*i+2), fmt.Sprintf("max sustained to %d viewer%s, no loss, cluster of %d instances (lines/s)", v, plural(v), instances), fmtRate)
	}
	lv := viewers[len(viewers)-1]
	latSingle := b.t.row("c5", fmt.Sprintf("latency write→viewer p50 / p99 at %s lines/s, %d viewers, one instance", human(latRate), lv), fmtMS)
	latCluster := b.t.row("c6", fmt.Sprintf("latency write→viewer p50 / p99 at %s lines/s, %d viewers, cluster of %d instances", human(latRate), lv, instances), fmtMS)
	batchPaced := b.t.row("c7", fmt.Sprintf("publish batch size at %s lines/s (lines per stream message)", human(latRate)), fmtLines)
	batchMax := b.t.row("c8", "publish batch size at the cluster's max sustained rate to 1 viewer (lines per stream message)", fmtLines)
	failover := b.t.row("c9", "failover: SIGKILL of the holder (3 logviewer processes, 10k lines/s): until every viewer on the other two has the next line", fmtSec)
	failover.note("the real binary with the default 3 s lease: the time is mostly the lease running out; lines lost or repeated on the surviving viewers fail the trial")
	note := fmt.Sprintf("in-process: one nats-server (JetStream, file store) and %d instances in the bench's process, viewers spread over them; the single node is the same in-process wiring without [cluster]", instances)
	for _, r := range []*row{rows[fmt.Sprintf("cluster/%d", viewers[0])], latCluster} {
		r.note(note)
	}
	batchPaced.note("a batch is what the holder's ring has when the previous publish is acknowledged (at most 256 KiB); no timer holds lines back")
	for run := 1; run <= b.o.runs; run++ {
		for _, v := range viewers {
			for _, inst := range []int{0, instances} {
				kind := "single"
				if inst > 0 {
					kind = "cluster"
				}
				r := rows[fmt.Sprintf("%s/%d", kind, v)]
				b.logf("cluster. %s, %d viewers, run %d/%d", kind, v, run, b.o.runs)
				if b.o.smoke {
					ok, why, _, _, err := b.clusterTrial(inst, v, 10000, b.o.dur)
					if err != nil {
						return err
					}
					b.logf("  10k lines/s: %v %s", ok, why)
					b.smokeCheck(fmt.Sprintf("cluster scenario, %s to %d viewers at 10k lines/s", kind, v), !ok, why)
					if ok {
						r.ours = append(r.ours, 10000)
					}
					r.note("smoke: one trial at 10k lines/s, not a search")
					continue
				}
				rate, perBatch, why, err := b.clusterSustained(inst, v)
				if err != nil {
					return err
				}
				r.ours = append(r.ours, rate)
				r.note(why)
				if inst > 0 && v == viewers[0] && perBatch > 0 {
					batchMax.ours = append(batchMax.ours, perBatch)
				}
			}
		}
		if b.o.inproc {
			failover.note("skipped: -inproc runs no logviewer process to kill")
		} else {
			b.logf("cluster. failover, run %d/%d", run, b.o.runs)
			d, why, err := b.clusterFailover(latRate)
			if err != nil {
				return err
			}
			b.logf("  resumed after %v %s", d.Round(time.Millisecond), why)
			b.smokeCheck("cluster scenario failover", why != "", why)
			if why == "" {
				failover.ours = append(failover.ours, d.Seconds())
			} else {
				failover.note(why)
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

// clusterFailover runs three logviewer processes (the real binary, default
// 3 s lease) on one NATS, two viewers on each and a writer at rate, kills
// the holder with SIGKILL, and returns the time until every viewer on the
// other two has the first line written after the kill. why is set when a
// surviving viewer lost, repeated or reordered a line.
func (b *bench) clusterFailover(rate float64) (resume time.Duration, why string, err error) {
	dir, err := b.newDir("failover")
	if err != nil {
		return 0, "", err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "app.log")
	w, err := newWriter(file)
	if err != nil {
		return 0, "", err
	}
	defer w.Close()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true})
	if err != nil {
		return 0, "", err
	}
	ns.Start()
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	if !ns.ReadyForConnections(10 * time.Second) {
		return 0, "", fmt.Errorf("nats-server not ready")
	}
	var syss []*lvSystem
	defer func() {
		for _, s := range syss {
			s.stop()
		}
	}()
	for i := 1; i <= 3; i++ {
		idir := filepath.Join(dir, fmt.Sprintf("lv-%d", i))
		if err := os.MkdirAll(idir, 0o700); err != nil {
			return 0, "", err
		}
		cfg := fmt.Sprintf("state_dir = %q\n", idir) + lvConfig(dir) +
			fmt.Sprintf("\n[cluster]\nnats_url = %q\nname = \"lvbench\"\ninstance = \"lv-%d\"\n", ns.ClientURL(), i)
		s, err := startLogviewerWith(b.ctx, b.bin, idir, cfg, "local")
		if err != nil {
			return 0, "", err
		}
		syss = append(syss, s)
	}
	var conns []*websocket.Conn
	defer func() { closeAll(conns) }()
	tracks := make([]group, len(syss))
	for i := range 2 * len(syss) {
		t := newTrack()
		c, err := dialLogviewer(b.ctx, syss[i%len(syss)].url, "local", file, t, i, readBufSize(false))
		if err != nil {
			return 0, "", err
		}
		conns = append(conns, c)
		tracks[i%len(syss)] = append(tracks[i%len(syss)], t)
	}
	if err := w.write(1); err != nil {
		return 0, "", err
	}
	var all group
	for _, g := range tracks {
		all = append(all, g...)
	}
	if _, ok := all.wait(b.ctx, 1, 15*time.Second); !ok {
		return 0, "", fmt.Errorf("the first line did not reach every viewer: %s", all.firstErr())
	}
	wctx, stop := context.WithCancel(b.ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		_, err := w.paced(wctx, rate, time.Minute)
		done <- err
	}()
	sleep(b.ctx, time.Second)
	holder := -1
	for i, s := range syss {
		if logs, err := healthLogs(b.ctx, s.url); err == nil && logs > 0 {
			holder = i
		}
	}
	if holder < 0 {
		stop()
		<-done
		return 0, "", fmt.Errorf("no instance follows the log")
	}
	at := w.written.Load()
	killedAt := time.Now()
	if err := syss[holder].p.cmd.Process.Kill(); err != nil {
		stop()
		<-done
		return 0, "", err
	}
	var survivors group
	for i, g := range tracks {
		if i != holder {
			survivors = append(survivors, g...)
		}
	}
	_, ok := survivors.wait(b.ctx, at+1, 30*time.Second)
	resume = time.Since(killedAt)
	sleep(b.ctx, time.Second)
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return 0, "", err
	}
	if !ok {
		return resume, fmt.Sprintf("lines did not resume within 30s of the kill: %s", survivors.firstErr()), nil
	}
	if _, ok := survivors.wait(b.ctx, w.last, 10*time.Second); !ok || survivors.faults() > 0 {
		return resume, fmt.Sprintf("%d faults, %d lines missing: %s", survivors.faults(), survivors.behind(w.last), survivors.firstErr()), nil
	}
	return resume, "", nil
}

// healthLogs returns the logs an instance follows (GET /healthz).
func healthLogs(ctx context.Context, base string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/healthz", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var h struct{ Logs int }
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h.Logs, err
}
