package sshtest

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards loopback TCP connections to a target, and lets a test cut
// them (both ends closed at once) or hold them (bytes stop flowing but the
// connections stay open, like a network that silently drops packets).
type Proxy struct {
	Addr string

	target string
	l      net.Listener

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	held     bool
	refuse   bool
	release  chan struct{} // closed when a hold ends
	accepted int
	changed  chan struct{} // closed and renewed on every accepted connection

	wg sync.WaitGroup
}

// NewProxy starts a proxy to target; it stops when tb ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, l: l, conns: map[net.Conn]struct{}{},
		release: make(chan struct{}), changed: make(chan struct{})}
	close(p.release)
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.accepted++
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			release := p.release
			p.mu.Unlock()
			<-release // a Cut closes src and dst, and ends a hold
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a cut: close both sides
		}
	}
}

// Cut closes every connection the proxy carries (and ends a hold). New
// connections are accepted as before.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns) / 2
	for c := range p.conns {
		c.Close()
	}
	if p.held {
		p.held = false
		close(p.release)
	}
	return n
}

// Hold stops forwarding bytes without closing anything, until Cut or Resume.
func (p *Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.held {
		p.held = true
		p.release = make(chan struct{})
	}
}

// Resume ends a Hold.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		p.held = false
		close(p.release)
	}
}

// Refuse makes the proxy close new connections at once (on) or forward
// them again (off), like a host that is down.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = on
}

// Accepted returns how many connections the proxy accepted so far and a
// channel that is closed when the next one is accepted.
func (p *Proxy) Accepted() (int, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, p.changed
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.l.Close()
	p.Cut()
	p.wg.Wait()
}
