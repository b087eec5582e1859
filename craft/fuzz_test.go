package craft

import (
	"bytes"
	"errors"
	"testing"
)

// addSeeds adds the kernel fixtures and hand-made hostile packets.
func addSeeds(f *testing.F) {
	for _, name := range []string{"syn.hex", "synack.hex", "rst.hex", "icmp_port_unreachable.hex", "icmp_time_exceeded.hex"} {
		f.Add(loadHex(f, name))
	}
	syn := loadHex(f, "syn.hex")
	icmp := loadHex(f, "icmp_port_unreachable.hex")
	set := func(b []byte, i int, v byte) []byte { c := append([]byte(nil), b...); c[i] = v; return c }
	f.Add([]byte{})                // nothing
	f.Add([]byte{0x45})            // one byte of header
	f.Add(set(syn, 0, 0x4f))       // IHL 15: options past the buffer's TCP
	f.Add(set(syn, 0, 0x41))       // IHL 1
	f.Add(set(syn, 3, 0xff))       // total length past the buffer
	f.Add(set(syn, 32, 0xf0))      // data offset 15: past the segment
	f.Add(set(syn, 32, 0x10))      // data offset 1
	f.Add(set(syn, 41, 0))         // option length 0: an endless loop in naive parsers
	f.Add(set(syn, 41, 0xff))      // option running past the header
	f.Add(set(syn, 59, 0xff))      // window scale 255
	f.Add(set(icmp, 28, 0x4f))     // quoted IHL past the quote
	f.Add(icmp[:20+8+10])          // quote shorter than 28 bytes
	f.Add(set(icmp, 28, 0x00))     // quoted version 0
	f.Add(set(syn, 6, 0x20))       // more fragments
	f.Add(append(syn, 0, 0, 0, 0)) // link-layer padding
	f.Add(set(syn[:40], 3, 40))    // TCP header with no room for its options
}

func FuzzPacketDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		err := p.Decode(b)
		if err != nil && !errors.Is(err, ErrWScaleClamped) {
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
	f.Add([]byte{2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7})
	f.Add([]byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2})
	f.Add([]byte{2})    // kind with no length
	f.Add([]byte{2, 0}) // length 0
	f.Add([]byte{3, 3, 200})
	f.Add([]byte{99, 40})
	f.Fuzz(func(t *testing.T, b []byte) {
		var o TCPOptions
		err := o.Parse(b)
		if o.HasWScale && o.WScale > MaxWScale {
			t.Fatalf("window scale %d not clamped", o.WScale)
		}
		if err == nil && o.NumKinds > len(b) {
			t.Fatalf("%d kinds from %d bytes", o.NumKinds, len(b))
		}
	})
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
		if err := m2.Decode(out[:n]); err != nil || m2 != m && m2.Checksum == m.Checksum {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, m, m2)
		}
		if Checksum(out[:n], 0) != 0 {
			t.Fatal("encoded ICMP checksum does not verify")
		}
	})
}
