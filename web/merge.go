package web

import (
	"cmp"
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/olahol/melody"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/filter"
	"github.com/logviewer/logviewer/logtime"
	"github.com/logviewer/logviewer/tailer"
)

// Merged views: one file across several hosts (a group, or repeated host=
// parameters) in one stream. Each member host's log is the same Log that
// single views use (one tail per (host, file) whoever watches); a merged
// view reads them with a cursor per member and merges them in its own
// goroutine:
//
//   - every line carries its host; within a host, order is kept;
//   - across hosts, lines are ordered by a key: the line's own time when it
//     has one (logtime), else its receipt time, never less than the key of
//     the member's previous line (so a host's order is kept even when its
//     clock jumps back);
//   - the line with the smallest key is sent when every other live member
//     has a line waiting too (then nothing earlier can still come from it),
//     or when it has waited ReorderWindow since it was read: a silent, slow
//     or unreachable host never holds the others back for longer than that.
//
// Resume is by a vector: since=HOST:SEQ,HOST:SEQ with log=HOST:ID,… naming
// the members' logs (seqs are comparable only within one log).

// Defaults of merged views.
const (
	defaultReorderWindow = 250 * time.Millisecond
	// maxHeld and maxHeldBytes bound the lines a merged view reads ahead
	// of what it sent, per member; a member that is that far ahead is not
	// read until the others catch up (its ring keeps the lines, or the
	// viewer gets a gap).
	maxHeld      = 8192
	maxHeldBytes = 1 << 20
	// openRetry is how long a member that could not be opened waits
	// before the next try.
	openRetry = 5 * time.Second
	// replayWait bounds how long a new merged view waits for its members
	// to open and read their first lines before it sends the replay (an
	// empty file or a slow host makes it wait that long).
	replayWait = time.Second
)

// ready reports whether m has been opened and has read its first lines (or
// will not: it failed, its file does not exist).
func (m *member) ready() bool {
	switch {
	case m.gone || (m.err != nil && !m.opening):
		return true
	case m.log == nil:
		return false
	}
	first, next := m.log.Bounds()
	code := m.log.Status().Code
	return next > first || code == tailer.StateWaiting || code == tailer.StateError || code == tailer.StateStopped
}

// mergeView is one browser's merged view.
type mergeView struct {
	srv     *Server
	session *melody.Session
	out     func([]byte) error
	id      *auth.Identity
	client  string
	group   string
	file    string
	query   url.Values

	inflight atomic.Int32
	wake     chan struct{} // cap 1
	stop     chan struct{}
	done     chan struct{}
	wg       sync.WaitGroup // member watchers and opens
	endOnce  sync.Once
	unwatch  func() // stops watching the identity's expiry and logout

	mu      sync.Mutex
	inbox   []control
	opened  []openResult
	dropped int

	// The rest belongs to run's goroutine.
	filter    *filter.Filter
	filterAt  time.Time
	pending   *control
	members   []*member
	replaying bool // the first replay (or one after a filter change) is due
	hello     bool // hello sent
	since     map[string]uint64
	logIDs    map[string]string
	scratch   []tailer.Line
	batch     []mergedLine
	startedAt time.Time
	marksSent []string // recent marks sent: a mark posted for a group is in every member's log, shown once

	hist mergeHistory // older requests (mergehistory.go)
}

// maxMarksRemembered bounds marksSent.
const maxMarksRemembered = 64

// dupMark reports whether l is a mark already sent from another member (and
// remembers it otherwise).
func (mv *mergeView) dupMark(l *tailer.Line) bool {
	if l.Mark == "" {
		return false
	}
	k := l.Mark + "\x00" + strconv.FormatInt(l.Time, 10) + "\x00" + l.Text
	if slices.Contains(mv.marksSent, k) {
		return true
	}
	if len(mv.marksSent) == maxMarksRemembered {
		mv.marksSent = mv.marksSent[1:]
	}
	mv.marksSent = append(mv.marksSent, k)
	return false
}

type member struct {
	host      string
	log       *tailer.Log
	release   func()
	stopWatch chan struct{}
	opening   bool
	gone      bool // the file is not on this host (or it may not be seen)
	err       error
	retryAt   time.Time
	cursor    uint64
	sentState tailer.State
	sentLog   string // log id told to the browser
	held      []mergedLine
	heldBytes int // text bytes (plus 64 a line) in held
	lastKey   int64
}

