package probe

import (
	"math/rand/v2"
	"net/netip"
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
	if _, err := NewTargetSet([]AddrRange{{netip.MustParseAddr("::1"), netip.MustParseAddr("::1")}}, nil); err == nil {
		t.Fatal("IPv6 accepted")
	}
}
