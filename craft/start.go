package craft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// SegmentStartLen is the least of an IPv4 TCP segment SegmentStart reads
// after the IPv4 header: the TCP header up to and including its flags.
const SegmentStartLen = 14

// SegmentStart is what the first bytes of an IPv4 TCP segment say: its
// addresses, ports, sequence number and flags. A copy of a sent packet cut
// short, as a packet tap's ring frame holds it, carries this much, where
// Packet.Decode wants the whole packet.
type SegmentStart struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq              uint32
	Flags            TCPFlags
}

// Decode parses the start of an IPv4 TCP segment: the IPv4 header and at
// least SegmentStartLen bytes after it. The total length may exceed b, but
// not fall short of what b holds of the headers. Errors: ErrTruncated,
// ErrVersion, ErrHeaderLength, ErrTotalLength, ErrProtocol, ErrFragment
// (the start of a segment is only in the first fragment, and a
// first fragment is not a probe either).
func (s *SegmentStart) Decode(b []byte) error {
	if len(b) < IPv4MinHeaderLen {
		return fmt.Errorf("segment start: %d bytes: %w", len(b), ErrTruncated)
	}
	if v := b[0] >> 4; v != 4 {
		return fmt.Errorf("segment start: version %d: %w", v, ErrVersion)
	}
	ihl := b[0] & 0xf
	if ihl < 5 {
		return fmt.Errorf("segment start: IHL %d: %w", ihl, ErrHeaderLength)
	}
	hl := int(ihl) * 4
	if len(b) < hl+SegmentStartLen {
		return fmt.Errorf("segment start: %d bytes for a %d-byte IPv4 header and %d of TCP: %w", len(b), hl, SegmentStartLen, ErrTruncated)
	}
	if tl := int(binary.BigEndian.Uint16(b[2:])); tl < hl+SegmentStartLen {
		return fmt.Errorf("segment start: total length %d: %w", tl, ErrTotalLength)
	}
	if b[9] != ProtocolTCP {
		return fmt.Errorf("segment start: protocol %d: %w", b[9], ErrProtocol)
	}
	if ff := binary.BigEndian.Uint16(b[6:]); ff&0x3fff != 0 {
		return ErrFragment // bare, as from IPv4.Decode
	}
	t := b[hl:]
	s.Src = netip.AddrFrom4([4]byte(b[12:16]))
	s.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	s.SrcPort = binary.BigEndian.Uint16(t[0:])
	s.DstPort = binary.BigEndian.Uint16(t[2:])
	s.Seq = binary.BigEndian.Uint32(t[4:])
	s.Flags = TCPFlags(t[13])
	return nil
}
