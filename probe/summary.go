package probe

import (
	"math"
	"slices"
	"time"
)

// Summarize condenses results into a Summary. Sent counts every result;
// Received those that got a reply (open or closed); latency figures are over
// the results that carry an RTT. Percentiles use the nearest-rank method, so
// every reported figure is a latency that was actually measured.
func Summarize(rs []Result) Summary {
	var s Summary
	s.Sent = len(rs)
	rtts := make([]time.Duration, 0, len(rs))
	for _, r := range rs {
		if r.State == StateOpen || r.State == StateClosed {
			s.Received++
		}
		if r.Has&HasRTT != 0 {
			rtts = append(rtts, r.RTT)
		}
	}
	if s.Sent > 0 {
		s.LossPct = 100 * float64(s.Sent-s.Received) / float64(s.Sent)
	}
	if len(rtts) == 0 {
		return s
	}
	slices.Sort(rtts)
	s.Min, s.Max = rtts[0], rtts[len(rtts)-1]
	var sum float64
	for _, d := range rtts {
		sum += float64(d)
	}
	mean := sum / float64(len(rtts))
	var sq float64
	for _, d := range rtts {
		sq += (float64(d) - mean) * (float64(d) - mean)
	}
	s.Avg = time.Duration(math.Round(mean))
	s.StdDev = time.Duration(math.Round(math.Sqrt(sq / float64(len(rtts)))))
	s.P50 = Percentile(rtts, 50)
	s.P90 = Percentile(rtts, 90)
	s.P99 = Percentile(rtts, 99)
	return s
}

// Percentile returns the nearest-rank p'th percentile (0 < p <= 100) of
// sorted, which must be in ascending order and not empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
