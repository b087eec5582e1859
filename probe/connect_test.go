package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/raw"
)

// TestJudgeConnect: each outcome a connect can have, with and without the
// kernel's ICMP record, gives what connect can really tell and no more.
func TestJudgeConnect(t *testing.T) {
	dst := netip.MustParseAddrPort("198.18.13.10:25")
	router := netip.MustParseAddr("198.18.2.1")
	icmp := func(typ, code uint8) *raw.ConnectICMP {
		return &raw.ConnectICMP{Type: typ, Code: code, From: router, TTL: 62, HasTTL: true, RTT: 3 * time.Millisecond}
	}
	// The errors as raw.Connect returns them: the sentinel, matched with
	// errors.Is, is what counts.
	refused := fmt.Errorf("connect: connection refused: %w", raw.ErrRefused)
	unreachable := fmt.Errorf("connect: no route to host: %w", raw.ErrUnreachable)
	for _, c := range []struct {
		name       string
		o          raw.ConnectOutcome
		queued     bool
		state      State
		reason     Reason
		has        Has
		icmpType   uint8
		icmpCode   uint8
		icmpSender bool
	}{
		{"connected", raw.ConnectOutcome{RTT: time.Millisecond, MSS: 1448, HasMSS: true}, true, StateOpen, "syn-ack", HasRTT | HasMSS, 0, 0, false},
		{"connected after an ICMP error", raw.ConnectOutcome{RTT: time.Millisecond, ICMP: icmp(3, 1)}, true, StateOpen, "syn-ack", HasRTT, 0, 0, false},
		{"refused, nothing queued: a RST", raw.ConnectOutcome{Err: refused, RTT: time.Millisecond}, true, StateClosed, "rst", HasRTT, 0, 0, false},
		{"refused, old kernel: RST or port-unreachable", raw.ConnectOutcome{Err: refused, RTT: time.Millisecond}, false, StateClosed, "refused", HasRTT, 0, 0, false},
		{"refused by port-unreachable", raw.ConnectOutcome{Err: refused, ICMP: icmp(3, 3)}, true, StateFiltered, "port-unreachable", HasRTT | HasTTL, 3, 3, true},
		{"host-unreachable", raw.ConnectOutcome{Err: unreachable, ICMP: icmp(3, 1)}, true, StateFiltered, "host-unreachable", HasRTT | HasTTL, 3, 1, true},
		{"admin-prohibited", raw.ConnectOutcome{Err: unreachable, ICMP: icmp(3, 13)}, true, StateFiltered, "admin-prohibited", HasRTT | HasTTL, 3, 13, true},
		{"ttl-exceeded", raw.ConnectOutcome{Err: unreachable, ICMP: icmp(11, 0)}, true, StateFiltered, "ttl-exceeded", HasRTT | HasTTL, 11, 0, true},
		{"ICMP without TTL", raw.ConnectOutcome{Err: unreachable, ICMP: &raw.ConnectICMP{Type: 3, Code: 10}}, true, StateFiltered, "host-prohibited", HasRTT, 3, 10, false},
		{"soft ICMP error, then the deadline", raw.ConnectOutcome{Err: raw.ErrTimeout, ICMP: icmp(3, 0)}, true, StateFiltered, "net-unreachable", HasRTT | HasTTL, 3, 0, true},
		{"unreachable, nothing queued", raw.ConnectOutcome{Err: unreachable}, false, StateFiltered, "unreachable", 0, 0, 0, false},
		{"no route: connect() refused at once", raw.ConnectOutcome{Err: unreachable, Immediate: true}, true, StateFiltered, "no-route", 0, 0, 0, false},
		{"timeout", raw.ConnectOutcome{Err: raw.ErrTimeout}, true, StateFiltered, "no-response", 0, 0, 0, false},
		{"context deadline", raw.ConnectOutcome{Err: context.DeadlineExceeded}, true, StateFiltered, "no-response", 0, 0, 0, false},
		{"interrupted", raw.ConnectOutcome{Err: context.Canceled}, true, StateFiltered, "no-response", 0, 0, 0, false},
		{"anything else", raw.ConnectOutcome{Err: errors.New("connect: permission denied")}, true, StateFiltered, "error: connect: permission denied", 0, 0, 0, false},
	} {
		r := judgeConnect(dst, c.o, c.queued)
		if r.State != c.state || r.Reason != c.reason || r.Has != c.has || r.ICMPType != c.icmpType || r.ICMPCode != c.icmpCode ||
			r.ICMPFrom.IsValid() != c.icmpSender || r.Tries != 1 || r.AddrPort() != dst {
			t.Errorf("%s: %v %q has %b icmp %d/%d from %v; want %v %q has %b icmp %d/%d", c.name, r.State, r.Reason, r.Has,
				r.ICMPType, r.ICMPCode, r.ICMPFrom, c.state, c.reason, c.has, c.icmpType, c.icmpCode)
		}
		if r.Has&HasTTL != 0 && (r.TTL != 62 || r.InitialTTL != 64 || r.Hops != 2) {
			t.Errorf("%s: ttl %d/%d hops %d", c.name, r.TTL, r.InitialTTL, r.Hops)
		}
		if r.Has&HasRTT != 0 && r.Clock != ClockUser {
			t.Errorf("%s: clock %v", c.name, r.Clock)
		}
	}
}

