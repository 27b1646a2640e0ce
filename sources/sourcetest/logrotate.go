package sourcetest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logviewer/logviewer/tailer"
)

// This file is a harness for rotation tests with the real logrotate: a writer
// that appends numbered lines like an application, a logrotate runner with a
// test's own config and state file, and a check that every line on disk (the
// live file and its rotated siblings, gzip decompressed) reached a Sink
// exactly once and in order. A Source's tests use it as
//
//	bin := sourcetest.RequireLogrotate(t)
//	lr := sourcetest.NewLogrotate(t, bin, path, "copytruncate", "rotate 20")
//	w := sourcetest.StartWriter(t, path, 5000)
//	for range 9 { <-tick.C; lr.Rotate(t) }
//	w.Stop(t)
//	sourcetest.CheckRotated(t, sink, path, w, timeout)

// LogrotateBin is where Debian's logrotate package installs logrotate.
const LogrotateBin = "/usr/sbin/logrotate"

// RequireLogrotate returns logrotate's path. It skips tb when logrotate is
// missing, or fails tb when CI=true (CI must install it).
func RequireLogrotate(tb testing.TB) string {
	tb.Helper()
	bin := LogrotateBin
	if _, err := os.Stat(bin); err != nil {
		if p, lerr := exec.LookPath("logrotate"); lerr == nil {
			return p
		}
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is missing (%v): CI must install logrotate", bin, err)
		}
		tb.Skipf("%s is missing (%v): install logrotate to run this test", bin, err)
	}
	return bin
}

// Logrotate runs logrotate on one file with a config and state file of its own.
type Logrotate struct {
	bin, conf, state string
	runs             int
}

// NewLogrotate writes a config that rotates path with the given directives
// (one per element, such as "copytruncate" or "rotate 20"; "missingok" is
// added) into a temporary directory of tb's.
func NewLogrotate(tb testing.TB, bin, path string, directives ...string) *Logrotate {
	tb.Helper()
	dir := tb.TempDir()
	conf := filepath.Join(dir, "logrotate.conf")
	text := fmt.Sprintf("%s {\n\t%s\n\tmissingok\n}\n", path, strings.Join(directives, "\n\t"))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
	return &Logrotate{bin: bin, conf: conf, state: filepath.Join(dir, "state")}
}

// Rotate runs `logrotate -f -s STATE CONF` once and fails tb if it fails.
func (l *Logrotate) Rotate(tb testing.TB) {
	tb.Helper()
	out, err := exec.Command(l.bin, "-f", "-s", l.state, l.conf).CombinedOutput()
	if err != nil {
		tb.Fatalf("logrotate: %v\n%s", err, out)
	}
	l.runs++
}

// Runs returns how many times Rotate ran.
func (l *Logrotate) Runs() int { return l.runs }

// Writer appends numbered lines ("W000000001 ppp…") to a file through one
// O_APPEND descriptor, as an application does, at a steady rate, in small
// bursts of whole lines (one write each).
type Writer struct {
	path string
	rate int

	mu      sync.Mutex // held across each write, and by Reopen
	f       *os.File
	written int // lines written
	err     error

	stop chan struct{}
	done chan struct{}
}

// writerPad makes lines about as long as a typical log line.
var writerPad = strings.Repeat("p", 70)

// WriterLine is the text of the writer's line number seq.
func WriterLine(seq int) string { return fmt.Sprintf("W%09d %s", seq, writerPad) }

// parseWriterLine returns the number of a whole writer line, or 0.
func parseWriterLine(s string) int {
	if len(s) != len(WriterLine(1)) || s[0] != 'W' || !strings.HasSuffix(s, writerPad) {
		return 0
	}
	n, err := strconv.Atoi(s[1:10])
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// writerBurst is how often the writer writes: rate/500 lines every 2ms.
const writerBurst = 2 * time.Millisecond

// StartWriter starts writing rate lines/s to path (created if needed) until Stop.
func StartWriter(tb testing.TB, path string, rate int) *Writer {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	w := &Writer{path: path, rate: rate, f: f, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	tb.Cleanup(func() { w.halt() })
	return w
}

func (w *Writer) run() {
	defer close(w.done)
	start := time.Now()
	tick := time.NewTicker(writerBurst)
	defer tick.Stop()
	var b bytes.Buffer
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		due := int(time.Since(start).Seconds() * float64(w.rate))
		w.mu.Lock()
		b.Reset()
		for seq := w.written + 1; seq <= due; seq++ {
			b.WriteString(WriterLine(seq))
			b.WriteByte('\n')
		}
		if b.Len() > 0 && w.err == nil {
			if _, err := w.f.Write(b.Bytes()); err != nil {
				w.err = err
			} else {
				w.written = due
			}
		}
		w.mu.Unlock()
	}
}

// Reopen makes the writer open path again, as an application told to reopen
// its log after a rotation that renamed the file away.
func (w *Writer) Reopen(tb testing.TB) {
	tb.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	w.f.Close()
	w.f = f
}

// Written returns how many lines were written so far.
func (w *Writer) Written() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

func (w *Writer) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	w.f.Close()
	w.mu.Unlock()
}

