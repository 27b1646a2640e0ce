package tailer

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
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
	ring    []Line // circular; len(ring) is the capacity (nil until the first line: a quiet file costs nothing here)
	head    int    // index of the oldest line
	n       int    // lines held
	bytes   int64  // approximate bytes held
	next    uint64 // seq of the next line appended
	state   State
	changed chan struct{} // closed and replaced on every Lines and State

	watchMu  sync.Mutex                 // serialises changes to watchers
	watchers atomic.Pointer[[]*watcher] // see Watch
}

// watcher is one Watch call's function.
type watcher struct{ f func(lines int) }

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
	l.notify(len(lines))
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
	l.notify(0)
}

func (l *Log) signal() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Watch calls f after every Lines, Append and State call, on the caller's
// goroutine and with no lock held, until the returned function is called
// (a call already under way may still finish after that). lines is how many
// lines were added (0 for a State). Unlike Changed, it lets a reader do a
// small amount of work where the lines arrive, without waking another
// goroutine; f must not block for long.
func (l *Log) Watch(f func(lines int)) (stop func()) {
	w := &watcher{f: f}
	l.watchMu.Lock()
	l.setWatchers(append(l.loadWatchers(), w))
	l.watchMu.Unlock()
	return func() {
		l.watchMu.Lock()
		var keep []*watcher
		for _, o := range l.loadWatchers() {
			if o != w {
				keep = append(keep, o)
			}
		}
		l.setWatchers(keep)
		l.watchMu.Unlock()
	}
}

// loadWatchers returns the current watchers; the slice is never changed in
// place (setWatchers replaces it), so it may be read without a lock.
func (l *Log) loadWatchers() []*watcher {
	if p := l.watchers.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *Log) setWatchers(ws []*watcher) {
	ws = append([]*watcher(nil), ws...)
	l.watchers.Store(&ws)
}

func (l *Log) notify(lines int) {
	for _, w := range l.loadWatchers() {
		w.f(lines)
	}
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
	added := 0
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
		added++
	}
	if added > 0 {
		l.signal()
	}
	l.mu.Unlock()
	if added > 0 {
		l.notify(added)
	}
}
