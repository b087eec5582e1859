//go:build linux

package probe

import (
	"encoding/binary"
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
// packets built from the SYN (syn decoded, raw its bytes). Malformed ones
// must be counted as malformed, the others as unmatched; none may change
// a result.
type forgery struct {
	name      string
	malformed bool
	make      func(syn *craft.Packet, raw []byte) [][]byte
}

// reply builds a TCP segment from src:sport to the prober's dport.
func forgedTCP(syn *craft.Packet, src netip.Addr, sport, dport uint16, ack uint32, flags craft.TCPFlags) []byte {
	b := make([]byte, 128)
	ip := craft.IPv4{TTL: 64, Src: src, Dst: syn.IP.Src}
	tcp := craft.TCP{SrcPort: sport, DstPort: dport, Seq: 12345, Ack: ack, Flags: flags, Window: 1000}
	n, _ := craft.BuildTCP(b, &ip, &tcp)
	return b[:n]
}

// validSynAck is the SYN-ACK the target would send: right addresses,
// ports and acknowledgement. Each malformed forgery spoils one thing in it.
func validSynAck(syn *craft.Packet) []byte {
	return forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort, syn.TCP.SrcPort, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK)
}

// withOption appends a 4-byte option to a 20-byte TCP header and fixes
// the lengths (not the checksum: the packet is malformed anyway).
func withOption(b []byte, opt ...byte) []byte {
	b = append(b, opt...)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[32] = 0x60
	return b
}

// forgedICMP is a port unreachable from the SYN's target quoting quote.
func forgedICMP(syn *craft.Packet, quote []byte) []byte {
	ip := craft.IPv4{TTL: 64, Src: syn.IP.Dst, Dst: syn.IP.Src, Protocol: craft.ProtocolICMP}
	body := make([]byte, 8+len(quote))
	m, _ := craft.EncodeICMPError(body, 3, 3, 0, quote)
	out := make([]byte, 20+m)
	hl, _ := ip.Encode(out, m)
	copy(out[hl:], body[:m])
	return out[:hl+m]
}

func one(b []byte) [][]byte { return [][]byte{b} }

// forgeries, the malformed first. TestEachForgeryCounted runs them in
// this order and checks exact counts, so the forgery from an address never
// probed comes last: the prober's kernel answers it with a RST that r2
// cannot deliver, and r2's ICMP host unreachable about that RST comes
// back seconds later (unmatched, rightly, but in whichever scan is running).
var forgeries = []forgery{
	{"truncated TCP header", true, func(syn *craft.Packet, _ []byte) [][]byte {
		b := validSynAck(syn)
		binary.BigEndian.PutUint16(b[2:], 30)
		return one(b[:30])
	}},
	{"data offset past the segment", true, func(syn *craft.Packet, _ []byte) [][]byte {
		b := validSynAck(syn)
		b[32] = 0xf0
		return one(b)
	}},
	{"data offset 2", true, func(syn *craft.Packet, _ []byte) [][]byte {
		b := validSynAck(syn)
		b[32] = 0x20
		return one(b)
	}},
	{"option running past the header", true, func(syn *craft.Packet, _ []byte) [][]byte {
		return one(withOption(validSynAck(syn), 2, 40, 0, 0))
	}},
	{"option length 0", true, func(syn *craft.Packet, _ []byte) [][]byte {
		return one(withOption(validSynAck(syn), 2, 0, 0, 0))
	}},
	{"ICMP quote shorter than 8 bytes of TCP", true, func(syn *craft.Packet, raw []byte) [][]byte {
		return one(forgedICMP(syn, raw[:24]))
	}},
	{"bad TCP checksum", true, func(syn *craft.Packet, _ []byte) [][]byte {
		b := validSynAck(syn)
		b[20+16] ^= 0xff
		return one(b)
	}},
	{"bad ICMP checksum", true, func(syn *craft.Packet, raw []byte) [][]byte {
		b := forgedICMP(syn, raw[:28])
		b[20+2] ^= 0xff
		return one(b)
	}},

	{"wrong acknowledgements", false, func(syn *craft.Packet, _ []byte) [][]byte {
		var out [][]byte
		for _, ack := range []uint32{syn.TCP.Seq, syn.TCP.Seq + 2, 0, ^uint32(0)} {
			out = append(out, forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort, syn.TCP.SrcPort, ack, craft.FlagSYN|craft.FlagACK))
		}
		return out
	}},
	{"from another port", false, func(syn *craft.Packet, _ []byte) [][]byte {
		return one(forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort+1, syn.TCP.SrcPort, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK))
	}},
	{"to another of synprobe's ports", false, func(syn *craft.Packet, _ []byte) [][]byte {
		return one(forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort, syn.TCP.SrcPort+1, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK))
	}},
	{"SYN without ACK", false, func(syn *craft.Packet, _ []byte) [][]byte {
		return one(forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort, syn.TCP.SrcPort, syn.TCP.Seq+1, craft.FlagSYN))
	}},
	{"bare RST", false, func(syn *craft.Packet, _ []byte) [][]byte {
		return one(forgedTCP(syn, syn.IP.Dst, syn.TCP.DstPort, syn.TCP.SrcPort, 0, craft.FlagRST))
	}},
	{"ICMP quoting a wrong sequence number", false, func(syn *craft.Packet, raw []byte) [][]byte {
		q := append([]byte(nil), raw[:28]...)
		q[24]++
		return one(forgedICMP(syn, q))
	}},
	{"from an address never probed", false, func(syn *craft.Packet, _ []byte) [][]byte {
		return one(forgedTCP(syn, mustAddr("198.18.12.99"), syn.TCP.DstPort, syn.TCP.SrcPort, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK))
	}},
}

