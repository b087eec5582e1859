package probe

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// SampleRange picks n distinct addresses of r at random, none of them in
// exclude, as researchers scan IPv6 space: a prefix too large to walk
// (ErrTooLarge) is sampled instead. The pick is deterministic under seed
// (the same seed, range and excludes give the same addresses), so the
// shards of a scan and a scan run again probe the same sample. It returns
// them as one-address ranges in ascending order, for Plan's targets. n is
// at most MaxWalk; the sample costs memory per address (about 40 bytes),
// unlike a walked range.
func SampleRange(r AddrRange, n, seed uint64, exclude []AddrRange) ([]AddrRange, error) {
	s, err := spanOf(r)
	if err != nil {
		return nil, err
	}
	if n == 0 || n > MaxWalk {
		return nil, fmt.Errorf("sample of %d addresses of %v: want 1 to 2^24", n, r)
	}
	ex, err := spans(exclude, false)
	if err != nil {
		return nil, err
	}
	excluded := newTargetSet(merge(ex))
	// diff = hi - lo: a pick is lo + v for v <= diff, v drawn from as many
	// random bits as diff has, the larger ones drawn again (fewer than
	// half).
	dlo, b := bits.Sub64(s.hi.lo, s.lo.lo, 0)
	dhi := s.hi.hi - s.lo.hi - b
	if dhi == 0 && dlo < n-1 {
		return nil, fmt.Errorf("sample of %d addresses of %v, which holds %d", n, r, dlo+1)
	}
	mhi, mlo := mask(dhi), ^uint64(0)
	if dhi == 0 {
		mlo = mask(dlo)
	}
	rng := rand.New(rand.NewPCG(seed, splitmix(s.lo.hi^splitmix(s.lo.lo^splitmix(s.hi.hi^splitmix(s.hi.lo))))))
	seen := make(map[u128]struct{}, n)
	out := make([]AddrRange, 0, n)
	for tries := uint64(0); uint64(len(out)) < n; tries++ {
		if tries > 4*n+1000 {
			return nil, fmt.Errorf("sample of %v: only %d addresses of the %d wanted found outside the excludes", r, len(out), n)
		}
		v := u128{rng.Uint64() & mhi, rng.Uint64() & mlo}
		if v.hi > dhi || v.hi == dhi && v.lo > dlo {
			continue
		}
		lo, c := bits.Add64(s.lo.lo, v.lo, 0)
		a := u128{s.lo.hi + v.hi + c, lo}
		if _, dup := seen[a]; dup {
			continue
		}
		seen[a] = struct{}{}
		if r.First.Is6() && isMapped(a) || excluded.Contains(a.addr()) { // an IPv4-mapped address is no IPv6 target
			continue
		}
		out = append(out, AddrRange{a.addr(), a.addr()})
	}
	slices.SortFunc(out, func(x, y AddrRange) int { return u128Of(x.First).cmp(u128Of(y.First)) })
	return out, nil
}

// mask is the smallest all-ones value that covers v.
func mask(v uint64) uint64 {
	if v == 0 {
		return 0
	}
	return ^uint64(0) >> bits.LeadingZeros64(v)
}
