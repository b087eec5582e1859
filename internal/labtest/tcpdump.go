package labtest

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/privileged"
)

// Capture is tcpdump running in a lab node for a test (see Tcpdump):
// an oracle synprobe has no part in.
type Capture struct {
	// Path is the pcap file tcpdump writes.
	Path    string
	stop    func()
	mu      sync.Mutex
	stderr  bytes.Buffer
	stopped bool
}

// Tcpdump starts tcpdump in node's namespace on iface, with nanosecond
// kernel timestamps and every packet written as it comes, into a pcap file
// in t's temporary directory, and returns once it listens. args are more
// options and the filter. The test is skipped (or fails, under
// SYNPROBE_REQUIRE_PRIVILEGED=1) where tcpdump is not installed; its
// cleanup stops tcpdump if Stop has not.
func Tcpdump(t testing.TB, l *lab.Lab, node, iface string, args ...string) *Capture {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		privileged.Skip(t, "tcpdump is not installed (apt-get install tcpdump)")
	}
	c := &Capture{Path: filepath.Join(t.TempDir(), "c.pcap")}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	argv := append([]string{"-i", iface, "-n", "-U", "--immediate-mode", "--time-stamp-precision=nano", "-w", c.Path}, args...)
	dump := l.Command(ctx, node, "tcpdump", argv...)
	dump.Stderr = c
	if err := dump.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	for i := 0; i < 100 && !strings.Contains(c.Log(), "listening on"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	c.stop = func() {
		dump.Process.Signal(syscall.SIGINT)
		dump.Wait()
		cancel()
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

// Stop ends tcpdump, which writes out what it holds, and returns Path.
func (c *Capture) Stop() string {
	c.mu.Lock()
	stopped := c.stopped
	c.stopped = true
	c.mu.Unlock()
	if !stopped {
		c.stop()
	}
	return c.Path
}

// Log is what tcpdump has printed: where it listens, the packets it
// captured and the kernel dropped.
func (c *Capture) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// Write takes tcpdump's standard error.
func (c *Capture) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.Write(b)
}
