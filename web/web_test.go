package web_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

func TestReplayExactlyNThenLive(t *testing.T) {
	e := newEnv(t, envOpts{replay: 1000})
	p := e.path("app.log")
	appendLines(t, p, "line", 1, 2500)
	c := e.dial(t, query(p), nil)
	h := c.next()
	if h.Type != "hello" || h.V != 1 || h.Log == "" {
		t.Fatalf("first message %+v, want hello v1", h)
	}
	replay := c.lines(1000)
	if replay[0].text != "line 1501" || replay[999].text != "line 2500" {
		t.Fatalf("replay spans %q..%q, want line 1501..line 2500", replay[0].text, replay[999].text)
	}
	contiguous(t, replay)
	appendLines(t, p, "live", 1, 50)
	live := c.lines(50)
	for i, l := range live {
		if l.text != fmt.Sprintf("live %d", i+1) {
			t.Fatalf("live line %d is %q", i, l.text)
		}
	}
	contiguous(t, append(replay, live...))
}

func TestFilterChangesMidStream(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.path("app.log")
	sourcetest.Append(t, p, "INFO start\nERROR disk full\nWARN slow\nerror lower\n")
	c := e.dial(t, query(p), nil)
	c.nextType("hello")
	if got := texts(c.lines(4)); len(got) != 4 {
		t.Fatalf("replay %q", got)
	}

	c.send(map[string]any{"type": "filter", "text": "error"})
	if m := c.next(); m.Type != "reset" {
		t.Fatalf("want reset after a filter change, got %+v", m)
	}
	if got := texts(c.lines(2)); !slices.Equal(got, []string{"ERROR disk full", "error lower"}) {
		t.Fatalf("case-insensitive substring replay: %q", got)
	}
	sourcetest.Append(t, p, "INFO ok\nERROR again\n")
	if got := texts(c.lines(1)); got[0] != "ERROR again" {
		t.Fatalf("live filtered line %q", got[0])
	}

	c.send(map[string]any{"type": "filter", "text": "ERROR", "case": true})
	c.nextType("reset")
	if got := texts(c.lines(2)); !slices.Equal(got, []string{"ERROR disk full", "ERROR again"}) {
		t.Fatalf("case-sensitive: %q", got)
	}

	c.send(map[string]any{"type": "filter", "text": `^(WARN|INFO) \w+$`, "regex": true, "case": true})
	c.nextType("reset")
	if got := texts(c.lines(3)); !slices.Equal(got, []string{"INFO start", "WARN slow", "INFO ok"}) {
		t.Fatalf("regex: %q", got)
	}

	c.send(map[string]any{"type": "filter", "text": "error", "invert": true})
	c.nextType("reset")
	if got := texts(c.lines(3)); !slices.Equal(got, []string{"INFO start", "WARN slow", "INFO ok"}) {
		t.Fatalf("invert: %q", got)
	}
	sourcetest.Append(t, p, "ERROR hidden\nDEBUG shown\n")
	if got := texts(c.lines(1)); got[0] != "DEBUG shown" {
		t.Fatalf("invert live: %q", got)
	}
}

func TestFilterFromURL(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.path("app.log")
	sourcetest.Append(t, p, "a 1\nb 2\na 3\n")
	c := e.dial(t, query(p, "q", `a \d`, "re", "1"), nil)
	c.nextType("hello")
	if got := texts(c.lines(2)); !slices.Equal(got, []string{"a 1", "a 3"}) {
		t.Fatalf("filtered replay %q", got)
	}
}

func TestBadRegexKeepsConnection(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.path("app.log")
	sourcetest.Append(t, p, "one\n")
	c := e.dial(t, query(p), nil)
	c.nextType("hello")
	c.lines(1)
	c.send(map[string]any{"type": "filter", "text": "(unclosed", "regex": true})
	m := c.next()
	if m.Type != "error" || m.Code != "bad_filter" || !strings.Contains(m.Msg, "missing closing )") {
		t.Fatalf("want a bad_filter error frame naming the problem, got %+v", m)
	}
	sourcetest.Append(t, p, "two\n")
	if got := texts(c.lines(1)); got[0] != "two" {
		t.Fatalf("after a bad regex the stream goes on unfiltered; got %q", got)
	}
	c.send(map[string]any{"type": "nonsense"})
	if m := c.next(); m.Type != "error" || m.Code != "bad_message" {
		t.Fatalf("unknown message: %+v", m)
	}
	if _, err := e.dialErr(query(p, "q", "(", "re", "1"), nil, nil); !isHTTP(err, 400, "bad regular expression") {
		t.Fatalf("bad regex in the URL: %v", err)
	}
}

