package craft

import (
	"fmt"
	"net/netip"
)

// Packet decodes received IPv4 and IPv6 packets into reusable storage: the
// IP header (IPv6: with its extension headers), then TCP or ICMP (ICMPv6)
// as the protocol says. Decode copies every value out of its input, so
// nothing in a Packet points into the receive buffer and the buffer may be
// reused as soon as Decode returns. One Packet per receiving goroutine; it
// is not safe for concurrent use.
//
// One type serves both families, so that a receiver has one code path:
// IP holds the fields the two share, whichever the version, and the
// family's own header is in IP (IPv4) or IP6 and Ext (IPv6).
type Packet struct {
	// IP is the IPv4 header of an IPv4 packet. For an IPv6 packet it holds
	// what IPv6 shares with IPv4, nothing invented: Version 6, TOS the
	// traffic class, TTL the hop limit, Protocol the upper-layer protocol
	// (after the extension headers), Src and Dst; IHL, TotalLen, ID, flags,
	// fragment offset, checksum and options are zero, as IPv6 has none
	// (HasIPID reports it, TransportLen replaces TotalLen minus IHL, and
	// DF is false: IPv6 routers never fragment, but no bit says so).
	IP IPv4
	// IP6 and Ext are the fixed header and the extension-header chain of
	// an IPv6 packet; zero for IPv4.
	IP6 IPv6
	Ext IPv6Ext

	TCP  TCP  // valid when IP.Protocol == ProtocolTCP and Decode succeeded
	ICMP ICMP // valid when IP.Protocol is ProtocolICMP or ProtocolICMPv6 (ICMP.V6) and Decode succeeded
	// PayloadLen is the number of bytes after the transport header (TCP) or
	// after the ICMP header (the quote).
	PayloadLen int
	// TransportLen is the length of the transport header and its payload:
	// what a TCP checksum's pseudo-header counts (IPv4: total length minus
	// header length; IPv6: payload length minus extension headers).
	TransportLen int
	// IPChecksumOK, TCPChecksumOK and ICMPChecksumOK report whether each
	// checksum verified. Packets that a local stack sent over veth often
	// carry only a partial checksum (offload), so a bad checksum is
	// recorded, not rejected: the caller decides. IPv6 has no header
	// checksum: IPChecksumOK is true for every IPv6 packet decoded.
	IPChecksumOK   bool
	TCPChecksumOK  bool
	ICMPChecksumOK bool
}

// HasIPID reports whether the packet carries an IP ID (IP.ID): IPv4 does,
// IPv6 does not.
func (p *Packet) HasIPID() bool { return p.IP.Version == 4 }

// Decode parses one IPv4 or IPv6 packet, as its version nibble says. An
// advisory ErrWScaleClamped leaves a fully decoded packet; any other error
// means the packet is malformed (or a fragment, or not TCP/ICMP) and must
// not change a result.
//
// Decode allocates nothing for packets it accepts, nor for the ordinary
// packets a scanner ignores (ErrFragment, ErrProtocol, ErrICMPType and
// ErrWScaleClamped are returned bare; the fields say the rest). Malformed
// packets get an error wrapped with detail, which allocates.
//
// For IPv6, an atomic fragment (RFC 6946) is a whole packet; any other
// fragment is ErrFragment, as for IPv4, with IP, IP6 and Ext filled in
// (the chain up to the fragment header for a non-first fragment). A routing
// header with segments left is ErrExtensionHeader: the packet is not at
// its final destination, which its TCP checksum would cover (RFC 8200 8.1).
func (p *Packet) Decode(b []byte) error {
	p.PayloadLen, p.TransportLen = 0, 0
	p.IPChecksumOK, p.TCPChecksumOK, p.ICMPChecksumOK = false, false, false
	if len(b) > 0 && b[0]>>4 == 6 {
		return p.decode6(b)
	}
	p.IP6, p.Ext = IPv6{}, IPv6Ext{}
	payload, err := p.IP.Decode(b)
	if err != nil {
		return err
	}
	p.IPChecksumOK = Checksum(b[:int(p.IP.IHL)*4], 0) == 0
	p.TransportLen = len(payload)
	switch p.IP.Protocol {
	case ProtocolTCP:
		rest, err := p.TCP.Decode(payload)
		if err != nil && err != ErrWScaleClamped {
			return err
		}
		p.PayloadLen = len(rest)
		p.TCPChecksumOK = TCPChecksum(p.IP.Src, p.IP.Dst, payload) == 0
		return err
	case ProtocolICMP:
		if err := p.ICMP.Decode(payload); err != nil {
			return err
		}
		p.PayloadLen = p.ICMP.QuoteLen
		p.ICMPChecksumOK = Checksum(payload, 0) == 0
		return nil
	}
	return ErrProtocol // bare: p.IP.Protocol says which, and no allocation
}

func (p *Packet) decode6(b []byte) error {
	h := &p.IP6
	payload, err := h.Decode(b)
	if err != nil {
		p.IP, p.Ext = IPv4{}, IPv6Ext{}
		return err
	}
	p.IP = IPv4{Version: 6, TOS: h.TrafficClass, TTL: h.HopLimit, Src: h.Src, Dst: h.Dst}
	p.IPChecksumOK = true
	err = p.Ext.Walk(h.NextHeader, payload)
	p.IP.Protocol = p.Ext.Protocol
	switch {
	case err != nil:
		return err
	case p.Ext.IsFragment():
		return ErrFragment // bare, as from IPv4.Decode
	case p.Ext.SegmentsLeft != 0:
		return errSegmentsLeft
	}
	up := payload[p.Ext.Len:]
	p.TransportLen = len(up)
	switch p.IP.Protocol {
	case ProtocolTCP:
		rest, err := p.TCP.Decode(up)
		if err != nil && err != ErrWScaleClamped {
			return err
		}
		p.PayloadLen = len(rest)
		p.TCPChecksumOK = Checksum(up, pseudoHeaderSum6(h.Src, h.Dst, ProtocolTCP, uint32(len(up)))) == 0
		return err
	case ProtocolICMPv6:
		if err := p.ICMP.Decode6(up); err != nil {
			return err
		}
		p.PayloadLen = p.ICMP.QuoteLen
		p.ICMPChecksumOK = Checksum(up, pseudoHeaderSum6(h.Src, h.Dst, ProtocolICMPv6, uint32(len(up)))) == 0
		return nil
	}
	return ErrProtocol // bare: p.IP.Protocol says which, and no allocation
}

// errSegmentsLeft is made once: a packet routed through this host is
// rare, but no reason to allocate.
var errSegmentsLeft = fmt.Errorf("IPv6 routing header with segments left, not at the final destination: %w", ErrExtensionHeader)

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }
