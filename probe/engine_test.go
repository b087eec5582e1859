package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// TestSynAckOutranksICMPWithItsOwnLatency: an ICMP error arrives 5 ms
// after the SYN, then a SYN-ACK 7 ms after it. The SYN-ACK outranks the
// ICMP error, and the latency reported is the SYN-ACK's, to the
// nanosecond (the fake's clock, not the engine's). Replies after that (a
// retransmitted SYN-ACK, a second ICMP error, a RST) are duplicates:
// counted, never reported. Transmit stamps come tagged with their packet's
// ID, and again as copies of the packet (kernels before 6.13): the
// latencies are the same.
func TestSynAckOutranksICMPWithItsOwnLatency(t *testing.T) {
	for _, copies := range []bool{false, true} {
		t.Run(fmt.Sprint("copy-stamps-", copies), func(t *testing.T) { synAckOutranksICMP(t, copies) })
	}
}

func synAckOutranksICMP(t *testing.T, copyStamps bool) {
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
	f.copyStamps = copyStamps
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

// TestForeignStampsIgnored: the packet tap stamps every SYN the host sends
// from synprobe's port range, another program's too. A stamp carrying a
// SYN of a probe's 4-tuple without the scan's cookie, 3 ms after the
// probe, does not replace the probe's transmit time: the latency stays
// the SYN-ACK's 7 ms, and the stamp is counted as foreign.
func TestForeignStampsIgnored(t *testing.T) {
	f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags != craft.FlagSYN {
			return
		}
		f.foreignStamp(p, at.Add(3*time.Millisecond))
		f.queueReply(synAck(p), at.Add(7*time.Millisecond))
	})
	f.copyStamps = true
	c, _ := fakeScan(t, f, ScanConfig{Targets: targets(t, "198.18.10.10"), Ports: []uint16{80, 443}})
	for _, port := range []uint16{80, 443} {
		r := c.only(t, "198.18.10.10", port)
		if r.State != StateOpen || r.Has&HasRTT == 0 || r.RTT != 7*time.Millisecond || r.Clock != ClockKernel {
			t.Errorf("port %d: %v, RTT %v (measured %v, clock %v), want open in 7ms", port, r.State, r.RTT, r.Has&HasRTT != 0, r.Clock)
		}
	}
}

// TestICMPHeldInBoundedMemory: a firewall answers every probe of a fast
// scan with an ICMP error at once. Each is held back for a timeout (a
// SYN-ACK would outrank it), but never more than holdMax at a time:
// the oldest goes early. Every probe still gets exactly one result, with
// its ICMP error and its latency.
func TestICMPHeldInBoundedMemory(t *testing.T) {
	router := mustAddr("198.18.2.2")
	f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags == craft.FlagSYN {
			f.queueReply(icmpUnreach(p, 13, router), at.Add(time.Millisecond))
		}
	})
	const probes = 3 * holdMax
	var rs []Result
	maxHeld := 0
	var s *scanner
	s, err := newScan(ScanConfig{Targets: targets(t, "198.19.0.0/20"), Ports: []uint16{80, 443, 8080}, Rate: 1_000_000,
		Timeout: 10 * time.Second, Cooldown: 200 * time.Millisecond}, f, func(r Result) {
		rs = append(rs, r)
		maxHeld = max(maxHeld, s.held.len())
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if maxHeld > holdMax {
		t.Errorf("%d ICMP results held at once, want at most %d", maxHeld, holdMax)
	}
	seen := map[netip.AddrPort]bool{}
	for _, r := range rs {
		ap := netip.AddrPortFrom(r.Addr, r.Port)
		if seen[ap] || r.State != StateFiltered || r.ICMPCode != 13 || r.ICMPFrom != router || r.Has&HasRTT == 0 || r.RTT != time.Millisecond {
			t.Fatalf("%v: %+v (seen before: %v)", ap, r, seen[ap])
		}
		seen[ap] = true
	}
	if len(seen) != probes {
		t.Fatalf("%d results for %d probes", len(seen), probes)
	}
}

// TestTriesCountsProbesSent: Tries is how many probes went out for a
// target:port, not which one was answered. Each port's fate is scripted by
// try (three tries, 100 ms apart):
//   - 80: the first SYN is answered only when the retry goes out: 2 tries,
//     and the latency is the first SYN's (the reply acknowledges it);
//   - 81: the first SYN is answered at once: 1 try;
//   - 82: nothing ever answers: 3 tries;
//   - 83: the second SYN is answered when the third goes out: 3 tries;
//   - 84: the first SYN is answered 50 ms after the retry went out, while
//     the sender waits before the third pass: 2 tries.
func TestTriesCountsProbesSent(t *testing.T) {
	syns := map[uint16][]craft.Packet{}
	f := newFake(nil)
	f.respond = func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags != craft.FlagSYN {
			return
		}
		port := p.TCP.DstPort
		syns[port] = append(syns[port], *p)
		try := len(syns[port]) - 1
		switch {
		case port == 80 && try == 1:
			f.queueReply(synAck(&syns[80][0]), at.Add(time.Millisecond))
		case port == 81 && try == 0:
			f.queueReply(synAck(p), at.Add(time.Millisecond))
		case port == 83 && try == 2:
			f.queueReply(synAck(&syns[83][1]), at.Add(time.Millisecond))
		case port == 84 && try == 1:
			first := syns[84][0]
			time.AfterFunc(50*time.Millisecond, func() {
				f.mu.Lock()
				f.queueReply(synAck(&first), time.Now())
				f.mu.Unlock()
			})
		}
	}
	c, _ := fakeScan(t, f, ScanConfig{Targets: targets(t, "198.18.10.10"), Ports: []uint16{80, 81, 82, 83, 84}, Retries: 2})
	for _, w := range []struct {
		port  uint16
		state State
		tries int
	}{{80, StateOpen, 2}, {81, StateOpen, 1}, {82, StateFiltered, 3}, {83, StateOpen, 3}, {84, StateOpen, 2}} {
		r := c.only(t, "198.18.10.10", w.port)
		sent := len(f.sentTo("198.18.10.10", w.port, craft.FlagSYN))
		if r.State != w.state || r.Tries != w.tries || sent != w.tries {
			t.Errorf("port %d: %v after %d tries (%d SYNs sent), want %v after %d", w.port, r.State, r.Tries, sent, w.state, w.tries)
		}
	}
	// The latency of port 80 runs from the first SYN, which the reply
	// acknowledges, to the reply, which came 1 ms after the second SYN.
	first, second := f.sentTo("198.18.10.10", 80, craft.FlagSYN)[0], f.sentTo("198.18.10.10", 80, craft.FlagSYN)[1]
	if r := c.only(t, "198.18.10.10", 80); r.RTT != second.at.Add(time.Millisecond).Sub(first.at) {
		t.Errorf("port 80: RTT %v, want %v", r.RTT, second.at.Add(time.Millisecond).Sub(first.at))
	}
}

