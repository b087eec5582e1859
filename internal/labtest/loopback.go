package labtest

import (
	"net"
	"net/netip"
	"testing"
)

// LoopbackPorts returns an open TCP port on 127.0.0.1, whose listener
// accepts and closes every connection until the test ends, and a closed
// one (bound, then closed): the two ends of a connect that need no lab.
func LoopbackPorts(t testing.TB) (open, closed netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	l2, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed = netip.MustParseAddrPort(l2.Addr().String())
	l2.Close()
	return netip.MustParseAddrPort(ln.Addr().String()), closed
}
