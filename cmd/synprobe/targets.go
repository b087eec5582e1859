package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/synprobe/synprobe/probe"
)

// topPorts is nmap's list of the 100 most common TCP ports (the ports
// `nmap -F` scans, from the frequencies in nmap-services).
var topPorts = []uint16{7, 9, 13, 21, 22, 23, 25, 26, 37, 53, 79, 80, 81, 88, 106, 110, 111, 113, 119, 135, 139, 143, 144, 179, 199,
	389, 427, 443, 444, 445, 465, 513, 514, 515, 543, 544, 548, 554, 587, 631, 646, 873, 990, 993, 995, 1025, 1026, 1027, 1028,
	1029, 1110, 1433, 1720, 1723, 1755, 1900, 2000, 2001, 2049, 2121, 2717, 3000, 3128, 3306, 3389, 3986, 4899, 5000, 5009, 5051,
	5060, 5101, 5190, 5357, 5432, 5631, 5666, 5800, 5900, 6000, 6001, 6646, 7070, 8000, 8008, 8009, 8080, 8081, 8443, 8888, 9100,
	9999, 10000, 32768, 49152, 49153, 49154, 49155, 49156, 49157}

// resolver looks up a host's IPv4 addresses; tests replace it.
type resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// target is one TARGET argument, parsed.
type target struct {
	ranges []probe.AddrRange
	port   uint16 // from host:port; 0 when none
}

// parseTarget parses an IPv4 address, a CIDR, a range a.b.c.d-e.f.g.h,
// a host name, each optionally followed by :port. note receives remarks
// that are not errors (host bits set in a CIDR).
func parseTarget(ctx context.Context, s string, lookup resolver, firstOnly bool, note func(string)) (target, error) {
	var t target
	if s == "" {
		return t, fmt.Errorf("empty target")
	}
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") > 1 {
		return t, fmt.Errorf("target %q: IPv6 is not supported yet", s)
	}
	host := s
	if h, p, ok := strings.Cut(s, ":"); ok {
		port, err := parsePort(p)
		if err != nil {
			return t, fmt.Errorf("target %q: %v", s, err)
		}
		host, t.port = h, port
	}
	switch {
	case strings.Contains(host, "/"):
		a, bits, _ := strings.Cut(host, "/")
		addr, err := parseIPv4(a)
		if err != nil {
			return t, fmt.Errorf("target %q: %v", s, err)
		}
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 || n > 32 || (len(bits) > 1 && bits[0] == '0') {
			return t, fmt.Errorf("target %q: prefix length %q must be 0-32", s, bits)
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
			return t, fmt.Errorf("target %q: %v", s, err)
		}
		if b == "" {
			return t, fmt.Errorf("target %q: range has no end", s)
		}
		last, err := parseIPv4(b)
		if err != nil {
			return t, fmt.Errorf("target %q: %v", s, err)
		}
		if last.Less(first) {
			return t, fmt.Errorf("target %q: range is inverted (%v comes after %v)", s, first, last)
		}
		t.ranges = []probe.AddrRange{{First: first, Last: last}}
	case looksNumeric(host):
		addr, err := parseIPv4(host)
		if err != nil {
			return t, fmt.Errorf("target %q: %v", s, err)
		}
		t.ranges = []probe.AddrRange{{First: addr, Last: addr}}
	default:
		addrs, err := lookup(ctx, host)
		if err != nil {
			return t, fmt.Errorf("target %q: host name does not resolve (%v)", s, resolveReason(err))
		}
		for _, a := range addrs {
			if a = a.Unmap(); a.Is4() {
				t.ranges = append(t.ranges, probe.AddrRange{First: a, Last: a})
				if firstOnly {
					break
				}
			}
		}
		if len(t.ranges) == 0 {
			return t, fmt.Errorf("target %q: no IPv4 address (IPv6 is not supported yet)", s)
		}
	}
	return t, nil
}

func looksNumeric(s string) bool {
	return strings.Trim(s, "0123456789.") == ""
}

// isRange reports whether host is written as a range of addresses,
// A.B.C.D-A.B.C.D (the end may be missing, an error reported as such):
// digits and dots on both sides of one '-'. Anything else with a '-' in
// it, web-host or no-such-host.invalid, is a host name.
func isRange(host string) bool {
	a, b, ok := strings.Cut(host, "-")
	return ok && a != "" && looksNumeric(a) && looksNumeric(b)
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

// parseIPv4 accepts dotted quads only: no leading zeros, octets 0-255.
func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address (four numbers 0-255 without leading zeros)", s)
	}
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q: IPv6 is not supported yet", s)
	}
	return a, nil
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

// readExcludeFile reads one target per line; '#' starts a comment.
func readExcludeFile(ctx context.Context, path string, lookup resolver, note func(string)) ([]probe.AddrRange, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("exclude file: %v", err)
	}
	defer f.Close()
	var out []probe.AddrRange
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s, _, _ := strings.Cut(sc.Text(), "#")
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		t, err := parseExclude(ctx, s, lookup, note)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		out = append(out, t...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("exclude file: %v", err)
	}
	return out, nil
}

// parseExclude parses one target to leave out of a scan. Exclusions are
// addresses only: a scan cannot leave out one port of an address, so
// 198.18.10.0/24:80 is refused rather than read as all of 198.18.10.0/24.
func parseExclude(ctx context.Context, s string, lookup resolver, note func(string)) ([]probe.AddrRange, error) {
	t, err := parseTarget(ctx, s, lookup, false, note)
	if err != nil {
		return nil, err
	}
	if t.port != 0 {
		host, _, _ := strings.Cut(s, ":")
		return nil, fmt.Errorf("%q: an exclusion is an address, CIDR, range or host name without a port (did you mean %s?)", s, host)
	}
	return t.ranges, nil
}
