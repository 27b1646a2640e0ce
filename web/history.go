package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/filter"
	"github.com/logviewer/logviewer/logtime"
	"github.com/logviewer/logviewer/tailer"
)

// History: a viewer scrolls above the oldest line it holds and asks for
// older ones, by position (see README.md, "Protocol"):
//
//	→ {"type":"older","before":POSITION,"n":500}
//	← {"type":"older","lines":[{"pos":POSITION,"ts":MS,"text":…},…],
//	   "more":true,"next":POSITION,"scanned":BYTES,"file":"app.log.1"}
//
// before is the "first_at" of the oldest lines frame the viewer holds (or
// the first "pos" of the last older frame; or "" when it holds no line:
// before the ring). The lines come oldest first, to be put above what the
// viewer holds, with no duplicate and no hole. When more is true, the next
// request's before is next (the oldest line examined, which is older than
// the first line sent when the byte budget ran out between matches); more
// false means the first line ever kept has been reached. With a filter set,
// only matching lines are sent. The scan runs on a goroutine of its own,
// one at a time per viewer (a new request supersedes a running one), and is
// cancelled when the viewer leaves or its filter changes, so the live
// stream of that viewer and every other is never delayed.

// Historian is implemented by a Catalog that can read a log's history
// (tailer.Registry does). The error wraps tailer.ErrUnknownHost,
// tailer.ErrNotListed or tailer.ErrNoHistory.
type Historian interface {
	History(ctx context.Context, host, path string) (tailer.History, error)
}

// FileOpener is implemented by a Catalog that can open a log's file for a
// download (tailer.Registry does). Errors as Historian.
type FileOpener interface {
	OpenFile(ctx context.Context, host, path string) (io.ReadSeekCloser, tailer.FileInfo, error)
}

var (
	_ Historian  = (*tailer.Registry)(nil)
	_ FileOpener = (*tailer.Registry)(nil)
	_ Historian  = guarded{}
	_ FileOpener = guarded{}
)

// History applies the access rules, then asks the catalog.
func (g guarded) History(ctx context.Context, host, path string) (tailer.History, error) {
	if err := g.allowed(ctx, host, path); err != nil {
		return nil, err
	}
	h, ok := g.Catalog.(Historian)
	if !ok {
		return nil, tailer.ErrNoHistory
	}
	return h.History(ctx, host, path)
}

// OpenFile applies the access rules, then asks the catalog.
func (g guarded) OpenFile(ctx context.Context, host, path string) (io.ReadSeekCloser, tailer.FileInfo, error) {
	if err := g.allowed(ctx, host, path); err != nil {
		return nil, tailer.FileInfo{}, err
	}
	o, ok := g.Catalog.(FileOpener)
	if !ok {
		return nil, tailer.FileInfo{}, tailer.ErrNoHistory
	}
	return o.OpenFile(ctx, host, path)
}

// Bounds on one older request.
const (
	// historyBudget is how many bytes one older request examines at most
	// (a search back through gigabytes takes many requests, each short).
	historyBudget = tailer.DefaultHistoryBudget
	// defaultOlderLines and maxOlderLines bound n.
	defaultOlderLines = 500
	maxOlderLines     = 5000
)

// olderReq is an older message, decoded.
type olderReq struct {
	before    tailer.Position
	beforeSet bool   // false: before the ring
	text      string // the text of the line at before, when the ring holds it
	n         int
	vector    map[string]mergeBoundary // a merged view's before (mergehistory.go)
}

// decodeOlder checks an older message.
func decodeOlder(msg clientMsg) control {
	req := &olderReq{n: msg.N}
	if req.n <= 0 {
		req.n = defaultOlderLines
	}
	req.n = min(req.n, maxOlderLines)
	if msg.Before != "" {
		p, err := tailer.ParsePosition(msg.Before)
		if err != nil {
			// A merged view's: a vector of positions.
			vec, verr := parsePosVector(msg.Before)
			if verr != nil {
				return control{err: &errorMsg{Type: "error", Code: "bad_message", Msg: "older: " + err.Error()}}
			}
			req.vector = vec
		}
		req.before, req.beforeSet = p, true
	}
	return control{older: req}
}

// scanSlot is where one scan at a time runs, over a viewer's or a merged
// view's history readers: a new request supersedes a running one, a filter
// change cancels it, and the view's end stops it.
type scanSlot struct {
	mu     sync.Mutex
	cancel context.CancelFunc // of the running scan
	done   chan struct{}      // closed when the last scan started has ended
	closed bool
}

