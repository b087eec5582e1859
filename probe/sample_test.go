package probe

import (
	"slices"
	"testing"
)

func TestSampleRange(t *testing.T) {
	for _, c := range []struct {
		name    string
		r       string
		n       uint64
		exclude []string
	}{
		{name: "a /64", r: "2001:db8::/64", n: 1000},
		{name: "a /32, excludes", r: "2001:db8::/32", n: 500, exclude: []string{"2001:db8::/33"}},
		{name: "::/0", r: "::/0", n: 300},
		{name: "a /120, nearly all of it", r: "2001:db8::/120", n: 250, exclude: []string{"2001:db8::/126"}},
		{name: "an IPv4 /8", r: "10.0.0.0/8", n: 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rng6(c.r)
			var ex []AddrRange
			for _, e := range c.exclude {
				ex = append(ex, rng6(e))
			}
			got, err := SampleRange(r, c.n, 7, ex)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := SampleRange(r, c.n, 7, ex)
			other, _ := SampleRange(r, c.n, 8, ex)
			if !slices.Equal(got, again) || slices.Equal(got, other) {
				t.Fatal("not deterministic under the seed, or the same under another")
			}
			ts, err := NewTargetSet(got, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ts.Len() != c.n { // distinct
				t.Fatalf("%d distinct addresses, want %d", ts.Len(), c.n)
			}
			all, _ := NewTargetSet(nil, ex)
			for _, a := range got {
				in := !u128Of(a.First).less(u128Of(r.First)) && !u128Of(r.Last).less(u128Of(a.First))
				if !in || all.Len() > 0 {
					t.Fatalf("%v outside %v", a.First, r)
				}
				for _, e := range ex {
					if !u128Of(a.First).less(u128Of(e.First)) && !u128Of(e.Last).less(u128Of(a.First)) {
						t.Fatalf("%v is excluded", a.First)
					}
				}
			}
		})
	}
	if _, err := SampleRange(rng6("2001:db8::/124"), 17, 1, nil); err == nil {
		t.Error("a sample larger than its range")
	}
	if _, err := SampleRange(rng6("2001:db8::/124"), 10, 1, []AddrRange{rng6("2001:db8::/125")}); err == nil {
		t.Error("a sample larger than what the excludes leave")
	}
	if _, err := SampleRange(rng6("2001:db8::/64"), MaxWalk+1, 1, nil); err == nil {
		t.Error("a sample of more than 2^24")
	}
}
