package web

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/olahol/melody"
)

// handOff runs melody's session for r on a goroutine of its own (owned by
// the Server: Close waits for it) and returns once the connection has been
// hijacked, or the upgrade failed before that. A WebSocket then outlives its
// HTTP handler, and what net/http keeps per request while the handler runs
// is released: the connection's 4 KiB write buffer and the response's
// chunk writer, the handler's deep stack (middleware, auth, net/http's
// serve loop). An idle viewer costs that much less (README, "Benchmarks").
//
// The session's request carries a context of its own that ends when the
// WebSocket does (as the request's did while the handler ran it). failed
// is called with an error of the upgrade: on the handler's goroutine with w
// when the connection was not hijacked (it may still answer), or later
// with nil when it was.
func (s *Server) handOff(w http.ResponseWriter, r *http.Request, keys map[string]any, failed func(err error, w http.ResponseWriter)) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		failed(melody.ErrClosed, w)
		return
	}
	s.wg.Add(1) // under s.mu: Close, having set closed, waits for them all
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	hw := &hijackWatch{w: w, hijacked: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		err := s.m.HandleRequestWithKeys(hw, r.WithContext(ctx), keys)
		if hw.wasHijacked() {
			if err != nil {
				failed(err, nil)
			}
			return
		}
		done <- err
	}()
	select {
	case <-hw.hijacked:
	case err := <-done:
		if err != nil {
			failed(err, w)
		}
	}
}

// hijackWatch is an http.ResponseWriter that says when it was hijacked, and
// lets go of the one it wraps then: melody keeps its ResponseWriter for the
// life of the session, and net/http's response reaches the connection's
// buffers.
type hijackWatch struct {
	mu       sync.Mutex
	w        http.ResponseWriter // nil once hijacked
	hijacked chan struct{}       // closed once Hijack succeeded
}

func (h *hijackWatch) rw() http.ResponseWriter {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w == nil {
		return discard{}
	}
	return h.w
}

func (h *hijackWatch) Header() http.Header         { return h.rw().Header() }
func (h *hijackWatch) Write(b []byte) (int, error) { return h.rw().Write(b) }
func (h *hijackWatch) WriteHeader(code int)        { h.rw().WriteHeader(code) }

func (h *hijackWatch) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w == nil {
		return nil, nil, http.ErrHijacked
	}
	c, brw, err := http.NewResponseController(h.w).Hijack()
	if err == nil {
		h.w = nil
		close(h.hijacked)
	}
	return c, brw, err
}

func (h *hijackWatch) wasHijacked() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.w == nil
}

// discard is the ResponseWriter of a hijacked request.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return 0, http.ErrHijacked }
func (discard) WriteHeader(int)             {}
