package web

import (
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/olahol/melody"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/filter"
	"github.com/logviewer/logviewer/tailer"
)

// Pump settings; Options may override them.
const (
	defaultFlushInterval = 15 * time.Millisecond // lines wait at most this long to be batched
	defaultMaxInflight   = 4                     // frames queued to one viewer and not yet written
	defaultMaxBatch      = 2000                  // lines per frame
	defaultMaxFrameBytes = 512 << 10             // bytes per frame (one line may exceed it)
)

// viewer is one WebSocket session watching one Log.
//
// cursor, filter, seek, sentState and the replay fields belong to the
// room's goroutine. inflight is shared with melody's write pump; inbox with
// the session's read pump.
type viewer struct {
	session *melody.Session
	out     func([]byte) error // queues a frame: session.Write (tests replace it)
	host    string
	file    string
	client  string         // address it is counted under (Server.reserve)
	id      *auth.Identity // who is watching
	unwatch func()         // stops watching id's expiry and logout
	query   url.Values     // the request's parameters, until placed
	log     *tailer.Log
	room    *room
	release func() // releases the Log; called once on disconnect

	inflight atomic.Int32
	held     atomic.Bool   // the room held lines back while frames were in flight: sent wakes it when the last is written
	hist     viewerHistory // older requests (history.go)
	firstSeq uint64        // seq of the first line sent since the hello or reset (0: none yet)

	cursor     uint64         // seq of the next line to consider
	replayEnd  uint64         // lines before this seq are replay
	warm       int64          // opened the Log: lines up to this file size are its opening backlog, replay too (see warmReplay)
	evNext     uint64         // seq after the last line of the event last judged by the filter (see frame)
	evKeep     bool           // whether that event was kept: its continuation lines to come follow it
	sentTo     uint64         // seq after the last line sent since the hello or reset (context is never sent twice)
	after      int            // lines of context still to send after the last kept event
	filter     *filter.Filter // nil: all lines
	seek       *seek          // non-nil: looking back for where the replay starts
	filterAt   time.Time      // when the filter last changed
	slowFilter time.Duration  // the filter took this long on one line (see room.keep)
	slowLines  int            // lines on which the filter was slow
	pending    *control       // a filter change waiting for filterEvery to pass
	sentState  tailer.State   // last state told to this viewer
	hello      *helloMsg      // not yet sent

	mu      sync.Mutex
	inbox   []control
	dropped int // messages refused because the inbox was full (read pump only)
}

// seek is a viewer's look back through the ring for the last Replay lines
// that pass its filter, done in slices of at most scanBudget per pump so
// that a costly filter delays only its own viewer.
type seek struct {
	below uint64 // lines below this seq are still to be scanned
	found int    // matching lines found so far
}

// control is a request from the browser, applied by the room's goroutine.
type control struct {
	filter    *filter.Filter
	setFilter bool
	since     *uint64
	older     *olderReq // history.go
	err       *errorMsg
}

// post queues c for the room; it reports false when the inbox is full.
func (v *viewer) post(c control) bool {
	v.mu.Lock()
	full := len(v.inbox) >= maxInbox
	if !full {
		v.inbox = append(v.inbox, c)
	}
	v.mu.Unlock()
	v.room.poke()
	return !full
}

func (v *viewer) takeInbox() []control {
	v.mu.Lock()
	defer v.mu.Unlock()
	in := v.inbox
	v.inbox = nil
	return in
}

// room fans one Log out to its viewers from one goroutine: it reads each run
// of lines once, encodes one frame per (cursor, filter) and hands the same
// bytes to every viewer at that cursor with that filter. A viewer with
// maxInflight frames not yet written is skipped: it falls behind on its own
// cursor, and learns of lines the ring dropped meanwhile through a gap frame.
type room struct {
	srv  *Server
	log  *tailer.Log
	wake chan struct{} // cap 1
	stop chan struct{} // closed by end

	// The room's goroutine runs only while there is work (see run): a
	// quiet log's room costs no goroutine.
	running atomic.Bool
	startMu sync.Mutex // orders starts of the goroutine with end
	ended   bool       // under startMu
	unwatch func()     // stops the Log's calls to lines
	mu      sync.Mutex
	viewers []*viewer

	// pumpMu is held by whoever pumps: the room's goroutine, or the source's
	// goroutine right after it added a few lines (see lines). The fields
	// below it belong to the holder.
	pumpMu sync.Mutex
	// armed: the room's goroutine will pump again by itself (its timer is
	// set or it is about to pump). quiet: every viewer has frames in flight
	// and a flush is due; new lines change nothing until then.
	armed, quiet atomic.Bool
	vs           []*viewer // snapshot of viewers for one pump

	lastFlush time.Time
	flushed   uint64 // seq through which a flush happened
	scratch   []tailer.Line
	kept      []tailer.Line
	ctx       []bool // of kept: context lines (see frame)
}

