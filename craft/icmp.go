package craft

import (
	"encoding/binary"
	"fmt"
)

// ICMPv4 types synprobe matches to probes.
const (
	ICMPDestUnreachable = 3
	ICMPTimeExceeded    = 11
)

// ICMPv4HeaderLen is the fixed part before the quote: type, code, checksum
// and four bytes (unused, or the next-hop MTU for fragmentation-needed).
const ICMPv4HeaderLen = 8

// Destination-unreachable codes (RFC 792, RFC 1122, RFC 1812), indexed by
// code, named the way synprobe reports them.
var unreachNames = [...]string{
	0:  "net-unreachable",
	1:  "host-unreachable",
	2:  "protocol-unreachable",
	3:  "port-unreachable",
	4:  "fragmentation-needed",
	5:  "source-route-failed",
	6:  "net-unknown",
	7:  "host-unknown",
	8:  "source-host-isolated",
	9:  "net-prohibited",
	10: "host-prohibited",
	11: "net-tos-unreachable",
	12: "host-tos-unreachable",
	13: "admin-prohibited",
	14: "host-precedence-violation",
	15: "precedence-cutoff",
}

var timeExceededNames = [...]string{0: "ttl-exceeded", 1: "reassembly-exceeded"}

// ICMPName names an ICMP error by type and code, for example
// "port-unreachable" or "ttl-exceeded"; unknown codes get a generic name
// that still carries the numbers.
func ICMPName(typ, code uint8) string {
	switch {
	case typ == ICMPDestUnreachable && int(code) < len(unreachNames):
		return unreachNames[code]
	case typ == ICMPTimeExceeded && int(code) < len(timeExceededNames):
		return timeExceededNames[code]
	case typ == ICMPDestUnreachable:
		return fmt.Sprintf("unreachable-code-%d", code)
	case typ == ICMPTimeExceeded:
		return fmt.Sprintf("time-exceeded-code-%d", code)
	}
	return fmt.Sprintf("icmp-type-%d-code-%d", typ, code)
}

// ICMP is an ICMP error with what it quotes of the packet that caused it:
// the IP header and the first eight bytes of its payload (for IPv6, after
// its extension headers), which for TCP are the ports and sequence number.
// One type serves both families, so that the engine matches an ICMPv4 and
// an ICMPv6 error to its probe the same way: V6 tells them apart, Type and
// Code are the family's own numbers, and Name gives the family's names.
type ICMP struct {
	Type, Code uint8
	Checksum   uint16
	// MTU is the next-hop MTU of an ICMPv4 fragmentation-needed message
	// (RFC 1191), or the MTU of an ICMPv6 packet-too-big (RFC 8201),
	// capped at 65535: its field is 32 bits (Param), for jumbograms.
	MTU uint16

	// V6 reports an ICMPv6 message (RFC 4443).
	V6 bool
	// Param is, for ICMPv6, the 32-bit field after the checksum: packet
	// too big's MTU, parameter problem's pointer (the offset in the quote
	// of the field at fault); 0 for ICMPv4.
	Param uint32

	// Quote is the quoted IPv4 header; its total length may exceed the
	// quote. For ICMPv6 it holds what the quoted IPv6 header shares with
	// IPv4, as Packet.IP does for an IPv6 packet (Version 6, TOS the
	// traffic class, TTL the hop limit, Protocol the upper-layer protocol,
	// Src, Dst; no ID, no flags), so one comparison matches either family.
	Quote IPv4
	// Quote6 is the quoted IPv6 header (ICMPv6 only); its payload length
	// describes the original packet, which the quote may truncate.
	Quote6 IPv6
	// QuoteExt is the quoted packet's extension-header chain (ICMPv6 only).
	QuoteExt IPv6Ext

	QuotedSrcPort uint16
	QuotedDstPort uint16
	QuotedSeq     uint32
	QuoteLen      int // bytes quoted after the ICMP header
}

// ICMPv4 is ICMP's name from before ICMPv6 shared the type.
type ICMPv4 = ICMP

