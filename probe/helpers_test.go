package probe

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/synprobe/synprobe/raw"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

func targets(t *testing.T, addrs ...string) *TargetSet {
	t.Helper()
	var rs []AddrRange
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a); err == nil {
			rs = append(rs, RangeOf(p))
		} else {
			rs = append(rs, AddrRange{mustAddr(a), mustAddr(a)})
		}
	}
	ts, err := NewTargetSet(rs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

type collector struct {
	mu sync.Mutex
	rs []Result
}

func (c *collector) add(r Result) { c.mu.Lock(); c.rs = append(c.rs, r); c.mu.Unlock() }

func (c *collector) get(a string, port uint16) []Result {
	var out []Result
	for _, r := range c.rs {
		if r.Addr == mustAddr(a) && r.Port == port {
			out = append(out, r)
		}
	}
	return out
}

// OpenRaw opens raw sockets in the calling thread's network namespace, as
// Open does in raw mode.
func OpenRaw(cfg *raw.Config) (Conn, error) {
	c, err := raw.Listen(cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}
