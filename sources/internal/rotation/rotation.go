// Package rotation finds the copy that a copytruncate rotation made of a log
// file, so that a follower can deliver the part of the old content it had not
// read yet when the file was truncated, instead of losing it.
//
// logrotate's copytruncate copies app.log to a sibling (app.log.1, or
// app.log-20261128 with dateext; compressed at once with compress, or only at
// the next rotation with delaycompress), then truncates app.log to zero. A
// follower that notices the truncation has delivered the old content up to
// some offset D and remembers the bytes just before D (its "known" bytes).
// The copy is the sibling whose bytes just before D are those known bytes;
// what it holds from D on is the rest of the old content.
//
// The package reaches files only through FS, a small interface that the local
// source implements with the operating system (OS) and the SSH source over
// SFTP. Every path is slash-separated and absolute (path.Join is used).
package rotation

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// Entry describes one directory entry as lstat(2) sees it: a symlink is
// reported as a symlink (Mode&fs.ModeSymlink), never as what it points to.
type Entry struct {
	Name    string // base name
	Size    int64
	Mode    fs.FileMode
	ModTime time.Time
	Ino     uint64 // the file's identity (inode) where the FS knows it, else 0
}

// File is an open file: read at any offset, then close.
type File interface {
	io.ReaderAt
	io.Closer
}

// FS is what this package needs of a file system.
//
// Implementations must not let a name reach outside its directory: Open
// refuses a name whose last component is a symlink, and anything that is not
// a regular file (a FIFO, a device), and never blocks while opening. The
// methods may be called concurrently.
type FS interface {
	// ReadDir lists the entries of dir (lstat semantics, any order).
	ReadDir(dir string) ([]Entry, error)
	// Open opens a regular file for reading, refusing symlinks and other
	// kinds of file.
	Open(name string) (File, error)
	// Stat describes name (lstat semantics).
	Stat(name string) (Entry, error)
}

// ErrNotFound is returned by FindCopy when no sibling holds the known bytes.
var ErrNotFound = errors.New("no rotated copy holds what was delivered")

// Limits on the work FindCopy does.
const (
	// MaxCandidates is how many siblings FindCopy opens at most: the copy
	// of a rotation that just happened is among the newest few.
	MaxCandidates = 6
	// MaxGzipScan is how far into a compressed sibling FindCopy
	// decompresses to reach the known bytes (a copy of a larger file is
	// looked for in plain siblings only).
	MaxGzipScan = 256 << 20
	// MaxGzipCandidates is how many compressed siblings FindCopy
	// decompresses at most: the newest ones, where a copy compressed
	// right after it was made (compress without delaycompress) is.
	MaxGzipCandidates = 2
)

// Candidates returns the entries that may be rotated copies of the file named
// base: regular files named base.SUFFIX or base-SUFFIX (app.log.1,
// app.log.2.gz, app.log-20261128, app.log-20261128-094512.gz), plain ones
// first, each group newest first.
func Candidates(entries []Entry, base string) []Entry {
	var out []Entry
	for _, e := range entries {
		if !e.Mode.IsRegular() || len(e.Name) <= len(base)+1 {
			continue
		}
		if !strings.HasPrefix(e.Name, base+".") && !strings.HasPrefix(e.Name, base+"-") {
			continue
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if ga, gb := isGzip(a.Name), isGzip(b.Name); ga != gb {
			if ga {
				return 1
			}
			return -1
		}
		if c := b.ModTime.Compare(a.ModTime); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

func isGzip(name string) bool { return strings.HasSuffix(name, ".gz") }

// Copy is a rotated copy found by FindCopy. It reads the copy's content from
// the offset FindCopy was given to its end; the caller must Close it.
type Copy struct {
	Path  string // the sibling, as dir/name
	Entry Entry  // as listed
	Gzip  bool   // the sibling is gzip-compressed; Read decompresses

	r io.Reader
	f File
}

// Read reads the copy's content after the offset given to FindCopy.
func (c *Copy) Read(p []byte) (int, error) { return c.r.Read(p) }

// Close closes the sibling.
func (c *Copy) Close() error { return c.f.Close() }

// FindCopy looks in dir for the copy that a rotation made of the file named
// base, which had been read up to offset off: a sibling (see Candidates) at
// least off bytes long whose bytes just before off equal known (the last
// len(known) bytes read before off; known must not be empty). On success the
// Copy reads from off on. Where no sibling matches it returns ErrNotFound.
//
// known should span several lines (the local source passes up to 1 KiB):
// files of the same log often hold the same bytes at the same offsets for a
// while (padding, a repeated message), and only timestamps or sequence
// numbers tell the copy from an older sibling.
//
// A caller that noticed a truncation uses it like this:
//
//	c, err := rotation.FindCopy(fsys, "/var/log", "app.log", delivered, known)
//	switch {
//	case err == nil:
//		defer c.Close()
//		// deliver the lines read from c: the rest of the old content
//	case errors.Is(err, rotation.ErrNotFound):
//		// say that the bytes after delivered were skipped
//	default:
//		// an I/O error: the same, with the reason
//	}
func FindCopy(fsys FS, dir, base string, off int64, known []byte) (*Copy, error) {
	if len(known) == 0 || off < int64(len(known)) {
		return nil, ErrNotFound
	}
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	tried, gzTried := 0, 0
	var firstErr error
	for _, e := range Candidates(entries, base) {
		if tried == MaxCandidates {
			break
		}
		gz := isGzip(e.Name)
		if !gz && e.Size < off || gz && (off > MaxGzipScan || gzTried == MaxGzipCandidates) {
			continue // too short to hold what was delivered, or too costly to look into
		}
		tried++
		if gz {
			gzTried++
		}
		c, err := match(fsys, path.Join(dir, e.Name), e, gz, off, known)
		if err != nil && firstErr == nil && !errors.Is(err, ErrNotFound) {
			firstErr = err
		}
		if c != nil {
			return c, nil
		}
	}
	if firstErr != nil {
		return nil, fmt.Errorf("%w (and %w)", ErrNotFound, firstErr)
	}
	return nil, ErrNotFound
}

// match opens one candidate and checks the known bytes before off.
func match(fsys FS, name string, e Entry, gz bool, off int64, known []byte) (*Copy, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	c := &Copy{Path: name, Entry: e, Gzip: gz, f: f}
	got := make([]byte, len(known))
	at := off - int64(len(known))
	if !gz {
		if n, _ := f.ReadAt(got, at); n == len(got) && bytes.Equal(got, known) {
			c.r = io.NewSectionReader(f, off, 1<<62)
			return c, nil
		}
		f.Close()
		return nil, ErrNotFound
	}
	// The gzip trailer holds the content's size (modulo 4 GiB): a copy too
	// short to reach off is not decompressed.
	var isize [4]byte
	if e.Size >= 18 && e.Size < 1<<32 {
		if n, _ := f.ReadAt(isize[:], e.Size-4); n == 4 && int64(binary.LittleEndian.Uint32(isize[:])) < off {
			f.Close()
			return nil, ErrNotFound
		}
	}
	// Read in large chunks: gzip's own 4 KiB buffer is one round trip per
	// 4 KiB over SFTP.
	zr, err := gzip.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 256<<10))
	if err == nil {
		_, err = io.CopyN(io.Discard, zr, at)
	}
	if err == nil {
		_, err = io.ReadFull(zr, got)
	}
	if err == nil && bytes.Equal(got, known) {
		c.r = zr
		return c, nil
	}
	f.Close()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return nil, ErrNotFound
}
