package local_test

import (
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
)

// TestHistoryLogrotate is sources/ssh's TestHistoryLogrotate on this
// machine: paging back from the follower's first line, through the files the
// real logrotate made, reaches the first line ever written, every line once,
// in order, at the follower's positions.
func TestHistoryLogrotate(t *testing.T) {
	numbered := []string{"create", "compress", "delaycompress", "rotate 20"}
	for _, tc := range []struct {
		name       string
		directives []string
		rotations  int
		every      time.Duration
	}{
		{"numbered", numbered, 5, 0},
		{"dateext", append(numbered[:4:4], "dateext", "dateformat -%Y%m%d-%H%M%S"), 3, 1100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sourcetest.RunHistoryLogrotate(t, sourcetest.HistoryRun{
				New: func(tb testing.TB, globs []string) tailer.Source {
					return local.New(globs, local.Options{Poll: 50 * time.Millisecond})
				},
				Directives: tc.directives,
				Rotations:  tc.rotations,
				Every:      tc.every,
			})
		})
	}
}
