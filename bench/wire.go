package main

// Scenario 11: bytes on the wire per line, with and without
// permessage-deflate (issue 15's last row).
//
// One viewer over a real TCP connection whose client side counts every byte
// it reads (WebSocket frame headers included; the HTTP upgrade and the
// greeting are outside the window). The server runs with
// ws_compression = true in both cases; whether compression is used is up to
// the client, as it is for a browser: the dialer offers permessage-deflate
// or does not, and the response header must say what was agreed.
//
// The writer's usual lines end in 69 'x's, which deflate would shrink to
// almost nothing. Here the part after the seq and time is an access-log-like
// line instead (level, component, method, path with ids, status, duration,
// a random request id), 100 bytes with the newline, so the ratio is close to
// what a real log gets.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/config"
)

const (
	wireSlowRate   = 10     // lines/s: every line its own frame
	wireFastRate   = 20_000 // lines/s: frames carry batches
	wireFanViewers = 10     // viewers of one log: is the cost per viewer?
	wireFanRate    = 10_000
)

func fmtPerLine(v float64) string { return fmt.Sprintf("%.1f B/line", v) }

func (b *bench) scenarioWire() error {
	slowDur, fastDur := 3*time.Second, 5*time.Second
	if b.o.smoke {
		slowDur, fastDur = time.Second, time.Second
	}
	type rows struct{ slow, fast, cpu, fan *row }
	var r [2]rows // without, with
	with := [2]string{"without", "with"}
	for i := range r { // ids in the order the report shows them
		r[i].slow = b.t.row(fmt.Sprintf("11%c", 'a'+i), fmt.Sprintf("bytes on the wire per 100-byte line, %d lines/s (a frame per line), %s permessage-deflate", wireSlowRate, with[i]), fmtPerLine)
	}
	for i := range r {
		r[i].fast = b.t.row(fmt.Sprintf("11%c", 'c'+i), fmt.Sprintf("bytes on the wire per 100-byte line, %s lines/s (batched frames), %s permessage-deflate", human(wireFastRate), with[i]), fmtPerLine)
	}
	for i := range r {
		r[i].cpu = b.t.row(fmt.Sprintf("11%c", 'e'+i), fmt.Sprintf("server CPU per 1M lines, 1 viewer, at %s lines/s, %s permessage-deflate", human(wireFastRate), with[i]), fmtCPU)
	}
	for i := range r {
		r[i].fan = b.t.row(fmt.Sprintf("11%c", 'g'+i), fmt.Sprintf("server CPU, %d viewers of one log at %s lines/s, %s permessage-deflate", wireFanViewers, human(wireFanRate), with[i]), fmtPct)
	}
	if b.o.inproc {
		r[0].slow.note("skipped: -inproc (the real binary is measured)")
		return nil
	}
	for run := 1; run <= b.o.runs; run++ {
		for i, compress := range []bool{false, true} {
			b.logf("11. bytes on the wire, compression %v, run %d/%d", compress, run, b.o.runs)
			slow, err := b.wireTrial(compress, 1, wireSlowRate, slowDur)
			if err != nil {
				return err
			}
			fast, err := b.wireTrial(compress, 1, wireFastRate, fastDur)
			if err != nil {
				return err
			}
			fan, err := b.wireTrial(compress, wireFanViewers, wireFanRate, slowDur)
			if err != nil {
				return err
			}
			for _, t := range []wireResult{slow, fast, fan} {
				b.smokeCheck("scenario 11", t.note != "", t.note)
				r[i].slow.note(t.note)
			}
			r[i].slow.ours = append(r[i].slow.ours, slow.perLine)
			r[i].fast.ours = append(r[i].fast.ours, fast.perLine)
			r[i].cpu.ours = append(r[i].cpu.ours, fast.cpu)
			r[i].fan.ours = append(r[i].fan.ours, fan.cpuShare)
			b.logf("  %d lines/s: %.1f B/line (%.2f lines per frame); %s lines/s: %.1f B/line (%.0f lines per frame), %.2f CPU-s per 1M lines",
				wireSlowRate, slow.perLine, slow.perFrame, human(wireFastRate), fast.perLine, fast.perFrame, fast.cpu)
			b.logf("  %d viewers at %s lines/s: %s, %.1f B/line each", wireFanViewers, human(wireFanRate), fmtPct(fan.cpuShare), fan.perLine)
		}
	}
	return nil
}

type wireResult struct {
	perLine  float64 // bytes read by the client per line
	perFrame float64 // lines per frame
	cpu      float64 // server CPU-s per 1M lines written
	cpuShare float64 // server CPU-s per second
	note     string  // lines lost or late
}

