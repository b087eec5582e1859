package craft

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// Every SYN an IPv6 template writes, with its incrementally updated
// checksum, is the packet BuildTCP6 makes from scratch with the same
// fields: the flow label, traffic class and hop limit the template's, the
// IP ID argument ignored.
func TestSYNTemplate6MatchesFullBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, layout := range []Layout{LayoutLinux, LayoutWindows, LayoutNone} {
		tpl, err := NewSYNTemplate(SYNConfig{Layout: layout, TTL: 61, MSS: 1400, Window: 29200, TOS: 0x10, TSval: 12345,
			FlowLabel: 0xabcde, DF: true, ID: 77, Src: netip.IPv6Unspecified(), Dst: netip.IPv6Unspecified()})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 128)
		want := make([]byte, 128)
		for i := range 2000 {
			src, dst := randAddr6(rng), randAddr6(rng)
			if i%7 == 0 { // the unspecified address, all zeros, and all ones
				src, dst = netip.IPv6Unspecified(), netip.AddrFrom16([16]byte(bytes.Repeat([]byte{0xff}, 16)))
			}
			sport, dport, seq := uint16(rng.Uint32()), uint16(rng.Uint32()), rng.Uint32()
			n, err := tpl.Write(buf, src, dst, sport, dport, seq, uint16(rng.Uint32()))
			if err != nil {
				t.Fatal(err)
			}
			ip := IPv6{TrafficClass: 0x10, FlowLabel: 0xabcde, HopLimit: 61, Src: src, Dst: dst}
			tcp := TCP{SrcPort: sport, DstPort: dport, Seq: seq, Flags: FlagSYN, Window: 29200}
			wscale := uint8(7)
			if layout == LayoutWindows {
				wscale = 8
			}
			on, _ := PutLayout(tcp.RawOptions[:], layout, 1400, wscale, 12345)
			tcp.OptionsLen = uint8(on)
			m, err := BuildTCP6(want, &ip, &tcp)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], want[:m]) || n != tpl.Len() {
				t.Fatalf("%v iteration %d:\ntemplate %x\nfull     %x", layout, i, buf[:n], want[:m])
			}
		}
	}
}

// TestNoAllocations6: the IPv6 hot paths allocate nothing: a template's
// Write, BuildTCP6 (the RST), SegmentStart, and Decode of every IPv6
// fixture and of the packets a scanner ignores.
func TestNoAllocations6(t *testing.T) {
	tpl, err := NewSYNTemplate(SYNConfig{Src: client6, Dst: server6})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128)
	if a := testing.AllocsPerRun(1000, func() {
		if _, err := tpl.Write(buf, client6, server6, 40000, 443, 99, 7); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("SYNTemplate.Write (IPv6): %v allocs", a)
	}
	ip := IPv6{HopLimit: 64, Src: client6, Dst: server6}
	tcp := TCP{SrcPort: 1, DstPort: 2, Flags: FlagRST}
	if a := testing.AllocsPerRun(1000, func() { BuildTCP6(buf, &ip, &tcp) }); a != 0 {
		t.Errorf("BuildTCP6: %v allocs", a)
	}
	var s SegmentStart
	syn := loadHex(t, "syn_dstopts6.hex")
	if a := testing.AllocsPerRun(1000, func() {
		if err := s.Decode(syn[:IPv6HeaderLen+8+SegmentStartLen]); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("SegmentStart.Decode (IPv6): %v allocs", a)
	}
	var p Packet
	pkts := map[string][]byte{}
	for _, f := range fixtureNames6 {
		pkts[f] = loadHex(t, f)
	}
	// Ignored: UDP, an echo request, a non-first fragment of TCP.
	pkts["UDP"] = mutate(pkts["syn6.hex"], func(b []byte) []byte { b[6] = 17; return b })
	pkts["echo request"] = mutate(pkts["icmp_port_unreachable6.hex"], func(b []byte) []byte { b[40] = 128; return b })
	pkts["fragment"] = mutate(pkts["syn_dstopts6.hex"], func(b []byte) []byte { b[6] = IPv6Fragment; return b })
	for name, b := range pkts {
		want := p.Decode(b) // nil, or a bare ErrFragment, ErrICMPType, ErrProtocol
		if a := testing.AllocsPerRun(1000, func() {
			if err := p.Decode(b); err != want {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("Decode(%s): %v allocs (%v)", name, a, want)
		}
	}
}

func BenchmarkSYNFromTemplate6(b *testing.B) {
	tpl, err := NewSYNTemplate(SYNConfig{Src: client6, Dst: server6, FlowLabel: 0x12345})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 128)
	b.ReportAllocs()
	b.SetBytes(int64(tpl.Len()))
	for i := 0; b.Loop(); i++ {
		tpl.Write(buf, client6, server6, uint16(i), 443, uint32(i), 0)
	}
}

func BenchmarkParseSYNACK6(b *testing.B) {
	pkt := loadHex(b, "synack6.hex")
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := p.Decode(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSYNDstOpts6(b *testing.B) {
	pkt := loadHex(b, "syn_dstopts6.hex")
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Decode(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseICMPv6(b *testing.B) {
	pkt := loadHex(b, "icmp_port_unreachable6.hex")
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Decode(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSegmentStart6(b *testing.B) {
	syn := loadHex(b, "syn6.hex")
	var s SegmentStart
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Decode(syn); err != nil {
			b.Fatal(err)
		}
	}
}
