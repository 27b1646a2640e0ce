package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/olahol/melody"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/filter"
	"github.com/logviewer/logviewer/tailer"
)

// Close codes a viewer is sent when its identity ends.
const (
	closeSignedOut = 4001 // logged out, session expired or share link expired: sign in again
)

// guarded is the Catalog as the request's identity sees it: the access
// rules are applied here, once, for every handler. A host or file the
// identity may not see does not exist for it (the same errors as a host or
// file that is not configured).
type guarded struct {
	Catalog
	rules *auth.Rules
}

func (g guarded) Hosts(ctx context.Context) []tailer.HostInfo {
	id := auth.FromContext(ctx)
	var out []tailer.HostInfo
	for _, h := range g.Catalog.Hosts(ctx) {
		if g.rules.Host(id, h.Name) {
			out = append(out, h)
		}
	}
	if out == nil {
		out = []tailer.HostInfo{}
	}
	return out
}

// Groups lists the groups with only the members id may see; a group with
// none is not listed.
func (g guarded) Groups(ctx context.Context) []tailer.GroupInfo {
	id := auth.FromContext(ctx)
	out := []tailer.GroupInfo{}
	for _, gr := range g.Catalog.Groups(ctx) {
		var members []string
		for _, h := range gr.Hosts {
			if g.rules.Host(id, h) {
				members = append(members, h)
			}
		}
		if len(members) > 0 {
			out = append(out, tailer.GroupInfo{Name: gr.Name, Hosts: members})
		}
	}
	return out
}

func (g guarded) List(ctx context.Context, host string) ([]tailer.FileInfo, error) {
	id := auth.FromContext(ctx)
	if !g.rules.Host(id, host) {
		return nil, fmt.Errorf("%w %q", tailer.ErrUnknownHost, host)
	}
	files, err := g.Catalog.List(ctx, host)
	if err != nil {
		return nil, err
	}
	out := files[:0:0]
	for _, f := range files {
		if g.rules.File(id, host, f.Path) {
			out = append(out, f)
		}
	}
	return out, nil
}

func (g guarded) allowed(ctx context.Context, host, path string) error {
	id := auth.FromContext(ctx)
	switch {
	case !g.rules.Host(id, host):
		return fmt.Errorf("%w %q", tailer.ErrUnknownHost, host)
	case !g.rules.File(id, host, path):
		return fmt.Errorf("%s on %s: %w", path, host, tailer.ErrNotListed)
	}
	return nil
}

func (g guarded) Check(ctx context.Context, host, path string) error {
	if err := g.allowed(ctx, host, path); err != nil {
		return err
	}
	return g.Catalog.Check(ctx, host, path)
}

func (g guarded) Open(ctx context.Context, host, path string) (*tailer.Log, func(), error) {
	if err := g.allowed(ctx, host, path); err != nil {
		return nil, nil, err
	}
	return g.Catalog.Open(ctx, host, path)
}

// public paths are served to nobody too: the page (which shows the sign-in
// form), sign-in itself, the health check, and the metrics when
// metrics_public is set.
func (s *Server) public(p string) bool {
	switch p {
	case "/api/login", "/healthz", "/auth/oidc/login", "/auth/oidc/callback":
		return true
	case "/metrics":
		return s.opts.MetricsPublic
	}
	return !strings.HasPrefix(p, "/api/") && p != "/ws"
}

