package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nxadm/tail"
)

// ---- 1. maximum sustained rate ----

// ladder is the fractions of the burst rate tried when it fails, highest first.
var ladder = []float64{0.8, 0.64, 0.5, 0.4, 0.3, 0.2, 0.12, 0.06, 0.03}

type sustainedResult struct {
	rate    float64 // lines/s per viewer; 0 if no rate passed
	burst   float64
	cpuPerM float64 // server CPU seconds per million lines per viewer, at rate
	note    string
}

// sustained finds the highest rate at which every viewer gets every line and
// keeps up. A burst (the writer outruns everything) gives a first rate; then
// fixed-rate trials climb ×1.5 from it while they pass, or step down while
// they fail, and one more trial halfway (geometrically) between the last pass
// and the first failure narrows it to about ±10%.
func (b *bench) sustained(kind string, viewers int) (sustainedResult, error) {
	burst, err := b.burstRate(kind, viewers)
	if err != nil {
		return sustainedResult{}, err
	}
	res := sustainedResult{burst: burst}
	var why string
	try := func(rate float64) (bool, error) {
		tr, err := b.trial(kind, viewers, rate, b.o.dur)
		if err != nil {
			return false, err
		}
		b.logf("  %s, %d viewers, %s lines/s: %s", kind, viewers, human(rate), tr.verdict())
		if tr.ok && rate > res.rate {
			res.rate, res.cpuPerM = rate, tr.cpu/float64(tr.lines)*1e6
		}
		if !tr.ok {
			why = tr.why
		}
		return tr.ok, nil
	}
	pass, fail := 0.0, 0.0
	seed := roundRate(burst)
	ok, err := try(seed)
	if err != nil {
		return res, err
	}
	if ok {
		pass = seed
		for range 6 {
			r := roundRate(pass * 1.5)
			if ok, err := try(r); err != nil {
				return res, err
			} else if !ok {
				fail = r
				break
			}
			pass = r
		}
	} else {
		fail = seed
		for _, f := range ladder {
			r := roundRate(burst * f)
			if r < 10 {
				break
			}
			if ok, err := try(r); err != nil {
				return res, err
			} else if ok {
				pass = r
				break
			}
			fail = r
		}
	}
	if pass > 0 && fail > 0 {
		if mid := roundRate(math.Sqrt(pass * fail)); mid > pass && mid < fail {
			if _, err := try(mid); err != nil {
				return res, err
			}
		}
	}
	if res.rate == 0 {
		res.note = "no rate passed: " + why
	}
	return res, nil
}

func roundRate(r float64) float64 {
	if r <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(r))-1) // two significant digits
	return math.Floor(r/p) * p
}

// burstRate writes as fast as it can and measures lines received per viewer
// per second; lines that are lost (gap frames) simply are not counted.
func (b *bench) burstRate(kind string, viewers int) (float64, error) {
	e, err := b.newEnv(kind, viewers, false)
	if err != nil {
		return 0, err
	}
	defer e.close()
	n := min(1_000_000, 2_000_000/viewers)
	window := 3 * time.Second
	if b.o.smoke {
		n, window = min(n, 50_000), time.Second
	}
	start := time.Now()
	if _, err := e.w.burst(b.ctx, n, window); err != nil {
		return 0, err
	}
	e.g.wait(b.ctx, e.w.last, window-time.Since(start))
	el := time.Since(start)
	if n := e.g.closedCount(); n > 0 {
		return 0, fmt.Errorf("%s: %d of %d viewers were disconnected during a burst: %s; server says: %s", kind, n, viewers, e.g.firstErr(), serverTail(e.sys))
	}
	got := float64(e.g.lines()) / float64(viewers)
	rate := got / el.Seconds()
	b.logf("  %s, %d viewers: burst of %d lines: %s lines/s per viewer (%.0f%% of the lines arrived within %s)",
		kind, viewers, n, human(rate), 100*got/float64(n), el.Round(time.Millisecond))
	return rate, nil
}

type trialResult struct {
	ok    bool
	why   string
	lines int           // lines written
	cpu   float64       // server CPU seconds from the first line written until the last arrived
	drain time.Duration // from the writer's stop until the last viewer had every line
	load  string        // CPU use of the server and of this process during the trial
}

func (t trialResult) verdict() string {
	if t.ok {
		return fmt.Sprintf("ok (all in %s after the writer stopped; %s)", t.drain.Round(time.Millisecond), t.load)
	}
	return "FAIL: " + t.why + " (" + t.load + ")"
}

