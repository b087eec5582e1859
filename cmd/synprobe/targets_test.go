package main

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/synprobe/synprobe/probe"
)

// TestMalformedTargetsAreNotLookedUp: a host name that cannot be one, and
// a number that is not a dotted quad, are refused with the reason, before
// any lookup: exit 2, one line on stderr, nothing on stdout, nothing
// opened, the resolver never asked. Each is tried where a target is
// written: scan's arguments, --exclude, an exclude file, ping's and a
// check's HOST:PORT.
func TestMalformedTargetsAreNotLookedUp(t *testing.T) {
	long := strings.Repeat("a", 1007)
	labels := strings.Repeat("abcdefghi.", 25) + "abcd" // 254 characters
	for _, c := range []struct {
		host     string
		sentinel error // what parseTarget's error wraps; nil: none
		want     string
	}{
		{long, errMalformedHost, "malformed host name: 1007 characters, more than 253"},
		{labels, errMalformedHost, "malformed host name: 254 characters, more than 253"},
		{labels + ".", errMalformedHost, "malformed host name: 254 characters, more than 253"},
		{strings.Repeat("b", 64) + ".lab", errMalformedHost, "malformed host name: label 1 has 64 characters, more than 63"},
		{"\ufeffweb.lab", errMalformedHost, "malformed host name: it starts with a UTF-8 byte-order mark (U+FEFF)"},
		{"web\ufeff.lab", errMalformedHost, "malformed host name: a byte-order mark (U+FEFF) at character 4"},
		{"web.lab ", errMalformedHost, "malformed host name: it ends with a space"},
		{"web.lab  ", errMalformedHost, "malformed host name: it ends with a space"},
		{" web.lab", errMalformedHost, "malformed host name: it starts with a space"},
		{"web lab", errMalformedHost, "malformed host name: a space at character 4"},
		{"web\tlab", errMalformedHost, "malformed host name: a control character (U+0009) at character 4"},
		{"web.lab\r", errMalformedHost, "malformed host name: a control character (U+000D) at character 8"},
		{"web\x00", errMalformedHost, "malformed host name: a control character (U+0000) at character 4"},
		{"web%eth0", errMalformedHost, "malformed host name: '%' at character 4"},
		{"web!lab", errMalformedHost, `malformed host name: '!' at character 4`},
		{"bücher.example", errMalformedHost, "malformed host name: non-ASCII character 'ü' (U+00FC) at character 2"},
		{"\xffweb", errMalformedHost, "malformed host name: byte 0xff at character 1 is not UTF-8 text"},
		{"web..lab", errMalformedHost, "malformed host name: label 2 is empty"},
		{".web.lab", errMalformedHost, "malformed host name: label 1 is empty"},
		{"web.-lab", errMalformedHost, `malformed host name: label "-lab" starts with a hyphen`},
		{"web-.lab", errMalformedHost, `malformed host name: label "web-" ends with a hyphen`},
		{"0x7f.1", errNotIPv4, `"0x7f.1" is not an IPv4 address: hexadecimal 0x7f is not accepted`},
		{"0X7F.0.0.1", errNotIPv4, `"0X7F.0.0.1" is not an IPv4 address: hexadecimal 0X7F is not accepted`},
		{"0x7f000001", errNotIPv4, "hexadecimal 0x7f000001 is not accepted"},
		{"127.1", errNotIPv4, `"127.1" is not an IPv4 address: 2 numbers, not four`},
		{"198.19.0.1.5", errNotIPv4, "5 numbers, not four"},
		{"2130706433", errNotIPv4, `"2130706433" is not an IPv4 address: one number, not four`},
		{"198.19.0.1%eth0", errNotIPv4, `"198.19.0.1%eth0" is not an IPv4 address: an IPv4 address has no zone ("%eth0")`},
		{"010.0.0.1", errNotIPv4, `"010.0.0.1" is not an IPv4 address: 010 has a leading zero, which some tools read as octal`},
		{"198.19.0.256", errNotIPv4, "256 is more than 255"},
		{"198.19..1", errNotIPv4, "an empty number"},
		{"0x7f.0.0.1-0x7f.0.0.9", errNotIPv4, "hexadecimal 0x7f is not accepted"},
		{"198.19.0.1%eth0/24", errNotIPv4, "has no zone"},
		{"fe80::1%eth0", nil, `a zone ("%eth0"): IPv6 zones are not supported yet`},
		{"2001:db8::1::2", errNotIPv6, `"2001:db8::1::2" is not an IPv6 address: multiple :: in address`},
		{"2001:db8::g", errNotIPv6, "is not an IPv6 address"},
		{"::ffff:198.18.10.10", probe.ErrMapped, "give the IPv4 address, 198.18.10.10"},
		{"198.18.10.1-2001:2::9", nil, "range has one end IPv4, the other IPv6"},
		{"2001:2::1-198.18.10.9", nil, "range has one end IPv4, the other IPv6"},
		{"2001:2::/129", nil, "prefix length \"129\" must be 0-128"},
	} {
		if strings.Contains(c.host, ":") && !strings.Contains(c.host, "::") {
			t.Fatalf("%q: a case is a host, without a port", c.host)
		}
		hostPort := c.host + ":80" // ping's and check's form; an IPv6 one in brackets
		if strings.Contains(c.host, ":") {
			hostPort = "[" + c.host + "]:80"
		}
		// parseTarget itself: the sentinel, and no lookup.
		looked := false
		_, err := parseTarget(context.Background(), c.host, func(context.Context, string) ([]netip.Addr, error) {
			looked = true
			return nil, errors.New("no such host")
		}, pick{}, func(string) {})
		if err == nil || !strings.Contains(err.Error(), c.want) || looked || (c.sentinel != nil && !errors.Is(err, c.sentinel)) {
			t.Errorf("parseTarget(%q): %v, looked up %v; want %q, errors.Is %v", c.host, err, looked, c.want, c.sentinel)
		}

		exclude := t.TempDir() + "/exclude"
		writeFile(t, exclude, "198.18.10.1\n# a comment\n"+c.host+" # the line\n")
		// --mode raw: should a case pass, the engine refuses to open
		// (exit 3) rather than falling back to connect() and sending.
		for _, args := range [][]string{
			{"scan", c.host, "-p", "80", "--mode", "raw"},
			{"scan", "198.18.10.0/24", "-p", "80", "--mode", "raw", "--exclude", c.host},
			{"scan", "198.18.10.0/24", "-p", "80", "--mode", "raw", "--exclude-file", exclude},
			{"ping", hostPort, "--mode", "raw"},
			{"check", hostPort + "=open", "--mode", "raw"},
		} {
			file := args[len(args)-2] == "--exclude-file"
			switch {
			case file && strings.TrimSpace(c.host) != c.host:
				continue // an exclude file's lines are trimmed
			case args[len(args)-2] == "--exclude" && strings.Contains(c.host, "\r"):
				continue // a comma-separated flag's "\r" is dropped (encoding/csv)
			}
			r := runCtx(t, context.Background(), args...)
			if r.code != exitUsage || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "synprobe: ") ||
				!strings.Contains(r.stderr, c.want) || r.opened || len(r.lookups) != 0 {
				t.Errorf("%q: exit %d, opened %v, looked up %q, stdout %q, stderr %q; want exit 2 and %q", args, r.code, r.opened, r.lookups, r.stdout, r.stderr, c.want)
			}
			if file && !strings.HasPrefix(r.stderr, "synprobe: "+exclude+":3: ") {
				t.Errorf("%q: %q does not name the file and line 3", args, r.stderr)
			}
		}
	}
}

