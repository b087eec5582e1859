//go:build linux

package probe

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
)

// markPorts numbers the end marks: each takes its own local port, above
// the 32768..61000 synprobe's probes come from, so that no probe shares it.
var markPorts atomic.Uint32

// markEnd connects to addr with the kernel's own TCP from the prober's
// namespace and returns the connection's local port. Its SYN leaves after
// every packet sent before markEnd was called, so a capture on the
// prober's link that holds it holds all of those too: a test that checks
// a packet is absent waits for the mark (labtest.Capture.WaitFor), then
// leaves the mark's packets out of what it counts.
func markEnd(t *testing.T, l *lab.Lab, addr string) uint16 {
	t.Helper()
	port := uint16(61001 + markPorts.Add(1)%4000)
	if err := l.Do(lab.ProberName, func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{Port: int(port)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp4", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		t.Fatalf("end mark: %v", err)
	}
	return port
}
