package web_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// countingConn counts the bytes a client reads from the network.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestCompression: permessage-deflate is agreed only when the server has it
// on and the client offers it (as every browser does), and lines arrive
// intact either way; when it is agreed, frames really are compressed.
func TestCompression(t *testing.T) {
	// Lines a compressor could get wrong: long and repetitive (one frame,
	// several flate blocks), JSON escapes, multi-byte UTF-8, an empty line.
	long := strings.Repeat("GET /api/v1/orders/123 200 ", 2000)
	replay := []string{long, `quote " and backslash \ and tab` + "\t.", "", "unicode: żółć ✓ 日本"}
	live := []string{"after 1", strings.Repeat("x", 50000), "after 3"}
	for _, tc := range []struct {
		server, client, want bool
	}{
		{server: false, client: false, want: false},
		{server: false, client: true, want: false},
		{server: true, client: false, want: false},
		{server: true, client: true, want: true},
	} {
		t.Run(fmt.Sprintf("server=%v,client=%v", tc.server, tc.client), func(t *testing.T) {
			e := newEnv(t, envOpts{compress: tc.server})
			p := e.path("app.log")
			sourcetest.Append(t, p, strings.Join(replay, "\n")+"\n")

			var read atomic.Int64
			d := &websocket.Dialer{
				HandshakeTimeout:  timeout,
				EnableCompression: tc.client,
				NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					return countingConn{Conn: c, n: &read}, nil
				},
			}
			conn, resp, err := d.Dial(e.wsURL(query(p)), nil)
			if err != nil {
				t.Fatal(err)
			}
			c := &client{t: t, conn: conn, in: make(chan msg, 1<<10), done: make(chan error, 1)}
			c.start()
			t.Cleanup(func() { conn.Close() })
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if got := strings.Contains(ext, "permessage-deflate"); got != tc.want {
				t.Fatalf("Sec-WebSocket-Extensions %q: permessage-deflate agreed %v, want %v", ext, got, tc.want)
			}

			c.nextType("hello")
			if got := texts(c.lines(len(replay))); !slices.Equal(got, replay) {
				t.Fatalf("replay arrived changed: %.200q", got)
			}
			// The replay frame carries the 54,000-byte line once: compressed,
			// far fewer bytes cross the wire than it holds.
			n := read.Load()
			if tc.want && n >= int64(len(long)) {
				t.Errorf("compression agreed, but %d bytes read for a %d-byte line", n, len(long))
			}
			if !tc.want && n < int64(len(long)) {
				t.Errorf("no compression, yet only %d bytes read for a %d-byte line", n, len(long))
			}

			sourcetest.Append(t, p, strings.Join(live, "\n")+"\n")
			got := c.lines(len(live))
			if !slices.Equal(texts(got), live) {
				t.Fatalf("live lines arrived changed: %.200q", texts(got))
			}
			contiguous(t, got)
		})
	}
}