func TestResumeAfterReconnect(t *testing.T) {
	e := newEnv(t, envOpts{replay: 100})
	p := e.path("app.log")
	appendLines(t, p, "l", 1, 10)
	c := e.dial(t, query(p), nil)
	h := c.nextType("hello")
	first := c.lines(10)
	c.conn.Close()

	appendLines(t, p, "l", 11, 30)
	last := first[len(first)-1].seq
	c2 := e.dial(t, query(p, "log", h.Log, "since", fmt.Sprint(last)), nil)
	h2 := c2.nextType("hello")
	if !h2.Resumed || h2.Log != h.Log {
		t.Fatalf("hello after reconnect %+v: want resumed on log %s", h2, h.Log)
	}
	rest := c2.lines(20)
	all := append(first, rest...)
	contiguous(t, all)
	if rest[0].text != "l 11" || rest[19].text != "l 30" {
		t.Fatalf("resumed lines %q..%q", rest[0].text, rest[19].text)
	}

	// resume within a connection rewinds to a seq.
	c2.send(map[string]any{"type": "resume", "since": rest[14].seq})
	again := c2.lines(5)
	if again[0].seq != rest[15].seq || again[4].text != "l 30" {
		t.Fatalf("resume message replayed %+v", again)
	}
}

func TestResumeByPositionOnNewLog(t *testing.T) {
	// A restarted server has a new Log (new id, new seqs); the client's file
	// position ("at") still places it exactly.
	e := newEnv(t, envOpts{replay: 100})
	p := e.path("app.log")
	appendLines(t, p, "l", 1, 10)
	c := e.dial(t, query(p), nil)
	c.nextType("hello")
	var at string
	for n := 0; n < 10; {
		m := c.next()
		n += len(m.Lines)
		at = m.At
	}
	if at == "" {
		t.Fatal("lines frames carry no position")
	}
	appendLines(t, p, "l", 11, 12)
	c2 := e.dial(t, query(p, "log", "not-this-log", "since", "5", "at", at), nil)
	if h := c2.nextType("hello"); !h.Resumed {
		t.Fatalf("not resumed by position: %+v", h)
	}
	if got := texts(c2.lines(2)); !slices.Equal(got, []string{"l 11", "l 12"}) {
		t.Fatalf("resumed by position: %q", got)
	}
}