// Stop stops the writer, fails tb if a write failed, and returns how many
// lines were written.
func (w *Writer) Stop(tb testing.TB) int {
	tb.Helper()
	w.halt()
	if w.err != nil {
		tb.Fatalf("writer: %v", w.err)
	}
	return w.written
}

// Siblings returns path and the files next to it that rotation made of it
// (path.1, path.2.gz, path-20261128, path-20261128-094512.gz …).
func Siblings(tb testing.TB, path string) []string {
	tb.Helper()
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if n == base || strings.HasPrefix(n, base+".") || strings.HasPrefix(n, base+"-") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

// LinesOnDisk returns the whole (newline-terminated) lines of path and its
// rotated siblings, gzip decompressed, file by file. A last line without
// newline is not returned: it is a fragment whose end is on no disk (a
// copytruncate copy taken in the middle of a write) or still being written.
func LinesOnDisk(tb testing.TB, path string) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for _, p := range Siblings(tb, path) {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				tb.Fatalf("%s: %v", p, err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				tb.Fatalf("%s: %v", p, err)
			}
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			out[p] = strings.Split(string(b[:i]), "\n")
		} else {
			out[p] = nil
		}
	}
	return out
}

// RotationReport is what CheckRotated found.
type RotationReport struct {
	Written   int // lines the writer wrote
	OnDisk    int // of them, lines found whole on disk
	Received  int // writer lines the Sink received
	Lost      int // lines on disk that the Sink did not receive (must be 0)
	NoDisk    int // lines on no disk that the Sink did not receive (allowed)
	Fragments int // received lines that are only the start of a writer line
	Marks     map[string]int
	FromCopy  int // truncated markers that say the rest was read from a rotated copy
}

// CheckRotated waits until sink has received the last line the (stopped)
// writer w wrote, then checks that every writer line on disk (LinesOnDisk)
// reached the sink exactly once and in order. Lines on no disk (written
// between a copytruncate's copy and its truncate) may be missing. A received
// line that is only the start of a writer line is a fragment: the end of a
// copy taken mid-write, delivered as it is on disk; it must come right
// after its line's predecessor.
func CheckRotated(tb testing.TB, sink *Sink, path string, w *Writer, timeout time.Duration) RotationReport {
	tb.Helper()
	last := WriterLine(w.Written())
	if w.Written() > 0 {
		sink.WaitFor(tb, timeout, "the writer's last line", func(ls []tailer.Line, _ []tailer.State) bool {
			for i := len(ls) - 1; i >= 0 && i >= len(ls)-5; i-- {
				if ls[i].Text == last {
					return true
				}
			}
			return false
		})
	}
	rep := RotationReport{Written: w.Written(), Marks: map[string]int{}}
	onDisk := make([]bool, rep.Written+1)
	for p, ls := range LinesOnDisk(tb, path) {
		for _, l := range ls {
			n := parseWriterLine(l)
			if n == 0 || n > rep.Written {
				tb.Fatalf("%s holds a line the writer did not write: %.100q", p, l)
			}
			if onDisk[n] {
				tb.Fatalf("line %d is on disk twice", n)
			}
			onDisk[n] = true
			rep.OnDisk++
		}
	}
	got, _ := sink.Snapshot()
	received := make([]bool, rep.Written+1)
	prev := 0
	for _, l := range got {
		if l.Mark != "" {
			rep.Marks[l.Mark]++
			if l.Mark == tailer.MarkTruncated && strings.Contains(l.Text, "copy") {
				rep.FromCopy++
			}
			continue
		}
		n := parseWriterLine(l.Text)
		if n == 0 {
			if l.Text != "" && strings.HasPrefix(WriterLine(prev+1), l.Text) {
				rep.Fragments++
				continue
			}
			tb.Fatalf("received a line the writer did not write (after line %d): %.100q", prev, l.Text)
		}
		if n <= prev {
			tb.Fatalf("line %d arrived after line %d: duplicate or out of order", n, prev)
		}
		prev = n
		received[n] = true
		rep.Received++
	}
	for n := 1; n <= rep.Written; n++ {
		switch {
		case received[n]:
		case onDisk[n]:
			rep.Lost++
			if rep.Lost <= 5 {
				tb.Errorf("line %d is on disk but never reached the sink", n)
			}
		default:
			rep.NoDisk++
		}
	}
	tb.Logf("written %d, on disk %d, received %d, lost %d, on no disk and not received %d, fragments %d, marks %v, %d truncations read on from a copy",
		rep.Written, rep.OnDisk, rep.Received, rep.Lost, rep.NoDisk, rep.Fragments, rep.Marks, rep.FromCopy)
	if rep.Lost > 0 {
		tb.Fatalf("%d lines on disk never reached the sink", rep.Lost)
	}
	return rep
}
