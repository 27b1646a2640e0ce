package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// KeepRevocations keeps the sessions ended by logout in the file at path,
// so that a logout outlives a restart: it reads the revocations the file
// holds into s (those not expired; the file is rewritten with only those),
// and makes s append each new one (Sessions.Share). A line is a session id
// and its expiry in Unix seconds. A missing file is an empty one. bad
// lists the lines that could not be read (a write cut short by a crash):
// they are dropped.
func KeepRevocations(path string, s *Sessions, now time.Time) (bad []int, err error) {
	var keep []string
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("revoked sessions: %w", err)
	}
	for n, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		id, exp, ok := parseRevocation(line)
		if !ok {
			bad = append(bad, n+1)
			continue
		}
		if s.Insert(id, exp, now) {
			keep = append(keep, line+"\n")
		}
	}
	// Rewrite with what is still in force, so the file does not grow with
	// every logout ever made.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(keep, "")), 0o600); err != nil {
		return bad, fmt.Errorf("revoked sessions: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return bad, fmt.Errorf("revoked sessions: %w", err)
	}
	s.Share(func(id string, exp time.Time) error {
		return appendRevocation(path, id, exp)
	})
	return bad, nil
}

func parseRevocation(line string) (id string, exp time.Time, ok bool) {
	id, secs, found := strings.Cut(line, " ")
	if !found || id == "" || strings.ContainsAny(id, " \t") {
		return "", time.Time{}, false
	}
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return id, time.Unix(n, 0), true
}

// appendRevocation adds one line, in one write (so concurrent logouts do
// not interleave), and syncs it: the logout is answered after it is kept.
func appendRevocation(path, id string, exp time.Time) error {
	if strings.ContainsAny(id, " \t\n") {
		return fmt.Errorf("revoked sessions: bad session id %q", id)
	}
	f, err := os.OpenFile(filepath.Clean(path), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("revoked sessions: %w", err)
	}
	_, err = f.WriteString(id + " " + strconv.FormatInt(exp.Unix(), 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("revoked sessions: %w", err)
	}
	return nil
}