// TestBadChecksumsAreMalformed: a reply whose IPv4, TCP or ICMP checksum
// does not verify settles nothing and is counted as malformed; the port
// ends up unanswered. A SYN-ACK whose checksum field holds only the
// pseudo-header sum is what a stack on this machine sends through a veth
// with checksum offload (the kernel never finishes it): it counts.
func TestBadChecksumsAreMalformed(t *testing.T) {
	router := mustAddr("198.18.2.2")
	flip := func(b []byte, at int) []byte { b[at] ^= 0x5a; return b }
	f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags != craft.FlagSYN {
			return
		}
		var b []byte
		switch p.TCP.DstPort {
		case 80:
			b = flip(synAck(p), 20+16) // TCP checksum
		case 81:
			b = flip(rst(p), 20+16)
		case 82:
			b = flip(icmpUnreach(p, 13, router), 20+2) // ICMP checksum
		case 83:
			b = flip(synAck(p), 10) // IPv4 header checksum
		case 84:
			b = synAck(p)
			seg := len(b) - 20
			c := craft.Fold(craft.PseudoHeaderSum(p.IP.Dst, p.IP.Src, craft.ProtocolTCP, uint16(seg)))
			b[20+16], b[20+17] = byte(c>>8), byte(c)
		case 85:
			b = synAck(p)
		}
		f.queueReply(b, at.Add(time.Millisecond))
	})
	c, prog := fakeScan(t, f, ScanConfig{Targets: targets(t, "198.18.10.10"), Ports: []uint16{80, 81, 82, 83, 84, 85}})
	for port := uint16(80); port <= 83; port++ {
		if r := c.only(t, "198.18.10.10", port); r.State != StateFiltered || r.Reason != ReasonNoResponse {
			t.Errorf("port %d: %v/%v from a reply with a bad checksum", port, r.State, r.Reason)
		}
	}
	for _, port := range []uint16{84, 85} {
		if r := c.only(t, "198.18.10.10", port); r.State != StateOpen {
			t.Errorf("port %d: %v/%v, want open", port, r.State, r.Reason)
		}
	}
	if m, rep := prog.Malformed.Load(), prog.Replies.Load(); m != 4 || rep != 2 {
		t.Errorf("%d malformed, %d valid replies; want 4 and 2", m, rep)
	}
}

