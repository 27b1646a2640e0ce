package local

import (
	"testing"
	"time"
)

// TestPacer: reads that keep finding bytes close together switch a
// follower to reading on a clock; reads that find nothing switch it back;
// a quiet log never leaves wake-ups.
func TestPacer(t *testing.T) {
	var p pacer
	defer p.stop()
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	// A quiet log: a read with bytes every 10 ms stays on wake-ups.
	for i := range 20 {
		if c := p.after(100, at(time.Duration(i)*10*time.Millisecond)); c != paceSame || p.C() != nil {
			t.Fatalf("quiet read %d: change %d, clock %v", i, c, p.C() != nil)
		}
	}
	// Reads with bytes 100 µs apart: busy after busyRuns of them.
	base := time.Second
	var changed int
	for i := range busyRuns + 1 {
		if c := p.after(100, at(base+time.Duration(i)*100*time.Microsecond)); c == paceBusy {
			changed = i
		}
	}
	if changed != busyRuns || p.C() == nil {
		t.Fatalf("busy after %d quick reads (clock %v), want %d", changed, p.C() != nil, busyRuns)
	}
	// While busy, a read with bytes keeps it busy; idleRuns empty reads end it.
	if c := p.after(100, at(2*time.Second)); c != paceSame {
		t.Fatalf("busy read with bytes: change %d", c)
	}
	for i := range idleRuns {
		c := p.after(0, at(2*time.Second+time.Duration(i+1)*time.Millisecond))
		if want := paceSame; i == idleRuns-1 {
			want = paceIdle
			if c != want {
				t.Fatalf("empty read %d: change %d, want idle", i, c)
			}
		} else if c != want {
			t.Fatalf("empty read %d: change %d, want same", i, c)
		}
	}
	if p.C() != nil {
		t.Fatal("the clock still runs after going idle")
	}
	// An empty read while idle changes nothing.
	if c := p.after(0, at(3*time.Second)); c != paceSame {
		t.Fatalf("empty idle read: change %d", c)
	}
}
