package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse("t.toml", []byte("[[host]]\nname = \"local\"\nfiles = [\"/var/log/*.log\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.Replay != DefaultReplay || c.IdleStop.Duration != DefaultIdleStop ||
		c.Buffer != DefaultBuffer || c.MaxLineBytes != DefaultMaxLineBytes {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestParseFull(t *testing.T) {
	src := `
listen = "0.0.0.0:9000"
replay = 50
buffer = "1MiB"
idle_stop = "30s"
max_line_bytes = 4096
allowed_origins = ["https://logs.example.com"]

[[host]]
name = "local"
files = ["/var/log/*.log", "/tmp/x.log"]

[[host]]
name = "bastion"
address = "bastion.example.com"
user = "ops"

[[host]]
name = "web-1"
address = "web-1.example.com:2222"
user = "deploy"
identity_files = ["~/.ssh/id_ed25519"]
jump = "bastion"
connect_timeout = "5s"
files = ["/srv/app/log/*.log"]
`
	src = strings.Replace(src, "user = \"ops\"\n", "user = \"ops\"\nfiles = [\"/var/log/syslog\"]\n", 1)
	c, err := Parse("t.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Replay != 50 || c.Buffer != 1<<20 || c.IdleStop.Duration != 30*time.Second || len(c.Hosts) != 3 {
		t.Fatalf("unexpected: %+v", c)
	}
	if h := c.Hosts[2]; !h.Remote() || h.Jump != "bastion" || h.Connect.Duration != 5*time.Second {
		t.Fatalf("host: %+v", h)
	}
}

func TestParseErrors(t *testing.T) {
	const host = "[[host]]\nname = \"local\"\nfiles = [\"/var/log/*.log\"]\n"
	tests := []struct {
		name string
		src  string
		line int
		key  string
		msg  string
	}{
		{"unknown top key", "replay = 5\nlisten_addr = \"x\"\n" + host, 2, "listen_addr", "unknown key"},
		{"unknown host key", host + "filez = []\n", 4, "host.filez", "unknown key"},
		{"wrong type", "replay = \"many\"\n" + host, 1, "replay", "cannot decode"},
		{"bad duration", "idle_stop = \"5 minutes\"\n" + host, 1, "idle_stop", "not a duration"},
		{"bare number duration", "idle_stop = 300\n" + host, 1, "idle_stop", ""},
		{"bad size", "buffer = \"lots\"\n" + host, 1, "buffer", "not a size"},
		{"replay zero", "\nreplay = 0\n" + host, 2, "replay", "between 1 and"},
		{"bad listen", "listen = \"8080\"\n" + host, 1, "listen", "host:port"},
		{"line bytes", "max_line_bytes = 10\n" + host, 1, "max_line_bytes", "between 80"},
		{"buffer too small", "replay = 1000\nbuffer = 1000\n" + host, 2, "buffer", "too small"},
		{"origin", "allowed_origins = [\"example.com\"]\n" + host, 1, "allowed_origins", "http://"},
		{"no hosts", "replay = 5\n", 0, "host", "at least one"},
		{"no name", "[[host]]\nfiles = [\"/a\"]\n", 1, "host.0.name", "needs a name"},
		{"dup name", host + host, 5, "host.1.name", "defined twice"},
		{"relative glob", "[[host]]\nname = \"a\"\nfiles = [\"var/log/*.log\"]\n", 3, "host.0.files", "absolute"},
		{"bad glob", "[[host]]\nname = \"a\"\nfiles = [\"/var/[log\"]\n", 3, "host.0.files", "not a valid glob"},
		{"no files", "[[host]]\nname = \"a\"\n", 1, "host.0.files", "lists no files"},
		{"user on local", host + "user = \"x\"\n", 4, "host.0.user", "remote host"},
		{"unknown jump", host + "[[host]]\nname = \"w\"\naddress = \"w:22\"\nfiles = [\"/a\"]\njump = \"nope\"\n", 8, "host.1.jump", "not another"},
		{"syntax", "replay = = 5\n" + host, 1, "", "unexpected"},
		{"name with slash", "[[host]]\nname = \"a/b\"\nfiles = [\"/a\"]\n", 2, "host.0.name", "may not contain"},
		// Issue 8, item 12: sizes that overflowed, names that need escaping,
		// origins that can never match.
		{"size overflow", "buffer = \"17179869185GiB\"\n" + host, 1, "buffer", "too large"},
		{"size overflow negative", "buffer = \"9999999999GiB\"\n" + host, 1, "buffer", "too large"},
		{"size past int64", "buffer = \"99999999999999999999\"\n" + host, 1, "buffer", "too large"},
		{"buffer over the limit", "buffer = \"17GiB\"\n" + host, 1, "buffer", "limit"},
		{"name with control character", "[[host]]\nname = \"a\\u0007b\"\nfiles = [\"/a\"]\n", 2, "host.0.name", "may not contain"},
		{"name with quote", "[[host]]\nname = \"a'b\"\nfiles = [\"/a\"]\n", 2, "host.0.name", "may not contain"},
		{"name with angle bracket", "[[host]]\nname = \"<b>\"\nfiles = [\"/a\"]\n", 2, "host.0.name", "may not contain"},
		{"origin with path", "allowed_origins = [\"https://logs.example.com/viewer\"]\n" + host, 1, "allowed_origins", "no path"},
		{"allowed host with port", "allowed_hosts = [\"logs.example.com:8080\"]\n" + host, 1, "allowed_hosts", "not a host name"},
		{"max_logs zero", "max_logs = 0\n" + host, 1, "max_logs", "between 1"},
		{"viewers zero", "max_viewers_per_client = 0\n" + host, 1, "max_viewers_per_client", "between 1"},
		{"cluster without url", host + "[cluster]\nname = \"lv\"\n", 4, "cluster.nats_url", "needs nats_url"},
		{"cluster bad url", host + "[cluster]\nnats_url = \"http://x:4222\"\n", 5, "cluster.nats_url", "not a NATS URL"},
		{"cluster bad name", host + "[cluster]\nnats_url = \"nats://127.0.0.1:4222\"\nname = \"a.b\"\n", 6, "cluster.name", "letters, digits"},
		{"cluster bad instance", host + "[cluster]\nnats_url = \"nats://127.0.0.1:4222\"\ninstance = \"a b\"\n", 6, "cluster.instance", "only letters"},
		{"ws_compression not a bool", "ws_compression = \"yes\"\n" + host, 1, "ws_compression", "cannot decode"},
		{"cluster unknown key", host + "[cluster]\nnats_url = \"nats://127.0.0.1:4222\"\nlease = \"5s\"\n", 6, "cluster.lease", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("my.toml", []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			ce, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %T %v is not a *config.Error", err, err)
			}
			if ce.File != "my.toml" || ce.Line != tt.line || ce.Key != tt.key || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %q (line %d key %q), want line %d key %q msg containing %q", err, ce.Line, ce.Key, tt.line, tt.key, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "my.toml:") {
				t.Errorf("error does not start with the file name: %q", err)
			}
		})
	}
}

func TestWSCompression(t *testing.T) {
	const host = "[[host]]\nname = \"local\"\nfiles = [\"/var/log/*.log\"]\n"
	for _, tt := range []struct {
		name string
		src  string
		want bool
	}{
		{"default", host, DefaultWSCompression},
		{"on", "ws_compression = true\n" + host, true},
		{"off", "ws_compression = false\n" + host, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.toml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if c.WSCompression != tt.want {
				t.Errorf("ws_compression %v, want %v", c.WSCompression, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("want not-exist error, got %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestShippedConfigLoads(t *testing.T) {
	if _, err := Load("../logviewer.toml"); err != nil {
		t.Fatal(err)
	}
}

func TestRanges(t *testing.T) {
	c, err := Parse("t.toml", []byte(`
[[host]]
name = "local"
files = ["/var/log/*.log"]

[[host]]
name = "web-[08-11]"
address = "web-[08-11].prod.internal:2222"
user = "deploy"
groups = ["web", "prod"]
files = ["/srv/app/log/*.log", "/srv/[08-11]/[a-z]*.log"]
`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range c.Hosts {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "local,web-08,web-09,web-10,web-11" {
		t.Fatalf("hosts %v", names)
	}
	h := c.Hosts[3]
	if h.Address != "web-10.prod.internal:2222" || h.User != "deploy" || h.Files[1] != "/srv/10/[a-z]*.log" || h.Files[0] != "/srv/app/log/*.log" {
		t.Fatalf("lockstep expansion: %+v", h)
	}
	if g := c.Groups(); strings.Join(g["web"], ",") != "web-08,web-09,web-10,web-11" || len(g["prod"]) != 4 {
		t.Fatalf("groups %v", g)
	}
}

func TestRangeErrors(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		key, msg  string
	}{
		{"reversed", "[[host]]\nname = \"web-[05-01]\"\naddress = \"x\"\nfiles = [\"/a\"]\n", 2, "host.0.name", "reversed"},
		{"two ranges", "[[host]]\nname = \"web-[1-2]-[1-3]\"\naddress = \"x\"\nfiles = [\"/a\"]\n", 2, "host.0.name", "at most one range"},
		{"mismatched", "[[host]]\nname = \"web-[1-3]\"\naddress = \"web-[1-4].x\"\nfiles = [\"/a\"]\n", 3, "host.0.address", "differs"},
		{"range without name range", "[[host]]\nname = \"web\"\naddress = \"web-[1-4].x\"\nfiles = [\"/a\"]\n", 3, "host.0.address", "has a range but the name"},
		{"duplicate after expansion", "[[host]]\nname = \"web-2\"\naddress = \"x\"\nfiles = [\"/a\"]\n[[host]]\nname = \"web-[1-3]\"\naddress = \"web-[1-3]\"\nfiles = [\"/a\"]\n", 6, "host.1.name", "defined twice"},
		{"too many", "[[host]]\nname = \"w[0-99999]\"\naddress = \"x\"\nfiles = [\"/a\"]\n", 2, "host.0.name", "more than"},
		{"bad group", "[[host]]\nname = \"a\"\ngroups = [\"a b\"]\nfiles = [\"/a\"]\n", 3, "host.0.groups", "not a group name"},
		{"group named like a host", "[[host]]\nname = \"a\"\ngroups = [\"b\"]\nfiles = [\"/a\"]\n[[host]]\nname = \"b\"\nfiles = [\"/a\"]\n", 3, "host.0.groups", "name of a host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("my.toml", []byte(tt.src))
			ce, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %T %v", err, err)
			}
			if ce.Line != tt.line || ce.Key != tt.key || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %q (line %d key %q), want line %d key %q msg containing %q", err, ce.Line, ce.Key, tt.line, tt.key, tt.msg)
			}
		})
	}
}

func TestParseCluster(t *testing.T) {
	const host = "[[host]]\nname = \"local\"\nfiles = [\"/var/log/*.log\"]\n"
	c, err := Parse("c.toml", []byte(host))
	if err != nil || c.Cluster != nil {
		t.Fatalf("no [cluster]: %v, %+v", err, c.Cluster)
	}
	c, err = Parse("c.toml", []byte(host+"[cluster]\nnats_url = \"nats://10.0.0.1:4222, nats://10.0.0.2:4222\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	hn, _ := os.Hostname()
	if c.Cluster.Name != "logviewer" || c.Cluster.Instance != hn {
		t.Errorf("defaults: %+v, want name logviewer and instance %q", c.Cluster, hn)
	}
	c, err = Parse("c.toml", []byte(host+"[cluster]\nnats_url = \"nats://127.0.0.1:4222\"\nname = \"lv\"\ninstance = \"lv-1\"\n"))
	if err != nil || c.Cluster.Name != "lv" || c.Cluster.Instance != "lv-1" {
		t.Fatalf("%v, %+v", err, c.Cluster)
	}
}

func TestEffectiveMasksNATSCredentials(t *testing.T) {
	const src = "[[host]]\nname = \"local\"\nfiles = [\"/a\"]\n[cluster]\nnats_url = \"nats://lv:hunter2@10.0.0.1:4222\"\ninstance = \"lv-1\"\n"
	c, err := Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.WriteEffective(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "hunter2") || !strings.Contains(b.String(), "instance = 'lv-1'") {
		t.Errorf("effective config:\n%s", b.String())
	}
	if c.Cluster.NATSURL != "nats://lv:hunter2@10.0.0.1:4222" {
		t.Errorf("WriteEffective changed the config: %q", c.Cluster.NATSURL)
	}
}
