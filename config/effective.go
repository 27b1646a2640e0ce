package config

import (
	"io"
	"net/url"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// masked replaces a secret in the effective config.
const masked = "********"

// WriteEffective writes the configuration as it is in force (defaults
// applied) in TOML, with password hashes and token hashes masked.
func (c *Config) WriteEffective(w io.Writer) error {
	cp := *c
	cp.Users = append([]User(nil), c.Users...)
	for i := range cp.Users {
		cp.Users[i].Password = masked
	}
	cp.Tokens = append([]Token(nil), c.Tokens...)
	for i := range cp.Tokens {
		cp.Tokens[i].SecretSHA256 = masked
	}
	if c.Cluster != nil {
		cl := *c.Cluster
		cl.NATSURL = maskUserinfo(cl.NATSURL)
		cp.Cluster = &cl
	}
	enc := toml.NewEncoder(w)
	enc.SetIndentTables(true)
	return enc.Encode(&cp)
}

// MarshalText writes a Duration as "30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// maskUserinfo masks the credentials in a comma-separated list of URLs.
func maskUserinfo(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User(masked)
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
