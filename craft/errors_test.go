package craft

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// mutate returns a copy of the fixture b changed by f.
func mutate(b []byte, f func([]byte) []byte) []byte {
	c := append([]byte(nil), b...)
	return f(c)
}

func TestBadInput(t *testing.T) {
	syn := loadHex(t, "syn.hex") // 20-byte IP header, 40-byte TCP header with options
	icmp := loadHex(t, "icmp_port_unreachable.hex")
	syn6 := loadHex(t, "syn6.hex") // 40-byte IPv6 header, 40-byte TCP header with options
	dst6 := loadHex(t, "syn_dstopts6.hex")
	icmp6 := loadHex(t, "icmp_port_unreachable6.hex")
	cases := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"19 bytes", syn[:19], ErrTruncated},
		// Version 6 is IPv6's (see the IPv6 rows): 5 is neither.
		{"version 5", mutate(syn, func(b []byte) []byte { b[0] = 0x55; return b }), ErrVersion},
		{"IHL 4", mutate(syn, func(b []byte) []byte { b[0] = 0x44; return b }), ErrHeaderLength},
		{"IHL 0", mutate(syn, func(b []byte) []byte { b[0] = 0x40; return b }), ErrHeaderLength},
		{"IHL past buffer", mutate(syn[:22], func(b []byte) []byte { b[0] = 0x46; return b }), ErrTruncated},
		{"total length below header", mutate(syn, func(b []byte) []byte { b[2], b[3] = 0, 19; return b }), ErrTotalLength},
		{"total length past buffer", mutate(syn, func(b []byte) []byte { b[2], b[3] = 0, 61; return b }), ErrTotalLength},
		{"more fragments", mutate(syn, func(b []byte) []byte { b[6] |= 0x20; return b }), ErrFragment},
		{"fragment offset", mutate(syn, func(b []byte) []byte { b[7] = 1; return b }), ErrFragment},
		{"TCP shorter than 20", mutate(syn[:30], func(b []byte) []byte { b[3] = 30; return b }), ErrTruncated},
		{"data offset 4", mutate(syn, func(b []byte) []byte { b[32] = 0x40; return b }), ErrHeaderLength},
		{"data offset past segment", mutate(syn, func(b []byte) []byte { b[32] = 0xb0; return b }), ErrDataOffset},
		{"option length 0", mutate(syn, func(b []byte) []byte { b[41] = 0; return b }), ErrOptionLength},
		{"option length 1", mutate(syn, func(b []byte) []byte { b[41] = 1; return b }), ErrOptionLength},
		{"option past header", mutate(syn, func(b []byte) []byte { b[57] = 3; b[58] = 4; return b }), ErrOptionOverrun},
		{"MSS length 3", mutate(syn, func(b []byte) []byte { b[41] = 3; return b }), ErrOptionBadLength},
		{"SACK-permitted length 3", mutate(syn, func(b []byte) []byte { b[45] = 3; return b }), ErrOptionBadLength},
		{"timestamps length 9", mutate(syn, func(b []byte) []byte { b[47] = 9; return b }), ErrOptionBadLength},
		{"window scale length 4", mutate(syn, func(b []byte) []byte { b[58] = 4; return b }), ErrOptionOverrun},
		{"window scale length 2", mutate(syn, func(b []byte) []byte { b[58] = 2; return b }), ErrOptionBadLength},
		{"window scale 15", mutate(syn, func(b []byte) []byte { b[59] = 15; return b }), ErrWScaleClamped},
		{"not TCP or ICMP", mutate(syn, func(b []byte) []byte { b[9] = 17; return b }), ErrProtocol},
		{"ICMP 7 bytes", mutate(icmp[:27], func(b []byte) []byte { b[3] = 27; return b }), ErrTruncated},
		{"ICMP echo", mutate(icmp, func(b []byte) []byte { b[20] = 0; return b }), ErrICMPType},
		{"ICMP quote 27 bytes", mutate(icmp[:55], func(b []byte) []byte { b[3] = 55; return b }), ErrShortQuote},
		{"ICMP quote IHL 4", mutate(icmp, func(b []byte) []byte { b[28] = 0x44; return b }), ErrQuoteHeader},
		{"ICMP quote version 6", mutate(icmp, func(b []byte) []byte { b[28] = 0x65; return b }), ErrQuoteHeader},
		{"ICMP quote IHL 15 past quote", mutate(icmp, func(b []byte) []byte { b[28] = 0x4f; return b }), ErrShortQuote},

		// IPv6. In syn_dstopts6.hex the fixed header is bytes 0-39 (next
		// header at 6), the destination options header 40-47 (its next
		// header at 40, its length at 41: 06 00 01 04 00 00 00 00), TCP
		// 48-87. In icmp_port_unreachable6.hex the ICMPv6 header is 40-47,
		// the quoted IPv6 header 48-87 (next header at 54), the quoted TCP
		// header from 88 (ports ce0a 0009, then the sequence number).
		{"IPv6 39 bytes", syn6[:39], ErrTruncated},
		{"IPv6 version 6 with IPv4's lengths", mutate(syn, func(b []byte) []byte { b[0] = 0x65; return b }), ErrTotalLength},
		{"IPv6 payload length past buffer", mutate(syn6, func(b []byte) []byte { b[5] = 41; return b }), ErrTotalLength},
		{"IPv6 payload length 0", mutate(syn6, func(b []byte) []byte { b[4], b[5] = 0, 0; return b }), ErrTruncated},
		{"IPv6 UDP", mutate(syn6, func(b []byte) []byte { b[6] = 17; return b }), ErrProtocol},
		{"IPv6 no next header", mutate(syn6, func(b []byte) []byte { b[6] = IPv6NoNextHeader; return b }), ErrProtocol},
		{"IPv6 ESP", mutate(syn6, func(b []byte) []byte { b[6] = 50; return b }), ErrExtensionHeader},
		{"IPv6 AH", mutate(dst6, func(b []byte) []byte { b[40] = 51; return b }), ErrExtensionHeader},
		{"IPv6 TCP data offset past segment", mutate(syn6, func(b []byte) []byte { b[52] = 0xb0; return b }), ErrDataOffset},
		{"IPv6 TCP option length 0", mutate(syn6, func(b []byte) []byte { b[61] = 0; return b }), ErrOptionLength},
		{"destination options past payload", mutate(dst6, func(b []byte) []byte { b[41] = 5; return b }), ErrTruncated},
		{"destination options past buffer", mutate(dst6, func(b []byte) []byte { b[41] = 6; return b }), ErrTruncated},
		{"hop-by-hop after destination options", mutate(dst6, func(b []byte) []byte { b[40] = IPv6HopByHop; return b }), ErrExtensionHeader},
		{"routing header with 4 segments left", mutate(dst6, func(b []byte) []byte { b[6] = IPv6Routing; return b }), ErrExtensionHeader},
		{"fragment header, offset 32", mutate(dst6, func(b []byte) []byte { b[6] = IPv6Fragment; return b }), ErrFragment},
		{"fragment header, first of several", mutate(dst6, func(b []byte) []byte { b[6], b[42], b[43] = IPv6Fragment, 0, 1; return b }), ErrFragment},
		{"two fragment headers", mutate(dst6, func(b []byte) []byte { b[6], b[40], b[42], b[43] = IPv6Fragment, IPv6Fragment, 0, 0; return b }), ErrExtensionHeader},
		{"9 extension headers", extChain6(t, 9), ErrExtensionHeader},
		{"two routing headers, no segments left", mutate(extChain6(t, 2), func(b []byte) []byte { b[6], b[40], b[43], b[51] = IPv6Routing, IPv6Routing, 0, 0; return b }), ErrExtensionHeader},
		{"ICMPv6 7 bytes", mutate(icmp6[:47], func(b []byte) []byte { b[5] = 7; return b }), ErrTruncated},
		{"ICMPv6 echo request", mutate(icmp6, func(b []byte) []byte { b[40] = 128; return b }), ErrICMPType},
		{"ICMPv6 type 0", mutate(icmp6, func(b []byte) []byte { b[40] = 0; return b }), ErrICMPType},
		{"ICMPv6 quote 47 bytes", mutate(icmp6[:95], func(b []byte) []byte { b[5] = 55; return b }), ErrShortQuote},
		{"ICMPv6 quote version 4", mutate(icmp6, func(b []byte) []byte { b[48] = 0x45; return b }), ErrQuoteHeader},
		{"ICMPv6 quote ends in its extension headers", mutate(icmp6, func(b []byte) []byte { b[54] = IPv6DestOpts; return b }), ErrShortQuote},
		{"ICMPv6 quote with nothing after its chain", mutate(icmp6, func(b []byte) []byte { b[54], b[89] = IPv6DestOpts, 4; return b }), ErrShortQuote},
		{"ICMPv6 quote of a non-first fragment", mutate(icmp6, func(b []byte) []byte { b[54] = IPv6Fragment; return b }), ErrFragment},
		{"ICMPv6 quote through ESP", mutate(icmp6, func(b []byte) []byte { b[54] = 50; return b }), ErrExtensionHeader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			err := p.Decode(c.pkt)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode error %v, want %v", err, c.want)
			}
		})
	}
}

