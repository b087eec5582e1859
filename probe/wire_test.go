//go:build linux

package probe

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
)

// TestShardsCoverTheScanOnce runs, for N = 1..4, every shard k/N of the
// same scan of three lab targets x five ports. Across the N shards every
// target:port is probed by exactly one SYN and reported exactly once, in
// the state the lab's topology says it has.
func TestShardsCoverTheScanOnce(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	topo := lab.Demo()
	nodes := map[netip.Addr]string{mustAddr("198.18.10.10"): "web", mustAddr("198.18.12.10"): "fw", mustAddr("198.18.13.10"): "reject"}
	ports := []uint16{22, 23, 25, 80, 81}
	for n := 1; n <= 4; n++ {
		reported, probed := map[netip.AddrPort]int{}, map[netip.AddrPort]int{}
		for k := 1; k <= n; k++ {
			var mu sync.Mutex
			capture := func(dir Direction, b []byte, _ time.Time) {
				var p craft.Packet
				if dir == Sent && p.Decode(b) == nil && p.TCP.Flags == craft.FlagSYN {
					mu.Lock()
					probed[netip.AddrPortFrom(p.IP.Dst, p.TCP.DstPort)]++
					mu.Unlock()
				}
			}
			c, prog := scan(t, conn, ScanConfig{Targets: targets(t, "198.18.10.10", "198.18.12.10", "198.18.13.10"), Ports: ports,
				Shard: k, Shards: n, Seed: 7, Timeout: 200 * time.Millisecond, Capture: capture})
			// A shard's Total may count a few positions its walk skips.
			if uint64(len(c.rs)) > prog.Total || n == 1 && uint64(len(c.rs)) != prog.Total {
				t.Errorf("shard %d/%d: %d results, Total %d", k, n, len(c.rs), prog.Total)
			}
			for _, r := range c.rs {
				reported[r.AddrPort()]++
				if want, _ := topo.PortState(nodes[r.Addr], r.Port); r.State.String() != want {
					t.Errorf("shard %d/%d: %v %v/%v, the lab says %s", k, n, r.AddrPort(), r.State, r.Reason, want)
				}
			}
		}
		for a := range nodes {
			for _, p := range ports {
				ap := netip.AddrPortFrom(a, p)
				if reported[ap] != 1 || probed[ap] != 1 {
					t.Errorf("%d shards: %v reported %d times, probed %d times; want once each", n, ap, reported[ap], probed[ap])
				}
			}
		}
		if len(reported) != 15 || len(probed) != 15 {
			t.Errorf("%d shards: %d target:ports reported, %d probed; want 15", n, len(reported), len(probed))
		}
	}
}

