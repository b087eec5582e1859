package probe

import (
	"math/big"
	"math/bits"
)

// order walks 0..n-1 in a keyed pseudo-random order in constant memory, as
// zmap does: the multiplicative group of integers modulo a prime p > n is
// cyclic, so for a generator g the sequence x, xg, xg², ... (mod p) visits
// every value 1..p-1 exactly once. Values above n are skipped. Shard k of s
// takes the positions j ≡ k (mod s) of that one sequence, so the shards of
// a scan are disjoint and together cover it exactly once, whatever s is.
type order struct {
	n, p  uint64
	first uint64 // element at this shard's first position
	step  uint64 // g^shards
	count uint64 // positions in this shard
}

// newOrder builds the order of n items for seed, shard k of s (0 <= k < s).
func newOrder(n, seed uint64, k, s int) (*order, error) {
	if s < 1 || k < 0 || k >= s {
		return nil, configErrorf("shard %d/%d: want 1 <= K <= N", k+1, s)
	}
	if n == 0 {
		return &order{}, nil
	}
	if n > 1<<48 {
		return nil, configErrorf("%d probes: at most 2^48", n)
	}
	p := nextPrime(n + 1)
	g := generator(p, seed)
	start := 1 + splitmix(seed^0x5bd1e995)%(p-1)
	o := &order{n: n, p: p, step: powmod(g, uint64(s), p)}
	o.first = mulmod(start, powmod(g, uint64(k), p), p)
	total := p - 1
	if uint64(k) < total {
		o.count = (total - uint64(k) + uint64(s) - 1) / uint64(s)
	}
	return o, nil
}

// walk calls f with each index of the shard in order, from position from
// on (0 for the whole shard), and stops early when f returns false. It
// returns the positions walked, so an interrupted walk can be resumed or
// replayed.
func (o *order) walk(from uint64, f func(idx uint64) bool) uint64 {
	return o.walkTo(from, o.count, f)
}

// walkTo is walk over positions [from, to).
func (o *order) walkTo(from, to uint64, f func(idx uint64) bool) uint64 {
	if o.n == 0 {
		return 0
	}
	to = min(to, o.count)
	x := mulmod(o.first, powmod(o.step, from, o.p), o.p)
	for pos := from; pos < to; pos++ {
		if x <= o.n && !f(x-1) {
			return pos + 1
		}
		x = mulmod(x, o.step, o.p)
	}
	return to
}

func mulmod(a, b, m uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	_, r := bits.Div64(hi%m, lo, m)
	return r
}

func powmod(b, e, m uint64) uint64 {
	r := uint64(1) % m
	b %= m
	for e > 0 {
		if e&1 != 0 {
			r = mulmod(r, b, m)
		}
		b = mulmod(b, b, m)
		e >>= 1
	}
	return r
}

func nextPrime(n uint64) uint64 {
	if n <= 2 {
		return 2
	}
	var b big.Int
	for c := n | 1; ; c += 2 {
		if b.SetUint64(c).ProbablyPrime(20) {
			return c
		}
	}
}

// generator derives a generator of Z*_p from seed: a candidate g is one
// when g^((p-1)/q) != 1 for every prime factor q of p-1.
func generator(p, seed uint64) uint64 {
	if p == 2 {
		return 1
	}
	factors := primeFactors(p - 1)
	for s := seed; ; s++ {
		g := 2 + splitmix(s)%(p-2)
		ok := true
		for _, q := range factors {
			if powmod(g, (p-1)/q, p) == 1 {
				ok = false
				break
			}
		}
		if ok {
			return g
		}
	}
}

func primeFactors(n uint64) []uint64 {
	var fs []uint64
	for q := uint64(2); q*q <= n; q++ {
		if n%q == 0 {
			fs = append(fs, q)
			for n%q == 0 {
				n /= q
			}
		}
	}
	if n > 1 {
		fs = append(fs, n)
	}
	return fs
}

// splitmix is SplitMix64's output function: a fast, well-mixed hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
