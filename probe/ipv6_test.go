package probe

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/synprobe/synprobe/craft"
)

// TestScanBothFamilies scans IPv4 and IPv6 targets in one scan: each
// family's SYNs come from the source of the route to a target of that
// family, in that family's packets; SYN-ACKs, RSTs and ICMPv6 errors are
// matched to their probes; a half-open IPv6 connection is ended with an
// IPv6 RST; the reply's hop limit is reported as its TTL, with no IP ID
// and no DF.
func TestScanBothFamilies(t *testing.T) {
	router6 := mustAddr("2001:2:0:ff::1")
	f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags != craft.FlagSYN {
			return
		}
		var b []byte
		switch p.TCP.DstPort {
		case 80:
			b = synAck(p)
		case 81:
			b = rst(p)
		case 82:
			if p.IP.Version == 6 {
				b = icmp6Error(p, craft.ICMPv6DestUnreachable, 1, router6) // administratively prohibited
			} else {
				b = icmpUnreach(p, 13, mustAddr("198.18.2.2"))
			}
		default:
			return
		}
		f.queueReply(b, at.Add(3*time.Millisecond))
	})
	ts, err := NewTargetSet([]AddrRange{rng6("2001:2:0:9::/126"), rng6("198.18.10.10"), rng6("2001:2:0:a::a")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, prog := fakeScan(t, f, ScanConfig{Targets: ts, Ports: []uint16{80, 81, 82, 83}})
	if len(c.rs) != 6*4 {
		t.Fatalf("%d results, want 24", len(c.rs))
	}
	for _, a := range []string{"198.18.10.10", "2001:2:0:9::", "2001:2:0:9::3", "2001:2:0:a::a"} {
		v6 := mustAddr(a).Is6()
		r := c.only(t, a, 80)
		if r.State != StateOpen || r.Has&HasTTL == 0 || r.RTT != 3*time.Millisecond {
			t.Errorf("%s:80: %v/%v rtt %v, want open after 3ms", a, r.State, r.Reason, r.RTT)
		}
		if v6 && (r.TTL != 61 || r.InitialTTL != 64 || r.Hops != 3 || r.Has&HasIPID != 0 || r.DF) {
			t.Errorf("%s:80: ttl %d initial %d hops %d, has IP ID %v, DF %v; want the hop limit 61 of 64, 3 hops, no IP ID nor DF",
				a, r.TTL, r.InitialTTL, r.Hops, r.Has&HasIPID != 0, r.DF)
		}
		if !v6 && (r.TTL != 62 || r.Has&HasIPID == 0 || r.IPID != 4321 || !r.DF) {
			t.Errorf("%s:80: ttl %d, IP ID %d, DF %v", a, r.TTL, r.IPID, r.DF)
		}
		if r := c.only(t, a, 81); r.State != StateClosed || r.Reason != ReasonRST {
			t.Errorf("%s:81: %v/%v, want closed/rst", a, r.State, r.Reason)
		}
		r = c.only(t, a, 82)
		if r.State != StateFiltered || r.Reason != "admin-prohibited" || v6 && (r.ICMPFrom != router6 || r.ICMPType != 1 || r.ICMPCode != 1) {
			t.Errorf("%s:82: %v/%v from %v type %d code %d", a, r.State, r.Reason, r.ICMPFrom, r.ICMPType, r.ICMPCode)
		}
		if r := c.only(t, a, 83); r.State != StateFiltered || r.Reason != ReasonNoResponse {
			t.Errorf("%s:83: %v/%v, want filtered/no-response", a, r.State, r.Reason)
		}
		// Every SYN, and the RST after the SYN-ACK, in the target's
		// family from that family's source.
		for _, s := range append(f.sentTo(a, 80, craft.FlagSYN), f.sentTo(a, 80, craft.FlagRST)...) {
			var p craft.Packet
			if err := p.Decode(s.b); err != nil {
				t.Fatal(err)
			}
			want := f.src
			if v6 {
				want = f.src6
			}
			if p.IP.Src != want || (p.IP.Version == 6) != v6 {
				t.Errorf("%s: a packet from %v, IPv%d", a, p.IP.Src, p.IP.Version)
			}
		}
		if n := len(f.sentTo(a, 80, craft.FlagRST)); n != 1 {
			t.Errorf("%s:80: %d RSTs, want 1", a, n)
		}
	}
	if prog.Malformed.Load() != 0 || prog.Unmatched.Load() != 0 || prog.TxKernel.Load() == 0 {
		t.Errorf("malformed %d, unmatched %d, kernel stamps %d", prog.Malformed.Load(), prog.Unmatched.Load(), prog.TxKernel.Load())
	}
}

// TestIPv6StampsFromCopies: a transmit stamp that carries a copy of an
// IPv6 SYN (the packet tap's, a kernel's before 6.13) finds its probe.
func TestIPv6StampsFromCopies(t *testing.T) {
	f := newFake(answerEverySYN)
	f.copyStamps = true
	c, prog := fakeScan(t, f, ScanConfig{Targets: targets(t, "2001:2:0:9::/124", "198.18.0.1"), Ports: []uint16{443}})
	if prog.TxKernel.Load() != 17 {
		t.Errorf("%d stamps matched, want 17", prog.TxKernel.Load())
	}
	for _, r := range c.rs {
		if r.State != StateOpen || r.Has&HasRTT == 0 || r.Clock != ClockKernel {
			t.Errorf("%v: %v, rtt %v (%v)", r.AddrPort(), r.State, r.RTT, r.Clock)
		}
	}
}

// TestIPv6Checksums: an IPv6 reply whose TCP or ICMPv6 checksum fails is
// malformed; a segment carrying only its pseudo-header sum (checksum
// offload on a local veth), counted over its length after the extension
// headers, is accepted.
func TestIPv6Checksums(t *testing.T) {
	const tcpAt = craft.IPv6HeaderLen + 16
	f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags != craft.FlagSYN {
			return
		}
		var b []byte
		switch p.TCP.DstPort {
		case 80:
			b = synAck(p)
			b[tcpAt] ^= 0x5a
		case 81:
			b = icmp6Error(p, craft.ICMPv6DestUnreachable, 4, mustAddr("2001:2:0:ff::1"))
			b[craft.IPv6HeaderLen+2] ^= 0x5a
		case 82:
			b = synAck(p)
			c := craft.Fold(craft.PseudoHeaderSum(p.IP.Dst, p.IP.Src, craft.ProtocolTCP, uint16(len(b)-craft.IPv6HeaderLen)))
			b[tcpAt], b[tcpAt+1] = byte(c>>8), byte(c)
		case 83:
			b = synAck(p)
		}
		f.queueReply(b, at.Add(time.Millisecond))
	})
	c, prog := fakeScan(t, f, ScanConfig{Targets: targets(t, "2001:2:0:9::9"), Ports: []uint16{80, 81, 82, 83}})
	for port, want := range map[uint16]State{80: StateFiltered, 81: StateFiltered, 82: StateOpen, 83: StateOpen} {
		if r := c.only(t, "2001:2:0:9::9", port); r.State != want {
			t.Errorf("port %d: %v/%v, want %v", port, r.State, r.Reason, want)
		}
	}
	if m := prog.Malformed.Load(); m != 2 {
		t.Errorf("%d malformed, want 2", m)
	}
}

