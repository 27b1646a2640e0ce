package auth

import (
	"time"
)

// Share is what a share link grants: one log (host and file) with the
// filter it was shared with, read-only, until Exp.
type Share struct {
	Host   string `json:"h,omitempty"`
	Group  string `json:"gr,omitempty"`
	File   string `json:"f"`
	Q      string `json:"q,omitempty"`
	Re     bool   `json:"re,omitempty"`
	Case   bool   `json:"c,omitempty"`
	Inv    bool   `json:"i,omitempty"`
	Level  string `json:"l,omitempty"`  // level filter (comma-separated names)
	Ctx    int    `json:"x,omitempty"`  // lines of context around each match
	By     string `json:"by,omitempty"` // who made it (audit)
	Exp    int64  `json:"exp"`          // Unix seconds
	Issued int64  `json:"iat"`
}

// Shares makes and checks share tokens.
type Shares struct {
	signer *Signer
	maxTTL time.Duration
}

// NewShares returns Shares whose links last at most maxTTL.
func NewShares(s *Signer, maxTTL time.Duration) *Shares { return &Shares{signer: s, maxTTL: maxTTL} }

// MaxTTL is the longest a link may last.
func (s *Shares) MaxTTL() time.Duration { return s.maxTTL }

// Make signs sh, valid for ttl (at most MaxTTL; 0 means MaxTTL).
func (s *Shares) Make(sh Share, ttl time.Duration, now time.Time) (string, time.Time) {
	if ttl <= 0 || ttl > s.maxTTL {
		ttl = s.maxTTL
	}
	exp := now.Add(ttl).Truncate(time.Second)
	sh.Exp, sh.Issued = exp.Unix(), now.Unix()
	return s.signer.Sign("share", sh), exp
}

// Check reads a share token: ErrInvalid when altered, ErrExpired when past.
func (s *Shares) Check(token string, now time.Time) (*Identity, error) {
	var sh Share
	if err := s.signer.Verify("share", token, &sh); err != nil {
		return nil, err
	}
	exp := time.Unix(sh.Exp, 0)
	// A link made for longer than share_max_ttl allows now (it was
	// lowered since) ends as if made now.
	if !now.Before(exp) || exp.Sub(time.Unix(sh.Issued, 0)) > s.maxTTL+time.Second {
		return nil, ErrExpired
	}
	return &Identity{User: "share:" + sh.By, Via: ViaShare, Share: &sh, Expires: exp}, nil
}
