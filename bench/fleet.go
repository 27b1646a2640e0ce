package main

// Fleet scenarios (issue 12):
//
//   8. A merged view of many hosts to one viewer. The hosts are local
//      [[host]] entries (one range, h01 … hNN) that all list the same file:
//      on one machine, local hosts share the filesystem, so the same path is
//      the same file. logviewer follows it once per host (one tail per
//      (host, file)) and the merged view gets every written line once per
//      host, tagged: a load test of the merge (N tails, N cursors, the
//      reorder by time), not of N machines. The viewer checks, per host,
//      that the writer's numbers run without a hole or a repeat.
//   9. Many remote logs, idle, through a real sshd: one viewer per log (a
//      log is followed only while watched), then logviewer's RSS and CPU,
//      and sshd's (with the remote sessions' sh and tail) for comparison.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// mergeWindow is the merged view's reorder window (web's default; there is
// no configuration key for it). A line may wait that long for the other
// hosts, so a trial may drain that much later than a single view's.
const mergeWindow = 250 * time.Millisecond

// localPoll is the local source's poll interval (its default): a trial
// may drain that much later (a follower that missed a wake-up reads at its
// next poll). The local hosts of this scenario are separate Sources
// following one file; they share the process's one inotify watch of it, so
// every host's follower is woken by each write.
const localPoll = 250 * time.Millisecond

func hostNames(n int) []string {
	width := len(fmt.Sprint(n))
	width = max(width, 2)
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("h%0*d", width, i+1)
	}
	return out
}

// mergeConfig is lvConfig with n local hosts, one range in group "fleet",
// all serving dir/*.log.
func mergeConfig(dir string, n int) string {
	names := hostNames(n)
	rng := fmt.Sprintf("h[%s-%s]", names[0][1:], names[n-1][1:])
	return fmt.Sprintf(`listen = "127.0.0.1:0"
replay = 1000
buffer = "8MiB"
idle_stop = "5m"
max_line_bytes = 65536
max_logs = 100000
max_viewers_per_client = 100000

[[host]]
name = %q
files = [%q]
groups = ["fleet"]
`, rng, filepath.Join(dir, "*.log"))
}

// mergeSystem is logviewer serving one group; its viewers open the merged
// view /ws?group=fleet&file=….
type mergeSystem struct {
	*lvSystem
	hosts []string
}

func (s *mergeSystem) name() string { return "logviewer merged view" }

func (s *mergeSystem) dial(ctx context.Context, file string, t *track, i int, small bool) (*websocket.Conn, error) {
	u := "ws" + s.url[len("http"):] + "/ws?group=fleet&file=" + file
	conn, err := dial(ctx, u, i, readBufSize(small))
	if err != nil {
		return nil, err
	}
	v := &mergedViewer{t: t, hosts: map[string]*track{}, following: map[string]bool{}}
	for _, h := range s.hosts {
		v.hosts[h] = newTrack()
		v.order = append(v.order, v.hosts[h])
	}
	go readLoop(conn, t, v.handle)
	return conn, nil
}

// mergedViewer checks a merged view: a track per host checks that host's
// lines; t, the viewer's track, sees the slowest host (last), every line
// (lines), every fault, and the latency of every line while recording.
type mergedViewer struct {
	t         *track
	hosts     map[string]*track
	order     []*track
	following map[string]bool
	faults    int64
}

func (v *mergedViewer) handle(msg []byte, at int64) {
	if bytes.HasPrefix(msg, []byte(linesPrefix)) {
		n, err := v.lines(msg[len(linesPrefix):], at)
		if err != nil {
			v.t.fault(err.Error())
		}
		var faults int64
		for _, h := range v.order {
			faults += h.faults.Load()
		}
		if faults > v.faults {
			v.faults = faults
			for _, h := range v.order {
				if e := h.firstErr(); e != "" {
					v.t.fault(e)
					break
				}
			}
		}
		last := ^uint64(0)
		for _, h := range v.order {
			last = min(last, h.last.Load())
		}
		v.t.lines.Add(int64(n))
		v.t.last.Store(last)
		return
	}
	var m struct {
		Type  string `json:"type"`
		Host  string `json:"host"`
		State struct {
			Code string `json:"code"`
		} `json:"state"`
		From, To  uint64
		Code, Msg string
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		v.t.fault(fmt.Sprintf("bad frame %.100q: %v", msg, err))
		return
	}
	switch m.Type {
	case "hello":
		close(v.t.ready)
	case "status":
		v.following[m.Host] = m.State.Code == "following"
		n := 0
		for _, ok := range v.following {
			if ok {
				n++
			}
		}
		if n == len(v.order) {
			v.t.state("following")
		}
	case "gap":
		v.t.fault(fmt.Sprintf("gap frame: host %s lines %d..%d not sent", m.Host, m.From, m.To))
	case "error":
		v.t.fault("error frame: " + m.Code + ": " + m.Msg)
	default:
		v.t.fault(fmt.Sprintf("unexpected frame %.100q", msg))
	}
}

