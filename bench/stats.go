package main

import (
	"math"
	"slices"
	"time"
)

// median of xs (the mean of the middle two for an even count); NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile by the nearest-rank method: a value that was measured.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// sendRate is the rate between the first and last change of a counter
// sampled over time: it leaves out a tool's start-up and wind-down and
// counts only what reached the wire. The samples on either side of the
// sending bound it, so the estimate is the lower of the two bounds when
// samples are sparse (never flattering).
type sample struct {
	t time.Time
	n uint64
}

func sendRate(ss []sample) (rate float64, packets uint64) {
	if len(ss) < 2 {
		return 0, 0
	}
	base, last := ss[0].n, ss[len(ss)-1].n
	if last == base {
		return 0, 0
	}
	// The last sample before anything arrived, and the first at the total.
	i := 0
	for i+1 < len(ss) && ss[i+1].n == base {
		i++
	}
	j := len(ss) - 1
	for j > 0 && ss[j-1].n == last {
		j--
	}
	d := ss[j].t.Sub(ss[i].t).Seconds()
	if d <= 0 {
		return 0, last - base
	}
	return float64(last-base) / d, last - base
}
