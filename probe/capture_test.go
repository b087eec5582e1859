//go:build linux

package probe

import (
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
)

// tcpdumpIn starts tcpdump in a lab node's namespace on iface (see
// labtest.Tcpdump) and returns a function that stops it and returns the
// packets it captured, decoded by gopacket: an oracle synprobe has no part
// in.
func tcpdumpIn(t *testing.T, l *lab.Lab, node, iface string, filter ...string) (stop func() []gopacket.Packet) {
	t.Helper()
	dump := labtest.Tcpdump(t, l, node, iface, filter...)
	return func() []gopacket.Packet {
		t.Helper()
		time.Sleep(200 * time.Millisecond) // the last replies
		f, err := os.Open(dump.Stop())
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatalf("%v (tcpdump: %s)", err, dump.Log())
		}
		var out []gopacket.Packet
		for p := range gopacket.NewPacketSource(r, r.LinkType()).Packets() {
			out = append(out, p)
		}
		return out
	}
}

// ipTCP returns the IPv4 and TCP layers of p, or nils.
func ipTCP(p gopacket.Packet) (*layers.IPv4, *layers.TCP) {
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ip == nil || tcp == nil {
		return nil, nil
	}
	return ip, tcp
}
