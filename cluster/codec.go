package cluster

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/logviewer/logviewer/tailer"
)

// A batch is one stream message: many lines of one log, numbered from the
// seq in its Lv-Seq header. Its headers also carry what a new holder needs to
// continue where the last one stopped (see header names below); the body is
// the lines, each as
//
//	varint time, uvarint file, varint offset, uvarint len + mark, uvarint len + text
const (
	hdrSeq    = "Lv-Seq"    // seq of the batch's first line
	hdrNext   = "Lv-Next"   // seq after its last line (= Lv-Seq when it has none)
	hdrPos    = "Lv-Pos"    // position of the last file line published so far (tailer.Position text)
	hdrMark   = "Lv-Mark"   // time (Unix ms) of the newest deploy mark published so far
	hdrState  = "Lv-State"  // the source's state code, when it changed (or the holder is new)
	hdrMsg    = "Lv-Msg"    // the state's message
	hdrHolder = "Lv-Holder" // instance that published it (for people)
)

// maxBatchBytes bounds one message's lines. A batch is what the holder's
// ring has when the previous publish is acknowledged, so it is small when
// lines are few (a line or so) and grows with the rate; 256 KiB (a quarter
// of NATS's default max_payload) let one log reach 400k lines/s where 64 KiB
// gave 170k (bench, scenario cluster). A single longer line goes alone.
const maxBatchBytes = 256 << 10

// lineOverhead is what a line costs in a batch besides its text.
const lineOverhead = 32

// appendLines encodes lines (without their seqs) onto b.
func appendLines(b []byte, lines []tailer.Line) []byte {
	for i := range lines {
		l := &lines[i]
		b = binary.AppendVarint(b, l.Time)
		b = binary.AppendUvarint(b, l.File)
		b = binary.AppendVarint(b, l.Offset)
		b = binary.AppendUvarint(b, uint64(len(l.Mark)))
		b = append(b, l.Mark...)
		b = binary.AppendUvarint(b, uint64(len(l.Text)))
		b = append(b, l.Text...)
	}
	return b
}

var errCorrupt = errors.New("cluster: corrupt batch")

// decodeLines reads n lines from b, numbering them from seq.
func decodeLines(dst []tailer.Line, b []byte, seq uint64, n int) ([]tailer.Line, error) {
	str := func() (string, bool) {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return "", false
		}
		s := string(b[k : k+int(l)])
		b = b[k+int(l):]
		return s, true
	}
	for i := 0; i < n; i++ {
		var l tailer.Line
		var k int
		if l.Time, k = binary.Varint(b); k <= 0 {
			return dst, errCorrupt
		}
		b = b[k:]
		if l.File, k = binary.Uvarint(b); k <= 0 {
			return dst, errCorrupt
		}
		b = b[k:]
		if l.Offset, k = binary.Varint(b); k <= 0 {
			return dst, errCorrupt
		}
		b = b[k:]
		var ok1, ok2 bool
		l.Mark, ok1 = str()
		l.Text, ok2 = str()
		if !ok1 || !ok2 {
			return dst, errCorrupt
		}
		l.Seq = seq + uint64(i)
		dst = append(dst, l)
	}
	if len(b) != 0 {
		return dst, errCorrupt
	}
	return dst, nil
}

// tail is what a batch's headers say about the stream of its log after it.
type tail struct {
	seq, next uint64
	pos       tailer.Position
	hasPos    bool
	markTime  int64
	state     *tailer.State // nil: unchanged
}

func readHeader(h nats.Header) (tail, error) {
	var t tail
	var err1, err2 error
	t.seq, err1 = strconv.ParseUint(h.Get(hdrSeq), 10, 64)
	t.next, err2 = strconv.ParseUint(h.Get(hdrNext), 10, 64)
	if err1 != nil || err2 != nil || t.next < t.seq || t.seq == 0 {
		return t, errCorrupt
	}
	if p := h.Get(hdrPos); p != "" {
		pos, err := tailer.ParsePosition(p)
		if err != nil {
			return t, errCorrupt
		}
		t.pos, t.hasPos = pos, true
	}
	if m := h.Get(hdrMark); m != "" {
		t.markTime, _ = strconv.ParseInt(m, 10, 64)
	}
	if c := h.Get(hdrState); c != "" {
		t.state = &tailer.State{Code: c, Msg: h.Get(hdrMsg)}
	}
	return t, nil
}