// newRoom returns the room of log, which starts pumping when poked (by a
// viewer added, the Log's new lines, a frame written) until end.
func newRoom(srv *Server, log *tailer.Log) *room {
	r := &room{srv: srv, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	r.unwatch = log.Watch(r.lines)
	return r
}

// end stops the room for good: its goroutine returns and is not started
// again, and the Log no longer calls it.
func (r *room) end() {
	r.startMu.Lock()
	if !r.ended {
		r.ended = true
		close(r.stop)
	}
	r.startMu.Unlock()
	r.unwatch()
}

// poke makes the room's goroutine pump soon, starting it if it is not
// running.
func (r *room) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
	if !r.running.CompareAndSwap(false, true) {
		return // it runs, and will see the wake-up
	}
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if r.ended {
		r.running.Store(false)
		return
	}
	r.srv.wg.Add(1) // before end, hence before Server.Close waits
	go func() {
		defer r.srv.wg.Done()
		r.run()
	}()
}

func (r *room) add(v *viewer) {
	r.mu.Lock()
	r.viewers = append(r.viewers, v)
	r.mu.Unlock()
	r.poke()
}

// remove drops v and reports how many viewers are left.
func (r *room) remove(v *viewer) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, w := range r.viewers {
		if w == v {
			r.viewers = append(r.viewers[:i], r.viewers[i+1:]...)
			break
		}
	}
	return len(r.viewers)
}

// run pumps until nothing is left to do: no viewer held back for batching,
// no filter change due, no scan cut short. Then it returns, and the next
// poke starts it again (r.running is true while it runs).
func (r *room) run() {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		r.armed.Store(true)
		r.pumpMu.Lock()
		flushIn, dueIn, busy := r.pumpAll(time.Time{})
		wait := minPositive(flushIn, dueIn)
		r.armed.Store(wait > 0)
		r.pumpMu.Unlock()
		if busy {
			// Work was left for a later pump (a scan over its budget): come
			// back at once, after checking stop.
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
		if wait == 0 && !busy {
			// Nothing is due: end, unless a poke came meanwhile (its
			// sender saw this goroutine running and did not start another).
			r.running.Store(false)
			select {
			case <-r.wake:
				if r.running.CompareAndSwap(false, true) {
					continue
				}
			default:
			}
			return
		}
		if wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
		}
		var fire <-chan time.Time
		if timer != nil {
			fire = timer.C
		}
		select {
		case <-r.stop:
			r.running.Store(false)
			return
		case <-r.wake:
		case <-fire:
		}
	}
}

// Inline pumps (see lines).
const (
	inlineLines  = 256                    // at most this many new lines are pumped where they arrive
	inlineBudget = 200 * time.Microsecond // and for at most about this long
)

// lines is called by the Log after lines were added (n > 0) or its state
// changed (n == 0), on the source's goroutine. A few new lines are pumped
// right there when the room's goroutine is idle: at a moderate rate that
// saves waking the room's goroutine (and perhaps a sleeping thread) for
// every batch, which is most of the CPU spent per line. Many lines, a busy
// room or a state change wake the room's goroutine instead, so reading and
// sending overlap under load; work over inlineBudget (a costly filter, a
// replay) is left to it too, so a viewer's filter delays the source by at
// most about inlineBudget.
func (r *room) lines(n int) {
	if n > 0 && r.quiet.Load() {
		return // every viewer is busy and a flush is due: the room's timer will send these
	}
	if n == 0 || n > inlineLines || !r.pumpMu.TryLock() {
		r.poke()
		return
	}
	flushIn, dueIn, busy := r.pumpAll(time.Now().Add(inlineBudget))
	wake := busy || dueIn > 0 || (flushIn > 0 && !r.armed.Load())
	r.pumpMu.Unlock()
	if wake {
		r.poke()
	}
}

