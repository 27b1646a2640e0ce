package tailer

import (
	"context"
	"errors"
	"io"
	"math"
)

// History reads the lines of one (host, path) that are older than a
// Position: back through the file and then through the files it was
// rotated into (app.log.1, app.log.2.gz, app.log-20261127, …), newest
// first. It never holds a whole file in memory.
//
// A History belongs to one reader (a viewer): Older calls must not overlap.
// It may hold files open between calls (so a file rotated or compressed
// away meanwhile is still read to its start); Close releases them.
type History interface {
	// Older returns up to req.N lines accepted by req.Keep that come before
	// the line ending at req.Before, reading at most about req.Budget
	// bytes. Cancelling ctx stops the scan; Older then returns ctx.Err().
	// An error wrapping ErrPositionGone says req.Before names a file that
	// is no longer among the log's files.
	Older(ctx context.Context, req OlderRequest) (OlderPage, error)
	// Pin holds open the files that lines (of the ring: with positions and
	// texts) are in, releasing those of an earlier Pin, so that an Older
	// request before one of them reads that very file even after rotation
	// renamed, compressed or removed it, and a new file cannot take its
	// identity meanwhile. It is a hint: a file it cannot confirm is not held.
	Pin(ctx context.Context, lines []Line) error
	// Find returns the first line (with its position) whose own time is at
	// or after ts (Unix ms), looking through the file and its rotated
	// siblings; ok is false when every line is older.
	Find(ctx context.Context, ts int64) (line Line, ok bool, err error)
	Close() error
}

// OlderRequest asks a History for older lines.
type OlderRequest struct {
	// Before is the position of the oldest line the reader holds: the lines
	// before that line are wanted. The zero Position means the end of the
	// live file (its last complete line included); a Position whose Offset
	// is EndOfFile means the end of that file, its last line included.
	Before Position
	// BeforeText is the text of the line at Before when the caller knows
	// it (a line of the ring): the file it is read from must hold that
	// line there, which tells a copytruncate rotation's copy (the old
	// content at the same offsets) from the truncated file.
	BeforeText string
	N          int              // at most this many lines (≥ 1)
	MaxBytes   int              // and no more once they hold this many bytes of text (0: no limit)
	Budget     int64            // bytes to examine at most (≤ 0: DefaultHistoryBudget)
	Keep       func(*Line) bool // nil: every line
	Key        string           // identifies Keep for caches ("" for nil)
	// KeepEvent, with Continues, judges whole events instead of lines, as
	// a live view's filter does: an event is a line and the continuation
	// lines after it (those Continues accepts, within MaxEventLines and
	// MaxEventBytes), kept or left out together (a stack trace with its ERROR line).
	// Keep is then not used. Events cut by the start of a file are judged
	// by the part the file holds. A page then ends at an event's first
	// line, and may hold up to one event more than N and MaxBytes allow.
	KeepEvent func([]Line) bool
	Continues func(text string) bool
}

// An event is judged (by a live view's filter, a filtered download or a
// history scan) over at most MaxEventLines lines and MaxEventBytes bytes of
// text: a longer one is judged in parts.
const (
	MaxEventLines = 1000
	MaxEventBytes = 1 << 20
)

// OlderPage is what Older found.
type OlderPage struct {
	// Lines are in file order (oldest first). Each has File and Offset (its
	// Position: the identity of the file it is in, and the offset just past
	// it in that file's uncompressed content), Text, and Time: the line's
	// own timestamp in Unix ms, or 0 when it has none.
	Lines []Line
	// More says older lines may exist: ask again with Before = Next.
	More bool
	// Next is where a following request continues (set when More): the
	// position of the oldest line examined, which may be older than
	// Lines[0] when the budget ran out between matches.
	Next Position
	// Scanned is how many bytes were examined (decompressed bytes for a
	// compressed file, those skipped to reach a point included).
	Scanned int64
	// File is the base name of the file the scan ended in (progress).
	File string
}

// EndOfFile as a Position's Offset means the end of the file, its last line
// included (see OlderRequest.Before).
const EndOfFile int64 = math.MaxInt64

// DefaultHistoryBudget bounds the bytes one Older call examines unless the
// caller asks for less.
const DefaultHistoryBudget = 64 << 20

// ErrPositionGone is wrapped by the error of Older when the file a Position
// names is no longer one of the log's files (deleted by rotation, or
// compressed into a new file after the position was handed out).
var ErrPositionGone = errors.New("that position is no longer in the log's files")

// ErrNoHistory is returned by a Historian for a host whose source cannot
// read history.
var ErrNoHistory = errors.New("this host's source cannot read history")

// HistorySource is implemented by Sources that can read a file's history.
type HistorySource interface {
	// History returns a History of path, which must pass Check (the error
	// wraps ErrNotListed otherwise).
	History(ctx context.Context, path string) (History, error)
}

// History returns a History of (host, path) when the host's Source can read
// history (errors as Check, or ErrNoHistory). Nothing is followed.
func (r *Registry) History(ctx context.Context, host, path string) (History, error) {
	src, err := r.source(host)
	if err != nil {
		return nil, err
	}
	hs, ok := src.(HistorySource)
	if !ok {
		return nil, ErrNoHistory
	}
	if err := r.Check(ctx, host, path); err != nil {
		return nil, err
	}
	return hs.History(ctx, path)
}

// FileOpener is implemented by Sources that can open one of their files for
// reading it whole (a download).
type FileOpener interface {
	// OpenFile opens path, which must pass Check (the error wraps
	// ErrNotListed otherwise), with the same rules as Follow. The caller
	// closes the file.
	OpenFile(ctx context.Context, path string) (io.ReadSeekCloser, FileInfo, error)
}

// OpenFile opens (host, path) for reading it whole, when the host's Source
// can (errors as Check, or ErrNoHistory). Nothing is followed.
func (r *Registry) OpenFile(ctx context.Context, host, path string) (io.ReadSeekCloser, FileInfo, error) {
	src, err := r.source(host)
	if err != nil {
		return nil, FileInfo{}, err
	}
	fo, ok := src.(FileOpener)
	if !ok {
		return nil, FileInfo{}, ErrNoHistory
	}
	if err := r.Check(ctx, host, path); err != nil {
		return nil, FileInfo{}, err
	}
	return fo.OpenFile(ctx, path)
}
