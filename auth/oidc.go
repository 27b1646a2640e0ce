package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDC sign-in (auth mode "oidc"): the authorization code flow with PKCE
// (S256), a state and a nonce. Begin starts a sign-in and returns a signed
// state cookie that carries the state, nonce, PKCE verifier and where to go
// afterwards; Finish checks that cookie against the callback, exchanges the
// code and verifies the ID token. The identity it returns becomes a normal
// session (Authenticator.IssueSession) with Via = ViaOIDC.

// OIDCStateCookie is the cookie that carries a sign-in in progress from
// Begin to Finish.
const OIDCStateCookie = "lv_oidc"

// OIDCStateTTL is how long a sign-in may take, from Begin to Finish.
const OIDCStateTTL = 10 * time.Minute

const (
	// oidcDiscoveryTimeout bounds one discovery attempt: a login waits at
	// most this long for an unreachable issuer before it answers 503.
	oidcDiscoveryTimeout = 10 * time.Second
	// oidcHTTPTimeout bounds every request to the provider (token, keys,
	// userinfo) made with the default client.
	oidcHTTPTimeout = 15 * time.Second
	// maxNext bounds the return path kept in the state cookie.
	maxNext = 1024
)

// Errors of Begin and Finish. Each wraps the reason, which is safe to show
// (it never contains a token, a code or the client secret).
var (
	// ErrOIDCUnavailable: the provider could not be reached or discovered
	// (a 503: try again later).
	ErrOIDCUnavailable = errors.New("the identity provider is unavailable")
	// ErrOIDCState: the callback does not belong to a sign-in this browser
	// started here (missing, altered, expired, mismatched or used state).
	ErrOIDCState = errors.New("this sign-in is not valid")
	// ErrOIDCDenied: the provider answered with an error parameter.
	ErrOIDCDenied = errors.New("the identity provider refused the sign-in")
	// ErrOIDCToken: the code exchange failed or the ID token is not valid.
	ErrOIDCToken = errors.New("the identity provider's answer is not valid")
)

// OIDCOptions configure sign-in through an OpenID Connect provider.
type OIDCOptions struct {
	Issuer   string // discovery happens at Issuer + "/.well-known/openid-configuration"
	ClientID string
	// ClientSecret is "" for a public client (PKCE only).
	ClientSecret string
	// RedirectURL is the callback registered at the provider (see
	// OIDCRedirectURL).
	RedirectURL string
	// GroupsClaim names the claim that lists the user's groups ("" is
	// "groups"); a dotted name such as "realm_access.roles" reaches into
	// nested objects when no claim has that exact name.
	GroupsClaim string
	// HTTPClient talks to the provider (nil: one with a 15 s timeout).
	HTTPClient *http.Client
	Now        func() time.Time
}

// OIDCRedirectURL is the callback URL under publicURL (with or without its
// trailing slash): the one to register at the provider.
func OIDCRedirectURL(publicURL string) string {
	return strings.TrimSuffix(publicURL, "/") + "/auth/oidc/callback"
}

// LoadClientSecret reads oidc_client_secret_file: the secret with
// surrounding white space trimmed. A file readable by others is refused.
// An empty path is a public client: "" and no error.
func LoadClientSecret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("auth.oidc_client_secret_file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("auth.oidc_client_secret_file %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("auth.oidc_client_secret_file %s is empty (omit the key for a public client)", path)
	}
	return secret, nil
}

// OIDC signs people in through an OpenID Connect provider. It discovers
// the provider lazily, at the first sign-in, and again at the next one as
// long as discovery fails: the server starts while the issuer is down.
//
// All methods may be called concurrently.
type OIDC struct {
	o      OIDCOptions
	signer *Signer
	http   *http.Client

	ready     atomic.Pointer[oidcClient]
	discovery chan struct{} // one discovery at a time

	mu   sync.Mutex
	used map[string]time.Time // states of finished sign-ins → their expiry
}

// oidcClient is what discovery yields.
type oidcClient struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
}

// NewOIDC returns an OIDC that signs its state cookies with s.
func NewOIDC(o OIDCOptions, s *Signer) *OIDC {
	if o.GroupsClaim == "" {
		o.GroupsClaim = "groups"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: oidcHTTPTimeout}
	}
	return &OIDC{o: o, signer: s, http: hc, discovery: make(chan struct{}, 1), used: map[string]time.Time{}}
}

