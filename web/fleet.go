package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/tailer"
	"github.com/olahol/melody"
)

// maxMembers bounds the hosts of one merged view (a group or repeated
// host= parameters): each costs an open log and a cursor.
const maxMembers = 256

// listConcurrency bounds the listings a group's /api/files runs at once.
const listConcurrency = 16

func (s *Server) serveGroups(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.cat.Groups(r.Context()))
}

// members returns the hosts of group as the request's identity sees them,
// or nil when there is no such group (for it).
func (s *Server) members(ctx context.Context, group string) []string {
	for _, g := range s.cat.Groups(ctx) {
		if g.Name == group {
			return g.Hosts
		}
	}
	return nil
}

// groupFile is a file of a group's listing: the union of the members'.
type groupFile struct {
	tailer.FileInfo
	Hosts   int      `json:"hosts"`   // how many members have it
	OnHosts []string `json:"on"`      // which
	Missing []string `json:"missing"` // which members lack it (or could not be listed)
}

// serveGroupFiles answers /api/files?group=G: every member is listed (at
// most listConcurrency at once, each bounded in time); one that cannot be
// reached is reported in "errors" and does not hold the others back.
func (s *Server) serveGroupFiles(w http.ResponseWriter, r *http.Request, group string) {
	hosts := s.members(r.Context(), group)
	if hosts == nil {
		s.httpError(w, http.StatusNotFound, fmt.Sprintf("no group named %q", group))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	lists := make([][]tailer.FileInfo, len(hosts))
	errs := make([]error, len(hosts))
	sem := make(chan struct{}, listConcurrency)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			lists[i], errs[i] = s.cat.List(ctx, h)
		}()
	}
	wg.Wait()
	byPath := map[string]*groupFile{}
	listErrs := map[string]string{}
	for i, h := range hosts {
		if errs[i] != nil {
			listErrs[h] = errs[i].Error()
			continue
		}
		for _, f := range lists[i] {
			g := byPath[f.Path]
			if g == nil {
				g = &groupFile{FileInfo: f}
				byPath[f.Path] = g
			}
			g.Hosts++
			g.OnHosts = append(g.OnHosts, h)
			if f.ModTime.After(g.ModTime) {
				g.ModTime, g.Size = f.ModTime, f.Size
			}
		}
	}
	files := make([]*groupFile, 0, len(byPath))
	for _, g := range byPath {
		g.Missing = []string{}
		for _, h := range hosts {
			if !slices.Contains(g.OnHosts, h) {
				g.Missing = append(g.Missing, h)
			}
		}
		files = append(files, g)
	}
	slices.SortFunc(files, func(a, b *groupFile) int { return b.ModTime.Compare(a.ModTime) })
	writeJSON(w, map[string]any{"group": group, "hosts": hosts, "files": files, "errors": listErrs})
}

// serveMergeWS checks a merged view request (group= or several host=) and
// upgrades it; as for single views, nothing is opened before the upgrade.
func (s *Server) serveMergeWS(w http.ResponseWriter, r *http.Request, q url.Values) {
	file := q.Get("file")
	flt, ok := s.viewParams(w, r, q)
	if !ok {
		return
	}
	group := q.Get("group")
	var hosts []string
	if group != "" {
		if len(q["host"]) > 0 {
			s.httpError(w, http.StatusBadRequest, "give group= or host=, not both")
			return
		}
		if hosts = s.members(r.Context(), group); hosts == nil {
			s.httpError(w, http.StatusNotFound, fmt.Sprintf("no group named %q", group))
			return
		}
	} else {
		for _, h := range q["host"] {
			if h != "" && !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	if len(hosts) > maxMembers {
		s.httpError(w, http.StatusBadRequest, fmt.Sprintf("a merged view has at most %d hosts", maxMembers))
		return
	}
	// The file must be one that at least one member may serve; members
	// that cannot be reached now are tried again after the upgrade.
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, listConcurrency)
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = s.cat.Check(ctx, h, file)
		}()
	}
	wg.Wait()
	cancel()
	if !slices.ContainsFunc(errs, func(err error) bool {
		return !errors.Is(err, tailer.ErrNotListed) && !errors.Is(err, tailer.ErrUnknownHost)
	}) {
		s.httpError(w, http.StatusNotFound, fmt.Sprintf("%s is not one of the files of these hosts", file))
		return
	}
	client := s.auth.ClientIP(r)
	if !s.reserve(client, len(hosts)) {
		s.metrics.viewersRefused.WithLabelValues("per_client").Inc()
		s.httpError(w, http.StatusTooManyRequests, fmt.Sprintf("too many viewers from %s (at most %d logs at once; a merged view counts each of its %d hosts)", client, s.opts.MaxViewersPerClient, len(hosts)))
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		s.unreserve(client, len(hosts))
		s.httpError(w, http.StatusBadRequest, "this view is allowed, but /ws needs a WebSocket upgrade")
		return
	}
	mv := &mergeView{srv: s, id: auth.FromContext(r.Context()), client: client, group: group, file: file, query: q, filter: flt}
	for i, h := range hosts {
		m := &member{host: h}
		if errors.Is(errs[i], tailer.ErrNotListed) || errors.Is(errs[i], tailer.ErrUnknownHost) {
			m.gone = true
		}
		mv.members = append(mv.members, m)
	}
	s.handOff(w, r, map[string]any{"merge": mv}, func(err error, w http.ResponseWriter) {
		s.unreserve(client, len(hosts))
		if errors.Is(err, melody.ErrClosed) && w != nil {
			s.httpError(w, http.StatusServiceUnavailable, "server shutting down")
			return
		}
		s.log.Debug("upgrade", "err", err)
	})
}

func (s *Server) connectMerge(ms *melody.Session, mv *mergeView) {
	mv.session, mv.out = ms, ms.Write
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ms.CloseWithMsg(melody.FormatCloseMessage(melody.CloseGoingAway, "server shutting down"))
		return
	}
	s.merges[mv] = struct{}{}
	s.mu.Unlock()
	mv.unwatch = s.watchIdentity(mv.id, ms)
	s.startMerge(mv)
}

func (s *Server) disconnectMerge(mv *mergeView) {
	s.mu.Lock()
	delete(s.merges, mv)
	s.mu.Unlock()
	if mv.stop != nil {
		mv.end()
		<-mv.done
	}
	if mv.unwatch != nil {
		mv.unwatch()
	}
	s.unreserve(mv.client, len(mv.members))
}