// pumpAll pumps the current viewers; r.pumpMu is held. limit, if not zero,
// bounds the time spent on filters and scans.
func (r *room) pumpAll(limit time.Time) (flushIn, dueIn time.Duration, busy bool) {
	r.mu.Lock()
	r.vs = append(r.vs[:0], r.viewers...)
	r.mu.Unlock()
	// Lines that come from here on may be after the bounds this pump reads:
	// the source must tell (lines), not count on this pump's flush.
	r.quiet.Store(false)
	flushIn, dueIn, busy = r.pump(r.vs, time.Now(), limit)
	// Lines that come while every viewer has frames in flight and a flush
	// is due change nothing until then: the source need not even tell.
	r.quiet.Store(flushIn > 0 && !r.anyIdle(r.vs))
	clear(r.vs)
	return flushIn, dueIn, busy
}

// pump sends what it can. It returns how long until lines held back for
// batching are due to be flushed, and until a filter change held back by
// filterEvery is (0: nothing held back), and whether a viewer's work was cut
// short by scanBudget.
func (r *room) pump(viewers []*viewer, now, limit time.Time) (flushIn, dueIn time.Duration, busy bool) {
	o := &r.srv.opts
	first, next := r.log.Bounds()
	state := r.log.Status()
	// Nagle turned around: a viewer with nothing in flight is sent new lines
	// at once (a quiet log has no batching delay). While its frames are in
	// flight, lines gather until the last flush is FlushInterval ago or a
	// batch is full, so a busy log is sent in batches.
	flush := now.Sub(r.lastFlush) >= o.FlushInterval || next-r.flushed >= uint64(o.MaxBatch)
	var cache map[frameKey]frame
	held := false
	for _, v := range viewers {
		if r.canSend(v) {
			dueIn = minPositive(dueIn, r.apply(v, v.takeInbox(), next, now))
		}
		if v.hello != nil {
			v.hello.First, v.hello.Last, v.hello.State = first, next-1, state
			r.send(v, encode(v.hello))
			v.hello = nil
			v.sentState = state
		}
		if state != v.sentState && r.canSend(v) {
			r.send(v, encode(statusMsg{Type: "status", State: state}))
			v.sentState = state
		}
		deadline := time.Now().Add(scanBudget)
		if !limit.IsZero() && limit.Before(deadline) {
			deadline = limit
		}
		if v.seek != nil && !r.seekStep(v, first, deadline) {
			busy = true
			if v.slowFilter > 0 {
				r.dropSlowFilter(v, next)
			}
			continue
		}
		if v.warm != 0 {
			r.warmReplay(v, next)
		}
		for v.cursor < next && r.canSend(v) {
			if !flush && v.cursor >= v.replayEnd && v.holdBack() {
				held = true
				break
			}
			if cache == nil {
				cache = map[frameKey]frame{}
			}
			k := frameKey{v.cursor, v.filter.Key(), v.cursor < v.replayEnd, v.evNext == v.cursor && v.evKeep, 0, 0}
			if v.filter.Context() > 0 {
				k.sentTo, k.after = v.sentTo, v.after // context depends on what this viewer was sent
			}
			f, ok := cache[k]
			if !ok {
				f = r.frame(v, next, deadline)
				cache[k] = f
			}
			if f.data != nil {
				r.send(v, f.data)
				if v.firstSeq == 0 && f.first != 0 {
					v.firstSeq = f.first // history.go: the line an older request starts before
					r.pinHistory(v, f.first)
				}
				r.count(f)
			}
			v.cursor = f.next
			if f.evNext != 0 {
				v.evNext, v.evKeep, v.after = f.evNext, f.evKeep, f.after
			}
			if f.sentTo != 0 {
				v.sentTo = f.sentTo
			}
			if v.slowFilter > 0 {
				delete(cache, k)
				r.dropSlowFilter(v, next)
				busy = true
				break
			}
			if v.filter != nil && v.cursor < next && time.Now().After(deadline) {
				busy = true
				break
			}
		}
	}
	if flush {
		r.lastFlush, r.flushed = now, next
	}
	if held {
		flushIn = max(o.FlushInterval-now.Sub(r.lastFlush), time.Millisecond)
	}
	return flushIn, dueIn, busy
}

