package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/synprobe/synprobe/probe"
)

// topPorts is nmap's list of the 100 most common TCP ports (the ports
// `nmap -F` scans, from the frequencies in nmap-services).
var topPorts = []uint16{7, 9, 13, 21, 22, 23, 25, 26, 37, 53, 79, 80, 81, 88, 106, 110, 111, 113, 119, 135, 139, 143, 144, 179, 199,
	389, 427, 443, 444, 445, 465, 513, 514, 515, 543, 544, 548, 554, 587, 631, 646, 873, 990, 993, 995, 1025, 1026, 1027, 1028,
	1029, 1110, 1433, 1720, 1723, 1755, 1900, 2000, 2001, 2049, 2121, 2717, 3000, 3128, 3306, 3389, 3986, 4899, 5000, 5009, 5051,
	5060, 5101, 5190, 5357, 5432, 5631, 5666, 5800, 5900, 6000, 6001, 6646, 7070, 8000, 8008, 8009, 8080, 8081, 8443, 8888, 9100,
	9999, 10000, 32768, 49152, 49153, 49154, 49155, 49156, 49157}

// resolver looks up a host's addresses, of both families, in the order
// the system prefers them; tests replace it.
type resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// family is the address family a command takes: -4, -6, or both.
type family int

const (
	anyFamily family = iota
	only4
	only6
)

func (f family) String() string {
	switch f {
	case only4:
		return "IPv4"
	case only6:
		return "IPv6"
	}
	return "IP"
}

// takes reports whether a is of the family f takes.
func (f family) takes(a netip.Addr) bool {
	return f == anyFamily || a.Is4() == (f == only4)
}

// pick says which of a host name's addresses a target takes: those of
// fam, and only the first of them (in the resolver's order) with first.
// Addresses written as such must be of fam too.
type pick struct {
	fam   family
	first bool
}

// target is one TARGET argument, parsed.
type target struct {
	ranges []probe.AddrRange
	port   uint16 // from host:port; 0 when none
}

// parseTarget parses an IPv4 address, a CIDR, a range a.b.c.d-e.f.g.h,
// a host name, each optionally followed by :port; or an IPv6 address,
// CIDR or range (2001:db8::1-2001:db8::9), in brackets when followed by
// :port ([2001:db8::1]:443). A colon-rich target without brackets is an
// IPv6 address, never HOST:PORT. note receives remarks that are not
// errors (host bits set in a CIDR). Only a well-formed host name is
// looked up: anything made of numbers and dots (decimal, or 0x...
// hexadecimal) is an address or an error, never a name, and a name with
// a stray character (a space, a control character, a byte-order mark)
// or over DNS's lengths is refused as malformed (errMalformedHost)
// before it reaches a resolver.
func parseTarget(ctx context.Context, s string, lookup resolver, pk pick, note func(string)) (target, error) {
	var t target
	if s == "" {
		return t, fmt.Errorf("empty target")
	}
	q := quoted(s)
	var err error
	switch {
	case strings.HasPrefix(s, "["):
		host, rest, ok := strings.Cut(s[1:], "]")
		switch {
		case !ok:
			return t, fmt.Errorf("target %s: '[' without ']': want [IPv6-ADDRESS]:PORT", q)
		case rest != "" && rest[0] != ':':
			return t, fmt.Errorf("target %s: want [IPv6-ADDRESS]:PORT, nothing but :PORT after ']'", q)
		case rest != "":
			if t.port, err = parsePort(rest[1:]); err != nil {
				return t, fmt.Errorf("target %s: %w", q, err)
			}
		}
		if !strings.Contains(host, ":") {
			return t, fmt.Errorf("target %s: brackets are for an IPv6 address (%s without them)", q, host)
		}
		if t.ranges, err = parseHost6(host, note); err != nil {
			return t, fmt.Errorf("target %s: %w", q, err)
		}
	case strings.Count(s, ":") > 1:
		if t.ranges, err = parseHost6(s, note); err != nil {
			return t, fmt.Errorf("target %s: %w", q, err)
		}
	default:
		if t, err = parseTarget4(ctx, s, lookup, pk, note); err != nil {
			return t, fmt.Errorf("target %s: %w", q, err)
		}
	}
	for _, r := range t.ranges {
		if !pk.fam.takes(r.First) {
			return target{}, fmt.Errorf("target %s is %s, and %s takes %s addresses only", q, familyOf(r.First), pk.fam.flag(), pk.fam)
		}
	}
	return t, nil
}

