package main

import (
	"errors"
	"net"
	"sync"
	"time"
)

// delayProxy forwards TCP connections to a target and holds every chunk for
// half an added round-trip time in each direction, keeping their order and
// not limiting bandwidth: a link of the same speed as loopback that is
// rtt long, as between sites. Scenario 6b puts it between logviewer and
// sshd.
type delayProxy struct {
	ln     net.Listener
	target string
	oneWay time.Duration

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

func startDelayProxy(target string, rtt time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, target: target, oneWay: rtt / 2}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *delayProxy) addr() string { return p.ln.Addr().String() }

func (p *delayProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		p.conns = append(p.conns, c, u)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

// chunk is bytes read at one time, to be written at another.
type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst, each chunk oneWay after it was read.
func (p *delayProxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	q := make(chan chunk, 1<<14) // about 1 GiB in flight at most: never the limit at loopback speed × 25 ms
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if d := time.Until(c.at); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.b); err != nil {
				dst.Close()
				src.Close()
				for range q { // let the reader end
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	for {
		b := make([]byte, 64<<10)
		n, err := src.Read(b)
		if n > 0 {
			q <- chunk{b: b[:n], at: time.Now().Add(p.oneWay)}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-done
}

// close stops accepting, closes every connection and waits for the pipes.
func (p *delayProxy) close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
