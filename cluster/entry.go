package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logviewer/logviewer/tailer"
)

// entry is one log open on this instance: its local Log, the goroutine
// that reads the log's subject into it (consume), and the one that keeps
// this instance's presence and, when it can, the log's lease (manage),
// running the tail (hold) while it has it.
type entry struct {
	c                    *Catalog
	id, subj, host, path string
	log                  *tailer.Log

	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: a viewer came or left

	holding atomic.Bool

	// guarded by c.mu
	refs      int
	idleSince time.Time

	mu        sync.Mutex
	src       tailer.State       // the source's state, as the holder published it
	down      bool               // NATS is unreachable
	delivered uint64             // stream seq of the last message in the Log
	progress  chan struct{}      // closed and replaced when delivered grows
	restart   context.CancelFunc // makes consume start a new consumer (nil: none yet)
}

// NATSDown is the state viewers are shown while NATS is unreachable.
var NATSDown = tailer.State{Code: tailer.StateReconnecting, Msg: "NATS unreachable: no new lines until it is back (none will be lost)"}

// start makes the entry of a log and starts its goroutines. c.mu is held.
func (c *Catalog) start(id, host, path string) *entry {
	e := &entry{
		c: c, id: id, subj: c.cl.subjects + id, host: host, path: path,
		log:  tailer.NewLog(host, path, c.opts.Replay, c.opts.Buffer),
		wake: make(chan struct{}, 1), progress: make(chan struct{}),
		src: tailer.State{Code: tailer.StateStarting},
	}
	e.log.ID = id
	e.ctx, e.cancel = context.WithCancel(c.ctx)
	up, _ := c.cl.isUp()
	if !up {
		e.setDown(true)
	}
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		e.consume()
	}()
	go func() {
		defer c.wg.Done()
		defer e.cancel() // the consumer ends with the manager
		e.manage()
	}()
	return e
}

func (e *entry) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// advance records that the Log holds the stream's messages through seq.
func (e *entry) advance(seq uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if seq > e.delivered {
		e.delivered = seq
		close(e.progress)
		e.progress = make(chan struct{})
	}
}

// catchUp waits, at most wait, until the Log holds every message the log's
// subject held when it was called (or, for a log never published, its
// first one): a browser resuming at a seq another instance showed it then
// finds it here.
func (e *entry) catchUp(ctx context.Context, wait time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var last *jetstream.RawStreamMsg
	for b := newBackoff(); ; b.wait(ctx) {
		var err error
		if last, err = e.c.cl.lastMsg(ctx, e.subj); err == nil {
			break
		}
		if ctx.Err() != nil || !e.c.cl.nc.IsConnected() {
			return // NATS is unreachable: the viewer is told so
		}
		// No answer in time (a busy server): ask again, within wait.
	}
	target := uint64(1)
	if last != nil {
		target = last.Sequence
	}
	for {
		e.mu.Lock()
		done, progress := e.delivered >= target, e.progress
		e.mu.Unlock()
		if done {
			return
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return
		}
	}
}

// setSrc records the source's state from the stream.
func (e *entry) setSrc(s tailer.State) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.src = s
	if !e.down {
		e.log.State(s)
	}
}

// setDown records whether NATS is unreachable.
func (e *entry) setDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
	if down {
		e.log.State(NATSDown)
	} else {
		e.log.State(e.src)
		if e.restart != nil {
			e.restart()
		}
	}
}

// consume reads the log's subject into the Log until the entry ends. The
// ordered consumer is flow-controlled (it pulls a bounded number of bytes
// at a time) and starts over from the last message it delivered when NATS
// comes back.
func (e *entry) consume() {
	cl := e.c.cl
	var from uint64 // stream seq to start from (0: everything held)
	var lines []tailer.Line
	backoff := newBackoff()
	for e.ctx.Err() == nil {
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{e.subj}}
		if from > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
		}
		cons, err := cl.stream.OrderedConsumer(e.ctx, cfg)
		if err != nil {
			backoff.wait(e.ctx)
			continue
		}
		// A heartbeat every second: a consumer lost with a NATS node is
		// noticed (two missed) and made again within seconds, not the
		// default's ten.
		it, err := cons.Messages(jetstream.PullMaxBytes(4<<20), jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
		if err != nil {
			backoff.wait(e.ctx)
			continue
		}
		// Next returns when the entry ends, or (restart) when the connection
		// came back: the consumer may have been on a node that is gone.
		// (Its context, not a Stop from another goroutine: a Stop while
		// the ordered consumer resets after a reconnect can leave Next
		// waiting on the new subscription for good.)
		ictx, restart := context.WithCancel(e.ctx)
		e.mu.Lock()
		e.restart = restart
		e.mu.Unlock()
		for {
			msg, err := it.Next(jetstream.NextContext(ictx))
			if err != nil {
				break
			}
			backoff.reset()
			meta, err := msg.Metadata()
			if err != nil {
				continue
			}
			from = meta.Sequence.Stream + 1
			t, err := readHeader(msg.Headers())
			if err == nil {
				lines, err = decodeLines(lines[:0], msg.Data(), t.seq, int(t.next-t.seq))
			}
			if err != nil {
				e.c.log.Warn("cluster: bad batch skipped", "subject", e.subj, "seq", meta.Sequence.Stream, "err", err)
				e.advance(meta.Sequence.Stream)
				continue
			}
			if t.state != nil {
				e.setSrc(*t.state)
			}
			e.log.Append(lines)
			clear(lines) // let the texts go with the ring
			e.advance(meta.Sequence.Stream)
		}
		restart()
		it.Stop()
		backoff.wait(e.ctx)
	}
}

