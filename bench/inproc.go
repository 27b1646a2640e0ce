package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/config"
	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/tailer"
	"github.com/logviewer/logviewer/web"
)

// inprocSystem runs logviewer's packages inside this process, wired as
// main.go wires them, so that -cpuprofile and -memprofile see the server's
// hot paths. Its CPU and RSS figures include the viewers and the writer.
type inprocSystem struct {
	url string
	hs  *http.Server
	web *web.Server
	reg *tailer.Registry
}

func startInproc(dir string) (system, error) {
	cfgPath := filepath.Join(dir, "logviewer.toml")
	if err := os.WriteFile(cfgPath, []byte(lvConfig(dir)), 0o644); err != nil {
		return nil, err
	}
	c, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	sources := map[string]tailer.Source{}
	for _, h := range c.Hosts {
		if h.Remote() {
			return nil, errors.New("-inproc: remote hosts are not wired here")
		}
		sources[h.Name] = local.New(h.Files, local.Options{MaxLineBytes: c.MaxLineBytes})
	}
	reg := tailer.NewRegistry(sources, tailer.Options{Replay: c.Replay, Buffer: int64(c.Buffer), IdleStop: c.IdleStop.Duration})
	w := web.New(reg, web.Options{Replay: c.Replay, AllowedOrigins: c.AllowedOrigins})
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		w.Close()
		reg.Close()
		return nil, err
	}
	hs := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return &inprocSystem{url: "http://" + ln.Addr().String(), hs: hs, web: w, reg: reg}, nil
}

func (s *inprocSystem) name() string { return "logviewer (in-process)" }
func (s *inprocSystem) pid() int     { return os.Getpid() }

func (s *inprocSystem) dial(ctx context.Context, file string, t *track, i int, small bool) (*websocket.Conn, error) {
	return dialLogviewer(ctx, s.url, "local", file, t, i, readBufSize(small))
}

func (s *inprocSystem) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.web.Close()
	_ = s.hs.Shutdown(ctx)
	s.reg.Close()
}

// ringNext samples where the ring of file is: the seq its next line gets.
// It is for -timeline, which tells the source's lag from the fan-out's.
func (s *inprocSystem) ringNext(ctx context.Context, file string) (func() uint64, func(), error) {
	l, release, err := s.reg.Open(ctx, "local", file)
	if err != nil {
		return nil, nil, err
	}
	return func() uint64 { _, next := l.Bounds(); return next - 1 }, release, nil
}
