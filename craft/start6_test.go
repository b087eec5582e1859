package craft

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The kernel's IPv6 SYNs (syn6.hex; syn_dstopts6.hex, with a destination
// options header), whole and cut short, and broken ways: the start of a
// segment parses from the IPv6 header, its extension headers and 14 bytes
// of TCP, and nothing less or else.
func TestSegmentStart6(t *testing.T) {
	syn, dst := loadHex(t, "syn6.hex"), loadHex(t, "syn_dstopts6.hex")
	set := func(b []byte, kv ...int) []byte {
		c := append([]byte(nil), b...)
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = byte(kv[i+1])
		}
		return c
	}
	var ps, pd Packet
	if err := ps.Decode(syn); err != nil {
		t.Fatal(err)
	}
	if err := pd.Decode(dst); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
		from *Packet // the packet whose fields a start that parses has
	}{
		{"whole", syn, nil, &ps},
		{"cut after the flags", syn[:SegmentStartLen6], nil, &ps},
		{"cut before the flags", syn[:SegmentStartLen6-1], ErrTruncated, nil},
		{"48 bytes, as the tap keeps of an IPv4 packet", syn[:48], ErrTruncated, nil},
		{"header only", syn[:40], ErrTruncated, nil},
		{"39 bytes", syn[:39], ErrTruncated, nil},
		{"padded", append(bytes.Clone(syn), 0, 0, 0, 0, 0, 0), nil, &ps},
		{"payload length below the start", set(syn, 4, 0, 5, 13), ErrTotalLength, nil},
		{"UDP", set(syn, 6, 17), ErrProtocol, nil},
		{"ESP", set(syn, 6, 50), ErrExtensionHeader, nil},
		{"destination options, whole", dst, nil, &pd},
		{"destination options, cut after the flags", dst[:SegmentStartLen6+8], nil, &pd},
		{"destination options, cut before the flags", dst[:SegmentStartLen6+7], ErrTruncated, nil},
		{"destination options, cut inside them", dst[:47], ErrTruncated, nil},
		{"destination options past the payload length", set(dst, 4, 0, 5, 6), ErrTotalLength, nil},
		{"destination options and 12 bytes of TCP in the payload length", set(dst, 4, 0, 5, 20), ErrTotalLength, nil},
		{"a first fragment", set(dst, 6, IPv6Fragment, 42, 0, 43, 1), ErrFragment, nil},
		{"a later fragment", set(dst, 6, IPv6Fragment), ErrFragment, nil},
		{"an atomic fragment", set(dst, 6, IPv6Fragment, 42, 0, 43, 0), nil, &pd},
	} {
		var s SegmentStart
		err := s.Decode(tc.b)
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			continue
		}
		if p := tc.from; p != nil && (s.Src != p.IP.Src || s.Dst != p.IP.Dst || s.SrcPort != p.TCP.SrcPort || s.DstPort != p.TCP.DstPort ||
			s.Seq != p.TCP.Seq || s.Flags != p.TCP.Flags) {
			t.Errorf("%s: %+v, want the fields of %+v", tc.name, s, p.TCP)
		}
	}
}

// Random IPv6 segments with random extension-header chains serialized by
// gopacket, an independent encoder, and cut at every length from 14 bytes
// of TCP on: the start reads gopacket's fields.
func TestSegmentStart6AgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	for range 500 {
		g6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: ip6Of(randAddr6(rng)), DstIP: ip6Of(randAddr6(rng))}
		chain, kinds := randomChain6(rng)
		if len(kinds) > 0 {
			g6.NextHeader = layers.IPProtocol(kinds[0])
		}
		f := rng.Uint32()
		tcp := &layers.TCP{SrcPort: layers.TCPPort(rng.Uint32()), DstPort: layers.TCPPort(rng.Uint32()), Seq: rng.Uint32(),
			FIN: f&1 != 0, SYN: f&2 != 0, RST: f&4 != 0, PSH: f&8 != 0, ACK: f&16 != 0, URG: f&32 != 0, ECE: f&64 != 0, CWR: f&128 != 0}
		tcp.SetNetworkLayerForChecksum(g6)
		sb := gopacket.NewSerializeBuffer()
		ls := append(append([]gopacket.SerializableLayer{g6}, chain...), tcp)
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
			t.Fatal(err)
		}
		b := sb.Bytes()
		hl := len(b) - int(tcp.DataOffset)*4
		for cut := hl + SegmentStartLen; cut <= len(b); cut++ {
			var s SegmentStart
			if err := s.Decode(b[:cut]); err != nil {
				t.Fatalf("%x cut at %d: %v", b, cut, err)
			}
			if s.Src != addrOf(t, g6.SrcIP) || s.Dst != addrOf(t, g6.DstIP) || s.SrcPort != uint16(tcp.SrcPort) || s.DstPort != uint16(tcp.DstPort) ||
				s.Seq != tcp.Seq || s.Flags != TCPFlags(f&0xff) {
				t.Fatalf("%x cut at %d: %+v, want %v:%d > %v:%d seq %d flags %#x", b, cut, s, g6.SrcIP, tcp.SrcPort, g6.DstIP, tcp.DstPort, tcp.Seq, f&0xff)
			}
		}
		var s SegmentStart
		if err := s.Decode(b[:hl+SegmentStartLen-1]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("%x cut a byte short: %v", b, err)
		}
	}
}
