package craft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IPv6 header constants and the next-header values craft knows (IANA
// "Assigned Internet Protocol Numbers").
const (
	IPv6HeaderLen = 40

	ProtocolICMPv6 = 58

	IPv6HopByHop     = 0  // hop-by-hop options (RFC 8200 4.3)
	IPv6Routing      = 43 // routing (RFC 8200 4.4)
	IPv6Fragment     = 44 // fragment (RFC 8200 4.5)
	IPv6NoNextHeader = 59 // nothing follows (RFC 8200 4.7)
	IPv6DestOpts     = 60 // destination options (RFC 8200 4.6)
)

// IPv6 holds every field of the fixed IPv6 header (RFC 8200 section 3).
// Parsing fills it from the wire; Encode writes it, computing the payload
// length. Extension headers are not part of it: IPv6Ext walks them.
type IPv6 struct {
	Version      uint8  // 6; Encode always writes 6
	TrafficClass uint8  // DSCP (upper 6 bits) and ECN (lower 2)
	FlowLabel    uint32 // 20 bits; Encode writes the low 20
	// PayloadLen counts every byte after the fixed header, extension
	// headers included. 0 with a jumbo payload option (RFC 2675), which
	// craft does not read: such a packet is too short for its chain.
	PayloadLen uint16
	NextHeader uint8 // the first extension header, or the upper layer
	HopLimit   uint8
	Src, Dst   netip.Addr
}

// DSCP is the differentiated services code point (upper 6 bits of the
// traffic class).
func (h *IPv6) DSCP() uint8 { return h.TrafficClass >> 2 }

// ECN is the explicit congestion notification field (lower 2 bits of the
// traffic class).
func (h *IPv6) ECN() uint8 { return h.TrafficClass & 3 }

// is6 reports whether a is an IPv6 address that can go into an IPv6
// header as it is. IPv4-mapped addresses are refused: PseudoHeaderSum and
// TCPChecksum read them as IPv4, so a packet carrying them would get an
// IPv4 pseudo-header sum, and RFC 4291 section 2.5.5.2 keeps them off the
// wire anyway.
func is6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// Encode writes the header into b for a payload (extension headers and
// upper layer) of payloadLen bytes and returns IPv6HeaderLen. It sets
// h.Version and h.PayloadLen to the values it writes. Src and Dst must be
// IPv6 addresses, not IPv4-mapped ones.
func (h *IPv6) Encode(b []byte, payloadLen int) (int, error) {
	if len(b) < IPv6HeaderLen {
		return 0, fmt.Errorf("IPv6 encode: need %d bytes, have %d: %w", IPv6HeaderLen, len(b), ErrShortBuffer)
	}
	if !is6(h.Src) || !is6(h.Dst) {
		return 0, fmt.Errorf("IPv6 encode %v > %v: %w", h.Src, h.Dst, ErrAddress)
	}
	if payloadLen < 0 || payloadLen > 0xffff {
		return 0, fmt.Errorf("IPv6 encode: payload of %d bytes: %w", payloadLen, ErrTotalLength)
	}
	h.Version = 6
	h.PayloadLen = uint16(payloadLen)
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(h.TrafficClass)<<20|h.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:], h.PayloadLen)
	b[6] = h.NextHeader
	b[7] = h.HopLimit
	s, d := h.Src.As16(), h.Dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return IPv6HeaderLen, nil
}

// Decode parses the fixed IPv6 header at the start of b into h and returns
// the payload (extension headers and upper layer), trimmed to the payload
// length so that link-layer padding is dropped. The payload aliases b; h
// does not. Errors: ErrTruncated, ErrVersion, ErrTotalLength (a payload
// length past the end of b).
func (h *IPv6) Decode(b []byte) (payload []byte, err error) {
	if len(b) < IPv6HeaderLen {
		return nil, fmt.Errorf("IPv6 header: %d bytes: %w", len(b), ErrTruncated)
	}
	h.decodeFixed(b)
	if h.Version != 6 {
		return nil, fmt.Errorf("IPv6 header: version %d: %w", h.Version, ErrVersion)
	}
	if pl := int(h.PayloadLen); pl > len(b)-IPv6HeaderLen {
		return nil, fmt.Errorf("IPv6 header: payload length %d, only %d bytes: %w", pl, len(b)-IPv6HeaderLen, ErrTotalLength)
	}
	return b[IPv6HeaderLen : IPv6HeaderLen+int(h.PayloadLen)], nil
}

// decodeFixed reads the 40 bytes of b into h and checks nothing: an ICMPv6
// quote's payload length describes the original packet, not the quote.
func (h *IPv6) decodeFixed(b []byte) {
	w := binary.BigEndian.Uint32(b)
	h.Version = uint8(w >> 28)
	h.TrafficClass = uint8(w >> 20)
	h.FlowLabel = w & 0xfffff
	h.PayloadLen = binary.BigEndian.Uint16(b[4:])
	h.NextHeader = b[6]
	h.HopLimit = b[7]
	h.Src = netip.AddrFrom16([16]byte(b[8:24]))
	h.Dst = netip.AddrFrom16([16]byte(b[24:40]))
}

// MaxIPv6ExtHeaders bounds the extension-header walk. RFC 8200 section 4.1
// recommends an order in which each header appears once (destination
// options twice): 6 headers. Two more leave room for the odd repeat
// without letting a hostile chain of 2,048-byte headers cost much.
const MaxIPv6ExtHeaders = 8

