package craft

import (
	"encoding/binary"
	"net/netip"
)

// Sum adds b to the running one's complement sum initial as 16-bit
// big-endian words (RFC 1071), padding an odd last byte with zero. The
// result is not folded: pass it on to Sum again or to Fold.
func Sum(b []byte, initial uint32) uint32 {
	s := uint64(initial)
	// Eight bytes at a time into a 64-bit accumulator; carries are folded
	// at the end, which RFC 1071 section 2(B) shows is equivalent.
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>32 != 0 {
		s = s&0xffffffff + s>>32
	}
	return uint32(s)
}

// Fold folds a running sum to 16 bits with end-around carry.
func Fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// Checksum is the internet checksum of b on top of the running sum initial:
// the one's complement of the folded sum. A header whose checksum field is
// correct sums, with that field included, to 0xffff, so Checksum over it
// is 0.
func Checksum(b []byte, initial uint32) uint16 { return ^Fold(Sum(b, initial)) }

// PseudoHeaderSum is the unfolded sum of the pseudo-header that a TCP (or
// UDP, ICMPv6) checksum covers. For two IPv4 addresses (IPv4-mapped IPv6
// ones included) it is RFC 9293's: source, destination, zero, protocol and
// the segment length. Otherwise it is RFC 8200's IPv6 pseudo-header, with
// the 16-byte form of each address (zero for an invalid one), so IPv6 can
// come without a new API and no input panics.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length uint16) uint32 {
	src, dst = src.Unmap(), dst.Unmap()
	if src.Is4() && dst.Is4() {
		s, d := src.As4(), dst.As4()
		return Sum(d[:], Sum(s[:], uint32(proto)+uint32(length)))
	}
	s, d := src.As16(), dst.As16()
	return Sum(d[:], Sum(s[:], uint32(proto)+uint32(length)))
}

// Update16 returns the checksum of a header after one of its 16-bit words
// changed from old to new, given the checksum before: RFC 1624 equation 3,
// HC' = ~(~HC + ~m + m'). It never yields the 0xffff/0x0000 ambiguity that
// RFC 1624 section 3 warns of for the older equation 2.
func Update16(check, old, new uint16) uint16 {
	s := uint32(^check) + uint32(^old) + uint32(new)
	return ^Fold(s)
}

// Update32 is Update16 for a 32-bit field (two words), such as a sequence
// number or an IPv4 address.
func Update32(check uint16, old, new uint32) uint16 {
	s := uint32(^check) +
		uint32(^uint16(old>>16)) + uint32(uint16(new>>16)) +
		uint32(^uint16(old)) + uint32(uint16(new))
	return ^Fold(s)
}

// pseudoHeaderSum6 is RFC 8200 section 8.1's pseudo-header over the
// 16-byte forms of src and dst, whatever they are: the IPv6 paths use it
// so that an IPv4-mapped address read off an IPv6 packet is summed as the
// 16 bytes it was on the wire, not as IPv4 (PseudoHeaderSum unmaps). The
// upper-layer length is 32 bits there; craft's never exceed 16.
func pseudoHeaderSum6(src, dst netip.Addr, proto uint8, length uint32) uint32 {
	s, d := src.As16(), dst.As16()
	return Sum(d[:], Sum(s[:], uint32(proto)+length>>16+length&0xffff))
}
