package probe

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	rs := []Result{
		{State: StateOpen, Has: HasRTT, RTT: 1 * ms},
		{State: StateOpen, Has: HasRTT, RTT: 3 * ms},
		{State: StateClosed, Has: HasRTT, RTT: 2 * ms},
		{State: StateFiltered, Reason: ReasonNoResponse},
	}
	s := Summarize(rs)
	// Worked by hand: mean 2ms, population stddev sqrt(2/3) ms.
	if s.Sent != 4 || s.Received != 3 || s.LossPct != 25 {
		t.Fatalf("counts: %+v", s)
	}
	if s.Min != ms || s.Max != 3*ms || s.Avg != 2*ms || s.P50 != 2*ms || s.P99 != 3*ms {
		t.Fatalf("latency: %+v", s)
	}
	if s.StdDev != 816497*time.Nanosecond {
		t.Fatalf("stddev %v", s.StdDev)
	}
	if z := Summarize(nil); z.Sent != 0 || z.LossPct != 0 {
		t.Fatalf("empty: %+v", z)
	}
}

func TestInitialTTL(t *testing.T) {
	for _, c := range []struct{ ttl, init, hops uint8 }{
		{62, 64, 2}, {126, 128, 2}, {64, 64, 0}, {1, 32, 31}, {33, 64, 31}, {254, 255, 1}, {129, 255, 126},
	} {
		i, h := InitialTTL(c.ttl)
		if i != c.init || h != c.hops {
			t.Errorf("InitialTTL(%d) = %d,%d want %d,%d", c.ttl, i, h, c.init, c.hops)
		}
	}
}
