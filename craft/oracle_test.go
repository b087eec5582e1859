package craft

// Cross-checks against an independent decoder and encoder: gopacket's
// layers package, used only in tests.

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

// randomPacket builds an IPv4+TCP packet from random field values with
// craft and returns it with the fields used.
func randomPacket(rng *rand.Rand) ([]byte, IPv4, TCP) {
	ip := IPv4{
		TOS:     uint8(rng.Uint32()),
		ID:      uint16(rng.Uint32()),
		Flags:   IPv4Flags(rng.IntN(8)) &^ FlagMF,
		FragOff: 0,
		TTL:     uint8(rng.Uint32()),
		Src:     netip.AddrFrom4([4]byte(binary4(rng.Uint32()))),
		Dst:     netip.AddrFrom4([4]byte(binary4(rng.Uint32()))),
	}
	if rng.IntN(4) == 0 { // IPv4 options: a record-route-like blob, padded
		opt := []byte{7, 7, 4, 0, 0, 0, 0}
		ip.SetOptions(opt)
	}
	tcp := TCP{
		SrcPort:  uint16(rng.Uint32()),
		DstPort:  uint16(rng.Uint32()),
		Seq:      rng.Uint32(),
		Ack:      rng.Uint32(),
		Reserved: uint8(rng.IntN(2)), // the NS bit (RFC 3540); gopacket keeps only it of the four
		Flags:    TCPFlags(rng.Uint32()),
		Window:   uint16(rng.Uint32()),
		Urgent:   uint16(rng.Uint32()),
	}
	var o [40]byte
	n := 0
	switch rng.IntN(4) {
	case 0:
		n, _ = PutLayout(o[:], LayoutLinux, uint16(rng.Uint32()), uint8(rng.IntN(15)), rng.Uint32())
	case 1:
		n, _ = PutLayout(o[:], LayoutWindows, uint16(rng.Uint32()), uint8(rng.IntN(15)), rng.Uint32())
	case 2:
		n, _ = PutSACK(o[:], 0, []SACKBlock{{rng.Uint32(), rng.Uint32()}, {rng.Uint32(), rng.Uint32()}})
		n, _ = PadOptions(o[:], n)
	case 3:
		// An unknown kind (253, experimental) after NOP NOP timestamps, then EOL.
		n, _ = PutNOP(o[:], n)
		n, _ = PutNOP(o[:], n)
		n, _ = PutTimestamps(o[:], n, rng.Uint32(), rng.Uint32())
		o[n], o[n+1], o[n+2], o[n+3] = 253, 4, byte(rng.Uint32()), byte(rng.Uint32())
		n += 4
		o[n] = OptEOL
		n++
	}
	tcp.SetOptions(o[:n])
	buf := make([]byte, 128)
	total, err := BuildTCP(buf, &ip, &tcp)
	if err != nil {
		panic(err)
	}
	return buf[:total], ip, tcp
}

func TestBuilderAgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 3000; i++ {
		pkt, ip, tcp := randomPacket(rng)
		gp := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.DecodeOptions{NoCopy: true})
		if el := gp.ErrorLayer(); el != nil {
			t.Fatalf("gopacket: %v\n%x", el.Error(), pkt)
		}
		g4 := gp.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		gt := gp.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if g4.Version != 4 || g4.IHL != ip.IHL || g4.TOS != ip.TOS || g4.Length != ip.TotalLen || g4.Id != ip.ID ||
			uint8(g4.Flags) != uint8(ip.Flags) || g4.FragOffset != ip.FragOff || g4.TTL != ip.TTL ||
			uint8(g4.Protocol) != ProtocolTCP || g4.Checksum != ip.Checksum ||
			!g4.SrcIP.Equal(net.IP(ip.Src.AsSlice())) || !g4.DstIP.Equal(net.IP(ip.Dst.AsSlice())) {
			t.Fatalf("IPv4 mismatch: gopacket %+v\ncraft %+v", g4, ip)
		}
		if gt.SrcPort != layers.TCPPort(tcp.SrcPort) || gt.DstPort != layers.TCPPort(tcp.DstPort) || gt.Seq != tcp.Seq ||
			gt.Ack != tcp.Ack || gt.DataOffset != tcp.DataOffset || gt.Window != tcp.Window || gt.Urgent != tcp.Urgent ||
			gt.Checksum != tcp.Checksum || gopacketFlags(gt) != tcp.Flags || gt.NS != (tcp.Reserved&1 != 0) {
			t.Fatalf("TCP mismatch: gopacket %+v\ncraft %+v", gt, tcp)
		}
		// Both checksums as gopacket computes them: reserialize its decoded
		// layers with checksums recomputed and compare the bytes.
		g4.Checksum, gt.Checksum = 0, 0
		if err := gt.SetNetworkLayerForChecksum(g4); err != nil {
			t.Fatal(err)
		}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, g4, gt); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sb.Bytes(), pkt) {
			t.Fatalf("gopacket re-serialized\n%x\ncraft built\n%x", sb.Bytes(), pkt)
		}
		// And craft parses what it built to the same fields.
		var p Packet
		if err := p.Decode(pkt); err != nil {
			t.Fatal(err)
		}
		if p.TCP.Seq != tcp.Seq || p.TCP.Flags != tcp.Flags || p.IP.Src != ip.Src || !p.TCPChecksumOK {
			t.Fatalf("craft round trip: %+v", p)
		}
		// Every option gopacket found, craft found with the same value.
		compareOptions(t, gt.Options, &p.TCP.Options)
	}
}