// warmReplay extends v's replay over a fresh Log's opening backlog. A
// viewer that opened the Log (it held no line) was placed before the source
// read the file's last lines, so without this they would reach it, and be
// counted, as live traffic. The backlog is the lines numbered up to Replay
// that end at or before v.warm, the file's size when the viewer came; the
// first line past it ends the warm-up for good.
func (r *room) warmReplay(v *viewer, next uint64) {
	from := max(v.replayEnd, v.cursor)
	if from >= next {
		return
	}
	limit := uint64(r.srv.opts.Replay) + 1
	lines, held := r.log.Read(r.scratch[:0], from, int(min(next-from, 4096)))
	r.scratch = lines
	defer clear(lines)
	if held > from || len(lines) == 0 {
		v.warm = 0 // the ring moved on: not an opening any more
		return
	}
	for i := range lines {
		l := &lines[i]
		if l.Seq >= limit || l.Mark != "" || l.Offset < 0 || l.Offset > v.warm {
			v.warm = 0
			return
		}
		v.replayEnd = l.Seq + 1
	}
}

// minPositive returns the smaller of a and b that is positive (0 if neither).
func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return max(b, 0)
	case b <= 0:
		return a
	}
	return min(a, b)
}

// seekStep continues v's look back until deadline. It reports whether the
// look back is done (v.cursor then set).
func (r *room) seekStep(v *viewer, first uint64, deadline time.Time) bool {
	var keep func(*tailer.Line) bool
	if v.filter != nil {
		keep = func(l *tailer.Line) bool { return r.keep(v, l) }
	}
	start, done := lookBack(r.log, v.seek, r.srv.opts.Replay, keep, first, &r.scratch, deadline)
	if done {
		v.cursor, v.seek = eventStart(r.log, start, first, &r.scratch), nil
	}
	return done
}

// eventStart returns the seq of the first line of the event seq is in (seq
// itself when it starts one), looking back at most filter.MaxEventLines.
func eventStart(l *tailer.Log, seq, first uint64, scratch *[]tailer.Line) uint64 {
	from := max(first, seq-min(seq, filter.MaxEventLines))
	if from >= seq {
		return seq
	}
	lines, held := l.Read((*scratch)[:0], from, int(seq-from+1))
	*scratch = lines
	defer clear(lines)
	if held > from || len(lines) == 0 || lines[len(lines)-1].Seq != seq {
		return seq
	}
	for i := len(lines) - 1; i > 0; i-- {
		if lines[i].Mark != "" || !filter.Continues(lines[i].Text) {
			return lines[i].Seq
		}
	}
	return lines[0].Seq
}

// slowLine is how long a filter may take on one line before it is taken
// away from its viewer: the clock is read between lines, so one line's cost
// is what other viewers of the log wait at most.
const slowLine = 25 * time.Millisecond

// slowStrikes is how many lines in a row must be that slow before the
// filter goes: a pause of the process (GC, a busy machine, the race
// detector) makes one line look slow now and then, a costly filter every
// line.
const slowStrikes = 3

// keep applies v's filter to l. A regular expression is timed, and one that
// takes longer than slowLine on a line marks the viewer (see dropSlowFilter).
func (r *room) keep(v *viewer, l *tailer.Line) bool {
	if !v.filter.Regexp() {
		return v.filter.Keep(l)
	}
	t0 := time.Now()
	ok := v.filter.Keep(l)
	if d := time.Since(t0); d > slowLine {
		// Three strikes in a row: one slow line may be a pause of the
		// process, three in a row are the filter.
		if v.slowLines++; v.slowLines >= slowStrikes {
			v.slowFilter = max(v.slowFilter, d)
		}
	} else {
		v.slowLines = 0
	}
	return ok
}

