package probe

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
)

// MaxWalk is the most addresses one range of IPv6 targets may hold: a
// scan walks every address of a range, and a /64 (2^64 addresses) would
// never end. A larger prefix is sampled instead (Plan's Sample). IPv4
// ranges, at most 2^32 addresses, are walked whole as ever.
const MaxWalk = 1 << 24

// ErrTooLarge is returned for a range of IPv6 targets with more than
// MaxWalk addresses.
var ErrTooLarge = errors.New("too many addresses to walk")

// ErrMapped is returned for an IPv4-mapped IPv6 address (::ffff:a.b.c.d)
// as a target: it names an IPv4 address, which is to be given as one.
var ErrMapped = errors.New("an IPv4-mapped IPv6 address names an IPv4 address")

// AddrRange is an inclusive range of IPv4 or IPv6 addresses (both ends of
// one family).
type AddrRange struct{ First, Last netip.Addr }

// RangeOf returns the inclusive range that prefix p covers (host bits are
// masked off).
func RangeOf(p netip.Prefix) AddrRange {
	p = p.Masked()
	first := p.Addr()
	if first.Is4() {
		n := u32(first) | (uint32(1)<<(32-p.Bits()) - 1)
		if p.Bits() == 0 {
			n = ^uint32(0)
		}
		return AddrRange{First: first, Last: addrOf(n)}
	}
	v := u128Of(first)
	host := 128 - p.Bits()
	switch {
	case host >= 64:
		v.lo = ^uint64(0)
		v.hi |= ^uint64(0) >> (128 - host)
		if host == 128 {
			v.hi = ^uint64(0)
		}
	case host > 0:
		v.lo |= ^uint64(0) >> (64 - host)
	}
	return AddrRange{First: first, Last: netip.AddrFrom16(v.bytes())}
}

