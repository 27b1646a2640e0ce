// Command logviewer shows log files live in a browser, from this machine and
// from remote hosts over SSH. See README.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/logviewer/logviewer/app"
	"github.com/logviewer/logviewer/config"
)

// version is set with -ldflags "-X main.version=…"; otherwise build info is used.
var version = ""

func main() {
	if len(os.Args) > 1 {
		if cmd, ok := commands[os.Args[1]]; ok {
			if err := cmd(os.Args[2:], os.Stdin, os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, "logviewer:", err)
				os.Exit(1)
			}
			return
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "logviewer:", err)
		os.Exit(2)
	}
	if err := m.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "logviewer:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "logviewer %s: serving %s on %s\n", buildVersion(), m.Config.Path, m.URL())
wait:
	select {
	case <-ctx.Done():
	case err := <-m.Err():
		fmt.Fprintln(os.Stderr, "logviewer:", err)
	case <-hup:
		if err := m.Reload(); err != nil {
			m.Logger.Error("reload on SIGHUP", "err", err)
		} else {
			m.Logger.Info("reloaded on SIGHUP")
		}
		goto wait
	}
	stop()
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "logviewer:", err)
		os.Exit(1)
	}
}

// Main is the whole program, so that tests can run it on a free port.
type Main struct {
	ConfigPath string
	Listen     string // overrides the config's listen when set
	UIDir      string // serve the UI from disk (front-end work)
	Config     *config.Config
	Logger     *slog.Logger
	// IdleTimeout closes keep-alive connections idle this long (default 2m).
	IdleTimeout time.Duration

	ln    net.Listener
	certs *certs // nil: plain HTTP
	http  *http.Server
	app   *app.App
	errc  chan error

	// handlers counts requests being served, WebSockets included:
	// http.Server.Shutdown does not wait for hijacked connections.
	handlers sync.WaitGroup
}

// NewMain returns a Main with default settings.
func NewMain() *Main {
	return &Main{
		ConfigPath:  "logviewer.toml",
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		IdleTimeout: 2 * time.Minute,
		errc:        make(chan error, 1),
	}
}

// ParseFlags reads the command line and loads the configuration.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("logviewer", flag.ContinueOnError)
	fs.StringVar(&m.ConfigPath, "config", m.ConfigPath, "configuration `file`")
	fs.StringVar(&m.Listen, "listen", "", "listen `address` (overrides the config's listen)")
	fs.StringVar(&m.UIDir, "ui-dir", "", "serve the web UI from this `directory` instead of the embedded copy")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println(buildVersion())
		return flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c, err := config.Load(m.ConfigPath)
	if err != nil {
		return err
	}
	if m.Listen != "" {
		c.Listen = m.Listen
	}
	m.Config = c
	return nil
}

// Run wires the parts and starts serving; it returns once the port is bound,
// so a busy port fails at once.
func (m *Main) Run() error {
	c := m.Config
	if n, err := raiseFileLimit(); err != nil {
		m.Logger.Warn("cannot raise the open-files limit", "err", err)
	} else {
		m.Logger.Debug("open-files limit", "n", n)
	}
	var err error
	if c.TLSCert != "" {
		if m.certs, err = loadCerts(c.TLSCert, c.TLSKey); err != nil {
			return err
		}
	}
	opts := app.Options{Logger: m.Logger}
	if m.UIDir != "" {
		opts.UI = os.DirFS(m.UIDir)
	}
	if m.app, err = app.New(c, opts); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		m.app.Close()
		return fmt.Errorf("listen: %w", err)
	}
	m.ln = ln
	if !loopback(ln.Addr()) && c.Auth.Mode == config.AuthNone {
		if !c.Auth.InsecureNoAuth {
			ln.Close()
			m.app.Close()
			return fmt.Errorf("listen %s is not loopback and auth.mode is \"none\": anyone who can reach it could read these logs; set auth.mode (see README, \"Running it for a team\"), or auth.insecure_no_auth = true if something in front authenticates", ln.Addr())
		}
		m.Logger.Warn("listening on a non-loopback address without authentication (auth.insecure_no_auth): anyone who can reach it can read these logs",
			"addr", ln.Addr().String())
	}
	m.http = &http.Server{
		Handler:           m.counted(m.app.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       m.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
	if m.certs != nil {
		m.http.TLSConfig = &tls.Config{GetCertificate: m.certs.get, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, m.http.TLSConfig)
	}
	go func() {
		if err := m.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.errc <- err
		}
	}()
	return nil
}

// Reload re-reads what can change without a restart: the TLS certificate.
// Connections stay; new handshakes use the new certificate.
func (m *Main) Reload() error {
	if m.certs == nil {
		return nil
	}
	return m.certs.reload()
}

// URL returns the address the server listens on.
func (m *Main) URL() string {
	scheme := "http"
	if m.certs != nil {
		scheme = "https"
	}
	return scheme + "://" + m.ln.Addr().String() + m.Config.BasePath
}

// Err reports a failure of the HTTP server after Run.
func (m *Main) Err() <-chan error { return m.errc }

// Close sends close frames to browsers, stops every tail and remote session,
// and shuts the HTTP server down, waiting at most 10 seconds.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if m.app != nil {
		m.app.Web.Close() // close frames first; the tails stop below
	}
	if m.http != nil {
		if err = m.http.Shutdown(ctx); err == nil {
			// web.Close only queued the viewers' close frames; each
			// WebSocket's handler returns once its frame is written. Wait,
			// or a process that exits next would drop them (browsers would
			// see 1006, not 1001).
			done := make(chan struct{})
			go func() { m.handlers.Wait(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
			}
		}
	}
	if m.app != nil {
		err = errors.Join(err, m.app.Close())
	}
	return err
}

// counted wraps h so that Close can wait for every request in progress.
func (m *Main) counted(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.handlers.Add(1)
		defer m.handlers.Done()
		h.ServeHTTP(w, r)
	})
}

// raiseFileLimit raises the soft limit on open files to the hard limit:
// every followed file costs a few descriptors, every viewer one, and
// running out stops the server from accepting connections.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

func loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
