package ssh_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"

	"github.com/logviewer/logviewer/sources/sourcetest"
	"github.com/logviewer/logviewer/sources/ssh"
	"github.com/logviewer/logviewer/sources/ssh/sshtest"
	"github.com/logviewer/logviewer/tailer"
)

// TestLinkCut cuts the TCP connection under a followed log five times while
// a writer appends numbered lines: every line arrives exactly once and in
// order, and viewers are told about the reconnect.
func TestLinkCut(t *testing.T) {
	srv := sshtest.Start(t)
	proxy := sshtest.NewProxy(t, srv.Addr)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(t, path, "")
	h := srv.Entry("cut", filepath.Join(dir, "*.log"))
	h.Address = proxy.Addr
	h.KnownHosts = sshtest.WriteFile(t, "known_hosts", srv.KnownHostsLine(proxy.Addr)+"\n")
	src := mustNew(t, h, nil, testOptions())
	sink, stop := follow(t, src, path, 0)
	sink.WaitState(t, timeout, tailer.StateFollowing)

	// The writer appends two numbered lines a millisecond until told to stop.
	var written atomic.Int64
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for n := 0; ; {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			if _, err := fmt.Fprintf(f, "line %06d\nline %06d\n", n+1, n+2); err != nil {
				t.Error(err)
				return
			}
			n += 2
			written.Store(int64(n))
		}
	}()

	const cuts = 5
	var took []time.Duration
	for i := 1; i <= cuts; i++ {
		base := len(sink.Texts())
		sink.WaitTexts(t, timeout, base+100) // lines flow before each cut
		_, states := sink.Snapshot()
		seen := len(states)
		at := time.Now()
		if n := proxy.Cut(); n != 1 {
			t.Fatalf("cut %d connections, want 1", n)
		}
		sink.WaitFor(t, timeout, fmt.Sprintf("reconnect %d", i), func(_ []tailer.Line, states []tailer.State) bool {
			re := false
			for _, st := range states[seen:] {
				switch {
				case st.Code == tailer.StateReconnecting:
					re = true
				case re && st.Code == tailer.StateFollowing:
					return true
				}
			}
			return false
		})
		took = append(took, time.Since(at))
	}
	close(quit)
	<-finished
	total := int(written.Load())
	sink.WaitTexts(t, timeout, total)
	stop()

	got := sink.Texts()
	for i, text := range got {
		if want := fmt.Sprintf("line %06d", i+1); text != want {
			t.Fatalf("line %d is %q, want %q: a line was lost, repeated or reordered", i+1, text, want)
		}
	}
	if len(got) != total {
		t.Fatalf("got %d lines, want %d", len(got), total)
	}
	if marks := sink.Marks(); len(marks) != cuts || slices.ContainsFunc(marks, func(m string) bool { return m != tailer.MarkResumed }) {
		t.Errorf("marks %q, want %d %q", marks, cuts, tailer.MarkResumed)
	}
	_, states := sink.Snapshot()
	for _, st := range states {
		if st.Code == tailer.StateReconnecting {
			t.Logf("a reconnecting state: %q", st.Msg)
			if !strings.HasPrefix(st.Msg, "connection lost: ") {
				t.Errorf("reconnecting message %q does not say the connection was lost", st.Msg)
			}
			break
		}
	}
	slices.Sort(took)
	t.Logf("%d lines, each once and in order, through %d cuts; cut to following again: min %s, median %s, max %s",
		total, cuts, took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}