// compareOptions checks craft's parsed options against gopacket's list.
func compareOptions(t *testing.T, gopts []layers.TCPOption, o *TCPOptions) {
	t.Helper()
	var kinds []uint8
	unknown := 0
	for _, g := range gopts {
		kinds = append(kinds, uint8(g.OptionType))
		d := g.OptionData
		ok := true
		switch g.OptionType {
		case layers.TCPOptionKindMSS:
			ok = o.HasMSS && o.MSS == uint16(d[0])<<8|uint16(d[1])
		case layers.TCPOptionKindWindowScale:
			ok = o.HasWScale && o.WScaleSent == d[0] && o.WScale == min(d[0], MaxWScale)
		case layers.TCPOptionKindSACKPermitted:
			ok = o.SACKPermitted
		case layers.TCPOptionKindTimestamps:
			ok = o.HasTimestamps && bytes.Equal(binary4(o.TSval), d[:4]) && bytes.Equal(binary4(o.TSecr), d[4:])
		case layers.TCPOptionKindSACK:
			ok = o.NumSACK == len(d)/8
			for i := 0; ok && i < o.NumSACK; i++ {
				ok = bytes.Equal(binary4(o.SACK[i].Left), d[8*i:8*i+4]) && bytes.Equal(binary4(o.SACK[i].Right), d[8*i+4:8*i+8])
			}
		case layers.TCPOptionKindEndList, layers.TCPOptionKindNop:
		default:
			u := o.UnknownBytes(unknown)
			unknown++
			ok = len(u) == int(g.OptionLength) && u[0] == uint8(g.OptionType) && bytes.Equal(u[2:], d)
		}
		if !ok {
			t.Fatalf("option %v: craft %+v", g, *o)
		}
	}
	// gopacket pads with zeros that it does not list; craft lists the first
	// as the EOL it is on the wire.
	if len(kinds) > 0 && kinds[len(kinds)-1] != OptEOL && o.NumKinds == len(kinds)+1 && o.Kinds[len(kinds)] == OptEOL {
		kinds = append(kinds, OptEOL)
	}
	if !bytes.Equal(kinds, o.KindList()) || unknown != o.NumUnknown {
		t.Fatalf("option kinds: gopacket %v craft %v (unknown %d/%d)", kinds, o.KindList(), unknown, o.NumUnknown)
	}
	if kinds == nil && (o.HasMSS || o.HasWScale || o.SACKPermitted || o.HasTimestamps || o.NumSACK != 0) {
		t.Fatalf("options reported present in an option-less header: %+v", *o)
	}
}

func gopacketFlags(t *layers.TCP) TCPFlags {
	var f TCPFlags
	for _, x := range []struct {
		on bool
		f  TCPFlags
	}{{t.FIN, FlagFIN}, {t.SYN, FlagSYN}, {t.RST, FlagRST}, {t.PSH, FlagPSH}, {t.ACK, FlagACK}, {t.URG, FlagURG}, {t.ECE, FlagECE}, {t.CWR, FlagCWR}} {
		if x.on {
			f |= x.f
		}
	}
	return f
}

