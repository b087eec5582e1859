package craft

import "errors"

// Sentinel errors. Parsers wrap them with detail; test with errors.Is.
var (
	// ErrTruncated: the buffer ends before the header (or an option, or a
	// quote) it announces.
	ErrTruncated = errors.New("truncated packet")
	// ErrVersion: an IP header whose version field is not the one expected
	// (4 for IPv4, 6 for IPv6; a Packet or SegmentStart reads either).
	ErrVersion = errors.New("unexpected IP version")
	// ErrHeaderLength: IHL below 5 words, or a TCP data offset below 5.
	ErrHeaderLength = errors.New("header length field too small")
	// ErrTotalLength: an IPv4 total length smaller than the header or larger
	// than the bytes captured, or an IPv6 payload length larger than them.
	ErrTotalLength = errors.New("IP length field inconsistent with buffer")
	// ErrFragment: the packet is a fragment (IPv4: MF set or non-zero
	// offset; IPv6: a fragment header with either). The IP header is still
	// parsed (for IPv6, with the extension headers up to the fragment
	// header); the transport header may be missing.
	ErrFragment = errors.New("IP fragment")
	// ErrExtensionHeader: an IPv6 extension-header chain craft does not
	// walk to its end: a header it does not parse (AH, ESP, Mobility, HIP,
	// Shim6, experimental), a hop-by-hop header anywhere but first, a
	// second fragment or routing header, more than MaxIPv6ExtHeaders
	// headers, or (Packet.Decode) a routing header with segments left: the
	// packet is not at its final destination.
	ErrExtensionHeader = errors.New("IPv6 extension header chain not walked")
	// ErrDataOffset: a TCP data offset that points past the captured bytes.
	ErrDataOffset = errors.New("TCP data offset past end of segment")
	// ErrOptionLength: a TCP option with length byte 0 or 1.
	ErrOptionLength = errors.New("TCP option length below 2")
	// ErrOptionOverrun: a TCP option that runs past the end of the header.
	ErrOptionOverrun = errors.New("TCP option runs past header")
	// ErrOptionBadLength: a known TCP option with the wrong length (MSS must
	// be 4, window scale 3, SACK-permitted 2, timestamps 10, SACK 2+8n).
	ErrOptionBadLength = errors.New("TCP option has wrong length for its kind")
	// ErrWScaleClamped is advisory: a window scale above 14 was clamped to
	// 14 as RFC 7323 section 2.3 says. Every option is still parsed.
	ErrWScaleClamped = errors.New("TCP window scale above 14, clamped to 14")
	// ErrOptionsTooLong: more than 40 bytes of options to encode.
	ErrOptionsTooLong = errors.New("options longer than 40 bytes")
	// ErrShortBuffer: the destination buffer is too small to build into.
	ErrShortBuffer = errors.New("destination buffer too short")
	// ErrShortQuote: an ICMP error that quotes less than the IPv4 header plus
	// 8 bytes (RFC 792's minimum), or an ICMPv6 error that quotes less than
	// the IPv6 header, its extension headers and 8 bytes.
	ErrShortQuote = errors.New("ICMP quote shorter than IP header + 8 bytes")
	// ErrQuoteHeader: the IP header quoted in an ICMP error is not a valid
	// header of the error's family (version, or IHL for IPv4).
	ErrQuoteHeader = errors.New("ICMP quoted IP header invalid")
	// ErrICMPType: an ICMP message that is neither destination unreachable
	// nor time exceeded (ICMPv6: nor packet too big or parameter problem);
	// Type and Code are still reported.
	ErrICMPType = errors.New("ICMP type is not an error synprobe matches")
	// ErrProtocol: an IP payload (for IPv6, the upper-layer header after
	// the extension headers) that is neither TCP nor ICMP (ICMPv6).
	ErrProtocol = errors.New("IP protocol is neither TCP nor ICMP")
	// ErrAddress: an address of the wrong family for the header (IPv4
	// where IPv4 is required, IPv6 and not IPv4-mapped where IPv6 is), or
	// two of different families.
	ErrAddress = errors.New("address of the wrong family")
	// ErrLayout: an unknown SYN option layout name.
	ErrLayout = errors.New("unknown SYN option layout")
)
