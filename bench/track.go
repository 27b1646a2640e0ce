package main

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// track is what one viewer checks and counts. The viewer's read goroutine
// calls line and fault; the coordinator reads the atomics.
type track struct {
	last   atomic.Uint64 // seq (from the text) of the last line received
	lines  atomic.Int64  // lines received
	faults atomic.Int64  // lost, duplicated or reordered lines, gap frames, errors
	ready  chan struct{} // closed when the server greeted the viewer
	follow chan struct{} // closed when the server said it follows the file
	closed chan struct{} // closed when the connection ended
	err    atomic.Pointer[string]

	resync bool         // after a gap frame: accept the next seq as is
	expect [seqLen]byte // digits of the seq expected next, when last != 0

	record atomic.Bool // keep latencies
	latMu  sync.Mutex
	lat    []int64 // receipt - write, ns
}

func newTrack() *track {
	return &track{ready: make(chan struct{}), follow: make(chan struct{}), closed: make(chan struct{})}
}

// state records the source's condition as the server reports it.
func (t *track) state(code string) {
	if code == "following" {
		select {
		case <-t.follow:
		default:
			close(t.follow)
		}
	}
}

// text checks one received line. The common case, the expected seq, costs a
// 12-byte comparison and an increment.
func (t *track) text(text []byte, at int64) {
	if !t.resync && !t.record.Load() && t.last.Load() != 0 && len(text) == lineLen-1 &&
		text[0] == 'L' && string(text[seqOff:seqOff+seqLen]) == string(t.expect[:]) {
		t.last.Add(1)
		t.lines.Add(1)
		incDigits(t.expect[:])
		return
	}
	seq, ts, ok := parseLine(text)
	if !ok {
		t.fault(fmt.Sprintf("line %q is not the writer's", text))
		return
	}
	t.line(seq, ts, at)
}

func incDigits(d []byte) {
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] < '9' {
			d[i]++
			return
		}
		d[i] = '0'
	}
}

// line checks one received line: its seq must follow the last one.
func (t *track) line(seq uint64, ts, at int64) {
	last := t.last.Load()
	switch {
	case t.resync:
		t.resync = false
	case last == 0 && seq != 1:
		// Every measurement starts on an empty file: the first line is 1.
		t.fault(fmt.Sprintf("first line received is %d: lines 1..%d lost", seq, seq-1))
	case last != 0 && seq != last+1:
		if seq <= last {
			t.fault(fmt.Sprintf("line %d after line %d: duplicate or out of order", seq, last))
		} else {
			t.fault(fmt.Sprintf("lines %d..%d lost", last+1, seq-1))
		}
	}
	t.last.Store(seq)
	t.lines.Add(1)
	putDigits(t.expect[:], seq+1)
	if t.record.Load() {
		t.latMu.Lock()
		t.lat = append(t.lat, at-ts)
		t.latMu.Unlock()
	}
}

// gap records lines the server says this viewer will not get.
func (t *track) gap(msg string) {
	t.resync = true
	t.fault(msg)
}

func (t *track) fault(msg string) {
	t.faults.Add(1)
	t.err.CompareAndSwap(nil, &msg)
}

func (t *track) firstErr() string {
	if p := t.err.Load(); p != nil {
		return *p
	}
	return ""
}

func (t *track) takeLatencies() []int64 {
	t.latMu.Lock()
	defer t.latMu.Unlock()
	l := t.lat
	t.lat = nil
	return l
}

// group is the viewers of one measurement.
type group []*track

func (g group) minLast() uint64 {
	m := ^uint64(0)
	for _, t := range g {
		m = min(m, t.last.Load())
	}
	return m
}

func (g group) faults() int64 {
	var n int64
	for _, t := range g {
		n += t.faults.Load()
	}
	return n
}

func (g group) lines() int64 {
	var n int64
	for _, t := range g {
		n += t.lines.Load()
	}
	return n
}

func (g group) firstErr() string {
	for _, t := range g {
		if e := t.firstErr(); e != "" {
			return e
		}
	}
	return ""
}

func (g group) closedCount() int {
	n := 0
	for _, t := range g {
		select {
		case <-t.closed:
			n++
		default:
		}
	}
	return n
}

func (g group) setRecord(on bool) {
	for _, t := range g {
		t.record.Store(on)
	}
}