// cancelScan stops the running scan, if any (a filter change).
func (h *scanSlot) cancelScan() {
	h.mu.Lock()
	if h.cancel != nil {
		h.cancel()
	}
	h.mu.Unlock()
}

// run runs fn on a goroutine counted in wg, after the scan running (which
// it cancels when supersede is set) has ended: one at a time, none after
// end. fn's context is a child of parent, cancelled by the next run with
// supersede, by cancelScan and by end.
func (h *scanSlot) run(wg *sync.WaitGroup, parent context.Context, supersede bool, fn func(ctx context.Context)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if h.cancel != nil && supersede {
		h.cancel()
	}
	ctx, cancel := context.WithCancel(parent)
	prev, done := h.done, make(chan struct{})
	h.cancel, h.done = cancel, done
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		defer cancel()
		if prev != nil {
			<-prev
		}
		if ctx.Err() == nil {
			fn(ctx)
		}
	}()
}

// end cancels the running scan and waits for it. Once ended, no scan
// starts.
func (h *scanSlot) end() {
	h.mu.Lock()
	h.closed = true
	if h.cancel != nil {
		h.cancel()
	}
	done := h.done
	h.mu.Unlock()
	if done != nil {
		<-done
	}
}

// viewerHistory is a viewer's history reader and the scan running on it.
type viewerHistory struct {
	scanSlot

	hist tailer.History // opened by the first scan; used by one scan at a time
}

// stop cancels the running scan, waits for it and closes the reader. Once
// stopped, no scan starts.
func (h *viewerHistory) stop() {
	h.end()
	if h.hist != nil {
		_ = h.hist.Close()
		h.hist = nil
	}
}

// startOlder starts v's older request on v's history goroutine. It runs on
// the room goroutine: the filter is v's now, and "before the ring" is
// resolved here.
func (r *room) startOlder(v *viewer, req *olderReq) {
	if req.vector != nil {
		r.send(v, encode(errorMsg{Type: "error", Code: "bad_message", Msg: "older: a vector of positions is for merged views; want FILE:OFFSET"}))
		return
	}
	if !req.beforeSet {
		req.before, req.text = oldestPos(r.log, &r.scratch)
	} else if v.firstSeq != 0 {
		// The viewer's first line: its text tells which file holds it
		// when the position is ambiguous (copytruncate empties a file and
		// fills it again: the same file, the same offsets).
		lines, _ := r.log.Read(r.scratch[:0], v.firstSeq, 1)
		if len(lines) == 1 {
			if p, ok := lines[0].Pos(); ok && p == req.before {
				req.text = lines[0].Text
			}
		}
		clear(lines)
		r.scratch = lines
	}
	f := v.filter
	r.runHistory(v, true, func(ctx context.Context) { r.older(ctx, v, req, f) })
}

// pinHistory has v's history reader hold the file of v's first line (the
// line seq, and a few after it to confirm the file by their text), so an
// older request from there reads that file even after rotation compressed
// it or its inode number was reused: one open file per viewer. Called on
// the room goroutine when v is sent its first line after a hello or reset;
// it waits for a running scan rather than cancelling it.
func (r *room) pinHistory(v *viewer, seq uint64) {
	r.runHistory(v, false, func(ctx context.Context) {
		h, err := r.history(ctx, v)
		if err != nil {
			return // no history here; an older request will say so
		}
		lines, _ := r.log.Read(nil, seq, 8)
		_ = h.Pin(ctx, lines)
	})
}

// runHistory runs fn on a goroutine of v's, after the one running (which
// it cancels when supersede is set) has ended: one at a time per viewer,
// none after stop.
func (r *room) runHistory(v *viewer, supersede bool, fn func(ctx context.Context)) {
	parent := context.Background()
	if v.session != nil && v.session.Request != nil {
		parent = v.session.Request.Context() // ends when the WebSocket does
	}
	v.hist.run(&r.srv.wg, auth.NewContext(parent, v.id), supersede, fn)
}

// history returns v's history reader, opening it on first use (through the
// guarded catalog: v's identity is in ctx). Only v's history goroutine calls it.
func (r *room) history(ctx context.Context, v *viewer) (tailer.History, error) {
	h := &v.hist
	if h.hist == nil {
		hr, ok := r.srv.cat.(Historian)
		if !ok {
			return nil, tailer.ErrNoHistory
		}
		hist, err := hr.History(ctx, v.host, v.file)
		if err != nil {
			return nil, err
		}
		h.hist = hist
	}
	return h.hist, nil
}

