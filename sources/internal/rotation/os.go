package rotation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// OS is FS on this machine's file system. It is Linux-only: Open checks the
// opened file through /proc/self/fd.
type OS struct{}

var _ FS = OS{}

// ReadDir implements FS.
func (OS) ReadDir(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(des))
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, entry(de.Name(), fi))
	}
	return out, nil
}

// Stat implements FS.
func (OS) Stat(name string) (Entry, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return Entry{}, err
	}
	return entry(fi.Name(), fi), nil
}

func entry(name string, fi os.FileInfo) Entry {
	e := Entry{Name: name, Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.Ino = st.Ino
	}
	return e
}

// Open implements FS: name must be a regular file that is reached through no
// symlink at all (the path it resolves to is name itself).
func (OS) Open(name string) (File, error) {
	f, real, err := OpenRegular(name)
	if err != nil {
		return nil, err
	}
	if real != filepath.Clean(name) {
		f.Close()
		return nil, &RefusedError{Path: name, Reason: "it resolves to " + real + " (a symlink)"}
	}
	return f, nil
}

// ErrRefused is wrapped by the errors of OpenRegular and OS.Open for a file
// they will not open (see RefusedError).
var ErrRefused = errors.New("refused")

// RefusedError says why a path was not opened. It matches ErrRefused.
type RefusedError struct {
	Path   string
	Reason string // for people: "it is a FIFO", "it resolves to /x, …"
}

func (e *RefusedError) Error() string { return e.Path + ": refused: " + e.Reason }

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// OpenRegular opens path for reading without ever blocking and without
// opening anything but a regular file: it opens it with O_PATH first (which
// neither blocks on a FIFO nor runs a device's open), checks that what it got
// is a regular file, and only then opens that same inode for reading through
// /proc/self/fd. It returns the file and the absolute path it resolved to
// (every symlink followed), for the caller to check against what it allows.
// A FIFO, a device, a socket or a directory is refused with an error that
// wraps ErrRefused.
func OpenRegular(path string) (*os.File, string, error) {
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, "", &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, "", &RefusedError{Path: path, Reason: "it is " + kind(st.Mode) + ", not a regular file"}
	}
	proc := "/proc/self/fd/" + strconv.Itoa(pfd)
	real, err := os.Readlink(proc)
	if err != nil {
		return nil, "", fmt.Errorf("open %s: resolve: %w", path, err)
	}
	fd, err := unix.Open(proc, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st2 unix.Stat_t
	if err := unix.Fstat(fd, &st2); err != nil || st2.Dev != st.Dev || st2.Ino != st.Ino {
		unix.Close(fd)
		return nil, "", &RefusedError{Path: path, Reason: "it changed while it was opened"}
	}
	// Reads of a regular file never block; clear the flag all the same so
	// the descriptor behaves as an ordinary one.
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	return os.NewFile(uintptr(fd), path), real, nil
}

func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFDIR:
		return "a directory"
	}
	return "a special file"
}
