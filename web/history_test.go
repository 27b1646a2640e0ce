package web_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// hmsg is a server message as history tests read it.
type hmsg struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	Reason  string `json:"reason"`
	FirstAt string `json:"first_at"`
	FromAt  string `json:"from_at"`
	State   struct {
		Code string `json:"code"`
	} `json:"state"`
	More    bool   `json:"more"`
	Next    string `json:"next"`
	Scanned int64  `json:"scanned"`
	File    string `json:"file"`
	Lines   []struct {
		Pos  string `json:"pos"`
		TS   int64  `json:"ts"`
		Text string `json:"text"`
		Mark string `json:"mark"`
	} `json:"lines"`
}

type hclient struct {
	t    *testing.T
	conn *websocket.Conn
}

func (e *env) hdial(t *testing.T, q ...string) *hclient {
	t.Helper()
	c, err := e.dialErr(query(e.path("app.log"), q...), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.conn.Close() })
	return &hclient{t: t, conn: c.conn}
}

// following reads the hello and waits until the log follows its file: a
// line appended after that is a live line, not one of the first read.
func (c *hclient) following() {
	c.t.Helper()
	m := c.next()
	if m.Type != "hello" {
		c.t.Fatalf("%+v", m)
	}
	for m.State.Code != "following" {
		m = c.next()
	}
}

func (c *hclient) next() hmsg {
	c.t.Helper()
	var m hmsg
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	if err := c.conn.ReadJSON(&m); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// stamp is the text of line n: its own time, then its number.
func stamp(n int) string {
	ts := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * 10 * time.Millisecond)
	return fmt.Sprintf("%s n=%07d %s", ts.Format("2006-01-02T15:04:05.000Z"), n, strings.Repeat("p", n%40))
}

func lineNo(t *testing.T, text string) int {
	t.Helper()
	i := strings.Index(text, " n=")
	if i < 0 {
		t.Fatalf("not a test line: %q", text)
	}
	n, err := strconv.Atoi(text[i+3 : i+10])
	if err != nil {
		t.Fatalf("not a test line: %q", text)
	}
	return n
}

func writeStamped(t *testing.T, path string, from, to int) {
	t.Helper()
	var b strings.Builder
	for n := from; n <= to; n++ {
		b.WriteString(stamp(n))
		b.WriteByte('\n')
	}
	sourcetest.Append(t, path, b.String())
}

// live reads frames until line last arrives and returns the line numbers of
// the lines frames, in order, and the first_at of the first one.
func (c *hclient) live(last int) ([]int, string) {
	c.t.Helper()
	var got []int
	firstAt := ""
	for len(got) == 0 || got[len(got)-1] != last {
		m := c.next()
		switch m.Type {
		case "hello", "status":
		case "lines":
			if firstAt == "" {
				firstAt = m.FirstAt
			}
			for _, l := range m.Lines {
				if l.Mark == "" {
					got = append(got, lineNo(c.t, l.Text))
				}
			}
		default:
			c.t.Fatalf("unexpected %+v", m)
		}
	}
	return got, firstAt
}

// pageBack sends older requests from before until more is false and returns
// the line numbers, oldest first, and the frames.
func (c *hclient) pageBack(before string, n int) ([]int, []hmsg) {
	c.t.Helper()
	var got []int
	var frames []hmsg
	for req := 0; ; req++ {
		if req > 10000 {
			c.t.Fatal("older never ends")
		}
		if err := c.conn.WriteJSON(map[string]any{"type": "older", "before": before, "n": n}); err != nil {
			c.t.Fatal(err)
		}
		m := c.next()
		for m.Type == "lines" || m.Type == "status" {
			m = c.next()
		}
		if m.Type != "older" {
			c.t.Fatalf("request %d before %q: %+v", req, before, m)
		}
		if len(m.Lines) > n {
			c.t.Fatalf("%d lines for n=%d", len(m.Lines), n)
		}
		frames = append(frames, m)
		page := make([]int, 0, len(m.Lines))
		for _, l := range m.Lines {
			if l.Pos == "" || l.TS == 0 {
				c.t.Fatalf("older line without pos or ts: %+v", l)
			}
			page = append(page, lineNo(c.t, l.Text))
		}
		got = append(page, got...)
		if !m.More {
			return got, frames
		}
		before = m.Next
		if before == "" {
			c.t.Fatalf("more without next: %+v", m)
		}
	}
}

