package labtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/privileged"
)

// ListenTimeout is how long Tcpdump waits for tcpdump to say it listens.
const ListenTimeout = 10 * time.Second

// Capture is tcpdump running in a lab node for a test: an oracle synprobe
// has no part in. WaitFor reads what it captured once the exchange the
// test expects is in it.
type Capture struct {
	// Path is the pcap file tcpdump writes (nanosecond timestamps).
	Path string
	cmd  *exec.Cmd
	// listening is closed when tcpdump prints "listening on", exited
	// when it has exited and its standard error is all read.
	listening, exited chan struct{}
	cancel            context.CancelFunc

	mu       sync.Mutex
	stderr   bytes.Buffer
	heard    bool // "listening on" seen
	stopOnce sync.Once

	// read: the packets decoded so far, from the start of Path.
	pkts []gopacket.Packet
}

// Tcpdump starts tcpdump in node's namespace on iface, packets handed
// over at once (--immediate-mode) and each written as it comes (-U), with
// nanosecond kernel timestamps, into a pcap file in t's temporary
// directory. args are more options and the filter. It returns once tcpdump
// says "listening on", by when its filter is set and its file open, and
// fails the test, quoting tcpdump, if it does not say so within
// ListenTimeout. The test is skipped (or fails, under
// SYNPROBE_REQUIRE_PRIVILEGED=1) where tcpdump is not installed. tcpdump
// is stopped by WaitFor, or when the test ends.
func Tcpdump(t testing.TB, l *lab.Lab, node, iface string, args ...string) *Capture {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		privileged.Skip(t, "tcpdump is not installed (apt-get install tcpdump)")
	}
	c := &Capture{Path: filepath.Join(t.TempDir(), "c.pcap"), listening: make(chan struct{}), exited: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	c.cancel = cancel
	argv := append([]string{"-i", iface, "-n", "-U", "--immediate-mode", "--time-stamp-precision=nano", "-w", c.Path}, args...)
	c.cmd = l.Command(ctx, node, "tcpdump", argv...)
	c.cmd.Stderr = (*stderrWriter)(c)
	if err := c.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("tcpdump: %v", err)
	}
	go func() {
		c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(c.stop)
	timer := time.NewTimer(ListenTimeout)
	defer timer.Stop()
	select {
	case <-c.listening:
		return c
	case <-c.exited:
		t.Fatalf("tcpdump -i %s in %s exited before it listened: %v; it said: %q", iface, node, c.cmd.ProcessState, c.Log())
	case <-timer.C:
		c.stop()
		t.Fatalf("tcpdump -i %s in %s did not say \"listening on\" within %v; it said: %q", iface, node, ListenTimeout, c.Log())
	}
	return nil
}

// WaitFor reads the capture as it grows (woken by each write to the file,
// not by a clock) until until, given every packet captured so far in
// order, says the exchange the test expects is complete; then it stops
// tcpdump and returns every packet it captured, those that came since
// included. If that does not happen within timeout, or tcpdump exits, the
// test fails with what until last said was missing. until must not keep
// the slice beyond its call.
//
// until should ask for packets that come after everything the test reads:
// tcpdump hands packets over in the order it captured them, so once the
// last of an exchange (a reply, say) is in the file, so is all that
// preceded it. A test that must see a packet not come asks for a later
// one that does.
func (c *Capture) WaitFor(t testing.TB, timeout time.Duration, until func(pkts []gopacket.Packet) (done bool, missing string)) []gopacket.Packet {
	t.Helper()
	grew, unwatch, err := watchWrites(c.Path)
	if err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	defer unwatch()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var missing string
	for {
		// Read after the watch is in place: a write before it is read
		// here, one after it wakes the loop.
		c.read(t)
		var done bool
		if done, missing = until(c.pkts); done {
			c.stop()
			c.read(t)
			return c.pkts
		}
		select {
		case <-grew:
		case <-c.exited:
			c.read(t)
			if done, missing = until(c.pkts); done {
				return c.pkts
			}
			t.Fatalf("tcpdump exited (%v) with %d packets captured, still missing %s; it said: %q", c.cmd.ProcessState, len(c.pkts), missing, c.Log())
			return nil
		case <-timer.C:
			c.stop()
			c.read(t)
			_, missing = until(c.pkts)
			t.Fatalf("tcpdump: after %v, %d packets captured, still missing %s; it said: %q", timeout, len(c.pkts), missing, c.Log())
			return nil
		}
	}
}

// read decodes the records tcpdump has written since the last read. A
// record tcpdump is still writing is left for the next.
func (c *Capture) read(t testing.TB) {
	t.Helper()
	f, err := os.Open(c.Path)
	if err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return // not even the file header yet: tcpdump writes it with the first packet
	}
	if err != nil {
		t.Fatalf("tcpdump: %v; it said: %q", err, c.Log())
	}
	if r.Resolution() != gopacket.TimestampResolutionNanosecond {
		t.Fatalf("tcpdump: capture resolution %v, want nanoseconds", r.Resolution())
	}
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			return // the end, or a record not yet whole
		}
		if i < len(c.pkts) {
			continue
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		p.Metadata().CaptureInfo = ci
		c.pkts = append(c.pkts, p)
	}
}

// stop ends tcpdump (SIGINT: it writes out what it holds) and waits for
// it; after 10 s it is killed.
func (c *Capture) stop() {
	c.stopOnce.Do(func() {
		defer c.cancel()
		c.cmd.Process.Signal(syscall.SIGINT)
		timer := time.NewTimer(10 * time.Second)
		defer timer.Stop()
		select {
		case <-c.exited:
		case <-timer.C:
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
}

// Log is what tcpdump has printed: where it listens and, once stopped, the
// packets it captured and the kernel dropped.
func (c *Capture) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// stderrWriter takes tcpdump's standard error and notes "listening on".
type stderrWriter Capture

func (w *stderrWriter) Write(b []byte) (int, error) {
	c := (*Capture)(w)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stderr.Write(b)
	if !c.heard && bytes.Contains(c.stderr.Bytes(), []byte("listening on")) {
		c.heard = true
		close(c.listening)
	}
	return len(b), nil
}

// IPv4TCP returns the IPv4 and TCP layers of p, or nils when it lacks
// either.
func IPv4TCP(p gopacket.Packet) (*layers.IPv4, *layers.TCP) {
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ip == nil || tcp == nil {
		return nil, nil
	}
	return ip, tcp
}
