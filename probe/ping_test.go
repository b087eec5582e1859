package probe

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/synprobe/synprobe/raw"
)

// pingEcho answers every SYN with a SYN-ACK at once, from fixed memory,
// and stamps nothing: a network that allocates nothing itself.
type pingEcho struct{ echoConn }

func (e *pingEcho) ReadBatch(msgs []raw.Incoming) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for n < len(msgs) && e.head < e.tail {
		slot := e.head % uint64(len(e.ring))
		msgs[n].N = copy(msgs[n].Buf, e.ring[slot][:e.lens[slot]])
		msgs[n].Time = time.Now()
		e.head++
		n++
	}
	return n, nil
}

// TestPingAllocatesNothingPerProbe: what a ping allocates does not grow
// with its probes but for its latencies (8 bytes each, reserved up
// front): no garbage per probe, so the heap of a long ping stays where
// it started (TestPingMemoryFlat measures the whole command).
func TestPingAllocatesNothingPerProbe(t *testing.T) {
	allocs := func(count int) (bytes, mallocs uint64) {
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		sum, err := Ping(context.Background(), PingConfig{Target: netip.MustParseAddrPort("198.18.22.10:80"), Count: count,
			Interval: time.Microsecond}, &pingEcho{}, func(Result) {})
		runtime.ReadMemStats(&ms1)
		if err != nil || sum.Received != count {
			t.Fatalf("ping -c %d: %d answered, %v", count, sum.Received, err)
		}
		return ms1.TotalAlloc - ms0.TotalAlloc, ms1.Mallocs - ms0.Mallocs
	}
	b1, m1 := allocs(1000)
	b2, m2 := allocs(21000)
	perProbe := float64(b2-b1) / 20000
	t.Logf("%.1f bytes and %.3f allocations a probe", perProbe, float64(m2-m1)/20000)
	if m2-m1 > 20 || perProbe > 8.5 {
		t.Errorf("20,000 more probes: %d more allocations, %.1f bytes a probe; want none but the 8-byte latencies", m2-m1, perProbe)
	}
}
