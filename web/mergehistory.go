package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/filter"
	"github.com/logviewer/logviewer/logtime"
	"github.com/logviewer/logviewer/tailer"
)

// History in a merged view. An older request's before is a vector of
// positions, one per member host that may still have older lines:
//
//	→ {"type":"older","before":"web-01:FILE:OFF,web-02:FILE:OFF","n":500}
//	← {"type":"older","lines":[{"pos":…,"ts":…,"text":…,"host":"web-01"},…],
//	   "more":true,"next":"web-01:FILE:OFF,…","scanned":BYTES,"file":…}
//
// before "" means before what the view holds: for each member, its first
// line sent to this view (or, when none was, where the view's reading of it
// stands). next names only the members that may have more; a member left
// out of a vector is done. The vector is opaque to the page: an entry may
// end in "+" (the line at that position is wanted too: the last line the
// view read of a host that it never sent). Each member's history is read as a single view's
// (its own History, the viewer's filter tagged with the host), and the
// pages are merged by the same key the live merge uses: the line's own
// time, a line without one taking the key of the line before it. A page
// holds only lines that no member can still have a newer one than: a member
// whose scan stopped early (n lines, or the byte budget) bounds the page at
// the key of the oldest line it examined and sent, so the next request's
// lines all go above it and the view stays in order.

// mergeBoundary is where a member's older lines end for a request with
// before "": lines before pos (text: the line at pos, when known), and incl,
// when set, is a line read from the ring but never sent (the view's reading
// stands past it) that comes last.
type mergeBoundary struct {
	pos       tailer.Position
	inclusive bool // the line ending at pos is wanted too (resolved into incl or a later pos)
	text      string
	incl      *tailer.Line
}

// mergeHistory is a merged view's history readers and the scan running on
// them: one at a time, a new request supersedes a running one, a filter
// change cancels it and the view's end stops it (as viewerHistory).
type mergeHistory struct {
	scanSlot

	hists map[string]tailer.History // by host; used by one scan at a time
	dead  map[string]bool           // hosts without history (no source support, not listed)
	first map[string]mergeBoundary  // the first line sent to the view, by host (run goroutine)
	// pending is a request that came before the replay was sent (run
	// goroutine): it is started once the view holds the replay, so that
	// its lines go above the replay's and never repeat them.
	pending *olderReq
}

// stop cancels the running scan, waits for it and closes the readers.
func (h *mergeHistory) stop() {
	h.end()
	for _, hist := range h.hists {
		_ = hist.Close()
	}
	h.hists = nil
}

// sentFirst records l as sent to the view (run goroutine): the first line
// of each host sent is where that host's older lines end.
func (h *mergeHistory) sentFirst(host string, l *tailer.Line) {
	if _, ok := h.first[host]; ok {
		return
	}
	if p, ok := l.Pos(); ok {
		if h.first == nil {
			h.first = map[string]mergeBoundary{}
		}
		h.first[host] = mergeBoundary{pos: p, text: l.Text}
	}
}

// parsePosVector reads "HOST:FILE:OFF,…". A host name may hold ':'; the
// position is the last two fields.
func parsePosVector(s string) (map[string]mergeBoundary, error) {
	out := map[string]mergeBoundary{}
	for part := range strings.SplitSeq(s, ",") {
		part, inclusive := strings.CutSuffix(part, "+")
		i := strings.LastIndexByte(part, ':')
		j := -1
		if i > 0 {
			j = strings.LastIndexByte(part[:i], ':')
		}
		if j <= 0 {
			return nil, errors.New("want HOST:FILE:OFFSET,…")
		}
		p, err := tailer.ParsePosition(part[j+1:])
		if err != nil {
			return nil, err
		}
		out[part[:j]] = mergeBoundary{pos: p, inclusive: inclusive}
	}
	return out, nil
}

// startOlder starts a merged older request (on the run goroutine, which
// owns the members and the filter), or keeps it until the replay is sent.
func (mv *mergeView) startOlder(req *olderReq) {
	h := &mv.hist
	if mv.replaying {
		h.pending = req
		return
	}
	h.pending = nil
	bounds := map[string]mergeBoundary{}
	var hosts []string
	h.mu.Lock()
	dead := maps.Clone(h.dead)
	h.mu.Unlock()
	for _, m := range mv.members {
		if m.gone || dead[m.host] {
			continue
		}
		var b mergeBoundary
		if req.vector != nil {
			var ok bool
			if b, ok = req.vector[m.host]; !ok {
				continue // done with this host
			}
			if f, ok := h.first[m.host]; ok && f.pos == b.pos && !b.inclusive {
				b.text = f.text
			}
		} else {
			if m.log == nil {
				continue // not open: nothing of it is in the view
			}
			b = mv.boundary(m)
		}
		if b.inclusive {
			b = resolveInclusive(m, b)
		}
		bounds[m.host] = b
		hosts = append(hosts, m.host)
	}
	f := mv.filter
	h.run(&mv.srv.wg, auth.NewContext(context.Background(), mv.id), true, func(ctx context.Context) {
		mv.older(ctx, hosts, bounds, req.n, f)
	})
}

