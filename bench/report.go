package main

import (
	"fmt"

	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/logviewer/logviewer/sources/local"
)

// table collects per-run values; the report shows their medians.
type table struct {
	rows    []*row
	byID    map[string]*row
	targets []string // PASS/MISS lines
}

type row struct {
	id, what string
	format   func(float64) string
	ours     []float64
	theirs   []float64
	ours2    []float64 // a second figure shown before the first (latency p50)
	theirs2  []float64
	ratio    bool // show ours ÷ theirs
	target   string
	notes    []string
}

func newTable() *table { return &table{byID: map[string]*row{}} }

func (t *table) row(id, what string, format func(float64) string) *row {
	if r := t.byID[id]; r != nil {
		return r
	}
	r := &row{id: id, what: what, format: format}
	t.rows = append(t.rows, r)
	t.byID[id] = r
	return r
}

func (r *row) note(s string) {
	if s != "" && !slices.Contains(r.notes, s) {
		r.notes = append(r.notes, s)
	}
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func spread(v []float64, f func(float64) string) string {
	if len(v) < 2 {
		return ""
	}
	return " (" + f(slices.Min(v)) + "–" + f(slices.Max(v)) + ")"
}

// ---- formats ----

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtRate(v float64) string  { return human(v) + " lines/s" }
func fmtMS(v float64) string    { return fmt.Sprintf("%.1f ms", v) }
func fmtSec(v float64) string   { return fmt.Sprintf("%.2f s", v) }
func fmtCPU(v float64) string   { return fmt.Sprintf("%.2f CPU-s", v) }
func fmtPct(v float64) string   { return fmt.Sprintf("%.1f%% of a core", 100*v) }
func fmtBytes(v float64) string { return fmt.Sprintf("%.1f KB", v/1000) }
func fmtMiB(v float64) string   { return fmt.Sprintf("%.0f MiB", v/1024) }

// ---- scenarios, as table rows ----

func (b *bench) scenarioCeilings() error {
	n := 2_000_000
	if b.o.smoke {
		n = 100_000
	}
	rt := b.t.row("7a", "ceiling: `tail -F` → pipe (lines/s)", fmtRate)
	rn := b.t.row("7b", "ceiling: nxadm/tail alone, in-process (lines/s)", fmtRate)
	for run := 1; run <= b.o.runs; run++ {
		b.logf("7. ceilings, run %d/%d: %d lines written as fast as possible", run, b.o.runs, n)
		v, err := b.ceilingTail(n)
		if err != nil {
			return err
		}
		rt.ours = append(rt.ours, v)
		v2, err := b.ceilingNxadm(n)
		if err != nil {
			return err
		}
		rn.ours = append(rn.ours, v2)
		b.logf("  tail -F: %s lines/s; nxadm/tail: %s lines/s", human(v), human(v2))
	}
	return nil
}

func (b *bench) scenarioSustained() error {
	for _, v := range b.o.viewers {
		what := fmt.Sprintf("max sustained, no loss, %d viewer%s (lines/s each)", v, plural(v))
		r := b.t.row(fmt.Sprintf("1/%d", v), what, fmtRate)
		r.ratio = true
		for run := 1; run <= b.o.runs; run++ {
			b.logf("1. sustained rate, %d viewers, run %d/%d", v, run, b.o.runs)
			if b.o.smoke || b.o.at > 0 {
				// A fixed rate that must arrive whole.
				rate := 20000.0
				if b.o.at > 0 {
					rate = b.o.at
				}
				tr, err := b.trial("logviewer", v, rate, b.o.dur)
				if err != nil {
					return err
				}
				b.logf("  logviewer, %d viewers, %s lines/s: %s", v, human(rate), tr.verdict())
				b.smokeCheck(fmt.Sprintf("scenario 1, %d viewers at %s lines/s", v, human(rate)), !tr.ok, tr.why)
				if tr.ok {
					r.ours = append(r.ours, rate)
				}
				r.note(fmt.Sprintf("one trial at %s lines/s, not a search", human(rate)))
				continue
			}
			ours, err := b.sustained("logviewer", v)
			if err != nil {
				return err
			}
			r.ours = append(r.ours, ours.rate)
			r.note(ours.note)
			if v == 1 {
				c := b.t.row("4b", "server CPU per 1M lines, 1 viewer, at the max sustained rate", fmtCPU)
				c.ours = append(c.ours, ours.cpuPerM)
			}
			if b.ft != nil {
				theirs, err := b.sustained("frontail", v)
				if err != nil {
					return err
				}
				r.theirs = append(r.theirs, theirs.rate)
				if theirs.note != "" {
					r.note("frontail: " + theirs.note)
				}
			}
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (b *bench) scenarioLatency() error {
	rates, viewers := b.o.latRates, b.o.latViewers
	for _, rate := range rates {
		for _, v := range viewers {
			if rate >= 100e3 && v > 1 {
				continue // the table asks 100k lines/s of one viewer only; 100 viewers there is scenario 1's
			}
			id := fmt.Sprintf("2/%g/%d", rate, v)
			r := b.t.row(id, fmt.Sprintf("latency write→viewer p50 / p99, %s lines/s, %d viewer%s", human(rate), v, plural(v)), fmtMS)
			r.ratio = true
			for run := 1; run <= b.o.runs; run++ {
				b.logf("2. latency at %s lines/s, %d viewers, run %d/%d", human(rate), v, run, b.o.runs)
				ours, err := b.latency("logviewer", v, rate)
				if err != nil {
					return err
				}
				b.logf("  logviewer: p50 %.1f ms, p99 %.1f ms, max %.1f ms %s", ours.p50, ours.p99, ours.max, ours.note)
				b.smokeCheck(fmt.Sprintf("scenario 2 at %s lines/s", human(rate)), ours.lost, ours.note)
				r.ours2, r.ours = append(r.ours2, ours.p50), append(r.ours, ours.p99)
				r.note(ours.note)
				if b.ft != nil {
					theirs, err := b.latency("frontail", v, rate)
					if err != nil {
						return err
					}
					b.logf("  frontail: p50 %.1f ms, p99 %.1f ms, max %.1f ms %s", theirs.p50, theirs.p99, theirs.max, theirs.note)
					r.theirs2, r.theirs = append(r.theirs2, theirs.p50), append(r.theirs, theirs.p99)
					if theirs.lost {
						r.note("frontail fell behind: lines were still missing 3 s after the writer stopped; its latencies count only the lines that arrived")
					}
				}
			}
		}
	}
	return nil
}

func (b *bench) scenarioCPU() error {
	r := b.t.row("4a", fmt.Sprintf("server CPU per 1M lines, 1 viewer, at %s lines/s", human(b.o.cpuRate)), fmtCPU)
	r.ratio = true
	rb := b.t.row("4c", fmt.Sprintf("floor at %s lines/s: a Go process that only wakes every %s (a busy log's clock), CPU per 1M lines", human(b.o.cpuRate), local.BusyClock), fmtCPU)
	rw := b.t.row("4d", fmt.Sprintf("floor at %s lines/s: the same, reading a batch from a file and writing it to a socket at each wake-up", human(b.o.cpuRate)), fmtCPU)
	for run := 1; run <= b.o.runs; run++ {
		b.logf("4. CPU per million lines at %s lines/s, run %d/%d", human(b.o.cpuRate), run, b.o.runs)
		ours, note, err := b.cpuPerMillion("logviewer", b.o.cpuRate)
		if err != nil {
			return err
		}
		b.smokeCheck("scenario 4", note != "", note)
		r.ours = append(r.ours, ours)
		r.note(note)
		if b.ft != nil {
			theirs, note, err := b.cpuPerMillion("frontail", b.o.cpuRate)
			if err != nil {
				return err
			}
			r.theirs = append(r.theirs, theirs)
			r.note(note)
			b.logf("  logviewer %.2f, frontail %.2f CPU-s per 1M lines", ours, theirs)
		} else {
			b.logf("  logviewer %.2f CPU-s per 1M lines", ours)
		}
		// The floor on this machine (floor.go): CPU per second of a
		// process on the busy clock, as CPU-s per 1M lines at the rate.
		perMillion := func(cpuPerSec float64) float64 { return cpuPerSec / b.o.cpuRate * 1e6 }
		bare, err := floorCPU(b.ctx, local.BusyClock, false)
		if err != nil {
			return err
		}
		work, err := floorCPU(b.ctx, local.BusyClock, true)
		if err != nil {
			return err
		}
		rb.ours = append(rb.ours, perMillion(bare))
		rw.ours = append(rw.ours, perMillion(work))
		b.logf("  floor: %.2f CPU-s per 1M lines waking every %s, %.2f reading and writing a batch too", perMillion(bare), local.BusyClock, perMillion(work))
	}
	return nil
}

func (b *bench) scenarioIdle() error {
	n := b.o.idle
	rr := b.t.row("3a", fmt.Sprintf("%s idle viewers on one log: server RSS per viewer", human(float64(n))), fmtBytes)
	rc := b.t.row("3b", fmt.Sprintf("%s idle viewers: time to connect them all", human(float64(n))), fmtSec)
	rf := b.t.row("3c", fmt.Sprintf("%s idle viewers: one new line reaches all", human(float64(n))), fmtSec)
	ri := b.t.row("3d", fmt.Sprintf("%s idle viewers: server CPU while idle", human(float64(n))), fmtPct)
	for run := 1; run <= b.o.runs; run++ {
		b.logf("3. %d idle viewers, run %d/%d", n, run, b.o.runs)
		res, err := b.idleViewers(n)
		if err != nil {
			if b.o.smoke {
				b.smokeCheck("scenario 3", true, err.Error())
				continue
			}
			return err
		}
		b.logf("  RSS %d → %d KiB: %.0f bytes per viewer; connected in %.2fs; a line reached all in %.3fs; open files %s",
			res.rss0, res.rss1, res.perViewer, res.connect, res.fanout, res.limits)
		rr.ours, rc.ours, rf.ours, ri.ours = append(rr.ours, res.perViewer), append(rc.ours, res.connect), append(rf.ours, res.fanout), append(ri.ours, res.idleCPU)
		rr.note("server's open-file limit: " + res.limits)
	}
	return nil
}

func (b *bench) scenarioFiles() error {
	n := b.o.files
	rc := b.t.row("5a", fmt.Sprintf("%s followed files, idle, one viewer each: server CPU", human(float64(n))), fmtPct)
	rr := b.t.row("5b", fmt.Sprintf("%s followed files: server RSS (total)", human(float64(n))), fmtMiB)
	rp := b.t.row("5c", fmt.Sprintf("%s followed files: server RSS per file", human(float64(n))), fmtBytes)
	ro := b.t.row("5d", fmt.Sprintf("%s followed files: time to open them all", human(float64(n))), fmtSec)
	for run := 1; run <= b.o.runs; run++ {
		b.logf("5. %d followed files, run %d/%d", n, run, b.o.runs)
		res, err := b.manyFiles(n)
		if err != nil {
			if b.o.smoke {
				b.smokeCheck("scenario 5", true, err.Error())
				continue
			}
			return err
		}
		b.logf("  CPU %.1f%%, RSS %d KiB (%.0f bytes per file), opened in %.2fs, a line to each arrived in %.2fs",
			100*res.cpu, res.rss, res.rssPerFile, res.connect, res.check)
		rc.ours, rr.ours, rp.ours, ro.ours = append(rc.ours, res.cpu), append(rr.ours, float64(res.rss)), append(rp.ours, res.rssPerFile), append(ro.ours, res.connect)
	}
	return nil
}

// scenarioSSH is scenario 6: logviewer follows a file through a real sshd
// on loopback (the same machine's file, so the writer is unchanged).
func (b *bench) scenarioSSH() error {
	r := b.t.row("6", "one SSH log to one viewer, max sustained, no loss (lines/s)", fmtRate)
	if reason := b.sshUnavailable(); reason != "" {
		b.logf("6. skipped: ssh source not available (%s)", reason)
		r.note("skipped: ssh source not available (" + reason + ")")
		return nil
	}
	r.note("logviewer's own CPU; sshd and the remote tail run on the same 2 cores")
	for run := 1; run <= b.o.runs; run++ {
		b.logf("6. one SSH log to one viewer, run %d/%d", run, b.o.runs)
		if b.o.smoke {
			rate := 5000.0
			tr, err := b.trial("logviewer-ssh", 1, rate, b.o.dur)
			if err != nil {
				return err
			}
			b.logf("  logviewer over ssh, %s lines/s: %s", human(rate), tr.verdict())
			b.smokeCheck("scenario 6 (ssh)", !tr.ok, tr.why)
			if tr.ok {
				r.ours = append(r.ours, rate)
			}
			continue
		}
		res, err := b.sustained("logviewer-ssh", 1)
		if err != nil {
			return err
		}
		r.ours = append(r.ours, res.rate)
		r.note(res.note)
	}
	if b.o.smoke {
		return nil
	}
	// The same through a link sshRTT long: the verification read-back of
	// each batch is a round trip, so without pipelining the throughput
	// would be a batch per round trip.
	rr := b.t.row("6b", fmt.Sprintf("one SSH log to one viewer, %s added round-trip time (lines/s)", sshRTT), fmtRate)
	rr.note(fmt.Sprintf("a proxy in the bench holds every chunk %s each way (bandwidth not limited)", sshRTT/2))
	for run := 1; run <= b.o.runs; run++ {
		b.logf("6b. one SSH log to one viewer, %s added RTT, run %d/%d", sshRTT, run, b.o.runs)
		res, err := b.sustained("logviewer-ssh-rtt", 1)
		if err != nil {
			return err
		}
		rr.ours = append(rr.ours, res.rate)
		rr.note(res.note)
	}
	return nil
}

// sshRTT is the round-trip time scenario 6b adds between logviewer and sshd.
const sshRTT = 50 * time.Millisecond

// sshUnavailable asks the binary itself whether it follows remote hosts:
// it starts it with a remote [[host]] and reads the refusal, if any.
func (b *bench) sshUnavailable() string {
	if b.o.inproc {
		return "-inproc wires local hosts only"
	}
	if _, err := os.Stat(sshdPath); err != nil {
		return sshdPath + " is missing (install openssh-server)"
	}
	dir, err := b.newDir("ssh")
	if err != nil {
		return err.Error()
	}
	defer os.RemoveAll(dir)
	cfg := dir + "/logviewer.toml"
	body := fmt.Sprintf("[[host]]\nname = \"r\"\naddress = \"127.0.0.1:1\"\nuser = \"bench\"\nfiles = [%q]\n", dir+"/*.log")
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		return err.Error()
	}
	p, err := startProc("logviewer (ssh probe)", dir, b.bin, "-config", cfg, "-listen", "127.0.0.1:0")
	if err != nil {
		return err.Error()
	}
	defer p.stop()
	if err := waitLine(b.ctx, p, "serving", 10*time.Second); err != nil {
		return "logviewer refused a remote host: " + firstLine(err.Error())
	}
	return ""
}

// ---- the report ----

func (b *bench) report() string {
	var s strings.Builder
	t := b.t
	b.checkTargets()
	fmt.Fprintf(&s, "\n## logviewer benchmark\n\n")
	fmt.Fprintf(&s, "%s\n\n", machine(b))
	fmt.Fprintf(&s, "| # | measure | logviewer (median%s) | frontail | logviewer ÷ frontail | target |\n", runsNote(b.o.runs))
	fmt.Fprintf(&s, "|---|---|---|---|---|---|\n")
	rows := slices.Clone(t.rows)
	slices.SortStableFunc(rows, func(a, b *row) int { return strings.Compare(a.id[:1], b.id[:1]) })
	for _, r := range rows {
		ours, theirs, ratio := "—", "—", ""
		if m, ok := median(r.ours); ok {
			ours = r.format(m)
			if m2, ok := median(r.ours2); ok {
				ours = strings.TrimSuffix(r.format(m2), " ms") + " / " + ours
			}
			ours += spread(r.ours, r.format)
			if mt, ok := median(r.theirs); ok {
				theirs = r.format(mt)
				if m2, ok := median(r.theirs2); ok {
					theirs = strings.TrimSuffix(r.format(m2), " ms") + " / " + theirs
				}
				if r.ratio && mt > 0 {
					ratio = fmt.Sprintf("%.2f×", m/mt)
					if m/mt >= 10 || m/mt < 0.1 {
						ratio = fmt.Sprintf("%.3g×", m/mt)
					}
				}
			}
		}
		if len(r.ours) == 0 && len(r.notes) > 0 {
			ours = r.notes[0]
		}
		fmt.Fprintf(&s, "| %s | %s | %s | %s | %s | %s |\n", strings.Split(r.id, "/")[0], r.what, ours, theirs, ratio, r.target)
	}
	fmt.Fprintf(&s, "\nlogviewer ÷ frontail: above 1 is better for rates, below 1 is better for latency and CPU.\n")
	if b.ftNote != "" {
		fmt.Fprintf(&s, "\n%s\n", b.ftNote)
	}
	if len(t.targets) > 0 {
		fmt.Fprintf(&s, "\nTargets:\n\n")
		for _, l := range t.targets {
			fmt.Fprintf(&s, "- %s\n", l)
		}
	}
	var notes []string
	for _, r := range t.rows {
		for _, n := range r.notes {
			if len(r.ours) == 0 && n == r.notes[0] {
				continue
			}
			notes = append(notes, fmt.Sprintf("%s (%s): %s", r.id, r.what, n))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(&s, "\nNotes:\n\n")
		for _, n := range notes {
			fmt.Fprintf(&s, "- %s\n", n)
		}
	}
	return s.String()
}

func runsNote(n int) string {
	if n == 1 {
		return " of 1 run"
	}
	return fmt.Sprintf(" of %d runs, min–max", n)
}

func (b *bench) checkTargets() {
	t := b.t
	get := func(id string, theirs bool) (float64, bool) {
		r := t.byID[id]
		if r == nil {
			return 0, false
		}
		if theirs {
			return median(r.theirs)
		}
		return median(r.ours)
	}
	add := func(id, target string, pass, ok bool, detail string) {
		if r := t.byID[id]; r != nil {
			r.target = target
		}
		verdict := "MISS"
		switch {
		case !ok:
			verdict = "n/a "
		case pass:
			verdict = "PASS"
		}
		t.targets = append(t.targets, fmt.Sprintf("%s %s: %s", verdict, target, detail))
	}
	if b.o.smoke {
		return // too short to mean anything
	}
	// The targets of the speed issue (#15), each beside its row.
	one, ok1 := get("1/1", false)
	if ok1 {
		add("1/1", "one local log to one viewer ≥ 1.5M lines/s", one >= 1.5e6, true, fmtRate(one))
	}
	if ft, ok := get("1/1", true); ok1 && ok && ft > 0 {
		t.targets = append(t.targets, fmt.Sprintf("%s 1 viewer ≥ 5× frontail: %.1f×", passMiss(one >= 5*ft), one/ft))
	}
	if v, ok := get("1/100", false); ok {
		add("1/100", "100 viewers ≥ 200k lines/s each", v >= 200e3, true, fmtRate(v))
	}
	latency := func(id, target string, p50max, p99max float64) {
		r := t.byID[id]
		if r == nil {
			return
		}
		p50, _ := median(r.ours2)
		p99, _ := median(r.ours)
		add(id, target, (p50max <= 0 || p50 <= p50max) && p99 <= p99max, true, fmt.Sprintf("%s / %s", fmtMS(p50), fmtMS(p99)))
	}
	latency("2/1000/1", "latency 1k lines/s, 1 viewer: p50 ≤ 0.5 ms, p99 ≤ 2 ms", 0.5, 2)
	latency("2/10000/100", "latency 10k lines/s, 100 viewers: p50 ≤ 2 ms, p99 ≤ 8 ms", 2, 8)
	latency("2/100000/1", "latency 100k lines/s, 1 viewer: p99 ≤ 10 ms", 0, 10)
	if v, ok := get("6", false); ok {
		add("6", "one SSH log to one viewer ≥ 1M lines/s", v >= 1e6, true, fmtRate(v))
	}
	if v, ok := get("6b", false); ok {
		add("6b", fmt.Sprintf("one SSH log, %s added RTT ≥ 300k lines/s", sshRTT), v >= 300e3, true, fmtRate(v))
	}
	if v, ok := get("4a", false); ok {
		got := fmtCPU(v)
		if floor, ok := get("4d", false); ok {
			got += fmt.Sprintf(" (the floor of a Go process on the same clock here, row 4d: %s)", fmtCPU(floor))
		}
		add("4a", "CPU per 1M lines at 20k lines/s ≤ 2.5 CPU-s", v <= 2.5, true, got)
		if ft, ok := get("4a", true); ok && ft > 0 {
			t.targets = append(t.targets, fmt.Sprintf("%s CPU per line ≤ 1/10 of frontail's: %s vs %s (%.2f×)", passMiss(v <= ft/10), fmtCPU(v), fmtCPU(ft), v/ft))
		}
	}
	if v, ok := get("3a", false); ok {
		add("3a", "≤ 20 KB server RSS per idle viewer", v <= 20000, true, fmtBytes(v))
	}
	if v, ok := get("5d", false); ok {
		add("5d", "1,000 files open in ≤ 0.3 s", v <= 0.3, true, fmtSec(v))
	}
	if v, ok := get("5a", false); ok {
		add("5a", "1,000 idle files ≤ 1% of a core", v <= 0.01, true, fmtPct(v))
	}
	if v, ok := get("5c", false); ok {
		add("5c", "≤ 40 KB RSS per followed file", v <= 40000, true, fmtBytes(v))
	}
	slowOff, ok1 := get("11a", false)
	slowOn, ok2 := get("11b", false)
	fastOff, ok3 := get("11c", false)
	fastOn, ok4 := get("11d", false)
	if ok1 || ok2 || ok3 || ok4 {
		cpuOff, _ := get("11e", false)
		cpuOn, _ := get("11f", false)
		add("11d", "bytes on the wire per 100-byte line: measured with and without permessage-deflate; default chosen", ok1 && ok2 && ok3 && ok4, true,
			fmt.Sprintf("%d lines/s %s → %s, %s lines/s %s → %s, CPU per 1M lines %s → %s; %s",
				wireSlowRate, fmtPerLine(slowOff), fmtPerLine(slowOn), human(wireFastRate), fmtPerLine(fastOff), fmtPerLine(fastOn), fmtCPU(cpuOff), fmtCPU(cpuOn), wireDefault()))
	}
}

func passMiss(b bool) string {
	if b {
		return "PASS"
	}
	return "MISS"
}

func machine(b *bench) string {
	model := "?"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	mem := "?"
	if kb, err := statusMem(); err == nil {
		mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
	}
	parts := []string{
		fmt.Sprintf("%d CPUs (%s)", runtime.NumCPU(), model),
		mem + " RAM",
		"Linux " + strings.TrimSpace(string(kernel)),
		runtime.Version(),
	}
	if b.ft != nil {
		parts = append(parts, "frontail "+b.ft.version+" on node "+nodeVersion(b.ft.node))
	}
	mode := "real binary"
	if b.o.inproc {
		mode = "IN-PROCESS server: CPU and RSS include the viewers"
	}
	return fmt.Sprintf("Machine: %s. Mode: %s. %s, %s.", strings.Join(parts, ", "), mode, time.Now().UTC().Format("2006-01-02"), cmdLine())
}

func cmdLine() string {
	args := append([]string{"go run ./bench"}, os.Args[1:]...)
	return "`" + strings.Join(args, " ") + "`"
}

func statusMem() (int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	var kb int64
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			_, err := fmt.Sscanf(strings.TrimPrefix(l, "MemTotal:"), "%d", &kb)
			return kb, err
		}
	}
	return 0, fmt.Errorf("no MemTotal")
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}
