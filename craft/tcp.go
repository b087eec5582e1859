package craft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// TCP header constants.
const (
	TCPMinHeaderLen = 20
	TCPMaxHeaderLen = 60
	TCPMaxOptions   = TCPMaxHeaderLen - TCPMinHeaderLen
)

// TCPFlags are the eight TCP control bits (RFC 9293, RFC 3168).
type TCPFlags uint8

const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

var flagLetters = [8]byte{'F', 'S', 'R', 'P', '.', 'U', 'E', 'W'}

// String gives the flags as tcpdump prints them: "S", "S.", "R.", "FP." ...
func (f TCPFlags) String() string {
	var b [8]byte
	n := 0
	for i, c := range flagLetters {
		if f&(1<<i) != 0 {
			b[n] = c
			n++
		}
	}
	if n == 0 {
		return "none"
	}
	return string(b[:n])
}

// TCP holds every field of a TCP header and its options.
type TCP struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	DataOffset       uint8 // header length in 32-bit words
	Reserved         uint8 // the 4 bits between data offset and flags
	Flags            TCPFlags
	Window           uint16
	Checksum         uint16
	Urgent           uint16

	// RawOptions holds the option bytes as on the wire, padding included;
	// OptionsLen of them are used. Encode pads to a multiple of 4 with zeros.
	RawOptions [TCPMaxOptions]byte
	OptionsLen uint8
	// Options is what Decode parsed out of RawOptions; Encode ignores it.
	Options TCPOptions
}

// HeaderLen is the length Encode writes: 20 bytes plus the options padded
// to a multiple of 4.
func (t *TCP) HeaderLen() int { return TCPMinHeaderLen + (int(t.OptionsLen)+3)&^3 }

// SetOptions copies raw option bytes (for example from an OptionWriter)
// into the header.
func (t *TCP) SetOptions(opts []byte) error {
	if len(opts) > TCPMaxOptions {
		return fmt.Errorf("TCP: %d bytes: %w", len(opts), ErrOptionsTooLong)
	}
	t.OptionsLen = uint8(copy(t.RawOptions[:], opts))
	return nil
}

// Encode writes the header into b and returns its length. It sets
// t.DataOffset; the checksum field is written as t.Checksum, which is
// usually left zero and filled by SetTCPChecksum (or use BuildTCP).
func (t *TCP) Encode(b []byte) (int, error) {
	if t.OptionsLen > TCPMaxOptions {
		return 0, fmt.Errorf("TCP encode: OptionsLen %d: %w", t.OptionsLen, ErrOptionsTooLong)
	}
	hl := t.HeaderLen()
	if len(b) < hl {
		return 0, fmt.Errorf("TCP encode: need %d bytes, have %d: %w", hl, len(b), ErrShortBuffer)
	}
	t.DataOffset = uint8(hl / 4)
	binary.BigEndian.PutUint16(b[0:], t.SrcPort)
	binary.BigEndian.PutUint16(b[2:], t.DstPort)
	binary.BigEndian.PutUint32(b[4:], t.Seq)
	binary.BigEndian.PutUint32(b[8:], t.Ack)
	b[12] = t.DataOffset<<4 | t.Reserved&0xf
	b[13] = uint8(t.Flags)
	binary.BigEndian.PutUint16(b[14:], t.Window)
	binary.BigEndian.PutUint16(b[16:], t.Checksum)
	binary.BigEndian.PutUint16(b[18:], t.Urgent)
	n := copy(b[20:hl], t.RawOptions[:t.OptionsLen])
	clear(b[20+n : hl])
	return hl, nil
}

