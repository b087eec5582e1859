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

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/internal/privileged"
)

// TestLatencyAgainstCapture compares each reported handshake latency with
// the SYN to SYN-ACK time in a tcpdump capture on the prober's interface,
// with nanosecond kernel timestamps: an oracle synprobe has no part in;
// over IPv4 and IPv6, within the same bounds.
func TestLatencyAgainstCapture(t *testing.T) {
	privileged.Require(t)
	l := labtest.Start(t, lab.Demo())
	conn := openInLab(t, l)
	for _, c := range []struct {
		target string
		max    time.Duration // on the median absolute error
	}{
		{"198.18.14.10:80", 200 * time.Microsecond},    // 20 ms + 20 ms
		{"198.18.10.10:80", 50 * time.Microsecond},     // no added delay
		{"[2001:2:0:e::a]:80", 200 * time.Microsecond}, // the same hosts over IPv6
		{"[2001:2:0:a::a]:80", 50 * time.Microsecond},
	} {
		dump := labtest.Tcpdump(t, l, lab.ProberName, "to-r1", "tcp")
		var sports []uint16
		capture := func(dir Direction, pkt []byte, _ time.Time) {
			var p craft.Packet
			if dir == Sent && p.Decode(pkt) == nil && p.TCP.Flags == craft.FlagSYN {
				sports = append(sports, p.TCP.SrcPort)
			}
		}
		var rs []Result
		_, err := Ping(context.Background(), PingConfig{Target: netip.MustParseAddrPort(c.target), Count: 30,
			Interval: 30 * time.Millisecond, Capture: capture}, conn, func(r Result) { rs = append(rs, r) })
		if err != nil {
			t.Fatal(err)
		}
		// The SYN and the SYN-ACK of every probe answered.
		syn, synack := handshakes(dump.WaitFor(t, 5*time.Second, func(pkts []gopacket.Packet) (bool, string) {
			syn, synack := handshakes(pkts)
			var missing []string
			for i, r := range rs {
				if r.Has&HasRTT == 0 || i >= len(sports) {
					continue
				}
				if _, ok := syn[sports[i]]; !ok {
					missing = append(missing, fmt.Sprintf("seq %d's SYN", r.Seq))
				}
				if _, ok := synack[sports[i]]; !ok {
					missing = append(missing, fmt.Sprintf("seq %d's SYN-ACK", r.Seq))
				}
			}
			return len(missing) == 0, strings.Join(missing, ", ")
		}))
		var errs, reported, captured []time.Duration
		for i, r := range rs {
			if r.Has&HasRTT == 0 || r.Clock != ClockKernel || i >= len(sports) {
				t.Errorf("%s seq %d: no kernel-clock RTT (%v)", c.target, r.Seq, r.Clock)
				continue
			}
			ts, ok1 := syn[sports[i]]
			ta, ok2 := synack[sports[i]]
			if !ok1 || !ok2 {
				t.Errorf("%s seq %d: not in the capture", c.target, r.Seq)
				continue
			}
			want := ta.Sub(ts)
			d := r.RTT - want
			if d < 0 {
				d = -d
			}
			errs = append(errs, d)
			reported = append(reported, r.RTT)
			captured = append(captured, want)
		}
		if len(errs) < 25 {
			t.Fatalf("%s: only %d probes compared", c.target, len(errs))
		}
		slices.Sort(errs)
		slices.Sort(reported)
		slices.Sort(captured)
		med := errs[len(errs)/2]
		t.Logf("%s: median |reported - captured| %v, p99 %v; medians %v reported, %v captured",
			c.target, med, errs[len(errs)-1], reported[len(reported)/2], captured[len(captured)/2])
		if med > c.max {
			t.Errorf("%s: median error %v, want at most %v", c.target, med, c.max)
		}
		if d := reported[len(reported)/2] - captured[len(captured)/2]; d > c.max || -d > c.max {
			t.Errorf("%s: median reported %v vs captured %v", c.target, reported[len(reported)/2], captured[len(captured)/2])
		}
	}
}

// handshakes returns, by the prober's source port, the time of each SYN
// sent and of the SYN-ACK that answered it, in a capture with nanosecond
// timestamps (labtest.Tcpdump checks the file's resolution).
func handshakes(pkts []gopacket.Packet) (syn, synack map[uint16]time.Time) {
	syn, synack = map[uint16]time.Time{}, map[uint16]time.Time{}
	for _, p := range pkts {
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			continue
		}
		at := p.Metadata().Timestamp
		switch {
		case tcp.SYN && !tcp.ACK:
			syn[uint16(tcp.SrcPort)] = at
		case tcp.SYN && tcp.ACK:
			if _, seen := synack[uint16(tcp.DstPort)]; !seen {
				synack[uint16(tcp.DstPort)] = at
			}
		}
	}
	return syn, synack
}
