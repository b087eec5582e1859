package craft

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestSYNTemplateMatchesFullBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, layout := range []Layout{LayoutLinux, LayoutWindows, LayoutNone} {
		tpl, err := NewSYNTemplate(SYNConfig{Layout: layout, TTL: 61, MSS: 1400, Window: 29200, DF: true, TOS: 0x10, TSval: 12345})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 128)
		want := make([]byte, 128)
		for i := 0; i < 2000; i++ {
			src := netip.AddrFrom4([4]byte{198, 18, byte(rng.Uint32()), byte(rng.Uint32())})
			dst := netip.AddrFrom4([4]byte(binary4(rng.Uint32())))
			sport, dport := uint16(rng.Uint32()), uint16(rng.Uint32())
			seq, id := rng.Uint32(), uint16(rng.Uint32())
			n, err := tpl.Write(buf, src, dst, sport, dport, seq, id)
			if err != nil {
				t.Fatal(err)
			}
			// The same packet built from scratch with full checksums.
			ip := IPv4{TOS: 0x10, ID: id, Flags: FlagDF, TTL: 61, Src: src, Dst: dst}
			tcp := TCP{SrcPort: sport, DstPort: dport, Seq: seq, Flags: FlagSYN, Window: 29200}
			wscale := uint8(7)
			if layout == LayoutWindows {
				wscale = 8
			}
			on, _ := PutLayout(tcp.RawOptions[:], layout, 1400, wscale, 12345)
			tcp.OptionsLen = uint8(on)
			m, err := BuildTCP(want, &ip, &tcp)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], want[:m]) {
				t.Fatalf("%v iteration %d:\ntemplate %x\nfull     %x", layout, i, buf[:n], want[:m])
			}
		}
	}
}

func binary4(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func TestSYNTemplateErrors(t *testing.T) {
	if _, err := NewSYNTemplate(SYNConfig{Src: netip.MustParseAddr("::1")}); err == nil {
		t.Fatal("IPv6 template accepted")
	}
	tpl, _ := NewSYNTemplate(SYNConfig{})
	if _, err := tpl.Write(make([]byte, 10), client, server, 1, 2, 3, 4); err == nil {
		t.Fatal("short buffer accepted")
	}
	if _, err := tpl.Write(make([]byte, 100), netip.MustParseAddr("::1"), server, 1, 2, 3, 4); err == nil {
		t.Fatal("IPv6 source accepted")
	}
}

func TestNoAllocations(t *testing.T) {
	tpl, err := NewSYNTemplate(SYNConfig{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128)
	if a := testing.AllocsPerRun(1000, func() {
		tpl.Write(buf, client, server, 40000, 443, 99, 7)
	}); a != 0 {
		t.Errorf("SYNTemplate.Write: %v allocs", a)
	}
	var p Packet
	for _, f := range fixtureNames {
		b := loadHex(t, f)
		want := p.Decode(b) // nil, or ErrFragment for the fragments
		if a := testing.AllocsPerRun(1000, func() {
			if err := p.Decode(b); err != want {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("Decode(%s): %v allocs", f, a)
		}
	}
	// Packets a scanner ignores cost nothing either.
	syn := loadHex(t, "syn.hex")
	udp := append([]byte(nil), syn...)
	udp[9] = 17
	echo := loadHex(t, "icmp_port_unreachable.hex")
	echo[20] = 0
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{{"UDP", udp, ErrProtocol}, {"ICMP echo reply", echo, ErrICMPType}} {
		if a := testing.AllocsPerRun(1000, func() {
			if err := p.Decode(c.b); err != c.want {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("Decode(%s): %v allocs", c.name, a)
		}
	}
	ip := IPv4{TTL: 64, Src: client, Dst: server}
	tcp := TCP{SrcPort: 1, DstPort: 2, Flags: FlagRST}
	if a := testing.AllocsPerRun(1000, func() { BuildTCP(buf, &ip, &tcp) }); a != 0 {
		t.Errorf("BuildTCP: %v allocs", a)
	}
}

func BenchmarkSYNFromTemplate(b *testing.B) {
	tpl, err := NewSYNTemplate(SYNConfig{})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 128)
	b.ReportAllocs()
	b.SetBytes(int64(tpl.Len()))
	for i := 0; b.Loop(); i++ {
		tpl.Write(buf, client, server, uint16(i), 443, uint32(i), uint16(i))
	}
}

func BenchmarkParseSYNACK(b *testing.B) {
	pkt := loadHex(b, "synack.hex")
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := p.Decode(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseICMP(b *testing.B) {
	pkt := loadHex(b, "icmp_port_unreachable.hex")
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Decode(pkt); err != nil {
			b.Fatal(err)
		}
	}
}
