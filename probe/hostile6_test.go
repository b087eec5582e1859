//go:build linux

package probe

import (
	"testing"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
)

// withExt puts an 8-byte extension header of type typ right after b's
// fixed IPv6 header (its next header b's, PadN filling the rest), whose
// length field lenField claims (lenField+1)*8 bytes; b's next header
// becomes typ and its payload length grows by 8. Only the chain is wrong:
// a TCP checksum stays right, as the pseudo-header leaves the extension
// headers out.
func withExt(b []byte, typ, lenField uint8) []byte {
	h := craft.IPv6HeaderLen
	ext := []byte{b[6], lenField, 1, 4, 0, 0, 0, 0}
	out := append(append(append([]byte(nil), b[:h]...), ext...), b[h:]...)
	out[6] = typ
	setLen(out, len(out))
	return out
}

// ipv6Forgeries spoil what only IPv6 has: the payload length, and the
// extension-header chain, outside and in an ICMPv6 quote. The packets
// whose header a router reads and would drop (a payload length past the
// packet, a bad hop-by-hop header) or mend (a short payload length, which
// it trims the packet to) go from r1 straight onto the prober's link.
// raw's socket filter passes no TCP behind extension headers, so those
// two are never seen; in a quote they are, and must be malformed.
var ipv6Forgeries = []forgery{
	{name: "payload length past the packet", want: malformed, onLink: true, make: func(syn *craft.Packet, _ []byte) [][]byte {
		b := validSynAck(syn)
		setLen(b, len(b)+8)
		return one(b)
	}},
	{name: "payload length short of the TCP header", want: malformed, onLink: true, make: func(syn *craft.Packet, _ []byte) [][]byte {
		b := validSynAck(syn)
		setLen(b, craft.IPv6HeaderLen+12)
		return one(b)
	}},
	{name: "extension header chain past the packet", want: unseen, make: func(syn *craft.Packet, _ []byte) [][]byte {
		return one(withExt(validSynAck(syn), craft.IPv6DestOpts, 10)) // 88 bytes claimed, 28 there
	}},
	{name: "hop-by-hop header of a bad length", want: unseen, onLink: true, make: func(syn *craft.Packet, _ []byte) [][]byte {
		return one(withExt(validSynAck(syn), craft.IPv6HopByHop, 1)) // 16 bytes claimed: it swallows 8 of TCP
	}},
	{name: "ICMPv6 quoting an extension header chain past the quote", want: malformed, make: func(syn *craft.Packet, raw []byte) [][]byte {
		return one(forgedICMP(syn, withExt(raw[:craft.IPv6HeaderLen+8], craft.IPv6DestOpts, 10)))
	}},
	{name: "ICMPv6 quoting a hop-by-hop header of a bad length", want: malformed, make: func(syn *craft.Packet, raw []byte) [][]byte {
		return one(forgedICMP(syn, withExt(raw[:craft.IPv6HeaderLen+8], craft.IPv6HopByHop, 1)))
	}},
}

// forgeries6 are the IPv6 forgeries: IPv6's own, then every IPv4 kind in
// IPv6 (ICMPv6 destination unreachable, port unreachable, for ICMP), the
// one from an address never probed still last.
var forgeries6 = append(append([]forgery(nil), ipv6Forgeries...), forgeries...)

// TestSpoofedAndHostileRepliesNeverOpenIPv6 is
// TestSpoofedAndHostileRepliesNeverOpen over IPv6: fw's IPv6 address,
// answered with every IPv6 forgery, stays filtered/no-response.
func TestSpoofedAndHostileRepliesNeverOpenIPv6(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	sp := startSpoofer(t, l, "fw", forgeries6, true)
	spoofedScan(t, l, sp, l.Addr6("fw"))
}

// TestEachForgeryCountedIPv6 is TestEachForgeryCounted over IPv6: each
// kind of IPv6 forgery alone, every packet arriving whole in the prober's
// namespace and counted as it should be (the two unseen ones not at all).
func TestEachForgeryCountedIPv6(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	sp := startSpoofer(t, l, "fw", forgeries6, true)
	countEachForgery(t, l, sp, l.Addr6("fw"))
}
