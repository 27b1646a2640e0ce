// Package config decodes logviewer.toml strictly: an unknown key or a bad value
// is an error that names the file, the line and the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Defaults for keys that the file leaves out.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultReplay       = 1000
	DefaultBuffer       = 8 << 20
	DefaultIdleStop     = 5 * time.Minute
	DefaultMaxLineBytes = 64 << 10
	DefaultMaxLogs      = 1000 // logs followed at once
	DefaultMaxViewers   = 256  // logs watched per client address (a merged view counts each member)
	DefaultSessionTTL   = 12 * time.Hour
	DefaultShareMaxTTL  = 7 * 24 * time.Hour
	LocalHost           = "local"
	// DefaultWSCompression: see README.md, "Bytes on the wire", for the
	// measurements it was chosen from.
	DefaultWSCompression = false

	// MaxBuffer bounds a ring's byte budget (a typo such as "8GiB" for
	// "8MiB" is caught rather than allowed to exhaust memory).
	MaxBuffer = 16 << 30
)

// Config is the whole file after defaults and validation.
type Config struct {
	Listen         string   `toml:"listen"`
	Replay         int      `toml:"replay"`
	Buffer         ByteSize `toml:"buffer"`
	IdleStop       Duration `toml:"idle_stop"`
	MaxLineBytes   int      `toml:"max_line_bytes"`
	AllowedOrigins []string `toml:"allowed_origins"`
	AllowedHosts   []string `toml:"allowed_hosts"`
	MaxLogs        int      `toml:"max_logs"`
	MaxViewers     int      `toml:"max_viewers_per_client"`
	PublicURL      string   `toml:"public_url"`
	BasePath       string   `toml:"base_path"`
	TLSCert        string   `toml:"tls_cert"`
	TLSKey         string   `toml:"tls_key"`
	StateDir       string   `toml:"state_dir"`
	MetricsPublic  bool     `toml:"metrics_public"`
	WSCompression  bool     `toml:"ws_compression"` // negotiate permessage-deflate
	Auth           Auth     `toml:"auth"`
	Users          []User   `toml:"user"`
	Access         []Access `toml:"access"`
	Tokens         []Token  `toml:"token"`
	Hosts          []Host   `toml:"host"`
	Cluster        *Cluster `toml:"cluster"` // nil: one process, everything in memory

	// Path is the file this came from; set by Load.
	Path string `toml:"-"`
}

// Host is one [[host]] table. A host without Address is this machine.
type Host struct {
	Name          string   `toml:"name"`
	Files         []string `toml:"files"`
	Address       string   `toml:"address"`
	User          string   `toml:"user"`
	IdentityFiles []string `toml:"identity_files"`
	KnownHosts    string   `toml:"known_hosts"`
	Groups        []string `toml:"groups"`
	Jump          string   `toml:"jump"`
	SSHAlias      string   `toml:"ssh_config_host"`
	Connect       Duration `toml:"connect_timeout"`
	Keepalive     Duration `toml:"keepalive"`
	InsecureKeys  bool     `toml:"insecure_ignore_host_key"`
	MaxConns      int      `toml:"max_connections"` // SSH connections to the host (each carries up to sshd's MaxSessions logs)

	index int // the [[host]] table it came from (a range makes several hosts of one)
}

// Cluster is the [cluster] table: instances that share tails through NATS
// JetStream (see README.md, "Running a cluster").
type Cluster struct {
	NATSURL  string `toml:"nats_url"` // one or more nats:// URLs, comma-separated
	Name     string `toml:"name"`     // prefix of streams, subjects and KV buckets
	Instance string `toml:"instance"` // this instance's name; default: the host name
}

// Auth is the [auth] table: how people sign in.
type Auth struct {
	Mode              string   `toml:"mode"` // "none", "users", "proxy", "oidc"
	InsecureNoAuth    bool     `toml:"insecure_no_auth"`
	SessionTTL        Duration `toml:"session_ttl"`
	SecretFile        string   `toml:"secret_file"`
	ShareMaxTTL       Duration `toml:"share_max_ttl"`
	ProxyUserHeader   string   `toml:"proxy_user_header"`
	ProxyGroupsHeader string   `toml:"proxy_groups_header"`
	TrustedProxies    []string `toml:"trusted_proxies"`
	OIDCIssuer        string   `toml:"oidc_issuer"`
	OIDCClientID      string   `toml:"oidc_client_id"`
	OIDCSecretFile    string   `toml:"oidc_client_secret_file"`
	OIDCGroupsClaim   string   `toml:"oidc_groups_claim"`
}

