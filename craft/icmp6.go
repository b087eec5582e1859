package craft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ICMPv6 error types (RFC 4443 section 3); types 128 and up are
// informational (echo, neighbour discovery, MLD) and match no probe.
const (
	ICMPv6DestUnreachable = 1
	ICMPv6PacketTooBig    = 2
	ICMPv6TimeExceeded    = 3
	ICMPv6ParamProblem    = 4
)

// ICMPv6HeaderLen is the fixed part before the quote: type, code, checksum
// and the 32-bit field (unused, an MTU or a pointer).
const ICMPv6HeaderLen = 8

// Destination-unreachable codes (RFC 4443 3.1, RFC 6550, RFC 8883),
// indexed by code, named the way synprobe reports them.
var unreach6Names = [...]string{
	0: "no-route",
	1: "admin-prohibited",
	2: "beyond-scope",
	3: "address-unreachable",
	4: "port-unreachable",
	5: "source-policy", // source address failed ingress/egress policy
	6: "reject-route",
	7: "source-routing-error", // error in source routing header
	8: "headers-too-long",
}

// Time-exceeded codes (RFC 4443 3.3).
var timeExceeded6Names = [...]string{0: "hop-limit-exceeded", 1: "reassembly-exceeded"}

// Parameter-problem codes (RFC 4443 3.4, RFC 7112, RFC 8754, RFC 8883).
var paramProblem6Names = [...]string{
	0:  "erroneous-header-field",
	1:  "unrecognized-next-header",
	2:  "unrecognized-option",
	3:  "incomplete-header-chain",
	4:  "sr-upper-layer-header-error",
	5:  "unrecognized-next-header-in-transit",
	6:  "extension-header-too-big",
	7:  "extension-header-chain-too-long",
	8:  "too-many-extension-headers",
	9:  "too-many-options",
	10: "option-too-big",
}

// ICMPv6Name names an ICMPv6 error by type and code, for example
// "port-unreachable", "packet-too-big" or "hop-limit-exceeded", as
// ICMPName does ICMPv4's; unknown codes get a generic name that still
// carries the numbers. The two families share a name where the meaning
// is the same (port-unreachable, admin-prohibited, reassembly-exceeded).
func ICMPv6Name(typ, code uint8) string {
	switch {
	case typ == ICMPv6DestUnreachable && int(code) < len(unreach6Names):
		return unreach6Names[code]
	case typ == ICMPv6PacketTooBig && code == 0:
		return "packet-too-big"
	case typ == ICMPv6TimeExceeded && int(code) < len(timeExceeded6Names):
		return timeExceeded6Names[code]
	case typ == ICMPv6ParamProblem && int(code) < len(paramProblem6Names):
		return paramProblem6Names[code]
	case typ == ICMPv6DestUnreachable:
		return fmt.Sprintf("unreachable-code-%d", code)
	case typ == ICMPv6PacketTooBig:
		return fmt.Sprintf("packet-too-big-code-%d", code)
	case typ == ICMPv6TimeExceeded:
		return fmt.Sprintf("time-exceeded-code-%d", code)
	case typ == ICMPv6ParamProblem:
		return fmt.Sprintf("parameter-problem-code-%d", code)
	}
	return fmt.Sprintf("icmp6-type-%d-code-%d", typ, code)
}

