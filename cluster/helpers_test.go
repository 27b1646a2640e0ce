package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/logviewer/logviewer/app"
	"github.com/logviewer/logviewer/cluster"
	"github.com/logviewer/logviewer/config"
)

// leaseTTL is the tests' lease TTL: a dead holder's log is taken over
// about this long after it died. It is the default: 1 s worked on an idle
// machine, but under `go test -race ./...` on two cores (race-built
// nats-servers replicating to three nodes) a starved holder's renewal can
// be seconds late, and every lapse is a takeover.
const leaseTTL = 3 * time.Second

// natsNode is one embedded nats-server with JetStream on loopback.
type natsNode struct {
	srv  *server.Server
	opts *server.Options
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNATS runs a single JetStream server; Stop and Restart keep its port
// and store.
func startNATS(t testing.TB) *natsNode {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	n := &natsNode{opts: o}
	n.start(t)
	t.Cleanup(n.stop)
	return n
}

func (n *natsNode) start(t testing.TB) {
	t.Helper()
	s, err := server.NewServer(n.opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	n.srv = s
}

func (n *natsNode) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

// startNATSCluster runs a three-node JetStream cluster on loopback, each
// node with its own ports and store, and waits until JetStream is ready.
func startNATSCluster(t testing.TB) []*natsNode {
	t.Helper()
	var routes []*url.URL
	cports := []int{freePort(t), freePort(t), freePort(t)}
	for _, p := range cports {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	nodes := make([]*natsNode, 3)
	for i := range nodes {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: freePort(t),
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "lvtest", Host: "127.0.0.1", Port: cports[i]},
			Routes:  routes,
		}
		nodes[i] = &natsNode{opts: o}
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		s, err := server.NewServer(n.opts)
		if err != nil {
			t.Fatal(err)
		}
		n.srv = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Start()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	for _, n := range nodes {
		if !n.srv.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server not ready")
		}
	}
	// Every node clustered and current, and a meta leader elected: before
	// that, creating a stream may wait out its timeout.
	eventually(t, 30*time.Second, "a JetStream cluster", func() bool {
		leader := false
		for _, n := range nodes {
			if !n.srv.JetStreamIsClustered() || !n.srv.JetStreamIsCurrent() {
				return false
			}
			leader = leader || n.srv.JetStreamIsLeader()
		}
		return leader
	})
	return nodes
}

func urls(nodes []*natsNode) string {
	var u []string
	for _, n := range nodes {
		u = append(u, n.url())
	}
	return strings.Join(u, ",")
}

// instance is one logviewer, wired by app as main does, served on :0.
type instance struct {
	name string
	url  string
	app  *app.App // nil for a child process
	cmd  *exec.Cmd
	hs   *httptest.Server
	once sync.Once
}

func clusterConfig(dir, natsURL, name string, extra ...string) string {
	return fmt.Sprintf(`
idle_stop = "2s"
state_dir = %q
`, filepath.Join(dir, "state-"+name)) + strings.Join(extra, "\n") + fmt.Sprintf(`
[[host]]
name = "local"
files = [%q]
[cluster]
nats_url = %q
name = "lvt"
instance = %q
`, filepath.Join(dir, "*.log"), natsURL, name)
}

func startInstance(t testing.TB, dir, natsURL, name string, extra ...string) *instance {
	t.Helper()
	c, err := config.Parse(name+".toml", []byte(clusterConfig(dir, natsURL, name, extra...)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(c, app.Options{ClusterLeaseTTL: leaseTTL, Logger: testLogger(t, name)})
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{name: name, app: a, hs: httptest.NewServer(a.Handler())}
	in.url = in.hs.URL
	t.Cleanup(in.close)
	return in
}

// testLogger keeps an instance's log and shows it if the test fails.
func testLogger(t testing.TB, name string) *slog.Logger {
	var mu sync.Mutex
	var b strings.Builder
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("log of %s:\n%s", name, b.String())
		}
	})
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return b.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// close stops the instance as a clean shutdown does.
func (in *instance) close() {
	in.once.Do(func() {
		in.app.Web.Close()
		in.hs.CloseClientConnections()
		in.hs.Close()
		in.app.Close()
	})
}

// kill stops the instance as kill -9 would, as far as the cluster can
// tell: its NATS connection drops at once and nothing is given back.
func (in *instance) kill() {
	in.once.Do(func() {
		cluster.Crash(in.app.Cluster)
		in.hs.CloseClientConnections()
		in.hs.Close()
		in.app.Close()
	})
}

// viewer is a WebSocket client that checks that the lines it gets, each
// "line NNNNNNNN", come once and in order, with seqs that go up by one.
type viewer struct {
	name string
	conn *websocket.Conn
	done chan struct{}

	mu       sync.Mutex
	log      string // hello.log
	resumed  bool
	first    int // first line number received (-1: none)
	next     int // next line number expected
	lastSeq  uint64
	states   []string
	marks    []string // texts of deploy marks
	replayed int      // file lines that came in replay frames
	faults   []string
	arrivals map[int]time.Time // line number → when it came
	changed  chan struct{}
}

func dialViewer(t testing.TB, in *instance, file, query string) *viewer {
	t.Helper()
	return dialAs(t, in, file, query, nil, nil)
}

// dialHeader dials with request headers (a session cookie).
func dialHeader(t testing.TB, in *instance, file string, h http.Header) *viewer {
	t.Helper()
	return dialAs(t, in, file, "", nil, h)
}

// dialResume reconnects what old saw, on in, with log=ID&since=SEQ: the
// new viewer must continue exactly after old's last line.
func dialResume(t testing.TB, in *instance, file string, old *viewer) *viewer {
	t.Helper()
	old.close()
	old.mu.Lock()
	q := "&log=" + url.QueryEscape(old.log) + "&since=" + strconv.FormatUint(old.lastSeq, 10)
	old.mu.Unlock()
	return dialAs(t, in, file, q, old, nil)
}

func dialAs(t testing.TB, in *instance, file, query string, old *viewer, h http.Header) *viewer {
	t.Helper()
	host := "local"
	if h, rest, ok := strings.Cut(query, "&"); ok && strings.HasPrefix(h, "host=") {
		host, query = strings.TrimPrefix(h, "host="), "&"+rest // "host=h1&…" picks another host
	}
	u := "ws" + strings.TrimPrefix(in.url, "http") + "/ws?host=" + host + "&file=" + url.QueryEscape(file) + query
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u, h)
	if err != nil {
		t.Fatalf("dial %s: %v", in.name, err)
	}
	resp.Body.Close()
	v := &viewer{name: in.name, conn: conn, done: make(chan struct{}), first: -1, changed: make(chan struct{}), arrivals: map[int]time.Time{}}
	if old != nil {
		old.mu.Lock()
		v.first, v.next, v.lastSeq, v.faults = old.first, old.next, old.lastSeq, old.faults
		old.mu.Unlock()
	}
	go v.read()
	t.Cleanup(v.close)
	return v
}