// lines parses a merged lines frame by hand, as lvViewer.lines does:
// {"seq":N,"ts":N,"host":"h01","text":"…"}, …
func (v *mergedViewer) lines(p []byte, at int64) (int, error) {
	n := 0
	rec := v.t.record.Load()
	for len(p) > 0 && p[0] != ']' {
		var ok bool
		if p, ok = cut(p, `{"seq":`); !ok {
			return n, fmt.Errorf("lines frame: want seq at %.60q", p)
		}
		i := bytes.Index(p, []byte(`"host":"`))
		if i < 0 {
			return n, fmt.Errorf("merged lines frame: no host at %.60q", p)
		}
		p = p[i+len(`"host":"`):]
		i = bytes.IndexByte(p, '"')
		if i < 0 {
			return n, fmt.Errorf("merged lines frame: unterminated host")
		}
		ht := v.hosts[string(p[:i])]
		if ht == nil {
			return n, fmt.Errorf("line from unknown host %q", p[:i])
		}
		p = p[i+1:]
		if i = bytes.Index(p, []byte(`,"text":"`)); i < 0 {
			return n, fmt.Errorf("merged lines frame: want text at %.60q", p)
		}
		p = p[i+len(`,"text":"`):]
		var text []byte
		if len(p) > lineLen-1 && p[lineLen-1] == '"' {
			text, p = p[:lineLen-1], p[lineLen:]
		} else {
			i := bytes.IndexByte(p, '"')
			if i < 0 {
				return n, fmt.Errorf("lines frame: unterminated text")
			}
			text, p = p[:i], p[i+1:]
		}
		if len(p) > 0 && p[0] == '}' {
			p = p[1:]
		} else {
			return n, fmt.Errorf("unexpected line %q (a marker?), followed by %.60q", text, p)
		}
		if len(p) > 0 && p[0] == ',' {
			p = p[1:]
		}
		ht.text(text, at)
		n++
		if rec {
			if _, ts, ok := parseLine(text); ok {
				v.t.latMu.Lock()
				v.t.lat = append(v.t.lat, at-ts)
				v.t.latMu.Unlock()
			}
		}
	}
	return n, nil
}

// newMergeEnv starts logviewer with hosts local hosts on one file and one
// merged viewer, greeted and told every host follows.
func (b *bench) newMergeEnv(hosts int) (*env, error) {
	dir, err := b.newDir("merge")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, file: filepath.Join(dir, "app.log")}
	if e.w, err = newWriter(e.file); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	lv, err := startLogviewerWith(b.ctx, b.bin, dir, mergeConfig(dir, hosts), "")
	if err != nil {
		e.close()
		return nil, err
	}
	e.sys = &mergeSystem{lvSystem: lv, hosts: hostNames(hosts)}
	e.g, e.conns, _, err = connectAll(b.ctx, e.sys, func(int) string { return e.file }, 1, false, 1)
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// mergeTrial writes rate lines/s for d; it passes when the viewer got every
// line from every host, once and in order, within b.drainMax plus the
// reorder window and a local poll of the writer's stop.
func (b *bench) mergeTrial(hosts int, rate float64, d time.Duration) (trialResult, error) {
	e, err := b.newMergeEnv(hosts)
	if err != nil {
		return trialResult{}, err
	}
	defer e.close()
	pid := e.sys.pid()
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return trialResult{}, err
	}
	t0 := time.Now()
	n, err := e.w.paced(b.ctx, rate, d)
	if err != nil {
		return trialResult{}, err
	}
	drain, done := e.g.wait(b.ctx, e.w.last, b.drainMax+mergeWindow+localPoll)
	res := trialResult{lines: n * hosts, drain: drain, ok: done}
	cpu1, _ := cpuSeconds(pid)
	res.cpu = cpu1 - cpu0
	res.load = fmt.Sprintf("server %.0f%% of a core", 100*res.cpu/time.Since(t0).Seconds())
	if !done {
		res.why = fmt.Sprintf("fell behind: the slowest host's copy lacks %d lines %s after the writer stopped", e.g.behind(e.w.last), b.drainMax+mergeWindow+localPoll)
	}
	if f := e.g.faults(); f > 0 {
		res.ok, res.why = false, fmt.Sprintf("%d faults, first: %s", f, e.g.firstErr())
	}
	return res, b.ctx.Err()
}

