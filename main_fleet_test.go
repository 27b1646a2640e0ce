package main

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	xssh "golang.org/x/crypto/ssh"

	"github.com/logviewer/logviewer/sources/ssh/sshtest"
	"github.com/logviewer/logviewer/tailer"
)

// A merged view joins one path across hosts, so every host of the group
// must have the log at the same absolute path. Three hosts on one machine
// get that from three real sshds, each in its own mount namespace, where
// its own directory is bound over one shared path (fleetLogDir). A "~/"
// glob would not do: the SSH source expands it to each remote home, and
// three homes give three paths that a merged view cannot join.
//
// Each host is reached as 127.0.0.K:PORT (Linux routes all of 127/8 to lo)
// through a link of this test's own, which can be cut, and refuse new
// connections, like a network that goes down.

// fleetLink forwards TCP from 127.0.0.K:PORT to one sshd.
type fleetLink struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	refuse bool
	wg     sync.WaitGroup
}

func newFleetLink(t *testing.T, ln net.Listener, target string) *fleetLink {
	l := &fleetLink{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.accept()
	t.Cleanup(l.close)
	return l
}

func (l *fleetLink) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		refuse := l.refuse
		l.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", l.target)
		if err != nil {
			c.Close()
			continue
		}
		l.mu.Lock()
		l.conns[c], l.conns[up] = struct{}{}, struct{}{}
		l.mu.Unlock()
		l.wg.Add(2)
		go l.pipe(up, c)
		go l.pipe(c, up)
	}
}

func (l *fleetLink) pipe(dst, src net.Conn) {
	defer l.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	l.mu.Lock()
	delete(l.conns, dst)
	delete(l.conns, src)
	l.mu.Unlock()
}

// down closes every connection and refuses new ones (true), or lets new
// ones through again (false).
func (l *fleetLink) down(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refuse = on
	if on {
		for c := range l.conns {
			c.Close()
		}
	}
}

func (l *fleetLink) close() {
	l.ln.Close()
	l.down(true)
	l.wg.Wait()
}

// fleetListeners listens on 127.0.0.1:P … 127.0.0.n:P, one port P free on
// every address.
func fleetListeners(t *testing.T, n int) (int, []net.Listener) {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for k := 2; k <= n; k++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", k, port))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == n {
			return port, lns
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatalf("no port free on 127.0.0.1 … 127.0.0.%d after 20 tries", n)
	return 0, nil
}

// fleetHost is one host of the fleet: its sshd, its link and the real
// directory that its sshd shows at fleetLogDir.
type fleetHost struct {
	name string
	dir  string
	srv  *sshtest.Server
	link *fleetLink
}

