// Package tailer is logviewer's domain: the Line type, the Source contract that
// the adapters in sources/ satisfy, the per-log ring (Log) that fans one upstream
// tail out to any number of viewers, and the Registry that starts and stops tails.
package tailer

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Line is one line of a followed file.
type Line struct {
	Seq    uint64 // set by Log: 1, 2, 3… within one Log
	Time   int64  // receipt time, Unix milliseconds
	File   uint64 // identity of the file the line came from (inode); changes on rotation
	Offset int64  // byte offset just past the line (its newline) in that file; -1 if unknown
	Text   string // valid UTF-8, no newline, at most the configured length
	Mark   string // "" for a line of the file; otherwise an inline event such as MarkRotated
}

// Inline event markers a Source may put into the stream as lines of their own.
const (
	MarkRotated   = "rotated"   // the path now names a new file; following it from its start
	MarkTruncated = "truncated" // the file was truncated; following it from its start
	MarkRemoved   = "removed"   // the path is gone; waiting for it to come back
	MarkResumed   = "resumed"   // a dropped connection was re-established without loss
	// MarkSkipped says bytes of the file could not be delivered (for example
	// what a copytruncate rotation truncated before it was read, when the
	// copy cannot be found); Text says how many. Never silence.
	MarkSkipped = "skipped"
)

// State is a Source's condition, shown to viewers.
type State struct {
	Code string `json:"code"`          // one of the State* codes
	Msg  string `json:"msg,omitempty"` // for people
}

// State codes.
const (
	StateStarting     = "starting"
	StateFollowing    = "following"
	StateWaiting      = "waiting" // the file does not exist (yet)
	StateConnecting   = "connecting"
	StateReconnecting = "reconnecting"
	StateError        = "error"
	StateStopped      = "stopped"
)

// FileInfo describes a file a Source may follow.
type FileInfo struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
}

// ErrNotListed is returned for a path outside a host's configured files.
var ErrNotListed = errors.New("not one of this host's configured files")

// Sink receives what a Source reads. Log is the Sink used in production.
//
// A Source calls a Sink's methods from one goroutine at a time, never
// concurrently. Sink methods do not block on viewers and return quickly.
type Sink interface {
	// Lines hands over lines in file order. The Sink may keep the Line values
	// but not the slice. Seq is ignored (the Sink numbers lines itself).
	Lines(lines []Line)
	// State reports a change of the Source's condition.
	State(s State)
}

// Source follows files on one host (this machine or a remote one).
//
// All methods may be called concurrently, for different paths or the same.
type Source interface {
	// List returns the files that match the host's configured globs, newest
	// first. Only a path in this list may be passed to Follow.
	List(ctx context.Context) ([]FileInfo, error)

	// Check reports whether path may be followed: it is what List would
	// list (it matches a glob, and what it resolves to, through every
	// symlink, is a regular file the globs allow), without listing the
	// host. The error wraps ErrNotListed when the path is not allowed.
	Check(ctx context.Context, path string) error

	// Follow sends path's lines to sink, starting with its last n complete
	// lines, and keeps following through rotation, truncation, deletion and
	// re-creation (and, for remote sources, dropped connections) until ctx is
	// cancelled. It reports its condition through sink.State.
	//
	// Follow returns only after every goroutine, file handle and remote process
	// it started has ended; it returns ctx.Err() after cancellation, or an error
	// it cannot recover from (the caller may call Follow again later).
	Follow(ctx context.Context, path string, n int, sink Sink) error
}

// Listing gathers a host's files for List: one entry per file, preferring a
// name that is not a symlink, newest first.
type Listing struct {
	files []FileInfo
	links []bool
	seen  map[any]int
}

// Add records f. key identifies the file behind the name (device and inode,
// or the resolved path); a nil key is never a duplicate.
func (l *Listing) Add(key any, f FileInfo, link bool) {
	if key != nil {
		if i, dup := l.seen[key]; dup {
			if l.links[i] && !link {
				l.files[i], l.links[i] = f, false
			}
			return
		}
		if l.seen == nil {
			l.seen = map[any]int{}
		}
		l.seen[key] = len(l.files)
	}
	l.files = append(l.files, f)
	l.links = append(l.links, link)
}

// Files returns what was added, newest first.
func (l *Listing) Files() []FileInfo {
	files := slices.Clone(l.files)
	slices.SortStableFunc(files, func(a, b FileInfo) int { return b.ModTime.Compare(a.ModTime) })
	if files == nil {
		files = []FileInfo{}
	}
	return files
}
