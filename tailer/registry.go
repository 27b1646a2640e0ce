package tailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options size every Log a Registry makes.
type Options struct {
	Replay   int                 // lines a new viewer is sent; the ring holds at least this many
	Buffer   int64               // ring byte budget
	IdleStop time.Duration       // stop a tail this long after its last viewer left
	MaxLogs  int                 // logs followed at once; 0: no limit
	Groups   map[string][]string // group name → member host names, in order
	// Marks returns the inline lines (deploy marks) that belong in the log
	// of (host, path), oldest first; called when the log is opened.
	Marks  func(host, path string) []Line
	Logger *slog.Logger
}

// Errors of Open.
var (
	// ErrUnknownHost is returned for a host name that is not configured.
	ErrUnknownHost = errors.New("unknown host")
	// ErrTooManyLogs is returned when opening one more log would exceed
	// Options.MaxLogs.
	ErrTooManyLogs = errors.New("too many logs open")
)

// HostStater is implemented by Sources that know their host's condition
// (a remote host's connection); Hosts reports it.
type HostStater interface {
	HostState() State
	Reconnects() uint64 // how often the host was lost and reached again
}

// HostInfo describes a configured host.
type HostInfo struct {
	Name       string   `json:"name"`
	Remote     bool     `json:"remote"`
	State      *State   `json:"state,omitempty"` // remote hosts: the connection's condition
	Reconnects uint64   `json:"reconnects,omitempty"`
	Groups     []string `json:"groups"` // the groups it is a member of
}

// GroupInfo describes a group of hosts.
type GroupInfo struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
}

// Registry owns one Log, and one running Follow, per (host, path) that has
// viewers, and stops each Follow IdleStop after its last viewer released it.
type Registry struct {
	opts    Options
	sources map[string]Source
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	logs     map[key]*entry
	finished uint64        // lines read by logs that have stopped
	changed  chan struct{} // closed and replaced when a tail starts or has stopped
}

type key struct{ host, path string }

type entry struct {
	log    *Log
	sink   *markSink // the Source writes through it
	refs   int
	cancel context.CancelFunc
	done   chan struct{}
	idle   *time.Timer
}

// NewRegistry returns a Registry over the given sources, keyed by host name.
func NewRegistry(sources map[string]Source, opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Registry{opts: opts, sources: sources, log: opts.Logger, ctx: ctx, cancel: cancel, logs: map[key]*entry{}, changed: make(chan struct{})}
}

// Hosts describes the configured hosts, sorted by name.
func (r *Registry) Hosts(context.Context) []HostInfo {
	hosts := make([]HostInfo, 0, len(r.sources))
	for n, src := range r.sources {
		h := HostInfo{Name: n, Groups: []string{}}
		for g, members := range r.opts.Groups {
			if slices.Contains(members, n) {
				h.Groups = append(h.Groups, g)
			}
		}
		slices.Sort(h.Groups)
		if hs, ok := src.(HostStater); ok {
			st := hs.HostState()
			h.Remote, h.State, h.Reconnects = true, &st, hs.Reconnects()
		}
		hosts = append(hosts, h)
	}
	slices.SortFunc(hosts, func(a, b HostInfo) int { return strings.Compare(a.Name, b.Name) })
	return hosts
}

// Groups describes the configured groups, sorted by name.
func (r *Registry) Groups(context.Context) []GroupInfo {
	groups := make([]GroupInfo, 0, len(r.opts.Groups))
	for g, members := range r.opts.Groups {
		groups = append(groups, GroupInfo{Name: g, Hosts: slices.Clone(members)})
	}
	slices.SortFunc(groups, func(a, b GroupInfo) int { return strings.Compare(a.Name, b.Name) })
	return groups
}

func (r *Registry) source(host string) (Source, error) {
	s, ok := r.sources[host]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownHost, host)
	}
	return s, nil
}

// List returns the files of a host (see Source.List).
func (r *Registry) List(ctx context.Context, host string) ([]FileInfo, error) {
	src, err := r.source(host)
	if err != nil {
		return nil, err
	}
	return src.List(ctx)
}

// Check reports whether (host, path) may be opened, without opening it or
// starting anything: the error wraps ErrUnknownHost or ErrNotListed when
// not (see Source.Check).
func (r *Registry) Check(ctx context.Context, host, path string) error {
	src, err := r.source(host)
	if err != nil {
		return err
	}
	if err := src.Check(ctx, path); err != nil {
		if errors.Is(err, ErrNotListed) {
			return fmt.Errorf("%s on %s: %w", path, host, ErrNotListed)
		}
		return fmt.Errorf("check %s on %s: %w", path, host, err)
	}
	return nil
}

