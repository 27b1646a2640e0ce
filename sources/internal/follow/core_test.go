package follow

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/logviewer/logviewer/tailer"
)

type sink struct{ lines []tailer.Line }

func (s *sink) Lines(ls []tailer.Line) { s.lines = append(s.lines, ls...) }
func (s *sink) State(tailer.State)     {}

// TestBatchesInFlight: batches cut while earlier ones are unverified are
// checked against the file on their own (each from where the previous one
// ends), committed in order, and one the file no longer holds is caught
// even though the batches before it were fine.
func TestBatchesInFlight(t *testing.T) {
	var file bytes.Buffer
	for i := range 3000 {
		fmt.Fprintf(&file, "line %04d %s\n", i, strings.Repeat("x", i%50))
	}
	data := file.Bytes()
	var s sink
	var c Core
	c.Init(&s, 1000)
	if err := c.Reset(bytes.NewReader(data), 0); err != nil {
		t.Fatal(err)
	}
	var batches []*Batch
	for off := 0; off < len(data); {
		n := min(len(data)-off, 7000)
		c.Feed(data[off:off+n], n+1)
		off += n
		batches = append(batches, c.Cut())
	}
	if c.Pending() != 0 || c.Delivered() != 0 {
		t.Fatalf("after cutting: %d pending, delivered %d", c.Pending(), c.Delivered())
	}
	r := bytes.NewReader(data)
	for i, b := range batches {
		if ok, err := VerifyBatch(r, b); !ok || err != nil {
			t.Fatalf("batch %d: verify %v %v", i, ok, err)
		}
	}
	for _, b := range batches[:len(batches)/2] {
		c.CommitBatch(b)
	}
	// The file is rewritten in the middle of a later batch.
	changed := bytes.Clone(data)
	mid := batches[len(batches)-2]
	at := mid.end - 5
	changed[at] ^= 1
	bad := 0
	for _, b := range batches[len(batches)/2:] {
		if ok, _ := VerifyBatch(bytes.NewReader(changed), b); !ok {
			bad++
		}
	}
	if bad == 0 {
		t.Fatal("a batch the file no longer holds was verified")
	}
	for _, b := range batches[len(batches)/2:] {
		c.CommitBatch(b)
	}
	if len(s.lines) != 3000 {
		t.Fatalf("%d lines delivered, want 3000", len(s.lines))
	}
	for i, l := range s.lines {
		if want := fmt.Sprintf("line %04d", i); !strings.HasPrefix(l.Text, want) {
			t.Fatalf("line %d is %q", i, l.Text)
		}
	}
	if c.Delivered() != int64(len(data)) || !bytes.HasSuffix(data, c.Known()) || len(c.Known()) != KnownLen {
		t.Fatalf("delivered %d of %d, known %d bytes", c.Delivered(), len(data), len(c.Known()))
	}
	// After a Restart the next batch starts at what was delivered.
	c.Restart()
	b := c.Cut()
	if b.from != c.Delivered() || !bytes.Equal(b.fromKnown, c.Known()) {
		t.Fatalf("a batch after Restart starts at %d, want %d", b.from, c.Delivered())
	}
}
