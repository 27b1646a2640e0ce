package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/marks"
	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
	"github.com/logviewer/logviewer/web"
)

// unreachable is a host that cannot be reached: every call fails as a
// dropped network would.
type unreachable struct{}

func (unreachable) List(context.Context) ([]tailer.FileInfo, error) {
	return nil, errors.New("dial tcp 10.9.9.9:22: connect: no route to host")
}
func (unreachable) Check(context.Context, string) error {
	return errors.New("dial tcp 10.9.9.9:22: connect: no route to host")
}
func (unreachable) Follow(ctx context.Context, _ string, _ int, _ tailer.Sink) error {
	<-ctx.Done()
	return ctx.Err()
}

// rooted serves a directory as if it were the root: every host of a fleet
// then has "/app.log", each with its own content.
type rooted struct {
	src *local.Source
	dir string
}

func (r rooted) List(ctx context.Context) ([]tailer.FileInfo, error) {
	files, err := r.src.List(ctx)
	for i := range files {
		files[i].Path = strings.TrimPrefix(files[i].Path, r.dir)
	}
	return files, err
}
func (r rooted) Check(ctx context.Context, p string) error { return r.src.Check(ctx, r.dir+p) }
func (r rooted) Follow(ctx context.Context, p string, n int, sink tailer.Sink) error {
	return r.src.Follow(ctx, r.dir+p, n, sink)
}

type fleet struct {
	url  string
	dirs map[string]string // host → its directory
	reg  *tailer.Registry
}

// newFleet serves hosts each with a directory of *.log files; group "all"
// has them all, plus "down", which cannot be reached, when withDown.
func newFleet(t *testing.T, hosts []string, withDown bool, window time.Duration) *fleet {
	t.Helper()
	return newFleetWith(t, hosts, fleetOpts{withDown: withDown, window: window})
}

type fleetOpts struct {
	withDown bool
	window   time.Duration
	marks    *marks.Store
	auth     *auth.Authenticator
	dirs     map[string]string // reuse these directories (a restart)
}

func newFleetWith(t *testing.T, hosts []string, o fleetOpts) *fleet {
	t.Helper()
	withDown, window := o.withDown, o.window
	f := &fleet{dirs: map[string]string{}}
	sources := map[string]tailer.Source{}
	members := append([]string(nil), hosts...)
	for _, h := range hosts {
		f.dirs[h] = o.dirs[h]
		if f.dirs[h] == "" {
			f.dirs[h] = t.TempDir()
		}
		sources[h] = rooted{local.New([]string{filepath.Join(f.dirs[h], "*.log")}, local.Options{Poll: 50 * time.Millisecond}), f.dirs[h]}
	}
	if withDown {
		sources["down"] = unreachable{}
		members = append(members, "down")
	}
	topts := tailer.Options{Replay: 100, Buffer: 8 << 20, IdleStop: time.Minute, Groups: map[string][]string{"all": members}}
	if o.marks != nil {
		topts.Marks = func(host, path string) []tailer.Line {
			var lines []tailer.Line
			for _, m := range o.marks.List(func(m *marks.Mark) bool { return m.Applies(host, path) }) {
				lines = append(lines, web.MarkLine(m))
			}
			return lines
		}
	}
	f.reg = tailer.NewRegistry(sources, topts)
	srv := web.New(f.reg, web.Options{Replay: 100, ReorderWindow: window, Marks: o.marks, Auth: o.auth})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		f.reg.Close()
	})
	f.url = hs.URL
	return f
}

func (f *fleet) write(t *testing.T, host, text string) {
	t.Helper()
	sourcetest.Append(t, filepath.Join(f.dirs[host], "app.log"), text)
}

type mline struct {
	Seq  uint64 `json:"seq"`
	TS   int64  `json:"ts"`
	Host string `json:"host"`
	Text string `json:"text"`
	Mark string `json:"mark"`
}

type mmsg struct {
	Type    string            `json:"type"`
	Merged  bool              `json:"merged"`
	Hosts   []string          `json:"hosts"`
	Logs    map[string]string `json:"logs"`
	Resumed bool              `json:"resumed"`
	Replay  bool              `json:"replay"`
	Host    string            `json:"host"`
	Lines   []mline           `json:"lines"`
	State   tailer.State      `json:"state"`
	From    uint64            `json:"from"`
	To      uint64            `json:"to"`
}

type mclient struct {
	t    *testing.T
	conn *websocket.Conn
}