// lineJSON is about what a line's frame entry takes besides its text
// (seq, ts, pos, the keys): to size a frame's buffer once.
const lineJSON = 80

// keepEvent applies v's filter to an event's lines (more: they continue an
// event whose first line came earlier, which the filter dropped: only the
// text counts). A regular expression is timed as in keep.
func (r *room) keepEvent(v *viewer, ls []tailer.Line, more bool) bool {
	if !v.filter.Regexp() {
		return judgeEvent(v.filter, ls, more)
	}
	t0 := time.Now()
	ok := judgeEvent(v.filter, ls, more)
	if d := time.Since(t0); d > slowLine*time.Duration(len(ls)) {
		if v.slowLines++; v.slowLines >= slowStrikes {
			v.slowFilter = max(v.slowFilter, d/time.Duration(len(ls)))
		}
	} else {
		v.slowLines = 0
	}
	return ok
}

func judgeEvent(f *filter.Filter, ls []tailer.Line, more bool) bool {
	if more {
		return f.MatchAny(ls)
	}
	return f.KeepEvent(ls)
}

// dropSlowFilter takes a too costly filter away from v, says why and shows
// the log unfiltered.
func (r *room) dropSlowFilter(v *viewer, next uint64) {
	r.send(v, encode(errorMsg{Type: "error", Code: "bad_filter", Msg: fmt.Sprintf("the filter took %s on one line of this log, which would hold up everyone watching it: it was removed; simplify it", v.slowFilter.Round(time.Millisecond))}))
	r.send(v, encode(resetMsg{Type: "reset", Reason: "filter"}))
	if mt := r.srv.metrics; mt != nil {
		mt.filterRejected.Inc()
	}
	v.filter, v.seek, v.slowFilter, v.slowLines = nil, nil, 0, 0
	v.cursor, v.replayEnd = r.log.StartFor(r.srv.opts.Replay, nil), next
}

// checkEvery is how many bytes of lines a filter examines between looks at
// the clock (a line counts 64 bytes more than its text): small enough that
// the costliest filter the filter package accepts stays near scanBudget.
const checkEvery = 4 << 10

// lookBack continues sk's scan of l backwards, in slices that each hold the
// Log's lock only briefly, for the want-th line from the end that f keeps.
// It stops at deadline (done false: call again) or when found or at the
// oldest line held (done true: start is where the view begins). keep nil
// keeps every line.
func lookBack(l *tailer.Log, sk *seek, want int, keep func(*tailer.Line) bool, first uint64, scratch *[]tailer.Line, deadline time.Time) (start uint64, done bool) {
	const slice = 256
	for sk.below > first {
		from := max(first, sk.below-min(sk.below, slice))
		lines, held := l.Read((*scratch)[:0], from, int(sk.below-from))
		*scratch = lines
		if held > from { // the ring moved on meanwhile
			first = held
		}
		var scanned int
		for i := len(lines) - 1; i >= 0; i-- {
			if keep != nil && scanned >= checkEvery {
				// A costly filter on long lines: look at the clock often
				// enough that one slice cannot hold the room.
				scanned = 0
				if time.Now().After(deadline) {
					sk.below = lines[i].Seq + 1
					clear(lines)
					return 0, false
				}
			}
			scanned += len(lines[i].Text) + 64
			if keep == nil || keep(&lines[i]) {
				if sk.found++; sk.found == want {
					seq := lines[i].Seq
					clear(lines)
					return seq, true
				}
			}
		}
		clear(lines)
		sk.below = from
		if held > from {
			sk.below = held
			break
		}
		if time.Now().After(deadline) {
			return 0, false
		}
	}
	return max(sk.below, first), true
}

// anyIdle reports whether a viewer has nothing in flight (new lines would
// go to it at once).
func (r *room) anyIdle(viewers []*viewer) bool {
	for _, v := range viewers {
		if v.inflight.Load() == 0 {
			return true
		}
	}
	return false
}

// canSend reports whether v may be sent another frame now.
func (r *room) canSend(v *viewer) bool {
	return v.inflight.Load() < int32(r.srv.opts.MaxInflight)
}

type frameKey struct {
	cursor uint64
	filter string
	replay bool
	inEv   bool // the cursor is in an event the filter kept
	sentTo uint64
	after  int
}

