package config

import (
	"io"

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
	enc := toml.NewEncoder(w)
	enc.SetIndentTables(true)
	return enc.Encode(&cp)
}

// MarshalText writes a Duration as "30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