func TestMinimalICMPQuoteAccepted(t *testing.T) {
	// RFC 792: IP header + 8 bytes is enough to match a probe.
	b := loadHex(t, "icmp_port_unreachable.hex")[:20+8+28]
	b[2], b[3] = 0, byte(len(b))
	var p Packet
	if err := p.Decode(b); err != nil {
		t.Fatal(err)
	}
	if p.ICMP.QuotedSeq != 778314783 || p.ICMP.QuotedDstPort != 9 {
		t.Fatalf("quote %+v", p.ICMP)
	}
}

func TestWScaleClampedStillParsed(t *testing.T) {
	b := loadHex(t, "synack.hex")
	b[59] = 20
	var p Packet
	err := p.Decode(b)
	if !errors.Is(err, ErrWScaleClamped) {
		t.Fatalf("err %v", err)
	}
	o := p.TCP.Options
	if !o.HasWScale || o.WScale != 14 || o.WScaleSent != 20 || !o.WScaleClamped || o.MSS != 1460 || !o.HasTimestamps {
		t.Fatalf("options %+v", o)
	}
}

func TestTrailingPaddingTrimmed(t *testing.T) {
	// Ethernet pads a 40-byte RST to 46 bytes; the total length says where
	// the packet ends.
	b := append(loadHex(t, "rst.hex"), 0, 0, 0, 0, 0, 0)
	var p Packet
	if err := p.Decode(b); err != nil {
		t.Fatal(err)
	}
	if p.PayloadLen != 0 || !p.TCPChecksumOK {
		t.Fatalf("payload %d, checksum ok %v", p.PayloadLen, p.TCPChecksumOK)
	}
}

