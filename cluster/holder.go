package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logviewer/logviewer/tailer"
)

// errLost says another instance published to the log's subject, or took
// its lease: this one is no longer the holder.
var errLost = errors.New("lease lost")

// deployMark is marks.Kind: lines such as deploy marks that a Registry
// places among a log's first lines when it opens it (so a new holder may
// find ones that were published already).
const deployMark = "deploy"

// holder is this instance's hold on one log: the goroutine that follows
// the file and publishes it (hold), and the one that renews the lease
// (renew), each ending the other.
type holder struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when both have ended
	// set before done is closed
	err  error  // what hold returned
	rev  uint64 // the lease's last revision
	lost bool   // the lease was lost (another instance has it, or it expired)
}

// startHold runs the tail of e while this instance holds rev of its lease.
func (e *entry) startHold(rev uint64) *holder {
	ctx, cancel := context.WithCancel(e.ctx)
	h := &holder{cancel: cancel, done: make(chan struct{}), rev: rev}
	e.holding.Store(true)
	var wg sync.WaitGroup
	var err error
	lastRev, lost := rev, false
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer cancel() // no tail: no renewals
		err = e.hold(ctx)
	}()
	go func() {
		defer wg.Done()
		defer cancel() // no lease: no tail
		lastRev, lost = e.renew(ctx, rev)
	}()
	e.c.wg.Add(1)
	go func() {
		defer e.c.wg.Done()
		wg.Wait()
		h.err, h.rev, h.lost = err, lastRev, lost
		close(h.done)
		e.poke()
	}()
	return h
}

func (h *holder) stop() {
	h.cancel()
	<-h.done
}

// renew renews the lease every quarter TTL, on its own goroutine so that
// nothing else delays it, until ctx ends; lost is true when NATS says the
// lease is not this instance's any more (another has it, or it expired).
// A renewal that fails for want of an answer (NATS slow or unreachable)
// loses nothing yet: the tail goes on reading into the ring, and should
// another instance have taken over meanwhile, the next publish fails (the
// subject's last sequence is not the one expected) and ends the tail.
func (e *entry) renew(ctx context.Context, rev uint64) (last uint64, lost bool) {
	cl := e.c.cl
	ttl := cl.opts.LeaseTTL
	t := time.NewTicker(ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return rev, false
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, opTimeout)
		r, err := cl.leases.Update(rctx, e.id, []byte(cl.opts.Instance), rev)
		cancel()
		switch {
		case err == nil:
			rev = r
		case ctx.Err() != nil:
			return rev, false
		case isWrongLastSeq(err) || errors.Is(err, jetstream.ErrKeyNotFound):
			e.c.log.Info("cluster: lease lost", "host", e.host, "path", e.path, "err", err)
			return rev, true
		}
	}
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// lastMsg returns the last message of subject, or nil when it has none.
func (c *Cluster) lastMsg(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	m, err := c.stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	return m, err
}

func (c *Cluster) isUp() (bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up, c.crashed
}

// publisher numbers lines and publishes them as batches to one subject.
type publisher struct {
	e        *entry
	next     uint64          // seq of the next line
	pos      tailer.Position // of the last file line published
	hasPos   bool
	markTime int64  // newest deploy mark published
	lastSeq  uint64 // stream seq of the subject's last message (0: none)
	buf      []byte
	state    tailer.State // last state published
	sent     bool         // published anything yet
}