func checkAll(t *testing.T, got []int, total int) {
	t.Helper()
	if len(got) != total {
		t.Errorf("got %d lines, want %d", len(got), total)
	}
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("line %d of the view is n=%d, want n=%d (a hole or a duplicate at the boundary)", i, n, i+1)
		}
	}
}

// Paging back from the live view over the WebSocket, through files the real
// logrotate rotated while the view was open, reaches the first line ever
// written: every line exactly once, in order, across the ring/history
// boundary and each rotated file's.
func TestOlderThroughLogrotate(t *testing.T) {
	bin := sourcetest.RequireLogrotate(t)
	for _, tc := range []struct {
		name       string
		directives []string
		every      time.Duration
		rotations  int
	}{
		{"numbered", []string{"create", "compress", "delaycompress", "rotate 20"}, 0, 5},
		{"dateext", []string{"create", "compress", "delaycompress", "rotate 20", "dateext", "dateformat -%Y%m%d-%H%M%S"}, 1100 * time.Millisecond, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{replay: 100, buffer: 4 << 20})
			path := e.path("app.log")
			lr := sourcetest.NewLogrotate(t, bin, path, tc.directives...)
			const per = 3000
			writeStamped(t, path, 1, per)
			c := e.hdial(t)
			got, firstAt := c.live(per)
			if len(got) != 100 || firstAt == "" {
				t.Fatalf("replay: %d lines, first_at %q", len(got), firstAt)
			}
			total := per
			for i := range tc.rotations {
				if i > 0 && tc.every > 0 {
					time.Sleep(tc.every) // dateext names have whole seconds
				}
				lr.Rotate(t)
				writeStamped(t, path, total+1, total+per)
				total += per
				live, _ := c.live(total)
				got = append(got, live...)
			}
			if n := len(sourcetest.Siblings(t, path)); n != tc.rotations+1 {
				t.Fatalf("%d files, want %d", n, tc.rotations+1)
			}
			// The viewer that watched the rotations pages back from its
			// first line, which is now in a compressed file.
			older, frames := c.pageBack(firstAt, 500)
			checkAll(t, append(older, got...), total)
			if len(frames) < len(older)/500 {
				t.Errorf("%d frames for %d lines of n=500", len(frames), len(older))
			}
			// A viewer that comes now pages back through every file.
			c2 := e.hdial(t)
			got2, firstAt2 := c2.live(total)
			older2, frames2 := c2.pageBack(firstAt2, 500)
			checkAll(t, append(older2, got2...), total)
			names := map[string]bool{}
			for _, f := range frames2 {
				names[f.File] = true
			}
			t.Logf("%d lines back in %d frames, files %v", len(older2), len(frames2), names)
			if len(names) != tc.rotations+1 {
				t.Errorf("frames name %d files, want %d", len(names), tc.rotations+1)
			}
		})
	}
}

// A search back with a filter over several rotated files: only matching
// lines, all of them, more false at the end, scanned counted.
func TestOlderFilterAcrossFiles(t *testing.T) {
	bin := sourcetest.RequireLogrotate(t)
	e := newEnv(t, envOpts{replay: 50, buffer: 1 << 20})
	path := e.path("app.log")
	lr := sourcetest.NewLogrotate(t, bin, path, "create", "compress", "delaycompress", "rotate 20")
	const per, files = 5000, 4
	for i := range files {
		if i > 0 {
			lr.Rotate(t)
		}
		writeStamped(t, path, i*per+1, (i+1)*per)
	}
	// Lines whose number ends in 123: n=0000123, n=0001123 …
	c := e.hdial(t, "q", "123 p", "re", "")
	c.following()
	writeStamped(t, path, files*per+1, files*per+200)
	var held []int
	firstAt := ""
	deadline := time.Now().Add(timeout)
	for len(held) == 0 || held[len(held)-1] != files*per+123 {
		if time.Now().After(deadline) {
			t.Fatalf("replay: %v", held)
		}
		m := c.next()
		if m.Type == "lines" {
			if firstAt == "" {
				firstAt = m.FirstAt
			}
			for _, l := range m.Lines {
				held = append(held, lineNo(t, l.Text))
			}
		}
	}
	older, frames := c.pageBack(firstAt, 7)
	all := append(older, held...)
	var want []int
	for n := 1; n <= files*per+200; n++ {
		if strings.Contains(stamp(n), "123 p") {
			want = append(want, n)
		}
	}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", all, want)
	}
	if last := frames[len(frames)-1]; last.More || last.Scanned <= 0 {
		t.Fatalf("last frame: more %v scanned %d", last.More, last.Scanned)
	}
	files2 := map[string]bool{}
	for _, f := range frames {
		files2[f.File] = true
	}
	if !files2["app.log.1"] || !files2["app.log.3.gz"] {
		t.Errorf("frames name files %v", files2)
	}
}