// TestWellFormedNamesAreLookedUp: what the checks let through reaches the
// resolver, as it was written: the longest name and label, a trailing
// dot, hyphens and underscores inside labels, digits.
func TestWellFormedNamesAreLookedUp(t *testing.T) {
	for _, host := range []string{
		strings.Repeat("abcdefghi.", 25) + "abc",             // 253 characters
		strings.Repeat("abcdefghi.", 25) + "abc.",            // and a dot
		strings.Repeat("c", 63) + ".lab",                     // the longest label
		"db_1.lab", "x-1.y--2.lab", "3com.lab", "a", "A.LAB", // underscore, hyphens, a digit first, one letter, capitals
		"198.18.10.1-web-host", // not a range: a name with a hyphen
		"deadbeef.lab",         // hexadecimal digits without 0x
		"0x7f.lab",             // a label that is not a number
	} {
		r := runCtx(t, context.Background(), "scan", host, "-p", "80", "--mode", "raw")
		if r.code != exitUsage || !strings.Contains(r.stderr, "does not resolve") || !slices.Equal(r.lookups, []string{host}) || r.opened {
			t.Errorf("%q: exit %d, looked up %q, stderr %q", host, r.code, r.lookups, r.stderr)
		}
	}
	// And a name the resolver knows is scanned (refused here by --mode
	// raw, exit 3, as the engine is reached).
	r := runCtx(t, context.Background(), "scan", "web-host.lab", "-p", "80", "--mode", "raw")
	if r.code != exitNoProbe || !r.opened || !slices.Equal(r.lookups, []string{"web-host.lab"}) {
		t.Errorf("web-host.lab: exit %d, opened %v, looked up %q, stderr %q", r.code, r.opened, r.lookups, r.stderr)
	}
}

