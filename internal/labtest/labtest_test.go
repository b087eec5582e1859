//go:build linux

package labtest

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/synprobe/synprobe/internal/lab"
)

// fatalTB is t, but a Fatal is recorded and ends the goroutine, the test
// going on: so that a test can see how the oracle fails.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fatalTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

// fails runs fn with a fatalTB over t and returns what it failed with, ""
// if it did not.
func fails(t *testing.T, fn func(tb testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

// TestTcpdump: the oracle has the handshake of a connect to an open port
// once its SYN-ACK is in; waiting for a packet that never comes fails with
// what is missing, and a tcpdump that cannot listen fails at once, quoting
// tcpdump.
func TestTcpdump(t *testing.T) {
	l := Start(t, lab.Topology{Nodes: []lab.Node{{Name: "t", Role: lab.RoleTarget, Parent: lab.ProberName,
		Addr: netip.MustParseAddr("198.18.1.2"), Link: lab.Link{Subnet: netip.MustParsePrefix("198.18.1.0/24")}, OpenPorts: []uint16{80}}}})
	connect := func() {
		t.Helper()
		if err := l.Do(lab.ProberName, func() error {
			c, err := net.DialTimeout("tcp4", "198.18.1.2:80", 2*time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	flags := func(pkts []gopacket.Packet) (syn, synack bool) {
		for _, p := range pkts {
			if _, tcp := IPv4TCP(p); tcp != nil {
				syn = syn || tcp.SYN && !tcp.ACK && tcp.DstPort == 80
				synack = synack || tcp.SYN && tcp.ACK && tcp.SrcPort == 80
			}
		}
		return syn, synack
	}

	c := Tcpdump(t, l, lab.ProberName, lab.InterfaceTo("t"), "tcp")
	connect()
	pkts := c.WaitFor(t, 5*time.Second, func(pkts []gopacket.Packet) (bool, string) {
		_, synack := flags(pkts)
		return synack, "the SYN-ACK"
	})
	if syn, synack := flags(pkts); !syn || !synack {
		t.Errorf("capture of %d packets: SYN %v, SYN-ACK %v", len(pkts), syn, synack)
	}

	c = Tcpdump(t, l, lab.ProberName, lab.InterfaceTo("t"), "tcp")
	connect()
	began := time.Now()
	msg := fails(t, func(tb testing.TB) {
		c.WaitFor(tb, 300*time.Millisecond, func(pkts []gopacket.Packet) (bool, string) {
			return false, fmt.Sprintf("a packet that never comes (%d captured)", len(pkts))
		})
	})
	t.Logf("WaitFor failed with: %s", msg)
	if !strings.Contains(msg, "still missing a packet that never comes") || !strings.Contains(msg, "after 300ms") ||
		!strings.Contains(msg, "packets captured") || time.Since(began) > 5*time.Second {
		t.Errorf("WaitFor for what never comes failed after %v with %q", time.Since(began), msg)
	}

	msg = fails(t, func(tb testing.TB) { Tcpdump(tb, l, lab.ProberName, "nonesuch", "tcp") })
	t.Logf("Tcpdump failed with: %s", msg)
	if !strings.Contains(msg, "exited before it listened") || !strings.Contains(msg, "nonesuch") {
		t.Errorf("tcpdump on no interface: %q", msg)
	}
}
