package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/sources/ssh"
	"github.com/logviewer/logviewer/tailer"
)

// ---- 10. history (issue 13) ----
//
// 10a–10d measure the history reader in this process, on files generated
// here (100-byte lines with their own time), through the local source and
// through the SSH source over a real sshd on loopback:
//
//   - 10a/10b: lines/s scanned back by a search (a filter that matches
//     nothing, so every line is examined), plain and gzip;
//   - 10c: lines/s paged back with every line wanted (n = 5000 a request);
//   - 10d: time to the first older page (500 lines from the live end).
//
// 10e runs the real binary with about 1 GB of rotated, partly compressed
// history next to a live log, and a second live log: one viewer searches
// back through all of it (older requests with a filter, until more is
// false) while both logs are written to at histLiveRate lines/s; the live
// latency p99 of each log before and during the search, the search's time
// and matches, and the server's RSS before and at its peak.
//
// 10f jumps to a time in a file of 10M lines: the History's Find in
// process, and the real binary's hello with from_at (from=TIME).

const (
	histLineLen  = 100        // bytes a line, newline included
	histNeedle   = "NEEDLE"   // planted every histNeedleEvery lines
	histLiveRate = 1000.0     // lines/s written to each live log during 10e
	histFileMiB  = 100        // uncompressed size of each generated file
	histGB       = 10         // files in the 1 GB search (1 plain, the rest gzip)
	histJumpN    = 10_000_000 // lines of the jump-to-time file
)

var histNeedleEvery = 1_000_000

// histBase is the time of generated line 0; line n is n ms later.
var histBase = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// histLine appends generated line n (histLineLen bytes with its newline).
func histLine(b []byte, n int) []byte {
	start := len(b)
	b = histBase.Add(time.Duration(n)*time.Millisecond).AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, " n="...)
	b = strconv.AppendInt(b, int64(n), 10)
	if n%histNeedleEvery == histNeedleEvery/2 {
		b = append(b, " "+histNeedle...)
	}
	b = append(b, ' ')
	for len(b)-start < histLineLen-1 {
		b = append(b, 'x')
	}
	return append(b, '\n')
}

