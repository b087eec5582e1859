package craft

// Cross-checks of the IPv6 code against gopacket's layers package (tests
// only), an independent decoder and encoder, in both directions: IPv6+TCP
// packets, extension-header chains, ICMPv6 errors and their quotes, and
// SYNs written from an IPv6 template.

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

// randAddr6 is a random IPv6 address, never an IPv4-mapped one (which
// craft keeps out of IPv6 headers).
func randAddr6(rng *rand.Rand) netip.Addr {
	var a [16]byte
	for i := range a {
		a[i] = byte(rng.Uint32())
	}
	a[0] |= 0x20 // a global unicast prefix: never ::ffff:0:0/96
	return netip.AddrFrom16(a)
}

func ip6Of(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

func addrOf(t *testing.T, ip net.IP) netip.Addr {
	t.Helper()
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		t.Fatalf("bad address %v", ip)
	}
	return a
}

// TestBuilder6AgainstGopacket: IPv6+TCP packets built by craft from random
// fields (the TCP parts, options included, from randomPacket), decoded by
// gopacket, which checks the TCP checksum with its own arithmetic and
// re-serializes the same bytes; and craft decodes them back.
func TestBuilder6AgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	buf := make([]byte, 128)
	for range 3000 {
		_, _, tcp := randomPacket(rng)
		ip := IPv6{TrafficClass: uint8(rng.Uint32()), FlowLabel: rng.Uint32() & 0xfffff, HopLimit: uint8(rng.Uint32()),
			Src: randAddr6(rng), Dst: randAddr6(rng)}
		n, err := BuildTCP6(buf, &ip, &tcp)
		if err != nil {
			t.Fatal(err)
		}
		pkt := buf[:n]
		gp := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.DecodeOptions{NoCopy: true})
		g6, _ := gp.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		gt, _ := gp.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if g6 == nil || gt == nil {
			t.Fatalf("gopacket: %v\n%x", gp.ErrorLayer(), pkt)
		}
		if g6.Version != 6 || g6.TrafficClass != ip.TrafficClass || g6.FlowLabel != ip.FlowLabel || g6.Length != ip.PayloadLen ||
			uint8(g6.NextHeader) != ProtocolTCP || g6.HopLimit != ip.HopLimit || addrOf(t, g6.SrcIP) != ip.Src || addrOf(t, g6.DstIP) != ip.Dst {
			t.Fatalf("IPv6: gopacket %+v\ncraft %+v", g6, ip)
		}
		if gt.SrcPort != layers.TCPPort(tcp.SrcPort) || gt.DstPort != layers.TCPPort(tcp.DstPort) || gt.Seq != tcp.Seq || gt.Ack != tcp.Ack ||
			gt.DataOffset != tcp.DataOffset || gt.Window != tcp.Window || gt.Checksum != tcp.Checksum || gopacketFlags(gt) != tcp.Flags {
			t.Fatalf("TCP: gopacket %+v\ncraft %+v", gt, tcp)
		}
		if err := gt.SetNetworkLayerForChecksum(g6); err != nil {
			t.Fatal(err)
		}
		if _, v := gt.VerifyChecksum(); !v.Valid {
			t.Fatalf("gopacket says the TCP checksum is wrong: %+v\n%x", v, pkt)
		}
		sb := gopacket.NewSerializeBuffer()
		gt.Checksum = 0
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, g6, gt); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sb.Bytes(), pkt) {
			t.Fatalf("gopacket re-serialized\n%x\ncraft built\n%x", sb.Bytes(), pkt)
		}
		var p Packet
		if err := p.Decode(pkt); err != nil && !errors.Is(err, ErrWScaleClamped) {
			t.Fatal(err)
		}
		if p.IP6 != ip || p.TCP.Seq != tcp.Seq || p.TCP.Flags != tcp.Flags || !p.TCPChecksumOK || p.TransportLen != int(tcp.DataOffset)*4 {
			t.Fatalf("craft round trip: %+v", p)
		}
		compareOptions(t, gt.Options, &p.TCP.Options)
	}
}