// A filter change cancels nothing the viewer still wants: after the reset,
// older requests use the new filter.
func TestOlderAfterFilterChange(t *testing.T) {
	e := newEnv(t, envOpts{replay: 10, buffer: 8 << 10})
	path := e.path("app.log")
	writeStamped(t, path, 1, 2000)
	c := e.hdial(t)
	c.live(2000)
	if err := c.conn.WriteJSON(map[string]any{"type": "filter", "text": "n=00011"}); err != nil {
		t.Fatal(err)
	}
	for m := c.next(); m.Type != "reset"; m = c.next() {
	}
	older, _ := c.pageBack("", 500)
	// The ring holds 1991… (no match): before the ring, 1100…1199.
	if len(older) != 100 || older[0] != 1100 || older[len(older)-1] != 1199 {
		t.Fatalf("got %d lines: %v", len(older), older)
	}
}

func TestOlderBadRequests(t *testing.T) {
	e := newEnv(t, envOpts{})
	writeStamped(t, e.path("app.log"), 1, 10)
	c := e.hdial(t)
	c.live(10)
	c.conn.WriteJSON(map[string]any{"type": "older", "before": "x"})
	if m := c.next(); m.Type != "error" || m.Code != "bad_message" {
		t.Fatalf("%+v", m)
	}
	c.conn.WriteJSON(map[string]any{"type": "older", "before": "999999999:10"})
	if m := c.next(); m.Type != "error" || m.Code != "older_gone" {
		t.Fatalf("%+v", m)
	}
}

