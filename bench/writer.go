package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// A line is lineLen bytes with its newline:
//
//	L000000000042 T000001234567890 xxxxxxxx…
//
// the sequence number (from 1 within a file) and the write time in
// nanoseconds since the tool started (monotonic clock, the same clock the
// viewers read when a frame arrives).
const (
	lineLen  = 100
	seqOff   = 1
	seqLen   = 12
	tsOff    = 15
	tsLen    = 15
	chunkMax = 64 << 10 // bytes per write
)

var epoch = time.Now()

// now returns nanoseconds since the tool started.
func now() int64 { return int64(time.Since(epoch)) }

func putDigits(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

func appendLine(b []byte, seq uint64, ts int64) []byte {
	n := len(b)
	b = append(b, make([]byte, lineLen)...)
	l := b[n:]
	l[0] = 'L'
	putDigits(l[seqOff:seqOff+seqLen], seq)
	l[seqOff+seqLen] = ' '
	l[tsOff-1] = 'T'
	putDigits(l[tsOff:tsOff+tsLen], uint64(ts))
	for i := tsOff + tsLen; i < lineLen-1; i++ {
		l[i] = 'x'
	}
	l[tsOff+tsLen] = ' '
	l[lineLen-1] = '\n'
	return b
}

// parseLine reads a line's sequence number and write time; ok is false for
// anything the writer did not write.
func parseLine[T string | []byte](text T) (seq uint64, ts int64, ok bool) {
	if len(text) != lineLen-1 || text[0] != 'L' || text[tsOff-1] != 'T' {
		return 0, 0, false
	}
	for i := seqOff; i < seqOff+seqLen; i++ {
		c := text[i]
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		seq = seq*10 + uint64(c-'0')
	}
	for i := tsOff; i < tsOff+tsLen; i++ {
		c := text[i]
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		ts = ts*10 + int64(c-'0')
	}
	return seq, ts, true
}

// writer appends numbered lines to one file.
type writer struct {
	f    *os.File
	path string
	last uint64 // seq of the last line written
	buf  []byte
	// rest, if set, writes each line's text after its time
	// (line[tsOff+tsLen+1 : lineLen-1]) instead of the 'x's.
	rest func(l []byte)

	written atomic.Uint64 // last, for samplers
}

func newWriter(path string) (*writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &writer{f: f, path: path, buf: make([]byte, 0, chunkMax+lineLen)}, nil
}

func (w *writer) Close() error { return w.f.Close() }

// write appends n lines, stamped with the time of each write call.
func (w *writer) write(n int) error {
	for n > 0 {
		k := min(n, chunkMax/lineLen)
		b := w.buf[:0]
		ts := now()
		for i := 0; i < k; i++ {
			b = appendLine(b, w.last+uint64(i)+1, ts)
			if w.rest != nil {
				w.rest(b[len(b)-lineLen+tsOff+tsLen+1 : len(b)-1])
			}
		}
		if _, err := w.f.Write(b); err != nil {
			return fmt.Errorf("write %s: %w", w.path, err)
		}
		w.last += uint64(k)
		w.written.Store(w.last)
		n -= k
	}
	return nil
}

// paced writes rate lines per second for d (or until ctx ends), each line as
// close to its due time as the timer allows, and returns the number written.
func (w *writer) paced(ctx context.Context, rate float64, d time.Duration) (int, error) {
	start := time.Now()
	written := 0
	for {
		el := time.Since(start)
		if el >= d {
			el = d
		}
		due := int(rate*el.Seconds()) - written
		if due > 0 {
			if err := w.write(due); err != nil {
				return written, err
			}
			written += due
		}
		if el >= d || ctx.Err() != nil {
			return written, ctx.Err()
		}
		// Sleep until the next line is due, at most 1ms.
		next := time.Duration(float64(written+1) / rate * float64(time.Second))
		time.Sleep(min(max(next-time.Since(start), 50*time.Microsecond), time.Millisecond))
	}
}

// burst writes n lines as fast as it can, or for at most d.
func (w *writer) burst(ctx context.Context, n int, d time.Duration) (int, error) {
	start := time.Now()
	written := 0
	for written < n && time.Since(start) < d && ctx.Err() == nil {
		k := min(n-written, chunkMax/lineLen)
		if err := w.write(k); err != nil {
			return written, err
		}
		written += k
	}
	return written, ctx.Err()
}