func familyOf(a netip.Addr) family {
	if a.Is4() {
		return only4
	}
	return only6
}

// flag is the flag that chose f.
func (f family) flag() string {
	if f == only4 {
		return "-4"
	}
	return "-6"
}

// parseTarget4 parses an IPv4 address, CIDR or range, or a host name,
// each optionally followed by :port.
func parseTarget4(ctx context.Context, s string, lookup resolver, pk pick, note func(string)) (target, error) {
	var t target
	host := s
	if h, p, ok := strings.Cut(s, ":"); ok {
		port, err := parsePort(p)
		if err != nil {
			return t, err
		}
		host, t.port = h, port
	}
	if host == "" {
		return t, fmt.Errorf("no address or host name before the port")
	}
	switch {
	case strings.Contains(host, "/"):
		a, bits, _ := strings.Cut(host, "/")
		addr, err := parseIPv4(a)
		if err != nil {
			return t, err
		}
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 || n > 32 || (len(bits) > 1 && bits[0] == '0') {
			return t, fmt.Errorf("prefix length %s must be 0-32", quoteInput(bits))
		}
		p := netip.PrefixFrom(addr, n)
		if p.Masked().Addr() != addr {
			note(fmt.Sprintf("%s has host bits set; scanning %s", host, p.Masked()))
		}
		t.ranges = []probe.AddrRange{probe.RangeOf(p)}
	case isRange(host):
		a, b, _ := strings.Cut(host, "-")
		first, err := parseIPv4(a)
		if err != nil {
			return t, err
		}
		if b == "" {
			return t, fmt.Errorf("range has no end")
		}
		last, err := parseIPv4(b)
		if err != nil {
			return t, err
		}
		if last.Less(first) {
			return t, fmt.Errorf("range is inverted (%v comes after %v)", first, last)
		}
		t.ranges = []probe.AddrRange{{First: first, Last: last}}
	case looksLikeAddress(host):
		addr, err := parseIPv4(host)
		if err != nil {
			return t, err
		}
		t.ranges = []probe.AddrRange{{First: addr, Last: addr}}
	default:
		if err := checkHostName(host); err != nil {
			return t, err
		}
		addrs, err := lookup(ctx, host)
		if err != nil {
			return t, fmt.Errorf("host name does not resolve (%v)", resolveReason(err))
		}
		others := false
		for _, a := range addrs {
			if a = a.Unmap(); a.Zone() != "" || !a.IsValid() {
				continue // a link-local address with a zone: not a target yet
			}
			if !pk.fam.takes(a) {
				others = true
				continue
			}
			t.ranges = append(t.ranges, probe.AddrRange{First: a, Last: a})
			if pk.first {
				break
			}
		}
		switch {
		case len(t.ranges) > 0:
		case others:
			return t, fmt.Errorf("no %s address (only %s ones; without %s, those are probed)", pk.fam, otherFamily(pk.fam), pk.fam.flag())
		default:
			return t, fmt.Errorf("no address")
		}
	}
	return t, nil
}

func otherFamily(f family) family {
	if f == only4 {
		return only6
	}
	return only4
}

