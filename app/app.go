// Package app wires logviewer's parts from a configuration: sources (local
// and SSH), the registry of logs, sign-in and access rules, deploy marks and
// the web server. It is the one place that turns config into each package's
// own options (no adapter imports config); main, the benchmark and tests
// build a server through it.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/logviewer/logviewer/cluster"
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
	// ClusterLeaseTTL overrides the cluster's lease TTL (0: the default,
	// cluster.DefaultLeaseTTL); tests shorten it.
	ClusterLeaseTTL time.Duration
}

// App is a wired server: serve Handler, then Close.
type App struct {
	Registry *tailer.Registry
	Web      *web.Server
	// With [cluster]: the connection to NATS, and the catalog that opens
	// every log through it (nil otherwise).
	Cluster *cluster.Cluster
	Catalog *cluster.Catalog
	closers []func() error
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
	if c.Cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var err error
		a.Cluster, err = cluster.Open(ctx, cluster.Options{
			URL: c.Cluster.NATSURL, Name: c.Cluster.Name, Instance: c.Cluster.Instance,
			LeaseTTL: o.ClusterLeaseTTL, Logger: o.Logger,
		})
		cancel()
		if err != nil {
			a.Close()
			return nil, err
		}
	}
	authn, rules, sessions, err := newAuth(c, a.Cluster)
	if err != nil {
		a.Close()
		return nil, err
	}
	markFile := filepath.Join(StateDirPath(c), "marks.jsonl")
	if a.Cluster != nil {
		markFile = "" // kept in the cluster's shared bucket
	}
	store, err := marks.Open(markFile)
	if err != nil {
		a.Close()
		return nil, err
	}
	idleStop := c.IdleStop.Duration
	if a.Cluster != nil {
		// The cluster stops a tail idle_stop after the last viewer in the
		// cluster left; the Registry, which only its holder uses, lets it
		// go at once after that.
		idleStop = 0
	}
	a.Registry = tailer.NewRegistry(sources, tailer.Options{
		Replay: c.Replay, Buffer: int64(c.Buffer), IdleStop: idleStop, MaxLogs: c.MaxLogs,
		Groups: c.Groups(), Logger: o.Logger,
		Marks: func(host, path string) []tailer.Line {
			var lines []tailer.Line
			for _, m := range store.List(func(m *marks.Mark) bool { return m.Applies(host, path) }) {
				lines = append(lines, web.MarkLine(m))
			}
			return lines
		},
	})
	var cat web.Catalog = a.Registry
	if a.Cluster != nil {
		a.Catalog = a.Cluster.Catalog(a.Registry, cluster.CatalogOptions{
			Replay: c.Replay, Buffer: int64(c.Buffer), IdleStop: c.IdleStop.Duration, MaxLogs: c.MaxLogs,
		})
		cat = a.Catalog
		if err := shareMarks(a.Cluster, a.Catalog, store, o.Logger); err != nil {
			a.Close()
			return nil, err
		}
	}
	a.Web = web.New(cat, web.Options{
		Replay: c.Replay, AllowedOrigins: allowedOrigins(c), AllowedHosts: allowedHosts(c),
		MaxViewersPerClient: c.MaxViewers, Logger: o.Logger, UI: o.UI,
		Auth: authn, Rules: rules, PublicURL: c.PublicURL, BasePath: c.BasePath,
		MetricsPublic: c.MetricsPublic, Marks: store, Compression: c.WSCompression,
	})
	if sessions != nil {
		if err := keepLogouts(c, a.Cluster, sessions, a.Web, o.Logger); err != nil {
			a.Close()
			return nil, err
		}
	}
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
	if a.Catalog != nil {
		a.Catalog.Close() // gives this instance's leases back
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
	if a.Cluster != nil {
		if err := a.Cluster.Close(); err != nil {
			errs = append(errs, err)
		}
		a.Cluster = nil
	}
	if len(errs) > 0 {
		return fmt.Errorf("close: %v", errs)
	}
	return nil
}

// shareMarks keeps deploy marks in the cluster's shared bucket: one posted
// on any instance is stored there (Add fails if it cannot be), and every
// instance adds it to its Store and to the logs it follows (so the holder
// of a log publishes it once, with the log's lines).
func shareMarks(cl *cluster.Cluster, cat *cluster.Catalog, store *marks.Store, logger *slog.Logger) error {
	store.Share(func(m marks.Mark) error {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		return cl.PutMark(context.Background(), m.ID, b)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cl.WatchMarks(ctx, func(b []byte) {
		var m marks.Mark
		if err := json.Unmarshal(b, &m); err != nil {
			logger.Warn("cluster: bad mark in the shared bucket", "err", err)
			return
		}
		if store.Insert(m) { // new here: made on another instance
			cat.Mark(m.Applies, web.MarkLine(m))
		}
	})
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
