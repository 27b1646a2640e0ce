// Command bench measures logviewer end to end against the field: it builds
// the real binary, runs it on loopback against a writer that appends numbered,
// timestamped lines to a log file, connects WebSocket viewers that check every
// line arrives once and in order, and reports the median of several runs as a
// markdown table, next to plain `tail -F`, nxadm/tail alone and frontail.
//
//	go run ./bench            # full run (about 8 minutes on 2 cores)
//	go run ./bench -smoke     # a few seconds; exits 1 if any line is lost
//
// See bench/RESULTS.md for the results and what limits each number.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	runs       int
	smoke      bool
	dur        time.Duration
	viewers    []int
	idle       int
	files      int
	cpuRate    float64
	at         float64
	timeline   string
	latRates   []float64
	latViewers []int
	frontail   bool
	inproc     bool
	only       map[string]bool
	bin        string
	out        string
	cpuProfile string
	memProfile string
	heapPrefix string

	// fleet scenarios 8 and 9 (fleet.go)
	mergeHosts   int
	mergeLatRate float64
	remoteLogs   int
	remoteHosts  int
}

type bench struct {
	ctx      context.Context
	o        options
	bin      string
	ft       *frontail
	ftNote   string
	tmp      string
	drainMax time.Duration
	began    time.Time
	t        *table
	failed   []string // smoke failures: lost lines
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == floorArg {
		os.Exit(floorChild(os.Args[2:]))
	}
	os.Exit(run())
}

func run() (code int) {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Every process started is stopped, whatever happens.
	defer procs.stopAll()
	defer func() {
		if p := recover(); p != nil {
			procs.stopAll()
			panic(p)
		}
	}()

	b := &bench{ctx: ctx, o: o, began: time.Now(), t: newTable(), drainMax: 250 * time.Millisecond}
	if o.smoke {
		b.drainMax = 10 * time.Second // on a busy CI machine, only loss fails
	}
	if err := b.run(); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted")
			return 130
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if len(b.failed) > 0 {
		fmt.Fprintln(os.Stderr, "bench: FAIL:")
		for _, f := range b.failed {
			fmt.Fprintln(os.Stderr, "  "+f)
		}
		return 1
	}
	return 0
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.runs, "runs", 3, "runs per measurement; the table shows the median")
	fs.BoolVar(&o.smoke, "smoke", false, "a few seconds with few viewers and low counts; exit 1 if a line is lost")
	fs.DurationVar(&o.dur, "dur", 3*time.Second, "length of each fixed-rate trial")
	viewers := fs.String("viewers", "1,10,100", "viewer counts for scenario 1")
	latRates := fs.String("lat-rates", "1000,10000,100000", "rates (lines/s) for scenario 2 (100k: 1 viewer only)")
	latViewers := fs.String("lat-viewers", "1,100", "viewer counts for scenario 2")
	fs.IntVar(&o.idle, "idle", 10000, "idle viewers in scenario 3")
	fs.IntVar(&o.files, "files", 1000, "followed files in scenario 5")
	fs.Float64Var(&o.cpuRate, "cpu-rate", 20000, "lines/s at which scenario 4 compares CPU")
	fs.Float64Var(&o.at, "at", 0, "scenario 1: one trial at this rate instead of a search (for diagnosis)")
	fs.StringVar(&o.timeline, "timeline", "", "write a CSV per scenario-1 trial to this `directory`: writer, ring (with -inproc), slowest and fastest viewer, every ms")
	fs.BoolVar(&o.frontail, "frontail", true, "install frontail with npm and compare (scenarios 1, 2 and 4)")
	fs.BoolVar(&o.inproc, "inproc", false, "run logviewer's packages inside this process (for profiles; CPU and RSS then include the viewers)")
	fs.IntVar(&o.mergeHosts, "merge-hosts", 20, "hosts of the merged view in scenario 8")
	fs.Float64Var(&o.mergeLatRate, "merge-lat-rate", 1000, "lines/s written for scenario 8's latency (each delivered once per host)")
	fs.IntVar(&o.remoteLogs, "remote-logs", 200, "remote logs followed in scenario 9")
	fs.IntVar(&o.remoteHosts, "remote-hosts", 4, "[[host]] entries (one sshd) that scenario 9's logs are spread over")
	only := fs.String("only", "", "comma-separated scenarios to run (1-11, cluster); default all")
	fs.StringVar(&o.bin, "bin", "", "use this logviewer binary instead of building one")
	fs.StringVar(&o.out, "o", "", "also write the markdown table to this `file`")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process to `file` (with -inproc: the server's)")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of this process to `file`")
	fs.StringVar(&o.heapPrefix, "heapprofile", "", "write in-use heap profiles to `prefix`-3.pprof and prefix-5.pprof once scenario 3's and 5's viewers are connected (use with -inproc)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.viewers, err = counts("viewers", *viewers); err != nil {
		return o, err
	}
	if o.latViewers, err = counts("lat-viewers", *latViewers); err != nil {
		return o, err
	}
	for _, f := range strings.Split(*latRates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return o, fmt.Errorf("-lat-rates: bad rate %q", f)
		}
		o.latRates = append(o.latRates, r)
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			o.only[strings.TrimSpace(s)] = true
		}
	}
	if o.smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["runs"] {
			o.runs = 1
		}
		if !set["dur"] {
			o.dur = time.Second
		}
		if !set["viewers"] {
			o.viewers = []int{1, 3}
		}
		if !set["lat-rates"] {
			o.latRates = []float64{1000}
		}
		if !set["lat-viewers"] {
			o.latViewers = []int{3}
		}
		if !set["idle"] {
			o.idle = 200
		}
		if !set["files"] {
			o.files = 20
		}
		if !set["frontail"] {
			o.frontail = false
		}
		if !set["merge-hosts"] {
			o.mergeHosts = 5
		}
		if !set["merge-lat-rate"] {
			o.mergeLatRate = 500
		}
		if !set["remote-logs"] {
			o.remoteLogs = 20
		}
		if !set["remote-hosts"] {
			o.remoteHosts = 2
		}
	}
	if o.runs < 1 {
		return o, errors.New("-runs must be at least 1")
	}
	if o.mergeHosts < 1 || o.remoteLogs < 1 || o.remoteHosts < 1 || o.remoteHosts > o.remoteLogs {
		return o, errors.New("-merge-hosts, -remote-logs and -remote-hosts must be at least 1, and -remote-hosts at most -remote-logs")
	}
	return o, nil
}

