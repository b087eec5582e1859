package craft

import (
	"bytes"
	"errors"
	"testing"
)

// addSeeds adds the kernel fixtures and hand-made hostile packets.
func addSeeds(f *testing.F) {
	for _, name := range fixtureNames {
		f.Add(loadHex(f, name))
	}
	syn := loadHex(f, "syn.hex")
	icmp := loadHex(f, "icmp_port_unreachable.hex")
	set := func(b []byte, kv ...int) []byte {
		c := append([]byte(nil), b...)
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = byte(kv[i+1])
		}
		return c
	}
	// One seed per "Bad input" case of the issue, and a few more. In syn.hex
	// the IPv4 header is bytes 0-19, TCP 20-39, options 40-59: MSS at 40,
	// SACK-permitted at 44, timestamps at 46, NOP at 56, window scale at 57.
	f.Add([]byte{})                             // nothing
	f.Add([]byte{0x45})                         // one byte of header
	f.Add(syn[:19])                             // shorter than 20 bytes
	f.Add(set(syn[:22], 0, 0x46))               // IHL 6 but 22 bytes: shorter than IHL*4
	f.Add(set(syn, 0, 0x65))                    // version 6
	f.Add(set(syn, 0, 0x05))                    // version 0
	f.Add(set(syn, 0, 0x41))                    // IHL 1
	f.Add(set(syn, 0, 0x44))                    // IHL 4
	f.Add(set(syn, 0, 0x4f))                    // IHL 15: "options" eat the TCP header
	f.Add(set(syn, 2, 0, 3, 19))                // total length below the header
	f.Add(set(syn, 3, 0xff))                    // total length past the buffer
	f.Add(append(syn, 0, 0, 0, 0, 0, 0))        // link-layer padding to trim
	f.Add(set(syn, 6, 0x20))                    // more fragments
	f.Add(set(syn, 6, 0x1f, 7, 0xff))           // last fragment at the largest offset
	f.Add(set(syn, 9, 17))                      // UDP: not TCP or ICMP
	f.Add(set(syn[:30], 3, 30))                 // TCP shorter than 20 bytes
	f.Add(set(syn, 32, 0x10))                   // data offset 1
	f.Add(set(syn, 32, 0x40))                   // data offset 4
	f.Add(set(syn, 32, 0xf0))                   // data offset 15: past the segment
	f.Add(set(syn[:40], 3, 40))                 // data offset 10, no room for options
	f.Add(set(syn, 32, 0xaf))                   // all four reserved bits set
	f.Add(set(syn, 33, 0xff))                   // all eight flags
	f.Add(set(syn, 41, 0))                      // option length 0: an endless loop in naive parsers
	f.Add(set(syn, 41, 1))                      // option length 1
	f.Add(set(syn, 41, 0xff))                   // option running past the header
	f.Add(set(syn, 57, 2))                      // MSS kind where window scale was: length 3
	f.Add(set(syn, 58, 4))                      // window scale running past the header
	f.Add(set(syn, 41, 3))                      // MSS length 3
	f.Add(set(syn, 58, 2))                      // window scale length 2
	f.Add(set(syn, 45, 3))                      // SACK-permitted length 3
	f.Add(set(syn, 47, 9))                      // timestamps length 9
	f.Add(set(syn, 44, OptSACK, 45, 2))         // SACK with no blocks
	f.Add(set(syn, 59, 15))                     // window scale 15: clamped to 14
	f.Add(set(syn, 59, 0xff))                   // window scale 255
	f.Add(set(syn, 40, 0))                      // EOL first: no options at all
	f.Add(set(syn, 40, 99, 41, 20))             // unknown kind spanning 20 bytes
	f.Add(set(icmp, 20, 8))                     // ICMP echo request, not an error
	f.Add(set(icmp[:27], 3, 27))                // ICMP shorter than its 8-byte header
	f.Add(set(icmp[:55], 3, 55))                // quote of 27 bytes: below IP header + 8
	f.Add(set(icmp[:56], 3, 56))                // exactly IP header + 8: the RFC 792 minimum
	f.Add(set(icmp, 28, 0x4f))                  // quoted IHL 15: past the quote
	f.Add(set(icmp, 28, 0x44))                  // quoted IHL 4
	f.Add(set(icmp, 28, 0x00))                  // quoted version 0
	f.Add(set(icmp, 21, 4, 26, 0x05, 27, 0xdc)) // fragmentation needed, next-hop MTU 1500
	f.Add(set(icmp, 34, 0x20))                  // quoted header is a fragment
}

func FuzzPacketDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		err := p.Decode(b)
		if err != nil && !errors.Is(err, ErrWScaleClamped) {
			return
		}
		if p.IP.Version == 6 { // what the fuzzer makes of the version nibble
			checkDecoded6(t, b, &p)
			return
		}
		// A packet that parsed rebuilds to bytes that parse to the same
		// fields (checksums recomputed; payload not kept by craft).
		out := make([]byte, 1<<16+64)
		switch p.IP.Protocol {
		case ProtocolTCP:
			ip, tcp := p.IP, p.TCP
			n, err := BuildTCP(out, &ip, &tcp)
			if err != nil {
				t.Fatalf("rebuild: %v", err)
			}
			var q Packet
			if err := q.Decode(out[:n]); err != nil && !errors.Is(err, ErrWScaleClamped) {
				t.Fatalf("rebuilt packet does not parse: %v", err)
			}
			if q.TCP.Options != p.TCP.Options || q.TCP.Seq != p.TCP.Seq || q.TCP.Flags != p.TCP.Flags ||
				q.IP.Src != p.IP.Src || q.IP.TTL != p.IP.TTL || !q.TCPChecksumOK || !IPv4ChecksumValid(out[:n]) {
				t.Fatalf("round trip changed fields:\n%+v\n%+v", p, q)
			}
		case ProtocolICMP:
			if p.ICMP.QuoteLen < IPv4MinHeaderLen+8 {
				t.Fatalf("accepted a %d-byte quote", p.ICMP.QuoteLen)
			}
			// Rebuild around the same quote; it parses to the same message.
			ip := p.IP
			hl, err := ip.Encode(out, ICMPv4HeaderLen+p.ICMP.QuoteLen)
			if err != nil {
				t.Fatalf("rebuild: %v", err)
			}
			quote := b[int(p.IP.IHL)*4+ICMPv4HeaderLen : p.IP.TotalLen]
			n, err := EncodeICMPError(out[hl:], p.ICMP.Type, p.ICMP.Code, p.ICMP.MTU, quote)
			if err != nil {
				t.Fatalf("rebuild: %v", err)
			}
			var q Packet
			if err := q.Decode(out[:hl+n]); err != nil {
				t.Fatalf("rebuilt packet does not parse: %v", err)
			}
			q.ICMP.Checksum, q.IP.Checksum = p.ICMP.Checksum, p.IP.Checksum
			if q.ICMP != p.ICMP || q.IP != p.IP || Checksum(out[hl:hl+n], 0) != 0 {
				t.Fatalf("round trip changed fields:\n%+v\n%+v", p, q)
			}
		}
	})
}

func FuzzIPv4(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var h IPv4
		payload, err := h.Decode(b)
		if err != nil && !errors.Is(err, ErrFragment) {
			return
		}
		if len(payload) != int(h.TotalLen)-int(h.IHL)*4 {
			t.Fatalf("payload %d for total %d IHL %d", len(payload), h.TotalLen, h.IHL)
		}
		out := make([]byte, 60)
		h2 := h
		n, err := h2.Encode(out, len(payload))
		if err != nil {
			t.Fatal(err)
		}
		// Same header bytes but for the checksum, which Encode computes.
		if !bytes.Equal(out[:10], b[:10]) || !bytes.Equal(out[12:n], b[12:n]) || !IPv4ChecksumValid(out[:n]) {
			t.Fatalf("re-encoded %x from %x", out[:n], b[:n])
		}
	})
}

func FuzzTCP(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 20 && b[0]>>4 == 4 { // use the seeds' TCP part
			b = b[20:]
		}
		var h TCP
		if _, err := h.Decode(b); err != nil && !errors.Is(err, ErrWScaleClamped) {
			return
		}
		out := make([]byte, 60)
		h2 := h
		n, err := h2.Encode(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out[:n], b[:n]) {
			t.Fatalf("re-encoded %x from %x", out[:n], b[:n])
		}
	})
}

