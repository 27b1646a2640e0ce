package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logviewer/logviewer/tailer"
	"github.com/logviewer/logviewer/web"
)

// fakeCatalog is a web.Catalog with deterministic logs and no source at all:
// it shows that web needs nothing but the Catalog, and counts opens and
// releases so that a test can check that every Open is released once.
type fakeCatalog struct {
	logs map[[2]string]*tailer.Log // (host, path) → a log filled by the test

	mu       sync.Mutex
	open     map[[2]string]int // logs open now, by (host, path)
	released chan struct{}     // a value after each release
}

var _ web.Catalog = (*fakeCatalog)(nil)

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{logs: map[[2]string]*tailer.Log{}, open: map[[2]string]int{}, released: make(chan struct{}, 64)}
}

// add makes (host, path) a log holding lines "<prefix> 1" … "<prefix> n".
func (c *fakeCatalog) add(host, path, prefix string, n int) *tailer.Log {
	l := tailer.NewLog(host, path, 1000, 1<<20)
	var lines []tailer.Line
	for i := 1; i <= n; i++ {
		lines = append(lines, tailer.Line{Time: int64(1_700_000_000_000 + i), File: 7, Offset: int64(i * 10), Text: fmt.Sprintf("%s %d", prefix, i)})
	}
	l.Lines(lines)
	l.State(tailer.State{Code: tailer.StateFollowing})
	c.logs[[2]string{host, path}] = l
	return l
}

func (c *fakeCatalog) Hosts(context.Context) []tailer.HostInfo {
	seen := map[string]bool{}
	var out []tailer.HostInfo
	for k := range c.logs {
		if !seen[k[0]] {
			seen[k[0]] = true
			out = append(out, tailer.HostInfo{Name: k[0], Groups: []string{}})
		}
	}
	return out
}

func (c *fakeCatalog) Groups(context.Context) []tailer.GroupInfo { return nil }

func (c *fakeCatalog) List(_ context.Context, host string) ([]tailer.FileInfo, error) {
	var out []tailer.FileInfo
	for k := range c.logs {
		if k[0] == host {
			out = append(out, tailer.FileInfo{Path: k[1]})
		}
	}
	if out == nil {
		return nil, fmt.Errorf("%s: %w", host, tailer.ErrUnknownHost)
	}
	return out, nil
}

func (c *fakeCatalog) Check(ctx context.Context, host, path string) error {
	if _, ok := c.logs[[2]string{host, path}]; ok {
		return nil
	}
	if _, err := c.List(ctx, host); err != nil {
		return err
	}
	return fmt.Errorf("%s: %w", path, tailer.ErrNotListed)
}

func (c *fakeCatalog) Open(ctx context.Context, host, path string) (*tailer.Log, func(), error) {
	if err := c.Check(ctx, host, path); err != nil {
		return nil, nil, err
	}
	k := [2]string{host, path}
	c.mu.Lock()
	c.open[k]++
	c.mu.Unlock()
	var once sync.Once
	return c.logs[k], func() {
		once.Do(func() {
			c.mu.Lock()
			c.open[k]--
			c.mu.Unlock()
			c.released <- struct{}{}
		})
	}, nil
}

func (c *fakeCatalog) openNow() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.open {
		n += v
	}
	return n
}

func (c *fakeCatalog) Stats() tailer.Stats                            { return tailer.Stats{} }
func (c *fakeCatalog) Mark(func(host, path string) bool, tailer.Line) {}

func newCatalogEnv(t *testing.T, cat web.Catalog) *env {
	t.Helper()
	srv := web.New(cat, web.Options{Replay: 100})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return &env{url: hs.URL, srv: srv}
}

// TestServesAnyCatalog runs the HTTP API and a viewer against a catalog with
// no source behind it: the listing, the replay of a log's lines, a filter,
// a refusal for a file the catalog does not have, and the release of the
// log when the viewer leaves all come from the Catalog alone.
func TestServesAnyCatalog(t *testing.T) {
	cat := newFakeCatalog()
	cat.add("alpha", "/var/log/app.log", "alpha line", 50)
	cat.add("beta", "/srv/db.log", "beta line", 5)
	e := newCatalogEnv(t, cat)

	code, body := httpGet(t, e.url+"/api/files?host=alpha")
	if code != 200 || !strings.Contains(string(body), `"/var/log/app.log"`) || strings.Contains(string(body), "db.log") {
		t.Fatalf("/api/files?host=alpha: %d %s", code, body)
	}
	code, body = httpGet(t, e.url+"/api/hosts")
	var hosts []struct{ Name string }
	if err := json.Unmarshal(body, &hosts); code != 200 || err != nil || len(hosts) != 2 {
		t.Fatalf("/api/hosts: %d %s (%v)", code, body, err)
	}
	if code, body := httpGet(t, e.url+"/api/files?host=gamma"); code != 404 {
		t.Fatalf("unknown host: %d %s, want 404", code, body)
	}

	q := url.Values{"host": {"alpha"}, "file": {"/var/log/app.log"}}
	c := e.dial(t, q, nil)
	if h := c.nextType("hello"); h.Log == "" {
		t.Fatalf("hello without a log id: %+v", h)
	}
	ls := c.lines(50)
	contiguous(t, ls)
	if ls[0].text != "alpha line 1" || ls[49].text != "alpha line 50" {
		t.Fatalf("replay %q … %q", ls[0].text, ls[49].text)
	}
	if cat.openNow() != 1 {
		t.Fatalf("%d logs open with one viewer, want 1", cat.openNow())
	}
	c.send(map[string]any{"type": "filter", "text": "line 4"})
	var matched []string
	for len(matched) < 11 { // "line 4" and "line 40" … "line 49"
		m := c.next()
		switch m.Type {
		case "lines":
			for _, l := range m.Lines {
				matched = append(matched, l.Text)
			}
		case "reset", "status":
		default:
			t.Fatalf("unexpected %s after a filter: %+v", m.Type, m)
		}
	}
	for _, text := range matched {
		if !strings.Contains(text, "line 4") {
			t.Fatalf("the filter let %q through (%q)", text, matched)
		}
	}
	c.conn.Close()
	select {
	case <-cat.released:
	case <-time.After(timeout):
		t.Fatalf("the log was not released within %s of the viewer leaving", timeout)
	}
	if cat.openNow() != 0 {
		t.Fatalf("%d logs still open after the viewer left", cat.openNow())
	}

	if _, err := e.dialErr(url.Values{"host": {"alpha"}, "file": {"/etc/passwd"}}, nil, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a file the catalog does not have: %v, want HTTP 404", err)
	}
	if cat.openNow() != 0 {
		t.Fatalf("a refused viewer left %d logs open", cat.openNow())
	}
}