// Auth modes.
const (
	AuthNone  = "none"
	AuthUsers = "users"
	AuthProxy = "proxy"
	AuthOIDC  = "oidc"
)

// User is one [[user]] (auth mode "users").
type User struct {
	Name     string   `toml:"name"`
	Password string   `toml:"password"` // bcrypt hash
	Groups   []string `toml:"groups"`
}

// Access is one [[access]] rule: the users and groups it is for, and the
// hosts and files (globs) they may see.
type Access struct {
	Users  []string `toml:"users"`
	Groups []string `toml:"groups"`
	Hosts  []string `toml:"hosts"`
	Files  []string `toml:"files"`
}

// Token is one [[token]]: a machine caller's secret, stored as its sha256.
type Token struct {
	Name         string   `toml:"name"`
	SecretSHA256 string   `toml:"secret_sha256"`
	Scopes       []string `toml:"scopes"`
}

// Remote reports whether the host is reached over SSH.
func (h Host) Remote() bool { return h.Address != "" || h.SSHAlias != "" }

// Duration is a time.Duration written as a string such as "30s" or "5m".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return &valueError{string(b), "is not a duration (write it like \"30s\" or \"5m\")"}
	}
	if v < 0 {
		return &valueError{string(b), "is negative"}
	}
	d.Duration = v
	return nil
}

// ByteSize is a size written as a number of bytes or a string such as "8MiB".
type ByteSize int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *ByteSize) UnmarshalText(b []byte) error {
	v, err := ParseByteSize(string(b))
	if err != nil {
		return err
	}
	*s = ByteSize(v)
	return nil
}

// ParseByteSize reads "512", "64KiB", "8MiB", "1GiB" (also KB/MB/GB, as powers of 1000).
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			mult, t = u.mult, strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		if errors.Is(err, strconv.ErrRange) {
			return 0, &valueError{s, "is too large"}
		}
		return 0, &valueError{s, "is not a size (write it like \"8MiB\")"}
	}
	if n > math.MaxInt64/mult {
		return 0, &valueError{s, "is too large"}
	}
	return n * mult, nil
}

// valueError is a bad value; decodeError finds its key when the decoder
// did not say where it was.
type valueError struct{ value, msg string }

func (e *valueError) Error() string { return fmt.Sprintf("%q %s", e.value, e.msg) }

// Error is a configuration error at a place in a file.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Key != "":
		return fmt.Sprintf("%s:%d: key %q: %s", e.File, e.Line, e.Key, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.Key != "":
		return fmt.Sprintf("%s: key %q: %s", e.File, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data (named name in errors) and applies defaults and validation.
func Parse(name string, data []byte) (*Config, error) {
	c := &Config{
		Listen:        DefaultListen,
		Replay:        DefaultReplay,
		Buffer:        DefaultBuffer,
		IdleStop:      Duration{DefaultIdleStop},
		MaxLineBytes:  DefaultMaxLineBytes,
		MaxLogs:       DefaultMaxLogs,
		MaxViewers:    DefaultMaxViewers,
		WSCompression: DefaultWSCompression,
		Auth: Auth{
			Mode:              AuthNone,
			SessionTTL:        Duration{DefaultSessionTTL},
			ShareMaxTTL:       Duration{DefaultShareMaxTTL},
			ProxyUserHeader:   "Remote-User",
			ProxyGroupsHeader: "Remote-Groups",
			OIDCGroupsClaim:   "groups",
		},
	}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, decodeError(name, data, err)
	}
	c.Path = name
	if err := c.validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = name
			if ce.Line == 0 {
				ce.Line = locate(data, ce.Key)
			}
		}
		return nil, err
	}
	return c, nil
}

func decodeError(name string, data []byte, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		e := strict.Errors[0]
		row, _ := e.Position()
		return &Error{File: name, Line: row, Key: strings.Join(e.Key(), "."), Msg: "unknown key"}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		return &Error{File: name, Line: row, Key: strings.Join(de.Key(), "."), Msg: strings.TrimPrefix(de.Error(), "toml: ")}
	}
	var ve *valueError
	if errors.As(err, &ve) {
		line, key := locateValue(data, ve.value)
		return &Error{File: name, Line: line, Key: key, Msg: ve.Error()}
	}
	return &Error{File: name, Msg: err.Error()}
}