// parseHost6 parses an IPv6 address, CIDR (2001:db8::/120) or range
// (2001:db8::1-2001:db8::9), without a port.
func parseHost6(host string, note func(string)) ([]probe.AddrRange, error) {
	switch {
	case strings.Contains(host, "/"):
		a, bits, _ := strings.Cut(host, "/")
		addr, err := parseIPv6(a)
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 || n > 128 || (len(bits) > 1 && bits[0] == '0') {
			return nil, fmt.Errorf("prefix length %s must be 0-128", quoteInput(bits))
		}
		p := netip.PrefixFrom(addr, n)
		if p.Masked().Addr() != addr {
			note(fmt.Sprintf("%s has host bits set; scanning %s", host, p.Masked()))
		}
		return []probe.AddrRange{probe.RangeOf(p)}, nil
	case strings.Contains(host, "-"):
		a, b, _ := strings.Cut(host, "-")
		if a == "" || b == "" {
			return nil, fmt.Errorf("range has no %s", map[bool]string{true: "start", false: "end"}[a == ""])
		}
		if !strings.Contains(a, ":") || !strings.Contains(b, ":") {
			return nil, fmt.Errorf("range has one end IPv4, the other IPv6: both ends are of one family")
		}
		first, err := parseIPv6(a)
		if err != nil {
			return nil, err
		}
		last, err := parseIPv6(b)
		if err != nil {
			return nil, err
		}
		if last.Less(first) {
			return nil, fmt.Errorf("range is inverted (%v comes after %v)", first, last)
		}
		return []probe.AddrRange{{First: first, Last: last}}, nil
	}
	addr, err := parseIPv6(host)
	if err != nil {
		return nil, err
	}
	return []probe.AddrRange{{First: addr, Last: addr}}, nil
}

// errNotIPv6 is returned (wrapped, with the input and why) for a
// colon-rich target that is not an IPv6 address.
var errNotIPv6 = errors.New("not an IPv6 address")

// parseIPv6 accepts an IPv6 address without a zone, and not an
// IPv4-mapped one (::ffff:a.b.c.d, which names an IPv4 address).
func parseIPv6(s string) (netip.Addr, error) {
	if a, zone, ok := strings.Cut(s, "%"); ok {
		if _, err := netip.ParseAddr(a); err == nil && strings.Contains(a, ":") {
			return netip.Addr{}, fmt.Errorf("a zone (%s): IPv6 zones are not supported yet; --interface chooses the interface", quoteInput("%"+zone))
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		why := err.Error()
		if _, after, ok := strings.Cut(why, "): "); ok {
			why = after // netip repeats the input
		}
		return netip.Addr{}, fmt.Errorf("%s is %w: %s", quoteInput(s), errNotIPv6, why)
	}
	switch {
	case a.Is4():
		return netip.Addr{}, fmt.Errorf("%s is IPv4, where an IPv6 address is wanted", quoteInput(s))
	case a.Is4In6():
		return netip.Addr{}, fmt.Errorf("%s: %w: give the IPv4 address, %v", quoteInput(s), probe.ErrMapped, a.Unmap())
	}
	return a, nil
}

func looksNumeric(s string) bool {
	return strings.Trim(s, "0123456789.") == ""
}

// looksLikeAddress reports whether s is written as an IPv4 address of
// some form, so that it is read as one (and refused if it is not a
// dotted quad) rather than sent to DNS: numbers, decimal or 0x...
// hexadecimal, separated by dots, perhaps followed by a %zone. inet_aton
// and so getaddrinfo read 0x7f.1, 127.1 and 2130706433 as 127.0.0.1, and
// 010.0.0.1 as 8.0.0.1; a resolver might send them to a DNS server.
func looksLikeAddress(s string) bool {
	a, _, _ := strings.Cut(s, "%")
	for part := range strings.SplitSeq(a, ".") {
		if !looksNumeric(part) && !isHexNumber(part) {
			return false
		}
	}
	return a != ""
}

// isHexNumber reports whether s is 0x or 0X followed by hexadecimal
// digits (or none: inet_aton reads "0x" as 0).
func isHexNumber(s string) bool {
	if len(s) < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return false
	}
	return strings.Trim(s[2:], "0123456789abcdefABCDEF") == ""
}

// isRange reports whether host is written as a range of addresses,
// A.B.C.D-A.B.C.D (the end may be missing, an error reported as such):
// something written as an address (looksLikeAddress) on both sides of
// one '-'. Anything else with a '-' in it, web-host or
// no-such-host.invalid, is a host name.
func isRange(host string) bool {
	a, b, ok := strings.Cut(host, "-")
	return ok && a != "" && looksLikeAddress(a) && (b == "" || looksLikeAddress(b))
}

