// Package web serves logviewer's browser UI, its JSON API and the WebSocket
// endpoint through which viewers follow logs (see README.md, "Protocol").
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/olahol/melody"

	"github.com/logviewer/logviewer/tailer"
)

// Options configure a Server.
type Options struct {
	Replay         int      // lines a new viewer is sent first
	AllowedOrigins []string // origins besides the page's own that may open /ws
	UI             fs.FS    // the browser UI; nil: the embedded one
	Logger         *slog.Logger

	FlushInterval time.Duration // 0: 15ms
	MaxInflight   int           // 0: 4 frames per viewer
	MaxBatch      int           // 0: 2000 lines per frame
	MaxFrameBytes int           // 0: 512 KiB
}

// HostStater is implemented by Sources that know their host's condition
// (a remote host's connection); the host list shows it.
type HostStater interface {
	HostState() tailer.State
}

// Server is the HTTP side of logviewer. Create it with New, serve its
// Handler, and Close it to tell every browser goodbye.
type Server struct {
	reg  *tailer.Registry
	opts Options
	log  *slog.Logger
	m    *melody.Melody
	mux  *http.ServeMux

	mu     sync.Mutex
	rooms  map[*tailer.Log]*room
	wg     sync.WaitGroup
	closed bool
}

// New returns a Server over reg.
func New(reg *tailer.Registry, opts Options) *Server {
	if opts.Replay <= 0 {
		opts.Replay = 1000
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = defaultFlushInterval
	}
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = defaultMaxInflight
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = defaultMaxBatch
	}
	if opts.MaxFrameBytes <= 0 {
		opts.MaxFrameBytes = defaultMaxFrameBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.UI == nil {
		opts.UI = EmbeddedUI()
	}
	s := &Server{reg: reg, opts: opts, log: opts.Logger, rooms: map[*tailer.Log]*room{}}

	m := melody.New()
	// melody's defaults accept every Origin, drop frames silently when a
	// session's buffer fills, and cap inbound messages at 512 bytes; each is
	// set on purpose here. Flow control (MaxInflight) keeps the buffer from
	// ever filling: it only needs room for that many frames plus control frames.
	m.Upgrader.CheckOrigin = func(r *http.Request) bool { return s.originAllowed(r) == nil }
	// Writes go through a 64 KiB buffer from a pool (gorilla sends a message
	// in write-buffer-sized pieces: 4 KiB would mean 128 writes for a 512 KiB
	// frame), so an idle viewer holds none. Reads reuse the HTTP server's
	// buffer, which net/http keeps for the life of the handler anyway.
	m.Upgrader.WriteBufferPool = newBufferPool(64) // at most 4 MiB kept
	m.Upgrader.WriteBufferSize = 64 << 10
	m.Upgrader.ReadBufferSize = 0
	m.Config.MaxMessageSize = 64 << 10
	m.Config.MessageBufferSize = opts.MaxInflight + 4
	m.HandleConnect(s.connect)
	m.HandleDisconnect(s.disconnect)
	m.HandleMessage(s.message)
	m.HandleSentMessage(func(ms *melody.Session, _ []byte) {
		if v := viewerOf(ms); v != nil {
			v.room.sent(v)
		}
	})
	m.HandleError(func(ms *melody.Session, err error) {
		s.log.Debug("websocket", "err", err, "remote", ms.Request.RemoteAddr)
	})
	s.m = m

	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("GET /api/hosts", s.serveHosts)
	mux.HandleFunc("GET /api/files", s.serveFiles)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.Handle("GET /", http.FileServerFS(opts.UI))
	s.mux = mux
	return s
}

// Handler returns the HTTP handler with security headers on every response.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		s.mux.ServeHTTP(w, r)
	})
}

// Close sends every viewer a close frame, stops the rooms and waits for them.
// It does not close the Registry.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	rooms := s.rooms
	s.rooms = map[*tailer.Log]*room{}
	s.mu.Unlock()
	_ = s.m.CloseWithMsg(melody.FormatCloseMessage(melody.CloseGoingAway, "server shutting down"))
	for _, r := range rooms {
		close(r.stop)
	}
	s.wg.Wait()
}

// Viewers returns the number of connected viewers.
func (s *Server) Viewers() int { return s.m.Len() }

