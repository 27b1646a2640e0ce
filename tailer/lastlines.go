package tailer

import "io"

// LastLines returns the offset at which the last n complete lines of the
// first size bytes of r begin (a final line without newline is not
// complete). It reads back at most maxScan bytes: a file whose lines are that
// long in all starts at its oldest newline within them, or mid-line.
func LastLines(r io.ReaderAt, size int64, n int, maxScan int64) (int64, error) {
	if n <= 0 {
		return size, nil
	}
	buf := make([]byte, 64<<10)
	seen := 0
	oldest := int64(-1)
	for end := size; end > 0; {
		if size-end >= maxScan {
			if oldest >= 0 {
				return oldest, nil
			}
			return end, nil
		}
		start := max(0, end-int64(len(buf)))
		chunk := buf[:end-start]
		if k, err := r.ReadAt(chunk, start); k < len(chunk) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF // the file shrank meanwhile
			}
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] == '\n' {
				seen++
				if seen == n+1 {
					return start + int64(i) + 1, nil
				}
				if seen > 1 {
					oldest = start + int64(i) + 1
				}
			}
		}
		end = start
	}
	return 0, nil
}
