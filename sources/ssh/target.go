package ssh

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// Defaults for what neither the [[host]] entry nor ssh_config says.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepalive      = 15 * time.Second
)

// endpoint is how to reach one SSH server, after the [[host]] entry, the
// ssh_config alias it names and the defaults have been applied.
type endpoint struct {
	name       string // the [[host]] name or ssh_config alias, for messages
	addr       string // host:port
	user       string
	identities []string // private key files (the agent is used as well)
	knownHosts string
	insecure   bool
	connect    time.Duration
	keepalive  time.Duration
	jump       *endpoint // the hop before this one, or nil
}

func (e *endpoint) String() string { return e.user + "@" + e.addr }

// resolve turns a [[host]] entry into an endpoint. all holds every entry, so
// that jump can name another one.
func resolve(h Host, all []Host, cfg *sshConfig, seen []string) (*endpoint, error) {
	for _, s := range seen {
		if s == h.Name {
			return nil, fmt.Errorf("host %q: jump hosts form a loop: %s -> %s", seen[0], strings.Join(seen, " -> "), h.Name)
		}
	}
	seen = append(seen, h.Name)
	e := &endpoint{
		name:       h.Name,
		user:       h.User,
		identities: append([]string(nil), h.IdentityFiles...),
		knownHosts: h.KnownHosts,
		insecure:   h.InsecureKeys,
		connect:    h.Connect,
		keepalive:  h.Keepalive,
	}
	addr := h.Address
	if h.SSHAlias != "" {
		a, err := cfg.alias(h.SSHAlias, seen)
		if err != nil {
			return nil, fmt.Errorf("host %q: ssh_config_host %q: %w", h.Name, h.SSHAlias, err)
		}
		if addr == "" {
			addr = a.addr
		}
		if e.user == "" {
			e.user = a.user
		}
		if len(e.identities) == 0 {
			e.identities = a.identities
		}
		if e.knownHosts == "" {
			e.knownHosts = a.knownHosts
		}
		if e.connect == 0 {
			e.connect = a.connect
		}
		if e.keepalive == 0 {
			e.keepalive = a.keepalive
		}
		if h.Jump == "" {
			e.jump = a.jump
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("host %q: no address", h.Name)
	}
	e.addr = withPort(addr, "22")
	if h.Jump != "" {
		var next *Host
		for i := range all {
			if all[i].Name == h.Jump {
				next = &all[i]
			}
		}
		if next == nil {
			return nil, fmt.Errorf("host %q: jump %q is not another [[host]]", h.Name, h.Jump)
		}
		if !next.Remote() {
			return nil, fmt.Errorf("host %q: jump %q has no address", h.Name, h.Jump)
		}
		j, err := resolve(*next, all, cfg, seen)
		if err != nil {
			return nil, err
		}
		e.jump = j
	}
	return e, e.defaults(cfg.home)
}

// defaults fills in what is still unset and expands ~ in file names.
func (e *endpoint) defaults(home string) error {
	if e.user == "" {
		u, err := user.Current()
		if err != nil {
			return fmt.Errorf("host %q: no user given and the current one is unknown: %w", e.name, err)
		}
		e.user = u.Username
	}
	if e.knownHosts == "" {
		e.knownHosts = "~/.ssh/known_hosts"
	}
	e.knownHosts = expandHome(e.knownHosts, home)
	if len(e.identities) == 0 {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(home, ".ssh", name)
			if _, err := os.Stat(p); err == nil {
				e.identities = append(e.identities, p)
			}
		}
	}
	for i, p := range e.identities {
		e.identities[i] = expandHome(p, home)
	}
	if e.connect == 0 {
		e.connect = DefaultConnectTimeout
	}
	if e.keepalive == 0 {
		e.keepalive = DefaultKeepalive
	}
	return nil
}

func expandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

// withPort adds port to an address that has none ("host", "::1", "[::1]").
func withPort(addr, port string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"), port)
}

// sshConfig reads OpenSSH client configuration files, first match wins as in
// ssh(1): the user's file before the system one.
type sshConfig struct {
	home  string
	files []string
	cfgs  []*ssh_config.Config
	errs  []error
}