// TestParseTargetIPv6: the IPv6 forms, and which of a host name's
// addresses each family and --first-address take (in the resolver's
// order; an IPv4-mapped answer is its IPv4 address).
func TestParseTargetIPv6(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "dual.lab" {
			return []netip.Addr{netip.MustParseAddr("2001:2:0:a::a"), netip.MustParseAddr("198.18.10.10"),
				netip.MustParseAddr("2001:2:0:a::b"), netip.MustParseAddr("::ffff:198.18.10.11")}, nil
		}
		return nil, errors.New("no such host")
	}
	one := func(s string) []probe.AddrRange {
		a := netip.MustParseAddr(s)
		return []probe.AddrRange{{First: a, Last: a}}
	}
	rng := func(a, b string) []probe.AddrRange {
		return []probe.AddrRange{{First: netip.MustParseAddr(a), Last: netip.MustParseAddr(b)}}
	}
	all := slices.Concat(one("2001:2:0:a::a"), one("198.18.10.10"), one("2001:2:0:a::b"), one("198.18.10.11"))
	for _, c := range []struct {
		in   string
		pk   pick
		want []probe.AddrRange
		port uint16
		err  string
	}{
		{"[2001:db8::1]:443", pick{}, one("2001:db8::1"), 443, ""},
		{"2001:2:0:a::a", pick{}, one("2001:2:0:a::a"), 0, ""},
		{"::1:80", pick{}, one("::1:80"), 0, ""}, // an address, never HOST:PORT
		{"[::1]", pick{}, one("::1"), 0, ""},
		{"2001:2:0:a::/120", pick{}, rng("2001:2:0:a::", "2001:2:0:a::ff"), 0, ""},
		{"[2001:2:0:a::/120]:22", pick{}, rng("2001:2:0:a::", "2001:2:0:a::ff"), 22, ""},
		{"2001:2::1-2001:2::9", pick{}, rng("2001:2::1", "2001:2::9"), 0, ""},
		{"::/0", pick{}, rng("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 0, ""}, // too large: the engine's to say
		{"dual.lab", pick{}, all, 0, ""},
		{"dual.lab:80", pick{first: true}, one("2001:2:0:a::a"), 80, ""},
		{"dual.lab", pick{fam: only4}, slices.Concat(one("198.18.10.10"), one("198.18.10.11")), 0, ""},
		{"dual.lab", pick{fam: only4, first: true}, one("198.18.10.10"), 0, ""},
		{"dual.lab", pick{fam: only6}, slices.Concat(one("2001:2:0:a::a"), one("2001:2:0:a::b")), 0, ""},
		{"dual.lab", pick{fam: only6, first: true}, one("2001:2:0:a::a"), 0, ""},
		{"2001:2:0:a::a", pick{fam: only4}, nil, 0, `target "2001:2:0:a::a" is IPv6, and -4 takes IPv4 addresses only`},
		{"198.18.10.10:80", pick{fam: only6}, nil, 0, `target "198.18.10.10:80" is IPv4, and -6 takes IPv6 addresses only`},
		{"2001:db8::1::2", pick{}, nil, 0, `target "2001:db8::1::2": "2001:db8::1::2" is not an IPv6 address: multiple :: in address`},
		{"[2001:db8::1]:0", pick{}, nil, 0, `port "0" must be 1-65535`},
		{"[2001:db8::1]:http", pick{}, nil, 0, `port "http" must be 1-65535`},
		{"[2001:db8::1]:", pick{}, nil, 0, "empty port"},
		{"[2001:db8::1]80", pick{}, nil, 0, "nothing but :PORT after ']'"},
		{"[2001:db8::1:80", pick{}, nil, 0, "'[' without ']'"},
		{"[198.18.10.10]:80", pick{}, nil, 0, "brackets are for an IPv6 address"},
		{"[dual.lab]:80", pick{}, nil, 0, "brackets are for an IPv6 address"},
		{"fe80::1%eth0", pick{}, nil, 0, `a zone ("%eth0"): IPv6 zones are not supported yet`},
		{"::ffff:198.18.10.10", pick{}, nil, 0, "IPv4-mapped IPv6 address names an IPv4 address: give the IPv4 address, 198.18.10.10"},
		{"2001:2::9-2001:2::1", pick{}, nil, 0, "range is inverted"},
		{"2001:2::1-", pick{}, nil, 0, "range has no end"},
		{"2001:2::1-198.18.10.1", pick{}, nil, 0, "one end IPv4, the other IPv6"},
		{"2001:2::/64-2001:3::", pick{}, nil, 0, "must be 0-128"},
	} {
		tg, err := parseTarget(context.Background(), c.in, lookup, c.pk, func(string) {})
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q %+v: %v, want error %q", c.in, c.pk, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(tg.ranges, c.want) || tg.port != c.port {
			t.Errorf("%q %+v: %v port %d, %v; want %v port %d", c.in, c.pk, tg.ranges, tg.port, err, c.want, c.port)
		}
	}
}

