package tailer

import (
	"strings"
	"testing"
)

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		text string
		n    int
		want int64
	}{
		{"a\nb\nc\n", 2, 2},
		{"a\nb\nc\npar", 2, 2},
		{"a\nb\n", 5, 0},
		{"a\nb\n", 0, 4},
		{"", 3, 0},
		{"partial", 1, 0},
	} {
		got, err := LastLines(strings.NewReader(tc.text), int64(len(tc.text)), tc.n, 1<<20)
		if err != nil || got != tc.want {
			t.Errorf("LastLines(%q, %d) = %d, %v; want %d", tc.text, tc.n, got, err, tc.want)
		}
	}
	// A file of huge lines is read back only so far.
	huge := strings.Repeat("x", 200<<10) + "\n" + strings.Repeat("y", 300<<10) + "\n" + strings.Repeat("z", 300<<10) + "\n"
	r := &countingReader{r: strings.NewReader(huge)}
	got, err := LastLines(r, int64(len(huge)), 10, 400<<10)
	if err != nil || got != 200<<10+1+300<<10+1 || r.n > 500<<10 {
		t.Errorf("lastLines on huge lines = %d, %v after reading %d bytes", got, err, r.n)
	}
}

type countingReader struct {
	r *strings.Reader
	n int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += n
	return n, err
}