// String is the range as a prefix when it is exactly one, else first-last.
func (r AddrRange) String() string {
	if p, ok := r.prefix(); ok {
		return p.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// prefix is the prefix r covers exactly, if it is one.
func (r AddrRange) prefix() (netip.Prefix, bool) {
	for b := 0; b <= r.First.BitLen(); b++ {
		p := netip.PrefixFrom(r.First, b)
		if p.Masked() == p && RangeOf(p).Last == r.Last {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// TargetSet is a set of IPv4 and IPv6 addresses kept as sorted, disjoint
// ranges, so that a /8 costs as little memory as one address. Addresses
// are indexed 0..Len()-1 in ascending order of their 128-bit forms: an
// IPv6 address its own, an IPv4 address its IPv4-mapped form
// (::ffff:a.b.c.d), so the IPv4 addresses come after ::/96 and before
// the rest of IPv6. The scan walks those indices in a keyed
// pseudo-random order, one walk over both families. IPv4-mapped IPv6
// addresses are refused as targets (ErrMapped), so the two never meet,
// and the IPv4 ones cost no more than ever.
type TargetSet struct {
	ranges []span   // sorted, disjoint, not adjacent
	starts []uint64 // starts[i] = number of addresses in ranges[:i]
	n      uint64
}

// u128 is an address as a 128-bit number.
type u128 struct{ hi, lo uint64 }

type span struct{ lo, hi u128 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) cmp(b u128) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

func (a u128) add(n uint64) u128 {
	lo, c := bits.Add64(a.lo, n, 0)
	return u128{a.hi + c, lo}
}

func (a u128) sub1() u128 {
	lo, b := bits.Sub64(a.lo, 1, 0)
	return u128{a.hi - b, lo}
}

func (a u128) isMax() bool { return a.hi == ^uint64(0) && a.lo == ^uint64(0) }

// span returns hi-lo+1 when it fits in 64 bits.
func (s span) size() (uint64, bool) {
	lo, b := bits.Sub64(s.hi.lo, s.lo.lo, 0)
	hi := s.hi.hi - s.lo.hi - b
	if hi != 0 || lo == ^uint64(0) {
		return 0, false
	}
	return lo + 1, true
}

const mapped = 0xffff << 32 // ::ffff:0.0.0.0 in the low word

func u128Of(a netip.Addr) u128 {
	if a.Is4() {
		return u128{0, mapped | uint64(u32(a))}
	}
	b := a.As16()
	return u128{be64(b[:8]), be64(b[8:])}
}

func (a u128) bytes() [16]byte {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(a.hi >> (56 - 8*i))
		b[8+i] = byte(a.lo >> (56 - 8*i))
	}
	return b
}

func (a u128) addr() netip.Addr {
	if a.hi == 0 && a.lo>>32 == 0xffff {
		return addrOf(uint32(a.lo))
	}
	return netip.AddrFrom16(a.bytes())
}

func be64(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// isMapped reports whether v is in ::ffff:0:0/96.
func isMapped(v u128) bool { return v.hi == 0 && v.lo>>32 == 0xffff }

// NewTargetSet returns include minus exclude. Ranges may overlap and come in
// any order, of either family. It fails for inverted ranges, ranges whose
// ends differ in family, IPv4-mapped IPv6 addresses, addresses with a
// zone, and an included IPv6 range of more than MaxWalk addresses
// (ErrTooLarge: sample it instead); an excluded range may be of any size.
func NewTargetSet(include, exclude []AddrRange) (*TargetSet, error) {
	in, err := spans(include, true)
	if err != nil {
		return nil, err
	}
	ex, err := spans(exclude, false)
	if err != nil {
		return nil, err
	}
	return newTargetSet(subtract(merge(in), merge(ex))), nil
}

func newTargetSet(in []span) *TargetSet {
	ts := &TargetSet{ranges: in, starts: make([]uint64, len(in))}
	for i, s := range in {
		ts.starts[i] = ts.n
		n, _ := s.size() // every span fits: IPv4 ones hold 2^32 at most, IPv6 ones MaxWalk
		ts.n += n
	}
	return ts
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
	return t.ranges[k].lo.add(i - t.starts[k]).addr()
}

// Contains reports whether a is in the set.
func (t *TargetSet) Contains(a netip.Addr) bool {
	_, ok := t.Index(a)
	return ok
}

// Index returns the position of a in the set (the i with At(i) == a).
func (t *TargetSet) Index(a netip.Addr) (uint64, bool) {
	if !a.IsValid() || a.Zone() != "" {
		return 0, false
	}
	v := u128Of(a)
	if a.Is6() && isMapped(v) {
		return 0, false
	}
	// The first range that reaches v (a plain loop: the matcher's hot
	// path, once a reply).
	k, j := 0, len(t.ranges)
	for k < j {
		h := int(uint(k+j) >> 1)
		if t.ranges[h].hi.less(v) {
			k = h + 1
		} else {
			j = h
		}
	}
	if k < len(t.ranges) && !v.less(t.ranges[k].lo) {
		return t.starts[k] + (v.lo - t.ranges[k].lo.lo), true
	}
	return 0, false
}

// spans turns rs into spans. An included IPv6 range must hold at most
// MaxWalk addresses and none IPv4-mapped; an excluded one may be of any
// size, and leaves the IPv4 addresses alone (excluding ::/0 excludes
// every IPv6 address, not every address).
func spans(rs []AddrRange, include bool) ([]span, error) {
	out := make([]span, 0, len(rs))
	for _, r := range rs {
		s, err := spanOf(r)
		if err != nil {
			return nil, err
		}
		if !r.First.Is6() {
			out = append(out, s)
			continue
		}
		if _, ok := s.size(); include && (!ok || s.hi.lo-s.lo.lo >= MaxWalk) {
			return nil, tooLarge(r)
		}
		lo, hi := u128{0, mapped}, u128{0, mapped | 0xffffffff}
		if s.hi.less(lo) || hi.less(s.lo) {
			out = append(out, s)
			continue
		}
		if include {
			return nil, fmt.Errorf("range %v: %w: give the IPv4 address", r, ErrMapped)
		}
		if s.lo.less(lo) {
			out = append(out, span{s.lo, lo.sub1()})
		}
		if hi.less(s.hi) {
			out = append(out, span{hi.add(1), s.hi})
		}
	}
	return out, nil
}

func spanOf(r AddrRange) (span, error) {
	switch {
	case !r.First.IsValid() || !r.Last.IsValid():
		return span{}, fmt.Errorf("range %v-%v: not an address", r.First, r.Last)
	case r.First.Is4() != r.Last.Is4():
		return span{}, fmt.Errorf("range %v-%v: one end IPv4, the other IPv6", r.First, r.Last)
	case r.First.Zone() != "" || r.Last.Zone() != "":
		return span{}, fmt.Errorf("range %v-%v: a zone has no place in a target", r.First, r.Last)
	}
	s := span{u128Of(r.First), u128Of(r.Last)}
	if s.hi.less(s.lo) {
		return span{}, fmt.Errorf("range %v-%v is inverted", r.First, r.Last)
	}
	return s, nil
}

// tooLarge is ErrTooLarge for r, with the way out.
func tooLarge(r AddrRange) error {
	size := "more than 2^24"
	if p, ok := r.prefix(); ok {
		size = fmt.Sprintf("2^%d", 128-p.Bits())
	}
	return fmt.Errorf("%v holds %s addresses: %w (at most 2^24 a range); use --sample N to probe N random addresses of it",
		r, size, ErrTooLarge)
}

func merge(s []span) []span {
	slices.SortFunc(s, func(a, b span) int { return a.lo.cmp(b.lo) })
	out := s[:0]
	for _, r := range s {
		if n := len(out); n > 0 && (out[n-1].hi.isMax() || !out[n-1].hi.add(1).less(r.lo)) {
			if out[n-1].hi.less(r.hi) {
				out[n-1].hi = r.hi
			}
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
		lo, hi := r.lo, r.hi
		for j < len(ex) && ex[j].hi.less(lo) {
			j++
		}
		done := false
		for k := j; k < len(ex) && !hi.less(ex[k].lo); k++ {
			if lo.less(ex[k].lo) {
				out = append(out, span{lo, ex[k].lo.sub1()})
			}
			if ex[k].hi.isMax() || hi.less(ex[k].hi.add(1)) {
				done = true
				break
			}
			lo = ex[k].hi.add(1)
		}
		if !done && !hi.less(lo) {
			out = append(out, span{lo, hi})
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

// rank is the number of addresses in the set below v.
func (t *TargetSet) rank(v u128) uint64 {
	k, _ := slices.BinarySearchFunc(t.ranges, v, func(s span, v u128) int {
		if s.hi.less(v) {
			return -1
		}
		return 1
	}) // the first range that reaches v
	switch {
	case k == len(t.ranges):
		return t.n
	case t.ranges[k].lo.less(v):
		return t.starts[k] + (v.lo - t.ranges[k].lo.lo)
	}
	return t.starts[k]
}

// v4Indices is where the IPv4 addresses are in the index space: [lo, hi).
// The IPv6 addresses are the indices below lo and from hi on.
func (t *TargetSet) v4Indices() (lo, hi uint64) {
	return t.rank(u128{0, mapped}), t.rank(u128{0, mapped}.add(1 << 32))
}

// Len4 and Len6 are the number of IPv4 and of IPv6 addresses in the set.
func (t *TargetSet) Len4() uint64 { lo, hi := t.v4Indices(); return hi - lo }
func (t *TargetSet) Len6() uint64 { return t.n - t.Len4() }

// family is the set's addresses of one family (v6 or not) as a view:
// their number, and the i'th's index in the set.
func (t *TargetSet) family(v6 bool) (n uint64, index func(i uint64) uint64) {
	lo, hi := t.v4Indices()
	if !v6 {
		return hi - lo, func(i uint64) uint64 { return lo + i }
	}
	return t.n - (hi - lo), func(i uint64) uint64 {
		if i < lo {
			return i
		}
		return i + (hi - lo)
	}
}
