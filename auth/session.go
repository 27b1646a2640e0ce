package auth

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Sessions issues and checks signed session cookies, and remembers which
// were ended by logout until they would have expired anyway.
type Sessions struct {
	signer *Signer
	ttl    time.Duration

	mu      sync.Mutex
	revoked map[string]time.Time // session id → its expiry
	pruned  time.Time            // when expired ones were last dropped from revoked
	share   func(id string, exp time.Time) error
}

// pruneEvery is how often Insert drops revocations that have expired: not
// at every Insert, which made loading n of them (at start, from a file or a
// cluster's bucket) cost n².
const pruneEvery = time.Minute

// NewSessions returns Sessions that last ttl.
func NewSessions(s *Signer, ttl time.Duration) *Sessions {
	return &Sessions{signer: s, ttl: ttl, revoked: map[string]time.Time{}}
}

type sessionClaims struct {
	ID     string   `json:"id"`
	User   string   `json:"u"`
	Groups []string `json:"g,omitempty"`
	Via    string   `json:"via"`
	Exp    int64    `json:"exp"` // Unix seconds
}

// Issue returns a cookie value for id (User, Groups, Via) and the identity
// as it will be read back.
func (s *Sessions) Issue(id Identity, now time.Time) (string, *Identity) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	c := sessionClaims{ID: hex.EncodeToString(b[:]), User: id.User, Groups: id.Groups, Via: id.Via, Exp: now.Add(s.ttl).Unix()}
	out := &Identity{User: c.User, Groups: c.Groups, Via: c.Via, Expires: time.Unix(c.Exp, 0), Session: c.ID}
	return s.signer.Sign("session", c), out
}

// Check reads a cookie value.
func (s *Sessions) Check(value string, now time.Time) (*Identity, error) {
	var c sessionClaims
	if err := s.signer.Verify("session", value, &c); err != nil {
		return nil, err
	}
	exp := time.Unix(c.Exp, 0)
	if !now.Before(exp) {
		return nil, ErrExpired
	}
	s.mu.Lock()
	_, revoked := s.revoked[c.ID]
	s.mu.Unlock()
	if revoked {
		return nil, ErrExpired
	}
	return &Identity{User: c.User, Groups: c.Groups, Via: c.Via, Expires: exp, Session: c.ID}, nil
}

// Revoke ends session id (logout) until exp. It is ended here at once; the
// error is Share's (the revocation could not be kept or passed on).
func (s *Sessions) Revoke(id string, exp, now time.Time) error {
	s.Insert(id, exp, now)
	s.mu.Lock()
	share := s.share
	s.mu.Unlock()
	if share != nil {
		return share(id, exp)
	}
	return nil
}

// Insert records that session id was ended elsewhere (by another instance,
// or before a restart) and reports whether it was news here. A session
// already expired is not recorded.
func (s *Sessions) Insert(id string, exp, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.pruned) >= pruneEvery || now.Before(s.pruned) {
		s.pruned = now
		for k, e := range s.revoked { // what has expired anyway
			if !now.Before(e) {
				delete(s.revoked, k)
			}
		}
	}
	if _, known := s.revoked[id]; known || !now.Before(exp) {
		return false
	}
	s.revoked[id] = exp
	return true
}

// Share makes Revoke also hand every revocation to f: to keep it in a file
// (so that a logout outlives a restart) or to tell the other instances of a
// cluster. Revocations known from elsewhere reach Sessions through Insert.
func (s *Sessions) Share(f func(id string, exp time.Time) error) {
	s.mu.Lock()
	s.share = f
	s.mu.Unlock()
}

// TTL is how long a new session lasts.
func (s *Sessions) TTL() time.Duration { return s.ttl }