// trial writes rate lines/s for d to fresh viewers. It passes when no line
// is lost, duplicated or reordered and every viewer had every line within
// b.drainMax of the writer's stop (so the rate is sustained, not buffered).
func (b *bench) trial(kind string, viewers int, rate float64, d time.Duration) (trialResult, error) {
	e, err := b.newEnv(kind, viewers, false)
	if err != nil {
		return trialResult{}, err
	}
	defer e.close()
	pid := e.sys.pid()
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return trialResult{}, err
	}
	self0, _ := procCPU(os.Getpid())
	t0 := time.Now()
	stopTimeline := b.timeline(e, fmt.Sprintf("%s-%dv-%.0f", kind, viewers, rate))
	defer stopTimeline()
	n, err := e.w.paced(b.ctx, rate, d)
	if err != nil {
		return trialResult{}, err
	}
	drain, done := e.g.wait(b.ctx, e.w.last, b.drainMax)
	missing := e.g.behind(e.w.last)
	res := trialResult{lines: n, drain: drain, ok: done}
	cpuW, _ := cpuSeconds(pid)
	selfW, _ := procCPU(os.Getpid())
	el := time.Since(t0).Seconds()
	res.load = fmt.Sprintf("server %.0f%%, bench %.0f%% of a core", 100*(cpuW-cpu0)/el, float64(selfW-self0)/clockTicks*100/el)
	if !done {
		res.why = fmt.Sprintf("fell behind: %d lines still missing %s after the writer stopped", missing, b.drainMax)
		if e.g.faults() == 0 {
			// Let it finish, for the CPU figure; a lossy viewer never will.
			e.g.wait(b.ctx, e.w.last, 10*time.Second)
		}
	}
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return trialResult{}, err
	}
	res.cpu = cpu1 - cpu0
	if f := e.g.faults(); f > 0 {
		res.ok, res.why = false, fmt.Sprintf("%d faults, first: %s", f, e.g.firstErr())
	}
	return res, b.ctx.Err()
}

// ---- 2. latency ----

type latencyResult struct {
	p50, p99, max float64 // ms
	lost          bool
	note          string
}

func (b *bench) latency(kind string, viewers int, rate float64) (latencyResult, error) {
	e, err := b.newEnv(kind, viewers, false)
	if err != nil {
		return latencyResult{}, err
	}
	defer e.close()
	return b.measureLatency(e, rate)
}

// measureLatency writes rate lines/s into e for b.o.dur after a warm-up and
// returns the latency percentiles over every line every viewer received.
func (b *bench) measureLatency(e *env, rate float64) (latencyResult, error) {
	warm := 500 * time.Millisecond
	if b.o.smoke {
		warm = 200 * time.Millisecond
	}
	if _, err := e.w.paced(b.ctx, rate, warm); err != nil {
		return latencyResult{}, err
	}
	e.g.wait(b.ctx, e.w.last, 5*time.Second)
	e.g.setRecord(true)
	if _, err := e.w.paced(b.ctx, rate, b.o.dur); err != nil {
		return latencyResult{}, err
	}
	_, done := e.g.wait(b.ctx, e.w.last, 3*time.Second)
	e.g.setRecord(false)
	var all []int64
	for _, t := range e.g {
		all = append(all, t.takeLatencies()...)
	}
	var res latencyResult
	if len(all) > 0 {
		slices.Sort(all)
		res.p50 = ms(all[len(all)/2])
		res.p99 = ms(all[min(len(all)-1, len(all)*99/100)])
		res.max = ms(all[len(all)-1])
	}
	if f := e.g.faults(); f > 0 || !done {
		res.lost = true
		res.note = fmt.Sprintf("lines lost or late (%d faults; %d lines still missing 3s after the writer stopped) %s", f, e.g.behind(e.w.last), e.g.firstErr())
	}
	return res, b.ctx.Err()
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// ---- 3. idle viewers ----

type idleResult struct {
	perViewer  float64 // bytes of server RSS per viewer
	connect    float64 // seconds to connect them all
	fanout     float64 // seconds until one new line reached every viewer
	idleCPU    float64 // server CPU seconds per second while idle
	limits     string
	rss0, rss1 int64
}

func (b *bench) idleViewers(n int) (idleResult, error) {
	e, err := b.newEnv("logviewer", 1, false) // the log and its room exist before measuring
	if err != nil {
		return idleResult{}, err
	}
	defer e.close()
	pid := e.sys.pid()
	settle := 2 * time.Second
	if b.o.smoke {
		settle = 300 * time.Millisecond
	}
	sleep(b.ctx, settle)
	rss0, err := rssKB(pid)
	if err != nil {
		return idleResult{}, err
	}
	g, conns, took, err := connectAll(b.ctx, e.sys, func(int) string { return e.file }, n, true, 128)
	if err != nil {
		return idleResult{}, err
	}
	e.conns = append(e.conns, conns...)
	sleep(b.ctx, settle)
	b.heapProfile("3")
	rss1, err := rssKB(pid)
	if err != nil {
		return idleResult{}, err
	}
	cpu0, _ := cpuSeconds(pid)
	sleep(b.ctx, settle)
	cpu1, _ := cpuSeconds(pid)
	res := idleResult{
		perViewer: float64(rss1-rss0) * 1024 / float64(n),
		connect:   took.Seconds(),
		idleCPU:   (cpu1 - cpu0) / settle.Seconds(),
		limits:    openFileLimit(pid),
		rss0:      rss0, rss1: rss1,
	}
	// Every one of them is live: one line reaches all.
	if err := e.w.write(1); err != nil {
		return res, err
	}
	all := append(group{}, g...)
	all = append(all, e.g...)
	waited, ok := all.wait(b.ctx, e.w.last, 30*time.Second)
	if !ok || all.faults() > 0 {
		return res, fmt.Errorf("a line written with %d idle viewers did not reach them all: %d missing, %s", n, all.behind(e.w.last), all.firstErr())
	}
	res.fanout = waited.Seconds()
	return res, b.ctx.Err()
}

// ---- 4. CPU per million lines ----

// cpuPerMillion writes rate lines/s to one viewer and returns the server's
// CPU seconds per million lines delivered.
func (b *bench) cpuPerMillion(kind string, rate float64) (float64, string, error) {
	e, err := b.newEnv(kind, 1, false)
	if err != nil {
		return 0, "", err
	}
	defer e.close()
	if _, err := e.w.paced(b.ctx, rate, 300*time.Millisecond); err != nil {
		return 0, "", err
	}
	e.g.wait(b.ctx, e.w.last, 10*time.Second)
	pid := e.sys.pid()
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return 0, "", err
	}
	first := e.w.last
	d := 5 * time.Second
	if b.o.smoke {
		d = time.Second
	}
	if _, err := e.w.paced(b.ctx, rate, d); err != nil {
		return 0, "", err
	}
	_, done := e.g.wait(b.ctx, e.w.last, 60*time.Second)
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return 0, "", err
	}
	note := ""
	if !done || e.g.faults() > 0 {
		note = fmt.Sprintf("%s lost or did not deliver lines at %s lines/s: %s", kind, human(rate), e.g.firstErr())
	}
	got := e.g.lines() - int64(first) // lines delivered during the window
	if got <= 0 {
		return 0, note, nil
	}
	return (cpu1 - cpu0) / float64(got) * 1e6, note, b.ctx.Err()
}

