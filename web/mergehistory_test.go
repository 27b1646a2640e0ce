package web_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
)

// History implements tailer.HistorySource for the fleet's rooted hosts.
func (r rooted) History(ctx context.Context, p string) (tailer.History, error) {
	return r.src.History(ctx, r.dir+p)
}

// fleetLine is line n of the fleet's merged story: host hosts[(n/3)%3]
// writes it (runs of three), every line has its own time 10 ms after the
// one before, except n%10 == 4 on a run's second line below 2500, a
// continuation without a time (as in a stack trace). (The live merge keys
// such a line by its receipt time, so none is among the lines the rings
// hold: those written here carry times of the past.)
func fleetLine(n int) (host, text string) {
	host = []string{"a", "b", "c"}[(n/3)%3]
	ts := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * 10 * time.Millisecond)
	if n%10 == 4 && n%3 == 1 && n < 2500 {
		return host, fmt.Sprintf("    at frame n=%07d h=%s", n, host)
	}
	return host, fmt.Sprintf("%s n=%07d h=%s %s", ts.Format("2006-01-02T15:04:05.000Z"), n, host, strings.Repeat("p", n%17))
}

func (f *fleet) writeStory(t *testing.T, from, to int) {
	t.Helper()
	per := map[string]*strings.Builder{}
	for n := from; n <= to; n++ {
		h, text := fleetLine(n)
		if per[h] == nil {
			per[h] = &strings.Builder{}
		}
		per[h].WriteString(text + "\n")
	}
	for h, b := range per {
		f.write(t, h, b.String())
	}
}

func fleetNo(t *testing.T, text string) int {
	t.Helper()
	i := strings.Index(text, " n=")
	var n int
	if i < 0 {
		t.Fatalf("not a fleet line: %q", text)
	}
	if _, err := fmt.Sscanf(text[i+3:i+10], "%d", &n); err != nil {
		t.Fatalf("not a fleet line: %q", text)
	}
	return n
}

type olderFrame struct {
	Type  string `json:"type"`
	Code  string `json:"code"`
	Msg   string `json:"msg"`
	Lines []struct {
		Pos  string `json:"pos"`
		TS   int64  `json:"ts"`
		Text string `json:"text"`
		Host string `json:"host"`
	} `json:"lines"`
	More    bool   `json:"more"`
	Next    string `json:"next"`
	Scanned int64  `json:"scanned"`
}

// pageBack sends older requests from "" until more is false; it returns
// the line numbers of the lines frames that came before the first older
// frame (the replay), those of the older frames, oldest first, and the
// number of older frames.
func (c *mclient) pageBack(n int) (held, got []int, frames int) {
	c.t.Helper()
	before := ""
	for req := 0; ; req++ {
		if req > 5000 {
			c.t.Fatal("older never ends")
		}
		if err := c.conn.WriteJSON(map[string]any{"type": "older", "before": before, "n": n}); err != nil {
			c.t.Fatal(err)
		}
		var m olderFrame
		for m.Type != "older" {
			_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
			if err := c.conn.ReadJSON(&m); err != nil {
				c.t.Fatal(err)
			}
			if m.Type == "error" {
				c.t.Fatalf("request %d before %q: %+v", req, before, m)
			}
			if m.Type == "lines" && req == 0 {
				for _, l := range m.Lines {
					held = append(held, fleetNo(c.t, l.Text))
				}
			}
		}
		if len(m.Lines) > n {
			c.t.Fatalf("%d lines for n=%d", len(m.Lines), n)
		}
		page := make([]int, 0, len(m.Lines))
		for _, l := range m.Lines {
			k := fleetNo(c.t, l.Text)
			if h, _ := fleetLine(k); l.Host != h || l.Pos == "" {
				c.t.Fatalf("line %d: host %q pos %q, want host %q and a position", k, l.Host, l.Pos, h)
			}
			page = append(page, k)
		}
		got = append(page, got...)
		if !m.More {
			return held, got, req + 1
		}
		if m.Next == "" || m.Next == before {
			c.t.Fatalf("request %d: more with next %q (before %q)", req, m.Next, before)
		}
		before = m.Next
	}
}

