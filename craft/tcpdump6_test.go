package craft

// The IPv6 fixtures are packets the kernel sent in network namespaces (see
// the note at the top of each); the lines tcpdump printed for them, and for
// the quote of each ICMPv6 error read on its own, are stored with them.
// These tests read those lines, not values copied out of craft.

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fixtureNames6 lists every IPv6 kernel capture in testdata.
var fixtureNames6 = []string{
	"syn6.hex", "synack6.hex", "rst6.hex", "syn_dstopts6.hex",
	"icmp_port_unreachable6.hex", "icmp_admin_prohibited6.hex", "icmp_time_exceeded6.hex",
	"icmp_packet_too_big6.hex", "icmp_port_unreachable_udp6.hex",
	"fragment_first6.hex", "fragment_last6.hex", "mld_report6.hex",
}

var (
	client6  = netip.MustParseAddr("2001:2:0:1::1")
	router6  = netip.MustParseAddr("2001:2:0:1::2")
	server6  = netip.MustParseAddr("2001:2:0:2::2")
	reIP6    = regexp.MustCompile(`^IP6 (?:truncated-ip6 - \d+ bytes missing!)?\((?:class (0x[0-9a-f]+), )?(?:flowlabel (0x[0-9a-f]+), )?hlim (\d+), next-header [^(]*\((\d+)\) payload length: (\d+)\) (.*)$`)
	reAddrs6 = regexp.MustCompile(`^([0-9a-f:]+?)(?:\.(\d+))? > ([0-9a-f:]+?)(?:\.(\d+))?: (.*)$`)
	// What tcpdump says of a TCP header, after the ports; a truncated
	// segment has no checksum, and a range of sequence numbers.
	reTCPTail = regexp.MustCompile(`^Flags \[([^\]]*)\], (?:cksum (0x[0-9a-f]+) \(correct\), )?seq (\d+)(?::\d+)?(?:, ack (\d+))?, win (\d+)(?:, options \[([^\]]*)\])?, length (\d+)(?:: HTTP)?$`)
	reFrag6   = regexp.MustCompile(`^frag \((0x[0-9a-f]+):(\d+)\|(\d+)\)(.*)$`)
)

// ip6Line is one "IP6 (...) src > dst: rest" line, split.
type ip6Line struct {
	class, flow, hlim, nh, plen int
	src, dst                    netip.Addr
	sport, dport                int // -1: not shown
	rest                        string
}

func parseIP6Line(t *testing.T, line string) ip6Line {
	t.Helper()
	m := reIP6.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("not an IP6 line: %q", line)
	}
	var l ip6Line
	for i, p := range []*int{&l.class, &l.flow} {
		if m[1+i] != "" {
			*p = atoi(t, m[1+i])
		}
	}
	l.hlim, l.nh, l.plen = atoi(t, m[3]), atoi(t, m[4]), atoi(t, m[5])
	a := reAddrs6.FindStringSubmatch(m[6])
	if a == nil {
		t.Fatalf("no addresses in %q", m[6])
	}
	l.src, l.dst = netip.MustParseAddr(a[1]), netip.MustParseAddr(a[3])
	l.sport, l.dport = -1, -1
	if a[2] != "" {
		l.sport, l.dport = atoi(t, a[2]), atoi(t, a[4])
	}
	l.rest = a[5]
	return l
}

// check compares the line with a fixed IPv6 header and, when ip is not
// nil, the shared view of it in a Packet's IP.
func (l ip6Line) check(t *testing.T, h *IPv6, ip *IPv4) {
	t.Helper()
	if h.Version != 6 || int(h.TrafficClass) != l.class || int(h.FlowLabel) != l.flow || int(h.HopLimit) != l.hlim ||
		int(h.NextHeader) != l.nh || int(h.PayloadLen) != l.plen || h.Src != l.src || h.Dst != l.dst {
		t.Errorf("tcpdump: %+v\ncraft: %+v", l, *h)
	}
	if ip != nil && (ip.Version != 6 || ip.TOS != h.TrafficClass || ip.TTL != h.HopLimit || ip.Src != h.Src || ip.Dst != h.Dst ||
		ip.IHL != 0 || ip.TotalLen != 0 || ip.ID != 0 || ip.Flags != 0 || ip.FragOff != 0 || ip.Checksum != 0 || ip.OptionsLen != 0) {
		t.Errorf("shared fields %+v of %+v", *ip, *h)
	}
}

