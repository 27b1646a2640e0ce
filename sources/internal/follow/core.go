// Package follow is the core that the followers of every source share: what
// has been delivered of a file and the proof that the file still holds it,
// cutting bytes into lines, committing them to the sink, the inline markers,
// recovering what a copytruncate rotation cut from the copy it made, and
// draining a file that was rotated away.
//
// A source differs from another only in how it reads bytes (pread on a held
// inode locally; a remote tail's stream checked over SFTP) and how it notices
// that the path names another file. Both keep a Core per followed path and
// call it for everything else, so that a rule about losing nothing (never
// deliver bytes the file no longer holds at their offsets; say how many bytes
// were skipped, never drop silently) is written once.
//
// The model. Lines are delivered up to an offset, Delivered, of the file being
// followed; the KnownLen bytes just before it (Known) are kept. Before more of
// the file is delivered, the file must still hold Known just before
// Delivered: if it does not, it was truncated (and perhaps written again
// since), and the follower deals with that (see FromCopy). Bytes are fed to
// the Core's Splitter, which makes lines of them that wait (Pending) until
// Commit hands them to the sink and moves Delivered past them.
package follow

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"time"

	"github.com/logviewer/logviewer/sources/internal/rotation"
	"github.com/logviewer/logviewer/tailer"
)

// KnownLen is how many delivered bytes are kept to recognise the file (and
// its rotated copy) later: several lines' worth, so that the run of bytes
// holds timestamps or sequence numbers, not only padding that every file of
// the same log has at the same offsets.
const KnownLen = 1024

// MaxBatch bounds the lines handed to the sink at once by Push (and the
// scratch they take): a chunk of empty lines would otherwise be 256Ki Lines.
const MaxBatch = 8192

// RotateLinger bounds how long a rotated-away file is read on while it still
// grows (its writer has not reopened the path yet).
const RotateLinger = 5 * time.Second

// Core is the delivery state of one followed path. It is used by one
// goroutine.
type Core struct {
	Sink  tailer.Sink
	Ino   uint64   // the identity of the file being followed, set by the follower
	Split Splitter // where bytes are fed
	// Seen is the largest size the file was seen to have since it was last
	// truncated: what Seen-Delivered bytes a truncation took, when no copy
	// of them is found.
	Seen int64

	delivered int64
	known     []byte
	pending   []tailer.Line

	// Where the last batch cut off for verification ends (see Cut): the
	// next batch's check starts there.
	cutEnd   int64
	cutKnown []byte
}

// Init sets the sink and the longest line kept.
func (c *Core) Init(sink tailer.Sink, maxLine int) {
	c.Sink = sink
	c.Split.Init(maxLine)
}

// Delivered is the offset just past the last line delivered from the file.
func (c *Core) Delivered() int64 { return c.delivered }

// Known returns the up to KnownLen bytes of the file that end at Delivered
// (the Core's slice: it changes with Commit and Reset).
func (c *Core) Known() []byte { return c.known }

// Pending is how many lines wait for Commit (or Cut).
func (c *Core) Pending() int { return len(c.pending) }

// Reset starts at off, a line start of the file r: nothing pending, Known
// read back from r. A short read leaves Known empty (nothing to verify) and
// is returned.
func (c *Core) Reset(r io.ReaderAt, off int64) error {
	c.delivered, c.Seen = off, off
	c.pending = c.pending[:0]
	c.known = c.known[:0]
	var err error
	if k := min(off, KnownLen); k > 0 {
		buf := make([]byte, k)
		n, rerr := r.ReadAt(buf, off-k)
		if n == len(buf) {
			c.known = append(c.known, buf...)
		} else {
			err = fmt.Errorf("read back the %d bytes before offset %d: %w", k, off, orUnexpectedEOF(rerr))
		}
	}
	c.Split.Reset(off, c.known)
	c.uncut()
	return err
}

// uncut makes the next batch start at Delivered.
func (c *Core) uncut() {
	c.cutEnd = c.delivered
	c.cutKnown = append(c.cutKnown[:0:0], c.known...)
}

// Restart drops what is pending (and an unfinished line) and feeds again
// from Delivered.
func (c *Core) Restart() {
	c.pending = c.pending[:0]
	c.Split.Reset(c.delivered, c.known)
	c.uncut()
}

// Feed splits b, the file's next bytes, into pending lines (at most limit
// more) and returns how many bytes of b it used.
func (c *Core) Feed(b []byte, limit int) int {
	limit = max(limit, 1)
	var used int
	c.pending, used = c.Split.Feed(c.pending, b, c.Ino, limit)
	c.Seen = max(c.Seen, c.Split.Off())
	return used
}