// replayed starts the older request that waited for the replay, if any.
func (mv *mergeView) replayed() {
	if req := mv.hist.pending; req != nil && !mv.replaying {
		mv.startOlder(req)
	}
}

// boundary returns where m's older lines end when the view asks with
// before "": its first line sent; else the first line read and not sent
// yet; else the line where the view's reading stands (with the last line
// read, never sent, included); else the end of the live file.
func (mv *mergeView) boundary(m *member) mergeBoundary {
	if b, ok := mv.hist.first[m.host]; ok {
		return b
	}
	for i := range m.held {
		if p, ok := m.held[i].Pos(); ok {
			return mergeBoundary{pos: p, text: m.held[i].Text}
		}
	}
	if lines, _ := m.log.Read(nil, m.cursor, 1); len(lines) == 1 {
		if p, ok := lines[0].Pos(); ok {
			return mergeBoundary{pos: p, text: lines[0].Text}
		}
	}
	if m.cursor > 0 {
		if lines, _ := m.log.Read(nil, m.cursor-1, 1); len(lines) == 1 {
			if p, ok := lines[0].Pos(); ok {
				return mergeBoundary{pos: p, inclusive: true}
			}
		}
	}
	return mergeBoundary{}
}

// resolveInclusive turns "before the line after the one ending at b.pos"
// into a request History answers: before the next line when m's ring holds
// it, else before the line itself with the line added from the ring (incl).
// A line the ring no longer holds is left out.
func resolveInclusive(m *member, b mergeBoundary) mergeBoundary {
	out := mergeBoundary{pos: b.pos, inclusive: true}
	if m.log == nil {
		return out
	}
	done, cancel := context.WithCancel(context.Background())
	cancel() // Seek must not wait for a line not read yet
	if seq, ok := m.log.Seek(done, b.pos); ok {
		if lines, _ := m.log.Read(nil, seq, 1); len(lines) == 1 {
			if p, ok := lines[0].Pos(); ok {
				return mergeBoundary{pos: p, text: lines[0].Text}
			}
		}
	}
	if _, next := m.log.Bounds(); next > 0 {
		if lines, _ := m.log.Read(nil, next-1, 1); len(lines) == 1 {
			if p, ok := lines[0].Pos(); ok && p == b.pos {
				l := lines[0]
				out.text, out.incl = l.Text, &l
			}
		}
	}
	return out
}

// memberPage is one member's part of a merged older request.
type memberPage struct {
	host   string
	before mergeBoundary // as asked (asked again from there when nothing of it is taken)
	page   tailer.OlderPage
	keys   []int64
	err    error
	taken  int // of page.Lines, the newest taken into the frame
}