// TestNoRemoteProcessLeft: once Follow returned, the remote sh and tail are
// gone within 5s, also when the log is quiet (tail is not writing, so it
// would not notice a closed channel by itself).
func TestNoRemoteProcessLeft(t *testing.T) {
	srv := sshtest.Start(t)
	for _, quiet := range []bool{false, true} {
		name := map[bool]string{false: "Busy", true: "Quiet"}[quiet]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir() // unique: it marks the remote processes
			path := filepath.Join(dir, "app.log")
			sourcetest.Append(t, path, "first\n")
			src := mustNew(t, srv.Entry("procs", filepath.Join(dir, "*.log")), nil, testOptions())
			sink, stop := follow(t, src, path, 1)
			waitTexts(t, sink, "first")
			if !quiet {
				sourcetest.Append(t, path, "second\n")
				waitTexts(t, sink, "first", "second")
			}
			procs := processes(t, dir)
			var ours []int
			for pid, comm := range procs {
				if comm == "tail" || comm == "sh" || comm == "cat" {
					ours = append(ours, pid)
				}
			}
			if !slices.Contains(slices.Collect(mapValues(procs)), "tail") || !slices.Contains(slices.Collect(mapValues(procs)), "sh") {
				t.Fatalf("the remote sh and tail were not found while following: %v", procs)
			}
			if !quiet {
				sourcetest.Append(t, path, "third\n") // still being written when the viewer leaves
			}
			stop()
			waitExit(t, ours, 5*time.Second)
			if left := processes(t, dir); len(left) > 0 {
				t.Fatalf("processes still hold %s after Follow returned: %v", dir, left)
			}
			if out, err := exec.Command("pgrep", "-f", "--", dir).CombinedOutput(); err == nil {
				t.Fatalf("pgrep -f %s still finds: %s", dir, out)
			}
		})
	}
}

func mapValues(m map[int]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// TestBeyondMaxSessions follows 15 files of one host at once, more than
// sshd's MaxSessions=10 allows on one connection.
func TestBeyondMaxSessions(t *testing.T) {
	srv := sshtest.StartWith(t, sshtest.Config{MaxSessions: 10})
	dir := t.TempDir()
	src := mustNew(t, srv.Entry("many", filepath.Join(dir, "*.log")), nil, testOptions())
	const files = 15
	sinks := make([]*sourcetest.Sink, files)
	for i := range files {
		path := filepath.Join(dir, fmt.Sprintf("f%02d.log", i))
		sourcetest.Append(t, path, fmt.Sprintf("start %d\n", i))
		sinks[i], _ = follow(t, src, path, 1)
	}
	for i, sink := range sinks {
		waitTexts(t, sink, fmt.Sprintf("start %d", i))
	}
	for i := range files {
		sourcetest.Append(t, filepath.Join(dir, fmt.Sprintf("f%02d.log", i)), fmt.Sprintf("more %d\n", i))
	}
	for i, sink := range sinks {
		waitTexts(t, sink, fmt.Sprintf("start %d", i), fmt.Sprintf("more %d", i))
		if st := lastState(sink); st.Code != tailer.StateFollowing {
			t.Errorf("file %d: state %+v", i, st)
		}
	}
	if n := src.NumConns(); n < 2 {
		t.Errorf("%d connection(s) for %d files: MaxSessions=10 should have needed 2", n, files)
	} else {
		t.Logf("%d files followed over %d connections", files, n)
	}
	if st := src.HostState(); st.Code != tailer.StateFollowing {
		t.Errorf("HostState %+v", st)
	}
}

// TestHostKeyUnknown: a host that is not in known_hosts is refused, and the
// message shows the key's fingerprint and how to add it.
func TestHostKeyUnknown(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	for _, tc := range []struct{ name, knownHosts string }{
		{"EmptyFile", sshtest.WriteFile(t, "known_hosts", "")},
		{"NoFile", filepath.Join(t.TempDir(), "missing_known_hosts")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := srv.Entry("web-1", filepath.Join(dir, "*.log"))
			h.KnownHosts = tc.knownHosts
			src := mustNew(t, h, nil, testOptions())
			_, err := src.List(context.Background())
			if err == nil {
				t.Fatal("List succeeded with an unknown host key")
			}
			checkUnknown(t, srv, tc.knownHosts, err.Error())
			sink, _ := follow(t, src, filepath.Join(dir, "app.log"), 10)
			sink.WaitState(t, timeout, tailer.StateError)
			checkUnknown(t, srv, tc.knownHosts, lastState(sink).Msg)
			if st := src.HostState(); st.Code != tailer.StateError {
				t.Errorf("HostState %+v, want error", st)
			}
			if lines, _ := sink.Snapshot(); len(lines) > 0 {
				t.Errorf("lines from a refused host: %+v", lines)
			}
		})
	}
}