// oldestPos returns the position and text of the oldest file line the ring
// holds (the zero Position, the end of the live file, when it holds none).
func oldestPos(l *tailer.Log, scratch *[]tailer.Line) (tailer.Position, string) {
	first, next := l.Bounds()
	for from := first; from < next; {
		lines, held := l.Read((*scratch)[:0], from, int(min(next-from, 256)))
		*scratch = lines
		if len(lines) == 0 {
			break
		}
		for i := range lines {
			if p, ok := lines[i].Pos(); ok {
				text := lines[i].Text
				clear(lines)
				return p, text
			}
		}
		from = max(held, from) + uint64(len(lines))
		clear(lines)
	}
	return tailer.Position{}, ""
}

// older runs one older request and sends its frame (or an error frame).
// Nothing is sent once ctx has ended: the viewer left, or changed its
// filter, or asked again.
func (r *room) older(ctx context.Context, v *viewer, req *olderReq, f *filter.Filter) {
	s := r.srv
	hist, err := r.history(ctx, v)
	if err != nil {
		r.sendOlder(ctx, v, encode(olderError(s, v.host, v.file, err)))
		return
	}
	or := tailer.OlderRequest{Before: req.before, BeforeText: req.text, N: req.n, MaxBytes: s.opts.MaxFrameBytes, Budget: historyBudget, Keep: f.KeepFunc(), Key: f.Key()}
	if f != nil {
		// Whole events, as the live view judges them: an old stack trace
		// comes with its ERROR line.
		or.KeepEvent, or.Continues = f.KeepEvent, filter.Continues
	}
	page, err := hist.Older(ctx, or)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		r.sendOlder(ctx, v, encode(olderError(s, v.host, v.file, err)))
	default:
		if r.sendOlder(ctx, v, appendOlder(nil, page, s.opts.MaxFrameBytes)) && s.metrics != nil {
			s.metrics.linesOut.Add(float64(len(page.Lines)))
		}
	}
}

// sendOlder sends data unless ctx has ended. The check and the send are
// one step under v.hist.mu, which cancelScan holds to cancel: so an older
// frame of the old filter is never sent after the filter's reset frame.
func (r *room) sendOlder(ctx context.Context, v *viewer, data []byte) bool {
	v.hist.mu.Lock()
	defer v.hist.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	r.send(v, data)
	return true
}

// findWait bounds how long opening a view with from= looks for the time in
// the history (a compressed file is read from its start).
const findWait = 5 * time.Second

// fromHistory handles from=TIME (or a mark's time) older than every line
// the ring holds: it finds the first line at or after ts in the history,
// starts v at the ring's first line, and names that line's position in the
// hello as from_at; the page pages back (older) until it has it. It reports
// whether it did; otherwise the view starts within the ring as before.
func (s *Server) fromHistory(ctx context.Context, v *viewer, l *tailer.Log, ts int64) bool {
	first, next := l.Bounds()
	lines, _ := l.Read(nil, first, int(min(next-first, 256)))
	var oldest *tailer.Line
	for i := range lines {
		if _, ok := lines[i].Pos(); ok {
			oldest = &lines[i]
			break
		}
	}
	if oldest == nil {
		return false
	}
	key := oldest.Time
	if t, ok := logtime.Parse(oldest.Text, time.UnixMilli(oldest.Time)); ok {
		key = t
	}
	hr, ok := s.cat.(Historian)
	if key <= ts || !ok {
		return false
	}
	hist, err := hr.History(ctx, v.host, v.file)
	if err != nil {
		return false
	}
	fctx, cancel := context.WithTimeout(ctx, findWait)
	ln, found, err := hist.Find(fctx, ts)
	cancel()
	if err != nil || !found || ln.File == oldest.File && ln.Offset >= oldest.Offset {
		_ = hist.Close()
		return false // not in the history after all: the ring's start
	}
	v.hist.hist = hist // no history goroutine of v's runs yet
	v.cursor = oldest.Seq
	v.hello.FromAt = tailer.Position{File: ln.File, Offset: ln.Offset}.String()
	return true
}

