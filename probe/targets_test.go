package probe

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func TestTargetSetAgainstBruteForce(t *testing.T) {
	// A small universe lets a map of every address be the oracle.
	rng := rand.New(rand.NewPCG(1, 2))
	base := uint32(198<<24 | 18<<16)
	for iter := 0; iter < 200; iter++ {
		var in, ex []AddrRange
		want := map[uint32]bool{}
		for range 1 + rng.IntN(5) {
			lo := base + uint32(rng.IntN(300))
			hi := lo + uint32(rng.IntN(40))
			in = append(in, AddrRange{addrOf(lo), addrOf(hi)})
			for v := lo; v <= hi; v++ {
				want[v] = true
			}
		}
		for range rng.IntN(4) {
			lo := base + uint32(rng.IntN(300))
			hi := lo + uint32(rng.IntN(20))
			ex = append(ex, AddrRange{addrOf(lo), addrOf(hi)})
			for v := lo; v <= hi; v++ {
				delete(want, v)
			}
		}
		ts, err := NewTargetSet(in, ex)
		if err != nil {
			t.Fatal(err)
		}
		if ts.Len() != uint64(len(want)) {
			t.Fatalf("iter %d: Len = %d, want %d", iter, ts.Len(), len(want))
		}
		prev := uint32(0)
		for i := uint64(0); i < ts.Len(); i++ {
			v := u32(ts.At(i))
			if j, ok := ts.Index(addrOf(v)); !ok || j != i {
				t.Fatalf("iter %d: Index(At(%d)) = %d, %v", iter, i, j, ok)
			}
			if !want[v] || (i > 0 && v <= prev) {
				t.Fatalf("iter %d: At(%d) = %v: not in set or not ascending", iter, i, addrOf(v))
			}
			prev = v
		}
		for v := base; v < base+400; v++ {
			if ts.Contains(addrOf(v)) != want[v] {
				t.Fatalf("iter %d: Contains(%v) = %v", iter, addrOf(v), !want[v])
			}
		}
	}
}

