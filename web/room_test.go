package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logviewer/logviewer/filter"
	"github.com/logviewer/logviewer/tailer"
)

// testRoom is a room over a Log of n lines, with viewers whose frames are
// collected instead of sent.
func testRoom(t *testing.T, n int) (*room, *tailer.Log) {
	t.Helper()
	l := tailer.NewLog("h", "/f.log", 1000, 1<<30)
	batch := make([]tailer.Line, 0, 4096)
	for i := range n {
		batch = append(batch, tailer.Line{File: 1, Offset: int64(i+1) * 100, Text: fmt.Sprintf("line %d of a quiet log with nothing to find in it", i)})
		if len(batch) == cap(batch) {
			l.Lines(batch)
			batch = batch[:0]
		}
	}
	l.Lines(batch)
	srv := &Server{opts: Options{Replay: 1000, MaxInflight: 1 << 20, MaxBatch: defaultMaxBatch, MaxFrameBytes: defaultMaxFrameBytes, FlushInterval: time.Nanosecond}}
	return newRoom(srv, l), l
}

func collect(v *viewer) *[]string {
	var frames []string
	v.out = func(b []byte) error { frames = append(frames, string(b)); return nil }
	return &frames
}

// TestCostlyScanIsSlicedOthersServed: a viewer whose new filter must look
// back through a large ring (no line matches) does so in slices of
// scanBudget; in the same pump another viewer of the log is sent its lines.
// Before, the whole look back ran inside one pump (issue 8 item 3: other
// viewers received nothing for over 10 s).
func TestCostlyScanIsSlicedOthersServed(t *testing.T) {
	r, l := testRoom(t, 400_000)
	first, next := l.Bounds()
	f, err := filter.Compile(filter.Spec{Text: `nothing\s+matches\s+this\d`, Regex: true})
	if err != nil {
		t.Fatal(err)
	}
	a := &viewer{room: r, filter: f, seek: &seek{below: next}, replayEnd: next, sentState: l.Status()}
	b := &viewer{room: r, cursor: next - 3, replayEnd: next, sentState: l.Status()}
	framesA, framesB := collect(a), collect(b)

	_, _, busy := r.pump([]*viewer{a, b}, time.Now(), time.Time{})
	if !busy || a.seek == nil {
		t.Fatalf("the look back through %d lines finished in one pump (busy %v): it must be sliced", next-first, busy)
	}
	if len(*framesB) != 1 || !strings.Contains((*framesB)[0], "line 399999 ") || b.cursor != next {
		t.Fatalf("the other viewer was not served in the same pump: %d frames, cursor %d of %d", len(*framesB), b.cursor, next)
	}
	pumps := 1
	for a.seek != nil || a.cursor < next {
		if pumps++; pumps > 100_000 {
			t.Fatal("look back never ends")
		}
		r.pump([]*viewer{a, b}, time.Now(), time.Time{})
	}
	if len(*framesA) != 0 {
		t.Fatalf("no line matches, yet %d frames were sent", len(*framesA))
	}
	t.Logf("look back through %d lines took %d pumps", next-first, pumps)
}

// TestSeekFindsLastReplayMatches: the sliced look back starts the viewer at
// the Replay-th matching line from the end, as StartFor does.
func TestSeekFindsLastReplayMatches(t *testing.T) {
	r, l := testRoom(t, 50_000)
	_, next := l.Bounds()
	f, _ := filter.Compile(filter.Spec{Text: "7 of"})
	v := &viewer{room: r, filter: f, seek: &seek{below: next}, replayEnd: next, sentState: l.Status()}
	frames := collect(v)
	first, _ := l.Bounds()
	for i := 0; !r.seekStep(v, first, time.Now().Add(scanBudget)); i++ {
		if i > 100_000 {
			t.Fatal("look back never ends")
		}
	}
	if want := l.StartFor(1000, f.KeepFunc()); v.cursor != want {
		t.Fatalf("cursor %d, StartFor says %d", v.cursor, want)
	}
	for i := 0; v.cursor < next && i < 1000; i++ {
		r.pump([]*viewer{v}, time.Now(), time.Time{})
	}
	n := 0
	for _, fr := range *frames {
		n += strings.Count(fr, `"seq":`)
	}
	if n != 1000 {
		t.Fatalf("replayed %d matching lines, want 1000", n)
	}
}

