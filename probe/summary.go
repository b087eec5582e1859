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
	rtts := make([]time.Duration, 0, len(rs))
	received := 0
	for _, r := range rs {
		if r.State == StateOpen || r.State == StateClosed {
			received++
		}
		if r.Has&HasRTT != 0 {
			rtts = append(rtts, r.RTT)
		}
	}
	s := summarize(rtts)
	s.Sent, s.Received = len(rs), received
	if s.Sent > 0 {
		s.LossPct = 100 * float64(s.Sent-s.Received) / float64(s.Sent)
	}
	return s
}

// summarize is the latency figures of rtts, which it sorts.
func summarize(rtts []time.Duration) Summary {
	var s Summary
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

// Tally condenses a ping's results as they settle, the way ping(8)
// counts: a probe is answered when the target itself replied, with a
// SYN-ACK (open) or a RST (closed). An ICMP error or a missing route is
// an error, counted apart, and its latency is not a handshake latency:
// the latency figures are over answered probes only. It keeps only those
// latencies, 8 bytes a probe answered, so a ping of a day at 10 probes a
// second holds under 7 MB of them.
type Tally struct {
	sent, errors int
	rtts         []time.Duration // of the answered probes that have one
	received     int
}

// Add counts r, the result of one probe sent.
func (t *Tally) Add(r Result) {
	t.sent++
	switch {
	case r.State == StateOpen || r.State == StateClosed:
		t.received++
		if r.Has&HasRTT != 0 {
			t.rtts = append(t.rtts, r.RTT)
		}
	case r.Reason != ReasonNoResponse:
		t.errors++
	}
}

// Reserve makes room for the latencies of n probes (up to a million: a
// longer ping grows as it goes), so that a ping's memory grows by 8 bytes
// a probe, not by the copies a growing slice leaves behind; pages of the
// room not yet used cost nothing.
func (t *Tally) Reserve(n int) {
	if n = min(n, 1<<20); cap(t.rtts) < n {
		t.rtts = slices.Grow(t.rtts, n-len(t.rtts))
	}
}

// Errors is the number of probes settled by an ICMP error or refused.
func (t *Tally) Errors() int { return t.errors }

// Summary is what was counted: Sent, Received (answered), LossPct, and
// the latency figures over the answered probes.
func (t *Tally) Summary() Summary {
	s := summarize(t.rtts)
	s.Sent, s.Received = t.sent, t.received
	if s.Sent > 0 {
		s.LossPct = 100 * float64(s.Sent-s.Received) / float64(s.Sent)
	}
	return s
}
