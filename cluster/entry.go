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
	ready  chan struct{} // closed when the Log holds what the stream held at start
	once   sync.Once

	holding atomic.Bool

	// guarded by c.mu
	refs      int
	idleSince time.Time

	mu   sync.Mutex
	src  tailer.State // the source's state, as the holder published it
	down bool         // NATS is unreachable
}

// NATSDown is the state viewers are shown while NATS is unreachable.
var NATSDown = tailer.State{Code: tailer.StateReconnecting, Msg: "NATS unreachable: no new lines until it is back (none will be lost)"}

// start makes the entry of a log and starts its goroutines. c.mu is held.
func (c *Catalog) start(id, host, path string) *entry {
	e := &entry{
		c: c, id: id, subj: c.cl.subjects + id, host: host, path: path,
		log:  tailer.NewLog(host, path, c.opts.Replay, c.opts.Buffer),
		wake: make(chan struct{}, 1), ready: make(chan struct{}),
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

func (e *entry) setReady() { e.once.Do(func() { close(e.ready) }) }

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
	}
}

// consume reads the log's subject into the Log until the entry ends. The
// ordered consumer is flow-controlled (it pulls a bounded number of bytes
// at a time) and starts over from the last message it delivered when NATS
// comes back.
func (e *entry) consume() {
	cl := e.c.cl
	var from uint64 // stream seq to start from (0: everything held)
	var target uint64
	known := false
	var lines []tailer.Line
	backoff := newBackoff()
	for e.ctx.Err() == nil {
		if !known {
			last, err := cl.lastMsg(e.ctx, e.subj)
			if err == nil {
				known = true
				if last != nil {
					target = last.Sequence
				}
			}
		}
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{e.subj}}
		if from > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
		}
		cons, err := cl.stream.OrderedConsumer(e.ctx, cfg)
		if err != nil {
			backoff.wait(e.ctx)
			continue
		}
		it, err := cons.Messages(jetstream.PullMaxBytes(4 << 20))
		if err != nil {
			backoff.wait(e.ctx)
			continue
		}
		stop := context.AfterFunc(e.ctx, it.Stop)
		for {
			msg, err := it.Next()
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
				continue
			}
			if t.state != nil {
				e.setSrc(*t.state)
			}
			e.log.Append(lines)
			clear(lines) // let the texts go with the ring
			if known && meta.Sequence.Stream >= target {
				e.setReady()
			}
		}
		stop()
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
		if h != nil {
			_ = cl.leases.Delete(ctx, e.id, jetstream.LastRevision(h.rev))
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
			case <-h.done: // the tail ended on its own: lost the lease, or failed
				if !errors.Is(h.err, errLost) {
					e.c.log.Warn("cluster: tail ended", "host", e.host, "path", e.path, "err", h.err)
					ctx, cancel := opCtx()
					_ = cl.leases.Delete(ctx, e.id, jetstream.LastRevision(h.rev))
					cancel()
				}
				h = e.dropHold(h)
			default:
				h.renew(e, now)
				if h.lost {
					h.stop()
					h = e.dropHold(h)
				}
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
				_ = cl.leases.Delete(ctx, e.id, jetstream.LastRevision(h.rev))
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
