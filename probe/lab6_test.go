//go:build linux

package probe

import (
	"net/netip"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
)

// TestScanDemoLabIPv6 scans the demo lab's targets over IPv6 and IPv4 in
// one scan, one keyed order: every state and ICMPv6 reason the lab's
// stacks give, the hop limit in the ttl field with its initial value and
// hops as the kernel's own numbers say (the same as the IPv4 TTL: one
// setting makes both), and the MSS each negotiates over IPv6 (20 less than
// over IPv4; 1180 behind the clamp). The IPv4 half must say what
// TestScanDemoLab says.
func TestScanDemoLabIPv6(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	v6 := func(a string) string { return lab.Map6(netip.MustParseAddr(a)).String() }
	var addrs []string
	for _, a := range []string{"198.18.3.10", "198.18.10.10", "198.18.11.10", "198.18.12.10", "198.18.13.10", "198.18.16.10"} {
		addrs = append(addrs, a, v6(a))
	}
	c, prog := scan(t, conn, ScanConfig{Targets: targets(t, addrs...), Ports: []uint16{22, 23, 25, 26, 80, 81, 445}, Retries: 1})
	if len(c.rs) != 12*7 {
		t.Fatalf("%d results, want 84", len(c.rs))
	}
	seen := map[netip.AddrPort]bool{}
	for _, r := range c.rs {
		if seen[r.AddrPort()] {
			t.Fatalf("%v reported twice", r.AddrPort())
		}
		seen[r.AddrPort()] = true
	}
	type want struct {
		addr          string
		port          uint16
		state         State
		reason4, rsn6 Reason
		ttl, init     uint8
		hops          uint8
		mss4, mss6    uint16
	}
	for _, w := range []want{
		{"198.18.10.10", 22, StateOpen, ReasonSynAck, ReasonSynAck, 62, 64, 2, 1460, 1440},
		{"198.18.10.10", 80, StateOpen, ReasonSynAck, ReasonSynAck, 62, 64, 2, 1460, 1440},
		{"198.18.10.10", 81, StateClosed, ReasonRST, ReasonRST, 62, 64, 2, 0, 0},
		{"198.18.11.10", 445, StateOpen, ReasonSynAck, ReasonSynAck, 126, 128, 2, 1360, 1340},
		{"198.18.11.10", 80, StateClosed, ReasonRST, ReasonRST, 126, 128, 2, 0, 0},
		{"198.18.3.10", 22, StateOpen, ReasonSynAck, ReasonSynAck, 254, 255, 1, 1460, 1440},
		{"198.18.16.10", 80, StateOpen, ReasonSynAck, ReasonSynAck, 62, 64, 2, 1200, 1180},
		{"198.18.12.10", 22, StateFiltered, ReasonNoResponse, ReasonNoResponse, 0, 0, 0, 0, 0},
		{"198.18.12.10", 80, StateFiltered, ReasonNoResponse, ReasonNoResponse, 0, 0, 0, 0, 0},
		{"198.18.13.10", 80, StateOpen, ReasonSynAck, ReasonSynAck, 62, 64, 2, 1460, 1440},
		{"198.18.13.10", 23, StateClosed, ReasonRST, ReasonRST, 62, 64, 2, 0, 0},
		{"198.18.13.10", 25, StateFiltered, "port-unreachable", "port-unreachable", 62, 64, 2, 0, 0},
		{"198.18.13.10", 26, StateFiltered, "host-unreachable", "address-unreachable", 62, 64, 2, 0, 0},
		{"198.18.13.10", 445, StateFiltered, "admin-prohibited", "admin-prohibited", 62, 64, 2, 0, 0},
	} {
		for _, fam := range []struct {
			addr   string
			reason Reason
			mss    uint16
		}{{w.addr, w.reason4, w.mss4}, {v6(w.addr), w.rsn6, w.mss6}} {
			rs := c.get(fam.addr, w.port)
			if len(rs) != 1 {
				t.Errorf("%s port %d: %d results", fam.addr, w.port, len(rs))
				continue
			}
			r := rs[0]
			if r.State != w.state || r.Reason != fam.reason {
				t.Errorf("%s port %d: %v/%v, want %v/%v", fam.addr, w.port, r.State, r.Reason, w.state, fam.reason)
			}
			if w.ttl != 0 && (r.Has&HasTTL == 0 || r.TTL != w.ttl || r.InitialTTL != w.init || r.Hops != w.hops) {
				t.Errorf("%s port %d: ttl %d initial %d hops %d, want %d %d %d", fam.addr, w.port, r.TTL, r.InitialTTL, r.Hops, w.ttl, w.init, w.hops)
			}
			if fam.mss != 0 && (r.Has&HasMSS == 0 || r.MSS != fam.mss) {
				t.Errorf("%s port %d: MSS %d (has %v), want %d", fam.addr, w.port, r.MSS, r.Has&HasMSS != 0, fam.mss)
			}
			if w.ttl != 0 && (r.Has&HasRTT == 0 || r.Clock != ClockKernel || r.RTT <= 0 || r.RTT > 50*time.Millisecond) {
				t.Errorf("%s port %d: RTT %v clock %v", fam.addr, w.port, r.RTT, r.Clock)
			}
			if r.Addr.Is6() && r.Has&HasIPID != 0 {
				t.Errorf("%s port %d: an IP ID reported for IPv6", fam.addr, w.port)
			}
			if w.reason4 == ReasonNoResponse && r.Tries != 2 {
				t.Errorf("%s port %d: %d tries, want 2", fam.addr, w.port, r.Tries)
			}
		}
	}
	if prog.Malformed.Load() != 0 {
		t.Errorf("%d malformed replies from real stacks", prog.Malformed.Load())
	}
}

// TestRecallSlash112: the big host answers every address of an IPv6
// /112 (65,536) on port 80, through a local route: every one is found
// open, once, and gets its RST.
func TestRecallSlash112(t *testing.T) {
	if testing.Short() {
		t.Skip("65,536 probes")
	}
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	col, prog := scan(t, conn, ScanConfig{Targets: targets(t, lab.BigPrefix6.String()), Ports: []uint16{80}, Rate: 20000, Retries: 1})
	open := 0
	for _, r := range col.rs {
		if r.State == StateOpen && lab.BigPrefix6.Contains(r.Addr) {
			open++
		}
	}
	if open != 65536 || len(col.rs) != 65536 || prog.Duplicates.Load() != 0 || prog.Resets.Load() < 65536 {
		t.Errorf("%d open of %d results, %d duplicates, %d resets; want 65,536 open, once each, each reset",
			open, len(col.rs), prog.Duplicates.Load(), prog.Resets.Load())
	}
}