func checkUnknown(t *testing.T, srv *sshtest.Server, knownHosts, msg string) {
	t.Helper()
	var offered xssh.PublicKey
	for _, k := range srv.HostKeys {
		if strings.Contains(msg, " "+k.Type()+" key ") {
			offered = k
		}
	}
	if offered == nil {
		t.Fatalf("message names no key type of the server: %q", msg)
	}
	for _, want := range []string{
		"host key refused: ",
		"web-1 (" + srv.Addr + ") is not in " + knownHosts,
		xssh.FingerprintSHA256(offered),
		fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1 >> %s", srv.Port, knownHosts),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
}

// TestHostKeyChanged: a host whose key differs from the one on record is
// refused loudly, with both where the old key is and the new fingerprint.
func TestHostKeyChanged(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	other, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := xssh.NewPublicKey(other)
	kh := sshtest.WriteFile(t, "known_hosts", "# an old key\n"+strings.Replace(srv.KnownHostsLine(srv.Addr), string(marshal(srv.HostKey)), string(marshal(otherKey)), 1)+"\n")
	h := srv.Entry("web-1", filepath.Join(dir, "*.log"))
	h.KnownHosts = kh
	src := mustNew(t, h, nil, testOptions())
	sink, _ := follow(t, src, filepath.Join(dir, "app.log"), 10)
	sink.WaitState(t, timeout, tailer.StateError)
	msg := lastState(sink).Msg
	for _, want := range []string{
		"host key refused: ",
		"HAS CHANGED",
		"ssh-ed25519 key " + xssh.FingerprintSHA256(srv.HostKey),
		kh + ":2 holds a different key",
		"ssh-keygen -R '[127.0.0.1]:" + fmt.Sprint(srv.Port) + "'",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
	if _, err := src.List(context.Background()); err == nil || !strings.Contains(err.Error(), "HAS CHANGED") {
		t.Errorf("List: %v", err)
	}
}

func marshal(k xssh.PublicKey) []byte {
	return []byte(strings.Fields(string(xssh.MarshalAuthorizedKey(k)))[1])
}

// TestHostKeyAlgorithmsFromKnownHosts: the server has an ed25519 and an ECDSA
// key and known_hosts holds only the ed25519 one. Plain x/crypto asks for
// ECDSA first and reports a mismatch (golang/go#29286); the Source asks for
// what known_hosts holds.
func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	srv := sshtest.Start(t)
	cb, err := xknownhosts.New(srv.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	signer := mustSigner(t, srv.Identity)
	c, err := xssh.Dial("tcp", srv.Addr, &xssh.ClientConfig{User: srv.User, Auth: []xssh.AuthMethod{xssh.PublicKeys(signer)}, HostKeyCallback: cb})
	if err == nil {
		c.Close()
		t.Log("plain x/crypto connected: its default host key order changed; the test below still holds")
	} else {
		t.Logf("plain x/crypto: %v", err)
	}
	dir := t.TempDir()
	sourcetest.Append(t, filepath.Join(dir, "a.log"), "x\n")
	files, err := mustNew(t, srv.Entry("web", filepath.Join(dir, "*.log")), nil, testOptions()).List(context.Background())
	if err != nil || len(files) != 1 {
		t.Fatalf("List = %v, %v", files, err)
	}
}

func mustSigner(t testing.TB, file string) xssh.Signer {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := xssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthFailed: a key the server does not accept is an error state that
// says so.
func TestAuthFailed(t *testing.T) {
	srv := sshtest.Start(t)
	other := sshtest.Start(t) // its client key is not authorized on srv
	dir := t.TempDir()
	h := srv.Entry("web-1", filepath.Join(dir, "*.log"))
	h.IdentityFiles = []string{other.Identity}
	src := mustNew(t, h, nil, testOptions())
	sink, _ := follow(t, src, filepath.Join(dir, "app.log"), 10)
	sink.WaitState(t, timeout, tailer.StateError)
	if msg := lastState(sink).Msg; !strings.HasPrefix(msg, "authentication failed for "+srv.User+"@"+srv.Addr) {
		t.Errorf("message %q", msg)
	}
}

// TestShellMetacharacters: file names that a shell would run or split are
// listed and followed as they are, and nothing runs.
func TestShellMetacharacters(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	token := fmt.Sprintf("pwned-%d", time.Now().UnixNano())
	names := []string{
		"$(touch " + token + "); x.log",
		"`touch " + token + "-b`.log",
		"a b.log",
		"it's.log",
		`dq"uote.log`,
		"semi;colon & amp | pipe > gt.log",
		"new\nline.log",
		"star*.log",
		"dollar$HOME.log",
		"-dash.log",
		`back\slash.log`,
		"'; touch " + token + "-c; '.log",
	}
	for i, n := range names {
		sourcetest.Append(t, filepath.Join(dir, n), fmt.Sprintf("hello %d\n", i))
	}
	src := mustNew(t, srv.Entry("meta", filepath.Join(dir, "*.log")), nil, testOptions())
	files, err := src.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, f := range files {
		listed = append(listed, filepath.Base(f.Path))
	}
	for _, n := range names {
		if !slices.Contains(listed, n) {
			t.Errorf("%q not listed; listed %q", n, listed)
		}
	}
	if len(listed) != len(names) {
		t.Errorf("listed %d files, want %d: %q", len(listed), len(names), listed)
	}
	for i, n := range names {
		path := filepath.Join(dir, n)
		sink, stop := follow(t, src, path, 1)
		waitTexts(t, sink, fmt.Sprintf("hello %d", i))
		sourcetest.Append(t, path, "more\n")
		waitTexts(t, sink, fmt.Sprintf("hello %d", i), "more")
		stop()
	}
	home, _ := os.UserHomeDir()
	for _, d := range []string{dir, home, "/"} {
		matches, _ := filepath.Glob(filepath.Join(d, token+"*"))
		if len(matches) > 0 {
			t.Errorf("a file name ran a command: %q exists", matches)
		}
	}
}

// TestJumpHost reaches the host through another [[host]] (ProxyJump), and
// through ssh_config aliases.
func TestJumpHost(t *testing.T) {
	bastion := sshtest.StartWith(t, sshtest.Config{LogLevel: "DEBUG1"})
	target := sshtest.Start(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(t, path, "one\n")
	check := func(t *testing.T, src *ssh.Source) {
		t.Helper()
		before := strings.Count(bastion.Logs(), fmt.Sprintf("target 127.0.0.1 port %d", target.Port))
		sink, _ := follow(t, src, path, 5)
		waitTexts(t, sink, "one")
		if after := strings.Count(bastion.Logs(), fmt.Sprintf("target 127.0.0.1 port %d", target.Port)); after <= before {
			t.Errorf("the bastion's log shows no forwarding to the target:\n%s", bastion.Logs())
		}
	}
	t.Run("HostEntry", func(t *testing.T) {
		hosts := []ssh.Host{bastion.Entry("bastion", "/nonexistent/*.log"), target.Entry("web", filepath.Join(dir, "*.log"))}
		hosts[1].Jump = "bastion"
		check(t, mustNew(t, hosts[1], hosts, testOptions()))
	})
	t.Run("SSHConfig", func(t *testing.T) {
		cfg := sshtest.WriteFile(t, "ssh_config", fmt.Sprintf(`Host web-alias
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  UserKnownHostsFile %s
  ProxyJump jump-alias

Host jump-alias
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  UserKnownHostsFile %s
`, target.Port, target.User, target.Identity, target.KnownHosts, bastion.Port, bastion.User, bastion.Identity, bastion.KnownHosts))
		opts := testOptions()
		opts.SSHConfigFiles = []string{cfg}
		h := ssh.Host{Name: "web", SSHAlias: "web-alias", Files: []string{filepath.Join(dir, "*.log")}}
		check(t, mustNew(t, h, []ssh.Host{h}, opts))
	})
}

// TestKeepaliveDetectsSilentLink: when the network silently drops everything,
// the keepalive timeout closes the connection and the Source reconnects.
func TestKeepaliveDetectsSilentLink(t *testing.T) {
	srv := sshtest.Start(t)
	proxy := sshtest.NewProxy(t, srv.Addr)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(t, path, "before\n")
	h := srv.Entry("mute", filepath.Join(dir, "*.log"))
	h.Address = proxy.Addr
	h.KnownHosts = sshtest.WriteFile(t, "known_hosts", srv.KnownHostsLine(proxy.Addr)+"\n")
	h.Keepalive = 200 * time.Millisecond
	opts := testOptions()
	opts.KeepaliveTimeout = 300 * time.Millisecond
	src := mustNew(t, h, nil, opts)
	sink, _ := follow(t, src, path, 1)
	waitTexts(t, sink, "before")
	at := time.Now()
	proxy.Hold()
	sink.WaitState(t, timeout, tailer.StateReconnecting)
	t.Logf("silent link noticed after %s: %q", time.Since(at).Round(time.Millisecond), lastState(sink).Msg)
	if st := lastState(sink); !strings.Contains(st.Msg, "keepalive") {
		t.Errorf("reconnecting message %q does not mention the keepalive", st.Msg)
	}
	sourcetest.Append(t, path, "during\n")
	proxy.Resume()
	waitTexts(t, sink, "before", "during")
	sourcetest.Append(t, path, "after\n")
	waitTexts(t, sink, "before", "during", "after")
}

// TestHostState follows the host's state through connect, loss and close.
func TestHostState(t *testing.T) {
	srv := sshtest.Start(t)
	proxy := sshtest.NewProxy(t, srv.Addr)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	sourcetest.Append(t, path, "x\n")
	h := srv.Entry("st", filepath.Join(dir, "*.log"))
	h.Address = proxy.Addr
	h.KnownHosts = sshtest.WriteFile(t, "known_hosts", srv.KnownHostsLine(proxy.Addr)+"\n")
	opts := testOptions()
	opts.MinBackoff = time.Hour // stay disconnected after the cut
	opts.MaxBackoff = time.Hour
	src := mustNew(t, h, nil, opts)
	if st := src.HostState(); st.Code != tailer.StateStarting {
		t.Errorf("before use: %+v", st)
	}
	if _, err := src.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := src.HostState(); st.Code != tailer.StateFollowing || !strings.Contains(st.Msg, "connected") {
		t.Errorf("after List: %+v", st)
	}
	sink, stop := follow(t, src, path, 1)
	waitTexts(t, sink, "x")
	proxy.Cut()
	sink.WaitState(t, timeout, tailer.StateReconnecting)
	if st := src.HostState(); st.Code != tailer.StateReconnecting || !strings.HasPrefix(st.Msg, "connection lost: ") {
		t.Errorf("after a cut: %+v", st)
	}
	if _, err := src.List(context.Background()); err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("List while disconnected: %v", err)
	}
	stop()
	src.Close()
	if st := src.HostState(); st.Code != tailer.StateStopped {
		t.Errorf("after Close: %+v", st)
	}
}

// TestChangesWhileDisconnected: a file that was rotated or truncated while the
// host could not be reached is followed from its start after the reconnect,
// with a marker that says lines may have been missed; an unchanged one is
// resumed exactly.
func TestChangesWhileDisconnected(t *testing.T) {
	srv := sshtest.Start(t)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string)
		mark   string
	}{
		{"Unchanged", func(t *testing.T, path string) { sourcetest.Append(t, path, "during\n") }, tailer.MarkResumed},
		{"Rotated", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			sourcetest.Append(t, path, "during\n")
		}, tailer.MarkRotated},
		{"Truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			sourcetest.Append(t, path, "during\n")
		}, tailer.MarkTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := sshtest.NewProxy(t, srv.Addr)
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			sourcetest.Append(t, path, "before 1\nbefore 2\n")
			h := srv.Entry("web", filepath.Join(dir, "*.log"))
			h.Address = proxy.Addr
			h.KnownHosts = sshtest.WriteFile(t, "known_hosts", srv.KnownHostsLine(proxy.Addr)+"\n")
			src := mustNew(t, h, nil, testOptions())
			sink, _ := follow(t, src, path, 5)
			waitTexts(t, sink, "before 1", "before 2")
			proxy.Refuse(true)
			proxy.Cut()
			sink.WaitState(t, timeout, tailer.StateReconnecting)
			tc.change(t, path)
			proxy.Refuse(false)
			waitTexts(t, sink, "before 1", "before 2", "during")
			if marks := sink.Marks(); !slices.Equal(marks, []string{tc.mark}) {
				t.Errorf("marks %q, want %q", marks, tc.mark)
			}
			lines, _ := sink.Snapshot()
			last := lines[len(lines)-1]
			if want := int64(len("during\n")); tc.mark != tailer.MarkResumed && last.Offset != want {
				t.Errorf("offset of the first line of the new file %d, want %d", last.Offset, want)
			}
		})
	}
}