// resolveReason is the resolver's error without the repetition Go's
// *net.DNSError adds ("lookup NAME on SERVER: no such host").
func resolveReason(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return "no such host"
		}
		if de.IsTimeout {
			return "lookup timed out"
		}
		return de.Err
	}
	return err.Error()
}

// errNotIPv4 is returned (wrapped, with the input and why) for an
// address that is not a dotted quad.
var errNotIPv4 = errors.New("not an IPv4 address")

// parseIPv4 accepts dotted quads only: four decimal numbers 0-255
// without leading zeros. Its errors say what is wrong with the other
// forms inet_aton reads (127.1, 2130706433, 0x7f.0.0.1, 010.0.0.1),
// since each means something else to some other tool.
func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s is %w: %s", quoteInput(s), errNotIPv4, whyNotIPv4(s))
	}
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s is %w: it is IPv6", quoteInput(s), errNotIPv4)
	}
	return a, nil
}

// whyNotIPv4 says why s, which netip does not read, is not a dotted
// quad.
func whyNotIPv4(s string) string {
	const want = "want four numbers 0-255 without leading zeros"
	a, zone, hasZone := strings.Cut(s, "%")
	parts := strings.Split(a, ".")
	for _, p := range parts {
		if !looksNumeric(p) && !isHexNumber(p) {
			return want
		}
	}
	if hasZone {
		return fmt.Sprintf("an IPv4 address has no zone (%s); --interface chooses the interface", quoteInput("%"+zone))
	}
	for _, p := range parts {
		if isHexNumber(p) {
			return fmt.Sprintf("hexadecimal %s is not accepted; %s", p, want)
		}
	}
	switch {
	case slices.Contains(parts, ""):
		return "an empty number; " + want
	case len(parts) == 1:
		return "one number, not four: whole numbers (2130706433 for 127.0.0.1) are not accepted; " + want
	case len(parts) != 4:
		return fmt.Sprintf("%d numbers, not four: short forms (127.1 for 127.0.0.1) are not accepted; %s", len(parts), want)
	}
	for _, p := range parts {
		if len(p) > 1 && p[0] == '0' {
			return fmt.Sprintf("%s has a leading zero, which some tools read as octal; %s", p, want)
		}
		if n, err := strconv.Atoi(p); err != nil || n > 255 {
			return fmt.Sprintf("%s is more than 255", p)
		}
	}
	return want
}

// errMalformedHost is returned (wrapped, with why) for a host name that
// is not one: it is refused before any lookup.
var errMalformedHost = errors.New("malformed host name")

// checkHostName checks what a resolver would do best not to be asked:
// a name of at most 253 characters (one trailing dot apart: a fully
// qualified name), each dot-separated label of 1 to 63 letters, digits
// and hyphens, not starting or ending with a hyphen. Underscores are let
// through, as Go's resolver, Docker's DNS and /etc/hosts take them
// (compose services named db_1). A space (a trailing one from a copy and
// paste), a control character, a byte-order mark, a non-ASCII letter,
// a '%' zone: each is named, with where it is.
func checkHostName(host string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", errMalformedHost, fmt.Sprintf(format, a...))
	}
	n := 0
	for i, r := range host {
		n++
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(host[i:], "\uFFFD"):
			return bad("byte 0x%02x at character %d is not UTF-8 text", host[i], n)
		case r == '\uFEFF' && i == 0:
			return bad("it starts with a UTF-8 byte-order mark (U+FEFF): save the file, or copy the name, without it")
		case r == '\uFEFF':
			return bad("a byte-order mark (U+FEFF) at character %d", n)
		case r == ' ' && strings.TrimLeft(host[i:], " ") == "":
			return bad("it ends with a space")
		case r == ' ' && i == 0:
			return bad("it starts with a space")
		case r == ' ':
			return bad("a space at character %d (one target per argument, or per line)", n)
		case unicode.IsControl(r):
			return bad("a control character (%U) at character %d", r, n)
		case r == '%':
			return bad("'%%' at character %d: a zone (%%eth0) is for IPv6 addresses; --interface chooses the interface", n)
		case r >= utf8.RuneSelf:
			return bad("non-ASCII character %q (%U) at character %d: write an internationalised name in its xn-- (Punycode) form", r, r, n)
		case r != '.' && r != '-' && r != '_' && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'):
			return bad("%q at character %d: a host name has letters, digits, hyphens and dots", r, n)
		}
	}
	name := strings.TrimSuffix(host, ".")
	if len(name) > 253 {
		return bad("%d characters, more than 253", len(name))
	}
	for i, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return bad("label %d is empty (two dots in a row, or a dot at the start)", i+1)
		case len(label) > 63:
			return bad("label %d has %d characters, more than 63", i+1, len(label))
		case label[0] == '-':
			return bad("label %s starts with a hyphen", quoteInput(label))
		case label[len(label)-1] == '-':
			return bad("label %s ends with a hyphen", quoteInput(label))
		}
	}
	return nil
}