// ---- 5. many followed files ----

type filesResult struct {
	rssPerFile float64 // bytes
	rss        int64   // KiB, total with all files followed
	cpu        float64 // CPU seconds per second, idle
	connect    float64 // seconds to open them all
	check      float64 // seconds until a line written to each file reached its viewer
}

func (b *bench) manyFiles(n int) (filesResult, error) {
	dir, err := b.newDir("files")
	if err != nil {
		return filesResult{}, err
	}
	defer os.RemoveAll(dir)
	files := make([]string, n)
	for i := range files {
		files[i] = filepath.Join(dir, fmt.Sprintf("f%05d.log", i))
		if err := os.WriteFile(files[i], nil, 0o644); err != nil {
			return filesResult{}, err
		}
	}
	sys, err := b.start("logviewer", dir, files[0])
	if err != nil {
		return filesResult{}, err
	}
	defer sys.stop()
	pid := sys.pid()
	settle, window := 2*time.Second, 5*time.Second
	if b.o.smoke {
		settle, window = 300*time.Millisecond, time.Second
	}
	sleep(b.ctx, settle)
	rss0, err := rssKB(pid)
	if err != nil {
		return filesResult{}, err
	}
	g, conns, took, err := connectAll(b.ctx, sys, func(i int) string { return files[i] }, n, true, 32)
	if err != nil {
		return filesResult{}, err
	}
	defer closeAll(conns)
	sleep(b.ctx, settle)
	b.heapProfile("5")
	rss1, err := rssKB(pid)
	if err != nil {
		return filesResult{}, err
	}
	cpu0, _ := cpuSeconds(pid)
	sleep(b.ctx, window)
	cpu1, _ := cpuSeconds(pid)
	res := filesResult{
		rssPerFile: float64(rss1-rss0) * 1024 / float64(n),
		rss:        rss1,
		cpu:        (cpu1 - cpu0) / window.Seconds(),
		connect:    took.Seconds(),
	}
	// Every file is followed: one line to each reaches its viewer.
	start := time.Now()
	for _, f := range files {
		w, err := newWriter(f)
		if err != nil {
			return res, err
		}
		err = w.write(1)
		w.Close()
		if err != nil {
			return res, err
		}
	}
	if _, ok := g.wait(b.ctx, 1, 30*time.Second); !ok || g.faults() > 0 {
		return res, fmt.Errorf("%d followed files: a line written to each did not reach every viewer (%s)", n, g.firstErr())
	}
	res.check = time.Since(start).Seconds()
	return res, b.ctx.Err()
}

