package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logviewer/logviewer/app"
	"github.com/logviewer/logviewer/config"
)

// childEnv names the config file of a logviewer instance that this test
// binary runs instead of the tests (see runChild).
const childEnv = "LOGVIEWER_CLUSTER_TEST_CHILD"

// runChild runs one logviewer instance from the config file in childEnv,
// prints its URL, and serves until it is killed or its stdin closes (the
// test that started it is gone).
func runChild(path string) int {
	c, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	a, err := app.New(c, app.Options{ClusterLeaseTTL: leaseTTL})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	hs := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	fmt.Printf("URL http://%s\n", ln.Addr())
	_, _ = bufio.NewReader(os.Stdin).ReadString(0) // until EOF
	_ = hs.Close()
	_ = a.Close()
	return 0
}

// startChild runs an instance as a process of its own, so it can be
// killed with SIGKILL.
func startChild(t *testing.T, dir, natsURL, name string) *instance {
	t.Helper()
	cfg := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(cfg, []byte(clusterConfig(dir, natsURL, name)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+cfg)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cancel()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "URL ")
	if err != nil || !ok {
		t.Fatalf("child %s: %q, %v", name, line, err)
	}
	return &instance{name: name, url: url, cmd: cmd}
}

// TestKill9Holder: the holder is a process of its own and gets SIGKILL
// mid-stream (10k lines/s); the viewer on the surviving instance gets
// every line once and in order, and the instance now holds the log.
func TestKill9Holder(t *testing.T) {
	n := startNATS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	w := newWriter(t, file)
	child := startChild(t, dir, n.url(), "lv-child")
	vc := dialViewer(t, child, file, "")
	w.write(t, 1, 1)
	vc.waitLine(t, 0, 10*time.Second) // the child holds the log: it had the first viewer
	in := startInstance(t, dir, n.url(), "lv-1")
	v := dialViewer(t, in, file, "")
	v.waitLine(t, 0, 10*time.Second)
	if in.app.Catalog.Holding() != 0 || in.app.Registry.Active() != 0 {
		t.Fatal("the in-process instance holds the log, not the child")
	}
	written, stop := w.run(10000)
	eventually(t, 5*time.Second, "lines written", func() bool { return written() > 3000 })
	killedAt, firstAfter := time.Now(), written()
	if err := child.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	v.waitLine(t, firstAfter, 15*time.Second)
	v.mu.Lock()
	resume := v.arrivals[firstAfter].Sub(killedAt)
	v.mu.Unlock()
	t.Logf("kill -9 of the holder: lines resumed after %v (lease TTL %v)", resume.Round(time.Millisecond), leaseTTL)
	total, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	v.waitLine(t, total-1, 15*time.Second)
	v.check(t, total)
	if in.app.Catalog.Holding() != 1 || in.app.Registry.Active() != 1 {
		t.Errorf("after the kill: holding %d, tails %d; want 1 and 1", in.app.Catalog.Holding(), in.app.Registry.Active())
	}
}