// IPv6Ext is what a walk of an IPv6 extension-header chain found: the
// headers in wire order, the fragment header's fields, the routing
// header's segments left, and where the upper-layer header starts. It
// holds copies, nothing that points into the packet; IPv6Ext values
// compare with ==.
type IPv6Ext struct {
	// Protocol is the upper-layer protocol: the first next-header value
	// that is not an IPv6 extension header (TCP, ICMPv6, UDP, no next
	// header ...). After a non-first fragment it is the fragment header's
	// next header, which names what the first fragment carries.
	Protocol uint8
	// Len is the length of the extension headers: the upper-layer header
	// starts Len bytes after the fixed header.
	Len int

	// Kinds lists the extension headers in wire order; Count of them.
	Kinds [MaxIPv6ExtHeaders]uint8
	Count int

	// HasFragment reports a fragment header (RFC 8200 4.5); FragOff is its
	// offset in 8-byte units, MoreFragments its M flag, FragID its
	// identification. A fragment header with offset 0 and M clear is an
	// atomic fragment (RFC 6946): the whole packet, not a fragment.
	HasFragment   bool
	FragOff       uint16
	MoreFragments bool
	FragID        uint32

	// HasRouting reports a routing header; SegmentsLeft is its segments
	// left field (RFC 8200 4.4): above 0, the destination address is a
	// waypoint, not where the packet ends.
	HasRouting   bool
	RoutingType  uint8
	SegmentsLeft uint8
}

// KindList is the extension header types in wire order.
func (e *IPv6Ext) KindList() []uint8 { return e.Kinds[:min(max(e.Count, 0), len(e.Kinds))] }

// IsFragment reports whether the chain holds a fragment header that makes
// the packet a fragment (not an atomic one).
func (e *IPv6Ext) IsFragment() bool { return e.HasFragment && (e.FragOff != 0 || e.MoreFragments) }

// isIPv6Ext reports whether nh is one of IANA's IPv6 extension header
// types ("IPv6 Extension Header Types").
func isIPv6Ext(nh uint8) bool {
	switch nh {
	case IPv6HopByHop, IPv6Routing, IPv6Fragment, IPv6DestOpts,
		50,       // ESP (RFC 4303)
		51,       // AH (RFC 4302)
		135,      // Mobility (RFC 6275)
		139,      // HIP (RFC 7401)
		140,      // Shim6 (RFC 5533)
		253, 254: // experimentation and testing (RFC 3692, RFC 4727)
		return true
	}
	return false
}

// Walk walks the extension-header chain that starts with next header nh at
// the start of b (the bytes after the fixed IPv6 header) up to the
// upper-layer header, and records it in e. Every header's length is
// checked against b before it is read, and at most MaxIPv6ExtHeaders are
// walked.
//
// Hop-by-hop, routing, fragment and destination options headers are
// walked; the chain ends at the first value that is not an extension
// header (e.Protocol). Errors:
//   - ErrTruncated: a header runs past the end of b;
//   - ErrExtensionHeader: an extension header craft does not parse (ESP,
//     AH, ...: e.Protocol is its type), hop-by-hop anywhere but first, a
//     second fragment or routing header (RFC 8200 4.1 allows one each), or
//     a chain longer than MaxIPv6ExtHeaders;
//   - ErrFragment, bare: a non-first fragment; e holds the chain up to and
//     including its fragment header, and nothing after it can be read.
//
// A first fragment is walked to its upper-layer header; e.IsFragment says
// what it is. Walk allocates nothing unless it returns a wrapped error.
func (e *IPv6Ext) Walk(nh uint8, b []byte) error {
	*e = IPv6Ext{}
	off := 0
	for isIPv6Ext(nh) {
		if e.Count == MaxIPv6ExtHeaders {
			return fmt.Errorf("IPv6 extension headers: more than %d: %w", MaxIPv6ExtHeaders, ErrExtensionHeader)
		}
		h := b[off:]
		hl := 8 // the fragment header's length, and the least of any other
		switch nh {
		case IPv6HopByHop, IPv6Routing, IPv6DestOpts:
			if nh == IPv6HopByHop && e.Count != 0 {
				return fmt.Errorf("IPv6 extension headers: hop-by-hop at position %d: %w", e.Count+1, ErrExtensionHeader)
			}
			if nh == IPv6Routing && e.HasRouting {
				return fmt.Errorf("IPv6 extension headers: second routing header: %w", ErrExtensionHeader)
			}
			if len(h) >= 2 {
				hl = (int(h[1]) + 1) * 8
			}
		case IPv6Fragment:
			if e.HasFragment {
				return fmt.Errorf("IPv6 extension headers: second fragment header: %w", ErrExtensionHeader)
			}
		default:
			e.Protocol = nh
			return fmt.Errorf("IPv6 extension header %d at offset %d: not walked: %w", nh, off, ErrExtensionHeader)
		}
		if len(h) < hl {
			return fmt.Errorf("IPv6 extension header %d at offset %d: %d bytes of %d: %w", nh, off, len(h), hl, ErrTruncated)
		}
		e.Kinds[e.Count] = nh
		e.Count++
		off += hl
		switch nh {
		case IPv6Routing:
			e.HasRouting, e.RoutingType, e.SegmentsLeft = true, h[2], h[3]
		case IPv6Fragment:
			fo := binary.BigEndian.Uint16(h[2:])
			e.HasFragment, e.FragOff, e.MoreFragments = true, fo>>3, fo&1 != 0
			e.FragID = binary.BigEndian.Uint32(h[4:])
			if e.FragOff != 0 {
				e.Protocol, e.Len = h[0], off
				return ErrFragment // bare: e holds the details, and no allocation
			}
		}
		nh = h[0]
	}
	e.Protocol, e.Len = nh, off
	return nil
}
