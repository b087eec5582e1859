package craft

import "errors"

// Sentinel errors. Parsers wrap them with detail; test with errors.Is.
var (
	// ErrTruncated: the buffer ends before the header (or an option, or a
	// quote) it announces.
	ErrTruncated = errors.New("truncated packet")
	// ErrVersion: an IPv4 header whose version field is not 4.
	ErrVersion = errors.New("IP version is not 4")
	// ErrHeaderLength: IHL below 5 words, or a TCP data offset below 5.
	ErrHeaderLength = errors.New("header length field too small")
	// ErrTotalLength: an IPv4 total length smaller than the header or larger
	// than the bytes captured.
	ErrTotalLength = errors.New("IPv4 total length inconsistent with buffer")
	// ErrFragment: the packet is a fragment (MF set or non-zero offset). The
	// IPv4 header is still parsed; the transport header may be missing.
	ErrFragment = errors.New("IPv4 fragment")
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
	// 8 bytes (RFC 792's minimum).
	ErrShortQuote = errors.New("ICMP quote shorter than IP header + 8 bytes")
	// ErrQuoteHeader: the IPv4 header quoted in an ICMP error is not a
	// valid IPv4 header (version or IHL).
	ErrQuoteHeader = errors.New("ICMP quoted IPv4 header invalid")
	// ErrICMPType: an ICMP message that is neither destination unreachable
	// nor time exceeded; Type and Code are still reported.
	ErrICMPType = errors.New("ICMP type is not an error synprobe matches")
	// ErrProtocol: an IPv4 payload that is neither TCP nor ICMP.
	ErrProtocol = errors.New("IP protocol is neither TCP nor ICMP")
	// ErrAddress: an address that is not IPv4 where one is required.
	ErrAddress = errors.New("address is not IPv4")
	// ErrLayout: an unknown SYN option layout name.
	ErrLayout = errors.New("unknown SYN option layout")
)