// wireTrial starts a server with compression on, connects one viewer that
// offers permessage-deflate if compress, writes rate lines/s for d and counts
// what the viewer's socket read meanwhile.
func (b *bench) wireTrial(compress bool, viewers int, rate float64, d time.Duration) (wireResult, error) {
	var res wireResult
	dir, err := b.newDir("wire")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "app.log")
	w0, err := newWriter(file)
	if err != nil {
		return res, err
	}
	w := &wireWriter{writer: w0, rng: rand.New(rand.NewPCG(1, 2))}
	w0.rest = w.fill
	defer w.Close()
	sys, err := startLogviewerWith(b.ctx, b.bin, dir, "ws_compression = true\n"+lvConfig(dir), "local")
	if err != nil {
		return res, err
	}
	defer sys.stop()

	var read, frames atomic.Int64 // over all viewers
	g := make(group, viewers)
	for i := range g {
		g[i] = newTrack()
		conn, err := dialCounting(b.ctx, sys.url, sys.host, file, compress, g[i], &read, &frames)
		if err != nil {
			return res, err
		}
		defer conn.Close()
	}
	for _, t := range g {
		select {
		case <-t.follow:
		case <-t.closed:
			return res, fmt.Errorf("connection closed before the server's greeting (%s)", t.firstErr())
		case <-time.After(30 * time.Second):
			return res, errors.New("viewer not following the file within 30s")
		case <-b.ctx.Done():
			return res, b.ctx.Err()
		}
	}

	// Warm up: a few lines at the rate, all received.
	if _, err := w.paced(b.ctx, rate, 300*time.Millisecond); err != nil {
		return res, err
	}
	g.wait(b.ctx, w.last, 10*time.Second)

	first, bytes0, frames0 := w.last, read.Load(), frames.Load()
	cpu0, err := cpuSeconds(sys.pid())
	if err != nil {
		return res, err
	}
	began := time.Now()
	if _, err := w.paced(b.ctx, rate, d); err != nil {
		return res, err
	}
	_, done := g.wait(b.ctx, w.last, 30*time.Second)
	elapsed := time.Since(began)
	cpu1, err := cpuSeconds(sys.pid())
	if err != nil {
		return res, err
	}
	if !done || g.faults() > 0 {
		res.note = fmt.Sprintf("lines lost or late at %s lines/s (compression %v): %s", human(rate), compress, g.firstErr())
	}
	n := float64(w.last - first) // lines written, each received by every viewer
	if n <= 0 || !done {
		return res, b.ctx.Err()
	}
	res.perLine = float64(read.Load()-bytes0) / n / float64(viewers)
	res.perFrame = n * float64(viewers) / float64(max(frames.Load()-frames0, 1))
	res.cpu = (cpu1 - cpu0) / n * 1e6
	res.cpuShare = (cpu1 - cpu0) / elapsed.Seconds()
	return res, b.ctx.Err()
}

// countingConn counts the bytes read from the network.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// dialCounting connects a logviewer viewer whose socket reads are counted in
// read and whose messages are counted in frames. With compress it offers
// permessage-deflate and fails unless the server agrees; without, it fails
// if the server uses it anyway.
func dialCounting(ctx context.Context, base, host, file string, compress bool, t *track, read, frames *atomic.Int64) (*websocket.Conn, error) {
	u := "ws" + base[len("http"):] + "/ws?" + url.Values{"host": {host}, "file": {file}}.Encode()
	nd := &net.Dialer{}
	d := &websocket.Dialer{
		HandshakeTimeout:  30 * time.Second,
		ReadBufferSize:    64 << 10,
		WriteBufferSize:   512,
		EnableCompression: compress,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, n: read}, nil
		},
	}
	conn, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if got := strings.Contains(ext, "permessage-deflate"); got != compress {
		conn.Close()
		return nil, fmt.Errorf("permessage-deflate offered %v, but the server answered Sec-WebSocket-Extensions %q", compress, ext)
	}
	v := &lvViewer{conn: conn, t: t}
	go readLoop(conn, t, func(msg []byte, at int64) {
		frames.Add(1)
		v.handle(msg, at)
	})
	return conn, nil
}

// wireWriter writes the writer's numbered, timestamped lines with an
// access-log-like rest instead of 'x's (the viewers check only the seq and
// time at the front).
type wireWriter struct {
	*writer
	rng     *rand.Rand
	scratch []byte
}

var (
	wireLevels  = []string{"INFO ", "INFO ", "INFO ", "INFO ", "INFO ", "INFO ", "WARN ", "DEBUG", "ERROR"}
	wireComps   = []string{"http", "db", "auth", "cache", "queue", "billing"}
	wireMethods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	wirePaths   = []string{"/api/v1/orders/", "/api/v1/users/", "/api/v1/items/", "/static/app.", "/healthz?n=", "/api/v2/search?q="}
	wireStatus  = []string{"200", "200", "200", "200", "201", "204", "304", "404", "500"}
)

const wireHex = "0123456789abcdef"

// fill writes the part of a line after its time (l[tsOff+tsLen+1:lineLen-1]).
func (w *wireWriter) fill(l []byte) {
	r := w.rng
	b := w.scratch[:0]
	b = append(b, wireLevels[r.IntN(len(wireLevels))]...)
	b = append(b, ' ')
	b = append(b, wireComps[r.IntN(len(wireComps))]...)
	b = append(b, ' ')
	b = append(b, wireMethods[r.IntN(len(wireMethods))]...)
	b = append(b, ' ')
	b = append(b, wirePaths[r.IntN(len(wirePaths))]...)
	b = strconv.AppendInt(b, int64(r.IntN(100000)), 10)
	b = append(b, ' ')
	b = append(b, wireStatus[r.IntN(len(wireStatus))]...)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, float64(r.IntN(50000))/100, 'f', 2, 64)
	b = append(b, "ms req="...)
	for len(b) < len(l) {
		b = append(b, wireHex[r.IntN(16)])
	}
	copy(l, b) // the fields may run past l: cut
	w.scratch = b
}

// wireDefault names the default the config package ships, for the report.
func wireDefault() string {
	return fmt.Sprintf("default ws_compression = %v", config.DefaultWSCompression)
}
