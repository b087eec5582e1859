//go:build linux

package raw

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
)

// TestPacketPathSeenByTcpdump: while the tap stamps them, the packet
// path's frames go through the queueing layer, so tcpdump on the prober
// (its capture decoded by gopacket) has every one of them, as it has the
// raw path's; with error-queue stamps they skip it (PACKET_QDISC_BYPASS)
// and the capture has none, though the target answers them all.
func TestPacketPathSeenByTcpdump(t *testing.T) {
	l := packetLab(t)
	src, far := l.Addr(lab.ProberName), l.Addr("far")
	for i, tc := range []struct {
		mode stampMode
		seen int
	}{{stampTap, 16}, {stampTagged, 0}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999, Tx: TxPacket})
			useStamps(t, c, tc.mode)
			// SYNs, and the SYN-ACKs that answer them: tcpdump captures
			// a SYN (when it sees it) before its SYN-ACK, so once every
			// SYN-ACK is in the file, every SYN tcpdump saw is too.
			dump := labtest.Tcpdump(t, l, lab.ProberName, "any", "-s", "128", "-B", "16384", "tcp[tcpflags] & tcp-syn != 0")
			base := uint32(7000 + 1000*i)
			pkts := make([]Outgoing, 16)
			for k := range pkts {
				seq := base + uint32(k)
				pkts[k] = Outgoing{syn(t, src, far, uint16(40100+100*i+k), 80, seq), far, seq}
			}
			if n, err := c.WriteBatch(pkts); n != len(pkts) || err != nil {
				t.Fatalf("WriteBatch: %d %v", n, err)
			}
			if got := collect(t, c, len(pkts), 2*time.Second); len(got) != len(pkts) {
				t.Fatalf("%d replies to %d SYNs", len(got), len(pkts))
			}
			stats(t, c, 0, uint64(len(pkts)))
			// The sequence numbers of our SYNs to far, and of the SYNs the
			// SYN-ACKs from far acknowledge.
			read := func(captured []gopacket.Packet) (syns, acked map[uint32]bool) {
				syns, acked = map[uint32]bool{}, map[uint32]bool{}
				for _, p := range captured {
					ip4, tcp := labtest.IPv4TCP(p)
					switch {
					case ip4 == nil:
					case !tcp.ACK && netip.AddrFrom4([4]byte(ip4.DstIP.To4())) == far && tcp.Seq >= base && tcp.Seq < base+16:
						syns[tcp.Seq] = true
					case tcp.ACK && netip.AddrFrom4([4]byte(ip4.SrcIP.To4())) == far && tcp.Ack-1 >= base && tcp.Ack-1 < base+16:
						acked[tcp.Ack-1] = true
					}
				}
				return syns, acked
			}
			seen, _ := read(dump.WaitFor(t, 5*time.Second, func(captured []gopacket.Packet) (bool, string) {
				_, acked := read(captured)
				return len(acked) == len(pkts), fmt.Sprintf("%d of the %d SYN-ACKs from far", len(pkts)-len(acked), len(pkts))
			}))
			if len(seen) != tc.seen {
				t.Errorf("tcpdump saw %d of the %d SYNs, want %d (tcpdump: %s)", len(seen), len(pkts), tc.seen, dump.Log())
			}
		})
	}
}