// TestIPv6Input: through the command, each bad IPv6 target, flag or
// family is one line, exit 2, nothing opened (and a name looked up only
// where one is given); each good one reaches the engine (exit 3 here:
// --mode raw, and no raw sockets), with the names looked up and the
// source address the engine is opened with.
func TestIPv6Input(t *testing.T) {
	raw := []string{"--mode", "raw"}
	for _, c := range []struct {
		args    []string
		want    string // in the one line of a refusal; "" for a good one
		lookups []string
		source  string // --source-ip as the engine got it
	}{
		{[]string{"scan", "2001:db8::1::2"}, "is not an IPv6 address: multiple :: in address", nil, ""},
		{[]string{"scan", "fe80::1%eth0", "-p", "80"}, "IPv6 zones are not supported yet", nil, ""},
		{[]string{"ping", "[::1]"}, "want [IPv6-ADDRESS]:PORT", nil, ""},
		{[]string{"ping", "2001:2:0:a::a"}, "want [IPv6-ADDRESS]:PORT", nil, ""},
		{[]string{"check", "[::1]=open"}, "want [IPv6-ADDRESS]:PORT", nil, ""},
		{[]string{"check", "2001:2:0:a::a:80=open"}, "want [IPv6-ADDRESS]:PORT", nil, ""},
		{[]string{"scan", "[::1]:0"}, `port "0" must be 1-65535`, nil, ""},
		{[]string{"ping", "[2001:db8::1]:99999"}, `port "99999" must be 1-65535`, nil, ""},
		{[]string{"scan", "::/0", "-p", "80"}, "::/0 holds 2^128 addresses: too many addresses to walk (at most 2^24 a range); use --sample N", nil, ""},
		{[]string{"scan", "2001:db8::/64", "-p", "80"}, "2001:db8::/64 holds 2^64 addresses: too many addresses to walk", nil, ""},
		{[]string{"scan", "::ffff:198.18.10.10"}, "give the IPv4 address, 198.18.10.10", nil, ""},
		{[]string{"scan", "198.18.10.1-2001:2::9"}, "one end IPv4, the other IPv6", nil, ""},
		{[]string{"scan", "-4", "-6", "dual.lab"}, "-4 and -6 exclude each other", nil, ""},
		{[]string{"scan", "-6", "web.lab"}, `target "web.lab": no IPv6 address (only IPv4 ones; without -6, those are probed)`, []string{"web.lab"}, ""},
		{[]string{"ping", "-4", "v6only.lab:80"}, "no IPv4 address", []string{"v6only.lab"}, ""},
		{[]string{"scan", "-4", "2001:2:0:a::a"}, "is IPv6, and -4 takes IPv4 addresses only", nil, ""},
		{[]string{"check", "-6", "198.18.10.10:80=open"}, "is IPv4, and -6 takes IPv6 addresses only", nil, ""},
		{[]string{"scan", "2001:2:0:a::a", "--source-ip", "2001:db8::1::2"}, "--source-ip: \"2001:db8::1::2\" is not an IPv6 address", nil, ""},
		{[]string{"scan", "2001:2:0:a::a", "--source-ip", "fe80::1%eth0"}, "--source-ip: a zone", nil, ""},
		{[]string{"scan", "-4", "198.18.10.10", "--source-ip", "2001:2::1"}, "--source-ip 2001:2::1 is IPv6, and -4 takes IPv4 addresses only", nil, ""},
		{[]string{"scan", "2001:2:0:a::/120", "--exclude", "2001:db8::1::2"}, "--exclude: target \"2001:db8::1::2\"", nil, ""},
		{[]string{"scan", "2001:2:0:a::/120", "--exclude", "[2001:2:0:a::1]:80"}, "did you mean 2001:2:0:a::1?", nil, ""},
		{[]string{"scan", "2001:2:0:a::/120", "--exclude", "2001:2:0:a::/120"}, "nothing to scan: every target is excluded", nil, ""},
		{[]string{"scan", "2001:2:0:a::/120", "--exclude", "dual.lab,2001:2:0:a::/121,2001:2:0:a::80-2001:2:0:a::ff"}, "nothing to scan", []string{"dual.lab"}, ""},
		{[]string{"scan", "2001:db8::/64", "--sample", "0", "-p", "80"}, "too many addresses to walk", nil, ""}, // 0: no sample
		{[]string{"scan", "2001:db8::/64", "--sample", "16777217", "-p", "80"}, "--sample must be 1-16777216", nil, ""},

		{[]string{"scan", "[2001:db8::1]:443"}, "", nil, ""},
		{[]string{"scan", "2001:2:0:a::a", "2001:2:0:a::/120", "2001:2::1-2001:2::9", "198.18.10.10", "-p", "80"}, "", nil, ""},
		{[]string{"scan", "dual.lab", "v6only.lab", "-p", "80"}, "", []string{"dual.lab", "v6only.lab"}, ""},
		{[]string{"scan", "-6", "--first-address", "dual.lab", "-p", "80"}, "", []string{"dual.lab"}, ""},
		{[]string{"scan", "2001:db8::/64", "--sample", "100", "-p", "80", "--exclude", "2001:db8::/65"}, "", nil, ""},
		{[]string{"scan", "2001:2:0:a::/120", "--source-ip", "2001:2::1"}, "", nil, "2001:2::1"},
		{[]string{"ping", "[2001:2:0:a::a]:80"}, "", nil, ""},
		{[]string{"ping", "-6", "dual.lab:80"}, "", []string{"dual.lab"}, ""},
		{[]string{"check", "[2001:2:0:a::a]:80=open", "dual.lab:22=closed", "--source-ip", "2001:2::1"}, "", []string{"dual.lab"}, "2001:2::1"},
	} {
		r := runCtx(t, context.Background(), append(c.args, raw...)...)
		if c.want != "" {
			if r.code != exitUsage || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "synprobe: ") ||
				!strings.Contains(r.stderr, c.want) || r.opened || !slices.Equal(r.lookups, c.lookups) {
				t.Errorf("%q: exit %d, opened %v, looked up %q, stdout %q, stderr %q; want exit 2, %q, looked up %q",
					c.args, r.code, r.opened, r.lookups, r.stdout, r.stderr, c.want, c.lookups)
			}
			continue
		}
		if r.code != exitNoProbe || !r.opened || r.stdout != "" || !slices.Equal(r.lookups, c.lookups) ||
			r.openCfg.Source.String() != cmp.Or(c.source, "invalid IP") {
			t.Errorf("%q: exit %d, opened %v (source %v), looked up %q, stderr %q; want exit 3 from the engine, looked up %q",
				c.args, r.code, r.opened, r.openCfg.Source, r.lookups, r.stderr, c.lookups)
		}
	}
}