// OIDC returns the OIDC sign-in (nil unless mode oidc).
func (a *Authenticator) OIDC() *OIDC { return a.o.OIDC }

// client returns the discovered provider, discovering it if need be.
func (o *OIDC) client(ctx context.Context) (*oidcClient, error) {
	if c := o.ready.Load(); c != nil {
		return c, nil
	}
	select {
	case o.discovery <- struct{}{}:
		defer func() { <-o.discovery }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrOIDCUnavailable, ctx.Err())
	}
	if c := o.ready.Load(); c != nil { // found while this one waited
		return c, nil
	}
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.http), oidcDiscoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery at %s failed: %v", ErrOIDCUnavailable, o.o.Issuer, err)
	}
	var meta struct {
		Scopes []string `json:"scopes_supported"`
	}
	_ = p.Claims(&meta)
	scopes := []string{oidc.ScopeOpenID, "profile", "email"}
	// Some providers (Dex, Authentik, …) put groups in the token only
	// when asked for a scope of that name; others refuse unknown scopes.
	if slices.Contains(meta.Scopes, o.o.GroupsClaim) && !slices.Contains(scopes, o.o.GroupsClaim) {
		scopes = append(scopes, o.o.GroupsClaim)
	}
	endpoint := p.Endpoint()
	if o.o.ClientSecret == "" {
		// A public client sends its id in the form and no secret; the
		// default would first try HTTP Basic with an empty password.
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	c := &oidcClient{
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: o.o.ClientID, Now: o.o.Now}),
		oauth: oauth2.Config{
			ClientID: o.o.ClientID, ClientSecret: o.o.ClientSecret, Endpoint: endpoint,
			RedirectURL: o.o.RedirectURL, Scopes: scopes,
		},
	}
	o.ready.Store(c)
	return c, nil
}

