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
	"golang.org/x/sys/unix"
)

// spoofer runs in a target's namespace behind a firewall that drops every
// SYN, so the real stack never answers. It watches the SYNs arriving (an
// AF_PACKET socket sees them before the firewall) and answers each with
// forgeries and garbage through a raw IP_HDRINCL socket: nothing it sends
// may ever make a port open.
func spoofer(t *testing.T, l *lab.Lab, node string) (sent *atomic.Int64) {
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
	sent = new(atomic.Int64)
	var stop atomic.Bool
	done := make(chan struct{})
	t.Cleanup(func() { stop.Store(true); <-done; unix.Close(in); unix.Close(out) })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		pkt := make([]byte, 128)
		for !stop.Load() {
			n, _, err := unix.Recvfrom(in, buf, 0)
			if err != nil {
				continue
			}
			var p craft.Packet
			if p.Decode(buf[:n]) != nil || p.IP.Protocol != craft.ProtocolTCP || p.TCP.Flags != craft.FlagSYN {
				continue
			}
			syn := p
			send := func(b []byte) {
				d := syn.IP.Src.As4()
				if unix.Sendto(out, b, 0, &unix.SockaddrInet4{Addr: d}) == nil {
					sent.Add(1)
				}
			}
			reply := func(src netip.Addr, sport, dport uint16, ack uint32, flags craft.TCPFlags) int {
				ip := craft.IPv4{TTL: 64, Src: src, Dst: syn.IP.Src}
				tcp := craft.TCP{SrcPort: sport, DstPort: dport, Seq: 12345, Ack: ack, Flags: flags, Window: 1000}
				n, _ := craft.BuildTCP(pkt, &ip, &tcp)
				return n
			}
			to, from := syn.TCP.SrcPort, syn.TCP.DstPort
			me := syn.IP.Dst
			// Wrong acknowledgement numbers.
			for _, ack := range []uint32{syn.TCP.Seq, syn.TCP.Seq + 2, 0, ^uint32(0)} {
				send(pkt[:reply(me, from, to, ack, craft.FlagSYN|craft.FlagACK)])
			}
			// Right ack, but from an address never probed, from
			// another port, to another of synprobe's ports.
			send(pkt[:reply(netip.MustParseAddr("198.18.12.99"), from, to, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK)])
			send(pkt[:reply(me, from+1, to, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK)])
			send(pkt[:reply(me, from, to+1, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK)])
			// A SYN-ACK without ACK set, and a bare RST.
			send(pkt[:reply(me, from, to, syn.TCP.Seq+1, craft.FlagSYN)])
			send(pkt[:reply(me, from, to, 0, craft.FlagRST)])
			// Hostile shapes: truncated TCP header, data offset 15 past
			// the segment, data offset 2, an option running past the
			// header, option length 0.
			n = reply(me, from, to, syn.TCP.Seq+1, craft.FlagSYN|craft.FlagACK)
			for _, mut := range []func(b []byte) []byte{
				func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 30); return b[:30] },
				func(b []byte) []byte { b[32] = 0xf0; return b },
				func(b []byte) []byte { b[32] = 0x20; return b },
				func(b []byte) []byte {
					b = append(b[:n], 2, 40, 0, 0)
					binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
					b[32] = 0x60
					return b
				},
				func(b []byte) []byte {
					b = append(b[:n], 2, 0, 0, 0)
					binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
					b[32] = 0x60
					return b
				},
			} {
				c := append([]byte(nil), pkt[:n]...)
				send(mut(c))
			}
			// An ICMP port-unreachable quoting less than 8 bytes of TCP,
			// and one quoting the SYN with a wrong sequence number.
			icmp := func(quote []byte) {
				ip := craft.IPv4{TTL: 64, Src: me, Dst: syn.IP.Src, Protocol: craft.ProtocolICMP}
				body := make([]byte, 8+len(quote))
				m, _ := craft.EncodeICMPError(body, 3, 3, 0, quote)
				hl, _ := ip.Encode(pkt, m)
				send(append(append([]byte(nil), pkt[:hl]...), body[:m]...))
			}
			icmp(buf[:24])
			bad := append([]byte(nil), buf[:28]...)
			bad[24]++ // sequence number
			icmp(bad)
		}
	}()
	return sent
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func TestSpoofedAndHostileRepliesNeverOpen(t *testing.T) {
	l := lab.StartT(t, lab.Demo())
	sent := spoofer(t, l, "fw") // fw drops every SYN: only forgeries answer
	conn := openInLab(t, l)
	c, prog := scan(t, conn, ScanConfig{Targets: targets(t, "198.18.12.10"), Ports: []uint16{21, 22, 80, 443, 8080}, Retries: 1})
	// 5 ports x 2 tries, 16 forgeries each: under load the spoofer may miss
	// a few SYNs, but it must have answered most of them for the test to
	// mean something.
	if sent.Load() < 5*16 {
		t.Fatalf("the spoofer sent only %d packets", sent.Load())
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
	t.Logf("spoofer sent %d; synprobe counted %d malformed, %d unmatched", sent.Load(), prog.Malformed.Load(), prog.Unmatched.Load())
}
