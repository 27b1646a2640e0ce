package main

// The subcommands, called by their names in the commands table as main()
// does: hash-password, hash-token, check-config.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func runCommand(t *testing.T, name string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd, ok := commands[name]
	if !ok {
		t.Fatalf("no command %q", name)
	}
	var out bytes.Buffer
	err := cmd(args, strings.NewReader(stdin), &out)
	return out.String(), err
}

func TestHashPassword(t *testing.T) {
	out, err := runCommand(t, "hash-password", "correct horse battery\n")
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out)
	if strings.Contains(out, "correct horse") {
		t.Fatal("the password was echoed")
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse battery")); err != nil {
		t.Fatalf("output %q does not verify: %v", out, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")) == nil {
		t.Fatal("the hash verifies a different password")
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost < 12 {
		t.Fatalf("cost %d (%v), want at least 12", cost, err)
	}
	// What check-config accepts as a [[user]] password.
	cfg := writeConfig(t, fmt.Sprintf("[auth]\nmode = \"users\"\n[[user]]\nname = \"alice\"\npassword = %q\n[[host]]\nname = \"local\"\nfiles = [\"/tmp/*.log\"]\n", hash))
	if _, err := runCommand(t, "check-config", "", "-config", cfg); err != nil {
		t.Fatalf("check-config on a [[user]] with the printed hash: %v", err)
	}

	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string // in the error
	}{
		{"an argument", "pw\n", []string{"pw"}, "stdin"},
		{"nothing on stdin", "", nil, "no password"},
		{"an empty line", "\n", nil, "no password"},
		{"longer than bcrypt reads", strings.Repeat("x", 73) + "\n", nil, "72"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			out, err := runCommand(t, "hash-password", tc.stdin, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
				t.Fatalf("got %q, %v; want no output and an error saying %q", out, err, tc.want)
			}
		})
	}
}

var (
	tokenLine = regexp.MustCompile(`(?m)^\s+(lvt_[0-9a-f]{64})$`)
	hashLine  = regexp.MustCompile(`(?m)^\s+secret_sha256 = "([0-9a-f]{64})"$`)
)

// TestHashToken: the printed token's sha256 is the printed hash, and the
// pair works as a Bearer token against a running Main.
func TestHashToken(t *testing.T) {
	out, err := runCommand(t, "hash-token", "")
	if err != nil {
		t.Fatal(err)
	}
	tm, hm := tokenLine.FindStringSubmatch(out), hashLine.FindStringSubmatch(out)
	if tm == nil || hm == nil {
		t.Fatalf("output %q: want a token line and a secret_sha256 line", out)
	}
	token, hash := tm[1], hm[1]
	if sum := sha256.Sum256([]byte(token)); hex.EncodeToString(sum[:]) != hash {
		t.Fatalf("sha256(%s) != %s", token, hash)
	}
	if out2, _ := runCommand(t, "hash-token", ""); strings.Contains(out2, token) {
		t.Fatal("two runs printed the same token")
	}
	if _, err := runCommand(t, "hash-token", "", "extra"); err == nil {
		t.Fatal("hash-token accepted an argument")
	}

	m := teamMain(t, fmt.Sprintf(`[auth]
mode = "users"
secret_file = %q
[[user]]
name = "alice"
password = %q
[[token]]
name = "ci"
secret_sha256 = %q
scopes = ["marks"]
[[host]]
name = "local"
files = ["/tmp/*.log"]
`, filepath.Join(t.TempDir(), "secret"), cheapHash(t, "pw"), hash))
	c := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"the printed token", "Bearer " + token, 200},
		{"no token", "", 401},
		{"the hash itself", "Bearer " + hash, 401},
		{"another token", "Bearer lvt_" + strings.Repeat("0", 64), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			code, _, body := send(t, c, newReq(t, "GET", m.URL()+"/api/me", "", h))
			if code != tc.want {
				t.Fatalf("/api/me: %d %s, want %d", code, body, tc.want)
			}
			if code == 200 {
				if got := decode[me](t, body); got.User != "token:ci" || got.Via != "token" {
					t.Fatalf("/api/me %+v, want token:ci via token", got)
				}
			}
		})
	}
}

// TestCheckConfig: a valid file prints OK and the effective settings with
// every secret masked; an invalid one is an error naming file:line and key.
func TestCheckConfig(t *testing.T) {
	pwHash := cheapHash(t, "pw")
	tokHash := strings.Repeat("ab", 32)
	secretFile := filepath.Join(t.TempDir(), "secret")
	valid := writeConfig(t, fmt.Sprintf(`public_url = "https://ops.example.com/logs/"
[auth]
mode = "users"
secret_file = %q
[[user]]
name = "alice"
password = %q
groups = ["dev"]
[[token]]
name = "ci"
secret_sha256 = %q
[[access]]
groups = ["dev"]
hosts = ["*"]
[[host]]
name = "local"
files = ["/tmp/*.log"]
`, secretFile, pwHash, tokHash))
	out, err := runCommand(t, "check-config", "", "-config", valid)
	if err != nil {
		t.Fatalf("check-config on a valid file: %v", err)
	}
	if !strings.HasPrefix(out, valid+": OK\n") {
		t.Fatalf("output starts %.80q, want %q", out, valid+": OK")
	}
	for _, secret := range []string{pwHash, tokHash, pwHash[7:29]} {
		if strings.Contains(out, secret) {
			t.Fatalf("output shows the secret %q:\n%s", secret, out)
		}
	}
	// The effective settings are there: defaults and what the file derived.
	for _, want := range []string{`base_path = '/logs'`, `mode = 'users'`, `name = 'alice'`, `session_ttl = '12h0m0s'`, "********"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	for _, tc := range []struct {
		name, body string
		line       int
		key        string
	}{
		{"unknown key", "listen = \"127.0.0.1:8080\"\nlisten_adress = \"x\"\n[[host]]\nname = \"local\"\nfiles = [\"/tmp/*.log\"]\n", 2, "listen_adress"},
		{"a password that is not a hash", "[auth]\nmode = \"users\"\n[[user]]\nname = \"alice\"\npassword = \"hunter2\"\n[[host]]\nname = \"local\"\nfiles = [\"/tmp/*.log\"]\n", 5, "user.0.password"},
		{"a bad mode", "[auth]\nmode = \"ldap\"\n[[host]]\nname = \"local\"\nfiles = [\"/tmp/*.log\"]\n", 2, "auth.mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.body)
			out, err := runCommand(t, "check-config", "", "-config", p)
			if err == nil {
				t.Fatalf("no error; output %s", out)
			}
			if want := fmt.Sprintf("%s:%d:", p, tc.line); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %q, want it to name %s and key %s", err, want, tc.key)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(out, "hunter2") {
				t.Fatalf("the error repeats the plain-text password: %v", err)
			}
		})
	}
}
