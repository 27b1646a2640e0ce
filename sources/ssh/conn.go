package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	xssh "golang.org/x/crypto/ssh"

	"github.com/logviewer/logviewer/tailer"
)

// ErrClosed is returned once the Source is closed.
var ErrClosed = errors.New("ssh source closed")

// conn is one SSH connection to the host, with its own SFTP client (opened
// first, so that it always has a session slot). Followers open one exec
// session each on it until the server refuses more (MaxSessions).
type conn struct {
	src     *Source
	client  *xssh.Client
	sftp    *sftp.Client
	home    string      // the remote user's home directory
	closers []io.Closer // jump clients, closed after client
	dead    chan struct{}
	once    sync.Once
	err     error // why it ended; read after dead is closed

	pingMu sync.Mutex
	pings  sync.WaitGroup // keepalive requests in flight
	ended  bool           // no more pings: wait is waiting for them

	// Guarded by src.mu.
	sessions int         // exec sessions open
	full     bool        // the server refused one more session
	idle     *time.Timer // closes an extra connection nobody uses
}

// close ends the connection for the given reason.
func (c *conn) close(why error) {
	c.once.Do(func() { c.err = why })
	c.client.Close()
}

func (c *conn) alive() bool {
	select {
	case <-c.dead:
		return false
	default:
		return true
	}
}

// cause returns why the connection ended, or nil while it is alive.
func (c *conn) cause() error {
	if c.alive() {
		return nil
	}
	return c.err
}

// ping sends an OpenSSH keepalive request and waits at most timeout for the
// reply. x/crypto's SendRequest has no timeout of its own: on a link that
// silently drops packets it would wait for ever.
func (c *conn) ping(timeout time.Duration) error {
	c.pingMu.Lock()
	if c.ended {
		c.pingMu.Unlock()
		<-c.dead
		return c.err
	}
	c.pings.Add(1)
	c.pingMu.Unlock()
	reply := make(chan error, 1)
	go func() {
		defer c.pings.Done()
		_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err // returns when the reply comes or the connection is closed
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-reply:
		return err
	case <-t.C:
		return fmt.Errorf("no reply to keepalive within %s", timeout)
	case <-c.dead:
		return c.err
	}
}

// check pings c and closes it when it does not answer; it reports whether c
// is still alive. When it is not, the Source has forgotten it on return.
func (c *conn) check() bool {
	if c.alive() {
		err := c.ping(c.src.keepaliveTimeout())
		if err == nil {
			return true
		}
		c.close(err)
	}
	<-c.dead
	return false
}

func (c *conn) keepalive(every, timeout time.Duration) {
	defer c.src.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.dead:
			return
		case <-t.C:
		}
		if err := c.ping(timeout); err != nil {
			c.src.log.Warn("ssh connection not responding; closing it", "err", err)
			c.close(err)
			return
		}
	}
}

// wait notices the end of the connection.
func (c *conn) wait() {
	defer c.src.wg.Done()
	err := c.client.Wait()
	if err == nil || errors.Is(err, io.EOF) {
		err = errors.New("closed by the server or the network")
	}
	c.once.Do(func() { c.err = err })
	c.pingMu.Lock()
	c.ended = true
	c.pingMu.Unlock()
	c.pings.Wait()
	c.sftp.Close()
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i].Close()
	}
	c.src.removeConn(c)
	close(c.dead)
}

// guard closes c when ctx has ended and the caller has not called the
// returned func within grace: a network call that blocks on an unresponsive
// connection then returns, so that Follow can end.
func (c *conn) guard(ctx context.Context, grace time.Duration) func() {
	var mu sync.Mutex
	var t *time.Timer
	done := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t = time.AfterFunc(grace, func() {
				mu.Lock()
				defer mu.Unlock()
				if !done {
					c.close(fmt.Errorf("not responding %s after a cancel", grace))
				}
			})
		}
	})
	return func() {
		stop()
		mu.Lock()
		done = true
		if t != nil {
			t.Stop()
		}
		mu.Unlock()
	}
}