// mergeSustained climbs from seed (lines/s written) ×1.5 while trials pass,
// or steps down while they fail, then tries once between the last pass and
// the first failure. It returns the highest passing write rate.
func (b *bench) mergeSustained(hosts int, seed float64) (float64, string, error) {
	best, why := 0.0, ""
	try := func(rate float64) (bool, error) {
		tr, err := b.mergeTrial(hosts, rate, b.o.dur)
		if err != nil {
			return false, err
		}
		b.logf("  merged view of %d hosts, %s lines/s written (%s delivered): %s", hosts, human(rate), human(rate*float64(hosts)), tr.verdict())
		if tr.ok {
			best = max(best, rate)
		} else {
			why = tr.why
		}
		return tr.ok, nil
	}
	pass, fail := 0.0, 0.0
	rate := seed
	for range 8 {
		ok, err := try(rate)
		if err != nil {
			return 0, "", err
		}
		if ok {
			pass = rate
			if fail > 0 {
				break
			}
			rate = roundRate(rate * 1.5)
		} else {
			fail = rate
			if pass > 0 {
				break
			}
			rate = roundRate(rate / 2)
		}
	}
	if pass > 0 && fail > 0 {
		if mid := roundRate(math.Sqrt(pass * fail)); mid > pass && mid < fail {
			if _, err := try(mid); err != nil {
				return 0, "", err
			}
		}
	}
	if best == 0 {
		return 0, "no rate passed: " + why, nil
	}
	return best, "", nil
}

// mergeLatency writes rate lines/s for b.o.dur after a warm-up and returns
// the latency percentiles over every line of every host.
func (b *bench) mergeLatency(hosts int, rate float64) (latencyResult, error) {
	e, err := b.newMergeEnv(hosts)
	if err != nil {
		return latencyResult{}, err
	}
	defer e.close()
	return b.measureLatency(e, rate)
}

// scenarioMerge is scenario 8.
func (b *bench) scenarioMerge() error {
	n := b.o.mergeHosts
	note := fmt.Sprintf("%d local [[host]] entries (one range) listing the same file: logviewer follows it %d times (one tail per host) and the view gets each written line %d times, tagged; a load test of the merge, not of %d machines", n, n, n, n)
	rr := b.t.row("8a", fmt.Sprintf("merged view of %d hosts, 1 viewer: max delivered, no loss (lines/s)", n), fmtRate)
	if b.o.inproc {
		b.logf("8. skipped: -inproc wires one local host only")
		rr.note("skipped: -inproc wires one local host only")
		return nil
	}
	rr.note(note)
	rr.note(fmt.Sprintf("a trial passes when every host's copy of every line arrived within %s of the writer's stop: scenario 1's limit plus the reorder window (%s) and the local poll (%s)", b.drainMax+mergeWindow+localPoll, mergeWindow, localPoll))
	latRate := b.o.mergeLatRate
	rl := b.t.row("8b", fmt.Sprintf("merged view of %d hosts, latency write→viewer p50 / p99, %s lines/s written (%s delivered)", n, human(latRate), human(latRate*float64(n))), fmtMS)
	rl.note(fmt.Sprintf("the %d hosts' followers of the one file share the process's inotify watch of it, which wakes them all; the merge waits at most the reorder window (%s) for a silent host", n, mergeWindow))
	for run := 1; run <= b.o.runs; run++ {
		b.logf("8. merged view of %d hosts, run %d/%d", n, run, b.o.runs)
		if b.o.smoke {
			rate := 1000.0
			tr, err := b.mergeTrial(n, rate, b.o.dur)
			if err != nil {
				return err
			}
			b.logf("  %s lines/s written (%s delivered): %s", human(rate), human(rate*float64(n)), tr.verdict())
			b.smokeCheck(fmt.Sprintf("scenario 8, merged view of %d hosts at %s lines/s", n, human(rate)), !tr.ok, tr.why)
			if tr.ok {
				rr.ours = append(rr.ours, rate*float64(n))
			}
			rr.note(fmt.Sprintf("one trial at %s lines/s written, not a search", human(rate)))
		} else {
			rate, why, err := b.mergeSustained(n, 5000)
			if err != nil {
				return err
			}
			rr.ours = append(rr.ours, rate*float64(n))
			rr.note(why)
		}
		lat, err := b.mergeLatency(n, latRate)
		if err != nil {
			return err
		}
		b.logf("  latency at %s lines/s written: p50 %.1f ms, p99 %.1f ms, max %.1f ms %s", human(latRate), lat.p50, lat.p99, lat.max, lat.note)
		b.smokeCheck("scenario 8 latency", lat.lost, lat.note)
		rl.ours2, rl.ours = append(rl.ours2, lat.p50), append(rl.ours, lat.p99)
		rl.note(lat.note)
	}
	return nil
}