// TestFilterChangesRateLimited: a burst of filter changes (issue 8: 100/s
// slowed everyone) is coalesced: at most one comes into force per
// filterEvery, and the last one wins.
func TestFilterChangesRateLimited(t *testing.T) {
	r, l := testRoom(t, 10_000)
	_, next := l.Bounds()
	v := &viewer{room: r, cursor: next, replayEnd: next}
	frames := collect(v)
	now := time.Now()
	var last *filter.Filter
	for i := range 100 { // 100 changes over 100 ms
		last, _ = filter.Compile(filter.Spec{Text: fmt.Sprintf("of %d", i)})
		v.inbox = append(v.inbox, control{filter: last, setFilter: true})
		r.pump([]*viewer{v}, now.Add(time.Duration(i)*time.Millisecond), time.Time{})
	}
	for i := 0; v.pending != nil || v.seek != nil; i++ {
		if i > 10_000 {
			t.Fatal("the last filter never came into force")
		}
		r.pump([]*viewer{v}, now.Add(time.Second), time.Time{})
	}
	resets := 0
	for _, f := range *frames {
		if strings.Contains(f, `"type":"reset"`) {
			resets++
		}
	}
	if resets > 3 || v.filter != last {
		t.Fatalf("%d resets for 100 changes in 100 ms (want at most 3); last filter in force: %v", resets, v.filter == last)
	}
}

// TestResumeSinceMaxDoesNotRewind: since = 2^64-1 used to wrap to 0 and
// replay the whole ring.
func TestResumeSinceMaxDoesNotRewind(t *testing.T) {
	r, l := testRoom(t, 100)
	_, next := l.Bounds()
	v := &viewer{room: r, cursor: next, replayEnd: next}
	collect(v)
	since := ^uint64(0)
	r.apply(v, []control{{since: &since}}, next, time.Now())
	if v.cursor != next {
		t.Fatalf("cursor %d after resume since 2^64-1, want %d (the next line)", v.cursor, next)
	}
}

// FuzzDecodeMessage: whatever a browser sends, decoding yields exactly one
// control, never panics, and an error text stays short.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{`{"type":"filter","text":"x","regex":true}`, `{"type":"resume","since":18446744073709551615}`, `{"type":"resume"}`, `{`, `[]`, `{"type":"filter","text":".{0,999}.{0,999}","regex":true}`, `{"type":"\u0000"}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := decodeMessage(data)
		n := 0
		if c.setFilter {
			n++
		}
		if c.since != nil {
			n++
		}
		if c.err != nil {
			n++
			if len(c.err.Msg) > 2*filter.MaxTextLen || c.err.Code == "" {
				t.Fatalf("error %+v", c.err)
			}
		}
		if n != 1 && !(n == 0 && c.setFilter == false && c.filter == nil) {
			t.Fatalf("%q gave %+v", data, c)
		}
	})
}

