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

// fakeTime is a clock that only moves when slept on: a pacer under it
// sends on its exact schedule, at once, whatever the machine is doing.
type fakeTime struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) SleepUntil(ctx context.Context, t time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.now = t
	}
	return ctx.Err() == nil
}

// advance moves the clock on by d, as a stall would.
func (f *fakeTime) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestPacerSchedule: the k'th send is due at start + k·interval; a pacer
// that fell behind catches up at once, but never owes more than maxLag.
func TestPacerSchedule(t *testing.T) {
	clock := &fakeTime{now: epoch}
	p := newPacer(clock, 10*time.Millisecond, 50*time.Millisecond)
	ctx := context.Background()
	for k := uint64(0); k < 5; k++ {
		p.wait(ctx, k)
		if got, want := clock.Now(), epoch.Add(time.Duration(k)*10*time.Millisecond); !got.Equal(want) {
			t.Fatalf("send %d at %v, want %v", k, got.Sub(epoch), want.Sub(epoch))
		}
	}
	// A stall of 30 ms: sends 5, 6 and 7 are owed, and go at once.
	clock.advance(30 * time.Millisecond) // now 70 ms; send 5 was due at 50
	for k := uint64(5); k < 8; k++ {
		p.wait(ctx, k)
		if got := clock.Now().Sub(epoch); got != 70*time.Millisecond {
			t.Fatalf("send %d after a short stall at %v, want at once (70ms)", k, got)
		}
	}
	p.wait(ctx, 8) // due at 80 ms
	if got := clock.Now().Sub(epoch); got != 80*time.Millisecond {
		t.Fatalf("send 8 at %v, want 80ms: back on schedule", got)
	}
	// A stall of a second: only maxLag (5 sends) is made up.
	clock.advance(time.Second) // now 1080 ms; send 9 was due at 90
	n := 0
	for k := uint64(9); ; k++ {
		p.wait(ctx, k)
		if clock.Now().Sub(epoch) != 1080*time.Millisecond {
			break
		}
		n++
	}
	if n != 6 { // the one due now and the 5 that maxLag lets it owe
		t.Fatalf("%d sends at once after a long stall, want 6 (maxLag 50ms of 10ms sends, and the one due)", n)
	}
	// No limit: everything owed is sent at once.
	clock = &fakeTime{now: epoch}
	p = newPacer(clock, 10*time.Millisecond, 0)
	clock.advance(time.Second)
	for k := uint64(0); k <= 100; k++ {
		p.wait(ctx, k)
	}
	if got := clock.Now().Sub(epoch); got != time.Second {
		t.Fatalf("without maxLag, 101 sends owed took until %v, want at once (1s)", got)
	}
	// A cancelled wait says so.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if p.wait(cctx, 1000) {
		t.Fatal("wait under a cancelled context reported true")
	}
}

// TestPacingHoldsInEveryWindow sends 8,192 probes at 4,000 per second
// and checks, from the send times the capture hook sees, the overall rate
// and that every quarter-second window holds its share: no bursts, no
// stalls; with one sender, and with three sharing the rate. Each sender
// paces by a fake clock of its own, so the schedule is the engine's, not
// the machine's.
func TestPacingHoldsInEveryWindow(t *testing.T) {
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
		clock: func() timeSource { return &fakeTime{now: epoch} },
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
	if got := float64(len(sent)-1) / total.Seconds(); got < 0.99*rate || got > 1.01*rate {
		t.Fatalf("overall rate %.0f/s, want %d within 1%%", got, rate)
	}
	// Any 250 ms window holds rate/4 probes, give or take a batch of each
	// sender (rate/200 each).
	j := 0
	slack := rate / 200
	for i := range sent {
		end := sent[i].Add(250 * time.Millisecond)
		if end.After(sent[len(sent)-1]) {
			break
		}
		for j < len(sent) && sent[j].Before(end) {
			j++
		}
		if n := j - i; n < rate/4-slack || n > rate/4+slack {
			t.Fatalf("window from probe %d: %d probes in 250ms, want %d ± %d", i, n, rate/4, slack)
		}
	}
}