func (h *fleetHost) write(t *testing.T, from, to int) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(h.dir, "app.log"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s %s line %d\n", time.Now().UTC().Format(time.RFC3339Nano), h.name, i)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

// startFleet starts n hosts named web-1 … web-n and logviewer (Main) with
// them as one range in group "web"; every host has fleetLogDir/app.log.
func startFleet(t *testing.T, n int, logDir string) (*Main, []*fleetHost) {
	t.Helper()
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	port, lns := fleetListeners(t, n)
	var hosts []*fleetHost
	var known strings.Builder
	for k := 1; k <= n; k++ {
		h := &fleetHost{name: fmt.Sprintf("web-%d", k), dir: t.TempDir()}
		h.srv = sshtest.StartWith(t, sshtest.Config{Bind: map[string]string{logDir: h.dir}})
		h.link = newFleetLink(t, lns[k-1], h.srv.Addr)
		known.WriteString(h.srv.KnownHostsLine(lns[k-1].Addr().String()) + "\n")
		hosts = append(hosts, h)
	}
	// One client key for the whole range: web-1's, authorized on the others.
	pem, err := os.ReadFile(hosts[0].srv.Identity)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := xssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts[1:] {
		f, err := os.OpenFile(filepath.Join(h.srv.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Write(xssh.MarshalAuthorizedKey(signer.PublicKey()))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(`replay = 1000
[[host]]
name = "web-[1-%d]"
address = "127.0.0.[1-%d]:%d"
user = %q
identity_files = [%q]
known_hosts = %q
files = [%q]
groups = ["web"]
`, n, n, port, hosts[0].srv.User, hosts[0].srv.Identity, knownHosts, logDir+"/*.log"))
	t.Setenv("SSH_AUTH_SOCK", "")
	m := mustMain(t, "-config", cfg, "-listen", "127.0.0.1:0")
	t.Cleanup(func() { m.Close() })
	return m, hosts
}

type fleetLine struct {
	Seq  uint64 `json:"seq"`
	Host string `json:"host"`
	Text string `json:"text"`
	Mark string `json:"mark"`
}

type fleetFrame struct {
	Type    string            `json:"type"`
	Merged  bool              `json:"merged"`
	Hosts   []string          `json:"hosts"`
	Logs    map[string]string `json:"logs"`
	Resumed bool              `json:"resumed"`
	Host    string            `json:"host"`
	Lines   []fleetLine       `json:"lines"`
	State   tailer.State      `json:"state"`
	From    uint64            `json:"from"`
	To      uint64            `json:"to"`
	Code    string            `json:"code"`
	Msg     string            `json:"msg"`
}

// fleetViewer is one browser on a merged view. It checks every line as it
// comes: tagged with the host whose file it is from, and per host the
// line numbers the test wrote, each once, in order, none missing.
type fleetViewer struct {
	t      *testing.T
	conn   *websocket.Conn
	hello  fleetFrame
	next   map[string]int    // host → number of the line expected next
	seq    map[string]uint64 // host → seq of its last line
	states map[string]tailer.State
	marks  map[string][]string // host → marks received ("resumed"…)
}

func dialFleet(t *testing.T, m *Main, q url.Values, next map[string]int, seq map[string]uint64) *fleetViewer {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(m.URL(), "http")+"/ws?"+q.Encode(), nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("dial: %v: %d %s", err, resp.StatusCode, body)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	v := &fleetViewer{t: t, conn: conn, next: next, seq: seq, states: map[string]tailer.State{}, marks: map[string][]string{}}
	v.hello = v.read(time.Now().Add(30 * time.Second))
	if v.hello.Type != "hello" || !v.hello.Merged {
		t.Fatalf("first frame %+v, want a merged hello", v.hello)
	}
	return v
}

func (v *fleetViewer) read(deadline time.Time) fleetFrame {
	v.t.Helper()
	_ = v.conn.SetReadDeadline(deadline)
	var f fleetFrame
	if err := v.conn.ReadJSON(&f); err != nil {
		v.t.Fatalf("read: %v (lines expected next: %v, states: %v)", err, v.next, v.states)
	}
	return f
}

// until reads frames, checking each, until done() holds (at most 60 s).
func (v *fleetViewer) until(what string, done func() bool) {
	v.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			v.t.Fatalf("%s: not within 60s (lines expected next: %v, states: %v)", what, v.next, v.states)
		}
		f := v.read(deadline)
		switch f.Type {
		case "lines":
			for _, l := range f.Lines {
				v.check(l)
			}
		case "status":
			if f.Host == "" {
				v.t.Fatalf("status frame without host: %+v", f)
			}
			v.states[f.Host] = f.State
		case "gap":
			v.t.Fatalf("gap frame: host %q lines %d..%d not sent (expected next: %v)", f.Host, f.From, f.To, v.next)
		default:
			v.t.Fatalf("unexpected frame %+v", f)
		}
	}
}

func (v *fleetViewer) check(l fleetLine) {
	v.t.Helper()
	if l.Mark != "" {
		// An event of the host's source, inline: no line number.
		v.marks[l.Host] = append(v.marks[l.Host], l.Mark)
		return
	}
	f := strings.Fields(l.Text)
	if len(f) != 4 || f[2] != "line" {
		v.t.Fatalf("line %+v is not one the test wrote", l)
	}
	if f[1] != l.Host {
		v.t.Fatalf("line %q tagged host %q: from another host's file", l.Text, l.Host)
	}
	n, err := strconv.Atoi(f[3])
	if err != nil {
		v.t.Fatalf("line %+v: %v", l, err)
	}
	if want := v.next[l.Host]; n != want {
		kind := "lost"
		if n < want {
			kind = "repeated or out of order"
		}
		v.t.Fatalf("host %s: line %d, want %d (%s)", l.Host, n, want, kind)
	}
	v.next[l.Host] = n + 1
	v.seq[l.Host] = l.Seq
}

func (v *fleetViewer) have(host string, n int) func() bool {
	return func() bool { return v.next[host] >= n }
}

func (v *fleetViewer) all(hosts []*fleetHost, n int) func() bool {
	return func() bool {
		for _, h := range hosts {
			if v.next[h.name] < n {
				return false
			}
		}
		return true
	}
}

func (v *fleetViewer) state(host, code string) func() bool {
	return func() bool { return v.states[host].Code == code }
}

// TestMainFleetGroupViewThroughSSHD (issue 12) runs the whole program on a
// host range web-[1-3] in group "web", each host a real sshd reached at its
// own address, and watches /ws?group=web&file=…:
//   - every line of every host arrives once, tagged, in order per host
//     (the lines written before the view opened, then live ones);
//   - one host's link cut: its status says reconnecting while the others'
//     lines keep arriving; when the link is back, the lines written while
//     it was down arrive, none lost or repeated, and no gap;
//   - the viewer reconnects with since=HOST:SEQ,… and log=HOST:ID,…: it is
//     resumed, and gets exactly the lines written meanwhile.
func TestMainFleetGroupViewThroughSSHD(t *testing.T) {
	sshtest.Require(t)
	sshtest.RequireNamespace(t)
	logDir := filepath.Join(t.TempDir(), "srv-log") // the same path on every host
	const n = 3
	m, hosts := startFleet(t, n, logDir)
	file := logDir + "/app.log"
	for _, h := range hosts {
		h.write(t, 0, 5)
	}

	next, seq := map[string]int{}, map[string]uint64{}
	v := dialFleet(t, m, url.Values{"group": {"web"}, "file": {file}}, next, seq)
	if len(v.hello.Hosts) != n || len(v.hello.Logs) != n {
		t.Fatalf("hello %+v: want %d hosts, each with its log id", v.hello, n)
	}
	v.until("the lines written before the view opened", v.all(hosts, 5))
	// Live, interleaved.
	for i := 5; i < 305; i += 50 {
		for _, h := range hosts {
			h.write(t, i, i+50)
		}
	}
	v.until("300 live lines per host", v.all(hosts, 305))
	for _, h := range hosts {
		v.until(h.name+" following", v.state(h.name, tailer.StateFollowing))
	}

	// Cut web-2's link; it stays down until the others were seen flowing.
	cut, others := hosts[1], []*fleetHost{hosts[0], hosts[2]}
	cut.link.down(true)
	v.until(cut.name+" reconnecting", v.state(cut.name, tailer.StateReconnecting))
	for _, h := range hosts {
		h.write(t, 305, 355)
	}
	v.until("the other hosts' lines while "+cut.name+" is cut", v.all(others, 355))
	if v.next[cut.name] != 305 || v.states[cut.name].Code == tailer.StateFollowing {
		t.Fatalf("%s, whose link is down, sent up to line %d and is %+v", cut.name, v.next[cut.name]-1, v.states[cut.name])
	}
	if !strings.Contains(v.states[cut.name].Msg, "connection lost") && !strings.Contains(v.states[cut.name].Msg, "reconnect") {
		t.Fatalf("%s's status %+v does not say why", cut.name, v.states[cut.name])
	}
	cut.link.down(false)
	v.until(cut.name+"'s lines written while it was cut", v.have(cut.name, 355))
	v.until(cut.name+" following again", v.state(cut.name, tailer.StateFollowing))
	if !slices.Contains(v.marks[cut.name], tailer.MarkResumed) {
		t.Fatalf("%s came back without a %q mark in the view (marks: %v)", cut.name, tailer.MarkResumed, v.marks)
	}
	for _, h := range others {
		if len(v.marks[h.name]) > 0 {
			t.Fatalf("%s, never cut, has marks %v", h.name, v.marks[h.name])
		}
	}
	for _, h := range hosts {
		h.write(t, 355, 360)
	}
	v.until("lines after the link came back", v.all(hosts, 360))

	// Reconnect with the vector.
	logs := v.hello.Logs
	v.conn.Close()
	for _, h := range hosts {
		h.write(t, 360, 380)
	}
	var since, ids []string
	for _, h := range hosts {
		since = append(since, fmt.Sprintf("%s:%d", h.name, seq[h.name]))
		ids = append(ids, h.name+":"+logs[h.name])
	}
	v2 := dialFleet(t, m, url.Values{"group": {"web"}, "file": {file}, "since": {strings.Join(since, ",")}, "log": {strings.Join(ids, ",")}}, next, seq)
	if !v2.hello.Resumed {
		t.Fatalf("hello after a reconnect with since=%s log=%s: %+v, want resumed", strings.Join(since, ","), strings.Join(ids, ","), v2.hello)
	}
	v2.until("the lines written while the viewer was away", v2.all(hosts, 380))
	// One more line each: anything repeated would come before it.
	for _, h := range hosts {
		h.write(t, 380, 381)
	}
	v2.until("a last line per host", v2.all(hosts, 381))
}
