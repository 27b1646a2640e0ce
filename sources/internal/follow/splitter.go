package follow

import (
	"bytes"
	"unicode/utf8"

	"github.com/logviewer/logviewer/tailer"
)

// Splitter cuts a stream of a file's bytes into cleaned lines, holding at
// most about max bytes of a line that is not finished yet: an over-long line
// keeps its head and a count of the rest, so a file without newlines cannot
// grow the process. It tracks the offset in the file of every byte it is fed
// and the bytes that end at the last newline (Known), which a follower
// compares with the file later to notice that it was truncated.
type Splitter struct {
	max  int
	keep int    // max plus room to cut at a character boundary and drop a CR
	off  int64  // offset of the next byte to be fed
	part []byte // the start of the unfinished line (all of it, or its first keep bytes)
	n    int64  // the unfinished line's length so far
	cr   bool   // its last byte so far is a CR

	recent []byte // the last KnownLen bytes fed
	known  []byte // the last KnownLen bytes up to the last newline fed
	end    int64  // offset just past that newline

	ends []int // scratch: newline positions in a chunk
}

// Init sets the longest line kept (longer ones are cut; see tailer.Cut).
func (s *Splitter) Init(max int) {
	s.max = max
	s.keep = max + utf8.UTFMax + 1
}

// Reset starts the splitter at off, a line start, where known are the bytes
// of the file just before off (at most KnownLen of them are kept).
func (s *Splitter) Reset(off int64, known []byte) {
	s.off, s.end = off, off
	s.part, s.n, s.cr = s.part[:0], 0, false
	known = known[max(0, len(known)-KnownLen):]
	s.recent = append(s.recent[:0], known...)
	s.known = append(s.known[:0], known...)
}

// Off is the offset of the next byte to be fed.
func (s *Splitter) Off() int64 { return s.off }

// End is the offset just past the last complete line fed (where the last
// Reset started while none was).
func (s *Splitter) End() int64 { return s.end }

// Known returns the up to KnownLen bytes that end at End. The slice is the
// Splitter's: it changes with the next Feed or Reset.
func (s *Splitter) Known() []byte { return s.known }

// Recent returns the up to KnownLen bytes that end at Off (the Splitter's
// slice, as Known).
func (s *Splitter) Recent() []byte { return s.recent }

// Partial reports whether a line without newline has been begun.
func (s *Splitter) Partial() bool { return s.n > 0 }

// Feed appends to lines the lines that chunk (the stream's next bytes)
// completes, at most limit of them, and returns how many bytes of chunk it
// used: all of them, or up to the newline of the limit-th line. Each line has
// File set to file, Offset to the offset just past its newline and Text. Whole
// lines that need no cut share one string per run, so a line kept by the Log
// holds no more memory than its neighbours.
func (s *Splitter) Feed(lines []tailer.Line, chunk []byte, file uint64, limit int) ([]tailer.Line, int) {
	off := s.off
	s.ends = s.ends[:0]
	for i := 0; len(s.ends) < limit; {
		j := bytes.IndexByte(chunk[i:], '\n')
		if j < 0 {
			break
		}
		s.ends = append(s.ends, i+j)
		i += j + 1
	}
	ends := s.ends
	if len(ends) == 0 {
		s.grow(chunk)
		s.advance(chunk, -1)
		return lines, len(chunk)
	}
	if len(ends) == limit {
		chunk = chunk[:ends[len(ends)-1]+1]
	}
	start := 0
	if s.n > 0 {
		nl := ends[0]
		lines = append(lines, tailer.Line{File: file, Offset: off + int64(nl) + 1, Text: s.finish(chunk[:nl])})
		ends = ends[1:]
		start = nl + 1
	}
	run := start // the first line of the current run of short lines
	var str string
	runStr := func(upto int) { // lines in chunk[run:upto] are all short
		if upto > run {
			str = string(chunk[run:upto])
		}
	}
	first := len(lines)
	i := start
	for _, nl := range ends {
		if nl-i > s.max+1 { // needs cutting: do not share the run's string
			runStr(i)
			lines = s.runLines(lines, first, str, run, off, file)
			lines = append(lines, tailer.Line{File: file, Offset: off + int64(nl) + 1, Text: s.cut(chunk[i:nl])})
			run, first = nl+1, len(lines)
		} else {
			lines = append(lines, tailer.Line{File: file, Offset: off + int64(nl) + 1})
		}
		i = nl + 1
	}
	runStr(i)
	lines = s.runLines(lines, first, str, run, off, file)
	s.grow(chunk[i:])
	s.advance(chunk, i)
	return lines, len(chunk)
}

// advance moves past chunk, fed at s.off, whose complete lines end at
// chunk[:lineEnd] (lineEnd < 0: none end in it).
func (s *Splitter) advance(chunk []byte, lineEnd int) {
	if lineEnd >= 0 {
		s.known = joinLast(s.known, s.recent, chunk[:lineEnd], KnownLen)
		s.end = s.off + int64(lineEnd)
	}
	s.recent = joinLast(s.recent, s.recent, chunk, KnownLen)
	s.off += int64(len(chunk))
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

// runLines fills in the texts of lines[first:], which are the lines of str,
// a copy of the chunk's bytes from run on.
func (s *Splitter) runLines(lines []tailer.Line, first int, str string, run int, off int64, file uint64) []tailer.Line {
	at := 0
	for k := first; k < len(lines); k++ {
		nl := int(lines[k].Offset-off) - 1 - run
		lines[k].Text = tailer.Clean(str[at:nl], s.max)
		at = nl + 1
	}
	return lines
}

// cut makes the text of a whole line longer than max+1 bytes.
func (s *Splitter) cut(line []byte) string {
	total := int64(len(line))
	if line[len(line)-1] == '\r' {
		total--
	}
	return tailer.Cut(string(line[:min(len(line), s.keep)]), total, s.max)
}

// grow adds b to the unfinished line.
func (s *Splitter) grow(b []byte) {
	if len(b) == 0 {
		return
	}
	if room := s.keep - len(s.part); room > 0 {
		s.part = append(s.part, b[:min(room, len(b))]...)
	}
	s.n += int64(len(b))
	s.cr = b[len(b)-1] == '\r'
}

// finish ends the unfinished line with rest (the bytes before its newline).
func (s *Splitter) finish(rest []byte) string {
	s.grow(rest)
	var text string
	if s.n <= int64(s.keep) {
		text = tailer.Clean(string(s.part), s.max)
	} else {
		total := s.n
		if s.cr {
			total--
		}
		text = tailer.Cut(string(s.part), total, s.max)
	}
	s.part, s.n, s.cr = s.part[:0], 0, false
	return text
}

// Flush appends the unfinished line, if any, to lines as a line of its own
// ending at Off (at the end of a file nobody will append to any more).
func (s *Splitter) Flush(lines []tailer.Line, file uint64) []tailer.Line {
	if s.n == 0 {
		return lines
	}
	lines = append(lines, tailer.Line{File: file, Offset: s.off, Text: s.finish(nil)})
	s.known = append(s.known[:0], s.recent...)
	s.end = s.off
	return lines
}

// Drop forgets the unfinished line.
func (s *Splitter) Drop() { s.part, s.n, s.cr = s.part[:0], 0, false }
