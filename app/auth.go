package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/cluster"
	"github.com/logviewer/logviewer/config"
	"github.com/logviewer/logviewer/web"
)

// stateDirPath returns state_dir (default ~/.local/state/logviewer),
// without creating it.
func StateDirPath(c *config.Config) string {
	if c.StateDir != "" {
		return c.StateDir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".local", "state", "logviewer")
}

// stateDir returns state_dir, created 0700.
func stateDir(c *config.Config) (string, error) {
	dir := StateDirPath(c)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state_dir: %w", err)
	}
	return dir, nil
}

// newAuth turns the config's [auth], [[user]], [[token]] and [[access]]
// into the auth package's parts.
// With a cluster, the key that signs sessions and share links is the one
// kept in the cluster's shared bucket, so a link made on one instance works
// on every other.
//
// The returned Sessions (nil without sign-in) are not yet kept beyond the
// process: see keepLogouts.
func newAuth(c *config.Config, cl *cluster.Cluster) (*auth.Authenticator, *auth.Rules, *auth.Sessions, error) {
	a := c.Auth
	o := auth.Options{Mode: a.Mode, ProxyUserHeader: a.ProxyUserHeader, ProxyGroupsHeader: a.ProxyGroupsHeader}
	for _, p := range a.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			ip, err := netip.ParseAddr(p)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("auth.trusted_proxies: %q: %w", p, err)
			}
			pfx = netip.PrefixFrom(ip, ip.BitLen())
		}
		o.TrustedProxies = append(o.TrustedProxies, pfx)
	}
	var tokens []auth.Token
	for _, t := range c.Tokens {
		tokens = append(tokens, auth.Token{Name: t.Name, SHA256: t.SecretSHA256, Scopes: t.Scopes})
	}
	o.Tokens = auth.NewTokens(tokens)
	if a.Mode == config.AuthNone {
		// Everyone sees everything: no sessions, and share links would
		// grant nothing, so no key is needed (or created).
		return auth.New(o), nil, nil, nil
	}
	key, err := loadKey(c, cl)
	if err != nil {
		return nil, nil, nil, err
	}
	signer := auth.NewSigner(key)
	o.Shares = auth.NewShares(signer, a.ShareMaxTTL.Duration)
	if a.Mode == config.AuthUsers || a.Mode == config.AuthOIDC {
		o.Sessions = auth.NewSessions(signer, a.SessionTTL.Duration)
	}
	if a.Mode == config.AuthOIDC {
		// The provider is discovered at the first sign-in, not here: the
		// server starts while the issuer is unreachable.
		secret, err := auth.LoadClientSecret(a.OIDCSecretFile)
		if err != nil {
			return nil, nil, nil, err
		}
		o.OIDC = auth.NewOIDC(auth.OIDCOptions{
			Issuer: a.OIDCIssuer, ClientID: a.OIDCClientID, ClientSecret: secret,
			RedirectURL: auth.OIDCRedirectURL(c.PublicURL), GroupsClaim: a.OIDCGroupsClaim,
		}, signer)
	}
	var users []auth.User
	for _, u := range c.Users {
		users = append(users, auth.User{Name: u.Name, Hash: []byte(u.Password), Groups: u.Groups})
	}
	if a.Mode == config.AuthUsers {
		o.Users = auth.NewUsers(users)
	}
	var rules []auth.Rule
	for _, r := range c.Access {
		rules = append(rules, auth.Rule{Users: r.Users, Groups: r.Groups, Hosts: r.Hosts, Files: r.Files})
	}
	return auth.New(o), auth.NewRules(rules), o.Sessions, nil
}

// keepLogouts makes a logout outlive the process. With a cluster, a logout
// is stored in the shared bucket and every instance ends the session (its
// open views are closed with "signed out"); otherwise it is kept in
// state_dir/revoked, and read back at the next start.
func keepLogouts(c *config.Config, cl *cluster.Cluster, s *auth.Sessions, srv *web.Server, logger *slog.Logger) error {
	if cl == nil {
		dir, err := stateDir(c)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, "revoked")
		bad, err := auth.KeepRevocations(path, s, time.Now())
		if len(bad) > 0 {
			logger.Warn("revoked sessions: unreadable lines dropped (a write cut short?)", "file", path, "lines", bad)
		}
		return err
	}
	s.Share(func(id string, exp time.Time) error {
		return cl.PutRevoked(context.Background(), id, exp)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cl.WatchRevoked(ctx, func(id string, exp time.Time) {
		if s.Insert(id, exp, time.Now()) { // ended on another instance
			srv.EndSession(id)
		}
	})
}

// loadKey returns the HMAC key: the cluster's, or secret_file's.
func loadKey(c *config.Config, cl *cluster.Cluster) ([]byte, error) {
	if cl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return cl.Secret(ctx, "signing", auth.NewSecret)
	}
	secretFile := c.Auth.SecretFile
	if secretFile == "" {
		dir, err := stateDir(c)
		if err != nil {
			return nil, err
		}
		secretFile = filepath.Join(dir, "secret")
	}
	return auth.LoadSecret(secretFile)
}
