package probe

import (
	"context"
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
)

// TestEndsWhenEverythingIsSettled: once every probe has its final result,
// the scan waits neither for a retry pass nor for the rest of its
// cooldown; while one probe has none, or an ICMP error is held back for a
// SYN-ACK that would outrank it, it waits the whole cooldown.
func TestEndsWhenEverythingIsSettled(t *testing.T) {
	scan := func(t *testing.T, f *fakeConn, cfg ScanConfig) (*collector, time.Duration) {
		t.Helper()
		var c collector
		began := time.Now()
		if err := Scan(context.Background(), cfg, f, c.add, nil); err != nil {
			t.Fatal(err)
		}
		return &c, time.Since(began)
	}
	ports := []uint16{22, 80, 443}

	t.Run("all answered", func(t *testing.T) {
		f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
			if p.TCP.Flags != craft.FlagSYN {
				return
			}
			if p.TCP.DstPort == 80 {
				f.queueReply(synAck(p), at.Add(time.Millisecond))
			} else {
				f.queueReply(rst(p), at.Add(time.Millisecond))
			}
		})
		// Three tries and 20 s of timeout and cooldown: waiting for any
		// of them would take 20 s at least.
		c, took := scan(t, f, ScanConfig{Targets: targets(t, "198.18.10.0/28"), Ports: ports, Rate: 10000,
			Retries: 2, Timeout: 20 * time.Second, Cooldown: 20 * time.Second})
		if len(c.rs) != 16*3 {
			t.Fatalf("%d results, want 48", len(c.rs))
		}
		if syns := len(f.sentTo("198.18.10.3", 22, craft.FlagSYN)); syns != 1 {
			t.Errorf("%d SYNs to an answered port, want 1", syns)
		}
		if took > 10*time.Second {
			t.Errorf("the scan took %v: it waited though every probe was settled", took)
		}
	})

	t.Run("one unanswered", func(t *testing.T) {
		f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
			if p.TCP.Flags == craft.FlagSYN && !(p.IP.Dst == mustAddr("198.18.10.7") && p.TCP.DstPort == 443) {
				f.queueReply(rst(p), at.Add(time.Millisecond))
			}
		})
		const cooldown = 300 * time.Millisecond
		c, took := scan(t, f, ScanConfig{Targets: targets(t, "198.18.10.0/28"), Ports: ports, Rate: 10000,
			Timeout: cooldown, Cooldown: cooldown})
		if r := c.only(t, "198.18.10.7", 443); r.State != StateFiltered || r.Reason != ReasonNoResponse {
			t.Errorf("the unanswered probe: %+v", r)
		}
		if took < cooldown {
			t.Errorf("the scan took %v: it did not wait the %v cooldown for the unanswered probe", took, cooldown)
		}
	})

	t.Run("ICMP held for a SYN-ACK", func(t *testing.T) {
		router := mustAddr("198.18.2.2")
		f := newFake(nil)
		f.respond = func(f *fakeConn, p *craft.Packet, at time.Time) {
			if p.TCP.Flags != craft.FlagSYN {
				return
			}
			f.queueReply(icmpUnreach(p, 13, router), at.Add(time.Millisecond))
			// The SYN-ACK comes 150 ms later, after the ICMP error
			// settled the probe: it outranks it only if the scan is
			// still listening.
			reply := synAck(p)
			time.AfterFunc(150*time.Millisecond, func() {
				f.mu.Lock()
				f.queueReply(reply, time.Now())
				f.mu.Unlock()
			})
		}
		c, _ := scan(t, f, ScanConfig{Targets: targets(t, "198.18.10.10"), Ports: []uint16{80}, Rate: 1000,
			Timeout: 10 * time.Second, Cooldown: 400 * time.Millisecond})
		if r := c.only(t, "198.18.10.10", 80); r.State != StateOpen {
			t.Errorf("the SYN-ACK after the held ICMP error was missed: %+v", r)
		}
	})
}
