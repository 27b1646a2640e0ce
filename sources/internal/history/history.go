// Package history reads a log file's older lines backwards: through the file
// itself and then the files logrotate made of it, newest first, gzip
// decompressed as a stream. It is the tailer.History of every source: the
// local source gives it rotation.OS, a remote one would give it an FS over
// SFTP.
//
// Which files. The chain is the live file (dir/base) and its siblings named
// base.N, base.N.gz, base-DATE and base-DATE.gz (DATE: digits, '-' or '_';
// app.log-20261127, app.log-20261127-094512.gz), ordered newest first: the
// live file, then by N ascending, then by DATE descending. Anything else
// next to it (app.log.bak, app.log-error.log, another log) is not part of
// it. Every file is opened through FS.Open, which refuses a symlink and
// anything but a regular file, so a sibling that points outside the
// directory is never read; dir must be the real directory of a file the
// caller allows (every symlink resolved).
//
// Positions. A line's tailer.Position is (the inode of the file it is in,
// the offset just past it in the file's uncompressed content): the same
// form the followers give the lines of the ring, so the boundary between
// the ring and history is exact. A renamed file keeps its inode, so a
// position stays valid across rotations that only rename; a file compressed
// after a position into it was handed out is still read (the Reader holds
// it open) until the reader moves past it.
//
// Cost. A plain file is read backwards in chunks of chunkSize with pread.
// A compressed one cannot be read backwards, and compress/flate cannot
// resume in the middle of a stream, so reaching uncompressed offset P
// means decompressing from the start to P. A pass keeps the lines that the
// filter accepts in a window of at most windowBytes (the newest before P),
// so paging back through a compressed file of U bytes decompresses about
// U²/(2·windowBytes) bytes in all when every line is wanted (100 MiB: about
// 1.2 GiB, a few seconds), and a search with a selective filter usually
// needs one pass per file.
package history

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/logviewer/logviewer/logtime"
	"github.com/logviewer/logviewer/sources/internal/rotation"
	"github.com/logviewer/logviewer/tailer"
)

// Sizes.
const (
	// chunkSize is how much of a plain file is read at once.
	chunkSize    = 256 << 10
	lineOverhead = 80
)

// windowBytes bounds the lines one pass over a compressed file keeps (text
// plus lineOverhead each): the memory a Reader holds between requests while
// it pages back through a compressed file. A variable for tests.
var windowBytes = 4 << 20

// Reader is the tailer.History of one file and its rotated siblings. It is
// used by one reader at a time.
type Reader struct {
	fsys    rotation.FS
	dir     string
	base    string
	maxLine int

	cur  *open     // the file last read, held open
	pins []*open   // files held for positions handed out (Pin); cur may be one
	win  *gzWindow // lines of a compressed file kept by the last pass
}

// maxPins bounds the files one Reader holds for Pin.
const maxPins = 8

var _ tailer.History = (*Reader)(nil)

// New returns a Reader of dir/base (dir: the real directory of an allowed
// file) and its siblings. Lines longer than maxLine bytes are cut as the
// followers cut them.
func New(fsys rotation.FS, dir, base string, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = 64 << 10
	}
	return &Reader{fsys: fsys, dir: dir, base: base, maxLine: maxLine}
}

// Close releases the files held open.
func (r *Reader) Close() error {
	r.win = nil
	for _, o := range r.pins {
		o.f.Close()
	}
	if r.cur != nil && !r.pinned(r.cur) {
		r.cur.f.Close()
	}
	r.pins, r.cur = nil, nil
	return nil
}

func (r *Reader) pinned(o *open) bool { return slices.Contains(r.pins, o) }

// held returns the file held open for inode ino, or nil.
func (r *Reader) held(ino uint64) *open {
	if ino == 0 {
		return nil
	}
	if r.cur != nil && r.cur.ino == ino {
		return r.cur
	}
	for _, o := range r.pins {
		if o.ino == ino {
			return o
		}
	}
	return nil
}

// setCur makes o the current file, closing the previous one unless pinned.
func (r *Reader) setCur(o *open) {
	if r.cur != nil && r.cur != o && !r.pinned(r.cur) {
		r.cur.f.Close()
	}
	r.cur = o
}

// sizeOf returns o's size now (fstat: the file may have no name any more).
func sizeOf(o *open) int64 {
	if st, ok := o.f.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil {
			return fi.Size()
		}
	}
	return o.size
}