// TestCookiesIPv6: the ISN and the source-port base of an IPv6 4-tuple
// depend on every byte of both addresses (CBC-MAC over them), an IPv4
// 4-tuple's are still one AES block of it, and neither allocates.
func TestCookiesIPv6(t *testing.T) {
	ck, err := newCookies()
	if err != nil {
		t.Fatal(err)
	}
	var x scratch
	src, dst := mustAddr("2001:2:0:1::1"), mustAddr("2001:2:0:9::9")
	base := ck.isn(&x, src, dst, 40000, 80)
	pb := ck.portBase(&x, dst, 80)
	for i := range 16 {
		s, d := src.As16(), dst.As16()
		s[i] ^= 1
		d[i] ^= 1
		if ck.isn(&x, netip.AddrFrom16(s), dst, 40000, 80) == base || ck.isn(&x, src, netip.AddrFrom16(d), 40000, 80) == base {
			t.Errorf("byte %d of an address does not change the ISN", i)
		}
		if ck.portBase(&x, netip.AddrFrom16(d), 80) == pb {
			t.Errorf("byte %d of the target does not change the port base", i)
		}
	}
	if ck.isn(&x, src, dst, 40001, 80) == base || ck.isn(&x, src, dst, 40000, 81) == base {
		t.Error("a port does not change the ISN")
	}
	// IPv4: E(src|dst|sport|dport|0...|1), as ever.
	var in, out [16]byte
	copy(in[:], []byte{198, 18, 1, 1, 198, 18, 10, 10, 0x9c, 0x40, 0, 80})
	in[15] = 1
	ck.block.Encrypt(out[:], in[:])
	if got, want := ck.isn(&x, mustAddr("198.18.1.1"), mustAddr("198.18.10.10"), 40000, 80), uint32(out[0])<<24|uint32(out[1])<<16|uint32(out[2])<<8|uint32(out[3]); got != want {
		t.Errorf("IPv4 ISN %#x, want %#x", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { ck.isn(&x, src, dst, 40000, 80); ck.portBase(&x, dst, 80) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestSourceOfEachFamily: a given source serves its family, the other
// family's comes from a route; a source of a family no target has, or a
// family whose targets have no route, is an error before anything is
// sent.
func TestSourceOfEachFamily(t *testing.T) {
	f := newFake(nil)
	ts := targets(t, "198.18.0.1", "2001:2:0:9::1")
	src, err := pickSource(zerolog.Nop(), f, mustAddr("2001:2:0:1::77"), ts)
	if err != nil || src.v4 != f.src || src.v6 != mustAddr("2001:2:0:1::77") {
		t.Errorf("sources %v, %v", src, err)
	}
	if _, err := pickSource(zerolog.Nop(), f, mustAddr("2001:2:0:1::77"), targets(t, "198.18.0.1")); !errors.Is(err, ErrConfig) ||
		!strings.Contains(err.Error(), "source address 2001:2:0:1::77 is IPv6, and no target is") {
		t.Errorf("err = %v", err)
	}
	noRouteExcept(f, "198.18.0.1")
	if _, err := pickSource(zerolog.Nop(), f, netip.Addr{}, ts); err == nil || !strings.Contains(err.Error(), "no IPv6 source address") {
		t.Errorf("err = %v", err)
	}
	if err := Scan(context.Background(), ScanConfig{Targets: ts, Ports: []uint16{80}, Rate: 100}, f, func(Result) {}, nil); err == nil || len(f.sent) != 0 {
		t.Errorf("scan: %v, %d sent", err, len(f.sent))
	}
}