// checkTCPTail compares what tcpdump says after the ports with h, whose
// segment carries payloadLen bytes after its header.
func checkTCPTail(t *testing.T, tail string, h *TCP, payloadLen int, wantCksum bool) {
	t.Helper()
	m := reTCPTail.FindStringSubmatch(tail)
	if m == nil {
		t.Fatalf("not a TCP line: %q", tail)
	}
	ack := 0
	if m[4] != "" {
		ack = atoi(t, m[4])
	}
	if h.Flags.String() != m[1] || (m[2] != "") != wantCksum || m[2] != "" && int(h.Checksum) != atoi(t, m[2]) ||
		int(h.Seq) != atoi(t, m[3]) || int(h.Ack) != ack || (m[4] != "") != (h.Flags&FlagACK != 0) ||
		int(h.Window) != atoi(t, m[5]) || tcpdumpOptions(&h.Options) != m[6] || payloadLen != atoi(t, m[7]) ||
		h.Reserved != 0 || h.Urgent != 0 {
		t.Errorf("tcpdump: %s\ncraft: %+v options %q", tail, *h, tcpdumpOptions(&h.Options))
	}
}

func TestFixtures6MatchTcpdump(t *testing.T) {
	// TCP: the kernel's SYN (connect), SYN-ACK and RST, and a SYN with a
	// destination options header (IPV6_DSTOPTS, a PadN option).
	for _, c := range []struct {
		name string
		ext  []uint8
	}{{"syn6.hex", nil}, {"synack6.hex", nil}, {"rst6.hex", nil}, {"syn_dstopts6.hex", []uint8{IPv6DestOpts}}} {
		t.Run(c.name, func(t *testing.T) {
			lines := tcpdumpLines6(t, c.name)
			if len(lines) != 1 {
				t.Fatalf("want 1 tcpdump line, have %q", lines)
			}
			b := loadHex(t, c.name)
			var p Packet
			if err := p.Decode(b); err != nil {
				t.Fatal(err)
			}
			l := parseIP6Line(t, lines[0])
			l.check(t, &p.IP6, &p.IP)
			tail := l.rest
			if len(c.ext) > 0 {
				// "DSTOPT (padn) 59058 > 80: Flags [S], ..."
				var sp, dp int
				if _, err := fmt.Sscanf(tail, "DSTOPT (padn) %d > %d:", &sp, &dp); err != nil {
					t.Fatalf("%q: %v", tail, err)
				}
				l.sport, l.dport, tail = sp, dp, tail[strings.Index(tail, ": ")+2:]
			}
			if int(p.TCP.SrcPort) != l.sport || int(p.TCP.DstPort) != l.dport {
				t.Errorf("ports %d > %d, tcpdump %d > %d", p.TCP.SrcPort, p.TCP.DstPort, l.sport, l.dport)
			}
			checkTCPTail(t, tail, &p.TCP, p.PayloadLen, true)
			if p.IP.Protocol != ProtocolTCP || !bytes.Equal(p.Ext.KindList(), c.ext) || p.Ext.Len != 8*len(c.ext) ||
				p.TransportLen != l.plen-p.Ext.Len || !p.TCPChecksumOK || !p.IPChecksumOK || p.HasIPID() {
				t.Errorf("protocol %d, chain %v (%d bytes), transport %d, checksum ok %v", p.IP.Protocol, p.Ext.KindList(), p.Ext.Len,
					p.TransportLen, p.TCPChecksumOK)
			}
			if TCPChecksum(p.IP.Src, p.IP.Dst, b[IPv6HeaderLen+p.Ext.Len:]) != 0 {
				t.Error("the kernel's TCP checksum does not verify with TCPChecksum (PseudoHeaderSum's IPv6 pseudo-header)")
			}
			// Rebuilt from the parsed fields, checksum recomputed: the
			// kernel's bytes (the TCP segment alone after an extension
			// header, which BuildTCP6 does not write).
			ip, tcp := p.IP6, p.TCP
			out := make([]byte, 128)
			n, err := BuildTCP6(out, &ip, &tcp)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.ext) == 0 && !bytes.Equal(out[:n], b) || !bytes.Equal(out[IPv6HeaderLen:n], b[IPv6HeaderLen+p.Ext.Len:]) {
				t.Errorf("rebuilt\n%x\nwant\n%x", out[:n], b)
			}
		})
	}
}