// retryError says that no connection can be had before at.
type retryError struct {
	err error
	at  time.Time
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// dialCall is a dial in progress; everyone who needs a connection meanwhile
// waits for it instead of dialling too.
type dialCall struct {
	done chan struct{}
	c    *conn
	err  error
}

// getConn returns a live connection that has not refused a session, dialling
// a new one when there is none. While the previous dial's backoff lasts it
// returns a *retryError.
func (s *Source) getConn(ctx context.Context) (*conn, error) {
	s.mu.Lock()
	for {
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		for _, c := range s.conns {
			if !c.full && c.alive() {
				s.mu.Unlock()
				return c, nil
			}
		}
		if d := s.dial; d != nil {
			s.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if d.err != nil {
				return nil, d.err
			}
			s.mu.Lock()
			continue
		}
		if !s.nextDial.IsZero() && time.Now().Before(s.nextDial) {
			err := &retryError{err: s.lastErr, at: s.nextDial}
			s.mu.Unlock()
			return nil, err
		}
		if len(s.conns) >= s.opts.MaxConns {
			err := &retryError{err: fmt.Errorf("all %d connections to %s are at the server's session limit (sshd MaxSessions)", len(s.conns), s.ep.addr),
				at: time.Now().Add(s.opts.Poll)}
			s.mu.Unlock()
			return nil, err
		}
		d := &dialCall{done: make(chan struct{})}
		s.dial = d
		if len(s.conns) == 0 {
			if s.everConnected {
				s.setState(tailer.State{Code: tailer.StateReconnecting, Msg: "reconnecting to " + s.ep.String()})
			} else {
				s.setState(tailer.State{Code: tailer.StateConnecting, Msg: "connecting to " + s.ep.String()})
			}
		}
		s.wg.Add(1)
		go s.runDial(d)
	}
}

func (s *Source) runDial(d *dialCall) {
	defer s.wg.Done()
	start := time.Now()
	c, err := s.connect(s.ctx)
	s.mu.Lock()
	s.dial = nil
	d.c, d.err = c, err
	switch {
	case err == nil && s.closed:
		d.err = ErrClosed
		s.mu.Unlock()
		c.close(ErrClosed)
		close(d.done)
		return
	case err == nil:
		s.failures, s.nextDial, s.lastErr = 0, time.Time{}, nil
		if s.everConnected && len(s.conns) == 0 {
			s.reconnects++ // the host was lost and is back
		}
		s.conns = append(s.conns, c)
		s.everConnected = true
		s.setState(tailer.State{Code: tailer.StateFollowing, Msg: "connected to " + s.ep.String()})
		s.wg.Add(2)
		go c.wait()
		go c.keepalive(s.ep.keepalive, s.keepaliveTimeout())
		s.log.Info("ssh connected", "addr", s.ep.addr, "connections", len(s.conns), "took", time.Since(start).Round(time.Millisecond))
	default:
		s.failures++
		wait := s.backoff(s.failures)
		s.nextDial, s.lastErr = time.Now().Add(wait), err
		code := tailer.StateReconnecting
		if fatal(err) {
			code = tailer.StateError
		}
		if len(s.conns) == 0 {
			s.setState(tailer.State{Code: code, Msg: fmt.Sprintf("%v; retrying in %s", err, roundDuration(wait))})
		}
		s.log.Warn("ssh connect failed", "addr", s.ep.addr, "err", err, "retry", wait)
	}
	s.mu.Unlock()
	close(d.done)
}

// backoff is the pause after the n-th failure in a row: exponential from
// MinBackoff to MaxBackoff, with jitter so that hosts and followers spread out.
func (s *Source) backoff(n int) time.Duration {
	d := s.opts.MinBackoff
	for i := 1; i < n && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

func (s *Source) keepaliveTimeout() time.Duration {
	if s.opts.KeepaliveTimeout > 0 {
		return s.opts.KeepaliveTimeout
	}
	return s.ep.keepalive
}

// removeConn forgets a connection that ended.
func (s *Source) removeConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			break
		}
	}
	if c.idle != nil {
		c.idle.Stop()
	}
	if len(s.conns) == 0 && !s.closed {
		// Everyone reconnects after a short pause, not all at once.
		s.failures = 0
		s.nextDial = time.Now().Add(s.backoff(1))
		s.lastErr = fmt.Errorf("connection lost: %w", c.err)
		s.setState(tailer.State{Code: tailer.StateReconnecting, Msg: s.lastErr.Error()})
		s.log.Warn("ssh connection lost", "err", c.err)
	}
}

