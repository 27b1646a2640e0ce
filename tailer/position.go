package tailer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Position names a point in a log's source that outlives the process: the
// file (its identity, an inode) and the byte offset just past a line in it.
// Seqs are only comparable within one Log; a Position is comparable across
// restarts, so links and resumes use it. Its text form is opaque to
// clients: they get it from the server and give it back.
type Position struct {
	File   uint64
	Offset int64
}

// Pos returns the position just past l, and whether l has one (markers and
// lines of unknown offset do not).
func (l *Line) Pos() (Position, bool) {
	if l.Mark != "" || l.Offset < 0 {
		return Position{}, false
	}
	return Position{File: l.File, Offset: l.Offset}, true
}

// String returns the text form that ParsePosition reads.
func (p Position) String() string { return string(p.AppendText(nil)) }

// AppendText appends the text form of p to b.
func (p Position) AppendText(b []byte) []byte {
	b = strconv.AppendUint(b, p.File, 10)
	b = append(b, ':')
	return strconv.AppendInt(b, p.Offset, 10)
}

// ParsePosition reads what String wrote.
func ParsePosition(s string) (Position, error) {
	f, o, ok := strings.Cut(s, ":")
	if !ok {
		return Position{}, fmt.Errorf("position %.40q: want FILE:OFFSET", s)
	}
	file, err1 := strconv.ParseUint(f, 10, 64)
	off, err2 := strconv.ParseInt(o, 10, 64)
	if err1 != nil || err2 != nil || off < 0 {
		return Position{}, fmt.Errorf("position %.40q: want FILE:OFFSET", s)
	}
	return Position{File: file, Offset: off}, nil
}

// Seek returns the seq of the first line after p: where a client that saw
// up to p continues, for example on a new Log after the server restarted.
// A fresh Log may not have read that far yet, so Seek waits for it until
// ctx ends. ok is false when the ring does not hold the line after p and
// never will (it moved past it, or p is of another file), or ctx ended.
func (l *Log) Seek(ctx context.Context, p Position) (seq uint64, ok bool) {
	for {
		changed := l.Changed()
		seq, where := l.after(p)
		switch where {
		case found:
			return seq, true
		case gone:
			return 0, false
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, false
		}
	}
}