// hold follows e's file through the Registry and publishes its lines, from
// where the subject's last message says the last holder stopped, until ctx
// ends or another instance publishes (errLost).
func (e *entry) hold(ctx context.Context) error {
	c := e.c
	p := &publisher{e: e, next: 1}
	last, err := c.cl.lastMsg(ctx, e.subj)
	if err != nil {
		return fmt.Errorf("read the last batch: %w", err)
	}
	if last != nil {
		t, err := readHeader(last.Header)
		if err != nil {
			return fmt.Errorf("last batch (stream seq %d): %w", last.Sequence, err)
		}
		p.next, p.pos, p.hasPos, p.markTime, p.lastSeq = t.next, t.pos, t.hasPos, t.markTime, last.Sequence
	}
	rl, release, err := c.Registry.Open(ctx, e.host, e.path)
	if err != nil {
		return err
	}
	defer release()
	cursor, fill := p.start(ctx, rl)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.log.Info("cluster: following as the holder", "host", e.host, "path", e.path, "next_seq", p.next, "read_back", len(fill))
	// The first batches carry the lines read back from history, if any, and
	// what the ring holds now (a new log's last lines: its replay), so that
	// a viewer waiting for the first batch gets them as replay; the first
	// says the source's state.
	_, filterUntil := rl.Bounds()
	for cursor < filterUntil {
		lines, first := rl.Read(nil, cursor, int(filterUntil-cursor))
		if first > cursor {
			fill = append(fill, skipped(fmt.Sprintf("%d lines were read but could not be published in time", first-cursor)))
			cursor = first
		}
		for _, l := range lines {
			if !(l.Mark == deployMark && l.Time <= p.markTime) { // else published by an earlier holder
				fill = append(fill, l)
			}
		}
		cursor += uint64(len(lines))
		if len(lines) == 0 {
			break
		}
	}
	if err := p.publishAll(ctx, fill, rl.Status()); err != nil {
		return err
	}
	fill = nil
	buf := make([]tailer.Line, 0, 1024)
	for {
		changed := rl.Changed()
		lines, first := rl.Read(buf[:0], cursor, 4096)
		var batch []tailer.Line
		if first > cursor {
			// The Registry's ring moved past lines not yet published (the
			// publisher fell that far behind): say so, never silence.
			batch = append(batch, skipped(fmt.Sprintf("%d lines were read but could not be published in time", first-cursor)))
			cursor = first
		}
		size, used := 0, 0
		for i := range lines {
			l := &lines[i]
			if used > 0 && size+len(l.Text)+lineOverhead > maxBatchBytes {
				break
			}
			used++
			size += len(l.Text) + lineOverhead
			batch = append(batch, c.cl.fit(*l))
		}
		cursor += uint64(used)
		st := rl.Status()
		if len(batch) == 0 && st == p.state {
			clear(buf[:cap(buf)])
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-changed:
			}
			continue
		}
		if err := p.publish(ctx, batch, st); err != nil {
			return err
		}
		clear(lines)
	}
}

// fit cuts a line that would not fit in one NATS message (max_line_bytes
// may be up to 16 MiB, NATS's max_payload is 1 MiB by default), saying so
// as the sources do.
func (c *Cluster) fit(l tailer.Line) tailer.Line {
	limit := c.maxPayload - 4096 // headers and the line's other fields
	if limit <= 0 || len(l.Text) <= limit {
		return l
	}
	cut := limit - 64
	for cut > 0 && !utf8.RuneStart(l.Text[cut]) {
		cut--
	}
	l.Text = fmt.Sprintf("%s … [%d more bytes cut: NATS max_payload]", l.Text[:cut], len(l.Text)-cut)
	return l
}

// skipped is a marker line that says lines are missing, and why.
func skipped(why string) tailer.Line {
	return tailer.Line{Time: time.Now().UnixMilli(), Offset: -1, Mark: tailer.MarkSkipped, Text: why}
}

