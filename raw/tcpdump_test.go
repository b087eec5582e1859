//go:build linux

package raw

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
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
			dump := labtest.Tcpdump(t, l, lab.ProberName, "any", "-s", "128", "-B", "16384",
				"tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0")
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
			time.Sleep(200 * time.Millisecond)
			f, err := os.Open(dump.Stop())
			if err != nil {
				t.Fatalf("%v (tcpdump: %s)", err, dump.Log())
			}
			defer f.Close()
			r, err := pcapgo.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[uint32]bool{}
			for {
				data, _, err := r.ReadPacketData()
				if err != nil {
					break
				}
				p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
				ip4, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if ip4 != nil && tcp != nil && netip.AddrFrom4([4]byte(ip4.DstIP.To4())) == far && tcp.Seq >= base && tcp.Seq < base+16 {
					seen[tcp.Seq] = true
				}
			}
			if len(seen) != tc.seen {
				t.Errorf("tcpdump saw %d of the %d SYNs, want %d (tcpdump: %s)", len(seen), len(pkts), tc.seen, dump.Log())
			}
		})
	}
}