// quoted is s quoted by quoteInput when it is printed: most targets are
// parsed without an error, and need no quoting.
type quoted string

func (q quoted) String() string { return quoteInput(string(q)) }

// quoteInput quotes s for a message (as %q does), shortened beyond 64
// bytes: a message is one line a person reads, whatever was given.
func quoteInput(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, fmt.Errorf("empty port")
	}
	if s[0] == '-' || s[0] == '+' {
		return 0, fmt.Errorf("port %q must be 1-65535", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 || n > 65535 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("port %q must be 1-65535", s)
	}
	return uint16(n), nil
}

// parsePorts parses "22,80,443,8000-8100" into a sorted list without
// repeats.
func parsePorts(s string) ([]uint16, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty port list")
	}
	seen := make([]bool, 65536)
	var out []uint16
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("port list %q has an empty item", s)
		}
		lo, hi := item, item
		if a, b, ok := strings.Cut(item, "-"); ok && a != "" {
			lo, hi = a, b
			if b == "" {
				return nil, fmt.Errorf("port range %q has no end", item)
			}
		}
		l, err := parsePort(lo)
		if err != nil {
			return nil, err
		}
		h, err := parsePort(hi)
		if err != nil {
			return nil, err
		}
		if h < l {
			return nil, fmt.Errorf("port range %q is inverted", item)
		}
		for p := int(l); p <= int(h); p++ {
			if !seen[p] {
				seen[p] = true
				out = append(out, uint16(p))
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// readExcludeFile reads one target per line; '#' starts a comment. The
// file is read within readListFile's limits, and reading stops when ctx
// is cancelled (the error then wraps ctx.Err()). Every error names the
// file and, but for one opening it, the line.
func readExcludeFile(ctx context.Context, path string, lookup resolver, note func(string)) ([]probe.AddrRange, error) {
	var out []probe.AddrRange
	err := readListFile(ctx, "exclude file", path, func(_ int, s string) error {
		s, _, _ = strings.Cut(s, "#")
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
		t, err := parseExclude(ctx, s, lookup, note)
		out = append(out, t...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseExclude parses one target to leave out of a scan: every address
// of a host name, of both families (-4 and -6 choose what is probed, and
// leaving out more of the other family changes nothing). Exclusions are
// addresses only: a scan cannot leave out one port of an address, so
// 198.18.10.0/24:80 is refused rather than read as all of 198.18.10.0/24.
func parseExclude(ctx context.Context, s string, lookup resolver, note func(string)) ([]probe.AddrRange, error) {
	t, err := parseTarget(ctx, s, lookup, pick{}, note)
	if err != nil {
		return nil, err
	}
	if t.port != 0 {
		host, _, _ := strings.Cut(s, ":")
		if strings.HasPrefix(s, "[") {
			host, _, _ = strings.Cut(s[1:], "]")
		}
		return nil, fmt.Errorf("%q: an exclusion is an address, CIDR, range or host name without a port (did you mean %s?)", s, host)
	}
	return t.ranges, nil
}