func (c *Config) validate() error {
	bad := func(key, format string, a ...any) error {
		return &Error{Key: key, Msg: fmt.Sprintf(format, a...)}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q is not host:port", c.Listen)
	}
	if c.Replay < 1 || c.Replay > 1_000_000 {
		return bad("replay", "must be between 1 and 1000000, not %d", c.Replay)
	}
	if c.MaxLineBytes < 80 || c.MaxLineBytes > 16<<20 {
		return bad("max_line_bytes", "must be between 80 and 16777216, not %d", c.MaxLineBytes)
	}
	if int64(c.Buffer) < int64(c.Replay)*128 {
		return bad("buffer", "%d bytes is too small to hold replay=%d lines (want at least %d)", c.Buffer, c.Replay, int64(c.Replay)*128)
	}
	if c.Buffer > MaxBuffer {
		return bad("buffer", "%d bytes is more than the limit of %d (16GiB) per log", c.Buffer, int64(MaxBuffer))
	}
	if c.MaxLogs < 1 || c.MaxLogs > 1_000_000 {
		return bad("max_logs", "must be between 1 and 1000000, not %d", c.MaxLogs)
	}
	if c.MaxViewers < 1 || c.MaxViewers > 1_000_000 {
		return bad("max_viewers_per_client", "must be between 1 and 1000000, not %d", c.MaxViewers)
	}
	for _, o := range c.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			return bad("allowed_origins", "%q %v", o, err)
		}
	}
	for _, h := range c.AllowedHosts {
		if !validDNSName(h) {
			return bad("allowed_hosts", "%q is not a host name (write it like \"logs.example.com\", without scheme or port)", h)
		}
	}
	if err := c.validateService(); err != nil {
		return err
	}
	if err := c.validateCluster(); err != nil {
		return err
	}
	if len(c.Hosts) == 0 {
		return bad("host", "at least one [[host]] is needed")
	}
	if err := c.expandRanges(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range c.Hosts {
		h := &c.Hosts[i]
		key := func(k string) string { return fmt.Sprintf("host.%d.%s", h.index, k) }
		if h.Name == "" {
			return bad(key("name"), "every [[host]] needs a name")
		}
		if !validHostName(h.Name) {
			return bad(key("name"), "%q may not contain spaces or any of / ? # & = (use letters, digits, '.', '_' and '-', at most 64)", h.Name)
		}
		if seen[h.Name] {
			return bad(key("name"), "host %q is defined twice", h.Name)
		}
		if h.MaxConns < 0 || h.MaxConns > 1024 {
			return bad(key("max_connections"), "must be between 1 and 1024, not %d", h.MaxConns)
		}
		for _, g := range h.Groups {
			if !validHostName(g) {
				return bad(key("groups"), "%q is not a group name (letters, digits, '.', '_' and '-', at most 64)", g)
			}
		}
		seen[h.Name] = true
		if len(h.Files) == 0 {
			return bad(key("files"), "host %q lists no files", h.Name)
		}
		for _, g := range h.Files {
			if !strings.HasPrefix(g, "/") && !strings.HasPrefix(g, "~/") {
				return bad(key("files"), "%q must be an absolute path or glob", g)
			}
			if _, err := filepath.Match(g, "/"); err != nil {
				return bad(key("files"), "%q is not a valid glob: %v", g, err)
			}
		}
		if !h.Remote() {
			for _, k := range []struct {
				set  bool
				name string
			}{{h.User != "", "user"}, {len(h.IdentityFiles) > 0, "identity_files"}, {h.Jump != "", "jump"}, {h.KnownHosts != "", "known_hosts"}} {
				if k.set {
					return bad(key(k.name), "only applies to a remote host: set address too")
				}
			}
		}
	}
	for _, h := range c.Hosts {
		if h.Jump != "" && (!seen[h.Jump] || h.Jump == h.Name) {
			return bad(fmt.Sprintf("host.%d.jump", h.index), "%q is not another [[host]] name", h.Jump)
		}
		for _, g := range h.Groups {
			if seen[g] {
				return bad(fmt.Sprintf("host.%d.groups", h.index), "group %q has the name of a host: a name in a URL must say which it is", g)
			}
		}
	}
	return nil
}

