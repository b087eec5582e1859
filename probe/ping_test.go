package probe

import (
	"context"
	"math"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
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
	// The least of three runs: MemStats counts every goroutine's
	// allocations, and another test's may still be winding down.
	allocs := func(count int) (bytes, mallocs int64) {
		bytes, mallocs = math.MaxInt64, math.MaxInt64
		for range 3 {
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			sum, err := Ping(context.Background(), PingConfig{Target: netip.MustParseAddrPort("198.18.22.10:80"), Count: count,
				Interval: time.Microsecond}, &pingEcho{}, func(Result) {})
			runtime.ReadMemStats(&ms1)
			if err != nil || sum.Received != count {
				t.Fatalf("ping -c %d: %d answered, %v", count, sum.Received, err)
			}
			bytes = min(bytes, int64(ms1.TotalAlloc-ms0.TotalAlloc))
			mallocs = min(mallocs, int64(ms1.Mallocs-ms0.Mallocs))
		}
		return bytes, mallocs
	}
	b1, m1 := allocs(1000)
	b2, m2 := allocs(21000)
	perProbe := float64(b2-b1) / 20000
	t.Logf("%.1f bytes and %.3f allocations a probe", perProbe, float64(m2-m1)/20000)
	if m2-m1 > 20 || perProbe > 8.5 {
		t.Errorf("20,000 more probes: %d more allocations, %.1f bytes a probe; want none but the 8-byte latencies", m2-m1, perProbe)
	}
}

// TestPingInterruptedWhileWaiting: Ctrl-C while a probe waits for its
// reply ends the ping without counting that probe as lost: the summary
// is of the probes that had their answer (as ConnectPing does).
func TestPingInterruptedWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags != craft.FlagSYN {
			return
		}
		if p.IP.ID == 1 {
			f.queueReply(synAck(p), at.Add(time.Millisecond))
		} else {
			cancel() // the second probe gets no answer: interrupted while it waits
		}
	})
	var got []Result
	sum, err := Ping(ctx, PingConfig{Target: netip.MustParseAddrPort("198.18.10.10:80"), Count: 5, Interval: time.Millisecond,
		Timeout: 5 * time.Second}, f, func(r Result) { got = append(got, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].State != StateOpen || sum.Sent != 1 || sum.Received != 1 || sum.LossPct != 0 {
		t.Fatalf("interrupted during the second probe: %d results %+v, summary %+v; want the first, open, and nothing lost", len(got), got, sum)
	}
}