// ---- 7. ceilings ----

// ceilingFile makes a directory holding the log a ceiling is measured on and
// a writer for it; done closes the writer and removes the directory.
func (b *bench) ceilingFile(name string) (dir, file string, w *writer, done func(), err error) {
	if dir, err = b.newDir(name); err != nil {
		return "", "", nil, nil, err
	}
	file = filepath.Join(dir, "app.log")
	if w, err = newWriter(file); err != nil {
		os.RemoveAll(dir)
		return "", "", nil, nil, err
	}
	return dir, file, w, func() { w.Close(); os.RemoveAll(dir) }, nil
}

// ceilingTail measures `tail -F file` writing into a pipe that this process
// reads and checks: lines per second from the first write to the last line read.
func (b *bench) ceilingTail(n int) (float64, error) {
	dir, file, w, done, err := b.ceilingFile("tail")
	if err != nil {
		return 0, err
	}
	defer done()
	r, pw, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	p, err := startProcOut("tail -F", dir, pw, "tail", "-n", "+1", "-F", file)
	pw.Close()
	if err != nil {
		return 0, err
	}
	defer p.stop()
	got := make(chan error, 1)
	go func() {
		br := bufio.NewReaderSize(r, 1<<20)
		var last uint64
		for last < uint64(n) {
			l, err := br.ReadSlice('\n')
			if err != nil {
				got <- fmt.Errorf("tail -F: %w after line %d", err, last)
				return
			}
			seq, _, ok := parseLine(l[:len(l)-1])
			if !ok || seq != last+1 {
				got <- fmt.Errorf("tail -F: line %q after %d", l, last)
				return
			}
			last = seq
		}
		got <- nil
	}()
	return b.timeCeiling(w, n, got, p.stop)
}

// ceilingNxadm measures github.com/nxadm/tail alone in this process (as
// logviewer's local source uses it: follow, inotify).
func (b *bench) ceilingNxadm(n int) (float64, error) {
	_, file, w, done, err := b.ceilingFile("nxadm")
	if err != nil {
		return 0, err
	}
	defer done()
	t, err := tail.TailFile(file, tail.Config{Follow: true, MustExist: true, Logger: tail.DiscardingLogger})
	if err != nil {
		return 0, err
	}
	stop := func() {
		_ = t.Stop()
		for range t.Lines {
		}
	}
	got := make(chan error, 1)
	go func() {
		var last uint64
		for l := range t.Lines {
			if l.Err != nil {
				continue
			}
			seq, _, ok := parseLine(l.Text)
			if !ok || seq != last+1 {
				got <- fmt.Errorf("nxadm/tail: line %q after %d", l.Text, last)
				return
			}
			if last = seq; last == uint64(n) {
				got <- nil
				return
			}
		}
		got <- io.ErrUnexpectedEOF
	}()
	return b.timeCeiling(w, n, got, stop)
}

func (b *bench) timeCeiling(w *writer, n int, got <-chan error, stop func()) (float64, error) {
	start := time.Now()
	if _, err := w.burst(b.ctx, n, time.Minute); err != nil {
		stop()
		return 0, err
	}
	select {
	case err := <-got:
		el := time.Since(start)
		stop()
		if err != nil {
			return 0, err
		}
		return float64(n) / el.Seconds(), nil
	case <-time.After(time.Minute):
		stop()
		return 0, fmt.Errorf("%d lines not read within a minute", n)
	case <-b.ctx.Done():
		stop()
		return 0, b.ctx.Err()
	}
}

func sleep(ctx interface{ Done() <-chan struct{} }, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// timeline samples, every millisecond while a trial runs, how far the writer,
// the ring (in-process only) and the slowest and fastest viewer are, and
// writes them as CSV to the -timeline directory: where a backlog forms.
func (b *bench) timeline(e *env, name string) func() {
	if b.o.timeline == "" {
		return func() {}
	}
	ring, release := func() uint64 { return 0 }, func() {}
	if ip, ok := e.sys.(*inprocSystem); ok {
		if f, r, err := ip.ringNext(b.ctx, e.file); err == nil {
			ring, release = f, r
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := os.Create(filepath.Join(b.o.timeline, name+".csv"))
		if err != nil {
			return
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		fmt.Fprintln(bw, "ms,written,ring,slowest,fastest")
		start := time.Now()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var fastest uint64
			for _, t := range e.g {
				fastest = max(fastest, t.last.Load())
			}
			fmt.Fprintf(bw, "%.1f,%d,%d,%d,%d\n", float64(time.Since(start).Microseconds())/1000, e.w.written.Load(), ring(), e.g.minLast(), fastest)
		}
	}()
	return func() {
		close(stop)
		<-done
		release()
	}
}
