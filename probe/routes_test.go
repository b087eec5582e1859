package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// TestRouteLostMidScan: the route to every target goes away after 300
// probes of a /22 (an interface taken down, a route deleted). Every probe
// still gets its result, those sent before open and the rest no-route, and
// the scan ends with ErrRouteLost, which says when and how many; a target
// that had no route from the start is no such fault
// (TestUnroutableBlockIsNotSent, TestNoRouteIsPerTarget).
func TestRouteLostMidScan(t *testing.T) {
	var sent atomic.Int64
	gone := func() bool { return sent.Load() >= 300 }
	f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags == craft.FlagSYN {
			sent.Add(1)
		}
		answerEverySYN(f, p, at)
	})
	f.route = func(dst netip.Addr) error {
		if gone() {
			return fmt.Errorf("raw: %v: %w", dst, raw.ErrNoRoute)
		}
		return nil
	}
	f.refuse = func(p *craft.Packet) error {
		if gone() {
			return fmt.Errorf("raw: send to %v: %w", p.IP.Dst, raw.ErrNoRoute)
		}
		return nil
	}
	var c collector
	var prog Progress
	err := Scan(context.Background(), ScanConfig{Targets: targets(t, "198.19.0.0/22"), Ports: []uint16{80}, Rate: 20000,
		Timeout: 100 * time.Millisecond}, f, c.add, &prog)
	if !errors.Is(err, ErrRouteLost) {
		t.Fatalf("scan whose route went away: %v, want %v", err, ErrRouteLost)
	}
	open, noRoute := 0, 0
	for _, r := range c.rs {
		switch {
		case r.State == StateOpen:
			open++
		case r.Reason == ReasonNoRoute:
			noRoute++
		default:
			t.Fatalf("%v: %v/%v", r.AddrPort(), r.State, r.Reason)
		}
	}
	if len(c.rs) != 1024 || open != 300 || noRoute != 724 {
		t.Fatalf("%d results: %d open, %d no-route; want 1024: 300 and 724", len(c.rs), open, noRoute)
	}
	for _, want := range []string{"198.19.", "s into it", "probes from then on had none"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

// TestRepliesStoppedMidScan: the target stops answering after 300 probes
// of a /22 (taken away, or a link cut further on), with no route lost.
// Every probe still has its result, the rest filtered/no-response, and
// the scan ends with ErrRepliesStopped, which says when and how many were
// due. A scan where half the targets never answer, spread over the whole
// order, is no such fault; nor is one where the targets after some point
// answer with ICMP errors instead.
func TestRepliesStoppedMidScan(t *testing.T) {
	var sent atomic.Int64
	f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags == craft.FlagSYN && sent.Add(1) <= 300 {
			answerEverySYN(f, p, at)
		}
	})
	var c collector
	err := Scan(context.Background(), ScanConfig{Targets: targets(t, "198.19.0.0/22"), Ports: []uint16{80}, Rate: 20000,
		Timeout: 100 * time.Millisecond}, f, c.add, nil)
	if !errors.Is(err, ErrRepliesStopped) || errors.Is(err, ErrRouteLost) {
		t.Fatalf("scan whose target stopped answering: %v, want %v", err, ErrRepliesStopped)
	}
	open, silent := 0, 0
	for _, r := range c.rs {
		switch {
		case r.State == StateOpen:
			open++
		case r.Reason == ReasonNoResponse:
			silent++
		}
	}
	if len(c.rs) != 1024 || open != 300 || silent != 724 {
		t.Fatalf("%d results: %d open, %d no-response; want 1024: 300 and 724", len(c.rs), open, silent)
	}
	for _, want := range []string{"s into it", "more went out", "would have been answered"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}

	// Half the targets never answer, wherever they fall in the order.
	f = newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags == craft.FlagSYN && p.IP.Dst.As4()[3]%2 == 0 {
			answerEverySYN(f, p, at)
		}
	})
	if err := Scan(context.Background(), ScanConfig{Targets: targets(t, "198.19.0.0/22"), Ports: []uint16{80}, Rate: 20000,
		Timeout: 100 * time.Millisecond, Retries: 1}, f, func(Result) {}, nil); err != nil {
		t.Fatalf("half the targets silent: %v", err)
	}
	// After 300 probes, ICMP errors instead of SYN-ACKs: replies still.
	sent.Store(0)
	f = newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		switch {
		case p.TCP.Flags != craft.FlagSYN:
		case sent.Add(1) <= 300:
			answerEverySYN(f, p, at)
		default:
			f.queueReply(icmpUnreach(p, 13, mustAddr("198.18.2.2")), at.Add(time.Millisecond))
		}
	})
	if err := Scan(context.Background(), ScanConfig{Targets: targets(t, "198.19.0.0/22"), Ports: []uint16{80}, Rate: 20000,
		Timeout: 100 * time.Millisecond}, f, func(Result) {}, nil); err != nil {
		t.Fatalf("ICMP errors after 300 probes: %v", err)
	}
}
