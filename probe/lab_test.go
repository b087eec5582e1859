//go:build linux

package probe

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/raw"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// openInLab opens raw sockets in the lab's prober namespace.
func openInLab(t *testing.T, l *lab.Lab) Conn {
	t.Helper()
	return openInLabWith(t, l, nil)
}

// openInLabWith is openInLab with a raw.Config.
func openInLabWith(t *testing.T, l *lab.Lab, cfg *raw.Config) Conn {
	t.Helper()
	var c Conn
	if err := l.Do(lab.ProberName, func() (err error) { c, err = OpenRaw(cfg); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func scan(t *testing.T, conn Conn, cfg ScanConfig) (*collector, *Progress) {
	t.Helper()
	var c collector
	var prog Progress
	if cfg.Rate == 0 {
		cfg.Rate = 2000
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 500 * time.Millisecond
	}
	if err := Scan(context.Background(), cfg, conn, c.add, &prog); err != nil {
		t.Fatal(err)
	}
	return &c, &prog
}

func TestScanDemoLab(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	c, prog := scan(t, conn, ScanConfig{
		Targets: targets(t, "198.18.3.10", "198.18.10.10", "198.18.11.10", "198.18.12.10", "198.18.13.10", "198.18.16.10"),
		Ports:   []uint16{22, 23, 25, 26, 80, 81, 445},
		Retries: 1,
	})
	// Every target:port settled exactly once.
	if len(c.rs) != 6*7 {
		t.Fatalf("%d results, want 42", len(c.rs))
	}
	seen := map[netip.AddrPort]bool{}
	for _, r := range c.rs {
		if seen[r.AddrPort()] {
			t.Fatalf("%v reported twice", r.AddrPort())
		}
		seen[r.AddrPort()] = true
	}
	want := []struct {
		addr   string
		port   uint16
		state  State
		reason Reason
		ttl    uint8
		init   uint8
		hops   uint8
		mss    uint16
	}{
		{"198.18.10.10", 22, StateOpen, ReasonSynAck, 62, 64, 2, 1460},
		{"198.18.10.10", 80, StateOpen, ReasonSynAck, 62, 64, 2, 1460},
		{"198.18.10.10", 81, StateClosed, ReasonRST, 62, 64, 2, 0},
		{"198.18.11.10", 445, StateOpen, ReasonSynAck, 126, 128, 2, 1360},
		{"198.18.11.10", 80, StateClosed, ReasonRST, 126, 128, 2, 0},
		{"198.18.3.10", 22, StateOpen, ReasonSynAck, 254, 255, 1, 1460},
		{"198.18.16.10", 80, StateOpen, ReasonSynAck, 62, 64, 2, 1200},
		{"198.18.12.10", 22, StateFiltered, ReasonNoResponse, 0, 0, 0, 0},
		{"198.18.12.10", 80, StateFiltered, ReasonNoResponse, 0, 0, 0, 0},
		{"198.18.13.10", 80, StateOpen, ReasonSynAck, 62, 64, 2, 1460},
		{"198.18.13.10", 23, StateClosed, ReasonRST, 62, 64, 2, 0},
		{"198.18.13.10", 25, StateFiltered, "port-unreachable", 62, 64, 2, 0},
		{"198.18.13.10", 26, StateFiltered, "host-unreachable", 62, 64, 2, 0},
		{"198.18.13.10", 445, StateFiltered, "admin-prohibited", 62, 64, 2, 0},
	}
	for _, w := range want {
		rs := c.get(w.addr, w.port)
		if len(rs) != 1 {
			t.Errorf("%s:%d: %d results", w.addr, w.port, len(rs))
			continue
		}
		r := rs[0]
		if r.State != w.state || r.Reason != w.reason {
			t.Errorf("%s:%d: %v/%v, want %v/%v", w.addr, w.port, r.State, r.Reason, w.state, w.reason)
		}
		if w.ttl != 0 && (r.Has&HasTTL == 0 || r.TTL != w.ttl || r.InitialTTL != w.init || r.Hops != w.hops) {
			t.Errorf("%s:%d: TTL %d initial %d hops %d, want %d %d %d", w.addr, w.port, r.TTL, r.InitialTTL, r.Hops, w.ttl, w.init, w.hops)
		}
		if w.mss != 0 && (r.Has&HasMSS == 0 || r.MSS != w.mss) {
			t.Errorf("%s:%d: MSS %d (has %v), want %d", w.addr, w.port, r.MSS, r.Has&HasMSS != 0, w.mss)
		}
		if w.mss == 0 && r.Has&HasMSS != 0 {
			t.Errorf("%s:%d: MSS %d reported on a reply without one", w.addr, w.port, r.MSS)
		}
		if w.ttl != 0 && (r.Has&HasRTT == 0 || r.Clock != ClockKernel || r.RTT <= 0 || r.RTT > 50*time.Millisecond) {
			t.Errorf("%s:%d: RTT %v clock %v", w.addr, w.port, r.RTT, r.Clock)
		}
		if w.reason == ReasonNoResponse && r.Tries != 2 {
			t.Errorf("%s:%d: %d tries, want 2", w.addr, w.port, r.Tries)
		}
	}
	if prog.Malformed.Load() != 0 {
		t.Errorf("%d malformed replies from real stacks", prog.Malformed.Load())
	}
	if prog.Resets.Load() == 0 {
		t.Error("no RST sent after the SYN-ACKs")
	}
}

func TestPingRepeats(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	var rs []Result
	sports := map[uint16]int{}
	capture := func(dir Direction, pkt []byte, _ time.Time) {
		var p craft.Packet
		if dir == Sent && p.Decode(pkt) == nil && p.TCP.Flags == craft.FlagSYN {
			sports[p.TCP.SrcPort]++
		}
	}
	sum, err := Ping(context.Background(), PingConfig{Target: netip.MustParseAddrPort("198.18.10.10:80"), Count: 100,
		Interval: 10 * time.Millisecond, Capture: capture}, conn, func(r Result) { rs = append(rs, r) })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 100 || sum.Received != 100 || len(rs) != 100 {
		t.Fatalf("summary %+v, %d results", sum, len(rs))
	}
	for i, r := range rs {
		if r.Seq != i+1 || r.State != StateOpen || r.Clock != ClockKernel {
			t.Fatalf("probe %d: %+v", i+1, r)
		}
	}
	// Every probe a fresh 4-tuple: 100 SYNs from 100 source ports.
	if len(sports) != 100 {
		t.Fatalf("100 SYNs used %d source ports", len(sports))
	}
}

func TestPingLatencyOverDelayedLink(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	var rtts []time.Duration
	sum, err := Ping(context.Background(), PingConfig{Target: netip.MustParseAddrPort("198.18.14.10:80"), Count: 10,
		Interval: 20 * time.Millisecond}, conn, func(r Result) {
		if r.Has&HasRTT != 0 {
			rtts = append(rtts, r.RTT)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rtts)
	// The first probe also waits for ARP across the delayed link.
	if sum.Received != 10 || sum.P50 < 40*time.Millisecond || sum.P50 > 43*time.Millisecond {
		t.Fatalf("summary %+v", sum)
	}
}

func TestRecallSlash16(t *testing.T) {
	if testing.Short() {
		t.Skip("65,536 probes")
	}
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	// On two cores the lab sustains 50,000 SYNs/s when synprobe sends no
	// RSTs; with a RST for each SYN-ACK (three packets per probe into one
	// namespace) it sustains about 20,000.
	for _, c := range []struct {
		rate, retries int
		noReset       bool
	}{{50000, 0, true}, {20000, 1, false}} {
		col, prog := scan(t, conn, ScanConfig{Targets: targets(t, "198.19.0.0/16"), Ports: []uint16{80}, Rate: c.rate, Retries: c.retries, NoReset: c.noReset})
		open := 0
		for _, r := range col.rs {
			if r.State == StateOpen {
				open++
			}
		}
		wantResets := uint64(65536)
		if c.noReset {
			wantResets = 0
		}
		if open != 65536 || len(col.rs) != 65536 || prog.Duplicates.Load() != 0 || prog.Resets.Load() < wantResets {
			t.Errorf("rate %d, reset %v: %d open of %d results, %d duplicates, %d resets", c.rate, !c.noReset, open, len(col.rs),
				prog.Duplicates.Load(), prog.Resets.Load())
		}
	}
}

// TestNoRouteIsPerTarget: a target the prober has no route to (an unused
// part of the lab range) is reported as filtered/no-route; the others are
// scanned as usual, whether the unroutable target sorts after the
// routable one, before it, or is a whole block before it. The block is
// scanned with the limit of consecutive send failures at 3: after the
// first refusal the engine looks routes up rather than send into it.
func TestNoRouteIsPerTarget(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	for _, c := range []struct {
		unroutable string
		n          int
	}{{"198.18.200.1", 1}, {"198.18.0.1", 1}, {"198.18.4.0/24", 256}} {
		maxFailures := 0
		if c.n > 1 {
			maxFailures = 3
		}
		col, prog := scan(t, conn, ScanConfig{Targets: targets(t, c.unroutable, "198.18.10.10"), Ports: []uint16{80, 81}, MaxFailures: maxFailures})
		if len(col.rs) != 2*(c.n+1) {
			t.Fatalf("%s: %d results, want %d", c.unroutable, len(col.rs), 2*(c.n+1))
		}
		for _, r := range col.rs {
			if r.Addr == mustAddr("198.18.10.10") {
				if want := map[uint16]State{80: StateOpen, 81: StateClosed}[r.Port]; r.State != want {
					t.Errorf("%s: routable %v: %v, want %v", c.unroutable, r.AddrPort(), r.State, want)
				}
			} else if r.State != StateFiltered || r.Reason != ReasonNoRoute {
				t.Errorf("%s: unroutable %v: %v/%v", c.unroutable, r.AddrPort(), r.State, r.Reason)
			}
		}
		if prog.NoRoute.Load() != uint64(2*c.n) {
			t.Errorf("%s: %d no-route, want %d", c.unroutable, prog.NoRoute.Load(), 2*c.n)
		}
	}
}

// TestLocalFirewallInLab: an nftables rule in the prober's own OUTPUT
// chain drops SYNs to one target:port, so the kernel refuses that send
// (EPERM). That target:port is filtered/local-firewall; the scan goes on
// and finds everything else as the lab says.
func TestLocalFirewallInLab(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	// table ip t { chain out { type filter hook output priority filter;
	//   ip daddr 198.18.10.10 tcp dport 81 drop } }
	ns, err := netns.GetFromName(l.Namespace(lab.ProberName))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	nft, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tbl := nft.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "probe-test"})
	policy := nftables.ChainPolicyAccept
	ch := nft.AddChain(&nftables.Chain{Name: "out", Table: tbl, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy})
	dst := mustAddr("198.18.10.10").As4()
	nft.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst[:]},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 81}},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := nft.Flush(); err != nil {
		t.Fatal(err)
	}
	conn := openInLab(t, l)
	c, prog := scan(t, conn, ScanConfig{Targets: targets(t, "198.18.10.10", "198.18.13.10"), Ports: []uint16{22, 80, 81}, Retries: 1})
	if len(c.rs) != 6 {
		t.Fatalf("%d results, want 6", len(c.rs))
	}
	if r := c.only(t, "198.18.10.10", 81); r.State != StateFiltered || r.Reason != ReasonLocalFirewall {
		t.Errorf("198.18.10.10:81: %v/%v, want filtered/%s", r.State, r.Reason, ReasonLocalFirewall)
	}
	topo := lab.Demo()
	for _, w := range []struct {
		node, addr string
		port       uint16
	}{{"web", "198.18.10.10", 22}, {"web", "198.18.10.10", 80}, {"reject", "198.18.13.10", 22}, {"reject", "198.18.13.10", 80}, {"reject", "198.18.13.10", 81}} {
		want, _ := topo.PortState(w.node, w.port)
		if r := c.only(t, w.addr, w.port); r.State.String() != want {
			t.Errorf("%s:%d: %v/%v, want %s", w.addr, w.port, r.State, r.Reason, want)
		}
	}
	if prog.LocalFirewall.Load() != 1 {
		t.Errorf("%d local-firewall", prog.LocalFirewall.Load())
	}
}