// validateService checks the keys of a team service: URLs, TLS, auth,
// users, access rules and tokens.
func (c *Config) validateService() error {
	bad := func(key, format string, a ...any) error {
		return &Error{Key: key, Msg: fmt.Sprintf(format, a...)}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return bad("public_url", "%q must be an http(s) URL such as \"https://ops.example.com/logs/\"", c.PublicURL)
		}
		derived := strings.TrimSuffix(u.Path, "/")
		if c.BasePath == "" {
			c.BasePath = derived
		} else if strings.TrimSuffix(c.BasePath, "/") != derived {
			return bad("base_path", "%q differs from public_url's path %q", c.BasePath, u.Path)
		}
	}
	if c.BasePath != "" {
		c.BasePath = strings.TrimSuffix(c.BasePath, "/")
		if c.BasePath != "" && (!strings.HasPrefix(c.BasePath, "/") || path.Clean(c.BasePath) != c.BasePath || strings.ContainsAny(c.BasePath, "?#%\"")) {
			return bad("base_path", "%q must be a clean absolute path such as \"/logs\"", c.BasePath)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return bad("tls_cert", "set both tls_cert and tls_key, or neither")
	}
	a := &c.Auth
	switch a.Mode {
	case AuthNone, AuthUsers, AuthProxy, AuthOIDC:
	default:
		return bad("auth.mode", "%q is not one of \"none\", \"users\", \"proxy\", \"oidc\"", a.Mode)
	}
	if a.SessionTTL.Duration < time.Minute {
		return bad("auth.session_ttl", "must be at least 1m")
	}
	if a.ShareMaxTTL.Duration < time.Minute {
		return bad("auth.share_max_ttl", "must be at least 1m")
	}
	for _, p := range a.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return bad("auth.trusted_proxies", "%q is not an address or CIDR prefix such as \"127.0.0.1/32\"", p)
			}
		}
	}
	switch a.Mode {
	case AuthUsers:
		if len(c.Users) == 0 {
			return bad("auth.mode", "mode \"users\" needs at least one [[user]]")
		}
	case AuthProxy:
		if len(a.TrustedProxies) == 0 {
			return bad("auth.trusted_proxies", "mode \"proxy\" needs trusted_proxies: the proxy headers are honoured only from these addresses")
		}
		if a.ProxyUserHeader == "" {
			return bad("auth.proxy_user_header", "must not be empty in mode \"proxy\"")
		}
	case AuthOIDC:
		if a.OIDCIssuer == "" || a.OIDCClientID == "" {
			return bad("auth.oidc_issuer", "mode \"oidc\" needs oidc_issuer and oidc_client_id")
		}
		if c.PublicURL == "" {
			return bad("public_url", "mode \"oidc\" needs public_url (the callback URL is built from it)")
		}
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		key := func(k string) string { return fmt.Sprintf("user.%d.%s", i, k) }
		if !validUserName(u.Name) {
			return bad(key("name"), "%q is not a user name (letters, digits, '.', '_', '-', '@', at most 64)", u.Name)
		}
		if seen[u.Name] {
			return bad(key("name"), "user %q is defined twice", u.Name)
		}
		seen[u.Name] = true
		if !strings.HasPrefix(u.Password, "$2a$") && !strings.HasPrefix(u.Password, "$2b$") && !strings.HasPrefix(u.Password, "$2y$") {
			return bad(key("password"), "must be a bcrypt hash (run: logviewer hash-password)")
		}
	}
	for i, r := range c.Access {
		key := func(k string) string { return fmt.Sprintf("access.%d.%s", i, k) }
		if len(r.Users) == 0 && len(r.Groups) == 0 {
			return bad(key("groups"), "an [[access]] rule needs users or groups")
		}
		if len(r.Hosts) == 0 {
			return bad(key("hosts"), "an [[access]] rule needs hosts (globs over host names, e.g. [\"*\"])")
		}
		for _, g := range r.Hosts {
			if _, err := path.Match(g, ""); err != nil {
				return bad(key("hosts"), "%q is not a valid glob", g)
			}
		}
		for _, g := range r.Files {
			if _, err := path.Match(g, ""); err != nil || !strings.HasPrefix(g, "/") {
				return bad(key("files"), "%q must be an absolute path or glob", g)
			}
		}
	}
	names := map[string]bool{}
	for i, t := range c.Tokens {
		key := func(k string) string { return fmt.Sprintf("token.%d.%s", i, k) }
		if t.Name == "" || names[t.Name] {
			return bad(key("name"), "every [[token]] needs a name of its own")
		}
		names[t.Name] = true
		if len(t.SecretSHA256) != 64 || strings.Trim(strings.ToLower(t.SecretSHA256), "0123456789abcdef") != "" {
			return bad(key("secret_sha256"), "must be 64 hex digits (run: logviewer hash-token)")
		}
		for _, sc := range t.Scopes {
			if sc != "marks" && sc != "read" {
				return bad(key("scopes"), "%q is not a scope (\"marks\", \"read\")", sc)
			}
		}
	}
	return nil
}

