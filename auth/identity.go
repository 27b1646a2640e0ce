// Package auth says who is asking: the identity of every HTTP request and
// WebSocket (anonymous, a signed-in user, a proxy-asserted user, a share
// link or a machine token), the HMAC-signed session cookies and share links
// that carry it, password checks, sign-in rate limits and the access rules
// that decide which hosts and files an identity may see.
//
// One middleware (in web) authenticates; everything after it reads the
// identity from the request's context with FromContext.
package auth

import (
	"context"
	"path"
	"slices"
	"strings"
	"time"
)

// How an identity was established.
const (
	ViaNone    = "none"     // auth mode "none": anonymous on a trusted listen
	ViaSession = "password" // a session cookie from a password sign-in
	ViaOIDC    = "oidc"     // a session cookie from an OIDC sign-in
	ViaProxy   = "proxy"    // headers from a trusted reverse proxy
	ViaShare   = "share"    // a share link: one log, read-only
	ViaToken   = "token"    // a [[token]] (Authorization: Bearer)
)

// Identity is who is asking.
type Identity struct {
	User   string   `json:"user"`
	Groups []string `json:"groups"`
	Via    string   `json:"via"`

	Share   *Share    `json:"share,omitempty"` // Via == ViaShare: the one log it opens
	Scopes  []string  `json:"-"`               // Via == ViaToken
	Expires time.Time `json:"-"`               // when this identity ends (sessions, shares); zero: never
	Session string    `json:"-"`               // session id, for logout
}

// Can reports whether a token identity has scope (identities that are not
// tokens have every scope their access rules give them).
func (id *Identity) Can(scope string) bool {
	return id != nil && (id.Via != ViaToken || slices.Contains(id.Scopes, scope))
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity in ctx, or nil (nobody).
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(ctxKey{}).(*Identity)
	return id
}

// Rule is one [[access]] rule.
type Rule struct {
	Users  []string
	Groups []string
	Hosts  []string // globs over host names
	Files  []string // globs over paths; empty: every file of the host
}

// Rules decide what an identity may see. No rules at all: every identity
// sees everything. A share identity sees only its one log, whatever the
// rules; a token sees what its name is allowed as a user.
type Rules struct {
	rules []Rule
}

// NewRules returns the rules in config order.
func NewRules(rules []Rule) *Rules { return &Rules{rules: rules} }

// Host reports whether id may see host at all. A token sees logs only with
// the "read" scope (a CI token for marks reads nothing).
func (r *Rules) Host(id *Identity, host string) bool {
	if id == nil || (id.Via == ViaToken && !slices.Contains(id.Scopes, "read")) {
		return false
	}
	if id.Share != nil {
		return id.Share.Host == host
	}
	if r == nil || len(r.rules) == 0 {
		return true
	}
	return slices.ContainsFunc(r.rules, func(rule Rule) bool { return rule.applies(id) && globAny(rule.Hosts, host) })
}

// File reports whether id may see file on host.
func (r *Rules) File(id *Identity, host, file string) bool {
	if id == nil || (id.Via == ViaToken && !slices.Contains(id.Scopes, "read")) {
		return false
	}
	if id.Share != nil {
		return id.Share.Host == host && id.Share.File == file
	}
	if r == nil || len(r.rules) == 0 {
		return true
	}
	return slices.ContainsFunc(r.rules, func(rule Rule) bool {
		return rule.applies(id) && globAny(rule.Hosts, host) && (len(rule.Files) == 0 || globAny(rule.Files, file))
	})
}

// AllFiles reports whether id may see every file of host (a rule for the
// host without a files restriction applies, or there are no rules).
func (r *Rules) AllFiles(id *Identity, host string) bool {
	if id == nil || id.Share != nil || (id.Via == ViaToken && !slices.Contains(id.Scopes, "read")) {
		return false
	}
	if r == nil || len(r.rules) == 0 {
		return true
	}
	return slices.ContainsFunc(r.rules, func(rule Rule) bool {
		return rule.applies(id) && globAny(rule.Hosts, host) && len(rule.Files) == 0
	})
}

func (rule Rule) applies(id *Identity) bool {
	// "token:NAME" names a [[token]]: only a token is that user (a proxy or
	// an identity provider could otherwise assert the name).
	if slices.ContainsFunc(rule.Users, func(u string) bool {
		return u == id.User && (!strings.HasPrefix(u, "token:") || id.Via == ViaToken)
	}) {
		return true
	}
	return slices.ContainsFunc(rule.Groups, func(g string) bool { return slices.Contains(id.Groups, g) })
}

func globAny(globs []string, s string) bool {
	return slices.ContainsFunc(globs, func(g string) bool {
		ok, _ := path.Match(g, s)
		return ok
	})
}