// ---- 9. many remote logs, idle ----

// remoteConfig is lvConfig with hosts remote hosts r1 … rK, all reached
// through s, host rK serving dir/rK-*.log.
func remoteConfig(dir string, s *sshd, hosts int) string {
	name, files := "r1", filepath.Join(dir, "r1-*.log")
	if hosts > 1 {
		rng := fmt.Sprintf("[1-%d]", hosts)
		name, files = "r"+rng, filepath.Join(dir, "r"+rng+"-*.log")
	}
	return fmt.Sprintf(`listen = "127.0.0.1:0"
replay = 1000
buffer = "8MiB"
idle_stop = "5m"
max_line_bytes = 65536
max_logs = 100000
max_viewers_per_client = 100000

[[host]]
name = %q
address = %q
user = %q
identity_files = [%q]
known_hosts = %q
files = [%q]
`, name, s.addr, s.user, s.identity, s.knownHosts, files)
}

// remoteSystem is logviewer with several remote hosts behind one sshd; a
// file's name says its host (r2-0007.log is on r2).
type remoteSystem struct {
	*lvSystem
	d *sshd
}

func (s *remoteSystem) dial(ctx context.Context, file string, t *track, i int, small bool) (*websocket.Conn, error) {
	host, _, _ := strings.Cut(filepath.Base(file), "-")
	return dialLogviewer(ctx, s.url, host, file, t, i, readBufSize(small))
}

func (s *remoteSystem) stop() {
	s.lvSystem.stop()
	s.d.p.stop()
}

type remoteIdleResult struct {
	rss       int64   // KiB, logviewer with every log followed
	rssPerLog float64 // bytes
	cpu       float64 // logviewer, CPU seconds per second, idle
	sshdCPU   float64 // sshd and its sessions (sh, tail), idle
	connect   float64 // seconds to open them all
	sshdRSS   int64   // KiB
	sshdProcs int
}

func (b *bench) remoteIdle(n, hosts int) (remoteIdleResult, error) {
	var res remoteIdleResult
	dir, err := b.newDir("remote")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	files := make([]string, n)
	for i := range files {
		files[i] = filepath.Join(dir, fmt.Sprintf("r%d-%05d.log", i%hosts+1, i))
		if err := os.WriteFile(files[i], nil, 0o644); err != nil {
			return res, err
		}
	}
	d, err := startRemoteSSHD(b.ctx, dir)
	if err != nil {
		return res, err
	}
	lv, err := startLogviewerWith(b.ctx, b.bin, dir, remoteConfig(dir, d, hosts), "")
	if err != nil {
		d.p.stop()
		return res, err
	}
	sys := &remoteSystem{lvSystem: lv, d: d}
	defer sys.stop()
	pid := sys.pid()
	settle, window := 2*time.Second, 5*time.Second
	if b.o.smoke {
		settle, window = 300*time.Millisecond, time.Second
	}
	sleep(b.ctx, settle)
	rss0, err := rssKB(pid)
	if err != nil {
		return res, err
	}
	g, conns, took, err := connectAll(b.ctx, sys, func(i int) string { return files[i] }, n, true, 16)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	sleep(b.ctx, settle)
	rss1, err := rssKB(pid)
	if err != nil {
		return res, err
	}
	cpu0, _ := cpuSeconds(pid)
	scpu0, _ := cpuSeconds(d.p.pid())
	sleep(b.ctx, window)
	cpu1, _ := cpuSeconds(pid)
	scpu1, _ := cpuSeconds(d.p.pid())
	res.rss, res.rssPerLog = rss1, float64(rss1-rss0)*1024/float64(n)
	res.cpu, res.sshdCPU = (cpu1-cpu0)/window.Seconds(), (scpu1-scpu0)/window.Seconds()
	res.connect = took.Seconds()
	res.sshdRSS, _ = rssKB(d.p.pid())
	res.sshdProcs = len(descendants(d.p.pid())) + 1
	// Every log is live: one line to each reaches its viewer.
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := newWriter(f)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = w.write(1)
			w.Close()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return res, err
		}
	}
	if _, ok := g.wait(b.ctx, 1, 30*time.Second); !ok || g.faults() > 0 {
		return res, fmt.Errorf("%d remote logs: a line written to each did not reach every viewer (%d viewers lack it; %s)", n, countBehind(g, 1), g.firstErr())
	}
	return res, b.ctx.Err()
}