// spoofer runs in a target's namespace behind a firewall that drops every
// SYN, so the real stack never answers. It watches the SYNs arriving (an
// AF_PACKET socket sees them before the firewall) and answers each with
// forgeries through a raw IP_HDRINCL socket (the kernel fills in the IPv4
// checksum and total length, nothing else): every forgery, or only
// forgeries[kind] when kind >= 0. sent counts what it sent.
type spoofer struct {
	kind atomic.Int32
	sent atomic.Int64
}

func startSpoofer(t *testing.T, l *lab.Lab, node string) *spoofer {
	t.Helper()
	var in, out int
	if err := l.Do(node, func() (err error) {
		if in, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_IP))); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		unix.SetsockoptTimeval(in, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		out, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sp := &spoofer{}
	sp.kind.Store(-1)
	me := l.Addr(node)
	var stop atomic.Bool
	done := make(chan struct{})
	t.Cleanup(func() { stop.Store(true); <-done; unix.Close(in); unix.Close(out) })
	go func() {
		defer close(done)
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
			kinds := forgeries
			if k := sp.kind.Load(); k >= 0 {
				kinds = forgeries[k : k+1]
			}
			d := syn.IP.Src.As4()
			for _, f := range kinds {
				for _, b := range f.make(&syn, buf[:n]) {
					if unix.Sendto(out, b, 0, &unix.SockaddrInet4{Addr: d}) == nil {
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
	sp := startSpoofer(t, l, "fw") // fw drops every SYN: only forgeries answer
	conn := openInLab(t, l)
	c, prog := scan(t, conn, ScanConfig{Targets: targets(t, "198.18.12.10"), Ports: []uint16{21, 22, 80, 443, 8080}, Retries: 1})
	// 5 ports x 2 tries, 18 forgeries each: under load the spoofer may miss
	// a few SYNs, but it must have answered most of them for the test to
	// mean something.
	if sp.sent.Load() < 5*16 {
		t.Fatalf("the spoofer sent only %d packets", sp.sent.Load())
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
// time: every packet of a malformed kind is counted as malformed, every
// packet of another kind as unmatched, and nothing else moves: no valid
// reply, no duplicate, every port filtered/no-response.
func TestEachForgeryCounted(t *testing.T) {
	l := labtest.Start(t, lab.Demo())
	sp := startSpoofer(t, l, "fw")
	conn := openInLab(t, l)
	ports := []uint16{80, 443, 8080}
	for k, f := range forgeries {
		sp.kind.Store(int32(k))
		sp.sent.Store(0)
		c, prog := scan(t, conn, ScanConfig{Targets: targets(t, "198.18.12.10"), Ports: ports, Timeout: 300 * time.Millisecond})
		sent := sp.sent.Load()
		counted, other := prog.Malformed.Load(), prog.Unmatched.Load()
		if !f.malformed {
			counted, other = other, counted
		}
		if sent == 0 || counted != uint64(sent) || other != 0 || prog.Replies.Load() != 0 || prog.Duplicates.Load() != 0 ||
			prog.Open.Load() != 0 || prog.Closed.Load() != 0 || prog.Filtered.Load() != uint64(len(ports)) {
			t.Errorf("%s (malformed %v): spoofer sent %d; synprobe counted %d malformed, %d unmatched, %d valid, %d duplicates, %d/%d/%d open/closed/filtered",
				f.name, f.malformed, sent, prog.Malformed.Load(), prog.Unmatched.Load(), prog.Replies.Load(), prog.Duplicates.Load(),
				prog.Open.Load(), prog.Closed.Load(), prog.Filtered.Load())
		}
		for _, r := range c.rs {
			if r.State != StateFiltered || r.Reason != ReasonNoResponse {
				t.Errorf("%s: %v %v/%v", f.name, r.AddrPort(), r.State, r.Reason)
			}
		}
	}
}
