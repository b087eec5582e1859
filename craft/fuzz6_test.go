package craft

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// addSeeds6 adds the IPv6 kernel fixtures and hand-made hostile packets.
func addSeeds6(f *testing.F) {
	for _, name := range fixtureNames6 {
		f.Add(loadHex(f, name))
	}
	syn := loadHex(f, "syn6.hex")
	dst := loadHex(f, "syn_dstopts6.hex")
	icmp := loadHex(f, "icmp_port_unreachable6.hex")
	set := func(b []byte, kv ...int) []byte {
		c := bytes.Clone(b)
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = byte(kv[i+1])
		}
		return c
	}
	// In syn_dstopts6.hex the IPv6 header is bytes 0-39 (payload length at
	// 4, next header at 6), the destination options header 40-47 (next
	// header 40, length 41), TCP 48-87. In icmp_port_unreachable6.hex the
	// ICMPv6 header is 40-47, the quoted IPv6 header 48-87 (next header at
	// 54), the quoted TCP header 88 on.
	f.Add([]byte{0x60})                                                    // one byte of header
	f.Add(syn[:39])                                                        // shorter than 40 bytes
	f.Add(syn[:40])                                                        // a header and nothing else
	f.Add(set(syn, 4, 0, 5, 0))                                            // payload length 0 (a jumbogram's, which craft does not read)
	f.Add(set(syn, 4, 0xff, 5, 0xff))                                      // payload length past the buffer
	f.Add(append(bytes.Clone(syn), 0, 0, 0, 0))                            // link-layer padding to trim
	f.Add(set(syn, 6, 17))                                                 // UDP: not TCP or ICMPv6
	f.Add(set(syn, 6, IPv6NoNextHeader))                                   // nothing follows
	f.Add(set(syn, 6, 51))                                                 // AH: a header craft does not walk
	f.Add(set(dst, 41, 0xff))                                              // an options header of 2,048 bytes, past the buffer
	f.Add(set(dst, 40, IPv6DestOpts))                                      // a chain that runs into the TCP header
	f.Add(set(dst, 40, IPv6HopByHop))                                      // hop-by-hop after destination options
	f.Add(set(dst, 6, IPv6Routing))                                        // a routing header with 4 segments left
	f.Add(set(dst, 6, IPv6Routing, 43, 0))                                 // a routing header with none left
	f.Add(set(dst, 6, IPv6Fragment))                                       // a non-first fragment
	f.Add(set(dst, 6, IPv6Fragment, 42, 0, 43, 1))                         // a first fragment
	f.Add(set(dst, 6, IPv6Fragment, 42, 0, 43, 0))                         // an atomic fragment: a whole packet
	f.Add(set(dst, 6, IPv6Fragment, 40, IPv6Fragment, 42, 0, 43, 0))       // two fragment headers
	f.Add(extChain6(f, MaxIPv6ExtHeaders))                                 // the longest chain walked
	f.Add(extChain6(f, MaxIPv6ExtHeaders+1))                               // one header too many
	f.Add(set(syn, 52, 0xf0))                                              // TCP data offset 15: past the segment
	f.Add(set(syn, 61, 0))                                                 // TCP option length 0
	f.Add(set(icmp, 40, 128))                                              // an echo request, not an error
	f.Add(set(icmp, 40, 2, 41, 0, 44, 0xff, 45, 0xff, 46, 0xff, 47, 0xff)) // packet too big, MTU 2^32-1
	f.Add(set(icmp[:95], 5, 55))                                           // a quote of 47 bytes: below the header + 8
	f.Add(set(icmp[:96], 5, 56))                                           // exactly the header + 8
	f.Add(set(icmp, 48, 0x45))                                             // a quoted IPv4 header
	f.Add(set(icmp, 54, IPv6DestOpts))                                     // a quoted chain past the quote
	f.Add(set(icmp, 54, IPv6Fragment))                                     // a quoted non-first fragment
	f.Add(set(icmp, 54, IPv6HopByHop, 89, 0))                              // a quoted hop-by-hop header, then nothing
}

// FuzzPacketDecode6: any input decodes or fails without a panic; an IPv6
// packet that decodes keeps the invariants of its family and rebuilds, its
// chain copied, to bytes that decode to the same fields.
func FuzzPacketDecode6(f *testing.F) {
	addSeeds6(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if err := p.Decode(b); err != nil && !errors.Is(err, ErrWScaleClamped) || p.IP.Version != 6 {
			return
		}
		checkDecoded6(t, b, &p)
	})
}

