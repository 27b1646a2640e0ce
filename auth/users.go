package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// User is a [[user]] entry.
type User struct {
	Name   string
	Hash   []byte // bcrypt
	Groups []string
}

// Users checks passwords.
type Users struct {
	byName map[string]User
	dummy  []byte // compared for unknown names, so they cost the same time
	cost   int    // the highest cost of the users' hashes (the dummy's)
}

// NewUsers returns Users over list.
func NewUsers(list []User) *Users {
	u := &Users{byName: map[string]User{}}
	cost := 0
	for _, x := range list {
		u.byName[x.Name] = x
		if c, err := bcrypt.Cost(x.Hash); err == nil {
			cost = max(cost, c)
		}
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	u.cost = cost
	u.dummy, _ = bcrypt.GenerateFromPassword([]byte("logviewer: no such user"), cost)
	return u
}

// Check returns the identity for name and password, or nil. An unknown name
// costs one bcrypt comparison too, so the time does not tell names apart.
func (u *Users) Check(name, password string) *Identity {
	x, ok := u.byName[name]
	hash := x.Hash
	if !ok {
		hash = u.dummy
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if c, cerr := bcrypt.Cost(hash); ok && cerr == nil && c < u.cost {
		// A cheaper hash than the others: pay the difference, so the time
		// does not tell this name from an unknown one.
		_ = bcrypt.CompareHashAndPassword(u.dummy, []byte(password))
	}
	if !ok || err != nil {
		return nil
	}
	return &Identity{User: x.Name, Groups: x.Groups, Via: ViaSession}
}

// Lookup returns the current groups of a user, and whether it still exists.
func (u *Users) Lookup(name string) ([]string, bool) {
	x, ok := u.byName[name]
	return x.Groups, ok
}

// HashPassword returns a bcrypt hash for a [[user]] entry.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), 12)
	return string(h), err
}

// Token is a [[token]] entry.
type Token struct {
	Name   string
	SHA256 string // hex of sha256(secret)
	Scopes []string
}

// Tokens checks bearer tokens.
type Tokens struct{ list []Token }

// NewTokens returns Tokens over list.
func NewTokens(list []Token) *Tokens { return &Tokens{list: list} }

// Check returns the identity of a bearer secret, or nil.
func (t *Tokens) Check(secret string) *Identity {
	if t == nil || secret == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(secret))
	var found *Token
	for i := range t.list {
		want, err := hex.DecodeString(t.list[i].SHA256)
		if err == nil && subtle.ConstantTimeCompare(sum[:], want) == 1 {
			found = &t.list[i]
		}
	}
	if found == nil {
		return nil
	}
	return &Identity{User: "token:" + found.Name, Via: ViaToken, Scopes: found.Scopes}
}

// Limiter counts failed sign-ins per key (a client address, a user name)
// and refuses further attempts for a while once a key has failed too often:
// Burst failures are allowed, then one per Every. The number of keys held
// is bounded.
type Limiter struct {
	Burst int
	Every time.Duration

	mu   sync.Mutex
	keys map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxLimiterKeys bounds the memory a flood of distinct keys can take; when
// full, keys whose buckets have refilled are dropped first.
const maxLimiterKeys = 100_000

// NewLimiter returns a Limiter.
func NewLimiter(burst int, every time.Duration) *Limiter {
	return &Limiter{Burst: burst, Every: every, keys: map[string]*bucket{}}
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	b.tokens = min(float64(l.Burst), b.tokens+now.Sub(b.at).Seconds()/l.Every.Seconds())
	b.at = now
}

// Take spends one attempt of key: it returns 0 when the attempt may go
// ahead (give it back with Refund when it succeeds), or how long to wait.
// Taking before checking a password, not after, keeps concurrent guesses
// within the limit.
func (l *Limiter) Take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.keys[key]
	if b == nil {
		if len(l.keys) >= maxLimiterKeys {
			l.prune(now)
		}
		b = &bucket{tokens: float64(l.Burst), at: now}
		l.keys[key] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(l.Every))
	}
	b.tokens--
	return 0
}

// Refund gives back an attempt Take spent (the sign-in succeeded).
func (l *Limiter) Refund(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.keys[key]; b != nil {
		l.refill(b, now)
		b.tokens = min(float64(l.Burst), b.tokens+1)
	}
}

func (l *Limiter) prune(now time.Time) {
	for k, b := range l.keys {
		l.refill(b, now)
		if b.tokens >= float64(l.Burst) {
			delete(l.keys, k)
		}
	}
	for k := range l.keys { // still full: drop arbitrary keys
		if len(l.keys) < maxLimiterKeys {
			break
		}
		delete(l.keys, k)
	}
}
