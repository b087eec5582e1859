package craft

import "net/netip"

// Packet decodes received IPv4 packets into reusable storage: IPv4, then
// TCP or ICMP as IP.Protocol says. Decode copies every value out of its
// input, so nothing in a Packet points into the receive buffer and the
// buffer may be reused as soon as Decode returns. One Packet per receiving
// goroutine; it is not safe for concurrent use.
type Packet struct {
	IP   IPv4
	TCP  TCP    // valid when IP.Protocol == ProtocolTCP and Decode succeeded
	ICMP ICMPv4 // valid when IP.Protocol == ProtocolICMP and Decode succeeded
	// PayloadLen is the number of bytes after the transport header (TCP) or
	// after the ICMP header (the quote).
	PayloadLen int
	// IPChecksumOK, TCPChecksumOK and ICMPChecksumOK report whether each
	// checksum verified. Packets that a local stack sent over veth often
	// carry only a partial checksum (offload), so a bad checksum is
	// recorded, not rejected: the caller decides.
	IPChecksumOK   bool
	TCPChecksumOK  bool
	ICMPChecksumOK bool
}

// Decode parses one IPv4 packet. An advisory ErrWScaleClamped leaves a
// fully decoded packet; any other error means the packet is malformed (or a
// fragment, or not TCP/ICMP) and must not change a result.
//
// Decode allocates nothing for packets it accepts, nor for the ordinary
// packets a scanner ignores (ErrFragment, ErrProtocol, ErrICMPType and
// ErrWScaleClamped are returned bare; the fields say the rest). Malformed
// packets get an error wrapped with detail, which allocates.
func (p *Packet) Decode(b []byte) error {
	p.PayloadLen = 0
	p.IPChecksumOK, p.TCPChecksumOK, p.ICMPChecksumOK = false, false, false
	payload, err := p.IP.Decode(b)
	if err != nil {
		return err
	}
	p.IPChecksumOK = Checksum(b[:int(p.IP.IHL)*4], 0) == 0
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

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }
