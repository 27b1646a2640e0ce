// Package cluster lets several logviewer instances act as one through NATS
// JetStream (see README.md, "Running a cluster"): exactly one instance in the
// cluster follows a log (the holder of its lease in a KV bucket) and
// publishes its lines, in batches, to the log's subject of one stream; every
// instance with viewers of the log reads that subject into a local
// tailer.Log, so seqs, log ids and resumes are the same on every instance.
// Deploy marks and the key that signs sessions and share links are kept in
// a KV bucket too.
//
// It is the only package that talks to NATS; without [cluster] it is not
// used at all.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure a Cluster. URL, Name and Instance come from [cluster].
type Options struct {
	URL      string // nats:// URLs, comma-separated
	Name     string // prefix of the stream, its subjects and the KV buckets
	Instance string // this instance's name

	// LeaseTTL is how long a lease lives without being renewed: a dead
	// holder's log is taken over about this long after it died (0: 3s).
	LeaseTTL time.Duration
	// Replicas of the stream and buckets when they are created (0: 3 when
	// the NATS cluster has at least three servers, else 1).
	Replicas int
	// RingMsgs is the stream's limit of messages (batches) per log: its
	// ring in NATS (0: 10,000). An instance whose consumer falls further
	// behind (a long pause) skips to what is left and its viewers get a gap.
	RingMsgs int
	// ConnectTimeout bounds reaching NATS at start (0: 10s).
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

// Defaults of Options.
const (
	DefaultLeaseTTL = 3 * time.Second
	// At 10k lines/s a batch holds about 20 lines: 10,000 batches are about
	// 10 s behind the holder (1,000 were 2 s, which a starved instance lost
	// in tests); a quiet log keeps its last 10,000 lines.
	defaultRingMsgs = 10000
	// opTimeout bounds one request to NATS (a KV read or write, a lookup);
	// a publish is retried after it.
	opTimeout = 2 * time.Second
)

// Cluster is a connection to NATS with the stream and KV buckets of one
// cluster of instances. Create it with Open; Close it last.
type Cluster struct {
	opts     Options
	log      *slog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	leases   jetstream.KeyValue // log id → holder (TTL LeaseTTL)
	viewers  jetstream.KeyValue // "<log id>.<instance>" while the instance has viewers (TTL 3×LeaseTTL)
	shared   jetstream.KeyValue // "secret.<name>", "mark.<id>", "revoked.<session id>": no TTL (an expired logout is purged by the next instance that starts)
	subjects string             // "<name>.log."

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closed     chan struct{} // closed by NATS when the connection is closed for good
	maxPayload int           // the server's max_payload

	mu        sync.Mutex
	up        bool
	listeners map[int]func(up bool)
	nextL     int
	crashed   bool
}

// Open connects to NATS and creates the stream and buckets if they do not
// exist. NATS must be reachable: a cluster never starts in a local-only
// mode of its own accord.
func Open(ctx context.Context, o Options) (*Cluster, error) {
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.RingMsgs <= 0 {
		o.RingMsgs = defaultRingMsgs
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{opts: o, log: o.Logger.With("instance", o.Instance), subjects: o.Name + ".log.", listeners: map[int]func(bool){}, up: true, closed: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	nc, err := nats.Connect(o.URL,
		nats.Name("logviewer "+o.Instance),
		nats.Timeout(o.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		// Lines published while disconnected wait for the reconnect in
		// the holder's ring, not in the client's buffer.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { c.setUp(false, err) }),
		nats.ReconnectHandler(func(*nats.Conn) { c.setUp(true, nil) }),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
	)
	if err != nil {
		c.cancel()
		return nil, fmt.Errorf("cluster: connect to NATS at %s: %w", o.URL, err)
	}
	c.nc = nc
	// JetStream may be slow to answer at first (a cluster electing its
	// leaders, a server recovering its store): try until ctx ends.
	b := newBackoff()
	for {
		err = c.setup(ctx)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			c.cancel()
			nc.Close()
			return nil, err
		}
		c.log.Warn("cluster: JetStream not ready, retrying", "err", err)
		b.wait(ctx)
	}
}

func (c *Cluster) setup(ctx context.Context) error {
	js, err := jetstream.New(c.nc, jetstream.WithDefaultTimeout(opTimeout))
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.js = js
	replicas := c.opts.Replicas
	if replicas <= 0 {
		replicas = 1
		if len(c.nc.Servers()) >= 3 {
			replicas = 3
		}
	}
	// What exists is used as it is: an operator may have tuned it (limits,
	// replicas, placement). Only what is missing is created.
	name := c.opts.Name + "-lines"
	c.stream, err = js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		c.stream, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        name,
			Description: "logviewer: the lines of every followed log, one subject per log",
			Subjects:    []string{c.subjects + ">"},
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			// The ring: each log keeps its last RingMsgs batches.
			MaxMsgsPerSubject: int64(c.opts.RingMsgs),
			// A retried publish (same Nats-Msg-Id) within this window is stored once.
			Duplicates: time.Minute,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // created meanwhile by another instance
			c.stream, err = js.Stream(ctx, name)
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: stream %s: %w", name, err)
	}
	kv := func(name string, ttl time.Duration, desc string) (jetstream.KeyValue, error) {
		bucket := c.opts.Name + "-" + name
		b, err := js.KeyValue(ctx, bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			b, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: bucket, Description: desc, TTL: ttl, Replicas: replicas, Storage: jetstream.FileStorage,
			})
			if errors.Is(err, jetstream.ErrBucketExists) {
				b, err = js.KeyValue(ctx, bucket)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: KV bucket %s: %w", bucket, err)
		}
		return b, nil
	}
	if c.leases, err = kv("leases", c.opts.LeaseTTL, "logviewer: which instance follows each log"); err != nil {
		return err
	}
	// Every instance renews on the bucket's TTL, whoever created it.
	if st, err := c.leases.Status(ctx); err == nil && st.TTL() > 0 {
		c.opts.LeaseTTL = st.TTL()
	}
	if c.viewers, err = kv("viewers", 3*c.opts.LeaseTTL, "logviewer: which instances have viewers of each log"); err != nil {
		return err
	}
	if c.shared, err = kv("shared", 0, "logviewer: deploy marks, logouts and the signing key"); err != nil {
		return err
	}
	// A batch and a line must fit in one message.
	c.maxPayload = int(c.nc.MaxPayload())
	return nil
}

// Instance returns this instance's name.
func (c *Cluster) Instance() string { return c.opts.Instance }

func (c *Cluster) setUp(up bool, err error) {
	c.mu.Lock()
	c.up = up
	ls := make([]func(bool), 0, len(c.listeners))
	for _, f := range c.listeners {
		ls = append(ls, f)
	}
	c.mu.Unlock()
	if up {
		c.log.Info("NATS reconnected", "server", c.nc.ConnectedUrlRedacted())
	} else {
		c.log.Warn("NATS unreachable", "err", err)
	}
	for _, f := range ls {
		f(up)
	}
}

// watchUp calls f (from NATS's callback goroutine) whenever the connection
// is lost or back; the func stops that.
func (c *Cluster) watchUp(f func(up bool)) (up bool, stop func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextL
	c.nextL++
	c.listeners[id] = f
	return c.up, func() {
		c.mu.Lock()
		delete(c.listeners, id)
		c.mu.Unlock()
	}
}

// Secret returns the value of the shared key name, creating it with make
// the first time any instance asks: every instance gets the same bytes
// (the HMAC key of sessions and share links).
func (c *Cluster) Secret(ctx context.Context, name string, make func() ([]byte, error)) ([]byte, error) {
	key := "secret." + name
	for b := newBackoff(); ; b.wait(ctx) {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cluster: %s: %w", key, ctx.Err())
		}
		ctx1, cancel := context.WithTimeout(ctx, opTimeout)
		e, err := c.shared.Get(ctx1, key)
		cancel()
		if err == nil {
			return slices.Clone(e.Value()), nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			c.log.Warn("cluster: reading the signing key, retrying", "err", err)
			continue
		}
		v, err := make()
		if err != nil {
			return nil, err
		}
		ctx1, cancel = context.WithTimeout(ctx, opTimeout)
		_, err = c.shared.Create(ctx1, key, v)
		cancel()
		if err == nil {
			return v, nil
		}
		// Another instance created it first (read theirs), or no answer
		// (try again).
	}
}

