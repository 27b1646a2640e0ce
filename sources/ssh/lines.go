package ssh

import (
	"bytes"
	"unicode/utf8"

	"github.com/logviewer/logviewer/tailer"
)

// knownLen is how many bytes before the delivered offset are kept and
// compared with the file to notice that it was rewritten (truncated and
// refilled) behind tail's back.
const knownLen = 256

// splitter cuts a byte stream into lines. It keeps at most max+utf8.UTFMax
// bytes of any line in memory (the rest is only counted), so a file without
// newlines cannot exhaust memory, and it tracks the offset just past every
// newline and the raw bytes that end there.
type splitter struct {
	max  int
	off  int64  // offset of the next byte to be fed
	head []byte // first bytes of the line being assembled
	n    int64  // its length so far
	last byte   // its last byte

	recent   []byte // the last knownLen bytes fed
	known    []byte // the last knownLen bytes up to the last newline fed
	knownEnd int64  // offset just past that newline
}

// reset starts the splitter at off, where the bytes before are known.
func (s *splitter) reset(off int64, known []byte) {
	s.off, s.n, s.head = off, 0, s.head[:0]
	s.recent = append(s.recent[:0], known...)
	s.known = append(s.known[:0], known...)
	s.knownEnd = off
}

// feed splits p, calling emit with every complete line's text (cleaned and
// bounded) and the offset just past its newline.
func (s *splitter) feed(p []byte, emit func(text string, end int64)) {
	base := s.off
	for rest := p; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			s.add(rest)
			break
		}
		s.add(rest[:i])
		end := base + int64(len(p)-len(rest)+i+1)
		emit(s.text(), end)
		s.head, s.n, s.last = s.head[:0], 0, 0
		rest = rest[i+1:]
	}
	if j := bytes.LastIndexByte(p, '\n'); j >= 0 {
		s.known = joinLast(s.known, s.recent, p[:j+1], knownLen)
		s.knownEnd = base + int64(j) + 1
	}
	s.recent = joinLast(s.recent, s.recent, p, knownLen)
	s.off += int64(len(p))
}

// flush emits a last line that has no newline (at the end of a file that
// nobody will append to any more).
func (s *splitter) flush(emit func(text string, end int64)) {
	if s.n == 0 {
		return
	}
	emit(s.text(), s.off)
	s.head, s.n, s.last = s.head[:0], 0, 0
	s.known = append(s.known[:0], s.recent...)
	s.knownEnd = s.off
}

func (s *splitter) add(b []byte) {
	if len(b) == 0 {
		return
	}
	if room := s.max + utf8.UTFMax - len(s.head); room > 0 {
		s.head = append(s.head, b[:min(room, len(b))]...)
	}
	s.n += int64(len(b))
	s.last = b[len(b)-1]
}

// text is tailer.Clean of the whole line, computed from its head only.
func (s *splitter) text() string {
	if s.n <= int64(len(s.head)) {
		return tailer.Clean(string(s.head), s.max)
	}
	// Too long to have been kept: cut where Clean would, and say how much went.
	total := s.n
	if s.last == '\r' {
		total-- // Clean drops a final CR before it cuts
	}
	return tailer.Cut(string(s.head), total, s.max)
}

// joinLast sets dst to the last n bytes of a followed by b. dst may be a.
func joinLast(dst, a, b []byte, n int) []byte {
	if len(b) >= n {
		return append(dst[:0], b[len(b)-n:]...)
	}
	keep := min(n-len(b), len(a))
	dst = append(dst[:0], a[len(a)-keep:]...) // overlapping: append copies like memmove
	return append(dst, b...)
}
