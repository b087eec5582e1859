//go:build !linux

package raw

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// Connect is an ordinary connect: without an error queue, a refusal, an
// unreachable destination and a timeout are all that is known.
func Connect(ctx context.Context, dst netip.AddrPort, timeout time.Duration) ConnectOutcome {
	if err := ctx.Err(); err != nil {
		return ConnectOutcome{Err: err}
	}
	d := net.Dialer{Timeout: timeout}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", dst.String())
	o := ConnectOutcome{Err: classify(err), RTT: time.Since(start)}
	if err == nil {
		c.Close()
	}
	return o
}

// KernelQueuesConnectICMP is false: Connect reads no error queue here.
func KernelQueuesConnectICMP() bool { return false }