// TestSlowFilterIsTakenAway: a regex that is slow on this log's lines (over
// slowLine on slowStrikes lines) is removed from its viewer with a
// bad_filter error and a reset, and the viewer gets the unfiltered log.
func TestSlowFilterIsTakenAway(t *testing.T) {
	l := tailer.NewLog("h", "/f.log", 10, 1<<30)
	long := strings.Repeat("x", 32<<10)
	for range 6 {
		l.Lines([]tailer.Line{{File: 1, Offset: -1, Text: long}})
	}
	_, next := l.Bounds()
	srv := &Server{opts: Options{Replay: 10, MaxInflight: 1 << 20, MaxBatch: defaultMaxBatch, MaxFrameBytes: defaultMaxFrameBytes, FlushInterval: time.Nanosecond}}
	r := newRoom(srv, l)
	f, err := filter.Compile(filter.Spec{Text: strings.Repeat(".?", 400) + "Q", Regex: true})
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{room: r, filter: f, seek: &seek{below: next}, replayEnd: next, sentState: l.Status()}
	frames := collect(v)
	for i := 0; v.filter != nil; i++ {
		if i > 1000 {
			t.Fatal("the slow filter was never taken away")
		}
		r.pump([]*viewer{v}, time.Now(), time.Time{})
	}
	joined := strings.Join(*frames, "\n")
	if !strings.Contains(joined, `"code":"bad_filter"`) || !strings.Contains(joined, `"type":"reset"`) || v.cursor >= next {
		t.Fatalf("frames %.300s…; cursor %d of %d", joined, v.cursor, next)
	}
}

// TestFewLinesArePumpedWhereTheyArrive: a small batch is sent on the
// source's goroutine, inside Log.Lines, when the room's goroutine is idle (no
// hand-off per batch at a moderate rate); a large one, or one arriving while
// the room pumps, only wakes the room's goroutine.
func TestFewLinesArePumpedWhereTheyArrive(t *testing.T) {
	r, l := testRoom(t, 10)
	_, next := l.Bounds()
	v := &viewer{room: r, cursor: next, replayEnd: next, sentState: l.Status()}
	frames := collect(v)
	r.running.Store(true) // as if the room's goroutine ran: pokes only leave a wake-up
	r.add(v)
	<-r.wake
	defer r.end()

	l.Lines([]tailer.Line{{File: 1, Offset: 2000, Text: "small batch"}})
	if len(*frames) != 1 || !strings.Contains((*frames)[0], "small batch") {
		t.Fatalf("a small batch was not sent where it arrived: %q", *frames)
	}
	select {
	case <-r.wake:
		t.Fatal("a small batch sent inline also woke the room's goroutine")
	default:
	}

	big := make([]tailer.Line, inlineLines+1)
	for i := range big {
		big[i] = tailer.Line{File: 1, Offset: int64(3000 + i), Text: "big"}
	}
	l.Lines(big)
	if len(*frames) != 1 {
		t.Fatalf("a batch of %d lines was pumped on the source's goroutine", len(big))
	}
	select {
	case <-r.wake:
	default:
		t.Fatal("a large batch did not wake the room's goroutine")
	}

	r.pumpMu.Lock() // the room's goroutine is pumping
	l.Lines([]tailer.Line{{File: 1, Offset: 5000, Text: "while busy"}})
	r.pumpMu.Unlock()
	select {
	case <-r.wake:
	default:
		t.Fatal("lines that came while the room pumped did not wake it")
	}
	if len(*frames) != 1 {
		t.Fatal("lines were pumped twice at once")
	}
}

