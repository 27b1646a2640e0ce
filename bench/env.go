package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// env is one system under test with viewers on one file, fresh for every
// measurement so that no measurement inherits another's backlog.
type env struct {
	sys   system
	dir   string
	file  string
	w     *writer
	g     group
	conns []*websocket.Conn
}

func (b *bench) newDir(kind string) (string, error) {
	return os.MkdirTemp(b.tmp, kind+"-")
}

func (b *bench) start(kind, dir, file string) (system, error) {
	switch kind {
	case "logviewer":
		if b.o.inproc {
			return startInproc(dir)
		}
		return startLogviewer(b.ctx, b.bin, dir)
	case "logviewer-ssh":
		return startSSHSystem(b.ctx, b.bin, dir, 0)
	case "logviewer-ssh-rtt":
		return startSSHSystem(b.ctx, b.bin, dir, sshRTT)
	case "frontail":
		if b.ft == nil {
			return nil, errors.New("frontail is not installed")
		}
		return b.ft.start(b.ctx, file)
	}
	return nil, fmt.Errorf("unknown system %q", kind)
}

func (b *bench) newEnv(kind string, viewers int, small bool) (*env, error) {
	dir, err := b.newDir(kind)
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, file: filepath.Join(dir, "app.log")}
	if e.w, err = newWriter(e.file); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if e.sys, err = b.start(kind, dir, e.file); err != nil {
		e.close()
		return nil, err
	}
	e.g, e.conns, _, err = connectAll(b.ctx, e.sys, func(int) string { return e.file }, viewers, small, 64)
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// close stops the server first (it says goodbye to every viewer), then
// closes the viewers' sockets and removes the files.
func (e *env) close() {
	if e.sys != nil {
		e.sys.stop()
	}
	closeAll(e.conns)
	if e.w != nil {
		e.w.Close()
	}
	os.RemoveAll(e.dir)
}

func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// connectAll connects n viewers, conc at a time, and waits until each was
// greeted. It returns how long that took.
func connectAll(ctx context.Context, sys system, fileOf func(int) string, n int, small bool, conc int) (group, []*websocket.Conn, time.Duration, error) {
	start := time.Now()
	g := make(group, n)
	conns := make([]*websocket.Conn, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	failed := make(chan struct{})
dialing:
	for i := range n {
		g[i] = newTrack()
		select {
		case sem <- struct{}{}:
		case <-failed:
			break dialing
		case <-ctx.Done():
			break dialing
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := sys.dial(ctx, fileOf(i), g[i], i, small)
			if err != nil {
				once.Do(func() {
					firstErr = fmt.Errorf("viewer %d of %d: %w", i+1, n, err)
					close(failed)
				})
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeAll(conns)
		return nil, nil, 0, firstErr
	}
	deadline := time.After(2 * time.Minute)
	for i, t := range g {
		// Greeted, and the source follows the file: a line written from now
		// on must arrive.
		select {
		case <-t.follow:
		case <-t.closed:
			closeAll(conns)
			return nil, nil, 0, fmt.Errorf("viewer %d: connection closed before the server's greeting (%s)", i+1, t.firstErr())
		case <-deadline:
			closeAll(conns)
			return nil, nil, 0, fmt.Errorf("viewer %d: not following the file within 2 minutes (greeted: %v)", i+1, isClosed(t.ready))
		case <-ctx.Done():
			closeAll(conns)
			return nil, nil, 0, ctx.Err()
		}
	}
	return g, conns, time.Since(start), nil
}

// wait waits until every viewer received line seq, at most timeout, and
// returns how long it waited.
func (g group) wait(ctx context.Context, seq uint64, timeout time.Duration) (time.Duration, bool) {
	start := time.Now()
	nextCheck := start
	for {
		if g.minLast() >= seq {
			return time.Since(start), true
		}
		t := time.Now()
		if t.Sub(start) > timeout || ctx.Err() != nil {
			return t.Sub(start), false
		}
		if t.After(nextCheck) { // a closed viewer will never catch up
			if g.closedCount() > 0 {
				return t.Sub(start), false
			}
			nextCheck = t.Add(50 * time.Millisecond)
		}
		time.Sleep(200*time.Microsecond + time.Duration(len(g))*50*time.Nanosecond)
	}
}

// behind returns how many lines the slowest viewer still lacks.
func (g group) behind(last uint64) uint64 {
	m := g.minLast()
	if m >= last {
		return 0
	}
	return last - m
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
