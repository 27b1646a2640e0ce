package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logviewer/logviewer/tailer"
)

// CatalogOptions size the logs a Catalog makes; app copies them from the
// config as it does for a Registry.
type CatalogOptions struct {
	Replay   int           // lines a new viewer is sent; each local ring holds at least this many
	Buffer   int64         // local ring byte budget
	IdleStop time.Duration // a log's tail stops this long after its last viewer in the cluster left
	MaxLogs  int           // logs open on this instance at once; 0: no limit
	// OpenWait bounds how long Open waits for a log's local ring to hold
	// what the stream held when it was opened (0: 5s), so that a browser
	// resuming at a seq it was shown by another instance finds it here.
	OpenWait time.Duration
}

// Catalog answers web's questions like a tailer.Registry (whose Hosts,
// Groups, List, Check, History and OpenFile it passes through) but opens
// each log through the cluster: Open returns a local Log fed from the log's
// subject, and the instance that holds the log's lease follows the file
// through the Registry and publishes what it reads.
//
// All methods are safe for concurrent use.
type Catalog struct {
	*tailer.Registry
	cl   *Cluster
	opts CatalogOptions
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	unwch  func()

	batches, published atomic.Uint64 // batches and lines this instance published

	mu   sync.Mutex
	logs map[string]*entry // by log id
}

// PublishStats returns how many batches (stream messages) and lines this
// instance has published as a holder.
func (c *Catalog) PublishStats() (batches, lines uint64) {
	return c.batches.Load(), c.published.Load()
}

// Catalog returns a Catalog over reg (which must not be used to open logs
// by anyone else: every tail of the cluster goes through a lease).
func (c *Cluster) Catalog(reg *tailer.Registry, o CatalogOptions) *Catalog {
	if o.OpenWait <= 0 {
		o.OpenWait = 5 * time.Second
	}
	if o.Replay < 1 {
		o.Replay = 1
	}
	cat := &Catalog{Registry: reg, cl: c, opts: o, log: c.log, logs: map[string]*entry{}}
	cat.ctx, cat.cancel = context.WithCancel(context.Background())
	_, cat.unwch = c.watchUp(cat.natsUp)
	return cat
}

// LogID is the id of the log of (host, path): the same on every instance,
// so that hello.log, and a resume by log id and seq, work on any of them.
func LogID(host, path string) string {
	h := sha256.Sum256([]byte(host + "\x00" + path))
	return hex.EncodeToString(h[:10])
}

// Open returns the local Log of (host, path), reading the log's subject
// into it, and a func to release it, called exactly once. The first
// instance with viewers of a log takes its lease and starts its tail.
// Errors as tailer.Registry.Open.
func (c *Catalog) Open(ctx context.Context, host, path string) (*tailer.Log, func(), error) {
	if err := c.Registry.Check(ctx, host, path); err != nil {
		return nil, nil, err
	}
	id := LogID(host, path)
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return nil, nil, errors.New("cluster catalog closed")
	}
	e := c.logs[id]
	if e == nil {
		if c.opts.MaxLogs > 0 && len(c.logs) >= c.opts.MaxLogs {
			c.mu.Unlock()
			return nil, nil, fmt.Errorf("%w (max_logs = %d)", tailer.ErrTooManyLogs, c.opts.MaxLogs)
		}
		e = c.start(id, host, path)
		c.logs[id] = e
	}
	e.refs++
	first := e.refs == 1
	c.mu.Unlock()
	if first {
		e.poke()
	}
	e.catchUp(ctx, c.opts.OpenWait)
	var once sync.Once
	return e.log, func() { once.Do(func() { c.release(e) }) }, nil
}

func (c *Catalog) release(e *entry) {
	c.mu.Lock()
	e.refs--
	last := e.refs == 0
	if last {
		e.idleSince = time.Now()
	}
	c.mu.Unlock()
	if last {
		e.poke()
	}
}

// Stats returns the Registry's counts: the tails this instance runs (as a
// holder) and the lines they read.
func (c *Catalog) Stats() tailer.Stats { return c.Registry.Stats() }

// Mark puts a deploy mark into the logs this instance follows (the holder
// publishes it with the log's lines). Instances learn of a mark made
// elsewhere through the shared bucket (WatchMarks) and call this too.
func (c *Catalog) Mark(match func(host, path string) bool, line tailer.Line) {
	c.Registry.Mark(match, line)
}

// Holding returns how many logs this instance holds the lease of.
func (c *Catalog) Holding() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.logs {
		if e.holding.Load() {
			n++
		}
	}
	return n
}

// natsUp tells every open log that NATS was lost or is back.
func (c *Catalog) natsUp(up bool) {
	c.mu.Lock()
	es := make([]*entry, 0, len(c.logs))
	for _, e := range c.logs {
		es = append(es, e)
	}
	c.mu.Unlock()
	for _, e := range es {
		e.setDown(!up)
	}
}

// Close stops every log's reading and tail and gives back this instance's
// leases (so another instance takes over at once rather than after the
// lease's TTL). It does not close the Registry or the Cluster.
func (c *Catalog) Close() {
	c.mu.Lock()
	c.cancel()
	c.mu.Unlock()
	c.unwch()
	c.wg.Wait()
}

// remove forgets e if it still has no viewer; it reports whether it did.
func (c *Catalog) remove(e *entry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.refs > 0 || c.logs[e.id] != e {
		return false
	}
	delete(c.logs, e.id)
	return true
}

// viewersHere returns e's local viewer count and since when it has had none.
func (c *Catalog) viewersHere(e *entry) (int, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.refs, e.idleSince
}

// anyViewers reports whether an instance other than this one has viewers
// of the log id (its presence key is live).
func (c *Catalog) anyViewers(ctx context.Context, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	kl, err := c.cl.viewers.ListKeysFiltered(ctx, id+".>")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return false, nil
		}
		return false, err
	}
	defer func() { _ = kl.Stop() }()
	mine := id + "." + c.cl.opts.Instance
	found := false
	for k := range kl.Keys() {
		if k != mine {
			found = true
		}
	}
	return found, nil
}
