package tailer

import (
	"sync"
	"time"

	"github.com/logviewer/logviewer/logtime"
)

// markSink stands between a Source and its Log to put marks (inline lines
// such as deploy marks, made outside the file) in their place: the marks
// that already exist when a log is opened go among the first lines the
// source reads (the file's last lines) by time, the line's own when it has
// one; marks made later go in as they come.
type markSink struct {
	log *Log

	mu      sync.Mutex
	pending []Line // not yet placed; nil once the first lines were read
	placed  bool
}

func newMarkSink(l *Log, marks []Line) *markSink {
	return &markSink{log: l, pending: marks}
}

// Lines places pending marks among the first batch, then passes lines on.
func (s *markSink) Lines(lines []Line) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.placed || len(s.pending) == 0 {
		s.placed = true
		s.log.Lines(lines)
		return
	}
	out := make([]Line, 0, len(lines)+len(s.pending))
	for _, l := range lines {
		key := l.Time
		if t, ok := logtime.Parse(l.Text, time.UnixMilli(l.Time)); ok && l.Mark == "" {
			key = t
		}
		for len(s.pending) > 0 && s.pending[0].Time <= key {
			out = append(out, s.pending[0])
			s.pending = s.pending[1:]
		}
		out = append(out, l)
	}
	out = append(out, s.pending...) // newer than every line read so far
	s.pending, s.placed = nil, true
	s.log.Lines(out)
}

// State passes a state on. When the file does not exist, marks still
// pending are placed at once; otherwise they wait for the first lines (a
// source reports "following" before it delivers the file's last lines; an
// empty file's marks come with its first line).
func (s *markSink) State(st State) {
	if st.Code == StateWaiting {
		s.mu.Lock()
		if !s.placed {
			s.placed = true
			if len(s.pending) > 0 {
				s.log.Lines(s.pending)
			}
			s.pending = nil
		}
		s.mu.Unlock()
	}
	s.log.State(st)
}

// inject puts a new mark in: now, or with the first lines if they have not
// been read yet.
func (s *markSink) inject(m Line) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.placed {
		for _, p := range s.pending {
			if p.Time == m.Time && p.Text == m.Text && p.Mark == m.Mark {
				return
			}
		}
		s.pending = append(s.pending, m)
		return
	}
	s.log.Lines([]Line{m})
}

// Mark puts an inline line (m.Mark set, e.g. a deploy mark) into every open
// log for which match is true. Logs opened later get their marks from
// Options.Marks.
func (r *Registry) Mark(match func(host, path string) bool, m Line) {
	r.mu.Lock()
	var sinks []*markSink
	for k, e := range r.logs {
		if match(k.host, k.path) {
			sinks = append(sinks, e.sink)
		}
	}
	r.mu.Unlock()
	for _, s := range sinks {
		s.inject(m)
	}
}
