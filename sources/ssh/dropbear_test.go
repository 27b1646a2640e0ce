package ssh_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/sources/ssh/sshtest"
	"github.com/logviewer/logviewer/tailer"
)

// TestContractDropbear runs the Source contract suite against Dropbear.
func TestContractDropbear(t *testing.T) {
	srv := sshtest.StartDropbear(t, sshtest.Config{})
	sourcetest.Run(t, sourcetest.Harness{
		New: func(tb testing.TB, globs []string, maxLine int) tailer.Source {
			opts := testOptions()
			opts.MaxLineBytes = maxLine
			return mustNew(tb, srv.Entry("dropbear", globs...), nil, opts)
		},
	})
}

// TestDropbearStopOneKeepsOther follows two logs of one Dropbear host over
// one connection and stops one: Dropbear gives sessions no process group of
// their own, so a script that signalled its group would take the
// connection down. The other log sees no reconnect and goes on.
func TestDropbearStopOneKeepsOther(t *testing.T) {
	srv := sshtest.StartDropbear(t, sshtest.Config{})
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	sourcetest.Append(t, a, "a0\n")
	sourcetest.Append(t, b, "b0\n")
	src := mustNew(t, srv.Entry("dropbear", filepath.Join(dir, "*.log")), nil, testOptions())
	sinkA, stopA := follow(t, src, a, 10)
	sinkB, stopB := follow(t, src, b, 10)
	waitTexts(t, sinkA, "a0")
	waitTexts(t, sinkB, "b0")
	if n := src.NumConns(); n != 1 {
		t.Fatalf("%d connections, want both logs on one", n)
	}
	start := time.Now()
	stopA() // returns once the remote script has ended
	want := []string{"b0"}
	for i := 1; i <= 3; i++ {
		line := fmt.Sprintf("b%d", i)
		sourcetest.Append(t, b, line+"\n")
		want = append(want, line)
		waitTexts(t, sinkB, want...)
	}
	if marks := sinkB.Marks(); len(marks) > 0 {
		t.Errorf("marks %q on the log that was not stopped", marks)
	}
	_, states := sinkB.Snapshot()
	for _, st := range states {
		if st.Code != tailer.StateFollowing && st.Code != tailer.StateConnecting {
			t.Errorf("state %+v on the log that was not stopped", st)
		}
	}
	if n := src.NumConns(); n != 1 {
		t.Errorf("%d connections after the stop, want the same one", n)
	}
	stopB()
	t.Logf("stop and three more lines on the other log: %s", time.Since(start).Round(time.Millisecond))
}