func TestTargetSetEdges(t *testing.T) {
	all, err := NewTargetSet([]AddrRange{RangeOf(netip.MustParsePrefix("0.0.0.0/0"))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if all.Len() != 1<<32 || all.At(1<<32-1) != netip.MustParseAddr("255.255.255.255") {
		t.Fatalf("0/0: Len %d, last %v", all.Len(), all.At(1<<32-1))
	}
	r := RangeOf(netip.MustParsePrefix("198.19.7.9/16"))
	if r.First != netip.MustParseAddr("198.19.0.0") || r.Last != netip.MustParseAddr("198.19.255.255") {
		t.Fatalf("RangeOf = %v", r)
	}
	if _, err := NewTargetSet([]AddrRange{{netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("198.18.0.1")}}, nil); err == nil {
		t.Fatal("inverted range accepted")
	}
}

// rng6 is the range a-b; a alone is one address, a prefix its range.
func rng6(s string) AddrRange {
	if p, err := netip.ParsePrefix(s); err == nil {
		return RangeOf(p)
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		return AddrRange{mustAddr(s[:i]), mustAddr(s[i+1:])}
	}
	return AddrRange{mustAddr(s), mustAddr(s)}
}

func TestTargetSetBothFamilies(t *testing.T) {
	for _, c := range []struct {
		name        string
		include     []string
		exclude     []string
		len         uint64
		at          map[uint64]string // index -> address, each checked both ways
		notContains []string
	}{
		{name: "the lowest address", include: []string{"::"}, len: 1, at: map[uint64]string{0: "::"}},
		{name: "the highest address", include: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, len: 1,
			at: map[uint64]string{0: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{name: "a range to the top", include: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
			exclude: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff8/125"}, len: 8,
			at:          map[uint64]string{0: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0", 7: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff7"},
			notContains: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{name: "a /112", include: []string{"2001:db8::7:0/112"}, len: 65536,
			at:          map[uint64]string{0: "2001:db8::7:0", 1: "2001:db8::7:1", 65535: "2001:db8::7:ffff"},
			notContains: []string{"2001:db8::6:ffff", "2001:db8::8:0"}},
		{name: "a /104, the largest walked", include: []string{"2001:db8::/104"}, len: 1 << 24,
			at: map[uint64]string{1<<24 - 1: "2001:db8::ff:ffff"}},
		{name: "a range across a 64-bit boundary", include: []string{"2001:db8:0:1:ffff:ffff:ffff:fffe-2001:db8:0:2::1"}, len: 4,
			at: map[uint64]string{1: "2001:db8:0:1:ffff:ffff:ffff:ffff", 2: "2001:db8:0:2::"}},
		{name: "mixed families (IPv4 sorts as ::ffff:a.b.c.d)", include: []string{"2001:db8::1", "198.18.0.0/31", "::1", "255.255.255.255"}, len: 5,
			at:          map[uint64]string{0: "::1", 1: "198.18.0.0", 2: "198.18.0.1", 3: "255.255.255.255", 4: "2001:db8::1"},
			notContains: []string{"::ffff:198.18.0.0", "0.0.0.0", "::"}},
		{name: "0.0.0.0 and :: are two targets", include: []string{"0.0.0.0", "::"}, len: 2,
			at: map[uint64]string{0: "::", 1: "0.0.0.0"}},
		{name: "excludes split ranges of both families", include: []string{"2001:db8::/120", "198.18.0.0/24"},
			exclude: []string{"2001:db8::10-2001:db8::1f", "2001:db8::ff", "198.18.0.128/25", "198.18.0.0"}, len: 256 - 17 + 127,
			at:          map[uint64]string{0: "198.18.0.1", 126: "198.18.0.127", 127: "2001:db8::", 142: "2001:db8::f", 143: "2001:db8::20", 365: "2001:db8::fe"},
			notContains: []string{"2001:db8::10", "2001:db8::1f", "2001:db8::ff", "198.18.0.128"}},
		{name: "an exclude of the other family changes nothing", include: []string{"198.18.0.0/30"}, exclude: []string{"::/0"}, len: 4},
		{name: "an excluded /0 of IPv6", include: []string{"2001:db8::/120", "198.18.0.1"}, exclude: []string{"::/0"}, len: 1,
			at: map[uint64]string{0: "198.18.0.1"}},
		{name: "overlapping and adjacent ranges merge", include: []string{"2001:db8::/127", "2001:db8::1-2001:db8::3", "2001:db8::4"}, len: 5,
			at: map[uint64]string{4: "2001:db8::4"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var in, ex []AddrRange
			for _, s := range c.include {
				in = append(in, rng6(s))
			}
			for _, s := range c.exclude {
				ex = append(ex, rng6(s))
			}
			ts, err := NewTargetSet(in, ex)
			if err != nil {
				t.Fatal(err)
			}
			if ts.Len() != c.len {
				t.Fatalf("Len = %d, want %d", ts.Len(), c.len)
			}
			for i, a := range c.at {
				if got := ts.At(i); got != mustAddr(a) {
					t.Errorf("At(%d) = %v, want %s", i, got, a)
				}
				if j, ok := ts.Index(mustAddr(a)); !ok || j != i {
					t.Errorf("Index(%s) = %d, %v, want %d", a, j, ok, i)
				}
			}
			// At and Index round trip at both ends of every range.
			for k, s := range ts.ranges {
				for _, v := range []u128{s.lo, s.hi} {
					a := v.addr()
					i, ok := ts.Index(a)
					if !ok || ts.At(i) != a {
						t.Errorf("range %d: Index(%v) = %d, %v; At = %v", k, a, i, ok, ts.At(i))
					}
				}
			}
			for _, a := range c.notContains {
				if ts.Contains(mustAddr(a)) {
					t.Errorf("Contains(%s)", a)
				}
			}
		})
	}
}

func TestTargetSetRefuses(t *testing.T) {
	for _, c := range []struct {
		name             string
		include, exclude []AddrRange
		want             string
		is               error
	}{
		{name: "a /64", include: []AddrRange{rng6("2001:db8::/64")},
			want: "2001:db8::/64 holds 2^64 addresses: too many addresses to walk (at most 2^24 a range); use --sample N to probe N random addresses of it", is: ErrTooLarge},
		{name: "a /103", include: []AddrRange{rng6("2001:db8::/103")}, want: "2001:db8::/103 holds 2^25 addresses", is: ErrTooLarge},
		{name: "::/0", include: []AddrRange{rng6("::/0")}, want: "::/0 holds 2^128 addresses", is: ErrTooLarge},
		{name: "a range one past 2^24", include: []AddrRange{rng6("2001:db8::-2001:db8::100:0")},
			want: "2001:db8::-2001:db8::100:0 holds more than 2^24 addresses", is: ErrTooLarge},
		{name: "an IPv4-mapped address", include: []AddrRange{rng6("::ffff:198.18.0.1")}, want: "::ffff:198.18.0.1/128", is: ErrMapped},
		{name: "a range into the mapped block", include: []AddrRange{rng6("::fffe:ffff:fff0-::ffff:0:1")}, is: ErrMapped},
		{name: "families mixed in a range", include: []AddrRange{{mustAddr("198.18.0.1"), mustAddr("::1")}}, want: "one end IPv4, the other IPv6"},
		{name: "a zone", include: []AddrRange{{mustAddr("fe80::1%eth0"), mustAddr("fe80::1%eth0")}}, want: "zone"},
		{name: "inverted", include: []AddrRange{rng6("2001:db8::9-2001:db8::1")}, want: "inverted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewTargetSet(c.include, c.exclude)
			if err == nil || !strings.Contains(err.Error(), c.want) || c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("err = %v, want %q (%v)", err, c.want, c.is)
			}
		})
	}
	// An IPv4 /0 is walked whole, as ever; an excluded IPv6 /0 is no walk.
	if _, err := NewTargetSet([]AddrRange{rng6("0.0.0.0/0")}, []AddrRange{rng6("::/0")}); err != nil {
		t.Fatal(err)
	}
}

func TestRangeOfIPv6(t *testing.T) {
	for p, want := range map[string]string{
		"::/0":               "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"2001:db8::77/64":    "2001:db8::-2001:db8::ffff:ffff:ffff:ffff",
		"2001:db8::/63":      "2001:db8::-2001:db8:0:1:ffff:ffff:ffff:ffff",
		"2001:db8::1/128":    "2001:db8::1-2001:db8::1",
		"2001:db8::abcd/112": "2001:db8::-2001:db8::ffff",
		"8000::/1":           "8000::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	} {
		r := RangeOf(mustPrefix(p))
		if got := r.First.String() + "-" + r.Last.String(); got != want {
			t.Errorf("RangeOf(%s) = %s, want %s", p, got, want)
		}
	}
}