// start finds where publishing continues in rl: just after the last line
// published (position p.pos), or at the start of the ring for a log never
// published. When that line is older than the ring (the tail was down
// while the file grew, or it was rotated), the lines between are read back
// from the file's history and returned, to be published first.
func (p *publisher) start(ctx context.Context, rl *tailer.Log) (cursor uint64, fill []tailer.Line) {
	waitFirstLines(ctx, rl)
	first, _ := rl.Bounds()
	if !p.hasPos {
		return first, nil
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	seq, ok := rl.Seek(sctx, p.pos)
	cancel()
	if ok || ctx.Err() != nil {
		return seq, nil
	}
	first, fp, text, ok := firstPositioned(rl)
	if !ok {
		return first, nil
	}
	return first, p.readBack(ctx, fp, text)
}

// readBackLimit bounds the history a new holder reads back to find where
// the last one stopped.
const readBackLimit = 64 << 20

func (p *publisher) readBack(ctx context.Context, before tailer.Position, text string) []tailer.Line {
	e := p.e
	hist, err := e.c.Registry.History(ctx, e.host, e.path)
	if err != nil {
		return []tailer.Line{skipped("lines written while no instance followed this log could not be read back: " + err.Error())}
	}
	defer hist.Close()
	var pages [][]tailer.Line
	var scanned int64
	for scanned < readBackLimit {
		page, err := hist.Older(ctx, tailer.OlderRequest{Before: before, BeforeText: text, N: 2000})
		if err != nil {
			break
		}
		scanned += page.Scanned
		for i := len(page.Lines) - 1; i >= 0; i-- {
			if pos, ok := page.Lines[i].Pos(); ok && pos == p.pos {
				pages = append(pages, page.Lines[i+1:])
				var out []tailer.Line
				now := time.Now().UnixMilli()
				for j := len(pages) - 1; j >= 0; j-- {
					for _, l := range pages[j] {
						l.Time = now // receipt time: now
						out = append(out, l)
					}
				}
				return out
			}
		}
		pages = append(pages, page.Lines)
		if !page.More {
			break
		}
		before, text = page.Next, ""
	}
	// Where the last holder stopped was not found: publishing what was
	// read could repeat lines, so say that some may be missing instead.
	return []tailer.Line{skipped("lines written while no instance followed this log may be missing (the last one published was not found in the file's history)")}
}

// waitFirstLines waits (briefly) for a freshly opened Registry log to read
// the file's last lines, so a new holder looks for its start among them.
func waitFirstLines(ctx context.Context, rl *tailer.Log) {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	for {
		changed := rl.Changed()
		first, next := rl.Bounds()
		switch rl.Status().Code {
		case tailer.StateWaiting, tailer.StateError, tailer.StateStopped:
			return
		case tailer.StateFollowing:
			// An empty file gives no lines: give up waiting soon.
			quiet.Reset(100 * time.Millisecond)
		}
		if next > first {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-quiet.C:
			return
		case <-changed:
		}
	}
}

// firstPositioned returns the first seq held by rl and the position and
// text of its first file line.
func firstPositioned(rl *tailer.Log) (first uint64, pos tailer.Position, text string, ok bool) {
	var buf []tailer.Line
	from := uint64(0)
	for {
		lines, f := rl.Read(buf[:0], from, 256)
		if from == 0 {
			first = f
			from = f
		}
		if len(lines) == 0 {
			return first, pos, "", false
		}
		for _, l := range lines {
			if p, ok := l.Pos(); ok {
				return first, p, l.Text, true
			}
		}
		from = lines[len(lines)-1].Seq + 1
		buf = lines
	}
}

// publishAll publishes lines in batches of at most maxBatchBytes; the
// first batch is sent even when lines is empty, with state.
func (p *publisher) publishAll(ctx context.Context, lines []tailer.Line, state tailer.State) error {
	for {
		n, size := 0, 0
		for n < len(lines) && (n == 0 || size+len(lines[n].Text)+lineOverhead <= maxBatchBytes) {
			lines[n] = p.e.c.cl.fit(lines[n])
			size += len(lines[n].Text) + lineOverhead
			n++
		}
		if err := p.publish(ctx, lines[:n], state); err != nil {
			return err
		}
		lines = lines[n:]
		if len(lines) == 0 {
			return nil
		}
	}
}

// publish sends one batch, retrying until it is stored, ctx ends, or
// another instance has published to the subject (errLost). The expected
// last subject sequence makes two holders (a paused one whose lease
// expired, and its successor) unable to interleave; Nats-Msg-Id makes a
// retry of a batch that was stored, but whose ack was lost, a no-op.
func (p *publisher) publish(ctx context.Context, lines []tailer.Line, state tailer.State) error {
	e, cl := p.e, p.e.c.cl
	n := uint64(len(lines))
	for i := range lines {
		l := &lines[i]
		if pos, ok := l.Pos(); ok {
			p.pos, p.hasPos = pos, true
		}
		if l.Mark == deployMark {
			p.markTime = max(p.markTime, l.Time)
		}
	}
	hdr := nats.Header{}
	hdr.Set(hdrSeq, strconv.FormatUint(p.next, 10))
	hdr.Set(hdrNext, strconv.FormatUint(p.next+n, 10))
	if p.hasPos {
		hdr.Set(hdrPos, p.pos.String())
	}
	if p.markTime != 0 {
		hdr.Set(hdrMark, strconv.FormatInt(p.markTime, 10))
	}
	if !p.sent || state != p.state {
		hdr.Set(hdrState, state.Code)
		if state.Msg != "" {
			hdr.Set(hdrMsg, state.Msg)
		}
	}
	hdr.Set(hdrHolder, cl.opts.Instance)
	var id string
	if n > 0 && p.hasPos {
		id = fmt.Sprintf("%s:%d:%d:%d", e.id, p.next, p.pos.File, p.pos.Offset)
	} else {
		id = fmt.Sprintf("%s:%d:%s:%d", e.id, p.next, cl.opts.Instance, time.Now().UnixNano())
	}
	p.buf = appendLines(p.buf[:0], lines)
	msg := &nats.Msg{Subject: e.subj, Header: hdr, Data: p.buf}
	b := newBackoff()
	for {
		pctx, cancel := context.WithTimeout(ctx, opTimeout)
		ack, err := cl.js.PublishMsg(pctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectLastSequencePerSubject(p.lastSeq))
		cancel()
		if err == nil {
			p.lastSeq = ack.Sequence
			break
		}
		if isWrongLastSeq(err) {
			// Stored by an earlier attempt whose ack was lost? Then it is
			// the subject's last message.
			last, lerr := cl.lastMsg(ctx, e.subj)
			if lerr == nil && last != nil && last.Header.Get(jetstream.MsgIDHeader) == id {
				p.lastSeq = last.Sequence
				break
			}
			if lerr == nil {
				return errLost
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.wait(ctx)
	}
	p.next += n
	p.state, p.sent = state, true
	e.c.batches.Add(1)
	e.c.published.Add(n)
	return nil
}
