package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseTarget: no panics; an accepted target is ranges in order, both
// ends of one family, no IPv4-mapped address, no zone, with a port
// 1-65535 if any; an address, range or CIDR (IPv4 or IPv6) written back
// as FIRST-LAST reads back as the same range; a malformed host name or
// address is refused without a lookup.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"198.18.10.10", "198.18.10.10:80", "198.18.10.0/24", "198.18.10.7/24", "198.19.0.1-198.19.0.40", "web-host",
		"web-host:443", "no-such-host.invalid", "198.18.10.1-", "-", "-1", "1-2", "0.0.0.0/0", "255.255.255.255/32",
		"198.18.010.1", "198.18.10.256", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/08", "[::1]:80", "::1", "a:b:c", ":80",
		"1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:+80", "1.2.3.4-1.2.3.3", "1.2.3.4/24-1.2.3.5", "1.2.3.4-1.2.3.5/24",
		// Forms that are not dotted quads, and malformed names: refused
		// before any lookup.
		"0x7f.1", "127.1", "2130706433", "198.19.0.1%eth0", "010.0.0.1", "0x7f.0.0.1-0x7f.0.0.9", "web-host ", "\ufeffweb-host",
		"web\thost", "web..host", "-web", "web-.host", "b\xfccher", "web_host", strings.Repeat("a", 64), strings.Repeat("a.", 127) + "a",
		// IPv6: brackets and ports, prefixes, ranges, and what is refused
		// (two ::, a zone, IPv4-mapped, one end of each family).
		"[2001:db8::1]:443", "2001:2:0:a::a", "2001:2:0:a::/120", "2001:2::1-2001:2::9", "2001:db8::1::2", "fe80::1%eth0",
		"[fe80::1%eth0]:80", "::ffff:198.18.10.10", "198.18.10.1-2001:2::9", "[::1]", "[::1]:", "[198.18.10.1]:80", "::/0",
	} {
		f.Add(s)
	}
	var looked bool
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		looked = true
		if host == "web-host" {
			return []netip.Addr{netip.MustParseAddr("198.18.10.10"), netip.MustParseAddr("::ffff:198.18.10.11"), netip.MustParseAddr("2001:db8::1")}, nil
		}
		return nil, errors.New("no such host")
	}
	f.Fuzz(func(t *testing.T, s string) {
		looked = false
		tg, err := parseTarget(context.Background(), s, lookup, pick{}, func(string) {})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "target ") && !strings.HasPrefix(err.Error(), "empty") {
				t.Fatalf("%q: error %q does not name the target", s, err)
			}
			if looked && (errors.Is(err, errMalformedHost) || errors.Is(err, errNotIPv4)) {
				t.Fatalf("%q: looked up, then refused: %v", s, err)
			}
			return
		}
		if len(tg.ranges) == 0 {
			t.Fatalf("%q: accepted with no address", s)
		}
		for _, r := range tg.ranges {
			if r.First.Is4() != r.Last.Is4() || r.First.Is4In6() || r.Last.Is4In6() || r.First.Zone() != "" || r.Last.Less(r.First) {
				t.Fatalf("%q: range %v-%v", s, r.First, r.Last)
			}
		}
		if !looked && len(tg.ranges) == 1 {
			r := tg.ranges[0]
			back, err := parseTarget(context.Background(), fmt.Sprintf("%v-%v", r.First, r.Last), lookup, pick{}, func(string) {})
			if err != nil || len(back.ranges) != 1 || back.ranges[0] != r {
				t.Fatalf("%q: %v-%v reads back as %+v, %v", s, r.First, r.Last, back, err)
			}
		}
	})
}

// FuzzParsePorts: no panics; an accepted list is sorted, without repeats,
// in 1-65535, and written back as a comma list (or as ranges) it reads
// back the same.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"22", "22,80,443,8000-8100", "1-65535", "443,22,80-82,22", "0", "65536", "-5", "22,,80", "1-",
		"90-80", "", " ", "-", "1--2", "01", "+1", "1-2-3", "80 , 81"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePorts(s)
		if err != nil {
			return
		}
		if len(ps) == 0 || !slices.IsSorted(ps) || len(slices.Compact(slices.Clone(ps))) != len(ps) || ps[0] == 0 {
			t.Fatalf("%q: %v", s, ps)
		}
		var list, ranges []string
		for _, p := range ps {
			list = append(list, strconv.Itoa(int(p)))
		}
		for i := 0; i < len(ps); i++ {
			j := i
			for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
				j++
			}
			ranges = append(ranges, fmt.Sprintf("%d-%d", ps[i], ps[j]))
			i = j
		}
		i := 0
		for _, form := range [][]string{list, ranges} {
			back, err := parsePorts(strings.Join(form, ","))
			if err != nil || !slices.Equal(back, ps) {
				t.Fatalf("%q: form %d reads back as %v, %v", s, i, back, err)
			}
			i++
		}
	})
}

// FuzzParseShard: no panics; an accepted K/N has 1 <= K <= N and reads
// back the same from "K/N".
func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"1/1", "3/4", "0/2", "3/2", "1/0", "-1/2", "1/", "/", "", "a/b", "1/2/3", "+1/2", "99999999999999999999/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, n, err := parseShard(s)
		if err != nil {
			return
		}
		if k < 1 || k > n {
			t.Fatalf("%q: %d/%d", s, k, n)
		}
		k2, n2, err := parseShard(fmt.Sprintf("%d/%d", k, n))
		if err != nil || k2 != k || n2 != n {
			t.Fatalf("%q: %d/%d reads back as %d/%d, %v", s, k, n, k2, n2, err)
		}
	})
}