// authenticate puts the request's identity in its context, or answers 401.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	id, err := s.auth.Identify(r)
	if id != nil {
		return r.WithContext(auth.NewContext(r.Context(), id)), true
	}
	if s.public(r.URL.Path) {
		return r, true
	}
	msg := "sign in first"
	if err != nil {
		msg = err.Error()
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="logviewer"`)
	// The mode tells the page which sign-in to offer (a form, a link to
	// the identity provider, or "sign in at the proxy").
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg, "mode": s.auth.Mode()})
	return r, false
}

// needJSON refuses a state-changing request that is not JSON: an HTML form
// on another site can send only form encodings without a CORS preflight.
func needJSON(w http.ResponseWriter, r *http.Request, s *Server) bool {
	ct := r.Header.Get("Content-Type")
	if ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
		s.httpError(w, http.StatusUnsupportedMediaType, "send JSON (Content-Type: application/json)")
		return false
	}
	return true
}

// secure reports whether cookies must be Secure: served over TLS, or
// public_url is https (TLS ends at a proxy).
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.opts.PublicURL, "https://")
}

func (s *Server) setSession(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: auth.CookieName, Value: value, Path: s.opts.BasePath + "/",
		MaxAge: maxAge, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

// audit writes one structured line for a sign-in, a failed sign-in, a
// share link made, a log opened: who, from where, what.
func (s *Server) audit(r *http.Request, event string, attrs ...any) {
	s.audit2(auth.FromContext(r.Context()), s.auth.ClientIP(r), event, attrs...)
}

func (s *Server) audit2(id *auth.Identity, client, event string, attrs ...any) {
	user := ""
	if id != nil {
		user = id.User
	}
	s.log.Info("audit", append([]any{"event", event, "user", user, "client", client}, attrs...)...)
}

func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if !needJSON(w, r, s) {
		return
	}
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&req); err != nil {
		s.httpError(w, http.StatusBadRequest, "want {\"user\":…,\"password\":…}")
		return
	}
	cookie, id, err := s.auth.Login(s.auth.ClientIP(r), req.User, req.Password)
	var le *auth.LoginError
	switch {
	case errors.As(err, &le) && le.Wait > 0:
		s.metrics.loginFailures.Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(le.Wait.Seconds()))))
		s.audit(r, "login_refused", "name", req.User, "reason", "rate limited")
		s.httpError(w, http.StatusTooManyRequests, err.Error())
		return
	case errors.As(err, &le):
		s.metrics.loginFailures.Inc()
		s.audit(r, "login_failed", "name", req.User)
		s.httpError(w, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		s.httpError(w, http.StatusNotFound, err.Error())
		return
	}
	s.setSession(w, r, cookie, int(s.auth.Sessions().TTL().Seconds()))
	s.audit(r.WithContext(auth.NewContext(r.Context(), id)), "login", "via", id.Via)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	if !needJSON(w, r, s) {
		return
	}
	id := auth.FromContext(r.Context())
	if err := s.auth.Logout(id); err != nil {
		// Ended here, and the browser forgets the cookie; a copy of it
		// would still work after a restart or on another instance.
		s.log.Error("logout: the session is ended here but could not be kept", "err", err)
	}
	s.setSession(w, r, "", -1)
	if id != nil && id.Session != "" {
		s.endSession(id.Session, "signed out")
		s.audit(r, "logout")
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) serveMe(w http.ResponseWriter, r *http.Request) {
	id := auth.FromContext(r.Context())
	out := map[string]any{"user": id.User, "groups": id.Groups, "via": id.Via, "mode": s.auth.Mode()}
	if id.Groups == nil {
		out["groups"] = []string{}
	}
	if !id.Expires.IsZero() {
		out["expires"] = id.Expires.UTC().Format(time.RFC3339)
	}
	if sh := s.auth.Shares(); sh != nil {
		out["share_max_ttl"] = sh.MaxTTL().String()
	}
	if id.Share != nil {
		out["share"] = map[string]any{"host": id.Share.Host, "file": id.Share.File, "q": id.Share.Q, "re": id.Share.Re, "case": id.Share.Case, "inv": id.Share.Inv, "level": id.Share.Level, "context": id.Share.Ctx}
	}
	writeJSON(w, out)
}

func (s *Server) serveShare(w http.ResponseWriter, r *http.Request) {
	id := auth.FromContext(r.Context())
	if s.auth.Shares() == nil {
		s.httpError(w, http.StatusNotFound, "share links need sign-in (auth.mode \"none\" lets everyone see everything)")
		return
	}
	if id.Via == auth.ViaShare || id.Via == auth.ViaToken {
		s.httpError(w, http.StatusForbidden, "a shared view cannot make share links")
		return
	}
	if !needJSON(w, r, s) {
		return
	}
	var req struct {
		Host  string `json:"host"`
		File  string `json:"file"`
		Q     string `json:"q"`
		Re    bool   `json:"re"`
		Case  bool   `json:"case"`
		Inv   bool   `json:"inv"`
		Level string `json:"level"`
		Ctx   int    `json:"context"`
		TTL   string `json:"ttl"`
		Group string `json:"group"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&req); err != nil {
		s.httpError(w, http.StatusBadRequest, "want {\"host\",\"file\",\"q\",\"re\",\"case\",\"inv\",\"level\",\"context\",\"ttl\"}")
		return
	}
	// The shared filter must be one the view would accept.
	if _, err := filter.Compile(filter.Spec{Text: req.Q, Regex: req.Re, Case: req.Case, Invert: req.Inv, Level: req.Level, Context: req.Ctx}); err != nil {
		s.httpError(w, http.StatusBadRequest, "filter: "+err.Error())
		return
	}
	if req.Group != "" {
		s.httpError(w, http.StatusBadRequest, "sharing a group view is not supported yet")
		return
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil || ttl > s.auth.Shares().MaxTTL() {
		s.httpError(w, http.StatusBadRequest, fmt.Sprintf("ttl %q: want a duration such as \"1h\" or \"7d\", at most %s", req.TTL, s.auth.Shares().MaxTTL()))
		return
	}
	if err := checkPath(req.File); err != nil {
		s.httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	err = s.cat.Check(ctx, req.Host, req.File)
	cancel()
	if code, msg := s.openError(req.Host, req.File, err); code != 0 {
		s.httpError(w, code, msg)
		return
	}
	token, exp := s.auth.Shares().Make(auth.Share{Host: req.Host, File: req.File, Q: req.Q, Re: req.Re, Case: req.Case, Inv: req.Inv, Level: req.Level, Ctx: req.Ctx, By: id.User}, ttl, time.Now())
	s.audit(r, "share", "host", req.Host, "file", req.File, "expires", exp.UTC().Format(time.RFC3339))
	writeJSON(w, map[string]any{"url": s.pageURL(r) + "?share=" + token, "expires": exp.UTC().Format(time.RFC3339)})
}

// pageURL is where people reach the page: public_url, or this request's
// scheme, host and base path.
func (s *Server) pageURL(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return strings.TrimSuffix(s.opts.PublicURL, "/") + "/"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.opts.BasePath + "/"
}

// parseTTL reads "30m", "12h" or "7d"; "" is 0 (the longest allowed).
func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 || n > 3650 {
			return 0, errors.New("bad days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("bad duration")
	}
	return d, nil
}

// watchIdentity ends a WebSocket when its identity ends: at its expiry
// (session or share link), or at logout (endSession). The returned func
// stops watching; call it when the WebSocket ends.
func (s *Server) watchIdentity(id *auth.Identity, ms *melody.Session) func() {
	if id == nil {
		return func() {}
	}
	var expiry *time.Timer
	if !id.Expires.IsZero() {
		expiry = time.AfterFunc(time.Until(id.Expires), func() {
			reason := "session expired"
			if id.Share != nil {
				reason = "share link expired"
			}
			_ = ms.CloseWithMsg(melody.FormatCloseMessage(closeSignedOut, reason))
		})
	}
	if id.Session != "" {
		s.mu.Lock()
		if s.sessions[id.Session] == nil {
			s.sessions[id.Session] = map[*melody.Session]struct{}{}
		}
		s.sessions[id.Session][ms] = struct{}{}
		s.mu.Unlock()
	}
	return func() {
		if expiry != nil {
			expiry.Stop()
		}
		if id.Session != "" {
			s.mu.Lock()
			if m := s.sessions[id.Session]; m != nil {
				delete(m, ms)
				if len(m) == 0 {
					delete(s.sessions, id.Session)
				}
			}
			s.mu.Unlock()
		}
	}
}

// EndSession closes every WebSocket of session (a session id) with "signed
// out": for a logout made elsewhere (another instance of a cluster).
func (s *Server) EndSession(session string) { s.endSession(session, "signed out") }

// endSession closes every WebSocket of a session.
func (s *Server) endSession(session, reason string) {
	s.mu.Lock()
	var ms []*melody.Session
	for m := range s.sessions[session] {
		ms = append(ms, m)
	}
	s.mu.Unlock()
	for _, m := range ms {
		_ = m.CloseWithMsg(melody.FormatCloseMessage(closeSignedOut, reason))
	}
}
