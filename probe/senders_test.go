package probe

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
)

// TestSendersShareTheScan: with 1 to 8 sending goroutines, every probe of
// a scan is sent exactly once per pass it needs, every target:port has
// exactly one result with the state its replies give, and every answered
// one has the latency of its own SYN: the transmit stamps of every
// sender's IDs find their probes.
func TestSendersShareTheScan(t *testing.T) {
	for _, n := range []int{1, 2, 3, 8} {
		t.Run(fmt.Sprint(n, "-senders"), func(t *testing.T) {
			// Port 80 open, 443 closed, 22 silent (retried once).
			f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
				if p.TCP.Flags != craft.FlagSYN {
					return
				}
				switch p.TCP.DstPort {
				case 80:
					f.queueReply(synAck(p), at.Add(2*time.Millisecond))
				case 443:
					f.queueReply(rst(p), at.Add(3*time.Millisecond))
				}
			})
			c, prog := fakeScan(t, f, ScanConfig{Targets: targets(t, "198.19.0.0/23"), Ports: []uint16{22, 80, 443},
				Rate: 200_000, Retries: 1, Timeout: 150 * time.Millisecond, Senders: n})
			if len(c.rs) != 512*3 {
				t.Fatalf("%d results, want %d", len(c.rs), 512*3)
			}
			seen := map[netip.AddrPort]bool{}
			for _, r := range c.rs {
				ap := netip.AddrPortFrom(r.Addr, r.Port)
				if seen[ap] {
					t.Fatalf("%v reported twice", ap)
				}
				seen[ap] = true
				want, rtt := map[uint16]State{22: StateFiltered, 80: StateOpen, 443: StateClosed}[r.Port], map[uint16]time.Duration{80: 2 * time.Millisecond, 443: 3 * time.Millisecond}[r.Port]
				if r.State != want || (rtt != 0 && (r.RTT != rtt || r.Clock != ClockKernel)) {
					t.Fatalf("%v: %s, RTT %v (%s); want %s, %v", ap, r.State, r.RTT, r.Clock, want, rtt)
				}
			}
			syns := map[netip.AddrPort]int{}
			f.mu.Lock()
			for _, s := range f.sent {
				var p craft.Packet
				if p.Decode(s.b) == nil && p.TCP.Flags == craft.FlagSYN {
					syns[netip.AddrPortFrom(p.IP.Dst, p.TCP.DstPort)]++
				}
			}
			f.mu.Unlock()
			for ap := range seen {
				if want := map[uint16]int{22: 2, 80: 1, 443: 1}[ap.Port()]; syns[ap] != want {
					t.Fatalf("%v: %d SYNs, want %d", ap, syns[ap], want)
				}
			}
			if got := prog.Sent.Load(); got != 512*4 {
				t.Errorf("progress says %d sent, want %d", got, 512*4)
			}
		})
	}
}

// TestSendersCancelled: a scan cancelled while three senders are at work
// reports every probe that went out, and nothing that did not.
func TestSendersCancelled(t *testing.T) {
	f := newFake(nil) // nothing answers
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	f.respond = func(f *fakeConn, p *craft.Packet, at time.Time) {
		if len(f.sent) >= 3000 {
			once.Do(cancel)
		}
	}
	var c collector
	err := Scan(ctx, ScanConfig{Targets: targets(t, "198.19.0.0/16"), Ports: []uint16{80}, Rate: 20_000,
		Timeout: 50 * time.Millisecond, Senders: 3}, f, c.add, nil)
	if err != nil {
		t.Fatal(err)
	}
	sent := map[netip.Addr]bool{}
	for _, s := range f.sent {
		var p craft.Packet
		if p.Decode(s.b) == nil {
			sent[p.IP.Dst] = true
		}
	}
	if len(sent) < 3000 || len(sent) > 3000+3*64 {
		t.Fatalf("%d probes sent before the cancellation took hold", len(sent))
	}
	if len(c.rs) != len(sent) {
		t.Fatalf("%d results for %d probes sent", len(c.rs), len(sent))
	}
	for _, r := range c.rs {
		if !sent[r.Addr] || r.State != StateFiltered {
			t.Fatalf("a result for a probe never sent, or a wrong one: %+v", r)
		}
	}
}

// TestSendersShareTheRate: the senders' rates add up to the scan's, the
// remainder spread one each; there are never more senders than packets
// per second.
func TestSendersShareTheRate(t *testing.T) {
	for _, c := range []struct{ rate, senders, want int }{{4000, 3, 3}, {10, 3, 3}, {2, 8, 2}, {1, 4, 1}, {100, 9, maxSenders}} {
		s, err := newScan(ScanConfig{Targets: targets(t, "198.19.0.0/24"), Ports: []uint16{80}, Rate: c.rate, Senders: c.senders},
			newFake(nil), func(Result) {}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.senders) != c.want {
			t.Errorf("rate %d, %d senders asked: %d, want %d", c.rate, c.senders, len(s.senders), c.want)
			continue
		}
		var perSecond float64
		for _, sd := range s.senders {
			perSecond += float64(time.Second) / float64(sd.pace.interval)
		}
		if d := perSecond - float64(c.rate); d < -0.01*float64(c.rate) || d > 0.01*float64(c.rate) {
			t.Errorf("rate %d over %d senders: they send %.1f/s", c.rate, len(s.senders), perSecond)
		}
	}
}
