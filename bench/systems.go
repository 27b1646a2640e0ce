package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// system is a log viewer under test, serving the files of one directory.
type system interface {
	name() string
	pid() int // the server's process; its descendants are counted with it
	// dial connects viewer number i to file and starts checking what it
	// receives in t. small asks for a small read buffer (idle viewers).
	dial(ctx context.Context, file string, t *track, i int, small bool) (*websocket.Conn, error)
	stop()
}

// ---- logviewer, the real binary ----

type lvSystem struct {
	p    *proc
	url  string
	host string // the [[host]] viewers ask for
}

func (s *lvSystem) name() string { return "logviewer" }
func (s *lvSystem) pid() int     { return s.p.pid() }
func (s *lvSystem) stop()        { s.p.stop() }

func (s *lvSystem) dial(ctx context.Context, file string, t *track, i int, small bool) (*websocket.Conn, error) {
	return dialLogviewer(ctx, s.url, s.host, file, t, i, readBufSize(small))
}

func readBufSize(small bool) int {
	if small {
		return 512
	}
	return 64 << 10
}

// lvConfig is the configuration the tool runs logviewer with: the defaults of
// logviewer.toml, one local host serving dir/*.log.
func lvConfig(dir string) string {
	return fmt.Sprintf(`listen = "127.0.0.1:0"
replay = 1000
buffer = "8MiB"
idle_stop = "5m"
max_line_bytes = 65536
# The bench opens up to 10,000 viewers from one address and thousands of files.
max_logs = 100000
max_viewers_per_client = 100000

[[host]]
name = "local"
files = [%q]
`, filepath.Join(dir, "*.log"))
}

func startLogviewer(ctx context.Context, bin, dir string) (system, error) {
	return startLogviewerWith(ctx, bin, dir, lvConfig(dir), "local")
}

func startLogviewerWith(ctx context.Context, bin, dir, config, host string) (*lvSystem, error) {
	cfg := filepath.Join(dir, "logviewer.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("logviewer", dir, bin, "-config", cfg, "-listen", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	// main prints "logviewer <version>: serving <config> on http://host:port".
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-p.lines:
			if i := strings.LastIndex(l, " on http://"); i >= 0 && strings.Contains(l, "serving") {
				return &lvSystem{p: p, url: strings.TrimSpace(l[i+len(" on "):]), host: host}, nil
			}
		case <-p.done:
			return nil, p.exited()
		case <-deadline:
			p.stop()
			return nil, fmt.Errorf("logviewer did not say where it serves within 30s: %s", p.tail())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		}
	}
}

// buildLogviewer builds the module's main package into dir.
func buildLogviewer(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "logviewer")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// ---- frontail, the peer ----

type ftSystem struct {
	p   *proc
	url string
	ns  string
}

func (s *ftSystem) name() string { return "frontail" }
func (s *ftSystem) pid() int     { return s.p.pid() }
func (s *ftSystem) stop()        { s.p.stop() }

func (s *ftSystem) dial(ctx context.Context, _ string, t *track, i int, small bool) (*websocket.Conn, error) {
	return dialFrontail(ctx, s.url, s.ns, t, i, readBufSize(small))
}

// frontail is an installed copy of frontail.
type frontail struct {
	node, script, version string
}

// installFrontail runs `npm install --prefix dir frontail`.
func installFrontail(ctx context.Context, dir string) (*frontail, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node not found")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, errors.New("npm not found")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "frontail@4")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("npm install frontail: %v\n%s", err, out)
	}
	script := filepath.Join(dir, "node_modules", "frontail", "bin", "frontail")
	if _, err := os.Stat(script); err != nil {
		return nil, err
	}
	ver, _ := exec.CommandContext(ctx, node, script, "--version").Output()
	return &frontail{node: node, script: script, version: strings.TrimSpace(string(ver))}, nil
}

func (f *frontail) start(ctx context.Context, file string) (system, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := startProc("frontail", filepath.Dir(file), f.node, f.script,
		"--disable-usage-stats", "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-n", "10", file)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	sum := md5.Sum([]byte(file)) // frontail's namespace: md5 of its file arguments joined by " "
	s := &ftSystem{p: p, url: url, ns: "/" + hex.EncodeToString(sum[:])}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := p.exited(); err != nil {
			return nil, err
		}
		resp, err := http.Get(url + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("frontail did not answer within 30s: %s", p.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// serverTail returns the last lines a server process printed.
func serverTail(s system) string {
	switch s := s.(type) {
	case *lvSystem:
		return s.p.tail()
	case *sshSystem:
		return s.p.tail()
	case *ftSystem:
		return s.p.tail()
	}
	return ""
}
