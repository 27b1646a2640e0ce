package web_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// request sends a GET with the given headers and returns the status and the
// JSON error, if any.
func request(t *testing.T, u string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

// TestDNSRebindingRefused is issue 8's first finding: with Host and Origin
// both naming a rebinding site, the API answered with the listing and /ws
// with lines. Every path is refused with 421 before any handler runs.
func TestDNSRebindingRefused(t *testing.T) {
	e := newEnv(t, envOpts{hosts: []string{"logs.internal"}})
	p := e.path("app.log")
	sourcetest.Append(t, p, "secret\n")
	u, _ := url.Parse(e.url)
	port := u.Port()
	evil := http.Header{"Host": {"evil.example:" + port}, "Origin": {"http://evil.example:" + port}}
	for _, path := range []string{"/api/files?host=local", "/api/hosts", "/ws?host=local&file=" + url.QueryEscape(p), "/", "/healthz"} {
		if code, reason := request(t, e.url+path, evil); code != http.StatusMisdirectedRequest || !strings.Contains(reason, "evil.example") {
			t.Errorf("%s with Host evil.example: HTTP %d %q, want 421 naming the host", path, code, reason)
		}
	}
	_, err := e.dialErr(query(p), evil, nil)
	if !isHTTP(err, http.StatusMisdirectedRequest, "evil.example") {
		t.Fatalf("WebSocket with Host evil.example: %v, want 421", err)
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST.:" + port, "app.localhost:" + port, "127.0.0.1:" + port, "127.3.4.5:" + port, "[::1]:" + port, "logs.internal:" + port, "logs.internal"} {
		if code, reason := request(t, e.url+"/api/hosts", http.Header{"Host": {host}}); code != 200 {
			t.Errorf("Host %s: HTTP %d %q, want 200", host, code, reason)
		}
	}
	if code, _ := request(t, e.url+"/api/hosts", http.Header{"Host": {"logs.internal.evil.example"}}); code != http.StatusMisdirectedRequest {
		t.Errorf("a name that only starts like an allowed one: HTTP %d, want 421", code)
	}
}

// TestOriginComparedWholly: the Origin must match scheme, host and port, on
// the API as on /ws (the API had no Origin check at all).
func TestOriginComparedWholly(t *testing.T) {
	e := newEnv(t, envOpts{origins: []string{"https://logs.example.com"}})
	p := e.path("app.log")
	sourcetest.Append(t, p, "x\n")
	u, _ := url.Parse(e.url)
	for _, tt := range []struct {
		origin string
		ok     bool
	}{
		{"http://" + u.Host, true},
		{"http://" + u.Host + "/", true},
		{"https://logs.example.com", true},
		{"https://logs.example.com:443", true},
		{"https://" + u.Host, false},                     // another scheme
		{"http://" + u.Hostname() + ":1", false},         // another port
		{"http://logs.example.com", false},               // allowed host, wrong scheme
		{"https://logs.example.com.evil.example", false}, // suffix
		{"null", false},
		{"http://" + u.Host + "/path", false},
	} {
		h := http.Header{"Origin": {tt.origin}}
		code, _ := request(t, e.url+"/api/files?host=local", h)
		_, err := e.dialErr(query(p), h, nil)
		if tt.ok != (code == 200) || tt.ok != (err == nil) {
			t.Errorf("Origin %q: API HTTP %d, WebSocket %v; want allowed=%v", tt.origin, code, err, tt.ok)
		}
	}
}

// TestPlainGETOnWSStartsNothing: 300 plain GETs of /ws (an <img> on any
// site can send them) used to leave 300 tails running until idle_stop.
func TestPlainGETOnWSStartsNothing(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i := range 300 {
		p := e.path(fmt.Sprintf("f%d.log", i))
		sourcetest.Append(t, p, "x\n")
		code, reason := request(t, e.url+"/ws?"+query(p).Encode(), nil)
		if code != http.StatusBadRequest || !strings.Contains(reason, "WebSocket") {
			t.Fatalf("plain GET: HTTP %d %q, want 400 asking for an upgrade", code, reason)
		}
	}
	if n := e.reg.Active(); n != 0 {
		t.Fatalf("%d tails started by plain GETs", n)
	}
	if code, reason := request(t, e.url+"/ws?"+query("/etc/passwd").Encode(), nil); code != 404 || !strings.Contains(reason, "not one of the files") {
		t.Fatalf("plain GET of a refused file: HTTP %d %q, want 404 with the reason", code, reason)
	}
}

// TestCostlyRegexRefusedConnectionStays: the filter that stalled a log for
// everyone (issue 8 item 3) is refused with bad_filter, in the URL and as a
// message, and the connection keeps working.
func TestCostlyRegexRefusedConnectionStays(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.path("app.log")
	appendLines(t, p, "a", 1, 5)
	attack := strings.Repeat(".{0,999}", 127)
	_, err := e.dialErr(query(p, "q", attack, "re", "1"), nil, nil)
	if !isHTTP(err, 400, "too complex") {
		t.Fatalf("costly regex in the URL: %v, want 400 too complex", err)
	}
	c := e.dial(t, query(p), nil)
	c.nextType("hello")
	c.lines(5)
	c.send(map[string]any{"type": "filter", "text": attack, "regex": true})
	if m := c.nextType("error"); m.Code != "bad_filter" || !strings.Contains(m.Msg, "too complex") {
		t.Fatalf("got %+v, want bad_filter saying too complex", m)
	}
	appendLines(t, p, "b", 6, 6)
	if got := c.lines(1); got[0].text != "b 6" {
		t.Fatalf("after the refused filter got %+v", got)
	}
}

// TestViewersPerClientCapped: one address may hold only so many viewers.
func TestViewersPerClientCapped(t *testing.T) {
	e := newEnv(t, envOpts{perIP: 3})
	p := e.path("app.log")
	sourcetest.Append(t, p, "x\n")
	var open []*client
	for range 3 {
		c := e.dial(t, query(p), nil)
		c.nextType("hello")
		open = append(open, c)
	}
	_, err := e.dialErr(query(p), nil, nil)
	if !isHTTP(err, http.StatusTooManyRequests, "too many viewers") {
		t.Fatalf("4th viewer: %v, want 429", err)
	}
	open[0].conn.Close()
	deadline := time.Now().Add(timeout)
	for {
		c, err := e.dialErr(query(p), nil, nil)
		if err == nil {
			c.conn.Close()
			break
		}
		if !isHTTP(err, http.StatusTooManyRequests, "") || time.Now().After(deadline) {
			t.Fatalf("after one viewer left: %v", err)
		}
		<-time.After(10 * time.Millisecond) // the server notices the close asynchronously
	}
}

// TestMaxLogs: a log beyond max_logs is refused with a clear error frame and
// close code 1013 (try again later); logs already open still accept viewers.
func TestMaxLogs(t *testing.T) {
	e := newEnv(t, envOpts{maxLogs: 2})
	var paths []string
	for i := range 3 {
		p := e.path(fmt.Sprintf("f%d.log", i))
		sourcetest.Append(t, p, "x\n")
		paths = append(paths, p)
	}
	for _, p := range paths[:2] {
		e.dial(t, query(p), nil).nextType("hello")
	}
	c := e.dial(t, query(paths[2]), nil)
	if m := c.next(); m.Type != "error" || !strings.Contains(m.Msg, "max_logs = 2") {
		t.Fatalf("third log: %+v, want an error naming max_logs", m)
	}
	var err error
	select {
	case err = <-c.done:
	case <-time.After(timeout):
		t.Fatal("not closed")
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater {
		t.Fatalf("third log closed with %v, want 1013", err)
	}
	e.dial(t, query(paths[0]), nil).nextType("hello")
	if n := e.reg.Active(); n != 2 {
		t.Fatalf("%d logs open, want 2", n)
	}
}

// TestFloodingViewerClosed: a viewer that sends message after message while
// never reading grew the server's heap without bound (issue 8 item 7); now
// its inbox is bounded and it is closed.
func TestFloodingViewerClosed(t *testing.T) {
	e := newEnv(t, envOpts{inflight: 1})
	p := e.path("app.log")
	appendLines(t, p, strings.Repeat("x", 1000), 1, 5000)
	c, err := e.dialErr(query(p), nil, smallReadBuffer())
	if err != nil {
		t.Fatal(err)
	}
	defer c.conn.Close()
	// Never read: the server's writes stall, so the room stops taking the
	// inbox. Each message below is a valid filter.
	msg := []byte(`{"type":"filter","text":"` + strings.Repeat("y", 1000) + `"}`)
	closed := false
	_ = c.conn.SetWriteDeadline(time.Now().Add(timeout))
	for i := 0; i < 100_000 && !closed; i++ {
		if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			closed = true
		}
	}
	if !closed {
		t.Fatal("the server kept reading 100,000 messages from a viewer that never reads")
	}
}
