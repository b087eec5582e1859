package probe

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrNotIPv4 is returned for targets of another address family: the engine
// probes IPv4 only for now.
var ErrNotIPv4 = errors.New("only IPv4 targets are supported")

// AddrRange is an inclusive range of IPv4 addresses.
type AddrRange struct{ First, Last netip.Addr }

// RangeOf returns the inclusive range that prefix p covers (host bits are
// masked off).
func RangeOf(p netip.Prefix) AddrRange {
	p = p.Masked()
	first := p.Addr()
	n := u32(first) | (uint32(1)<<(32-p.Bits()) - 1)
	if p.Bits() == 0 {
		n = ^uint32(0)
	}
	return AddrRange{First: first, Last: addrOf(n)}
}

// TargetSet is a set of IPv4 addresses kept as sorted, disjoint ranges, so
// that a /8 costs as little memory as one address. Addresses are indexed
// 0..Len()-1 in ascending order; the scan walks those indices in a keyed
// pseudo-random order.
type TargetSet struct {
	ranges []span   // sorted, disjoint, not adjacent
	starts []uint64 // starts[i] = number of addresses in ranges[:i]
	n      uint64
}

type span struct{ lo, hi uint32 }

// NewTargetSet returns include minus exclude. Ranges may overlap and come in
// any order. It fails for non-IPv4 or inverted ranges.
func NewTargetSet(include, exclude []AddrRange) (*TargetSet, error) {
	in, err := spans(include)
	if err != nil {
		return nil, err
	}
	ex, err := spans(exclude)
	if err != nil {
		return nil, err
	}
	in = subtract(merge(in), merge(ex))
	ts := &TargetSet{ranges: in, starts: make([]uint64, len(in))}
	for i, s := range in {
		ts.starts[i] = ts.n
		ts.n += uint64(s.hi-s.lo) + 1
	}
	return ts, nil
}

// Len is the number of addresses in the set.
func (t *TargetSet) Len() uint64 { return t.n }

// At returns the i'th address in ascending order; i must be below Len.
func (t *TargetSet) At(i uint64) netip.Addr {
	// Last range whose start is <= i.
	k, found := slices.BinarySearch(t.starts, i)
	if !found {
		k--
	}
	return addrOf(t.ranges[k].lo + uint32(i-t.starts[k]))
}

// Contains reports whether a is in the set.
func (t *TargetSet) Contains(a netip.Addr) bool {
	_, ok := t.Index(a)
	return ok
}

func spans(rs []AddrRange) ([]span, error) {
	out := make([]span, 0, len(rs))
	for _, r := range rs {
		if !r.First.Is4() || !r.Last.Is4() {
			return nil, fmt.Errorf("%v-%v: %w", r.First, r.Last, ErrNotIPv4)
		}
		lo, hi := u32(r.First), u32(r.Last)
		if lo > hi {
			return nil, fmt.Errorf("range %v-%v is inverted", r.First, r.Last)
		}
		out = append(out, span{lo, hi})
	}
	return out, nil
}

func merge(s []span) []span {
	slices.SortFunc(s, func(a, b span) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := s[:0]
	for _, r := range s {
		if n := len(out); n > 0 && (out[n-1].hi == ^uint32(0) || r.lo <= out[n-1].hi+1) {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// subtract returns in minus ex; both sorted, merged.
func subtract(in, ex []span) []span {
	var out []span
	j := 0
	for _, r := range in {
		lo := uint64(r.lo)
		hi := uint64(r.hi)
		for j < len(ex) && uint64(ex[j].hi) < lo {
			j++
		}
		for k := j; k < len(ex) && uint64(ex[k].lo) <= hi; k++ {
			if uint64(ex[k].lo) > lo {
				out = append(out, span{uint32(lo), ex[k].lo - 1})
			}
			lo = uint64(ex[k].hi) + 1
		}
		if lo <= hi {
			out = append(out, span{uint32(lo), uint32(hi)})
		}
	}
	return out
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addrOf(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Index returns the position of a in the set (the i with At(i) == a).
func (t *TargetSet) Index(a netip.Addr) (uint64, bool) {
	if !a.Is4() {
		return 0, false
	}
	v := u32(a)
	k, _ := slices.BinarySearchFunc(t.ranges, v, func(s span, v uint32) int {
		switch {
		case s.hi < v:
			return -1
		case s.lo > v:
			return 1
		}
		return 0
	})
	if k < len(t.ranges) && t.ranges[k].lo <= v && v <= t.ranges[k].hi {
		return t.starts[k] + uint64(v-t.ranges[k].lo), true
	}
	return 0, false
}