type frame struct {
	data  []byte // a lines or gap frame; nil when no line passed the filter
	first uint64 // seq of its first line (0: a gap frame, or none)
	next  uint64 // cursor after this frame
	lines int    // lines in data
	gap   bool   // data is a gap frame

	evNext uint64 // the viewer's evNext, evKeep and after after this frame (evNext 0: unchanged)
	evKeep bool
	after  int
	sentTo uint64 // seq after its last line (0: no line)
}

// frame encodes the lines from v's cursor that pass its filter, up to the
// batch limits and not past the end of the replay (so replay frames are
// marked as such).
// Filtering stops at deadline (checked every few lines): the frame then ends
// at the last line examined.
func (r *room) frame(v *viewer, next uint64, deadline time.Time) frame {
	o := &r.srv.opts
	limit := next
	replay := v.cursor < v.replayEnd
	if replay {
		limit = min(limit, v.replayEnd)
	}
	want := int(min(limit-v.cursor, uint64(o.MaxBatch)))
	lines, first := r.log.Read(r.scratch[:0], v.cursor, want)
	r.scratch = lines
	if first > v.cursor {
		// The ring no longer holds the lines from the cursor (the viewer
		// fell behind, or the ring moved on since pump read its bounds).
		clear(lines)
		return frame{data: encode(gapMsg{Type: "gap", From: v.cursor, To: first - 1}), next: first, gap: true}
	}
	if len(lines) == 0 {
		return frame{next: limit}
	}
	kept := r.kept[:0]
	size, scanned := 0, 0
	end := lines[0].Seq
	var evNext uint64
	evKeep := v.evKeep
	if v.evNext == v.cursor {
		evNext = v.evNext
	}
	// Context (grep -C): up to n lines before each kept event that were not
	// sent (the last not-kept ones, some from before this frame), and n after.
	n, after := v.filter.Context(), v.after
	ctx := r.ctx[:0]
	var before []tailer.Line
	if n > 0 {
		from := max(v.cursor-min(v.cursor, uint64(n)), v.sentTo)
		if from < v.cursor {
			pre, held := r.log.Read(nil, from, int(v.cursor-from))
			if held == from {
				before = pre
			}
		}
	}
	emit := func(l *tailer.Line, isCtx bool) {
		kept = append(kept, *l)
		ctx = append(ctx, isCtx)
		size += len(l.Text) + lineJSON
	}
	for i := 0; i < len(lines); {
		l := &lines[i]
		if size > 0 && size+len(l.Text) > o.MaxFrameBytes {
			break
		}
		if v.filter != nil && i > 0 && scanned >= checkEvery {
			scanned = 0
			if time.Now().After(deadline) {
				break
			}
		}
		if v.filter == nil {
			scanned += len(l.Text) + 64
			end = l.Seq + 1
			emit(l, false)
			i++
			continue
		}
		// A filter judges whole events (filter.Continues): the first line
		// and the continuation lines after it that are here already.
		j := i + 1
		if l.Mark == "" {
			for j < len(lines) && j-i < filter.MaxEventLines && lines[j].Mark == "" && filter.Continues(lines[j].Text) {
				j++
			}
		}
		var keep bool
		if evNext == l.Seq && l.Mark == "" && filter.Continues(l.Text) {
			// More lines of the event the last frame judged.
			keep = evKeep || r.keepEvent(v, lines[i:j], true)
		} else {
			keep = r.keepEvent(v, lines[i:j], false)
		}
		if keep {
			for k := range before {
				emit(&before[k], true)
			}
			before, after = before[:0], n
		}
		for k := i; k < j; k++ {
			scanned += len(lines[k].Text) + 64
			switch {
			case keep:
				emit(&lines[k], false)
			case after > 0:
				emit(&lines[k], true)
				after--
			case n > 0:
				if len(before) == n {
					before = append(before[:0], before[1:]...)
				}
				before = append(before, lines[k])
			}
		}
		end = lines[j-1].Seq + 1
		evNext, evKeep = end, keep
		i = j
		if v.slowFilter > 0 {
			break
		}
	}
	r.kept, r.ctx = kept, ctx
	clear(r.scratch)
	if len(kept) == 0 {
		return frame{next: end, evNext: evNext, evKeep: evKeep, after: after}
	}
	if n == 0 {
		ctx = nil
	}
	data := appendLinesCtx(make([]byte, 0, size+64), kept, ctx, replay)
	count, firstSeq, sentTo := len(kept), kept[0].Seq, kept[len(kept)-1].Seq+1
	clear(kept)
	return frame{data: data, next: end, lines: count, first: firstSeq, evNext: evNext, evKeep: evKeep, after: after, sentTo: sentTo}
}