func counts(name, list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s: bad count %q", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func (b *bench) want(s string) bool { return b.o.only == nil || b.o.only[s] }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(b.began).Seconds(), fmt.Sprintf(format, args...))
}

func (b *bench) run() error {
	var err error
	if b.tmp, err = os.MkdirTemp("", "logviewer-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)

	need := uint64(max(b.o.idle, b.o.files)*2 + 1024)
	lim, err := raiseFileLimit(need)
	if err != nil || lim < need {
		b.logf("warning: open files limited to %d (want %d for %d viewers): %v", lim, need, max(b.o.idle, b.o.files), err)
	}

	if b.o.heapPrefix != "" {
		runtime.MemProfileRate = 4 << 10 // per-viewer and per-file figures are a few KB: sample finely
	}
	if b.o.cpuProfile != "" {
		f, err := os.Create(b.o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if b.o.memProfile != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if f, err := os.Create(b.o.memProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}

	if !b.o.inproc {
		if b.bin = b.o.bin; b.bin == "" {
			root, err := moduleRoot()
			if err != nil {
				return err
			}
			b.logf("building logviewer (%s)", root)
			if b.bin, err = buildLogviewer(b.ctx, root, b.tmp); err != nil {
				return err
			}
		}
	}
	if b.o.frontail && (b.want("1") || b.want("2") || b.want("4")) {
		b.logf("installing frontail from the npm registry")
		ft, err := installFrontail(b.ctx, filepath.Join(b.tmp, "npm"))
		if err != nil {
			b.ftNote = "frontail not measured: " + firstLine(err.Error())
			b.logf("%s", b.ftNote)
		} else {
			b.ft = ft
			b.logf("frontail %s (socket.io 2 / engine.io 3), node %s", ft.version, nodeVersion(ft.node))
		}
	} else if !b.o.frontail {
		b.ftNote = "frontail not measured (-frontail=false)"
	}

	steps := []struct {
		id  string
		run func() error
	}{
		{"7", b.scenarioCeilings},
		{"1", b.scenarioSustained},
		{"2", b.scenarioLatency},
		{"4", b.scenarioCPU},
		{"3", b.scenarioIdle},
		{"5", b.scenarioFiles},
		{"6", b.scenarioSSH},
		{"8", b.scenarioMerge},
		{"9", b.scenarioRemoteIdle},
		{"cluster", b.scenarioCluster},
		{"10", b.scenarioHistory}, // history.go
		{"11", b.scenarioWire},    // wire.go
	}
	for _, s := range steps {
		if !b.want(s.id) {
			continue
		}
		if err := s.run(); err != nil {
			return fmt.Errorf("scenario %s: %w", s.id, err)
		}
	}
	b.logf("done")
	md := b.report()
	fmt.Print(md)
	if b.o.out != "" {
		if err := os.WriteFile(b.o.out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func nodeVersion(node string) string {
	out, err := execOutput(node, "--version")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(out)
}

// smokeCheck records a lost line in smoke mode (the exit status says so).
func (b *bench) smokeCheck(what string, lost bool, why string) {
	if b.o.smoke && lost {
		b.failed = append(b.failed, what+": "+why)
	}
}

// heapProfile writes an in-use heap profile, after a GC, for -heapprofile.
func (b *bench) heapProfile(scenario string) {
	if b.o.heapPrefix == "" {
		return
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.logf("  this process: heap in use %d KiB, stacks %d KiB, goroutines %d", ms.HeapInuse>>10, ms.StackInuse>>10, runtime.NumGoroutine())
	f, err := os.Create(b.o.heapPrefix + "-" + scenario + ".pprof")
	if err != nil {
		b.logf("heap profile: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.logf("heap profile: %v", err)
	}
}
