package craft

// More cross-checks against gopacket's layers package (tests only): IPv4
// headers with every field random, fragments and options included, and
// ICMP errors with their quotes, in both directions.

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func randAddr(rng *rand.Rand) netip.Addr { return netip.AddrFrom4([4]byte(binary4(rng.Uint32()))) }

// randomIPv4Options returns well-formed IPv4 options (gopacket rejects
// malformed ones): none, record route with 1-9 slots, NOPs and a router
// alert, or a stream ID.
func randomIPv4Options(rng *rand.Rand) []byte {
	switch rng.IntN(4) {
	case 1:
		k := 1 + rng.IntN(9)
		return append([]byte{7, byte(3 + 4*k), 4}, randBytes(rng, 4*k)...)
	case 2:
		return []byte{1, 1, 0x94, 4, 0, 0}
	case 3:
		return append([]byte{0x88, 4}, randBytes(rng, 2)...)
	}
	return nil
}

// TestIPv4AgainstGopacket builds IPv4 headers from random values of every
// field (fragments, reserved flag and options included) and has gopacket
// decode them and compute the checksum; then the other way round.
func TestIPv4AgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	buf := make([]byte, 200)
	for i := 0; i < 3000; i++ {
		h := IPv4{
			TOS: uint8(rng.Uint32()), ID: uint16(rng.Uint32()), Flags: IPv4Flags(rng.IntN(8)),
			FragOff: uint16(rng.Uint32()) & 0x1fff, TTL: uint8(rng.Uint32()), Protocol: uint8(rng.Uint32()),
			Src: randAddr(rng), Dst: randAddr(rng),
		}
		opts := randomIPv4Options(rng)
		if err := h.SetOptions(opts); err != nil {
			t.Fatal(err)
		}
		payload := randBytes(rng, rng.IntN(40))
		hl, err := h.Encode(buf, len(payload))
		if err != nil {
			t.Fatal(err)
		}
		pkt := buf[:hl+copy(buf[hl:], payload)]

		var g layers.IPv4
		if err := g.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("gopacket: %v\n%x", err, pkt)
		}
		if g.Version != 4 || g.IHL != h.IHL || int(g.IHL)*4 != hl || g.TOS != h.TOS || g.Length != h.TotalLen ||
			g.Id != h.ID || uint8(g.Flags) != uint8(h.Flags) || g.FragOffset != h.FragOff || g.TTL != h.TTL ||
			uint8(g.Protocol) != h.Protocol || g.Checksum != h.Checksum ||
			!g.SrcIP.Equal(net.IP(h.Src.AsSlice())) || !g.DstIP.Equal(net.IP(h.Dst.AsSlice())) ||
			!bytes.Equal(g.Payload, payload) || !bytes.HasPrefix(g.Contents[20:], opts) {
			t.Fatalf("gopacket %+v\ncraft %+v", g, h)
		}
		// gopacket's own checksum over the header it decoded.
		g.Checksum = 0
		sb := gopacket.NewSerializeBuffer()
		if err := g.SerializeTo(sb, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sb.Bytes(), pkt[:hl]) {
			t.Fatalf("gopacket re-serialized\n%x\ncraft\n%x", sb.Bytes(), pkt[:hl])
		}
		var back IPv4
		got, err := back.Decode(pkt)
		if wantFrag := h.IsFragment(); (err != nil) != wantFrag || wantFrag && !errors.Is(err, ErrFragment) {
			t.Fatalf("fragment %v: err %v", wantFrag, err)
		}
		h.OptionsLen = uint8(hl - IPv4MinHeaderLen) // parsed options include Encode's zero padding
		if back != h || !bytes.Equal(got, payload) {
			t.Fatalf("round trip\n%+v\n%+v", back, h)
		}
	}

	// gopacket builds, craft parses.
	for i := 0; i < 3000; i++ {
		g := &layers.IPv4{
			Version: 4, TOS: uint8(rng.Uint32()), Id: uint16(rng.Uint32()), Flags: layers.IPv4Flag(rng.IntN(8)),
			FragOffset: uint16(rng.Uint32()) & 0x1fff, TTL: uint8(rng.Uint32()), Protocol: layers.IPProtocol(rng.Uint32()),
			SrcIP: net.IP(binary4(rng.Uint32())), DstIP: net.IP(binary4(rng.Uint32())),
		}
		if rng.IntN(2) == 0 {
			k := 1 + rng.IntN(9)
			g.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: byte(3 + 4*k), OptionData: append([]byte{4}, randBytes(rng, 4*k)...)}}
		}
		payload := gopacket.Payload(randBytes(rng, rng.IntN(40)))
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, g, payload); err != nil {
			t.Fatal(err)
		}
		pkt := sb.Bytes()
		var h IPv4
		got, err := h.Decode(pkt)
		if err != nil && !errors.Is(err, ErrFragment) {
			t.Fatalf("%v\n%x", err, pkt)
		}
		var opts []byte
		if len(g.Options) > 0 {
			opts = append([]byte{7, g.Options[0].OptionLength}, g.Options[0].OptionData...)
		}
		if h.Version != 4 || h.IHL != g.IHL || h.TOS != g.TOS || h.TotalLen != g.Length || h.ID != g.Id ||
			uint8(h.Flags) != uint8(g.Flags) || h.FragOff != g.FragOffset || h.TTL != g.TTL ||
			h.Protocol != uint8(g.Protocol) || h.Checksum != g.Checksum ||
			h.Src != netip.AddrFrom4([4]byte(g.SrcIP.To4())) || h.Dst != netip.AddrFrom4([4]byte(g.DstIP.To4())) ||
			!bytes.HasPrefix(h.Options[:h.OptionsLen], opts) || int(h.OptionsLen) != int(g.IHL)*4-20 ||
			!bytes.Equal(got, payload) || !IPv4ChecksumValid(pkt) || h.IsFragment() != (err != nil) {
			t.Fatalf("craft %+v\ngopacket %+v", h, g)
		}
	}
}