// PutMark stores a deploy mark (its JSON) under its id.
func (c *Cluster) PutMark(ctx context.Context, id string, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := c.shared.Put(ctx, "mark."+id, value); err != nil {
		return fmt.Errorf("cluster: store mark: %w", err)
	}
	return nil
}

// WatchMarks calls f with every deploy mark stored, first those that exist
// (before it returns), then each one put later, until Close.
func (c *Cluster) WatchMarks(ctx context.Context, f func(value []byte)) error {
	return c.watchShared(ctx, "mark.*", "marks", func(_ string, value []byte) { f(value) })
}

// PutRevoked stores that session id was ended by logout; it is kept until
// exp, when the session would have ended anyway.
func (c *Cluster) PutRevoked(ctx context.Context, id string, exp time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := c.shared.Put(ctx, "revoked."+id, []byte(strconv.FormatInt(exp.Unix(), 10))); err != nil {
		return fmt.Errorf("cluster: store a logout: %w", err)
	}
	return nil
}

// WatchRevoked calls f with every session ended by logout on any instance
// and not yet expired: first those stored (before it returns), then each one
// stored later, until Close. Those expired are purged from the bucket as
// they are read (so by the next instance that starts).
func (c *Cluster) WatchRevoked(ctx context.Context, f func(id string, exp time.Time)) error {
	return c.watchShared(ctx, "revoked.*", "logouts", func(key string, value []byte) {
		secs, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil {
			c.log.Warn("cluster: bad logout in the shared bucket", "key", key, "err", err)
			return
		}
		exp := time.Unix(secs, 0)
		if !time.Now().Before(exp) {
			ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
			defer cancel()
			_ = c.shared.Purge(ctx, key) // best effort: the next instance to start tries again
			return
		}
		f(strings.TrimPrefix(key, "revoked."), exp)
	})
}