// tlvOptions returns 1 or 3 random TLV options for a hop-by-hop or
// destination options header, with data lengths that are multiples of 4,
// so that the header before padding is 0 or 4 mod 8 bytes long: gopacket
// pads one of 2 or 6 mod 8 by length%8, not 8-length%8, and then refuses
// to serialize it.
func tlvOptions(rng *rand.Rand) []*layers.IPv6HopByHopOption {
	var o []*layers.IPv6HopByHopOption
	for range 1 + 2*rng.IntN(2) {
		o = append(o, &layers.IPv6HopByHopOption{OptionType: uint8(2 + rng.IntN(0x3d)), OptionData: randBytes(rng, 4*rng.IntN(4))})
	}
	return o
}

// randomChain6 returns gopacket layers for a random extension-header chain
// ending in TCP, wired by their next headers, and the kinds craft should
// walk: hop-by-hop (first only), destination options, a routing header of
// a random type with no segments left, an atomic fragment header.
func randomChain6(rng *rand.Rand) ([]gopacket.SerializableLayer, []uint8) {
	var ls []gopacket.SerializableLayer
	var kinds []uint8
	n := rng.IntN(MaxIPv6ExtHeaders + 1)
	for i := range n {
		k := []uint8{IPv6HopByHop, IPv6DestOpts, IPv6Routing, IPv6Fragment}[rng.IntN(4)]
		if k == IPv6HopByHop && i > 0 || k != IPv6DestOpts && bytes.IndexByte(kinds, k) >= 0 {
			k = IPv6DestOpts
		}
		switch k {
		case IPv6HopByHop:
			h := &layers.IPv6HopByHop{Options: tlvOptions(rng)}
			ls = append(ls, h)
		case IPv6DestOpts:
			d := &layers.IPv6Destination{}
			for _, o := range tlvOptions(rng) {
				d.Options = append(d.Options, (*layers.IPv6DestinationOption)(o))
			}
			ls = append(ls, d)
		case IPv6Routing:
			ls = append(ls, &layers.IPv6Routing{RoutingType: uint8(rng.Uint32()), Reserved: randBytes(rng, 4), Data: randBytes(rng, 8*rng.IntN(3))})
		case IPv6Fragment:
			ls = append(ls, &layers.IPv6Fragment{Identification: rng.Uint32()})
		}
		kinds = append(kinds, k)
	}
	// Wire the next headers: each names the one after it, the last TCP.
	for i, l := range ls {
		nh := layers.IPProtocolTCP
		if i+1 < len(ls) {
			nh = layers.IPProtocol(kinds[i+1])
		}
		switch h := l.(type) {
		case *layers.IPv6HopByHop:
			h.NextHeader = nh
		case *layers.IPv6Destination:
			h.NextHeader = nh
		case *layers.IPv6Routing:
			h.NextHeader = nh
		case *layers.IPv6Fragment:
			h.NextHeader = nh
		}
	}
	return ls, kinds
}

