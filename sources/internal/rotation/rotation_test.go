package rotation_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/internal/rotation"
)

// memFS is an in-memory FS: one directory of files, each with content,
// mode and mtime.
type memFS struct {
	files map[string]memFile // by full path
	opens []string
}

type memFile struct {
	data  []byte
	mode  fs.FileMode
	mtime time.Time
}

func (m *memFS) ReadDir(dir string) ([]rotation.Entry, error) {
	var out []rotation.Entry
	for p, f := range m.files {
		if path.Dir(p) == dir {
			out = append(out, rotation.Entry{Name: path.Base(p), Size: int64(len(f.data)), Mode: f.mode, ModTime: f.mtime})
		}
	}
	return out, nil
}

func (m *memFS) Stat(name string) (rotation.Entry, error) {
	f, ok := m.files[name]
	if !ok {
		return rotation.Entry{}, fs.ErrNotExist
	}
	return rotation.Entry{Name: path.Base(name), Size: int64(len(f.data)), Mode: f.mode, ModTime: f.mtime}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func (m *memFS) Open(name string) (rotation.File, error) {
	f, ok := m.files[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	if !f.mode.IsRegular() {
		return nil, rotation.ErrRefused
	}
	m.opens = append(m.opens, path.Base(name))
	return nopCloser{bytes.NewReader(f.data)}, nil
}

func gz(tb testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func numbered(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %06d of the old content\n", i)
	}
	return b.Bytes()
}

func readAll(tb testing.TB, c *rotation.Copy) string {
	tb.Helper()
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestCandidates(t *testing.T) {
	now := time.Now()
	es := []rotation.Entry{
		{Name: "app.log", Mode: 0o644},
		{Name: "app.log.1", Mode: 0o644, ModTime: now.Add(-2 * time.Minute)},
		{Name: "app.log.2.gz", Mode: 0o644, ModTime: now},
		{Name: "app.log-20261128-094512", Mode: 0o644, ModTime: now.Add(-time.Minute)},
		{Name: "app.log.lnk", Mode: fs.ModeSymlink | 0o777, ModTime: now},
		{Name: "app.log.fifo", Mode: fs.ModeNamedPipe | 0o644, ModTime: now},
		{Name: "app.log.d", Mode: fs.ModeDir | 0o755, ModTime: now},
		{Name: "app.logger", Mode: 0o644, ModTime: now},
		{Name: "other.log.1", Mode: 0o644, ModTime: now},
		{Name: "app.log.", Mode: 0o644, ModTime: now},
	}
	var got []string
	for _, e := range rotation.Candidates(es, "app.log") {
		got = append(got, e.Name)
	}
	want := []string{"app.log-20261128-094512", "app.log.1", "app.log.2.gz"}
	if !slices.Equal(got, want) {
		t.Errorf("Candidates = %q, want %q (plain newest first, then gzip; regular files named after app.log only)", got, want)
	}
}

func TestFindCopyMem(t *testing.T) {
	old := numbered(1, 1000)
	now := time.Now()
	off := int64(bytes.Index(old, []byte("line 000600")))
	known := old[off-64 : off]
	rest := string(old[off:])
	tests := []struct {
		name     string
		files    map[string]memFile
		want     string // sibling found, "" for none
		wantRest string
	}{
		{"plain copy", map[string]memFile{
			"/l/app.log.1": {old, 0o644, now},
			"/l/app.log.2": {numbered(1, 1000)[:off-1], 0o644, now.Add(-time.Hour)}, // too short
		}, "/l/app.log.1", rest},
		{"copy that is longer than what was seen", map[string]memFile{
			"/l/app.log-20261128": {append(slices.Clone(old), "more\n"...), 0o644, now},
		}, "/l/app.log-20261128", rest + "more\n"},
		{"the matching one among others", map[string]memFile{
			"/l/app.log.1": {numbered(2000, 3000), 0o644, now},
			"/l/app.log.2": {old, 0o644, now.Add(-time.Second)},
			"/l/app.log.3": {numbered(5000, 6000), 0o644, now.Add(-2 * time.Second)},
		}, "/l/app.log.2", rest},
		{"compressed copy", map[string]memFile{
			"/l/app.log.1.gz": {gz(t, old), 0o644, now},
			"/l/app.log.2.gz": {gz(t, numbered(2000, 3000)), 0o644, now.Add(-time.Minute)},
		}, "/l/app.log.1.gz", rest},
		{"no copy: different content", map[string]memFile{
			"/l/app.log.1": {numbered(2000, 3000), 0o644, now},
		}, "", ""},
		{"no copy: a symlink or a FIFO is never opened", map[string]memFile{
			"/l/app.log.1": {old, fs.ModeSymlink | 0o777, now},
			"/l/app.log.2": {old, fs.ModeNamedPipe | 0o644, now},
		}, "", ""},
		{"no copy: another file's siblings", map[string]memFile{
			"/l/other.log.1": {old, 0o644, now},
			"/x/app.log.1":   {old, 0o644, now},
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &memFS{files: tt.files}
			c, err := rotation.FindCopy(m, "/l", "app.log", off, known)
			if tt.want == "" {
				if !errors.Is(err, rotation.ErrNotFound) {
					t.Fatalf("FindCopy = %v, %v; want ErrNotFound", c, err)
				}
				for _, o := range m.opens {
					if f := m.files["/l/"+o]; !f.mode.IsRegular() {
						t.Errorf("opened %s, which is not a regular file", o)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Path != tt.want {
				t.Errorf("found %s, want %s", c.Path, tt.want)
			}
			if got := readAll(t, c); got != tt.wantRest {
				t.Errorf("copy from offset %d reads %d bytes starting %.40q, want %d bytes starting %.40q", off, len(got), got, len(tt.wantRest), tt.wantRest)
			}
		})
	}
	t.Run("nothing known", func(t *testing.T) {
		m := &memFS{files: map[string]memFile{"/l/app.log.1": {old, 0o644, now}}}
		if _, err := rotation.FindCopy(m, "/l", "app.log", 0, nil); !errors.Is(err, rotation.ErrNotFound) {
			t.Errorf("with no known bytes: %v, want ErrNotFound (any file would match)", err)
		}
	})
}

// TestFindCopyOS runs FindCopy on real files, through rotation.OS, with a
// symlinked sibling and a FIFO sibling that must be refused without blocking.
func TestFindCopyOS(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	old := numbered(1, 500)
	off := int64(bytes.Index(old, []byte("line 000300")))
	known := old[off-64 : off]
	write := func(name string, b []byte, age time.Duration) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(-age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	write("app.log", []byte("new\n"), 0)
	// Newest: a symlink to a perfect copy outside, and a FIFO. Neither may be used.
	if err := os.WriteFile(filepath.Join(outside, "secret"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "app.log.0")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "app.log.fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	write("app.log.2.gz", gz(t, numbered(9000, 9500)), time.Hour)

	if _, err := rotation.FindCopy(rotation.OS{}, dir, "app.log", off, known); !errors.Is(err, rotation.ErrNotFound) {
		t.Fatalf("with only a symlink and a FIFO holding the content: %v, want ErrNotFound", err)
	}
	if _, err := (rotation.OS{}).Open(filepath.Join(dir, "app.log.0")); !errors.Is(err, rotation.ErrRefused) && !errors.Is(err, syscall.ELOOP) {
		t.Errorf("OS.Open of a symlink: %v, want it refused", err)
	}
	done := make(chan error, 1)
	go func() { _, err := (rotation.OS{}).Open(filepath.Join(dir, "app.log.fifo")); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, rotation.ErrRefused) {
			t.Errorf("OS.Open of a FIFO: %v, want ErrRefused", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OS.Open of a FIFO blocked")
	}

	write("app.log.1", old, time.Minute)
	c, err := rotation.FindCopy(rotation.OS{}, dir, "app.log", off, known)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != filepath.Join(dir, "app.log.1") {
		t.Errorf("found %s, want app.log.1", c.Path)
	}
	if got := readAll(t, c); got != string(old[off:]) {
		t.Errorf("read %.60q…, want the old content from offset %d", got, off)
	}

	// Compressed at once (compress without delaycompress).
	if err := os.Remove(filepath.Join(dir, "app.log.1")); err != nil {
		t.Fatal(err)
	}
	write("app.log.1.gz", gz(t, old), time.Minute)
	c, err = rotation.FindCopy(rotation.OS{}, dir, "app.log", off, known)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, c); !c.Gzip || got != string(old[off:]) {
		t.Errorf("from %s (gzip %v) read %.60q…, want the old content from offset %d", c.Path, c.Gzip, got, off)
	}
}

func TestOpenRegularRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero", dir} {
		f, _, err := rotation.OpenRegular(p)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, rotation.ErrRefused) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("OpenRegular(%s) = %v, want refused as not a regular file", p, err)
		}
	}
	reg := filepath.Join(dir, "a.log")
	if err := os.WriteFile(reg, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "b.log")
	if err := os.Symlink(reg, link); err != nil {
		t.Fatal(err)
	}
	f, real, err := rotation.OpenRegular(link)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if real != reg {
		t.Errorf("resolved %s, want %s", real, reg)
	}
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "x\n" {
		t.Errorf("read %q, %v", b, err)
	}
}

// TestFindCopyGzipTooShort: a compressed sibling whose trailer says it holds
// less than the offset is not decompressed (this one would fail to).
func TestFindCopyGzipTooShort(t *testing.T) {
	old := numbered(1, 1000)
	off := int64(len(old) / 2)
	bogus := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}, bytes.Repeat([]byte{0xff}, 100)...)
	bogus = append(bogus, 0, 0, 0, 0, 10, 0, 0, 0) // CRC, ISIZE = 10
	m := &memFS{files: map[string]memFile{"/l/app.log.1.gz": {bogus, 0o644, time.Now()}}}
	_, err := rotation.FindCopy(m, "/l", "app.log", off, old[off-64:off])
	if err == nil || err.Error() != rotation.ErrNotFound.Error() {
		t.Errorf("FindCopy = %v, want only ErrNotFound (the sibling was decompressed)", err)
	}
}
