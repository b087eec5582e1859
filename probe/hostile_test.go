//go:build linux

package probe

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"golang.org/x/sys/unix"
)

// A forgery is one kind of reply a spoofer sends for each SYN it sees:
// packets built from the SYN (syn decoded, raw its bytes). Each must be
// counted as want says (malformed or unmatched; unseen: not at all); none
// may change a result.
type forgery struct {
	name string
	want verdict
	make func(syn *craft.Packet, raw []byte) [][]byte
	// onLink: sent from r1 straight onto the prober's link, not from the
	// target through the routers, which would drop or mend it.
	onLink bool
}

// unseen is a forgery that never reaches the matcher: raw's socket filter
// does not pass it.
const unseen verdict = ^verdict(0)

// forgedTCP builds a TCP segment from src:sport to the prober's dport, in
// the SYN's family.
func forgedTCP(syn *craft.Packet, src netip.Addr, sport, dport uint16, ack uint32, flags craft.TCPFlags) []byte {
	b := make([]byte, 128)
	tcp := craft.TCP{SrcPort: sport, DstPort: dport, Seq: 12345, Ack: ack, Flags: flags, Window: 1000}
	var n int
	if syn.IP.Version == 6 {
		n, _ = craft.BuildTCP6(b, &craft.IPv6{HopLimit: 64, Src: src, Dst: syn.IP.Src}, &tcp)
	} else {
		n, _ = craft.BuildTCP(b, &craft.IPv4{TTL: 64, Src: src, Dst: syn.IP.Src}, &tcp)
	}
	return b[:n]
}

// validSynAck is the SYN-ACK the target would send: right addresses,
// ports and acknowledgement. Each malformed forgery spoils one thing in it.
func validSynAck(syn *craft.Packet) []byte {
	return forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort, syn.TCP.SrcPort, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK)
}

// ipLen is the length of the IP header of b (IPv4's IHL, IPv6's fixed
// header): where a forgery's TCP header or ICMP message, or a quote's
// TCP header, starts.
func ipLen(b []byte) int {
	if b[0]>>4 == 6 {
		return craft.IPv6HeaderLen
	}
	return int(b[0]&0xf) * 4
}

// setLen makes the IP length field of b say n bytes of packet (IPv4's
// total length, IPv6's payload length).
func setLen(b []byte, n int) {
	if b[0]>>4 == 6 {
		binary.BigEndian.PutUint16(b[4:], uint16(n-craft.IPv6HeaderLen))
	} else {
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	}
}

// withOption appends a 4-byte option to a 20-byte TCP header and fixes
// the lengths (not the checksum: the packet is malformed anyway).
func withOption(b []byte, opt ...byte) []byte {
	b = append(b, opt...)
	setLen(b, len(b))
	b[ipLen(b)+12] = 0x60
	return b
}

// forgedICMP is a port unreachable from the SYN's target quoting quote:
// ICMP type 3 code 3, or ICMPv6 type 1 code 4.
func forgedICMP(syn *craft.Packet, quote []byte) []byte {
	body := make([]byte, 8+len(quote))
	if syn.IP.Version == 6 {
		m, _ := craft.EncodeICMPv6Error(body, syn.IP.Dst, syn.IP.Src, craft.ICMPv6DestUnreachable, 4, 0, quote)
		ip := craft.IPv6{HopLimit: 64, Src: syn.IP.Dst, Dst: syn.IP.Src, NextHeader: craft.ProtocolICMPv6}
		out := make([]byte, craft.IPv6HeaderLen+m)
		hl, _ := ip.Encode(out, m)
		copy(out[hl:], body[:m])
		return out
	}
	ip := craft.IPv4{TTL: 64, Src: syn.IP.Dst, Dst: syn.IP.Src, Protocol: craft.ProtocolICMP}
	m, _ := craft.EncodeICMPError(body, 3, 3, 0, quote)
	out := make([]byte, 20+m)
	hl, _ := ip.Encode(out, m)
	copy(out[hl:], body[:m])
	return out[:hl+m]
}

// neverProbed is an address on fw's link that no scan probes, in IPv6
// or IPv4.
func neverProbed(v6 bool) netip.Addr {
	a := mustAddr("198.18.12.99")
	if v6 {
		return lab.Map6(a)
	}
	return a
}

func one(b []byte) [][]byte { return [][]byte{b} }

