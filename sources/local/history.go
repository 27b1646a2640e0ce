package local

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/logviewer/logviewer/sources/internal/history"
	"github.com/logviewer/logviewer/sources/internal/rotation"
	"github.com/logviewer/logviewer/tailer"
)

var (
	_ tailer.HistorySource = (*Source)(nil)
	_ tailer.FileOpener    = (*Source)(nil)
)

// History implements tailer.HistorySource. The path must pass Check; its
// rotated siblings are looked for in the directory the path resolves to
// (every symlink followed, and the result one the globs allow), and each is
// opened only if it is a regular file reached through no symlink at all
// (rotation.OS), so a sibling that is a symlink to a file elsewhere is
// never read. See sources/internal/history for which names are siblings.
func (s *Source) History(ctx context.Context, path string) (tailer.History, error) {
	if err := s.Check(ctx, path); err != nil {
		return nil, err
	}
	f, real, err := s.open(path)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", path, err)
	}
	f.Close()
	return history.New(rotation.OS{}, filepath.Dir(real), filepath.Base(real), s.maxLine), nil
}

// OpenFile implements tailer.FileOpener: path is opened as Follow opens it
// (it must pass Check, and what it resolves to must be a regular file the
// globs allow; opening never blocks).
func (s *Source) OpenFile(ctx context.Context, path string) (io.ReadSeekCloser, tailer.FileInfo, error) {
	if err := s.Check(ctx, path); err != nil {
		return nil, tailer.FileInfo{}, err
	}
	f, _, err := s.open(path)
	if err != nil {
		return nil, tailer.FileInfo{}, fmt.Errorf("open %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, tailer.FileInfo{}, err
	}
	return f, tailer.FileInfo{Path: path, Size: st.Size(), ModTime: st.ModTime()}, nil
}
