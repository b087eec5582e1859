//go:build !linux

package probe

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// connectOnce is an ordinary connect: without an error queue, a refusal
// and an unreachable are all that is known.
func connectOnce(ctx context.Context, dst netip.AddrPort, timeout time.Duration) connectOutcome {
	if err := ctx.Err(); err != nil {
		return connectOutcome{err: err}
	}
	d := net.Dialer{Timeout: timeout}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp4", dst.String())
	o := connectOutcome{err: err, rtt: time.Since(start)}
	if err == nil {
		c.Close()
	}
	return o
}

func kernelQueuesICMP() bool { return false }
