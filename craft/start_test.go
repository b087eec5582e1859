package craft

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The kernel's SYN (syn.hex), whole and cut short, and broken ways: the
// start of a segment parses from the IPv4 header and 14 bytes of TCP, and
// nothing less or else.
func TestSegmentStart(t *testing.T) {
	syn := loadHex(t, "syn.hex")
	var p Packet
	if err := p.Decode(syn); err != nil {
		t.Fatal(err)
	}
	set := func(b []byte, kv ...int) []byte {
		c := append([]byte(nil), b...)
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = byte(kv[i+1])
		}
		return c
	}
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"whole", syn, nil},
		{"cut after the flags", syn[:34], nil},
		{"cut before the flags", syn[:33], ErrTruncated},
		{"header only", syn[:20], ErrTruncated},
		{"nothing", nil, ErrTruncated},
		{"version 5", set(syn, 0, 0x55), ErrVersion}, // 6 is IPv6's: TestSegmentStart6
		{"IHL 4", set(syn, 0, 0x44), ErrHeaderLength},
		{"IHL 15 past the cut", set(syn[:60], 0, 0x4f), ErrTruncated},
		{"total length below the start", set(syn, 2, 0, 3, 33), ErrTotalLength},
		{"UDP", set(syn, 9, 17), ErrProtocol},
		{"more fragments", set(syn, 6, 0x20), ErrFragment},
		{"a later fragment", set(syn, 6, 0x40, 7, 1), ErrFragment},
	} {
		var s SegmentStart
		err := s.Decode(tc.b)
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && (s.Src != p.IP.Src || s.Dst != p.IP.Dst || s.SrcPort != p.TCP.SrcPort || s.DstPort != p.TCP.DstPort ||
			s.Seq != p.TCP.Seq || s.Flags != p.TCP.Flags) {
			t.Errorf("%s: %+v, want the fields of %+v", tc.name, s, p.TCP)
		}
	}
}

// Random segments serialized by gopacket, an independent encoder, and cut
// at every length from 14 bytes of TCP on: the start reads gopacket's
// fields.
func TestSegmentStartAgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for range 500 {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: binary4(rng.Uint32()), DstIP: binary4(rng.Uint32()), Flags: layers.IPv4DontFragment}
		if rng.IntN(3) == 0 {
			ip4.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}}
		}
		f := rng.Uint32()
		tcp := &layers.TCP{SrcPort: layers.TCPPort(rng.Uint32()), DstPort: layers.TCPPort(rng.Uint32()), Seq: rng.Uint32(),
			FIN: f&1 != 0, SYN: f&2 != 0, RST: f&4 != 0, PSH: f&8 != 0, ACK: f&16 != 0, URG: f&32 != 0, ECE: f&64 != 0, CWR: f&128 != 0}
		tcp.SetNetworkLayerForChecksum(ip4)
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ip4, tcp); err != nil {
			t.Fatal(err)
		}
		b := sb.Bytes()
		hl := int(b[0]&0xf) * 4
		for cut := hl + SegmentStartLen; cut <= len(b); cut++ {
			var s SegmentStart
			if err := s.Decode(b[:cut]); err != nil {
				t.Fatalf("%x cut at %d: %v", b, cut, err)
			}
			src, _ := netip.AddrFromSlice(ip4.SrcIP.To4())
			dst, _ := netip.AddrFromSlice(ip4.DstIP.To4())
			if s.Src != src || s.Dst != dst || s.SrcPort != uint16(tcp.SrcPort) || s.DstPort != uint16(tcp.DstPort) ||
				s.Seq != tcp.Seq || s.Flags != TCPFlags(f&0xff) {
				t.Fatalf("%x cut at %d: %+v, want %v:%d > %v:%d seq %d flags %#x", b, cut, s, src, tcp.SrcPort, dst, tcp.DstPort, tcp.Seq, f&0xff)
			}
		}
	}
}

func BenchmarkSegmentStart(b *testing.B) {
	syn := loadHex(b, "syn.hex")
	var s SegmentStart
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Decode(syn); err != nil {
			b.Fatal(err)
		}
	}
}
