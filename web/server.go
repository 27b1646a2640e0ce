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
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/filter"
	"github.com/logviewer/logviewer/marks"
	"github.com/logviewer/logviewer/tailer"
)

// Catalog is the one place that answers which hosts there are, which files
// a host has, whether a file may be opened, and opens it. Every handler goes
// through it; access rules, groups, history and the cluster hook in here
// once. tailer.Registry implements it.
//
// All methods may be called concurrently.
type Catalog interface {
	Hosts(ctx context.Context) []tailer.HostInfo
	Groups(ctx context.Context) []tailer.GroupInfo
	List(ctx context.Context, host string) ([]tailer.FileInfo, error)
	// Check reports whether (host, path) may be opened; it opens and starts
	// nothing. Errors wrap tailer.ErrUnknownHost or tailer.ErrNotListed.
	Check(ctx context.Context, host, path string) error
	// Open returns the Log of (host, path), following it if need be, and a
	// func to release it, to be called exactly once. Errors as Check, or
	// tailer.ErrTooManyLogs.
	Open(ctx context.Context, host, path string) (*tailer.Log, func(), error)
	// Stats returns how many logs are followed now and how many lines
	// they read.
	Stats() tailer.Stats
	// Mark puts an inline line into every open log for which match is true.
	Mark(match func(host, path string) bool, line tailer.Line)
}

var _ Catalog = (*tailer.Registry)(nil)

// Options configure a Server.
type Options struct {
	Replay         int      // lines a new viewer is sent first
	AllowedOrigins []string // origins besides the page's own that may call the API and open /ws
	// AllowedHosts are Host header names accepted besides loopback names,
	// IP addresses and the listen address (see hostAllowed).
	AllowedHosts []string
	// MaxViewersPerClient bounds the WebSockets open at once from one client
	// address (0: defaultMaxViewersPerClient).
	MaxViewersPerClient int
	UI                  fs.FS // the browser UI; nil: the embedded one
	Logger              *slog.Logger

	// Auth establishes who is asking (nil: auth mode "none", everyone is
	// anonymous). Rules decide what each identity may see (nil: all).
	Auth  *auth.Authenticator
	Rules *auth.Rules
	// PublicURL is where people reach the page (share links are built on
	// it); BasePath the path prefix everything is served under ("" or
	// "/logs").
	PublicURL string
	BasePath  string
	// MetricsPublic serves /metrics without authentication.
	MetricsPublic bool
	// Marks keeps deploy marks (nil: POST /api/marks answers 404).
	Marks *marks.Store
	// ReorderWindow is how long a merged view holds a line back for
	// earlier lines of other hosts (0: 250ms).
	ReorderWindow time.Duration

	FlushInterval time.Duration // 0: 15ms
	MaxInflight   int           // 0: 4 frames per viewer
	MaxBatch      int           // 0: 2000 lines per frame
	MaxFrameBytes int           // 0: 512 KiB

	// Compression negotiates permessage-deflate with browsers that offer
	// it (all current ones do). gorilla compresses each message on its own
	// (no context takeover), at flate level 1.
	Compression bool
}

// Bounds on what one client may cost (see README.md, "Security").
const (
	defaultMaxViewersPerClient = 256
	// maxMessageBytes bounds one message from a browser: a filter is at most
	// filter.MaxTextLen bytes of text, so 16 KiB leaves room for escaping.
	maxMessageBytes = 16 << 10
	// maxInbox bounds the messages a viewer may have waiting for its room;
	// one that sends more than the room can take is closed with 1008.
	maxInbox = 32
	// filterEvery is the least time between two filter changes a viewer's
	// room applies; changes in between are coalesced (the last one wins).
	filterEvery = 100 * time.Millisecond
	// scanBudget bounds the filtering work the room does for one viewer
	// before it turns to the others (a costly filter slows only its viewer).
	scanBudget = 2 * time.Millisecond
)