// forgeries, the malformed first. TestEachForgeryCounted runs them in
// this order and checks exact counts, so the forgery from an address never
// probed comes last: the prober's kernel answers it with a RST that r2
// cannot deliver, and r2's ICMP host unreachable about that RST comes
// back seconds later (unmatched, rightly, but in whichever scan is running).
var forgeries = []forgery{
	{name: "truncated TCP header", want: malformed, make: func(syn *craft.Packet, _ []byte) [][]byte {
		b := validSynAck(syn)
		n := ipLen(b) + 10
		setLen(b, n)
		return one(b[:n])
	}},
	{name: "data offset past the segment", want: malformed, make: func(syn *craft.Packet, _ []byte) [][]byte {
		b := validSynAck(syn)
		b[ipLen(b)+12] = 0xf0
		return one(b)
	}},
	{name: "data offset 2", want: malformed, make: func(syn *craft.Packet, _ []byte) [][]byte {
		b := validSynAck(syn)
		b[ipLen(b)+12] = 0x20
		return one(b)
	}},
	{name: "option running past the header", want: malformed, make: func(syn *craft.Packet, _ []byte) [][]byte {
		return one(withOption(validSynAck(syn), 2, 40, 0, 0))
	}},
	{name: "option length 0", want: malformed, make: func(syn *craft.Packet, _ []byte) [][]byte {
		return one(withOption(validSynAck(syn), 2, 0, 0, 0))
	}},
	{name: "ICMP quote shorter than 8 bytes of TCP", want: malformed, make: func(syn *craft.Packet, raw []byte) [][]byte {
		return one(forgedICMP(syn, raw[:ipLen(raw)+4]))
	}},
	{name: "bad TCP checksum", want: malformed, make: func(syn *craft.Packet, _ []byte) [][]byte {
		b := validSynAck(syn)
		b[ipLen(b)+16] ^= 0xff
		return one(b)
	}},
	{name: "bad ICMP checksum", want: malformed, make: func(syn *craft.Packet, raw []byte) [][]byte {
		b := forgedICMP(syn, raw[:ipLen(raw)+8])
		b[ipLen(b)+2] ^= 0xff
		return one(b)
	}},

	{name: "wrong acknowledgements", want: unmatched, make: func(syn *craft.Packet, _ []byte) [][]byte {
		var out [][]byte
		for _, ack := range []uint32{syn.TCP.Seq, syn.TCP.Seq + 2, 0, ^uint32(0)} {
			out = append(out, forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort, syn.TCP.SrcPort, ack, craft.FlagSYN|craft.FlagACK))
		}
		return out
	}},
	{name: "from another port", want: unmatched, make: func(syn *craft.Packet, _ []byte) [][]byte {
		return one(forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort+1, syn.TCP.SrcPort, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK))
	}},
	{name: "to another of synprobe's ports", want: unmatched, make: func(syn *craft.Packet, _ []byte) [][]byte {
		return one(forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort, syn.TCP.SrcPort+1, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK))
	}},
	{name: "SYN without ACK", want: unmatched, make: func(syn *craft.Packet, _ []byte) [][]byte {
		return one(forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort, syn.TCP.SrcPort, syn.TCP.Seq+1, craft.FlagSYN))
	}},
	{name: "bare RST", want: unmatched, make: func(syn *craft.Packet, _ []byte) [][]byte {
		return one(forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort, syn.TCP.SrcPort, 0, craft.FlagRST))
	}},
	{name: "ICMP quoting a wrong sequence number", want: unmatched, make: func(syn *craft.Packet, raw []byte) [][]byte {
		h := ipLen(raw)
		q := append([]byte(nil), raw[:h+8]...)
		q[h+4]++
		return one(forgedICMP(syn, q))
	}},
	{name: "from an address never probed", want: unmatched, make: func(syn *craft.Packet, _ []byte) [][]byte {
		return one(forgedTCP(syn, neverProbed(syn.IP.Version == 6), syn.TCP.DstPort, syn.TCP.SrcPort, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK))
	}},
}

// spoofer runs in a target's namespace behind a firewall that drops every
// SYN, so the real stack never answers. It watches the SYNs of its family
// arriving (an AF_PACKET socket sees them before the firewall) and answers
// each with forgeries through a raw socket: IPv4's IP_HDRINCL (the kernel
// fills in the checksum and total length, nothing else), IPv6's
// IPV6_HDRINCL (the kernel fills in nothing); a forgery marked onLink goes
// out of r1 onto the prober's link through a packet socket instead. It
// sends every forgery of its list, or only list[kind] when kind >= 0;
// sent counts what it sent, arrived what of it reached the prober's
// namespace (seen there by a packet socket of the test's own, arriving
// from fw or from the address never probed).
type spoofer struct {
	list    []forgery
	kind    atomic.Int32
	sent    atomic.Int64
	arrived atomic.Int64
}