// Pin holds open the files that lines (of the ring, with their positions)
// are in, releasing those held for an earlier Pin: an Older request before
// one of them then reads that very file even if rotation renamed,
// compressed or removed it meanwhile, and no new file can take its
// identity (an inode number is not reused while it is open). A plain file
// is held only if it holds a line's text just before its offset, so a
// reused inode number is never mistaken for the file; a line the file its
// position names no longer holds is looked for in the plain siblings (after
// a copytruncate rotation the old content, at the same offsets, is in the
// copy), and the sibling that holds it is held for that file's positions.
func (r *Reader) Pin(ctx context.Context, lines []tailer.Line) error {
	// Most often the lines are in the live file: one stat finds it. The
	// directory (which may hold thousands of files) is listed only when a
	// line is in another file.
	var live, chain []member
	if e, err := r.fsys.Stat(path.Join(r.dir, r.base)); err == nil && e.Mode.IsRegular() {
		live = []member{{name: r.base, ino: e.Ino, size: e.Size, mtime: e.ModTime, live: true}}
	}
	listed := false
	var pins []*open
	for i := range lines {
		ln := &lines[i]
		if ln.Mark != "" || ln.Offset <= 0 || len(pins) == maxPins || ctx.Err() != nil {
			continue
		}
		if slices.ContainsFunc(pins, func(o *open) bool {
			return (o.ino == ln.File || o.alias == ln.File) && (o.gz || holdsLine(o.f, ln.Offset, ln.Text))
		}) {
			continue
		}
		if o := r.held(ln.File); o != nil && r.pinned(o) && (o.gz || holdsLine(o.f, ln.Offset, ln.Text)) {
			pins = append(pins, o)
			continue
		}
		if o := r.pinFrom(live, pins, ln); o != nil {
			pins = append(pins, o)
			continue
		}
		if !listed {
			entries, err := r.fsys.ReadDir(r.dir)
			if err != nil {
				return fmt.Errorf("list %s: %w", r.dir, err)
			}
			chain, listed = Chain(entries, r.base), true
		}
		if o := r.pinFrom(chain, pins, ln); o != nil {
			pins = append(pins, o)
		}
	}
	for _, o := range r.pins {
		if !slices.Contains(pins, o) && o != r.cur {
			o.f.Close()
		}
	}
	r.pins = pins // a current file no longer pinned is closed when the scan moves on
	return nil
}

// pinFrom opens the first of candidates that holds ln (its own file, or a
// plain copy of it) and is not pinned yet, or returns nil.
func (r *Reader) pinFrom(candidates []member, pins []*open, ln *tailer.Line) *open {
	for _, m := range candidates {
		if m.ino != ln.File && (m.live || m.gz || m.size < ln.Offset) {
			continue // not the file, nor a plain copy that could hold the line
		}
		if slices.ContainsFunc(pins, func(o *open) bool { return o.ino == m.ino }) {
			continue
		}
		f, err := r.fsys.Open(path.Join(r.dir, m.name))
		if err != nil {
			continue
		}
		if !(m.gz && m.ino == ln.File) && !holdsLine(f, ln.Offset, ln.Text) {
			f.Close()
			continue
		}
		o := &open{member: m, f: f}
		if m.ino != ln.File {
			o.alias = ln.File
		}
		return o
	}
	return nil
}

// holdsLine reports whether f holds text and a newline just before off.
func holdsLine(f io.ReaderAt, off int64, text string) bool {
	want := text + "\n"
	if off < int64(len(want)) {
		return false
	}
	got := make([]byte, len(want))
	n, _ := f.ReadAt(got, off-int64(len(want)))
	return n == len(got) && string(got) == want
}

// member is one file of the chain.
type member struct {
	name  string
	ino   uint64
	size  int64
	mtime time.Time
	gz    bool
	live  bool
	num   int    // base.N
	date  string // base-DATE
}

// open is a member held open.
type open struct {
	member
	f     rotation.File
	alias uint64 // positions naming this inode may be in this file: a copytruncate copy (Pin)
}