// TestParser6AgainstGopacket goes the other way: gopacket serializes
// IPv6 packets with random extension-header chains and TCP segments, craft
// decodes them.
func TestParser6AgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	for range 3000 {
		g6 := &layers.IPv6{Version: 6, TrafficClass: uint8(rng.Uint32()), FlowLabel: rng.Uint32() & 0xfffff, HopLimit: uint8(rng.Uint32()),
			NextHeader: layers.IPProtocolTCP, SrcIP: ip6Of(randAddr6(rng)), DstIP: ip6Of(randAddr6(rng))}
		chain, kinds := randomChain6(rng)
		if len(kinds) > 0 {
			g6.NextHeader = layers.IPProtocol(kinds[0])
		}
		gt := &layers.TCP{SrcPort: layers.TCPPort(rng.Uint32()), DstPort: layers.TCPPort(rng.Uint32()), Seq: rng.Uint32(), Ack: rng.Uint32(),
			SYN: rng.IntN(2) == 0, ACK: rng.IntN(2) == 0, RST: rng.IntN(2) == 0, Window: uint16(rng.Uint32()),
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: randBytes(rng, 2)}}}
		gt.SetNetworkLayerForChecksum(g6)
		payload := gopacket.Payload(randBytes(rng, rng.IntN(20)))
		sb := gopacket.NewSerializeBuffer()
		ls := append(append([]gopacket.SerializableLayer{g6}, chain...), gt, payload)
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
			t.Fatal(err)
		}
		pkt := sb.Bytes()
		var p Packet
		if err := p.Decode(pkt); err != nil {
			t.Fatalf("%v\n%x", err, pkt)
		}
		ip := &p.IP6
		if ip.TrafficClass != g6.TrafficClass || ip.FlowLabel != g6.FlowLabel || ip.HopLimit != g6.HopLimit || ip.PayloadLen != g6.Length ||
			ip.NextHeader != uint8(g6.NextHeader) || ip.Src != addrOf(t, g6.SrcIP) || ip.Dst != addrOf(t, g6.DstIP) {
			t.Fatalf("IPv6: craft %+v\ngopacket %+v", *ip, g6)
		}
		if !bytes.Equal(p.Ext.KindList(), kinds) || p.IP.Protocol != ProtocolTCP || p.TransportLen != int(gt.DataOffset)*4+len(payload) {
			t.Fatalf("chain: craft %+v, gopacket %v\n%x", p.Ext, kinds, pkt)
		}
		// Where gopacket says the TCP header starts, craft does too.
		if off := len(pkt) - int(gt.DataOffset)*4 - len(payload); off != IPv6HeaderLen+p.Ext.Len {
			t.Fatalf("TCP at %d, craft says %d", off, IPv6HeaderLen+p.Ext.Len)
		}
		tcp := &p.TCP
		if tcp.SrcPort != uint16(gt.SrcPort) || tcp.DstPort != uint16(gt.DstPort) || tcp.Seq != gt.Seq || tcp.Ack != gt.Ack ||
			tcp.Flags != gopacketFlags(gt) || tcp.Window != gt.Window || tcp.Checksum != gt.Checksum || !p.TCPChecksumOK ||
			p.PayloadLen != len(payload) {
			t.Fatalf("TCP: craft %+v\ngopacket %+v", *tcp, gt)
		}
		compareOptions(t, gt.Options, &tcp.Options)
	}
}

// TestIPv6ExtAgainstGopacket: random chains, whole or fragments, decoded
// by both; every header gopacket finds, craft walks, with the same fragment
// fields and routing header fields.
func TestIPv6ExtAgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	for range 3000 {
		g6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: ip6Of(randAddr6(rng)), DstIP: ip6Of(randAddr6(rng))}
		chain, kinds := randomChain6(rng)
		// Make any fragment header a real fragment, first or not, now and then.
		var frag *layers.IPv6Fragment
		for _, l := range chain {
			if f, ok := l.(*layers.IPv6Fragment); ok && rng.IntN(2) == 0 {
				frag, f.FragmentOffset, f.MoreFragments = f, uint16(rng.IntN(3))*uint16(rng.Uint32()&0x1fff), rng.IntN(2) == 0
			}
		}
		if len(kinds) > 0 {
			g6.NextHeader = layers.IPProtocol(kinds[0])
		}
		sb := gopacket.NewSerializeBuffer()
		ls := append(append([]gopacket.SerializableLayer{g6}, chain...), gopacket.Payload(randBytes(rng, 20+rng.IntN(20))))
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
			t.Fatal(err)
		}
		pkt := sb.Bytes()
		var e IPv6Ext
		err := e.Walk(pkt[6], pkt[IPv6HeaderLen:])
		nonFirst := frag != nil && frag.FragmentOffset != 0
		if nonFirst != (err == ErrFragment) || !nonFirst && err != nil {
			t.Fatalf("walk: %v, fragment %+v", err, frag)
		}
		// gopacket's view: every extension layer, in order.
		gp := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.DecodeOptions{NoCopy: true})
		var gk []uint8
		off := IPv6HeaderLen
		for _, l := range gp.Layers()[1:] {
			switch h := l.(type) {
			case *layers.IPv6HopByHop:
				gk = append(gk, IPv6HopByHop)
			case *layers.IPv6Destination:
				gk = append(gk, IPv6DestOpts)
			case *layers.IPv6Routing:
				gk = append(gk, IPv6Routing)
				if !e.HasRouting || e.RoutingType != h.RoutingType || e.SegmentsLeft != h.SegmentsLeft {
					t.Fatalf("routing: craft %+v, gopacket %+v", e, h)
				}
			case *layers.IPv6Fragment:
				gk = append(gk, IPv6Fragment)
				if !e.HasFragment || e.FragOff != h.FragmentOffset || e.MoreFragments != h.MoreFragments || e.FragID != h.Identification {
					t.Fatalf("fragment: craft %+v, gopacket %+v", e, h)
				}
			default:
				continue
			}
			off += len(l.LayerContents())
		}
		// gopacket (NewPacket) stops after any fragment header; craft walks
		// a first fragment on, and an atomic one, which is no fragment.
		if i := bytes.IndexByte(kinds, IPv6Fragment); i >= 0 && !nonFirst {
			if !bytes.Equal(gk, kinds[:i+1]) || !bytes.Equal(e.KindList(), kinds) || e.IsFragment() != (frag != nil && frag.MoreFragments) {
				t.Fatalf("first or atomic fragment: craft %+v, gopacket %v, built %v", e, gk, kinds)
			}
			continue
		}
		if !bytes.Equal(e.KindList(), gk) || !bytes.Equal(gk, kinds[:len(gk)]) || e.Len != off-IPv6HeaderLen {
			t.Fatalf("chain: craft %v (%d bytes), gopacket %v (%d bytes), built %v\n%x", e.KindList(), e.Len, gk, off-IPv6HeaderLen, kinds, pkt)
		}
	}
}

