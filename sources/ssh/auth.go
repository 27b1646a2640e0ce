package ssh

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/skeema/knownhosts"
	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a refused host key: the host is not in known_hosts, or it
// is there with a different key.
type HostKeyError struct {
	Name       string // [[host]] name or ssh_config alias
	Addr       string // host:port dialled
	Key        xssh.PublicKey
	KnownHosts string
	Changed    bool
	Known      []string // file:line of the keys on record, when Changed
}

func (e *HostKeyError) Error() string {
	fp := xssh.FingerprintSHA256(e.Key)
	host, port, _ := net.SplitHostPort(e.Addr)
	if e.Changed {
		return fmt.Sprintf("host key refused: the host key of %s (%s) HAS CHANGED: it offered %s key %s, "+
			"but %s holds a different key. This may be an attack; if the host was reinstalled, "+
			"remove the old key with `ssh-keygen -R %s -f %s` and add the new one after checking its fingerprint",
			e.Name, e.Addr, e.Key.Type(), fp, strings.Join(e.Known, ", "),
			quoteIfNeeded(knownhosts.Normalize(e.Addr)), quoteIfNeeded(e.KnownHosts))
	}
	scan := "ssh-keyscan " + quoteIfNeeded(host)
	if port != "22" {
		scan = "ssh-keyscan -p " + port + " " + quoteIfNeeded(host)
	}
	return fmt.Sprintf("host key refused: %s (%s) is not in %s; it offered %s key %s. "+
		"After checking that fingerprint with the host's administrator, add it with `%s >> %s`",
		e.Name, e.Addr, e.KnownHosts, e.Key.Type(), fp, scan, quoteIfNeeded(e.KnownHosts))
}

// AuthError is a failed user authentication.
type AuthError struct {
	Name, Addr, User string
	Err              error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("authentication failed for %s@%s (%s): %v", e.User, e.Addr, e.Name, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// fatal reports errors that retrying will not fix until someone changes a
// file (known_hosts, a key, the server's authorized_keys).
func fatal(err error) bool {
	var hk *HostKeyError
	var ae *AuthError
	return errors.As(err, &hk) || errors.As(err, &ae)
}

// hostKeys returns the host key callback and the host key algorithms to ask
// for. known_hosts is read again on every connect, so that a fix needs no
// restart. skeema/knownhosts derives the algorithms from the keys on record,
// so that a server that also has an ECDSA key is not wrongly refused when only
// its ed25519 key is known (golang/go#29286).
func (e *endpoint) hostKeys(log *slog.Logger) (xssh.HostKeyCallback, []string, error) {
	if e.insecure {
		log.Warn("host key NOT checked: insecure_ignore_host_key is set", "host", e.name, "addr", e.addr)
		return xssh.InsecureIgnoreHostKey(), nil, nil //nolint:gosec // explicit per-host opt-out
	}
	var check xssh.HostKeyCallback
	var algos []string
	db, err := knownhosts.NewDB(e.knownHosts)
	switch {
	case err == nil:
		check, algos = db.HostKeyCallback(), db.HostKeyAlgorithms(e.addr)
	case errors.Is(err, os.ErrNotExist):
		// No file yet: every host is unknown.
		check = func(string, net.Addr, xssh.PublicKey) error { return &xknownhosts.KeyError{} }
	default:
		return nil, nil, fmt.Errorf("known_hosts %s: %w", e.knownHosts, err)
	}
	cb := func(hostname string, remote net.Addr, key xssh.PublicKey) error {
		err := check(hostname, remote, key)
		if err == nil {
			return nil
		}
		var ke *xknownhosts.KeyError
		if !errors.As(err, &ke) {
			return err
		}
		he := &HostKeyError{Name: e.name, Addr: e.addr, Key: key, KnownHosts: e.knownHosts, Changed: len(ke.Want) > 0}
		for _, k := range ke.Want {
			he.Known = append(he.Known, fmt.Sprintf("%s:%d", k.Filename, k.Line))
		}
		return he
	}
	return cb, algos, nil
}

// auth returns the ssh-agent's keys (when SSH_AUTH_SOCK or Options.AgentSocket
// names one) followed by the endpoint's identity files, and a func that
// closes the agent connection after the handshake.
func (e *endpoint) auth(agentSock string, log *slog.Logger) ([]xssh.AuthMethod, io.Closer, error) {
	var signers []xssh.Signer
	var closer io.Closer = io.NopCloser(nil)
	var problems []string
	if agentSock != "" {
		c, err := net.Dial("unix", agentSock)
		if err != nil {
			problems = append(problems, fmt.Sprintf("ssh-agent at %s: %v", agentSock, err))
		} else {
			closer = c
			if s, err := agent.NewClient(c).Signers(); err == nil {
				signers = append(signers, s...)
			} else {
				problems = append(problems, fmt.Sprintf("ssh-agent: %v", err))
			}
		}
	}
	for _, f := range e.identities {
		pem, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		s, err := xssh.ParsePrivateKey(pem)
		if err != nil {
			var pm *xssh.PassphraseMissingError
			if errors.As(err, &pm) {
				problems = append(problems, f+" is protected by a passphrase: load it into ssh-agent instead")
			} else {
				problems = append(problems, fmt.Sprintf("%s: %v", f, err))
			}
			continue
		}
		signers = append(signers, s)
	}
	if len(signers) == 0 {
		closer.Close()
		msg := "no key to log in with: set identity_files or run ssh-agent"
		if len(problems) > 0 {
			msg += " (" + strings.Join(problems, "; ") + ")"
		}
		return nil, nil, &AuthError{Name: e.name, Addr: e.addr, User: e.user, Err: errors.New(msg)}
	}
	for _, p := range problems {
		log.Warn("ssh key not usable", "host", e.name, "problem", p)
	}
	return []xssh.AuthMethod{xssh.PublicKeys(signers...)}, closer, nil
}
