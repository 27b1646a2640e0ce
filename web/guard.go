package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// hostAllowed is the DNS-rebinding guard: a page on another site whose name
// was re-pointed at this server sends that site's name as Host. Accepted are
// names the server is known to be reached by: loopback names ("localhost"
// and *.localhost, which browsers resolve to loopback themselves), any IP
// address literal (a browser sends one only when the user typed it, so no
// rebinding site can), and the names in Options.AllowedHosts (the listen
// address's name, public_url's host, allowed_hosts). The port is not
// compared: behind a proxy it is the proxy's.
func (s *Server) hostAllowed(r *http.Request) error {
	name := hostName(r.Host)
	switch {
	case name == "":
		return fmt.Errorf("the request has no Host header")
	case name == "localhost" || strings.HasSuffix(name, ".localhost"):
		return nil
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return nil
	}
	if slices.ContainsFunc(s.opts.AllowedHosts, func(h string) bool { return strings.EqualFold(hostName(h), name) }) {
		return nil
	}
	return fmt.Errorf("this server does not answer to the name %q (add it to allowed_hosts if it is yours)", name)
}

// hostName returns the lower-case host of a Host header or host:port,
// without brackets or a trailing dot.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	return strings.ToLower(h)
}

// originAllowed accepts requests without an Origin header (not sent by a
// browser for a page's own navigation, nor by tools such as curl), from
// the page's own origin (scheme, host and port, as the request reached this
// server) and from Options.AllowedOrigins. It guards /ws and every API
// call: a page elsewhere can neither open a view nor read or change state.
func (s *Server) originAllowed(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	if o, ok := normalOrigin(origin); ok {
		if o == selfOrigin(r) || slices.ContainsFunc(s.opts.AllowedOrigins, func(a string) bool {
			n, ok := normalOrigin(a)
			return ok && n == o
		}) {
			return nil
		}
	}
	return fmt.Errorf("origin %.200q may not use this server (allow it with allowed_origins)", origin)
}

// selfOrigin is the origin of the page that this request would come from.
func selfOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	o, _ := normalOrigin(scheme + "://" + r.Host)
	return o
}

// normalOrigin returns scheme://host:port with the default port made
// explicit and the host in lower case; ok is false for anything that is not
// an http(s) origin (a path, a user, "null").
func normalOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch {
	case scheme != "http" && scheme != "https":
		return "", false
	case port == "" && scheme == "http":
		port = "80"
	case port == "":
		port = "443"
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), true
}