// writeHistFile writes lines [from, to) to path, gzip-compressed (fastest
// level) when gz.
func writeHistFile(path string, from, to int, gz bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var w io.Writer = f
	var zw *gzip.Writer
	if gz {
		zw, _ = gzip.NewWriterLevel(f, gzip.BestSpeed)
		w = zw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var b []byte
	for n := from; n < to; n++ {
		b = histLine(b[:0], n)
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	return f.Close()
}

// histChain writes base's rotated siblings into dir: files of perFile
// lines, the newest (base.1) plain, the rest base.N.gz; the oldest line is
// number 0. It returns the number of lines and the needles planted.
func histChain(dir, base string, files, perFile int) (lines, needles int, err error) {
	lines = files * perFile
	for i := 1; i <= files; i++ {
		from := lines - i*perFile
		name := fmt.Sprintf("%s.%d", base, i)
		if i > 1 {
			name += ".gz"
		}
		if err := writeHistFile(filepath.Join(dir, name), from, from+perFile, i > 1); err != nil {
			return 0, 0, err
		}
	}
	for n := 0; n < lines; n++ {
		if n%histNeedleEvery == histNeedleEvery/2 {
			needles++
		}
	}
	return lines, needles, nil
}

type histResult struct {
	linesPerSec float64
	seconds     float64
}

// scanBack pages h back from the live end until more is false (or limit
// bytes were scanned) with the given filter and n; it returns lines/s
// examined (scanned bytes / histLineLen) and lines kept.
func scanBack(ctx context.Context, h tailer.History, keep func(*tailer.Line) bool, n int, limit int64) (histResult, int, error) {
	start := time.Now()
	var scanned int64
	kept := 0
	before := tailer.Position{}
	for {
		// The budget ends the last request at the limit (a file boundary
		// in 10a and 10c), so no other file is started.
		page, err := h.Older(ctx, tailer.OlderRequest{Before: before, N: n, Keep: keep, Key: fmt.Sprint(keep != nil), Budget: min(tailer.DefaultHistoryBudget, limit-scanned)})
		if err != nil {
			return histResult{}, 0, err
		}
		scanned += page.Scanned
		kept += len(page.Lines)
		if !page.More || scanned >= limit {
			break
		}
		before = page.Next
	}
	el := time.Since(start).Seconds()
	return histResult{linesPerSec: float64(scanned/histLineLen) / el, seconds: el}, kept, nil
}

func noMatch(l *tailer.Line) bool { return strings.Contains(l.Text, "no such text") }

func (b *bench) scenarioHistory() error {
	perFile := histFileMiB << 20 / histLineLen
	if b.o.smoke {
		perFile /= 20
		histNeedleEvery = 100_000
	}
	dir, err := b.newDir("history")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// 10a–d: app.log (empty, live) with app.log.1 plain and app.log.2.gz.
	b.logf("10. generating %d MiB plain and %d MiB gzip of history", histFileMiB, histFileMiB)
	if _, _, err := histChain(dir, "app.log", 2, perFile); err != nil {
		return err
	}
	if err := writeHistFile(filepath.Join(dir, "app.log"), 2*perFile, 2*perFile+perFile/10, false); err != nil {
		return err
	}
	plainBytes := int64(perFile*histLineLen) + int64(perFile/10*histLineLen)

	sources := []struct {
		name string
		src  func() (tailer.HistorySource, func(), error)
	}{
		{"local", func() (tailer.HistorySource, func(), error) {
			return local.New([]string{filepath.Join(dir, "*.log")}, local.Options{}), func() {}, nil
		}},
		{"ssh", func() (tailer.HistorySource, func(), error) {
			if reason := b.sshUnavailable(); reason != "" && !strings.HasPrefix(reason, "-inproc") {
				return nil, nil, fmt.Errorf("%s", reason)
			}
			sdir, err := b.newDir("history-sshd")
			if err != nil {
				return nil, nil, err
			}
			d, err := startSSHD(b.ctx, sdir)
			if err != nil {
				os.RemoveAll(sdir)
				return nil, nil, err
			}
			src, err := ssh.New(ssh.Host{Name: "remote", Address: d.addr, User: d.user, IdentityFiles: []string{d.identity},
				KnownHosts: d.knownHosts, Files: []string{filepath.Join(dir, "*.log")}}, nil, ssh.Options{SSHConfigFiles: []string{}, AgentSocket: "none"})
			if err != nil {
				d.p.stop()
				os.RemoveAll(sdir)
				return nil, nil, err
			}
			return src, func() { src.Close(); d.p.stop(); os.RemoveAll(sdir) }, nil
		}},
	}
	path := filepath.Join(dir, "app.log")
	for _, s := range sources {
		hs, closeSrc, err := s.src()
		if err != nil {
			b.logf("10. %s skipped: %v", s.name, err)
			b.t.row("10a/"+s.name, "history: search back, "+s.name+", plain (lines/s examined)", fmtRate).note("skipped: " + err.Error())
			continue
		}
		// Connect first (a viewer of the log has the connection up); the
		// first run's first page still starts the inode session (SSH).
		if h, err := hs.History(b.ctx, path); err == nil {
			h.Close()
		}
		for run := 1; run <= b.o.runs; run++ {
			b.logf("10. history through the %s source, run %d/%d", s.name, run, b.o.runs)
			measure := func(id, what string, f func(h tailer.History) (float64, error), format func(float64) string) error {
				h, err := hs.History(b.ctx, path)
				if err != nil {
					return err
				}
				defer h.Close()
				v, err := f(h)
				if err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				b.logf("  %s: %s", what, format(v))
				r := b.t.row(id+"/"+s.name, what, format)
				r.ours = append(r.ours, v)
				return nil
			}
			err := measure("10d", "history: time to the first older page (500 lines), "+s.name, func(h tailer.History) (float64, error) {
				start := time.Now()
				page, err := h.Older(b.ctx, tailer.OlderRequest{N: 500})
				if err == nil && len(page.Lines) != 500 {
					err = fmt.Errorf("%d lines, want 500", len(page.Lines))
				}
				return float64(time.Since(start).Microseconds()) / 1000, err
			}, fmtMS)
			if err == nil {
				err = measure("10a", "history: search back, "+s.name+", plain (lines/s examined)", func(h tailer.History) (float64, error) {
					r, _, err := scanBack(b.ctx, h, noMatch, 500, plainBytes)
					return r.linesPerSec, err
				}, fmtRate)
			}
			if err == nil {
				err = measure("10b", "history: search back, "+s.name+", gzip (lines/s examined, decompressed)", func(h tailer.History) (float64, error) {
					// Reach the gzip file, then time it alone.
					page, err := h.Older(b.ctx, tailer.OlderRequest{N: 1, Keep: noMatch, Key: "x", Budget: plainBytes})
					if err != nil || !page.More {
						return 0, fmt.Errorf("reaching the gzip file: %v (more %v)", err, page.More)
					}
					start := time.Now()
					var scanned int64
					before := page.Next
					for {
						p, err := h.Older(b.ctx, tailer.OlderRequest{Before: before, N: 500, Keep: noMatch, Key: "x"})
						if err != nil {
							return 0, err
						}
						scanned += p.Scanned
						if !p.More {
							break
						}
						before = p.Next
					}
					return float64(scanned/histLineLen) / time.Since(start).Seconds(), nil
				}, fmtRate)
			}
			if err == nil {
				err = measure("10c", "history: page back every line, "+s.name+", plain (n=5000, lines/s)", func(h tailer.History) (float64, error) {
					r, kept, err := scanBack(b.ctx, h, nil, 5000, plainBytes)
					if err == nil && kept < perFile {
						err = fmt.Errorf("%d lines paged, want at least %d", kept, perFile)
					}
					return r.linesPerSec, err
				}, fmtRate)
			}
			if err != nil {
				closeSrc()
				return err
			}
		}
		closeSrc()
	}
	if b.o.inproc {
		b.t.row("10e", "history: 1 GB search back", fmtSec).note("skipped: -inproc (the real binary is measured)")
		return nil
	}
	if err := b.searchBackGB(perFile); err != nil {
		return err
	}
	return b.jumpToTime()
}

// searchBackGB is 10e.
func (b *bench) searchBackGB(perFile int) error {
	rLat := b.t.row("10e1", fmt.Sprintf("history: live latency p50 / p99 at %s lines/s, the searched log: before / during a 1 GB search back", human(histLiveRate)), fmtMS)
	rOther := b.t.row("10e2", "history: the same, another log", fmtMS)
	rTime := b.t.row("10e3", "history: 1 GB search back (plain + gzip), one viewer, time", fmtSec)
	rRSS := b.t.row("10e4", "history: server RSS before / peak during the 1 GB search back", fmtMiB)
	dir, err := b.newDir("history-gb")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files := histGB
	if b.o.smoke {
		files = 3
	}
	b.logf("10e. generating about %d MiB of history (1 plain file, %d gzip)", files*histFileMiB, files-1)
	_, needles, err := histChain(dir, "app.log", files, perFile)
	if err != nil {
		return err
	}
	for run := 1; run <= b.o.runs; run++ {
		b.logf("10e. 1 GB search back, run %d/%d", run, b.o.runs)
		for _, f := range []string{"app.log", "other.log"} { // each run's writers start at line 1
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		res, err := b.searchBackRun(dir, needles)
		if err != nil {
			return err
		}
		b.logf("  search: %.2f s, %d of %d matches, %.0f MiB scanned; RSS %.0f → %.0f MiB; p99 searched log %.1f → %.1f ms, other %.1f → %.1f ms",
			res.seconds, res.matches, needles, float64(res.scanned)/(1<<20), float64(res.rss0)/1024, float64(res.rssPeak)/1024,
			res.before[0].p99, res.during[0].p99, res.before[1].p99, res.during[1].p99)
		if res.matches != needles {
			rTime.note(fmt.Sprintf("found %d matches of %d planted", res.matches, needles))
			b.smokeCheck("scenario 10e", true, "wrong matches")
		}
		rTime.ours = append(rTime.ours, res.seconds)
		rTime.note(fmt.Sprintf("%.0f MiB examined (decompressed), %d matches, all found", float64(res.scanned)/(1<<20), needles))
		rRSS.ours2, rRSS.ours = append(rRSS.ours2, float64(res.rss0)), append(rRSS.ours, float64(res.rssPeak))
		rLat.ours2, rLat.ours = append(rLat.ours2, res.before[0].p99), append(rLat.ours, res.during[0].p99)
		rOther.ours2, rOther.ours = append(rOther.ours2, res.before[1].p99), append(rOther.ours, res.during[1].p99)
		for i, r := range []*row{rLat, rOther} {
			r.note(fmt.Sprintf("p50 before %.1f ms, during %.1f ms", res.before[i].p50, res.during[i].p50))
			if res.during[i].lost || res.before[i].lost {
				r.note("lines lost or late: " + res.during[i].note + res.before[i].note)
			}
		}
	}
	rLat.note("the figures are p99 before / p99 during")
	rRSS.note("before / peak")
	return nil
}

type searchRun struct {
	seconds        float64
	matches        int
	scanned        int64
	rss0, rssPeak  int64
	before, during [2]latencyResult
}

// searchBackRun runs the real binary on dir (app.log's siblings written)
// with a live app.log and other.log.
func (b *bench) searchBackRun(dir string, needles int) (searchRun, error) {
	var res searchRun
	app, other := filepath.Join(dir, "app.log"), filepath.Join(dir, "other.log")
	wApp, err := newWriter(app)
	if err != nil {
		return res, err
	}
	defer wApp.Close()
	wOther, err := newWriter(other)
	if err != nil {
		return res, err
	}
	defer wOther.Close()
	sys, err := b.start("logviewer", dir, app)
	if err != nil {
		return res, err
	}
	defer sys.stop()
	gApp, cApp, _, err := connectAll(b.ctx, sys, func(int) string { return app }, 1, false, 1)
	if err != nil {
		return res, err
	}
	defer closeAll(cApp)
	gOther, cOther, _, err := connectAll(b.ctx, sys, func(int) string { return other }, 1, false, 1)
	if err != nil {
		return res, err
	}
	defer closeAll(cOther)
	lv, ok := sys.(*lvSystem)
	if !ok {
		return res, fmt.Errorf("10e needs the real binary")
	}
	// Warm up, then measure both logs for a few seconds.
	if err := pace(b.ctx, []*writer{wApp, wOther}, histLiveRate, time.Second); err != nil {
		return res, err
	}
	gApp.wait(b.ctx, wApp.last, 5*time.Second)
	gOther.wait(b.ctx, wOther.last, 5*time.Second)
	if res.rss0, err = rssKB(sys.pid()); err != nil {
		return res, err
	}
	measure := func(d time.Duration, during func() bool) ([2]latencyResult, error) {
		gApp.setRecord(true)
		gOther.setRecord(true)
		start := time.Now()
		for time.Since(start) < d || during != nil && during() {
			if err := pace(b.ctx, []*writer{wApp, wOther}, histLiveRate, 200*time.Millisecond); err != nil {
				return [2]latencyResult{}, err
			}
			if kb, err := rssKB(sys.pid()); err == nil {
				res.rssPeak = max(res.rssPeak, kb)
			}
		}
		_, doneA := gApp.wait(b.ctx, wApp.last, 3*time.Second)
		_, doneO := gOther.wait(b.ctx, wOther.last, 3*time.Second)
		gApp.setRecord(false)
		gOther.setRecord(false)
		var out [2]latencyResult
		for i, g := range []group{gApp, gOther} {
			var all []int64
			for _, t := range g {
				all = append(all, t.takeLatencies()...)
			}
			if len(all) > 0 {
				slices.Sort(all)
				out[i] = latencyResult{p50: ms(all[len(all)/2]), p99: ms(all[min(len(all)-1, len(all)*99/100)]), max: ms(all[len(all)-1])}
			}
			if f := g.faults(); f > 0 || !(doneA && doneO) {
				out[i].lost = true
				out[i].note = fmt.Sprintf("%d faults %s", f, g.firstErr())
			}
		}
		return out, nil
	}
	if res.before, err = measure(3*time.Second, nil); err != nil {
		return res, err
	}
	// The search: one viewer of app.log with the filter, paging back.
	type outcome struct {
		matches int
		scanned int64
		took    time.Duration
		err     error
	}
	done := make(chan outcome, 1)
	var finished sync.WaitGroup
	finished.Add(1)
	go func() {
		defer finished.Done()
		start := time.Now()
		m, s, err := searchClient(b.ctx, lv.url, lv.host, app, histNeedle)
		done <- outcome{m, s, time.Since(start), err}
	}()
	var got outcome
	searching := func() bool {
		select {
		case got = <-done:
			return false
		default:
			return true
		}
	}
	during, err := measure(time.Second, searching)
	finished.Wait()
	if err != nil {
		return res, err
	}
	if got.err != nil {
		return res, fmt.Errorf("search back: %w", got.err)
	}
	res.during = during
	res.seconds, res.matches, res.scanned = got.took.Seconds(), got.matches, got.scanned
	return res, nil
}

// pace writes rate lines/s to every writer for d.
func pace(ctx context.Context, ws []*writer, rate float64, d time.Duration) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.paced(ctx, rate, d)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// searchClient opens a view of file with filter q and pages back until more
// is false; it returns the matching lines seen and the bytes scanned.
func searchClient(ctx context.Context, base, host, file, q string) (int, int64, error) {
	u := "ws" + base[len("http"):] + "/ws?" + url.Values{"host": {host}, "file": {file}, "q": {q}}.Encode()
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	matches := 0
	var scanned int64
	before := ""
	for {
		if err := conn.WriteJSON(map[string]any{"type": "older", "before": before, "n": 500}); err != nil {
			return 0, 0, err
		}
		var m struct {
			Type  string `json:"type"`
			Code  string `json:"code"`
			Msg   string `json:"msg"`
			Lines []struct {
				Text string `json:"text"`
			} `json:"lines"`
			More    bool   `json:"more"`
			Next    string `json:"next"`
			Scanned int64  `json:"scanned"`
		}
		for m.Type != "older" {
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
			_, data, err := conn.ReadMessage()
			if err != nil {
				return 0, 0, err
			}
			m.Type = ""
			if err := json.Unmarshal(data, &m); err != nil {
				return 0, 0, err
			}
			if m.Type == "error" {
				return 0, 0, fmt.Errorf("%s: %s", m.Code, m.Msg)
			}
		}
		for _, l := range m.Lines {
			if strings.Contains(l.Text, histNeedle) {
				matches++
			}
		}
		scanned += m.Scanned
		if !m.More {
			return matches, scanned, nil
		}
		before = m.Next
	}
}

// jumpToTime is 10f.
func (b *bench) jumpToTime() error {
	n := histJumpN
	if b.o.smoke {
		n /= 20
	}
	rFind := b.t.row("10f1", fmt.Sprintf("history: jump to a time in a file of %s lines, Find (in process)", human(float64(n))), fmtMS)
	rHello := b.t.row("10f2", "history: the same, open with from=TIME to the hello naming the line (real binary)", fmtMS)
	dir, err := b.newDir("history-jump")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "big.log")
	b.logf("10f. generating a file of %d lines", n)
	if err := writeHistFile(path, 0, n, false); err != nil {
		return err
	}
	src := local.New([]string{filepath.Join(dir, "*.log")}, local.Options{})
	var sys system
	if !b.o.inproc {
		if sys, err = b.start("logviewer", dir, path); err != nil {
			return err
		}
		defer sys.stop()
	}
	for run := 1; run <= b.o.runs; run++ {
		target := n/3 + run*7919 // a line well inside the file, another each run
		ts := histBase.Add(time.Duration(target) * time.Millisecond)
		h, err := src.History(b.ctx, path)
		if err != nil {
			return err
		}
		start := time.Now()
		ln, ok, err := h.Find(b.ctx, ts.UnixMilli())
		took := time.Since(start)
		h.Close()
		if err != nil || !ok {
			return fmt.Errorf("find: %v (found %v)", err, ok)
		}
		want := strings.TrimSuffix(string(histLine(nil, target)), "\n")
		if ln.Text != want || ln.Offset != int64(target+1)*histLineLen {
			return fmt.Errorf("find %s: got %.60q at %d, want %.60q at %d", ts.Format(time.RFC3339Nano), ln.Text, ln.Offset, want, int64(target+1)*histLineLen)
		}
		rFind.ours = append(rFind.ours, float64(took.Microseconds())/1000)
		b.logf("  Find: line %d in %s", target, took.Round(time.Microsecond))
		if lv, ok := sys.(*lvSystem); ok {
			d, fromAt, err := helloFrom(b.ctx, lv, path, ts)
			if err != nil {
				return err
			}
			if _, off, _ := strings.Cut(fromAt, ":"); off != strconv.FormatInt(ln.Offset, 10) {
				return fmt.Errorf("from=%s: from_at %q, want offset %d", ts.Format(time.RFC3339Nano), fromAt, ln.Offset)
			}
			rHello.ours = append(rHello.ours, float64(d.Microseconds())/1000)
			b.logf("  hello with from_at %s in %s", fromAt, d.Round(time.Microsecond))
		}
	}
	rFind.note("the line found is checked: the first at or after the time")
	rHello.note("from_at checked against the line Find returned; the page then pages back to it with older requests")
	return nil
}

// helloFrom opens a view with from=ts and returns how long until its hello
// came, and its from_at.
func helloFrom(ctx context.Context, lv *lvSystem, file string, ts time.Time) (time.Duration, string, error) {
	u := "ws" + lv.url[len("http"):] + "/ws?" + url.Values{"host": {lv.host}, "file": {file}, "from": {ts.Format(time.RFC3339Nano)}}.Encode()
	start := time.Now()
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		var m struct {
			Type   string `json:"type"`
			FromAt string `json:"from_at"`
		}
		if err := conn.ReadJSON(&m); err != nil {
			return 0, "", err
		}
		if m.Type == "hello" {
			if m.FromAt == "" {
				return 0, "", fmt.Errorf("from=%s: the hello has no from_at", ts.Format(time.RFC3339Nano))
			}
			return time.Since(start), m.FromAt, nil
		}
	}
}