// Open returns the Log of (host, path), starting its tail if none runs, and
// a release func that must be called exactly once when the caller is done.
// The path must pass the host's Check, or the error wraps ErrNotListed; a
// new log beyond MaxLogs is refused with ErrTooManyLogs.
func (r *Registry) Open(ctx context.Context, host, path string) (*Log, func(), error) {
	src, err := r.source(host)
	if err != nil {
		return nil, nil, err
	}
	k := key{host, path}
	r.mu.Lock()
	e := r.logs[k]
	if e == nil {
		if r.full() {
			r.mu.Unlock()
			return nil, nil, fmt.Errorf("%w (max_logs = %d)", ErrTooManyLogs, r.opts.MaxLogs)
		}
		r.mu.Unlock()
		// Only paths the host's globs allow are ever opened.
		if err := r.Check(ctx, host, path); err != nil {
			return nil, nil, err
		}
		r.mu.Lock()
		if r.ctx.Err() != nil {
			r.mu.Unlock()
			return nil, nil, errors.New("registry closed")
		}
		if e = r.logs[k]; e == nil {
			if r.full() {
				r.mu.Unlock()
				return nil, nil, fmt.Errorf("%w (max_logs = %d)", ErrTooManyLogs, r.opts.MaxLogs)
			}
			e = r.start(k, src)
			r.logs[k] = e
			r.signal()
		}
	}
	e.refs++
	r.stopIdle(e)
	r.mu.Unlock()
	var once sync.Once
	return e.log, func() { once.Do(func() { r.release(k, e) }) }, nil
}

// Full reports whether a log that is not open yet would be refused.
func (r *Registry) Full() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.full()
}

func (r *Registry) full() bool { return r.opts.MaxLogs > 0 && len(r.logs) >= r.opts.MaxLogs }

// IsOpen reports whether (host, path) is followed now.
func (r *Registry) IsOpen(host, path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs[key{host, path}] != nil
}

// stopIdle disarms e's idle timer, if armed. r.mu is held.
func (r *Registry) stopIdle(e *entry) {
	if e.idle != nil && e.idle.Stop() {
		r.wg.Done() // the callback will not run
	}
	e.idle = nil
}

// start runs the Source for k until the entry is stopped. Called with r.mu held.
func (r *Registry) start(k key, src Source) *entry {
	ctx, cancel := context.WithCancel(r.ctx)
	e := &entry{log: NewLog(k.host, k.path, r.opts.Replay, r.opts.Buffer), cancel: cancel, done: make(chan struct{})}
	var marks []Line
	if r.opts.Marks != nil {
		marks = r.opts.Marks(k.host, k.path)
	}
	e.sink = newMarkSink(e.log, marks)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(e.done)
		r.follow(ctx, src, e.log, e.sink)
	}()
	return e
}

// follow calls Follow until ctx ends, backing off after errors.
func (r *Registry) follow(ctx context.Context, src Source, l *Log, sink Sink) {
	backoff := time.Second
	for {
		err := src.Follow(ctx, l.Path, r.opts.Replay, sink)
		if ctx.Err() != nil {
			l.State(State{Code: StateStopped})
			return
		}
		msg := "source ended"
		if err != nil {
			msg = err.Error()
		}
		r.log.Warn("follow failed", "host", l.Host, "path", l.Path, "err", err, "retry", backoff)
		l.State(State{Code: StateError, Msg: fmt.Sprintf("%s (retrying in %s)", msg, backoff)})
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			l.State(State{Code: StateStopped})
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (r *Registry) release(k key, e *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.refs--
	// After Close every follow is already cancelled: nothing is left to stop,
	// and a timer armed now would outlive the Registry.
	if e.refs > 0 || r.logs[k] != e || r.ctx.Err() != nil {
		return
	}
	// The callback belongs to the Registry's WaitGroup, so Close waits for
	// one that is running (stopIdle gives the count back when it is disarmed).
	r.wg.Add(1)
	e.idle = time.AfterFunc(r.opts.IdleStop, func() {
		defer r.wg.Done()
		r.mu.Lock()
		if e.refs > 0 || r.logs[k] != e {
			r.mu.Unlock()
			return
		}
		e.idle = nil
		delete(r.logs, k)
		_, next := e.log.Bounds()
		r.finished += next - 1
		r.mu.Unlock()
		e.cancel()
		<-e.done
		r.mu.Lock()
		r.signal()
		r.mu.Unlock()
	})
}

// signal wakes Changed waiters. r.mu is held.
func (r *Registry) signal() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Changed returns a channel closed when a tail next starts, or stops and has
// ended (its Follow returned).
func (r *Registry) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Stats are a Registry's counts, for metrics.
type Stats struct {
	Logs    int    // logs followed now
	LinesIn uint64 // lines read since the Registry started (markers included)
}

// Stats returns the Registry's counts.
func (r *Registry) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Stats{Logs: len(r.logs), LinesIn: r.finished}
	for _, e := range r.logs {
		_, next := e.log.Bounds()
		st.LinesIn += next - 1
	}
	return st
}

// Active returns the number of logs whose tail is running.
func (r *Registry) Active() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.logs)
}

// Close stops every tail and waits for them to end.
func (r *Registry) Close() {
	r.mu.Lock()
	r.cancel()
	for _, e := range r.logs {
		r.stopIdle(e)
	}
	r.mu.Unlock()
	r.wg.Wait()
}
