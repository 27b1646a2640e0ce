// Package marks keeps deploy marks: short texts such as "deploy v1.2.3"
// that a CI job or a person posts for a group of hosts (or some hosts) and
// some files, shown as an inline line in every matching log, now and for
// viewers who open the log later. They persist in a small bounded file.
package marks

import (
	"bufio"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Kind is the tailer.Line.Mark of a deploy mark's line.
const Kind = "deploy"

// MaxKept bounds the marks kept (the oldest go first), and so the file.
const MaxKept = 1000

// MaxText bounds a mark's text.
const MaxText = 500

// Mark is one deploy mark.
type Mark struct {
	ID    string   `json:"id"`
	TS    int64    `json:"ts"` // Unix ms
	Text  string   `json:"text"`
	Group string   `json:"group,omitempty"`
	Hosts []string `json:"hosts"`           // the hosts it was posted for (a group's members at the time)
	Files []string `json:"files,omitempty"` // globs over paths; none: every file
	By    string   `json:"by,omitempty"`
}

// Applies reports whether m belongs in the log of (host, file).
func (m *Mark) Applies(host, file string) bool {
	if !slices.Contains(m.Hosts, host) {
		return false
	}
	if len(m.Files) == 0 {
		return true
	}
	return slices.ContainsFunc(m.Files, func(g string) bool {
		ok, _ := path.Match(g, file)
		return ok
	})
}

// Store holds the marks, in time order, and writes them through to a file.
// All methods are safe for concurrent use.
type Store struct {
	file  string           // "": in memory only
	share func(Mark) error // set by Share: where a new mark is kept instead of file

	mu    sync.Mutex
	marks []Mark
}

// Open loads the marks kept in file (created when the first mark is added);
// file "" keeps them in memory only.
func Open(file string) (*Store, error) {
	s := &Store{file: file}
	if file == "" {
		return s, nil
	}
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("marks: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m Mark
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.ID != "" {
			s.marks = append(s.marks, m)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("marks: read %s: %w", file, err)
	}
	slices.SortStableFunc(s.marks, func(a, b Mark) int { return cmp.Compare(a.TS, b.TS) })
	if len(s.marks) > MaxKept {
		s.marks = s.marks[len(s.marks)-MaxKept:]
	}
	return s, nil
}

// Add records m (its ID and TS are set here) and returns it.
func (s *Store) Add(m Mark, now time.Time) (Mark, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	m.ID, m.TS = hex.EncodeToString(b[:]), now.UnixMilli()
	s.mu.Lock()
	share := s.share
	s.mu.Unlock()
	if share != nil {
		// Not under s.mu: keep may wait on the network.
		if err := share(m); err != nil {
			return Mark{}, err
		}
		s.Insert(m)
		return m, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks = append(s.marks, m)
	if len(s.marks) > MaxKept {
		s.marks = slices.Delete(s.marks, 0, len(s.marks)-MaxKept)
	}
	if err := s.save(); err != nil {
		s.marks = s.marks[:len(s.marks)-1]
		return Mark{}, err
	}
	return m, nil
}

// Share makes Add keep new marks through keep (a cluster's shared bucket)
// rather than in the Store's file; Add fails when keep does. Marks that
// other instances keep there come in through Insert. Call it before the
// Store is used.
func (s *Store) Share(keep func(Mark) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.share = keep
}

// Insert adds a mark made elsewhere (another instance of a cluster) unless
// one with its ID is held; it reports whether it was new.
func (s *Store) Insert(m Mark) bool {
	if m.ID == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insert(m)
}

// insert puts m in time order unless its ID is held. s.mu is held.
func (s *Store) insert(m Mark) bool {
	if slices.ContainsFunc(s.marks, func(x Mark) bool { return x.ID == m.ID }) {
		return false
	}
	i := len(s.marks)
	for i > 0 && s.marks[i-1].TS > m.TS {
		i--
	}
	s.marks = slices.Insert(s.marks, i, m)
	if len(s.marks) > MaxKept {
		s.marks = slices.Delete(s.marks, 0, len(s.marks)-MaxKept)
	}
	return true
}

// save rewrites the file atomically. s.mu is held.
func (s *Store) save() error {
	if s.file == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.file), 0o700); err != nil {
		return fmt.Errorf("marks: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.file), ".marks-*")
	if err != nil {
		return fmt.Errorf("marks: %w", err)
	}
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	for i := range s.marks {
		_ = enc.Encode(&s.marks[i])
	}
	err = w.Flush()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("marks: save %s: %w", s.file, err)
	}
	return nil
}

// Get returns the mark with id.
func (s *Store) Get(id string) (Mark, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.marks {
		if m.ID == id {
			return m, true
		}
	}
	return Mark{}, false
}

// List returns the marks for which keep is true, oldest first.
func (s *Store) List(keep func(*Mark) bool) []Mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Mark{}
	for i := range s.marks {
		if keep == nil || keep(&s.marks[i]) {
			out = append(out, s.marks[i])
		}
	}
	return out
}