// firewallRefuses makes the fake refuse SYNs to port as raw.Conn does
// when the local firewall drops them (EPERM).
func firewallRefuses(port uint16) func(p *craft.Packet) error {
	return func(p *craft.Packet) error {
		if p.TCP.DstPort == port && p.TCP.Flags == craft.FlagSYN {
			return fmt.Errorf("raw: send to %v: %w", p.IP.Dst, raw.ErrFirewall)
		}
		return nil
	}
}

func answerEverySYN(f *fakeConn, p *craft.Packet, at time.Time) {
	if p.TCP.Flags == craft.FlagSYN {
		f.queueReply(synAck(p), at.Add(time.Millisecond))
	}
}

// TestLocalFirewallIsPerTarget: a SYN the local firewall refuses settles
// its own target:port as filtered/local-firewall, is not retried, and the
// scan goes on; only ErrTooManyFailures stops a run.
func TestLocalFirewallIsPerTarget(t *testing.T) {
	f := newFake(answerEverySYN)
	f.refuse = firewallRefuses(81)
	c, prog := fakeScan(t, f, ScanConfig{Targets: targets(t, "198.18.10.10", "198.18.11.10"), Ports: []uint16{80, 81, 82}, Retries: 1})
	if len(c.rs) != 6 {
		t.Fatalf("%d results, want 6", len(c.rs))
	}
	for _, a := range []string{"198.18.10.10", "198.18.11.10"} {
		if r := c.only(t, a, 81); r.State != StateFiltered || r.Reason != ReasonLocalFirewall || r.Tries != 1 || r.Has != 0 {
			t.Errorf("%s:81: %v/%v after %d tries (has %b), want filtered/%s after 1", a, r.State, r.Reason, r.Tries, r.Has, ReasonLocalFirewall)
		}
		for _, port := range []uint16{80, 82} {
			if r := c.only(t, a, port); r.State != StateOpen {
				t.Errorf("%s:%d: %v/%v, want open", a, port, r.State, r.Reason)
			}
		}
	}
	if n := len(f.refused); n != 2 {
		t.Errorf("%d sends refused, want 2 (no retry of a refused probe)", n)
	}
	if prog.LocalFirewall.Load() != 2 || prog.Filtered.Load() != 2 {
		t.Errorf("progress: %d local-firewall, %d filtered; want 2 and 2", prog.LocalFirewall.Load(), prog.Filtered.Load())
	}

	// Every send refused: the run stops after the limit of consecutive
	// failures.
	f = newFake(answerEverySYN)
	f.refuse = func(p *craft.Packet) error { return fmt.Errorf("raw: send to %v: %w", p.IP.Dst, raw.ErrFirewall) }
	err := Scan(context.Background(), ScanConfig{Targets: targets(t, "198.18.10.0/28"), Ports: []uint16{80}, Rate: 1000,
		Timeout: 50 * time.Millisecond, MaxFailures: 5}, f, func(Result) {}, nil)
	if !errors.Is(err, ErrTooManyFailures) {
		t.Fatalf("scan with every send refused: %v, want %v", err, ErrTooManyFailures)
	}
}