// manage keeps this instance's presence (while it has viewers) and the
// log's lease (while it holds it), takes the lease when it is free and
// this instance has viewers, and ends the entry when no one watches.
func (e *entry) manage() {
	c, cl := e.c, e.c.cl
	ttl := cl.opts.LeaseTTL
	tick := time.NewTicker(ttl / 4)
	defer tick.Stop()
	presenceKey := e.id + "." + cl.opts.Instance
	var h *holder
	var putAt time.Time // when the presence key was last put (zero: not put)
	var nobody time.Time
	opCtx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(e.ctx, opTimeout) }
	defer func() {
		// The Catalog is closing (or the entry is idle): give back the
		// lease and the presence key, unless the connection is gone.
		if h != nil {
			h.stop()
		}
		if cl.isCrashed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if h != nil && !h.lost {
			e.giveBack(ctx, h.rev)
		}
		if !putAt.IsZero() {
			_ = cl.viewers.Delete(ctx, presenceKey)
		}
	}()
	for {
		now := time.Now()
		refs, idleSince := c.viewersHere(e)
		switch {
		case refs > 0 && now.Sub(putAt) >= ttl:
			ctx, cancel := opCtx()
			if _, err := cl.viewers.Put(ctx, presenceKey, []byte(cl.opts.Instance)); err == nil {
				putAt = now
			}
			cancel()
		case refs == 0 && !putAt.IsZero():
			ctx, cancel := opCtx()
			if err := cl.viewers.Delete(ctx, presenceKey); err == nil {
				putAt = time.Time{}
			}
			cancel()
		}
		if h != nil {
			select {
			case <-h.done: // the tail ended on its own (lost the lease, or failed)
				if !h.lost && !errors.Is(h.err, errLost) {
					e.c.log.Warn("cluster: tail ended", "host", e.host, "path", e.path, "err", h.err)
				}
				if !h.lost {
					ctx, cancel := opCtx()
					e.giveBack(ctx, h.rev)
					cancel()
				}
				h = e.dropHold(h)
			default:
			}
		}
		if h != nil && refs == 0 {
			// Stop the tail IdleStop after the last viewer in the cluster left.
			others, err := c.anyViewers(e.ctx, e.id)
			switch {
			case err != nil || others:
				nobody = time.Time{}
			case nobody.IsZero():
				nobody = now
			case now.Sub(nobody) >= c.opts.IdleStop && now.Sub(idleSince) >= c.opts.IdleStop:
				h.stop()
				ctx, cancel := opCtx()
				e.giveBack(ctx, h.rev)
				cancel()
				h = e.dropHold(h)
			}
		} else {
			nobody = time.Time{}
		}
		if h == nil && refs > 0 {
			ctx, cancel := opCtx()
			rev, err := cl.leases.Create(ctx, e.id, []byte(cl.opts.Instance))
			cancel()
			if err == nil {
				h = e.startHold(rev)
			}
		}
		if h == nil && refs == 0 && now.Sub(idleSince) >= c.opts.IdleStop && c.remove(e) {
			return
		}
		select {
		case <-e.ctx.Done():
			return
		case <-tick.C:
		case <-e.wake:
		}
	}
}

// giveBack deletes the lease if this instance still holds it (rev, or a
// later revision that a renewal cancelled in flight stored anyway).
func (e *entry) giveBack(ctx context.Context, rev uint64) {
	cl := e.c.cl
	err := cl.leases.Delete(ctx, e.id, jetstream.LastRevision(rev))
	if err == nil || !isWrongLastSeq(err) {
		return
	}
	if kv, err := cl.leases.Get(ctx, e.id); err == nil && string(kv.Value()) == cl.opts.Instance {
		_ = cl.leases.Delete(ctx, e.id, jetstream.LastRevision(kv.Revision()))
	}
}

func (e *entry) dropHold(*holder) *holder {
	e.holding.Store(false)
	return nil
}

// backoff waits longer after each failure, up to a second.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 50 * time.Millisecond} }

func (b *backoff) reset() { b.d = 50 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) {
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	b.d = min(2*b.d, time.Second)
}