func (s *Server) httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

type hostInfo struct {
	Name   string        `json:"name"`
	Remote bool          `json:"remote"`
	State  *tailer.State `json:"state,omitempty"`
}

func (s *Server) serveHosts(w http.ResponseWriter, r *http.Request) {
	hosts := []hostInfo{}
	for _, name := range s.reg.Hosts() {
		h := hostInfo{Name: name}
		if src, err := s.reg.Source(name); err == nil {
			if hs, ok := src.(HostStater); ok {
				st := hs.HostState()
				h.Remote, h.State = true, &st
			}
		}
		hosts = append(hosts, h)
	}
	writeJSON(w, hosts)
}

func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request) {
	host := r.URL.Query().Get("host")
	src, err := s.reg.Source(host)
	if err != nil {
		s.httpError(w, http.StatusNotFound, fmt.Sprintf("no host named %q", host))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	files, err := src.List(ctx)
	if err != nil {
		s.log.Warn("list", "host", host, "err", err)
		s.httpError(w, http.StatusBadGateway, fmt.Sprintf("cannot list files on %s: %v", host, err))
		return
	}
	if files == nil {
		files = []tailer.FileInfo{}
	}
	writeJSON(w, map[string]any{"host": host, "files": files})
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"ok": true, "logs": s.reg.Active(), "viewers": s.Viewers()})
}

// originAllowed accepts requests without an Origin (not from a browser), from
// the page's own origin, and from the configured allow-list.
func (s *Server) originAllowed(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	if slices.ContainsFunc(s.opts.AllowedOrigins, func(o string) bool { return strings.EqualFold(strings.TrimSuffix(o, "/"), origin) }) {
		return nil
	}
	return fmt.Errorf("origin %q may not open this WebSocket (allow it with allowed_origins)", origin)
}

// errTraversal is a path that tries to climb out with "..": a 403, not a 400.
var errTraversal = errors.New("file path must not contain \"..\"")

// checkPath refuses paths that are not clean and absolute before any lookup.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("missing file parameter")
	case strings.ContainsRune(p, 0):
		return errors.New("file path contains a NUL byte")
	case !strings.HasPrefix(p, "/"):
		return errors.New("file path must be absolute")
	case slices.Contains(strings.Split(p, "/"), ".."):
		return errTraversal
	case path.Clean(p) != p:
		return errors.New("file path must be clean (no //, /./ or trailing /)")
	}
	return nil
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if err := s.originAllowed(r); err != nil {
		s.httpError(w, http.StatusForbidden, err.Error())
		return
	}
	q := r.URL.Query()
	host, file := q.Get("host"), q.Get("file")
	if host == "" {
		s.httpError(w, http.StatusBadRequest, "missing host parameter")
		return
	}
	if err := checkPath(file); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errTraversal) {
			code = http.StatusForbidden
		}
		s.httpError(w, code, err.Error())
		return
	}
	flt, err := filterSpec{Text: q.Get("q"), Regex: q.Get("re") == "1", Case: q.Get("case") == "1", Invert: q.Get("inv") == "1"}.compile()
	if err != nil {
		s.httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	l, release, err := s.reg.Acquire(ctx, host, file)
	cancel()
	switch {
	case errors.Is(err, tailer.ErrUnknownHost):
		s.httpError(w, http.StatusNotFound, fmt.Sprintf("no host named %q", host))
		return
	case errors.Is(err, tailer.ErrNotListed):
		s.httpError(w, http.StatusNotFound, fmt.Sprintf("%s is not one of the files host %s serves (see /api/files?host=%s)", file, host, url.QueryEscape(host)))
		return
	case err != nil:
		s.log.Warn("acquire", "host", host, "file", file, "err", err)
		s.httpError(w, http.StatusBadGateway, err.Error())
		return
	}
	v := &viewer{log: l, release: release, filter: flt}
	s.place(r.Context(), v, l, q)
	if err := s.m.HandleRequestWithKeys(w, r, map[string]any{"viewer": v}); err != nil {
		release()
		if errors.Is(err, melody.ErrClosed) {
			s.httpError(w, http.StatusServiceUnavailable, "server shutting down")
			return
		}
		s.log.Debug("upgrade", "err", err) // the upgrader has answered the request
	}
}

