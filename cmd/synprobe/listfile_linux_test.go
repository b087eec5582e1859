//go:build linux

package main

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExcludeFileFIFOStopsOnInterrupt: Ctrl-C or SIGTERM (the command's
// context, cancelled) ends the reading of an exclude file that is a FIFO,
// whether synprobe waits in the open (no writer yet) or in a read (a
// writer that keeps it open and writes no more): within a second, exit
// 130, nothing said, nothing opened. Before, both waited for ever.
func TestExcludeFileFIFOStopsOnInterrupt(t *testing.T) {
	for _, c := range []struct {
		name    string
		writer  bool
		blocked string // the goroutine's state, and the function it waits in
		in      string
		args    []string // the command, reading the FIFO named last
	}{
		{"no writer", false, "[syscall", "synprobe.openContext.func1", []string{"scan", "198.18.10.0/24", "-p", "80", "--mode", "raw", "--exclude-file"}},
		{"silent writer", true, "[IO wait", "synprobe.readListFile", []string{"scan", "198.18.10.0/24", "-p", "80", "--mode", "raw", "--exclude-file"}},
		{"check file, no writer", false, "[syscall", "synprobe.openContext.func1", []string{"check", "--mode", "raw", "--file"}},
		{"check file, silent writer", true, "[IO wait", "check.readLimited", []string{"check", "--mode", "raw", "--file"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fifo := t.TempDir() + "/fifo"
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			if c.writer {
				w, err := os.OpenFile(fifo, os.O_RDWR, 0) // does not wait for a reader
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				if _, err := w.WriteString("198.18.10.1\n"); err != nil {
					t.Fatal(err)
				}
			} else {
				// The open left waiting ends once a writer comes.
				defer func() {
					if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
						w.Close()
					}
				}()
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan ran, 1)
			go func() {
				done <- runCtx(t, ctx, append(c.args, fifo)...)
			}()
			waitBlocked(t, c.blocked, c.in)
			cancel()
			start := time.Now()
			select {
			case r := <-done:
				if took := time.Since(start); took > time.Second {
					t.Errorf("stopped %v after the interrupt", took)
				}
				if r.code != exitInterrupt || r.stdout != "" || r.stderr != "" || r.opened {
					t.Errorf("exit %d, opened %v, stdout %q, stderr %q", r.code, r.opened, r.stdout, r.stderr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still reading 10s after the interrupt")
			}

			if c.args[0] != "scan" {
				return
			}
			// readExcludeFile's error says so (errors.Is), with the file.
			ctx, cancel = context.WithCancel(context.Background())
			cancel()
			if _, err := readExcludeFile(ctx, fifo, nil, func(string) {}); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), fifo) {
				t.Errorf("readExcludeFile, cancelled: %v", err)
			}
		})
	}
}

// TestExcludeFileEndlessFIFO: a FIFO whose writer never stops, with
// well-formed lines, is read up to the limit and refused, within a
// second, in memory bounded by the limit.
func TestExcludeFileEndlessFIFO(t *testing.T) {
	fifo := t.TempDir() + "/fifo"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		lines := []byte(strings.Repeat("198.18.10.1\n", 1000))
		for {
			if _, err := w.Write(lines); err != nil {
				return // EPIPE: the reader is gone
			}
		}
	}()
	var r ran
	took, alloc := measure(func() {
		r = runCtx(t, context.Background(), "scan", "198.18.10.0/24", "-p", "80", "--mode", "raw", "--exclude-file", fifo)
	})
	if r.code != exitUsage || r.opened || r.stderr != "synprobe: "+fifo+":87382: the file is larger than 1 MiB, the limit\n" {
		t.Errorf("exit %d, opened %v, stderr %q", r.code, r.opened, r.stderr)
	}
	if took > time.Second || alloc > 40<<20 {
		t.Errorf("%v and %d bytes allocated to refuse it; want < 1s and < 40 MiB", took, alloc)
	}
}

// waitBlocked waits until a goroutine is in state (as runtime.Stack
// shows it: "[IO wait", "[syscall") inside the function in. It polls the
// goroutines' stacks, yielding in between: no sleep decides anything.
func waitBlocked(t *testing.T, state, in string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, " "+state) && strings.Contains(g, in+"(") {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatalf("no goroutine %s in %s after 10s", state, in)
}