// oidcState is the state cookie's payload.
type oidcState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"next,omitempty"`
	Exp      int64  `json:"exp"` // Unix seconds
}

func randomString() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Begin starts a sign-in that returns to next (a path the caller has
// checked). It returns the provider URL to send the browser to, and the
// value of the OIDCStateCookie to set for OIDCStateTTL.
func (o *OIDC) Begin(ctx context.Context, next string) (authURL, cookie string, err error) {
	c, err := o.client(ctx)
	if err != nil {
		return "", "", err
	}
	if len(next) > maxNext {
		next = ""
	}
	st := oidcState{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(), Next: next,
		Exp: o.o.Now().Add(OIDCStateTTL).Unix()}
	authURL = c.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	return authURL, o.signer.Sign("oidc-state", st), nil
}

// Finish completes a sign-in from the callback's query (state, code, or
// error and error_description) and the state cookie's value. It returns
// the identity to issue a session for, and where to go next (as given to
// Begin).
func (o *OIDC) Finish(ctx context.Context, cookie string, q url.Values) (Identity, string, error) {
	now := o.o.Now()
	var st oidcState
	switch {
	case cookie == "":
		return Identity{}, "", fmt.Errorf("%w: no sign-in is in progress in this browser (the state cookie is missing or expired): start again", ErrOIDCState)
	case o.signer.Verify("oidc-state", cookie, &st) != nil:
		return Identity{}, "", fmt.Errorf("%w: the state cookie was altered or made by another server", ErrOIDCState)
	case !now.Before(time.Unix(st.Exp, 0)):
		return Identity{}, "", fmt.Errorf("%w: it took longer than %s: start again", ErrOIDCState, OIDCStateTTL)
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1:
		return Identity{}, "", fmt.Errorf("%w: the state parameter does not match this browser's sign-in", ErrOIDCState)
	case o.isUsed(st.State, now):
		return Identity{}, "", fmt.Errorf("%w: this sign-in was already completed (a replayed callback)", ErrOIDCState)
	}
	if e := q.Get("error"); e != "" {
		msg := e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		return Identity{}, "", fmt.Errorf("%w: %s", ErrOIDCDenied, clip(msg, 300))
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, "", fmt.Errorf("%w: the callback has no code", ErrOIDCToken)
	}
	c, err := o.client(ctx)
	if err != nil {
		return Identity{}, "", err
	}
	hctx := oidc.ClientContext(ctx, o.http)
	tok, err := c.oauth.Exchange(hctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return Identity{}, "", exchangeError(err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, "", fmt.Errorf("%w: the token response has no id_token", ErrOIDCToken)
	}
	idt, err := c.verifier.Verify(hctx, raw)
	if err != nil {
		return Identity{}, "", fmt.Errorf("%w: %v", ErrOIDCToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return Identity{}, "", fmt.Errorf("%w: the ID token's nonce does not match this sign-in", ErrOIDCToken)
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, "", fmt.Errorf("%w: claims: %v", ErrOIDCToken, err)
	}
	id := Identity{Via: ViaOIDC}
	for _, k := range []string{"preferred_username", "email", "sub"} {
		var v string
		if json.Unmarshal(claims[k], &v) == nil && strings.TrimSpace(v) != "" {
			id.User = strings.TrimSpace(v)
			break
		}
	}
	if id.User == "" {
		return Identity{}, "", fmt.Errorf("%w: the ID token names no user (preferred_username, email, sub)", ErrOIDCToken)
	}
	groups, found := claimGroups(claims, o.o.GroupsClaim)
	if !found && c.provider.UserInfoEndpoint() != "" {
		// Some providers keep groups out of the ID token (its size) and
		// give them at the userinfo endpoint only.
		if ui, err := c.provider.UserInfo(hctx, oauth2.StaticTokenSource(tok)); err == nil && ui.Subject == idt.Subject {
			var uc map[string]json.RawMessage
			if ui.Claims(&uc) == nil {
				groups, _ = claimGroups(uc, o.o.GroupsClaim)
			}
		}
	}
	id.Groups = groups
	if n := sessionSize(id); n > maxToken {
		return Identity{}, "", fmt.Errorf("%w: %d groups in claim %q are too many to keep in a session cookie (%d bytes, at most %d)", ErrOIDCToken, len(groups), o.o.GroupsClaim, n, maxToken)
	}
	if !o.markUsed(st.State, time.Unix(st.Exp, 0), now) {
		return Identity{}, "", fmt.Errorf("%w: this sign-in was already completed (a replayed callback)", ErrOIDCState)
	}
	return id, st.Next, nil
}

// exchangeError says why the code exchange failed, without the provider's
// error_description (some echo the code back).
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		reason := re.ErrorCode
		if reason == "" && re.Response != nil {
			reason = re.Response.Status
		}
		return fmt.Errorf("%w: the code exchange was refused (%s)", ErrOIDCToken, reason)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: the token endpoint could not be reached: %v", ErrOIDCUnavailable, ue.Err)
	}
	return fmt.Errorf("%w: the code exchange failed", ErrOIDCToken)
}

// claimGroups reads the groups claim: a list of strings or one string. A
// dotted name reaches into nested objects when no claim has that name.
func claimGroups(claims map[string]json.RawMessage, name string) ([]string, bool) {
	raw, ok := claims[name]
	for rest := name; !ok && strings.Contains(rest, "."); {
		var head string
		head, rest, _ = strings.Cut(rest, ".")
		var inner map[string]json.RawMessage
		if json.Unmarshal(claims[head], &inner) != nil {
			return nil, false
		}
		claims = inner
		raw, ok = claims[rest]
	}
	if !ok {
		return nil, false
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one = strings.TrimSpace(one); one == "" {
			return nil, true
		}
		return []string{one}, true
	}
	var list []any
	if json.Unmarshal(raw, &list) != nil {
		return nil, true
	}
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok && strings.TrimSpace(s) != "" && !slices.Contains(out, strings.TrimSpace(s)) {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out, true
}

// sessionSize is the length of the session cookie id would get: one the
// browser drops or Sessions.Check refuses would sign nobody in.
func sessionSize(id Identity) int {
	payload, _ := json.Marshal(sessionClaims{ID: strings.Repeat("0", 24), User: id.User, Groups: id.Groups, Via: id.Via, Exp: 1 << 40})
	enc := base64.RawURLEncoding
	return enc.EncodedLen(len(payload)) + 1 + enc.EncodedLen(32)
}

func (o *OIDC) isUsed(state string, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	exp, ok := o.used[state]
	return ok && now.Before(exp)
}

// markUsed records a finished sign-in until its state expires; false if it
// was already finished (two callbacks racing with one state).
func (o *OIDC) markUsed(state string, exp, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, e := range o.used { // prune what has expired anyway
		if !now.Before(e) {
			delete(o.used, k)
		}
	}
	if _, ok := o.used[state]; ok {
		return false
	}
	o.used[state] = exp
	return true
}

// clip cuts s to at most n bytes at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