// Chain lists dir/base and its rotated siblings, newest first.
func Chain(entries []rotation.Entry, base string) []member {
	var out []member
	for _, e := range entries {
		if !e.Mode.IsRegular() {
			continue
		}
		m := member{name: e.Name, ino: e.Ino, size: e.Size, mtime: e.ModTime}
		if e.Name == base {
			m.live = true
			out = append(out, m)
			continue
		}
		rest, ok := strings.CutPrefix(e.Name, base)
		if !ok || rest == "" {
			continue
		}
		rest, m.gz = strings.CutSuffix(rest, ".gz")
		switch {
		case rest != "" && rest[0] == '.' && allDigits(rest[1:]) && len(rest) <= 10:
			m.num, _ = strconv.Atoi(rest[1:])
		case rest != "" && rest[0] == '-' && isDate(rest[1:]):
			m.date = rest[1:]
		default:
			continue
		}
		out = append(out, m)
	}
	slices.SortStableFunc(out, func(a, b member) int {
		if a.live != b.live {
			if a.live {
				return -1
			}
			return 1
		}
		if (a.num > 0) != (b.num > 0) {
			if a.num > 0 {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(a.num, b.num); c != 0 {
			return c
		}
		if c := strings.Compare(b.date, a.date); c != 0 {
			return c
		}
		if a.gz != b.gz { // app.log-D before app.log-D.gz: the plain one is newer
			if a.gz {
				return 1
			}
			return -1
		}
		return b.mtime.Compare(a.mtime)
	})
	return out
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isDate accepts what logrotate's dateformat usually makes: a digit first,
// then digits, '-' and '_' (20261127, 2026-11-27, 20261127-094512).
func isDate(s string) bool {
	if len(s) < 6 || s[0] < '0' || s[0] > '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// Older implements tailer.History.
func (r *Reader) Older(ctx context.Context, req tailer.OlderRequest) (tailer.OlderPage, error) {
	if req.N <= 0 {
		req.N = 1
	}
	if req.Budget <= 0 {
		req.Budget = tailer.DefaultHistoryBudget
	}
	entries, err := r.fsys.ReadDir(r.dir)
	if err != nil {
		return tailer.OlderPage{}, fmt.Errorf("list %s: %w", r.dir, err)
	}
	chain := Chain(entries, r.base)
	i, err := r.locate(chain, req.Before, req.BeforeText)
	if err != nil {
		return tailer.OlderPage{}, err
	}
	s := &scan{r: r, req: req, ctx: ctx}
	before := req.Before
	for {
		done, err := s.file(before)
		if err != nil {
			return tailer.OlderPage{}, err
		}
		s.page.File = r.cur.name
		if !done {
			break // n lines, or the budget
		}
		// This file is read to its start: the next older one, if any.
		if i++; i >= len(chain) {
			slices.Reverse(s.page.Lines)
			s.page.More, s.page.Next = false, tailer.Position{}
			return s.page, nil
		}
		before = tailer.Position{File: chain[i].ino, Offset: tailer.EndOfFile}
		s.page.More, s.page.Next = true, before
		if err := r.hold(chain[i]); err != nil {
			return tailer.OlderPage{}, err
		}
		if s.full() {
			break
		}
	}
	slices.Reverse(s.page.Lines)
	return s.page, nil
}

// locate finds the chain member a position names and makes it the current
// file. It returns the member's index in chain; a file held open but gone
// from the chain stands where its compressed copy is (or past the end when
// it was removed). When the text of the line at p is known, a plain file
// must hold it there: after a copytruncate rotation, the line (and the old
// content before it) is in the copy, a plain sibling, at the same offset.
func (r *Reader) locate(chain []member, p tailer.Position, text string) (int, error) {
	if p == (tailer.Position{}) {
		if len(chain) == 0 {
			return 0, fmt.Errorf("%s: %w", r.base, fs.ErrNotExist)
		}
		return 0, r.hold(chain[0]) // the live file, or the newest sibling when there is none now
	}
	if text != "" && p.Offset != tailer.EndOfFile {
		if o := r.held(p.File); o != nil && (o.gz || holdsLine(o.f, p.Offset, text)) {
			r.setCur(o)
			return r.indexOf(chain, o), nil
		}
		for _, o := range r.pins {
			if o.alias == p.File && holdsLine(o.f, p.Offset, text) {
				r.setCur(o)
				return r.indexOf(chain, o), nil
			}
		}
		for i, m := range chain {
			if m.ino == p.File && m.gz || (m.ino == p.File || !m.live && !m.gz && m.size >= p.Offset) && r.memberHolds(m, p.Offset, text) {
				return i, r.hold(m)
			}
		}
		// A copy compressed since (delaycompress, then the next rotation):
		// the newest few compressed siblings long enough, decompressed up
		// to the offset.
		spent := int64(0)
		for i, m := range chain {
			if !m.gz || m.ino == p.File || spent+p.Offset > maxGzipLook {
				continue
			}
			if r.isizeAtLeast(m, p.Offset) {
				spent += p.Offset
				if r.gzHolds(m, p.Offset, text) {
					return i, r.hold(m)
				}
			}
		}
		// Not confirmed anywhere (a cleaned or cut text): by identity.
	}
	if o := r.held(p.File); o != nil {
		r.setCur(o)
		return r.indexOf(chain, o), nil
	}
	for i, m := range chain {
		if m.ino == p.File {
			return i, r.hold(m)
		}
	}
	return 0, fmt.Errorf("file %d: %w", p.File, tailer.ErrPositionGone)
}

// maxGzipLook bounds the bytes locate decompresses, over all compressed
// siblings, to find the line a copytruncate rotation's copy held.
const maxGzipLook = 256 << 20

// isizeAtLeast reports whether the compressed member's content may be at
// least n bytes long (the trailer holds the size modulo 4 GiB).
func (r *Reader) isizeAtLeast(m member, n int64) bool {
	isize, ok := r.isize(m)
	return ok && (m.size >= 1<<32/8 || int64(isize) >= n)
}

// isize reads the gzip trailer's record of the content's size (modulo 4 GiB).
func (r *Reader) isize(m member) (uint32, bool) {
	if m.size < 18 {
		return 0, false
	}
	f, err := r.fsys.Open(path.Join(r.dir, m.name))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var b [4]byte
	if k, _ := f.ReadAt(b[:], m.size-4); k != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[:]), true
}

// gzHolds reports whether the compressed member's content holds text and a
// newline just before off.
func (r *Reader) gzHolds(m member, off int64, text string) bool {
	want := text + "\n"
	if off < int64(len(want)) {
		return false
	}
	f, err := r.fsys.Open(path.Join(r.dir, m.name))
	if err != nil {
		return false
	}
	defer f.Close()
	zr, err := gzipOf(f)
	if err != nil {
		return false
	}
	if _, err := io.CopyN(io.Discard, zr, off-int64(len(want))); err != nil {
		return false
	}
	got := make([]byte, len(want))
	n, _ := io.ReadFull(zr, got)
	return n == len(got) && string(got) == want
}

// memberHolds reports whether the plain member m holds text and a newline
// just before off.
func (r *Reader) memberHolds(m member, off int64, text string) bool {
	if o := r.held(m.ino); o != nil {
		return holdsLine(o.f, off, text)
	}
	f, err := r.fsys.Open(path.Join(r.dir, m.name))
	if err != nil {
		return false
	}
	defer f.Close()
	return holdsLine(f, off, text)
}

// indexOf returns where the held file o stands in chain: its own entry, or
// that of its compressed copy (the same size in the gzip trailer and the
// same first bytes), or len(chain) when it is gone (removed, and so is
// everything older).
func (r *Reader) indexOf(chain []member, o *open) int {
	for i, m := range chain {
		if m.ino == o.ino {
			if m.name != o.name {
				o.name = m.name
			}
			return i
		}
	}
	size := sizeOf(o)
	for i, m := range chain {
		if m.gz && r.isizeIs(m, size) && r.sameHead(m, o) {
			return i
		}
	}
	return len(chain)
}

// headLen is how many first bytes tell a compressed copy of a file.
const headLen = 1024

// sameHead reports whether the compressed member's content starts as o does.
func (r *Reader) sameHead(m member, o *open) bool {
	want := make([]byte, headLen)
	n, _ := o.f.ReadAt(want, 0)
	want = want[:n]
	f, err := r.fsys.Open(path.Join(r.dir, m.name))
	if err != nil {
		return false
	}
	defer f.Close()
	zr, err := gzipOf(f)
	if err != nil {
		return false
	}
	got := make([]byte, len(want))
	k, _ := io.ReadFull(zr, got)
	return k == len(want) && bytes.Equal(got, want)
}

// isizeIs reports whether the compressed member's trailer says its content
// is size bytes long (modulo 4 GiB, as gzip records it).
func (r *Reader) isizeIs(m member, size int64) bool {
	isize, ok := r.isize(m)
	return ok && isize == uint32(size)
}

// hold makes m the current file, opening it unless it is held already.
func (r *Reader) hold(m member) error {
	if o := r.held(m.ino); o != nil {
		o.name = m.name
		r.setCur(o)
		return nil
	}
	f, err := r.fsys.Open(path.Join(r.dir, m.name))
	if err != nil {
		return fmt.Errorf("open %s: %w", m.name, err)
	}
	r.setCur(&open{member: m, f: f})
	return nil
}

// scan is one Older call.
type scan struct {
	r     *Reader
	req   tailer.OlderRequest
	ctx   context.Context
	page  tailer.OlderPage
	bytes int // text bytes in page.Lines

	evb eventBuf // events(): the event being read
}

// file scans the held file backwards from the position before. It reports
// whether it reached the file's start (done) or stopped for n lines or the
// budget (page.Next and More then set).
func (s *scan) file(before tailer.Position) (bool, error) {
	if s.r.cur.gz {
		return s.gzFile(before)
	}
	return s.plainFile(before)
}

func (s *scan) add(ln tailer.Line) {
	s.page.Lines = append(s.page.Lines, ln)
	s.bytes += len(ln.Text)
}

// events reports whether the request judges whole events.
func (s *scan) events() bool { return s.req.KeepEvent != nil && s.req.Continues != nil }

// windowKey identifies what a compressed file's window kept: the filter,
// and whether it judged events or lines.
func (s *scan) windowKey() string {
	if s.events() {
		return s.req.Key + "\x00events"
	}
	return s.req.Key
}

// judge decides on the event held in s.evb, read backwards (its first
// line last), and adds its lines, newest first as the scan adds lines, if
// it is kept.
func (s *scan) judge() {
	ev := s.evb.view(true)
	if s.req.KeepEvent(ev) {
		for i := len(ev) - 1; i >= 0; i-- {
			s.add(s.evb.keep(&ev[i]))
		}
	}
	s.evb.reset()
}

// enough reports whether the request has the lines it asked for, or as many
// bytes of them as it may hold.
func (s *scan) enough() bool {
	return len(s.page.Lines) >= s.req.N || s.req.MaxBytes > 0 && s.bytes >= s.req.MaxBytes
}

// full reports whether the request has what it asked for, or spent its budget.
func (s *scan) full() bool {
	return s.enough() || s.page.Scanned >= s.req.Budget
}

// stopAt records that the scan stopped after examining the line ending at off.
func (s *scan) stopAt(off int64) {
	s.page.More, s.page.Next = true, tailer.Position{File: s.r.cur.ino, Offset: off}
}

// plainFile reads the held plain file backwards.
func (s *scan) plainFile(before tailer.Position) (bool, error) {
	c := s.r.cur
	b := &backward{r: c.f, buf: make([]byte, chunkSize)}
	size := sizeOf(c)
	var pos int64 // the scan continues with the line that ends here
	switch {
	case before.Offset == tailer.EndOfFile || before == tailer.Position{}:
		pos = size
		if c.live || before == (tailer.Position{}) {
			// The live file's last line may be unfinished: start after its
			// last newline.
			p, err := b.lineStart(size + 1)
			if err != nil {
				return false, err
			}
			pos = p
		}
	case before.Offset > size:
		return false, fmt.Errorf("%s is shorter than the position (truncated?): %w", c.name, tailer.ErrPositionGone)
	default:
		p, err := b.lineStart(before.Offset) // skip the line ending there
		if err != nil {
			return false, err
		}
		pos = p
	}
	maxLine := s.r.maxLine
	modTime := c.mtime
	for pos > 0 {
		if err := s.ctx.Err(); err != nil {
			return false, err
		}
		start, err := b.lineStart(pos)
		if err != nil {
			return false, err
		}
		text, err := b.text(start, pos, maxLine, s.req.Keep != nil || s.events())
		if err != nil {
			return false, err
		}
		s.page.Scanned += pos - start
		switch {
		case s.events():
			// Read backwards, an event's continuation lines come before its
			// first line: they wait for it, and the event is judged whole.
			if s.req.Continues(text) && start > 0 && s.evb.room(text) {
				s.evb.add(c.ino, pos, text, modTime)
				pos = start
				continue
			}
			s.evb.add(c.ino, pos, text, modTime)
			s.judge()
		case s.req.Keep == nil:
			s.add(line(c.ino, pos, text, modTime))
		default:
			if probe := (tailer.Line{File: c.ino, Offset: pos, Text: text}); s.req.Keep(&probe) {
				s.add(line(c.ino, pos, strings.Clone(text), modTime)) // text may be a view of the buffer
			}
		}
		if s.full() {
			s.stopAt(pos)
			if start == 0 {
				// The file's first line: nothing is left in it.
				return true, nil
			}
			return false, nil
		}
		pos = start
	}
	return true, nil
}

// line makes a history line: its position, text and own time.
func line(ino uint64, end int64, text string, receipt time.Time) tailer.Line {
	ln := tailer.Line{File: ino, Offset: end, Text: text}
	if t, ok := logtime.Parse(text, receipt); ok {
		ln.Time = t
	}
	return ln
}

// backward reads a file backwards through one buffer.
type backward struct {
	r   io.ReaderAt
	buf []byte // holds the file's bytes [lo, lo+len(buf))
	lo  int64
	got []byte // buf[:n] as filled
}

// fill makes got hold the bytes before hi (at most len(buf) of them).
func (b *backward) fill(hi int64) error {
	lo := max(0, hi-int64(len(b.buf)))
	n, err := b.r.ReadAt(b.buf[:hi-lo], lo)
	if n < int(hi-lo) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF // shrank meanwhile
		}
		return err
	}
	b.lo, b.got = lo, b.buf[:hi-lo]
	return nil
}

// lineStart returns where the line whose last byte is at end-1 begins: just
// past the last newline before end-1, or 0.
func (b *backward) lineStart(end int64) (int64, error) {
	hi := end - 1
	for hi > 0 {
		if hi <= b.lo || hi > b.lo+int64(len(b.got)) || b.got == nil {
			if err := b.fill(hi); err != nil {
				return 0, err
			}
		}
		if i := bytes.LastIndexByte(b.got[:hi-b.lo], '\n'); i >= 0 {
			return b.lo + int64(i) + 1, nil
		}
		hi = b.lo
	}
	return 0, nil
}

// text returns the cleaned text of the line in [start, end) (its newline,
// if any, is its last byte), cut as the followers cut it. With view, the
// text may share the buffer's memory (valid until the next read; clone it
// to keep it): a search looks at every line and keeps few, and allocating
// each one made the garbage collector compete with the live stream.
func (b *backward) text(start, end int64, maxLine int, view bool) (string, error) {
	raw := func(from, to int64) ([]byte, error) {
		if from >= b.lo && to <= b.lo+int64(len(b.got)) && b.got != nil {
			return b.got[from-b.lo : to-b.lo], nil
		}
		p := make([]byte, to-from)
		if n, err := b.r.ReadAt(p, from); n < len(p) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return p, nil
	}
	keep := int64(maxLine + 5)
	if end-start <= keep {
		p, err := raw(start, end)
		if err != nil {
			return "", err
		}
		p = bytes.TrimSuffix(p, []byte{'\n'})
		if view {
			return tailer.Clean(unsafe.String(unsafe.SliceData(p), len(p)), maxLine), nil
		}
		return tailer.Clean(string(p), maxLine), nil
	}
	head, err := raw(start, start+keep)
	if err != nil {
		return "", err
	}
	total := end - start
	last, err := raw(end-2, end)
	if err == nil && last[1] == '\n' {
		total--
		if last[0] == '\r' {
			total--
		}
	}
	return tailer.Cut(string(head), total, maxLine), nil
}

// gzWindow is what one pass over a compressed file kept: the lines the
// filter accepted that end in (lo, below), oldest first.
type gzWindow struct {
	ino   uint64
	key   string
	lines []tailer.Line
	lo    int64 // 0: every accepted line before below is here
	below int64
}

// covers reports whether w holds every accepted line ending before b that
// is newer than its own start, and at least one could be there.
func (w *gzWindow) covers(b int64) bool {
	return b <= w.below && (w.lo == 0 || b > w.lo+1)
}

// gzFile serves the request from the held compressed file: the accepted
// lines ending before before.Offset (all of them for EndOfFile).
func (s *scan) gzFile(before tailer.Position) (bool, error) {
	c := s.r.cur
	b := before.Offset
	if before == (tailer.Position{}) {
		b = tailer.EndOfFile
	}
	w := s.r.win
	if w != nil && (w.ino != c.ino || w.key != s.windowKey()) {
		w = nil
	}
	for {
		if err := s.ctx.Err(); err != nil {
			return false, err
		}
		if w != nil && w.covers(b) {
			i, _ := slices.BinarySearchFunc(w.lines, b, func(l tailer.Line, b int64) int { return cmp.Compare(l.Offset, b) })
			for ; i > 0; i-- {
				ln := w.lines[i-1]
				s.add(ln)
				// With events, a page ends at an event's first line (the
				// window holds whole events).
				if s.enough() && (!s.events() || !s.req.Continues(ln.Text)) {
					s.stopAt(ln.Offset)
					return false, nil
				}
			}
			if w.lo == 0 {
				return true, nil
			}
			b = w.lo + 1 // lines ending at lo or before: another pass
		}
		if s.page.Scanned >= s.req.Budget && s.page.Scanned > 0 {
			s.stopAt(b)
			return false, nil
		}
		var err error
		if w, err = s.pass(b); err != nil {
			return false, err
		}
		s.r.win = w
	}
}

// pass decompresses the held file from its start and keeps the newest
// accepted lines ending before b, at most windowBytes of them.
func (s *scan) pass(b int64) (*gzWindow, error) {
	c := s.r.cur
	zr, err := gzipOf(c.f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, chunkSize)
	w := &gzWindow{ino: c.ino, key: s.windowKey(), below: b}
	var kept []tailer.Line
	head, bytesKept := 0, 0
	var off int64
	maxLine := s.r.maxLine
	keep := maxLine + 5
	var part []byte // the head of an over-long line
	var partLen int64
	// push keeps ln in the window, dropping the oldest kept lines beyond
	// windowBytes.
	push := func(ln tailer.Line) {
		kept = append(kept, ln)
		bytesKept += len(ln.Text) + lineOverhead
		// With events, the window starts at an event's first line.
		for head < len(kept)-1 && (bytesKept > windowBytes || s.events() && head > 0 && s.req.Continues(kept[head].Text)) {
			bytesKept -= len(kept[head].Text) + lineOverhead
			w.lo = kept[head].Offset
			kept[head] = tailer.Line{}
			head++
		}
		if head > 1024 && head > len(kept)/2 {
			kept = append(kept[:0], kept[head:]...)
			head = 0
		}
	}
	// events(): judge the event read (its first line first) and keep it
	// or not.
	flush := func() {
		if ev := s.evb.view(false); len(ev) > 0 && s.req.KeepEvent(ev) {
			for i := range ev {
				push(s.evb.keep(&ev[i]))
			}
		}
		s.evb.reset()
	}
	for n := 0; off < b; n++ {
		if n%4096 == 0 {
			if err := s.ctx.Err(); err != nil {
				return nil, err
			}
		}
		p, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(part) < keep {
				part = append(part, p[:min(len(p), keep-len(part))]...)
			}
			partLen += int64(len(p))
			off += int64(len(p))
			continue
		}
		if len(p) == 0 && partLen == 0 {
			if err == nil || err == io.EOF {
				break
			}
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		off += int64(len(p))
		if off >= b {
			break
		}
		var text string
		if partLen > 0 {
			total := partLen + int64(len(p))
			if len(part) < keep {
				part = append(part, p[:min(len(p), keep-len(part))]...)
			}
			if len(p) > 0 && p[len(p)-1] == '\n' {
				total--
				if len(p) > 1 && p[len(p)-2] == '\r' {
					total--
				}
			}
			text = tailer.Cut(string(part), total, maxLine)
			part, partLen = part[:0], 0
		} else {
			// A view of the reader's buffer, cloned only when kept (see
			// backward.text).
			q := bytes.TrimSuffix(p, []byte{'\n'})
			text = tailer.Clean(unsafe.String(unsafe.SliceData(q), len(q)), maxLine)
		}
		switch {
		case s.events():
			// Forwards, an event's first line comes first: its lines
			// gather until the next event begins, then are judged whole.
			if s.evb.n() > 0 && (!s.req.Continues(text) || !s.evb.room(text)) {
				flush()
			}
			s.evb.add(c.ino, off, text, c.mtime)
		case s.req.Keep == nil:
			push(line(c.ino, off, strings.Clone(text), c.mtime))
		default:
			if probe := (tailer.Line{File: c.ino, Offset: off, Text: text}); s.req.Keep(&probe) {
				push(line(c.ino, off, strings.Clone(text), c.mtime))
			}
		}
		if err != nil {
			if err != io.EOF {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			break
		}
	}
	if s.events() {
		flush() // the last event read
	}
	s.page.Scanned += off
	if b != tailer.EndOfFile && off+1 < b {
		return nil, fmt.Errorf("%s is shorter than the position: %w", c.name, tailer.ErrPositionGone)
	}
	w.lines = slices.Clip(kept[head:])
	return w, nil
}

// gzipOf starts decompressing f from its start. The compressed bytes are
// read in chunks of chunkSize: gzip reads through a 4 KiB buffer of its
// own otherwise, which over SFTP is one round trip per 4 KiB.
func gzipOf(f io.ReaderAt) (*gzip.Reader, error) {
	return gzip.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), chunkSize))
}