// TestLinesDuringAPumpAreNotLeftBehind: lines that reach the Log while the
// room pumps, after the pump read the Log's bounds, must still be sent. The
// source skips telling the room while every viewer waits for a flush the
// room's timer will make ("quiet"); a pump that started with quiet set from
// the pump before made the source skip it for lines the pump would not
// see, and when that pump found nothing left to hold back, nobody woke the
// room again: the view stalled until the next line came (found by the e2e
// test TestGapShownWhenTheViewFallsBehind under load).
func TestLinesDuringAPumpAreNotLeftBehind(t *testing.T) {
	r, l := testRoom(t, 10)
	r.srv.opts.FlushInterval = time.Hour // lines wait for frames in flight
	_, next := l.Bounds()
	v := &viewer{room: r, cursor: next, replayEnd: next, sentState: l.Status()}
	var frames []string
	var during func()
	v.out = func(b []byte) error {
		frames = append(frames, string(b))
		if f := during; f != nil {
			during = nil
			f()
		}
		return nil
	}
	r.running.Store(true) // as if the room's goroutine ran: pokes only leave a wake-up
	r.add(v)
	<-r.wake
	defer r.end()
	drain := func() bool {
		select {
		case <-r.wake:
			return true
		default:
			return false
		}
	}

	l.Lines([]tailer.Line{{File: 1, Offset: 2000, Text: "A"}}) // sent at once: a frame in flight
	l.Lines([]tailer.Line{{File: 1, Offset: 2100, Text: "B"}}) // held for the flush
	if len(frames) != 1 || !r.quiet.Load() {
		t.Fatalf("setup: frames %q, quiet %v; want A sent and B held", frames, r.quiet.Load())
	}
	drain()
	// A is written: the room is woken and pumps B. While B is being sent,
	// C reaches the Log.
	r.sent(v)
	if !drain() {
		t.Fatal("the last frame written did not wake the room holding B")
	}
	during = func() { l.Lines([]tailer.Line{{File: 1, Offset: 2200, Text: "C"}}) }
	r.pumpMu.Lock()
	r.pumpAll(time.Time{})
	r.pumpMu.Unlock()
	if len(frames) != 2 || !strings.Contains(frames[1], `"B"`) {
		t.Fatalf("frames %q: want B sent by the pump", frames)
	}
	if !drain() {
		t.Fatal("C came during the pump and nobody was told to send it")
	}
}

// TestRoomGoroutineEndsWhenIdle: the room's goroutine runs only while it
// has work; a quiet log's room holds none, and new work starts one again.
func TestRoomGoroutineEndsWhenIdle(t *testing.T) {
	r, l := testRoom(t, 10)
	defer r.end()
	_, next := l.Bounds()
	v := &viewer{room: r, cursor: next, replayEnd: next, sentState: l.Status()}
	frames := make(chan string, 16)
	v.out = func(b []byte) error { frames <- string(b); return nil }
	idle := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for r.running.Load() {
			if time.Now().After(deadline) {
				t.Fatal("the room's goroutine still runs with nothing to do")
			}
			time.Sleep(time.Millisecond)
		}
	}
	r.add(v) // starts the goroutine, which finds nothing to send and ends
	idle()
	big := make([]tailer.Line, inlineLines+1) // too many to pump inline: wakes the room
	for i := range big {
		big[i] = tailer.Line{File: 1, Offset: int64(2000 + i), Text: fmt.Sprintf("big %d", i)}
	}
	l.Lines(big)
	select {
	case f := <-frames:
		if !strings.Contains(f, "big 0") {
			t.Fatalf("unexpected frame %.80q", f)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lines that woke an idle room were never sent")
	}
	idle()
	r.end()
	r.poke()
	if r.running.Load() {
		t.Fatal("a poke after end started the room's goroutine")
	}
}

// TestMergedViewIsToldOfEveryChange: a merged view's member watch pokes the
// view for a change that comes right after the previous poke, while the
// view would be reading. It used to take the next change's channel only
// after poking, so such a change went unnoticed and the view waited for the
// one after it (a stalled view in TestAttackStalledMergedViewErrorsKeepFlowControl,
// about 1 run of the package in 6).
func TestMergedViewIsToldOfEveryChange(t *testing.T) {
	l := tailer.NewLog("h", "/f.log", 100, 1<<20)
	mv := &mergeView{wake: make(chan struct{}, 1)}
	m := &member{host: "h", log: l}
	mv.watch(m)
	defer func() {
		close(m.stopWatch)
		mv.wg.Wait()
	}()
	for i := range 300 {
		l.Lines([]tailer.Line{{File: 1, Offset: int64(i+1) * 10, Text: "x"}})
		select {
		case <-mv.wake:
		case <-time.After(5 * time.Second):
			t.Fatalf("change %d: the view was never poked", i)
		}
	}
}