// Commit hands the pending lines to the sink and moves Delivered past them.
func (c *Core) Commit() {
	c.Deliver(c.pending)
	c.pending = c.pending[:0]
	if e := c.Split.End(); e != c.delivered {
		c.delivered = e
		c.known = append(c.known[:0], c.Split.Known()...)
	}
	if cap(c.pending) > 4*MaxBatch {
		c.pending = nil // give back the room a burst took
	}
	c.uncut()
}

// Batch is pending lines cut off to be verified while more bytes are fed
// (see Cut): a follower whose check of the file takes a round trip keeps
// several in flight instead of waiting for each.
type Batch struct {
	Lines     []tailer.Line
	from      int64 // the end of what was delivered or cut before the batch
	fromKnown []byte
	end       int64 // just past the batch's last line
	endKnown  []byte
}

// Cut takes the pending lines as a Batch, to be checked with VerifyBatch
// and committed with CommitBatch, in the order they were cut. Nothing may be
// committed with Commit or Push while batches are out; Reset and Restart
// drop them all.
func (c *Core) Cut() *Batch {
	b := &Batch{Lines: c.pending, from: c.cutEnd, fromKnown: c.cutKnown, end: c.Split.End(), endKnown: slices.Clone(c.Split.Known())}
	c.pending = nil
	c.cutEnd, c.cutKnown = b.end, b.endKnown
	return b
}

// VerifyBatch reports whether r holds both the bytes that end where b
// begins and those that end where b ends (see Verify). It only reads r, so
// it may run on any goroutine.
func VerifyBatch(r io.ReaderAt, b *Batch) (bool, error) {
	return verifySpan(r, b.from, b.fromKnown, b.end, b.endKnown)
}

// CommitBatch hands b, verified, to the sink and moves Delivered past it.
// b must be the oldest batch cut and not yet committed.
func (c *Core) CommitBatch(b *Batch) {
	c.Deliver(b.Lines)
	c.delivered = b.end
	c.known = append(c.known[:0], b.endKnown...)
	c.Seen = max(c.Seen, b.end)
}

// Push feeds b and commits its lines in batches of at most MaxBatch: for
// bytes that need no check against the file (read from it just now, after
// the check, or from a rotated copy).
func (c *Core) Push(b []byte) {
	for len(b) > 0 {
		n := c.Feed(b, MaxBatch)
		c.Commit()
		b = b[n:]
	}
}

// FlushPartial delivers a last line without newline (at the end of a file
// nobody will finish it in).
func (c *Core) FlushPartial() {
	c.pending = c.Split.Flush(c.pending, c.Ino)
	c.Commit()
}

// Deliver stamps lines with the receipt time and hands them to the sink.
func (c *Core) Deliver(lines []tailer.Line) {
	if len(lines) == 0 {
		return
	}
	now := time.Now().UnixMilli()
	for i := range lines {
		lines[i].Time = now
	}
	c.Sink.Lines(lines)
}

// Mark puts an inline event of kind (tailer.Mark*) into the stream.
func (c *Core) Mark(kind, text string) {
	c.Sink.Lines([]tailer.Line{{Time: time.Now().UnixMilli(), File: c.Ino, Offset: -1, Text: text, Mark: kind}})
}

// MarkSkipped says how many bytes the file was seen to hold past Delivered
// that cannot be delivered, with the reason err (rotation.ErrNotFound: no
// copy of them was found).
func (c *Core) MarkSkipped(err error) {
	if c.Seen <= c.delivered {
		return
	}
	why := "no rotated copy of them was found"
	if !errors.Is(err, rotation.ErrNotFound) {
		why = err.Error()
	}
	c.Mark(tailer.MarkSkipped, fmt.Sprintf("%d bytes were truncated before they were read (%s)", c.Seen-c.delivered, why))
}

// Holds reports whether r still holds Known just before Delivered.
func (c *Core) Holds(r io.ReaderAt) (bool, error) {
	return Holds(r, c.delivered-int64(len(c.known)), c.known)
}

// Verify reports whether r holds both Known just before Delivered and, when
// lines are pending, the bytes that end at the last of them (the Splitter's
// Known): the file still holds what was delivered and what is about to be.
// Where the two are near, one read checks both.
func (c *Core) Verify(r io.ReaderAt) (bool, error) {
	return verifySpan(r, c.delivered, c.known, c.Split.End(), c.Split.Known())
}

// verifySpan reports whether r holds known just before delivered and
// endKnown just before end.
func verifySpan(r io.ReaderAt, delivered int64, known []byte, end int64, endKnown []byte) (bool, error) {
	from := delivered - int64(len(known))
	if end == delivered {
		return Holds(r, from, known)
	}
	if span := end - from; span <= 64<<10 {
		buf := make([]byte, span)
		n, err := r.ReadAt(buf, from)
		if n < len(buf) {
			if err != nil && err != io.EOF {
				return false, err
			}
			return false, nil
		}
		return bytes.HasPrefix(buf, known) && bytes.HasSuffix(buf, endKnown), nil
	}
	// Far apart: two reads, at once (over SFTP each is a round trip).
	var ok1 bool
	var err1 error
	done := make(chan struct{})
	go func() {
		defer close(done)
		ok1, err1 = Holds(r, from, known)
	}()
	ok2, err2 := Holds(r, end-int64(len(endKnown)), endKnown)
	<-done
	if err := cmp.Or(err1, err2); err != nil {
		return false, err
	}
	return ok1 && ok2, nil
}