// TestJudgeConnectIPv6: an ICMPv6 error is named by ICMPv6's codes, not
// by ICMP's of the same numbers.
func TestJudgeConnectIPv6(t *testing.T) {
	dst := netip.MustParseAddrPort("[2001:2:0:d::a]:25")
	refused := fmt.Errorf("connect: connection refused: %w", raw.ErrRefused)
	for _, c := range []struct {
		typ, code uint8
		reason    Reason
	}{{1, 4, "port-unreachable"}, {1, 1, "admin-prohibited"}, {1, 3, "address-unreachable"}, {3, 0, "hop-limit-exceeded"}} {
		r := judgeConnect(dst, raw.ConnectOutcome{Err: refused, ICMP: &raw.ConnectICMP{Type: c.typ, Code: c.code, From: dst.Addr(), TTL: 62, HasTTL: true}}, true)
		if r.State != StateFiltered || r.Reason != c.reason || r.TTL != 62 || r.InitialTTL != 64 || r.Hops != 2 {
			t.Errorf("ICMPv6 %d/%d: %v %q ttl %d/%d hops %d, want filtered %q", c.typ, c.code, r.State, r.Reason, r.TTL, r.InitialTTL, r.Hops, c.reason)
		}
	}
}

// TestConnectLoopback probes the loopback interface: an open port (with
// the MSS the kernel learned) and a closed one, which on a kernel that
// queues ICMP errors is known to have answered with a RST.
func TestConnectLoopback(t *testing.T) {
	open, closed := labtest.LoopbackPorts(t)
	r := ConnectProbe(context.Background(), open, time.Second)
	if r.State != StateOpen || r.Reason != "syn-ack" || r.Has&HasMSS == 0 || r.Has&HasTTL != 0 || r.Has&HasWindow != 0 {
		t.Fatalf("open port: %+v", r)
	}
	r = ConnectProbe(context.Background(), closed, time.Second)
	want := ReasonRefused
	if raw.KernelQueuesConnectICMP() {
		want = ReasonRST
	}
	if r.State != StateClosed || r.Reason != want || r.Has != HasRTT {
		t.Fatalf("closed port: %v %q has %b, want closed %q", r.State, r.Reason, r.Has, want)
	}
	// Cancelled before it started: nothing is sent, no response.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = ConnectProbe(ctx, open, time.Second)
	if r.State != StateFiltered || r.Reason != ReasonNoResponse {
		t.Fatalf("cancelled probe: %+v", r)
	}
}