// TestICMPv6AgainstGopacket: ICMPv6 errors quoting a SYN written from an
// IPv6 template (the least quote, 48 bytes, or all of it) built by craft,
// decoded by gopacket, which verifies the checksum over the pseudo-header
// and decodes the quote; then gopacket builds errors around SYNs it
// serialized, with extension headers in the quote now and then, and craft
// decodes them.
func TestICMPv6AgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(67, 68))
	tpl, err := NewSYNTemplate(SYNConfig{Src: netip.IPv6Unspecified(), Dst: netip.IPv6Unspecified(), FlowLabel: 0x12345})
	if err != nil {
		t.Fatal(err)
	}
	syn := make([]byte, tpl.Len())
	buf := make([]byte, 256)
	for range 3000 {
		qsrc, qdst := randAddr6(rng), randAddr6(rng)
		sport, dport, seq := uint16(rng.Uint32()), uint16(rng.Uint32()), rng.Uint32()
		if _, err := tpl.Write(syn, qsrc, qdst, sport, dport, seq, 0); err != nil {
			t.Fatal(err)
		}
		quote := syn
		if rng.IntN(2) == 0 {
			quote = syn[:IPv6HeaderLen+8]
		}
		typ := uint8(1 + rng.IntN(4))
		code, param := uint8(rng.IntN(9)), uint32(0)
		switch typ {
		case ICMPv6PacketTooBig:
			code, param = 0, 1280+uint32(rng.IntN(1<<17))
		case ICMPv6TimeExceeded:
			code = uint8(rng.IntN(2))
		case ICMPv6ParamProblem:
			param = uint32(rng.IntN(len(quote)))
		}
		ip := IPv6{HopLimit: uint8(rng.Uint32()), NextHeader: ProtocolICMPv6, Src: randAddr6(rng), Dst: qsrc}
		if _, err := ip.Encode(buf, ICMPv6HeaderLen+len(quote)); err != nil {
			t.Fatal(err)
		}
		n, err := EncodeICMPv6Error(buf[IPv6HeaderLen:], ip.Src, ip.Dst, typ, code, param, quote)
		if err != nil {
			t.Fatal(err)
		}
		pkt := buf[:IPv6HeaderLen+n]

		gp := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.DecodeOptions{NoCopy: true})
		g6, _ := gp.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		gi, _ := gp.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		if g6 == nil || gi == nil {
			t.Fatalf("gopacket found no ICMPv6 in %x", pkt)
		}
		if gi.TypeCode.Type() != typ || gi.TypeCode.Code() != code || !bytes.Equal(gi.Payload[:4], binary4(param)) || !bytes.Equal(gi.Payload[4:], quote) {
			t.Fatalf("gopacket ICMPv6 %+v", gi)
		}
		if err := gi.SetNetworkLayerForChecksum(g6); err != nil {
			t.Fatal(err)
		}
		if _, v := gi.VerifyChecksum(); !v.Valid {
			t.Fatalf("gopacket says the ICMPv6 checksum is wrong: %+v", v)
		}
		qp := gopacket.NewPacket(gi.Payload[4:], layers.LayerTypeIPv6, gopacket.DecodeOptions{NoCopy: true})
		gq, _ := qp.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if gq == nil {
			t.Fatalf("gopacket quote: %v", qp.ErrorLayer())
		}

		var p Packet
		if err := p.Decode(pkt); err != nil {
			t.Fatal(err)
		}
		m := &p.ICMP
		if p.IP.Protocol != ProtocolICMPv6 || !m.V6 || m.Type != typ || m.Code != code || m.Param != param || m.Checksum != gi.Checksum ||
			m.QuoteLen != len(quote) || m.Name() != ICMPv6Name(typ, code) || !p.ICMPChecksumOK ||
			(typ == ICMPv6PacketTooBig) != (m.MTU != 0) || typ == ICMPv6PacketTooBig && m.MTU != uint16(min(param, 0xffff)) {
			t.Fatalf("craft ICMPv6 %+v vs gopacket %+v", *m, gi)
		}
		q := &m.Quote6
		if q.TrafficClass != gq.TrafficClass || q.FlowLabel != gq.FlowLabel || q.FlowLabel != 0x12345 || q.PayloadLen != gq.Length ||
			q.NextHeader != uint8(gq.NextHeader) || q.HopLimit != gq.HopLimit || q.Src != addrOf(t, gq.SrcIP) || q.Dst != addrOf(t, gq.DstIP) ||
			m.Quote.Src != qsrc || m.Quote.Dst != qdst || m.Quote.Protocol != ProtocolTCP || m.Quote.TTL != 64 || m.Quote.Version != 6 {
			t.Fatalf("craft quote %+v %+v\ngopacket %+v", *q, m.Quote, gq)
		}
		if m.QuotedSrcPort != sport || m.QuotedDstPort != dport || m.QuotedSeq != seq {
			t.Fatalf("quoted TCP %d>%d seq %d, want %d>%d seq %d", m.QuotedSrcPort, m.QuotedDstPort, m.QuotedSeq, sport, dport, seq)
		}
	}

	// gopacket builds the error around a SYN it serialized, craft parses.
	for range 2000 {
		g6 := &layers.IPv6{Version: 6, HopLimit: uint8(rng.Uint32()), FlowLabel: rng.Uint32() & 0xfffff, NextHeader: layers.IPProtocolTCP,
			SrcIP: ip6Of(randAddr6(rng)), DstIP: ip6Of(randAddr6(rng))}
		chain, kinds := randomChain6(rng)
		if len(kinds) > 0 {
			g6.NextHeader = layers.IPProtocol(kinds[0])
		}
		gt := &layers.TCP{SrcPort: layers.TCPPort(rng.Uint32()), DstPort: layers.TCPPort(rng.Uint32()), Seq: rng.Uint32(), SYN: true, Window: 64800}
		gt.SetNetworkLayerForChecksum(g6)
		opt := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, opt, append(append([]gopacket.SerializableLayer{g6}, chain...), gt)...); err != nil {
			t.Fatal(err)
		}
		inner := append([]byte(nil), sb.Bytes()...)
		least := len(inner) - TCPMinHeaderLen + 8 // the headers and 8 bytes of TCP
		inner = inner[:least+rng.IntN(len(inner)-least+1)]
		typ := uint8(1 + rng.IntN(4))
		outer := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: ip6Of(randAddr6(rng)), DstIP: g6.SrcIP}
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
		ic.SetNetworkLayerForChecksum(outer)
		param := rng.Uint32()
		sb = gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, opt, outer, ic, gopacket.Payload(append(binary4(param), inner...))); err != nil {
			t.Fatal(err)
		}
		var p Packet
		if err := p.Decode(sb.Bytes()); err != nil {
			t.Fatalf("%v\n%x", err, sb.Bytes())
		}
		m, q := &p.ICMP, &p.ICMP.Quote6
		if m.Type != typ || m.Code != 0 || m.Checksum != ic.Checksum || m.Param != param || m.QuoteLen != len(inner) || !p.ICMPChecksumOK {
			t.Fatalf("craft ICMPv6 %+v vs gopacket %+v", *m, ic)
		}
		if q.HopLimit != g6.HopLimit || q.FlowLabel != g6.FlowLabel || q.PayloadLen != g6.Length || q.Src != addrOf(t, g6.SrcIP) ||
			q.Dst != addrOf(t, g6.DstIP) || !bytes.Equal(m.QuoteExt.KindList(), kinds) || m.Quote.Protocol != ProtocolTCP ||
			m.QuotedSrcPort != uint16(gt.SrcPort) || m.QuotedDstPort != uint16(gt.DstPort) || m.QuotedSeq != gt.Seq {
			t.Fatalf("craft quote %+v %+v %d>%d %d\ngopacket %+v %+v", *q, m.QuoteExt, m.QuotedSrcPort, m.QuotedDstPort, m.QuotedSeq, g6, gt)
		}
	}
}