// watchShared calls f with every entry of the shared bucket whose key
// matches keys: first those that exist (before it returns), then each one
// put later, until Close. what names them in errors.
func (c *Cluster) watchShared(ctx context.Context, keys, what string, f func(key string, value []byte)) error {
	// The watch lives until Close; ctx bounds only the wait for what
	// exists (and the tries to start it: JetStream may be slow at first).
	var w jetstream.KeyWatcher
	var err error
	for b := newBackoff(); ; b.wait(ctx) {
		if w, err = c.shared.Watch(c.ctx, keys, jetstream.IgnoreDeletes()); err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cluster: watch %s: %w", what, err)
		}
	}
	// The existing values come first, then a nil entry.
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				c.wg.Add(1)
				go func() {
					defer c.wg.Done()
					defer func() { _ = w.Stop() }()
					for {
						select {
						case <-c.ctx.Done():
							return
						case e, ok := <-w.Updates():
							if !ok {
								return
							}
							if e != nil {
								f(e.Key(), e.Value())
							}
						}
					}
				}()
				return nil
			}
			f(e.Key(), e.Value())
		case <-ctx.Done():
			_ = w.Stop()
			return fmt.Errorf("cluster: watch %s: %w", what, ctx.Err())
		}
	}
}

// Close ends the watches and closes the connection. Close every Catalog
// first (they give their leases back through it).
func (c *Cluster) Close() error {
	c.cancel()
	c.wg.Wait()
	if err := c.nc.Drain(); err != nil {
		c.nc.Close()
	}
	// Drain is asynchronous: wait for it, so that no NATS goroutine
	// outlives Close.
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-c.closed:
	case <-t.C:
		c.nc.Close()
		<-c.closed
	}
	return nil
}

// crash drops the connection at once, as if the process had died: leases
// and presence stay in NATS until their TTL. For tests (export_test.go).
func (c *Cluster) crash() {
	c.mu.Lock()
	c.crashed = true
	c.mu.Unlock()
	c.nc.Close()
}

func (c *Cluster) isCrashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crashed
}