// TestReplyFieldsAgainstCapture compares every field synprobe reports from
// a SYN-ACK or RST (TTL, IP ID, DF, window, MSS, window scale,
// SACK-permitted, timestamps, and which options were there at all) with
// the same packet in a tcpdump capture on the prober's interface, decoded
// by gopacket.
func TestReplyFieldsAgainstCapture(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	topo := lab.Demo()
	dump := labtest.Tcpdump(t, l, lab.ProberName, topo.ProberInterface("web"), "tcp")
	c, _ := scan(t, conn, ScanConfig{Targets: targets(t, "198.18.3.10", "198.18.10.10", "198.18.11.10", "198.18.16.10"),
		Ports: []uint16{22, 80, 81, 445}})
	// The first SYN-ACK or RST from each target:port.
	type reply struct {
		ip  *layers.IPv4
		tcp *layers.TCP
	}
	replies := func(pkts []gopacket.Packet) map[netip.AddrPort]reply {
		first := map[netip.AddrPort]reply{}
		for _, p := range pkts {
			ip, tcp := labtest.IPv4TCP(p)
			if ip == nil || !(tcp.SYN && tcp.ACK || tcp.RST) {
				continue
			}
			a, _ := netip.AddrFromSlice(ip.SrcIP.To4())
			ap := netip.AddrPortFrom(a, uint16(tcp.SrcPort))
			if _, seen := first[ap]; !seen {
				first[ap] = reply{ip, tcp}
			}
		}
		return first
	}
	// Every reply synprobe reported.
	first := replies(dump.WaitFor(t, 5*time.Second, func(pkts []gopacket.Packet) (bool, string) {
		first := replies(pkts)
		var missing []string
		for _, r := range c.rs {
			if _, ok := first[r.AddrPort()]; !ok && (r.State == StateOpen || r.State == StateClosed) {
				missing = append(missing, fmt.Sprintf("the reply from %v (%v)", r.AddrPort(), r.State))
			}
		}
		return len(missing) == 0, strings.Join(missing, ", ")
	}))
	var open, closed int
	for _, r := range c.rs {
		if r.State != StateOpen && r.State != StateClosed {
			continue
		}
		w, ok := first[r.AddrPort()]
		if !ok {
			t.Errorf("%v: %v, but no reply in the capture", r.AddrPort(), r.State)
			continue
		}
		if r.State == StateOpen {
			open++
		} else {
			closed++
		}
		if w.tcp.SYN != (r.State == StateOpen) {
			t.Errorf("%v: %v, but the capture has flags SYN %v RST %v", r.AddrPort(), r.State, w.tcp.SYN, w.tcp.RST)
		}
		df := w.ip.Flags&layers.IPv4DontFragment != 0
		if r.Has&(HasTTL|HasIPID|HasWindow) != HasTTL|HasIPID|HasWindow || r.TTL != w.ip.TTL || r.IPID != w.ip.Id || r.DF != df || r.Window != w.tcp.Window {
			t.Errorf("%v: TTL %d ID %d DF %v window %d, capture %d %d %v %d", r.AddrPort(), r.TTL, r.IPID, r.DF, r.Window, w.ip.TTL, w.ip.Id, df, w.tcp.Window)
		}
		var mss, wscale, sack, ts bool
		for _, o := range w.tcp.Options {
			switch o.OptionType {
			case layers.TCPOptionKindMSS:
				mss = true
				if r.Has&HasMSS == 0 || r.MSS != binary.BigEndian.Uint16(o.OptionData) {
					t.Errorf("%v: MSS %d (has %v), capture %d", r.AddrPort(), r.MSS, r.Has&HasMSS != 0, binary.BigEndian.Uint16(o.OptionData))
				}
			case layers.TCPOptionKindWindowScale:
				wscale = true
				if r.Has&HasWScale == 0 || r.WScale != o.OptionData[0] {
					t.Errorf("%v: wscale %d (has %v), capture %d", r.AddrPort(), r.WScale, r.Has&HasWScale != 0, o.OptionData[0])
				}
			case layers.TCPOptionKindSACKPermitted:
				sack = true
			case layers.TCPOptionKindTimestamps:
				ts = true
				val, ecr := binary.BigEndian.Uint32(o.OptionData), binary.BigEndian.Uint32(o.OptionData[4:])
				if r.Has&HasTimestamps == 0 || r.TSval != val || r.TSecr != ecr {
					t.Errorf("%v: TSval %d TSecr %d (has %v), capture %d %d", r.AddrPort(), r.TSval, r.TSecr, r.Has&HasTimestamps != 0, val, ecr)
				}
			}
		}
		if mss != (r.Has&HasMSS != 0) || wscale != (r.Has&HasWScale != 0) || sack != r.SACKPermitted || ts != (r.Has&HasTimestamps != 0) {
			t.Errorf("%v: options MSS %v wscale %v SACK %v TS %v reported, capture %v %v %v %v", r.AddrPort(),
				r.Has&HasMSS != 0, r.Has&HasWScale != 0, r.SACKPermitted, r.Has&HasTimestamps != 0, mss, wscale, sack, ts)
		}
		if r.State == StateOpen && !(mss && wscale && sack && ts) {
			t.Errorf("%v: a Linux SYN-ACK without every option (MSS %v wscale %v SACK %v TS %v): the test proves less than it says",
				r.AddrPort(), mss, wscale, sack, ts)
		}
	}
	// edge 22; web 22, 80; win 445; clamp 80 open; the rest closed.
	if open != 5 || closed != 11 {
		t.Errorf("%d open and %d closed compared, want 5 and 11", open, closed)
	}
}