// connect dials the host (through its jump hosts), logs in and opens SFTP.
func (s *Source) connect(ctx context.Context) (*conn, error) {
	client, closers, err := dialEndpoint(ctx, s.ep, s.opts.AgentSocket, s.log)
	if err != nil {
		return nil, err
	}
	closeAll := func() {
		client.Close()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i].Close()
		}
	}
	// SFTP, like the handshake, must not hang on a mute server.
	sctx, cancel := context.WithTimeout(ctx, s.ep.connect)
	defer cancel()
	stop := context.AfterFunc(sctx, func() { client.Close() })
	sc, err := sftp.NewClient(client, sftp.UseFstat(true))
	var home string
	if err == nil {
		home, err = sc.Getwd()
		if err != nil {
			sc.Close()
		}
	}
	if !stop() && err != nil {
		err = timeoutError(sctx, s.ep.connect)
	}
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("start SFTP on %s (%s): %w", s.name, s.ep.addr, err)
	}
	return &conn{src: s, client: client, sftp: sc, home: home, closers: closers, dead: make(chan struct{})}, nil
}

// dialEndpoint connects to e, through e.jump when it has one, and returns the
// client and the jump clients to close after it.
func dialEndpoint(ctx context.Context, e *endpoint, agentSock string, log *slog.Logger) (*xssh.Client, []io.Closer, error) {
	ctx, cancel := context.WithTimeout(ctx, e.connect)
	defer cancel()
	var nc net.Conn
	var closers []io.Closer
	if e.jump != nil {
		jc, jclosers, err := dialEndpoint(ctx, e.jump, agentSock, log)
		if err != nil {
			return nil, nil, fmt.Errorf("jump host: %w", err)
		}
		closers = append(jclosers, jc)
		nc, err = jc.DialContext(ctx, "tcp", e.addr)
		if err != nil {
			closeReverse(closers)
			return nil, nil, fmt.Errorf("connect to %s (%s) through jump host %s: %w", e.name, e.addr, e.jump.name, err)
		}
	} else {
		var d net.Dialer
		var err error
		nc, err = d.DialContext(ctx, "tcp", e.addr)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to %s (%s): %w", e.name, e.addr, unwrapOp(err))
		}
	}
	client, err := handshake(ctx, nc, e, agentSock, log)
	if err != nil {
		nc.Close()
		closeReverse(closers)
		return nil, nil, err
	}
	return client, closers, nil
}

// handshake logs in over nc; ctx bounds the whole exchange.
func handshake(ctx context.Context, nc net.Conn, e *endpoint, agentSock string, log *slog.Logger) (*xssh.Client, error) {
	hostKey, algos, err := e.hostKeys(log)
	if err != nil {
		return nil, err
	}
	methods, agentConn, err := e.auth(agentSock, log)
	if err != nil {
		return nil, err
	}
	defer agentConn.Close()
	cfg := &xssh.ClientConfig{
		User:              e.user,
		Auth:              methods,
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
		Timeout:           e.connect,
		ClientVersion:     "SSH-2.0-logviewer",
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	cc, chans, reqs, err := xssh.NewClientConn(nc, e.addr, cfg)
	if !stop() {
		if cc != nil {
			cc.Close()
		}
		return nil, fmt.Errorf("ssh handshake with %s (%s): %w", e.name, e.addr, timeoutError(ctx, e.connect))
	}
	if err != nil {
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, &AuthError{Name: e.name, Addr: e.addr, User: e.user, Err: errors.New(describe(err))}
		}
		return nil, fmt.Errorf("ssh handshake with %s (%s): %s", e.name, e.addr, describe(err))
	}
	return xssh.NewClient(cc, chans, reqs), nil
}

// timeoutError says why ctx ended, in words.
func timeoutError(ctx context.Context, d time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s", d)
	}
	return ctx.Err()
}

func closeReverse(cs []io.Closer) {
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].Close()
	}
}

// unwrapOp shortens "dial tcp 127.0.0.1:22: connect: connection refused".
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	default:
		return d.Round(10 * time.Millisecond)
	}
}

// describe shortens errors for people.
func describe(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "ssh: handshake failed: ")
	return s
}