// Scrolling back in a merged view: each member's history (through a file
// the real logrotate rotated and compressed, on two of them), merged by the
// lines' own times (a line without one stays after the line before it),
// every line once and in order, each with its host; a member that cannot be
// reached is left out without failing the others.
func TestMergedOlder(t *testing.T) {
	bin := sourcetest.RequireLogrotate(t)
	f := newFleet(t, []string{"a", "b", "c"}, true, 50*time.Millisecond)
	const half, total = 1500, 3000
	f.writeStory(t, 1, half)
	for _, h := range []string{"a", "b"} {
		sourcetest.NewLogrotate(t, bin, filepath.Join(f.dirs[h], "app.log"), "create", "compress", "rotate 5").Rotate(t)
	}
	f.writeStory(t, half+1, total)
	for _, tc := range []struct {
		name string
		q    []string
		n    int
		want func(n int) bool
	}{
		{"all", nil, 200, func(int) bool { return true }},
		{"filtered", []string{"q", "7 h="}, 9, func(n int) bool { _, text := fleetLine(n); return strings.Contains(text, "7 h=") }},
		{"by host", []string{"q", "c"}, 50, func(n int) bool { h, text := fleetLine(n); return h == "c" || strings.Contains(text, "c") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.dial(t, group(append([]string{"group", "all", "file", "/app.log"}, tc.q...)...))
			var want []int
			for n := 1; n <= total; n++ {
				if tc.want(n) {
					want = append(want, n)
				}
			}
			// The request goes at once: it is answered after the replay.
			got, older, frames := c.pageBack(tc.n)
			if len(got) == 0 || len(got) > 100 {
				t.Fatalf("replay of %d lines, want 1 to 100", len(got))
			}
			all := append(older, got...)
			for i := range min(len(all), len(want)) {
				if all[i] != want[i] {
					t.Fatalf("line %d of the view is n=%d, want n=%d: got %v, want %v", i, all[i], want[i], all[max(0, i-5):min(len(all), i+5)], want[max(0, i-5):min(len(want), i+5)])
				}
			}
			if len(all) != len(want) {
				t.Fatalf("got %d lines %v\nwant %d %v", len(all), head(all), len(want), head(want))
			}
			t.Logf("%d lines back in %d frames of n=%d", len(older), frames, tc.n)
		})
	}
}

func head(xs []int) []int {
	if len(xs) > 40 {
		return xs[:40]
	}
	return xs
}

// A member none of whose lines is in the view (the replay is all another
// host's newer lines) pages back from where the view's reading of it
// stands: its last line is not lost between the ring and the history.
func TestMergedOlderQuietMember(t *testing.T) {
	f := newFleet(t, []string{"x", "y"}, false, 50*time.Millisecond)
	var bx, by strings.Builder
	for n := 1; n <= 400; n++ {
		b, h := &bx, "x"
		if n > 200 {
			b, h = &by, "y"
		}
		ts := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * 10 * time.Millisecond)
		fmt.Fprintf(b, "%s n=%07d h=%s\n", ts.Format("2006-01-02T15:04:05.000Z"), n, h)
	}
	f.write(t, "x", bx.String())
	f.write(t, "y", by.String())
	c := f.dial(t, group("group", "all", "file", "/app.log"))
	var held, older []int
	before := ""
	for req := 0; ; req++ {
		if err := c.conn.WriteJSON(map[string]any{"type": "older", "before": before, "n": 70}); err != nil {
			t.Fatal(err)
		}
		var m olderFrame
		var page []int
		for m.Type != "older" {
			_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
			if err := c.conn.ReadJSON(&m); err != nil {
				t.Fatal(err)
			}
			if m.Type == "lines" && req == 0 {
				for _, l := range m.Lines {
					held = append(held, fleetNo(t, l.Text))
				}
			}
		}
		for _, l := range m.Lines {
			page = append(page, fleetNo(t, l.Text))
		}
		older = append(page, older...)
		if !m.More {
			break
		}
		before = m.Next
	}
	if len(held) != 100 || held[0] != 301 {
		t.Fatalf("replay %v, want 301..400", head(held))
	}
	all := append(older, held...)
	for i, n := range all {
		if n != i+1 {
			t.Fatalf("line %d of the view is n=%d: %v", i, n, all[max(0, i-5):min(len(all), i+5)])
		}
	}
	if len(all) != 400 {
		t.Fatalf("%d lines, want 400", len(all))
	}
}
