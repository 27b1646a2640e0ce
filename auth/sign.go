package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrInvalid is a token or cookie that was altered, is malformed, or was
// signed with another key.
var ErrInvalid = errors.New("invalid or altered token")

// ErrExpired is a token or session past its expiry.
var ErrExpired = errors.New("expired")

// secretLen is the HMAC key's length: 256 bits, SHA-256's block strength.
const secretLen = 32

// NewSecret returns a new random HMAC key, as LoadSecret creates one (a
// cluster keeps it in NATS instead of a file).
func NewSecret() ([]byte, error) {
	key := make([]byte, secretLen)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return key, nil
}

// LoadSecret reads the HMAC key from path, creating it (0600, in a 0700
// directory) with a random key when it does not exist. A key file that is
// readable by others is refused.
func LoadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, secretLen)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("secret_file: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, os.ErrExist) { // created meanwhile by another instance
				return LoadSecret(path)
			}
			return nil, fmt.Errorf("secret_file: %w", err)
		}
		_, err = f.Write([]byte(base64.StdEncoding.EncodeToString(key) + "\n"))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("secret_file: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret_file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret_file %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < secretLen {
		return nil, fmt.Errorf("secret_file %s: want base64 of at least %d bytes", path, secretLen)
	}
	return key, nil
}

// Signer signs small JSON payloads: base64url(payload) "." base64url(mac),
// the MAC covering a purpose word too, so that a share token can never pass
// as a session cookie or the other way round.
type Signer struct{ key []byte }

// NewSigner returns a Signer with key.
func NewSigner(key []byte) *Signer { return &Signer{key: key} }

func (s *Signer) mac(purpose string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// Sign returns the token for v.
func (s *Signer) Sign(purpose string, v any) string {
	payload, _ := json.Marshal(v) // our own types: cannot fail
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.mac(purpose, payload))
}

// maxToken bounds what Verify reads (a share token is a few hundred bytes).
const maxToken = 4096

// Verify checks token and decodes its payload into v.
func (s *Signer) Verify(purpose, token string, v any) error {
	if len(token) > maxToken {
		return ErrInvalid
	}
	p, m, ok := strings.Cut(token, ".")
	if !ok {
		return ErrInvalid
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(purpose, payload)) {
		return ErrInvalid
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return ErrInvalid
	}
	return nil
}