// TestICMPAgainstGopacket builds ICMP errors that quote a SYN (the RFC 792
// minimum or all of it) with craft and has gopacket decode the message and
// the quoted header; then gopacket builds them and craft parses.
func TestICMPAgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	tpl, err := NewSYNTemplate(SYNConfig{DF: true})
	if err != nil {
		t.Fatal(err)
	}
	syn := make([]byte, tpl.Len())
	buf := make([]byte, 200)
	for i := 0; i < 3000; i++ {
		// The probe that caused the error.
		qsrc, qdst := randAddr(rng), randAddr(rng)
		sport, dport, seq, qid := uint16(rng.Uint32()), uint16(rng.Uint32()), rng.Uint32(), uint16(rng.Uint32())
		if _, err := tpl.Write(syn, qsrc, qdst, sport, dport, seq, qid); err != nil {
			t.Fatal(err)
		}
		quote := syn
		if rng.IntN(2) == 0 {
			quote = syn[:IPv4MinHeaderLen+8]
		}
		typ, code := uint8(ICMPDestUnreachable), uint8(rng.IntN(16))
		if rng.IntN(3) == 0 {
			typ, code = ICMPTimeExceeded, uint8(rng.IntN(2))
		}
		mtu := uint16(0)
		if typ == ICMPDestUnreachable && code == 4 {
			mtu = uint16(rng.Uint32())
		}
		ip := IPv4{TOS: 0xc0, ID: uint16(rng.Uint32()), TTL: uint8(rng.Uint32()), Protocol: ProtocolICMP, Src: randAddr(rng), Dst: qsrc}
		ihl, err := ip.Encode(buf, ICMPv4HeaderLen+len(quote))
		if err != nil {
			t.Fatal(err)
		}
		n, err := EncodeICMPError(buf[ihl:], typ, code, mtu, quote)
		if err != nil {
			t.Fatal(err)
		}
		pkt := buf[:ihl+n]

		gp := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.DecodeOptions{NoCopy: true})
		gi, ok := gp.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if !ok {
			t.Fatalf("gopacket found no ICMPv4 in %x", pkt)
		}
		if gi.TypeCode.Type() != typ || gi.TypeCode.Code() != code || gi.Seq != mtu || gi.Id != 0 || !bytes.Equal(gi.Payload, quote) {
			t.Fatalf("gopacket ICMP %+v", gi)
		}
		if _, v := gi.VerifyChecksum(); !v.Valid {
			t.Fatalf("gopacket says the ICMP checksum is wrong: %+v", v)
		}
		var gq layers.IPv4
		if err := gq.DecodeFromBytes(gi.Payload, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("gopacket quote: %v", err)
		}

		var p Packet
		if err := p.Decode(pkt); err != nil {
			t.Fatal(err)
		}
		m, q := &p.ICMP, &p.ICMP.Quote
		if p.IP.Protocol != ProtocolICMP || m.Type != typ || m.Code != code || m.MTU != mtu || m.Checksum != gi.Checksum ||
			m.QuoteLen != len(quote) || m.Name() != ICMPName(typ, code) {
			t.Fatalf("craft ICMP %+v vs gopacket %+v", *m, gi)
		}
		if q.IHL != gq.IHL || q.TOS != gq.TOS || q.TotalLen != gq.Length || q.ID != gq.Id || q.ID != qid ||
			uint8(q.Flags) != uint8(gq.Flags) || q.FragOff != gq.FragOffset || q.TTL != gq.TTL ||
			q.Protocol != uint8(gq.Protocol) || q.Checksum != gq.Checksum || q.Src != qsrc || q.Dst != qdst ||
			!gq.SrcIP.Equal(net.IP(qsrc.AsSlice())) || !gq.DstIP.Equal(net.IP(qdst.AsSlice())) {
			t.Fatalf("craft quote %+v\ngopacket %+v", *q, gq)
		}
		if m.QuotedSrcPort != sport || m.QuotedDstPort != dport || m.QuotedSeq != seq {
			t.Fatalf("quoted TCP %d>%d seq %d, want %d>%d seq %d", m.QuotedSrcPort, m.QuotedDstPort, m.QuotedSeq, sport, dport, seq)
		}
	}

	// gopacket builds the error around a SYN it serialized, craft parses.
	for i := 0; i < 2000; i++ {
		g4 := &layers.IPv4{Version: 4, TTL: uint8(rng.Uint32()), Id: uint16(rng.Uint32()), Protocol: layers.IPProtocolTCP,
			Flags: layers.IPv4DontFragment, SrcIP: net.IP(binary4(rng.Uint32())), DstIP: net.IP(binary4(rng.Uint32()))}
		gt := &layers.TCP{SrcPort: layers.TCPPort(rng.Uint32()), DstPort: layers.TCPPort(rng.Uint32()), Seq: rng.Uint32(), SYN: true, Window: 64240}
		gt.SetNetworkLayerForChecksum(g4)
		sb := gopacket.NewSerializeBuffer()
		opt := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
		if err := gopacket.SerializeLayers(sb, opt, g4, gt); err != nil {
			t.Fatal(err)
		}
		inner := append([]byte(nil), sb.Bytes()...)
		inner = inner[:IPv4MinHeaderLen+8+rng.IntN(len(inner)-IPv4MinHeaderLen-7)]
		typ, code := uint8(rng.IntN(2)*8+3), uint8(rng.IntN(2))
		outer := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4,
			SrcIP: net.IP(binary4(rng.Uint32())), DstIP: g4.SrcIP}
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Seq: uint16(rng.Uint32())}
		sb = gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, opt, outer, ic, gopacket.Payload(inner)); err != nil {
			t.Fatal(err)
		}
		var p Packet
		if err := p.Decode(sb.Bytes()); err != nil {
			t.Fatalf("%v\n%x", err, sb.Bytes())
		}
		m, q := &p.ICMP, &p.ICMP.Quote
		if m.Type != typ || m.Code != code || m.Checksum != ic.Checksum || m.MTU != ic.Seq || m.QuoteLen != len(inner) ||
			Checksum(sb.Bytes()[20:], 0) != 0 {
			t.Fatalf("craft ICMP %+v vs gopacket %+v", *m, ic)
		}
		if q.ID != g4.Id || q.TTL != g4.TTL || q.Protocol != ProtocolTCP || !q.DF() || q.TotalLen != g4.Length ||
			q.Checksum != g4.Checksum || q.Src != netip.AddrFrom4([4]byte(g4.SrcIP.To4())) ||
			q.Dst != netip.AddrFrom4([4]byte(g4.DstIP.To4())) ||
			m.QuotedSrcPort != uint16(gt.SrcPort) || m.QuotedDstPort != uint16(gt.DstPort) || m.QuotedSeq != gt.Seq {
			t.Fatalf("craft quote %+v %d>%d %d\ngopacket %+v %+v", *q, m.QuotedSrcPort, m.QuotedDstPort, m.QuotedSeq, g4, gt)
		}
	}
}

