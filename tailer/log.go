package tailer

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// lineOverhead approximates a Line's fixed cost in the ring (struct + string header).
const lineOverhead = 80

// Log is the ring of recent lines of one (host, file), fed by one Source and
// read by any number of viewers. Each line gets the next sequence number.
//
// The ring holds at least minLines lines and grows past that while the lines
// fit in budget bytes, so a viewer may fall behind during a burst without
// missing anything. Appending never blocks on readers: a reader that falls
// behind the ring's first line learns of its gap from Read.
//
// All methods are safe for concurrent use.
type Log struct {
	ID   string // random, new for every Log: seqs are only comparable within one ID (a cluster sets a stable one, see Append)
	Host string
	Path string

	minLines int
	budget   int64

	mu      sync.RWMutex
	ring    []Line // circular; len(ring) is the capacity
	head    int    // index of the oldest line
	n       int    // lines held
	bytes   int64  // approximate bytes held
	next    uint64 // seq of the next line appended
	state   State
	changed chan struct{} // closed and replaced on every Lines and State
}

// NewLog returns an empty Log that keeps at least minLines lines and as many
// more as fit in budget bytes.
func NewLog(host, path string, minLines int, budget int64) *Log {
	if minLines < 1 {
		minLines = 1
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	return &Log{
		ID: hex.EncodeToString(id[:]), Host: host, Path: path,
		minLines: minLines, budget: budget,
		ring:    make([]Line, min(minLines, 16)),
		next:    1,
		state:   State{Code: StateStarting},
		changed: make(chan struct{}),
	}
}

var _ Sink = (*Log)(nil)

// Lines appends lines, numbering them, and wakes every waiter.
func (l *Log) Lines(lines []Line) {
	if len(lines) == 0 {
		return
	}
	l.mu.Lock()
	for _, ln := range lines {
		ln.Seq = l.next
		l.put(ln)
	}
	l.signal()
	l.mu.Unlock()
}

// put stores ln, whose Seq is l.next, as the newest line. l.mu is held.
func (l *Log) put(ln Line) {
	l.next++
	size := int64(len(ln.Text) + lineOverhead)
	// Make room: drop the oldest lines beyond minLines while over budget,
	// grow the ring while under it.
	for l.n > 0 && l.n >= l.minLines && l.bytes+size > l.budget {
		l.dropOldest()
	}
	if l.n == len(l.ring) {
		if l.n < l.minLines || l.bytes+size <= l.budget {
			l.grow()
		} else {
			l.dropOldest()
		}
	}
	l.ring[(l.head+l.n)%len(l.ring)] = ln
	l.n++
	l.bytes += size
}

func (l *Log) dropOldest() {
	old := &l.ring[l.head]
	l.bytes -= int64(len(old.Text) + lineOverhead)
	*old = Line{}
	l.head = (l.head + 1) % len(l.ring)
	l.n--
}

func (l *Log) grow() {
	ring := make([]Line, max(2*len(l.ring), 16))
	for i := 0; i < l.n; i++ {
		ring[i] = l.ring[(l.head+i)%len(l.ring)]
	}
	l.ring, l.head = ring, 0
}

// State records the Source's condition and wakes every waiter.
func (l *Log) State(s State) {
	l.mu.Lock()
	l.state = s
	l.signal()
	l.mu.Unlock()
}

func (l *Log) signal() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Changed returns a channel that is closed at the next Lines or State call.
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.changed
}

// Bounds returns the seq of the oldest line held and the seq the next line will
// get. The ring holds [first, next); it is empty when first == next.
func (l *Log) Bounds() (first, next uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.next - uint64(l.n), l.next
}

// Status returns the Source's last reported condition.
func (l *Log) Status() State {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.state
}

// Stats returns the number of lines and approximate bytes held.
func (l *Log) Stats() (lines int, bytes int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.n, l.bytes
}

// Read appends to dst the lines with seq in [from, from+max) that the ring
// still holds, and returns dst and the seq of the first line it holds. When
// from < first, the lines [from, first) are gone: the caller has a gap.
func (l *Log) Read(dst []Line, from uint64, max int) ([]Line, uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	first := l.next - uint64(l.n)
	if from < first {
		from = first
	}
	for s := from; s < l.next && max > 0; s++ {
		dst = append(dst, l.ring[(l.head+int(s-first))%len(l.ring)])
		max--
	}
	return dst, first
}

// StartFor returns the seq from which the last n lines accepted by keep begin
// (markers always count as kept), or the first seq held if fewer are held.
// keep may be nil, meaning every line.
func (l *Log) StartFor(n int, keep func(*Line) bool) uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	first := l.next - uint64(l.n)
	if n <= 0 {
		return l.next
	}
	if keep == nil {
		if l.n <= n {
			return first
		}
		return l.next - uint64(n)
	}
	found := 0
	for i := l.n - 1; i >= 0; i-- {
		ln := &l.ring[(l.head+i)%len(l.ring)]
		if ln.Mark != "" || keep(ln) {
			found++
			if found == n {
				return first + uint64(i)
			}
		}
	}
	return first
}

// where a file position stands relative to a Log's ring; see after.
type where int

const (
	found  where = iota // the ring holds the line that ends there
	gone                // it does not, and never will: lines past it (or of another file) are held
	notYet              // no line at or past it is held yet: the source may still read it
)

// after returns the seq of the first line held after position p. seq is
// meaningful when the result is found.
func (l *Log) after(p Position) (seq uint64, result where) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	first := l.next - uint64(l.n)
	newest := true
	for i := l.n - 1; i >= 0; i-- {
		ln := &l.ring[(l.head+i)%len(l.ring)]
		if ln.Mark != "" || ln.Offset < 0 {
			continue
		}
		switch {
		case ln.File != p.File:
			return 0, gone
		case ln.Offset == p.Offset:
			return first + uint64(i) + 1, found
		case ln.Offset < p.Offset && newest:
			return 0, notYet // the source has not read that far yet
		case ln.Offset < p.Offset:
			return 0, gone // no line ends there
		}
		newest = false
	}
	if newest {
		return 0, notYet // no line of any file yet
	}
	return 0, gone // the position is older than the ring
}

// Append adds lines that are already numbered (their Seq is kept), for a Log
// fed from elsewhere than a Source: a cluster's stream, where every instance
// must show the same seqs. Lines at or below the last seq held are
// duplicates and are dropped; a line whose seq is past the next one expected
// empties the ring first, so a reader learns of the lines in between as a
// gap (Read's first moves past its cursor). Lines must come in seq order.
func (l *Log) Append(lines []Line) {
	l.mu.Lock()
	defer l.mu.Unlock()
	added := false
	for _, ln := range lines {
		if ln.Seq < l.next {
			continue // already held (or dropped): a redelivery
		}
		if ln.Seq > l.next {
			for l.n > 0 {
				l.dropOldest()
			}
			l.head, l.next = 0, ln.Seq
		}
		l.put(ln)
		added = true
	}
	if added {
		l.signal()
	}
}
