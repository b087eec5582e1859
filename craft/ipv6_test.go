package craft

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// extChain6 is syn6.hex with n destination options headers of 8 bytes
// (each a PadN option) between the IPv6 and TCP headers; the TCP checksum
// is recomputed, so a chain short enough to walk decodes cleanly.
func extChain6(t testing.TB, n int) []byte {
	t.Helper()
	syn := loadHex(t, "syn6.hex")
	b := append([]byte(nil), syn[:IPv6HeaderLen]...)
	b[6] = IPv6DestOpts
	for i := range n {
		nh := byte(IPv6DestOpts)
		if i == n-1 {
			nh = ProtocolTCP
		}
		b = append(b, nh, 0, 1, 4, 0, 0, 0, 0)
	}
	b = append(b, syn[IPv6HeaderLen:]...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-IPv6HeaderLen))
	SetTCPChecksum(client6, server6, b[IPv6HeaderLen+8*n:])
	return b
}

// TestIPv6ExtWalk: chains the walk takes to their end, with what it
// records; TestBadInput holds the ones it refuses.
func TestIPv6ExtWalk(t *testing.T) {
	dst6 := loadHex(t, "syn_dstopts6.hex")
	set := func(b []byte, kv ...int) []byte {
		c := append([]byte(nil), b...)
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = byte(kv[i+1])
		}
		return c
	}
	for _, c := range []struct {
		name  string
		b     []byte
		kinds []uint8
		check func(e *IPv6Ext) bool
	}{
		{"no extension header", loadHex(t, "syn6.hex"), nil, nil},
		{"destination options", dst6, []uint8{IPv6DestOpts}, nil},
		{"8 headers, the most walked", extChain6(t, MaxIPv6ExtHeaders),
			bytes.Repeat([]uint8{IPv6DestOpts}, MaxIPv6ExtHeaders), nil},
		// The kernel's header, now a routing header (type 1, 4 segments
		// left made 0): a final destination.
		{"routing header, no segments left", set(dst6, 6, IPv6Routing, 43, 0), []uint8{IPv6Routing},
			func(e *IPv6Ext) bool { return e.HasRouting && e.RoutingType == 1 && e.SegmentsLeft == 0 }},
		// A fragment header with offset 0 and M clear: the whole packet
		// (RFC 6946), so Decode takes it.
		{"atomic fragment", set(dst6, 6, IPv6Fragment, 42, 0, 43, 0, 44, 0xde, 47, 0xad), []uint8{IPv6Fragment},
			func(e *IPv6Ext) bool { return e.HasFragment && !e.IsFragment() && e.FragID == 0xde0000ad }},
		{"hop-by-hop first", set(dst6, 6, IPv6HopByHop), []uint8{IPv6HopByHop}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			if err := p.Decode(c.b); err != nil {
				t.Fatal(err)
			}
			e := &p.Ext
			if !bytes.Equal(e.KindList(), c.kinds) || e.Len != 8*len(c.kinds) || e.Protocol != ProtocolTCP || p.IP.Protocol != ProtocolTCP ||
				p.TCP.Seq != binary.BigEndian.Uint32(c.b[IPv6HeaderLen+e.Len+4:]) || c.check != nil && !c.check(e) {
				t.Errorf("walked %+v", *e)
			}
			// The checksum covers the upper layer only (RFC 8200 8.1), so
			// the kernel's stays right whatever chain comes before it.
			if !p.TCPChecksumOK || p.TransportLen != len(c.b)-IPv6HeaderLen-e.Len {
				t.Errorf("checksum ok %v, transport length %d", p.TCPChecksumOK, p.TransportLen)
			}
		})
	}
}

// TestIPv6ExtWalkTruncated cuts a chain of three headers at every length:
// the walk never reads past its input, and fails until the last header is
// whole.
func TestIPv6ExtWalkTruncated(t *testing.T) {
	b := extChain6(t, 3)[IPv6HeaderLen:]
	for n := range 3*8 + 1 {
		var e IPv6Ext
		err := e.Walk(IPv6DestOpts, b[:n:n])
		if (n < 24) != errors.Is(err, ErrTruncated) || n == 24 && (err != nil || e.Len != 24 || e.Protocol != ProtocolTCP) {
			t.Errorf("%d bytes: %v %+v", n, err, e)
		}
	}
}