func (f *fleet) dial(t *testing.T, q url.Values) *mclient {
	t.Helper()
	conn, _, err := (&websocket.Dialer{HandshakeTimeout: timeout}).Dial("ws"+strings.TrimPrefix(f.url, "http")+"/ws?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &mclient{t: t, conn: conn}
}

func (c *mclient) next() mmsg {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	var m mmsg
	if err := c.conn.ReadJSON(&m); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// lines reads until n lines arrived (status frames are recorded).
func (c *mclient) lines(n int, states map[string]tailer.State) []mline {
	c.t.Helper()
	var out []mline
	for len(out) < n {
		m := c.next()
		switch m.Type {
		case "lines":
			out = append(out, m.Lines...)
		case "status":
			if states != nil {
				states[m.Host] = m.State
			}
		case "hello":
		default:
			c.t.Fatalf("unexpected %+v", m)
		}
	}
	if len(out) != n {
		c.t.Fatalf("%d lines, want %d: %+v", len(out), n, out)
	}
	return out
}

func hostTexts(ls []mline) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Host+":"+l.Text)
	}
	return out
}

const app = "/app.log"

func group(kv ...string) url.Values {
	q := url.Values{"group": {"all"}, "file": {app}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// TestMergedViewOrdersByTheLinesOwnTime: replayed and live lines of several
// hosts come in the order of their own timestamps, host-tagged; a host
// whose clock is 2 s ahead is ordered by its own (later) times; a host
// writing no timestamps is ordered by receipt time.
func TestMergedViewOrdersByTheLinesOwnTime(t *testing.T) {
	f := newFleet(t, []string{"a", "b", "c"}, false, time.Second)
	ts := func(ms int) string {
		return time.Date(2026, 11, 28, 8, 0, 0, ms*int(time.Millisecond), time.UTC).Format("2006-01-02T15:04:05.000Z")
	}
	f.write(t, "a", ts(100)+" a1\n"+ts(400)+" a4\n")
	f.write(t, "b", ts(200)+" b2\n"+ts(300)+" b3\n")
	f.write(t, "c", "") // the file exists, empty
	c := f.dial(t, group())
	if h := c.next(); h.Type != "hello" || !h.Merged || len(h.Hosts) != 3 || len(h.Logs) != 3 {
		t.Fatalf("hello %+v", h)
	}
	got := hostTexts(c.lines(4, nil))
	if want := "a:" + ts(100) + " a1,b:" + ts(200) + " b2,b:" + ts(300) + " b3,a:" + ts(400) + " a4"; strings.Join(got, ",") != want {
		t.Fatalf("replay order\n got %v\nwant %v", got, want)
	}
	// Live: b's clock is 2 s ahead; a writes a later line first, then b a
	// line with an earlier time. Within the window, time order wins.
	f.write(t, "a", ts(2600)+" a26\n")
	f.write(t, "b", ts(2500)+" b25 (clock 2 s ahead of its real 0.5)\n")
	f.write(t, "a", ts(2700)+" a27\n")
	got = hostTexts(c.lines(3, nil))
	if !strings.HasPrefix(got[0], "b:") || !strings.Contains(got[1], "a26") || !strings.Contains(got[2], "a27") {
		t.Fatalf("live order %v: want b25, a26, a27", got)
	}
	// c writes no timestamps: ordered by when it was read.
	f.write(t, "c", "no time here\n")
	if got := c.lines(1, nil); got[0].Host != "c" || got[0].Text != "no time here" {
		t.Fatalf("%+v", got)
	}
}

// TestMergedViewEveryLineOnceInOrderPerHost: three hosts writing
// interleaved, each line arrives once, tagged, in order per host.
func TestMergedViewEveryLineOnceInOrderPerHost(t *testing.T) {
	hosts := []string{"h1", "h2", "h3"}
	f := newFleet(t, hosts, false, 100*time.Millisecond)
	for _, h := range hosts {
		f.write(t, h, "")
	}
	c := f.dial(t, group())
	c.next() // hello
	const n = 300
	for i := range n {
		for _, h := range hosts {
			f.write(t, h, fmt.Sprintf("%s line %d\n", h, i))
		}
	}
	next := map[string]int{}
	for total := 0; total < n*len(hosts); {
		_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
		var m mmsg
		if err := c.conn.ReadJSON(&m); err != nil {
			t.Fatalf("after %d lines (per host %v): %v", total, next, err)
		}
		for _, l := range m.Lines {
			if want := fmt.Sprintf("%s line %d", l.Host, next[l.Host]); l.Text != want {
				t.Fatalf("from %s got %q, want %q: lost, repeated or out of order", l.Host, l.Text, want)
			}
			next[l.Host]++
			total++
		}
	}
}

// TestMergedViewResumesByVector: after a reconnect with since=HOST:SEQ,…
// and the logs' ids, exactly the lines written meanwhile arrive.
func TestMergedViewResumesByVector(t *testing.T) {
	f := newFleet(t, []string{"a", "b"}, false, 100*time.Millisecond)
	f.write(t, "a", "a0\n")
	f.write(t, "b", "b0\n")
	c := f.dial(t, group())
	h := c.next()
	got := c.lines(2, nil)
	last := map[string]uint64{}
	for _, l := range got {
		last[l.Host] = l.Seq
	}
	c.conn.Close()
	f.write(t, "a", "a1\na2\n")
	f.write(t, "b", "b1\n")
	since := fmt.Sprintf("a:%d,b:%d", last["a"], last["b"])
	logs := fmt.Sprintf("a:%s,b:%s", h.Logs["a"], h.Logs["b"])
	c2 := f.dial(t, group("since", since, "log", logs))
	if h2 := c2.next(); !h2.Resumed {
		t.Fatalf("not resumed: %+v", h2)
	}
	got = c2.lines(3, nil)
	var texts []string
	for _, l := range got {
		texts = append(texts, l.Text)
	}
	joined := strings.Join(texts, ",")
	if !strings.Contains(joined, "a1") || !strings.Contains(joined, "a2") || !strings.Contains(joined, "b1") || strings.Contains(joined, "0") {
		t.Fatalf("after resume: %v", texts)
	}
	if strings.Index(joined, "a1") > strings.Index(joined, "a2") {
		t.Fatalf("a's order broken: %v", texts)
	}
}

// TestUnreachableMemberHoldsNoOneBack: a member that cannot be reached
// shows its error in a status frame, and the others' lines flow without
// waiting for it.
func TestUnreachableMemberHoldsNoOneBack(t *testing.T) {
	f := newFleet(t, []string{"a"}, true, time.Hour)
	f.write(t, "a", "a0\n")
	c := f.dial(t, group())
	if h := c.next(); len(h.Hosts) != 2 {
		t.Fatalf("hello %+v", h)
	}
	states := map[string]tailer.State{}
	c.lines(1, states)
	f.write(t, "a", "a1\n")
	if got := c.lines(1, states); got[0].Text != "a1" {
		t.Fatalf("%+v", got)
	}
	for states["down"].Code != tailer.StateError {
		m := c.next()
		if m.Type == "status" {
			states[m.Host] = m.State
		}
	}
	if !strings.Contains(states["down"].Msg, "no route to host") {
		t.Fatalf("down's state %+v", states["down"])
	}
}

func TestGroupsAPI(t *testing.T) {
	f := newFleet(t, []string{"a", "b"}, true, time.Second)
	f.write(t, "a", "x\n")
	f.write(t, "b", "x\n")
	sourcetest.Append(t, filepath.Join(f.dirs["a"], "only-a.log"), "y\n")
	code, body := httpGet(t, f.url+"/api/groups")
	if code != 200 || !strings.Contains(string(body), `{"name":"all","hosts":["a","b","down"]}`) {
		t.Fatalf("/api/groups: %d %s", code, body)
	}
	if _, body := httpGet(t, f.url+"/api/hosts"); !strings.Contains(string(body), `"groups":["all"]`) {
		t.Fatalf("/api/hosts: %s", body)
	}
	code, body = httpGet(t, f.url+"/api/files?group=all")
	s := string(body)
	if code != 200 || !strings.Contains(s, `"path":"/app.log"`) || !strings.Contains(s, `"hosts":2`) || !strings.Contains(s, `"path":"/only-a.log"`) || !strings.Contains(s, "no route to host") {
		t.Fatalf("/api/files?group=all: %d %s", code, s)
	}
	if code, _ := httpGet(t, f.url+"/api/files?group=nope"); code != 404 {
		t.Fatalf("unknown group: %d", code)
	}
}

// postMark posts a mark and returns the HTTP status and body.
func (f *fleet) postMark(t *testing.T, token string, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.url+"/api/marks", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDeployMarks: a CI token posts a mark for a group; it shows (once) in
// an open merged view and in single views, in views opened later, survives
// a restart, and from=mark:ID starts a view there.
func TestDeployMarks(t *testing.T) {
	dir := t.TempDir()
	store, err := marks.Open(filepath.Join(dir, "marks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("ci-secret"))
	authn := func() *auth.Authenticator {
		return auth.New(auth.Options{Mode: auth.ModeNone, Tokens: auth.NewTokens([]auth.Token{
			{Name: "ci", SHA256: hex.EncodeToString(sum[:]), Scopes: []string{"marks"}},
			{Name: "reader", SHA256: strings.Repeat("0", 64), Scopes: []string{"read"}},
		})})
	}
	f := newFleetWith(t, []string{"a", "b"}, fleetOpts{window: 100 * time.Millisecond, marks: store, auth: authn()})
	// Lines with their own time, so that after a restart the mark is placed
	// between them (lines without a time count as read at the restart).
	stamp := func() string { return time.Now().UTC().Format(time.RFC3339Nano) }
	f.write(t, "a", stamp()+" a before\n")
	f.write(t, "b", stamp()+" b before\n")
	// A mark's time is in milliseconds: one posted in the millisecond of
	// "b before" would be placed before it, by time (about 1 run in 200).
	for last := time.Now().UnixMilli(); time.Now().UnixMilli() <= last; {
		time.Sleep(100 * time.Microsecond) // until the clock's millisecond moves on
	}
	c := f.dial(t, group())
	c.next()
	c.lines(2, nil)

	if code, _ := f.postMark(t, "wrong", `{"text":"x","group":"all"}`); code != 401 {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	if code, body := f.postMark(t, "ci-secret", `{"text":"deploy v2","group":"nope"}`); code != 404 {
		t.Fatalf("unknown group: %d %s", code, body)
	}
	code, body := f.postMark(t, "ci-secret", `{"text":"deploy v2","group":"all"}`)
	var posted struct{ ID, TS string }
	if code != 200 || json.Unmarshal([]byte(body), &posted) != nil || posted.ID == "" {
		t.Fatalf("post: %d %s", code, body)
	}
	got := c.lines(1, nil)
	if got[0].Mark != "deploy" || got[0].Text != "deploy v2" {
		t.Fatalf("open merged view got %+v, want the mark once", got)
	}
	f.write(t, "a", stamp()+" a after\n")
	if got := c.lines(1, nil); !strings.HasSuffix(got[0].Text, " a after") {
		t.Fatalf("after the mark: %+v (a second copy of the mark?)", got)
	}

	// A single view opened later shows it between the lines.
	code, list := httpGet(t, f.url+"/api/marks?group=all")
	if code != 200 || !strings.Contains(string(list), posted.ID) {
		t.Fatalf("/api/marks: %d %s", code, list)
	}
	f.reg.Close() // a restart: new logs, marks from the file
	store2, err := marks.Open(filepath.Join(dir, "marks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	f2 := newFleetWith(t, []string{"a", "b"}, fleetOpts{window: 100 * time.Millisecond, marks: store2, auth: authn(), dirs: f.dirs})
	c2 := f2.dial(t, url.Values{"host": {"a"}, "file": {app}, "from": {"mark:" + posted.ID}})
	c2.next()
	got = c2.lines(2, nil)
	if got[0].Mark != "deploy" || !strings.HasSuffix(got[1].Text, " a after") {
		t.Fatalf("from=mark after a restart: %+v, want the mark then the line after it", got)
	}
	if _, _, err := (&websocket.Dialer{}).Dial("ws"+strings.TrimPrefix(f2.url, "http")+"/ws?"+url.Values{"host": {"a"}, "file": {app}, "from": {"mark:nope"}}.Encode(), nil); err == nil {
		t.Fatal("from=mark:nope accepted")
	}
}

// TestMergedFilterMatchesHost: in a merged view the filter matches the host
// tag too.
func TestMergedFilterMatchesHost(t *testing.T) {
	f := newFleet(t, []string{"alpha", "beta"}, false, 50*time.Millisecond)
	f.write(t, "alpha", "one\n")
	f.write(t, "beta", "two\n")
	c := f.dial(t, group("q", "beta"))
	c.next()
	if got := c.lines(1, nil); got[0].Host != "beta" || got[0].Text != "two" {
		t.Fatalf("filter by host: %+v", got)
	}
}
