package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The floor of scenario 4. A busy log is read on a clock (a batch every
// local.BusyClock), and on a small VM a thread's wake-up costs tens of
// microseconds of CPU however little it then does. So the bench runs this
// program again as a child that does, on the same clock, only what no
// design can skip: wake up (row 4c), and also read a batch from a file and
// write it as one frame to a socket this process reads (row 4d). Its CPU,
// scaled to scenario 4's rate, is the least any Go server reading on that
// clock can spend there, on this machine.

const (
	floorArg     = "-floor-child" // os.Args[1] of the child
	floorMeasure = 3 * time.Second
	floorReadB   = 4 << 10 // a batch at 20k lines/s every 2 ms: 40 lines of 100 bytes
	floorFrameB  = 7 << 10 // its frame (about 170 bytes a line)
)

// floorChild is the child's main: `bench -floor-child PERIOD [ADDR]`. It
// prints its CPU seconds per second of wall time.
func floorChild(args []string) int {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "floor: period missing")
		return 2
	}
	period, err := time.ParseDuration(args[0])
	if err != nil || period <= 0 {
		fmt.Fprintln(os.Stderr, "floor: bad period", args[0])
		return 2
	}
	var conn net.Conn
	var f *os.File
	if len(args) > 1 {
		if conn, err = net.Dial("tcp", args[1]); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			return 1
		}
		defer conn.Close()
		if f, err = os.Open("/proc/self/exe"); err != nil { // something to read
			fmt.Fprintln(os.Stderr, "floor:", err)
			return 1
		}
		defer f.Close()
	}
	buf := make([]byte, max(floorReadB, floorFrameB))
	t := time.NewTicker(period)
	defer t.Stop()
	batch := func() {
		<-t.C
		if conn != nil {
			_, _ = f.ReadAt(buf[:floorReadB], 0)
			_, _ = conn.Write(buf[:floorFrameB])
		}
	}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		batch() // warm up
	}
	c0, start := selfCPU(), time.Now()
	for time.Since(start) < floorMeasure {
		batch()
	}
	fmt.Println((selfCPU() - c0).Seconds() / time.Since(start).Seconds())
	return 0
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// floorCPU runs the child on period (with the batch's read and write if
// work is set) and returns its CPU seconds per second.
func floorCPU(ctx context.Context, period time.Duration, work bool) (float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	args := []string{floorArg, period.String()}
	if work {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer ln.Close()
		go func() { // the viewer: reads and drops the frames; ends with the child's connection
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}()
		args = append(args, ln.Addr().String())
	}
	ctx, cancel := context.WithTimeout(ctx, floorMeasure+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("floor child: %w", err)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}