// TestSYNTemplate6AgainstGopacket: SYNs written from IPv6 templates with
// incrementally updated checksums, decoded by gopacket, which verifies the
// TCP checksum over the IPv6 pseudo-header with its own arithmetic; the
// flow label, traffic class and hop limit stay the template's.
func TestSYNTemplate6AgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(69, 70))
	for _, layout := range []Layout{LayoutLinux, LayoutWindows, LayoutNone} {
		cfg := SYNConfig{Layout: layout, TTL: uint8(1 + rng.IntN(255)), Window: uint16(rng.Uint32()), MSS: uint16(rng.Uint32()),
			WScale: uint8(1 + rng.IntN(14)), TOS: uint8(rng.Uint32()), TSval: rng.Uint32(), FlowLabel: rng.Uint32() & 0xfffff,
			Src: randAddr6(rng), Dst: randAddr6(rng), SrcPort: uint16(rng.Uint32()), Seq: rng.Uint32()}
		tpl, err := NewSYNTemplate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, tpl.Len())
		for range 2000 {
			src, dst := randAddr6(rng), randAddr6(rng)
			sport, dport, seq := uint16(rng.Uint32()), uint16(rng.Uint32()), rng.Uint32()
			if _, err := tpl.Write(buf, src, dst, sport, dport, seq, uint16(rng.Uint32())); err != nil {
				t.Fatal(err)
			}
			gp := gopacket.NewPacket(buf, layers.LayerTypeIPv6, gopacket.DecodeOptions{NoCopy: true})
			g6, _ := gp.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			gt, _ := gp.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if g6 == nil || gt == nil {
				t.Fatalf("gopacket: %v\n%x", gp.ErrorLayer(), buf)
			}
			if err := gt.SetNetworkLayerForChecksum(g6); err != nil {
				t.Fatal(err)
			}
			if _, v := gt.VerifyChecksum(); !v.Valid {
				t.Fatalf("%v: gopacket says the TCP checksum is wrong: %+v\n%x", layout, v, buf)
			}
			if addrOf(t, g6.SrcIP) != src || addrOf(t, g6.DstIP) != dst || g6.FlowLabel != cfg.FlowLabel || g6.TrafficClass != cfg.TOS ||
				g6.HopLimit != cfg.TTL || int(g6.Length)+IPv6HeaderLen != tpl.Len() || g6.NextHeader != layers.IPProtocolTCP ||
				uint16(gt.SrcPort) != sport || uint16(gt.DstPort) != dport || gt.Seq != seq || gt.Ack != 0 ||
				gopacketFlags(gt) != FlagSYN || gt.Window != cfg.Window {
				t.Fatalf("%v: gopacket %+v %+v", layout, g6, gt)
			}
		}
	}
}
