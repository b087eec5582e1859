package main

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
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
		{"fe80::1%eth0", nil, "IPv6 is not supported yet"},
	} {
		if strings.Contains(c.host, ":") && !strings.Contains(c.host, "::") {
			t.Fatalf("%q: a case is a host, without a port", c.host)
		}
		// parseTarget itself: the sentinel, and no lookup.
		looked := false
		_, err := parseTarget(context.Background(), c.host, func(context.Context, string) ([]netip.Addr, error) {
			looked = true
			return nil, errors.New("no such host")
		}, false, func(string) {})
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
			{"ping", c.host + ":80", "--mode", "raw"},
			{"check", c.host + ":80=open", "--mode", "raw"},
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