// Holds reports whether r holds want at off (nothing is always held; a
// negative offset never).
func Holds(r io.ReaderAt, off int64, want []byte) (bool, error) {
	if len(want) == 0 {
		return true, nil
	}
	if off < 0 {
		return false, nil
	}
	got := make([]byte, len(want))
	n, err := r.ReadAt(got, off)
	if n < len(got) {
		if err != nil && err != io.EOF {
			return false, err
		}
		return false, nil
	}
	return bytes.Equal(got, want), nil
}

// FromCopy delivers the file's old content after Delivered from the copy
// that a copytruncate rotation made of it, dir/base being the file's real
// path (see rotation.FindCopy), and returns the copy's base name. Its lines
// carry the copy's identity where fsys knows it (else the file's) and their
// offsets in the copy's content, which are the offsets they had in the file.
//
// The copy is found by Known or, when nothing was delivered, by lead: the old
// content's first bytes (read from the file earlier, or what a tail sent of
// it), which are delivered first. When more (bytes of the old content from
// Delivered on, as a remote tail sent them) continues past the copy's end,
// the rest of more is delivered too and a last unfinished line stays in the
// Splitter; otherwise a last line without newline in the copy is delivered
// (nobody will finish it). Without a copy it returns rotation.ErrNotFound
// and delivers nothing. Cancelling ctx stops reading (ctx.Err() is returned).
func (c *Core) FromCopy(ctx context.Context, fsys rotation.FS, dir, base string, lead, more []byte) (string, error) {
	start, off, known := c.delivered, c.delivered, c.known
	if start == 0 {
		lead = lead[:min(len(lead), KnownLen)]
		off, known = int64(len(lead)), lead
	} else {
		lead = nil
	}
	if len(known) == 0 {
		return "", rotation.ErrNotFound
	}
	cp, err := rotation.FindCopy(fsys, dir, base, off, known)
	if err != nil {
		return "", err
	}
	defer cp.Close()
	name := path.Base(cp.Path)
	ino := c.Ino
	if cp.Entry.Ino != 0 {
		ino = cp.Entry.Ino
	}
	c.Restart()
	c.Ino, ino = ino, c.Ino // the copy's lines carry its identity
	defer func() { c.Ino = ino }()
	c.Push(lead)
	buf := make([]byte, 64<<10)
	for {
		n, rerr := io.ReadFull(cp, buf)
		c.Push(buf[:n])
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr == nil {
			rerr = ctx.Err()
		}
		if ctx.Err() != nil {
			return name, ctx.Err()
		}
		if rerr != nil {
			c.Mark(tailer.MarkSkipped, fmt.Sprintf("reading the rotated copy %s failed after %d bytes: %v", name, off, rerr))
			break
		}
	}
	recent := c.Split.Recent()
	if k := off - start; k <= int64(len(more)) {
		n := min(int64(len(recent)), k)
		if bytes.Equal(recent[int64(len(recent))-n:], more[k-n:k]) {
			c.Push(more[k:])
			return name, nil
		}
	}
	c.FlushPartial()
	return name, nil
}

// Drain reads the rest of a file that the path no longer names, with read
// (which delivers what the file holds past what was read and reports how
// many bytes it read): until the file has not grown for poll and moved
// reports that its writer has moved on (nil: at once), for at most
// RotateLinger; then a last line without newline is delivered too. wake, if
// not nil, says the file may have grown.
//
// A writer appends to the renamed file until it reopens the path, which it
// does after logrotate's postrotate, a while after the rename: a pause of
// the writer longer than poll in between must not end the drain, or what it
// writes next to the old file is never read.
func (c *Core) Drain(ctx context.Context, read func() (int64, error), poll time.Duration, wake <-chan struct{}, moved func() bool) error {
	deadline := time.Now().Add(RotateLinger)
	grew := time.Now()
	quiet := time.NewTimer(poll)
	defer quiet.Stop()
	for {
		n, err := read()
		if err != nil {
			return err
		}
		now := time.Now()
		if n > 0 {
			grew = now
		}
		if now.After(deadline) || now.Sub(grew) >= poll && (moved == nil || moved()) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-quiet.C:
			quiet.Reset(poll)
		}
	}
	c.FlushPartial()
	return nil
}

// Sleep waits for d or until ctx ends, whichever is first.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func orUnexpectedEOF(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