// TestDeadTailRestarted: a remote tail that dies (killed by someone, say) is
// noticed because lines wait in the file, and restarted where it was.
func TestDeadTailRestarted(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(t, path, "one\n")
	src := mustNew(t, srv.Entry("web", filepath.Join(dir, "*.log")), nil, testOptions())
	sink, _ := follow(t, src, path, 5)
	waitTexts(t, sink, "one")
	killed := 0
	for pid, comm := range processes(t, dir) {
		if comm == "tail" {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d tails, want 1", killed)
	}
	sourcetest.Append(t, path, "two\nthree\n")
	waitTexts(t, sink, "one", "two", "three")
	if marks := sink.Marks(); len(marks) > 0 {
		t.Errorf("marks %q after a restart without loss", marks)
	}
}

// TestConnectTimeout: a host that accepts TCP but never answers is given up
// after connect_timeout and retried, and meanwhile another host is served
// without delay.
func TestConnectTimeout(t *testing.T) {
	srv := sshtest.Start(t)
	proxy := sshtest.NewProxy(t, srv.Addr)
	proxy.Hold()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sourcetest.Append(t, path, "hello\n")
	mute := srv.Entry("mute", filepath.Join(dir, "*.log"))
	mute.Address = proxy.Addr
	mute.KnownHosts = sshtest.WriteFile(t, "known_hosts", srv.KnownHostsLine(proxy.Addr)+"\n")
	mute.Connect = 300 * time.Millisecond
	src := mustNew(t, mute, nil, testOptions())
	sink, _ := follow(t, src, path, 1)
	sink.WaitState(t, timeout, tailer.StateConnecting)

	// The other host answers at once while the mute one hangs.
	at := time.Now()
	files, err := mustNew(t, srv.Entry("ok", filepath.Join(dir, "*.log")), nil, testOptions()).List(context.Background())
	if err != nil || len(files) != 1 {
		t.Fatalf("List on the healthy host = %v, %v", files, err)
	}
	t.Logf("healthy host listed in %s while the other hangs", time.Since(at).Round(time.Millisecond))

	sink.WaitFor(t, timeout, "a connect timeout", func(_ []tailer.Line, states []tailer.State) bool {
		return slices.ContainsFunc(states, func(st tailer.State) bool { return strings.Contains(st.Msg, "timed out after 300ms") })
	})
	proxy.Resume()
	waitTexts(t, sink, "hello")
}

// TestAgentAuth logs in with a key that only ssh-agent holds.
func TestAgentAuth(t *testing.T) {
	srv := sshtest.Start(t)
	keyring := agent.NewKeyring()
	pem, err := os.ReadFile(srv.Identity)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := xssh.ParseRawPrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = agent.ServeAgent(keyring, c)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); <-served })

	dir := t.TempDir()
	sourcetest.Append(t, filepath.Join(dir, "a.log"), "x\n")
	h := srv.Entry("agent", filepath.Join(dir, "*.log"))
	h.IdentityFiles = nil
	opts := testOptions()
	opts.AgentSocket = sock
	opts.Home = t.TempDir() // no default key files there
	files, err := mustNew(t, h, nil, opts).List(context.Background())
	if err != nil || len(files) != 1 {
		t.Fatalf("List with the agent's key = %v, %v", files, err)
	}
}

// TestInsecureIgnoreHostKey: the explicit opt-out connects to an unknown host
// and says so in the log on every connect.
func TestInsecureIgnoreHostKey(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	sourcetest.Append(t, filepath.Join(dir, "a.log"), "x\n")
	h := srv.Entry("lax", filepath.Join(dir, "*.log"))
	h.KnownHosts = sshtest.WriteFile(t, "known_hosts", "")
	h.InsecureKeys = true
	var logs safeBuffer
	opts := testOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	src := mustNew(t, h, nil, opts)
	if _, err := src.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "host key NOT checked"); n != 1 {
		t.Errorf("%d warnings for one connect:\n%s", n, logs.String())
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