func TestSlowViewerGetsGapOthersDoNot(t *testing.T) {
	// A 2 MiB ring holds far fewer lines than are written; the fast viewer
	// keeps up (the writer waits for it after each 1 MB), the stalled one
	// falls off the ring.
	e := newEnv(t, envOpts{replay: 10, buffer: 2 << 20})
	p := e.path("app.log")
	sourcetest.Append(t, p, "")
	fast := e.dial(t, query(p), nil)
	fast.nextType("hello")

	slow, err := e.dialErr(query(p), nil, smallReadBuffer())
	if err != nil {
		t.Fatal(err)
	}
	slow.t = t
	defer slow.conn.Close()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	const total = 150_000 // 15 MB: more than socket buffers hold
	pad := strings.Repeat("x", 90)
	var got []got
	for from := 1; from <= total; from += 10_000 {
		appendLines(t, p, "L"+pad, from, from+9_999)
		got = append(got, fast.lines(10_000)...)
	}
	for i, l := range got {
		if want := fmt.Sprintf("L%s %d", pad, i+1); l.text != want {
			t.Fatalf("fast viewer line %d is %.40q, want %.40q", i, l.text, want)
		}
	}
	contiguous(t, got)

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 32<<20 {
		t.Errorf("heap grew by %d MiB while a viewer was stalled", grow>>20)
	}

	// Now the slow viewer reads: what was in flight, then a gap, then lines
	// through the end, with nothing twice.
	slow.start()
	var seqs []uint64
	gaps := 0
	var last uint64
	for last < uint64(total) {
		m := slow.next()
		switch m.Type {
		case "gap":
			gaps++
			if m.From > m.To || (len(seqs) > 0 && m.From != seqs[len(seqs)-1]+1) {
				t.Fatalf("gap %d..%d does not start after the last line %d", m.From, m.To, seqs[len(seqs)-1])
			}
			seqs = append(seqs, m.To) // the gap stands for these
			last = m.To
		case "lines":
			for _, l := range m.Lines {
				if len(seqs) > 0 && l.Seq != seqs[len(seqs)-1]+1 {
					t.Fatalf("slow viewer: seq %d after %d without a gap", l.Seq, seqs[len(seqs)-1])
				}
				seqs = append(seqs, l.Seq)
				last = l.Seq
			}
		}
	}
	if gaps == 0 {
		t.Fatal("the stalled viewer was never told of a gap")
	}
	t.Logf("stalled viewer: %d gap frames; heap grew %d KiB", gaps, (int64(after.HeapInuse)-int64(before.HeapInuse))>>10)
}

func TestOriginChecked(t *testing.T) {
	e := newEnv(t, envOpts{origins: []string{"https://logs.example.com"}})
	p := e.path("app.log")
	sourcetest.Append(t, p, "x\n")
	_, err := e.dialErr(query(p), http.Header{"Origin": {"http://evil.example"}}, nil)
	if !isHTTP(err, 403, "origin") {
		t.Fatalf("cross-origin upgrade: %v, want 403 naming the origin", err)
	}
	u, _ := url.Parse(e.url)
	for _, origin := range []string{"http://" + u.Host, "https://logs.example.com"} {
		c, err := e.dialErr(query(p), http.Header{"Origin": {origin}}, nil)
		if err != nil {
			t.Fatalf("origin %s refused: %v", origin, err)
		}
		c.conn.Close()
	}
}

func TestPathsRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.path("app.log")
	sourcetest.Append(t, p, "x\n")
	outside := filepath.Join(t.TempDir(), "secret.log")
	sourcetest.Append(t, outside, "secret\n")
	if err := os.Symlink(outside, e.path("escape.log")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, host, file string
		code             int
		reason           string
	}{
		{"traversal", "local", e.dir + "/../../etc/passwd", 403, ".."},
		{"traversal after glob", "local", e.dir + "/app.log/../../../etc/passwd", 403, ".."},
		{"not clean", "local", e.dir + "//app.log", 400, "clean"},
		{"relative", "local", "app.log", 400, "absolute"},
		{"outside the globs", "local", "/etc/passwd", 404, "not one of the files"},
		{"double-encoded traversal", "local", e.dir + "/%2e%2e/%2e%2e/etc/passwd", 404, "not one of the files"},
		{"symlink escape", "local", e.path("escape.log"), 404, "not one of the files"},
		{"unknown host", "nope", p, 404, "no host"},
		{"missing file", "local", "", 400, "missing file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.dialErr(url.Values{"host": {tt.host}, "file": {tt.file}}, nil, nil)
			if !isHTTP(err, tt.code, tt.reason) {
				t.Fatalf("got %v, want HTTP %d mentioning %q", err, tt.code, tt.reason)
			}
		})
	}
	// Encoded traversal in the raw query is decoded once, then refused.
	resp, err := http.Get(e.url + "/ws?host=local&file=" + e.dir + "/%2E%2E/%2e%2e/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("percent-encoded .. got HTTP %d, want 403", resp.StatusCode)
	}
}

func isHTTP(err error, code int, reason string) bool {
	var he *httpErr
	return errors.As(err, &he) && he.code == code && strings.Contains(he.msg, reason)
}