func (v *viewer) close() {
	_ = v.conn.Close()
	<-v.done
}

type frame struct {
	Type    string `json:"type"`
	Log     string `json:"log"`
	Resumed bool   `json:"resumed"`
	State   struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
	} `json:"state"`
	Lines []struct {
		Seq  uint64 `json:"seq"`
		Text string `json:"text"`
		Mark string `json:"mark"`
	} `json:"lines"`
	Replay bool   `json:"replay"`
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Code   string `json:"code"`
	Msg    string `json:"msg"`
}

func (v *viewer) read() {
	defer close(v.done)
	for {
		_, data, err := v.conn.ReadMessage()
		if err != nil {
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			v.fault("bad frame: %v", err)
			continue
		}
		now := time.Now()
		v.mu.Lock()
		switch f.Type {
		case "hello":
			v.log, v.resumed = f.Log, f.Resumed
			v.states = append(v.states, f.State.Code)
		case "status":
			v.states = append(v.states, f.State.Code)
		case "gap", "reset", "error":
			v.faultLocked("unexpected %s frame: %s", f.Type, data)
		case "lines":
			for _, l := range f.Lines {
				if v.lastSeq != 0 && l.Seq != v.lastSeq+1 {
					v.faultLocked("seq %d after %d", l.Seq, v.lastSeq)
				}
				v.lastSeq = l.Seq
				if l.Mark == "deploy" {
					v.marks = append(v.marks, l.Text)
				}
				if l.Mark != "" {
					continue
				}
				n, ok := lineNumber(l.Text)
				if !ok {
					v.faultLocked("line %q", l.Text)
					continue
				}
				if v.first >= 0 && n != v.next {
					v.faultLocked("line %d after %d", n, v.next-1)
				}
				if v.first < 0 {
					v.first = n
				}
				v.next = n + 1
				if f.Replay {
					v.replayed++
				}
				v.arrivals[n] = now
			}
		}
		close(v.changed)
		v.changed = make(chan struct{})
		v.mu.Unlock()
	}
}