// resumeWait bounds how long a client resuming by file position waits for a
// freshly started Log to read that far.
const resumeWait = 3 * time.Second

// place sets where v starts: after what it already has when it resumes
// (same Log and seq, or the same file position on a new Log), otherwise at
// the last Replay lines that pass its filter.
func (s *Server) place(ctx context.Context, v *viewer, l *tailer.Log, q url.Values) {
	v.hello = &helloMsg{Type: "hello", V: ProtocolVersion, Log: l.ID, Host: l.Host, File: l.Path, Replay: s.opts.Replay}
	if since, err := strconv.ParseUint(q.Get("since"), 10, 64); err == nil && q.Get("log") == l.ID {
		if _, next := l.Bounds(); since < next {
			v.cursor, v.hello.Resumed = since+1, true
			return
		}
	}
	if f, off, ok := parseAt(q.Get("at")); ok {
		// After a restart the new Log starts empty and reads the file's last
		// lines: wait (a little) for the position to come into the ring.
		deadline := time.NewTimer(resumeWait)
		defer deadline.Stop()
		for wait := true; wait; {
			changed := l.Changed()
			seq, where := l.After(f, off)
			if where == tailer.Found {
				v.cursor, v.hello.Resumed = seq, true
				return
			}
			if where == tailer.Gone {
				break
			}
			select {
			case <-changed:
			case <-deadline.C:
				wait = false
			case <-ctx.Done():
				wait = false
			}
		}
	}
	_, next := l.Bounds()
	v.cursor = l.StartFor(s.opts.Replay, v.filter.keepFunc())
	v.replayEnd = next
}

func parseAt(at string) (uint64, int64, bool) {
	f, o, ok := strings.Cut(at, ":")
	if !ok {
		return 0, 0, false
	}
	file, err1 := strconv.ParseUint(f, 10, 64)
	off, err2 := strconv.ParseInt(o, 10, 64)
	return file, off, err1 == nil && err2 == nil
}

func viewerOf(ms *melody.Session) *viewer {
	v, _ := ms.Keys["viewer"].(*viewer)
	return v
}

// connect runs before melody starts the session's write pump; frames written
// now wait in its buffer, so the room may send hello at once.
func (s *Server) connect(ms *melody.Session) {
	v := viewerOf(ms)
	v.session = ms
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ms.CloseWithMsg(melody.FormatCloseMessage(melody.CloseGoingAway, "server shutting down"))
		return
	}
	r := s.roomFor(v)
	v.room = r
	r.add(v)
	s.mu.Unlock()
}

// roomFor returns the room of v's Log, starting it if needed. s.mu is held.
func (s *Server) roomFor(v *viewer) *room {
	l := v.log
	r := s.rooms[l]
	if r == nil {
		r = newRoom(s, l)
		s.rooms[l] = r
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			r.run()
		}()
	}
	return r
}

func (s *Server) disconnect(ms *melody.Session) {
	v := viewerOf(ms)
	if v == nil {
		return
	}
	s.mu.Lock()
	if r := v.room; r != nil && r.remove(v) == 0 && s.rooms[r.log] == r {
		delete(s.rooms, r.log)
		close(r.stop)
	}
	s.mu.Unlock()
	v.release()
}

func (s *Server) message(ms *melody.Session, data []byte) {
	v := viewerOf(ms)
	if v == nil || v.room == nil {
		return
	}
	var msg clientMsg
	if err := json.Unmarshal(data, &msg); err != nil {
		v.post(control{err: &errorMsg{Type: "error", Code: "bad_message", Msg: "message is not JSON: " + err.Error()}})
		return
	}
	switch msg.Type {
	case "filter":
		f, err := msg.filterSpec.compile()
		if err != nil {
			v.post(control{err: &errorMsg{Type: "error", Code: "bad_filter", Msg: err.Error()}})
			return
		}
		v.post(control{filter: f, setFilter: true})
	case "resume":
		if msg.Since == nil {
			v.post(control{err: &errorMsg{Type: "error", Code: "bad_message", Msg: "resume needs since"}})
			return
		}
		v.post(control{since: msg.Since})
	default:
		v.post(control{err: &errorMsg{Type: "error", Code: "bad_message", Msg: fmt.Sprintf("unknown message type %q", msg.Type)}})
	}
}