func TestFixtures6ICMPMatchTcpdump(t *testing.T) {
	for _, c := range []struct {
		name       string
		from       netip.Addr
		typ, code  uint8
		icmpText   string // what tcpdump says of the message
		craftsName string
	}{
		{"icmp_port_unreachable6.hex", server6, 1, 4, "destination unreachable, unreachable port, 2001:2:0:2::2 tcp port 9", "port-unreachable"},
		{"icmp_admin_prohibited6.hex", server6, 1, 1, "destination unreachable,  unreachable prohibited 2001:2:0:2::2", "admin-prohibited"},
		{"icmp_time_exceeded6.hex", router6, 3, 0, "time exceeded in-transit for 2001:2:0:2::2", "hop-limit-exceeded"},
		// The router quotes 1232 bytes of a 1500-byte segment: as much as
		// fits in 1280 (RFC 4443 2.4(c)).
		{"icmp_packet_too_big6.hex", router6, 2, 0, "packet too big, mtu 1280", "packet-too-big"},
		{"icmp_port_unreachable_udp6.hex", server6, 1, 4, "destination unreachable, unreachable port, 2001:2:0:2::2 udp port 10", "port-unreachable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines := tcpdumpLines6(t, c.name)
			if len(lines) != 3 {
				t.Fatalf("want 3 tcpdump lines, have %q", lines)
			}
			b := loadHex(t, c.name)
			var p Packet
			if err := p.Decode(b); err != nil {
				t.Fatal(err)
			}
			l := parseIP6Line(t, lines[0])
			l.check(t, &p.IP6, &p.IP)
			m := &p.ICMP
			if l.src != c.from || l.dst != client6 || l.rest != "[icmp6 sum ok] ICMP6, "+c.icmpText || p.IP.Protocol != ProtocolICMPv6 ||
				!p.ICMPChecksumOK || !p.IPChecksumOK || p.Ext.Count != 0 || p.PayloadLen != l.plen-ICMPv6HeaderLen {
				t.Errorf("tcpdump: %s\ncraft: %+v", lines[0], p.IP)
			}
			if !m.V6 || m.Type != c.typ || m.Code != c.code || m.Name() != c.craftsName || m.QuoteLen != len(b)-IPv6HeaderLen-ICMPv6HeaderLen {
				t.Errorf("ICMPv6 %d/%d %q quote %d", m.Type, m.Code, m.Name(), m.QuoteLen)
			}
			if mtu, ok := strings.CutPrefix(c.icmpText, "packet too big, mtu "); ok != (m.MTU != 0) || ok && (int(m.MTU) != atoi(t, mtu) || m.Param != uint32(m.MTU)) {
				t.Errorf("MTU %d (param %d), tcpdump %q", m.MTU, m.Param, c.icmpText)
			}
			// "... 2001:2:0:2::2 tcp port 9": the quoted destination, protocol and port.
			proto := map[uint8]string{ProtocolTCP: "tcp", 17: "udp"}[m.Quote.Protocol]
			if strings.Contains(c.icmpText, " port ") && !strings.HasSuffix(c.icmpText, fmt.Sprintf(" %v %s port %d", m.Quote.Dst, proto, m.QuotedDstPort)) {
				t.Errorf("tcpdump %q, craft quote to %v %s port %d", c.icmpText, m.Quote.Dst, proto, m.QuotedDstPort)
			}
			if strings.HasSuffix(c.icmpText, " for 2001:2:0:2::2") != (c.typ == 3) || m.Quote.Dst != server6 {
				t.Errorf("quoted destination %v", m.Quote.Dst)
			}

			// The quote, as tcpdump read it on its own.
			if lines[1] != "tcpdump does not decode the quote of an ICMPv6 error; read on its own (LINKTYPE_RAW), it says:" {
				t.Fatalf("no quote note: %q", lines[1])
			}
			q := parseIP6Line(t, lines[2])
			q.check(t, &m.Quote6, &m.Quote)
			if m.Quote.Protocol != uint8(q.nh) || m.QuoteExt.Count != 0 || int(m.QuotedSrcPort) != q.sport || int(m.QuotedDstPort) != q.dport {
				t.Errorf("quote: tcpdump %+v\ncraft %+v %d > %d", q, m.Quote, m.QuotedSrcPort, m.QuotedDstPort)
			}
			quote := b[IPv6HeaderLen+ICMPv6HeaderLen:]
			if m.Quote.Protocol == ProtocolTCP {
				// The quoted header is whole; its payload may be cut (tcpdump
				// then prints no checksum, and the length the header says).
				var tcp TCP
				if _, err := tcp.Decode(quote[IPv6HeaderLen:]); err != nil {
					t.Fatal(err)
				}
				whole := len(quote) == IPv6HeaderLen+int(m.Quote6.PayloadLen)
				checkTCPTail(t, q.rest, &tcp, int(m.Quote6.PayloadLen)-int(tcp.DataOffset)*4, whole)
				if whole && TCPChecksum(m.Quote.Src, m.Quote.Dst, quote[IPv6HeaderLen:]) != 0 {
					t.Error("quoted TCP checksum does not verify")
				}
				if tcp.Seq != m.QuotedSeq {
					t.Errorf("quoted seq %d, tcpdump %s", m.QuotedSeq, q.rest)
				}
			} else if want := fmt.Sprintf("[udp sum ok] UDP, length %d", m.QuotedSeq>>16-8); q.rest != want { // UDP length: header + data
				t.Errorf("tcpdump %q, craft %q", q.rest, want)
			}

			// Rebuilt from the parsed fields around the same quote: the
			// kernel's bytes.
			out := make([]byte, len(b))
			ip := p.IP6
			if _, err := ip.Encode(out, len(b)-IPv6HeaderLen); err != nil {
				t.Fatal(err)
			}
			n, err := EncodeICMPv6Error(out[IPv6HeaderLen:], ip.Src, ip.Dst, m.Type, m.Code, m.Param, quote)
			if err != nil || !bytes.Equal(out[:IPv6HeaderLen+n], b) {
				t.Errorf("rebuilt (%v)\n%x\nwant\n%x", err, out[:IPv6HeaderLen+n], b)
			}
		})
	}
}