// startRemoteSSHD is startSSHD whose sessions run no login rc files: run
// as root, sshd is started again in a private mount namespace where root's
// passwd entry has /bin/sh as shell and dir as home. Each followed log is
// a session, and this machine's root ~/.bashrc (which bash reads when sshd
// runs it) starts pyenv, whose rehash lock made 200 sessions pile up for
// minutes: that would measure the machine's rc files, not logviewer. Not
// root: startSSHD as it is.
func startRemoteSSHD(ctx context.Context, dir string) (*sshd, error) {
	d, err := startSSHD(ctx, dir)
	if err != nil || os.Geteuid() != 0 {
		return d, err
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return d, nil
	}
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		d.p.stop()
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(string(passwd), "\n"), "\n") {
		if f := strings.Split(l, ":"); len(f) == 7 && f[2] == "0" {
			f[5], f[6] = dir, "/bin/sh"
			l = strings.Join(f, ":")
		}
		out = append(out, l)
	}
	fake := filepath.Join(dir, "passwd")
	if err := os.WriteFile(fake, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		d.p.stop()
		return nil, err
	}
	d.p.stop() // the same port, key and config, in the namespace
	conf := filepath.Join(dir, "sshd_config")
	d.p, err = startProc("sshd (own passwd)", dir, unshare, "--mount", "--propagation", "private",
		"/bin/sh", "-c", `mount --bind "$1" /etc/passwd && shift && exec "$@"`, "sh", fake, sshdPath, "-D", "-e", "-f", conf)
	if err != nil {
		return nil, err
	}
	if err := waitLine(ctx, d.p, "Server listening on", 20*time.Second); err != nil {
		d.p.stop()
		return nil, err
	}
	return d, nil
}

func countBehind(g group, seq uint64) int {
	k := 0
	for _, t := range g {
		if t.last.Load() < seq {
			k++
		}
	}
	return k
}

// scenarioRemoteIdle is scenario 9.
func (b *bench) scenarioRemoteIdle() error {
	n, hosts := b.o.remoteLogs, b.o.remoteHosts
	what := fmt.Sprintf("%s remote logs (%d hosts, one sshd), idle, one viewer each", human(float64(n)), hosts)
	if reason := b.sshUnavailable(); reason != "" {
		b.logf("9. skipped: ssh source not available (%s)", reason)
		b.t.row("9a", what+": server RSS (total)", fmtMiB).note("skipped: ssh source not available (" + reason + ")")
		return nil
	}
	rr := b.t.row("9a", what+": server RSS (total)", fmtMiB)
	rp := b.t.row("9b", what+": server RSS per log", fmtBytes)
	rc := b.t.row("9c", what+": server CPU", fmtPct)
	rs := b.t.row("9d", what+": sshd and its sessions' CPU (not logviewer's)", fmtPct)
	ro := b.t.row("9e", what+": time to open them all", fmtSec)
	rr.note(fmt.Sprintf("one SSH session (a remote sh and tail) per followed log; OpenSSH's default MaxSessions 10 and the source's 16 connections per host cap one host at 160 logs, so %d logs are spread over %d [[host]] entries (one range) reaching the same sshd", n, hosts))
	rr.note("run as root, the sessions' login shell is /bin/sh with no rc files (see startRemoteSSHD): the remote side costs what logviewer's script costs, not what the machine's ~/.bashrc does")
	for run := 1; run <= b.o.runs; run++ {
		b.logf("9. %d remote logs over %d hosts, idle, run %d/%d", n, hosts, run, b.o.runs)
		res, err := b.remoteIdle(n, hosts)
		if err != nil {
			if b.o.smoke {
				b.smokeCheck("scenario 9", true, err.Error())
				continue
			}
			return err
		}
		b.logf("  logviewer: RSS %d KiB (%.0f bytes per log), CPU %.1f%%; sshd: %d processes, RSS %d KiB, CPU %.1f%%; opened in %.2fs",
			res.rss, res.rssPerLog, 100*res.cpu, res.sshdProcs, res.sshdRSS, 100*res.sshdCPU, res.connect)
		rr.ours, rp.ours, rc.ours = append(rr.ours, float64(res.rss)), append(rp.ours, res.rssPerLog), append(rc.ours, res.cpu)
		rs.ours, ro.ours = append(rs.ours, res.sshdCPU), append(ro.ours, res.connect)
	}
	return nil
}