// Decode6 parses an ICMPv6 message (the upper-layer payload of an IPv6
// packet) into m, with V6 set. Messages other than the four errors
// (destination unreachable, packet too big, time exceeded, parameter
// problem) report their type and code with ErrICMPType, bare. The quote
// must hold the IPv6 header, its extension headers and 8 bytes: the
// least that names a probe (RFC 4443 asks a sender to quote as much as
// fits in 1280 bytes, and Linux does). Its chain is walked as IPv6Ext.Walk
// does, bounded by the quote; a quote cut inside the chain is
// ErrShortQuote, a quoted non-first fragment ErrFragment.
//
// The checksum is not verified here: ICMPv6's covers the pseudo-header
// (RFC 4443 2.3), so it needs the addresses; Packet.Decode checks it.
func (m *ICMP) Decode6(b []byte) error {
	if len(b) < ICMPv6HeaderLen {
		return fmt.Errorf("ICMPv6: %d bytes: %w", len(b), ErrTruncated)
	}
	m.Type, m.Code = b[0], b[1]
	m.Checksum = binary.BigEndian.Uint16(b[2:])
	m.V6, m.Param, m.MTU = true, binary.BigEndian.Uint32(b[4:]), 0
	if m.Type == ICMPv6PacketTooBig {
		m.MTU = uint16(min(m.Param, 0xffff))
	}
	m.QuotedSrcPort, m.QuotedDstPort, m.QuotedSeq = 0, 0, 0
	if m.Type < ICMPv6DestUnreachable || m.Type > ICMPv6ParamProblem {
		return ErrICMPType // bare, so that echo replies and ND cost no allocation
	}
	q := b[ICMPv6HeaderLen:]
	m.QuoteLen = len(q)
	if len(q) < IPv6HeaderLen+8 {
		return fmt.Errorf("ICMPv6 %s: quote of %d bytes: %w", m.Name(), len(q), ErrShortQuote)
	}
	if v := q[0] >> 4; v != 6 {
		return fmt.Errorf("ICMPv6 %s: quoted version %d: %w", m.Name(), v, ErrQuoteHeader)
	}
	h := &m.Quote6
	h.decodeFixed(q)
	switch err := m.QuoteExt.Walk(h.NextHeader, q[IPv6HeaderLen:]); {
	case err == nil:
	case errors.Is(err, ErrTruncated):
		return fmt.Errorf("ICMPv6 %s: quote of %d bytes ends in its extension headers: %w", m.Name(), len(q), ErrShortQuote)
	default:
		return fmt.Errorf("ICMPv6 %s: quote: %w", m.Name(), err)
	}
	t := q[IPv6HeaderLen+m.QuoteExt.Len:]
	if len(t) < 8 {
		return fmt.Errorf("ICMPv6 %s: quote of %d bytes for %d bytes of headers: %w", m.Name(), len(q), IPv6HeaderLen+m.QuoteExt.Len, ErrShortQuote)
	}
	m.Quote = IPv4{Version: 6, TOS: h.TrafficClass, TTL: h.HopLimit, Protocol: m.QuoteExt.Protocol, Src: h.Src, Dst: h.Dst}
	m.QuotedSrcPort = binary.BigEndian.Uint16(t[0:])
	m.QuotedDstPort = binary.BigEndian.Uint16(t[2:])
	m.QuotedSeq = binary.BigEndian.Uint32(t[4:])
	return nil
}

// EncodeICMPv6Error writes an ICMPv6 message of type typ and code with the
// 32-bit field param (packet too big's MTU, parameter problem's pointer)
// that quotes q into b, checksummed for an IPv6 packet from src to dst,
// and returns the message length. RFC 4443 asks for as much of the
// offending packet as fits in 1280 bytes; the caller chooses by how much
// of it it passes. Tests and lab responders use it; the prober only
// reads ICMPv6.
func EncodeICMPv6Error(b []byte, src, dst netip.Addr, typ, code uint8, param uint32, q []byte) (int, error) {
	n := ICMPv6HeaderLen + len(q)
	if len(b) < n {
		return 0, fmt.Errorf("ICMPv6 encode: need %d bytes: %w", n, ErrShortBuffer)
	}
	if !is6(src) || !is6(dst) {
		return 0, fmt.Errorf("ICMPv6 encode %v > %v: %w", src, dst, ErrAddress)
	}
	if n > 0xffff {
		return 0, fmt.Errorf("ICMPv6 encode: %d bytes: %w", n, ErrTotalLength)
	}
	b[0], b[1], b[2], b[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(b[4:], param)
	copy(b[8:], q)
	binary.BigEndian.PutUint16(b[2:], Checksum(b[:n], pseudoHeaderSum6(src, dst, ProtocolICMPv6, uint32(n))))
	return n, nil
}
