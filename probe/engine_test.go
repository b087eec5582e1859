package probe

import (
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
)

// TestSynAckOutranksICMPWithItsOwnLatency: an ICMP error arrives 5 ms
// after the SYN, then a SYN-ACK 7 ms after it. The SYN-ACK outranks the
// ICMP error, and the latency reported is the SYN-ACK's, to the
// nanosecond (the fake's clock, not the engine's). Replies after that (a
// retransmitted SYN-ACK, a second ICMP error, a RST) are duplicates:
// counted, never reported.
func TestSynAckOutranksICMPWithItsOwnLatency(t *testing.T) {
	router := mustAddr("198.18.2.2")
	f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags != craft.FlagSYN {
			return
		}
		switch p.TCP.DstPort {
		case 80:
			f.queueReply(icmpUnreach(p, 13, router), at.Add(5*time.Millisecond))
			f.queueReply(synAck(p), at.Add(7*time.Millisecond))
			f.queueReply(synAck(p), at.Add(9*time.Millisecond))
			f.queueReply(icmpUnreach(p, 13, router), at.Add(10*time.Millisecond))
			f.queueReply(rst(p), at.Add(11*time.Millisecond))
		case 81:
			f.queueReply(icmpUnreach(p, 13, router), at.Add(5*time.Millisecond))
			f.queueReply(rst(p), at.Add(6*time.Millisecond))
		case 82: // ICMP alone: it stands, with its own latency
			f.queueReply(icmpUnreach(p, 3, router), at.Add(4*time.Millisecond))
			f.queueReply(icmpUnreach(p, 3, router), at.Add(8*time.Millisecond))
		}
	})
	c, prog := fakeScan(t, f, ScanConfig{Targets: targets(t, "198.18.10.10"), Ports: []uint16{80, 81, 82}})
	if len(c.rs) != 3 {
		t.Fatalf("%d results, want 3: %+v", len(c.rs), c.rs)
	}
	for _, w := range []struct {
		port   uint16
		state  State
		reason Reason
		rtt    time.Duration
	}{
		{80, StateOpen, ReasonSynAck, 7 * time.Millisecond},
		{81, StateClosed, ReasonRST, 6 * time.Millisecond},
		{82, StateFiltered, "port-unreachable", 4 * time.Millisecond},
	} {
		r := c.only(t, "198.18.10.10", w.port)
		if r.State != w.state || r.Reason != w.reason {
			t.Errorf("port %d: %v/%v, want %v/%v", w.port, r.State, r.Reason, w.state, w.reason)
		}
		if r.Has&HasRTT == 0 || r.RTT != w.rtt || r.Clock != ClockKernel {
			t.Errorf("port %d: RTT %v (measured %v, clock %v), want %v", w.port, r.RTT, r.Has&HasRTT != 0, r.Clock, w.rtt)
		}
		if w.state != StateFiltered && r.ICMPType != 0 {
			t.Errorf("port %d: ICMP type %d left on a TCP result", w.port, r.ICMPType)
		}
	}
	if d := prog.Duplicates.Load(); d != 4 {
		t.Errorf("%d duplicates, want 4 (SYN-ACK, ICMP and RST on 80, ICMP on 82)", d)
	}
	if o, cl, fi := prog.Open.Load(), prog.Closed.Load(), prog.Filtered.Load(); o != 1 || cl != 1 || fi != 1 {
		t.Errorf("progress: %d open, %d closed, %d filtered, want 1 each", o, cl, fi)
	}
}