func lineNumber(s string) (int, bool) {
	num, ok := strings.CutPrefix(s, "line ")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

func (v *viewer) fault(format string, a ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.faultLocked(format, a...)
}

func (v *viewer) faultLocked(format string, a ...any) {
	if len(v.faults) < 10 {
		v.faults = append(v.faults, fmt.Sprintf(format, a...))
	}
}

// snapshot returns hello.log, the last seq received and hello.resumed.
func (v *viewer) snapshot() (log string, lastSeq uint64, resumed bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.log, v.lastSeq, v.resumed
}

// waitFor waits until cond (called with v.mu held) is true.
func (v *viewer) waitFor(t testing.TB, d time.Duration, what string, cond func(v *viewer) bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		v.mu.Lock()
		ok, ch := cond(v), v.changed
		v.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-v.done:
			t.Fatalf("viewer on %s closed while waiting for %s", v.name, what)
		case <-timer.C:
			v.mu.Lock()
			defer v.mu.Unlock()
			t.Fatalf("viewer on %s: no %s after %s (next line %d, seq %d, states %v, faults %v)", v.name, what, d, v.next, v.lastSeq, v.states, v.faults)
		}
	}
}

// waitLine waits until the viewer has line n.
func (v *viewer) waitLine(t testing.TB, n int, d time.Duration) {
	t.Helper()
	v.waitFor(t, d, fmt.Sprintf("line %d", n), func(v *viewer) bool { return v.first >= 0 && v.next > n })
}

// check fails t if the viewer saw anything but every line from its first
// through want-1, once and in order.
func (v *viewer) check(t testing.TB, want int) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.faults) > 0 {
		t.Errorf("viewer on %s: %v", v.name, v.faults)
	}
	if v.next != want {
		t.Errorf("viewer on %s: lines %d..%d, want through %d", v.name, v.first, v.next-1, want-1)
	}
}

// writer appends "line NNNNNNNN" lines to a file at a steady rate.
type writer struct {
	f *os.File
	n int
}

func newWriter(t testing.TB, path string) *writer {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &writer{f: f}
}

// write appends n lines at rate lines/s (in 1 ms steps), returning the
// time each millisecond's first line was written, by line number.
func (w *writer) write(t testing.TB, n int, rate int) {
	t.Helper()
	per := max(rate/1000, 1)
	start := time.Now()
	var b []byte
	for i := 0; i < n; {
		b = b[:0]
		for j := 0; j < per && i < n; j++ {
			b = fmt.Appendf(b, "line %08d\n", w.n)
			w.n++
			i++
		}
		if _, err := w.f.Write(b); err != nil {
			t.Fatal(err)
		}
		if d := time.Until(start.Add(time.Duration(i/per) * time.Millisecond)); d > 0 {
			time.Sleep(d) // pacing the writer, not waiting for an event
		}
	}
}

// run writes at rate lines/s in the background until stop is called;
// stop returns the number of lines written in all.
func (w *writer) run(rate int) (written func() int, stop func() (int, error)) {
	quit := make(chan struct{})
	done := make(chan error, 1)
	var mu sync.Mutex
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		start, sent := time.Now(), 0
		var b []byte
		for {
			select {
			case <-quit:
				done <- nil
				return
			case <-tick.C:
			}
			// As many lines as are due by now (ticks may be late).
			due := min(int(time.Since(start).Seconds()*float64(rate))-sent, 1000)
			sent += due
			mu.Lock()
			b = b[:0]
			for range due {
				b = fmt.Appendf(b, "line %08d\n", w.n)
				w.n++
			}
			mu.Unlock()
			if _, err := w.f.Write(b); err != nil {
				done <- err
				return
			}
		}
	}()
	written = func() int {
		mu.Lock()
		defer mu.Unlock()
		return w.n
	}
	return written, func() (int, error) {
		close(quit)
		err := <-done
		return w.n, err
	}
}

// active returns the tails running on the instances.
func active(ins ...*instance) int {
	n := 0
	for _, in := range ins {
		n += in.app.Registry.Active()
	}
	return n
}

// holder returns the instance that holds a lease, if any.
func holderOf(ins ...*instance) *instance {
	for _, in := range ins {
		if in.app.Catalog.Holding() > 0 {
			return in
		}
	}
	return nil
}

// eventually polls cond every 10 ms until it holds or d passes (for state
// that no channel announces, such as another instance's lease).
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