// findScan bounds how far past a point Find reads for a line with a time.
const findScan = 64 << 10

// Find implements tailer.History: the file is chosen by the time of each
// file's first line that carries one (newest file first; a file whose first
// lines carry none is judged by its mtime), then a plain file is bisected on
// its lines' times (a few small reads) and a compressed one is read from its
// start. Lines without a time of their own (a stack trace's) go with the
// line before them. The lines are assumed to be in time order.
func (r *Reader) Find(ctx context.Context, ts int64) (tailer.Line, bool, error) {
	entries, err := r.fsys.ReadDir(r.dir)
	if err != nil {
		return tailer.Line{}, false, fmt.Errorf("list %s: %w", r.dir, err)
	}
	chain := Chain(entries, r.base)
	k := -1                   // the newest file that starts at or before ts
	untimed := map[int]bool{} // files whose first lines carry no time
	for i, m := range chain {
		if err := ctx.Err(); err != nil {
			return tailer.Line{}, false, err
		}
		if err := r.hold(m); err != nil {
			return tailer.Line{}, false, err
		}
		first, ok, err := r.forward(ctx, 0, findScan, func(ln tailer.Line) bool { return ln.Time != 0 })
		if err != nil {
			return tailer.Line{}, false, err
		}
		untimed[i] = !ok
		if ok && first.Time <= ts || !ok && m.mtime.UnixMilli() < ts {
			k = i
			break
		}
	}
	if k < 0 {
		k = len(chain) - 1 // everything is newer: the first line of the oldest file
	}
	for ; k >= 0; k-- {
		if err := r.hold(chain[k]); err != nil {
			return tailer.Line{}, false, err
		}
		if untimed[k] && chain[k].mtime.UnixMilli() >= ts {
			// No times to go by: the file last written at or after ts
			// after one written before it starts where ts is.
			return r.forward(ctx, 0, -1, func(tailer.Line) bool { return true })
		}
		from := int64(0)
		if !r.cur.gz {
			if from, err = r.bisect(ctx, ts); err != nil {
				return tailer.Line{}, false, err
			}
		}
		ln, ok, err := r.forward(ctx, from, -1, func(ln tailer.Line) bool { return ln.Time >= ts })
		if err != nil || ok {
			return ln, ok, err
		}
		// Every line of this file is older: the target starts the next one.
	}
	return tailer.Line{}, false, nil
}

