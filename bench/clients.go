package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// dial opens a WebSocket from a loopback source address chosen by i
// (127.0.0.2 … 127.0.0.33), so that tens of thousands of connections, over
// several runs, do not run out of ephemeral ports.
func dial(ctx context.Context, url string, i int, readBuf int) (*websocket.Conn, error) {
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%32))}}
	d := &websocket.Dialer{
		HandshakeTimeout: 30 * time.Second,
		ReadBufferSize:   readBuf,
		WriteBufferSize:  512,
		NetDialContext:   nd.DialContext,
	}
	conn, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			return nil, fmt.Errorf("dial %s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return conn, nil
}

// readLoop hands every message to handle with its time of arrival, reusing
// one buffer, until the connection ends.
func readLoop(conn *websocket.Conn, t *track, handle func(msg []byte, at int64)) {
	defer close(t.closed)
	var buf []byte
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			return
		}
		buf, err = readInto(r, buf[:0])
		if err != nil {
			return
		}
		handle(buf, now())
	}
}

func readInto(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// lvViewer speaks logviewer's protocol (README.md, "Protocol"): it checks
// that the writer's numbers in the text run without a hole, and that no gap,
// error or reset frame arrives.
type lvViewer struct {
	conn *websocket.Conn
	t    *track
}

func dialLogviewer(ctx context.Context, base, host, file string, t *track, i, readBuf int) (*websocket.Conn, error) {
	u := "ws" + base[len("http"):] + "/ws?" + url.Values{"host": {host}, "file": {file}}.Encode()
	conn, err := dial(ctx, u, i, readBuf)
	if err != nil {
		return nil, err
	}
	v := &lvViewer{conn: conn, t: t}
	go readLoop(conn, t, v.handle)
	return conn, nil
}

const linesPrefix = `{"type":"lines","lines":[`

func (v *lvViewer) handle(msg []byte, at int64) {
	if bytes.HasPrefix(msg, []byte(linesPrefix)) {
		if err := v.lines(msg[len(linesPrefix):], at); err != nil {
			v.t.fault(err.Error())
		}
		return
	}
	var m struct {
		State struct {
			Code string `json:"code"`
		} `json:"state"`
		Type   string `json:"type"`
		From   uint64 `json:"from"`
		To     uint64 `json:"to"`
		Code   string `json:"code"`
		Msg    string `json:"msg"`
		Reason string `json:"reason"`
		Last   uint64 `json:"last"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		v.t.fault(fmt.Sprintf("bad frame %.100q: %v", msg, err))
		return
	}
	switch m.Type {
	case "hello":
		close(v.t.ready)
		v.t.state(m.State.Code)
	case "status":
		v.t.state(m.State.Code)
	case "gap":
		v.t.gap(fmt.Sprintf("gap frame: lines %d..%d not sent", m.From, m.To))
	case "error":
		v.t.fault("error frame: " + m.Code + ": " + m.Msg)
	case "reset":
		v.t.fault("reset frame: " + m.Reason)
	default:
		v.t.fault(fmt.Sprintf("unknown frame %.100q", msg))
	}
}

// lines parses a lines frame's array without reflection, as cheaply as it
// can (the viewers share the machine with the server): the writer's lines
// are lineLen-1 bytes and need no JSON escapes, so each text is found by
// skipping the seq and ts fields (and pos, or any field before text) and
// checked against the seq expected next.
func (v *lvViewer) lines(p []byte, at int64) error {
	for len(p) > 0 && p[0] != ']' {
		var ok bool
		if p, ok = cut(p, `{"seq":`); !ok {
			return fmt.Errorf("lines frame: want seq at %.60q", p)
		}
		i := bytes.IndexByte(p, '"') // "ts"
		if i < 0 {
			return fmt.Errorf("lines frame: want ts at %.60q", p)
		}
		if p, ok = cut(p[i:], `"ts":`); !ok {
			return fmt.Errorf("lines frame: want ts at %.60q", p)
		}
		i = bytes.Index(p, []byte(`"text":"`)) // after "pos" and any other field
		if i < 0 {
			return fmt.Errorf("lines frame: want text at %.60q", p)
		}
		p = p[i+len(`"text":"`):]
		var text []byte
		if len(p) > lineLen-1 && p[lineLen-1] == '"' {
			text, p = p[:lineLen-1], p[lineLen:]
		} else {
			i := bytes.IndexByte(p, '"')
			if i < 0 {
				return fmt.Errorf("lines frame: unterminated text")
			}
			text, p = p[:i], p[i+1:]
		}
		if len(p) > 0 && p[0] == '}' {
			p = p[1:]
		} else {
			return fmt.Errorf("unexpected line %q (a marker?), followed by %.60q", text, p)
		}
		if len(p) > 0 && p[0] == ',' {
			p = p[1:]
		}
		v.t.text(text, at)
	}
	return nil
}

func cut(p []byte, prefix string) ([]byte, bool) {
	if len(p) < len(prefix) || string(p[:len(prefix)]) != prefix {
		return p, false
	}
	return p[len(prefix):], true
}

// ftViewer speaks just enough engine.io v3 / socket.io v2 (what frontail
// 4.9.2 uses: socket.io 2.3.0, engine.io 3.4.2) over a WebSocket to join
// frontail's namespace and receive its "line" events.
type ftViewer struct {
	conn   *websocket.Conn
	t      *track
	ns     string // "/<md5 of the file list>"
	linePf []byte // `42/<ns>,["line","`
}

func dialFrontail(ctx context.Context, base, ns string, t *track, i, readBuf int) (*websocket.Conn, error) {
	u := "ws" + base[len("http"):] + "/socket.io/?EIO=3&transport=websocket"
	conn, err := dial(ctx, u, i, readBuf)
	if err != nil {
		return nil, err
	}
	v := &ftViewer{conn: conn, t: t, ns: ns, linePf: []byte(`42` + ns + `,["line","`)}
	// Engine.io open ("0{…}") and socket.io's connect to "/" ("40") come first.
	if err := conn.WriteMessage(websocket.TextMessage, []byte("40"+ns+",")); err != nil {
		conn.Close()
		return nil, err
	}
	go readLoop(conn, t, v.handle)
	go v.ping()
	return conn, nil
}

// ping keeps the engine.io session alive (the server's pingInterval is 25s).
func (v *ftViewer) ping() {
	tick := time.NewTicker(20 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-v.t.closed:
			return
		case <-tick.C:
			if v.conn.WriteMessage(websocket.TextMessage, []byte("2")) != nil {
				return
			}
		}
	}
}

func (v *ftViewer) handle(msg []byte, at int64) {
	if bytes.HasPrefix(msg, v.linePf) && bytes.HasSuffix(msg, []byte(`"]`)) {
		v.t.text(msg[len(v.linePf):len(msg)-2], at)
		return
	}
	s := string(msg)
	switch {
	case s == "40"+v.ns+",":
		close(v.t.ready)
		v.t.state("following") // frontail's tail -F runs from its start
	case s == "3", s == "40", len(s) > 0 && s[0] == '0':
		// pong, connect to "/", engine.io open
	case len(s) > 3+len(v.ns) && s[:3+len(v.ns)] == "42"+v.ns+",":
		// options:* events
	default:
		v.t.fault("unexpected socket.io packet " + strconv.Quote(s))
	}
}