func TestIPv6HeaderDecodeErrors(t *testing.T) {
	syn6 := loadHex(t, "syn6.hex")
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"39 bytes", syn6[:39], ErrTruncated},
		{"an IPv4 packet", loadHex(t, "syn.hex"), ErrVersion},
		{"payload length past buffer", syn6[:79], ErrTotalLength},
	} {
		var h IPv6
		if _, err := h.Decode(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Link-layer padding is trimmed.
	var h IPv6
	if p, err := h.Decode(append(append([]byte(nil), syn6...), 0, 0, 0, 0)); err != nil || len(p) != 40 {
		t.Errorf("padded: %d bytes, %v", len(p), err)
	}
}

// The ICMPv6 names, transcribed from RFC 4443 sections 3.1-3.4 and the
// codes IANA added later (RFC 6550, RFC 7112, RFC 8754, RFC 8883).
func TestICMPv6Names(t *testing.T) {
	for _, c := range []struct {
		typ, code uint8
		name      string
	}{
		{1, 0, "no-route"}, {1, 1, "admin-prohibited"}, {1, 2, "beyond-scope"}, {1, 3, "address-unreachable"},
		{1, 4, "port-unreachable"}, {1, 5, "source-policy"}, {1, 6, "reject-route"}, {1, 7, "source-routing-error"},
		{1, 8, "headers-too-long"}, {1, 9, "unreachable-code-9"},
		{2, 0, "packet-too-big"}, {2, 1, "packet-too-big-code-1"},
		{3, 0, "hop-limit-exceeded"}, {3, 1, "reassembly-exceeded"}, {3, 2, "time-exceeded-code-2"},
		{4, 0, "erroneous-header-field"}, {4, 1, "unrecognized-next-header"}, {4, 2, "unrecognized-option"},
		{4, 3, "incomplete-header-chain"}, {4, 10, "option-too-big"}, {4, 11, "parameter-problem-code-11"},
		{128, 0, "icmp6-type-128-code-0"}, {0, 0, "icmp6-type-0-code-0"},
	} {
		m := ICMP{V6: true, Type: c.typ, Code: c.code}
		if got := ICMPv6Name(c.typ, c.code); got != c.name || m.Name() != c.name {
			t.Errorf("ICMPv6 %d/%d: %q, want %q", c.typ, c.code, got, c.name)
		}
	}
	// The same numbers are other messages in ICMPv4, whose names stay.
	if m := (ICMP{Type: 3, Code: 4}); m.Name() != "fragmentation-needed" || ICMPName(1, 4) != "icmp-type-1-code-4" {
		t.Errorf("ICMPv4 names: %q %q", m.Name(), ICMPName(1, 4))
	}
}

// The least quote that names a probe: the IPv6 header and 8 bytes after
// the extension headers (RFC 4443 asks for more, but a router may cut).
func TestMinimalICMPv6QuoteAccepted(t *testing.T) {
	full := loadHex(t, "icmp_port_unreachable6.hex")
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"no extension header", full[:IPv6HeaderLen+ICMPv6HeaderLen+IPv6HeaderLen+8]},
		// The quoted next header made destination options: the first 32
		// bytes of the quoted TCP header (length byte made 3) are a header
		// of them, which leaves 8 bytes, the last of the SYN's options (a
		// zero timestamp echo, NOP, window scale 10).
		{"a destination options header", mutate(full, func(b []byte) []byte { b[54], b[89] = IPv6DestOpts, 3; return b })},
	} {
		b := c.b
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-IPv6HeaderLen))
		var p Packet
		if err := p.Decode(b); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m := &p.ICMP
		if m.QuoteLen != len(b)-IPv6HeaderLen-ICMPv6HeaderLen || m.Quote.Dst != server6 || m.Quote.Src != client6 {
			t.Errorf("%s: %+v", c.name, *m)
		}
		if c.name == "no extension header" && (m.QuotedSrcPort != 52746 || m.QuotedDstPort != 9 || m.QuotedSeq != 3000059962) {
			t.Errorf("%s: quoted %d > %d seq %d", c.name, m.QuotedSrcPort, m.QuotedDstPort, m.QuotedSeq)
		}
		if c.name != "no extension header" && (m.QuoteExt.Len != 32 || m.Quote.Protocol != 0xce ||
			m.QuotedSrcPort != 0 || m.QuotedDstPort != 0 || m.QuotedSeq != 0x0103030a) {
			t.Errorf("%s: chain %+v, quoted %d > %d", c.name, m.QuoteExt, m.QuotedSrcPort, m.QuotedDstPort)
		}
	}
}
