package ssh_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/sources/ssh"
	"github.com/logviewer/logviewer/sources/ssh/sshtest"
	"github.com/logviewer/logviewer/tailer"
	"github.com/logviewer/logviewer/web"
)

// Paging back over SSH from the live view, through files the real logrotate
// rotated (compress, delaycompress; and dateext) while the file was
// followed, reaches the first line ever written: every line exactly once,
// in order, at the positions the follower gave them (the same inodes).
// OpenSSH, Dropbear, and a host whose sh, ls and tail are BusyBox's.
func TestHistoryLogrotate(t *testing.T) {
	numbered := []string{"create", "compress", "delaycompress", "rotate 20"}
	dated := append(numbered[:4:4], "dateext", "dateformat -%Y%m%d-%H%M%S")
	for _, tc := range []struct {
		name       string
		server     func(t *testing.T) (*sshtest.Server, func() ssh.Options)
		directives []string
		rotations  int
		every      time.Duration
	}{
		{"OpenSSH", openSSH, numbered, 5, 0},
		{"OpenSSH/dateext", openSSH, dated, 3, 1100 * time.Millisecond},
		{"Dropbear", func(t *testing.T) (*sshtest.Server, func() ssh.Options) {
			return sshtest.StartDropbear(t, sshtest.Config{}), testOptions
		}, numbered, 4, 0},
		{"BusyBox", func(t *testing.T) (*sshtest.Server, func() ssh.Options) {
			return sshtest.StartWith(t, sshtest.Config{Shell: "/bin/sh", Bind: sshtest.BusyBox(t)}), busyBoxOptions
		}, numbered, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, opts := tc.server(t)
			sourcetest.RunHistoryLogrotate(t, sourcetest.HistoryRun{
				New: func(tb testing.TB, globs []string) tailer.Source {
					return mustNew(tb, srv.Entry("test", globs...), nil, opts())
				},
				Directives: tc.directives,
				Rotations:  tc.rotations,
				Every:      tc.every,
			})
		})
	}
}

func openSSH(t *testing.T) (*sshtest.Server, func() ssh.Options) {
	return sshtest.Start(t), testOptions
}

// The path rules hold for history and downloads as for following: a
// sibling that is a symlink (to a file outside) or a FIFO is never read, a
// path that resolves outside the globs has no history, and a rotated
// sibling cannot be downloaded by name.
func TestHistoryPathRules(t *testing.T) {
	srv := sshtest.Start(t)
	dir, outside := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.AppendStamped(t, filepath.Join(dir, "app.log.2"), 1, 10)
	sourcetest.Append(t, filepath.Join(outside, "secret"), "SECRET 1\nSECRET 2\n")
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "app.log.1")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "app.log.3"), 0o644); err != nil {
		t.Fatal(err)
	}
	sourcetest.AppendStamped(t, path, 11, 20)
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "evil.log")); err != nil {
		t.Fatal(err)
	}
	src := mustNew(t, srv.Entry("test", filepath.Join(dir, "*.log")), nil, testOptions())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	h, err := src.History(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lines, _ := sourcetest.PageBack(t, ctx, h, tailer.Position{}, "", 100)
	sourcetest.CheckNumbered(t, "app.log and app.log.2 (app.log.1 is a symlink)", lines, 20)

	if _, err := src.History(ctx, filepath.Join(dir, "evil.log")); !errors.Is(err, tailer.ErrNotListed) {
		t.Errorf("history of a symlink to a file outside: %v, want ErrNotListed", err)
	}
	if _, _, err := src.OpenFile(ctx, filepath.Join(dir, "app.log.2")); !errors.Is(err, tailer.ErrNotListed) {
		t.Errorf("download of a rotated sibling by name: %v, want ErrNotListed", err)
	}
	f, info, err := src.OpenFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	want, _ := os.ReadFile(path)
	if err != nil || string(got) != string(want) || info.Size != int64(len(want)) {
		t.Errorf("download: %d bytes (%v), size %d; want %d bytes", len(got), err, info.Size, len(want))
	}
}

// GET /api/download of a remote file, through the web server and a real
// sshd: the whole file with Range support, the filtered lines, and 404 for
// a rotated sibling named directly.
func TestDownloadOverSSH(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.AppendStamped(t, path, 1, 3000)
	sourcetest.AppendStamped(t, path+".1", 1, 10)
	src := mustNew(t, srv.Entry("remote", filepath.Join(dir, "*.log")), nil, testOptions())
	reg := tailer.NewRegistry(map[string]tailer.Source{"remote": src}, tailer.Options{Replay: 100, Buffer: 1 << 20, IdleStop: time.Minute})
	ws := web.New(reg, web.Options{Replay: 100})
	hs := httptest.NewServer(ws.Handler())
	t.Cleanup(func() {
		ws.Close()
		hs.Close()
		reg.Close()
	})
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, query, rng string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", hs.URL+"/api/download?host=remote&"+query, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}
	file := "file=" + url.QueryEscape(path)
	if resp, body := get(t, file, ""); resp.StatusCode != 200 || body != string(want) || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("whole file: %d, %d bytes of %d, Accept-Ranges %q", resp.StatusCode, len(body), len(want), resp.Header.Get("Accept-Ranges"))
	}
	if resp, body := get(t, file, "bytes=100000-100199"); resp.StatusCode != 206 || body != string(want[100000:100200]) {
		t.Fatalf("range: %d, %q", resp.StatusCode, body)
	}
	if resp, body := get(t, file, "bytes=-50"); resp.StatusCode != 206 || body != string(want[len(want)-50:]) {
		t.Fatalf("suffix range: %d, %q", resp.StatusCode, body)
	}
	var wantLines strings.Builder
	for n := 1; n <= 3000; n++ {
		if strings.Contains(sourcetest.StampedLine(n), "n=00012") {
			wantLines.WriteString(sourcetest.StampedLine(n) + "\n")
		}
	}
	if resp, body := get(t, file+"&q=n%3D00012", ""); resp.StatusCode != 200 || body != wantLines.String() {
		t.Fatalf("filtered: %d, %q, want %q", resp.StatusCode, body, wantLines.String())
	}
	if resp, _ := get(t, "file="+url.QueryEscape(path+".1"), ""); resp.StatusCode != 404 {
		t.Fatalf("a rotated sibling by name: %d, want 404", resp.StatusCode)
	}
}
