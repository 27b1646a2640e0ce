package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/logtime"
	"github.com/logviewer/logviewer/marks"
	"github.com/logviewer/logviewer/tailer"
)

// serveMarkPost records a deploy mark: POST /api/marks with a Bearer token
// of scope "marks" or as a signed-in user, JSON {"text","group"|"hosts",
// "files"}. The mark goes into every matching open log at once, and into
// logs opened later (tailer.Options.Marks).
func (s *Server) serveMarkPost(w http.ResponseWriter, r *http.Request) {
	id := auth.FromContext(r.Context())
	switch {
	case s.opts.Marks == nil:
		s.httpError(w, http.StatusNotFound, "marks are not kept by this server")
		return
	case id.Via == auth.ViaShare:
		s.httpError(w, http.StatusForbidden, "a shared view cannot post marks")
		return
	case !id.Can("marks"):
		s.httpError(w, http.StatusForbidden, "this token has no \"marks\" scope")
		return
	}
	if !needJSON(w, r, s) {
		return
	}
	var req struct {
		Text  string   `json:"text"`
		Group string   `json:"group"`
		Hosts []string `json:"hosts"`
		Files []string `json:"files"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&req); err != nil {
		s.httpError(w, http.StatusBadRequest, `want {"text":…,"group":… or "hosts":[…],"files":[…]}`)
		return
	}
	req.Text = strings.TrimSpace(req.Text)
	if req.Text == "" || len(req.Text) > marks.MaxText || strings.ContainsAny(req.Text, "\n\r") {
		s.httpError(w, http.StatusBadRequest, fmt.Sprintf("text: one line of 1 to %d bytes", marks.MaxText))
		return
	}
	// A token posts for hosts by name, whatever the access rules say (it
	// reads nothing); a person posts only for hosts they may see.
	cat := s.cat
	if id.Via == auth.ViaToken {
		cat = s.raw
	}
	var hosts []string
	switch {
	case req.Group != "" && len(req.Hosts) > 0:
		s.httpError(w, http.StatusBadRequest, "give group or hosts, not both")
		return
	case req.Group != "":
		for _, g := range cat.Groups(r.Context()) {
			if g.Name == req.Group {
				hosts = g.Hosts
			}
		}
		if hosts == nil {
			s.httpError(w, http.StatusNotFound, fmt.Sprintf("no group named %q", req.Group))
			return
		}
	case len(req.Hosts) > 0:
		known := cat.Hosts(r.Context())
		for _, h := range req.Hosts {
			if !slices.ContainsFunc(known, func(k tailer.HostInfo) bool { return k.Name == h }) {
				s.httpError(w, http.StatusNotFound, fmt.Sprintf("no host named %q", h))
				return
			}
		}
		hosts = req.Hosts
	default:
		s.httpError(w, http.StatusBadRequest, "say where the mark goes: group or hosts")
		return
	}
	for _, f := range req.Files {
		if _, err := path.Match(f, ""); err != nil || !strings.HasPrefix(f, "/") {
			s.httpError(w, http.StatusBadRequest, fmt.Sprintf("files: %q is not an absolute path or glob", f))
			return
		}
	}
	// A mark goes into every matching file of its hosts: a person may post
	// one only where they see every file (a token posts for hosts by name).
	if id.Via != auth.ViaToken {
		for _, h := range hosts {
			if !s.opts.Rules.AllFiles(id, h) {
				s.httpError(w, http.StatusForbidden, fmt.Sprintf("you may see only some files of %s, and a mark goes into all of them: post it with a token", h))
				return
			}
		}
	}
	m, err := s.opts.Marks.Add(marks.Mark{Text: req.Text, Group: req.Group, Hosts: hosts, Files: req.Files, By: id.User}, time.Now())
	if err != nil {
		s.log.Error("mark", "err", err)
		s.httpError(w, http.StatusInternalServerError, "the mark could not be saved")
		return
	}
	s.raw.Mark(m.Applies, MarkLine(m))
	s.audit(r, "mark", "id", m.ID, "group", m.Group, "hosts", len(m.Hosts))
	writeJSON(w, map[string]any{"id": m.ID, "ts": time.UnixMilli(m.TS).UTC().Format(time.RFC3339Nano)})
}

// MarkLine is the inline line of a mark.
func MarkLine(m marks.Mark) tailer.Line {
	return tailer.Line{Time: m.TS, Offset: -1, Text: m.Text, Mark: marks.Kind}
}

// serveMarks lists marks: GET /api/marks?group=G (or host=H, or neither:
// all the identity may see).
func (s *Server) serveMarks(w http.ResponseWriter, r *http.Request) {
	if s.opts.Marks == nil {
		writeJSON(w, []marks.Mark{})
		return
	}
	q := r.URL.Query()
	id := auth.FromContext(r.Context())
	group, host := q.Get("group"), q.Get("host")
	list := s.opts.Marks.List(func(m *marks.Mark) bool {
		return (group == "" || m.Group == group) && (host == "" || slices.Contains(m.Hosts, host)) && s.markVisible(id, m)
	})
	for i := range list { // only the hosts this identity may see it on
		list[i].Hosts = slices.DeleteFunc(slices.Clone(list[i].Hosts), func(h string) bool { return !s.markVisibleOn(id, &list[i], h) })
	}
	writeJSON(w, list)
}

// markVisible reports whether id may see mark m: it goes into a log id may
// see (a mark for some files only: one of those globs, taken as a path, is a
// file id may see).
func (s *Server) markVisible(id *auth.Identity, m *marks.Mark) bool {
	return slices.ContainsFunc(m.Hosts, func(h string) bool { return s.markVisibleOn(id, m, h) })
}

func (s *Server) markVisibleOn(id *auth.Identity, m *marks.Mark, host string) bool {
	rules := s.opts.Rules
	if len(m.Files) == 0 {
		return rules.Host(id, host)
	}
	return slices.ContainsFunc(m.Files, func(g string) bool { return rules.File(id, host, g) })
}

// errNoMark is a from=mark:ID that names no kept mark.
var errNoMark = errors.New("no such mark")

// parseFrom reads from=mark:ID or from=TIME (RFC 3339) into the time a view
// starts at, in Unix ms, and the mark's text when it is one.
func (s *Server) parseFrom(ctx context.Context, from string) (ts int64, markText string, err error) {
	if mid, ok := strings.CutPrefix(from, "mark:"); ok {
		if s.opts.Marks != nil {
			if m, ok := s.opts.Marks.Get(mid); ok && s.markVisible(auth.FromContext(ctx), &m) {
				return m.TS, m.Text, nil
			}
		}
		return 0, "", errNoMark
	}
	t, err := time.Parse(time.RFC3339Nano, from)
	if err != nil {
		return 0, "", fmt.Errorf("from=%.40q: want mark:ID or a time such as 2026-11-28T08:00:00Z", from)
	}
	return t.UnixMilli(), "", nil
}

// firstFrom returns the seq of the first line of l at or after ts (the
// line's own time, else its receipt time), or of the mark line itself when
// markText is set; ok is false when no line that late is held.
func firstFrom(l *tailer.Log, ts int64, markText string, scratch *[]tailer.Line) (uint64, bool) {
	first, next := l.Bounds()
	for from := first; from < next; {
		lines, held := l.Read((*scratch)[:0], from, int(min(next-from, 1024)))
		*scratch = lines
		if len(lines) == 0 {
			break
		}
		for i := range lines {
			ln := &lines[i]
			if markText != "" && ln.Mark == marks.Kind && ln.Time == ts && ln.Text == markText {
				seq := ln.Seq
				clear(lines)
				return seq, true
			}
			key := ln.Time
			if t, ok := logtime.Parse(ln.Text, time.UnixMilli(ln.Time)); ok && ln.Mark == "" {
				key = t
			}
			if markText == "" && key >= ts {
				seq := ln.Seq
				clear(lines)
				return seq, true
			}
		}
		from = max(held, from) + uint64(len(lines))
		clear(lines)
	}
	if markText != "" {
		return firstFrom(l, ts, "", scratch) // the mark line itself is gone: its time
	}
	return 0, false
}

// waitFirstLines waits (at most resumeWait) until a freshly opened log has
// read its first lines, or says it cannot (no such file yet, an error).
func waitFirstLines(ctx context.Context, l *tailer.Log) {
	ctx, cancel := context.WithTimeout(ctx, resumeWait)
	defer cancel()
	for {
		changed := l.Changed()
		first, next := l.Bounds()
		if code := l.Status().Code; next > first || code == tailer.StateWaiting || code == tailer.StateError || code == tailer.StateStopped {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}
