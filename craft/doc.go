// Package craft builds and parses IPv4, IPv6 (with its extension headers),
// TCP, ICMPv4 and ICMPv6 headers by hand.
//
// Building writes into a caller-supplied buffer; parsing fills caller-owned
// structs and copies every value out of the input, so nothing in a parsed
// header points into the buffer it came from and the buffer may be reused at
// once (the payload slices IPv4.Decode, IPv6.Decode and TCP.Decode return
// are the one exception, and say so). Neither building nor parsing allocates; only an
// error about a malformed packet, which carries detail, does. craft does no
// I/O, logs nothing and imports only the standard library: the kernel's
// raw-socket quirks live in package raw.
//
// The fixtures in testdata are packets the Linux kernel sent in network
// namespaces, each with the line tcpdump printed for it; the tests check
// craft against those lines and against gopacket, an independent decoder.
//
// Hostile input is the normal case for a scanner: every parser bounds-checks
// before it reads and reports what is wrong with a sentinel error that
// callers test with errors.Is.
package craft
