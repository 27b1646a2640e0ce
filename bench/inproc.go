package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/app"
	"github.com/logviewer/logviewer/config"
)

// inprocSystem runs logviewer's packages inside this process, wired by app
// as main.go wires them, so that -cpuprofile and -memprofile see the server's
// hot paths. Its CPU and RSS figures include the viewers and the writer.
type inprocSystem struct {
	url string
	hs  *http.Server
	app *app.App
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
	a, err := app.New(c, app.Options{})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		a.Close()
		return nil, err
	}
	hs := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return &inprocSystem{url: "http://" + ln.Addr().String(), hs: hs, app: a}, nil
}

func (s *inprocSystem) name() string { return "logviewer (in-process)" }
func (s *inprocSystem) pid() int     { return os.Getpid() }

func (s *inprocSystem) dial(ctx context.Context, file string, t *track, i int, small bool) (*websocket.Conn, error) {
	return dialLogviewer(ctx, s.url, "local", file, t, i, readBufSize(small))
}

func (s *inprocSystem) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.app.Web.Close()
	_ = s.hs.Shutdown(ctx)
	_ = s.app.Close()
}

// ringNext samples where the ring of file is: the seq its next line gets.
// It is for -timeline, which tells the source's lag from the fan-out's.
func (s *inprocSystem) ringNext(ctx context.Context, file string) (func() uint64, func(), error) {
	l, release, err := s.app.Registry.Open(ctx, "local", file)
	if err != nil {
		return nil, nil, err
	}
	return func() uint64 { _, next := l.Bounds(); return next - 1 }, release, nil
}
