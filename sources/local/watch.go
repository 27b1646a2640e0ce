package local

import (
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// inodeWatches is the process's one set of watches, shared by every Source:
// inotify gives two names of one inode the same watch, so two Sources (two
// hosts of the config whose globs reach the same file) watching one inode
// through two names would meet the same problem as two followers (see
// watches).
var inodeWatches watches

// waker is one follower's subscription to the wake-ups of an inode: a value
// on C (at most one pending) after each inotify event.
type waker struct {
	C    chan struct{}
	live bool // an inotify watch stands behind C (else it never fires)
	stop func()
}

// watches shares one inotify watch per inode among followers, all on one
// fsnotify watcher whose events one goroutine hands to the followers. One
// watch per inode is not only thrifty: inotify gives two names of one inode
// the same watch, and fsnotify then reports its events under the newest
// name only and removes the watch for both when either is removed, so a
// second follower of a file would silently never be woken.
//
// The goroutine exists while a watch does, and for closeAfter after the
// last one is removed (a busy file drops its watch and takes it again when
// it is quiet, often at moderate rates: not a new inotify instance each
// time); then the watcher is closed, which ends it. So a quiet followed file costs a watch and a map
// entry, not a goroutine (nxadm/tail's tracker, used before, needed a
// forwarding goroutine per watch: its channels are unbuffered and shared by
// every watch of the process).
type watches struct {
	mu     sync.Mutex
	w      *fsnotify.Watcher // nil while none is open
	m      map[[2]uint64]*inodeWatch
	byName map[string]*inodeWatch
	idle   *time.Timer // closes w once it has watched nothing for closeAfter
}

// closeAfter is how long the watcher stays open with nothing to watch.
var closeAfter = 30 * time.Second // a variable for tests

// inodeWatch is the watch of one inode. Its name is /proc/self/fd/N of a
// descriptor of its own, so the name stays this watch's for as long as the
// watch lives, and the watch follows the inode wherever it is renamed.
type inodeWatch struct {
	f    *os.File
	name string
	subs []chan struct{} // guarded by watches.mu
}

// subscribe returns wake-ups for f's inode (dev, ino). Where no watch can be
// added (no inotify, or its limits reached), C never fires and live is
// false: the follower's poll wakes it.
func (ws *watches) subscribe(f *os.File, dev, ino uint64) *waker {
	c := make(chan struct{}, 1)
	key := [2]uint64{dev, ino}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	iw := ws.m[key]
	if iw == nil {
		iw = ws.add(f)
		if iw == nil {
			return &waker{C: c, stop: func() {}}
		}
		ws.m[key] = iw
		ws.byName[iw.name] = iw
	}
	iw.subs = append(iw.subs, c)
	return &waker{C: c, live: true, stop: func() { ws.unsubscribe(key, iw, c) }}
}

// add starts watching f's inode through a descriptor of its own; nil if it
// cannot. ws.mu is held.
func (ws *watches) add(f *os.File) *inodeWatch {
	if ws.idle != nil {
		ws.idle.Stop()
		ws.idle = nil
	}
	if ws.w == nil {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			return nil
		}
		ws.w = w
		ws.m = map[[2]uint64]*inodeWatch{}
		ws.byName = map[string]*inodeWatch{}
		go ws.dispatch(w)
	}
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		ws.closeIfIdle()
		return nil
	}
	syscall.CloseOnExec(fd)
	iw := &inodeWatch{f: os.NewFile(uintptr(fd), f.Name()), name: "/proc/self/fd/" + strconv.Itoa(fd)}
	if err := ws.w.Add(iw.name); err != nil {
		iw.f.Close()
		ws.closeIfIdle()
		return nil
	}
	return iw
}

func (ws *watches) unsubscribe(key [2]uint64, iw *inodeWatch, c chan struct{}) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for i, s := range iw.subs {
		if s == c {
			iw.subs = append(iw.subs[:i], iw.subs[i+1:]...)
			break
		}
	}
	if len(iw.subs) > 0 || ws.m[key] != iw {
		return
	}
	// The last follower of the inode: remove its watch, under ws.mu so
	// that no new watch of this inode is added meanwhile (see watches).
	delete(ws.m, key)
	delete(ws.byName, iw.name)
	_ = ws.w.Remove(iw.name) // fails only if the kernel already dropped it
	iw.f.Close()
	ws.closeIfIdle()
}

// closeIfIdle closes the watcher closeAfter from now if it then still
// watches nothing; its dispatching goroutine then ends. ws.mu is held.
func (ws *watches) closeIfIdle() {
	if ws.w == nil || len(ws.m) > 0 || ws.idle != nil {
		return
	}
	w := ws.w
	var t *time.Timer
	t = time.AfterFunc(closeAfter, func() {
		ws.mu.Lock()
		defer ws.mu.Unlock()
		if ws.idle != t || ws.w != w || len(ws.m) > 0 {
			return // a watch was added meanwhile
		}
		// fsnotify's Close does not wait for dispatch to receive: its
		// reader stops sending once closing, so holding ws.mu is safe.
		_ = w.Close()
		ws.w, ws.m, ws.byName, ws.idle = nil, nil, nil, nil
	})
	ws.idle = t
}

// dispatch wakes the followers of each event's inode until w is closed.
// A lost event (the kernel's queue overflowed) wakes every follower of w.
func (ws *watches) dispatch(w *fsnotify.Watcher) {
	wake := func(iw *inodeWatch) {
		for _, c := range iw.subs {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			ws.mu.Lock()
			if ws.w == w {
				if iw := ws.byName[ev.Name]; iw != nil {
					wake(iw)
				}
			}
			ws.mu.Unlock()
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
			ws.mu.Lock()
			if ws.w == w {
				for _, iw := range ws.m {
					wake(iw)
				}
			}
			ws.mu.Unlock()
		}
	}
}