// TestTeardownRSTOnTheWire reads, in a tcpdump capture on the prober's
// interface, the RST synprobe sends after each SYN-ACK: its sequence
// number is the SYN-ACK's acknowledgement and its TTL the configured one
// (50, so it cannot be the local kernel's own RST, which carries 64). With
// NoReset only the kernel's RSTs are there.
func TestTeardownRSTOnTheWire(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	topo := lab.Demo()
	type rstSeen struct {
		seq uint32
		ttl uint8
	}
	for _, noReset := range []bool{false, true} {
		dump := labtest.Tcpdump(t, l, lab.ProberName, topo.ProberInterface("web"), "tcp", "and", "host", "198.18.10.10")
		c, _ := scan(t, conn, ScanConfig{Targets: targets(t, "198.18.10.10"), Ports: []uint16{22, 80, 443}, TTL: 50, NoReset: noReset})
		for _, r := range c.rs {
			if r.State != StateOpen {
				t.Fatalf("%v: %v", r.AddrPort(), r.State)
			}
		}
		// Whatever synprobe sent before Scan returned is in the capture
		// once the mark is: with NoReset, that its RSTs are not.
		mark := layers.TCPPort(markEnd(t, l, "198.18.10.10:80"))
		// By prober port: the SYN-ACK's ack, and the RSTs to the target;
		// and the prober port each target port's SYN-ACK went to.
		read := func(pkts []gopacket.Packet) (synacks map[layers.TCPPort]uint32, rsts map[layers.TCPPort][]rstSeen, from map[layers.TCPPort]layers.TCPPort, marked bool) {
			synacks, rsts, from = map[layers.TCPPort]uint32{}, map[layers.TCPPort][]rstSeen{}, map[layers.TCPPort]layers.TCPPort{}
			for _, p := range pkts {
				ip, tcp := labtest.IPv4TCP(p)
				switch {
				case ip == nil:
				case tcp.SrcPort == mark || tcp.DstPort == mark:
					marked = true
				case tcp.SYN && tcp.ACK && ip.SrcIP.String() == "198.18.10.10":
					synacks[tcp.DstPort] = tcp.Ack
					from[tcp.SrcPort] = tcp.DstPort
				case tcp.RST && ip.DstIP.String() == "198.18.10.10":
					rsts[tcp.SrcPort] = append(rsts[tcp.SrcPort], rstSeen{tcp.Seq, ip.TTL})
				}
			}
			return synacks, rsts, from, marked
		}
		pkts := dump.WaitFor(t, 5*time.Second, func(pkts []gopacket.Packet) (bool, string) {
			_, rsts, from, marked := read(pkts)
			var missing []string
			for _, r := range c.rs {
				sport, ok := from[layers.TCPPort(r.Port)]
				if !ok {
					missing = append(missing, fmt.Sprintf("the SYN-ACK from port %d", r.Port))
				} else if !noReset && !slices.ContainsFunc(rsts[sport], func(s rstSeen) bool { return s.ttl == 50 }) {
					missing = append(missing, fmt.Sprintf("synprobe's RST from port %d", sport))
				}
			}
			if !marked {
				missing = append(missing, fmt.Sprintf("the end mark (the kernel's SYN from port %d)", mark))
			}
			return len(missing) == 0, strings.Join(missing, ", ")
		})
		synacks, rsts, _, _ := read(pkts)
		if len(synacks) != 3 {
			t.Fatalf("no reset %v: %d SYN-ACKs captured, want 3", noReset, len(synacks))
		}
		for port, ack := range synacks {
			ours, kernel := 0, 0
			for _, r := range rsts[port] {
				switch {
				case r.seq == ack && r.ttl == 50:
					ours++
				case r.seq == ack && r.ttl == 64:
					kernel++
				default:
					t.Errorf("no reset %v: port %d: RST seq %d TTL %d (SYN-ACK ack %d)", noReset, port, r.seq, r.ttl, ack)
				}
			}
			if want := map[bool]int{false: 1, true: 0}[noReset]; ours != want {
				t.Errorf("no reset %v: port %d: %d RSTs with seq %d and TTL 50, want %d (RSTs: %+v)", noReset, port, ours, ack, want, rsts[port])
			}
			t.Logf("no reset %v: port %d: %d RST from synprobe, %d from the local kernel", noReset, port, ours, kernel)
		}
	}
}
