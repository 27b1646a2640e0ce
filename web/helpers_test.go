package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/tailer"
	"github.com/logviewer/logviewer/web"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

const timeout = 20 * time.Second

type env struct {
	dir string
	url string
	reg *tailer.Registry
	srv *web.Server
}

type envOpts struct {
	replay   int
	buffer   int64
	idle     time.Duration
	origins  []string
	hosts    []string // allowed Host names
	inflight int
	maxLogs  int
	perIP    int  // viewers per client address
	compress bool // negotiate permessage-deflate (web.Options.Compression)
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.replay == 0 {
		o.replay = 1000
	}
	if o.buffer == 0 {
		o.buffer = 8 << 20
	}
	if o.idle == 0 {
		o.idle = time.Minute
	}
	dir := t.TempDir()
	reg := tailer.NewRegistry(map[string]tailer.Source{
		"local": local.New([]string{filepath.Join(dir, "*.log")}, local.Options{Poll: 50 * time.Millisecond}),
	}, tailer.Options{Replay: o.replay, Buffer: o.buffer, IdleStop: o.idle, MaxLogs: o.maxLogs})
	srv := web.New(reg, web.Options{Replay: o.replay, AllowedOrigins: o.origins, AllowedHosts: o.hosts, MaxInflight: o.inflight, MaxViewersPerClient: o.perIP, Compression: o.compress})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		reg.Close()
	})
	return &env{dir: dir, url: hs.URL, reg: reg, srv: srv}
}

func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

func appendLines(t testing.TB, path, prefix string, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	sourcetest.Append(t, path, b.String())
}

// msg is any server message.
type msg struct {
	Type    string `json:"type"`
	V       int    `json:"v"`
	Log     string `json:"log"`
	First   uint64 `json:"first"`
	Last    uint64 `json:"last"`
	Resumed bool   `json:"resumed"`
	Replay  bool   `json:"replay"`
	At      string `json:"at"`
	From    uint64 `json:"from"`
	To      uint64 `json:"to"`
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	Reason  string `json:"reason"`
	State   struct {
		Code string `json:"code"`
	} `json:"state"`
	Lines []struct {
		Seq  uint64 `json:"seq"`
		TS   int64  `json:"ts"`
		Text string `json:"text"`
		Mark string `json:"mark"`
		Cont bool   `json:"cont"`
		Ctx  bool   `json:"ctx"`
	} `json:"lines"`
}

type client struct {
	t    *testing.T
	conn *websocket.Conn
	in   chan msg
	done chan error
}

func (e *env) wsURL(q url.Values) string {
	return "ws" + strings.TrimPrefix(e.url, "http") + "/ws?" + q.Encode()
}

func query(file string, kv ...string) url.Values {
	q := url.Values{"host": {"local"}, "file": {file}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// dial connects and starts reading unless paused is set (then call readAll later).
func (e *env) dial(t *testing.T, q url.Values, header http.Header) *client {
	t.Helper()
	c, err := e.dialErr(q, header, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	c.start()
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func (e *env) dialErr(q url.Values, header http.Header, d *websocket.Dialer) (*client, error) {
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: timeout}
	}
	conn, resp, err := d.Dial(e.wsURL(q), header)
	if err != nil {
		if resp != nil {
			var body struct{ Error string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return nil, &httpErr{resp.StatusCode, body.Error}
		}
		return nil, err
	}
	return &client{conn: conn, in: make(chan msg, 1<<16), done: make(chan error, 1)}, nil
}

type httpErr struct {
	code int
	msg  string
}

func (h *httpErr) Error() string { return fmt.Sprintf("HTTP %d: %s", h.code, h.msg) }

func (c *client) start() {
	go func() {
		for {
			var m msg
			if err := c.conn.ReadJSON(&m); err != nil {
				c.done <- err
				close(c.in)
				return
			}
			c.in <- m
		}
	}()
}

func (c *client) next() msg {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatalf("connection closed: %v", <-c.done)
		}
		return m
	case <-time.After(timeout):
		c.t.Fatalf("no message within %s", timeout)
	}
	return msg{}
}

// nextType skips lines frames until a message of type typ arrives.
func (c *client) nextType(typ string) msg {
	c.t.Helper()
	for {
		if m := c.next(); m.Type == typ {
			return m
		}
	}
}

type got struct {
	seq  uint64
	text string
	mark string
}

// lines reads until n lines (markers included) arrived; other messages fail
// the test unless they are status frames.
func (c *client) lines(n int) []got {
	c.t.Helper()
	var out []got
	for len(out) < n {
		m := c.next()
		switch m.Type {
		case "lines":
			for _, l := range m.Lines {
				out = append(out, got{l.Seq, l.Text, l.Mark})
			}
		case "status":
		default:
			c.t.Fatalf("unexpected %s message %+v while waiting for lines (have %d of %d)", m.Type, m, len(out), n)
		}
	}
	if len(out) != n {
		c.t.Fatalf("got %d lines, want exactly %d (last %+v)", len(out), n, out[len(out)-1])
	}
	return out
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

func texts(ls []got) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.text)
	}
	return out
}

func contiguous(t *testing.T, ls []got) {
	t.Helper()
	for i := 1; i < len(ls); i++ {
		if ls[i].seq != ls[i-1].seq+1 {
			t.Fatalf("seq %d follows %d: hole or duplicate", ls[i].seq, ls[i-1].seq)
		}
	}
}

// smallReadBuffer dials with a tiny socket receive buffer, so a client that
// stops reading stalls the server's writes quickly.
func smallReadBuffer() *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: timeout,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				_ = c.(*net.TCPConn).SetReadBuffer(128 << 10)
			}
			return c, err
		},
	}
}

func httpGet(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, []byte(b.String())
}

// waitNoTails waits until every tail has stopped (after the idle delay).
func (e *env) waitNoTails(t *testing.T) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		changed := e.reg.Changed()
		if e.reg.Active() == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%d tails still running after their viewers left and the idle delay passed", e.reg.Active())
		}
	}
}