// olderError is the error frame for a failed older request.
func olderError(s *Server, host, file string, err error) errorMsg {
	switch {
	case errors.Is(err, tailer.ErrPositionGone):
		return errorMsg{Type: "error", Code: "older_gone", Msg: "older: " + err.Error() + "; reload the view"}
	case errors.Is(err, tailer.ErrNoHistory):
		return errorMsg{Type: "error", Code: "older_unavailable", Msg: "older: " + err.Error()}
	case errors.Is(err, tailer.ErrUnknownHost), errors.Is(err, tailer.ErrNotListed):
		return errorMsg{Type: "error", Code: "not_found", Msg: "older: " + err.Error()}
	}
	s.log.Warn("older", "host", host, "file", file, "err", err)
	return errorMsg{Type: "error", Code: "older_failed", Msg: "older: " + err.Error()}
}

// appendOlder encodes an older frame. When the lines would make it larger
// than maxBytes, the oldest are left out (the viewer asks for them next).
func appendOlder(b []byte, page tailer.OlderPage, maxBytes int) []byte {
	lines := page.Lines
	size := 0
	for i := len(lines) - 1; i >= 0; i-- {
		size += len(lines[i].Text) + 64
		if size > maxBytes && i < len(lines)-1 {
			lines = lines[i+1:]
			page.More = true
			page.Next = tailer.Position{File: lines[0].File, Offset: lines[0].Offset}
			break
		}
	}
	b = append(b, `{"type":"older","lines":[`...)
	for i := range lines {
		l := &lines[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendOlderLine(b, l), '}')
	}
	b = append(b, `],"more":`...)
	b = strconv.AppendBool(b, page.More)
	if page.More {
		b = append(b, `,"next":"`...)
		b = page.Next.AppendText(b)
		b = append(b, '"')
	}
	b = append(b, `,"scanned":`...)
	b = strconv.AppendInt(b, page.Scanned, 10)
	if page.File != "" {
		b = append(b, `,"file":`...)
		b = appendString(b, page.File)
	}
	return append(b, '}')
}

// downloadLineBuf bounds how much of one line a filtered download holds:
// a longer line is matched by its head and copied through.
const downloadLineBuf = 1 << 20

// serveDownload streams a log's file: GET /api/download?host=H&file=F. F is
// a file of the host's listing (a rotated sibling is reached through older
// requests, not by name: 404). Without a filter it is the file's bytes, with
// Range support; with one (q, re, case, inv as for /ws) it is the matching
// lines as text. The file is read up to the size it had when the request
// came.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	host, file := q.Get("host"), q.Get("file")
	if err := checkPath(file); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errTraversal) {
			code = http.StatusForbidden
		}
		s.httpError(w, code, err.Error())
		return
	}
	flt, err := filter.Compile(specOf(q))
	if err != nil {
		s.metrics.filterRejected.Inc()
		s.httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	fo, ok := s.cat.(FileOpener)
	if !ok {
		s.httpError(w, http.StatusNotImplemented, "downloads are not available")
		return
	}
	f, info, err := fo.OpenFile(r.Context(), host, file)
	if errors.Is(err, tailer.ErrNoHistory) {
		s.httpError(w, http.StatusNotImplemented, fmt.Sprintf("host %s cannot serve downloads", host))
		return
	}
	if code, msg := s.openError(host, file, err); code != 0 {
		s.httpError(w, code, msg)
		return
	}
	defer f.Close()
	s.audit(r, "download", "host", host, "file", file, "filtered", flt != nil)
	name := path.Base(file)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if flt == nil {
		ctype := "text/plain; charset=utf-8"
		if strings.HasSuffix(name, ".gz") {
			ctype = "application/gzip"
		}
		h.Set("Content-Type", ctype)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		http.ServeContent(w, r, "", info.ModTime, io.NewSectionReader(readerAt{f}, 0, info.Size))
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + ".filtered.txt"}))
	if r.Method == http.MethodHead {
		return
	}
	if err := filterLines(r.Context(), w, io.LimitReader(f, info.Size), flt); err != nil && r.Context().Err() == nil {
		s.log.Warn("download", "host", host, "file", file, "err", err)
	}
}

// readerAt reads a ReadSeeker at offsets (one reader at a time: ServeContent).
type readerAt struct{ f io.ReadSeeker }

func (ra readerAt) ReadAt(p []byte, off int64) (int, error) {
	if at, ok := ra.f.(io.ReaderAt); ok {
		return at.ReadAt(p, off)
	}
	if _, err := ra.f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(ra.f, p)
}