type mergedLine struct {
	tailer.Line
	host string
	key  int64
}

type openResult struct {
	m       *member
	log     *tailer.Log
	release func()
	err     error
}

// stopped reports whether the view is ending.
func (mv *mergeView) stopped() bool {
	select {
	case <-mv.stop:
		return true
	default:
		return false
	}
}

// end stops the view's goroutine (once; Server.Close and disconnect may
// both call it).
func (mv *mergeView) end() {
	mv.endOnce.Do(func() { close(mv.stop) })
}

func (mv *mergeView) poke() {
	select {
	case mv.wake <- struct{}{}:
	default:
	}
}

func (mv *mergeView) post(c control) bool {
	mv.mu.Lock()
	full := len(mv.inbox) >= maxInbox
	if !full {
		mv.inbox = append(mv.inbox, c)
	}
	mv.mu.Unlock()
	mv.poke()
	return !full
}

func (mv *mergeView) canSend() bool {
	return mv.inflight.Load() < int32(mv.srv.opts.MaxInflight)
}

func (mv *mergeView) send(data []byte) {
	if mt := mv.srv.metrics; mt != nil {
		mt.framesOut.Inc()
		mt.bytesOut.Add(float64(len(data)))
	}
	mv.inflight.Add(1)
	if err := mv.out(data); err != nil {
		mv.inflight.Add(-1)
	}
}

func (mv *mergeView) sent() {
	if mv.inflight.Add(-1) == int32(mv.srv.opts.MaxInflight)-1 {
		mv.poke()
	}
}

// parseVector reads "a:1,b:2" into a map; entries that do not parse are
// left out.
func parseVector(s string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(part, ":")
		if ok && k != "" {
			out[k] = v
		}
	}
	return out
}

// startMerge runs a merged view on ms until it ends.
func (s *Server) startMerge(mv *mergeView) {
	mv.wake = make(chan struct{}, 1)
	mv.stop = make(chan struct{})
	mv.done = make(chan struct{})
	mv.since = map[string]uint64{}
	for h, v := range parseVector(mv.query.Get("since")) {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			mv.since[h] = n
		}
	}
	mv.logIDs = parseVector(mv.query.Get("log"))
	mv.replaying = true
	mv.startedAt = time.Now()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(mv.done)
		mv.run()
	}()
}

func (mv *mergeView) window() time.Duration {
	if w := mv.srv.opts.ReorderWindow; w > 0 {
		return w
	}
	return defaultReorderWindow
}

func (mv *mergeView) run() {
	defer mv.closeMembers()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if wait := mv.step(time.Now()); wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-mv.stop:
			return
		case <-mv.wake:
		case <-timer.C:
		}
	}
}

// closeMembers releases every member's log and waits for the watchers and
// any open still running (whose result is then released too).
func (mv *mergeView) closeMembers() {
	mv.hist.stop()
	for _, m := range mv.members {
		if m.stopWatch != nil {
			close(m.stopWatch)
		}
	}
	mv.wg.Wait()
	mv.mu.Lock()
	opened := mv.opened
	mv.opened = nil
	mv.mu.Unlock()
	for _, o := range opened {
		if o.err == nil {
			o.release()
		}
	}
	for _, m := range mv.members {
		if m.release != nil {
			m.release()
		}
	}
}