// bisect returns a line start of the held plain file before which every
// line with a time is older than ts, close to the first one that is not.
func (r *Reader) bisect(ctx context.Context, ts int64) (int64, error) {
	lo, hi := int64(0), sizeOf(r.cur)
	b := &backward{r: r.cur.f, buf: make([]byte, 4096)}
	for hi-lo > findScan {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		mid := lo + (hi-lo)/2
		s, err := b.lineStart(mid + 1) // the start of the line holding byte mid
		if err != nil {
			return 0, err
		}
		if s <= lo {
			s = mid // one long line: look after it
		}
		ln, ok, err := r.forward(ctx, s, findScan, func(ln tailer.Line) bool { return ln.Time != 0 })
		if err != nil {
			return 0, err
		}
		if ok && ln.Time < ts {
			lo = ln.Offset
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// forward reads the held file's lines from offset from (a line start; the
// content's offset for a compressed file, which is read from its start)
// until want accepts one or limit bytes were read (limit < 0: the end).
func (r *Reader) forward(ctx context.Context, from, limit int64, want func(tailer.Line) bool) (tailer.Line, bool, error) {
	c := r.cur
	var src io.Reader
	if c.gz {
		zr, err := gzipOf(c.f)
		if err != nil {
			return tailer.Line{}, false, fmt.Errorf("%s: %w", c.name, err)
		}
		defer zr.Close()
		if _, err := io.CopyN(io.Discard, zr, from); err != nil {
			return tailer.Line{}, false, nil
		}
		src = zr
	} else {
		src = io.NewSectionReader(c.f, from, 1<<62)
	}
	br := bufio.NewReaderSize(src, 64<<10)
	off := from
	for n := 0; limit < 0 || off-from < limit; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return tailer.Line{}, false, ctx.Err()
		}
		p, err := br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		off += int64(len(p))
		if len(p) > 0 && !full && (p[len(p)-1] == '\n' || !c.live) {
			text := tailer.Clean(string(bytes.TrimSuffix(p, []byte{'\n'})), r.maxLine)
			if ln := line(c.ino, off, text, c.mtime); want(ln) {
				return ln, true, nil
			}
		}
		for full { // an over-long line: its head is not looked at
			p, err = br.ReadSlice('\n')
			full = errors.Is(err, bufio.ErrBufferFull)
			off += int64(len(p))
		}
		if err != nil {
			if err == io.EOF {
				return tailer.Line{}, false, nil
			}
			return tailer.Line{}, false, fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return tailer.Line{}, false, nil
}

// eventBuf holds the lines of one event while it is read, their text in
// one buffer reused from event to event: nothing is allocated for a line
// until its event is kept.
type eventBuf struct {
	text  []byte
	lines []evLine
	mtime time.Time // of the file the event is in
	vw    []tailer.Line
}

type evLine struct {
	file   uint64
	off    int64
	lo, hi int // its text: text[lo:hi]
}

// room reports whether a line of text may join the event (else the event
// is judged in parts).
func (e *eventBuf) room(text string) bool {
	return len(e.lines) < tailer.MaxEventLines-1 && len(e.text)+len(text) < tailer.MaxEventBytes
}

func (e *eventBuf) n() int { return len(e.lines) }

// add appends a line; text is copied (it may view a reader's buffer).
func (e *eventBuf) add(file uint64, off int64, text string, mtime time.Time) {
	lo := len(e.text)
	e.text = append(e.text, text...)
	e.lines = append(e.lines, evLine{file: file, off: off, lo: lo, hi: len(e.text)})
	e.mtime = mtime
}

// view returns the lines, first added first, or last added first when
// reverse; their texts view the buffer, valid until reset.
func (e *eventBuf) view(reverse bool) []tailer.Line {
	v := e.vw[:0]
	for i := range e.lines {
		l := &e.lines[i]
		if reverse {
			l = &e.lines[len(e.lines)-1-i]
		}
		t := e.text[l.lo:l.hi]
		v = append(v, tailer.Line{File: l.file, Offset: l.off, Text: unsafe.String(unsafe.SliceData(t), len(t))})
	}
	e.vw = v
	return v
}

// keep returns the history line of v (a line of view), its text copied.
func (e *eventBuf) keep(v *tailer.Line) tailer.Line {
	return line(v.File, v.Offset, strings.Clone(v.Text), e.mtime)
}

// reset empties the buffer for the next event.
func (e *eventBuf) reset() {
	clear(e.vw)
	e.text, e.lines, e.vw = e.text[:0], e.lines[:0], e.vw[:0]
	if cap(e.text) > 64<<10 {
		e.text = nil // do not keep a long event's buffer for every short one
	}
}