// apply handles the browser's requests since the last pump: only the last
// filter and resume count, and errors are answered in one frame. A filter
// change comes into force at most once per filterEvery; apply returns how
// long until a held-back one is due (0: none held).
func (r *room) apply(v *viewer, cs []control, next uint64, now time.Time) time.Duration {
	var since *uint64
	var errs []*errorMsg
	var older *olderReq
	for _, c := range cs {
		switch {
		case c.setFilter:
			v.pending, since = &c, nil
		case c.since != nil:
			since = c.since
		case c.older != nil:
			older = c.older
		case c.err != nil:
			errs = append(errs, c.err)
		}
	}
	if len(errs) > 0 {
		r.send(v, encode(errs[len(errs)-1]))
	}
	if v.pending != nil {
		if wait := filterEvery - now.Sub(v.filterAt); wait > 0 {
			return wait
		}
		// Show the new filter's view of what the ring holds: the last
		// `replay` matching lines (found by seek), then live lines.
		v.filter, v.pending, v.filterAt, v.slowLines = v.pending.filter, nil, now, 0
		// A new view: context and events start over.
		v.sentTo, v.after, v.evNext, v.evKeep = 0, 0, 0, false
		v.hist.cancelScan() // its lines were of the old filter
		older, v.firstSeq = nil, 0
		r.send(v, encode(resetMsg{Type: "reset", Reason: "filter"}))
		v.replayEnd, v.seek = next, nil
		if v.filter == nil {
			v.cursor = r.log.StartFor(r.srv.opts.Replay, nil)
		} else {
			v.seek = &seek{below: next}
		}
	}
	if since != nil {
		// A seq beyond the newest line would silently skip lines to come
		// (and since+1 must not wrap around to a rewind).
		v.cursor, v.seek = next, nil
		if *since < next-1 {
			v.cursor = *since + 1
		}
		v.replayEnd = 0
	}
	if older != nil {
		r.startOlder(v, older)
	}
	return 0
}

// count adds a sent frame to the metrics.
func (r *room) count(f frame) {
	switch mt := r.srv.metrics; {
	case mt == nil:
	case f.gap:
		mt.gaps.Inc()
	default:
		mt.linesOut.Add(float64(f.lines))
	}
}

// send queues data to v. It never blocks: melody's buffer is larger than
// MaxInflight plus the few control frames a pump may add.
func (r *room) send(v *viewer, data []byte) {
	if mt := r.srv.metrics; mt != nil {
		mt.framesOut.Inc()
		mt.bytesOut.Add(float64(len(data)))
	}
	v.inflight.Add(1)
	if err := v.out(data); err != nil {
		v.inflight.Add(-1)
	}
}

// holdBack reports whether v has frames in flight, so that new lines wait
// to be batched. It first notes that lines wait, so that sent wakes the room
// when the last frame is written: either this sees no frame in flight or
// sent sees the note.
func (v *viewer) holdBack() bool {
	v.held.Store(true)
	if v.inflight.Load() > 0 {
		return true
	}
	v.held.Store(false)
	return false
}

// sent is called by melody after a frame was written to v's connection.
// The room is woken when v was held back by flow control, and when v has
// nothing in flight any more and lines wait for it (they may go at once).
// A frame written while nothing waits wakes no one: at a moderate rate that
// is most frames, and each wake-up may cost a sleeping thread.
func (r *room) sent(v *viewer) {
	n := v.inflight.Add(-1)
	if n == int32(r.srv.opts.MaxInflight)-1 || (n == 0 && v.held.Swap(false)) {
		r.poke()
	}
}