// filterLines copies the lines of src that flt keeps to w, as they are in
// the file (each with its newline; a last line without one gets one). Whole
// events are kept or dropped (filter.KeepEvent: a stack trace comes with its
// ERROR line): an event's lines wait in a buffer of at most eventBuf bytes
// (a longer event is judged in parts).
func filterLines(ctx context.Context, w io.Writer, src io.Reader, flt *filter.Filter) error {
	br := bufio.NewReaderSize(src, downloadLineBuf)
	bw := bufio.NewWriterSize(w, 64<<10)
	keepRest := false // in an over-long line: whether its event was kept
	inLong := false
	ev := eventBuffer{flt: flt}
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		p, err := br.ReadSlice('\n')
		if len(p) > 0 {
			if inLong {
				if keepRest {
					if _, werr := bw.Write(p); werr != nil {
						return werr
					}
				}
			} else {
				text := tailer.Clean(strings.TrimSuffix(string(p), "\n"), downloadLineBuf)
				raw := string(p)
				if err == io.EOF && !strings.HasSuffix(raw, "\n") {
					raw += "\n"
				}
				if werr := ev.add(bw, text, raw); werr != nil {
					return werr
				}
				if errors.Is(err, bufio.ErrBufferFull) {
					// The rest of an over-long line follows its head's fate.
					keepRest = ev.judge()
					if werr := ev.flush(bw, keepRest); werr != nil {
						return werr
					}
				}
			}
			inLong = errors.Is(err, bufio.ErrBufferFull)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if werr := ev.flush(bw, ev.judge()); werr != nil {
				return werr
			}
			if err == io.EOF {
				return bw.Flush()
			}
			_ = bw.Flush()
			return err
		}
	}
}

// eventBuf bounds the bytes of one event a filtered download holds.
const eventBuf = tailer.MaxEventBytes

// eventBuffer gathers the lines of one event of a filtered download.
type eventBuffer struct {
	flt   *filter.Filter
	lines []tailer.Line // Text: the line; the raw bytes are in raw
	raw   []string
	size  int
	cont  bool // the buffer continues an event already judged (too long for the buffer)
	kept  bool // that judgement
}

// add takes a line: a new event's first line writes out the event before.
func (e *eventBuffer) add(w io.Writer, text, raw string) error {
	if len(e.lines) > 0 && !filter.Continues(text) {
		if err := e.flush(w, e.judge()); err != nil {
			return err
		}
		e.cont = false
	}
	if len(e.lines) == 0 && e.cont && !filter.Continues(text) {
		e.cont = false
	}
	e.lines = append(e.lines, tailer.Line{Text: text})
	e.raw = append(e.raw, raw)
	e.size += len(raw)
	if e.size > eventBuf || len(e.lines) >= filter.MaxEventLines {
		kept := e.judge()
		if err := e.flush(w, kept); err != nil {
			return err
		}
		e.cont, e.kept = true, kept
	}
	return nil
}

// judge decides the buffered lines' fate.
func (e *eventBuffer) judge() bool {
	if len(e.lines) == 0 {
		return false
	}
	if e.cont {
		return e.kept || e.flt.MatchAny(e.lines)
	}
	return e.flt.KeepEvent(e.lines)
}

// flush writes the buffered lines when keep, and empties the buffer.
func (e *eventBuffer) flush(w io.Writer, keep bool) error {
	if keep {
		for _, r := range e.raw {
			if _, err := io.WriteString(w, r); err != nil {
				return err
			}
		}
	}
	clear(e.lines)
	clear(e.raw)
	e.lines, e.raw, e.size = e.lines[:0], e.raw[:0], 0
	return nil
}

// appendOlderLine appends a line of an older frame, without its closing
// brace (a merged view's adds its host): its position, its own time, its
// text and whether it continues an event (as in lines frames, protocol.go).
func appendOlderLine(b []byte, l *tailer.Line) []byte {
	b = append(b, `{"pos":"`...)
	b = tailer.Position{File: l.File, Offset: l.Offset}.AppendText(b)
	b = append(b, '"')
	if l.Time != 0 {
		b = append(b, `,"ts":`...)
		b = strconv.AppendInt(b, l.Time, 10)
	}
	b = append(b, `,"text":`...)
	b = appendString(b, l.Text)
	if filter.Continues(l.Text) {
		b = append(b, `,"cont":true`...)
	}
	return b
}
