package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs remembers every process group the tool started, so that cleanup (on
// return, error, panic or Ctrl-C) stops all of them.
var procs = &procSet{m: map[*proc]bool{}}

type procSet struct {
	mu sync.Mutex
	m  map[*proc]bool
}

func (s *procSet) add(p *proc) {
	s.mu.Lock()
	s.m[p] = true
	s.mu.Unlock()
}

func (s *procSet) remove(p *proc) {
	s.mu.Lock()
	delete(s.m, p)
	s.mu.Unlock()
}

// stopAll stops every process still running.
func (s *procSet) stopAll() {
	s.mu.Lock()
	var ps []*proc
	for p := range s.m {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

// proc is a child process in its own process group (so that its own children,
// such as frontail's tail, are stopped with it). Pdeathsig kills it should this
// tool die without cleaning up.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error

	mu     sync.Mutex
	output bytes.Buffer // stderr and stdout, for error messages
	lines  chan string  // stderr lines, while someone waits for them
}

func startProc(name string, dir string, args ...string) (*proc, error) {
	return startProcOut(name, dir, nil, args...)
}

// startProcOut starts a process whose standard output goes to stdout (nil:
// kept with its standard error for error messages).
func startProcOut(name string, dir string, stdout *os.File, args ...string) (*proc, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), lines: make(chan string, 64)}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = &lockedWriter{p}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	procs.add(p)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			if p.output.Len() < 1<<20 {
				p.output.WriteString(sc.Text() + "\n")
			}
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.output.Len() < 1<<20 {
		w.p.output.Write(b)
	}
	return len(b), nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// tail returns the last lines the process printed.
func (p *proc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := strings.TrimSpace(p.output.String())
	if i := len(s) - 2000; i > 0 {
		s = "…" + s[i:]
	}
	return s
}

// exited reports an error if the process has ended.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v): %s", p.name, p.err, p.tail())
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after 10 seconds.
func (p *proc) stop() {
	defer procs.remove(p)
	select {
	case <-p.done:
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL) // leftovers of the group
		return
	default:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		fmt.Fprintf(os.Stderr, "bench: %s did not stop on SIGTERM within 10s; killing it\n", p.name)
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
}

// cpuTicks returns utime+stime of pid and all its descendants, in clock
// ticks (USER_HZ, 100 per second on Linux).
func cpuTicks(pid int) (int64, error) {
	pids := append([]int{pid}, descendants(pid)...)
	var total int64
	for i, p := range pids {
		t, err := procCPU(p)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue // a child that just ended
		}
		total += t
	}
	return total, nil
}

const clockTicks = 100 // USER_HZ; fixed at 100 on Linux for /proc

func cpuSeconds(pid int) (float64, error) {
	t, err := cpuTicks(pid)
	return float64(t) / clockTicks, err
}

func procCPU(pid int) (int64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	// Fields after "(comm)": state is field 3; utime 14, stime 15 (1-based).
	ut, err1 := strconv.ParseInt(f[14-3], 10, 64)
	st, err2 := strconv.ParseInt(f[15-3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return ut + st, nil
}

// statFields returns /proc/pid/stat's fields from the state on (field 3).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

func descendants(root int) []int {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(pid)
		if err != nil || len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[pid] = pp
	}
	var out []int
	for pid := range parent {
		for p := parent[pid]; p != 0; p = parent[p] {
			if p == root {
				out = append(out, pid)
				break
			}
			if _, ok := parent[p]; !ok {
				break
			}
		}
	}
	return out
}

// rssKB returns VmRSS of pid and its descendants in KiB.
func rssKB(pid int) (int64, error) {
	var total int64
	for i, p := range append([]int{pid}, descendants(pid)...) {
		v, err := statusField(p, "VmRSS:")
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue
		}
		total += v
	}
	return total, nil
}

func statusField(pid int, name string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, name)
}

// openFileLimit returns the soft and hard RLIMIT_NOFILE of pid.
func openFileLimit(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max open files") {
			f := strings.Fields(l)
			if len(f) >= 5 {
				return f[3] + " soft / " + f[4] + " hard"
			}
		}
	}
	return "?"
}

// raiseFileLimit raises this process's RLIMIT_NOFILE to want (both limits,
// when allowed), so that the client side can hold every viewer's socket.
// Children inherit it.
func raiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	n := lim
	n.Cur = want
	if n.Max < want {
		n.Max = want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n); err != nil {
		// Not allowed to raise the hard limit: take what there is.
		n.Cur, n.Max = lim.Max, lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n); err != nil {
			return lim.Cur, err
		}
		return lim.Max, nil
	}
	return want, nil
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the logviewer module")
		}
		dir = parent
	}
}