func TestAPI(t *testing.T) {
	e := newEnv(t, envOpts{})
	sourcetest.Append(t, e.path("old.log"), "o\n")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(e.path("old.log"), old, old); err != nil {
		t.Fatal(err)
	}
	sourcetest.Append(t, e.path("new.log"), "n\n")
	code, body := httpGet(t, e.url+"/api/hosts")
	if code != 200 || !strings.Contains(string(body), `"name":"local"`) {
		t.Fatalf("/api/hosts: %d %s", code, body)
	}
	code, body = httpGet(t, e.url+"/api/files?host=local")
	var files struct {
		Files []struct {
			Path string
			Size int64
		}
	}
	if err := json.Unmarshal(body, &files); code != 200 || err != nil || len(files.Files) != 2 ||
		files.Files[0].Path != e.path("new.log") || files.Files[1].Size != 2 {
		t.Fatalf("/api/files: %d %s", code, body)
	}
	if code, body = httpGet(t, e.url+"/api/files?host=nope"); code != 404 || !strings.Contains(string(body), "no host") {
		t.Fatalf("unknown host: %d %s", code, body)
	}
	if code, _ = httpGet(t, e.url+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if code, body = httpGet(t, e.url+"/"); code != 200 || !strings.Contains(string(body), "<title>logviewer</title>") {
		t.Fatalf("UI: %d", code)
	}
}

func TestOneTailPerLogAndIdleStop(t *testing.T) {
	e := newEnv(t, envOpts{idle: 100 * time.Millisecond})
	p := e.path("app.log")
	sourcetest.Append(t, p, "x\n")
	a := e.dial(t, query(p), nil)
	b := e.dial(t, query(p), nil)
	ha, hb := a.nextType("hello"), b.nextType("hello")
	if ha.Log != hb.Log || e.reg.Active() != 1 {
		t.Fatalf("two viewers of one file: logs %s and %s, %d tails", ha.Log, hb.Log, e.reg.Active())
	}
	a.conn.Close()
	b.conn.Close()
	e.waitNoTails(t)
}

func TestCloseSendsGoingAway(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.path("app.log")
	sourcetest.Append(t, p, "x\n")
	c := e.dial(t, query(p), nil)
	c.nextType("hello")
	e.srv.Close()
	for range c.in {
	}
	err := <-c.done
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("want close 1001 going away, got %v", err)
	}
}

func TestControlCharactersAndMarkers(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.path("app.log")
	sourcetest.Append(t, p, "")
	c := e.dial(t, query(p), nil)
	c.nextType("hello")
	sourcetest.Append(t, p, "<script>alert(1)</script> \x00\x07 \xff \u2028 \"q\" \\\n")
	got := c.lines(1)[0].text
	if want := "<script>alert(1)</script> ␀␇ \ufffd \u2028 \"q\" \\"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	sourcetest.Append(t, p, "after\n")
	ls := c.lines(2)
	if ls[0].mark != "truncated" || ls[1].text != "after" {
		t.Fatalf("want a truncated marker then the line, got %+v", ls)
	}
}

func TestResumeByPositionWaitsForAFreshLog(t *testing.T) {
	// The tail is stopped (as after a restart), so the reconnecting client
	// meets a new, empty Log: the server must wait for it to read the file.
	e := newEnv(t, envOpts{replay: 100, idle: time.Millisecond})
	p := e.path("app.log")
	appendLines(t, p, "l", 1, 10)
	c := e.dial(t, query(p), nil)
	h := c.nextType("hello")
	var at string
	for n := 0; n < 10; {
		m := c.next()
		n += len(m.Lines)
		at = m.At
	}
	c.conn.Close()
	e.waitNoTails(t)
	appendLines(t, p, "l", 11, 13)
	c2 := e.dial(t, query(p, "log", h.Log, "since", "10", "at", at), nil)
	h2 := c2.nextType("hello")
	if !h2.Resumed || h2.Log == h.Log {
		t.Fatalf("hello %+v: want resumed by position on a new log", h2)
	}
	if got := texts(c2.lines(3)); !slices.Equal(got, []string{"l 11", "l 12", "l 13"}) {
		t.Fatalf("after the restart: %q", got)
	}
}