func TestOptionsUnknownAndSACK(t *testing.T) {
	opts := []byte{
		OptNOP, OptNOP, OptSACK, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
		30, 4, 0xab, 0xcd, // MPTCP-like unknown kind
		OptEOL, 0, 0, 0,
	}
	var o TCPOptions
	if err := o.Parse(opts); err != nil {
		t.Fatal(err)
	}
	if o.NumSACK != 2 || o.SACK[1] != (SACKBlock{3, 4}) || o.NumUnknown != 1 || o.Unknown[0] != (UnknownOption{Kind: 30, Len: 4, Off: 20}) {
		t.Fatalf("%+v", o)
	}
	if got := o.UnknownBytes(0); !bytes.Equal(got, []byte{30, 4, 0xab, 0xcd}) {
		t.Fatalf("unknown option bytes %x", got)
	}
	// The parsed list re-encodes to the same bytes up to and including EOL.
	var enc [TCPMaxOptions]byte
	if n, err := o.Encode(enc[:]); err != nil || !bytes.Equal(enc[:n], opts[:25]) {
		t.Fatalf("re-encoded %x (%v), want %x", enc[:n], err, opts[:25])
	}
	if o.HasMSS || o.MSS != 0 {
		t.Fatal("absent MSS reported")
	}
	for _, bad := range [][]byte{{OptSACK, 9, 0, 0, 0, 0, 0, 0, 0}, {OptSACK, 2}} {
		if err := o.Parse(bad); !errors.Is(err, ErrOptionBadLength) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
	if err := o.Parse([]byte{OptMSS}); !errors.Is(err, ErrOptionOverrun) {
		t.Fatalf("lone kind byte: %v", err)
	}
}

func TestLayouts(t *testing.T) {
	for _, c := range []struct {
		name  string
		kinds []uint8
		len   int
	}{
		{"linux", []uint8{OptMSS, OptSACKPermitted, OptTimestamps, OptNOP, OptWScale}, 20},
		{"windows", []uint8{OptMSS, OptNOP, OptWScale, OptNOP, OptNOP, OptSACKPermitted}, 12},
		{"none", nil, 0},
	} {
		l, err := ParseLayout(c.name)
		if err != nil || l.String() != c.name {
			t.Fatalf("%s: %v %v", c.name, l, err)
		}
		var b [40]byte
		n, err := PutLayout(b[:], l, 1400, 9, 77)
		if err != nil || n != c.len {
			t.Fatalf("%s: %d %v", c.name, n, err)
		}
		var o TCPOptions
		if err := o.Parse(b[:n]); err != nil {
			t.Fatal(err)
		}
		if len(o.KindList()) != len(c.kinds) {
			t.Fatalf("%s: kinds %v", c.name, o.KindList())
		}
		for i := range c.kinds {
			if o.KindList()[i] != c.kinds[i] {
				t.Fatalf("%s: kinds %v", c.name, o.KindList())
			}
		}
		if c.len > 0 && (o.MSS != 1400 || o.WScale != 9 || !o.SACKPermitted) {
			t.Fatalf("%s: %+v", c.name, o)
		}
	}
	if _, err := ParseLayout("bsd"); !errors.Is(err, ErrLayout) {
		t.Fatal(err)
	}
}

func TestBuildErrors(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	big := make([]byte, 41)
	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"IPv4 into 19 bytes", func() error {
			h := IPv4{Src: client, Dst: server}
			_, err := h.Encode(make([]byte, 19), 0)
			return err
		}, ErrShortBuffer},
		{"IPv4 with options into 20 bytes", func() error {
			h := IPv4{Src: client, Dst: server}
			h.SetOptions([]byte{1})
			_, err := h.Encode(make([]byte, 20), 0)
			return err
		}, ErrShortBuffer},
		{"IPv4 from an IPv6 address", func() error {
			h := IPv4{Src: v6, Dst: server}
			_, err := h.Encode(make([]byte, 20), 0)
			return err
		}, ErrAddress},
		{"IPv4 from no address", func() error {
			h := IPv4{Dst: server}
			_, err := h.Encode(make([]byte, 20), 0)
			return err
		}, ErrAddress},
		{"IPv4 payload over 65535", func() error {
			h := IPv4{Src: client, Dst: server}
			_, err := h.Encode(make([]byte, 20), 65516)
			return err
		}, ErrTotalLength},
		{"IPv4 negative payload", func() error {
			h := IPv4{Src: client, Dst: server}
			_, err := h.Encode(make([]byte, 20), -1)
			return err
		}, ErrTotalLength},
		{"IPv4 41 bytes of options", func() error { return new(IPv4).SetOptions(big) }, ErrOptionsTooLong},
		{"TCP 41 bytes of options", func() error { return new(TCP).SetOptions(big) }, ErrOptionsTooLong},
		{"TCP into 19 bytes", func() error {
			_, err := new(TCP).Encode(make([]byte, 19))
			return err
		}, ErrShortBuffer},
		{"BuildTCP into 39 bytes", func() error {
			_, err := BuildTCP(make([]byte, 39), &IPv4{Src: client, Dst: server}, &TCP{})
			return err
		}, ErrShortBuffer},
		{"option list too long", func() error {
			var o TCPOptions
			return o.Parse(big)
		}, ErrOptionsTooLong},
		{"MSS into 3 bytes", func() error { _, err := PutMSS(make([]byte, 3), 0, 1460); return err }, ErrOptionsTooLong},
		{"five SACK blocks", func() error { _, err := PutSACK(make([]byte, 40), 0, make([]SACKBlock, 5)); return err }, ErrOptionsTooLong},
		{"unknown layout", func() error { _, err := PutLayout(make([]byte, 40), Layout(9), 1460, 7, 0); return err }, ErrLayout},
		{"layout by unknown name", func() error { _, err := ParseLayout("Linux "); return err }, ErrLayout},
		{"SYN template for IPv6", func() error { _, err := NewSYNTemplate(SYNConfig{Dst: v6}); return err }, ErrAddress},
		{"SYN template with unknown layout", func() error { _, err := NewSYNTemplate(SYNConfig{Layout: Layout(9)}); return err }, ErrLayout},
		// Structs filled by hand with impossible counts: errors, not panics.
		{"IPv4 OptionsLen 41", func() error {
			h := IPv4{Src: client, Dst: server, OptionsLen: 41}
			_, err := h.Encode(make([]byte, 100), 0)
			return err
		}, ErrOptionsTooLong},
		{"TCP OptionsLen 200", func() error {
			_, err := (&TCP{OptionsLen: 200}).Encode(make([]byte, 300))
			return err
		}, ErrOptionsTooLong},
		{"SACK kind with 9 blocks", func() error {
			o := TCPOptions{NumKinds: 1, NumSACK: 9}
			o.Kinds[0] = OptSACK
			_, err := o.Encode(make([]byte, 40))
			return err
		}, ErrOptionBadLength},
		{"unknown kind with no bytes", func() error {
			o := TCPOptions{NumKinds: 1, NumUnknown: 99}
			o.Kinds[0] = 77
			_, err := o.Encode(make([]byte, 40))
			return err
		}, ErrOptionBadLength},
		{"ICMP error into a short buffer", func() error {
			_, err := EncodeICMPError(make([]byte, 30), 3, 3, 0, make([]byte, 28))
			return err
		}, ErrShortBuffer},
		{"IPv6 into 39 bytes", func() error {
			h := IPv6{Src: client6, Dst: server6}
			_, err := h.Encode(make([]byte, 39), 0)
			return err
		}, ErrShortBuffer},
		{"IPv6 from an IPv4 address", func() error {
			h := IPv6{Src: client, Dst: server6}
			_, err := h.Encode(make([]byte, 40), 0)
			return err
		}, ErrAddress},
		{"IPv6 to an IPv4-mapped address", func() error {
			h := IPv6{Src: client6, Dst: netip.AddrFrom16(server.As16())}
			_, err := h.Encode(make([]byte, 40), 0)
			return err
		}, ErrAddress},
		{"IPv6 from no address", func() error {
			h := IPv6{Dst: server6}
			_, err := h.Encode(make([]byte, 40), 0)
			return err
		}, ErrAddress},
		{"IPv6 payload over 65535", func() error {
			h := IPv6{Src: client6, Dst: server6}
			_, err := h.Encode(make([]byte, 40), 65536)
			return err
		}, ErrTotalLength},
		{"IPv6 negative payload", func() error {
			h := IPv6{Src: client6, Dst: server6}
			_, err := h.Encode(make([]byte, 40), -1)
			return err
		}, ErrTotalLength},
		{"BuildTCP6 into 59 bytes", func() error {
			_, err := BuildTCP6(make([]byte, 59), &IPv6{Src: client6, Dst: server6}, &TCP{})
			return err
		}, ErrShortBuffer},
		{"BuildTCP6 from IPv4 addresses", func() error {
			_, err := BuildTCP6(make([]byte, 60), &IPv6{Src: client, Dst: server}, &TCP{})
			return err
		}, ErrAddress},
		{"ICMPv6 error into a short buffer", func() error {
			_, err := EncodeICMPv6Error(make([]byte, 50), client6, server6, 1, 4, 0, make([]byte, 48))
			return err
		}, ErrShortBuffer},
		{"ICMPv6 error from an IPv4 address", func() error {
			_, err := EncodeICMPv6Error(make([]byte, 56), client, server6, 1, 4, 0, make([]byte, 48))
			return err
		}, ErrAddress},
		{"ICMPv6 error over 65535 bytes", func() error {
			_, err := EncodeICMPv6Error(make([]byte, 1<<16+8), client6, server6, 1, 4, 0, make([]byte, 1<<16))
			return err
		}, ErrTotalLength},
		{"SYN template from IPv6 to IPv4", func() error { _, err := NewSYNTemplate(SYNConfig{Src: client6, Dst: server}); return err }, ErrAddress},
		{"SYN template to an IPv4-mapped address", func() error {
			_, err := NewSYNTemplate(SYNConfig{Src: client6, Dst: netip.AddrFrom16(server.As16())})
			return err
		}, ErrAddress},
		{"IPv6 SYN template writing IPv4", func() error {
			tpl, err := NewSYNTemplate(SYNConfig{Src: client6, Dst: server6})
			if err != nil {
				return err
			}
			_, err = tpl.Write(make([]byte, 100), client, server, 1, 2, 3, 4)
			return err
		}, ErrAddress},
		{"IPv6 SYN template into a short buffer", func() error {
			tpl, err := NewSYNTemplate(SYNConfig{Src: client6, Dst: server6})
			if err != nil {
				return err
			}
			_, err = tpl.Write(make([]byte, tpl.Len()-1), client6, server6, 1, 2, 3, 4)
			return err
		}, ErrShortBuffer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.run(); !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

// A wrong checksum is recorded, not rejected (offloaded packets carry
// partial sums); each one is reported on its own.
func TestHandFilledStructsDoNotPanic(t *testing.T) {
	o := TCPOptions{NumKinds: 500, NumUnknown: 30}
	if len(o.KindList()) != TCPMaxOptions || o.UnknownBytes(25) != nil || o.UnknownBytes(0) != nil {
		t.Fatal("out-of-range counts not clamped")
	}
	o.NumKinds = -1
	if len(o.KindList()) != 0 {
		t.Fatal("negative count not clamped")
	}
	if SetTCPChecksum(client, server, make([]byte, 10)) != 0 {
		t.Fatal("checksum written into a 10-byte segment")
	}
}

func TestBadChecksumsRecorded(t *testing.T) {
	for _, c := range []struct {
		file       string
		at         int
		ip, tr     bool
		transportF func(*Packet) bool
	}{
		{"synack.hex", 10, false, true, func(p *Packet) bool { return p.TCPChecksumOK }},
		{"synack.hex", 36, true, false, func(p *Packet) bool { return p.TCPChecksumOK }},
		{"icmp_time_exceeded.hex", 11, false, true, func(p *Packet) bool { return p.ICMPChecksumOK }},
		{"icmp_time_exceeded.hex", 22, true, false, func(p *Packet) bool { return p.ICMPChecksumOK }},
	} {
		b := loadHex(t, c.file)
		b[c.at] ^= 0x40
		var p Packet
		if err := p.Decode(b); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if p.IPChecksumOK != c.ip || c.transportF(&p) != c.tr {
			t.Errorf("%s byte %d flipped: IP ok %v, transport ok %v", c.file, c.at, p.IPChecksumOK, c.transportF(&p))
		}
	}
}
