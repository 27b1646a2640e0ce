// Package sourcetest is the contract suite every tailer.Source must pass:
// last-N start, follow, rename rotation, copytruncate, delete and re-create,
// bounded and cleaned lines, cancellation without leaks, and a rotation torture
// test. Run it from a Source's own tests with Run.
package sourcetest

import (
	"sync"
	"testing"
	"time"

	"github.com/logviewer/logviewer/tailer"
)

// Sink records what a Source delivers and lets a test wait for a condition.
type Sink struct {
	mu      sync.Mutex
	lines   []tailer.Line
	states  []tailer.State
	marks   map[string]int
	changed chan struct{}
}

// NewSink returns an empty Sink.
func NewSink() *Sink { return &Sink{changed: make(chan struct{}), marks: map[string]int{}} }

var _ tailer.Sink = (*Sink)(nil)

// Lines implements tailer.Sink.
func (s *Sink) Lines(lines []tailer.Line) {
	s.mu.Lock()
	s.lines = append(s.lines, lines...)
	for _, l := range lines {
		if l.Mark != "" {
			s.marks[l.Mark]++
		}
	}
	s.signal()
	s.mu.Unlock()
}

// State implements tailer.Sink.
func (s *Sink) State(st tailer.State) {
	s.mu.Lock()
	s.states = append(s.states, st)
	s.signal()
	s.mu.Unlock()
}

func (s *Sink) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Snapshot returns copies of everything received so far.
func (s *Sink) Snapshot() ([]tailer.Line, []tailer.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]tailer.Line(nil), s.lines...), append([]tailer.State(nil), s.states...)
}

// MarkCount returns how many markers of each kind arrived, added up.
func (s *Sink) MarkCount(kinds ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range kinds {
		n += s.marks[k]
	}
	return n
}

// Texts returns the text of the received lines that are not markers.
func (s *Sink) Texts() []string {
	lines, _ := s.Snapshot()
	var out []string
	for _, l := range lines {
		if l.Mark == "" {
			out = append(out, l.Text)
		}
	}
	return out
}

// Marks returns the marks received, in order.
func (s *Sink) Marks() []string {
	lines, _ := s.Snapshot()
	var out []string
	for _, l := range lines {
		if l.Mark != "" {
			out = append(out, l.Mark)
		}
	}
	return out
}

// WaitFor waits until cond holds for what was received, or fails tb after timeout.
func (s *Sink) WaitFor(tb testing.TB, timeout time.Duration, what string, cond func(lines []tailer.Line, states []tailer.State) bool) {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond(s.lines, s.states)
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			lines, states := s.Snapshot()
			if len(lines) > 20 {
				lines = lines[len(lines)-20:]
			}
			tb.Fatalf("timed out after %s waiting for %s; last lines %+v; states %+v", timeout, what, lines, states)
		}
	}
}

// WaitState waits for a state with the given code.
func (s *Sink) WaitState(tb testing.TB, timeout time.Duration, code string) {
	tb.Helper()
	s.WaitFor(tb, timeout, "state "+code, func(_ []tailer.Line, states []tailer.State) bool {
		for _, st := range states {
			if st.Code == code {
				return true
			}
		}
		return false
	})
}

// WaitTexts waits until at least n non-marker lines arrived.
func (s *Sink) WaitTexts(tb testing.TB, timeout time.Duration, n int) {
	tb.Helper()
	s.WaitFor(tb, timeout, "lines", func(lines []tailer.Line, _ []tailer.State) bool {
		c := 0
		for _, l := range lines {
			if l.Mark == "" {
				c++
			}
		}
		return c >= n
	})
}

// Gate is a Sink that a test can make hold the Source at its next delivery,
// to change the file while the Source is behind (a slow reader, made
// deterministic).
type Gate struct {
	*Sink
	mu      sync.Mutex
	holding bool
	blocked chan struct{}
	open    chan struct{}
}

// NewGate returns an open Gate.
func NewGate() *Gate { return &Gate{Sink: NewSink()} }

// Lines implements tailer.Sink: it blocks while the Gate holds.
func (g *Gate) Lines(lines []tailer.Line) {
	g.mu.Lock()
	if g.holding {
		g.holding = false
		blocked, open := g.blocked, g.open
		g.mu.Unlock()
		close(blocked)
		<-open
	} else {
		g.mu.Unlock()
	}
	g.Sink.Lines(lines)
}

// Hold makes the next Lines call block until Release. The channel it
// returns is closed once a call is blocked.
func (g *Gate) Hold() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holding = true
	g.blocked, g.open = make(chan struct{}), make(chan struct{})
	return g.blocked
}

// Release lets a held Lines call (or the next one) go on.
func (g *Gate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holding = false
	if g.open != nil {
		close(g.open)
		g.open = nil
	}
}