// TestFragment6Fixtures: ping -6 -s 3000 through a path of MTU 1280 made
// three fragments of the 3008-byte ICMPv6 echo request: 1232, 1232 and
// 544 bytes. craft reports the first and the last as fragments, with the
// fragment header's fields tcpdump shows ("frag (id:offset|length)").
func TestFragment6Fixtures(t *testing.T) {
	const datagram = 8 + 3000 // the echo request's header and data
	for _, name := range []string{"fragment_first6.hex", "fragment_last6.hex"} {
		t.Run(name, func(t *testing.T) {
			lines := tcpdumpLines6(t, name)
			if len(lines) != 1 {
				t.Fatalf("want 1 tcpdump line, have %q", lines)
			}
			b := loadHex(t, name)
			var p Packet
			if err := p.Decode(b); !errors.Is(err, ErrFragment) {
				t.Fatalf("Decode: %v, want ErrFragment", err)
			}
			l := parseIP6Line(t, lines[0])
			l.check(t, &p.IP6, &p.IP)
			f := reFrag6.FindStringSubmatch(l.rest)
			if f == nil {
				t.Fatalf("not a fragment: %q", l.rest)
			}
			off, n := atoi(t, f[2]), atoi(t, f[3])
			e := &p.Ext
			if l.nh != IPv6Fragment || !bytes.Equal(e.KindList(), []uint8{IPv6Fragment}) || e.Len != 8 || !e.HasFragment || !e.IsFragment() ||
				int(e.FragID) != atoi(t, f[1]) || int(e.FragOff)*8 != off || e.MoreFragments != (off+n < datagram) ||
				n != l.plen-8 || e.Protocol != ProtocolICMPv6 || p.IP.Protocol != ProtocolICMPv6 {
				t.Errorf("tcpdump %q\ncraft %+v", l.rest, *e)
			}
			// The first fragment holds the echo request's header, which
			// tcpdump decodes; the last does not.
			if first := off == 0; first != strings.Contains(f[4], "ICMP6, echo request") {
				t.Errorf("first %v, tcpdump %q", first, f[4])
			}
		})
	}
}

