package probe

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestPacingHoldsInEveryWindow sends 8,192 probes at 4,000 per second
// and checks, from the send times the capture hook sees, the overall rate
// and that every quarter-second window holds its share: no bursts, no
// stalls; with one sender, and with three sharing the rate.
func TestPacingHoldsInEveryWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("3 seconds of pacing")
	}
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n, "-senders"), func(t *testing.T) { pacingHolds(t, n) })
	}
}

func pacingHolds(t *testing.T, senders int) {
	const rate = 4000
	ts, _ := NewTargetSet([]AddrRange{RangeOf(netip.MustParsePrefix("198.19.0.0/19"))}, nil)
	var sent []time.Time
	var mu sync.Mutex
	err := Scan(context.Background(), ScanConfig{Targets: ts, Ports: []uint16{80}, Rate: rate, Timeout: 100 * time.Millisecond,
		Cooldown: 100 * time.Millisecond, NoReset: true, Senders: senders,
		Capture: func(dir Direction, _ []byte, at time.Time) {
			if dir == Sent {
				mu.Lock()
				sent = append(sent, at)
				mu.Unlock()
			}
		}}, &echoConn{}, func(Result) {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 8192 {
		t.Fatalf("%d sent", len(sent))
	}
	sort.Slice(sent, func(i, j int) bool { return sent[i].Before(sent[j]) })
	total := sent[len(sent)-1].Sub(sent[0])
	if got := float64(len(sent)-1) / total.Seconds(); got < 0.95*rate || got > 1.05*rate {
		t.Fatalf("overall rate %.0f/s, want %d within 5%%", got, rate)
	}
	// Any 250 ms window holds rate/4 probes within 10%.
	j := 0
	for i := range sent {
		end := sent[i].Add(250 * time.Millisecond)
		if end.After(sent[len(sent)-1]) {
			break
		}
		for j < len(sent) && sent[j].Before(end) {
			j++
		}
		if n := j - i; n < rate/4*9/10 || n > rate/4*11/10 {
			t.Fatalf("window from probe %d: %d probes in 250ms, want about %d", i, n, rate/4)
		}
	}
}
