package web

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/olahol/melody"

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
// cursor, filter, sentState and the replay fields belong to the room's
// goroutine. inflight is shared with melody's write pump; inbox with the
// session's read pump.
type viewer struct {
	session *melody.Session
	log     *tailer.Log
	room    *room
	release func() // releases the Log; called once on disconnect

	inflight atomic.Int32

	cursor    uint64       // seq of the next line to consider
	replayEnd uint64       // lines before this seq are replay
	filter    *filter      // nil: all lines
	sentState tailer.State // last state told to this viewer
	hello     *helloMsg    // not yet sent

	mu    sync.Mutex
	inbox []control
}

// control is a request from the browser, applied by the room's goroutine.
type control struct {
	filter    *filter
	setFilter bool
	since     *uint64
	err       *errorMsg
}

func (v *viewer) post(c control) {
	v.mu.Lock()
	v.inbox = append(v.inbox, c)
	v.mu.Unlock()
	v.room.poke()
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
	stop chan struct{}

	mu      sync.Mutex
	viewers []*viewer

	lastFlush time.Time
	flushed   uint64 // seq through which a flush happened
	scratch   []tailer.Line
	kept      []tailer.Line
}

func newRoom(srv *Server, log *tailer.Log) *room {
	return &room{srv: srv, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

func (r *room) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
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

func (r *room) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var viewers []*viewer
	for {
		changed := r.log.Changed()
		r.mu.Lock()
		viewers = append(viewers[:0], r.viewers...)
		r.mu.Unlock()
		if wait := r.pump(viewers, time.Now()); wait > 0 {
			// A flush is due in wait: more lines until then change nothing,
			// so do not wake for them.
			timer.Reset(wait)
			changed = nil
		}
		select {
		case <-r.stop:
			return
		case <-changed:
		case <-r.wake:
		case <-timer.C:
		}
	}
}

// pump sends what it can and returns how long to wait before lines that are
// held back for batching are due (0: nothing held back).
func (r *room) pump(viewers []*viewer, now time.Time) time.Duration {
	o := &r.srv.opts
	first, next := r.log.Bounds()
	state := r.log.Status()
	// Batch: send new lines at once when the last flush is long enough ago or
	// enough lines are waiting; otherwise let them gather.
	flush := now.Sub(r.lastFlush) >= o.FlushInterval || next-r.flushed >= uint64(o.MaxBatch)
	var cache map[frameKey]frame
	held := false
	for _, v := range viewers {
		if r.canSend(v) {
			r.apply(v, v.takeInbox(), next)
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
		for v.cursor < next && r.canSend(v) {
			if !flush && v.cursor >= v.replayEnd {
				held = true
				break
			}
			if cache == nil {
				cache = map[frameKey]frame{}
			}
			k := frameKey{v.cursor, v.filter.cacheKey(), v.cursor < v.replayEnd}
			f, ok := cache[k]
			if !ok {
				f = r.frame(v, next)
				cache[k] = f
			}
			if f.data != nil {
				r.send(v, f.data)
			}
			v.cursor = f.next
		}
	}
	if flush {
		r.lastFlush, r.flushed = now, next
	}
	if held {
		return max(o.FlushInterval-now.Sub(r.lastFlush), time.Millisecond)
	}
	return 0
}

// canSend reports whether v may be sent another frame now.
func (r *room) canSend(v *viewer) bool {
	return v.inflight.Load() < int32(r.srv.opts.MaxInflight)
}

type frameKey struct {
	cursor uint64
	filter string
	replay bool
}

type frame struct {
	data []byte // a lines or gap frame; nil when no line passed the filter
	next uint64 // cursor after this frame
}

// frame encodes the lines from v's cursor that pass its filter, up to the
// batch limits and not past the end of the replay (so replay frames are
// marked as such).
func (r *room) frame(v *viewer, next uint64) frame {
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
		return frame{data: encode(gapMsg{Type: "gap", From: v.cursor, To: first - 1}), next: first}
	}
	if len(lines) == 0 {
		return frame{next: limit}
	}
	kept := r.kept[:0]
	size := 0
	end := lines[0].Seq
	for i := range lines {
		l := &lines[i]
		if size > 0 && size+len(l.Text) > o.MaxFrameBytes {
			break
		}
		end = l.Seq + 1
		if v.filter.keep(l) {
			kept = append(kept, *l)
			size += len(l.Text) + 48
		}
	}
	r.kept = kept
	clear(r.scratch)
	if len(kept) == 0 {
		return frame{next: end}
	}
	data := appendLines(make([]byte, 0, size+64), kept, replay)
	clear(kept)
	return frame{data: data, next: end}
}

// apply handles the browser's requests since the last pump: only the last
// filter and resume count, and errors are answered in one frame.
func (r *room) apply(v *viewer, cs []control, next uint64) {
	var reset bool
	var since *uint64
	var errs []*errorMsg
	for _, c := range cs {
		switch {
		case c.setFilter:
			v.filter, reset, since = c.filter, true, nil
		case c.since != nil:
			since = c.since
		case c.err != nil:
			errs = append(errs, c.err)
		}
	}
	if len(errs) > 0 {
		r.send(v, encode(errs[len(errs)-1]))
	}
	if reset {
		// Show the new filter's view of what the ring holds: the last
		// `replay` matching lines, then live lines.
		r.send(v, encode(resetMsg{Type: "reset", Reason: "filter"}))
		v.cursor = r.log.StartFor(r.srv.opts.Replay, v.filter.keepFunc())
		v.replayEnd = next
	}
	if since != nil {
		// A seq beyond the newest line would silently skip lines to come.
		v.cursor = min(*since+1, next)
		v.replayEnd = 0
	}
}

func (f *filter) keepFunc() func(*tailer.Line) bool {
	if f == nil {
		return nil
	}
	return f.keep
}

// send queues data to v. It never blocks: melody's buffer is larger than
// MaxInflight plus the few control frames a pump may add.
func (r *room) send(v *viewer, data []byte) {
	v.inflight.Add(1)
	if err := v.session.Write(data); err != nil {
		v.inflight.Add(-1)
	}
}

// sent is called by melody after a frame was written to v's connection.
func (r *room) sent(v *viewer) {
	if v.inflight.Add(-1) == int32(r.srv.opts.MaxInflight)-1 {
		r.poke() // v was held back by flow control
	}
}
