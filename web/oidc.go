package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/logviewer/logviewer/auth"
)

// OIDC sign-in (auth mode "oidc"): GET /auth/oidc/login sends the browser
// to the provider with a signed state cookie; the provider sends it back
// to GET /auth/oidc/callback, which turns the answer into the same session
// cookie a password sign-in gets. The protocol is auth.OIDC's; this file is
// its HTTP side: cookies, redirects, status codes and audit lines.

// oidcWait bounds the provider round trips one request may wait for.
const oidcWait = 30 * time.Second

// stateCookie returns the OIDC state cookie, scoped to the two OIDC
// routes under the base path.
func (s *Server) stateCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: auth.OIDCStateCookie, Value: value, Path: s.opts.BasePath + "/auth/oidc/",
		MaxAge: maxAge, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode,
	}
}

// serveOIDCLogin starts a sign-in: ?next= is where to go afterwards (a
// path under the base path; anything else is ignored).
func (s *Server) serveOIDCLogin(w http.ResponseWriter, r *http.Request) {
	o := s.auth.OIDC()
	if o == nil {
		s.httpError(w, http.StatusNotFound, "OIDC sign-in is not enabled (auth.mode is not \"oidc\")")
		return
	}
	next := s.safeNext(r.URL.Query().Get("next"))
	ctx, cancel := context.WithTimeout(r.Context(), oidcWait)
	defer cancel()
	authURL, state, err := o.Begin(ctx, next)
	if err != nil {
		s.log.Warn("oidc login", "err", err)
		s.oidcError(w, r, err)
		return
	}
	http.SetCookie(w, s.stateCookie(r, state, int(auth.OIDCStateTTL.Seconds())))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
}

// serveOIDCCallback finishes a sign-in: the state cookie is spent whatever
// the outcome.
func (s *Server) serveOIDCCallback(w http.ResponseWriter, r *http.Request) {
	o := s.auth.OIDC()
	if o == nil {
		s.httpError(w, http.StatusNotFound, "OIDC sign-in is not enabled (auth.mode is not \"oidc\")")
		return
	}
	var state string
	if c, err := r.Cookie(auth.OIDCStateCookie); err == nil {
		state = c.Value
	}
	http.SetCookie(w, s.stateCookie(r, "", -1))
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), oidcWait)
	defer cancel()
	ident, next, err := o.Finish(ctx, state, r.URL.Query())
	if err != nil {
		s.audit(r, "login_failed", "via", auth.ViaOIDC, "reason", err.Error())
		s.oidcError(w, r, err)
		return
	}
	cookie, id := s.auth.IssueSession(ident)
	s.setSession(w, r, cookie, int(s.auth.Sessions().TTL().Seconds()))
	s.audit(r.WithContext(auth.NewContext(r.Context(), id)), "login", "via", id.Via, "groups", strings.Join(id.Groups, ","))
	http.Redirect(w, r, s.safeNext(next), http.StatusSeeOther)
}

// safeNext returns next if it is a path under the base path on this site,
// otherwise the page (base path + "/"): never a redirect elsewhere.
func (s *Server) safeNext(next string) string {
	home := s.opts.BasePath + "/"
	if next == "" || len(next) > 1024 || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t\x00") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || strings.HasPrefix(u.Path, "//") {
		return home
	}
	// path.Clean removes "..": a path that climbs out of the base path is
	// not under it.
	if p := path.Clean(u.Path); p != s.opts.BasePath && !strings.HasPrefix(p+"/", home) {
		return home
	}
	if strings.Contains(u.Path, "/..") || strings.Contains(u.Path, "/./") {
		return home
	}
	return next
}

// oidcError answers a failed sign-in with its reason: a short page for a
// browser, JSON otherwise.
func (s *Server) oidcError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusUnauthorized
	switch {
	case errors.Is(err, auth.ErrOIDCUnavailable):
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "10")
	case errors.Is(err, auth.ErrOIDCState):
		code = http.StatusBadRequest
	case errors.Is(err, auth.ErrOIDCDenied), errors.Is(err, auth.ErrOIDCToken):
		code = http.StatusUnauthorized
	default:
		s.log.Warn("oidc", "err", err)
		err = errors.New("sign-in failed")
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		s.httpError(w, code, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = oidcErrorPage.Execute(w, map[string]any{
		"Status": http.StatusText(code), "Reason": err.Error(),
		"Retry": s.opts.BasePath + "/auth/oidc/login", "Home": s.opts.BasePath + "/",
	})
}

var oidcErrorPage = template.Must(template.New("oidc").Parse(`<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Sign-in failed · logviewer</title>
<h1>Sign-in failed</h1>
<p>{{.Reason}}</p>
<p><a href="{{.Retry}}">Sign in again</a> · <a href="{{.Home}}">logviewer</a></p>
<p><small>{{.Status}}</small></p>
</html>
`))
