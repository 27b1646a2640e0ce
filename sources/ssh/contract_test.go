package ssh_test

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/sources/ssh"
	"github.com/logviewer/logviewer/sources/ssh/sshtest"
	"github.com/logviewer/logviewer/tailer"
)

// testOptions are quick to notice and to retry, and read no ssh_config or agent.
func testOptions() ssh.Options {
	return ssh.Options{
		Poll:           50 * time.Millisecond,
		TailInterval:   20 * time.Millisecond,
		MinBackoff:     50 * time.Millisecond,
		MaxBackoff:     time.Second,
		SSHConfigFiles: []string{},
		AgentSocket:    "none",
		Logger:         testLogger(),
	}
}

// mustNew returns a Source for h that is closed when tb ends.
func mustNew(tb testing.TB, h ssh.Host, all []ssh.Host, opts ssh.Options) *ssh.Source {
	tb.Helper()
	src, err := ssh.New(h, all, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { src.Close() })
	return src
}

// TestContract runs the Source contract suite against a real OpenSSH sshd.
func TestContract(t *testing.T) {
	srv := sshtest.Start(t)
	sourcetest.Run(t, sourcetest.Harness{
		New: func(tb testing.TB, globs []string, maxLine int) tailer.Source {
			opts := testOptions()
			opts.MaxLineBytes = maxLine
			return mustNew(tb, srv.Entry("test", globs...), nil, opts)
		},
	})
}

func testLogger() *slog.Logger {
	if os.Getenv("SSHDEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
