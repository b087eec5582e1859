package craft

// The fixtures carry the lines tcpdump -vvv -nn printed for them. This test
// reads those lines (not values copied out of craft) and checks that every
// field tcpdump shows equals what craft parsed.

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	reIP   = regexp.MustCompile(`IP \(tos (0x[0-9a-f]+), ttl (\d+), id (\d+), offset (\d+), flags \[([^\]]*)\], proto (\w+) \((\d+)\), length (\d+)\)`)
	reTCP  = regexp.MustCompile(`^\s*(\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): Flags \[([^\]]*)\], cksum (0x[0-9a-f]+) \(correct\), seq (\d+)(?:, ack (\d+))?, win (\d+)(?:, options \[([^\]]*)\])?, length (\d+)$`)
	reICMP = regexp.MustCompile(`^\s*(\d+\.\d+\.\d+\.\d+) > (\d+\.\d+\.\d+\.\d+): ICMP (.*), length (\d+)$`)
	reUDP  = regexp.MustCompile(`^\s*(\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): UDP, length (\d+)$`)
	reFrag = regexp.MustCompile(`^\s*(\d+\.\d+\.\d+\.\d+) > (\d+\.\d+\.\d+\.\d+): ip-proto-(\d+)$`)
)

// tcpdumpLines returns the description lines of a fixture, in order, with
// the leading "# " removed; the capture note before the first IP line is
// skipped.
func tcpdumpLines(t *testing.T, name string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		l, ok := strings.CutPrefix(l, "#")
		if !ok {
			continue
		}
		l = strings.TrimPrefix(l, " ")
		if len(out) == 0 && !strings.HasPrefix(l, "IP (") {
			continue
		}
		out = append(out, l)
	}
	return out
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	return int(v)
}

// checkIPLine compares an "IP (tos ..., length N)" line with h.
func checkIPLine(t *testing.T, line string, h *IPv4) {
	t.Helper()
	m := reIP.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("not an IP line: %q", line)
	}
	flags := "none"
	switch {
	case h.DF() && h.Flags&FlagMF != 0:
		flags = "DF+"
	case h.DF():
		flags = "DF"
	case h.Flags&FlagMF != 0:
		flags = "+"
	}
	if int(h.TOS) != atoi(t, m[1]) || int(h.TTL) != atoi(t, m[2]) || int(h.ID) != atoi(t, m[3]) ||
		int(h.FragOff)*8 != atoi(t, m[4]) || flags != m[5] || int(h.Protocol) != atoi(t, m[7]) ||
		int(h.TotalLen) != atoi(t, m[8]) || h.Version != 4 || h.Flags&FlagReserved != 0 {
		t.Errorf("tcpdump: %s\ncraft: %+v", line, *h)
	}
}

// tcpdumpOptions renders parsed options the way tcpdump prints them.
func tcpdumpOptions(o *TCPOptions) string {
	var parts []string
	for _, k := range o.KindList() {
		switch k {
		case OptEOL:
			parts = append(parts, "eol")
		case OptNOP:
			parts = append(parts, "nop")
		case OptMSS:
			parts = append(parts, fmt.Sprintf("mss %d", o.MSS))
		case OptSACKPermitted:
			parts = append(parts, "sackOK")
		case OptTimestamps:
			parts = append(parts, fmt.Sprintf("TS val %d ecr %d", o.TSval, o.TSecr))
		case OptWScale:
			parts = append(parts, fmt.Sprintf("wscale %d", o.WScaleSent))
		default:
			parts = append(parts, fmt.Sprintf("kind %d", k))
		}
	}
	return strings.Join(parts, ",")
}

// checkTCPLine compares a "src.port > dst.port: Flags [...] ..." line with
// a parsed TCP header.
func checkTCPLine(t *testing.T, line string, src, dst netip.Addr, h *TCP, payloadLen int) {
	t.Helper()
	m := reTCP.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("not a TCP line: %q", line)
	}
	ack := 0
	if m[8] != "" {
		ack = atoi(t, m[8])
	}
	if src.String() != m[1] || int(h.SrcPort) != atoi(t, m[2]) || dst.String() != m[3] || int(h.DstPort) != atoi(t, m[4]) ||
		h.Flags.String() != m[5] || int(h.Checksum) != atoi(t, m[6]) || int(h.Seq) != atoi(t, m[7]) ||
		int(h.Ack) != ack || (m[8] != "") != (h.Flags&FlagACK != 0) || int(h.Window) != atoi(t, m[9]) ||
		tcpdumpOptions(&h.Options) != m[10] || payloadLen != atoi(t, m[11]) ||
		h.Reserved != 0 || h.Urgent != 0 || h.Flags&FlagURG != 0 || int(h.DataOffset)*4 != TCPMinHeaderLen+int(h.OptionsLen) {
		t.Errorf("tcpdump: %s\ncraft: %+v options %q", line, *h, tcpdumpOptions(&h.Options))
	}
	o := &h.Options
	if o.HasMSS != strings.Contains(m[10], "mss") || o.HasTimestamps != strings.Contains(m[10], "TS val") ||
		o.HasWScale != strings.Contains(m[10], "wscale") || o.SACKPermitted != strings.Contains(m[10], "sackOK") ||
		o.WScaleClamped || o.NumSACK != 0 || o.NumUnknown != 0 {
		t.Errorf("option presence: tcpdump %q, craft %+v", m[10], *o)
	}
}

