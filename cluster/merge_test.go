package cluster_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestMergedViewOverCluster: a merged view of a group (two hosts that
// serve the same file) on one instance, while the other instance holds one
// of the logs: every line comes once per host, in order per host.
func TestMergedViewOverCluster(t *testing.T) {
	n := startNATS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	w := newWriter(t, file)
	hosts := fmt.Sprintf("[[host]]\nname = \"h1\"\ngroups = [\"g\"]\nfiles = [%q]\n[[host]]\nname = \"h2\"\ngroups = [\"g\"]\nfiles = [%q]\n", file, file)
	a := startInstance(t, dir, n.url(), "lv-1", hosts)
	b := startInstance(t, dir, n.url(), "lv-2", hosts)
	w.write(t, 1, 1)
	// b holds h1's log: it has the first viewer of it.
	vb := dialViewer(t, b, file, "host=h1&")
	vb.waitLine(t, 0, 10*time.Second)

	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.url, "http")+"/ws?group=g&file="+url.QueryEscape(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer conn.Close()
	next := map[string]int{}
	deadline := time.Now().Add(15 * time.Second)
	readUntil := func(want int) {
		t.Helper()
		for next["h1"] < want || next["h2"] < want {
			_ = conn.SetReadDeadline(deadline)
			_, data, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("merged view: %v (next %v, want %d)", err, next, want)
			}
			var f struct {
				Type  string
				Lines []struct {
					Host, Text, Mark string
				}
			}
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatal(err)
			}
			switch f.Type {
			case "gap", "error", "reset":
				t.Fatalf("merged view: %s", data)
			case "lines":
				for _, l := range f.Lines {
					if l.Mark != "" {
						continue
					}
					num, ok := lineNumber(l.Text)
					if !ok || num != next[l.Host] {
						t.Fatalf("merged view: %s line %q, want line %d", l.Host, l.Text, next[l.Host])
					}
					next[l.Host]++
				}
			}
		}
	}
	readUntil(1) // both logs are open and followed
	w.write(t, 2000, 10000)
	readUntil(w.n)
	if got := active(a, b); got != 2 {
		t.Errorf("%d tails for two logs, want 2", got)
	}
	if b.app.Catalog.Holding() < 1 {
		t.Error("b holds no log")
	}
}
