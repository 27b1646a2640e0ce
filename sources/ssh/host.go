package ssh

import "time"

// Host is one remote host as the SSH source needs it (main builds it from
// the config's [[host]]; this package does not read the config).
type Host struct {
	Name          string
	Address       string // host[:port]; or SSHAlias
	User          string
	IdentityFiles []string
	KnownHosts    string
	Jump          string // the Name of another Host to reach this one through
	SSHAlias      string // an alias in ssh_config
	Connect       time.Duration
	Keepalive     time.Duration
	InsecureKeys  bool
	Files         []string // absolute globs; "~/" is the remote home
}

// Remote reports whether the host is reached over SSH.
func (h Host) Remote() bool { return h.Address != "" || h.SSHAlias != "" }

// DefaultMaxLineBytes is the longest line kept whole when Options do not say.
const DefaultMaxLineBytes = 64 << 10