// TestPingLocalFirewall: each ping probe the firewall refuses is its own
// filtered/local-firewall result, and the ping goes on.
func TestPingLocalFirewall(t *testing.T) {
	f := newFake(answerEverySYN)
	f.refuse = firewallRefuses(81)
	var rs []Result
	sum, err := Ping(context.Background(), PingConfig{Target: netip.MustParseAddrPort("198.18.10.10:81"), Count: 3,
		Interval: time.Millisecond, Timeout: 50 * time.Millisecond}, f, func(r Result) { rs = append(rs, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || sum.Sent != 3 || sum.Received != 0 {
		t.Fatalf("%d results, summary %+v", len(rs), sum)
	}
	for i, r := range rs {
		if r.Seq != i+1 || r.State != StateFiltered || r.Reason != ReasonLocalFirewall {
			t.Errorf("probe %d: %+v", i+1, r)
		}
	}
}

// noRouteExcept makes the fake behave as a kernel with a route to the
// given addresses only: route lookups fail, and so do sends.
func noRouteExcept(f *fakeConn, routable ...string) {
	ok := map[netip.Addr]bool{}
	for _, a := range routable {
		ok[mustAddr(a)] = true
	}
	f.route = func(dst netip.Addr) error {
		if !ok[dst] {
			return fmt.Errorf("raw: %v: %w", dst, raw.ErrNoRoute)
		}
		return nil
	}
	f.refuse = func(p *craft.Packet) error {
		if !ok[p.IP.Dst] {
			return fmt.Errorf("raw: send to %v: %w", p.IP.Dst, raw.ErrNoRoute)
		}
		return nil
	}
}

// TestSourceFromAnyRoutableTarget: the source address comes from the
// route to some target that has one, wherever it sorts: first, last, or
// after a large block without routes. Only when no target tried has a
// route does the scan refuse to start, saying so.
func TestSourceFromAnyRoutableTarget(t *testing.T) {
	for _, c := range []struct {
		name     string
		targets  []string
		routable string
	}{
		{"unroutable first", []string{"198.18.0.1", "198.18.10.10"}, "198.18.10.10"},
		{"unroutable last", []string{"198.18.10.10", "198.18.200.1"}, "198.18.10.10"},
		{"three, routable in the middle", []string{"198.18.0.1", "198.18.10.10", "198.18.200.1"}, "198.18.10.10"},
		{"a /22 before it", []string{"198.18.4.0/22", "198.18.10.10"}, "198.18.10.10"},
		{"a /22 after it", []string{"198.18.10.10", "198.18.20.0/22"}, "198.18.10.10"},
	} {
		f := newFake(nil)
		noRouteExcept(f, c.routable)
		src, via, err := sourceFor(f, targets(t, c.targets...), false)
		if err != nil || src != f.src || via != mustAddr(c.routable) {
			t.Errorf("%s: source %v from the route to %v, %v; want %v from %s", c.name, src, via, err, f.src, c.routable)
		}
	}
	f := newFake(nil)
	noRouteExcept(f)
	if _, _, err := sourceFor(f, targets(t, "198.18.0.1", "198.18.200.0/24"), false); !errors.Is(err, raw.ErrNoRoute) {
		t.Errorf("no target routable: %v, want an error wrapping %v", err, raw.ErrNoRoute)
	}
	if f.lookups != 64 {
		t.Errorf("%d route lookups for 257 unroutable targets, want 64", f.lookups)
	}
}

// TestUnroutableBlockIsNotSent: a /24 without a route before a routable
// target, two ports each. Every probe of the /24 is filtered/no-route,
// the routable ones are scanned, and once the kernel has refused one send
// for want of a route the engine looks routes up instead of sending into
// the block: at most 3 sends are refused.
func TestUnroutableBlockIsNotSent(t *testing.T) {
	f := newFake(answerEverySYN)
	noRouteExcept(f, "198.18.10.10")
	c, prog := fakeScan(t, f, ScanConfig{Targets: targets(t, "198.18.4.0/24", "198.18.10.10"), Ports: []uint16{80, 81}, Retries: 1})
	if len(c.rs) != 514 {
		t.Fatalf("%d results, want 514", len(c.rs))
	}
	for _, r := range c.rs {
		routable := r.Addr == mustAddr("198.18.10.10")
		if routable && r.State != StateOpen || !routable && (r.State != StateFiltered || r.Reason != ReasonNoRoute) {
			t.Fatalf("%v: %v/%v", r.AddrPort(), r.State, r.Reason)
		}
	}
	if prog.NoRoute.Load() != 512 {
		t.Errorf("%d no-route, want 512", prog.NoRoute.Load())
	}
	t.Logf("%d sends refused, %d route lookups", len(f.refused), f.lookups)
	if len(f.refused) > 3 {
		t.Errorf("%d sends refused for want of a route, want at most 3", len(f.refused))
	}
}

// TestPingWrapsSourcePorts: a ping of more probes than the source-port
// range has ports sends them all, reusing a port only after every port of
// the range has been used once.
func TestPingWrapsSourcePorts(t *testing.T) {
	f := newFake(answerEverySYN)
	var rs []Result
	sum, err := Ping(context.Background(), PingConfig{Target: netip.MustParseAddrPort("198.18.10.10:80"), Count: 12,
		Interval: time.Millisecond, Timeout: 50 * time.Millisecond, SourcePortLo: 40000, SourcePortHi: 40004}, f,
		func(r Result) { rs = append(rs, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 12 || sum.Sent != 12 || sum.Received != 12 {
		t.Fatalf("%d results, summary %+v; want 12 probes answered", len(rs), sum)
	}
	for i, r := range rs {
		if r.Seq != i+1 || r.State != StateOpen || r.Tries != 1 {
			t.Errorf("probe %d: seq %d %v, %d tries", i+1, r.Seq, r.State, r.Tries)
		}
	}
	var ports []uint16
	for _, s := range f.sentTo("198.18.10.10", 80, craft.FlagSYN) {
		var p craft.Packet
		p.Decode(s.b)
		ports = append(ports, p.TCP.SrcPort)
	}
	if len(ports) != 12 {
		t.Fatalf("%d SYNs sent, want 12", len(ports))
	}
	seen := map[uint16]bool{}
	for i, port := range ports {
		if port < 40000 || port > 40004 {
			t.Errorf("probe %d from port %d, outside the range", i+1, port)
		}
		if i < 5 && seen[port] || i >= 5 && port != ports[i-5] {
			t.Errorf("source ports %v: a port reused before the whole range was", ports)
			break
		}
		seen[port] = true
	}
}
