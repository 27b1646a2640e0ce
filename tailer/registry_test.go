package tailer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource counts running follows; the real sources have their own suite.
type fakeSource struct {
	mu      sync.Mutex
	running int
	started chan struct{}
	stopped chan struct{}
}

func (f *fakeSource) List(context.Context) ([]FileInfo, error) {
	return []FileInfo{{Path: "/a.log"}}, nil
}

func (f *fakeSource) Check(_ context.Context, path string) error {
	if path != "/a.log" {
		return ErrNotListed
	}
	return nil
}

func (f *fakeSource) Follow(ctx context.Context, path string, n int, sink Sink) error {
	f.mu.Lock()
	f.running++
	f.mu.Unlock()
	f.started <- struct{}{}
	sink.State(State{Code: StateFollowing})
	<-ctx.Done()
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
	f.stopped <- struct{}{}
	return ctx.Err()
}

func TestRegistryOneFollowPerLogAndIdleStop(t *testing.T) {
	src := &fakeSource{started: make(chan struct{}, 10), stopped: make(chan struct{}, 10)}
	r := NewRegistry(map[string]Source{"h": src}, Options{Replay: 10, Buffer: 1 << 20, IdleStop: 50 * time.Millisecond})
	defer r.Close()
	ctx := context.Background()

	l1, rel1, err := r.Open(ctx, "h", "/a.log")
	if err != nil {
		t.Fatal(err)
	}
	l2, rel2, err := r.Open(ctx, "h", "/a.log")
	if err != nil || l1 != l2 {
		t.Fatalf("second Acquire: %v, same log %v", err, l1 == l2)
	}
	<-src.started
	changed := r.Changed()
	rel1()
	rel1() // a second call is harmless
	rel2()
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed not closed when the tail stopped")
	}
	select {
	case <-src.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("follow not stopped after the idle delay")
	}
	if r.Active() != 0 {
		t.Fatalf("%d logs active after idle stop", r.Active())
	}
	select {
	case <-src.started:
		t.Fatal("a second follow ran")
	default:
	}
}

func TestRegistryReacquireCancelsIdleStop(t *testing.T) {
	src := &fakeSource{started: make(chan struct{}, 10), stopped: make(chan struct{}, 10)}
	r := NewRegistry(map[string]Source{"h": src}, Options{Replay: 10, Buffer: 1 << 20, IdleStop: time.Hour})
	_, rel, _ := r.Open(context.Background(), "h", "/a.log")
	<-src.started
	rel()
	_, rel, _ = r.Open(context.Background(), "h", "/a.log")
	rel()
	r.Close()
	<-src.stopped
	if len(src.started) != 0 {
		t.Fatal("re-acquiring during the idle delay started a second follow")
	}
}

func TestRegistryRefusesUnknown(t *testing.T) {
	src := &fakeSource{started: make(chan struct{}, 1), stopped: make(chan struct{}, 1)}
	r := NewRegistry(map[string]Source{"h": src}, Options{Replay: 10, Buffer: 1 << 20})
	defer r.Close()
	if _, _, err := r.Open(context.Background(), "x", "/a.log"); !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("unknown host: %v", err)
	}
	if _, _, err := r.Open(context.Background(), "h", "/etc/passwd"); !errors.Is(err, ErrNotListed) {
		t.Fatalf("unlisted path: %v", err)
	}
}

func TestRegistryReleaseAfterCloseArmsNoTimer(t *testing.T) {
	src := &fakeSource{started: make(chan struct{}, 1), stopped: make(chan struct{}, 1)}
	r := NewRegistry(map[string]Source{"h": src}, Options{Replay: 10, Buffer: 1 << 20, IdleStop: time.Hour})
	_, rel, err := r.Open(context.Background(), "h", "/a.log")
	if err != nil {
		t.Fatal(err)
	}
	<-src.started
	r.Close()
	<-src.stopped
	rel() // a viewer that disconnects after shutdown
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, e := range r.logs {
		if e.idle != nil {
			t.Fatalf("release after Close armed an idle timer for %v", k)
		}
	}
}

// TestMarksPlacedByTime: marks that exist when a log is opened go among
// its first lines by the lines' own time; marks made later go in live.
func TestMarksPlacedByTime(t *testing.T) {
	at := func(s string) int64 { tm, _ := time.Parse(time.RFC3339, s); return tm.UnixMilli() }
	l := NewLog("h", "/a.log", 10, 1<<20)
	s := newMarkSink(l, []Line{
		{Time: at("2026-11-28T08:00:01Z"), Offset: -1, Text: "deploy v1", Mark: "deploy"},
		{Time: at("2026-11-28T08:00:05Z"), Offset: -1, Text: "deploy v2", Mark: "deploy"},
	})
	now := at("2026-11-28T09:00:00Z")
	s.inject(Line{Time: at("2026-11-28T08:00:05Z"), Offset: -1, Text: "deploy v2", Mark: "deploy"}) // already pending: not twice
	s.Lines([]Line{
		{Time: now, Text: "2026-11-28T08:00:00Z a"},
		{Time: now, Text: "2026-11-28T08:00:02Z b"},
		{Time: now, Text: "no time c"},
	})
	s.inject(Line{Time: now, Offset: -1, Text: "deploy v3", Mark: "deploy"})
	got, _ := l.Read(nil, 1, 100)
	var texts []string
	for _, g := range got {
		texts = append(texts, g.Text)
	}
	// "c" has no time of its own: its receipt time (09:00) places it after v2.
	want := "2026-11-28T08:00:00Z a|deploy v1|2026-11-28T08:00:02Z b|deploy v2|no time c|deploy v3"
	if strings.Join(texts, "|") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(texts, "|"), want)
	}
}
