package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/logviewer/logviewer/auth"
	"github.com/logviewer/logviewer/config"
)

// commands are the subcommands: `logviewer NAME ARGS…`.
var commands = map[string]func(args []string, in io.Reader, out io.Writer) error{
	"hash-password": hashPassword,
	"hash-token":    hashToken,
	"check-config":  checkConfig,
}

// hashPassword reads a password (the first line of stdin) and prints its
// bcrypt hash for a [[user]] entry. The password is never echoed or logged.
func hashPassword(args []string, in io.Reader, out io.Writer) error {
	if len(args) > 0 {
		return errors.New("hash-password reads the password from stdin, not from arguments (they show in ps and shell history)")
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return errors.New("no password on stdin")
	}
	if len(pw) > 72 {
		return errors.New("bcrypt uses at most 72 bytes of a password: use a shorter one")
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, h)
	return err
}

// hashToken prints a new random token for a [[token]] entry and the sha256
// that goes in the config.
func hashToken(args []string, _ io.Reader, out io.Writer) error {
	if len(args) > 0 {
		return errors.New("hash-token takes no arguments")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	tok := "lvt_" + hex.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(tok))
	_, err := fmt.Fprintf(out, "token (give it to the caller; it is not stored):\n  %s\nfor logviewer.toml:\n  secret_sha256 = %q\n", tok, hex.EncodeToString(sum[:]))
	return err
}

// checkConfig validates a config file and prints the effective settings,
// secrets masked.
func checkConfig(args []string, _ io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := fs.String("config", "logviewer.toml", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: OK\n\n", *path)
	return c.WriteEffective(out)
}