// Server is the HTTP side of logviewer. Create it with New, serve its
// Handler, and Close it to tell every browser goodbye.
type Server struct {
	cat     Catalog // guarded: as the request's identity sees it
	raw     Catalog // unguarded: for metrics only
	metrics *metrics
	opts    Options
	auth    *auth.Authenticator
	log     *slog.Logger
	m       *melody.Melody
	mux     *http.ServeMux

	mu       sync.Mutex
	rooms    map[*tailer.Log]*room
	clients  map[string]int                          // open (or opening) viewers per client address
	sessions map[string]map[*melody.Session]struct{} // WebSockets per session id, to end them at logout
	merges   map[*mergeView]struct{}                 // merged views running
	wg       sync.WaitGroup
	closed   bool
}

// New returns a Server over cat.
func New(cat Catalog, opts Options) *Server {
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
	if opts.MaxViewersPerClient <= 0 {
		opts.MaxViewersPerClient = defaultMaxViewersPerClient
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.UI == nil {
		opts.UI = EmbeddedUI()
	}
	if opts.Auth == nil {
		opts.Auth = auth.New(auth.Options{Mode: auth.ModeNone})
	}
	opts.BasePath = strings.TrimSuffix(opts.BasePath, "/")
	s := &Server{
		cat: guarded{Catalog: cat, rules: opts.Rules}, raw: cat, opts: opts, auth: opts.Auth, log: opts.Logger,
		rooms: map[*tailer.Log]*room{}, clients: map[string]int{}, sessions: map[string]map[*melody.Session]struct{}{}, merges: map[*mergeView]struct{}{},
	}

	s.metrics = newMetrics(s)
	m := melody.New()
	// melody's defaults accept every Origin, drop frames silently when a
	// session's buffer fills, and cap inbound messages at 512 bytes; each is
	// set on purpose here. Flow control (MaxInflight) keeps the buffer from
	// ever filling: it only needs room for that many frames plus control frames.
	// Origin and Host were checked by Handler before the upgrade.
	m.Upgrader.CheckOrigin = func(r *http.Request) bool { return s.originAllowed(r) == nil }
	// Writes go through a 64 KiB buffer from a pool (gorilla sends a message
	// in write-buffer-sized pieces: 4 KiB would mean 128 writes for a 512 KiB
	// frame), so an idle viewer holds none. Reads get a small buffer of
	// their own (client messages are small): reusing the HTTP server's
	// 4 KiB reader would keep net/http's whole connection (its 4 KiB write
	// buffer too) reachable after the handler has returned (see handOff).
	m.Upgrader.WriteBufferPool = newBufferPool(64) // at most 4 MiB kept
	m.Upgrader.WriteBufferSize = 64 << 10
	m.Upgrader.ReadBufferSize = 512
	// permessage-deflate is negotiated only when configured (ws_compression;
	// README.md, "Bytes on the wire"). Every data message is then compressed:
	// gorilla's switch is per connection and is read by melody's writer
	// goroutine, so it cannot be flipped per frame by size without a race.
	m.Upgrader.EnableCompression = opts.Compression
	m.Config.MaxMessageSize = maxMessageBytes
	m.Config.MessageBufferSize = opts.MaxInflight + 4
	m.HandleConnect(s.connect)
	m.HandleDisconnect(s.disconnect)
	m.HandleMessage(s.message)
	m.HandleSentMessage(func(ms *melody.Session, _ []byte) {
		if v := viewerOf(ms); v != nil && v.room != nil {
			v.room.sent(v)
		} else if mv := mergeOf(ms); mv != nil {
			mv.sent()
		}
	})
	m.HandleError(func(ms *melody.Session, err error) {
		if errors.Is(err, melody.ErrMessageBufferFull) {
			s.metrics.framesDropped.Inc()
		}
		s.log.Debug("websocket", "err", err, "remote", ms.Request.RemoteAddr)
	})
	s.m = m

	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("GET /api/hosts", s.serveHosts)
	mux.HandleFunc("GET /api/files", s.serveFiles)
	mux.HandleFunc("GET /api/groups", s.serveGroups)
	mux.HandleFunc("GET /api/download", s.serveDownload)
	mux.HandleFunc("GET /api/marks", s.serveMarks)
	mux.HandleFunc("POST /api/marks", s.serveMarkPost)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("POST /api/login", s.serveLogin)
	mux.HandleFunc("POST /api/logout", s.serveLogout)
	mux.HandleFunc("GET /api/me", s.serveMe)
	mux.HandleFunc("POST /api/share", s.serveShare)
	mux.HandleFunc("GET /auth/oidc/login", s.serveOIDCLogin)
	mux.HandleFunc("GET /auth/oidc/callback", s.serveOIDCCallback)
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.Handle("GET /", http.FileServerFS(opts.UI))
	s.mux = mux
	return s
}

// Handler returns the HTTP handler: security headers on every response, and
// the Host and Origin checks before any other handler runs.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		if err := s.hostAllowed(r); err != nil {
			s.httpError(w, http.StatusMisdirectedRequest, err.Error())
			return
		}
		if err := s.originAllowed(r); err != nil {
			s.httpError(w, http.StatusForbidden, err.Error())
			return
		}
		if b := s.opts.BasePath; b != "" {
			rest, ok := strings.CutPrefix(r.URL.Path, b)
			if !ok || (rest != "" && rest[0] != '/') {
				http.NotFound(w, r)
				return
			}
			if rest == "" { // "/logs" → "/logs/", so relative URLs resolve
				http.Redirect(w, r, b+"/", http.StatusMovedPermanently)
				return
			}
			r2 := new(http.Request)
			*r2 = *r
			r2.URL = new(url.URL)
			*r2.URL = *r.URL
			r2.URL.Path, r2.URL.RawPath = rest, ""
			r = r2
		}
		r, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Close sends every viewer a close frame, stops the rooms and waits for them.