// Name is ICMPName(m.Type, m.Code), or ICMPv6Name for an ICMPv6 message.
func (m *ICMP) Name() string {
	if m.V6 {
		return ICMPv6Name(m.Type, m.Code)
	}
	return ICMPName(m.Type, m.Code)
}

// Decode parses an ICMPv4 message (the IPv4 payload) into m. Messages other
// than destination unreachable and time exceeded report their type and code
// with ErrICMPType. It accepts the RFC 792 minimum quote: the IPv4 header
// plus 8 bytes.
func (m *ICMP) Decode(b []byte) error {
	if len(b) < ICMPv4HeaderLen {
		return fmt.Errorf("ICMP: %d bytes: %w", len(b), ErrTruncated)
	}
	m.Type, m.Code = b[0], b[1]
	m.Checksum = binary.BigEndian.Uint16(b[2:])
	m.MTU = binary.BigEndian.Uint16(b[6:])
	m.V6, m.Param = false, 0
	m.Quote6, m.QuoteExt = IPv6{}, IPv6Ext{}
	m.QuotedSrcPort, m.QuotedDstPort, m.QuotedSeq = 0, 0, 0
	if m.Type != ICMPDestUnreachable && m.Type != ICMPTimeExceeded {
		return ErrICMPType // bare, so that echo replies cost no allocation

	}
	q := b[ICMPv4HeaderLen:]
	m.QuoteLen = len(q)
	if len(q) < IPv4MinHeaderLen+8 {
		return fmt.Errorf("ICMP %s: quote of %d bytes: %w", m.Name(), len(q), ErrShortQuote)
	}
	if v, ihl := q[0]>>4, q[0]&0xf; v != 4 || ihl < 5 {
		return fmt.Errorf("ICMP %s: quoted version %d IHL %d: %w", m.Name(), v, ihl, ErrQuoteHeader)
	}
	hl := int(q[0]&0xf) * 4
	if len(q) < hl+8 {
		return fmt.Errorf("ICMP %s: quote of %d bytes for a %d-byte header: %w", m.Name(), len(q), hl, ErrShortQuote)
	}
	// The quoted header is parsed field by field rather than with
	// IPv4.Decode: its total length describes the original packet, which
	// the quote truncates.
	h := &m.Quote
	h.Version, h.IHL, h.TOS = 4, q[0]&0xf, q[1]
	h.TotalLen = binary.BigEndian.Uint16(q[2:])
	h.ID = binary.BigEndian.Uint16(q[4:])
	ff := binary.BigEndian.Uint16(q[6:])
	h.Flags, h.FragOff = IPv4Flags(ff>>13), ff&0x1fff
	h.TTL, h.Protocol = q[8], q[9]
	h.Checksum = binary.BigEndian.Uint16(q[10:])
	h.Src = addr4(q[12:16])
	h.Dst = addr4(q[16:20])
	h.OptionsLen = uint8(copy(h.Options[:], q[20:hl]))
	t := q[hl:]
	m.QuotedSrcPort = binary.BigEndian.Uint16(t[0:])
	m.QuotedDstPort = binary.BigEndian.Uint16(t[2:])
	m.QuotedSeq = binary.BigEndian.Uint32(t[4:])
	return nil
}

// EncodeICMPError writes an ICMP error of type typ and code that quotes q
// into b and returns the message length. RFC 792 asks for the offending
// IPv4 header plus 8 bytes; Linux, following RFC 1812, quotes as much as
// fits in 576 bytes: the caller chooses by how much of the packet it
// passes. Tests and lab responders use it; the prober only reads ICMP.
func EncodeICMPError(b []byte, typ, code uint8, mtu uint16, q []byte) (int, error) {
	n := ICMPv4HeaderLen + len(q)
	if len(b) < n {
		return 0, fmt.Errorf("ICMP encode: need %d bytes: %w", n, ErrShortBuffer)
	}
	b[0], b[1], b[2], b[3], b[4], b[5] = typ, code, 0, 0, 0, 0
	binary.BigEndian.PutUint16(b[6:], mtu)
	copy(b[8:], q)
	binary.BigEndian.PutUint16(b[2:], Checksum(b[:n], 0))
	return n, nil
}
