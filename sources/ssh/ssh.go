// Package ssh follows files on remote hosts over SSH, with nothing installed
// there but sshd (with its SFTP subsystem), a POSIX /bin/sh and tail, ls,
// sleep, readlink, od and tr (GNU or BusyBox) on Linux (for /proc). The login
// shell only runs the constant command "exec /bin/sh -s": the script and the
// path come on stdin, so no file name ever passes through the login shell.
//
// One Source serves one [[host]]. It shares SSH connections among all the
// files it follows: each connection carries one SFTP client (listing, and
// reading back what tail sent) and one exec session per followed file, until
// the server refuses more (OpenSSH's MaxSessions, 10 by default); then another
// connection is opened. Connections send keepalives with their own timeout,
// and a lost one is dialled again with exponential backoff and jitter.
//
// A followed path is read by a small sh script (see tailScript) that holds
// the file open on fd 3 and runs `tail -c +START -f /dev/fd/3` on that inode
// when told to; it kills its own tail and opener (by PID, never its process
// group: Dropbear shares that with the connection) when the session ends. logviewer
// itself, not tail, decides everything that involves a change of file, much
// as sources/local does, reading the inode over SFTP through /proc/PID/fd/3:
//
//   - the start: the last n complete lines; after a reconnect, the exact byte
//     offset delivered so far when the inode is the same and still holds the
//     bytes delivered last (otherwise a rotated or truncated marker);
//   - rotation and removal: every Poll the path is resolved (realpath) and
//     compared with the held inode's name (readlink /proc/PID/fd/3); when they
//     differ the script opens the path again at once, the rest of the old
//     inode is read over SFTP (until it has stopped growing: its writer may
//     append until it reopens the path), and the new file is followed from
//     its start;
//   - truncation: before a batch of lines is delivered, the bytes just before
//     and at the end of the batch are read back and compared; a mismatch, or
//     a size below the delivered offset, means the file was truncated. What
//     tail sent before it noticed is the old content (read before the
//     truncation) and is delivered; then the copy a copytruncate rotation
//     made (app.log.1, app.log-DATE, plain or gzip; found over SFTP by the
//     bytes last delivered, see sources/internal/rotation) gives the rest of
//     the old content, and tail restarts on the same inode from 0. Where no
//     copy is found a "skipped" marker says how many bytes were never read.
//
// So Line.File is the remote inode and Line.Offset the exact byte offset in
// it, across rotations, truncations and reconnects alike.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/logviewer/logviewer/tailer"
)

// Options tune a Source. Zero values mean the defaults.
type Options struct {
	MaxLineBytes int           // longer lines are cut (default 65536)
	Logger       *slog.Logger  // default: discard; give it the host name as an attribute
	Poll         time.Duration // how often a followed path is checked for rotation and truncation (default 1s)
	TailInterval time.Duration // how often the remote tail looks for new bytes when idle (default 200ms)

	MinBackoff time.Duration // first pause before reconnecting (default 1s), doubled per failure...
	MaxBackoff time.Duration // ...up to this (default 30s); each with ±50% jitter

	// KeepaliveTimeout is how long a keepalive may go unanswered before the
	// connection is closed (default: the host's keepalive interval).
	KeepaliveTimeout time.Duration
	// CloseGrace is how long a cancelled Follow waits for the remote side to
	// confirm the end of its tail before it closes the whole connection as
	// unresponsive (default 5s).
	CloseGrace time.Duration
	// IdleConn is how long an extra connection (beyond the first) stays open
	// without sessions (default 1m).
	IdleConn time.Duration
	// MaxConns caps the connections to the host (default 16).
	MaxConns int

	// SSHConfigFiles are read for ssh_config_host (default ~/.ssh/config and
	// /etc/ssh/ssh_config).
	SSHConfigFiles []string
	// AgentSocket is the ssh-agent socket (default $SSH_AUTH_SOCK; "none" for none).
	AgentSocket string
	// Home is the local home directory for "~/" in file names (default $HOME).
	Home string
}

// Source follows files on one remote host.
type Source struct {
	name  string
	ep    *endpoint
	globs []string // as configured; "~/" is the remote home
	opts  Options
	log   *slog.Logger

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // connection goroutines

	mu            sync.Mutex
	conns         []*conn
	dial          *dialCall
	failures      int
	nextDial      time.Time
	lastErr       error
	everConnected bool
	reconnects    uint64 // connections re-established after the host was lost
	state         tailer.State
	closed        bool

	inodeSrv inodeServer // the inode session that the host's histories share (history.go)
}

var _ tailer.Source = (*Source)(nil)