func loadSSHConfig(files []string, home string) *sshConfig {
	c := &sshConfig{home: home}
	for _, f := range files {
		f = expandHome(f, home)
		r, err := os.Open(f)
		if err != nil {
			if !os.IsNotExist(err) {
				c.errs = append(c.errs, err)
			}
			continue
		}
		cfg, err := ssh_config.Decode(r)
		r.Close()
		if err != nil {
			c.errs = append(c.errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		c.files = append(c.files, f)
		c.cfgs = append(c.cfgs, cfg)
	}
	return c
}

func (c *sshConfig) get(alias, key string) string {
	for _, cfg := range c.cfgs {
		if v, err := cfg.Get(alias, key); err == nil && v != "" {
			return v
		}
	}
	return ""
}

func (c *sshConfig) getAll(alias, key string) []string {
	for _, cfg := range c.cfgs {
		if v, err := cfg.GetAll(alias, key); err == nil && len(v) > 0 {
			return v
		}
	}
	return nil
}

// alias resolves a Host alias of ssh_config: HostName, Port, User,
// IdentityFile, UserKnownHostsFile, ConnectTimeout, ServerAliveInterval and
// ProxyJump (a comma-separated chain of [user@]host[:port], each itself
// looked up as an alias).
func (c *sshConfig) alias(alias string, seen []string) (*endpoint, error) {
	if len(c.errs) > 0 && len(c.cfgs) == 0 {
		return nil, c.errs[0]
	}
	return c.hop(alias, "", "", seen)
}

func (c *sshConfig) hop(alias, user, port string, seen []string) (*endpoint, error) {
	if len(seen) > 10 {
		return nil, fmt.Errorf("ProxyJump chain too long: %s", strings.Join(seen, " -> "))
	}
	e := &endpoint{name: alias, user: user}
	host := c.get(alias, "HostName")
	if host == "" {
		host = alias
	}
	host = strings.ReplaceAll(host, "%h", alias)
	if port == "" {
		port = c.get(alias, "Port")
	}
	if port == "" {
		port = "22"
	}
	e.addr = net.JoinHostPort(host, port)
	if e.user == "" {
		e.user = c.get(alias, "User")
	}
	for _, f := range c.getAll(alias, "IdentityFile") {
		if strings.EqualFold(f, "none") {
			continue
		}
		e.identities = append(e.identities, c.expandTokens(f, alias, host, port, e.user))
	}
	if f := strings.Fields(c.get(alias, "UserKnownHostsFile")); len(f) > 0 {
		e.knownHosts = c.expandTokens(f[0], alias, host, port, e.user)
	}
	if v := c.get(alias, "ConnectTimeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("ConnectTimeout %q is not a number of seconds", v)
		}
		e.connect = time.Duration(n) * time.Second
	}
	if v := c.get(alias, "ServerAliveInterval"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("ServerAliveInterval %q is not a number of seconds", v)
		}
		e.keepalive = time.Duration(n) * time.Second
	}
	if pj := c.get(alias, "ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
		hops := strings.Split(pj, ",")
		var prev *endpoint
		for _, h := range hops {
			u, hp, ok := strings.Cut(strings.TrimSpace(h), "@")
			if !ok {
				u, hp = "", u
			}
			if strings.Contains(hp, "://") {
				return nil, fmt.Errorf("ProxyJump %q: ssh:// URIs are not supported", pj)
			}
			name, p := hp, ""
			if hh, pp, err := net.SplitHostPort(hp); err == nil {
				name, p = hh, pp
			}
			for _, s := range seen {
				if s == name {
					return nil, fmt.Errorf("ProxyJump loop through %q", name)
				}
			}
			j, err := c.hop(name, u, p, append(seen, name))
			if err != nil {
				return nil, fmt.Errorf("ProxyJump %q: %w", h, err)
			}
			// Each hop is reached through the one before it.
			last := j
			for last.jump != nil {
				last = last.jump
			}
			last.jump = prev
			prev = j
		}
		e.jump = prev
	}
	return e, e.defaults(c.home)
}

// expandTokens expands the ssh_config tokens that make sense here.
func (c *sshConfig) expandTokens(s, alias, host, port, user string) string {
	s = expandHome(s, c.home)
	return strings.NewReplacer("%%", "%", "%d", c.home, "%h", host, "%n", alias, "%p", port, "%r", user).Replace(s)
}