// TestSYNTemplateAgainstGopacket: SYNs written from a template with
// incrementally updated checksums, decoded by gopacket, which verifies both
// checksums with its own arithmetic and reads every field and option.
func TestSYNTemplateAgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, c := range []struct {
		layout Layout
		kinds  []layers.TCPOptionKind
	}{
		{LayoutLinux, []layers.TCPOptionKind{2, 4, 8, 1, 3}},
		{LayoutWindows, []layers.TCPOptionKind{2, 1, 3, 1, 1, 4}},
		{LayoutNone, nil},
	} {
		cfg := SYNConfig{Layout: c.layout, TTL: uint8(1 + rng.IntN(255)), Window: uint16(rng.Uint32()), MSS: uint16(rng.Uint32()),
			WScale: uint8(1 + rng.IntN(14)), TOS: uint8(rng.Uint32()), DF: rng.IntN(2) == 0, TSval: rng.Uint32(),
			Src: randAddr(rng), Dst: randAddr(rng), SrcPort: uint16(rng.Uint32()), Seq: rng.Uint32()}
		tpl, err := NewSYNTemplate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, tpl.Len())
		for i := 0; i < 2000; i++ {
			src, dst := randAddr(rng), randAddr(rng)
			sport, dport, seq, id := uint16(rng.Uint32()), uint16(rng.Uint32()), rng.Uint32(), uint16(rng.Uint32())
			if _, err := tpl.Write(buf, src, dst, sport, dport, seq, id); err != nil {
				t.Fatal(err)
			}
			gp := gopacket.NewPacket(buf, layers.LayerTypeIPv4, gopacket.DecodeOptions{NoCopy: true})
			g4, _ := gp.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			gt, _ := gp.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if g4 == nil || gt == nil {
				t.Fatalf("gopacket: %v\n%x", gp.ErrorLayer(), buf)
			}
			if err := gt.SetNetworkLayerForChecksum(g4); err != nil {
				t.Fatal(err)
			}
			_, v4 := g4.VerifyChecksum()
			_, vt := gt.VerifyChecksum()
			if !v4.Valid || !vt.Valid {
				t.Fatalf("%v: gopacket says checksums IPv4 %+v TCP %+v\n%x", c.layout, v4, vt, buf)
			}
			df := g4.Flags&layers.IPv4DontFragment != 0
			if !g4.SrcIP.Equal(net.IP(src.AsSlice())) || !g4.DstIP.Equal(net.IP(dst.AsSlice())) || g4.Id != id ||
				g4.TTL != cfg.TTL || g4.TOS != cfg.TOS || df != cfg.DF || int(g4.Length) != tpl.Len() ||
				uint16(gt.SrcPort) != sport || uint16(gt.DstPort) != dport || gt.Seq != seq || gt.Ack != 0 ||
				gopacketFlags(gt) != FlagSYN || gt.Window != cfg.Window || gt.Urgent != 0 {
				t.Fatalf("%v: gopacket %+v %+v", c.layout, g4, gt)
			}
			var kinds []layers.TCPOptionKind
			for _, o := range gt.Options {
				kinds = append(kinds, o.OptionType)
				d := o.OptionData
				switch o.OptionType {
				case layers.TCPOptionKindMSS:
					if uint16(d[0])<<8|uint16(d[1]) != cfg.MSS {
						t.Fatalf("MSS %x", d)
					}
				case layers.TCPOptionKindWindowScale:
					if d[0] != cfg.WScale {
						t.Fatalf("window scale %x", d)
					}
				case layers.TCPOptionKindTimestamps:
					if !bytes.Equal(d[:4], binary4(cfg.TSval)) || !bytes.Equal(d[4:], binary4(0)) {
						t.Fatalf("timestamps %x", d)
					}
				}
			}
			if len(kinds) != len(c.kinds) {
				t.Fatalf("%v: option kinds %v, want %v", c.layout, kinds, c.kinds)
			}
			for i := range kinds {
				if kinds[i] != c.kinds[i] {
					t.Fatalf("%v: option kinds %v, want %v", c.layout, kinds, c.kinds)
				}
			}
		}
	}
}