// New returns a Source for the remote host h; all is every configured host,
// so that h.Jump can name another. Nothing is dialled until the first List or
// Follow.
func New(h Host, all []Host, opts Options) (*Source, error) {
	if !h.Remote() {
		return nil, fmt.Errorf("host %q has no address or ssh_config_host", h.Name)
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.TailInterval <= 0 {
		opts.TailInterval = 200 * time.Millisecond
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	if opts.CloseGrace <= 0 {
		opts.CloseGrace = 5 * time.Second
	}
	if opts.IdleConn <= 0 {
		opts.IdleConn = time.Minute
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	if opts.Home == "" {
		opts.Home, _ = os.UserHomeDir()
	}
	if opts.SSHConfigFiles == nil {
		opts.SSHConfigFiles = []string{"~/.ssh/config", "/etc/ssh/ssh_config"}
	}
	switch opts.AgentSocket {
	case "":
		opts.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	case "none":
		opts.AgentSocket = ""
	}
	ep, err := resolve(h, all, loadSSHConfig(opts.SSHConfigFiles, opts.Home), nil)
	if err != nil {
		return nil, err
	}
	if len(h.Files) == 0 {
		return nil, fmt.Errorf("host %q lists no files", h.Name)
	}
	var globs []string
	for _, g := range h.Files {
		if !strings.HasPrefix(g, "/") && !strings.HasPrefix(g, "~/") {
			return nil, fmt.Errorf("host %q: %q must be an absolute path or glob", h.Name, g)
		}
		if _, err := path.Match(g, "/"); err != nil {
			return nil, fmt.Errorf("host %q: %q is not a valid glob: %w", h.Name, g, err)
		}
		globs = append(globs, g)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Source{
		name: h.Name, ep: ep, globs: globs, opts: opts, log: opts.Logger,
		ctx: ctx, cancel: cancel,
		state: tailer.State{Code: tailer.StateStarting, Msg: "not connected yet"},
	}
	for e := ep; e != nil; e = e.jump {
		if e.insecure {
			s.log.Warn("insecure_ignore_host_key is set: this host's key will not be checked", "host", e.name)
		}
	}
	return s, nil
}

// HostState returns the state of the connection to the host: starting (not
// connected yet), connecting, following (connected), reconnecting, error
// (authentication failed, host key refused) or stopped (closed).
func (s *Source) HostState() tailer.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Source) setState(st tailer.State) { s.state = st } // s.mu held

// Reconnects returns how often the host was lost and reached again.
func (s *Source) Reconnects() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconnects
}

// Close closes every connection and waits for their goroutines. Follow and
// List calls still running return soon after with an error.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	conns := append([]*conn(nil), s.conns...)
	s.setState(tailer.State{Code: tailer.StateStopped, Msg: "closed"})
	s.mu.Unlock()
	for _, c := range conns {
		c.close(ErrClosed)
	}
	s.wg.Wait()
	return nil
}

// openSession opens an exec session on c, or on another connection (opened
// if need be) when c has reached the server's MaxSessions.
func (s *Source) openSession(ctx context.Context, c *conn) (*conn, *xssh.Session, error) {
	for {
		s.mu.Lock()
		if c.full {
			s.mu.Unlock()
			var err error
			if c, err = s.getConn(ctx); err != nil {
				return nil, nil, err
			}
			continue
		}
		c.sessions++
		if c.idle != nil {
			c.idle.Stop()
			c.idle = nil
		}
		s.mu.Unlock()
		sess, err := c.client.NewSession()
		if err == nil {
			return c, sess, nil
		}
		s.mu.Lock()
		c.sessions--
		var oce *xssh.OpenChannelError
		refused := errors.As(err, &oce)
		if refused {
			c.full = true
		}
		s.mu.Unlock()
		if !refused {
			return c, nil, fmt.Errorf("open session: %w", err)
		}
		s.log.Debug("server refused another session; using another connection", "sessions", c.sessions, "err", err)
	}
}

// releaseSession gives back a session slot of c. An extra connection that
// no session uses is closed after IdleConn.
func (s *Source) releaseSession(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.sessions--
	c.full = false
	if c.sessions > 0 || !c.alive() || len(s.conns) == 0 || s.conns[0] == c {
		return
	}
	if c.idle != nil {
		c.idle.Stop()
	}
	c.idle = time.AfterFunc(s.opts.IdleConn, func() {
		s.mu.Lock()
		idle := c.sessions == 0 && len(s.conns) > 0 && s.conns[0] != c
		s.mu.Unlock()
		if idle {
			c.close(errors.New("idle"))
		}
	})
}

// matches reports whether p matches one of the globs ("~/" being home).
func (s *Source) matches(p, home string) bool {
	for _, g := range s.globs {
		if ok, _ := path.Match(expandRemoteHome(g, home), p); ok {
			return true
		}
	}
	return false
}

func expandRemoteHome(g, home string) string {
	if strings.HasPrefix(g, "~/") && home != "" {
		return path.Join(home, g[2:])
	}
	return path.Clean(g)
}
