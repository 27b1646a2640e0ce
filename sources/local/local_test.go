package local_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/logviewer/logviewer/sources/local"
	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/tailer"
)

func TestContract(t *testing.T) {
	sourcetest.Run(t, harness())
}

// TestHardening runs the tests of what a Source must refuse and survive
// (symlinks, FIFOs, devices, 50 MiB lines, truncation behind the reader).
func TestHardening(t *testing.T) {
	sourcetest.RunHardening(t, harness())
}

func harness() sourcetest.Harness {
	return sourcetest.Harness{
		New: func(tb testing.TB, globs []string, maxLine int) tailer.Source {
			return local.New(globs, local.Options{MaxLineBytes: maxLine, Poll: 50 * time.Millisecond})
		},
		// nxadm/tail's one inotify watcher per process lives as long as the process.
		Ignore: []goleak.Option{
			goleak.IgnoreTopFunction("github.com/nxadm/tail/watch.(*InotifyTracker).run"),
			goleak.IgnoreTopFunction("github.com/fsnotify/fsnotify.(*Watcher).readEvents"),
		},
	}
}