func FuzzTCPOptions(f *testing.F) {
	f.Add([]byte{2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}) // Linux SYN
	f.Add([]byte{2, 4, 5, 180, 1, 3, 3, 8, 1, 1, 4, 2})                          // Windows SYN
	f.Add([]byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2})                           // SACK, one block
	f.Add([]byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 253, 4, 9, 9, 0, 0})       // unknown kind, then EOL padding
	f.Add([]byte{2})                                                             // kind with no length byte
	f.Add([]byte{2, 0})                                                          // length 0: an endless loop in naive parsers
	f.Add([]byte{2, 1})                                                          // length 1
	f.Add([]byte{2, 3, 5})                                                       // MSS length 3
	f.Add([]byte{3, 3, 200})                                                     // window scale 200: clamped to 14
	f.Add([]byte{3, 2})                                                          // window scale length 2
	f.Add([]byte{4, 3, 0})                                                       // SACK-permitted length 3
	f.Add([]byte{8, 9, 0, 0, 0, 0, 0, 0, 0})                                     // timestamps length 9
	f.Add([]byte{5, 9, 0, 0, 0, 0, 0, 0, 0})                                     // SACK length not 2+8n
	f.Add([]byte{99, 40})                                                        // option running past the list
	f.Add(make([]byte, 41))                                                      // longer than a TCP header allows
	f.Fuzz(func(t *testing.T, b []byte) {
		var o TCPOptions
		err := o.Parse(b)
		if o.HasWScale && (o.WScale > MaxWScale || o.WScaleClamped != (o.WScaleSent > MaxWScale)) {
			t.Fatalf("window scale %d sent %d clamped %v", o.WScale, o.WScaleSent, o.WScaleClamped)
		}
		if err != nil && !errors.Is(err, ErrWScaleClamped) {
			return
		}
		if o.NumKinds > len(b) {
			t.Fatalf("%d kinds from %d bytes", o.NumKinds, len(b))
		}
		// Round trip: re-encode the parsed list and parse it again.
		var enc [TCPMaxOptions]byte
		n, err := o.Encode(enc[:])
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var o2 TCPOptions
		if err := o2.Parse(enc[:n]); err != nil && !errors.Is(err, ErrWScaleClamped) {
			t.Fatalf("re-encoded %x does not parse: %v", enc[:n], err)
		}
		o2.raw, o2.rawLen = o.raw, o.rawLen
		if repeatsKnownKind(o.KindList()) {
			// Two SACK options of different sizes re-encode at other offsets.
			o2.Unknown = o.Unknown
		}
		if o2 != o {
			t.Fatalf("round trip changed options:\n%+v\n%+v", o, o2)
		}
		// Byte for byte the same up to where parsing stopped, unless a known
		// kind came twice (only the last value is kept).
		if !repeatsKnownKind(o.KindList()) && !bytes.Equal(enc[:n], b[:n]) {
			t.Fatalf("re-encoded %x from %x", enc[:n], b)
		}
	})
}

func repeatsKnownKind(kinds []uint8) bool {
	var seen [256]bool
	for _, k := range kinds {
		switch k {
		case OptMSS, OptWScale, OptSACKPermitted, OptSACK, OptTimestamps:
			if seen[k] {
				return true
			}
		}
		seen[k] = true
	}
	return false
}

func FuzzICMP(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 20 && b[0]>>4 == 4 {
			b = b[20:]
		}
		var m ICMPv4
		if err := m.Decode(b); err != nil {
			return
		}
		out := make([]byte, len(b)+8)
		n, err := EncodeICMPError(out, m.Type, m.Code, m.MTU, b[ICMPv4HeaderLen:])
		if err != nil {
			t.Fatal(err)
		}
		var m2 ICMPv4
		if err := m2.Decode(out[:n]); err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
		m2.Checksum = m.Checksum // recomputed; the input's may have been wrong
		if m2 != m || !bytes.Equal(out[:2], b[:2]) || !bytes.Equal(out[6:n], b[6:]) {
			t.Fatalf("round trip:\n%+v\n%+v", m, m2)
		}
		if Checksum(out[:n], 0) != 0 {
			t.Fatal("encoded ICMP checksum does not verify")
		}
	})
}

// FuzzSegmentStart: any input parses or fails without a panic, and a TCP
// packet that Packet.Decode takes (not a fragment) has the same start,
// whole and cut to its IP header (IPv6: and extension headers) and 14
// bytes of TCP.
func FuzzSegmentStart(f *testing.F) {
	addSeeds(f)
	addSeeds6(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s SegmentStart
		serr := s.Decode(b)
		var p Packet
		if err := p.Decode(b); (err != nil && !errors.Is(err, ErrWScaleClamped)) || p.IP.Protocol != ProtocolTCP {
			return
		}
		if serr != nil {
			t.Fatalf("Packet.Decode takes %x, SegmentStart.Decode: %v", b, serr)
		}
		hl := int(p.IP.IHL) * 4
		if p.IP.Version == 6 {
			hl = IPv6HeaderLen + p.Ext.Len
		}
		var c SegmentStart
		if err := c.Decode(b[:hl+SegmentStartLen]); err != nil || c != s {
			t.Fatalf("cut: %+v (%v), whole: %+v", c, err, s)
		}
		if s.Src != p.IP.Src || s.Dst != p.IP.Dst || s.SrcPort != p.TCP.SrcPort || s.DstPort != p.TCP.DstPort || s.Seq != p.TCP.Seq || s.Flags != p.TCP.Flags {
			t.Fatalf("start %+v, packet %+v", s, p.TCP)
		}
	})
}