// It does not close the Catalog.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	rooms := s.rooms
	s.rooms = map[*tailer.Log]*room{}
	merges := s.merges
	s.merges = map[*mergeView]struct{}{}
	s.mu.Unlock()
	for mv := range merges {
		mv.end()
	}
	_ = s.m.CloseWithMsg(melody.FormatCloseMessage(melody.CloseGoingAway, "server shutting down"))
	for _, r := range rooms {
		r.end()
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

func (s *Server) serveHosts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.cat.Hosts(r.Context()))
}

func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request) {
	if g := r.URL.Query().Get("group"); g != "" {
		s.serveGroupFiles(w, r, g)
		return
	}
	host := r.URL.Query().Get("host")
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	files, err := s.cat.List(ctx, host)
	switch {
	case errors.Is(err, tailer.ErrUnknownHost):
		s.httpError(w, http.StatusNotFound, fmt.Sprintf("no host named %q", host))
		return
	case err != nil:
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
	writeJSON(w, map[string]any{"ok": true, "logs": s.cat.Stats().Logs, "viewers": s.Viewers()})
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

// serveWS checks a view request and upgrades it. Nothing is opened or
// followed before the upgrade has succeeded (connect does that): a plain GET
// (an <img>, the page's diagnosis of a failed upgrade) only learns whether
// the view would be allowed.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := auth.FromContext(r.Context())
	if id.Share != nil && q.Get("host") == "" && q.Get("file") == "" {
		// ?share=TOKEN alone opens the shared log with its filter.
		sh := id.Share
		q.Set("host", sh.Host)
		q.Set("file", sh.File)
		// The shared filter is one unit, its level and context included;
		// q= (empty) means: the viewer cleared it.
		if !q.Has("q") && (sh.Q != "" || sh.Level != "") {
			q.Set("q", sh.Q)
			q.Set("re", boolParam(sh.Re))
			q.Set("case", boolParam(sh.Case))
			q.Set("inv", boolParam(sh.Inv))
			if sh.Level != "" {
				q.Set("level", sh.Level)
			}
			if sh.Ctx > 0 {
				q.Set("context", strconv.Itoa(sh.Ctx))
			}
		}
	}
	if q.Get("group") != "" || len(q["host"]) > 1 {
		s.serveMergeWS(w, r, q)
		return
	}
	host, file := q.Get("host"), q.Get("file")
	if host == "" {
		s.httpError(w, http.StatusBadRequest, "missing host parameter")
		return
	}
	flt, ok := s.viewParams(w, r, q)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	var err error
	shallow(func() { err = s.cat.Check(ctx, host, file) })
	cancel()
	if code, msg := s.openError(host, file, err); code != 0 {
		s.httpError(w, code, msg)
		return
	}
	client := s.auth.ClientIP(r)
	if !s.reserve(client, 1) {
		s.metrics.viewersRefused.WithLabelValues("per_client").Inc()
		s.httpError(w, http.StatusTooManyRequests, fmt.Sprintf("too many viewers from %s (at most %d at once)", client, s.opts.MaxViewersPerClient))
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		s.unreserve(client, 1)
		s.httpError(w, http.StatusBadRequest, "this view is allowed, but /ws needs a WebSocket upgrade")
		return
	}
	v := &viewer{host: host, file: file, filter: flt, query: q, client: client, id: id}
	s.handOff(w, r, map[string]any{"viewer": v}, func(err error, w http.ResponseWriter) {
		s.unreserve(client, 1)
		if errors.Is(err, melody.ErrClosed) && w != nil {
			s.httpError(w, http.StatusServiceUnavailable, "server shutting down")
			return
		}
		s.log.Debug("upgrade", "err", err) // the upgrader has answered the request
	})
}

// viewParams checks what single and merged views share: the file path, the
// filter and from=. It answers the request itself when they are bad.
func (s *Server) viewParams(w http.ResponseWriter, r *http.Request, q url.Values) (*filter.Filter, bool) {
	if err := checkPath(q.Get("file")); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errTraversal) {
			code = http.StatusForbidden
		}
		s.httpError(w, code, err.Error())
		return nil, false
	}
	flt, err := filter.Compile(specOf(q))
	if err != nil {
		s.metrics.filterRejected.Inc()
		s.httpError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	if from := q.Get("from"); from != "" {
		if _, _, err := s.parseFrom(r.Context(), from); err != nil {
			code := http.StatusBadRequest
			if errors.Is(err, errNoMark) {
				code = http.StatusNotFound
			}
			s.httpError(w, code, err.Error())
			return nil, false
		}
	}
	return flt, true
}