// open starts opening m's log in the background.
func (mv *mergeView) open(m *member) {
	m.opening = true
	mv.wg.Add(1)
	go func() {
		defer mv.wg.Done()
		ctx, cancel := context.WithTimeout(auth.NewContext(context.Background(), mv.id), 15*time.Second)
		defer cancel()
		go func() { // a view that ends meanwhile need not wait for the dial
			select {
			case <-mv.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		l, release, err := mv.srv.cat.Open(ctx, m.host, mv.file)
		mv.mu.Lock()
		mv.opened = append(mv.opened, openResult{m, l, release, err})
		mv.mu.Unlock()
		mv.poke()
	}()
}

// watch pokes mv whenever m's log changes after this call, until
// m.stopWatch closes. The channel of the next change is taken before each
// poke: a change that comes while mv reads after a poke closes it, so it
// pokes again (taken after the poke, such a change would be missed and the
// view would wait for the next one).
func (mv *mergeView) watch(m *member) {
	m.stopWatch = make(chan struct{})
	l, stop := m.log, m.stopWatch
	changed := l.Changed()
	mv.wg.Add(1)
	go func() {
		defer mv.wg.Done()
		for {
			select {
			case <-changed:
				changed = l.Changed()
				mv.poke()
			case <-stop:
				return
			}
		}
	}()
}

// step does what can be done now and returns how long until something is
// due (0: nothing until woken).
func (mv *mergeView) step(now time.Time) time.Duration {
	mv.mu.Lock()
	inbox, opened := mv.inbox, mv.opened
	mv.inbox, mv.opened = nil, nil
	mv.mu.Unlock()
	var due time.Duration
	if mv.canSend() {
		due = minPositive(due, mv.apply(inbox, now))
	} else if len(inbox) > 0 {
		// Keep the messages for when the browser takes frames again (the
		// inbox is bounded by post).
		mv.mu.Lock()
		mv.inbox = append(inbox, mv.inbox...)
		mv.mu.Unlock()
	}
	for _, o := range opened {
		mv.opened1(o, now)
	}
	for _, m := range mv.members {
		if m.log == nil && !m.opening && !m.gone && !now.Before(m.retryAt) {
			mv.open(m)
		}
		if m.log == nil && !m.opening && !m.gone {
			due = minPositive(due, m.retryAt.Sub(now))
		}
	}
	if mv.replaying {
		// Wait (a little) for every member's first open and first lines,
		// so that the replay is of the merged stream.
		waiting := slices.ContainsFunc(mv.members, func(m *member) bool { return !m.ready() })
		if waiting && now.Sub(mv.startedAt) < replayWait {
			return minPositive(due, replayWait-now.Sub(mv.startedAt))
		}
		if !mv.canSend() {
			return due
		}
		mv.replay()
		mv.replayed() // an older request that came meanwhile (mergehistory.go)
	}
	mv.states()
	mv.read()
	return minPositive(due, mv.emit(now))
}

func (mv *mergeView) opened1(o openResult, now time.Time) {
	m := o.m
	m.opening = false
	if o.err != nil {
		m.err, m.retryAt = o.err, now.Add(openRetry)
		if errors.Is(o.err, tailer.ErrNotListed) || errors.Is(o.err, tailer.ErrUnknownHost) {
			m.gone = true
		}
		return
	}
	m.log, m.release, m.err = o.log, o.release, nil
	first, next := m.log.Bounds()
	m.cursor = next // until the replay (or a resume) says otherwise
	if since, ok := mv.since[m.host]; ok && mv.logIDs[m.host] == m.log.ID {
		m.cursor = max(first, next)
		if since < next-1 {
			m.cursor = since + 1
		}
	}
	mv.watch(m)
	mv.srv.audit2(mv.id, mv.client, "open", "host", m.host, "file", mv.file, "group", mv.group)
}

// apply handles the browser's messages (as the room does for single views).
func (mv *mergeView) apply(cs []control, now time.Time) time.Duration {
	var errs []*errorMsg
	for _, c := range cs {
		switch {
		case c.setFilter:
			mv.pending = &c
		case c.since != nil:
			errs = append(errs, &errorMsg{Type: "error", Code: "bad_message", Msg: "a merged view resumes by reconnecting with since=HOST:SEQ,…"})
		case c.older != nil:
			mv.startOlder(c.older)
		case c.err != nil:
			errs = append(errs, c.err)
		}
	}
	if len(errs) > 0 {
		mv.send(encode(errs[len(errs)-1]))
	}
	if mv.pending != nil {
		if wait := filterEvery - now.Sub(mv.filterAt); wait > 0 {
			return wait
		}
		mv.filter, mv.pending, mv.filterAt = mv.pending.filter, nil, now
		mv.hist.cancelScan() // no older frame of the old filter after the reset
		mv.hist.first = nil
		mv.send(encode(resetMsg{Type: "reset", Reason: "filter"}))
		for _, m := range mv.members {
			m.held, m.heldBytes = m.held[:0], 0
		}
		mv.replaying = true
	}
	return 0
}

// mergeHello is the first frame of a merged view.
type mergeHello struct {
	Type    string            `json:"type"` // "hello"
	V       int               `json:"v"`
	Merged  bool              `json:"merged"`
	Group   string            `json:"group,omitempty"`
	Hosts   []string          `json:"hosts"`
	File    string            `json:"file"`
	Logs    map[string]string `json:"logs"` // host → log id, for resuming
	Replay  int               `json:"replay_lines"`
	Resumed bool              `json:"resumed"`
}

// replay sends hello and the last Replay lines of the merged stream (or,
// when every member resumes, nothing: they continue from their cursors).
func (mv *mergeView) replay() {
	mv.replaying = false
	resumed := !mv.hello && len(mv.since) > 0
	for _, m := range mv.members {
		if m.log == nil || mv.logIDs[m.host] != m.log.ID {
			if !m.gone {
				resumed = false
			}
		}
	}
	if !mv.hello {
		h := mergeHello{Type: "hello", V: ProtocolVersion, Merged: true, Group: mv.group, File: mv.file, Logs: map[string]string{}, Replay: mv.srv.opts.Replay, Resumed: resumed}
		for _, m := range mv.members {
			h.Hosts = append(h.Hosts, m.host)
			if m.log != nil {
				h.Logs[m.host] = m.log.ID
			}
		}
		mv.send(encode(h))
		mv.hello = true
	}
	if resumed {
		return
	}
	if from := mv.query.Get("from"); from != "" {
		// Start every member at the mark or time; the lines from there
		// are merged as they are read.
		if ts, text, err := mv.srv.parseFrom(auth.NewContext(context.Background(), mv.id), from); err == nil {
			for _, m := range mv.members {
				if m.log == nil {
					continue
				}
				if seq, ok := firstFrom(m.log, ts, text, &mv.scratch); ok {
					m.cursor = seq
				}
			}
			mv.query.Del("from") // a filter change later replays as usual
			return
		}
	}
	want := mv.srv.opts.Replay
	var all []mergedLine
	for _, m := range mv.members {
		if m.log == nil {
			continue
		}
		f, next := m.log.Bounds()
		keep := func(l *tailer.Line) bool { return mv.filter.KeepTagged(l, m.host) }
		// In slices, so that a view that ends (or a server that closes)
		// does not wait for a costly filter to finish the look back.
		sk := &seek{below: next}
		start, done := uint64(0), false
		for !done {
			if start, done = lookBack(m.log, sk, want, keep, f, &mv.scratch, time.Now().Add(scanBudget)); !done && mv.stopped() {
				return
			}
		}
		for from := start; from < next; {
			if mv.stopped() {
				return
			}
			lines, held := m.log.Read(mv.scratch[:0], from, int(min(next-from, 256)))
			mv.scratch = lines
			if len(lines) == 0 {
				break
			}
			for _, l := range lines {
				if mv.filter.KeepTagged(&l, m.host) && !mv.dupMark(&l) {
					all = append(all, m.keyed(l))
				}
			}
			from = max(held, from) + uint64(len(lines))
		}
		clear(mv.scratch)
		m.cursor = next
	}
	slices.SortStableFunc(all, func(a, b mergedLine) int { return cmp.Compare(a.key, b.key) })
	if len(all) > want {
		all = all[len(all)-want:]
	}
	for len(all) > 0 {
		n := min(len(all), mv.srv.opts.MaxBatch)
		mv.sendLines(all[:n], true)
		all = all[n:]
	}
}

// keyed returns l with its host and ordering key, keeping the member's keys
// non-decreasing.
func (m *member) keyed(l tailer.Line) mergedLine {
	key := l.Time
	if l.Mark == "" {
		if t, ok := logtime.Parse(l.Text, time.UnixMilli(l.Time)); ok {
			key = t
		}
	}
	key = max(key, m.lastKey)
	m.lastKey = key
	return mergedLine{Line: l, host: m.host, key: key}
}

// states sends each member's state when it changed.
func (mv *mergeView) states() {
	for _, m := range mv.members {
		st := tailer.State{Code: tailer.StateStarting}
		switch {
		case m.log != nil:
			st = m.log.Status()
		case m.gone:
			st = tailer.State{Code: tailer.StateError, Msg: mv.file + " is not one of this host's files"}
		case m.err != nil:
			st = tailer.State{Code: tailer.StateError, Msg: m.err.Error()}
		}
		logID := ""
		if m.log != nil {
			logID = m.log.ID
		}
		if (st != m.sentState || logID != m.sentLog) && mv.canSend() {
			mv.send(encode(hostStatusMsg{Type: "status", Host: m.host, Log: logID, State: st}))
			m.sentState, m.sentLog = st, logID
		}
	}
}

type hostStatusMsg struct {
	Type  string       `json:"type"` // "status"
	Host  string       `json:"host"`
	Log   string       `json:"log,omitempty"` // the host's log id, once it is open (for resuming)
	State tailer.State `json:"state"`
}

type hostGapMsg struct {
	Type string `json:"type"` // "gap"
	Host string `json:"host"`
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// read takes new lines from every member into its held queue.
func (mv *mergeView) read() {
	if !mv.canSend() {
		// The browser is not taking frames: leave the lines in the rings
		// (bounded by buffer), from which it gets a gap if it stays behind.
		return
	}
	for _, m := range mv.members {
		if m.log == nil {
			continue
		}
		for len(m.held) < maxHeld && m.heldBytes < maxHeldBytes {
			lines, first := m.log.Read(mv.scratch[:0], m.cursor, maxHeld-len(m.held))
			mv.scratch = lines
			if first > m.cursor {
				if !mv.canSend() {
					break // say so when it can be said
				}
				mv.send(encode(hostGapMsg{Type: "gap", Host: m.host, From: m.cursor, To: first - 1}))
				if mt := mv.srv.metrics; mt != nil {
					mt.gaps.Inc()
				}
				m.cursor = first
			}
			if len(lines) == 0 {
				break
			}
			for _, l := range lines {
				m.held = append(m.held, m.keyed(l))
				m.heldBytes += len(l.Text) + 64
			}
			m.cursor = lines[len(lines)-1].Seq + 1
			clear(lines)
		}
	}
}

// emit sends the lines that may go now, in key order, and returns how long
// until the oldest line still held back is due.
func (mv *mergeView) emit(now time.Time) time.Duration {
	win := mv.window().Milliseconds()
	nowMs := now.UnixMilli()
	batch, size := mv.batch[:0], 0
	var wait time.Duration
	for mv.canSend() {
		var best *member
		for _, m := range mv.members {
			if len(m.held) > 0 && (best == nil || m.held[0].key < best.held[0].key) {
				best = m
			}
		}
		if best == nil {
			break
		}
		head := &best.held[0]
		if age := nowMs - head.Time; age < win {
			// Wait for the others unless every live member has a line
			// waiting (none can send anything earlier).
			blocked := slices.ContainsFunc(mv.members, func(m *member) bool {
				return m != best && m.log != nil && len(m.held) == 0 && m.log.Status().Code == tailer.StateFollowing
			})
			if blocked {
				wait = time.Duration(win-age) * time.Millisecond
				break
			}
		}
		if mv.filter.KeepTagged(&head.Line, head.host) && !mv.dupMark(&head.Line) {
			batch = append(batch, *head)
			size += len(head.Text) + 64
		}
		best.heldBytes -= len(head.Text) + 64
		best.held[0] = mergedLine{}
		best.held = best.held[1:]
		if len(batch) >= mv.srv.opts.MaxBatch || size >= mv.srv.opts.MaxFrameBytes {
			mv.sendLines(batch, false)
			batch, size = batch[:0], 0
		}
	}
	if len(batch) > 0 {
		mv.sendLines(batch, false)
	}
	clear(batch)
	mv.batch = batch[:0]
	return wait
}

// sendLines encodes one lines frame of a merged view.
func (mv *mergeView) sendLines(lines []mergedLine, replay bool) {
	b := make([]byte, 0, 64+len(lines)*96)
	b = append(b, `{"type":"lines","lines":[`...)
	for i := range lines {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLine(b, &lines[i].Line, lines[i].host)
		mv.hist.sentFirst(lines[i].host, &lines[i].Line)
	}
	b = append(b, ']')
	if replay {
		b = append(b, `,"replay":true`...)
	}
	b = append(b, '}')
	mv.send(b)
	if mt := mv.srv.metrics; mt != nil {
		mt.linesOut.Add(float64(len(lines)))
	}
}