func TestFixturesMatchTcpdump(t *testing.T) {
	for _, name := range []string{"syn.hex", "synack.hex", "rst.hex", "ecn_syn.hex", "ecn_synack.hex", "ack_timestamps.hex"} {
		t.Run(name, func(t *testing.T) {
			lines := tcpdumpLines(t, name)
			if len(lines) != 2 {
				t.Fatalf("want 2 tcpdump lines, have %q", lines)
			}
			b := loadHex(t, name)
			var p Packet
			if err := p.Decode(b); err != nil {
				t.Fatal(err)
			}
			checkIPLine(t, lines[0], &p.IP)
			checkTCPLine(t, lines[1], p.IP.Src, p.IP.Dst, &p.TCP, p.PayloadLen)
			if !p.TCPChecksumOK || !p.IPChecksumOK { // tcpdump says "(correct)"; the kernel checked the IP sum
				t.Error("checksum does not verify")
			}
			// Rebuilt from the parsed fields, checksums recomputed: the
			// kernel's bytes.
			ip, tcp := p.IP, p.TCP
			out := make([]byte, 128)
			n, err := BuildTCP(out, &ip, &tcp)
			if err != nil || !bytes.Equal(out[:n], b) {
				t.Errorf("rebuilt (%v)\n%x\nwant\n%x", err, out[:n], b)
			}
		})
	}
	for _, c := range []struct {
		name       string
		typ, code  uint8
		icmpText   string // what tcpdump says of the ICMP message
		craftsName string
	}{
		{"icmp_port_unreachable.hex", 3, 3, "198.18.1.1 tcp port 9 unreachable", "port-unreachable"},
		{"icmp_time_exceeded.hex", 11, 0, "time exceeded in-transit", "ttl-exceeded"},
		{"icmp_admin_prohibited.hex", 3, 13, "host 198.18.0.2 unreachable - admin prohibited filter", "admin-prohibited"},
		// Quotes 548 bytes of a 3028-byte UDP datagram (RFC 1812: as much
		// as fits in 576 bytes).
		{"icmp_port_unreachable_udp.hex", 3, 3, "198.18.0.2 udp port 9 unreachable", "port-unreachable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines := tcpdumpLines(t, c.name)
			if len(lines) != 4 {
				t.Fatalf("want 4 tcpdump lines, have %q", lines)
			}
			b := loadHex(t, c.name)
			var p Packet
			if err := p.Decode(b); err != nil {
				t.Fatal(err)
			}
			checkIPLine(t, lines[0], &p.IP)
			if !p.IPChecksumOK || !p.ICMPChecksumOK || Checksum(b[IPv4MinHeaderLen:], 0) != 0 {
				t.Error("checksum does not verify")
			}
			m := reICMP.FindStringSubmatch(lines[1])
			if m == nil {
				t.Fatalf("not an ICMP line: %q", lines[1])
			}
			ic := &p.ICMP
			if p.IP.Src.String() != m[1] || p.IP.Dst.String() != m[2] || m[3] != c.icmpText ||
				ic.Type != c.typ || ic.Code != c.code || ic.Name() != c.craftsName ||
				ICMPv4HeaderLen+ic.QuoteLen != atoi(t, m[4]) {
				t.Errorf("tcpdump: %s\ncraft: %d/%d %s quote %d", lines[1], ic.Type, ic.Code, ic.Name(), ic.QuoteLen)
			}
			proto := map[uint8]string{ProtocolTCP: "tcp", 17: "udp"}[ic.Quote.Protocol]
			if strings.Contains(c.icmpText, "port") && !strings.Contains(c.icmpText, fmt.Sprintf("%v %s port %d ", ic.Quote.Dst, proto, ic.QuotedDstPort)) {
				t.Errorf("tcpdump %q, craft quote to %v %s port %d", c.icmpText, ic.Quote.Dst, proto, ic.QuotedDstPort)
			}
			checkIPLine(t, lines[2], &ic.Quote)
			// Rebuilt from the parsed fields around the same quote: the
			// kernel's bytes.
			out := make([]byte, len(b))
			ip := p.IP
			ihl, err := ip.Encode(out, len(b)-IPv4MinHeaderLen)
			if err != nil {
				t.Fatal(err)
			}
			n, err := EncodeICMPError(out[ihl:], ic.Type, ic.Code, ic.MTU, b[IPv4MinHeaderLen+ICMPv4HeaderLen:])
			if err != nil || !bytes.Equal(out[:ihl+n], b) {
				t.Errorf("rebuilt (%v)\n%x\nwant\n%x", err, out[:ihl+n], b)
			}
			if ic.Quote.Protocol == 17 {
				u := reUDP.FindStringSubmatch(lines[3])
				if u == nil || ic.Quote.Src.String() != u[1] || int(ic.QuotedSrcPort) != atoi(t, u[2]) ||
					ic.Quote.Dst.String() != u[3] || int(ic.QuotedDstPort) != atoi(t, u[4]) ||
					int(ic.QuotedSeq>>16) != 8+atoi(t, u[5]) { // UDP length field: header + data
					t.Errorf("tcpdump: %s\ncraft: %v.%d > %v.%d word %#x", lines[3], ic.Quote.Src, ic.QuotedSrcPort,
						ic.Quote.Dst, ic.QuotedDstPort, ic.QuotedSeq)
				}
				if ic.QuoteLen != 548 || ic.Quote.TotalLen <= uint16(ic.QuoteLen) {
					t.Errorf("quote of %d bytes of a %d-byte datagram", ic.QuoteLen, ic.Quote.TotalLen)
				}
				return
			}
			// These kernels quote the whole SYN, so craft's TCP parser can
			// read all of it; the ports and sequence number ICMPv4.Decode
			// took from the first 8 bytes must agree.
			var q TCP
			quote := b[IPv4MinHeaderLen+ICMPv4HeaderLen:]
			payload, err := q.Decode(quote[int(ic.Quote.IHL)*4:])
			if err != nil {
				t.Fatal(err)
			}
			checkTCPLine(t, lines[3], ic.Quote.Src, ic.Quote.Dst, &q, len(payload))
			if ic.QuotedSrcPort != q.SrcPort || ic.QuotedDstPort != q.DstPort || ic.QuotedSeq != q.Seq {
				t.Errorf("quoted %d>%d seq %d, tcpdump line %s", ic.QuotedSrcPort, ic.QuotedDstPort, ic.QuotedSeq, lines[3])
			}
			if TCPChecksum(ic.Quote.Src, ic.Quote.Dst, quote[int(ic.Quote.IHL)*4:]) != 0 {
				t.Error("quoted TCP checksum does not verify")
			}
		})
	}
}

