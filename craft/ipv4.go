package craft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IPv4 header constants.
const (
	IPv4MinHeaderLen = 20
	IPv4MaxHeaderLen = 60
	IPv4MaxOptions   = IPv4MaxHeaderLen - IPv4MinHeaderLen

	ProtocolICMP = 1
	ProtocolTCP  = 6
)

// IPv4Flags are the three flag bits of the IPv4 header (RFC 791).
type IPv4Flags uint8

const (
	FlagMF       IPv4Flags = 1 << iota // more fragments
	FlagDF                             // don't fragment
	FlagReserved                       // must be zero (RFC 3514's "evil bit")
)

// IPv4 holds every field of an IPv4 header. Parsing fills it from the wire;
// Encode writes it, computing IHL, total length and checksum.
type IPv4 struct {
	Version  uint8 // 4; Encode always writes 4
	IHL      uint8 // header length in 32-bit words
	TOS      uint8 // DSCP (upper 6 bits) and ECN (lower 2)
	TotalLen uint16
	ID       uint16
	Flags    IPv4Flags
	FragOff  uint16 // fragment offset in 8-byte units (13 bits)
	TTL      uint8
	Protocol uint8
	Checksum uint16
	Src, Dst netip.Addr

	// Options holds the option bytes as on the wire, padding included;
	// OptionsLen of them are used. Encode pads to a multiple of 4 with
	// zeros (end of option list).
	Options    [IPv4MaxOptions]byte
	OptionsLen uint8
}

// DSCP is the differentiated services code point (upper 6 bits of TOS).
func (h *IPv4) DSCP() uint8 { return h.TOS >> 2 }

// ECN is the explicit congestion notification field (lower 2 bits of TOS).
func (h *IPv4) ECN() uint8 { return h.TOS & 3 }

// DF reports whether the don't-fragment flag is set.
func (h *IPv4) DF() bool { return h.Flags&FlagDF != 0 }

// IsFragment reports whether the header belongs to a fragment.
func (h *IPv4) IsFragment() bool { return h.Flags&FlagMF != 0 || h.FragOff != 0 }

// HeaderLen is the length Encode writes: 20 bytes plus the options padded
// to a multiple of 4.
func (h *IPv4) HeaderLen() int { return IPv4MinHeaderLen + (int(h.OptionsLen)+3)&^3 }

// SetOptions copies opts into the header's options.
func (h *IPv4) SetOptions(opts []byte) error {
	if len(opts) > IPv4MaxOptions {
		return fmt.Errorf("IPv4: %d bytes: %w", len(opts), ErrOptionsTooLong)
	}
	h.OptionsLen = uint8(copy(h.Options[:], opts))
	return nil
}

// Encode writes the header into b for a payload of payloadLen bytes and
// returns the header length. It sets h.IHL, h.TotalLen and h.Checksum to
// the values it writes. Src and Dst must be IPv4 addresses.
func (h *IPv4) Encode(b []byte, payloadLen int) (int, error) {
	if h.OptionsLen > IPv4MaxOptions {
		return 0, fmt.Errorf("IPv4 encode: OptionsLen %d: %w", h.OptionsLen, ErrOptionsTooLong)
	}
	hl := h.HeaderLen()
	if len(b) < hl {
		return 0, fmt.Errorf("IPv4 encode: need %d bytes, have %d: %w", hl, len(b), ErrShortBuffer)
	}
	if !h.Src.Is4() || !h.Dst.Is4() {
		return 0, fmt.Errorf("IPv4 encode %v > %v: %w", h.Src, h.Dst, ErrAddress)
	}
	if payloadLen < 0 || hl+payloadLen > 0xffff {
		return 0, fmt.Errorf("IPv4 encode: payload of %d bytes: %w", payloadLen, ErrTotalLength)
	}
	h.Version = 4
	h.IHL = uint8(hl / 4)
	h.TotalLen = uint16(hl + payloadLen)
	b[0] = 4<<4 | h.IHL
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:], h.TotalLen)
	binary.BigEndian.PutUint16(b[4:], h.ID)
	binary.BigEndian.PutUint16(b[6:], uint16(h.Flags&7)<<13|h.FragOff&0x1fff)
	b[8] = h.TTL
	b[9] = h.Protocol
	b[10], b[11] = 0, 0
	s, d := h.Src.As4(), h.Dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	n := copy(b[20:hl], h.Options[:h.OptionsLen])
	clear(b[20+n : hl])
	h.Checksum = Checksum(b[:hl], 0)
	binary.BigEndian.PutUint16(b[10:], h.Checksum)
	return hl, nil
}

// Decode parses the IPv4 header at the start of b into h and returns the
// payload, trimmed to the total length (so link-layer padding is dropped).
// The payload aliases b; h does not. A fragment is parsed and reported with
// ErrFragment alongside its payload.
func (h *IPv4) Decode(b []byte) (payload []byte, err error) {
	if len(b) < IPv4MinHeaderLen {
		return nil, fmt.Errorf("IPv4 header: %d bytes: %w", len(b), ErrTruncated)
	}
	h.Version = b[0] >> 4
	h.IHL = b[0] & 0xf
	if h.Version != 4 {
		return nil, fmt.Errorf("IPv4 header: version %d: %w", h.Version, ErrVersion)
	}
	if h.IHL < 5 {
		return nil, fmt.Errorf("IPv4 header: IHL %d: %w", h.IHL, ErrHeaderLength)
	}
	hl := int(h.IHL) * 4
	if len(b) < hl {
		return nil, fmt.Errorf("IPv4 header: IHL %d needs %d bytes, have %d: %w", h.IHL, hl, len(b), ErrTruncated)
	}
	h.TOS = b[1]
	h.TotalLen = binary.BigEndian.Uint16(b[2:])
	h.ID = binary.BigEndian.Uint16(b[4:])
	ff := binary.BigEndian.Uint16(b[6:])
	h.Flags = IPv4Flags(ff >> 13)
	h.FragOff = ff & 0x1fff
	h.TTL = b[8]
	h.Protocol = b[9]
	h.Checksum = binary.BigEndian.Uint16(b[10:])
	h.Src = netip.AddrFrom4([4]byte(b[12:16]))
	h.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	h.OptionsLen = uint8(copy(h.Options[:], b[20:hl]))
	tl := int(h.TotalLen)
	if tl < hl {
		return nil, fmt.Errorf("IPv4 header: total length %d below header length %d: %w", tl, hl, ErrTotalLength)
	}
	if tl > len(b) {
		return nil, fmt.Errorf("IPv4 header: total length %d, only %d bytes: %w", tl, len(b), ErrTotalLength)
	}
	if h.IsFragment() {
		return b[hl:tl], ErrFragment // bare: h holds the details, and no allocation
	}
	return b[hl:tl], nil
}

// IPv4ChecksumValid reports whether the header checksum in b (an IPv4 header
// as on the wire) is correct.
func IPv4ChecksumValid(b []byte) bool {
	if len(b) < IPv4MinHeaderLen {
		return false
	}
	hl := int(b[0]&0xf) * 4
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return false
	}
	return Checksum(b[:hl], 0) == 0
}
