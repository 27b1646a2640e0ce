package ssh

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRemoteCommandIsPlain: the command every login shell is given holds
// nothing any shell treats specially, and sh, bash, dash, zsh, fish, csh,
// tcsh and BusyBox sh all run it the same way: /bin/sh reads stdin.
func TestRemoteCommandIsPlain(t *testing.T) {
	if !regexp.MustCompile(`^[a-z/ -]+$`).MatchString(remoteCommand) {
		t.Fatalf("remoteCommand %q holds characters some shell may treat specially", remoteCommand)
	}
	shells := [][]string{{"sh"}, {"bash"}, {"dash"}, {"zsh"}, {"fish"}, {"csh"}, {"tcsh"}, {"busybox", "sh"}}
	ran := 0
	for _, sh := range shells {
		p, err := exec.LookPath(sh[0])
		if err != nil {
			continue // TestLoginShells insists on the ones CI installs
		}
		cmd := exec.Command(p, append(sh[1:], "-c", remoteCommand)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
		cmd.Stdin = strings.NewReader("{\necho \"$0 read it\"\n}\n")
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != "/bin/sh read it\n" {
			t.Errorf("%s -c %q: %q, %v", sh, remoteCommand, out, err)
		}
		ran++
	}
	if ran < 3 {
		t.Errorf("only %d shells found", ran)
	}
}

// script drives tailScript in a local /bin/sh (or BusyBox), as sshd would.
type script struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	nonces int
	marker string // in the environment of the script and all it starts
}

func startScript(t *testing.T, text string, env []string) *script {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", remoteCommand)
	marker := fmt.Sprintf("LOGVIEWER_TEST=%s-%d", t.Name(), time.Now().UnixNano())
	cmd.Env = append(env, marker)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &script{t: t, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), marker: marker}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	if _, err := io.WriteString(stdin, text); err != nil {
		t.Fatal(err)
	}
	return s
}

// line reads one line of output, failing after 5s.
func (s *script) line() string {
	s.t.Helper()
	got := make(chan string, 1)
	go func() {
		l, err := s.out.ReadString('\n')
		if err != nil {
			l += fmt.Sprintf("<%v>", err)
		}
		got <- strings.TrimSuffix(l, "\n")
	}()
	select {
	case l := <-got:
		return l
	case <-time.After(5 * time.Second):
		s.t.Fatalf("no line from the script within 5s")
		return ""
	}
}

// send sends a command and returns the line after its nonce.
func (s *script) send(cmd string, start int) string {
	s.t.Helper()
	s.nonces++
	nonce := fmt.Sprintf("logviewer:nonce%d", s.nonces)
	if _, err := fmt.Fprintf(s.stdin, "%s %d %s\n", cmd, start, nonce); err != nil {
		s.t.Fatal(err)
	}
	if l := s.line(); l != nonce {
		s.t.Fatalf("got %q, want the nonce %q", l, nonce)
	}
	if cmd == "tail" {
		return ""
	}
	return s.line()
}

