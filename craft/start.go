package craft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// SegmentStartLen is the least of a TCP segment SegmentStart reads after
// the IP header (IPv6: after its extension headers): the TCP header up to
// and including its flags.
const SegmentStartLen = 14

// SegmentStartLen6 is the least SegmentStart needs of an IPv6 SYN without
// extension headers: the 40-byte header and SegmentStartLen bytes of TCP,
// 54 bytes (an IPv4 SYN without options needs 34). A tap that keeps fewer
// bytes of each packet loses every IPv6 probe's start; each extension
// header the SYN carries needs its length more.
const SegmentStartLen6 = IPv6HeaderLen + SegmentStartLen

// SegmentStart is what the first bytes of an IPv4 or IPv6 TCP segment say:
// its addresses, ports, sequence number and flags. A copy of a sent packet
// cut short, as a packet tap's ring frame holds it, carries this much,
// where Packet.Decode wants the whole packet.
type SegmentStart struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq              uint32
	Flags            TCPFlags
}

// Decode parses the start of a TCP segment, IPv4 or IPv6 as the version
// nibble says: the IP header (IPv6: and its extension headers) and at
// least SegmentStartLen bytes after it. The total (IPv6: payload) length
// may exceed b, but not fall short of what b holds of the headers. Errors:
// ErrTruncated, ErrVersion, ErrHeaderLength, ErrTotalLength, ErrProtocol,
// ErrFragment (the start of a segment is only in the first fragment, and a
// first fragment is not a probe either), and for IPv6 ErrExtensionHeader.
func (s *SegmentStart) Decode(b []byte) error {
	if len(b) > 0 && b[0]>>4 == 6 {
		return s.decode6(b)
	}
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

func (s *SegmentStart) decode6(b []byte) error {
	if len(b) < IPv6HeaderLen {
		return fmt.Errorf("segment start: %d bytes: %w", len(b), ErrTruncated)
	}
	pl := int(binary.BigEndian.Uint16(b[4:]))
	rest := b[IPv6HeaderLen:]
	if len(rest) > pl {
		rest = rest[:pl] // link-layer padding, or a payload length too short for the headers
	}
	var e IPv6Ext
	if err := e.Walk(b[6], rest); err != nil {
		if len(rest) == pl && errors.Is(err, ErrTruncated) {
			return fmt.Errorf("segment start: payload length %d: %w", pl, ErrTotalLength)
		}
		return err
	}
	if len(b) < IPv6HeaderLen+e.Len+SegmentStartLen {
		return fmt.Errorf("segment start: %d bytes for a 40-byte IPv6 header, %d of extension headers and %d of TCP: %w", len(b), e.Len, SegmentStartLen, ErrTruncated)
	}
	if pl < e.Len+SegmentStartLen {
		return fmt.Errorf("segment start: payload length %d: %w", pl, ErrTotalLength)
	}
	if e.Protocol != ProtocolTCP {
		return fmt.Errorf("segment start: protocol %d: %w", e.Protocol, ErrProtocol)
	}
	if e.IsFragment() {
		return ErrFragment // bare, as from IPv4
	}
	t := rest[e.Len:]
	s.Src = netip.AddrFrom16([16]byte(b[8:24]))
	s.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	s.SrcPort = binary.BigEndian.Uint16(t[0:])
	s.DstPort = binary.BigEndian.Uint16(t[2:])
	s.Seq = binary.BigEndian.Uint32(t[4:])
	s.Flags = TCPFlags(t[13])
	return nil
}