// older runs one merged older request and sends its frame.
func (mv *mergeView) older(ctx context.Context, hosts []string, bounds map[string]mergeBoundary, n int, f *filter.Filter) {
	h := &mv.hist
	pages := make([]*memberPage, len(hosts))
	budget := max(historyBudget/int64(max(1, len(hosts))), 4<<20)
	var wg sync.WaitGroup
	for i, host := range hosts {
		mp := &memberPage{host: host, before: bounds[host]}
		pages[i] = mp
		hist, err := mv.memberHistory(ctx, host)
		if err != nil {
			mp.err = err
			continue
		}
		b := bounds[host]
		keep := func(l *tailer.Line) bool { return f.KeepTagged(l, host) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			or := tailer.OlderRequest{
				Before: b.pos, BeforeText: b.text, N: n, MaxBytes: mv.srv.opts.MaxFrameBytes,
				Budget: budget, Keep: keep, Key: f.Key() + "\x00" + host,
			}
			if f != nil { // whole events, as the live view judges them
				or.KeepEvent = func(ls []tailer.Line) bool { return f.KeepEventTagged(ls, host) }
				or.Continues = filter.Continues
			}
			mp.page, mp.err = hist.Older(ctx, or)
			if mp.err == nil && b.incl != nil && keep(b.incl) {
				// A ring line's Time is its receipt time; a history
				// line's is its own (0 without one).
				l := *b.incl
				t, ok := logtime.Parse(l.Text, time.UnixMilli(l.Time))
				if l.Time = 0; ok {
					l.Time = t
				}
				mp.page.Lines = append(mp.page.Lines, l)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	// A host without history (its source cannot read it, or the file is
	// not one of its files now) is left out from now on; any other error
	// fails the request, naming the host, so that no host is silently
	// missing from a page.
	var ok []*memberPage
	for _, mp := range pages {
		switch {
		case errors.Is(mp.err, tailer.ErrNoHistory), errors.Is(mp.err, tailer.ErrNotListed), errors.Is(mp.err, tailer.ErrUnknownHost):
			h.mu.Lock()
			if h.dead == nil {
				h.dead = map[string]bool{}
			}
			h.dead[mp.host] = true
			h.mu.Unlock()
		case mp.err != nil:
			mv.sendOlder(ctx, encode(olderError(mv.srv, mp.host, mv.file, fmt.Errorf("%s: %w", mp.host, mp.err))))
			return
		default:
			ok = append(ok, mp)
		}
	}
	mv.sendOlder(ctx, mergeOlder(ok, n, mv.srv.opts.MaxFrameBytes))
}

// memberHistory returns the history reader of host, opening it on first
// use through the guarded catalog (the viewer's identity is in ctx).
func (mv *mergeView) memberHistory(ctx context.Context, host string) (tailer.History, error) {
	h := &mv.hist
	if hist := h.hists[host]; hist != nil {
		return hist, nil
	}
	hr, ok := mv.srv.cat.(Historian)
	if !ok {
		return nil, tailer.ErrNoHistory
	}
	hist, err := hr.History(ctx, host, mv.file)
	if err != nil {
		return nil, err
	}
	if h.hists == nil {
		h.hists = map[string]tailer.History{}
	}
	h.hists[host] = hist
	return hist, nil
}

// sendOlder sends data unless ctx has ended; the check and the send are one
// step under hist.mu, which a filter change holds to cancel the scan, so no
// older frame of the old filter follows its reset.
func (mv *mergeView) sendOlder(ctx context.Context, data []byte) {
	mv.hist.mu.Lock()
	defer mv.hist.mu.Unlock()
	if ctx.Err() == nil {
		mv.send(data)
	}
}

// mergeOlder merges the members' pages into one older frame (see the top of
// this file) and encodes it.
func mergeOlder(pages []*memberPage, n, maxBytes int) []byte {
	type ref struct {
		mp  *memberPage
		i   int
		key int64
	}
	cutoff := int64(math.MinInt64)
	var scanned int64
	file := ""
	for _, mp := range pages {
		scanned += mp.page.Scanned
		mp.keys = pageKeys(mp.page.Lines)
		if !mp.page.More {
			continue
		}
		frontier := int64(math.MaxInt64) // examined lines, none sent: their keys are unknown
		if len(mp.keys) > 0 {
			frontier = mp.keys[0]
		}
		if frontier >= cutoff {
			cutoff, file = frontier, mp.page.File
		}
	}
	var all []ref
	for _, mp := range pages {
		for i, k := range mp.keys {
			if k >= cutoff {
				all = append(all, ref{mp, i, k})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b ref) int { return cmp.Compare(a.key, b.key) })
	// The newest n, and no more than maxBytes of text.
	size, from := 0, len(all)
	for from > 0 && len(all)-from < n {
		size += len(all[from-1].mp.page.Lines[all[from-1].i].Text) + 64
		if size > maxBytes && from < len(all) {
			break
		}
		from--
	}
	all = all[from:]
	for _, r := range all {
		r.mp.taken = max(r.mp.taken, len(r.mp.page.Lines)-r.i)
	}
	more := false
	var next []byte
	for _, mp := range pages {
		lines := mp.page.Lines
		var p tailer.Position
		inclusive := false
		switch {
		case mp.taken == len(lines) && !mp.page.More:
			continue // done
		case mp.taken == len(lines):
			p = mp.page.Next
		case mp.taken > 0:
			p, _ = lines[len(lines)-mp.taken].Pos()
		default: // nothing of it taken: asked again from where it was
			p, inclusive = mp.before.pos, mp.before.inclusive
		}
		more = true
		if len(next) > 0 {
			next = append(next, ',')
		}
		next = append(next, mp.host...)
		next = append(next, ':')
		next = p.AppendText(next)
		if inclusive {
			next = append(next, '+')
		}
	}
	b := []byte(`{"type":"older","lines":[`)
	for i, r := range all {
		l := &r.mp.page.Lines[r.i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOlderLine(b, l)
		b = append(b, `,"host":`...)
		b = appendString(b, r.mp.host)
		b = append(b, '}')
	}
	b = append(b, `],"more":`...)
	b = strconv.AppendBool(b, more)
	if more {
		b = append(b, `,"next":`...)
		b = appendString(b, string(next))
	}
	b = append(b, `,"scanned":`...)
	b = strconv.AppendInt(b, scanned, 10)
	if file != "" {
		b = append(b, `,"file":`...)
		b = appendString(b, file)
	}
	return append(b, '}')
}

// pageKeys returns the merge key of each line of a page (oldest first): its
// own time, or the key of the line before it. Lines before the page's first
// line with a time take that one's key (their own line before is in an
// older page); a page without any time puts its lines at the newest end
// (math.MaxInt64), so that a long run of lines without a time (a stack
// trace) is still paged through. Keys never decrease.
func pageKeys(lines []tailer.Line) []int64 {
	keys := make([]int64, len(lines))
	k := int64(math.MaxInt64)
	for i := range lines {
		if lines[i].Time != 0 {
			k = lines[i].Time
			break
		}
	}
	for i := range lines {
		if lines[i].Time != 0 {
			k = max(k, lines[i].Time)
		}
		keys[i] = k
	}
	return keys
}