// running returns the processes whose environment holds the script's marker
// and their command names.
func (s *script) running() map[int]string {
	entries, _ := os.ReadDir("/proc")
	out := map[int]string{}
	for _, e := range entries {
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !strings.Contains("\x00"+string(env), "\x00"+s.marker+"\x00") {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		pid, _ := strconv.Atoi(e.Name())
		out[pid] = strings.TrimSpace(string(comm))
	}
	return out
}

// end closes the script's stdin and checks that it and everything it
// started have ended: the script waits for what it kills, so by the time
// it has exited nothing may be left.
func (s *script) end() {
	s.t.Helper()
	s.stdin.Close()
	if l := s.line(); !strings.HasPrefix(l, "<EOF>") {
		s.t.Fatalf("after stdin ended: %q", l)
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.t.Fatalf("the script did not exit within 5s of the end of its stdin")
	}
	if left := s.running(); len(left) > 0 {
		s.t.Errorf("still running after the script exited: %v", left)
	}
}

// TestScriptProtocol runs the script in the local /bin/sh with GNU tools and
// with BusyBox's: ready, open/hold, tail from an offset, missing, not a
// regular file, a hostile name, and nothing left running after stdin ends.
func TestScriptProtocol(t *testing.T) {
	envs := map[string][]string{"gnu": {"PATH=/usr/bin:/bin"}}
	if bb, err := exec.LookPath("busybox"); err == nil {
		dir := t.TempDir()
		if out, err := exec.Command(bb, "--install", "-s", dir).CombinedOutput(); err != nil {
			t.Fatalf("busybox --install: %v: %s", err, out)
		}
		envs["busybox"] = []string{"PATH=" + dir}
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("busybox is missing: CI must install it")
	}
	for name, env := range envs {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, `it's $(x) \' "y".log`)
			if err := os.WriteFile(path, []byte("0123456789\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			s := startScript(t, tailScript(path, 20*time.Millisecond, "logviewer:start"), env)
			if l := s.line(); l != "logviewer:start" {
				t.Fatalf("first line %q", l)
			}
			want := "logviewer:ready 0.020"
			if name == "busybox" {
				want = "logviewer:ready 1"
			}
			if l := s.line(); l != want {
				t.Fatalf("got %q, want %q", l, want)
			}
			// The name comes as the kernel has it, in hex (with readlink's newline).
			if a, want := s.send("open", 1), "logviewer:held "+hex.EncodeToString([]byte(path+"\n")); a != want {
				t.Fatalf("open: %q, want %q", a, want)
			}
			a := s.send("hold", 1)
			var fi syscall.Stat_t
			if err := syscall.Stat(path, &fi); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("logviewer:open %d %d", s.cmd.Process.Pid, fi.Ino); a != want {
				t.Fatalf("hold: %q, want %q", a, want)
			}
			s.send("tail", 4)
			if l := s.line(); l != "3456789" {
				t.Fatalf("tail from byte 4: %q", l)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if a := s.send("open", 1); a != "logviewer:missing" {
				t.Fatalf("open of a removed file: %q", a)
			}
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
			if a := s.send("open", 1); a != "logviewer:notfile" {
				t.Fatalf("open of a FIFO: %q", a)
			}
			// Ending stdin while a tail runs on a quiet file ends both.
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte("again\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if a := s.send("open", 1); !strings.HasPrefix(a, "logviewer:held ") {
				t.Fatalf("open: %q", a)
			}
			if a := s.send("hold", 1); !strings.HasPrefix(a, "logviewer:open ") {
				t.Fatalf("hold: %q", a)
			}
			s.send("tail", 1)
			if l := s.line(); l != "again" {
				t.Fatalf("tail: %q", l)
			}
			if procs := s.running(); len(procs) != 2 {
				t.Fatalf("running %v, want the script and its tail", procs)
			}
			s.end()
		})
	}
}

// TestScriptFIFONeverBlocks: a FIFO swapped in between the script's test
// and its open (made certain here by taking the test out) blocks only the
// background opener: the script still answers the next command, and
// nothing is left running once its stdin ends.
func TestScriptFIFONeverBlocks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	text := tailScript(path, 20*time.Millisecond, "logviewer:start")
	const test = `elif [ ! -f "$p" ]; then echo logviewer:notfile`
	if !strings.Contains(text, test) {
		t.Fatalf("the script no longer holds %q", test)
	}
	text = strings.Replace(text, test, `elif false; then :`, 1)
	s := startScript(t, text, []string{"PATH=/usr/bin:/bin"})
	s.line()
	if l := s.line(); !strings.HasPrefix(l, "logviewer:ready") {
		t.Fatalf("got %q", l)
	}
	if _, err := fmt.Fprintf(s.stdin, "open 1 logviewer:nonce1\n"); err != nil {
		t.Fatal(err)
	}
	if l := s.line(); l != "logviewer:nonce1" {
		t.Fatalf("got %q", l)
	}
	// No writer will come: the opener blocks for ever, and cannot answer.
	// The script answers the next command all the same, and kills it.
	s.nonces = 1
	if a := s.send("hold", 1); a != "logviewer:lost" {
		t.Fatalf("hold while the opener is blocked: %q", a)
	}
	s.end()
}

func TestSplitGlob(t *testing.T) {
	for _, c := range []struct{ g, dir, rest string }{
		{"/var/log/app/*.log", "/var/log/app", "*.log"},
		{"/logs/*/*.log", "/logs", "*/*.log"},
		{"/var/log/syslog", "/var/log", "syslog"},
		{"/*.log", "/", "*.log"},
	} {
		if dir, rest := splitGlob(c.g); dir != c.dir || rest != c.rest {
			t.Errorf("splitGlob(%q) = %q, %q; want %q, %q", c.g, dir, rest, c.dir, c.rest)
		}
	}
}