// TestParserAgainstGopacket goes the other way: gopacket serializes packets
// from random fields, craft parses them.
func TestParserAgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 3000; i++ {
		g4 := &layers.IPv4{
			Version: 4, TOS: uint8(rng.Uint32()), Id: uint16(rng.Uint32()), Flags: layers.IPv4Flag(rng.IntN(8)) &^ layers.IPv4MoreFragments,
			TTL: uint8(rng.Uint32()), Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP(binary4(rng.Uint32())), DstIP: net.IP(binary4(rng.Uint32())),
		}
		gt := &layers.TCP{
			SrcPort: layers.TCPPort(rng.Uint32()), DstPort: layers.TCPPort(rng.Uint32()), Seq: rng.Uint32(), Ack: rng.Uint32(),
			SYN: rng.IntN(2) == 0, ACK: rng.IntN(2) == 0, RST: rng.IntN(2) == 0, FIN: rng.IntN(2) == 0, PSH: rng.IntN(2) == 0,
			URG: rng.IntN(2) == 0, ECE: rng.IntN(2) == 0, CWR: rng.IntN(2) == 0,
			Window: uint16(rng.Uint32()), Urgent: uint16(rng.Uint32()),
		}
		gt.NS = rng.IntN(2) == 0
		mss := uint16(rng.Uint32())
		ws := uint8(rng.IntN(256))
		tsv, tse := rng.Uint32(), rng.Uint32()
		nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop}
		optMSS := layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(mss >> 8), byte(mss)}}
		optSP := layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}
		optTS := layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: append(binary4(tsv), binary4(tse)...)}
		optWS := layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{ws}}
		switch rng.IntN(5) {
		case 0: // Linux SYN
			gt.Options = []layers.TCPOption{optMSS, optSP, optTS, nop, optWS}
		case 1: // Windows SYN
			gt.Options = []layers.TCPOption{optMSS, nop, optWS, nop, nop, optSP}
		case 2: // an ACK with timestamps and 1-3 SACK blocks
			nb := 1 + rng.IntN(3)
			sack := layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + 8*nb), OptionData: randBytes(rng, 8*nb)}
			gt.Options = []layers.TCPOption{nop, nop, optTS, nop, nop, sack}
		case 3: // unknown kinds, kept as bytes
			gt.Options = []layers.TCPOption{
				{OptionType: 99, OptionLength: uint8(2 + 6), OptionData: randBytes(rng, 6)},
				{OptionType: 254, OptionLength: 2},
				optMSS,
				{OptionType: 253, OptionLength: 4, OptionData: randBytes(rng, 2)},
			}
		case 4: // no options
		}
		gt.SetNetworkLayerForChecksum(g4)
		payload := gopacket.Payload(make([]byte, rng.IntN(20)))
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, g4, gt, payload); err != nil {
			t.Fatal(err)
		}
		var p Packet
		if err := p.Decode(sb.Bytes()); err != nil && !(errors.Is(err, ErrWScaleClamped) && ws > MaxWScale) {
			t.Fatalf("%v\n%x", err, sb.Bytes())
		}
		ip, tcp, o := p.IP, p.TCP, p.TCP.Options
		if ip.TOS != g4.TOS || ip.ID != g4.Id || uint8(ip.Flags) != uint8(g4.Flags) || ip.TTL != g4.TTL ||
			ip.Src != netip.AddrFrom4([4]byte(g4.SrcIP.To4())) || ip.Dst != netip.AddrFrom4([4]byte(g4.DstIP.To4())) ||
			!IPv4ChecksumValid(sb.Bytes()) {
			t.Fatalf("IPv4 %+v vs %+v", ip, g4)
		}
		if tcp.SrcPort != uint16(gt.SrcPort) || tcp.DstPort != uint16(gt.DstPort) || tcp.Seq != gt.Seq || tcp.Ack != gt.Ack ||
			tcp.Flags != gopacketFlags(gt) || tcp.Window != gt.Window || tcp.Urgent != gt.Urgent || !p.TCPChecksumOK ||
			p.PayloadLen != len(payload) {
			t.Fatalf("TCP %+v vs %+v", tcp, gt)
		}
		if tcp.Reserved&1 != 0 != gt.NS || tcp.DataOffset != gt.DataOffset || tcp.Checksum != gt.Checksum {
			t.Fatalf("TCP %+v vs %+v", tcp, gt)
		}
		compareOptions(t, gt.Options, &o)
	}
}