// Download streams the file with Content-Disposition and Range; with a
// filter, the matching lines; a rotated sibling, a file outside the globs
// and a hidden file are 404.
func TestDownload(t *testing.T) {
	e := newEnv(t, envOpts{})
	path := e.path("app.log")
	writeStamped(t, path, 1, 5000)
	os.WriteFile(path+".1", []byte("old\n"), 0o644)
	want, _ := os.ReadFile(path)
	u := e.url + "/api/download?host=local&file=" + path

	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(want) {
		t.Fatalf("%d, %d bytes, want %d", resp.StatusCode, len(body), len(want))
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename=app.log` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("no Accept-Ranges")
	}

	t.Run("range", func(t *testing.T) {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Range", "bytes=100-199")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || string(body) != string(want[100:200]) {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 100-199/%d", len(want)) {
			t.Errorf("Content-Range %q", cr)
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", len(want)-10))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || string(body) != string(want[len(want)-10:]) {
			t.Fatalf("suffix: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("filtered", func(t *testing.T) {
		code, body := httpGet(t, u+"&q=n%3D00012&case=1")
		var wantLines []string
		for n := 1; n <= 5000; n++ {
			if s := stamp(n); strings.Contains(s, "n=00012") {
				wantLines = append(wantLines, s)
			}
		}
		if code != 200 || string(body) != strings.Join(wantLines, "\n")+"\n" {
			t.Fatalf("%d: %d bytes, want %d lines", code, len(body), len(wantLines))
		}
		code, body = httpGet(t, u+"&q=n%3D0000[0-4]&re=1&inv=1")
		if code != 200 || strings.Count(string(body), "\n") != 5000-499 {
			t.Fatalf("inverted regex: %d, %d lines", code, strings.Count(string(body), "\n"))
		}
		if code, _ := httpGet(t, u+"&q=(&re=1"); code != 400 {
			t.Fatalf("bad regex: %d", code)
		}
	})
	t.Run("refused", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "secret.log")
		os.WriteFile(outside, []byte("secret\n"), 0o644)
		os.Symlink(outside, e.path("link.log"))
		for name, f := range map[string]string{
			"sibling":      path + ".1",
			"outside":      outside,
			"symlink":      e.path("link.log"),
			"missing":      e.path("none.log"),
			"unknown host": "",
		} {
			q := "host=local&file=" + f
			if f == "" {
				q = "host=nope&file=" + path
			}
			if code, body := httpGet(t, e.url+"/api/download?"+q); code != 404 {
				t.Errorf("%s: %d %s", name, code, body)
			}
		}
		if code, _ := httpGet(t, e.url+"/api/download?host=local&file="+e.dir+"/../x.log"); code != 403 {
			t.Errorf("traversal: %d", code)
		}
	})
}

// The access rules apply to downloads as to views: bob sees only app*.log
// on web; anything else is 404 for him (never 403), while alice may.
func TestDownloadAccessRules(t *testing.T) {
	e := newAuthEnv(t, time.Hour)
	os.WriteFile(filepath.Join(e.dirWeb, "app.log"), []byte("app line\n"), 0o644)
	os.WriteFile(filepath.Join(e.dirWeb, "secret.log"), []byte("secret line\n"), 0o644)
	os.WriteFile(filepath.Join(e.dirDB, "db.log"), []byte("db line\n"), 0o644)
	bob, alice := e.browser(t), e.browser(t)
	bob.login("bob", "bob-pw")
	alice.login("alice", "alice-pw")
	for _, tc := range []struct {
		b          *browser
		host, file string
		code       int
	}{
		{bob, "web", filepath.Join(e.dirWeb, "app.log"), 200},
		{bob, "web", filepath.Join(e.dirWeb, "secret.log"), 404},
		{bob, "db", filepath.Join(e.dirDB, "db.log"), 404},
		{bob, "web", filepath.Join(e.dirWeb, "secret.log") + "&q=secret", 404},
		{alice, "web", filepath.Join(e.dirWeb, "secret.log"), 200},
		{alice, "db", filepath.Join(e.dirDB, "db.log"), 200},
	} {
		resp, body := tc.b.do("GET", "/api/download?host="+tc.host+"&file="+tc.file, nil, nil)
		if resp.StatusCode != tc.code || tc.code == 200 && !strings.HasSuffix(body, " line\n") || tc.code != 200 && strings.Contains(body, "line") {
			t.Errorf("%s %s: %d %q, want %d", tc.host, tc.file, resp.StatusCode, body, tc.code)
		}
	}
	anon := e.browser(t)
	if resp, _ := anon.do("GET", "/api/download?host=web&file="+filepath.Join(e.dirWeb, "app.log"), nil, nil); resp.StatusCode != 401 {
		t.Errorf("signed out: %d", resp.StatusCode)
	}
}

// A rotated sibling that is a symlink to a file outside is never read, nor
// one in a directory reached through a symlink made later; the chain goes on
// past it.
func TestOlderSymlinkSibling(t *testing.T) {
	e := newEnv(t, envOpts{replay: 10})
	path := e.path("app.log")
	writeStamped(t, path+".2", 1, 100)
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte(stamp(999)+" SECRET\n"), 0o644)
	if err := os.Symlink(outside, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, path+"-20261127"); err != nil {
		t.Fatal(err)
	}
	writeStamped(t, path, 101, 200)
	c := e.hdial(t)
	got, firstAt := c.live(200)
	older, frames := c.pageBack(firstAt, 1000)
	checkAll(t, append(older, got...), 200)
	for _, f := range frames {
		for _, l := range f.Lines {
			if strings.Contains(l.Text, "SECRET") {
				t.Fatalf("read the symlinked sibling: %q", l.Text)
			}
		}
	}
}

// from=TIME older than the ring: the view starts at the ring's first line,
// and the hello names (from_at) the first line at or after that time in the
// history, which paging back reaches; a time within the ring starts there.
func TestFromTimeInHistory(t *testing.T) {
	e := newEnv(t, envOpts{replay: 100})
	path := e.path("app.log")
	writeStamped(t, path+".1", 1, 3000)
	writeStamped(t, path, 3001, 4000)
	at := func(n int) string {
		return time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * 10 * time.Millisecond).Format(time.RFC3339Nano)
	}
	for _, n := range []int{1, 1500, 3000, 3001, 3500} {
		c := e.hdial(t, "from", at(n))
		m := c.next()
		if m.Type != "hello" || m.FromAt == "" {
			t.Fatalf("from line %d: %+v", n, m)
		}
		got, firstAt := c.live(4000)
		if got[0] != 3901 {
			t.Fatalf("from line %d: the view starts at %d, want the ring's first line", n, got[0])
		}
		target, found := m.FromAt, ""
		for before := firstAt; found == ""; {
			if err := c.conn.WriteJSON(map[string]any{"type": "older", "before": before, "n": 700}); err != nil {
				t.Fatal(err)
			}
			o := c.next()
			for o.Type != "older" {
				o = c.next()
			}
			for _, l := range o.Lines {
				if l.Pos == target {
					found = l.Text
				}
			}
			if !o.More {
				break
			}
			before = o.Next
		}
		if lineNo(t, found) != n {
			t.Fatalf("from line %d: from_at names %q", n, found)
		}
	}
	// Within the ring: no from_at, the view starts at the line.
	c := e.hdial(t, "from", at(3950))
	if m := c.next(); m.Type != "hello" || m.FromAt != "" {
		t.Fatalf("%+v", m)
	}
	if got, _ := c.live(4000); got[0] != 3950 {
		t.Fatalf("starts at %d", got[0])
	}
}

// A long search back runs beside the live stream: a line appended while it
// runs reaches the same viewer (and another) before the search's answer; a
// filter change cancels it (no older frame of the old filter after the
// reset), and so does leaving.
func TestOlderNeverDelaysLive(t *testing.T) {
	e := newEnv(t, envOpts{replay: 10})
	path := e.path("app.log")
	// About 48 MiB of history in one compressed file: one pass takes a while.
	f, err := os.Create(path + ".1.gz")
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	line := []byte(strings.Repeat("x", 99) + "\n")
	for range 500_000 {
		zw.Write(line)
	}
	zw.Close()
	f.Close()
	writeStamped(t, path, 1, 10)
	a, b := e.hdial(t, "q", "needle"), e.hdial(t)
	b.live(10)
	a.following()
	if err := a.conn.WriteJSON(map[string]any{"type": "older", "n": 10}); err != nil {
		t.Fatal(err)
	}
	sourcetest.Append(t, path, "needle now\n")
	start := time.Now()
	for m := b.next(); m.Type != "lines" || m.Lines[0].Text != "needle now"; m = b.next() {
	}
	m := a.next()
	for m.Type == "status" {
		m = a.next()
	}
	if m.Type != "lines" || m.Lines[0].Text != "needle now" {
		t.Fatalf("first frame after the older request: %+v, want the live line", m)
	}
	live := time.Since(start)
	m = a.next()
	if m.Type != "older" || len(m.Lines) != 0 || m.More || m.Scanned < 50_000_000 {
		t.Fatalf("older: %+v", m)
	}
	t.Logf("live line after %v; the search scanned %d bytes in %v", live, m.Scanned, time.Since(start))

	// A filter change while a search runs: the reset, and no older frame
	// of the old filter after it.
	a.conn.WriteJSON(map[string]any{"type": "older", "n": 10})
	a.conn.WriteJSON(map[string]any{"type": "filter", "text": "other"})
	for m = a.next(); m.Type != "reset"; m = a.next() {
		if m.Type == "older" {
			t.Logf("the search ended before the filter changed")
		}
	}
	sourcetest.Append(t, path, "other line\n")
	for m = a.next(); m.Type != "lines"; m = a.next() {
		if m.Type == "older" {
			t.Fatalf("an older frame after the reset: %+v", m)
		}
	}
	// Leaving while a search runs ends it (the server's Close waits for it).
	a.conn.WriteJSON(map[string]any{"type": "older", "n": 10})
	a.conn.Close()
}

// copytruncate: the file keeps its identity and is emptied; its old content
// (at the same offsets) is in the copy, compressed at the next rotation. A
// viewer that watched the rotations pages back from its first line, which
// is now in a compressed copy, and gets every line exactly once.
func TestOlderThroughCopytruncate(t *testing.T) {
	bin := sourcetest.RequireLogrotate(t)
	e := newEnv(t, envOpts{replay: 100, buffer: 4 << 20})
	path := e.path("app.log")
	lr := sourcetest.NewLogrotate(t, bin, path, "copytruncate", "compress", "delaycompress", "rotate 20")
	const per = 3000
	writeStamped(t, path, 1, per)
	c := e.hdial(t)
	got, firstAt := c.live(per)
	total := per
	for range 4 {
		lr.Rotate(t)
		// Wait for the follower to see the truncation before writing: a
		// file that grew past its old size again hides it (not this
		// test's subject).
		for m := c.next(); m.Type != "lines" || len(m.Lines) == 0 || m.Lines[len(m.Lines)-1].Mark != "truncated"; m = c.next() {
		}
		writeStamped(t, path, total+1, total+per)
		total += per
		live, _ := c.live(total)
		got = append(got, live...)
	}
	older, _ := c.pageBack(firstAt, 500)
	t.Logf("older %v, live %v", ranges(older), ranges(got))
	checkAll(t, append(older, got...), total)

	c2 := e.hdial(t)
	got2, firstAt2 := c2.live(total)
	older2, _ := c2.pageBack(firstAt2, 500)
	checkAll(t, append(older2, got2...), total)
}

// ranges summarises line numbers as runs ("1-2900 14401-15000").
func ranges(ns []int) string {
	var b strings.Builder
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		fmt.Fprintf(&b, "%d-%d ", ns[i], ns[j])
		i = j + 1
	}
	return b.String()
}

// Long lines: an older frame holds at most about MaxFrameBytes of text; the
// rest comes with the next request, nothing lost.
func TestOlderFrameBytes(t *testing.T) {
	e := newEnv(t, envOpts{replay: 2})
	path := e.path("app.log")
	var b strings.Builder
	for n := 1; n <= 100; n++ {
		fmt.Fprintf(&b, "%s %s\n", stamp(n), strings.Repeat("z", 60<<10))
	}
	sourcetest.Append(t, path, b.String())
	c := e.hdial(t)
	got, firstAt := c.live(100)
	older, frames := c.pageBack(firstAt, 5000)
	checkAll(t, append(older, got...), 100)
	if len(frames) < 98*60/512 {
		t.Fatalf("%d frames for 98 lines of 60 KiB", len(frames))
	}
}

// TestOlderJudgesEvents: scrolling back through a filtered view judges
// whole events, as the live view does: an old ERROR line comes with its
// stack frames (marked cont), never split between two older frames. Before,
// history judged each line on its own and showed the ERROR line alone.
func TestOlderJudgesEvents(t *testing.T) {
	// The ring opens with the file's last 11 lines: line 34, then the
	// events of lines 35 and 40, whole.
	e := newEnv(t, envOpts{replay: 11})
	path := e.path("app.log")
	var b strings.Builder
	for i := 1; i <= 40; i++ {
		if i%5 == 0 {
			fmt.Fprintf(&b, "%s ERROR boom\n\tat pkg.Work(Work.java:%d)\n\tat pkg.Main(Main.java:1)\n", stamp(i), i)
		} else {
			fmt.Fprintf(&b, "%s INFO fine\n", stamp(i))
		}
	}
	sourcetest.Append(t, path, b.String())
	c := e.hdial(t, "q", "ERROR")
	firstAt := ""
	for firstAt == "" {
		if m := c.next(); m.Type == "lines" {
			firstAt = m.FirstAt
		}
	}
	type oline struct {
		Text string `json:"text"`
		Cont bool   `json:"cont"`
	}
	var got []oline
	before := firstAt
	for req := 0; ; req++ {
		if req > 100 {
			t.Fatal("older never ends")
		}
		if err := c.conn.WriteJSON(map[string]any{"type": "older", "before": before, "n": 1}); err != nil {
			t.Fatal(err)
		}
		var m struct {
			Type  string  `json:"type"`
			More  bool    `json:"more"`
			Next  string  `json:"next"`
			Lines []oline `json:"lines"`
		}
		for m.Type != "older" {
			_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
			if err := c.conn.ReadJSON(&m); err != nil {
				t.Fatal(err)
			}
		}
		if len(m.Lines) > 0 && m.Lines[0].Cont {
			t.Fatalf("an older frame starts inside an event: %+v", m.Lines)
		}
		got = append(m.Lines, got...)
		if !m.More {
			break
		}
		before = m.Next
	}
	// Events 5 … 30 come from history (35 and 40 were the replay).
	if len(got) != 6*3 {
		t.Fatalf("got %d older lines, want 6 events of 3:\n%+v", len(got), got)
	}
	for i, l := range got {
		if frame := i%3 != 0; l.Cont != frame || frame != strings.HasPrefix(l.Text, "\tat pkg.") {
			t.Fatalf("older line %d %+v: want an ERROR line then its two frames (cont)", i, l)
		}
	}
}
