//go:build linux

package raw

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
)

// syn6 builds an IPv6 SYN with gopacket, an encoder independent of
// synprobe's, with the given flow label.
func syn6(t testing.TB, src, dst netip.Addr, sport, dport uint16, seq, flow uint32) []byte {
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, FlowLabel: flow, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, SYN: true, Window: 64240,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xa0}}}}
	tcp.SetNetworkLayerForChecksum(ip6)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ip6, tcp); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), sb.Bytes()...)
}

// TestIPv6ThroughRawSockets sends hand-built IPv6 SYNs (with an IPv4 one in
// the same batch) from the prober and checks that the kernel's answers come
// back whole through ReadBatch, byte for byte what tcpdump captured on the
// prober's interface, decoded alike by craft.Packet and gopacket, with
// kernel receive stamps; that the tap stamps the IPv6 SYN with enough of
// it for craft.SegmentStart; and that Route gives the prober's IPv6
// source.
func TestIPv6ThroughRawSockets(t *testing.T) {
	l := testLab(t)
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999})
	src6, web6, rej6 := l.Addr6(lab.ProberName), l.Addr6("web"), l.Addr6("reject")

	rt, err := c.Route(web6)
	if err != nil || rt.Src != src6 || rt.Ifname != "to-r" {
		t.Fatalf("Route(%v) = %+v, %v; want source %v on to-r", web6, rt, err, src6)
	}

	cap := labtest.Tcpdump(t, l, lab.ProberName, "to-r", "ip6 and (tcp or icmp6)")
	const flow = 0xbeef5
	pkts := []Outgoing{
		{syn6(t, src6, web6, 40061, 80, 6000, flow), web6, 1},
		{syn6(t, src6, rej6, 40062, 25, 7000, flow), rej6, 2},
		{syn(t, l.Addr(lab.ProberName), l.Addr("web"), 40063, 80, 8000), l.Addr("web"), 3},
	}
	if n, err := c.WriteBatch(pkts); n != len(pkts) || err != nil {
		t.Fatalf("WriteBatch: %d %v", n, err)
	}

	type got struct {
		buf    []byte
		at     time.Time
		kernel bool
	}
	var synack6, icmp6 *got
	var synack4 bool
	readReplies(t, c, 3, 3*time.Second, func(m *Incoming) bool {
		b := append([]byte(nil), m.Buf[:m.N]...)
		var p craft.Packet
		if err := p.Decode(b); err != nil {
			t.Errorf("craft.Packet: %v (% x)", err, b)
			return false
		}
		switch {
		case p.IP.Version == 6 && p.IP.Protocol == craft.ProtocolTCP && p.TCP.SrcPort == 80 && p.TCP.DstPort == 40061:
			synack6 = &got{b, m.Time, m.Kernel}
		case p.IP.Version == 6 && p.IP.Protocol == craft.ProtocolICMPv6:
			icmp6 = &got{b, m.Time, m.Kernel}
		case p.IP.Version == 4 && p.TCP.DstPort == 40063:
			synack4 = true
		default:
			return false
		}
		return true
	})
	if synack6 == nil || icmp6 == nil || !synack4 {
		t.Fatalf("replies: IPv6 SYN-ACK %v, ICMPv6 %v, IPv4 SYN-ACK %v", synack6 != nil, icmp6 != nil, synack4)
	}

	// What tcpdump saw on the prober's link: the same bytes.
	inCapture := func(pkts []gopacket.Packet, b []byte) bool {
		for _, p := range pkts {
			if l := p.Layer(layers.LayerTypeIPv6); l != nil && bytes.Equal(append(l.LayerContents(), l.LayerPayload()...), b) {
				return true
			}
		}
		return false
	}
	seen := cap.WaitFor(t, 5*time.Second, func(pkts []gopacket.Packet) (bool, string) {
		return inCapture(pkts, synack6.buf) && inCapture(pkts, icmp6.buf), "the IPv6 SYN-ACK and ICMPv6 error as ReadBatch gave them"
	})
	_ = seen

	// craft and gopacket agree on the SYN-ACK, and it answers the SYN.
	var p craft.Packet
	p.Decode(synack6.buf)
	g := gopacket.NewPacket(synack6.buf, layers.LayerTypeIPv6, gopacket.Default)
	gip := g.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	gtcp := g.Layer(layers.LayerTypeTCP).(*layers.TCP)
	wantHop := uint8(64 - 1) // web is one router away
	if p.IP.TTL != wantHop || gip.HopLimit != wantHop || p.IP6.FlowLabel != gip.FlowLabel || p.IP6.TrafficClass != gip.TrafficClass ||
		p.IP.Src != web6 || p.IP.Dst != src6 || !gtcp.SYN || !gtcp.ACK || gtcp.Ack != 6001 || p.TCP.Ack != 6001 || p.TCP.Seq != gtcp.Seq {
		t.Errorf("SYN-ACK: craft %+v %+v, gopacket hop %d flow %#x ack %d", p.IP6, p.TCP.Ack, gip.HopLimit, gip.FlowLabel, gtcp.Ack)
	}
	if !synack6.kernel || !icmp6.kernel {
		t.Errorf("receive stamps not the kernel's: SYN-ACK %v, ICMPv6 %v", synack6.kernel, icmp6.kernel)
	}

	// The ICMPv6 error: port unreachable, quoting the SYN to port 25.
	p.Decode(icmp6.buf)
	gi := gopacket.NewPacket(icmp6.buf, layers.LayerTypeIPv6, gopacket.Default).Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if gi.TypeCode.Type() != layers.ICMPv6TypeDestinationUnreachable || gi.TypeCode.Code() != 4 || p.IP.Src != rej6 {
		t.Errorf("ICMPv6: %v from %v, want destination unreachable, port (4) from %v", gi.TypeCode, p.IP.Src, rej6)
	}

	// The tap stamped the IPv6 SYNs with 54 bytes or more of each.
	stamps := make([]TxStamp, 16)
	for i := range stamps {
		stamps[i].Buf = make([]byte, 128)
	}
	n, err := c.ReadTxTimestamps(stamps)
	if err != nil {
		t.Fatal(err)
	}
	var stamped6 int
	for _, st := range stamps[:n] {
		var s craft.SegmentStart
		if st.N < craft.SegmentStartLen6 && st.Buf[0]>>4 == 6 {
			t.Errorf("an IPv6 stamp with %d bytes", st.N)
		}
		if s.Decode(st.Buf[:st.N]) == nil && s.Src == src6 && (s.SrcPort == 40061 || s.SrcPort == 40062) {
			if !st.Kernel {
				t.Errorf("IPv6 stamp not the kernel's")
			}
			answer := map[uint16]*got{40061: synack6, 40062: icmp6}[s.SrcPort]
			if st.Time.After(answer.at) {
				t.Errorf("SYN from %d stamped at %v, after its answer arrived (%v)", s.SrcPort, st.Time, answer.at)
			}
			stamped6++
		}
	}
	if stamped6 != 2 {
		t.Errorf("%d IPv6 SYNs stamped of 2 (%d stamps, mode %v)", stamped6, n, c.tap != nil)
	}
}