func startSpoofer(t *testing.T, l *lab.Lab, node string, list []forgery, v6 bool) *spoofer {
	t.Helper()
	var in, out, link, seen int
	proto, me, stranger := unix.ETH_P_IP, l.Addr(node), neverProbed(v6)
	if v6 {
		proto, me = unix.ETH_P_IPV6, l.Addr6(node)
	}
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	if err := l.Do(node, func() (err error) {
		if in, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(uint16(proto)))); err != nil {
			return err
		}
		unix.SetsockoptTimeval(in, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		if !v6 {
			out, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
			return err
		}
		if out, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW); err != nil {
			return err
		}
		return unix.SetsockoptInt(out, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1)
	}); err != nil {
		t.Fatal(err)
	}
	// The prober's link: the prober's MAC on it and, in r1, the index of
	// r1's end and a packet socket of protocol 0 (it receives nothing) to
	// send onLink forgeries; and in the prober's namespace the packet
	// socket that counts what arrives (nothing else comes from fw, whose
	// stack never answers, or from the address never probed).
	var toProber unix.SockaddrLinklayer
	if err := l.Do(lab.ProberName, func() error {
		ifi, err := net.InterfaceByName(lab.InterfaceTo("r1"))
		if err != nil {
			return err
		}
		toProber.Halen = uint8(copy(toProber.Addr[:], ifi.HardwareAddr))
		if seen, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(uint16(proto)))); err != nil {
			return err
		}
		return unix.SetsockoptTimeval(seen, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Do("r1", func() (err error) {
		ifi, err := net.InterfaceByName(lab.UplinkInterface)
		if err != nil {
			return err
		}
		toProber.Ifindex, toProber.Protocol = ifi.Index, htons(uint16(proto))
		link, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sp := &spoofer{list: list}
	sp.kind.Store(-1)
	var stop atomic.Bool
	done := make(chan struct{}, 2)
	t.Cleanup(func() {
		stop.Store(true)
		<-done
		<-done
		unix.Close(in)
		unix.Close(out)
		unix.Close(link)
		unix.Close(seen)
	})
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 2048)
		for !stop.Load() {
			n, from, err := unix.Recvfrom(seen, buf, 0)
			ll, _ := from.(*unix.SockaddrLinklayer)
			if err != nil || ll == nil || ll.Pkttype == unix.PACKET_OUTGOING || n < 20 {
				continue
			}
			src := netip.AddrFrom4([4]byte(buf[12:16]))
			if v6 && n >= craft.IPv6HeaderLen {
				src = netip.AddrFrom16([16]byte(buf[8:24]))
			}
			if src == me || src == stranger {
				sp.arrived.Add(1)
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 2048)
		for !stop.Load() {
			n, _, err := unix.Recvfrom(in, buf, 0)
			if err != nil {
				continue
			}
			var syn craft.Packet
			// Only SYNs to this node: not the spoofer's own forgeries.
			if syn.Decode(buf[:n]) != nil || syn.IP.Protocol != craft.ProtocolTCP || syn.TCP.Flags != craft.FlagSYN || syn.IP.Dst != me {
				continue
			}
			kinds := sp.list
			if k := sp.kind.Load(); k >= 0 {
				kinds = sp.list[k : k+1]
			}
			var to unix.Sockaddr = &unix.SockaddrInet6{Addr: syn.IP.Src.As16()}
			if !v6 {
				to = &unix.SockaddrInet4{Addr: syn.IP.Src.As4()}
			}
			for _, f := range kinds {
				fd, to := out, to
				if f.onLink {
					fd, to = link, &toProber
				}
				for _, b := range f.make(&syn, buf[:n]) {
					if unix.Sendto(fd, b, 0, to) == nil {
						sp.sent.Add(1)
					}
				}
			}
		}
	}()
	return sp
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func TestSpoofedAndHostileRepliesNeverOpen(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	sp := startSpoofer(t, l, "fw", forgeries, false) // fw drops every SYN: only forgeries answer
	spoofedScan(t, l, sp, l.Addr("fw"))
}

// spoofedScan scans 5 ports of target, which sp answers with every
// forgery of its list: every port must stay filtered/no-response, with
// malformed and unmatched packets counted and no valid reply.
func spoofedScan(t *testing.T, l *lab.Lab, sp *spoofer, target netip.Addr) {
	t.Helper()
	conn := openInLab(t, l)
	c, prog := scan(t, conn, ScanConfig{Targets: targets(t, target.String()), Ports: []uint16{21, 22, 80, 443, 8080}, Retries: 1})
	// 5 ports x 2 tries, each answered with every forgery (18 packets
	// for IPv4): under load the spoofer may miss a few SYNs, but it must
	// have answered most of them for the test to mean something.
	if least := 5 * (len(sp.list) + 1); sp.sent.Load() < int64(least) {
		t.Fatalf("the spoofer sent only %d packets, want %d or more", sp.sent.Load(), least)
	}
	for _, r := range c.rs {
		if r.State != StateFiltered || r.Reason != ReasonNoResponse {
			t.Errorf("%v: %v/%v from forgeries", r.AddrPort(), r.State, r.Reason)
		}
	}
	if len(c.rs) != 5 {
		t.Errorf("%d results", len(c.rs))
	}
	if prog.Malformed.Load() == 0 || prog.Unmatched.Load() == 0 || prog.Replies.Load() != 0 {
		t.Errorf("malformed %d, unmatched %d, valid replies %d", prog.Malformed.Load(), prog.Unmatched.Load(), prog.Replies.Load())
	}
	t.Logf("spoofer sent %d; synprobe counted %d malformed, %d unmatched", sp.sent.Load(), prog.Malformed.Load(), prog.Unmatched.Load())
}

// TestEachForgeryCounted answers a scan with one kind of forgery at a
// time: every packet sent arrives in the prober's namespace, every packet
// of a malformed kind is counted as malformed, every packet of another
// kind as unmatched, and nothing else moves: no valid reply, no
// duplicate, every port filtered/no-response.
func TestEachForgeryCounted(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	sp := startSpoofer(t, l, "fw", forgeries, false)
	countEachForgery(t, l, sp, l.Addr("fw"))
}

// countEachForgery scans 3 ports of target once per forgery of sp's
// list, sp answering with that one only: every packet it sent must be
// counted as the forgery's want says (an unseen one not at all), and
// nothing else move.
func countEachForgery(t *testing.T, l *lab.Lab, sp *spoofer, target netip.Addr) {
	t.Helper()
	conn := openInLab(t, l)
	ports := []uint16{80, 443, 8080}
	for k, f := range sp.list {
		sp.kind.Store(int32(k))
		sp.sent.Store(0)
		sp.arrived.Store(0)
		c, prog := scan(t, conn, ScanConfig{Targets: targets(t, target.String()), Ports: ports, Timeout: 300 * time.Millisecond})
		sent, arrived := uint64(sp.sent.Load()), uint64(sp.arrived.Load())
		var wantMalformed, wantUnmatched uint64
		switch f.want {
		case malformed:
			wantMalformed = sent
		case unmatched:
			wantUnmatched = sent
		}
		if sent == 0 || arrived != sent || prog.Malformed.Load() != wantMalformed || prog.Unmatched.Load() != wantUnmatched ||
			prog.Replies.Load() != 0 || prog.Duplicates.Load() != 0 ||
			prog.Open.Load() != 0 || prog.Closed.Load() != 0 || prog.Filtered.Load() != uint64(len(ports)) {
			t.Errorf("%s (want %s): spoofer sent %d, %d arrived; synprobe counted %d malformed, %d unmatched, %d valid, %d duplicates, %d/%d/%d open/closed/filtered",
				f.name, f.want, sent, arrived, prog.Malformed.Load(), prog.Unmatched.Load(), prog.Replies.Load(), prog.Duplicates.Load(),
				prog.Open.Load(), prog.Closed.Load(), prog.Filtered.Load())
		}
		for _, r := range c.rs {
			if r.State != StateFiltered || r.Reason != ReasonNoResponse {
				t.Errorf("%s: %v %v/%v", f.name, r.AddrPort(), r.State, r.Reason)
			}
		}
	}
}

func (v verdict) String() string {
	switch v {
	case ignored:
		return "ignored"
	case malformed:
		return "malformed"
	case unmatched:
		return "unmatched"
	case matched:
		return "matched"
	case unseen:
		return "unseen"
	}
	return "verdict?"
}