// TestMLDReportFixture: the kernel's MLDv2 report carries a hop-by-hop
// header (router alert, PadN); craft walks it to ICMPv6 and ignores the
// report, which is no error message.
func TestMLDReportFixture(t *testing.T) {
	lines := tcpdumpLines6(t, "mld_report6.hex")
	b := loadHex(t, "mld_report6.hex")
	var p Packet
	if err := p.Decode(b); err != ErrICMPType {
		t.Fatalf("Decode: %v, want a bare ErrICMPType", err)
	}
	l := parseIP6Line(t, lines[0])
	l.check(t, &p.IP6, &p.IP)
	if !strings.HasPrefix(l.rest, "HBH (rtalert: 0x0000) (padn) [icmp6 sum ok] ICMP6, multicast listener report v2,") ||
		l.nh != IPv6HopByHop || !bytes.Equal(p.Ext.KindList(), []uint8{IPv6HopByHop}) || p.Ext.Len != 8 ||
		p.IP.Protocol != ProtocolICMPv6 || p.ICMP.Type != 143 || !p.ICMP.V6 || p.ICMP.Name() != "icmp6-type-143-code-0" {
		t.Errorf("tcpdump %q\ncraft %+v %+v", l.rest, p.Ext, p.ICMP)
	}
	if Checksum(b[IPv6HeaderLen+8:], pseudoHeaderSum6(p.IP.Src, p.IP.Dst, ProtocolICMPv6, uint32(len(b)-IPv6HeaderLen-8))) != 0 {
		t.Error("the kernel's ICMPv6 checksum does not verify over the pseudo-header")
	}
}

// tcpdumpLines6 returns a fixture's tcpdump lines: those after the capture
// note, from the first "IP6 (" line on.
func tcpdumpLines6(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	for _, l := range tcpdumpLinesAll(t, name) {
		if len(out) > 0 || strings.HasPrefix(l, "IP6 ") {
			out = append(out, l)
		}
	}
	return out
}

// tcpdumpLinesAll returns every description line of a fixture, in order,
// with the leading "# " removed.
func tcpdumpLinesAll(t *testing.T, name string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l, ok := strings.CutPrefix(l, "#"); ok {
			out = append(out, strings.TrimPrefix(l, " "))
		}
	}
	return out
}