// checkDecoded6 checks a decoded IPv6 packet p (from b) and rebuilds it.
func checkDecoded6(t *testing.T, b []byte, p *Packet) {
	t.Helper()
	e := &p.Ext
	if !p.IPChecksumOK || p.HasIPID() || e.Count > MaxIPv6ExtHeaders || e.Len%8 != 0 || e.IsFragment() || e.SegmentsLeft != 0 ||
		p.TransportLen != int(p.IP6.PayloadLen)-e.Len || p.IP.Protocol != e.Protocol || p.IP.TTL != p.IP6.HopLimit {
		t.Fatalf("accepted %+v", *p)
	}
	// Rebuild: the fixed header from p.IP6, the chain as it was, then
	// the upper layer from the parsed fields.
	chain := b[IPv6HeaderLen : IPv6HeaderLen+e.Len]
	out := make([]byte, 1<<16+IPv6HeaderLen)
	var n int
	switch p.IP.Protocol {
	case ProtocolTCP:
		ip, tcp := p.IP6, p.TCP
		m, err := BuildTCP6(out[e.Len:], &ip, &tcp)
		if err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		n = e.Len + m
	case ProtocolICMPv6:
		m := &p.ICMP
		quote := b[IPv6HeaderLen+e.Len+ICMPv6HeaderLen : IPv6HeaderLen+int(p.IP6.PayloadLen)]
		k, err := EncodeICMPv6Error(out[IPv6HeaderLen+e.Len:], p.IP.Src, p.IP.Dst, m.Type, m.Code, m.Param, quote)
		if err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		n = IPv6HeaderLen + e.Len + k
	default:
		t.Fatalf("accepted protocol %d", p.IP.Protocol)
	}
	ip := p.IP6
	if _, err := ip.Encode(out, n-IPv6HeaderLen); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	copy(out[IPv6HeaderLen:], chain)
	var q Packet
	if err := q.Decode(out[:n]); err != nil && !errors.Is(err, ErrWScaleClamped) {
		t.Fatalf("rebuilt packet does not decode: %v\n%x", err, out[:n])
	}
	want := p.IP6
	if p.IP.Protocol == ProtocolTCP { // BuildTCP6 writes no payload
		want.PayloadLen -= uint16(p.PayloadLen)
	}
	if q.IP6 != want || q.Ext != p.Ext || q.IP != p.IP {
		t.Fatalf("round trip changed fields:\n%+v\n%+v", p, q)
	}
	switch p.IP.Protocol {
	case ProtocolTCP:
		if q.TCP.Options != p.TCP.Options || q.TCP.Seq != p.TCP.Seq || q.TCP.Flags != p.TCP.Flags || !q.TCPChecksumOK || q.PayloadLen != 0 {
			t.Fatalf("round trip changed TCP:\n%+v\n%+v", p.TCP, q.TCP)
		}
	case ProtocolICMPv6:
		q.ICMP.Checksum = p.ICMP.Checksum // recomputed; the input's may have been wrong
		if q.ICMP != p.ICMP || !q.ICMPChecksumOK || q.PayloadLen != p.PayloadLen {
			t.Fatalf("round trip changed ICMPv6:\n%+v\n%+v", p.ICMP, q.ICMP)
		}
	}
}

// FuzzIPv6Ext: the walk over any next header and bytes stays in bounds,
// never records more than it may, reads nothing past the chain it reports,
// and fails on any cut of it.
func FuzzIPv6Ext(f *testing.F) {
	for _, name := range fixtureNames6 {
		b := loadHex(f, name)
		f.Add(b[6], b[IPv6HeaderLen:])
	}
	chain := extChain6(f, 3)[IPv6HeaderLen:]
	f.Add(uint8(IPv6DestOpts), chain)                                                       // three destination options headers, then TCP
	f.Add(uint8(IPv6DestOpts), chain[:23])                                                  // cut a byte short
	f.Add(uint8(IPv6HopByHop), []byte{IPv6HopByHop, 0, 1, 4, 0, 0, 0, 0})                   // hop-by-hop twice
	f.Add(uint8(IPv6Routing), []byte{IPv6Routing, 0, 0, 0, 0, 0, 0, 0})                     // routing twice
	f.Add(uint8(IPv6Fragment), []byte{IPv6Fragment, 0, 0, 0, 0, 0, 0, 1})                   // an atomic fragment, then another fragment header
	f.Add(uint8(IPv6Fragment), []byte{ProtocolTCP, 0, 0xff, 0xf9, 0xff, 0xff, 0xff, 0xff})  // the last fragment at the largest offset
	f.Add(uint8(IPv6DestOpts), []byte{IPv6DestOpts, 0xff})                                  // a 2,048-byte header in 2 bytes
	f.Add(uint8(IPv6DestOpts), bytes.Repeat([]byte{IPv6DestOpts, 0, 1, 4, 0, 0, 0, 0}, 20)) // a chain with no end
	f.Add(uint8(50), []byte{})                                                              // ESP, which craft does not walk
	f.Add(uint8(ProtocolTCP), []byte{})                                                     // no extension header at all
	f.Fuzz(func(t *testing.T, nh uint8, b []byte) {
		var e IPv6Ext
		err := e.Walk(nh, b)
		if e.Count < 0 || e.Count > MaxIPv6ExtHeaders || e.Len < 0 || e.Len > len(b) || e.Len%8 != 0 {
			t.Fatalf("walked %+v over %d bytes", e, len(b))
		}
		for i, k := range e.KindList() {
			if k != IPv6HopByHop && k != IPv6Routing && k != IPv6Fragment && k != IPv6DestOpts || k == IPv6HopByHop && i > 0 {
				t.Fatalf("walked %v", e.KindList())
			}
		}
		if err != nil && err != ErrFragment {
			return
		}
		if err == ErrFragment && (!e.HasFragment || e.FragOff == 0 || e.KindList()[e.Count-1] != IPv6Fragment) ||
			err == nil && (isIPv6Ext(e.Protocol) || e.HasFragment && e.FragOff != 0) {
			t.Fatalf("%v: %+v", err, e)
		}
		// What the walk read is all in b[:e.Len]: the same walk there,
		// and a failing one on any shorter cut.
		var again IPv6Ext
		if err2 := again.Walk(nh, b[:e.Len:e.Len]); err2 != err || again != e {
			t.Fatalf("walk of the chain alone: %v %+v, whole: %v %+v", err2, again, err, e)
		}
		if e.Len > 0 {
			cut := e.Len - 1 - int(binary.BigEndian.Uint16(b[:2])%uint16(e.Len))
			if err := again.Walk(nh, b[:cut:cut]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("walk cut at %d of %d: %v", cut, e.Len, err)
			}
		}
	})
}