// Decode parses the TCP header at the start of seg (a whole segment, as the
// IPv4 payload) into t, options included, and returns the payload, which
// aliases seg. An advisory ErrWScaleClamped is returned with a fully parsed
// header; any other error means t is incomplete.
func (t *TCP) Decode(seg []byte) (payload []byte, err error) {
	if len(seg) < TCPMinHeaderLen {
		return nil, fmt.Errorf("TCP header: %d bytes: %w", len(seg), ErrTruncated)
	}
	t.SrcPort = binary.BigEndian.Uint16(seg[0:])
	t.DstPort = binary.BigEndian.Uint16(seg[2:])
	t.Seq = binary.BigEndian.Uint32(seg[4:])
	t.Ack = binary.BigEndian.Uint32(seg[8:])
	t.DataOffset = seg[12] >> 4
	t.Reserved = seg[12] & 0xf
	t.Flags = TCPFlags(seg[13])
	t.Window = binary.BigEndian.Uint16(seg[14:])
	t.Checksum = binary.BigEndian.Uint16(seg[16:])
	t.Urgent = binary.BigEndian.Uint16(seg[18:])
	t.OptionsLen = 0
	t.Options = TCPOptions{}
	if t.DataOffset < 5 {
		return nil, fmt.Errorf("TCP header: data offset %d: %w", t.DataOffset, ErrHeaderLength)
	}
	hl := int(t.DataOffset) * 4
	if hl > len(seg) {
		return nil, fmt.Errorf("TCP header: data offset %d needs %d bytes, have %d: %w", t.DataOffset, hl, len(seg), ErrDataOffset)
	}
	t.OptionsLen = uint8(copy(t.RawOptions[:], seg[20:hl]))
	err = t.Options.Parse(t.RawOptions[:t.OptionsLen])
	if err != nil && err != ErrWScaleClamped {
		return nil, err
	}
	return seg[hl:], err
}

// TCPChecksum computes the checksum of a TCP segment (header with a zero
// checksum field, or with the field included to verify: a correct segment
// then yields 0) over PseudoHeaderSum's pseudo-header: IPv4's for IPv4
// addresses, IPv6's (RFC 8200 8.1) for IPv6 ones.
func TCPChecksum(src, dst netip.Addr, seg []byte) uint16 {
	return Checksum(seg, PseudoHeaderSum(src, dst, ProtocolTCP, uint16(len(seg))))
}

// SetTCPChecksum computes and writes the checksum of the TCP segment seg
// (header and payload) sent from src to dst. A seg too short to hold a TCP
// header is left alone and 0 returned.
func SetTCPChecksum(src, dst netip.Addr, seg []byte) uint16 {
	if len(seg) < TCPMinHeaderLen {
		return 0
	}
	seg[16], seg[17] = 0, 0
	c := TCPChecksum(src, dst, seg)
	binary.BigEndian.PutUint16(seg[16:], c)
	return c
}

// BuildTCP writes a whole IPv4+TCP packet with no payload into dst, for
// instance the RST that ends a half-open handshake: it fills both length
// fields and both checksums (and sets ip.Protocol to TCP) and returns the
// packet's length.
func BuildTCP(dst []byte, ip *IPv4, tcp *TCP) (int, error) {
	ip.Protocol = ProtocolTCP
	thl := tcp.HeaderLen()
	ihl, err := ip.Encode(dst, thl)
	if err != nil {
		return 0, err
	}
	if _, err := tcp.Encode(dst[ihl:]); err != nil {
		return 0, err
	}
	tcp.Checksum = SetTCPChecksum(ip.Src, ip.Dst, dst[ihl:ihl+thl])
	return ihl + thl, nil
}

// BuildTCP6 is BuildTCP for IPv6: it writes a whole IPv6+TCP packet with no
// extension headers and no payload into dst, filling the payload length and
// the TCP checksum over the IPv6 pseudo-header (and setting ip.NextHeader
// to TCP), and returns the packet's length.
func BuildTCP6(dst []byte, ip *IPv6, tcp *TCP) (int, error) {
	ip.NextHeader = ProtocolTCP
	thl := tcp.HeaderLen()
	if _, err := ip.Encode(dst, thl); err != nil {
		return 0, err
	}
	seg := dst[IPv6HeaderLen:]
	if _, err := tcp.Encode(seg); err != nil {
		return 0, err
	}
	seg = seg[:thl]
	seg[16], seg[17] = 0, 0
	tcp.Checksum = Checksum(seg, pseudoHeaderSum6(ip.Src, ip.Dst, ProtocolTCP, uint32(thl)))
	binary.BigEndian.PutUint16(seg[16:], tcp.Checksum)
	return IPv6HeaderLen + thl, nil
}