// TestFragmentFixtures: the kernel fragmented a 3000-byte UDP datagram;
// craft reports each fragment as such, with every header field tcpdump
// shows, and rebuilds the header.
func TestFragmentFixtures(t *testing.T) {
	for _, c := range []struct {
		name    string
		fragOff uint16 // in 8-byte units
		mf      bool
	}{
		{"fragment_first.hex", 0, true},
		{"fragment_last.hex", 2960 / 8, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines := tcpdumpLines(t, c.name)
			if len(lines) != 2 {
				t.Fatalf("want 2 tcpdump lines, have %q", lines)
			}
			b := loadHex(t, c.name)
			var p Packet
			err := p.Decode(b)
			if !errors.Is(err, ErrFragment) {
				t.Fatalf("Decode: %v, want ErrFragment", err)
			}
			h := &p.IP
			checkIPLine(t, lines[0], h)
			if !h.IsFragment() || h.FragOff != c.fragOff || (h.Flags&FlagMF != 0) != c.mf || h.DF() {
				t.Errorf("fragment fields %+v", *h)
			}
			if u := reUDP.FindStringSubmatch(lines[1]); u != nil {
				if h.Src.String() != u[1] || h.Dst.String() != u[3] || h.Protocol != 17 {
					t.Errorf("tcpdump: %s\ncraft: %+v", lines[1], *h)
				}
			} else if f := reFrag.FindStringSubmatch(lines[1]); f == nil || h.Src.String() != f[1] ||
				h.Dst.String() != f[2] || int(h.Protocol) != atoi(t, f[3]) {
				t.Errorf("tcpdump: %s\ncraft: %+v", lines[1], *h)
			}
			var alone IPv4
			payload, err := alone.Decode(b)
			if !errors.Is(err, ErrFragment) || alone != *h || len(payload) != len(b)-IPv4MinHeaderLen {
				t.Errorf("IPv4.Decode: %v, %d bytes of payload", err, len(payload))
			}
			out := make([]byte, IPv4MinHeaderLen)
			if _, err := alone.Encode(out, len(payload)); err != nil || !bytes.Equal(out, b[:IPv4MinHeaderLen]) {
				t.Errorf("rebuilt (%v) %x, want %x", err, out, b[:IPv4MinHeaderLen])
			}
		})
	}
}