// validateCluster checks [cluster] and fills in its defaults.
func (c *Config) validateCluster() error {
	cl := c.Cluster
	if cl == nil {
		return nil
	}
	bad := func(key, format string, a ...any) error {
		return &Error{Key: "cluster." + key, Msg: fmt.Sprintf(format, a...)}
	}
	if cl.NATSURL == "" {
		return bad("nats_url", "[cluster] needs nats_url, such as \"nats://127.0.0.1:4222\"")
	}
	for _, u := range strings.Split(cl.NATSURL, ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Host == "" || (pu.Scheme != "nats" && pu.Scheme != "tls" && pu.Scheme != "ws" && pu.Scheme != "wss") {
			return bad("nats_url", "%q is not a NATS URL such as \"nats://127.0.0.1:4222\"", u)
		}
	}
	if cl.Name == "" {
		cl.Name = "logviewer"
	}
	if !validClusterName(cl.Name) {
		return bad("name", "%q must be letters, digits, '_' and '-' (at most 32): it names streams, subjects and KV buckets", cl.Name)
	}
	if cl.Instance == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return bad("instance", "not set, and the host name is unknown: set instance")
		}
		cl.Instance = h
	}
	if !validHostName(cl.Instance) {
		return bad("instance", "%q may contain only letters, digits, '.', '_' and '-' (at most 64)", cl.Instance)
	}
	return nil
}

func validClusterName(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for _, c := range n {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func validUserName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range n {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == '@':
		default:
			return false
		}
	}
	return true
}

// Groups returns each group's member hosts, in config order, by group name.
func (c *Config) Groups() map[string][]string {
	groups := map[string][]string{}
	for _, h := range c.Hosts {
		for _, g := range h.Groups {
			groups[g] = append(groups[g], h.Name)
		}
	}
	return groups
}

// validHostName reports whether a [[host]] name is plain: it appears in
// URLs, HTML and log records, so nothing that needs escaping anywhere.
func validHostName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range n {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// validDNSName reports whether n is a DNS name or an IP address, as the
// Host header carries it (without a port).
func validDNSName(n string) bool {
	if net.ParseIP(strings.Trim(n, "[]")) != nil {
		return true
	}
	if n == "" || len(n) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(n, "."), ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkOrigin accepts what a browser sends as Origin: scheme://host[:port]
// and nothing more (a path could never match).
func checkOrigin(o string) error {
	if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
		return errors.New("must start with http:// or https://")
	}
	u, err := url.Parse(o)
	switch {
	case err != nil:
		return fmt.Errorf("is not a URL: %v", err)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return errors.New("must be only scheme://host[:port] (an Origin has no path, query or user)")
	case !validDNSName(u.Hostname()):
		return errors.New("has no valid host name")
	}
	return nil
}

// locate finds the line of a dotted key such as "replay" or "host.1.files"
// (array-of-tables entries are counted from 0). A key the file leaves out is
// placed at the table it belongs in. It returns 0 when nothing fits.
func locate(data []byte, key string) int {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	var table []string
	index := map[string]int{}
	for p.NextExpression() {
		e := p.Expression()
		parts := keyParts(e)
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = parts
			if e.Kind == unstable.ArrayTable {
				name := strings.Join(table, ".")
				table = append(table, strconv.Itoa(index[name]))
				index[name]++
			}
			lines[strings.Join(table, ".")] = lineOf(&p, e)
		case unstable.KeyValue:
			full := append(append([]string(nil), table...), parts...)
			lines[strings.Join(full, ".")] = lineOf(&p, e)
		}
	}
	for k := key; k != ""; {
		if n, ok := lines[k]; ok {
			return n
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// locateValue finds the first key whose scalar value is written as value.
func locateValue(data []byte, value string) (int, string) {
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(e)
		case unstable.KeyValue:
			if v := e.Value(); v != nil && string(v.Data) == value {
				return lineOf(&p, e), strings.Join(append(append([]string(nil), table...), keyParts(e)...), ".")
			}
		}
	}
	return 0, ""
}

func keyParts(n *unstable.Node) []string {
	var parts []string
	it := n.Key()
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

func lineOf(p *unstable.Parser, n *unstable.Node) int {
	it := n.Key()
	if it.Next() {
		return p.Shape(it.Node().Raw).Start.Line
	}
	return 0
}
