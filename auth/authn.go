package auth

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// CookieName is the session cookie.
const CookieName = "lv_session"

// Mode names, as in the config's auth.mode.
const (
	ModeNone  = "none"
	ModeUsers = "users"
	ModeProxy = "proxy"
	ModeOIDC  = "oidc"
)

// Options configure an Authenticator. Nil parts are off.
type Options struct {
	Mode     string
	Sessions *Sessions // users, oidc
	Shares   *Shares
	Users    *Users  // users
	Tokens   *Tokens // [[token]]
	OIDC     *OIDC   // oidc: sign-in through the provider
	// TrustedProxies may assert a user (mode proxy) and a client address
	// (X-Forwarded-For, in every mode).
	TrustedProxies    []netip.Prefix
	ProxyUserHeader   string
	ProxyGroupsHeader string
	Now               func() time.Time
}

// Authenticator establishes the identity of requests.
type Authenticator struct {
	o Options
	// Sign-in failures, per client address and per user name: 5 at once,
	// then one per 12 s (300 an hour at most per key).
	byAddr, byUser *Limiter
}

// New returns an Authenticator.
func New(o Options) *Authenticator {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Mode == "" {
		o.Mode = ModeNone
	}
	return &Authenticator{o: o, byAddr: NewLimiter(5, 12*time.Second), byUser: NewLimiter(5, 12*time.Second)}
}

// Mode returns the configured mode.
func (a *Authenticator) Mode() string { return a.o.Mode }

// Sessions returns the session issuer (nil unless mode users or oidc).
func (a *Authenticator) Sessions() *Sessions { return a.o.Sessions }

// Shares returns the share-link signer.
func (a *Authenticator) Shares() *Shares { return a.o.Shares }

// Errors of Identify, to be shown as the reason of a 401.
var (
	ErrBadShare = errors.New("this share link is not valid (it was altered or made by another server)")
	ErrOldShare = errors.New("this share link has expired: ask for a new one")
	ErrBadToken = errors.New("unknown bearer token")
)

// Identify returns who is asking: a share link (?share=), a bearer token,
// anyone (mode none), a trusted proxy's user (mode proxy) or a session
// cookie (modes users and oidc). It returns nil and no error for nobody,
// and an error for credentials that were presented and are wrong.
func (a *Authenticator) Identify(r *http.Request) (*Identity, error) {
	now := a.o.Now()
	if tok := r.URL.Query().Get("share"); tok != "" {
		if a.o.Shares == nil {
			return nil, ErrBadShare
		}
		id, err := a.o.Shares.Check(tok, now)
		switch {
		case errors.Is(err, ErrExpired):
			return nil, ErrOldShare
		case err != nil:
			return nil, ErrBadShare
		}
		return id, nil
	}
	// A Bearer token is a machine caller. Other schemes (Basic, from a
	// proxy doing basic auth) are not ours: the mode decides.
	if scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		if id := a.o.Tokens.Check(strings.TrimSpace(secret)); id != nil {
			return id, nil
		}
		return nil, ErrBadToken
	}
	switch a.o.Mode {
	case ModeNone:
		return &Identity{User: "anonymous", Via: ViaNone}, nil
	case ModeProxy:
		if !a.trusted(r) {
			return nil, nil // headers from anyone else mean nothing
		}
		user := strings.TrimSpace(r.Header.Get(a.o.ProxyUserHeader))
		if user == "" {
			return nil, nil
		}
		var groups []string
		if a.o.ProxyGroupsHeader != "" {
			for g := range strings.SplitSeq(r.Header.Get(a.o.ProxyGroupsHeader), ",") {
				if g = strings.TrimSpace(g); g != "" {
					groups = append(groups, g)
				}
			}
		}
		return &Identity{User: user, Groups: groups, Via: ViaProxy}, nil
	}
	c, err := r.Cookie(CookieName)
	if err != nil || a.o.Sessions == nil {
		return nil, nil
	}
	id, err := a.o.Sessions.Check(c.Value, now)
	if err != nil {
		return nil, nil // an old or foreign cookie: sign in again
	}
	if id.Via == ViaSession && a.o.Users != nil {
		// A password session is as good as its [[user]] entry now: a user
		// removed from the config is signed out, and groups are current.
		groups, ok := a.o.Users.Lookup(id.User)
		if !ok {
			return nil, nil
		}
		id.Groups = groups
	}
	return id, nil
}

// trusted reports whether the request comes straight from a trusted proxy.
func (a *Authenticator) trusted(r *http.Request) bool {
	ip, ok := remoteIP(r.RemoteAddr)
	return ok && a.trustedIP(ip)
}

func (a *Authenticator) trustedIP(ip netip.Addr) bool {
	for _, p := range a.o.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteIP(addr string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	return ip.Unmap(), err == nil
}

// ClientIP is the address a request comes from: the connection's peer, or,
// when that is a trusted proxy, the nearest untrusted address in
// X-Forwarded-For (what the proxy saw). Rate limits and per-client bounds
// count by it.
func (a *Authenticator) ClientIP(r *http.Request) string {
	ip, ok := remoteIP(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !a.trustedIP(ip) {
		return ip.String()
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if h = h.Unmap(); !a.trustedIP(h) {
			return h.String()
		}
	}
	return ip.String()
}

// ErrRateLimited is a sign-in refused for a while; see LoginError.Wait.
var ErrRateLimited = errors.New("too many failed sign-ins")

// ErrBadLogin is a wrong user name or password (the same answer for both).
var ErrBadLogin = errors.New("wrong user name or password")

// LoginError is a refused sign-in.
type LoginError struct {
	Err  error
	Wait time.Duration // ErrRateLimited: when to try again
}

func (e *LoginError) Error() string {
	if e.Wait > 0 {
		return fmt.Sprintf("%v: try again in %s", e.Err, e.Wait.Round(time.Second))
	}
	return e.Err.Error()
}
func (e *LoginError) Unwrap() error { return e.Err }

// Login checks a password sign-in from client and returns the session
// cookie's value and the identity.
func (a *Authenticator) Login(client, user, password string) (string, *Identity, error) {
	if a.o.Mode != ModeUsers || a.o.Users == nil {
		return "", nil, errors.New("password sign-in is not enabled (auth.mode is not \"users\")")
	}
	now := a.o.Now()
	if wait := a.byAddr.Take(client, now); wait > 0 {
		return "", nil, &LoginError{Err: ErrRateLimited, Wait: wait}
	}
	if wait := a.byUser.Take(user, now); wait > 0 {
		a.byAddr.Refund(client, now)
		return "", nil, &LoginError{Err: ErrRateLimited, Wait: wait}
	}
	id := a.o.Users.Check(user, password)
	if id == nil {
		return "", nil, &LoginError{Err: ErrBadLogin}
	}
	a.byAddr.Refund(client, now)
	a.byUser.Refund(user, now)
	cookie, id := a.o.Sessions.Issue(*id, now)
	return cookie, id, nil
}

// IssueSession returns a session cookie for an identity established
// elsewhere (OIDC).
func (a *Authenticator) IssueSession(id Identity) (string, *Identity) {
	return a.o.Sessions.Issue(id, a.o.Now())
}

// Logout ends id's session. It is ended in this process in any case; an
// error says that it could not be kept beyond it (see Sessions.Share).
func (a *Authenticator) Logout(id *Identity) error {
	if id != nil && id.Session != "" && a.o.Sessions != nil {
		return a.o.Sessions.Revoke(id.Session, id.Expires, a.o.Now())
	}
	return nil
}
