package ssh

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/pkg/sftp"

	"github.com/logviewer/logviewer/tailer"
)

// List implements tailer.Source: it expands the globs over SFTP (no shell is
// involved, so no file name can run a command), newest first. As in
// sources/local, a symlink is listed only when the file it resolves to also
// matches a glob, and a file reachable by two listed names is listed once.
// When the host cannot be reached List fails at once (it does not wait for a
// reconnect).
func (s *Source) List(ctx context.Context) ([]tailer.FileInfo, error) {
	c, err := s.getConn(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.name, err)
	}
	defer c.guard(ctx, s.opts.CloseGrace)()
	var l tailer.Listing // keyed by resolved path
	for _, g := range s.globs {
		matches, err := globSFTP(ctx, c.sftp, expandRemoteHome(g, c.home))
		if err != nil {
			return nil, fmt.Errorf("list %s: glob %q: %w", s.name, g, err)
		}
		for _, m := range matches {
			fi, link := m.fi, m.fi.Mode()&fs.ModeSymlink != 0
			key := m.path
			if link {
				real, err := c.sftp.RealPath(m.path)
				if err != nil || !s.matches(real, c.home) {
					continue
				}
				if fi, err = c.sftp.Stat(m.path); err != nil {
					continue
				}
				key = real
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			l.Add(key, tailer.FileInfo{Path: m.path, Size: fi.Size(), ModTime: fi.ModTime()}, link)
		}
	}
	return l.Files(), nil
}

// Check implements tailer.Source: the same test List makes of one match,
// over SFTP.
func (s *Source) Check(ctx context.Context, p string) error {
	c, err := s.getConn(ctx)
	if err != nil {
		return fmt.Errorf("check %s: %w", s.name, err)
	}
	defer c.guard(ctx, s.opts.CloseGrace)()
	if !s.matches(p, c.home) {
		return fmt.Errorf("%s on %s: %w", p, s.name, tailer.ErrNotListed)
	}
	fi, err := c.sftp.Lstat(p)
	if err != nil {
		if skippable(err) {
			return fmt.Errorf("%s on %s: %w", p, s.name, tailer.ErrNotListed)
		}
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		real, err := c.sftp.RealPath(p)
		if err != nil || !s.matches(real, c.home) {
			return fmt.Errorf("%s on %s: %w", p, s.name, tailer.ErrNotListed)
		}
		if fi, err = c.sftp.Stat(p); err != nil {
			return fmt.Errorf("%s on %s: %w", p, s.name, tailer.ErrNotListed)
		}
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s on %s: %w", p, s.name, tailer.ErrNotListed)
	}
	return nil
}

type match struct {
	path string
	fi   fs.FileInfo // from lstat
}

// globSFTP expands an absolute pattern with path.Match semantics, reading
// each directory once (READDIR returns the entries' attributes, so a listing
// costs one round trip per directory, not per file).
func globSFTP(ctx context.Context, sc *sftp.Client, pattern string) ([]match, error) {
	parts := strings.Split(strings.TrimPrefix(path.Clean(pattern), "/"), "/")
	dirs := []string{"/"}
	var out []match
	for i, part := range parts {
		last := i == len(parts)-1
		var next []string
		for _, d := range dirs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if !hasMeta(part) {
				p := path.Join(d, part)
				if !last {
					next = append(next, p)
					continue
				}
				fi, err := sc.Lstat(p)
				if err == nil {
					out = append(out, match{p, fi})
				} else if !skippable(err) {
					return nil, err
				}
				continue
			}
			entries, err := sc.ReadDirContext(ctx, d)
			if err != nil {
				if skippable(err) {
					continue
				}
				return nil, err
			}
			for _, e := range entries {
				if ok, _ := path.Match(part, e.Name()); !ok {
					continue
				}
				p := path.Join(d, e.Name())
				switch {
				case last:
					out = append(out, match{p, e})
				case e.IsDir() || e.Mode()&fs.ModeSymlink != 0:
					next = append(next, p)
				}
			}
		}
		dirs = next
	}
	slices.SortFunc(out, func(a, b match) int { return strings.Compare(a.path, b.path) })
	return out, nil
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// skippable errors leave a glob component without matches, as in filepath.Glob.
func skippable(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) || isNotDir(err)
}

func isNotDir(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && (se.FxCode() == sftp.ErrSSHFxNoSuchFile || se.FxCode() == sftp.ErrSSHFxFailure)
}
