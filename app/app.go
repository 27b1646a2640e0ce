// Package app wires logviewer's parts from a configuration: sources (local
// and SSH), the registry of logs, sign-in and access rules, deploy marks and
// the web server. It is the one place that turns config into each package's
// own options (no adapter imports config); main, the benchmark and tests
// build a server through it.
package app

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"

	"github.com/logviewer/logviewer/config"
	"github.com/logviewer/logviewer/marks"
	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/sources/ssh"
	"github.com/logviewer/logviewer/tailer"
	"github.com/logviewer/logviewer/web"
)

// Options are what a configuration file does not say.
type Options struct {
	Logger *slog.Logger // default: discard
	UI     fs.FS        // the browser UI; nil: the embedded one
}

// App is a wired server: serve Handler, then Close.
type App struct {
	Registry *tailer.Registry
	Web      *web.Server
	closers  []func() error
}

// New builds every part from c. On error nothing is left running.
func New(c *config.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &App{}
	sources := map[string]tailer.Source{}
	for _, h := range c.Hosts {
		src, closer, err := newSource(h, c, o.Logger)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("host %s: %w", h.Name, err)
		}
		sources[h.Name] = src
		if closer != nil {
			a.closers = append(a.closers, closer)
		}
	}
	authn, rules, err := newAuth(c)
	if err != nil {
		a.Close()
		return nil, err
	}
	store, err := marks.Open(filepath.Join(StateDirPath(c), "marks.jsonl"))
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Registry = tailer.NewRegistry(sources, tailer.Options{
		Replay: c.Replay, Buffer: int64(c.Buffer), IdleStop: c.IdleStop.Duration, MaxLogs: c.MaxLogs,
		Groups: c.Groups(), Logger: o.Logger,
		Marks: func(host, path string) []tailer.Line {
			var lines []tailer.Line
			for _, m := range store.List(func(m *marks.Mark) bool { return m.Applies(host, path) }) {
				lines = append(lines, web.MarkLine(m))
			}
			return lines
		},
	})
	a.Web = web.New(a.Registry, web.Options{
		Replay: c.Replay, AllowedOrigins: allowedOrigins(c), AllowedHosts: allowedHosts(c),
		MaxViewersPerClient: c.MaxViewers, Logger: o.Logger, UI: o.UI,
		Auth: authn, Rules: rules, PublicURL: c.PublicURL, BasePath: c.BasePath,
		MetricsPublic: c.MetricsPublic, Marks: store,
	})
	return a, nil
}

// Handler is the HTTP handler to serve.
func (a *App) Handler() http.Handler { return a.Web.Handler() }

// Close tells browsers goodbye, stops every tail and closes the sources
// (remote connections).
func (a *App) Close() error {
	if a.Web != nil {
		a.Web.Close()
	}
	if a.Registry != nil {
		a.Registry.Close()
	}
	var errs []error
	for _, c := range a.closers {
		if err := c(); err != nil {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	if len(errs) > 0 {
		return fmt.Errorf("close: %v", errs)
	}
	return nil
}

// newSource makes the Source for one [[host]]; the func closes it.
func newSource(h config.Host, c *config.Config, logger *slog.Logger) (tailer.Source, func() error, error) {
	if h.Remote() {
		all := make([]ssh.Host, len(c.Hosts))
		for i, x := range c.Hosts {
			all[i] = sshHost(x)
		}
		src, err := ssh.New(sshHost(h), all, ssh.Options{MaxLineBytes: c.MaxLineBytes, MaxConns: h.MaxConns, Logger: logger.With("host", h.Name)})
		if err != nil {
			return nil, nil, err
		}
		return src, src.Close, nil
	}
	return local.New(h.Files, local.Options{MaxLineBytes: c.MaxLineBytes}), nil, nil
}

// sshHost is a [[host]] as the SSH source takes it.
func sshHost(h config.Host) ssh.Host {
	return ssh.Host{
		Name: h.Name, Address: h.Address, User: h.User, IdentityFiles: h.IdentityFiles,
		KnownHosts: h.KnownHosts, Jump: h.Jump, SSHAlias: h.SSHAlias,
		Connect: h.Connect.Duration, Keepalive: h.Keepalive.Duration, InsecureKeys: h.InsecureKeys,
		Files: h.Files,
	}
}

// allowedHosts are the Host names the server answers to besides loopback
// names and IP addresses: allowed_hosts, the listen address's name and
// public_url's host.
func allowedHosts(c *config.Config) []string {
	hosts := slices.Clone(c.AllowedHosts)
	if h, _, err := net.SplitHostPort(c.Listen); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if u, err := url.Parse(c.PublicURL); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	return hosts
}

// allowedOrigins are allowed_origins and public_url's origin: behind a proxy
// that ends TLS or drops the port, the page's origin is public_url's, not
// what the request says.
func allowedOrigins(c *config.Config) []string {
	origins := slices.Clone(c.AllowedOrigins)
	if u, err := url.Parse(c.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		origins = append(origins, u.Scheme+"://"+u.Host)
	}
	return origins
}