// shallow runs f on a goroutine of its own and waits for it. The handler
// goroutine of a WebSocket lives as long as the viewer: a deep call on it
// (opening a log checks paths through every symlink) would grow its stack,
// and with it the memory of every idle viewer, for good.
func shallow(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// openError maps a Catalog error to an HTTP status and a message for people
// (0 for no error).
func (s *Server) openError(host, file string, err error) (int, string) {
	switch {
	case err == nil:
		return 0, ""
	case errors.Is(err, tailer.ErrUnknownHost):
		return http.StatusNotFound, fmt.Sprintf("no host named %q", host)
	case errors.Is(err, tailer.ErrNotListed):
		return http.StatusNotFound, fmt.Sprintf("%s is not one of the files host %s serves", file, host)
	case errors.Is(err, tailer.ErrTooManyLogs):
		return http.StatusServiceUnavailable, "too many logs are open on this server: " + err.Error()
	}
	s.log.Warn("open", "host", host, "file", file, "err", err)
	return http.StatusBadGateway, err.Error()
}

// reserve counts one more viewer from client, unless it has too many.
// A single view counts one against its client's bound, a merged view one
// per member host (each holds a log).
func (s *Server) reserve(client string, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[client]+n > s.opts.MaxViewersPerClient {
		return false
	}
	s.clients[client] += n
	return true
}

func (s *Server) unreserve(client string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[client] -= n; s.clients[client] <= 0 {
		delete(s.clients, client)
	}
}

func boolParam(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// resumeWait bounds how long a client resuming by file position waits for a
// freshly started Log to read that far.
const resumeWait = 3 * time.Second

// place sets where v starts: after what it already has when it resumes
// (same Log and seq, or the same file position on a new Log), otherwise at
// the last Replay lines that pass its filter.
func (s *Server) place(ctx context.Context, v *viewer, l *tailer.Log, q url.Values) {
	v.filterAt = time.Now()
	v.hello = &helloMsg{Type: "hello", V: ProtocolVersion, Log: l.ID, Host: l.Host, File: l.Path, Replay: s.opts.Replay}
	if since, err := strconv.ParseUint(q.Get("since"), 10, 64); err == nil && q.Get("log") == l.ID {
		if _, next := l.Bounds(); since < next {
			v.cursor, v.hello.Resumed = since+1, true
			return
		}
	}
	if pos, err := tailer.ParsePosition(q.Get("at")); err == nil {
		// After a restart the new Log starts empty and reads the file's last
		// lines: wait (a little) for the position to come into the ring.
		wctx, cancel := context.WithTimeout(ctx, resumeWait)
		seq, ok := l.Seek(wctx, pos)
		cancel()
		if ok {
			v.cursor, v.hello.Resumed = seq, true
			return
		}
	}
	first, next := l.Bounds()
	v.replayEnd = next
	if first == next && next == 1 && q.Get("from") == "" {
		v.warm = s.sizeOf(ctx, v.host, v.file) // the Log is new: its opening backlog is replay (room.warmReplay)
	}
	if from := q.Get("from"); from != "" {
		// Start at a mark or a time (within the ring); what lies between
		// there and now is replay. Not found: the ordinary start.
		if ts, text, err := s.parseFrom(ctx, from); err == nil {
			var scratch []tailer.Line
			waitFirstLines(ctx, l)
			if s.fromHistory(ctx, v, l, ts) { // older than the ring: history.go
				return
			}
			if seq, ok := firstFrom(l, ts, text, &scratch); ok {
				v.cursor = seq
				return
			}
		}
	}
	if v.filter == nil {
		v.cursor = l.StartFor(s.opts.Replay, nil)
		return
	}
	// The room finds where the last Replay matching lines start, in
	// bounded slices (see seek).
	v.seek = &seek{below: next}
}

// sizeOf returns the size of a file a viewer may open (0 when unknown).
// It is asked once per Log, by the viewer that opens it: by opening that
// one file, never by listing the host (a thousand logs opened at once
// would list a thousand files a thousand times).
func (s *Server) sizeOf(ctx context.Context, host, file string) int64 {
	fo, ok := s.cat.(FileOpener)
	if !ok {
		return 0
	}
	f, info, err := fo.OpenFile(ctx, host, file)
	if err != nil {
		return 0
	}
	f.Close()
	return info.Size
}

func mergeOf(ms *melody.Session) *mergeView {
	mv, _ := ms.Keys["merge"].(*mergeView)
	return mv
}

func viewerOf(ms *melody.Session) *viewer {
	v, _ := ms.Keys["viewer"].(*viewer)
	return v
}

// connect runs after the upgrade, before melody starts the session's write
// pump; frames written now wait in its buffer. It opens the log (the first
// point where anything is started for this request) and places the viewer.
func (s *Server) connect(ms *melody.Session) {
	if mv := mergeOf(ms); mv != nil {
		s.connectMerge(ms, mv)
		return
	}
	v := viewerOf(ms)
	v.session, v.out = ms, ms.Write
	ctx, cancel := context.WithTimeout(auth.NewContext(context.Background(), v.id), 15*time.Second)
	defer cancel()
	var l *tailer.Log
	var release func()
	var err error
	shallow(func() { l, release, err = s.cat.Open(ctx, v.host, v.file) })
	if err != nil {
		code, msg := s.openError(v.host, v.file, err)
		s.metrics.viewersRefused.WithLabelValues(strconv.Itoa(code)).Inc()
		wsCode, errCode := melody.CloseTryAgainLater, "unavailable"
		if code == http.StatusNotFound {
			wsCode, errCode = melody.ClosePolicyViolation, "not_found"
		}
		_ = ms.Write(encode(errorMsg{Type: "error", Code: errCode, Msg: msg}))
		_ = ms.CloseWithMsg(melody.FormatCloseMessage(wsCode, truncate(msg, 120)))
		return
	}
	v.log, v.release = l, release
	v.unwatch = s.watchIdentity(v.id, ms)
	shallow(func() {
		s.audit(ms.Request, "open", "host", v.host, "file", v.file)
		s.place(ctx, v, l, v.query)
	})
	v.query = nil
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

// truncate cuts s to at most n bytes (a close reason is at most 123).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// roomFor returns the room of v's Log, starting it if needed. s.mu is held.
func (s *Server) roomFor(v *viewer) *room {
	l := v.log
	r := s.rooms[l]
	if r == nil {
		r = newRoom(s, l) // its goroutine starts when the viewer is added
		s.rooms[l] = r
	}
	return r
}

func (s *Server) disconnect(ms *melody.Session) {
	if mv := mergeOf(ms); mv != nil {
		s.disconnectMerge(mv)
		return
	}
	v := viewerOf(ms)
	if v == nil {
		return
	}
	s.mu.Lock()
	if r := v.room; r != nil && r.remove(v) == 0 && s.rooms[r.log] == r {
		delete(s.rooms, r.log)
		r.end()
	}
	s.mu.Unlock()
	v.hist.stop()
	if v.unwatch != nil {
		v.unwatch()
	}
	s.unreserve(v.client, 1)
	if v.release != nil {
		v.release()
	}
}

// message handles a browser's message on the session's read pump. Messages
// wait in the viewer's bounded inbox for its room; a browser that sends more
// than that is closed with 1008 (policy violation).
func (s *Server) message(ms *melody.Session, data []byte) {
	var post func(control) bool
	var dropped *int
	if v := viewerOf(ms); v != nil && v.room != nil {
		post, dropped = v.post, &v.dropped
	} else if mv := mergeOf(ms); mv != nil && mv.stop != nil {
		post, dropped = mv.post, &mv.dropped
	} else {
		return
	}
	c := decodeMessage(data)
	if c.err != nil && c.err.Code == "bad_filter" {
		s.metrics.filterRejected.Inc()
	}
	if post(c) {
		return
	}
	// Say why, then, if it keeps sending, stop reading it at all.
	if *dropped++; *dropped == 1 {
		s.log.Info("closing a viewer that floods messages", "remote", ms.Request.RemoteAddr)
		_ = ms.CloseWithMsg(melody.FormatCloseMessage(melody.ClosePolicyViolation, "too many messages"))
	} else if *dropped > maxInbox {
		_ = ms.WebsocketConnection().Close()
	}
}

// decodeMessage turns one client message into a control for the room.
func decodeMessage(data []byte) control {
	var msg clientMsg
	if err := json.Unmarshal(data, &msg); err != nil {
		return control{err: &errorMsg{Type: "error", Code: "bad_message", Msg: "message is not JSON: " + truncate(err.Error(), 200)}}
	}
	switch msg.Type {
	case "filter":
		f, err := filter.Compile(msg.Spec)
		if err != nil {
			return control{err: &errorMsg{Type: "error", Code: "bad_filter", Msg: err.Error()}}
		}
		return control{filter: f, setFilter: true}
	case "resume":
		if msg.Since == nil {
			return control{err: &errorMsg{Type: "error", Code: "bad_message", Msg: "resume needs since"}}
		}
		return control{since: msg.Since}
	case "older":
		return decodeOlder(msg)
	}
	return control{err: &errorMsg{Type: "error", Code: "bad_message", Msg: fmt.Sprintf("unknown message type %.64q", msg.Type)}}
}
