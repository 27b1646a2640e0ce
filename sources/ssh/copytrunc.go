package ssh

import (
	"bytes"
	"io"
	"io/fs"
	"path"

	"github.com/pkg/sftp"

	"github.com/logviewer/logviewer/sources/internal/rotation"
)

// This file recovers what a truncation cut: the lines tail read of the old
// content before it (tail's stream carries them, maybe followed by the new
// content), and the rest of the old content from the copy that a
// copytruncate rotation made (see sources/internal/rotation).

// rawMax bounds the line the tail's bytes kept since the delivered offset
// (raw) may end in: raw gives up (and a truncation is then recovered from
// the rotated copy alone) only when an unfinished line is longer than
// 2×rawMax (the splitter cuts it anyway).
const rawMax = 1 << 20

// oldPart returns how many of raw, tail's bytes from offset delivered on,
// came from the content the file had before it was truncated. The file now
// holds size bytes (read through live). tail's bytes are the old content's
// up to where tail noticed the truncation; after it comes what the file holds
// now, either from its start (tail saw the file shrink and went back to 0) or
// at the very offsets tail had reached (the file grew past them again before
// tail looked). Where neither is found in raw, all of it is old.
func oldPart(raw []byte, delivered int64, live io.ReaderAt, size int64) (int, error) {
	if len(raw) == 0 || size <= 0 {
		return len(raw), nil
	}
	q := len(raw)
	// From its start: raw ends with the file's first bytes.
	head := make([]byte, min(size, int64(len(raw))))
	n, err := live.ReadAt(head, 0)
	if n < len(head) && err != nil && err != io.EOF {
		return 0, err
	}
	head = head[:n]
	// The new content begins with the file's first whole line, maybe right
	// after a line tail had read only in part. (Without a whole line in
	// the file, raw holds no whole line of the new content.) The budget
	// bounds the work for a file of repetitive lines.
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		first, budget := head[:i+1], 64<<20
		for from := 0; from < len(raw) && budget > 0; {
			j := bytes.Index(raw[from:], first)
			if j < 0 {
				break
			}
			at := from + j
			rest := raw[at:]
			budget -= len(rest)
			if len(rest) <= len(head) && bytes.Equal(rest, head[:len(rest)]) {
				q = at
				break
			}
			from = at + 1
		}
	}
	// At the same offsets: the longest end of raw that the file holds where
	// tail said it was, from a line start on, if it holds a whole line.
	if end := delivered + int64(len(raw)); size >= end {
		now := make([]byte, len(raw))
		n, err := live.ReadAt(now, delivered)
		if n < len(now) && err != nil && err != io.EOF {
			return 0, err
		}
		if n == len(now) {
			i := len(raw)
			for i > 0 && raw[i-1] == now[i-1] {
				i--
			}
			if i > 0 && raw[i-1] != '\n' {
				k := bytes.IndexByte(raw[i:], '\n')
				if k < 0 {
					i = len(raw)
				} else {
					i += k + 1
				}
			}
			if i < len(raw) && bytes.IndexByte(raw[i:], '\n') >= 0 {
				q = min(q, i)
			}
		}
	}
	return q, nil
}

// sftpFS is rotation.FS over SFTP. SFTP has no O_PATH nor inode numbers, so
// Open checks the name with lstat (a regular file, not a symlink) before and
// after opening it, and the opened handle with fstat.
type sftpFS struct{ c *sftp.Client }

var _ rotation.FS = sftpFS{}

func (s sftpFS) ReadDir(dir string) ([]rotation.Entry, error) {
	fis, err := s.c.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]rotation.Entry, 0, len(fis))
	for _, fi := range fis {
		out = append(out, entryOf(fi.Name(), fi))
	}
	return out, nil
}

func (s sftpFS) Stat(name string) (rotation.Entry, error) {
	fi, err := s.c.Lstat(name)
	if err != nil {
		return rotation.Entry{}, err
	}
	return entryOf(path.Base(name), fi), nil
}

func (s sftpFS) Open(name string) (rotation.File, error) {
	regular := func(fi fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return &rotation.RefusedError{Path: name, Reason: "it is not a regular file (or it is a symlink)"}
		}
		return nil
	}
	if err := regular(s.c.Lstat(name)); err != nil {
		return nil, err
	}
	f, err := s.c.Open(name)
	if err != nil {
		return nil, err
	}
	if err := regular(f.Stat()); err != nil {
		f.Close()
		return nil, err
	}
	if err := regular(s.c.Lstat(name)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func entryOf(name string, fi fs.FileInfo) rotation.Entry {
	return rotation.Entry{Name: name, Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime()}
}
